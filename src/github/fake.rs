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

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{oneshot, watch};
use tokio::time::Instant;
use tower::ServiceExt;

use super::types::{Comment, Issue, Label, PullRequest};
use crate::model::Timestamp;

mod history;
pub use history::{MergeStyle, Merged, MergedPr};
// OpenAPI conformance: whole exchanges recorded for tests/openapi.rs.
mod capture;
pub use capture::Exchange;
mod documented;

/// The token the fake accepts unless told otherwise.
pub const FAKE_TOKEN: &str = "fake-token";

/// The login that owns [`FAKE_TOKEN`] unless told otherwise.
pub const FAKE_LOGIN: &str = "scalability-gate-bot";

/// Epoch second of the fake's clock for item timestamps (items are a minute apart).
const EPOCH: i64 = 1_790_000_000;

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    pub query: String,
    /// The status answered; 0 when the connection was dropped (also mid-answer, see
    /// [`FakeGithub::reset_after_apply_next`]).
    pub status: u16,
    /// When it arrived, in tokio time (virtual under paused time).
    pub at: Instant,
    pub authorization: Option<String>,
    pub api_version: Option<String>,
    pub accept: Option<String>,
    pub user_agent: Option<String>,
    /// Whether the model handled it (a mutation took effect when it succeeded), even if
    /// the answer was then lost to fault injection.
    pub applied: bool,
}

impl LoggedRequest {
    /// Whether it is a content-creating request (POST/PATCH/PUT/DELETE).
    pub fn is_mutation(&self) -> bool {
        matches!(self.method.as_str(), "POST" | "PATCH" | "PUT" | "DELETE")
    }
}

/// A PR to seed with [`FakeGithub::add_pr`].
#[derive(Debug, Clone)]
pub struct PrSpec {
    pub base: String,
    pub title: String,
    pub author: String,
    pub labels: Vec<String>,
    pub head_sha: String,
}

impl PrSpec {
    /// An open PR on `base` by `contributor` with no labels.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            title: "A change".into(),
            author: "contributor".into(),
            labels: Vec::new(),
            head_sha: String::new(),
        }
    }

    /// With these labels.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    /// With this title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.to_string();
        self
    }

    /// By this author.
    pub fn author(mut self, author: &str) -> Self {
        self.author = author.to_string();
        self
    }
}

/// A deterministic pattern of failures: of the requests counted from when it is set,
/// every `error_every`-th answers 500 and every `rate_limit_every`-th answers 403 with
/// `Retry-After: retry_after_secs` (0 turns a kind off).
#[derive(Debug, Clone, Copy, Default)]
pub struct Flaky {
    pub error_every: u64,
    pub rate_limit_every: u64,
    pub retry_after_secs: u64,
}

#[derive(Debug, Clone)]
struct FakeComment {
    id: u64,
    author: String,
    body: String,
    created: i64,
}

#[derive(Debug, Clone)]
struct PrPart {
    base: String,
    head_sha: String,
    merged: bool,
    /// Merge commit, merge time, files, size, branch (see [`history`]).
    facts: history::PrFacts,
}

#[derive(Debug, Clone)]
struct Item {
    number: u64,
    title: String,
    body: String,
    author: String,
    open: bool,
    state_reason: Option<String>,
    labels: Vec<String>,
    comments: Vec<FakeComment>,
    pr: Option<PrPart>,
    created: i64,
    updated: i64,
}

#[derive(Debug, Clone, Default)]
struct Repo {
    name: String,
    labels: BTreeMap<String, Label>,
    items: BTreeMap<u64, Item>,
    next_number: u64,
    /// Commits, branches and which PRs brought which commits.
    history: history::History,
}

impl Repo {
    fn has_label(&self, name: &str) -> bool {
        self.labels.contains_key(&name.to_ascii_lowercase())
    }

    /// The label's canonical spelling, creating it as GitHub does when it is added to an
    /// issue without existing.
    fn label_or_create(&mut self, name: &str) -> String {
        self.labels
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Label {
                name: name.to_string(),
                color: "ededed".into(),
                description: None,
            })
            .name
            .clone()
    }
}

#[derive(Default)]
struct Faults {
    fail_next: u64,
    rate_limit_next: u64,
    retry_after_secs: u64,
    primary_limit_next: u64,
    primary_reset_secs: u64,
    drop_next: u64,
    latency: Duration,
    flaky: Flaky,
    flaky_count: u64,
    /// Next requests answered 429 with `Retry-After` (`too_many_secs`).
    too_many_next: u64,
    too_many_secs: u64,
    /// Next mutations applied, then their answer cut off mid-body (a reset mid-response).
    reset_after_apply_next: u64,
    /// Next mutations applied, then answered 502 (GitHub does that now and then).
    fail_after_apply_next: u64,
    /// The mutation to hold (see [`FakeGithub::stall_mutation`]).
    stall: Option<Stall>,
    /// Requests to hold, by method and path (see [`FakeGithub::stall_request`]).
    held: Vec<Hook>,
    /// Requests refused with 403, by method and path (see [`FakeGithub::forbid`]).
    forbidden: Vec<(String, String)>,
    /// Requests to answer late (see [`FakeGithub::delay_request`]).
    delays: Vec<Delay>,
    /// Delayed requests being held right now.
    delayed_now: usize,
    /// Bumped by [`FakeGithub::release_delays`]; delayed requests wait for a change.
    delay_release: watch::Sender<u64>,
    /// Next `POST /graphql` answered 200 with a `RATE_LIMITED` error, with `Retry-After`
    /// when set (see [`FakeGithub::graphql_rate_limited_next`]).
    graphql_limited: (u64, Option<u64>),
}

/// A request to hold for `delay`, then answer as usual.
struct Delay {
    method: String,
    path: String,
    delay: Duration,
    tx: oneshot::Sender<LoggedRequest>,
}

/// A mutation to hold unanswered: the `remaining`-th mutation from when it was set.
struct Stall {
    remaining: u64,
    apply: bool,
    tx: oneshot::Sender<LoggedRequest>,
}

