//! The gate: pure decisions over incidents. Given the incidents a decision may touch, one
//! input (a detector outcome for a job, the commands of one comment, or a PR event on a
//! scope) and the policy, [`decide`] returns what changes: new or changed incidents,
//! intents for the reconciler, audit records and replies. It never reads a clock (`now` is
//! in the [`Ctx`]) and never talks to anything; the shell writes the incidents to the store
//! before it acts on the intents.
//!
//! Rules (DESIGN.md "Commands" and issue 4):
//! - a regression of job J opens an incident `{J}-{first_red_build}` over J's scopes; one
//!   active incident per job, a later regression while active is folded into it;
//! - a recovery records `recovered_by`; it lifts the incident only when the job's
//!   `auto_unblock_on_recovery` is set and the incident was not opened by hand;
//! - commands: the permission check comes first, with one deny path and one reply per
//!   comment; every command's outcome is an [`AuditRecord`];
//! - PR events on a blocked scope: a PR that becomes one the mode selects is labelled now;
//!   our label removed by someone else from a non-exempt PR is put back, and recorded.

use std::collections::BTreeMap;

use super::command::{Command, CommandError, Who};
use super::tide::ReadyRule;

use crate::model::{
    AuditRecord, Breach, BuildId, Cause, EscalationStep, Exemption, ExemptionKind, Incident,
    IncidentId, IncidentState, JobName, Login, PrNumber, RepoName, Revert, RunRef, RunResult,
    Scope, Suspect, SuspectRange, SuspectSearch, Timestamp,
};

/// How long a rerun waiting for its result keeps another `/scalability-rerun` of the same
/// incident from starting one (the largest scalability jobs run for about half a day).
pub const RERUN_PENDING_FOR: i64 = 24 * 3600;

/// Who lifts an incident when the job recovers by itself.
pub const AUTOMATIC_ACTOR: &str = "scalability-gate";

/// A gated job as the gate sees it (built from the configuration by the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateJob {
    pub name: JobName,
    pub scopes: Vec<Scope>,
    pub auto_unblock_on_recovery: bool,
}

/// Which open PRs carry the label during an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelMode {
    /// PRs carrying all of Tide's required labels, each one the moment it becomes so.
    #[default]
    Ready,
    /// Every open PR on the branch.
    All,
}

/// The configured approvers, as told to whoever is refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApproverList {
    /// GitHub logins.
    pub users: Vec<String>,
    /// `org/team-slug`.
    pub teams: Vec<String>,
}

/// What the gate needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub jobs: Vec<GateJob>,
    pub approvers: ApproverList,
    /// The label that keeps a PR out of Tide's pool.
    pub label: String,
    pub label_mode: LabelMode,
    /// Tide's required labels where Prow's queries are not known.
    pub ready_labels: Vec<String>,
    /// Which PRs are ready, per scope, from Prow's Tide queries (overrides `ready_labels`).
    pub ready_rules: BTreeMap<Scope, ReadyRule>,
    /// Gangway is configured: `/scalability-rerun` can re-run a job.
    pub rerun_available: bool,
}

impl Policy {
    /// The job of that exact name.
    pub fn job(&self, name: &str) -> Option<&GateJob> {
        self.jobs.iter().find(|j| j.name.as_str() == name)
    }

    /// Whether a PR with `labels` on `scope` is ready (Tide could merge it).
    pub fn is_ready(&self, scope: &Scope, labels: &[String]) -> bool {
        match self.ready_rules.get(scope) {
            Some(rule) => rule.is_ready(labels),
            None => ReadyRule::from_labels(&self.ready_labels).is_ready(labels),
        }
    }
}

/// Everything a decision depends on besides the state and the input.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub policy: &'a Policy,
    /// When the comment is on a blocker or tracking issue the reconciler opened: the
    /// incident that issue belongs to.
    pub issue_incident: Option<&'a IncidentId>,
}

/// The command as typed (`/scalability-unblock`), for replies and the audit log.
fn typed(command: &Command) -> String {
    format!("/{}", command.name())
}

/// The reason a command gives, if it takes one.
fn reason_of(command: &Command) -> &str {
    match command {
        Command::Unblock { reason }
        | Command::Block { reason, .. }
        | Command::Exempt { reason } => reason,
        _ => "",
    }
}

/// Command lines read from one comment; the rest are ignored (and said so), so one
/// comment cannot fill the audit log or make a reply longer than GitHub takes.
pub const MAX_COMMANDS_PER_COMMENT: usize = 10;

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
    pub author: Login,
    /// Resolved by the shell: a configured user or a member of a configured team.
    pub approval: Approval,
    pub comment_id: u64,
    /// The parser's answer for each command line of the comment.
    pub commands: Vec<Result<Command, CommandError>>,
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

/// Whether a comment with these facts may carry commands. The shell checks this before it
/// resolves approvers (which may cost a GitHub request).
pub fn is_command_comment(facts: CommentFacts) -> bool {
    facts.is_new && !facts.author_is_bot && !facts.author_is_self
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
    Comment(CommentInput),
    PullRequest(PrInput),
    /// What the shell found or did about an incident (reconcile, the rerun executor).
    Finding(Finding),
}

/// A fact the shell reports back about an incident, so that the gate (the one writer of
/// incidents) records it before anything relies on it. Applying a finding twice changes
/// nothing the second time; each change is audited as [`AUTOMATIC_ACTOR`].
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
    /// The run rerun `rerun` produced has finished.
    RerunFinished {
        incident: IncidentId,
        rerun: u64,
        run: RunRef,
        result: RunResult,
    },
}

impl Finding {
    /// The incident it is about.
    pub fn incident(&self) -> &IncidentId {
        match self {
            Finding::Suspects { incident, .. }
            | Finding::RevertOpened { incident, .. }
            | Finding::RevertFailed { incident, .. }
            | Finding::Escalated { incident, .. }
            | Finding::RerunStarted { incident, .. }
            | Finding::RerunFailed { incident, .. }
            | Finding::RerunFinished { incident, .. } => incident,
        }
    }

