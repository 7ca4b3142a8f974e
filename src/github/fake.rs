//! A stateful, in-memory GitHub served over real HTTP on `127.0.0.1:0`, for tests, the
//! `simulate` command and benchmarks.
//!
//! It is a model, not canned answers: repositories hold labels, pull requests (number,
//! base, head sha, labels, state open/closed/merged, author, title) and issues with
//! comments, sharing one number space per repository as on GitHub; organisations hold
//! teams and their memberships; the token belongs to one user, who authors every issue,
//! comment and revert PR written through the API (seeded ones name their own author), and
//! each comes back with its author as `user.login`, as GitHub answers. It serves exactly the
//! REST endpoints [`super::client::Client`] uses, with GitHub's paths, pagination
//! (`Link` headers), 401/404/422 answers, and auto-created labels on add. Repositories
//! also hold a git history (commits with parents on branches, PRs merged at given times
//! with labels, files and size) behind compare, commit → PRs, PR files and GraphQL
//! `revertPullRequest`: see [`history`] and [`FakeGithub::merge_pr`].
//!
//! Controls for tests: seed state ([`FakeGithub::add_pr`], …), read it back
//! ([`FakeGithub::labels_of`], [`FakeGithub::issues`], …), a request log with counts of
//! mutations, fault injection (500s, 403 and 429 with `Retry-After`, spent primary limit,
//! GraphQL's `RATE_LIMITED` answer,
//! dropped connections, a fixed latency per request, a flaky pattern; and for mutations:
//! applied then answered 502, applied then reset mid-response, held unanswered at the
//! k-th mutation so a test can kill the plugin right there), and hooks that resolve when a
//! given request happens ([`FakeGithub::on_request`]).

//!
//! One idea per file: [`state`] (the model), [`seed`] and [`inspect`] (setting and reading
//! it), [`log`] (the request log and hooks), [`faults`] (fault injection and auth),
//! [`app`] (GitHub Apps: JWTs, installations and their tokens),
//! [`serve`] (the connection pipeline), [`routes`], [`search`], [`history`], [`commits`]
//! and [`graphql`] (the endpoints), and [`render`] (the model as GitHub's JSON).
//!
//! Test-only: compiled with the `fake` cargo feature (integration tests and benches get it
//! through the crate's dev-dependency on itself) or in the library's own unit tests, never
//! in the release binary.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

mod app;
// OpenAPI conformance: whole exchanges recorded for tests/openapi.rs.
mod capture;
mod commits;
mod documented;
mod faults;
mod graphql;
mod history;
mod inspect;
mod log;
mod render;
mod routes;
mod search;
mod seed;
mod serve;
mod state;

pub use history::{MergeStyle, Merged, MergedPr};
pub use routes::MAX_BODY_CHARS;
pub use search::SEARCH_RESULT_CAP;
pub use seed::PrSpec;
pub use state::{Exchange, Flaky, LoggedRequest, SEARCH_PER_MINUTE};

use routes::routes;
use serve::serve_connection;
use state::{EPOCH, FakeState, Faults, Shared};

/// The token the fake accepts unless told otherwise.
pub const FAKE_TOKEN: &str = "fake-token";

/// The login that owns [`FAKE_TOKEN`] unless told otherwise.
pub const FAKE_LOGIN: &str = "scalability-gate-bot";

/// The running fake. Dropping it stops the server.
pub struct FakeGithub {
    addr: SocketAddr,
    state: Shared,
    _stop: watch::Sender<bool>,
}

impl FakeGithub {
    /// Starts an empty GitHub on `127.0.0.1:0` whose token is [`FAKE_TOKEN`], owned by
    /// [`FAKE_LOGIN`].
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let state: Shared = Arc::new(Mutex::new(FakeState {
            base_url: format!("http://{addr}"),
            token: FAKE_TOKEN.into(),
            login: FAKE_LOGIN.into(),
            repos: BTreeMap::new(),
            teams: BTreeMap::new(),
            next_comment_id: 1000,
            clock: EPOCH,
            log: Vec::new(),
            faults: Faults::default(),
            hooks: Vec::new(),
            stall_release: watch::channel(0).0,
            exchanges: None,
            app: Default::default(),
        }));
        let (stop, mut stopped) = watch::channel(false);
        let router = routes(state.clone());
        let shared = state.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stopped.changed() => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        tokio::spawn(serve_connection(stream, router.clone(), shared.clone()));
                    }
                }
            }
        });
        Ok(Self {
            addr,
            state,
            _stop: stop,
        })
    }

    /// `http://127.0.0.1:PORT`, the endpoint to give the client.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The token the fake accepts.
    pub fn token(&self) -> String {
        self.lock().token.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().expect("fake GitHub state lock")
    }
}
