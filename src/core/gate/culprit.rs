//! `/scalability-culprit #N <mitigation> [note]`: the culprit an approver names, recorded
//! on the incidents where it is said (a blocker issue: its incident, whatever its state;
//! a PR: the open incidents of its repo and base branch). A later one replaces it; the
//! one it replaces is kept in the incident's history. A PR outside the suspects is
//! recorded too, and the reply says so.

use super::inputs::CommentInput;
use super::targets::Place;
use super::types::ReplyPart;
use super::work::{Work, join_ids};

use crate::model::{Culprit, IncidentId, Mitigation, PrNumber};

impl Work<'_, '_> {
    /// Records `pr` as the culprit, mitigated by `mitigation`, on the incidents where the
    /// comment was said.
    pub(super) fn culprit(
        &mut self,
        comment: &CommentInput,
        pr: PrNumber,
        mitigation: Mitigation,
        note: &str,
    ) -> (ReplyPart, String) {
        let place = self.place(comment);
        let on_issue = matches!(place, Place::Issue(_));
        let ids = self.incidents_at(&place, |i| on_issue || i.is_open());
        if ids.is_empty() {
            let command = "/scalability-culprit".to_string();
            return match place {
                Place::Elsewhere => (
                    ReplyPart::NotHere { command },
                    "nothing: not a pull request or blocker issue".into(),
                ),
                Place::UnknownBase => (
                    ReplyPart::BaseUnknown { command },
                    "nothing: the pull request's base branch is unknown".into(),
                ),
                _ => (
                    ReplyPart::NoIncident {
                        command,
                        repo: comment.repo.clone(),
                    },
                    "nothing: no open incident".into(),
                ),
            };
        }
        let note = (!note.is_empty()).then(|| note.to_string());
        let now = self.ctx.now;
        let mut not_suspect: Vec<IncidentId> = Vec::new();
        for id in &ids {
            let Some(incident) = self.get_mut(id) else {
                continue;
            };
            let suspect = incident
                .suspects
                .iter()
                .any(|s| s.repo == comment.repo && s.pr == pr);
            if !suspect {
                not_suspect.push(id.clone());
            }
            let same = incident.culprit.as_ref().is_some_and(|c| {
                c.pr == pr && c.repo == comment.repo && c.mitigation == mitigation && c.note == note
            });
            if same {
                continue; // said again (or the comment delivered twice): nothing new
            }
            let recorded = Culprit {
                pr,
                mitigation,
                note: note.clone(),
                repo: comment.repo.clone(),
                by: comment.author.clone(),
                at: now,
                suspect,
            };
            if let Some(previous) = incident.culprit.replace(recorded) {
                incident.culprit_history.push(previous);
            }
            self.touch(id);
        }
        let mut outcome = format!(
            "culprit {}#{} ({}) on {}",
            comment.repo,
            pr.0,
            mitigation.as_str(),
            join_ids(&ids)
        );
        if !not_suspect.is_empty() {
            outcome.push_str(&format!(
                "; not among the suspects of {}",
                join_ids(&not_suspect)
            ));
        }
        (
            ReplyPart::CulpritRecorded {
                pr,
                mitigation,
                ids,
                not_suspect,
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
    use crate::model::{IncidentId, Mitigation, PrNumber};

    fn culprit(author: &str, approver: bool, pr: u64, m: Mitigation, note: &str) -> Input {
        Input::Comment(comment(
            author,
            approver,
            vec![Command::Culprit {
                pr,
                mitigation: m,
                note: note.into(),
            }],
        ))
    }

    #[test]
    fn an_approver_records_a_culprit_and_a_later_one_replaces_it() {
        let p = policy();
        let mut state = blocked(&p);
        state.incidents[0].suspects = vec![suspect(1), suspect(2)];
        let id = IncidentId::new("ci-scale-100-101");
        let d = step(
            &mut state,
            &culprit("alice", true, 2, Mitigation::Revert, "reverted in #9"),
            &ctx(&p),
        );
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::CulpritRecorded {
                pr: PrNumber(2),
                mitigation: Mitigation::Revert,
                ids: vec![id.clone()],
                not_suspect: vec![],
            }]
        );
        assert_eq!(
            d.audit[0].outcome,
            "culprit kubernetes/kubernetes#2 (revert) on ci-scale-100-101"
        );
        assert_eq!(d.audit[0].reason, "reverted in #9");
        assert_eq!(d.intents, vec![Intent::Reconcile]);
        let c = state.incidents[0].culprit.clone().unwrap();
        assert_eq!(
            (
                c.pr,
                c.mitigation,
                c.note.as_deref(),
                c.by.as_str(),
                c.suspect
            ),
            (
                PrNumber(2),
                Mitigation::Revert,
                Some("reverted in #9"),
                "alice",
                true
            )
        );
        // The same again changes nothing; another replaces it, the first kept.
        let again = step(
            &mut state,
            &culprit("alice", true, 2, Mitigation::Revert, "reverted in #9"),
            &ctx(&p),
        );
        assert!(again.incidents.is_empty());
        let d = step(
            &mut state,
            &culprit("alice", true, 77, Mitigation::Flake, ""),
            &ctx(&p),
        );
        assert_eq!(
            d.replies[0].parts[0],
            ReplyPart::CulpritRecorded {
                pr: PrNumber(77),
                mitigation: Mitigation::Flake,
                ids: vec![id.clone()],
                not_suspect: vec![id],
            }
        );
        assert!(
            d.audit[0]
                .outcome
                .ends_with("not among the suspects of ci-scale-100-101")
        );
        let i = &state.incidents[0];
        assert_eq!(i.culprit.as_ref().unwrap().pr, PrNumber(77));
        assert!(!i.culprit.as_ref().unwrap().suspect);
        assert_eq!(i.culprit.as_ref().unwrap().note, None);
        assert_eq!(i.culprit_history.len(), 1);
        assert_eq!(i.culprit_history[0].pr, PrNumber(2));
    }

    #[test]
    fn a_stranger_is_refused_and_nowhere_is_said() {
        let p = policy();
        let state = blocked(&p);
        let d = decide(
            &state,
            &culprit("mallory", false, 2, Mitigation::Fix, ""),
            &ctx(&p),
        );
        assert!(d.incidents.is_empty());
        assert!(matches!(
            d.replies[0].parts[0],
            ReplyPart::Unauthorised { .. }
        ));
        assert_eq!(d.audit[0].outcome, "refused: not an approver");
        // On a plain issue that is no blocker issue: nothing, and said so.
        let mut c = comment(
            "alice",
            true,
            vec![Command::Culprit {
                pr: 2,
                mitigation: Mitigation::Fix,
                note: String::new(),
            }],
        );
        c.is_pr = false;
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert!(matches!(d.replies[0].parts[0], ReplyPart::NotHere { .. }));
    }

    /// On its blocker issue, a resolved incident still takes its culprit.
    #[test]
    fn on_the_blocker_issue_of_a_resolved_incident_it_is_recorded() {
        let p = policy();
        let mut state = blocked(&p);
        state.incidents[0].state = crate::model::IncidentState::Resolved {
            how: crate::model::ResolvedHow::Final,
            at: crate::model::Timestamp(900),
        };
        let id = state.incidents[0].id.clone();
        let mut c = comment(
            "alice",
            true,
            vec![Command::Culprit {
                pr: 5,
                mitigation: Mitigation::FeatureOff,
                note: String::new(),
            }],
        );
        c.is_pr = false;
        let mut context = ctx(&p);
        context.issue_incident = Some(&id);
        let d = decide(&state, &Input::Comment(c.clone()), &context);
        assert_eq!(d.incidents.len(), 1);
        assert_eq!(
            d.incidents[0].culprit.as_ref().unwrap().mitigation,
            Mitigation::FeatureOff
        );
        // On a PR, a resolved incident is not open: nothing.
        c.is_pr = true;
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
    }
}
