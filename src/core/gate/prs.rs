//! Pull requests on a blocked scope: a PR that becomes one the label mode selects is
//! labelled now, our label removed by someone else is put back (and audited), and a merge
//! by a non-exempt PR is recorded as a breach.

use super::inputs::{PrChange, PrInput};
use super::policy::LabelMode;
use super::types::Intent;
use super::work::{Work, join_ids};

use crate::model::{AuditRecord, Breach};

impl Work<'_, '_> {
    /// A `pull_request` event: acts only when the PR is blocked (see [`Work::blocking`]).
    pub(super) fn pull_request(&mut self, input: &PrInput) {
        if input.sender_is_self {
            return;
        }
        let policy = self.ctx.policy;
        let blocking = self.blocking(input);
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

    /// Whether the label mode selects this PR, judged on its labels after the event.
    pub(super) fn selects(&self, input: &PrInput) -> bool {
        match self.ctx.policy.label_mode {
            LabelMode::All => true,
            LabelMode::Ready => self.ctx.policy.is_ready(&input.scope, &input.labels),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::tide::ReadyRule;
    use crate::model::{Exemption, ExemptionKind, Login, PrNumber, Timestamp};

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
}
