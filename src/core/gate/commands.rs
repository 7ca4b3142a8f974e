//! Commands: one new comment's command lines, the permission check first (one deny path,
//! one reply per comment), each authorised request handed to its decision, and every
//! outcome audited.

use super::super::command::{Command, Who};
use super::inputs::{Approval, CommentFacts, CommentInput};
use super::types::{Reply, ReplyPart};
use super::work::Work;

use crate::model::{AuditRecord, PrNumber};

/// Command lines read from one comment; the rest are ignored (and said so), so one
/// comment cannot fill the audit log or make a reply longer than GitHub takes.
pub const MAX_COMMANDS_PER_COMMENT: usize = 10;

/// Whether a comment with these facts may carry commands. The shell checks this before it
/// resolves approvers (which may cost a GitHub request).
pub fn is_command_comment(facts: CommentFacts) -> bool {
    facts.is_new && !facts.author_is_bot && !facts.author_is_self
}

/// The command as typed (`/scalability-unblock`), for replies and the audit log.
fn typed(command: &Command) -> String {
    format!("/{}", command.name())
}

/// The reason a command gives, if it takes one.
fn reason_of(command: &Command) -> &str {
    match command {
        Command::Unblock { reason }
        | Command::UnblockFinal { reason }
        | Command::Block { reason, .. }
        | Command::Exempt { reason }
        | Command::Culprit { note: reason, .. } => reason,
        _ => "",
    }
}

impl Work<'_, '_> {
    /// One new comment: each command line (at most [`MAX_COMMANDS_PER_COMMENT`]) decided,
    /// refused or answered as malformed, and one reply for all of them.
    pub(super) fn comment(&mut self, comment: &CommentInput) {
        let target = format!("{}#{}", comment.repo, comment.number.0);
        let mut parts = Vec::new();
        let mut refused = false;
        for command in comment.commands.iter().take(MAX_COMMANDS_PER_COMMENT) {
            let request = match command {
                Ok(request) => request,
                Err(error) => {
                    self.audit(
                        comment,
                        "malformed command",
                        &target,
                        "refused: malformed",
                        "",
                    );
                    parts.push(ReplyPart::Malformed {
                        message: error.to_string(),
                    });
                    continue;
                }
            };
            // Permission first, one deny path.
            if request.who() == Who::Approvers && comment.approval != Approval::Approver {
                let unknown = comment.approval == Approval::Unknown;
                self.audit(
                    comment,
                    &typed(request),
                    &target,
                    if unknown {
                        "refused: approver check failed"
                    } else {
                        "refused: not an approver"
                    },
                    reason_of(request),
                );
                if !refused {
                    refused = true;
                    let approvers = &self.ctx.policy.approvers;
                    parts.push(if unknown {
                        ReplyPart::ApproverUnknown {
                            command: typed(request),
                            teams: approvers.teams.clone(),
                        }
                    } else {
                        ReplyPart::Unauthorised {
                            command: typed(request),
                            users: approvers.users.clone(),
                            teams: approvers.teams.clone(),
                        }
                    });
                }
                continue;
            }
            let (part, outcome) = self.request(comment, request);
            self.audit(
                comment,
                &typed(request),
                &target,
                &outcome,
                reason_of(request),
            );
            parts.push(part);
        }
        if comment.commands.len() > MAX_COMMANDS_PER_COMMENT {
            let ignored = comment.commands.len() - MAX_COMMANDS_PER_COMMENT;
            self.audit(
                comment,
                "more commands",
                &target,
                &format!("ignored: {ignored} command(s) past the first {MAX_COMMANDS_PER_COMMENT}"),
                "",
            );
            parts.push(ReplyPart::TooManyCommands {
                read: MAX_COMMANDS_PER_COMMENT,
                ignored,
            });
        }
        if !parts.is_empty() {
            self.decision.replies.push(Reply {
                repo: comment.repo.clone(),
                number: comment.number,
                in_reply_to: comment.comment_id,
                author: comment.author.clone(),
                parts,
            });
        }
    }

    /// Audits one command of the comment as its author.
    fn audit(
        &mut self,
        comment: &CommentInput,
        command: &str,
        target: &str,
        outcome: &str,
        reason: &str,
    ) {
        self.decision.audit.push(AuditRecord {
            at: self.ctx.now,
            who: comment.author.to_string(),
            command: command.to_string(),
            target: target.to_string(),
            outcome: outcome.to_string(),
            reason: reason.to_string(),
        });
    }

