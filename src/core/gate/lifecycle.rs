//! The incident lifecycle: the ids incidents open under and the transitions of an
//! incident (open, fold a later red run into it, lift it). Runs and commands change an
//! incident's [`IncidentState`] only through these; what they record on it besides
//! (recoveries, exemptions, reverts, reruns, breaches) they write in place.

use super::work::Work;

use crate::model::{
    Cause, Incident, IncidentId, IncidentState, JobName, Lift, Reblock, ResolvedHow, RunRef, Scope,
    Timestamp,
};

/// The id of the incident a regression opens: deterministic, so a repeated detection
/// never opens a second one.
pub fn regression_id(job: &JobName, first_red: &RunRef) -> IncidentId {
    IncidentId(format!("{}-{}", job, first_red.build_id))
}

/// The id of an incident opened by hand from comment `comment_id`.
pub fn manual_id(job: &JobName, comment_id: u64) -> IncidentId {
    IncidentId(format!("{job}-manual-{comment_id}"))
}

impl Work<'_, '_> {
    /// Opens incident `id` of `job`, active from now over `scopes`.
    pub(super) fn open(&mut self, id: IncidentId, job: JobName, cause: Cause, scopes: Vec<Scope>) {
        self.incidents
            .push(Incident::new(id.clone(), job, self.ctx.now, cause, scopes));
        self.touch(&id);
    }
}

/// Folds red run `first_red` into the active incident: false when the incident already
/// holds it (as its cause or as a folded run).
pub(super) fn fold(active: &mut Incident, first_red: &RunRef) -> bool {
    let already = active
        .folded_runs
        .iter()
        .any(|r| r.build_id == first_red.build_id)
        || matches!(&active.cause, Cause::Regression { first_red: f, .. } if f.build_id == first_red.build_id);
    if already {
        return false;
    }
    active.folded_runs.push(first_red.clone());
    // Red again after a recovery: the job is red now.
    active.recovered_by = None;
    true
}

/// Lifts the incident: it no longer blocks, and says who lifted it, why and when (kept in
/// its lift history). Provisional (`lifted`) while the job is still red — no green run
/// recorded since it went red — unless `final_lift`; resolved (`final`) otherwise.
/// Returns true when the lift is provisional.
pub(super) fn lift(
    incident: &mut Incident,
    by: String,
    reason: String,
    at: Timestamp,
    final_lift: bool,
) -> bool {
    let provisional = !final_lift && incident.recovered_by.is_none();
    incident.lifts.push(Lift {
        by: by.clone(),
        reason: reason.clone(),
        at,
        final_lift: !provisional,
    });
    incident.state = if provisional {
        IncidentState::Lifted { by, reason, at }
    } else {
        IncidentState::Resolved {
            how: ResolvedHow::Final,
            at,
        }
    };
    provisional
}

/// Resolves the incident (`how`) at `at`: it never blocks again.
pub(super) fn resolve(incident: &mut Incident, how: ResolvedHow, at: Timestamp) {
    incident.state = IncidentState::Resolved { how, at };
}

