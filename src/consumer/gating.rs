//! The gate's shell: turns inputs (detector outcomes, webhook events) into the pure
//! gate's inputs, adds what the core cannot know (approvers and the plugin's own login, as
//! far as known without waiting: see [`super::membership`]; which incident a blocker issue
//! belongs to), and writes each decision to the store — whole,
//! in one transaction — before anything is done on GitHub. What to do next (reconcile,
//! label a PR now, post replies) is returned to the consumer, which hands it to the
//! reconciler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::membership::{Approvers, OwnLogin};
use crate::Store;
use crate::bus::event::{Event, IssueComment, PrAction, PullRequestEvent};
use crate::bus::tide::SharedTide;
use crate::comment;
use crate::config::{Config, LabelPrs};
use crate::core::command::{self, Who};
use crate::core::detector::Outcome;
use crate::core::gate::{self, Approval, ApproverList, Decision, GateJob, LabelMode, Policy};
use crate::model::{IncidentId, JobName, Login, RepoName, Scope, Timestamp};
use crate::store::{Changes, PendingReply};

/// The gate's policy from the configuration.
pub fn policy(config: &Config) -> Policy {
    let jobs = config
        .jobs
        .iter()
        .map(|j| GateJob {
            name: JobName::new(&j.name),
            scopes: j
                .scopes
                .iter()
                .filter_map(|s| {
                    Some(Scope {
                        repo: RepoName::parse(&s.repo).ok()?,
                        branch: s.branch.clone(),
                    })
                })
                .collect(),
            auto_unblock_on_recovery: j.auto_unblock_on_recovery,
            infer_scopes: j.infer_scopes,
        })
        .collect();
    Policy {
        jobs,
        approvers: ApproverList {
            users: config.approvers.users.clone(),
            teams: config.approvers.teams.clone(),
        },
        label: config.label.clone(),
        label_mode: match config.label_prs {
            LabelPrs::Ready => LabelMode::Ready,
            LabelPrs::All => LabelMode::All,
        },
        ready_labels: config.ready_labels.clone(),
        ready_rules: Default::default(),
        rerun_available: !config.sources.gangway.address.trim().is_empty(),
    }
}

/// The gate's state for a decision: every open incident (active, or lifted provisionally),
/// plus `extra` when stored.
pub fn state(store: &Store, extra: Option<&IncidentId>) -> anyhow::Result<gate::State> {
    let mut incidents = store.open_incidents()?;
    if let Some(id) = extra
        && !incidents.iter().any(|i| &i.id == id)
        && let Some(found) = store.incident(id)?
    {
        incidents.push(found);
    }
    Ok(gate::State { incidents })
}

/// The gate's input for a detector outcome, if it is one.
pub fn outcome_input(job: &JobName, outcome: &Outcome) -> Option<gate::Input> {
    match outcome {
        Outcome::None => None,
        Outcome::Regression {
            first_red,
            last_green,
        } => Some(gate::Input::Regression {
            job: job.clone(),
            first_red: first_red.clone(),
            last_green: last_green.clone(),
        }),
        Outcome::Recovery { green } => Some(gate::Input::Recovery {
            job: job.clone(),
            green: green.clone(),
        }),
    }
}

/// Decides on `input` and writes the decision (incidents, audit records, rendered replies)
/// to the store in one transaction. Returns the decision for the caller to act on.
pub fn decide_and_commit(
    store: &Store,
    policy: &Policy,
    input: &gate::Input,
    now: Timestamp,
    issue_incident: Option<&IncidentId>,
) -> anyhow::Result<Decision> {
    let decision = decide(store, policy, input, now, issue_incident)?;
    if !decision.is_empty() {
        store.apply_decision(&changes(&decision))?;
    }
    Ok(decision)
}

/// The gate's decision on `input` against the incidents in the store, not yet written.
pub fn decide(
    store: &Store,
    policy: &Policy,
    input: &gate::Input,
    now: Timestamp,
    issue_incident: Option<&IncidentId>,
) -> anyhow::Result<Decision> {
    let extra = match input {
        gate::Input::Regression { job, first_red, .. } => Some(gate::regression_id(job, first_red)),
        gate::Input::Finding(finding) => Some(finding.incident().clone()),
        _ => None,
    };
    let state = state(store, extra.as_ref().or(issue_incident))?;
    let ctx = gate::Ctx {
        now,
        policy,
        issue_incident,
    };
    Ok(gate::decide(&state, input, &ctx))
}

