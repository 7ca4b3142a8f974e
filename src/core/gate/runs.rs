//! Runs: a job's regression opens (or is folded into) its incident; its recovery is
//! recorded and, when the job allows it, lifts the incident.

use super::lifecycle::{fold, reblock, regression_id, resolve};
use super::policy::AUTOMATIC_ACTOR;
use super::work::Work;

use crate::model::{Cause, JobName, Lift, ResolvedHow, RunRef};

impl Work<'_, '_> {
    /// Job `job` went green → red: opens its incident, or folds the run into the active one.
    pub(super) fn regression(&mut self, job: &JobName, first_red: &RunRef, last_green: &RunRef) {
        let Some(gated) = self.ctx.policy.job(job.as_str()) else {
            return;
        };
        let inferred = if gated.infer_scopes {
            crate::core::scopes::infer(&gated.scopes, &last_green.commits, &first_red.commits)
        } else {
            crate::core::scopes::Inferred {
                blocked: gated.scopes.clone(),
                left_open: Vec::new(),
            }
        };
        let id = regression_id(job, first_red);
        if self.incidents.iter().any(|i| i.id == id) {
            // Seen before (a repeated detection, or lifted already): nothing new.
            return;
        }
        if let Some(active) = self.active_for_job(job) {
            if !fold(active, first_red) {
                return;
            }
            let id = active.id.clone();
            self.touch(&id);
            return;
        }
        let cause = Cause::Regression {
            first_red: first_red.clone(),
            last_green: last_green.clone(),
        };
        self.open(id.clone(), job.clone(), cause, inferred.blocked);
        if let Some(opened) = self.get_mut(&id) {
            opened.scopes_left_open = inferred.left_open;
        }
    }

    /// Job `job` went red → green. On its active incident it is recorded, and resolves it
    /// (`auto-recovery`) when the job has `auto_unblock_on_recovery` and the incident was
    /// not opened by hand; a provisionally lifted incident is resolved
    /// (`green-after-lift`).
    pub(super) fn recovery(&mut self, job: &JobName, green: &RunRef) {
        let auto = self
            .ctx
            .policy
            .job(job.as_str())
            .is_some_and(|j| j.auto_unblock_on_recovery);
        let now = self.ctx.now;
        if let Some(lifted) = self.lifted_for_job(job) {
            lifted.recovered_by = Some(green.clone());
            resolve(lifted, ResolvedHow::GreenAfterLift, now);
            let id = lifted.id.clone();
            self.touch(&id);
        }
        let Some(active) = self.active_for_job(job) else {
            return;
        };
        if active.recovered_by.as_ref() == Some(green) {
            return;
        }
        active.recovered_by = Some(green.clone());
        let manual = matches!(active.cause, Cause::Manual { .. });
        if auto && !manual {
            let reason = format!("{} recovered: run {} is green", job, green.build_id);
            active.lifts.push(Lift {
                by: AUTOMATIC_ACTOR.into(),
                reason,
                at: now,
                final_lift: true,
            });
            resolve(active, ResolvedHow::AutoRecovery, now);
        }
        let id = active.id.clone();
        self.touch(&id);
    }

    /// A red run of `job`: re-blocks its provisionally lifted incident when the run
    /// started after the lift (DESIGN.md "Incident lifecycle").
    pub(super) fn red_run(&mut self, job: &JobName, run: &RunRef) {
        let now = self.ctx.now;
        let Some(lifted) = self.lifted_for_job(job) else {
            return;
        };
        if reblock(lifted, run, now) {
            let id = lifted.id.clone();
            self.touch(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::command::Command;
    use crate::model::{IncidentState, JobName, Timestamp};

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
    fn infer_scopes_blocks_only_the_changed_repo_and_records_the_rest() {
        use crate::model::{CommitSha, RepoName};
        let perf = RepoName::new("kubernetes", "perf-tests");
        let perf_master = crate::model::Scope {
            repo: perf.clone(),
            branch: "master".into(),
        };
        let with = |build: &str, k: &str, p: &str| {
            let mut r = run(build);
            r.commits.insert(master().repo, CommitSha::new(k));
            r.commits.insert(perf.clone(), CommitSha::new(p));
            r
        };
        let input = Input::Regression {
            job: JobName::new(JOB),
            first_red: with("101", "a2", "b1"),
            last_green: with("100", "a1", "b1"),
        };
        // (infer_scopes, blocked, left open)
        let cases = [
            (false, vec![master(), perf_master.clone()], vec![]),
            (true, vec![master()], vec![perf_master.clone()]),
        ];
        for (infer, blocked, open) in cases {
            let mut p = policy();
            p.jobs[0].scopes.push(perf_master.clone());
            p.jobs[0].infer_scopes = infer;
            let d = decide(&State::default(), &input, &ctx(&p));
            assert_eq!(d.incidents.len(), 1, "infer {infer}");
            assert_eq!(d.incidents[0].scopes, blocked, "infer {infer}");
            assert_eq!(d.incidents[0].scopes_left_open, open, "infer {infer}");
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
}
