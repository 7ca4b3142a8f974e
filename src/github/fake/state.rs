//! The fake GitHub's model: repositories with labels, and issues and PRs sharing one number
//! space, each with its comments; organisations' teams; the clock items are stamped with;
//! and the data every other file of the fake keeps in it (the request log, fault settings,
//! git history, GitHub Apps, captured exchanges).
//!
//! The bottom of the fake: data types only, importing no other file of the fake. Their
//! behaviour (`impl` blocks, handlers) lives in the files above that use them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::time::Instant;

use crate::github::types::Label;

/// Epoch second of the fake's clock for item timestamps (items are a minute apart).
pub(super) const EPOCH: i64 = 1_790_000_000;

/// A comment on an issue or PR.
#[derive(Debug, Clone)]
pub(super) struct FakeComment {
    pub(super) id: u64,
    pub(super) author: String,
    pub(super) body: String,
    pub(super) created: i64,
}

/// What a PR has beyond what an issue has.
#[derive(Debug, Clone)]
pub(super) struct PrPart {
    pub(super) base: String,
    pub(super) head_sha: String,
    pub(super) merged: bool,
    /// Merge commit, merge time, files, size, branch (see [`history`]).
    pub(super) facts: PrFacts,
}

/// An issue or a PR: they share one number space per repository, as on GitHub.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: String,
    pub(super) author: String,
    pub(super) open: bool,
    pub(super) state_reason: Option<String>,
    pub(super) labels: Vec<String>,
    pub(super) comments: Vec<FakeComment>,
    pub(super) pr: Option<PrPart>,
    pub(super) created: i64,
    pub(super) updated: i64,
}

/// One repository: labels by lower-cased name, items by number, history.
#[derive(Debug, Clone, Default)]
pub(super) struct Repo {
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, Label>,
    pub(super) items: BTreeMap<u64, Item>,
    pub(super) next_number: u64,
    /// Commits, branches and which PRs brought which commits.
    pub(super) history: History,
}

impl Repo {
    pub(super) fn has_label(&self, name: &str) -> bool {
        self.labels.contains_key(&name.to_ascii_lowercase())
    }

    /// The label's canonical spelling, creating it as GitHub does when it is added to an
    /// issue without existing.
    pub(super) fn label_or_create(&mut self, name: &str) -> String {
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

/// Everything the fake holds, behind one lock.
pub(super) struct FakeState {
    pub(super) base_url: String,
    pub(super) token: String,
    pub(super) login: String,
    pub(super) repos: BTreeMap<String, Repo>,
    /// `org/slug` → login → `active` | `pending`.
    pub(super) teams: BTreeMap<String, BTreeMap<String, String>>,
    pub(super) next_comment_id: u64,
    pub(super) clock: i64,
    pub(super) log: Vec<LoggedRequest>,
    pub(super) faults: Faults,
    pub(super) hooks: Vec<Hook>,
    /// Bumped by [`super::FakeGithub::release_stalls`]; held requests wait for a change.
    pub(super) stall_release: watch::Sender<u64>,
    /// GitHub Apps: the registered app, installations, tokens (see [`super::app`]).
    pub(super) app: AppState,
    /// OpenAPI conformance: exchanges recorded when capturing (see [`super::capture`]).
    pub(super) exchanges: Option<Vec<Exchange>>,
}

impl FakeState {
    pub(super) fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }

    pub(super) fn repo_mut(&mut self, owner: &str, repo: &str) -> Option<&mut Repo> {
        self.repos
            .get_mut(&format!("{owner}/{repo}").to_ascii_lowercase())
    }

    pub(super) fn repo(&self, owner: &str, repo: &str) -> Option<&Repo> {
        self.repos
            .get(&format!("{owner}/{repo}").to_ascii_lowercase())
    }
}

/// The state as the server and the handle share it.
pub(super) type Shared = Arc<Mutex<FakeState>>;

// ----- The request log's entries (see [`super::log`]) -----

/// One request the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    pub query: String,
    /// The status answered; 0 when the connection was dropped (also mid-answer, see
    /// [`super::FakeGithub::reset_after_apply_next`]).
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

/// A waiter for the first request with this method whose path contains this text.
pub(super) type Hook = (String, String, oneshot::Sender<LoggedRequest>);

// ----- Fault injection's settings (see [`super::faults`]) -----

/// A deterministic pattern of failures: of the requests counted from when it is set,
/// every `error_every`-th answers 500 and every `rate_limit_every`-th answers 403 with
/// `Retry-After: retry_after_secs` (0 turns a kind off).
#[derive(Debug, Clone, Copy, Default)]
pub struct Flaky {
    pub error_every: u64,
    pub rate_limit_every: u64,
    pub retry_after_secs: u64,
}

#[derive(Default)]
pub(super) struct Faults {
    pub(super) fail_next: u64,
    pub(super) rate_limit_next: u64,
    pub(super) retry_after_secs: u64,
    pub(super) primary_limit_next: u64,
    pub(super) primary_reset_secs: u64,
    pub(super) drop_next: u64,
    pub(super) latency: Duration,
    pub(super) flaky: Flaky,
    pub(super) flaky_count: u64,
    /// Next requests answered 429 with `Retry-After` (`too_many_secs`).
    pub(super) too_many_next: u64,
    pub(super) too_many_secs: u64,
    /// Next mutations applied, then their answer cut off mid-body (a reset mid-response).
    pub(super) reset_after_apply_next: u64,
    /// Next mutations applied, then answered 502 (GitHub does that now and then).
    pub(super) fail_after_apply_next: u64,
    /// The mutation to hold (see [`super::FakeGithub::stall_mutation`]).
    pub(super) stall: Option<Stall>,
    /// Requests to hold, by method and path (see [`super::FakeGithub::stall_request`]).
    pub(super) held: Vec<Hook>,
    /// Requests refused with 403, by method and path (see [`super::FakeGithub::forbid`]).
    pub(super) forbidden: Vec<(String, String)>,
    /// Requests to answer late (see [`super::FakeGithub::delay_request`]).
    pub(super) delays: Vec<Delay>,
    /// Delayed requests being held right now.
    pub(super) delayed_now: usize,
    /// Bumped by [`super::FakeGithub::release_delays`]; delayed requests wait for a change.
    pub(super) delay_release: watch::Sender<u64>,
    /// Next `POST /graphql` answered 200 with a `RATE_LIMITED` error, with `Retry-After`
    /// when set (see [`super::FakeGithub::graphql_rate_limited_next`]).
    pub(super) graphql_limited: (u64, Option<u64>),
    /// The search rate limit and timed-out searches (see [`super::search`]).
    pub(super) search: SearchFaults,
}

/// A request to hold for `delay`, then answer as usual.
pub(super) struct Delay {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) delay: Duration,
    pub(super) tx: oneshot::Sender<LoggedRequest>,
}