/// What a decision writes: the replies rendered, each with its marker.
pub fn changes(decision: &Decision) -> Changes {
    Changes {
        incidents: decision.incidents.clone(),
        audit: decision.audit.clone(),
        replies: decision
            .replies
            .iter()
            .map(|r| PendingReply {
                key: comment::reply_marker(r.in_reply_to),
                repo: r.repo.clone(),
                number: r.number,
                body: comment::reply(r),
            })
            .collect(),
    }
}

/// What the gate did with a webhook event.
#[derive(Debug)]
pub enum Applied {
    /// Decided and written.
    Decided(Decision),
    /// A command that needs an approver, by an author not known to be one or not: nothing
    /// is decided until [`super::membership`] has asked GitHub.
    NeedsApproval(Login),
}

/// The gate's shell state: the policy, the store, who is who (known without waiting).
pub struct Gatekeeper {
    config: Arc<Config>,
    store: Store,
    tide: SharedTide,
    approvers: Arc<Approvers>,
    own_login: OwnLogin,
    /// Authors with a command still waiting for their membership, and how many: their
    /// later commands wait too, so one author's commands are carried out in order.
    awaiting: Mutex<HashMap<String, usize>>,
}

impl Gatekeeper {
    /// A gatekeeper over `store`; `approvers` and `own_login` say who is who.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        approvers: Arc<Approvers>,
        own_login: OwnLogin,
        tide: SharedTide,
    ) -> Self {
        Self {
            config,
            store,
            tide,
            approvers,
            own_login,
            awaiting: Mutex::new(HashMap::new()),
        }
    }

    /// The policy, with Tide's ready rule for `scope` when Prow's config is known.
    pub fn policy(&self, scope: Option<&Scope>) -> Policy {
        let mut policy = policy(&self.config);
        if let Some(scope) = scope {
            let tide = self.tide.read().unwrap_or_else(|e| e.into_inner());
            policy.ready_rules.insert(
                scope.clone(),
                tide.ready_rule(scope, &self.config.ready_labels),
            );
        }
        policy
    }

    /// The approvers (for the background task that asks GitHub about them).
    pub fn approvers(&self) -> &Arc<Approvers> {
        &self.approvers
    }

    /// Notes that a command of `author` waits for their membership.
    pub fn awaiting(&self, author: &Login) {
        let mut awaiting = self.awaiting.lock().unwrap_or_else(|e| e.into_inner());
        *awaiting
            .entry(author.as_str().to_ascii_lowercase())
            .or_default() += 1;
    }

    /// Notes that a command of `author` no longer waits.
    pub fn answered(&self, author: &Login) {
        let mut awaiting = self.awaiting.lock().unwrap_or_else(|e| e.into_inner());
        let key = author.as_str().to_ascii_lowercase();
        if let Some(n) = awaiting.get_mut(&key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                awaiting.remove(&key);
            }
        }
    }

    /// Whether `login` is an approver, as far as is known now; `None` when GitHub must be
    /// asked, or when an earlier command of theirs still waits for the answer.
    fn approval(&self, login: &Login) -> Option<Approval> {
        let waiting = self
            .awaiting
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&login.as_str().to_ascii_lowercase());
        if waiting {
            return None;
        }
        self.approvers.known(login)
    }

    /// A webhook event: decided and written, unless a command in it needs its author's
    /// membership and that is not known yet. `approval` is the author's, when the
    /// background check already answered. Never waits for GitHub.
    pub fn on_event(
        &self,
        event: &Event,
        approval: Option<Approval>,
        now: Timestamp,
    ) -> anyhow::Result<Applied> {
        match event {
            Event::IssueComment(comment) => self.on_comment(comment, approval, now),
            Event::PullRequest(pr) => self.on_pull_request(pr, now).map(Applied::Decided),
            Event::Ignored(_) => Ok(Applied::Decided(Decision::default())),
        }
    }

    fn on_comment(
        &self,
        comment: &IssueComment,
        approval: Option<Approval>,
        now: Timestamp,
    ) -> anyhow::Result<Applied> {
        // Edited or deleted comments and bots' comments are never commands; checked before
        // anything else. The ingress keeps in its inbox exactly the comments that pass
        // this first check.
        if !may_carry_command(comment) || !is_gated_repo(&self.policy(None), &comment.repo) {
            return Ok(Applied::Decided(Decision::default()));
        }
        let commands = command::parse(&comment.body);
        if !is_command_comment(comment, self.own_login.get()) {
            tracing::debug!(repo = %comment.repo, pr = comment.number.0, author = %comment.author, "not a command comment");
            return Ok(Applied::Decided(Decision::default()));
        }
        let needs_approver = commands
            .iter()
            .any(|c| matches!(c, Ok(c) if c.who() == Who::Approvers));
        // A command on a PR acts on the incidents of its base branch: when that is not
        // known yet, the background check asks GitHub for it with the membership. Without
        // GitHub there is nobody to ask: the base stays unknown, decided at once.
        let needs_base = comment.is_pr
            && approval.is_none()
            && self.approvers.asks_github()
            && commands
                .iter()
                .any(|c| matches!(c, Ok(c) if acts_on_incidents(c)))
            && self
                .approvers
                .bases
                .get(&comment.repo, comment.number)
                .is_none();
        if needs_base {
            return Ok(Applied::NeedsApproval(comment.author.clone()));
        }
        let approval = if needs_approver {
            match approval.or_else(|| self.approval(&comment.author)) {
                Some(approval) => approval,
                None => return Ok(Applied::NeedsApproval(comment.author.clone())),
            }
        } else {
            Approval::NotApprover
        };
        let issue_incident = if comment.is_pr {
            None
        } else {
            self.incident_of_issue(&comment.repo, comment.number)?
        };
        let base = if comment.is_pr {
            match self.approvers.bases.get(&comment.repo, comment.number) {
                Some(branch) => gate::PrBase::Branch(branch),
                None => gate::PrBase::Unknown,
            }
        } else {
            gate::PrBase::Unknown
        };
        let input = gate::Input::Comment(gate::CommentInput {
            repo: comment.repo.clone(),
            number: comment.number,
            is_pr: comment.is_pr,
            base,
            author: comment.author.clone(),
            approval,
            comment_id: comment.comment_id,
            commands,
        });
        decide_and_commit(
            &self.store,
            &self.policy(None),
            &input,
            now,
            issue_incident.as_ref(),
        )
        .map(Applied::Decided)
    }

    fn on_pull_request(
        &self,
        event: &PullRequestEvent,
        now: Timestamp,
    ) -> anyhow::Result<Decision> {
        self.approvers
            .bases
            .put(&event.repo, event.number, &event.base_ref);
        let input = pr_input(event, self.own_login.get());
        let policy = self.policy(Some(&input.scope));
        decide_and_commit(
            &self.store,
            &policy,
            &gate::Input::PullRequest(input),
            now,
            None,
        )
    }

    /// A finding of reconcile or the rerun executor: decided and written (also when its
    /// incident was lifted meanwhile). A failed revert or a rerun's outcome is told, once
    /// (by marker), where the command was written, in the same write.
    pub fn on_finding(&self, finding: &gate::Finding, now: Timestamp) -> anyhow::Result<Decision> {
        let input = gate::Input::Finding(finding.clone());
        let decision = decide(&self.store, &self.policy(None), &input, now, None)?;
        if decision.is_empty() {
            return Ok(decision);
        }
        let mut changes = changes(&decision);
        for incident in &decision.incidents {
            changes.replies.extend(finding_notices(incident, finding));
        }
        self.store.apply_decision(&changes)?;
        Ok(decision)
    }

    /// The incident a blocker or tracking issue belongs to (the reconciler remembers it).
    fn incident_of_issue(
        &self,
        repo: &RepoName,
        number: crate::model::PrNumber,
    ) -> anyhow::Result<Option<IncidentId>> {
        self.store.incident_of_issue(repo, number)
    }

    /// A detector outcome for `job`: decided and written. A recovery that leaves the
    /// incident active is also announced on the incident's issues (once: the notice's
    /// marker), in the same write.
    pub fn on_outcome(
        &self,
        job: &JobName,
        outcome: &Outcome,
        now: Timestamp,
    ) -> anyhow::Result<Decision> {
        let Some(input) = outcome_input(job, outcome) else {
            return Ok(Decision::default());
        };
        let decision = decide(&self.store, &self.policy(None), &input, now, None)?;
        let mut changes = changes(&decision);
        if let gate::Input::Recovery { green, .. } = &input {
            for incident in decision.incidents.iter().filter(|i| i.is_active()) {
                for scope in &incident.scopes {
                    let Some(issue) = self.store.issue_of(&incident.id, scope)? else {
                        continue;
                    };
                    changes.replies.push(PendingReply {
                        key: comment::recovered_marker(&incident.id),
                        repo: scope.repo.clone(),
                        number: issue,
                        body: comment::recovered(incident, green),
                    });
                }
            }
        }
        if !decision.is_empty() {
            self.store.apply_decision(&changes)?;
        }
        Ok(decision)
    }
}

