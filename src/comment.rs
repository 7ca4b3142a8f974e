//! Every text the plugin posts on GitHub: issue bodies, notices, replies.

// ---------------------------------------------------------------------------------------
// Replies to commands (the gate's `ReplyPart`s). One reply per command comment; each
// carries a hidden marker keyed by the comment it answers, so it is never posted twice.
// ---------------------------------------------------------------------------------------

use std::fmt::Write as _;

use crate::core::gate::{Reply, ReplyPart};
use crate::model::{Cause, Incident, IncidentId, RunRef};

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

/// The hidden marker of an incident's recovery notice.
pub fn recovered_marker(incident: &IncidentId) -> String {
    format!("<!-- scalability-gate:{incident}:recovered -->")
}

/// Posted once on an incident's issue when its job is green again but the incident stays
/// active (no `auto_unblock_on_recovery`, or opened by hand).
pub fn recovered(incident: &Incident, green: &RunRef) -> String {
    let run = if green.url.is_empty() {
        format!("`{}`", green.build_id)
    } else {
        format!("[{}]({})", green.build_id, green.url)
    };
    format!(
        "`{}` is green again in run {run}. The block stays until an approver lifts it with \
         `/scalability-unblock [reason]` (incident `{}`).\n\n{}",
        incident.job,
        incident.id,
        recovered_marker(&incident.id)
    )
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
    use crate::model::{Login, PrNumber, RepoName};

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

// ---------------------------------------------------------------------------------------
// The reconciler's texts: blocker (or tracking) issues, announcements, lift notices. Each
// carries a hidden marker `<!-- scalability-gate:<incident>:<kind> -->` so the reconciler
// can tell what it has already posted, across crashes.
// ---------------------------------------------------------------------------------------

/// What the reconciler's texts say about the deployment (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContext {
    /// The label put on PRs.
    pub label: String,
    /// Whether only ready PRs are labelled (else every open PR on the branch).
    pub ready_only: bool,
    /// Tide's required labels, one list per query that can merge (any one makes a PR
    /// ready), named when `ready_only`.
    pub ready_labels: Vec<Vec<String>>,
    /// Whether the issue is a Tide blocker issue (else a tracking issue).
    pub blocker: bool,
    pub approver_users: Vec<String>,
    pub approver_teams: Vec<String>,
}

/// A hidden marker: `<!-- scalability-gate:<incident>:<kind> -->`.
pub fn marker(incident: &crate::model::IncidentId, kind: &str) -> String {
    format!("<!-- scalability-gate:{incident}:{kind} -->")
}

/// The marker of an incident's blocker or tracking issue on one branch.
pub fn issue_marker(incident: &crate::model::IncidentId, branch: &str) -> String {
    marker(incident, &format!("issue/{branch}"))
}

/// The marker of an incident's announcement comment.
pub fn announcement_marker(incident: &crate::model::IncidentId) -> String {
    marker(incident, "announce")
}

/// The marker of the notice of one breach (a PR merged during the incident).
pub fn breach_marker(incident: &crate::model::IncidentId, pr: crate::model::PrNumber) -> String {
    marker(incident, &format!("breach/{}", pr.0))
}

/// Posted once on the incident's issue when a PR that was not exempt merged into a blocked
/// scope: the block did not hold for it.
pub fn breach(incident: &Incident, breach: &crate::model::Breach) -> String {
    let by = breach
        .merged_by
        .as_ref()
        .map(|l| format!(" by @{l}"))
        .unwrap_or_default();
    format!(
        "#{} was merged into `{}`{by} while merges there are blocked by incident `{}`, \
         without an exemption. It is recorded as a breach and is a suspect for the next \
         regression. If Tide merged it, run `scalability-gate check-tide` against Prow's \
         config: a query that can merge into this branch does not exclude the label.\n\n{}",
        breach.pr.0,
        breach.scope,
        incident.id,
        breach_marker(&incident.id, breach.pr)
    )
}

/// The marker of the notice that Tide's pool on `branch` did not hold.
pub fn tide_leak_marker(incident: &crate::model::IncidentId, branch: &str) -> String {
    marker(incident, &format!("tide-leak/{branch}"))
}