type Hook = (String, String, oneshot::Sender<LoggedRequest>);

struct FakeState {
    base_url: String,
    token: String,
    login: String,
    repos: BTreeMap<String, Repo>,
    /// `org/slug` → login → `active` | `pending`.
    teams: BTreeMap<String, BTreeMap<String, String>>,
    next_comment_id: u64,
    clock: i64,
    log: Vec<LoggedRequest>,
    faults: Faults,
    hooks: Vec<Hook>,
    /// Bumped by [`FakeGithub::release_stalls`]; held requests wait for a change.
    stall_release: watch::Sender<u64>,
    /// OpenAPI conformance: exchanges recorded when capturing (see [`capture`]).
    exchanges: Option<Vec<Exchange>>,
}

impl FakeState {
    fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }

    fn repo_mut(&mut self, owner: &str, repo: &str) -> Option<&mut Repo> {
        self.repos
            .get_mut(&format!("{owner}/{repo}").to_ascii_lowercase())
    }

    fn repo(&self, owner: &str, repo: &str) -> Option<&Repo> {
        self.repos
            .get(&format!("{owner}/{repo}").to_ascii_lowercase())
    }
}

type Shared = Arc<Mutex<FakeState>>;

/// The running fake. Dropping it stops the server.
pub struct FakeGithub {
    addr: SocketAddr,
    state: Shared,
    _stop: watch::Sender<bool>,
}

/// What the fault stage decided for one request.
enum Verdict {
    Drop,
    Answer(Response<Body>),
    Route,
}

