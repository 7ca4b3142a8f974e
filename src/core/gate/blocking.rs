//! The commands that change who is blocked: `/scalability-unblock` lifts, `/scalability-block`
//! opens an incident by hand, `/scalability-exempt` exempts a PR.

use super::commands::CommentInput;
use super::lifecycle::{lift, manual_id};
use super::types::ReplyPart;
use super::work::{Work, join_ids};

use crate::model::{Cause, Exemption, ExemptionKind};

impl Work<'_, '_> {
    /// `/scalability-unblock`: lifts the active incidents where it is said.
    pub(super) fn unblock(&mut self, comment: &CommentInput, reason: &str) -> (ReplyPart, String) {
        let ids = self.targets(comment);
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
                lift(
                    incident,
                    comment.author.to_string(),
                    reason.to_string(),
                    now,
                );
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

    /// `/scalability-exempt`: on a PR, exempts it from the active incidents on its repo.
    pub(super) fn exempt(&mut self, comment: &CommentInput, reason: &str) -> (ReplyPart, String) {
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
