//! `/scalability-revert #N`: a suspect of the incidents where it is said is recorded to be
//! reverted (the reconciler opens the revert PR and reports back a finding).

use super::inputs::CommentInput;
use super::types::ReplyPart;
use super::work::{Work, join_ids};

use crate::model::{PrNumber, Revert};

impl Work<'_, '_> {
    /// `/scalability-revert #N`: records the revert of suspect `pr` on the incidents
    /// where it is said that hold it.
    pub(super) fn revert(&mut self, comment: &CommentInput, pr: PrNumber) -> (ReplyPart, String) {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::command::Command;
    use crate::model::{IncidentId, PrNumber};

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
}