/// Returned by the connection's service to make hyper drop the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

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

    // ----- seeding -----

    /// Sets the login that owns the token.
    pub fn set_login(&self, login: &str) {
        self.lock().login = login.to_string();
    }

    /// Adds an empty repository `org/repo` (no-op when it exists).
    pub fn add_repo(&self, repo: &str) {
        let mut s = self.lock();
        s.repos
            .entry(repo.to_ascii_lowercase())
            .or_insert_with(|| Repo {
                name: repo.to_string(),
                next_number: 1,
                ..Repo::default()
            });
    }

    /// Adds a label to a repository (the repo is created when missing).
    pub fn add_label(&self, repo: &str, name: &str) {
        self.add_repo(repo);
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        r.label_or_create(name);
    }

    fn add_item(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        author: &str,
        labels: &[String],
        pr: Option<PrPart>,
    ) -> u64 {
        self.add_repo(repo);
        let mut s = self.lock();
        let now = s.tick();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let number = r.next_number;
        r.next_number += 1;
        let labels = labels.iter().map(|l| r.label_or_create(l)).collect();
        r.items.insert(
            number,
            Item {
                number,
                title: title.to_string(),
                body: body.to_string(),
                author: author.to_string(),
                open: true,
                state_reason: None,
                labels,
                comments: Vec::new(),
                pr,
                created: now,
                updated: now,
            },
        );
        number
    }

    /// Opens a PR; returns its number.
    pub fn add_pr(&self, repo: &str, spec: PrSpec) -> u64 {
        let sha = if spec.head_sha.is_empty() {
            format!("{:040x}", self.lock().clock as u128 * 7919)
        } else {
            spec.head_sha.clone()
        };
        self.add_item(
            repo,
            &spec.title,
            "",
            &spec.author,
            &spec.labels,
            Some(PrPart {
                base: spec.base.clone(),
                head_sha: sha,
                merged: false,
                facts: history::PrFacts::default(),
            }),
        )
    }

    /// Opens an issue; returns its number.
    pub fn add_issue(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        author: &str,
        labels: &[&str],
    ) -> u64 {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        self.add_item(repo, title, body, author, &labels, None)
    }

    /// Posts a comment as `author`; returns its id.
    pub fn add_comment(&self, repo: &str, number: u64, author: &str, body: &str) -> u64 {
        let mut s = self.lock();
        let now = s.tick();
        s.next_comment_id += 1;
        let id = s.next_comment_id;
        let item = s
            .repos
            .get_mut(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get_mut(&number))
            .expect("issue exists");
        item.comments.push(FakeComment {
            id,
            author: author.to_string(),
            body: body.to_string(),
            created: now,
        });
        id
    }

    /// A person adds a label by hand (not logged as a request).
    pub fn add_pr_label(&self, repo: &str, number: u64, label: &str) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let name = r.label_or_create(label);
        let item = r.items.get_mut(&number).expect("item");
        if !item.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
            item.labels.push(name);
        }
    }

    /// A person removes a label by hand (not logged as a request).
    pub fn remove_pr_label(&self, repo: &str, number: u64, label: &str) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let item = r.items.get_mut(&number).expect("item");
        item.labels.retain(|l| !l.eq_ignore_ascii_case(label));
    }

    /// Changes a PR's base branch.
    pub fn set_pr_base(&self, repo: &str, number: u64, base: &str) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        if let Some(pr) = r.items.get_mut(&number).and_then(|i| i.pr.as_mut()) {
            pr.base = base.to_string();
        }
    }

    /// Closes an issue or PR (merged, for a PR, when `merged`).
    pub fn close(&self, repo: &str, number: u64, merged: bool) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let item = r.items.get_mut(&number).expect("item");
        item.open = false;
        if let Some(pr) = item.pr.as_mut() {
            pr.merged = merged;
        }
    }

    /// Makes `login` an active member of the team `org/slug`.
    pub fn add_team_member(&self, team: &str, login: &str) {
        self.set_membership(team, login, "active");
    }

    /// Invites `login` to `org/slug` (a pending membership is not membership).
    pub fn add_pending_team_member(&self, team: &str, login: &str) {
        self.set_membership(team, login, "pending");
    }

    fn set_membership(&self, team: &str, login: &str, state: &str) {
        self.lock()
            .teams
            .entry(team.to_ascii_lowercase())
            .or_default()
            .insert(login.to_ascii_lowercase(), state.to_string());
    }

    // ----- reading state -----

    /// The labels a PR or issue carries now.
    pub fn labels_of(&self, repo: &str, number: u64) -> Vec<String> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get(&number))
            .map(|i| i.labels.clone())
            .unwrap_or_default()
    }

    /// A repository label, if it exists.
    pub fn repo_label(&self, repo: &str, name: &str) -> Option<Label> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())
            .and_then(|r| r.labels.get(&name.to_ascii_lowercase()).cloned())
    }

    /// Every issue of a repo (not PRs), in number order, as GitHub would answer it.
    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        let s = self.lock();
        let Some(r) = s.repos.get(&repo.to_ascii_lowercase()) else {
            return Vec::new();
        };
        r.items
            .values()
            .filter(|i| i.pr.is_none())
            .map(|i| decode_render(issue_json(&s.base_url, r, i)))
            .collect()
    }

    /// One issue or PR as the issues API shows it.
    pub fn issue(&self, repo: &str, number: u64) -> Option<Issue> {
        let s = self.lock();
        let r = s.repos.get(&repo.to_ascii_lowercase())?;
        r.items
            .get(&number)
            .map(|i| decode_render(issue_json(&s.base_url, r, i)))
    }

    /// One PR as the pulls API shows it.
    pub fn pull(&self, repo: &str, number: u64) -> Option<PullRequest> {
        let s = self.lock();
        let r = s.repos.get(&repo.to_ascii_lowercase())?;
        let item = r.items.get(&number)?;
        pull_json(&s.base_url, r, item).map(decode_render)
    }

    /// The comments of an issue or PR, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<Comment> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get(&number))
            .map(|i| {
                i.comments
                    .iter()
                    .map(|c| decode_render(comment_json(c)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().log.len()
    }

    /// How many content-creating requests (POST/PATCH/PUT/DELETE) were received.
    pub fn mutation_count(&self) -> usize {
        self.lock().log.iter().filter(|r| r.is_mutation()).count()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    // ----- faults and hooks -----

    /// The next `n` requests answer 500.
    pub fn fail_next(&self, n: u64) {
        self.lock().faults.fail_next = n;
    }

    /// The next `n` requests answer 403 with `Retry-After: secs` (a secondary limit).
    pub fn rate_limit_next(&self, n: u64, secs: u64) {
        let mut s = self.lock();
        s.faults.rate_limit_next = n;
        s.faults.retry_after_secs = secs;
    }

    /// The next `n` requests answer 403 with `X-RateLimit-Remaining: 0` and a reset
    /// `reset_in_secs` from now (wall clock, as GitHub states it).
    pub fn exhaust_primary_limit_next(&self, n: u64, reset_in_secs: u64) {
        let mut s = self.lock();
        s.faults.primary_limit_next = n;
        s.faults.primary_reset_secs = reset_in_secs;
    }

    /// The next `n` requests get their connection closed without an answer.
    pub fn drop_next(&self, n: u64) {
        self.lock().faults.drop_next = n;
    }

    /// Every request waits this long (tokio time) before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().faults.latency = latency;
    }

    /// Fails part of the requests from now on, deterministically (see [`Flaky`]).
    pub fn set_flaky(&self, flaky: Flaky) {
        let mut s = self.lock();
        s.faults.flaky = flaky;
        s.faults.flaky_count = 0;
    }

    /// Resolves with the first request from now on whose method is `method` and whose
    /// path contains `path_contains` (the percent-encoded path, e.g. `/labels`).
    pub fn on_request(
        &self,
        method: &str,
        path_contains: &str,
    ) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock()
            .hooks
            .push((method.to_string(), path_contains.to_string(), tx));
        rx
    }

    /// The next `n` requests answer 429 with `Retry-After: secs` (GitHub's other way of
    /// stating a secondary limit).
    pub fn too_many_requests_next(&self, n: u64, secs: u64) {
        let mut s = self.lock();
        s.faults.too_many_next = n;
        s.faults.too_many_secs = secs;
    }

    /// The next `n` mutations are applied, then their answer is cut off after part of the
    /// body and the connection closed: the client cannot tell whether it happened.
    pub fn reset_after_apply_next(&self, n: u64) {
        self.lock().faults.reset_after_apply_next = n;
    }

    /// The next `n` mutations are applied, then answered 502.
    pub fn fail_after_apply_next(&self, n: u64) {
        self.lock().faults.fail_after_apply_next = n;
    }

    /// Holds the `k`-th mutation from now (1-based) unanswered until
    /// [`FakeGithub::release_stalls`], applied first when `apply`; the receiver resolves
    /// when it arrives. A test kills the plugin at that exact point, then releases it (the
    /// held connection is then closed without an answer).
    pub fn stall_mutation(&self, k: u64, apply: bool) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock().faults.stall = Some(Stall {
            remaining: k.max(1),
            apply,
            tx,
        });
        rx
    }

    /// Holds the first request from now on whose method is `method` and whose path
    /// contains `path_contains` unanswered (not applied) until
    /// [`FakeGithub::release_stalls`]; the receiver resolves when it arrives. A read works
    /// too: a test holds the plugin's consumer on the team membership it asks before
    /// deciding on a command, and kills the plugin right then.
    pub fn stall_request(
        &self,
        method: &str,
        path_contains: &str,
    ) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock()
            .faults
            .held
            .push((method.to_string(), path_contains.to_string(), tx));
        rx
    }

    /// Refuses every request whose method is `method` and whose path contains
    /// `path_contains` with GitHub's 403 for a token without the permission, until
    /// [`FakeGithub::allow_all`].
    pub fn forbid(&self, method: &str, path_contains: &str) {
        self.lock()
            .faults
            .forbidden
            .push((method.to_string(), path_contains.to_string()));
    }

    /// The next `n` `POST /graphql` answer GitHub's GraphQL rate limit: HTTP 200 with
    /// `errors[].type == "RATE_LIMITED"`, with `Retry-After: secs` when `retry_after` is
    /// set (else no wait is stated). The query does not run.
    pub fn graphql_rate_limited_next(&self, n: u64, retry_after: Option<u64>) {
        self.lock().faults.graphql_limited = (n, retry_after);
    }

    /// Forgets every [`FakeGithub::forbid`].
    pub fn allow_all(&self) {
        self.lock().faults.forbidden.clear();
    }

    /// Holds the first request from now on whose method is `method` and whose path
    /// contains `path_contains` for `delay` (tokio time) or until
    /// [`FakeGithub::release_delays`], then answers it as usual (a slow GitHub, not a
    /// broken one); the receiver resolves when it arrives. [`FakeGithub::delayed_now`]
    /// says whether it is still held.
    pub fn delay_request(
        &self,
        method: &str,
        path_contains: &str,
        delay: Duration,
    ) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock().faults.delays.push(Delay {
            method: method.to_string(),
            path: path_contains.to_string(),
            delay,
            tx,
        });
        rx
    }

    /// Lets every request held by [`FakeGithub::delay_request`] go on now.
    pub fn release_delays(&self) {
        self.lock().faults.delay_release.send_modify(|g| *g += 1);
    }

    /// How many requests [`FakeGithub::delay_request`] holds right now.
    pub fn delayed_now(&self) -> usize {
        self.lock().faults.delayed_now
    }

    /// Lets every held request go (closing its connection) and forgets a stall not yet
    /// reached.
    pub fn release_stalls(&self) {
        let mut s = self.lock();
        s.faults.stall = None;
        s.faults.held.clear();
        s.stall_release.send_modify(|g| *g += 1);
    }

    /// How many mutations GitHub applied (answered below 400, or applied and then cut off
    /// or held by fault injection), as opposed to merely received.
    pub fn applied_mutation_count(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.is_mutation() && r.applied)
            .count()
    }
}