impl Gatekeeper {
    /// A red run of `job`: re-blocks the job's provisionally lifted incident when the run
    /// started after the lift. The re-block's comment (which run failed after which lift)
    /// goes to the incident's issues in the same write, once (its marker counts re-blocks).
    pub fn on_red_run(
        &self,
        job: &JobName,
        run: &crate::model::RunRef,
        now: Timestamp,
    ) -> anyhow::Result<Decision> {
        let input = gate::Input::RedRun {
            job: job.clone(),
            run: run.clone(),
        };
        let decision = decide(&self.store, &self.policy(None), &input, now, None)?;
        if decision.is_empty() {
            return Ok(decision);
        }
        let mut changes = changes(&decision);
        for incident in decision.incidents.iter().filter(|i| i.is_active()) {
            let n = incident.reblocks.len();
            let Some(reblock) = incident.reblocks.last() else {
                continue;
            };
            for scope in &incident.scopes {
                let Some(issue) = self.store.issue_of(&incident.id, scope)? else {
                    continue;
                };
                changes.replies.push(PendingReply {
                    key: comment::reblock_marker(&incident.id, n),
                    repo: scope.repo.clone(),
                    number: issue,
                    body: comment::reblock_notice(incident, reblock, n),
                });
            }
        }
        self.store.apply_decision(&changes)?;
        Ok(decision)
    }
}

