//! What a decision reads and returns: the input, the state it may touch, and the decision
//! (changed incidents, intents for the shell, audit records, replies).

use super::inputs::{CommentInput, Finding, PrInput};

use crate::model::{
    AuditRecord, Incident, IncidentId, JobName, Login, PrNumber, RepoName, RunRef, Scope, Timestamp,
};

/// What the gate is asked to decide on.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// The detector saw job `job` go green → red.
    Regression {
        job: JobName,
        first_red: RunRef,
        last_green: RunRef,
    },
    /// The detector saw job `job` go red → green.
    Recovery {
        job: JobName,
        green: RunRef,
    },
    /// A red run of job `job` (any, also one the detector finds nothing new in): it
    /// re-blocks the job's provisionally lifted incident when it started after the lift.
    RedRun {
        job: JobName,
        run: RunRef,
    },
    Comment(CommentInput),
    PullRequest(PrInput),
    /// What the shell found or did about an incident (reconcile, the rerun executor).
    Finding(Finding),
}

/// The state a decision may touch: every active incident, and any other incident the
/// input names (the regression's would-be id).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct State {
    pub incidents: Vec<Incident>,
}

/// The outcome of one decision.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// New or changed incidents, in full, to be written before anything else.
    pub incidents: Vec<Incident>,
    pub intents: Vec<Intent>,
    pub audit: Vec<AuditRecord>,
    pub replies: Vec<Reply>,
}

impl Decision {
    /// True when nothing is to be written or done.
    pub fn is_empty(&self) -> bool {
        self.incidents.is_empty()
            && self.intents.is_empty()
            && self.audit.is_empty()
            && self.replies.is_empty()
    }

    /// Adds `intent` unless it is already there.
    pub(super) fn intend(&mut self, intent: Intent) {
        if !self.intents.contains(&intent) {
            self.intents.push(intent);
        }
    }
}

/// What the shell must do after writing the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Bring GitHub in line with the incidents (labels, issues, notices, lifts).
    Reconcile,
    /// Label this PR now rather than at the next resync.
    LabelPr { repo: RepoName, pr: PrNumber },
    /// A rerun was recorded: the rerun executor has an execution to create.
    Rerun,
}

/// One part of a reply; the shell renders it (`comment.rs`).
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyPart {
    /// The author may not use `command`; says who may.
    Unauthorised {
        command: String,
        users: Vec<String>,
        teams: Vec<String>,
    },
    /// Whether the author may use `command` could not be checked (GitHub did not answer
    /// about membership of `teams`); nothing was done.
    ApproverUnknown {
        command: String,
        teams: Vec<String>,
    },
    /// A command kept at `kept_at` was not carried out when the plugin started again at
    /// `now`: too long had passed (the shell's inbox replay decides this, not the gate).
    TooOld {
        kept_at: Timestamp,
        now: Timestamp,
    },
    /// The comment held more command lines than are read from one comment.
    TooManyCommands {
        read: usize,
        ignored: usize,
    },
    /// The state of the repo the comment is on.
    Status {
        repo: RepoName,
        incidents: Vec<Incident>,
    },
    /// Lifted: `provisional` ones (the job is still red) block again on the first red
    /// run started after the lift; `resolved` ones are over.
    Unblocked {
        ids: Vec<IncidentId>,
        reason: String,
    },
    /// Resolved for good (`--final`, or the job was green already).
    Resolved {
        ids: Vec<IncidentId>,
        reason: String,
    },
    /// There was no active incident to lift here.
    NothingToUnblock {
        repo: RepoName,
    },
    /// A command that acts on incidents was said on a plain issue that is no blocker issue.
    NotHere {
        command: String,
    },
    /// A command on a PR whose base branch GitHub did not name: nothing was done.
    BaseUnknown {
        command: String,
    },
    Blocked {
        id: IncidentId,
        job: JobName,
        scopes: Vec<Scope>,
    },
    AlreadyBlocked {
        id: IncidentId,
        job: JobName,
    },
    UnknownJob {
        job: String,
        known: Vec<JobName>,
    },
    Exempted {
        pr: PrNumber,
        ids: Vec<IncidentId>,
    },
    /// `/scalability-exempt cancel` withdrew the PR's exemption from these incidents.
    ExemptionCancelled {
        pr: PrNumber,
        ids: Vec<IncidentId>,
    },
    /// `/scalability-exempt cancel` on a PR that is not exempt from any open incident.
    NotExempt {
        pr: PrNumber,
    },
    /// `/scalability-exempt` where no active incident covers the repo.
    NothingToExempt {
        repo: RepoName,
    },
    /// `/scalability-exempt` on an issue, not a PR.
    ExemptNeedsPr,
    /// `/scalability-revert #N` accepted: a revert PR of `pr` is being opened.
    RevertRequested {
        pr: PrNumber,
        ids: Vec<IncidentId>,
    },
    /// `/scalability-revert #N` asked before: what came of it so far.
    RevertAlreadyRequested {
        pr: PrNumber,
        revert_pr: Option<PrNumber>,
    },
    /// `/scalability-revert #N` refused: `pr` is itself a revert of `reverts`.
    RevertOfRevert {
        pr: PrNumber,
        reverts: PrNumber,
    },
    /// `/scalability-revert #N` refused: `pr` is not a suspect; these are.
    NotASuspect {
        pr: PrNumber,
        suspects: Vec<PrNumber>,
    },
    /// `/scalability-revert` or `/scalability-rerun` where no active incident covers the repo.
    NoIncident {
        command: String,
        repo: RepoName,
    },
    /// `/scalability-rerun` accepted: the jobs are being re-run.
    RerunRequested {
        ids: Vec<IncidentId>,
        jobs: Vec<JobName>,
    },
    /// `/scalability-rerun` while a rerun of the incident's job still waits for its result.
    RerunPending {
        id: IncidentId,
        job: JobName,
        since: Timestamp,
        execution: Option<String>,
    },
    /// `/scalability-culprit #N` recorded on `ids`; `not_suspect` are those of them whose
    /// suspects do not include `pr`.
    CulpritRecorded {
        pr: PrNumber,
        mitigation: crate::model::Mitigation,
        ids: Vec<IncidentId>,
        not_suspect: Vec<IncidentId>,
    },
    /// `/scalability-rerun` without Gangway configured.
    RerunNotConfigured,
    /// A malformed command: the parser's message.
    Malformed {
        message: String,
    },
}

/// One reply: at most one per comment, carrying one part per command in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub repo: RepoName,
    pub number: PrNumber,
    /// The comment replied to (its id keys the reply's hidden marker).
    pub in_reply_to: u64,
    pub author: Login,
    pub parts: Vec<ReplyPart>,
}