fn decode_render<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the fake renders what the client decodes")
}

/// Serves one connection: latency, faults, auth, the log and hooks, then the model.
async fn serve_connection(stream: tokio::net::TcpStream, router: Router, state: Shared) {
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let state = state.clone();
        async move { handle(req.map(Body::new), router, state).await }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

async fn handle(
    req: Request<Body>,
    router: Router,
    state: Shared,
) -> Result<Response<Body>, Dropped> {
    let latency = state.lock().expect("fake state").faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut entry = log_entry(&req);
    delayed(&state, &entry).await;
    if let Some((tx, release)) = held(&state, &entry) {
        return stall(req, router, state, entry, false, tx, release).await;
    }
    let verdict = faults(&state, &entry);
    let after = match verdict {
        Verdict::Route if entry.is_mutation() => after_apply(&state),
        _ => After::Answer,
    };
    if let After::Stall { apply, tx, release } = after {
        return stall(req, router, state, entry, apply, tx, release).await;
    }
    let response = match verdict {
        Verdict::Drop => None,
        Verdict::Answer(r) => Some(r),
        Verdict::Route => {
            // OpenAPI conformance: routed through the capture (a plain oneshot when off).
            let r = capture::route(router, req, &state).await;
            entry.applied = r.status().as_u16() < 400;
            Some(match after {
                After::Reset => cut_off(r).await,
                After::Fail => error(StatusCode::BAD_GATEWAY, "Server Error"),
                _ => r,
            })
        }
    };
    entry.status = match after {
        After::Reset => 0,
        _ => response.as_ref().map_or(0, |r| r.status().as_u16()),
    };
    record(&state, entry);
    response.ok_or(Dropped)
}

/// What happens to a routed mutation's answer.
enum After {
    Answer,
    /// Applied, then the answer cut off mid-body.
    Reset,
    /// Applied, then answered 502.
    Fail,
    /// Held until released (applied first when `apply`).
    Stall {
        apply: bool,
        tx: oneshot::Sender<LoggedRequest>,
        release: watch::Receiver<u64>,
    },
}

fn after_apply(state: &Shared) -> After {
    let mut s = state.lock().expect("fake state");
    if let Some(stall) = s.faults.stall.as_mut() {
        stall.remaining -= 1;
        if stall.remaining == 0 {
            let stall = s.faults.stall.take().expect("stall present");
            let mut release = s.stall_release.subscribe();
            release.mark_unchanged();
            return After::Stall {
                apply: stall.apply,
                tx: stall.tx,
                release,
            };
        }
    }
    let f = &mut s.faults;
    if f.reset_after_apply_next > 0 {
        f.reset_after_apply_next -= 1;
        return After::Reset;
    }
    if f.fail_after_apply_next > 0 {
        f.fail_after_apply_next -= 1;
        return After::Fail;
    }
    After::Answer
}

/// Waits out the delay set by [`FakeGithub::delay_request`] that `entry` matches (taken),
/// counted in `delayed_now` meanwhile (also when the client gives up mid-way).
async fn delayed(state: &Shared, entry: &LoggedRequest) {
    struct Held(Shared);
    impl Drop for Held {
        fn drop(&mut self) {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            s.faults.delayed_now -= 1;
        }
    }
    let (wait, mut release, _held) = {
        let mut s = state.lock().expect("fake state");
        let f = &mut s.faults;
        let Some(at) = f.delays.iter().position(|d| {
            d.method.eq_ignore_ascii_case(&entry.method) && entry.path.contains(d.path.as_str())
        }) else {
            return;
        };
        let delay = f.delays.remove(at);
        f.delayed_now += 1;
        let mut release = f.delay_release.subscribe();
        release.mark_unchanged();
        let _ = delay.tx.send(entry.clone());
        (delay.delay, release, Held(state.clone()))
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = release.changed() => {}
    }
}

/// The hold set by [`FakeGithub::stall_request`] that `entry` matches, taken.
fn held(
    state: &Shared,
    entry: &LoggedRequest,
) -> Option<(oneshot::Sender<LoggedRequest>, watch::Receiver<u64>)> {
    let mut s = state.lock().expect("fake state");
    let at = s.faults.held.iter().position(|(method, path, _)| {
        method.eq_ignore_ascii_case(&entry.method) && entry.path.contains(path.as_str())
    })?;
    let (_, _, tx) = s.faults.held.remove(at);
    let mut release = s.stall_release.subscribe();
    release.mark_unchanged();
    Some((tx, release))
}

/// Holds a request (a mutation applied first when `apply`) until the test releases it,
/// then closes the connection without an answer.
async fn stall(
    req: Request<Body>,
    router: Router,
    state: Shared,
    mut entry: LoggedRequest,
    apply: bool,
    tx: oneshot::Sender<LoggedRequest>,
    mut release: watch::Receiver<u64>,
) -> Result<Response<Body>, Dropped> {
    if apply {
        let r = router
            .oneshot(req)
            .await
            .unwrap_or_else(|e: Infallible| match e {});
        entry.applied = r.status().as_u16() < 400;
    }
    let _ = tx.send(entry.clone());
    let _ = release.changed().await;
    record(&state, entry);
    Err(Dropped)
}

/// The same answer, but its body breaks off after the first half (at least one byte is
/// sent) and the connection is closed: a reset mid-response.
async fn cut_off(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len().div_ceil(2));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by fault injection",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}

fn log_entry(req: &Request<Body>) -> LoggedRequest {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    LoggedRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        status: 0,
        at: Instant::now(),
        authorization: header("authorization"),
        api_version: header("x-github-api-version"),
        accept: header("accept"),
        user_agent: header("user-agent"),
        applied: false,
    }
}

