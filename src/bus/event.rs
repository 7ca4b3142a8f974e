//! GitHub webhook events decoded into our own types.
//!
//! Only `issue_comment` and `pull_request` matter to the plugin; every other event is
//! [`Event::Ignored`] by name. The serde structs below hold only the fields the plugin
//! reads and skip the rest, so GitHub adding fields never breaks decoding. A payload that
//! is JSON but not of the expected shape is a [`DecodeError`], never a panic.

use serde::Deserialize;

use crate::model::{CommitSha, Login, PrNumber, RepoName, Timestamp};

/// A webhook event in our own types.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A comment on an issue or a pull request.
    IssueComment(IssueComment),
    /// Something happened to a pull request.
    PullRequest(PullRequestEvent),
    /// Any event the plugin does not act on, by its `X-GitHub-Event` name.
    Ignored(String),
}

/// What happened to a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommentAction {
    Created,
    Edited,
    Deleted,
}

/// An `issue_comment` event: on a plain issue or on a pull request (`is_pr`).
#[derive(Debug, Clone, PartialEq)]
pub struct IssueComment {
    pub action: CommentAction,
    pub repo: RepoName,
    /// The issue's or pull request's number.
    pub number: PrNumber,
    /// True when the issue is a pull request.
    pub is_pr: bool,
    pub issue_title: String,
    pub issue_labels: Vec<String>,
    /// Who wrote the comment.
    pub author: Login,
    /// The author is a bot (`type: Bot`, or a login ending in `[bot]`).
    pub author_is_bot: bool,
    pub comment_id: u64,
    pub body: String,
    pub html_url: String,
}

/// What happened to a pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrAction {
    Opened,
    Reopened,
    Synchronize,
    /// Title, body or base edited; `base_changed` when the base branch changed.
    Edited {
        base_changed: bool,
    },
    Labeled {
        label: String,
    },
    Unlabeled {
        label: String,
    },
    Closed {
        merged: bool,
    },
    /// Any other action (`assigned`, `review_requested`, …), by name.
    Other(String),
}

/// A `pull_request` event.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRequestEvent {
    pub action: PrAction,
    pub repo: RepoName,
    pub number: PrNumber,
    /// The base branch (after the edit, for `Edited { base_changed: true }`).
    pub base_ref: String,
    pub head_sha: CommitSha,
    pub title: String,
    /// Who opened the pull request.
    pub author: Login,
    /// The labels the pull request carries after this event.
    pub labels: Vec<String>,
    pub merged_at: Option<Timestamp>,
    /// The merge commit, only when the pull request is merged (before that GitHub's
    /// value is a test merge that never lands).
    pub merge_commit_sha: Option<CommitSha>,
    pub merged_by: Option<Login>,
    /// Who caused the event.
    pub sender: Login,
    pub sender_is_bot: bool,
}

/// Why a payload could not become an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON of the expected shape (a field of the wrong type, say).
    #[error("payload of {event} does not decode: {source}")]
    Shape {
        event: String,
        #[source]
        source: serde_json::Error,
    },
    /// A field the plugin needs is missing or empty.
    #[error("payload of {event} has no {field}")]
    Missing { event: String, field: &'static str },
    /// A field holds a value the plugin cannot read.
    #[error("payload of {event} has an invalid {field}: {value:?}")]
    Invalid {
        event: String,
        field: &'static str,
        value: String,
    },
}

impl Event {
    /// The `X-GitHub-Event` name.
    pub fn name(&self) -> &str {
        match self {
            Event::IssueComment(_) => "issue_comment",
            Event::PullRequest(_) => "pull_request",
            Event::Ignored(name) => name,
        }
    }

    /// The repository the event is about (none for ignored events).
    pub fn repo(&self) -> Option<&RepoName> {
        match self {
            Event::IssueComment(c) => Some(&c.repo),
            Event::PullRequest(p) => Some(&p.repo),
            Event::Ignored(_) => None,
        }
    }

    /// The issue or pull request number (none for ignored events).
    pub fn number(&self) -> Option<PrNumber> {
        match self {
            Event::IssueComment(c) => Some(c.number),
            Event::PullRequest(p) => Some(p.number),
            Event::Ignored(_) => None,
        }
    }

    /// Decodes the body of a webhook whose `X-GitHub-Event` is `name`. Events the plugin
    /// does not act on become [`Event::Ignored`] without looking at the body.
    pub fn decode(name: &str, body: &[u8]) -> Result<Event, DecodeError> {
        let shape = |source| DecodeError::Shape {
            event: name.to_string(),
            source,
        };
        match name {
            "issue_comment" => {
                let payload: IssueCommentPayload = serde_json::from_slice(body).map_err(shape)?;
                payload.into_event().map(Event::IssueComment)
            }
            "pull_request" => {
                let payload: PullRequestPayload = serde_json::from_slice(body).map_err(shape)?;
                payload.into_event().map(Event::PullRequest)
            }
            other => Ok(Event::Ignored(other.to_string())),
        }
    }
}

