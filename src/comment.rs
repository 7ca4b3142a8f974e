//! Every text the plugin posts on GitHub: issue bodies, notices, replies.

// ---------------------------------------------------------------------------------------
// Replies to commands (the gate's `ReplyPart`s). One reply per command comment; each
// carries a hidden marker keyed by the comment it answers, so it is never posted twice.
// ---------------------------------------------------------------------------------------

use std::fmt::Write as _;

use crate::core::gate::{Reply, ReplyPart};
use crate::model::{Cause, Incident};

/// The hidden marker of the reply to comment `comment_id`:
/// `<!-- scalability-gate:reply-<comment_id>:reply -->`.
pub fn reply_marker(comment_id: u64) -> String {
    format!("<!-- scalability-gate:reply-{comment_id}:reply -->")
}

/// The whole reply, marker last.
pub fn reply(reply: &Reply) -> String {
    let mut out = format!("@{}:", reply.author);
    if reply.parts.len() == 1 {
        out.push(' ');
        out.push_str(&reply_part(&reply.parts[0]));
    } else {
        for part in &reply.parts {
            out.push_str("\n\n");
            out.push_str(&reply_part(part));
        }
    }
    out.push_str("\n\n");
    out.push_str(&reply_marker(reply.in_reply_to));
    out
}

/// One part of a reply, as Markdown.
pub fn reply_part(part: &ReplyPart) -> String {
    match part {
        ReplyPart::Unauthorised {
            command,
            users,
            teams,
        } => unauthorised(command, users, teams),
        ReplyPart::Status { repo, incidents } => status(&repo.to_string(), incidents),
        ReplyPart::Unblocked { ids, reason } => {
            let mut s = format!(
                "lifted {}. The `do-not-merge` label is being removed and the blocker issue closed.",
                code_list(ids.iter().map(|i| i.as_str()))
            );
            if !reason.is_empty() {
                let _ = write!(s, "\n\nReason: {reason}");
            }
            s
        }
        ReplyPart::NothingToUnblock { repo } => {
            format!("there is no active scalability incident on {repo}; nothing to unblock.")
        }
        ReplyPart::Blocked { id, job, scopes } => format!(
            "opened incident `{id}` for `{job}` by hand. Merges to {} are blocked until `/scalability-unblock`; \
             an incident opened by hand is never lifted automatically.",
            code_list(scopes.iter().map(|s| format!("{}@{}", s.repo, s.branch)))
        ),
        ReplyPart::AlreadyBlocked { id, job } => {
            format!("`{job}` is already blocked by incident `{id}`; nothing new was opened.")
        }
        ReplyPart::UnknownJob { job, known } => format!(
            "`{job}` is not a gated job. Gated jobs: {}.",
            code_list(known.iter().map(|j| j.as_str()))
        ),
        ReplyPart::Exempted { pr, ids } => format!(
            "{pr} is exempt from {}: it will not carry the `do-not-merge` label and may merge during the block. \
             The exemption is recorded.",
            code_list(ids.iter().map(|i| i.as_str()))
        ),
        ReplyPart::NothingToExempt { repo } => {
            format!("there is no active scalability incident on {repo}; nothing to exempt from.")
        }
        ReplyPart::ExemptNeedsPr => {
            "`/scalability-exempt` works on a pull request: comment it on the PR to exempt.".into()
        }
        ReplyPart::NotAvailable { command } => {
            format!("`{command}` is not available yet in this version of scalability-gate.")
        }
        ReplyPart::Malformed { message } => format!("I could not read that command: {message}"),
    }
}

/// Refusal: who may use the command instead.
pub fn unauthorised(command: &str, users: &[String], teams: &[String]) -> String {
    let mut who = Vec::new();
    if !users.is_empty() {
        who.push(format!(
            "the users {}",
            users
                .iter()
                .map(|u| format!("@{u}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !teams.is_empty() {
        who.push(format!(
            "members of {}",
            teams
                .iter()
                .map(|t| format!("@{t}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let who = if who.is_empty() {
        "no one (no approvers are configured)".to_string()
    } else {
        who.join(" and ")
    };
    format!("you are not allowed to use `{command}`. Only scalability approvers may: {who}.")
}

/// The state of a repo: its active incidents, or that it is not blocked.
pub fn status(repo: &str, incidents: &[Incident]) -> String {
    if incidents.is_empty() {
        return format!("{repo} is not blocked: there is no active scalability incident.");
    }
    let mut s = format!(
        "{repo} is **blocked** by {} active scalability incident(s):\n\n\
         | incident | job | blocks | cause | since | exemptions |\n|---|---|---|---|---|---|\n",
        incidents.len()
    );
    for i in incidents {
        let scopes = i
            .scopes
            .iter()
            .map(|s| format!("{}@{}", s.repo, s.branch))
            .collect::<Vec<_>>()
            .join(", ");
        let cause = match &i.cause {
            Cause::Regression { first_red, .. } => {
                format!("first red run [{}]({})", first_red.build_id, first_red.url)
            }
            Cause::Manual { by, reason } if reason.is_empty() => format!("blocked by @{by}"),
            Cause::Manual { by, reason } => format!("blocked by @{by}: {reason}"),
        };
        let recovered = match &i.recovered_by {
            Some(run) => format!(" (green again in [{}]({}))", run.build_id, run.url),
            None => String::new(),
        };
        let exemptions = if i.exemptions.is_empty() {
            "none".to_string()
        } else {
            i.exemptions
                .iter()
                .map(|e| e.pr.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "| `{}` | `{}` | {} | {}{} | {} | {} |",
            i.id, i.job, scopes, cause, recovered, i.opened_at, exemptions
        );
    }
    s.push_str("\nAn approver lifts a block with `/scalability-unblock [reason]`.");
    s
}

fn code_list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    items
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{IncidentId, Login, PrNumber, RepoName};

    #[test]
    fn unauthorised_names_users_and_teams() {
        let text = unauthorised(
            "/scalability-unblock",
            &["alice".into()],
            &["kubernetes/sig-scalability-leads".into()],
        );
        assert!(text.contains("`/scalability-unblock`"), "{text}");
        assert!(text.contains("@alice"), "{text}");
        assert!(text.contains("@kubernetes/sig-scalability-leads"), "{text}");
        assert!(unauthorised("/x", &[], &[]).contains("no approvers are configured"));
    }

    #[test]
    fn a_reply_mentions_the_author_and_ends_with_its_marker() {
        let r = Reply {
            repo: RepoName::new("o", "r"),
            number: PrNumber(3),
            in_reply_to: 99,
            author: Login::new("alice"),
            parts: vec![
                ReplyPart::Unblocked {
                    ids: vec![IncidentId::new("j-1")],
                    reason: "flake".into(),
                },
                ReplyPart::NotAvailable {
                    command: "/scalability-rerun".into(),
                },
            ],
        };
        let text = reply(&r);
        assert!(text.starts_with("@alice:"), "{text}");
        assert!(
            text.contains("`j-1`") && text.contains("Reason: flake"),
            "{text}"
        );
        assert!(
            text.ends_with("<!-- scalability-gate:reply-99:reply -->"),
            "{text}"
        );
    }

    #[test]
    fn status_of_an_unblocked_repo() {
        assert!(status("o/r", &[]).contains("not blocked"));
    }
}
