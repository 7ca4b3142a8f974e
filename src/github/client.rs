//! The GitHub REST client: the only way the plugin reaches GitHub.
//!
//! A concrete client over reqwest (rustls) with injectable endpoints, so tests run it
//! against the stateful fake in [`super::fake`] over real sockets. What it does for every
//! call:
//!
//! - **Endpoints in order.** `github.endpoints` is tried in order (ghproxy first); a
//!   connection error or a 5xx moves on to the next one.
//! - **Retries** with exponential backoff when every endpoint failed that way, for at most
//!   [`ClientOptions::max_attempts`] rounds.
//! - **Rate limits.** A 403/429 with `Retry-After` (GitHub's secondary limit, which is per
//!   token) sets a shared "not before" instant that pauses *every* request of this client,
//!   not only the refused one; a spent primary limit (`X-RateLimit-Remaining: 0`) pauses
//!   until `X-RateLimit-Reset`. GraphQL states its limit as HTTP 200 with an error of
//!   `type: RATE_LIMITED`: that pauses every request too (`Retry-After` or the reset if
//!   given, else [`SECONDARY_LIMIT_DEFAULT_WAIT`]). The refused request is then sent again.
//! - **Pacing.** Content-creating requests (POST, PATCH, PUT, DELETE) are kept within
//!   `mutations_per_minute` and `mutations_per_hour` by a sliding window: *each attempt* of
//!   a mutation (a retry, or the same request sent on to the next endpoint) waits for a
//!   free slot of its own, so the budget bounds what GitHub receives. An attempt whose
//!   connection could not even be made gives its slot back.
//! - **Dry-run.** Every mutation is a logged no-op and returns a plausible value (see each
//!   method: created issues and comments come back with number/id `0`, so callers can tell
//!   nothing was created). Reads still go to GitHub. What was not sent is logged with its
//!   full text and the last ones kept (`dry_run`, [`Client::would_have_sent`]).
//! - **Time** is tokio's, so tests drive waits with paused time instead of sleeping.
//!
//! The token is sent as `Authorization: Bearer …` and never logged. Without a token every
//! request fails with [`GithubError::NoToken`] (mutations in dry-run still succeed as
//! no-ops), which lets a newcomer start the example configuration at once. With a GitHub
//! App instead of a token (`github.app_id`), each request carries the installation token
//! of the org it targets, and the app's own endpoints the app's JWT (see `auth`).
//!
//! The rooms: this file holds the [`Client`] itself (construction, counters, dry-run);
//! `options`, `error` and `counters` what it is built from and answers; `auth` the
//! credentials (token or GitHub App) a request carries; `transport` sends
//! one request (endpoints, retries), `rate_limit` and `pacer` decide when it may go,
//! `json` and `pages` turn answers into values; the calls themselves are grouped by what
//! they touch: `users`, `issues`, `comments`, `labels`, `pulls`, `history`, `graphql`.

mod answer;
mod auth;
mod comments;
mod counters;
mod dry_run;
mod error;
mod graphql;
mod history;
mod issues;
mod json;
mod labels;
mod options;
mod pacer;
mod pages;
mod pulls;
mod rate_limit;
mod transport;
mod users;

use std::sync::Arc;
use std::sync::atomic::Ordering;

use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};
use tokio::time::Instant;

use crate::config::Config;
use crate::model::{Login, RepoName};

pub use crate::config::app_key::{AppClaims, AppCredentials, JWT_BACKDATE, JWT_LIFETIME};
pub use auth::REFRESH_EARLY;
pub use counters::Counters;
pub use dry_run::{DRY_RUN_KEPT, WouldSend};
pub use error::GithubError;
pub use graphql::REVERT_PULL_REQUEST;
pub use issues::Search;
pub use options::ClientOptions;
pub use rate_limit::SECONDARY_LIMIT_DEFAULT_WAIT;

use auth::{AppAuth, Auth};
use counters::AtomicCounters;
use pacer::Pacer;

/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";

/// Items per page of list calls (GitHub's maximum).
pub const PER_PAGE: u32 = 100;

/// Pages followed at most by one list call (10,000 items), so a bad `Link` header cannot
/// loop forever.
pub const MAX_PAGES: usize = 100;

/// What every clone of a [`Client`] shares.
struct Inner {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// Path prefixes of the endpoints (`/api/v3` on GitHub Enterprise), to map `Link`
    /// URLs back onto our own endpoint list.
    prefixes: Vec<String>,
    auth: Auth,
    options: ClientOptions,
    not_before: std::sync::Mutex<Option<Instant>>,
    /// Until when search is rate limited (its own limit on GitHub; nothing else waits).
    search_not_before: std::sync::Mutex<Option<Instant>>,
    pacer: tokio::sync::Mutex<Pacer>,
    counters: AtomicCounters,
    /// Orgs where the GitHub App was found not installed (until it is found installed).
    not_installed: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// The last mutations dry-run skipped, with their text.
    dry_run_log: std::sync::Mutex<dry_run::DryRunLog>,
    login: tokio::sync::OnceCell<Login>,
}

/// The GitHub client; cheap to clone (all clones share pauses, budget and counters).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.options)
            .finish()
    }
}

