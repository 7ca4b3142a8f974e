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
