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
//!   nothing was created). Reads still go to GitHub.
//! - **Time** is tokio's, so tests drive waits with paused time instead of sleeping.
//!
//! The token is sent as `Authorization: Bearer …` and never logged. Without a token every
//! request fails with [`GithubError::NoToken`] (mutations in dry-run still succeed as
//! no-ops), which lets a newcomer start the example configuration at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue, LINK, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::types::{
    Comment, Comparison, Issue, IssueEdit, IssueState, Label, MergedWindow, NewIssue, PullFile,
    PullRequest, PullRequestDetail, RevertedPull, SearchResult, TeamMembership, User,
};
use crate::config::Config;
use crate::model::{Login, PrNumber, RepoName, Timestamp};

/// The REST API version every request asks for.
pub const API_VERSION: &str = "2022-11-28";

/// Items per page of list calls (GitHub's maximum).
pub const PER_PAGE: u32 = 100;

/// Pages followed at most by one list call (10,000 items), so a bad `Link` header cannot
/// loop forever.
pub const MAX_PAGES: usize = 100;

/// The one GraphQL document the plugin sends: GitHub's "Revert" button as an API.
pub const REVERT_PULL_REQUEST: &str = "mutation($input: RevertPullRequestInput!) { \
revertPullRequest(input: $input) { pullRequest { number url } revertPullRequest { number url } } }";

/// Rate-limit pauses one request may sit through before it gives up.
const MAX_RATE_LIMIT_WAITS: u32 = 10;

/// The wait GitHub's documentation asks for after a secondary limit without `Retry-After`
/// (also used for a GraphQL `RATE_LIMITED` answer without rate-limit headers).
pub const SECONDARY_LIMIT_DEFAULT_WAIT: Duration = Duration::from_secs(60);

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// How a [`Client`] behaves. [`ClientOptions::from_config`] builds it from the plugin's
/// configuration; tests adjust the fields they care about.
#[derive(Clone)]
pub struct ClientOptions {
    /// Base URLs tried in order, e.g. `http://ghproxy`, `https://api.github.com`.
    pub endpoints: Vec<String>,
    /// The token (already trimmed); `None` when the token file is missing in dry-run.
    pub token: Option<String>,
    /// Mutations become logged no-ops.
    pub dry_run: bool,
    /// Content-creating requests allowed per sliding minute.
    pub mutations_per_minute: u32,
    /// Content-creating requests allowed per sliding hour.
    pub mutations_per_hour: u32,
    /// Rounds over all endpoints before a request fails (at least 1).
    pub max_attempts: u32,
    /// First backoff between rounds; doubled each round up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest backoff between rounds.
    pub backoff_max: Duration,
    /// Longest single rate-limit pause honoured (longer `Retry-After`/reset are capped).
    pub max_rate_limit_wait: Duration,
    /// Timeout of one HTTP request; `None`: none.
    pub request_timeout: Option<Duration>,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("endpoints", &self.endpoints)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("dry_run", &self.dry_run)
            .field("mutations_per_minute", &self.mutations_per_minute)
            .field("mutations_per_hour", &self.mutations_per_hour)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Options for `endpoints` with `token` and the default budget and retry policy.
    pub fn new(endpoints: Vec<String>, token: Option<String>) -> Self {
        Self {
            endpoints,
            token,
            dry_run: false,
            mutations_per_minute: 60,
            mutations_per_hour: 450,
            max_attempts: 5,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(3600 + 60),
            request_timeout: Some(Duration::from_secs(30)),
            user_agent: concat!("scalability-gate/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// From the plugin's configuration, reading the token file (trimmed, as Prow does).
    /// A missing token file is tolerated in dry-run only.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let path = &config.github.token_file;
        let token = if path.exists() || !config.dry_run {
            Some(crate::config::read_secret_file(path)?)
        } else {
            None
        };
        let mut options = Self::new(config.github.endpoints.clone(), token);
        options.dry_run = config.dry_run;
        options.mutations_per_minute = config.github.mutations_per_minute;
        options.mutations_per_hour = config.github.mutations_per_hour;
        Ok(options)
    }
}

/// Why a GitHub call failed. Callers match on [`GithubError::status`].
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{method} {path}: no GitHub token configured, request not sent")]
    NoToken { method: String, path: String },
    #[error("{method} {path}: GitHub answered {status}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: could not decode the answer: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    #[error("GraphQL: {0}")]
    Graphql(String),
}

impl GithubError {
    /// The HTTP status GitHub answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the request may have taken effect although it failed: GitHub answered 5xx,
    /// or the connection broke after the request was sent. A caller that creates something
    /// looks before it tries again.
    pub fn may_have_happened(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500,
            Self::Transport { .. } => true,
            _ => false,
        }
    }
}