    /// Carries out one authorised request: the reply part and the audit outcome.
    fn request(&mut self, comment: &CommentInput, request: &Command) -> (ReplyPart, String) {
        match request {
            Command::Unblock { reason } => self.unblock(comment, reason, false),
            Command::UnblockFinal { reason } => self.unblock(comment, reason, true),
            Command::ExemptCancel => self.exempt_cancel(comment),
            Command::Block { job, reason } => self.block(comment, job, reason),
            Command::Exempt { reason } => self.exempt(comment, reason),
            Command::Status => {
                let incidents = self.status_of(&comment.repo);
                let active = incidents.iter().filter(|i| i.is_active()).count();
                let outcome = format!("status: {active} active incident(s)");
                (
                    ReplyPart::Status {
                        repo: comment.repo.clone(),
                        incidents,
                    },
                    outcome,
                )
            }
            Command::Revert { pr } => self.revert(comment, PrNumber(*pr)),
            Command::Rerun => self.rerun(comment),
            Command::Culprit {
                pr,
                mitigation,
                note,
            } => self.culprit(comment, PrNumber(*pr), *mitigation, note),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::core::command::{Command, CommandError};

    #[test]
    fn unauthorised_gets_one_reply_naming_who_may_and_changes_nothing() {
        let p = policy();
        let state = blocked(&p);
        let c = comment(
            "mallory",
            false,
            vec![
                Command::Unblock {
                    reason: "please".into(),
                },
                Command::Exempt {
                    reason: String::new(),
                },
            ],
        );
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
        assert!(d.intents.is_empty());
        assert_eq!(d.replies.len(), 1);
        assert_eq!(
            d.replies[0].parts,
            vec![ReplyPart::Unauthorised {
                command: "/scalability-unblock".into(),
                users: vec!["alice".into()],
                teams: vec!["kubernetes/sig-scalability-leads".into()],
            }]
        );
        assert_eq!(d.audit.len(), 2);
        assert!(
            d.audit
                .iter()
                .all(|a| a.outcome == "refused: not an approver" && a.who == "mallory")
        );
        assert_eq!(d.audit[0].reason, "please");
        assert_eq!(d.audit[0].target, "kubernetes/kubernetes#42");
    }

    /// GitHub did not say whether the author is in an approver team: refused as such, not
    /// as "not an approver", and nothing changes; `/scalability-status` still answers.
    #[test]
    fn an_unknown_approver_is_refused_saying_why_and_changes_nothing() {
        let p = policy();
        let state = blocked(&p);
        let mut c = comment(
            "wojtek-t",
            false,
            vec![
                Command::Unblock {
                    reason: "fixed".into(),
                },
                Command::Status,
            ],
        );
        c.approval = Approval::Unknown;
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty(), "still blocked");
        assert_eq!(d.replies.len(), 1);
        assert_eq!(
            d.replies[0].parts[0],
            ReplyPart::ApproverUnknown {
                command: "/scalability-unblock".into(),
                teams: vec!["kubernetes/sig-scalability-leads".into()],
            }
        );
        assert!(matches!(d.replies[0].parts[1], ReplyPart::Status { .. }));
        assert_eq!(d.audit[0].outcome, "refused: approver check failed");
        assert_eq!(d.audit[0].reason, "fixed");
    }

    /// One comment of thousands of command lines (any GitHub user can write one) reads
    /// the first ten: the audit log gets eleven records, not thousands, and the reply stays
    /// short.
    #[test]
    fn one_comment_reads_at_most_ten_commands() {
        let p = policy();
        let state = blocked(&p);
        for line in ["/scalability-unblock x", "/scalability-revert x"] {
            let body = format!("{line}\n").repeat(2_500);
            let mut c = comment("anyone", false, vec![]);
            c.commands = crate::core::command::parse(&body);
            assert_eq!(c.commands.len(), 2_500);
            let d = decide(&state, &Input::Comment(c), &ctx(&p));
            assert!(d.incidents.is_empty());
            assert_eq!(d.audit.len(), MAX_COMMANDS_PER_COMMENT + 1, "{line}");
            assert!(d.audit.last().unwrap().outcome.contains("2490"), "{line}");
            let parts = &d.replies[0].parts;
            assert_eq!(
                parts.last(),
                Some(&ReplyPart::TooManyCommands {
                    read: 10,
                    ignored: 2_490
                })
            );
            let text = crate::comment::reply(&d.replies[0]);
            assert!(text.chars().count() < 5_000, "{}", text.len());
        }
    }

    #[test]
    fn status_is_for_anyone() {
        let p = policy();
        let state = blocked(&p);
        let c = comment("mallory", false, vec![Command::Status]);
        let d = decide(&state, &Input::Comment(c), &ctx(&p));
        assert!(d.incidents.is_empty());
        match &d.replies[0].parts[0] {
            ReplyPart::Status { incidents, .. } => assert_eq!(incidents.len(), 1),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.audit[0].outcome, "status: 1 active incident(s)");
    }

    #[test]
    fn several_commands_make_one_reply_and_malformed_ones_are_answered() {
        let p = policy();
        let mut c = comment("alice", true, vec![Command::Status, Command::Rerun]);
        c.commands.push(Err(CommandError::BlockWithoutJob));
        let d = decide(&State::default(), &Input::Comment(c), &ctx(&p));
        assert_eq!(d.replies.len(), 1);
        assert_eq!(d.replies[0].parts.len(), 3);
        assert_eq!(
            d.replies[0].parts[1],
            ReplyPart::NoIncident {
                command: "/scalability-rerun".into(),
                repo: repo(),
            }
        );
        assert_eq!(d.audit.len(), 3);
        assert_eq!(d.audit[2].outcome, "refused: malformed");
    }

    #[test]
    fn comments_that_are_not_commands() {
        let ok = CommentFacts {
            is_new: true,
            author_is_bot: false,
            author_is_self: false,
        };
        assert!(is_command_comment(ok));
        assert!(!is_command_comment(CommentFacts {
            is_new: false,
            ..ok
        }));
        assert!(!is_command_comment(CommentFacts {
            author_is_bot: true,
            ..ok
        }));
        assert!(!is_command_comment(CommentFacts {
            author_is_self: true,
            ..ok
        }));
    }
}