    /// Its name in the audit log.
    pub fn name(&self) -> &'static str {
        match self {
            Finding::Suspects { .. } => "finding: suspects",
            Finding::RevertOpened { .. } => "finding: revert opened",
            Finding::RevertFailed { .. } => "finding: revert failed",
            Finding::Escalated { .. } => "finding: escalated",
            Finding::RerunStarted { .. } => "finding: rerun started",
            Finding::RerunFailed { .. } => "finding: rerun failed",
            Finding::RerunFinished { .. } => "finding: rerun finished",
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
    Unblocked {
        ids: Vec<IncidentId>,
        reason: String,
    },
    /// There was no active incident to lift here.
    NothingToUnblock {
        repo: RepoName,
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

    fn intend(&mut self, intent: Intent) {
        if !self.intents.contains(&intent) {
            self.intents.push(intent);
        }
    }
}

/// The id of the incident a regression opens: deterministic, so a repeated detection
/// never opens a second one.
pub fn regression_id(job: &JobName, first_red: &RunRef) -> IncidentId {
    IncidentId(format!("{}-{}", job, first_red.build_id))
}

/// The id of an incident opened by hand from comment `comment_id`.
pub fn manual_id(job: &JobName, comment_id: u64) -> IncidentId {
    IncidentId(format!("{job}-manual-{comment_id}"))
}

/// Decides what `input` changes. Pure.
pub fn decide(state: &State, input: &Input, ctx: &Ctx<'_>) -> Decision {
    let mut work = Work {
        incidents: state.incidents.clone(),
        changed: Vec::new(),
        decision: Decision::default(),
        ctx,
    };
    match input {
        Input::Regression {
            job,
            first_red,
            last_green,
        } => work.regression(job, first_red, last_green),
        Input::Recovery { job, green } => work.recovery(job, green),
        Input::Comment(comment) => work.comment(comment),
        Input::PullRequest(pr) => work.pull_request(pr),
        Input::Finding(finding) => work.finding(finding),
    }
    work.finish()
}

/// A decision in progress: a working copy of the incidents and what changed.
struct Work<'c, 'a> {
    incidents: Vec<Incident>,
    changed: Vec<IncidentId>,
    decision: Decision,
    ctx: &'c Ctx<'a>,
}

impl Work<'_, '_> {
    fn finish(mut self) -> Decision {
        for id in &self.changed {
            if let Some(incident) = self.incidents.iter().find(|i| &i.id == id) {
                self.decision.incidents.push(incident.clone());
            }
        }
        if !self.changed.is_empty() {
            self.decision.intend(Intent::Reconcile);
        }
        self.decision
    }

    fn touch(&mut self, id: &IncidentId) {
        if !self.changed.contains(id) {
            self.changed.push(id.clone());
        }
    }

    fn active_for_job(&mut self, job: &JobName) -> Option<&mut Incident> {
        self.incidents
            .iter_mut()
            .find(|i| i.is_active() && &i.job == job)
    }

    fn active_on_repo(&self, repo: &RepoName) -> Vec<IncidentId> {
        self.incidents
            .iter()
            .filter(|i| i.is_active() && i.scopes.iter().any(|s| &s.repo == repo))
            .map(|i| i.id.clone())
            .collect()
    }

    fn get_mut(&mut self, id: &IncidentId) -> Option<&mut Incident> {
        self.incidents.iter_mut().find(|i| &i.id == id)
    }

    fn regression(&mut self, job: &JobName, first_red: &RunRef, last_green: &RunRef) {
        let Some(gated) = self.ctx.policy.job(job.as_str()) else {
            return;
        };
        let scopes = gated.scopes.clone();
        let id = regression_id(job, first_red);
        if self.incidents.iter().any(|i| i.id == id) {
            // Seen before (a repeated detection, or lifted already): nothing new.
            return;
        }
        if let Some(active) = self.active_for_job(job) {
            let already = active
                .folded_runs
                .iter()
                .any(|r| r.build_id == first_red.build_id)
                || matches!(&active.cause, Cause::Regression { first_red: f, .. } if f.build_id == first_red.build_id);
            if already {
                return;
            }
            active.folded_runs.push(first_red.clone());
            let id = active.id.clone();
            self.touch(&id);
            return;
        }
        self.incidents.push(Incident::new(
            id.clone(),
            job.clone(),
            self.ctx.now,
            Cause::Regression {
                first_red: first_red.clone(),
                last_green: last_green.clone(),
            },
            scopes,
        ));
        self.touch(&id);
    }

    fn recovery(&mut self, job: &JobName, green: &RunRef) {
        let auto = self
            .ctx
            .policy
            .job(job.as_str())
            .is_some_and(|j| j.auto_unblock_on_recovery);
        let now = self.ctx.now;
        let Some(active) = self.active_for_job(job) else {
            return;
        };
        if active.recovered_by.as_ref() == Some(green) {
            return;
        }
        active.recovered_by = Some(green.clone());
        let manual = matches!(active.cause, Cause::Manual { .. });
        if auto && !manual {
            active.state = IncidentState::Lifted {
                by: AUTOMATIC_ACTOR.into(),
                reason: format!("{} recovered: run {} is green", job, green.build_id),
                at: now,
            };
        }
        let id = active.id.clone();
        self.touch(&id);
    }

    fn comment(&mut self, comment: &CommentInput) {
        let target = format!("{}#{}", comment.repo, comment.number.0);
        let mut parts = Vec::new();
        let mut refused = false;
        for command in comment.commands.iter().take(MAX_COMMANDS_PER_COMMENT) {
            let request = match command {
                Ok(request) => request,
                Err(error) => {
                    self.audit(
                        comment,
                        "malformed command",
                        &target,
                        "refused: malformed",
                        "",
                    );
                    parts.push(ReplyPart::Malformed {
                        message: error.to_string(),
                    });
                    continue;
                }
            };
            // Permission first, one deny path.
            if request.who() == Who::Approvers && comment.approval != Approval::Approver {
                let unknown = comment.approval == Approval::Unknown;
                self.audit(
                    comment,
                    &typed(request),
                    &target,
                    if unknown {
                        "refused: approver check failed"
                    } else {
                        "refused: not an approver"
                    },
                    reason_of(request),
                );
                if !refused {
                    refused = true;
                    let approvers = &self.ctx.policy.approvers;
                    parts.push(if unknown {
                        ReplyPart::ApproverUnknown {
                            command: typed(request),
                            teams: approvers.teams.clone(),
                        }
                    } else {
                        ReplyPart::Unauthorised {
                            command: typed(request),
                            users: approvers.users.clone(),
                            teams: approvers.teams.clone(),
                        }
                    });
                }
                continue;
            }
            let (part, outcome) = self.request(comment, request);
            self.audit(
                comment,
                &typed(request),
                &target,
                &outcome,
                reason_of(request),
            );
            parts.push(part);
        }
        if comment.commands.len() > MAX_COMMANDS_PER_COMMENT {
            let ignored = comment.commands.len() - MAX_COMMANDS_PER_COMMENT;
            self.audit(
                comment,
                "more commands",
                &target,
                &format!("ignored: {ignored} command(s) past the first {MAX_COMMANDS_PER_COMMENT}"),
                "",
            );
            parts.push(ReplyPart::TooManyCommands {
                read: MAX_COMMANDS_PER_COMMENT,
                ignored,
            });
        }
        if !parts.is_empty() {
            self.decision.replies.push(Reply {
                repo: comment.repo.clone(),
                number: comment.number,
                in_reply_to: comment.comment_id,
                author: comment.author.clone(),
                parts,
            });
        }
    }

    fn audit(
        &mut self,
        comment: &CommentInput,
        command: &str,
        target: &str,
        outcome: &str,
        reason: &str,
    ) {
        self.decision.audit.push(AuditRecord {
            at: self.ctx.now,
            who: comment.author.to_string(),
            command: command.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Carries out one authorised request: the reply part and the audit outcome.
    fn request(&mut self, comment: &CommentInput, request: &Command) -> (ReplyPart, String) {
        match request {
            Command::Unblock { reason } => self.unblock(comment, reason),
            Command::Block { job, reason } => self.block(comment, job, reason),
            Command::Exempt { reason } => self.exempt(comment, reason),
            Command::Status => {
                let mut incidents: Vec<Incident> = self
                    .incidents
                    .iter()
                    .filter(|i| i.is_active() && i.scopes.iter().any(|s| s.repo == comment.repo))
                    .cloned()
                    .collect();
                incidents.sort_by(|a, b| a.id.cmp(&b.id));
                let outcome = format!("status: {} active incident(s)", incidents.len());
                (
                    ReplyPart::Status {
                        repo: comment.repo.clone(),
                        incidents,
                    },
                    outcome,
                )
            }
            Command::Revert { pr } => self.revert(comment, PrNumber(*pr)),
            Command::Rerun => self.rerun(comment),
        }
    }

    /// The active incidents a command on this comment is about: the blocker issue's
    /// incident, or every active incident on the repo.
    fn targets(&self, comment: &CommentInput) -> Vec<IncidentId> {
        match self.ctx.issue_incident {
            Some(id) => {
                let active = self.incidents.iter().any(|i| &i.id == id && i.is_active());
                if active { vec![id.clone()] } else { Vec::new() }
            }
            None => self.active_on_repo(&comment.repo),
        }
    }

    fn revert(&mut self, comment: &CommentInput, pr: PrNumber) -> (ReplyPart, String) {
        let ids = self.targets(comment);
        if ids.is_empty() {
            return (
                ReplyPart::NoIncident {
                    command: "/scalability-revert".into(),
                    repo: comment.repo.clone(),
                },
                "nothing to revert: no active incident".into(),
            );
        }
        let repo = &comment.repo;
        let mut holding = Vec::new();
        let mut suspect = None;
        for id in &ids {
            let Some(incident) = self.incidents.iter().find(|i| &i.id == id) else {
                continue;
            };
            if let Some(s) = incident
                .suspects
                .iter()
                .find(|s| &s.repo == repo && s.pr == pr)
            {
                holding.push(id.clone());
                suspect.get_or_insert_with(|| s.clone());
            }
        }
        let Some(suspect) = suspect else {
            let mut suspects: Vec<PrNumber> = self
                .incidents
                .iter()
                .filter(|i| ids.contains(&i.id))
                .flat_map(|i| i.suspects.iter().filter(|s| &s.repo == repo).map(|s| s.pr))
                .collect();
            suspects.sort();
            suspects.dedup();
            return (
                ReplyPart::NotASuspect { pr, suspects },
                format!("refused: #{} is not a suspect", pr.0),
            );
        };
        if let Some(reverts) = suspect.reverts {
            return (
                ReplyPart::RevertOfRevert { pr, reverts },
                format!(
                    "refused: #{} is a revert of #{} (reverting it re-lands #{})",
                    pr.0, reverts.0, reverts.0
                ),
            );
        }
        let now = self.ctx.now;
        let mut requested = Vec::new();
        let mut known = None;
        for id in &holding {
            let Some(incident) = self.get_mut(id) else {
                continue;
            };
            if let Some(r) = incident
                .reverts
                .iter()
                .find(|r| &r.repo == repo && r.suspect == pr)
            {
                known.get_or_insert(r.revert_pr);
                continue;
            }
            incident.reverts.push(Revert::asked(
                repo.clone(),
                pr,
                comment.author.clone(),
                now,
                Some(comment.number),
            ));
            requested.push(id.clone());
        }
        for id in &requested {
            self.touch(id);
        }
        if requested.is_empty() {
            let revert_pr = known.flatten();
            let outcome = match revert_pr {
                Some(r) => format!("already reverted in #{}", r.0),
                None => format!("revert of #{} already requested", pr.0),
            };
            return (ReplyPart::RevertAlreadyRequested { pr, revert_pr }, outcome);
        }
        let outcome = format!("revert of #{} requested on {}", pr.0, join_ids(&requested));
        (ReplyPart::RevertRequested { pr, ids: requested }, outcome)
    }

    fn rerun(&mut self, comment: &CommentInput) -> (ReplyPart, String) {
        if !self.ctx.policy.rerun_available {
            return (
                ReplyPart::RerunNotConfigured,
                "refused: Gangway is not configured".into(),
            );
        }
        let ids = self.targets(comment);
        if ids.is_empty() {
            return (
                ReplyPart::NoIncident {
                    command: "/scalability-rerun".into(),
                    repo: comment.repo.clone(),
                },
                "nothing to rerun: no active incident".into(),
            );
        }
        let now = self.ctx.now;
        let mut started = Vec::new();
        let mut jobs = Vec::new();
        let mut pending = None;
        for id in &ids {
            let Some(incident) = self.get_mut(id) else {
                continue;
            };
            let waiting = |r: &&crate::model::Rerun| {
                r.awaits_result() && r.at.seconds_until(now) < RERUN_PENDING_FOR
            };
            if let Some(r) = incident
                .reruns
                .iter()
                .find(|r| waiting(r) || r.id == comment.comment_id)
            {
                pending.get_or_insert_with(|| ReplyPart::RerunPending {
                    id: incident.id.clone(),
                    job: incident.job.clone(),
                    since: r.at,
                    execution: r.execution.clone(),
                });
                continue;
            }
            incident.reruns.push(crate::model::Rerun {
                id: comment.comment_id,
                by: comment.author.clone(),
                at: now,
                repo: comment.repo.clone(),
                requested_on: comment.number,
                execution: None,
                build_id: None,
                result: None,
                error: None,
            });
            jobs.push(incident.job.clone());
            started.push(id.clone());
        }
        if started.is_empty() {
            let part = pending.expect("every target has a pending rerun");
            return (part, "rerun already pending".into());
        }
        for id in &started {
            self.touch(id);
        }
        self.decision.intend(Intent::Rerun);
        let outcome = format!("rerun requested on {}", join_ids(&started));
        (ReplyPart::RerunRequested { ids: started, jobs }, outcome)
    }

    fn unblock(&mut self, comment: &CommentInput, reason: &str) -> (ReplyPart, String) {
        let ids = match self.ctx.issue_incident {
            Some(id) => {
                let active = self.incidents.iter().any(|i| &i.id == id && i.is_active());
                if active { vec![id.clone()] } else { Vec::new() }
            }
            None => self.active_on_repo(&comment.repo),
        };
        if ids.is_empty() {
            return (
                ReplyPart::NothingToUnblock {
                    repo: comment.repo.clone(),
                },
                "nothing to unblock".into(),
            );
        }
        let now = self.ctx.now;
        for id in &ids {
            if let Some(incident) = self.get_mut(id) {
                incident.state = IncidentState::Lifted {
                    by: comment.author.to_string(),
                    reason: reason.to_string(),
                    at: now,
                };
            }
            self.touch(id);
        }
        let outcome = format!("lifted {}", join_ids(&ids));
        (
            ReplyPart::Unblocked {
                ids,
                reason: reason.to_string(),
            },
            outcome,
        )
    }

    fn block(&mut self, comment: &CommentInput, job: &str, reason: &str) -> (ReplyPart, String) {
        let Some(gated) = self.ctx.policy.job(job) else {
            let known = self
                .ctx
                .policy
                .jobs
                .iter()
                .map(|j| j.name.clone())
                .collect();
            return (
                ReplyPart::UnknownJob {
                    job: job.to_string(),
                    known,
                },
                format!("refused: unknown job {job}"),
            );
        };
        let job = gated.name.clone();
        let scopes = gated.scopes.clone();
        if let Some(active) = self.active_for_job(&job) {
            let id = active.id.clone();
            let outcome = format!("already blocked by {id}");
            return (ReplyPart::AlreadyBlocked { id, job }, outcome);
        }
        let id = manual_id(&job, comment.comment_id);
        self.incidents.push(Incident::new(
            id.clone(),
            job.clone(),
            self.ctx.now,
            Cause::Manual {
                by: comment.author.clone(),
                reason: reason.to_string(),
            },
            scopes.clone(),
        ));
        self.touch(&id);
        let outcome = format!("opened {id}");
        (ReplyPart::Blocked { id, job, scopes }, outcome)
    }

    fn exempt(&mut self, comment: &CommentInput, reason: &str) -> (ReplyPart, String) {
        if !comment.is_pr {
            return (
                ReplyPart::ExemptNeedsPr,
                "refused: not a pull request".into(),
            );
        }
        let ids = self.active_on_repo(&comment.repo);
        if ids.is_empty() {
            return (
                ReplyPart::NothingToExempt {
                    repo: comment.repo.clone(),
                },
                "nothing to exempt from".into(),
            );
        }
        let now = self.ctx.now;
        for id in &ids {
            let Some(incident) = self.get_mut(id) else {
                continue;
            };
            if incident.is_exempt(&comment.repo, comment.number) {
                continue;
            }
            incident.exemptions.push(Exemption {
                repo: comment.repo.clone(),
                pr: comment.number,
                kind: ExemptionKind::Approver,
                by: comment.author.clone(),
                reason: reason.to_string(),
                at: now,
            });
            self.touch(id);
        }
        let outcome = format!("exempted from {}", join_ids(&ids));
        (
            ReplyPart::Exempted {
                pr: comment.number,
                ids,
            },
            outcome,
        )
    }

    fn pull_request(&mut self, input: &PrInput) {
        if input.sender_is_self {
            return;
        }
        let policy = self.ctx.policy;
        let blocking: Vec<IncidentId> = self
            .incidents
            .iter()
            .filter(|i| i.is_active() && i.scopes.contains(&input.scope))
            .filter(|i| !i.is_exempt(&input.scope.repo, input.pr))
            .map(|i| i.id.clone())
            .collect();
        if blocking.is_empty() {
            return;
        }
        let has_label = input
            .labels
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&policy.label));
        let label_now = Intent::LabelPr {
            repo: input.scope.repo.clone(),
            pr: input.pr,
        };
        match &input.change {
            PrChange::Opened
            | PrChange::Reopened
            | PrChange::Synchronize
            | PrChange::BaseChanged => {
                if !has_label && self.selects(input) {
                    self.decision.intend(label_now);
                }
            }
            PrChange::Labeled(label) => {
                // Only the label that made it ready (or, in mode `all`, nothing) counts.
                let without: Vec<String> = input
                    .labels
                    .iter()
                    .filter(|l| !l.eq_ignore_ascii_case(label))
                    .cloned()
                    .collect();
                let made_ready = policy.is_ready(&input.scope, &input.labels)
                    && !policy.is_ready(&input.scope, &without);
                let selects = match policy.label_mode {
                    LabelMode::All => !label.eq_ignore_ascii_case(&policy.label),
                    LabelMode::Ready => made_ready,
                };
                if selects && !has_label {
                    self.decision.intend(label_now);
                }
            }
            PrChange::Unlabeled(label) if label.eq_ignore_ascii_case(&policy.label) => {
                self.decision.intend(label_now);
                self.decision.audit.push(AuditRecord {
                    at: self.ctx.now,
                    who: input.sender.to_string(),
                    command: "label removed".into(),
                    target: format!("{}#{}", input.scope.repo, input.pr.0),
                    outcome: format!("label put back ({})", join_ids(&blocking)),
                    reason: String::new(),
                });
            }
            PrChange::Merged { by } => {
                let now = self.ctx.now;
                for id in &blocking {
                    let Some(incident) = self.get_mut(id) else {
                        continue;
                    };
                    let known = incident
                        .breaches
                        .iter()
                        .any(|b| b.scope == input.scope && b.pr == input.pr);
                    if known {
                        continue; // the same merge delivered again
                    }
                    incident.breaches.push(Breach {
                        scope: input.scope.clone(),
                        pr: input.pr,
                        merged_by: by.clone(),
                        at: now,
                    });
                    self.touch(id);
                }
            }
            PrChange::Unlabeled(_) | PrChange::Closed | PrChange::Other => {}
        }
    }

    /// Records a finding; nothing when the incident is unknown or already says so.
    fn finding(&mut self, finding: &Finding) {
        let now = self.ctx.now;
        let id = finding.incident().clone();
        let Some(incident) = self.get_mut(&id) else {
            return;
        };
        let Some(outcome) = apply_finding(incident, finding, now) else {
            return;
        };
        self.touch(&id);
        self.decision.audit.push(AuditRecord {
            at: now,
            who: AUTOMATIC_ACTOR.into(),
            command: finding.name().into(),
            target: id.to_string(),
            outcome,
            reason: String::new(),
        });
    }

    /// Whether the label mode selects this PR, judged on its labels after the event.
    fn selects(&self, input: &PrInput) -> bool {
        match self.ctx.policy.label_mode {
            LabelMode::All => true,
            LabelMode::Ready => self.ctx.policy.is_ready(&input.scope, &input.labels),
        }
    }
}

/// Applies `finding` to `incident`: the audit outcome when it changed something.
fn apply_finding(incident: &mut Incident, finding: &Finding, now: Timestamp) -> Option<String> {
    match finding {
        Finding::Suspects {
            search, suspects, ..
        } => {
            let repo = &search.scope.repo;
            let current: Vec<&Suspect> = incident
                .suspects
                .iter()
                .filter(|s| &s.repo == repo)
                .collect();
            let same_suspects = current.len() == suspects.len()
                && current.iter().zip(suspects).all(|(a, b)| *a == b);
            let known = incident.searches.iter().find(|s| s.scope == search.scope);
            if same_suspects && known.is_some_and(|k| k.range == search.range) {
                return None;
            }
            incident.suspects.retain(|s| &s.repo != repo);
            incident.suspects.extend(suspects.iter().cloned());
            incident.searches.retain(|s| s.scope != search.scope);
            incident.searches.push(search.clone());
            let how = match &search.range {
                SuspectRange::Commits {
                    base,
                    head,
                    commits,
                } => format!("{commits} commit(s) {base}..{head}"),
                SuspectRange::TimeWindow { from, to, .. } => {
                    format!("merged between {from} and {to} (tested commits unknown)")
                }
            };
            Some(format!(
                "{} suspect(s) on {}: {how}",
                suspects.len(),
                search.scope
            ))
        }
        Finding::RevertOpened {
            repo,
            suspect,
            revert_pr,
            ..
        } => {
            let at = incident
                .reverts
                .iter()
                .position(|r| &r.repo == repo && r.suspect == *suspect);
            let index = match at {
                Some(i) => i,
                None => {
                    incident.reverts.push(Revert::asked(
                        repo.clone(),
                        *suspect,
                        Login::new(AUTOMATIC_ACTOR),
                        now,
                        None,
                    ));
                    incident.reverts.len() - 1
                }
            };
            let exempt = incident.is_exempt(repo, *revert_pr);
            let revert = &mut incident.reverts[index];
            if revert.revert_pr == Some(*revert_pr) && revert.error.is_none() && exempt {
                return None;
            }
            revert.revert_pr = Some(*revert_pr);
            revert.error = None;
            let by = revert.by.clone();
            if !exempt {
                incident.exemptions.push(Exemption {
                    repo: repo.clone(),
                    pr: *revert_pr,
                    kind: ExemptionKind::Revert,
                    by,
                    reason: format!("revert of #{}", suspect.0),
                    at: now,
                });
            }
            Some(format!(
                "revert of #{} opened as #{}, exempt",
                suspect.0, revert_pr.0
            ))
        }
        Finding::RevertFailed {
            repo,
            suspect,
            error,
            ..
        } => {
            let revert = incident
                .reverts
                .iter_mut()
                .find(|r| &r.repo == repo && r.suspect == *suspect)?;
            if revert.revert_pr.is_some() || revert.error.as_ref() == Some(error) {
                return None;
            }
            revert.error = Some(error.clone());
            Some(format!("revert of #{} failed: {error}", suspect.0))
        }
        Finding::Escalated { step, at, .. } => {
            if incident.escalations.iter().any(|e| e.step == *step) {
                return None;
            }
            incident.escalations.push(EscalationStep {
                step: *step,
                at: *at,
            });
            Some(format!("escalation step {step} taken"))
        }
        Finding::RerunStarted {
            rerun,
            execution,
            build_id,
            ..
        } => {
            let r = incident.reruns.iter_mut().find(|r| r.id == *rerun)?;
            if r.execution.as_ref() == Some(execution)
                && (build_id.is_none() || r.build_id == *build_id)
            {
                return None;
            }
            r.execution = Some(execution.clone());
            if build_id.is_some() {
                r.build_id = build_id.clone();
            }
            r.error = None;
            Some(format!("rerun {rerun} started as execution {execution}"))
        }
        Finding::RerunFailed { rerun, error, .. } => {
            let r = incident.reruns.iter_mut().find(|r| r.id == *rerun)?;
            if r.execution.is_some() || r.error.is_some() {
                return None;
            }
            r.error = Some(error.clone());
            Some(format!("rerun {rerun} failed: {error}"))
        }
        Finding::RerunFinished {
            rerun, run, result, ..
        } => {
            let r = incident.reruns.iter_mut().find(|r| r.id == *rerun)?;
            if r.result.is_some() {
                return None;
            }
            r.result = Some(crate::model::RerunResult {
                run: run.clone(),
                result: *result,
            });
            Some(format!(
                "rerun {rerun} finished: run {} is {}",
                run.build_id,
                result.as_str()
            ))
        }
    }
}

fn join_ids(ids: &[IncidentId]) -> String {
    ids.iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOB: &str = "ci-scale-100";
    const AUTO_JOB: &str = "ci-scale-auto";

    fn repo() -> RepoName {
        RepoName::new("kubernetes", "kubernetes")
    }

    fn master() -> Scope {
        Scope {
            repo: repo(),
            branch: "master".into(),
        }
    }

    fn policy() -> Policy {
        Policy {
            jobs: vec![
                GateJob {
                    name: JobName::new(JOB),
                    scopes: vec![master()],
                    auto_unblock_on_recovery: false,
                },
                GateJob {
                    name: JobName::new(AUTO_JOB),
                    scopes: vec![Scope {
                        repo: RepoName::new("kubernetes", "perf-tests"),
                        branch: "master".into(),
                    }],
                    auto_unblock_on_recovery: true,
                },
            ],
            approvers: ApproverList {
                users: vec!["alice".into()],
                teams: vec!["kubernetes/sig-scalability-leads".into()],
            },
            label: "do-not-merge/scalability-regression".into(),
            label_mode: LabelMode::Ready,
            ready_labels: vec!["lgtm".into(), "approved".into()],
            ready_rules: BTreeMap::new(),
            rerun_available: true,
        }
    }

    fn run(build: &str) -> RunRef {
        RunRef {
            build_id: crate::model::BuildId::new(build),
            url: format!("https://prow.example/view/{build}"),
            started_at: None,
            commits: BTreeMap::new(),
        }
    }

    fn ctx(policy: &Policy) -> Ctx<'_> {
        Ctx {
            now: Timestamp(1_000),
            policy,
            issue_incident: None,
        }
    }

    fn regression(job: &str, red: &str) -> Input {
        Input::Regression {
            job: JobName::new(job),
            first_red: run(red),
            last_green: run("100"),
        }
    }

    /// Applies a decision's incidents to a state, as the store would.
    fn apply(state: &mut State, decision: &Decision) {
        for changed in &decision.incidents {
            match state.incidents.iter_mut().find(|i| i.id == changed.id) {
                Some(slot) => *slot = changed.clone(),
                None => state.incidents.push(changed.clone()),
            }
        }
    }

    /// Decides and applies in one step.
    fn step(state: &mut State, input: &Input, ctx: &Ctx<'_>) -> Decision {
        let d = decide(state, input, ctx);
        apply(state, &d);
        d
    }

    fn blocked(policy: &Policy) -> State {
        let mut state = State::default();
        let d = decide(&state, &regression(JOB, "101"), &ctx(policy));
        apply(&mut state, &d);
        state
    }

    fn comment(author: &str, approver: bool, commands: Vec<Command>) -> CommentInput {
        CommentInput {
            repo: repo(),
            number: PrNumber(42),
            is_pr: true,
            author: Login::new(author),
            approval: if approver {
                Approval::Approver
            } else {
                Approval::NotApprover
            },
            comment_id: 7,
            commands: commands.into_iter().map(Ok).collect(),
        }
    }

    fn pr(labels: &[&str], change: PrChange) -> PrInput {
        PrInput {
            scope: master(),
            pr: PrNumber(9),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            change,
            sender: Login::new("bob"),
            sender_is_self: false,
        }
    }

    #[test]
    fn regression_opens_one_incident_over_the_jobs_scopes() {
        let p = policy();
        let d = decide(&State::default(), &regression(JOB, "101"), &ctx(&p));
        assert_eq!(d.incidents.len(), 1);
        let i = &d.incidents[0];
        assert_eq!(i.id.as_str(), "ci-scale-100-101");
        assert_eq!(i.scopes, vec![master()]);
        assert!(i.is_active());
        assert_eq!(i.opened_at, Timestamp(1_000));
        assert_eq!(d.intents, vec![Intent::Reconcile]);
        assert!(d.replies.is_empty());
    }

    #[test]
    fn regression_table() {
        let p = policy();
        let state = blocked(&p);
        // (what, input, incidents written, folded runs of the active incident after)
        let cases: Vec<(&str, Input, usize, usize)> = vec![
            ("same detection again", regression(JOB, "101"), 0, 0),
            ("second regression folds", regression(JOB, "105"), 1, 1),
            ("ungated job ignored", regression("other", "1"), 0, 0),
            ("other job opens its own", regression(AUTO_JOB, "7"), 1, 0),
        ];
        for (what, input, written, folded) in cases {
            let d = decide(&state, &input, &ctx(&p));
            assert_eq!(d.incidents.len(), written, "{what}");
            let active = d
                .incidents
                .iter()
                .find(|i| i.job.as_str() == JOB)
                .map_or(0, |i| i.folded_runs.len());
            assert_eq!(active, folded, "{what}");
        }
    }

    #[test]
    fn folding_is_idempotent_and_a_lifted_id_is_never_reopened() {
        let p = policy();
        let mut state = blocked(&p);
        let d = decide(&state, &regression(JOB, "105"), &ctx(&p));
        apply(&mut state, &d);
        let again = decide(&state, &regression(JOB, "105"), &ctx(&p));
        assert!(again.is_empty(), "{again:?}");
        state.incidents[0].state = IncidentState::Lifted {
            by: "alice".into(),
            reason: String::new(),
            at: Timestamp(5),
        };
        assert!(decide(&state, &regression(JOB, "101"), &ctx(&p)).is_empty());
        let fresh = decide(&state, &regression(JOB, "200"), &ctx(&p));
        assert_eq!(fresh.incidents[0].id.as_str(), "ci-scale-100-200");
    }

    #[test]
    fn recovery_table() {
        let p = policy();
        // (what, job, manual, lifted afterwards)
        let cases = [
            ("no auto unblock: recorded only", JOB, false, false),
            ("auto unblock lifts", AUTO_JOB, false, true),
            (
                "manual is never lifted automatically",
                AUTO_JOB,
                true,
                false,
            ),
        ];
        for (what, job, manual, lifted) in cases {
            let mut state = State::default();
            if manual {
                let c = comment(
                    "alice",
                    true,
                    vec![Command::Block {
                        job: job.into(),
                        reason: "by hand".into(),
                    }],
                );
                step(&mut state, &Input::Comment(c), &ctx(&p));
            } else {
                step(&mut state, &regression(job, "9"), &ctx(&p));
            }
            let green = Input::Recovery {
                job: JobName::new(job),
                green: run("10"),
            };
            let d = decide(&state, &green, &ctx(&p));
            assert_eq!(d.incidents.len(), 1, "{what}");
            let i = &d.incidents[0];
            assert_eq!(i.recovered_by, Some(run("10")), "{what}");
            assert_eq!(!i.is_active(), lifted, "{what}");
            assert_eq!(d.intents, vec![Intent::Reconcile], "{what}");
            apply(&mut state, &d);
            assert!(
                decide(&state, &green, &ctx(&p)).incidents.len() <= usize::from(lifted),
                "{what}: repeated recovery"
            );
        }
    }

    #[test]
    fn recovery_without_incident_does_nothing() {
        let p = policy();
        let green = Input::Recovery {
            job: JobName::new(JOB),
            green: run("10"),
        };
        assert!(decide(&State::default(), &green, &ctx(&p)).is_empty());
    }

    #[test]
    fn unauthorised_gets_one_reply_naming_who_may_and_changes_nothing() {
        let p = policy();
        let state = blocked(&p);
        let c = comment(
            "mallory",
            false,
            vec![
                Command::Unblock {
                    reason: "please".into(),
                },
                Command::Exempt {
                    reason: String::new(),
                },
            ],
        );
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert!(d.intents.is_empty());
        assert_eq!(d.replies.len(), 1);
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::Unauthorised {
                command: "/scalability-unblock".into(),
                users: vec!["alice".into()],
                teams: vec!["kubernetes/sig-scalability-leads".into()],
            }]
        );
        assert_eq!(d.audit.len(), 2);
        assert!(
            d.audit
                .iter()
                .all(|a| a.outcome == "refused: not an approver" && a.who == "mallory")
        );
        assert_eq!(d.audit[0].reason, "please");
        assert_eq!(d.audit[0].target, "kubernetes/kubernetes#42");
    }

