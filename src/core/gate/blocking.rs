//! The commands that change who is blocked: `/scalability-unblock` lifts, `/scalability-block`
//! opens an incident by hand, `/scalability-exempt` exempts a PR.

use super::inputs::CommentInput;
use super::lifecycle::{lift, manual_id};
use super::targets::Place;
use super::types::ReplyPart;
use super::work::{Work, join_ids};

use crate::model::{Cause, Exemption, ExemptionKind, IncidentState};

impl Work<'_, '_> {
    /// What a command that acts on incidents gets where it finds none: the reply part
    /// that says why (not here, base unknown, or `nothing`).
    fn nowhere(
        &self,
        comment: &CommentInput,
        command: &str,
        nothing: ReplyPart,
    ) -> (ReplyPart, String) {
        match self.place(comment) {
            Place::Elsewhere => (
                ReplyPart::NotHere {
                    command: command.to_string(),
                },
                "nothing: not a pull request or blocker issue".into(),
            ),
            Place::UnknownBase => (
                ReplyPart::BaseUnknown {
                    command: command.to_string(),
                },
                "nothing: the pull request's base branch is unknown".into(),
            ),
            _ => {
                let outcome = match &nothing {
                    ReplyPart::NothingToExempt { .. } => "nothing to exempt from",
                    _ => "nothing to unblock",
                };
                (nothing, outcome.into())
            }
        }
    }

    /// `/scalability-unblock [--final]`: lifts the incidents where it is said. A lift
    /// while the job is red is provisional; `--final`, or a job already green, resolves.
    /// `--final` also resolves an incident lifted provisionally before.
    pub(super) fn unblock(
        &mut self,
        comment: &CommentInput,
        reason: &str,
        final_lift: bool,
    ) -> (ReplyPart, String) {
        let place = self.place(comment);
        let ids = self.incidents_at(&place, |i| {
            i.is_active() || (final_lift && matches!(i.state, IncidentState::Lifted { .. }))
        });
        if ids.is_empty() {
            let nothing = ReplyPart::NothingToUnblock {
                repo: comment.repo.clone(),
            };
            return self.nowhere(comment, "/scalability-unblock", nothing);
        }
        let now = self.ctx.now;
        let mut provisional = Vec::new();
        for id in &ids {
            if let Some(incident) = self.get_mut(id) {
                if lift(
                    incident,
                    comment.author.to_string(),
                    reason.to_string(),
                    now,
                    final_lift,
                ) {
                    provisional.push(id.clone());
                }
            }
            self.touch(id);
        }
        // The audit says what was lifted; whether it was provisional is on the incident.
        let outcome = format!("lifted {}", join_ids(&ids));
        let part = if provisional.is_empty() {
            ReplyPart::Resolved {
                ids,
                reason: reason.to_string(),
            }
        } else {
            ReplyPart::Unblocked {
                ids,
                reason: reason.to_string(),
            }
        };
        (part, outcome)
    }

    /// `/scalability-block <job>`: opens an incident of `job` by hand, unless one is active.
    pub(super) fn block(
        &mut self,
        comment: &CommentInput,
        job: &str,
        reason: &str,
    ) -> (ReplyPart, String) {
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
        let cause = Cause::Manual {
            by: comment.author.clone(),
            reason: reason.to_string(),
        };
        self.open(id.clone(), job.clone(), cause, scopes.clone());
        let outcome = format!("opened {id}");
        (ReplyPart::Blocked { id, job, scopes }, outcome)
    }

    /// `/scalability-exempt`: on a PR, exempts it from the active incidents of its scope.
    pub(super) fn exempt(&mut self, comment: &CommentInput, reason: &str) -> (ReplyPart, String) {
        if !comment.is_pr {
            return (
                ReplyPart::ExemptNeedsPr,
                "refused: not a pull request".into(),
            );
        }
        let ids = self.targets(comment);
        if ids.is_empty() {
            let nothing = ReplyPart::NothingToExempt {
                repo: comment.repo.clone(),
            };
            return self.nowhere(comment, "/scalability-exempt", nothing);
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

    /// `/scalability-exempt cancel`: on a PR, withdraws its exemptions from the open
    /// incidents of its scope (the reconciler labels it again while one is active).
    pub(super) fn exempt_cancel(&mut self, comment: &CommentInput) -> (ReplyPart, String) {
        if !comment.is_pr {
            return (
                ReplyPart::ExemptNeedsPr,
                "refused: not a pull request".into(),
            );
        }
        let place = self.place(comment);
        if matches!(place, Place::UnknownBase) {
            return self.nowhere(
                comment,
                "/scalability-exempt cancel",
                ReplyPart::ExemptNeedsPr,
            );
        }
        let (repo, pr) = (comment.repo.clone(), comment.number);
        let ids = self.incidents_at(&place, |i| i.is_open() && i.is_exempt(&repo, pr));
        if ids.is_empty() {
            return (ReplyPart::NotExempt { pr }, "nothing: not exempt".into());
        }
        for id in &ids {
            if let Some(incident) = self.get_mut(id) {
                incident
                    .exemptions
                    .retain(|e| !(e.repo == repo && e.pr == pr));
            }
            self.touch(id);
        }
        let outcome = format!("exemption withdrawn from {}", join_ids(&ids));
        (ReplyPart::ExemptionCancelled { pr, ids }, outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::command::Command;
    use crate::model::{Cause, IncidentId, IncidentState, Login, PrNumber, Timestamp};

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
}