fn record(state: &Shared, entry: LoggedRequest) {
    let mut s = state.lock().expect("fake state");
    let hooks = std::mem::take(&mut s.hooks);
    for (method, path, tx) in hooks {
        if method.eq_ignore_ascii_case(&entry.method) && entry.path.contains(&path) {
            let _ = tx.send(entry.clone());
        } else {
            s.hooks.push((method, path, tx));
        }
    }
    s.log.push(entry);
}

/// Applies injected faults and authentication before the model sees the request.
fn faults(state: &Shared, entry: &LoggedRequest) -> Verdict {
    let mut s = state.lock().expect("fake state");
    let f = &mut s.faults;
    if f.drop_next > 0 {
        f.drop_next -= 1;
        return Verdict::Drop;
    }
    if f.forbidden
        .iter()
        .any(|(m, p)| m.eq_ignore_ascii_case(&entry.method) && entry.path.contains(p.as_str()))
    {
        return Verdict::Answer(error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    if f.fail_next > 0 {
        f.fail_next -= 1;
        return Verdict::Answer(error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"));
    }
    if f.rate_limit_next > 0 {
        f.rate_limit_next -= 1;
        return Verdict::Answer(secondary_limit(f.retry_after_secs));
    }
    if f.too_many_next > 0 {
        f.too_many_next -= 1;
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(f.too_many_secs));
        return Verdict::Answer(r);
    }
    if f.primary_limit_next > 0 {
        f.primary_limit_next -= 1;
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + f.primary_reset_secs;
        let mut r = error(StatusCode::FORBIDDEN, "API rate limit exceeded");
        let h = r.headers_mut();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        return Verdict::Answer(r);
    }
    if f.flaky.error_every > 0 || f.flaky.rate_limit_every > 0 {
        f.flaky_count += 1;
        let k = f.flaky_count;
        if f.flaky.error_every > 0 && k % f.flaky.error_every == 0 {
            return Verdict::Answer(error(StatusCode::BAD_GATEWAY, "Server Error"));
        }
        if f.flaky.rate_limit_every > 0 && k % f.flaky.rate_limit_every == 0 {
            return Verdict::Answer(secondary_limit(f.flaky.retry_after_secs));
        }
    }
    if f.graphql_limited.0 > 0 && entry.method == "POST" && entry.path == "/graphql" {
        f.graphql_limited.0 -= 1;
        let body = json!({"errors": [{"type": "RATE_LIMITED", "code": "graphql_rate_limit",
            "message": "API rate limit already exceeded for user ID 1."}]});
        let mut r = (StatusCode::OK, Json(body)).into_response();
        if let Some(secs) = f.graphql_limited.1 {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        return Verdict::Answer(r);
    }
    let expected = format!("Bearer {}", s.token);
    let token_form = format!("token {}", s.token);
    match entry.authorization.as_deref() {
        Some(a) if a == expected || a == token_form => Verdict::Route,
        _ => Verdict::Answer(error(StatusCode::UNAUTHORIZED, "Bad credentials")),
    }
}

fn secondary_limit(secs: u64) -> Response<Body> {
    let mut r = error(
        StatusCode::FORBIDDEN,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    );
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(secs));
    r
}

fn error(status: StatusCode, message: &str) -> Response<Body> {
    (
        status,
        Json(json!({ "message": message, "documentation_url": "https://docs.github.com/rest" })),
    )
        .into_response()
}

fn not_found() -> Response<Body> {
    error(StatusCode::NOT_FOUND, "Not Found")
}

fn routes(state: Shared) -> Router {
    Router::new()
        .route("/user", get(get_user))
        .route("/repos/{owner}/{repo}/pulls", get(list_pulls))
        .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
        .route("/search/issues", get(search_issues))
        .route(
            "/repos/{owner}/{repo}/issues",
            get(list_issues).post(create_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}",
            get(get_issue).patch(edit_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            post(add_labels),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels/{name}",
            delete(remove_label),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        .route("/repos/{owner}/{repo}/labels", post(create_label))
        .route("/repos/{owner}/{repo}/labels/{name}", get(get_label))
        .route(
            "/orgs/{org}/teams/{slug}/memberships/{user}",
            get(team_membership),
        )
        .route(
            "/repos/{owner}/{repo}/compare/{basehead}",
            get(history::compare),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{sha}/pulls",
            get(history::commit_pulls),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/files",
            get(history::pull_files),
        )
        .route("/graphql", post(history::graphql))
        .fallback(|| async { not_found() })
        .with_state(state)
}

// ----- rendering: the model as GitHub's JSON -----

fn ts(secs: i64) -> String {
    Timestamp(secs).to_rfc3339()
}

fn user_json(login: &str) -> Value {
    // OpenAPI conformance: a whole `simple-user`.
    documented::user(login)
}

fn labels_json(base: &str, repo: &Repo, names: &[String]) -> Value {
    // OpenAPI conformance: whole `label`s (id, node_id, url, default).
    Value::Array(
        names
            .iter()
            .map(|n| {
                let label = repo.labels.get(&n.to_ascii_lowercase());
                documented::label(base, &repo.name, n, label)
            })
            .collect(),
    )
}

fn issue_json(base: &str, repo: &Repo, item: &Item) -> Value {
    let mut v = json!({
        "number": item.number,
        "title": item.title,
        "body": item.body,
        "state": if item.open { "open" } else { "closed" },
        "state_reason": item.state_reason,
        "user": user_json(&item.author),
        "labels": labels_json(base, repo, &item.labels),
        "html_url": format!("https://github.com/{}/issues/{}", repo.name, item.number),
        "comments": item.comments.len(),
        "created_at": ts(item.created),
        "updated_at": ts(item.updated),
    });
    if item.pr.is_some() {
        v["pull_request"] =
            json!({ "url": format!("{base}/repos/{}/pulls/{}", repo.name, item.number) });
        v["html_url"] = json!(format!(
            "https://github.com/{}/pull/{}",
            repo.name, item.number
        ));
    }
    documented::complete_issue(&mut v, base, repo, item); // OpenAPI conformance
    v
}

fn pull_json(base: &str, repo: &Repo, item: &Item) -> Option<Value> {
    let pr = item.pr.as_ref()?;
    let mut v = json!({
        "number": item.number,
        "title": item.title,
        "body": item.body,
        "state": if item.open { "open" } else { "closed" },
        "user": user_json(&item.author),
        "labels": labels_json(base, repo, &item.labels),
        "base": { "ref": pr.base, "sha": "0".repeat(40) },
        "head": {
            "ref": pr.facts.head_ref.clone().unwrap_or_else(|| format!("pr-{}", item.number)),
            "sha": pr.head_sha,
        },
        "merged": pr.merged,
        "merged_at": if pr.merged { Some(ts(pr.facts.merged_at.unwrap_or(item.updated))) } else { None },
        "merge_commit_sha": pr.facts.merge_commit,
        "node_id": history::node_id(&repo.name, item.number),
        "html_url": format!("https://github.com/{}/pull/{}", repo.name, item.number),
        "created_at": ts(item.created),
        "updated_at": ts(item.updated),
    });
    documented::complete_pull(&mut v, base, repo, item); // OpenAPI conformance
    Some(v)
}

fn comment_json(c: &FakeComment) -> Value {
    json!({
        "id": c.id,
        "body": c.body,
        "user": user_json(&c.author),
        "created_at": ts(c.created),
        "updated_at": ts(c.created),
    })
}

#[derive(Debug, Deserialize, Default)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    state: Option<String>,
    base: Option<String>,
    labels: Option<String>,
    q: Option<String>,
    sort: Option<String>,
    direction: Option<String>,
}

/// One page of `items` with GitHub's `Link` header (first/prev/next/last).
fn paged(
    base: &str,
    path: &str,
    raw_query: &str,
    q: &PageQuery,
    items: Vec<Value>,
) -> Response<Body> {
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(Value::Array(chunk)).into_response();
    add_link(&mut response, base, path, raw_query, page, last);
    response
}

fn add_link(
    response: &mut Response<Body>,
    base: &str,
    path: &str,
    raw_query: &str,
    page: usize,
    last: usize,
) {
    let others: Vec<&str> = raw_query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let url = |n: usize| {
        let mut q = others.clone().join("&");
        if !q.is_empty() {
            q.push('&');
        }
        format!("<{base}{path}?{q}page={n}>")
    };
    let mut parts = Vec::new();
    if page < last {
        parts.push(format!("{}; rel=\"next\"", url(page + 1)));
        parts.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        parts.push(format!("{}; rel=\"first\"", url(1)));
        parts.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if let (false, Ok(v)) = (parts.is_empty(), HeaderValue::from_str(&parts.join(", "))) {
        response.headers_mut().insert("link", v);
    }
}

fn raw_query(uri: &axum::http::Uri) -> String {
    uri.query().unwrap_or("").to_string()
}

impl PageQuery {
    /// Whether an item open (or closed) matches `?state=` (GitHub's default: `open`).
    fn wants_state(&self, open: bool) -> bool {
        match self.state.as_deref().unwrap_or("open") {
            "open" => open,
            "closed" => !open,
            _ => true,
        }
    }
}

// ----- handlers -----

type Repo3 = Path<(String, String, u64)>;

async fn get_user(State(state): State<Shared>) -> Response<Body> {
    let s = state.lock().expect("fake state");
    Json(documented::own_user(&s.login)).into_response() // OpenAPI conformance
}

async fn list_pulls(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(r) = s.repo(&owner, &repo) else {
        return not_found();
    };
    let mut selected: Vec<&Item> = r
        .items
        .values()
        .rev() // newest first, GitHub's default sort
        .filter(|i| {
            i.pr.as_ref().is_some_and(|pr| {
                q.base.as_deref().is_none_or(|b| b == pr.base) && q.wants_state(i.open)
            })
        })
        .collect();
    if q.sort.is_some() {
        history::sort_pulls(&mut selected, &q);
    }
    let items: Vec<Value> = selected
        .into_iter()
        .filter_map(|i| pull_json(&s.base_url, r, i))
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, items)
}

async fn get_pull(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.repo(&owner, &repo)
        .and_then(|r| {
            r.items
                .get(&number)
                .and_then(|i| history::pull_detail_json(&s.base_url, r, i))
        })
        .map_or_else(not_found, |v| Json(v).into_response())
}

async fn list_issues(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(r) = s.repo(&owner, &repo) else {
        return not_found();
    };
    let wanted: Vec<String> = q
        .labels
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let items: Vec<Value> = r
        .items
        .values()
        .rev()
        .filter(|i| q.wants_state(i.open))
        .filter(|i| {
            wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .map(|i| issue_json(&s.base_url, r, i))
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, items)
}

async fn get_issue(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.repo(&owner, &repo)
        .and_then(|r| r.items.get(&number).map(|i| issue_json(&s.base_url, r, i)))
        .map_or_else(not_found, |v| Json(v).into_response())
}

fn validation_failed(message: &str) -> Response<Body> {
    error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

/// GitHub's limit on an issue's or a comment's body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// GitHub's answer to a `body` over [`MAX_BODY_CHARS`], if it is.
fn body_too_long(request: &Value) -> Option<Response<Body>> {
    let text = request.get("body").and_then(Value::as_str)?;
    (text.chars().count() > MAX_BODY_CHARS).then(|| {
        validation_failed("Validation Failed: body is too long (maximum is 65536 characters)")
    })
}

async fn create_issue(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let Some(title) = body
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return validation_failed("Validation Failed: title is missing");
    };
    if let Some(refused) = body_too_long(&body) {
        return refused;
    }
    let text = body
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let labels: Vec<String> = body
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let title = title.to_string();
    let author = s.login.clone();
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let number = r.next_number;
    r.next_number += 1;
    let labels = labels.iter().map(|l| r.label_or_create(l)).collect();
    let item = Item {
        number,
        title,
        body: text,
        author,
        open: true,
        state_reason: None,
        labels,
        comments: Vec::new(),
        pr: None,
        created: now,
        updated: now,
    };
    let v = issue_json(&base, r, &item);
    r.items.insert(number, item);
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn edit_issue(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Json(body): Json<Value>,
) -> Response<Body> {
    if let Some(refused) = body_too_long(&body) {
        return refused;
    }
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let labels: Option<Vec<String>> = body.get("labels").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(|l| r.label_or_create(l))
            .collect()
    });
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    if let Some(t) = body.get("title").and_then(Value::as_str) {
        item.title = t.to_string();
    }
    if let Some(b) = body.get("body").and_then(Value::as_str) {
        item.body = b.to_string();
    }
    match body.get("state").and_then(Value::as_str) {
        Some("open") => {
            item.open = true;
            item.state_reason = Some("reopened".into());
        }
        Some("closed") => {
            item.open = false;
            item.state_reason = body
                .get("state_reason")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(Some("completed".into()));
        }
        Some(other) => return validation_failed(&format!("Validation Failed: state {other}")),
        None => {}
    }
    if let Some(labels) = labels {
        item.labels = labels;
    }
    item.updated = now;
    let item = item.clone();
    Json(issue_json(&base, r, &item)).into_response()
}

async fn add_labels(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Json(body): Json<Value>,
) -> Response<Body> {
    let names: Vec<String> = body
        .get("labels")
        .unwrap_or(&body)
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return validation_failed("Validation Failed: labels");
    }
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let names: Vec<String> = names.iter().map(|n| r.label_or_create(n)).collect();
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    for name in names {
        if !item.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
            item.labels.push(name);
        }
    }
    item.updated = now;
    let labels = item.labels.clone();
    Json(labels_json(&base, r, &labels)).into_response()
}

async fn remove_label(
    State(state): State<Shared>,
    Path((owner, repo, number, name)): Path<(String, String, u64, String)>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    let before = item.labels.len();
    item.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
    if item.labels.len() == before {
        return error(StatusCode::NOT_FOUND, "Label does not exist");
    }
    item.updated = now;
    let labels = item.labels.clone();
    Json(labels_json(&base, r, &labels)).into_response()
}

async fn list_comments(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(item) = s.repo(&owner, &repo).and_then(|r| r.items.get(&number)) else {
        return not_found();
    };
    let r = s.repo(&owner, &repo).expect("the item's repo");
    let items = item
        .comments
        .iter()
        .map(|c| {
            let mut v = comment_json(c);
            documented::complete_comment(&mut v, &s.base_url, r, number); // OpenAPI conformance
            v
        })
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, items)
}