/// Counts of what the client sent (every HTTP attempt counts), for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// HTTP requests sent, reads and mutations, retries included.
    pub requests: u64,
    /// Content-creating HTTP requests sent (POST/PATCH/PUT/DELETE), retries included.
    pub mutations: u64,
    /// Mutations not sent because of dry-run.
    pub dry_run_mutations: u64,
    /// Requests sent again after a 5xx or a connection error.
    pub retries: u64,
    /// Rate-limit answers that paused the client (GraphQL `RATE_LIMITED` included).
    pub rate_limited: u64,
    /// Slots of the mutation budget taken: one per mutation attempt on any endpoint,
    /// less those given back because the connection could not be made.
    pub paced: u64,
}

#[derive(Default)]
struct AtomicCounters {
    requests: AtomicU64,
    mutations: AtomicU64,
    dry_run_mutations: AtomicU64,
    retries: AtomicU64,
    rate_limited: AtomicU64,
    paced: AtomicU64,
}

/// The sliding windows of mutation timestamps.
struct Pacer {
    per_minute: usize,
    per_hour: usize,
    /// Instants of the mutations of the last hour, oldest first (at most `per_hour`).
    sent: VecDeque<Instant>,
}

impl Pacer {
    /// `None` when a mutation may go at `now`, else the instant a slot frees up.
    fn next_slot(&mut self, now: Instant) -> Option<Instant> {
        while self.sent.front().is_some_and(|t| *t + HOUR <= now) {
            self.sent.pop_front();
        }
        let len = self.sent.len();
        if len >= self.per_hour {
            return Some(self.sent[len - self.per_hour] + HOUR);
        }
        if len >= self.per_minute {
            let oldest_of_minute = self.sent[len - self.per_minute];
            if oldest_of_minute + MINUTE > now {
                return Some(oldest_of_minute + MINUTE);
            }
        }
        None
    }

    /// Gives back the slot taken at `at` (the attempt never left this host).
    fn give_back(&mut self, at: Instant) {
        if let Some(i) = self.sent.iter().rposition(|t| *t == at) {
            self.sent.remove(i);
        }
    }
}

/// Whether a failed request may be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Resend {
    /// After any 5xx or connection error (reads, and changes that are safe to repeat).
    Always,
    /// Only when it never reached GitHub (creating an issue or a comment twice is not safe).
    OnlyUnsent,
}

/// A request that got no answer: whether it surely never reached the endpoint (the
/// connection could not be made), and what happened.
struct Unsent(bool, String);

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

struct Inner {
    http: reqwest::Client,
    endpoints: Vec<String>,
    /// Path prefixes of the endpoints (`/api/v3` on GitHub Enterprise), to map `Link`
    /// URLs back onto our own endpoint list.
    prefixes: Vec<String>,
    token: Option<String>,
    options: ClientOptions,
    not_before: std::sync::Mutex<Option<Instant>>,
    pacer: tokio::sync::Mutex<Pacer>,
    counters: AtomicCounters,
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

/// Whether requests of this method create content (GitHub's secondary-limit notion).
fn is_mutation(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
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

fn repo_path(repo: &RepoName) -> String {
    format!("/repos/{}/{}", encode(&repo.org), encode(&repo.repo))
}

/// The `rel="next"` URL of a `Link` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"");
        is_next.then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// GitHub's `message` field of an error body, or the start of the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
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
        let pacer = Pacer {
            per_minute: options.mutations_per_minute.max(1) as usize,
            per_hour: options.mutations_per_hour.max(1) as usize,
            sent: VecDeque::new(),
        };
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                endpoints,
                prefixes,
                token: options.token.clone().filter(|t| !t.is_empty()),
                options,
                not_before: std::sync::Mutex::new(None),
                pacer: tokio::sync::Mutex::new(pacer),
                counters: AtomicCounters::default(),
                login: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// A client built from the plugin's configuration.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        Self::new(ClientOptions::from_config(config)?)
    }

    /// Whether mutations are no-ops.
    pub fn is_dry_run(&self) -> bool {
        self.inner.options.dry_run
    }

    /// What the client has sent so far.
    pub fn counters(&self) -> Counters {
        let c = &self.inner.counters;
        Counters {
            requests: c.requests.load(Ordering::Relaxed),
            mutations: c.mutations.load(Ordering::Relaxed),
            dry_run_mutations: c.dry_run_mutations.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            paced: c.paced.load(Ordering::Relaxed),
        }
    }

    /// True (and logged) when a mutation must not be sent because of dry-run.
    fn skip_in_dry_run(&self, method: &str, path: &str) -> bool {
        if self.inner.options.dry_run {
            self.inner
                .counters
                .dry_run_mutations
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(method, path, "dry-run: GitHub mutation not sent");
            return true;
        }
        false
    }

    // ----- the calls -----

    /// The token owner's login (`GET /user`), asked once and remembered.
    pub async fn own_login(&self) -> Result<Login, GithubError> {
        self.inner
            .login
            .get_or_try_init(|| async {
                let user: User = self.get_json("/user").await?;
                Ok(user.login())
            })
            .await
            .cloned()
    }

