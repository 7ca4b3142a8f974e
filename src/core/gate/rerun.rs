//! `/scalability-rerun`: the job of each incident where it is said is re-run through
//! Gangway, once at a time per incident (the rerun executor reports back findings).

use super::inputs::CommentInput;
use super::policy::RERUN_PENDING_FOR;
use super::types::{Intent, ReplyPart};
use super::work::{Work, join_ids};

impl Work<'_, '_> {
    /// `/scalability-rerun`: records a rerun on each incident where it is said, unless one
    /// still waits for its result.
    pub(super) fn rerun(&mut self, comment: &CommentInput) -> (ReplyPart, String) {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::command::Command;
    use crate::model::{IncidentId, JobName, PrNumber, Timestamp};

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