    /// GitHub did not say whether the author is in an approver team: refused as such, not
    /// as "not an approver", and nothing changes; `/scalability-status` still answers.
    #[test]
    fn an_unknown_approver_is_refused_saying_why_and_changes_nothing() {
        let p = policy();
        let state = blocked(&p);
        let mut c = comment(
            "wojtek-t",
            false,
            vec![
                Command::Unblock {
                    reason: "fixed".into(),
                },
                Command::Status,
            ],
        );
        c.approval = Approval::Unknown;
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty(), "still blocked");
        assert_eq!(d.replies.len(), 1);
        assert_eq!(
            d.replies[0].parts[0],
            ReplyPart::ApproverUnknown {
                command: "/scalability-unblock".into(),
                teams: vec!["kubernetes/sig-scalability-leads".into()],
            }
        );
        assert!(matches!(d.replies[0].parts[1], ReplyPart::Status { .. }));
        assert_eq!(d.audit[0].outcome, "refused: approver check failed");
        assert_eq!(d.audit[0].reason, "fixed");
    }

    /// One comment of thousands of command lines (any GitHub user can write one) reads
    /// the first ten: the audit log gets eleven records, not thousands, and the reply stays
    /// short.
    #[test]
    fn one_comment_reads_at_most_ten_commands() {
        let p = policy();
        let state = blocked(&p);
        for line in ["/scalability-unblock x", "/scalability-revert x"] {
            let body = format!("{line}\n").repeat(2_500);
            let mut c = comment("anyone", false, vec![]);
            c.commands = crate::core::command::parse(&body);
            assert_eq!(c.commands.len(), 2_500);
            let d = decide(&state, &Input::Comment(c), &ctx(&p));
            assert!(d.incidents.is_empty());
            assert_eq!(d.audit.len(), MAX_COMMANDS_PER_COMMENT + 1, "{line}");
            assert!(d.audit.last().unwrap().outcome.contains("2490"), "{line}");
            let parts = &d.replies[0].parts;
            assert_eq!(
                parts.last(),
                Some(&ReplyPart::TooManyCommands {
                    read: 10,
                    ignored: 2_490
                })
            );
            let text = crate::comment::reply(&d.replies[0]);
            assert!(text.chars().count() < 5_000, "{}", text.len());
        }
    }

    #[test]
    fn status_is_for_anyone() {
        let p = policy();
        let state = blocked(&p);
        let c = comment("mallory", false, vec![Command::Status]);
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
        match &d.replies[0].parts[0] {
            ReplyPart::Status { incidents, .. } => assert_eq!(incidents.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.audit[0].outcome, "status: 1 active incident(s)");
    }

    #[test]
    fn approver_unblock_lifts_the_incidents_on_this_repo() {
        let p = policy();
        let mut state = blocked(&p);
        step(&mut state, &regression(AUTO_JOB, "7"), &ctx(&p));
        let c = comment(
            "alice",
            true,
            vec![Command::Unblock {
                reason: "flake".into(),
            }],
        );
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert_eq!(
            d.incidents.len(),
            1,
            "only the incident on kubernetes/kubernetes"
        );
        assert_eq!(
            d.incidents[0].state,
            IncidentState::Lifted {
                by: "alice".into(),
                reason: "flake".into(),
                at: Timestamp(1_000)
            }
        );
        assert_eq!(d.intents, vec![Intent::Reconcile]);
        assert_eq!(d.audit[0].outcome, "lifted ci-scale-100-101");
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::Unblocked {
                ids: vec![IncidentId::new("ci-scale-100-101")],
                reason: "flake".into()
            }]
        );
        apply(&mut state, &d);
        let c = comment(
            "alice",
            true,
            vec![Command::Unblock {
                reason: String::new(),
            }],
        );
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::NothingToUnblock { repo: repo() }]
        );
    }

    #[test]
    fn unblock_on_a_blocker_issue_lifts_that_incident_only() {
        let mut p = policy();
        p.jobs[1].scopes = vec![master()];
        let mut state = blocked(&p);
        step(&mut state, &regression(AUTO_JOB, "7"), &ctx(&p));
        assert_eq!(state.incidents.len(), 2);
        let id = IncidentId::new("ci-scale-auto-7");
        let c = Ctx {
            issue_incident: Some(&id),
            ..ctx(&p)
        };
        let mut input = comment(
            "alice",
            true,
            vec![Command::Unblock {
                reason: String::new(),
            }],
        );
        input.is_pr = false;
        let d = decide(&state, &Input::Comment(input), &c);
        assert_eq!(d.incidents.len(), 1);
        assert_eq!(d.incidents[0].id, id);
        assert!(!d.incidents[0].is_active());
    }

    #[test]
    fn block_by_hand() {
        let p = policy();
        let block = |job: &str| {
            Input::Comment(comment(
                "alice",
                true,
                vec![Command::Block {
                    job: job.into(),
                    reason: "investigating".into(),
                }],
            ))
        };
        let d = decide(&State::default(), &block(JOB), &ctx(&p));
        assert_eq!(d.incidents.len(), 1);
        let i = &d.incidents[0];
        assert_eq!(i.id.as_str(), "ci-scale-100-manual-7");
        assert_eq!(
            i.cause,
            Cause::Manual {
                by: Login::new("alice"),
                reason: "investigating".into()
            }
        );
        assert_eq!(d.audit[0].outcome, "opened ci-scale-100-manual-7");

        let d = decide(&State::default(), &block("ci-nope"), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert!(
            matches!(&d.replies[0].parts[0], ReplyPart::UnknownJob { job, known } if job == "ci-nope" && known.len() == 2)
        );
        assert_eq!(d.audit[0].outcome, "refused: unknown job ci-nope");

        let d = decide(&blocked(&p), &block(JOB), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert!(
            matches!(&d.replies[0].parts[0], ReplyPart::AlreadyBlocked { id, .. } if id.as_str() == "ci-scale-100-101")
        );
    }

    #[test]
    fn exempt_table() {
        let p = policy();
        let d = decide(
            &blocked(&p),
            &Input::Comment(comment(
                "alice",
                true,
                vec![Command::Exempt {
                    reason: "revert".into(),
                }],
            )),
            &ctx(&p),
        );
        assert_eq!(d.incidents.len(), 1);
        assert!(d.incidents[0].is_exempt(&repo(), PrNumber(42)));
        assert_eq!(d.incidents[0].exemptions[0].reason, "revert");
        assert_eq!(d.intents, vec![Intent::Reconcile]);

        let mut on_issue = comment(
            "alice",
            true,
            vec![Command::Exempt {
                reason: String::new(),
            }],
        );
        on_issue.is_pr = false;
        let d = decide(&blocked(&p), &Input::Comment(on_issue), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert_eq!(d.replies[0].parts, vec![ReplyPart::ExemptNeedsPr]);

        let d = decide(
            &State::default(),
            &Input::Comment(comment(
                "alice",
                true,
                vec![Command::Exempt {
                    reason: String::new(),
                }],
            )),
            &ctx(&p),
        );
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::NothingToExempt { repo: repo() }]
        );
    }

    #[test]
    fn several_commands_make_one_reply_and_malformed_ones_are_answered() {
        let p = policy();
        let mut c = comment("alice", true, vec![Command::Status, Command::Rerun]);
        c.commands.push(Err(CommandError::BlockWithoutJob));
        let d = decide(&State::default(), &Input::Comment(c), &ctx(&p));
        assert_eq!(d.replies.len(), 1);
        assert_eq!(d.replies[0].parts.len(), 3);
        assert_eq!(
            d.replies[0].parts[1],
            ReplyPart::NoIncident {
                command: "/scalability-rerun".into(),
                repo: repo(),
            }
        );
        assert_eq!(d.audit.len(), 3);
        assert_eq!(d.audit[2].outcome, "refused: malformed");
    }

    #[test]
    fn comments_that_are_not_commands() {
        let ok = CommentFacts {
            is_new: true,
            author_is_bot: false,
            author_is_self: false,
        };
        assert!(is_command_comment(ok));
        assert!(!is_command_comment(CommentFacts {
            is_new: false,
            ..ok
        }));
        assert!(!is_command_comment(CommentFacts {
            author_is_bot: true,
            ..ok
        }));
        assert!(!is_command_comment(CommentFacts {
            author_is_self: true,
            ..ok
        }));
    }

    #[test]
    fn pr_event_table() {
        let p = policy();
        let state = blocked(&p);
        let label = "do-not-merge/scalability-regression";
        let now = Intent::LabelPr {
            repo: repo(),
            pr: PrNumber(9),
        };
        // (what, event, label it now)
        let cases = [
            (
                "last required label added",
                pr(&["lgtm", "approved"], PrChange::Labeled("approved".into())),
                true,
            ),
            (
                "required label, not yet ready",
                pr(&["lgtm"], PrChange::Labeled("lgtm".into())),
                false,
            ),
            (
                "unrelated label on a ready PR",
                pr(&["lgtm", "approved", "x"], PrChange::Labeled("x".into())),
                false,
            ),
            (
                "ready PR opened",
                pr(&["lgtm", "approved"], PrChange::Opened),
                true,
            ),
            (
                "ready PR reopened",
                pr(&["lgtm", "approved"], PrChange::Reopened),
                true,
            ),
            (
                "ready PR pushed",
                pr(&["lgtm", "approved"], PrChange::Synchronize),
                true,
            ),
            (
                "ready PR moved onto the branch",
                pr(&["lgtm", "approved"], PrChange::BaseChanged),
                true,
            ),
            ("not ready PR opened", pr(&[], PrChange::Opened), false),
            (
                "already labelled",
                pr(&["lgtm", "approved", label], PrChange::Synchronize),
                false,
            ),
            ("closed", pr(&["lgtm", "approved"], PrChange::Closed), false),
            (
                "other edit",
                pr(&["lgtm", "approved"], PrChange::Other),
                false,
            ),
            (
                "another label removed",
                pr(&["lgtm"], PrChange::Unlabeled("approved".into())),
                false,
            ),
        ];
        for (what, input, label_now) in cases {
            let d = decide(&state, &Input::PullRequest(input), &ctx(&p));
            assert_eq!(d.intents.contains(&now), label_now, "{what}");
            assert!(d.incidents.is_empty(), "{what}");
        }
    }

    #[test]
    fn pr_events_off_scope_exempt_or_unblocked_do_nothing() {
        let p = policy();
        let state = blocked(&p);
        let mut other_branch = pr(&["lgtm", "approved"], PrChange::Opened);
        other_branch.scope.branch = "release-1.34".into();
        assert!(decide(&state, &Input::PullRequest(other_branch), &ctx(&p)).is_empty());
        let ready = pr(&["lgtm", "approved"], PrChange::Opened);
        assert!(
            decide(
                &State::default(),
                &Input::PullRequest(ready.clone()),
                &ctx(&p)
            )
            .is_empty()
        );
        let mut exempt = state.clone();
        exempt.incidents[0].exemptions.push(Exemption {
            repo: repo(),
            pr: PrNumber(9),
            kind: ExemptionKind::Approver,
            by: Login::new("alice"),
            reason: String::new(),
            at: Timestamp(1),
        });
        assert!(decide(&exempt, &Input::PullRequest(ready), &ctx(&p)).is_empty());
    }

    #[test]
    fn label_mode_all_labels_any_pr_that_arrives() {
        let mut p = policy();
        p.label_mode = LabelMode::All;
        let d = decide(
            &blocked(&p),
            &Input::PullRequest(pr(&[], PrChange::Opened)),
            &ctx(&p),
        );
        assert_eq!(
            d.intents,
            vec![Intent::LabelPr {
                repo: repo(),
                pr: PrNumber(9)
            }]
        );
    }

    #[test]
    fn our_label_removed_by_hand_is_put_back_and_recorded() {
        let p = policy();
        let state = blocked(&p);
        let removed = pr(
            &["lgtm"],
            PrChange::Unlabeled("do-not-merge/scalability-regression".into()),
        );
        let d = decide(&state, &Input::PullRequest(removed.clone()), &ctx(&p));
        assert_eq!(
            d.intents,
            vec![Intent::LabelPr {
                repo: repo(),
                pr: PrNumber(9)
            }]
        );
        assert_eq!(d.audit.len(), 1);
        assert_eq!(d.audit[0].who, "bob");
        assert_eq!(d.audit[0].command, "label removed");
        assert_eq!(d.audit[0].outcome, "label put back (ci-scale-100-101)");
        let mut ours = removed;
        ours.sender_is_self = true;
        assert!(decide(&state, &Input::PullRequest(ours), &ctx(&p)).is_empty());
    }

    #[test]
    fn a_merge_into_a_blocked_scope_is_a_breach() {
        let p = policy();
        let merged = pr(
            &[],
            PrChange::Merged {
                by: Some(Login::new("carol")),
            },
        );
        let d = decide(&blocked(&p), &Input::PullRequest(merged.clone()), &ctx(&p));
        assert_eq!(d.incidents[0].breaches.len(), 1);
        assert_eq!(
            d.incidents[0].breaches[0].merged_by,
            Some(Login::new("carol"))
        );
        let after = State {
            incidents: d.incidents.clone(),
        };
        let again = decide(&after, &Input::PullRequest(merged), &ctx(&p));
        assert!(again.is_empty(), "a merge delivered twice is one breach");
    }

    #[test]
    fn scope_specific_ready_rules_win() {
        let mut p = policy();
        p.ready_rules.insert(
            master(),
            ReadyRule {
                alternatives: vec![
                    vec!["lgtm".into()],
                    vec!["approved".into(), "ok-to-merge".into()],
                ],
            },
        );
        assert!(p.is_ready(&master(), &["LGTM".into()]));
        assert!(!p.is_ready(&master(), &["approved".into()]));
        let mut other = master();
        other.branch = "release".into();
        assert!(!p.is_ready(&other, &["lgtm".into()]));
        assert!(p.is_ready(&other, &["lgtm".into(), "approved".into()]));
        // The PR becomes ready by the second alternative's last label.
        let state = blocked(&p);
        let input = pr(
            &["approved", "ok-to-merge"],
            PrChange::Labeled("ok-to-merge".into()),
        );
        let d = decide(&state, &Input::PullRequest(input), &ctx(&p));
        assert_eq!(d.intents.len(), 1);
    }

    fn suspect(pr: u64) -> Suspect {
        Suspect {
            repo: repo(),
            pr: PrNumber(pr),
            title: format!("PR {pr}"),
            author: Login::new("dev"),
            merged_at: Some(Timestamp(pr as i64)),
            score: 1.0,
            reasons: vec!["labelled `sig/scalability`".into()],
            merge_commit: None,
            reverts: None,
        }
    }

    fn search(commits: u32) -> SuspectSearch {
        SuspectSearch {
            scope: master(),
            range: SuspectRange::Commits {
                base: crate::model::CommitSha::new("aaa"),
                head: crate::model::CommitSha::new("bbb"),
                commits,
            },
            at: Timestamp(900),
        }
    }

    fn with_rerun(state: &mut State) {
        state.incidents[0].reruns.push(crate::model::Rerun {
            id: 77,
            by: Login::new("alice"),
            at: Timestamp(950),
            repo: repo(),
            requested_on: PrNumber(42),
            execution: None,
            build_id: None,
            result: None,
            error: None,
        });
    }

    #[test]
    fn findings_are_recorded_once_and_audited() {
        let p = policy();
        let id = IncidentId::new("ci-scale-100-101");
        let mut state = blocked(&p);
        with_rerun(&mut state);
        state.incidents[0].reverts.push(Revert::asked(
            repo(),
            PrNumber(2),
            Login::new("alice"),
            Timestamp(990),
            Some(PrNumber(42)),
        ));
        // (what, finding, check of the incident after)
        type Check = fn(&Incident) -> bool;
        let cases: Vec<(&str, Finding, Check)> = vec![
            (
                "suspects",
                Finding::Suspects {
                    incident: id.clone(),
                    search: search(7),
                    suspects: vec![suspect(1), suspect(2)],
                },
                |i| i.suspects.len() == 2 && i.searches.len() == 1,
            ),
            (
                "a new search replaces the old one",
                Finding::Suspects {
                    incident: id.clone(),
                    search: search(3),
                    suspects: vec![suspect(2)],
                },
                |i| {
                    i.suspects.len() == 1
                        && i.searches.len() == 1
                        && matches!(
                            i.searches[0].range,
                            SuspectRange::Commits { commits: 3, .. }
                        )
                },
            ),
            (
                "revert failed",
                Finding::RevertFailed {
                    incident: id.clone(),
                    repo: repo(),
                    suspect: PrNumber(2),
                    error: "conflict".into(),
                },
                |i| i.reverts[0].error.as_deref() == Some("conflict"),
            ),
            (
                "revert opened: linked and exempt",
                Finding::RevertOpened {
                    incident: id.clone(),
                    repo: repo(),
                    suspect: PrNumber(2),
                    revert_pr: PrNumber(500),
                },
                |i| {
                    i.reverts[0].revert_pr == Some(PrNumber(500))
                        && i.reverts[0].error.is_none()
                        && i.exemptions.iter().any(|e| {
                            e.pr == PrNumber(500)
                                && e.kind == ExemptionKind::Revert
                                && e.by.as_str() == "alice"
                        })
                },
            ),
            (
                "escalated",
                Finding::Escalated {
                    incident: id.clone(),
                    step: 1,
                    at: Timestamp(4_600),
                },
                |i| {
                    i.escalations
                        == vec![EscalationStep {
                            step: 1,
                            at: Timestamp(4_600),
                        }]
                },
            ),
            (
                "rerun started",
                Finding::RerunStarted {
                    incident: id.clone(),
                    rerun: 77,
                    execution: "exec-1".into(),
                    build_id: None,
                },
                |i| i.reruns[0].execution.as_deref() == Some("exec-1"),
            ),
            (
                "rerun finished",
                Finding::RerunFinished {
                    incident: id.clone(),
                    rerun: 77,
                    run: run("300"),
                    result: RunResult::Success,
                },
                |i| {
                    i.reruns[0]
                        .result
                        .as_ref()
                        .is_some_and(|r| r.result == RunResult::Success)
                },
            ),
        ];
        for (what, finding, check) in cases {
            let input = Input::Finding(finding);
            let d = step(&mut state, &input, &ctx(&p));
            assert_eq!(d.incidents.len(), 1, "{what}");
            assert!(check(&d.incidents[0]), "{what}: {:#?}", d.incidents[0]);
            assert_eq!(d.audit.len(), 1, "{what}");
            assert_eq!(d.audit[0].who, AUTOMATIC_ACTOR, "{what}");
            assert_eq!(d.audit[0].target, id.as_str(), "{what}");
            assert_eq!(d.intents, vec![Intent::Reconcile], "{what}");
            let again = decide(&state, &input, &ctx(&p));
            assert!(again.is_empty(), "{what}: applied twice changed {again:?}");
        }
        // A late failure does not undo an opened revert, nor a late rerun failure a start.
        for late in [
            Finding::RevertFailed {
                incident: id.clone(),
                repo: repo(),
                suspect: PrNumber(2),
                error: "late".into(),
            },
            Finding::RerunFailed {
                incident: id.clone(),
                rerun: 77,
                error: "late".into(),
            },
            Finding::Escalated {
                incident: IncidentId::new("unknown"),
                step: 1,
                at: Timestamp(1),
            },
        ] {
            assert!(decide(&state, &Input::Finding(late), &ctx(&p)).is_empty());
        }
    }

    #[test]
    fn suspects_of_each_repo_are_kept_apart() {
        let p = policy();
        let id = IncidentId::new("ci-scale-100-101");
        let mut state = blocked(&p);
        let mut other = suspect(9);
        other.repo = RepoName::new("kubernetes", "perf-tests");
        state.incidents[0].suspects.push(other);
        let d = step(
            &mut state,
            &Input::Finding(Finding::Suspects {
                incident: id,
                search: search(1),
                suspects: vec![suspect(1)],
            }),
            &ctx(&p),
        );
        let prs: Vec<u64> = d.incidents[0].suspects.iter().map(|s| s.pr.0).collect();
        assert_eq!(prs, vec![9, 1]);
    }

    #[test]
    fn a_revert_opened_without_request_is_recorded_as_the_gates() {
        let p = policy();
        let mut state = blocked(&p);
        let d = step(
            &mut state,
            &Input::Finding(Finding::RevertOpened {
                incident: IncidentId::new("ci-scale-100-101"),
                repo: repo(),
                suspect: PrNumber(3),
                revert_pr: PrNumber(600),
            }),
            &ctx(&p),
        );
        assert_eq!(d.incidents[0].reverts[0].by.as_str(), AUTOMATIC_ACTOR);
        assert!(d.incidents[0].is_exempt(&repo(), PrNumber(600)));
    }

    fn with_suspects(state: &mut State) {
        let mut revert = suspect(3);
        revert.reverts = Some(PrNumber(1));
        state.incidents[0].suspects = vec![suspect(1), suspect(2), revert];
    }

    fn revert_cmd(author: &str, approver: bool, pr: u64) -> Input {
        Input::Comment(comment(author, approver, vec![Command::Revert { pr }]))
    }

    #[test]
    fn revert_table() {
        let p = policy();
        let mut state = blocked(&p);
        with_suspects(&mut state);
        // (what, input, reply part, audit outcome, reverts recorded)
        let cases: Vec<(&str, Input, ReplyPart, &str, usize)> = vec![
            (
                "not an approver",
                revert_cmd("mallory", false, 1),
                ReplyPart::Unauthorised {
                    command: "/scalability-revert".into(),
                    users: vec!["alice".into()],
                    teams: vec!["kubernetes/sig-scalability-leads".into()],
                },
                "refused: not an approver",
                0,
            ),
            (
                "not a suspect",
                revert_cmd("alice", true, 9),
                ReplyPart::NotASuspect {
                    pr: PrNumber(9),
                    suspects: vec![PrNumber(1), PrNumber(2), PrNumber(3)],
                },
                "refused: #9 is not a suspect",
                0,
            ),
            (
                "revert of a revert",
                revert_cmd("alice", true, 3),
                ReplyPart::RevertOfRevert {
                    pr: PrNumber(3),
                    reverts: PrNumber(1),
                },
                "refused: #3 is a revert of #1 (reverting it re-lands #1)",
                0,
            ),
            (
                "accepted",
                revert_cmd("alice", true, 2),
                ReplyPart::RevertRequested {
                    pr: PrNumber(2),
                    ids: vec![IncidentId::new("ci-scale-100-101")],
                },
                "revert of #2 requested on ci-scale-100-101",
                1,
            ),
        ];
        for (what, input, part, outcome, reverts) in cases {
            let d = decide(&state, &input, &ctx(&p));
            assert_eq!(d.replies[0].parts, vec![part], "{what}");
            assert_eq!(d.audit[0].outcome, outcome, "{what}");
            assert_eq!(d.audit[0].command, "/scalability-revert", "{what}");
            let recorded = d.incidents.first().map_or(0, |i| i.reverts.len());
            assert_eq!(recorded, reverts, "{what}");
            if reverts > 0 {
                let r = &d.incidents[0].reverts[0];
                assert_eq!(
                    (r.suspect, r.by.as_str(), r.revert_pr, r.requested_on),
                    (PrNumber(2), "alice", None, Some(PrNumber(42))),
                    "{what}"
                );
                assert_eq!(d.intents, vec![Intent::Reconcile], "{what}");
            } else {
                assert!(d.intents.is_empty(), "{what}");
            }
        }
    }

    #[test]
    fn a_revert_asked_twice_is_one_and_says_what_came_of_it() {
        let p = policy();
        let mut state = blocked(&p);
        with_suspects(&mut state);
        step(&mut state, &revert_cmd("alice", true, 2), &ctx(&p));
        let d = decide(&state, &revert_cmd("alice", true, 2), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::RevertAlreadyRequested {
                pr: PrNumber(2),
                revert_pr: None
            }]
        );
        step(
            &mut state,
            &Input::Finding(Finding::RevertOpened {
                incident: IncidentId::new("ci-scale-100-101"),
                repo: repo(),
                suspect: PrNumber(2),
                revert_pr: PrNumber(700),
            }),
            &ctx(&p),
        );
        let d = decide(&state, &revert_cmd("alice", true, 2), &ctx(&p));
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::RevertAlreadyRequested {
                pr: PrNumber(2),
                revert_pr: Some(PrNumber(700))
            }]
        );
        assert_eq!(d.audit[0].outcome, "already reverted in #700");
        // Without an incident on the repo, there is nothing to revert.
        let d = decide(&State::default(), &revert_cmd("alice", true, 2), &ctx(&p));
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::NoIncident {
                command: "/scalability-revert".into(),
                repo: repo()
            }]
        );
    }

    #[test]
    fn rerun_table() {
        let p = policy();
        let mut off = policy();
        off.rerun_available = false;
        let rerun = |author: &str, approver: bool| {
            Input::Comment(comment(author, approver, vec![Command::Rerun]))
        };
        let state = blocked(&p);
        let mut pending = state.clone();
        with_rerun(&mut pending);
        let mut stale = pending.clone();
        stale.incidents[0].reruns[0].at = Timestamp(1_000 - RERUN_PENDING_FOR);
        // (what, state, policy, input, reply part, audit outcome, reruns recorded)
        let cases: Vec<(&str, &State, &Policy, Input, ReplyPart, &str, usize)> = vec![
            (
                "not an approver",
                &state,
                &p,
                rerun("mallory", false),
                ReplyPart::Unauthorised {
                    command: "/scalability-rerun".into(),
                    users: vec!["alice".into()],
                    teams: vec!["kubernetes/sig-scalability-leads".into()],
                },
                "refused: not an approver",
                0,
            ),
            (
                "Gangway not configured",
                &state,
                &off,
                rerun("alice", true),
                ReplyPart::RerunNotConfigured,
                "refused: Gangway is not configured",
                0,
            ),
            (
                "accepted",
                &state,
                &p,
                rerun("alice", true),
                ReplyPart::RerunRequested {
                    ids: vec![IncidentId::new("ci-scale-100-101")],
                    jobs: vec![JobName::new(JOB)],
                },
                "rerun requested on ci-scale-100-101",
                1,
            ),
            (
                "the one waiting is a day old",
                &stale,
                &p,
                rerun("alice", true),
                ReplyPart::RerunRequested {
                    ids: vec![IncidentId::new("ci-scale-100-101")],
                    jobs: vec![JobName::new(JOB)],
                },
                "rerun requested on ci-scale-100-101",
                2,
            ),
            (
                "one already waits for its result",
                &pending,
                &p,
                rerun("alice", true),
                ReplyPart::RerunPending {
                    id: IncidentId::new("ci-scale-100-101"),
                    job: JobName::new(JOB),
                    since: Timestamp(950),
                    execution: None,
                },
                "rerun already pending",
                0,
            ),
        ];
        for (what, state, policy, input, part, outcome, reruns) in cases {
            let d = decide(state, &input, &ctx(policy));
            assert_eq!(d.replies[0].parts, vec![part], "{what}");
            assert_eq!(d.audit[0].outcome, outcome, "{what}");
            let recorded = d.incidents.first().map_or(0, |i| i.reruns.len());
            assert_eq!(recorded, reruns, "{what}");
            if reruns > 0 {
                let r = d.incidents[0].reruns.last().unwrap();
                assert_eq!(
                    (r.id, r.by.as_str(), r.at, r.requested_on),
                    (7, "alice", Timestamp(1_000), PrNumber(42)),
                    "{what}"
                );
                assert!(r.awaits_execution(), "{what}");
                assert_eq!(d.intents, vec![Intent::Rerun, Intent::Reconcile], "{what}");
                // The same comment delivered again starts nothing new.
                let mut after = (*state).clone();
                apply(&mut after, &d);
                let again = decide(&after, &input, &ctx(policy));
                assert!(again.incidents.is_empty(), "{what}: replayed");
            } else {
                assert!(d.intents.is_empty(), "{what}");
            }
        }
    }
}
