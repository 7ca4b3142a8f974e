//! Replies to commands (the gate's `ReplyPart`s): one reply per command comment, ending
//! with the hidden marker of the comment it answers, so it is never posted twice.

use std::fmt::Write as _;

use super::fit::{code_list, fit_for_github};
use super::marker::reply_marker;
use crate::core::gate::{Reply, ReplyPart};
use crate::model::{Cause, Incident};

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
    fit_for_github(out)
}

/// One part of a reply, as Markdown.
pub fn reply_part(part: &ReplyPart) -> String {
    match part {
        ReplyPart::Unauthorised {
            command,
            users,
            teams,
        } => unauthorised(command, users, teams),
        ReplyPart::ApproverUnknown { command, teams } => approver_unknown(command, teams),
        ReplyPart::TooManyCommands { read, ignored } => format!(
            "only the first {read} commands of a comment are read; the {ignored} after them \
             were ignored. Put each in a comment of its own if they are meant."
        ),
        ReplyPart::TooOld { kept_at, now } => format!(
            "this comment's commands were not carried out. It was received at {kept_at}, \
             but the plugin stopped before acting on it and started again only at {now}; \
             what was asked may no longer hold. Nothing was changed: please repeat the \
             command if it is still wanted."
        ),
        ReplyPart::Status { repo, incidents } => status(&repo.to_string(), incidents),
        ReplyPart::Unblocked { ids, reason } => {
            let mut s = format!(
                "lifted {}. The `do-not-merge` label is being removed and the blocker issue closed. \
                 While the job is still red this lift is provisional: the first red run that \
                 starts after it blocks the branch again (runs already in flight do not); the \
                 first green run resolves it. `/scalability-unblock --final` resolves for good.",
                code_list(ids.iter().map(|i| i.as_str()))
            );
            if !reason.is_empty() {
                let _ = write!(s, "\n\nReason: {reason}");
            }
            s
        }
        ReplyPart::Resolved { ids, reason } => {
            let mut s = format!(
                "lifted and resolved {} for good: it will not block again. The `do-not-merge` label is being removed and the blocker issue closed.",
                code_list(ids.iter().map(|i| i.as_str()))
            );
            if !reason.is_empty() {
                let _ = write!(s, "\n\nReason: {reason}");
            }
            s
        }
        ReplyPart::NotHere { command } => format!(
            "`{command}` acts where it is said: on a blocker issue (that incident) or on a pull \
             request (the incidents of its repository and base branch). This is neither, so \
             nothing was done."
        ),
        ReplyPart::BaseUnknown { command } => format!(
            "GitHub did not say which branch this pull request is for, so `{command}` was not \
             carried out (it acts only on the incidents of the PR's own branch). Please repeat it."
        ),
        ReplyPart::ExemptionCancelled { pr, ids } => format!(
            "{pr} is no longer exempt from {}: it gets the `do-not-merge` label again while an \
             incident blocks its branch.",
            code_list(ids.iter().map(|i| i.as_str()))
        ),
        ReplyPart::NotExempt { pr } => format!(
            "{pr} is not exempt from any scalability incident on its branch; nothing to cancel."
        ),
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
        ReplyPart::RevertRequested { pr, ids } => format!(
            "opening a revert PR of {pr} (incident {}). It will be linked on the incident and \
             exempt from the block: it never gets the `do-not-merge` label. While a Tide blocker \
             issue is open on the branch, Tide merges nothing there, the revert included; I will \
             say so on the revert PR.",
            code_list(ids.iter().map(|i| i.as_str()))
        ),
        ReplyPart::RevertAlreadyRequested { pr, revert_pr } => match revert_pr {
            Some(revert) => {
                format!("{pr} is already reverted in {revert}; nothing new was opened.")
            }
            None => format!(
                "a revert of {pr} was already asked for and is being opened; nothing new was asked."
            ),
        },
        ReplyPart::RevertOfRevert { pr, reverts } => format!(
            "I will not revert {pr}: it is itself a revert of {reverts}. Reverting a revert \
             re-lands the suspect it took out ({reverts}), bringing back a change that may have \
             caused the regression while the block is meant to remove it. To bring {reverts} \
             back, re-land it in a new PR once the regression is understood."
        ),
        ReplyPart::NotASuspect { pr, suspects } => {
            let known = if suspects.is_empty() {
                "No suspects are known yet; they are listed on the blocker issue once found."
                    .to_string()
            } else {
                format!(
                    "The suspects are {}.",
                    suspects
                        .iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            format!(
                "I will not revert {pr}: it is not a suspect of the active incident(s) here. {known} \
                 An approver can let any PR merge during the block with `/scalability-exempt`."
            )
        }
        ReplyPart::NoIncident { command, repo } => format!(
            "there is no active scalability incident on {repo}; `{command}` has nothing to act on."
        ),
        ReplyPart::RerunRequested { ids, jobs } => format!(
            "re-running {} through Gangway to rule out a flake (incident {}). The run's result \
             will be tied to the incident and told here.",
            code_list(jobs.iter().map(|j| j.as_str())),
            code_list(ids.iter().map(|i| i.as_str()))
        ),
        ReplyPart::RerunPending {
            id,
            job,
            since,
            execution,
        } => {
            let execution = execution
                .as_ref()
                .map(|e| format!(" (Gangway execution `{e}`)"))
                .unwrap_or_default();
            format!(
                "a rerun of `{job}` for incident `{id}`, asked at {since}{execution}, is still \
                 waiting for its result; nothing new was started."
            )
        }
        ReplyPart::CulpritRecorded {
            pr,
            mitigation,
            ids,
            not_suspect,
        } => {
            let mut s = format!(
                "recorded {pr} as the culprit of {}, mitigation `{}`. It is shown on the \
                 blocker issue, the dashboard and the API; a later `/scalability-culprit` \
                 replaces it (the earlier one is kept).",
                code_list(ids.iter().map(|i| i.as_str())),
                mitigation.as_str()
            );
            if !not_suspect.is_empty() {
                let _ = write!(
                    s,
                    " Note: {pr} is not among the suspects of {}.",
                    code_list(not_suspect.iter().map(|i| i.as_str()))
                );
            }
            s
        }
        ReplyPart::RerunNotConfigured => "`/scalability-rerun` re-runs the job through Prow's \
             Gangway API, and this plugin has no Gangway configured (`sources.gangway.address`). \
             Re-run the job from Prow instead (the rerun button on its Deck page)."
            .into(),
        ReplyPart::Malformed { message } => format!("I could not read that command: {message}"),
    }
}

/// Refusal: who may use the command instead.
pub fn unauthorised(command: &str, users: &[String], teams: &[String]) -> String {
    let mut who = Vec::new();
    // Named, never @-mentioned: anyone may comment a command, and a refusal must not
    // notify the approvers each time.
    if !users.is_empty() {
        who.push(format!("the users {}", code_list(users.iter())));
    }
    if !teams.is_empty() {
        who.push(format!("members of {}", code_list(teams.iter())));
    }
    let who = if who.is_empty() {
        "no one (no approvers are configured)".to_string()
    } else {
        who.join(" and ")
    };
    format!("you are not allowed to use `{command}`. Only scalability approvers may: {who}.")
}

/// The refusal when GitHub did not say whether the author is in an approver team.
pub fn approver_unknown(command: &str, teams: &[String]) -> String {
    format!(
        "`{command}` was not carried out: GitHub did not answer whether you are a member of \
         {}, so it could not be checked that you may use it. Nothing was changed; please \
         repeat the command in a few minutes.",
        code_list(teams.iter())
    )
}

/// The state of a repo: its active incidents, or that it is not blocked.
pub fn status(repo: &str, incidents: &[Incident]) -> String {
    let active = incidents.iter().filter(|i| i.is_active()).count();
    if incidents.is_empty() {
        return format!("{repo} is not blocked: there is no active scalability incident.");
    }
    let mut s = if active == 0 {
        format!(
            "{repo} is not blocked: there is no active scalability incident. Lifted \
             provisionally (the first red run that starts after the lift blocks again):\n\n"
        )
    } else {
        format!("{repo} is **blocked** by {active} active scalability incident(s):\n\n")
    };
    s.push_str(
        "| incident | job | blocks | cause | since | exemptions | state |\n|---|---|---|---|---|---|---|\n",
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
        let mut state = match &i.state {
            crate::model::IncidentState::Active => "active".to_string(),
            crate::model::IncidentState::Lifted { by, at, .. } => {
                format!("lifted provisionally by @{by} at {at}")
            }
            crate::model::IncidentState::Resolved { how, .. } => {
                format!("resolved ({})", how.as_str())
            }
        };
        if !i.reblocks.is_empty() {
            let _ = write!(state, ", re-blocked {}×", i.reblocks.len());
        }
        let _ = writeln!(
            s,
            "| `{}` | `{}` | {} | {}{} | {} | {} | {} |",
            i.id, i.job, scopes, cause, recovered, i.opened_at, exemptions, state
        );
    }
    s.push_str("\nAn approver lifts a block with `/scalability-unblock [reason]`.");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::fit::GITHUB_BODY_CHARS;
    use crate::model::{IncidentId, Login, PrNumber, RepoName};

    #[test]
    fn unauthorised_names_users_and_teams() {
        let text = unauthorised(
            "/scalability-unblock",
            &["alice".into()],
            &["kubernetes/sig-scalability-leads".into()],
        );
        assert!(text.contains("`/scalability-unblock`"), "{text}");
        assert!(text.contains("`alice`"), "{text}");
        assert!(
            text.contains("`kubernetes/sig-scalability-leads`"),
            "{text}"
        );
        assert!(!text.contains('@'), "a refusal notifies nobody: {text}");
        assert!(unauthorised("/x", &[], &[]).contains("no approvers are configured"));
    }

    #[test]
    fn a_reply_longer_than_github_takes_is_cut_and_keeps_its_marker() {
        let r = Reply {
            repo: RepoName::new("o", "r"),
            number: PrNumber(3),
            in_reply_to: 99,
            author: Login::new("alice"),
            parts: (0..4)
                .map(|_| ReplyPart::Malformed {
                    message: "x".repeat(20_000),
                })
                .collect(),
        };
        let text = reply(&r);
        assert!(text.chars().count() <= GITHUB_BODY_CHARS);
        assert!(text.ends_with(&reply_marker(99)), "the marker is kept");
    }

    #[test]
    fn an_unknown_approver_is_told_to_repeat_and_nobody_is_notified() {
        let text = approver_unknown(
            "/scalability-block",
            &["kubernetes/sig-scalability-leads".into()],
        );
        for want in [
            "`/scalability-block` was not carried out",
            "`kubernetes/sig-scalability-leads`",
            "Nothing was changed",
            "repeat the command",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
        assert!(!text.contains('@'), "{text}");
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
                ReplyPart::RerunNotConfigured,
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

    #[test]
    fn replies_to_revert_and_rerun() {
        let text = reply_part(&ReplyPart::RevertOfRevert {
            pr: PrNumber(3),
            reverts: PrNumber(1),
        });
        assert!(
            text.contains("it is itself a revert of #1")
                && text.contains("Reverting a revert re-lands the suspect it took out (#1)"),
            "{text}"
        );
        let text = reply_part(&ReplyPart::NotASuspect {
            pr: PrNumber(9),
            suspects: vec![PrNumber(1), PrNumber(2)],
        });
        assert!(text.contains("The suspects are #1, #2."), "{text}");
        let text = reply_part(&ReplyPart::RerunNotConfigured);
        assert!(text.contains("sources.gangway.address"), "{text}");
        let text = reply_part(&ReplyPart::RevertRequested {
            pr: PrNumber(2),
            ids: vec![IncidentId::new("j-1")],
        });
        assert!(
            text.contains("revert PR of #2") && text.contains("exempt"),
            "{text}"
        );
    }
}