/// Re-blocks a provisionally lifted incident on red run `run` when the run started after
/// the lift; a run already in flight at the lift (or of unknown start) never does.
/// Returns true when it re-blocked.
pub(super) fn reblock(incident: &mut Incident, run: &RunRef, at: Timestamp) -> bool {
    let IncidentState::Lifted {
        by, at: lifted_at, ..
    } = &incident.state
    else {
        return false;
    };
    let Some(started) = run.started_at else {
        return false;
    };
    if started <= *lifted_at {
        return false;
    }
    incident.reblocks.push(Reblock {
        run: run.clone(),
        lift_by: by.clone(),
        lift_at: *lifted_at,
        at,
    });
    incident.state = IncidentState::Active;
    true
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::command::Command;
    use crate::model::{IncidentState, JobName, PrNumber, ResolvedHow, RunRef, Timestamp};

    fn started(build: &str, at: i64) -> RunRef {
        RunRef {
            started_at: Some(Timestamp(at)),
            ..run(build)
        }
    }

    fn red(build: &str, at: i64) -> Input {
        Input::RedRun {
            job: JobName::new(JOB),
            run: started(build, at),
        }
    }

    fn unblock(final_lift: bool) -> Input {
        let command = if final_lift {
            Command::UnblockFinal {
                reason: "fixed".into(),
            }
        } else {
            Command::Unblock {
                reason: "fixed".into(),
            }
        };
        Input::Comment(comment("alice", true, vec![command]))
    }

    /// (what, steps after the block, state afterwards, re-blocks)
    #[test]
    fn lifecycle_table() {
        let p = policy();
        let green = Input::Recovery {
            job: JobName::new(JOB),
            green: started("300", 2_000),
        };
        let cases: Vec<(&str, Vec<Input>, &str, usize)> = vec![
            (
                "lift while red is provisional",
                vec![unblock(false)],
                "lifted",
                0,
            ),
            ("--final resolves at once", vec![unblock(true)], "final", 0),
            (
                "a red run in flight at the lift never re-blocks",
                vec![unblock(false), red("200", 999)],
                "lifted",
                0,
            ),
            (
                "a red run of unknown start never re-blocks",
                vec![
                    unblock(false),
                    Input::RedRun {
                        job: JobName::new(JOB),
                        run: run("201"),
                    },
                ],
                "lifted",
                0,
            ),
            (
                "the first red run started after the lift re-blocks",
                vec![unblock(false), red("200", 1_001)],
                "active",
                1,
            ),
            (
                "a second red run changes nothing more",
                vec![unblock(false), red("200", 1_001), red("201", 1_002)],
                "active",
                1,
            ),
            (
                "--final never re-blocks",
                vec![unblock(true), red("200", 1_001)],
                "final",
                0,
            ),
            (
                "green after a lift resolves",
                vec![unblock(false), green.clone()],
                "green-after-lift",
                0,
            ),
            (
                "lift, re-block, lift, green",
                vec![
                    unblock(false),
                    red("200", 1_001),
                    unblock(false),
                    green.clone(),
                ],
                "green-after-lift",
                1,
            ),
            (
                "unblock after the job went green resolves",
                vec![green.clone(), unblock(false)],
                "final",
                0,
            ),
            (
                "--final on a provisional lift resolves it",
                vec![unblock(false), unblock(true), red("200", 1_001)],
                "final",
                0,
            ),
        ];
        for (what, steps, want, reblocks) in cases {
            let mut state = blocked(&p);
            for input in &steps {
                step(&mut state, input, &ctx(&p));
            }
            let i = &state.incidents[0];
            let got = match &i.state {
                IncidentState::Active => "active",
                IncidentState::Lifted { .. } => "lifted",
                IncidentState::Resolved { how, .. } => how.as_str(),
            };
            assert_eq!(got, want, "{what}");
            assert_eq!(i.reblocks.len(), reblocks, "{what}");
        }
    }

    #[test]
    fn a_reblock_names_the_run_and_the_lift_it_follows() {
        let p = policy();
        let mut state = blocked(&p);
        step(&mut state, &unblock(false), &ctx(&p));
        let d = step(&mut state, &red("200", 1_001), &ctx(&p));
        assert_eq!(d.intents, vec![Intent::Reconcile]);
        let i = &state.incidents[0];
        assert!(i.is_active());
        assert_eq!(i.reblocks[0].run.build_id.as_str(), "200");
        assert_eq!(i.reblocks[0].lift_by, "alice");
        assert_eq!(i.reblocks[0].lift_at, Timestamp(1_000));
        assert_eq!(i.lifts.len(), 1);
        assert!(!i.lifts[0].final_lift);
    }

    #[test]
    fn auto_recovery_resolves_but_never_a_manual_block() {
        let p = policy();
        let mut state = State::default();
        step(&mut state, &regression(AUTO_JOB, "7"), &ctx(&p));
        let green = Input::Recovery {
            job: JobName::new(AUTO_JOB),
            green: run("9"),
        };
        step(&mut state, &green, &ctx(&p));
        assert_eq!(
            state.incidents[0].resolved_how(),
            Some(ResolvedHow::AutoRecovery)
        );
        let mut state = State::default();
        let block = Command::Block {
            job: AUTO_JOB.into(),
            reason: String::new(),
        };
        step(
            &mut state,
            &Input::Comment(comment("alice", true, vec![block])),
            &ctx(&p),
        );
        step(&mut state, &green, &ctx(&p));
        assert!(state.incidents[0].is_active(), "manual: never auto-lifted");
    }

    /// Where a command is said decides what it touches.
    #[test]
    fn targets_table() {
        let mut p = policy();
        // Two jobs: one on master, one on a release branch, of the same repo.
        p.jobs[1].scopes = vec![crate::model::Scope {
            repo: repo(),
            branch: "release-1.30".into(),
        }];
        let mut state = blocked(&p);
        step(&mut state, &regression(AUTO_JOB, "7"), &ctx(&p));
        let master_id = crate::model::IncidentId::new("ci-scale-100-101");
        let release_id = crate::model::IncidentId::new("ci-scale-auto-7");
        // (what, base, is_pr, issue incident, incidents lifted)
        type Case<'a> = (
            &'a str,
            PrBase,
            bool,
            Option<&'a crate::model::IncidentId>,
            Vec<&'a str>,
        );
        let cases: Vec<Case<'_>> = vec![
            (
                "master PR",
                PrBase::Branch("master".into()),
                true,
                None,
                vec![master_id.as_str()],
            ),
            (
                "release PR",
                PrBase::Branch("release-1.30".into()),
                true,
                None,
                vec![release_id.as_str()],
            ),
            (
                "unblocked branch",
                PrBase::Branch("dev".into()),
                true,
                None,
                vec![],
            ),
            ("base unknown", PrBase::Unknown, true, None, vec![]),
            ("plain issue", PrBase::Unknown, false, None, vec![]),
            (
                "blocker issue",
                PrBase::Unknown,
                false,
                Some(&release_id),
                vec![release_id.as_str()],
            ),
            (
                "API: whole repo",
                PrBase::AnyBranch,
                true,
                None,
                vec![master_id.as_str(), release_id.as_str()],
            ),
        ];
        for (what, base, is_pr, issue, want) in cases {
            let mut c = comment(
                "alice",
                true,
                vec![Command::Unblock {
                    reason: String::new(),
                }],
            );
            c.base = base;
            c.is_pr = is_pr;
            let ctx = Ctx {
                issue_incident: issue,
                ..ctx(&p)
            };
            let d = decide(&state, &Input::Comment(c), &ctx);
            let mut lifted: Vec<&str> = d.incidents.iter().map(|i| i.id.as_str()).collect();
            lifted.sort();
            assert_eq!(lifted, want, "{what}");
            let part = &d.replies[0].parts[0];
            match what {
                "plain issue" => assert!(matches!(part, ReplyPart::NotHere { .. }), "{what}"),
                "base unknown" => assert!(matches!(part, ReplyPart::BaseUnknown { .. }), "{what}"),
                "unblocked branch" => {
                    assert!(matches!(part, ReplyPart::NothingToUnblock { .. }), "{what}")
                }
                _ => {}
            }
        }
    }

    #[test]
    fn exempt_and_cancel_on_one_branch() {
        let p = policy();
        let mut state = blocked(&p);
        let exempt = Input::Comment(comment(
            "alice",
            true,
            vec![Command::Exempt {
                reason: "fix".into(),
            }],
        ));
        let cancel = Input::Comment(comment("alice", true, vec![Command::ExemptCancel]));
        let d = decide(&state, &cancel, &ctx(&p));
        assert!(d.incidents.is_empty());
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::NotExempt { pr: PrNumber(42) }]
        );
        step(&mut state, &exempt, &ctx(&p));
        assert!(state.incidents[0].is_exempt(&repo(), PrNumber(42)));
        let d = step(&mut state, &cancel, &ctx(&p));
        assert_eq!(
            d.audit[0].outcome,
            "exemption withdrawn from ci-scale-100-101"
        );
        assert!(!state.incidents[0].is_exempt(&repo(), PrNumber(42)));
        let mut elsewhere = comment(
            "alice",
            true,
            vec![Command::Exempt {
                reason: String::new(),
            }],
        );
        elsewhere.base = PrBase::Branch("release-1.30".into());
        let d = decide(&state, &Input::Comment(elsewhere), &ctx(&p));
        assert!(d.incidents.is_empty(), "no incident on that branch");
    }
}
