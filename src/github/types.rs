//! GitHub REST payloads we read and write, in the shape GitHub sends them (only the
//! fields the plugin uses), plus the small conversions into our own types.

use serde::{Deserialize, Serialize};

use crate::model::{Login, PrNumber, Timestamp};

/// A GitHub account as embedded in other payloads (`user`, `author`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub login: String,
    /// `User` or `Bot`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

impl User {
    /// The login as our own type.
    pub fn login(&self) -> Login {
        Login::new(&self.login)
    }
}

/// A repository label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    pub name: String,
    #[serde(default)]
    pub color: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// A git ref of a PR (`base` or `head`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitRef {
    /// Branch name, e.g. `master`.
    #[serde(rename = "ref")]
    pub branch: String,
    pub sha: String,
}

/// An item of `GET /repos/{o}/{r}/pulls` (and `GET .../pulls/{n}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    pub number: u64,
    pub title: String,
    /// `open` or `closed`.
    pub state: String,
    pub user: User,
    #[serde(default)]
    pub labels: Vec<Label>,
    pub base: GitRef,
    pub head: GitRef,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub merged_at: Option<String>,
}

impl PullRequest {
    /// The PR number as our own type.
    pub fn pr(&self) -> PrNumber {
        PrNumber(self.number)
    }

    /// Whether it carries `label` (GitHub compares label names case-insensitively).
    pub fn has_label(&self, label: &str) -> bool {
        self.labels
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(label))
    }

    /// The base branch.
    pub fn base_branch(&self) -> &str {
        &self.base.branch
    }

    /// When it was opened, when GitHub said.
    pub fn created(&self) -> Option<Timestamp> {
        self.created_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339)
    }
}

/// Present on an issue that is really a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestLink {
    #[serde(default)]
    pub url: Option<String>,
}

/// An issue (or PR seen through the issues API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    pub state: String,
    pub user: User,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub html_url: Option<String>,
    #[serde(default)]
    pub pull_request: Option<PullRequestLink>,
    #[serde(default)]
    pub created_at: Option<String>,
}

impl Issue {
    /// Whether GitHub considers it open.
    pub fn is_open(&self) -> bool {
        self.state == "open"
    }

    /// Whether this is a pull request rather than an issue.
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }

    /// The body, or "" when it has none.
    pub fn body_text(&self) -> &str {
        self.body.as_deref().unwrap_or("")
    }

    /// Whether it carries `label` (case-insensitively).
    pub fn has_label(&self, label: &str) -> bool {
        self.labels
            .iter()
            .any(|l| l.name.eq_ignore_ascii_case(label))
    }
}

/// A comment on an issue or PR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: u64,
    #[serde(default)]
    pub body: String,
    pub user: User,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub html_url: Option<String>,
}

/// The answer of `GET /search/issues`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchResult {
    pub total_count: u64,
    #[serde(default)]
    pub incomplete_results: bool,
    pub items: Vec<Issue>,
}

/// The answer of `GET /orgs/{org}/teams/{slug}/memberships/{user}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamMembership {
    /// `active` or `pending`.
    pub state: String,
    #[serde(default)]
    pub role: Option<String>,
}

/// Body of `POST /repos/{o}/{r}/issues`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewIssue {
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Body of `PATCH /repos/{o}/{r}/issues/{n}`: only the fields set are changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueEdit {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `completed` or `not_planned` when closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_reason: Option<String>,
}

/// The state argument of list calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueState {
    Open,
    Closed,
    All,
}

impl IssueState {
    /// The query value GitHub expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
            Self::All => "all",
        }
    }
}

/// A PR as `GET /repos/{o}/{r}/pulls/{n}` answers it: the list fields plus what only some
/// answers carry. The list (`GET .../pulls`) has body, node id and merge commit too, but
/// never the size (`additions`, `deletions`, `changed_files`: single-PR answers only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestDetail {
    #[serde(flatten)]
    pub pull: PullRequest,
    #[serde(default)]
    pub body: Option<String>,
    /// The GraphQL global id (what `revertPullRequest` takes as `pullRequestId`).
    #[serde(default)]
    pub node_id: Option<String>,
    /// The commit that brought it onto the base branch (merge, squash or rebase).
    #[serde(default)]
    pub merge_commit_sha: Option<String>,
    #[serde(default)]
    pub merged: Option<bool>,
    #[serde(default)]
    pub merged_by: Option<User>,
    #[serde(default)]
    pub additions: Option<u64>,
    #[serde(default)]
    pub deletions: Option<u64>,
    #[serde(default)]
    pub changed_files: Option<u64>,
}

impl PullRequestDetail {
    /// The body, or "" when it has none.
    pub fn body_text(&self) -> &str {
        self.body.as_deref().unwrap_or("")
    }

    /// When it was merged, `None` when it was not (or GitHub gave no time).
    pub fn merged(&self) -> Option<Timestamp> {
        self.pull
            .merged_at
            .as_deref()
            .and_then(Timestamp::parse_rfc3339)
    }
}

/// An item of `GET /repos/{o}/{r}/pulls/{n}/files`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullFile {
    pub filename: String,
    /// `added`, `removed`, `modified`, `renamed`, …
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub additions: u64,
    #[serde(default)]
    pub deletions: u64,
}

/// A parent of a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitParent {
    pub sha: String,
}

/// The git part of a commit (`commit` in GitHub's answers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitCommit {
    pub message: String,
}

/// A commit as the compare and commits APIs list it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    pub sha: String,
    pub commit: GitCommit,
    #[serde(default)]
    pub parents: Vec<CommitParent>,
}

impl Commit {
    /// Whether it merges something (two parents or more).
    pub fn is_merge(&self) -> bool {
        self.parents.len() > 1
    }
}

/// The answer of `GET /repos/{o}/{r}/compare/{base}...{head}` (one page of it, or all of
/// its pages' commits put together by the client).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comparison {
    /// `ahead`, `behind`, `diverged` or `identical`.
    pub status: String,
    #[serde(default)]
    pub ahead_by: u64,
    #[serde(default)]
    pub behind_by: u64,
    /// Commits in the whole comparison, whatever was fetched.
    pub total_commits: u64,
    /// Oldest first.
    #[serde(default)]
    pub commits: Vec<Commit>,
}

impl Comparison {
    /// Whether fewer commits were fetched than the comparison holds.
    pub fn truncated(&self) -> bool {
        (self.commits.len() as u64) < self.total_commits
    }
}

/// The PRs merged into a branch within a time window, as read by
/// `Client::merged_pulls_between`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedWindow {
    /// Oldest merge first.
    pub pulls: Vec<PullRequestDetail>,
    /// False when the page limit was reached before the listing got back to the window's
    /// start: older merges of the window may be missing.
    pub complete: bool,
}

/// What `revertPullRequest` answered: the reverted PR and the revert PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevertedPull {
    /// The PR that was reverted.
    pub reverted: PrNumber,
    /// The new PR that reverts it.
    pub revert: PrNumber,
    pub url: Option<String>,
}