    /// Every open PR of `repo` whose base is `base`, following pagination.
    pub async fn list_open_pulls(
        &self,
        repo: &RepoName,
        base: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        let path = format!(
            "{}/pulls?state=open&base={}&per_page={PER_PAGE}",
            repo_path(repo),
            encode(base)
        );
        self.get_pages(path, |bytes| serde_json::from_slice(bytes))
            .await
    }

    /// As [`Client::list_open_pulls`], with the body, node id and merge commit of each.
    pub async fn list_open_pulls_detail(
        &self,
        repo: &RepoName,
        base: &str,
    ) -> Result<Vec<PullRequestDetail>, GithubError> {
        let path = format!(
            "{}/pulls?state=open&base={}&per_page={PER_PAGE}",
            repo_path(repo),
            encode(base)
        );
        self.get_pages(path, |bytes| serde_json::from_slice(bytes))
            .await
    }

    /// One PR, `None` when it does not exist.
    pub async fn get_pull(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<PullRequest>, GithubError> {
        let path = format!("{}/pulls/{}", repo_path(repo), number.0);
        not_found_is_none(self.get_json(&path).await)
    }

    /// Issues and PRs matching a search query (`GET /search/issues?q=`), following
    /// pagination. Search is eventually consistent on GitHub: the reconciler finds its
    /// own issues by listing, and uses search only to look further.
    pub async fn search_issues(&self, query: &str) -> Result<Vec<Issue>, GithubError> {
        let path = format!("/search/issues?q={}&per_page={PER_PAGE}", encode(query));
        self.get_pages(path, |bytes| {
            serde_json::from_slice::<SearchResult>(bytes).map(|r| r.items)
        })
        .await
    }

    /// Adds labels to an issue or PR; GitHub answers every label it now carries. In
    /// dry-run: the labels asked for.
    pub async fn add_labels(
        &self,
        repo: &RepoName,
        number: PrNumber,
        labels: &[String],
    ) -> Result<Vec<Label>, GithubError> {
        let path = format!("{}/issues/{}/labels", repo_path(repo), number.0);
        if self.skip_in_dry_run("POST", &path) {
            return Ok(labels
                .iter()
                .map(|name| Label {
                    name: name.clone(),
                    color: String::new(),
                    description: None,
                })
                .collect());
        }
        self.send_json(Method::POST, &path, &json!({ "labels": labels }))
            .await
    }

    /// Removes one label from an issue or PR; false when it did not carry it (404).
    /// In dry-run: true.
    pub async fn remove_label(
        &self,
        repo: &RepoName,
        number: PrNumber,
        label: &str,
    ) -> Result<bool, GithubError> {
        let path = format!(
            "{}/issues/{}/labels/{}",
            repo_path(repo),
            number.0,
            encode(label)
        );
        if self.skip_in_dry_run("DELETE", &path) {
            return Ok(true);
        }
        match self.request(Method::DELETE, &path, None).await {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A repository label, `None` when the repo lacks it.
    pub async fn get_label(
        &self,
        repo: &RepoName,
        name: &str,
    ) -> Result<Option<Label>, GithubError> {
        let path = format!("{}/labels/{}", repo_path(repo), encode(name));
        not_found_is_none(self.get_json(&path).await)
    }

    /// Creates a repository label. GitHub answers 422 when it exists already (see
    /// [`Client::ensure_label`]). In dry-run: the label asked for.
    pub async fn create_label(&self, repo: &RepoName, label: &Label) -> Result<Label, GithubError> {
        let path = format!("{}/labels", repo_path(repo));
        if self.skip_in_dry_run("POST", &path) {
            return Ok(label.clone());
        }
        self.send_json(Method::POST, &path, label).await
    }

    /// The label, created when the repo lacks it (one read when it exists).
    pub async fn ensure_label(&self, repo: &RepoName, label: &Label) -> Result<Label, GithubError> {
        if let Some(found) = self.get_label(repo, &label.name).await? {
            return Ok(found);
        }
        match self.create_label(repo, label).await {
            // Created by someone else in between: it exists, which is all we want.
            Err(e) if e.status() == Some(422) => Ok(label.clone()),
            other => other,
        }
    }

    /// Opens an issue. In dry-run: an issue numbered 0 (nothing was created).
    ///
    /// Sent once: a 5xx or a connection broken after sending is not retried here, since the
    /// issue may exist by then ([`GithubError::may_have_happened`]); the caller looks for
    /// it before it tries again.
    pub async fn create_issue(
        &self,
        repo: &RepoName,
        issue: &NewIssue,
    ) -> Result<Issue, GithubError> {
        let path = format!("{}/issues", repo_path(repo));
        if self.skip_in_dry_run("POST", &path) {
            return Ok(Issue {
                number: 0,
                title: issue.title.clone(),
                body: Some(issue.body.clone()),
                state: "open".into(),
                user: User {
                    login: "dry-run".into(),
                    kind: None,
                },
                labels: issue
                    .labels
                    .iter()
                    .map(|name| Label {
                        name: name.clone(),
                        color: String::new(),
                        description: None,
                    })
                    .collect(),
                html_url: None,
                pull_request: None,
                created_at: None,
            });
        }
        self.send_json_once(Method::POST, &path, issue).await
    }

    /// One issue (or PR through the issues API), `None` when it does not exist.
    pub async fn get_issue(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<Issue>, GithubError> {
        let path = format!("{}/issues/{}", repo_path(repo), number.0);
        not_found_is_none(self.get_json(&path).await)
    }

    /// Edits an issue's title, body or state. In dry-run: nothing.
    pub async fn edit_issue(
        &self,
        repo: &RepoName,
        number: PrNumber,
        edit: &IssueEdit,
    ) -> Result<(), GithubError> {
        let path = format!("{}/issues/{}", repo_path(repo), number.0);
        if self.skip_in_dry_run("PATCH", &path) {
            return Ok(());
        }
        self.send_json::<Value>(Method::PATCH, &path, edit)
            .await
            .map(|_| ())
    }

    /// Closes an issue as completed. In dry-run: nothing.
    pub async fn close_issue(&self, repo: &RepoName, number: PrNumber) -> Result<(), GithubError> {
        let edit = IssueEdit {
            state: Some("closed".into()),
            state_reason: Some("completed".into()),
            ..IssueEdit::default()
        };
        self.edit_issue(repo, number, &edit).await
    }

    /// Issues (and PRs) of `repo` carrying every one of `labels`, in `state`, following
    /// pagination. Unlike search, this is consistent at once.
    pub async fn list_issues(
        &self,
        repo: &RepoName,
        labels: &[&str],
        state: IssueState,
    ) -> Result<Vec<Issue>, GithubError> {
        let path = format!(
            "{}/issues?labels={}&state={}&per_page={PER_PAGE}",
            repo_path(repo),
            encode(&labels.join(",")),
            state.as_str()
        );
        self.get_pages(path, |bytes| serde_json::from_slice(bytes))
            .await
    }

    /// Every comment of an issue or PR, oldest first, following pagination.
    pub async fn list_comments(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<Comment>, GithubError> {
        let path = format!(
            "{}/issues/{}/comments?per_page={PER_PAGE}",
            repo_path(repo),
            number.0
        );
        self.get_pages(path, |bytes| serde_json::from_slice(bytes))
            .await
    }

    /// Posts a comment. In dry-run: a comment with id 0 (nothing was posted).
    ///
    /// Sent once, as [`Client::create_issue`]: the caller looks for the comment before it
    /// tries again.
    pub async fn create_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        body: &str,
    ) -> Result<Comment, GithubError> {
        let path = format!("{}/issues/{}/comments", repo_path(repo), number.0);
        if self.skip_in_dry_run("POST", &path) {
            return Ok(Comment {
                id: 0,
                body: body.to_string(),
                user: User {
                    login: "dry-run".into(),
                    kind: None,
                },
                created_at: None,
                html_url: None,
            });
        }
        self.send_json_once(Method::POST, &path, &json!({ "body": body }))
            .await
    }

    /// Whether `login` is an active member of the team `org/slug` (a 404 or a pending
    /// invitation means not).
    pub async fn is_team_member(
        &self,
        org: &str,
        slug: &str,
        login: &str,
    ) -> Result<bool, GithubError> {
        let path = format!(
            "/orgs/{}/teams/{}/memberships/{}",
            encode(org),
            encode(slug),
            encode(login)
        );
        let membership: Option<TeamMembership> = not_found_is_none(self.get_json(&path).await)?;
        Ok(membership.is_some_and(|m| m.state == "active"))
    }

    // ----- history: what was merged, for finding suspects -----

    /// The commits reachable from `head` and not from `base`
    /// (`GET /repos/{o}/{r}/compare/{base}...{head}`), oldest first, following pages until
    /// `max_commits` are fetched. `total_commits` always says how many there are, so
    /// [`Comparison::truncated`] tells when the range was cut. `None` when GitHub does not
    /// know either commit (404).
    pub async fn compare(
        &self,
        repo: &RepoName,
        base: &str,
        head: &str,
        max_commits: usize,
    ) -> Result<Option<Comparison>, GithubError> {
        let mut path = Some(format!(
            "{}/compare/{}...{}?per_page={PER_PAGE}",
            repo_path(repo),
            encode(base),
            encode(head)
        ));
        let mut all: Option<Comparison> = None;
        let mut pages = 0;
        while let Some(current) = path.take() {
            let answer = match self.request(Method::GET, &current, None).await {
                Ok(answer) => answer,
                Err(e) if e.status() == Some(404) && all.is_none() => return Ok(None),
                Err(e) => return Err(e),
            };
            let page: Comparison = decode(&Method::GET, &current, &answer.body)?;
            let done = page.commits.is_empty();
            match all.as_mut() {
                None => all = Some(page),
                Some(all) => all.commits.extend(page.commits),
            }
            pages += 1;
            let fetched = all.as_ref().map_or(0, |a| a.commits.len());
            if done || fetched >= max_commits || pages >= MAX_PAGES {
                break;
            }
            path = next_link(&answer.headers).and_then(|url| self.relative(&url));
        }
        Ok(all.map(|mut c| {
            c.commits.truncate(max_commits);
            c
        }))
    }

    /// The PRs that brought `sha` in (`GET /repos/{o}/{r}/commits/{sha}/pulls`): for a
    /// commit on the default branch, the merged PR that introduced it.
    pub async fn pulls_of_commit(
        &self,
        repo: &RepoName,
        sha: &str,
    ) -> Result<Vec<PullRequestDetail>, GithubError> {
        let path = format!(
            "{}/commits/{}/pulls?per_page={PER_PAGE}",
            repo_path(repo),
            encode(sha)
        );
        match self.get_json(&path).await {
            Err(e) if matches!(e.status(), Some(404 | 422)) => Ok(Vec::new()),
            other => other,
        }
    }

    /// One PR with everything GitHub says about it (size, merge commit, node id, body),
    /// `None` when it does not exist.
    pub async fn get_pull_detail(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<PullRequestDetail>, GithubError> {
        let path = format!("{}/pulls/{}", repo_path(repo), number.0);
        not_found_is_none(self.get_json(&path).await)
    }

    /// The files a PR touches (`GET /repos/{o}/{r}/pulls/{n}/files`), at most `max`
    /// (GitHub itself lists 3,000 at most).
    pub async fn pull_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
        max: usize,
    ) -> Result<Vec<PullFile>, GithubError> {
        let path = format!(
            "{}/pulls/{}/files?per_page={PER_PAGE}",
            repo_path(repo),
            number.0
        );
        let mut files: Vec<PullFile> = self
            .get_pages_upto(path, max, |bytes| serde_json::from_slice(bytes))
            .await?;
        files.truncate(max);
        Ok(files)
    }

    /// The PRs merged into `base` between `from` and `to` (inclusive), oldest merge first:
    /// closed PRs newest-updated first (`GET .../pulls?state=closed&base=&sort=updated&
    /// direction=desc`), read until they were last updated before `from` (a PR merged in
    /// the window was updated at or after its merge), at most `max_pages` pages.
    /// [`MergedWindow::complete`] is false when the pages ran out before the list reached
    /// `from`: older merges of the window may be missing.
    pub async fn merged_pulls_between(
        &self,
        repo: &RepoName,
        base: &str,
        from: Timestamp,
        to: Timestamp,
        max_pages: usize,
    ) -> Result<MergedWindow, GithubError> {
        let mut path = Some(format!(
            "{}/pulls?state=closed&base={}&sort=updated&direction=desc&per_page={PER_PAGE}",
            repo_path(repo),
            encode(base)
        ));
        let mut merged = Vec::new();
        let mut pages = 0;
        let mut complete = true;
        while let Some(current) = path.take() {
            let answer = self.request(Method::GET, &current, None).await?;
            let page: Vec<PullRequestDetail> = decode(&Method::GET, &current, &answer.body)?;
            let older = page.iter().any(|p| {
                p.pull
                    .updated_at
                    .as_deref()
                    .and_then(Timestamp::parse_rfc3339)
                    .is_some_and(|t| t < from)
            });
            merged.extend(
                page.into_iter()
                    .filter(|p| p.merged().is_some_and(|t| from <= t && t <= to)),
            );
            pages += 1;
            let next = next_link(&answer.headers).and_then(|url| self.relative(&url));
            if older || next.is_none() {
                break;
            }
            if pages >= max_pages.clamp(1, MAX_PAGES) {
                complete = false;
                break;
            }
            path = next;
        }
        merged.sort_by_key(|p| (p.merged(), p.pull.number));
        Ok(MergedWindow {
            pulls: merged,
            complete,
        })
    }

    /// Opens a PR reverting the merged PR whose GraphQL id is `node_id` (GraphQL
    /// `revertPullRequest`, GitHub's own "Revert" button: title `Revert "…"`, body
    /// `Reverts org/repo#N`, unless `title`/`body` are given). In dry-run: `None`.
    pub async fn revert_pull(
        &self,
        node_id: &str,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Option<RevertedPull>, GithubError> {
        let mut input = json!({ "pullRequestId": node_id, "draft": false });
        if let Some(title) = title {
            input["title"] = json!(title);
        }
        if let Some(body) = body {
            input["body"] = json!(body);
        }
        let data = self
            .graphql(REVERT_PULL_REQUEST, json!({ "input": input }))
            .await?;
        if data.is_null() && self.is_dry_run() {
            return Ok(None);
        }
        let payload = &data["revertPullRequest"];
        let number = |v: &Value| v.get("number").and_then(Value::as_u64).map(PrNumber);
        let (Some(reverted), Some(revert)) = (
            number(&payload["pullRequest"]),
            number(&payload["revertPullRequest"]),
        ) else {
            return Err(GithubError::Graphql(format!(
                "revertPullRequest answered no pull request numbers: {data}"
            )));
        };
        Ok(Some(RevertedPull {
            reverted,
            revert,
            url: payload["revertPullRequest"]["url"]
                .as_str()
                .map(str::to_string),
        }))
    }

    /// Posts a GraphQL document to `POST /graphql` and returns its `data`. Counted and
    /// paced as a mutation (the plugin's only GraphQL call, `revertPullRequest`, is one);
    /// in dry-run: `null`. A `RATE_LIMITED` answer (HTTP 200) pauses every request and is
    /// sent again after the pause, like a secondary limit; other GraphQL errors are
    /// [`GithubError::Graphql`].
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value, GithubError> {
        if self.skip_in_dry_run("POST", "/graphql") {
            return Ok(Value::Null);
        }
        let body = json!({ "query": query, "variables": variables });
        // Sent once: the one mutation (`revertPullRequest`) opens a PR, and a 502 after it
        // did must not open a second; the reconciler adopts the open revert instead.
        let answer: Value = self.send_json_once(Method::POST, "/graphql", &body).await?;
        let errors = answer.get("errors").and_then(Value::as_array);
        if let Some(errors) = errors.filter(|e| !e.is_empty()) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            return Err(GithubError::Graphql(messages.join("; ")));
        }
        Ok(answer.get("data").cloned().unwrap_or(Value::Null))
    }

    // ----- plumbing -----

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let answer = self.request(Method::GET, path, None).await?;
        decode(&Method::GET, path, &answer.body)
    }

    async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, GithubError> {
        let body = serde_json::to_value(body).map_err(|e| GithubError::Decode {
            method: method.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let answer = self.request(method.clone(), path, Some(&body)).await?;
        decode(&method, path, &answer.body)
    }

    /// As `send_json`, but a request that may have taken effect (5xx, connection broken
    /// after sending) is not sent again: for requests that create something.
    async fn send_json_once<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, GithubError> {
        let body = serde_json::to_value(body).map_err(|e| GithubError::Decode {
            method: method.to_string(),
            path: path.to_string(),
            message: e.to_string(),
        })?;
        let answer = self
            .request_with(method.clone(), path, Some(&body), Resend::OnlyUnsent)
            .await?;
        decode(&method, path, &answer.body)
    }

    /// GETs `path` and every page after it along `Link: rel="next"`.
    async fn get_pages<T>(
        &self,
        first: String,
        items: impl Fn(&[u8]) -> Result<Vec<T>, serde_json::Error>,
    ) -> Result<Vec<T>, GithubError> {
        let mut all = Vec::new();
        let mut path = Some(first);
        let mut pages = 0;
        while let Some(current) = path.take() {
            let answer = self.request(Method::GET, &current, None).await?;
            all.extend(items(&answer.body).map_err(|e| GithubError::Decode {
                method: "GET".into(),
                path: current.clone(),
                message: e.to_string(),
            })?);
            pages += 1;
            if pages >= MAX_PAGES {
                tracing::warn!(path = current, "stopped following pages at the bound");
                break;
            }
            path = next_link(&answer.headers).and_then(|url| self.relative(&url));
        }
        Ok(all)
    }

    /// As [`Client::get_pages`], stopping once `max` items are read.
    async fn get_pages_upto<T>(
        &self,
        first: String,
        max: usize,
        items: impl Fn(&[u8]) -> Result<Vec<T>, serde_json::Error>,
    ) -> Result<Vec<T>, GithubError> {
        let mut all = Vec::new();
        let mut path = Some(first);
        let mut pages = 0;
        while let Some(current) = path.take() {
            let answer = self.request(Method::GET, &current, None).await?;
            all.extend(items(&answer.body).map_err(|e| GithubError::Decode {
                method: "GET".into(),
                path: current.clone(),
                message: e.to_string(),
            })?);
            pages += 1;
            if all.len() >= max || pages >= MAX_PAGES {
                break;
            }
            path = next_link(&answer.headers).and_then(|url| self.relative(&url));
        }
        Ok(all)
    }

    /// Maps a `Link` URL (which names whichever host answered, e.g. api.github.com behind
    /// ghproxy) back to a path on our endpoints.
    fn relative(&self, url: &str) -> Option<String> {
        let parsed = reqwest::Url::parse(url).ok()?;
        let mut path = parsed.path().to_string();
        if let Some(prefix) = self
            .inner
            .prefixes
            .iter()
            .find(|p| !p.is_empty() && path.starts_with(p.as_str()))
        {
            path = path[prefix.len()..].to_string();
        }
        Some(match parsed.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        })
    }

    /// Sends one logical request: pacing, rate-limit pauses, endpoints in order, retries.
    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Answer, GithubError> {
        self.request_with(method, path, body, Resend::Always).await
    }

    /// As [`Client::request`], resending after a failure only as `resend` allows.
    async fn request_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Answer, GithubError> {
        let Some(token) = self.inner.token.as_deref() else {
            return Err(GithubError::NoToken {
                method: method.to_string(),
                path: path.to_string(),
            });
        };
        let options = &self.inner.options;
        let mut round = 0;
        let mut rate_waits = 0;
        loop {
            self.wait_until_allowed().await;
            let outcome = self.try_endpoints(&method, path, body, token, resend).await;
            match outcome {
                Ok(answer) if answer.status < 400 && !graphql_rate_limited(path, &answer) => {
                    self.note_primary_limit(&answer.headers);
                    return Ok(answer);
                }
                Ok(answer)
                    if answer.status < 400 || answer.status == 403 || answer.status == 429 =>
                {
                    let Some(wait) = self.rate_limit_wait(path, &answer) else {
                        return Err(status_error(&method, path, &answer));
                    };
                    rate_waits += 1;
                    self.inner
                        .counters
                        .rate_limited
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(method = %method, path, status = answer.status,
                        wait_secs = wait.as_secs(), "GitHub rate limit: pausing every request");
                    self.pause_for(wait);
                    if rate_waits > MAX_RATE_LIMIT_WAITS {
                        return Err(if answer.status < 400 {
                            GithubError::Graphql(format!(
                                "still rate limited (RATE_LIMITED) after {MAX_RATE_LIMIT_WAITS} pauses"
                            ))
                        } else {
                            status_error(&method, path, &answer)
                        });
                    }
                    continue;
                }
                Ok(answer) if answer.status < 500 => {
                    return Err(status_error(&method, path, &answer));
                }
                Ok(answer) => {
                    round += 1;
                    if round >= options.max_attempts.max(1) || resend == Resend::OnlyUnsent {
                        return Err(status_error(&method, path, &answer));
                    }
                    tracing::warn!(method = %method, path, status = answer.status, round, "GitHub 5xx, retrying");
                }
                Err(Unsent(false, message)) if resend == Resend::OnlyUnsent => {
                    return Err(GithubError::Transport {
                        method: method.to_string(),
                        path: path.to_string(),
                        message,
                    });
                }
                Err(Unsent(_, message)) => {
                    round += 1;
                    if round >= options.max_attempts.max(1) {
                        return Err(GithubError::Transport {
                            method: method.to_string(),
                            path: path.to_string(),
                            message,
                        });
                    }
                    tracing::warn!(method = %method, path, error = message, round, "GitHub unreachable, retrying");
                }
            }
            self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            let backoff = options
                .backoff_base
                .saturating_mul(1 << (round - 1).min(16))
                .min(options.backoff_max);
            tokio::time::sleep(backoff).await;
        }
    }

    /// One try over the endpoints in order; a connection error or 5xx moves on. Answers
    /// the first other answer, else the last failure (`Err` for a connection error). With
    /// [`Resend::OnlyUnsent`] it moves on only when the endpoint could not be reached.
    async fn try_endpoints(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        token: &str,
        resend: Resend,
    ) -> Result<Answer, Unsent> {
        let mut last = Err(Unsent(true, String::from("no endpoint")));
        let mutation = is_mutation(method);
        for endpoint in &self.inner.endpoints {
            // Every attempt of a mutation is one GitHub may receive: it takes a slot.
            let slot = if mutation {
                let slot = self.pace().await;
                // A pause may have been set while this mutation waited for its slot.
                self.wait_until_allowed().await;
                Some(slot)
            } else {
                None
            };
            let url = format!("{endpoint}{path}");
            let mut request = self
                .inner
                .http
                .request(method.clone(), &url)
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            if mutation {
                self.inner
                    .counters
                    .mutations
                    .fetch_add(1, Ordering::Relaxed);
            }
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok(Answer {
                            status,
                            headers,
                            body,
                        }),
                        Err(e) => Err(Unsent(
                            false,
                            format!("reading the answer of {endpoint}: {e}"),
                        )),
                    }
                }
                Err(e) => Err(Unsent(
                    e.is_connect(),
                    format!("{endpoint}: {}", without_url(&e)),
                )),
            };
            if let (Some(slot), Err(Unsent(true, _))) = (slot, &answer) {
                self.give_back(slot).await;
            }
            match answer {
                Ok(a) if a.status < 500 => return Ok(a),
                Err(Unsent(true, _)) => last = answer,
                other if resend == Resend::OnlyUnsent => return other,
                other => last = other,
            }
        }
        last
    }

    /// How long a 403/429 (or a GraphQL `RATE_LIMITED` answer) asks us to wait; `None`
    /// when it is not a rate limit.
    fn rate_limit_wait(&self, path: &str, answer: &Answer) -> Option<Duration> {
        let cap = self.inner.options.max_rate_limit_wait;
        if let Some(secs) = header_u64(&answer.headers, RETRY_AFTER.as_str()) {
            return Some(Duration::from_secs(secs).min(cap));
        }
        let graphql = graphql_rate_limited(path, answer);
        if header_u64(&answer.headers, "x-ratelimit-remaining") == Some(0) {
            let reset = header_u64(&answer.headers, "x-ratelimit-reset");
            if reset.is_some() || !graphql {
                let reset = reset.unwrap_or(0);
                return Some(until_epoch(reset).max(Duration::from_secs(1)).min(cap));
            }
        }
        if graphql {
            return Some(SECONDARY_LIMIT_DEFAULT_WAIT.min(cap));
        }
        let message = error_message(&answer.body).to_ascii_lowercase();
        (message.contains("secondary rate limit") || message.contains("abuse"))
            .then_some(SECONDARY_LIMIT_DEFAULT_WAIT)
    }

    /// A successful answer that spent the primary limit pauses what follows until reset.
    fn note_primary_limit(&self, headers: &HeaderMap) {
        if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
            let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(0);
            let wait = until_epoch(reset).min(self.inner.options.max_rate_limit_wait);
            if !wait.is_zero() {
                tracing::warn!(
                    wait_secs = wait.as_secs(),
                    "GitHub primary rate limit spent: pausing until reset"
                );
                self.pause_for(wait);
            }
        }
    }

