//! Findings: facts the shell reports back about an incident (suspects, reverts,
//! escalations, reruns), recorded by the gate (the one writer of incidents) and audited.

use super::inputs::Finding;
use super::policy::AUTOMATIC_ACTOR;
use super::work::Work;

use crate::model::{
    AuditRecord, Breach, EscalationStep, Exemption, ExemptionKind, Incident, IncidentId, Login,
    Revert, Suspect, SuspectRange, Timestamp,
};

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
            | Finding::RerunFinished { incident, .. }
            | Finding::IssueOpened { incident, .. }
            | Finding::FailedTests { incident, .. }
            | Finding::Breach { incident, .. } => incident,
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
            Finding::IssueOpened { .. } => "finding: blocker issue opened",
            Finding::FailedTests { .. } => "finding: failed tests",
            Finding::Breach { .. } => "finding: breach",
        }
    }
}

impl Work<'_, '_> {
    /// Records a finding; nothing when the incident is unknown or already says so.
    pub(super) fn finding(&mut self, finding: &Finding) {
        let now = self.ctx.now;
        let id = finding.incident().clone();
        let Some(incident) = self.get_mut(&id) else {
            return;
        };
        let Some(outcome) = apply_finding(incident, finding, now) else {
            return;
        };
        self.touch(&id);
        if matches!(finding, Finding::IssueOpened { .. }) {
            // Bookkeeping for the gate's figures, not an action anyone took: not audited.
            return;
        }
        self.decision.audit.push(AuditRecord {
            at: now,
            who: AUTOMATIC_ACTOR.into(),
            command: finding.name().into(),
            target: id.to_string(),
            outcome,
            reason: String::new(),
        });
    }
}

/// Applies `finding` to `incident`: the audit outcome when it changed something.
fn apply_finding(incident: &mut Incident, finding: &Finding, now: Timestamp) -> Option<String> {
    match finding {
        Finding::FailedTests { failures, .. } => {
            if incident.failed_tests.as_ref() == Some(failures) {
                return None;
            }
            incident.failed_tests = Some(failures.clone());
            Some(if failures.files_read == 0 {
                format!(
                    "failed tests of run {}: unavailable ({})",
                    failures.build_id,
                    failures.notes.join("; ")
                )
            } else {
                format!(
                    "failed tests of run {}: {} failed in {} junit file(s)",
                    failures.build_id, failures.total, failures.files_read
                )
            })
        }
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
        Finding::Breach {
            scope,
            pr,
            merged_by,
            at,
            ..
        } => {
            let known = incident
                .breaches
                .iter()
                .any(|b| &b.scope == scope && b.pr == *pr);
            if known || incident.is_exempt(&scope.repo, *pr) || !incident.scopes.contains(scope) {
                return None;
            }
            incident.breaches.push(Breach {
                scope: scope.clone(),
                pr: *pr,
                merged_by: merged_by.clone(),
                at: *at,
            });
            Some(format!(
                "{}#{} merged into {} at {at} without an exemption (found by the resync)",
                scope.repo, pr.0, scope.branch
            ))
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
        Finding::IssueOpened { at, .. } => {
            if incident.issue_opened_at.is_some() {
                return None;
            }
            incident.issue_opened_at = Some(*at);
            Some(format!("blocker issue opened at {at}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::model::{
        EscalationStep, ExemptionKind, Incident, IncidentId, Login, PrNumber, RepoName, Revert,
        RunResult, SuspectRange, SuspectSearch, Timestamp,
    };

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
            (
                "a merge the resync found: a breach",
                Finding::Breach {
                    incident: id.clone(),
                    scope: master(),
                    pr: PrNumber(31),
                    merged_by: None,
                    at: Timestamp(950),
                },
                |i| {
                    i.breaches.len() == 1
                        && i.breaches[0].pr == PrNumber(31)
                        && i.breaches[0].at == Timestamp(950)
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
            // The revert PR (exempt) merged: no breach; nor a merge on another branch.
            Finding::Breach {
                incident: id.clone(),
                scope: master(),
                pr: PrNumber(500),
                merged_by: None,
                at: Timestamp(960),
            },
            Finding::Breach {
                incident: id.clone(),
                scope: crate::model::Scope {
                    repo: repo(),
                    branch: "release-1.34".into(),
                },
                pr: PrNumber(32),
                merged_by: None,
                at: Timestamp(960),
            },
        ] {
            assert!(decide(&state, &Input::Finding(late), &ctx(&p)).is_empty());
        }
    }

    #[test]
    fn the_first_blocker_issue_opening_is_kept() {
        let p = policy();
        let mut state = blocked(&p);
        let opened = |at: i64| {
            Input::Finding(Finding::IssueOpened {
                incident: IncidentId::new("ci-scale-100-101"),
                at: Timestamp(at),
            })
        };
        let d = step(&mut state, &opened(1200), &ctx(&p));
        assert_eq!(d.incidents[0].issue_opened_at, Some(Timestamp(1200)));
        assert!(
            d.audit.is_empty(),
            "bookkeeping, not audited: {:?}",
            d.audit
        );
        // Another scope's issue, or a replay, later: the first one stands.
        assert!(decide(&state, &opened(1300), &ctx(&p)).is_empty());
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
}