/// The notices a recorded finding posts where its command was written: a failed revert,
/// a rerun Gangway refused, a rerun's result.
pub fn finding_notices(
    incident: &crate::model::Incident,
    finding: &gate::Finding,
) -> Vec<PendingReply> {
    use gate::Finding;
    match finding {
        Finding::RevertFailed { repo, suspect, .. } => incident
            .reverts
            .iter()
            .filter(|r| &r.repo == repo && r.suspect == *suspect && r.error.is_some())
            .filter_map(|r| {
                Some(PendingReply {
                    key: comment::revert_failed_marker(&incident.id, r.suspect),
                    repo: r.repo.clone(),
                    number: r.requested_on?,
                    body: comment::revert_failed(incident, r),
                })
            })
            .collect(),
        Finding::RerunFailed { rerun, .. } | Finding::RerunFinished { rerun, .. } => incident
            .reruns
            .iter()
            .filter(|r| r.id == *rerun)
            .filter_map(|r| {
                let (kind, body) = if r.result.is_some() {
                    ("result", comment::rerun_result(incident, r))
                } else if r.error.is_some() {
                    ("failed", comment::rerun_failed(incident, r))
                } else {
                    return None;
                };
                Some(PendingReply {
                    key: comment::rerun_marker(&incident.id, r.id, kind),
                    repo: r.repo.clone(),
                    number: r.requested_on,
                    body,
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `command` acts on the incidents where it is said (so a PR's base branch
/// decides what it touches).
fn acts_on_incidents(command: &command::Command) -> bool {
    use command::Command;
    matches!(
        command,
        Command::Unblock { .. }
            | Command::UnblockFinal { .. }
            | Command::Exempt { .. }
            | Command::ExemptCancel
            | Command::Revert { .. }
            | Command::Culprit { .. }
            | Command::Rerun
    )
}

/// Whether `repo` is in a scope of a gated job (commands elsewhere are not ours).
pub fn is_gated_repo(policy: &Policy, repo: &RepoName) -> bool {
    policy
        .jobs
        .iter()
        .any(|j| j.scopes.iter().any(|s| &s.repo == repo))
}

/// The gate's input for a `pull_request` event; `own_login` is the plugin's.
pub fn pr_input(event: &PullRequestEvent, own_login: Option<&Login>) -> gate::PrInput {
    let change = match &event.action {
        PrAction::Opened => gate::PrChange::Opened,
        PrAction::Reopened => gate::PrChange::Reopened,
        PrAction::Synchronize => gate::PrChange::Synchronize,
        PrAction::Edited { base_changed: true } => gate::PrChange::BaseChanged,
        PrAction::Edited {
            base_changed: false,
        } => gate::PrChange::Other,
        PrAction::Labeled { label } => gate::PrChange::Labeled(label.clone()),
        PrAction::Unlabeled { label } => gate::PrChange::Unlabeled(label.clone()),
        PrAction::Closed { merged: true } => gate::PrChange::Merged {
            by: event.merged_by.clone(),
        },
        PrAction::Closed { merged: false } => gate::PrChange::Closed,
        PrAction::Other(_) => gate::PrChange::Other,
    };
    gate::PrInput {
        scope: Scope {
            repo: event.repo.clone(),
            branch: event.base_ref.clone(),
        },
        pr: event.number,
        labels: event.labels.clone(),
        change,
        sender: event.sender.clone(),
        sender_is_self: own_login
            .is_some_and(|me| me.as_str().eq_ignore_ascii_case(event.sender.as_str())),
    }
}

/// Whether a comment may carry a command, and whether it can carry any at all: shared
/// with the ingress, so they live beside the event types.
pub use crate::bus::event::{is_command_comment, may_carry_command};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CommitSha, PrNumber};

    fn pr_event(action: PrAction, sender: &str) -> PullRequestEvent {
        PullRequestEvent {
            action,
            repo: RepoName::new("o", "r"),
            number: PrNumber(5),
            base_ref: "main".into(),
            head_sha: CommitSha::new("abc"),
            title: "t".into(),
            author: Login::new("alice"),
            labels: vec!["lgtm".into()],
            merged_at: None,
            merge_commit_sha: None,
            merged_by: Some(Login::new("bob")),
            sender: Login::new(sender),
            sender_is_bot: false,
        }
    }

    #[test]
    fn pr_actions_map_onto_gate_changes() {
        let me = Login::new("Gate-Bot");
        let cases = [
            (PrAction::Opened, gate::PrChange::Opened),
            (
                PrAction::Edited { base_changed: true },
                gate::PrChange::BaseChanged,
            ),
            (
                PrAction::Edited {
                    base_changed: false,
                },
                gate::PrChange::Other,
            ),
            (
                PrAction::Closed { merged: true },
                gate::PrChange::Merged {
                    by: Some(Login::new("bob")),
                },
            ),
            (PrAction::Closed { merged: false }, gate::PrChange::Closed),
            (
                PrAction::Unlabeled { label: "x".into() },
                gate::PrChange::Unlabeled("x".into()),
            ),
        ];
        for (action, change) in cases {
            let input = pr_input(&pr_event(action, "carol"), Some(&me));
            assert_eq!(input.change, change);
            assert_eq!(input.scope.branch, "main");
            assert!(!input.sender_is_self);
        }
        let ours = pr_input(&pr_event(PrAction::Opened, "gate-bot"), Some(&me));
        assert!(ours.sender_is_self, "logins compare case-insensitively");
    }

    #[test]
    fn comments_by_us_bots_or_edits_are_not_commands() {
        let comment = |action, author: &str, bot| IssueComment {
            action,
            repo: RepoName::new("o", "r"),
            number: PrNumber(1),
            is_pr: true,
            issue_title: String::new(),
            issue_labels: vec![],
            author: Login::new(author),
            author_is_bot: bot,
            comment_id: 1,
            body: "/scalability-status".into(),
            html_url: String::new(),
        };
        let me = Login::new("gate-bot");
        assert!(is_command_comment(
            &comment(crate::bus::event::CommentAction::Created, "alice", false),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(crate::bus::event::CommentAction::Edited, "alice", false),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(crate::bus::event::CommentAction::Deleted, "alice", false),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(crate::bus::event::CommentAction::Created, "ci[bot]", true),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(crate::bus::event::CommentAction::Created, "Gate-Bot", false),
            Some(&me)
        ));
    }

    #[test]
    fn a_failed_revert_is_told_where_it_was_asked_and_other_findings_post_nothing() {
        use crate::model::{Cause, Incident, Revert};
        let repo = RepoName::new("o", "r");
        let mut incident = Incident::new(
            IncidentId::new("j-1"),
            JobName::new("j"),
            Timestamp(1),
            Cause::Manual {
                by: Login::new("alice"),
                reason: String::new(),
            },
            vec![],
        );
        incident.reverts.push(Revert {
            error: Some("merge conflict".into()),
            ..Revert::asked(
                repo.clone(),
                PrNumber(5),
                Login::new("alice"),
                Timestamp(2),
                Some(PrNumber(9)),
            )
        });
        let failed = gate::Finding::RevertFailed {
            incident: incident.id.clone(),
            repo: repo.clone(),
            suspect: PrNumber(5),
            error: "merge conflict".into(),
        };
        let notices = finding_notices(&incident, &failed);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].number, PrNumber(9));
        assert_eq!(
            notices[0].key,
            "<!-- scalability-gate:j-1:revert-failed/5 -->"
        );
        assert!(
            notices[0].body.contains("merge conflict"),
            "{}",
            notices[0].body
        );
        assert!(
            notices[0].body.starts_with("@alice:"),
            "{}",
            notices[0].body
        );
        let escalated = gate::Finding::Escalated {
            incident: incident.id.clone(),
            step: 1,
            at: Timestamp(3),
        };
        assert!(finding_notices(&incident, &escalated).is_empty());
    }
}