async fn create_comment(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Json(body): Json<Value>,
) -> Response<Body> {
    let Some(text) = body.get("body").and_then(Value::as_str).map(str::to_string) else {
        return validation_failed("Validation Failed: body is missing");
    };
    if let Some(refused) = body_too_long(&body) {
        return refused;
    }
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    s.next_comment_id += 1;
    let id = s.next_comment_id;
    let author = s.login.clone();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let comment = FakeComment {
        id,
        author,
        body: text,
        created: now,
    };
    let mut v = comment_json(&comment);
    documented::complete_comment(&mut v, &base, r, number); // OpenAPI conformance
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    item.comments.push(comment);
    item.updated = now;
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn get_label(
    State(state): State<Shared>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.repo(&owner, &repo)
        .and_then(|r| r.labels.get(&name.to_ascii_lowercase()).map(|l| (r, l)))
        .map_or_else(not_found, |(r, l)| {
            // OpenAPI conformance: a whole `label`.
            Json(documented::label(&s.base_url, &r.name, &l.name, Some(l))).into_response()
        })
}

async fn create_label(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return validation_failed("Validation Failed: name is missing");
    };
    if r.has_label(name) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "Label", "code": "already_exists", "field": "name" }],
                "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label",
            })),
        )
            .into_response();
    }
    let label = Label {
        name: name.to_string(),
        color: body
            .get("color")
            .and_then(Value::as_str)
            .unwrap_or("ededed")
            .trim_start_matches('#')
            .to_string(),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    r.labels.insert(name.to_ascii_lowercase(), label.clone());
    let v = documented::label(&base, &r.name, &label.name, Some(&label)); // OpenAPI conformance
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn team_membership(
    State(state): State<Shared>,
    Path((org, slug, user)): Path<(String, String, String)>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.teams
        .get(&format!("{org}/{slug}").to_ascii_lowercase())
        .and_then(|members| members.get(&user.to_ascii_lowercase()))
        .map_or_else(not_found, |state| {
            // OpenAPI conformance: `url` is required.
            let url = format!("{}/organizations/1/team/1/memberships/{user}", s.base_url);
            Json(json!({ "state": state, "role": "member", "url": url })).into_response()
        })
}

// ----- search -----

/// A parsed `q` of `GET /search/issues`.
#[derive(Debug, Default)]
struct SearchQuery {
    repo: Option<String>,
    is_pr: Option<bool>,
    open: Option<bool>,
    labels: Vec<String>,
    author: Option<String>,
    in_title: bool,
    in_body: bool,
    terms: Vec<String>,
}

/// Splits on whitespace outside double quotes, dropping the quotes.
fn search_tokens(q: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn parse_search(q: &str) -> Result<SearchQuery, String> {
    let mut out = SearchQuery::default();
    for token in search_tokens(q) {
        let Some((key, value)) = token.split_once(':').filter(|(k, _)| {
            matches!(
                *k,
                "repo" | "is" | "state" | "label" | "author" | "in" | "type"
            )
        }) else {
            out.terms.push(token.to_ascii_lowercase());
            continue;
        };
        match (key, value) {
            ("repo", v) => out.repo = Some(v.to_ascii_lowercase()),
            ("is" | "type", "issue") => out.is_pr = Some(false),
            ("is" | "type", "pr") => out.is_pr = Some(true),
            ("is" | "state", "open") => out.open = Some(true),
            ("is" | "state", "closed") => out.open = Some(false),
            ("label", v) => out.labels.push(v.to_string()),
            ("author", v) => out.author = Some(v.to_ascii_lowercase()),
            ("in", v) => {
                for field in v.split(',') {
                    match field {
                        "title" => out.in_title = true,
                        "body" => out.in_body = true,
                        "comments" => {}
                        other => return Err(format!("unknown in: field {other}")),
                    }
                }
            }
            (k, v) => return Err(format!("unsupported qualifier {k}:{v}")),
        }
    }
    if !out.in_title && !out.in_body {
        out.in_title = true;
        out.in_body = true;
    }
    Ok(out)
}

fn matches_search(q: &SearchQuery, repo: &Repo, item: &Item) -> bool {
    let title = item.title.to_ascii_lowercase();
    let body = item.body.to_ascii_lowercase();
    q.repo
        .as_deref()
        .is_none_or(|r| r == repo.name.to_ascii_lowercase())
        && q.is_pr.is_none_or(|p| p == item.pr.is_some())
        && q.open.is_none_or(|o| o == item.open)
        && q.author
            .as_deref()
            .is_none_or(|a| a == item.author.to_ascii_lowercase())
        && q.labels
            .iter()
            .all(|w| item.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        && q.terms.iter().all(|t| {
            (q.in_title && title.contains(t.as_str())) || (q.in_body && body.contains(t.as_str()))
        })
}

async fn search_issues(
    State(state): State<Shared>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
    _headers: HeaderMap,
) -> Response<Body> {
    let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) else {
        return validation_failed("Validation Failed: q is missing");
    };
    let query = match parse_search(text) {
        Ok(query) => query,
        Err(e) => return validation_failed(&format!("Validation Failed: {e}")),
    };
    let s = state.lock().expect("fake state");
    let mut found: Vec<Value> = Vec::new();
    for repo in s.repos.values() {
        for item in repo.items.values().rev() {
            if matches_search(&query, repo, item) {
                let mut v = issue_json(&s.base_url, repo, item);
                v["score"] = json!(1.0); // OpenAPI conformance
                found.push(v);
            }
        }
    }
    let total = found.len();
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = found
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(json!({
        "total_count": total,
        "incomplete_results": false,
        "search_type": "lexical", // OpenAPI conformance
        "items": items,
    }))
    .into_response();
    add_link(
        &mut response,
        &s.base_url,
        uri.path(),
        &raw_query(&uri),
        page,
        last,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the token's user writes through the API is theirs, what a test seeds is its
    /// author's; a later change of the token's user changes no earlier author.
    #[tokio::test]
    async fn issues_and_comments_carry_their_real_author() {
        use crate::github::client::{Client, ClientOptions};
        use crate::github::types::NewIssue;
        use crate::model::{PrNumber, RepoName};
        let fake = FakeGithub::start().await.unwrap();
        let seeded = fake.add_issue("o/r", "t", "b", "mallory", &[]);
        fake.add_comment("o/r", seeded, "mallory", "forged");
        let client = Client::new(ClientOptions::new(vec![fake.url()], Some(fake.token()))).unwrap();
        let repo = RepoName::parse("o/r").unwrap();
        let new = NewIssue {
            title: "ours".into(),
            body: "b".into(),
            labels: vec![],
        };
        let created = client.create_issue(&repo, &new).await.unwrap();
        assert_eq!(created.user.login, FAKE_LOGIN);
        client
            .create_comment(&repo, PrNumber(seeded), "ours")
            .await
            .unwrap();
        fake.set_login("someone-else");
        let authors: Vec<(String, String)> = client
            .list_comments(&repo, PrNumber(seeded))
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.user.login, c.body))
            .collect();
        assert_eq!(
            authors,
            vec![
                ("mallory".to_string(), "forged".to_string()),
                (FAKE_LOGIN.to_string(), "ours".to_string())
            ]
        );
        let read = |n: u64| {
            let client = client.clone();
            let repo = repo.clone();
            async move { client.get_issue(&repo, PrNumber(n)).await.unwrap().unwrap() }
        };
        assert_eq!(read(seeded).await.user.login, "mallory");
        assert_eq!(read(created.number).await.user.login, FAKE_LOGIN);
    }

    #[test]
    fn search_queries_parse_qualifiers_and_quoted_terms() {
        let q = parse_search(
            r#"repo:o/r is:issue is:open label:"tide/merge-blocker" in:body "scalability-gate:inc-1:blocker""#,
        )
        .unwrap();
        assert_eq!(q.repo.as_deref(), Some("o/r"));
        assert_eq!(q.is_pr, Some(false));
        assert_eq!(q.open, Some(true));
        assert_eq!(q.labels, vec!["tide/merge-blocker"]);
        assert!(q.in_body && !q.in_title);
        assert_eq!(q.terms, vec!["scalability-gate:inc-1:blocker"]);
        assert!(parse_search("is:weird").is_err());
    }
}