/// Posted once per scope when the live check of Deck's `/tide.js` saw Tide ready to merge
/// PRs into a blocked scope: the label is not excluded by Tide's query, or the blocker
/// issue is not honoured.
pub fn tide_leak(
    incident: &Incident,
    scope: &crate::model::Scope,
    first_seen: crate::model::Timestamp,
    prs: &[u64],
) -> String {
    let prs = if prs.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = prs.iter().map(|n| format!("#{n}")).collect();
        format!(" It would merge {}.", list.join(", "))
    };
    format!(
        "**The block does not hold.** Since {first_seen}, Tide's merge pool for `{scope}` \
         has PRs it would merge although incident `{}` blocks it.{prs} Check Prow's config \
         with `scalability-gate check-tide --prow-config config.yaml --fix` and apply the \
         fix; until then, someone with admin rights must hold merges by hand.\n\n{}",
        incident.id,
        tide_leak_marker(&incident.id, &scope.branch)
    )
}

/// The marker of an incident's lift notice.
pub fn lifted_marker(incident: &crate::model::IncidentId) -> String {
    marker(incident, "lifted")
}

/// Every `(incident, kind)` marker in `text`, in order.
pub fn parse_markers(text: &str) -> Vec<(crate::model::IncidentId, String)> {
    const OPEN: &str = "<!-- scalability-gate:";
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(" -->") else {
            break;
        };
        if let Some((id, kind)) = after[..end].split_once(':') {
            found.push((crate::model::IncidentId::new(id), kind.to_string()));
        }
        rest = &after[end..];
    }
    found
}

/// The incident an issue body belongs to, when it is one of our blocker/tracking issues.
pub fn issue_incident(body: &str) -> Option<crate::model::IncidentId> {
    parse_markers(body)
        .into_iter()
        .find(|(_, kind)| kind.starts_with("issue/"))
        .map(|(id, _)| id)
}

/// The blocker issue's title. Tide reads the `branch:<name>` token (kept last, after a
/// space, so its pattern takes exactly the branch name).
pub fn blocker_title(incident: &Incident, branch: &str) -> String {
    format!(
        "Merges blocked: scalability regression of {} branch:{branch}",
        incident.job
    )
}

/// Why the incident exists, in a few lines of Markdown.
pub fn incident_cause(incident: &Incident) -> String {
    match &incident.cause {
        Cause::Regression {
            first_red,
            last_green,
        } => format!(
            "The release-blocking job `{job}` went from green to red.\n\n\
             | | run | started |\n|---|---|---|\n\
             | last green | {green} | {green_at} |\n\
             | first red | {red} | {red_at} |",
            job = incident.job,
            green = run_link(last_green),
            green_at = started(last_green),
            red = run_link(first_red),
            red_at = started(first_red),
        ),
        Cause::Manual { by, reason } => format!(
            "`{by}` blocked merges by hand for the job `{job}`{why}.",
            job = incident.job,
            why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            }
        ),
    }
}

fn run_link(run: &crate::model::RunRef) -> String {
    if run.url.is_empty() {
        format!("`{}`", run.build_id)
    } else {
        format!("[{}]({})", run.build_id, run.url)
    }
}

fn started(run: &crate::model::RunRef) -> String {
    run.started_at
        .map_or_else(|| "unknown".into(), |t| t.to_string())
}

/// SIG Scalability's rules, in one paragraph.
pub fn rules_paragraph() -> String {
    "SIG Scalability's rules for release-blocking scalability jobs allow blocking merges \
     to the affected repositories and branch as soon as such a job goes from passing to \
     failing; a job that was already failing gives no right to block. While the block \
     holds, SIG Scalability identifies the PR that most likely caused the regression, \
     mitigates it (a revert, switching a feature off, or a fix), and lifts the block as \
     soon as the cause is dealt with, to keep the time merges are blocked short."
        .to_string()
}

/// Who may unblock, in words.
pub fn who_can(ctx: &NoticeContext) -> String {
    let mut who: Vec<String> = ctx
        .approver_teams
        .iter()
        .map(|t| format!("members of `{t}`"))
        .collect();
    who.extend(ctx.approver_users.iter().map(|u| format!("`{u}`")));
    if who.is_empty() {
        "nobody is configured as an approver".into()
    } else {
        who.join(", ")
    }
}

