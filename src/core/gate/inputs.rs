//! What the shell hands the gate, as data: a comment and its commands (with whether the
//! author is an approver), a `pull_request` event, a finding about an incident. The
//! decisions on each live in `commands`, `prs` and `findings`; the types live here, below
//! them, so `types::Input` can name them without a circle.

use super::super::command::{Command, CommandError};

use crate::model::{
    BuildId, IncidentId, Login, PrNumber, RepoName, RunRef, RunResult, Scope, Suspect,
    SuspectSearch, Timestamp,
};

/// Whether a comment's author is an approver, as the shell found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval {
    /// A configured user, or an active member of a configured team.
    Approver,
    NotApprover,
    /// GitHub did not answer whether the author is in an approver team: the author is not
    /// a configured user, and neither yes nor no can be said.
    Unknown,
}

/// One new comment (created, not edited or deleted) and the commands in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommentInput {
    pub repo: RepoName,
    pub number: PrNumber,
    /// The comment is on a pull request (not a plain issue).
    pub is_pr: bool,
    /// On a pull request: its base branch, as far as the shell knows it.
    pub base: PrBase,
    pub author: Login,
    /// Resolved by the shell: a configured user or a member of a configured team.
    pub approval: Approval,
    pub comment_id: u64,
    /// The parser's answer for each command line of the comment.
    pub commands: Vec<Result<Command, CommandError>>,
}

/// A pull request's base branch, as the shell found it: with the repo it is the scope a
/// command on the PR touches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PrBase {
    /// The PR's base branch.
    Branch(String),
    /// GitHub did not say: a command on the PR touches nothing, and the reply says so.
    #[default]
    Unknown,
    /// The API names a repo and a PR but no branch: every scope of the repo.
    AnyBranch,
}

/// Facts that make a comment not a command at all, checked before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentFacts {
    /// `created`; edited and deleted comments are never commands.
    pub is_new: bool,
    pub author_is_bot: bool,
    /// Written by the plugin's own login.
    pub author_is_self: bool,
}

/// What happened to a PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrChange {
    Opened,
    Reopened,
    Synchronize,
    /// `edited` with a change of base branch (the scope is the new base).
    BaseChanged,
    Labeled(String),
    Unlabeled(String),
    Merged {
        by: Option<Login>,
    },
    Closed,
    /// Anything else (edited title, assigned, ...).
    Other,
}

/// A `pull_request` event on a scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrInput {
    /// The PR's repo and base branch (after the event).
    pub scope: Scope,
    pub pr: PrNumber,
    /// The PR's labels after the event.
    pub labels: Vec<String>,
    pub change: PrChange,
    pub sender: Login,
    /// The event was caused by the plugin's own login.
    pub sender_is_self: bool,
}

/// A fact the shell reports back about an incident, so that the gate (the one writer of
/// incidents) records it before anything relies on it. Applying a finding twice changes
/// nothing the second time; each change (the bookkeeping `IssueOpened` aside) is audited
/// as [`AUTOMATIC_ACTOR`].
#[derive(Debug, Clone, PartialEq)]
pub enum Finding {
    /// Replaces the suspects of `search.scope.repo` on the incident and records the search
    /// (one per scope, the latest).
    Suspects {
        incident: IncidentId,
        search: SuspectSearch,
        suspects: Vec<Suspect>,
    },
    /// The revert PR of `suspect` exists: it is linked on the incident and exempt.
    RevertOpened {
        incident: IncidentId,
        repo: RepoName,
        suspect: PrNumber,
        revert_pr: PrNumber,
    },
    /// The revert PR of `suspect` could not be opened.
    RevertFailed {
        incident: IncidentId,
        repo: RepoName,
        suspect: PrNumber,
        error: String,
    },
    /// Escalation step `step` was posted (once, by marker) at `at`.
    Escalated {
        incident: IncidentId,
        step: u8,
        at: Timestamp,
    },
    /// Gangway created (or we adopted) the execution of rerun `rerun`.
    RerunStarted {
        incident: IncidentId,
        rerun: u64,
        execution: String,
        build_id: Option<BuildId>,
    },
    /// Gangway refused to create the execution of rerun `rerun`.
    RerunFailed {
        incident: IncidentId,
        rerun: u64,
        error: String,
    },
    /// The incident's first blocker issue was opened at `at` (its time to block ends
    /// there); a later issue of another scope changes nothing. Not audited.
    IssueOpened { incident: IncidentId, at: Timestamp },
    /// The failed tests of the incident's first red run, as read from its JUnit files
    /// (or why they could not be).
    FailedTests {
        incident: IncidentId,
        failures: crate::model::TestFailures,
    },
    /// The run rerun `rerun` produced has finished.
    RerunFinished {
        incident: IncidentId,
        rerun: u64,
        run: RunRef,
        result: RunResult,
    },
    /// The resync found `pr` merged into `scope` at `at` while the incident blocked it (its
    /// webhook was lost, or came while the plugin was down): a breach, unless the PR is
    /// exempt or the breach is already recorded (the webhook's, or an earlier resync's).
    Breach {
        incident: IncidentId,
        scope: Scope,
        pr: PrNumber,
        merged_by: Option<Login>,
        at: Timestamp,
    },
}