    /// Pauses every request of this client for `wait` from now (never shortens a pause).
    fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut not_before = self
            .inner
            .not_before
            .lock()
            .expect("not_before lock poisoned");
        if not_before.is_none_or(|t| t < until) {
            *not_before = Some(until);
        }
    }

    /// Waits out the shared pause, however often it is extended meanwhile.
    async fn wait_until_allowed(&self) {
        loop {
            let until = *self
                .inner
                .not_before
                .lock()
                .expect("not_before lock poisoned");
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }

    /// Waits for a free slot in the mutation budget and takes it; answers when it was
    /// taken (to give it back with [`Client::give_back`]). The lock is held while waiting
    /// so mutations go out in the order they asked.
    async fn pace(&self) -> Instant {
        let mut pacer = self.inner.pacer.lock().await;
        loop {
            let now = Instant::now();
            match pacer.next_slot(now) {
                None => {
                    pacer.sent.push_back(now);
                    self.inner.counters.paced.fetch_add(1, Ordering::Relaxed);
                    return now;
                }
                Some(at) => {
                    tracing::debug!(
                        wait_ms = (at - now).as_millis() as u64,
                        "pacing a GitHub mutation"
                    );
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    /// Gives back a slot [`Client::pace`] took: the attempt could not even connect, so
    /// GitHub never received it.
    async fn give_back(&self, slot: Instant) {
        self.inner.pacer.lock().await.give_back(slot);
        self.inner.counters.paced.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether a 200 from `POST /graphql` is GitHub's GraphQL rate limit: an error of
/// `type: RATE_LIMITED` (the query did not run).
fn graphql_rate_limited(path: &str, answer: &Answer) -> bool {
    if path != "/graphql" || answer.status >= 400 {
        return false;
    }
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e.get("type").and_then(Value::as_str) == Some("RATE_LIMITED"))
        })
}

fn not_found_is_none<T>(result: Result<T, GithubError>) -> Result<Option<T>, GithubError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

fn decode<T: DeserializeOwned>(method: &Method, path: &str, body: &[u8]) -> Result<T, GithubError> {
    // An empty body (204) decodes as JSON null.
    let body: &[u8] = if body.is_empty() { b"null" } else { body };
    serde_json::from_slice(body).map_err(|e| GithubError::Decode {
        method: method.to_string(),
        path: path.to_string(),
        message: e.to_string(),
    })
}

fn status_error(method: &Method, path: &str, answer: &Answer) -> GithubError {
    GithubError::Status {
        method: method.to_string(),
        path: path.to_string(),
        status: answer.status,
        message: error_message(&answer.body),
    }
}

/// What went wrong sending a request: its kind and the cause chain (reqwest's own text
/// repeats the URL, which the caller already logs as a path).
fn without_url(e: &reqwest::Error) -> String {
    let mut text = String::from(if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    });
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Time from now until a Unix epoch second (zero when past). Reading the wall clock is
/// fine here: GitHub states the reset as wall-clock time.
fn until_epoch(epoch_secs: u64) -> Duration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Duration::from_secs(epoch_secs).saturating_sub(now)
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

    #[test]
    fn finds_the_next_link() {
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static(
                "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        let mut h = HeaderMap::new();
        h.insert(
            LINK,
            HeaderValue::from_static("<https://a/x?page=1>; rel=\"prev\""),
        );
        assert_eq!(next_link(&h), None);
    }

    #[tokio::test(start_paused = true)]
    async fn pacer_never_exceeds_minute_or_hour() {
        let mut p = Pacer {
            per_minute: 2,
            per_hour: 3,
            sent: VecDeque::new(),
        };
        let t0 = Instant::now();
        assert_eq!(p.next_slot(t0), None);
        p.sent.push_back(t0);
        assert_eq!(p.next_slot(t0), None);
        p.sent.push_back(t0);
        assert_eq!(p.next_slot(t0), Some(t0 + MINUTE));
        p.sent.push_back(t0 + MINUTE);
        assert_eq!(p.next_slot(t0 + MINUTE), Some(t0 + HOUR));
        assert_eq!(p.next_slot(t0 + HOUR), None);
    }
}