/// A bot: `type: Bot`, or a GitHub App's `name[bot]` login.
fn is_bot(user: &User) -> bool {
    user.kind.as_deref() == Some("Bot") || user.login.ends_with("[bot]")
}

#[derive(Deserialize)]
struct User {
    login: String,
    #[serde(rename = "type")]
    kind: Option<String>,
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct Label {
    name: String,
}

#[derive(Deserialize)]
struct IssueCommentPayload {
    action: String,
    repository: Option<Repository>,
    issue: Option<Issue>,
    comment: Option<Comment>,
}

#[derive(Deserialize)]
struct Issue {
    number: u64,
    #[serde(default)]
    title: String,
    #[serde(default)]
    labels: Vec<Label>,
    /// Present (and not null) when the issue is a pull request.
    #[serde(default)]
    pull_request: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct Comment {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
    user: User,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    number: Option<u64>,
    repository: Option<Repository>,
    pull_request: Option<PullRequest>,
    label: Option<Label>,
    changes: Option<Changes>,
    sender: Option<User>,
}

#[derive(Deserialize)]
struct Changes {
    base: Option<serde::de::IgnoredAny>,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    #[serde(default)]
    title: String,
    user: User,
    #[serde(default)]
    labels: Vec<Label>,
    base: GitRef,
    head: GitRef,
    merged: Option<bool>,
    merged_at: Option<String>,
    merge_commit_sha: Option<String>,
    merged_by: Option<User>,
}

#[derive(Deserialize)]
struct GitRef {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
}

fn repo_of(event: &str, repository: Option<Repository>) -> Result<RepoName, DecodeError> {
    let repository = repository.ok_or_else(|| DecodeError::Missing {
        event: event.to_string(),
        field: "repository",
    })?;
    RepoName::parse(&repository.full_name).map_err(|_| DecodeError::Invalid {
        event: event.to_string(),
        field: "repository.full_name",
        value: repository.full_name,
    })
}

impl IssueCommentPayload {
    fn into_event(self) -> Result<IssueComment, DecodeError> {
        const EVENT: &str = "issue_comment";
        let missing = |field| DecodeError::Missing {
            event: EVENT.to_string(),
            field,
        };
        let action = match self.action.as_str() {
            "created" => CommentAction::Created,
            "edited" => CommentAction::Edited,
            "deleted" => CommentAction::Deleted,
            _ => {
                return Err(DecodeError::Invalid {
                    event: EVENT.to_string(),
                    field: "action",
                    value: self.action,
                });
            }
        };
        let repo = repo_of(EVENT, self.repository)?;
        let issue = self.issue.ok_or_else(|| missing("issue"))?;
        let comment = self.comment.ok_or_else(|| missing("comment"))?;
        Ok(IssueComment {
            action,
            repo,
            number: PrNumber(issue.number),
            is_pr: issue.pull_request.is_some(),
            issue_title: issue.title,
            issue_labels: issue.labels.into_iter().map(|l| l.name).collect(),
            author_is_bot: is_bot(&comment.user),
            author: Login(comment.user.login),
            comment_id: comment.id,
            body: comment.body.unwrap_or_default(),
            html_url: comment.html_url,
        })
    }
}

impl PullRequestPayload {
    fn into_event(self) -> Result<PullRequestEvent, DecodeError> {
        const EVENT: &str = "pull_request";
        let missing = |field| DecodeError::Missing {
            event: EVENT.to_string(),
            field,
        };
        let repo = repo_of(EVENT, self.repository)?;
        let pr = self.pull_request.ok_or_else(|| missing("pull_request"))?;
        let merged = pr.merged.unwrap_or(pr.merged_at.is_some());
        let label = self.label.map(|l| l.name);
        let action = match self.action.as_str() {
            "opened" => PrAction::Opened,
            "reopened" => PrAction::Reopened,
            "synchronize" => PrAction::Synchronize,
            "edited" => PrAction::Edited {
                base_changed: self.changes.is_some_and(|c| c.base.is_some()),
            },
            "labeled" => PrAction::Labeled {
                label: label.ok_or_else(|| missing("label"))?,
            },
            "unlabeled" => PrAction::Unlabeled {
                label: label.ok_or_else(|| missing("label"))?,
            },
            "closed" => PrAction::Closed { merged },
            other => PrAction::Other(other.to_string()),
        };
        let merged_at = match pr.merged_at {
            None => None,
            Some(text) => Some(Timestamp::parse_rfc3339(&text).ok_or(DecodeError::Invalid {
                event: EVENT.to_string(),
                field: "pull_request.merged_at",
                value: text,
            })?),
        };
        let sender = self.sender.ok_or_else(|| missing("sender"))?;
        Ok(PullRequestEvent {
            action,
            repo,
            number: PrNumber(self.number.unwrap_or(pr.number)),
            base_ref: pr.base.name,
            head_sha: CommitSha(pr.head.sha),
            title: pr.title,
            author: Login(pr.user.login),
            labels: pr.labels.into_iter().map(|l| l.name).collect(),
            merged_at,
            merge_commit_sha: pr.merge_commit_sha.filter(|_| merged).map(CommitSha),
            merged_by: pr.merged_by.map(|u| Login(u.login)),
            sender_is_bot: is_bot(&sender),
            sender: Login(sender.login),
        })
    }
}

/// Whether a comment may carry a command, by what it says alone: a new comment, not by a
/// bot, with at least one `/scalability-…` line outside code and quotes. The gate applies
/// this first (then the repository, then the plugin's own login); the ingress keeps the
/// events that pass it in the durable inbox, so the two never disagree.
pub fn may_carry_command(comment: &IssueComment) -> bool {
    is_command_comment(comment, None) && !crate::core::command::parse(&comment.body).is_empty()
}

/// Whether a comment can carry commands at all (checked before any lookup): see
/// [`crate::core::gate::is_command_comment`].
pub fn is_command_comment(comment: &IssueComment, own_login: Option<&Login>) -> bool {
    crate::core::gate::is_command_comment(crate::core::gate::CommentFacts {
        is_new: comment.action == CommentAction::Created,
        author_is_bot: comment.author_is_bot,
        author_is_self: own_login
            .is_some_and(|me| me.as_str().eq_ignore_ascii_case(comment.author.as_str())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PR: &str = r#"{"action":"ACTION","number":7,"repository":{"full_name":"o/r"},
        "pull_request":{"number":7,"title":"t","user":{"login":"a","type":"User"},
        "labels":[{"name":"lgtm"}],"base":{"ref":"master","sha":"b"},"head":{"ref":"x","sha":"h"},
        "merged":false,"merged_at":null,"merge_commit_sha":"m","merged_by":null},
        "label":{"name":"lgtm"},"changes":{"base":{"ref":{"from":"main"}}},
        "sender":{"login":"dependabot[bot]","type":"User"}}"#;

    fn pr(action: &str) -> PullRequestEvent {
        match Event::decode("pull_request", PR.replace("ACTION", action).as_bytes()).unwrap() {
            Event::PullRequest(p) => p,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn pull_request_actions() {
        assert_eq!(pr("opened").action, PrAction::Opened);
        assert_eq!(pr("reopened").action, PrAction::Reopened);
        assert_eq!(pr("synchronize").action, PrAction::Synchronize);
        assert_eq!(pr("edited").action, PrAction::Edited { base_changed: true });
        assert_eq!(
            pr("labeled").action,
            PrAction::Labeled {
                label: "lgtm".into()
            }
        );
        assert_eq!(
            pr("unlabeled").action,
            PrAction::Unlabeled {
                label: "lgtm".into()
            }
        );
        assert_eq!(pr("closed").action, PrAction::Closed { merged: false });
        assert_eq!(pr("assigned").action, PrAction::Other("assigned".into()));
        let p = pr("opened");
        assert_eq!(p.merge_commit_sha, None, "not merged: no merge commit");
        assert!(p.sender_is_bot);
        assert_eq!(p.repo, RepoName::new("o", "r"));
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        for (name, body) in [
            ("pull_request", r#"{}"#),
            ("pull_request", r#"{"action":"opened"}"#),
            (
                "pull_request",
                r#"{"action":"opened","repository":{"full_name":"nope"}}"#,
            ),
            ("pull_request", r#"{"action":"opened","number":"seven"}"#),
            ("pull_request", r#"[]"#),
            ("issue_comment", r#"{"action":"created"}"#),
            (
                "issue_comment",
                r#"{"action":"pinned","repository":{"full_name":"o/r"}}"#,
            ),
            ("issue_comment", r#"not json"#),
        ] {
            assert!(Event::decode(name, body.as_bytes()).is_err(), "{body}");
        }
        assert_eq!(
            Event::decode("status", b"{}").unwrap(),
            Event::Ignored("status".into())
        );
    }
}