/// What the label does, in words.
pub fn label_sentence(ctx: &NoticeContext) -> String {
    let which = if ctx.ready_only {
        let alternatives: Vec<String> = ctx
            .ready_labels
            .iter()
            .map(|labels| {
                labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        format!(
            "every ready PR on the branch (carrying {}), and each PR the moment it becomes ready,",
            alternatives.join(", or ")
        )
    } else {
        "every open PR on the branch".into()
    };
    format!(
        "The label `{}` is put on {which} so Tide skips it.",
        ctx.label
    )
}

/// The suspects as a list of `#N` references (nothing when there are none).
pub fn suspects_section(incident: &Incident, repo: &crate::model::RepoName) -> String {
    if incident.suspects.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n\n### Suspects\n\n");
    for s in &incident.suspects {
        let reference = if &s.repo == repo {
            format!("#{}", s.pr.0)
        } else {
            format!("{}#{}", s.repo, s.pr.0)
        };
        let _ = writeln!(out, "- {reference} {} (by `{}`)", s.title, s.author);
    }
    out.trim_end().to_string()
}

/// The body of an incident's blocker (or tracking) issue for one scope.
pub fn blocker_body(
    incident: &Incident,
    scope: &crate::model::Scope,
    ctx: &NoticeContext,
) -> String {
    let scopes = incident
        .scopes
        .iter()
        .map(|s| format!("`{}` branch `{}`", s.repo, s.branch))
        .collect::<Vec<_>>()
        .join(", ");
    let holds = if ctx.blocker {
        "While this issue is open Tide merges nothing on the branch, exemptions included."
    } else {
        "This issue tracks the block; the label is what keeps PRs out of Tide's pool."
    };
    format!(
        "## Merges to `{repo}` branch `{branch}` are blocked\n\n\
         Blocked by incident `{id}`: {scopes}.\n\n{cause}\n\n\
         {label} {holds}\n\n\
         **Why.** {rules}\n\n\
         **How to unblock.** Find and revert or fix the culprit, or switch it off. Then an \
         approver comments `/scalability-unblock <reason>` on this issue. An approver can let \
         a PR merge meanwhile with `/scalability-exempt <reason>` on it.\n\n\
         **Who can.** {who}.{suspects}\n\n{marker}",
        repo = scope.repo,
        branch = scope.branch,
        id = incident.id,
        cause = incident_cause(incident),
        label = label_sentence(ctx),
        rules = rules_paragraph(),
        who = who_can(ctx),
        suspects = suspects_section(incident, &scope.repo),
        marker = issue_marker(&incident.id, &scope.branch),
    )
}

/// The announcement posted once per incident on its issue.
pub fn announcement(incident: &Incident, scope: &crate::model::Scope) -> String {
    format!(
        "Merges to `{}` branch `{}` are now blocked because of `{}` (incident `{}`). The \
         description above says why, what is being done and how to unblock.\n\n{}",
        scope.repo,
        scope.branch,
        incident.job,
        incident.id,
        announcement_marker(&incident.id)
    )
}

/// The notice posted once on an incident's issue when it is lifted (before closing it).
pub fn lift_notice(incident: &Incident) -> String {
    let how = match &incident.state {
        crate::model::IncidentState::Lifted { by, reason, at } => {
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            format!(" by `{by}` at {at}{why}")
        }
        crate::model::IncidentState::Active => String::new(),
    };
    format!(
        "Unblocked: incident `{}` was lifted{how}. The label is removed from every PR that \
         carries it unless another incident still blocks the branch; this issue is closed.\n\n{}",
        incident.id,
        lifted_marker(&incident.id)
    )
}

#[cfg(test)]
mod notice_tests {
    use super::*;
    use crate::model::{IncidentId, IncidentState, RepoName, RunRef, Scope, Suspect, Timestamp};

    fn incident() -> Incident {
        Incident {
            id: IncidentId::new("ci-job-100"),
            job: crate::model::JobName::new("ci-job"),
            opened_at: Timestamp(0),
            cause: Cause::Regression {
                first_red: RunRef {
                    build_id: crate::model::BuildId::new("100"),
                    url: "https://prow/100".into(),
                    started_at: Some(Timestamp(1_790_000_000)),
                    commits: Default::default(),
                },
                last_green: RunRef {
                    build_id: crate::model::BuildId::new("99"),
                    url: "https://prow/99".into(),
                    started_at: None,
                    commits: Default::default(),
                },
            },
            scopes: vec![Scope {
                repo: RepoName::parse("o/r").unwrap(),
                branch: "master".into(),
            }],
            state: IncidentState::Active,
            folded_runs: vec![],
            recovered_by: None,
            exemptions: vec![],
            breaches: vec![],
            searches: Vec::new(),
            reverts: Vec::new(),
            reruns: Vec::new(),
            escalations: Vec::new(),
            suspects: vec![Suspect {
                repo: RepoName::parse("o/r").unwrap(),
                pr: crate::model::PrNumber(42),
                title: "Speed up the scheduler".into(),
                author: crate::model::Login::new("dev"),
                merged_at: None,
                score: 1.0,
                reasons: vec![],
                merge_commit: None,
                reverts: None,
            }],
        }
    }

    fn ctx() -> NoticeContext {
        NoticeContext {
            label: "do-not-merge/scalability-regression".into(),
            ready_only: true,
            ready_labels: vec![vec!["lgtm".into(), "approved".into()]],
            blocker: true,
            approver_users: vec!["alice".into()],
            approver_teams: vec!["o/leads".into()],
        }
    }

    #[test]
    fn blocker_title_ends_with_the_branch_token() {
        assert!(blocker_title(&incident(), "release-1.34").ends_with(" branch:release-1.34"));
    }

    #[test]
    fn blocker_body_says_what_why_how_and_who() {
        let i = incident();
        let body = blocker_body(&i, &i.scopes[0], &ctx());
        for want in [
            "`o/r` branch `master`",
            "[100](https://prow/100)",
            "[99](https://prow/99)",
            "green to red",
            "`/scalability-unblock <reason>`",
            "members of `o/leads`, `alice`",
            "- #42 Speed up the scheduler",
            "`lgtm` and `approved`",
            "<!-- scalability-gate:ci-job-100:issue/master -->",
        ] {
            assert!(body.contains(want), "missing {want:?} in\n{body}");
        }
        assert_eq!(issue_incident(&body), Some(i.id.clone()));
    }

    #[test]
    fn markers_parse_back() {
        let id = IncidentId::new("j-1");
        let text = format!("x {} y {}", announcement_marker(&id), lifted_marker(&id));
        assert_eq!(
            parse_markers(&text),
            vec![(id.clone(), "announce".into()), (id, "lifted".into())]
        );
        assert_eq!(issue_incident("no marker"), None);
    }
}

// ---------------------------------------------------------------------------------------
// Culprit notices the reconciler posts (issue 6): a cut suspect range, the hard block of a
// revert PR while the blocker issue is open, and the escalation steps.
// ---------------------------------------------------------------------------------------

/// The marker of the notice that a scope's suspect range was longer than what was read.
pub fn range_cut_marker(incident: &crate::model::IncidentId, branch: &str) -> String {
    marker(incident, &format!("range-cut/{branch}"))
}

/// Posted once when the commits between the last green and the first red run are more
/// than the plugin reads: the suspects listed come from the oldest part only.
pub fn range_cut(
    incident: &Incident,
    scope: &crate::model::Scope,
    total: u64,
    read: usize,
) -> String {
    format!(
        "The suspect range on `{scope}` holds {total} commits; only the oldest {read} were \
         searched, so the culprit may be a newer PR that is not in the table above. Bisect \
         with `/scalability-rerun`, or read the rest of the range on GitHub.\n\n{}",
        range_cut_marker(&incident.id, &scope.branch)
    )
}

/// The marker of the hard-block notice on a revert PR.
pub fn revert_notice_marker(incident: &crate::model::IncidentId) -> String {
    marker(incident, "revert-notice")
}

/// The marker of the hard-block notice about revert PR `revert_pr` on the incident's issue.
pub fn revert_hard_block_marker(
    incident: &crate::model::IncidentId,
    revert_pr: crate::model::PrNumber,
) -> String {
    marker(incident, &format!("revert-hard-block/{}", revert_pr.0))
}

/// Posted once on a revert PR while the Tide blocker issue of its branch is open.
pub fn revert_hard_block_on_pr(
    incident: &Incident,
    scope: &crate::model::Scope,
    suspect: crate::model::PrNumber,
    issue: crate::model::PrNumber,
    ctx: &NoticeContext,
) -> String {
    format!(
        "This PR reverts #{suspect}, a suspect of incident `{id}`, and is exempt from the \
         block: it never gets the label `{label}`. But the Tide blocker issue #{issue} is \
         open on `{scope}`, and while it is open **Tide merges nothing on that branch, \
         exemptions included**. Someone with merge rights on `{repo}` merges this PR by \
         hand, or the incident is lifted (`/scalability-unblock <reason>` on #{issue}; who \
         can: {who}).\n\n{marker}",
        suspect = suspect.0,
        id = incident.id,
        label = ctx.label,
        repo = scope.repo,
        who = who_can(ctx),
        marker = revert_notice_marker(&incident.id),
    )
}

/// Posted once on the incident's issue for each revert PR while the blocker issue is open.
pub fn revert_hard_block_on_issue(
    incident: &Incident,
    scope: &crate::model::Scope,
    suspect: crate::model::PrNumber,
    revert_pr: crate::model::PrNumber,
    ctx: &NoticeContext,
) -> String {
    format!(
        "#{revert} reverts suspect #{suspect} and is exempt from the label. This issue is a \
         Tide blocker, though: while it is open, Tide merges nothing on `{scope}`, not even \
         #{revert}. Someone with merge rights merges #{revert} by hand, or an approver \
         ({who}) lifts the incident with `/scalability-unblock <reason>` here.\n\n{marker}",
        revert = revert_pr.0,
        suspect = suspect.0,
        who = who_can(ctx),
        marker = revert_hard_block_marker(&incident.id, revert_pr),
    )
}

/// The marker of escalation step `step` (1: mention, 2: suggest a revert).
pub fn escalation_marker(incident: &crate::model::IncidentId, step: u8) -> String {
    marker(incident, &format!("escalate-{step}"))
}

/// The escalation comment of `step` on the incident's issue of `scope`.
pub fn escalation(
    incident: &Incident,
    scope: &crate::model::Scope,
    step: u8,
    policy: &crate::core::culprit::Escalation,
    ctx: &NoticeContext,
) -> String {
    use crate::core::culprit;
    let since = incident.opened_at;
    let body = if step == 1 {
        let top = culprit::top_suspects(incident, policy.top);
        let mut authors: Vec<String> = top.iter().map(|s| format!("@{}", s.author)).collect();
        authors.dedup();
        let teams: Vec<String> = ctx.approver_teams.iter().map(|t| format!("@{t}")).collect();
        let list = if top.is_empty() {
            "No suspect is known yet.".to_string()
        } else {
            let items: Vec<String> = top
                .iter()
                .map(|s| {
                    format!(
                        "- #{} {} (by @{}, score {})",
                        s.pr.0, s.title, s.author, s.score
                    )
                })
                .collect();
            format!("The top suspects:\n\n{}", items.join("\n"))
        };
        let who = [authors, teams].concat().join(" ");
        format!(
            "Merges to `{scope}` have been blocked since {since} by incident `{id}`. {who} \
             please take a look: is one of these the cause?\n\n{list}",
            id = incident.id,
        )
    } else {
        match culprit::top_revertible(incident) {
            Some(top) => format!(
                "Merges to `{scope}` are still blocked (since {since}, incident `{id}`). The \
                 top suspect is #{pr} {title} (by @{author}). Unless a fix is close, an \
                 approver can revert it now with `/scalability-revert #{pr}`: the revert PR is \
                 exempt from the block.",
                id = incident.id,
                pr = top.pr.0,
                title = top.title,
                author = top.author,
            ),
            None => format!(
                "Merges to `{scope}` are still blocked (since {since}, incident `{id}`), and \
                 no suspect can be reverted.",
                id = incident.id,
            ),
        }
    };
    format!("{body}\n\n{}", escalation_marker(&incident.id, step))
}