/// A mutation to hold unanswered: the `remaining`-th mutation from when it was set.
pub(super) struct Stall {
    pub(super) remaining: u64,
    pub(super) apply: bool,
    pub(super) tx: oneshot::Sender<LoggedRequest>,
}

// ----- Search's rate limit and timed-out searches (see [`super::search`]) -----

/// GitHub's search rate limit for an authenticated user: 30 requests a minute.
pub const SEARCH_PER_MINUTE: u32 = 30;

/// The search rate limit's sliding minute, and the timed-out searches a test asked for.
#[derive(Debug)]
pub(super) struct SearchFaults {
    /// Searches allowed in any minute (0: no limit).
    pub(super) per_minute: u32,
    /// When the searches of the last minute came, oldest first.
    pub(super) recent: VecDeque<Instant>,
    /// The next searches answer only part of what matches, with `incomplete_results`.
    pub(super) incomplete_next: u64,
    /// The next searches are refused with a 422, as for a repository search cannot see.
    pub(super) refused_next: u64,
}

impl Default for SearchFaults {
    fn default() -> Self {
        Self {
            per_minute: SEARCH_PER_MINUTE,
            recent: VecDeque::new(),
            incomplete_next: 0,
            refused_next: 0,
        }
    }
}

// ----- Git history (its methods and the merged PRs are in [`super::history`]) -----

/// One commit of the fake's history.
#[derive(Debug, Clone)]
pub(super) struct FakeCommit {
    pub(super) sha: String,
    pub(super) message: String,
    pub(super) parents: Vec<String>,
    pub(super) author: String,
    /// Order of creation: compare lists commits in it (oldest first).
    pub(super) seq: u64,
    pub(super) at: i64,
}

/// A repository's history: commits, branch heads, and which PRs brought which commits.
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    pub(super) commits: BTreeMap<String, FakeCommit>,
    pub(super) branches: BTreeMap<String, String>,
    pub(super) commit_prs: BTreeMap<String, Vec<u64>>,
    pub(super) next_seq: u64,
}

/// What only a merged (or reverting) PR has, kept on the fake's PR.
#[derive(Debug, Clone, Default)]
pub(super) struct PrFacts {
    pub(super) merge_commit: Option<String>,
    pub(super) merged_at: Option<i64>,
    pub(super) merged_by: Option<String>,
    pub(super) head_ref: Option<String>,
    pub(super) files: Vec<String>,
    pub(super) additions: u64,
    pub(super) deletions: u64,
}

// ----- GitHub Apps (see [`super::app`]) -----

/// Who wrote a request: the login the fake authors its writes with. Put on every routed
/// request by the connection pipeline.
#[derive(Debug, Clone)]
pub(super) struct Caller(pub(super) String);

/// The registered app.
pub(super) struct App {
    pub(super) id: u64,
    pub(super) slug: String,
    pub(super) key: jsonwebtoken::DecodingKey,
}

/// One installation token.
pub(super) struct Issued {
    pub(super) account: String,
    pub(super) expires_at: i64,
}

/// Apps on the fake: the app, its installations by lower-cased account, and the tokens
/// issued.
pub(super) struct AppState {
    pub(super) app: Option<App>,
    pub(super) installations: BTreeMap<String, u64>,
    pub(super) tokens: BTreeMap<String, Issued>,
    pub(super) ttl_secs: i64,
    pub(super) issued: u64,
}

impl Default for AppState {
    fn default() -> Self {
        Self {
            app: None,
            installations: BTreeMap::new(),
            tokens: BTreeMap::new(),
            ttl_secs: 3600,
            issued: 0,
        }
    }
}

// ----- OpenAPI conformance (see [`super::capture`]) -----

/// One request the model answered, with both bodies as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub method: String,
    /// The path as sent (percent-encoded).
    pub path: String,
    /// The raw query string, without `?` (empty when none).
    pub query: String,
    pub request_body: Vec<u8>,
    pub status: u16,
    /// The answer's `Content-Type`, if any.
    pub content_type: Option<String>,
    pub response_body: Vec<u8>,
}