/// Percent-encodes one path segment or query value (everything but RFC 3986 unreserved
/// characters, so a label's `/` becomes `%2F`).
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `/repos/{org}/{repo}`, each part encoded.
fn repo_path(repo: &RepoName) -> String {
    format!("/repos/{}/{}", encode(&repo.org), encode(&repo.repo))
}

impl Client {
    /// A client with these options.
    pub fn new(options: ClientOptions) -> anyhow::Result<Self> {
        anyhow::ensure!(
            !options.endpoints.is_empty(),
            "at least one GitHub endpoint"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            ACCEPT,
            HeaderValue::from_static("application/vnd.github+json"),
        );
        headers.insert(
            "X-GitHub-Api-Version",
            HeaderValue::from_static(API_VERSION),
        );
        let mut builder = reqwest::Client::builder()
            .user_agent(options.user_agent.clone())
            .default_headers(headers);
        if let Some(timeout) = options.request_timeout {
            builder = builder.timeout(timeout);
        }
        let http = builder.build()?;
        let endpoints: Vec<String> = options
            .endpoints
            .iter()
            .map(|e| e.trim_end_matches('/').to_string())
            .collect();
        let prefixes = endpoints
            .iter()
            .map(|e| {
                reqwest::Url::parse(e)
                    .map(|u| u.path().trim_end_matches('/').to_string())
                    .unwrap_or_default()
            })
            .collect();
        let pacer = Pacer::new(options.mutations_per_minute, options.mutations_per_hour);
        let auth = match (&options.app, options.token.as_deref()) {
            (Some(app), _) => Auth::App(AppAuth::new(app.clone(), options.clock.clone())),
            (None, Some(token)) if !token.is_empty() => Auth::Token(token.to_string()),
            (None, _) => Auth::None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoints,
                prefixes,
                auth,
                options,
                not_before: std::sync::Mutex::new(None),
                search_not_before: std::sync::Mutex::new(None),
                pacer: tokio::sync::Mutex::new(pacer),
                counters: AtomicCounters::default(),
                not_installed: std::sync::Mutex::default(),
                dry_run_log: std::sync::Mutex::default(),
                login: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// A client built from the plugin's configuration, reading time from `clock`.
    pub fn from_config(config: &Config, clock: crate::clock::Clock) -> anyhow::Result<Self> {
        let mut options = ClientOptions::from_config(config)?;
        options.clock = clock;
        Self::new(options)
    }

    /// Whether the client has credentials (a token or a GitHub App) to send requests with.
    pub fn has_credentials(&self) -> bool {
        !matches!(self.inner.auth, Auth::None)
    }

    /// Whether the client authenticates as a GitHub App.
    pub fn is_app(&self) -> bool {
        matches!(self.inner.auth, Auth::App(_))
    }

    /// Whether mutations are no-ops.
    pub fn is_dry_run(&self) -> bool {
        self.inner.options.dry_run
    }

    /// What the client has sent so far.
    pub fn counters(&self) -> Counters {
        self.inner.counters.snapshot()
    }

    /// What keeps the client from reaching GitHub, for `/healthz/ready` to name: no
    /// credentials at all, or the orgs where the GitHub App is not installed. Empty: none.
    pub fn missing(&self) -> Vec<String> {
        if !self.has_credentials() {
            return vec![
                "github: no token or GitHub App configured (what needs GitHub waits)".into(),
            ];
        }
        self.inner
            .not_installed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|org| format!("github: the GitHub App is not installed on {org}"))
            .collect()
    }

    /// Remembers whether the GitHub App is installed on `org`.
    fn note_installed(&self, org: &str, installed: bool) {
        let mut orgs = self
            .inner
            .not_installed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if installed {
            orgs.remove(&org.to_ascii_lowercase());
        } else {
            orgs.insert(org.to_ascii_lowercase());
        }
    }

    /// The last [`DRY_RUN_KEPT`] mutations dry-run did not send, newest first, each with
    /// its full text (empty outside dry-run).
    pub fn would_have_sent(&self) -> Vec<WouldSend> {
        self.inner
            .dry_run_log
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .newest_first()
    }

    /// True when a mutation must not be sent because of dry-run; it is then logged at info
    /// with `action` (what it does), `on` (where) and its full `text`, and kept for
    /// [`Client::would_have_sent`]. `text` is only made in dry-run.
    fn skip_in_dry_run(
        &self,
        method: &str,
        path: &str,
        action: &str,
        on: String,
        text: impl FnOnce() -> String,
    ) -> bool {
        if self.inner.options.dry_run {
            self.inner
                .counters
                .dry_run_mutations
                .fetch_add(1, Ordering::Relaxed);
            self.inner
                .dry_run_log
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .record(WouldSend {
                    seq: 0,
                    action: action.to_string(),
                    on,
                    method: method.to_string(),
                    path: path.to_string(),
                    text: text(),
                });
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_label_slashes_and_spaces() {
        assert_eq!(
            encode("do-not-merge/scalability-regression"),
            "do-not-merge%2Fscalability-regression"
        );
        assert_eq!(encode("a b:c"), "a%20b%3Ac");
    }
}
