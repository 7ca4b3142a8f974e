//! Every text the plugin posts on GitHub: issue bodies, notices, replies.

// ---------------------------------------------------------------------------------------
// Replies to commands (the gate's `ReplyPart`s). One reply per command comment; each
// carries a hidden marker keyed by the comment it answers, so it is never posted twice.
// ---------------------------------------------------------------------------------------

use std::fmt::Write as _;

use crate::core::gate::{Reply, ReplyPart};
use crate::model::{Cause, Incident, IncidentId, PrNumber, RunRef};

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

/// Whether a comment or issue that `author` wrote, whose text is `body`, carries `marker`
/// as the plugin's own. **Every check of a hidden marker found on GitHub goes through
/// here.** Anyone can paste `<!-- scalability-gate:... -->` into a comment or an issue, so
/// a marker counts only on what the plugin's own login `own` wrote (the token's owner, or
/// a GitHub App's `<slug>[bot]`; logins compare without case, as on GitHub); on anything
/// else it counts for nothing, and the plugin acts as if it had not been posted.
///
/// `own` is `None` while GitHub has not said who the plugin is: then no marker counts.
/// That is the side a stranger cannot exploit (a forged marker never suppresses a
/// notice); a caller for which "not found" would do harm when repeated (opening an issue,
/// closing one) must not act without the login at all (see the reconciler).
pub fn ours(own: Option<&crate::model::Login>, author: &str, body: &str, marker: &str) -> bool {
    own.is_some_and(|me| me.as_str().eq_ignore_ascii_case(author)) && body.contains(marker)
}

/// The incident an issue belongs to, when it is one of our blocker/tracking issues: its
/// body carries an issue marker and `author` is the plugin's own login (see [`ours`]).
pub fn issue_incident(
    own: Option<&crate::model::Login>,
    author: &str,
    body: &str,
) -> Option<crate::model::IncidentId> {
    parse_markers(body)
        .into_iter()
        .find(|(id, kind)| kind.starts_with("issue/") && ours(own, author, body, &marker(id, kind)))
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

/// A PR reference as seen from `repo`: `#N` there, `org/repo#N` elsewhere.
fn pr_ref(repo: &crate::model::RepoName, on: &crate::model::RepoName, pr: PrNumber) -> String {
    if repo == on {
        format!("#{}", pr.0)
    } else {
        format!("{repo}#{}", pr.0)
    }
}

/// Text safe inside a Markdown table cell (no row or cell breaks, no HTML or markers).
fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A score as written in the table: whole numbers without a fraction.
fn score(score: f64) -> String {
    if score.fract() == 0.0 {
        format!("{score:.0}")
    } else {
        format!("{score:.1}")
    }
}

/// Rows of the suspects table on an issue (best first; a suspect with a revert is always
/// listed); the others are counted, and the dashboard and the API list them all.
pub const SUSPECT_ROWS: usize = 50;

/// The most characters GitHub takes in an issue's or a comment's body.
pub const GITHUB_BODY_CHARS: usize = 65_536;

/// `body` as GitHub takes it: at most [`GITHUB_BODY_CHARS`] characters. A longer body is
/// cut, with a note saying so, before its trailing hidden marker, which is kept whole
/// (the reconciler finds its issues and comments by it).
pub fn fit_for_github(body: String) -> String {
    if body.chars().count() <= GITHUB_BODY_CHARS {
        return body;
    }
    let tail_at = body
        .rfind("<!-- scalability-gate:")
        .filter(|at| body[*at..].chars().count() < GITHUB_BODY_CHARS / 2)
        .unwrap_or(body.len());
    let tail = &body[tail_at..];
    let note = "\n\n*(Cut here: GitHub takes 65,536 characters at most. The dashboard shows \
                everything.)*\n\n";
    let room = GITHUB_BODY_CHARS - tail.chars().count() - note.chars().count();
    let cut = body
        .char_indices()
        .nth(room)
        .map_or(tail_at, |(at, _)| at.min(tail_at));
    format!("{}{note}{tail}", &body[..cut])
}

/// Why a suspect search has no commit range: which tested commit is unknown (a run
/// without artifacts), if any.
pub fn commits_unknown(
    last_green: &RunRef,
    green_unknown: bool,
    first_red: &RunRef,
    red_unknown: bool,
) -> Option<String> {
    match (green_unknown, red_unknown) {
        (false, false) => None,
        (true, false) => Some(format!(
            "the tested commit of the last green run {} is unknown (no artifacts)",
            last_green.build_id
        )),
        (false, true) => Some(format!(
            "the tested commit of the first red run {} is unknown (no artifacts)",
            first_red.build_id
        )),
        (true, true) => Some(format!(
            "the tested commits of runs {} and {} are unknown (no artifacts)",
            last_green.build_id, first_red.build_id
        )),
    }
}

/// Why a suspect search has no commit range: GitHub does not know it.
pub fn range_unknown_to_github(
    repo: &crate::model::RepoName,
    base: &crate::model::CommitSha,
    head: &crate::model::CommitSha,
) -> String {
    format!(
        "GitHub knows no range {}...{} in {repo}",
        base.as_str(),
        head.as_str()
    )
}

/// Why a time window starts a day before the first red run.
pub fn green_start_unknown() -> &'static str {
    "the last green run's start is unknown too, so the day before the first red run is searched"
}

/// A time window whose listing stopped after `read` closed PRs.
pub fn window_cut(read: usize) -> String {
    format!(
        "only the {read} most recently updated closed PRs were read, so PRs merged early in the window may be missing"
    )
}

/// The suspects of an incident as the issue of `scope` shows them: a table (PR as `#N`,
/// title, author, merged at, score, reasons; best first), how they were found, and the
/// bisection plan. Nothing when there are none and no search was made.
pub fn suspects_section(incident: &Incident, scope: &crate::model::Scope) -> String {
    use crate::core::culprit;
    use crate::model::SuspectRange;
    let search = incident.searches.iter().find(|s| &s.scope == scope);
    if incident.suspects.is_empty() && search.is_none() {
        return String::new();
    }
    let on = &scope.repo;
    let mut out = String::from("\n\n### Suspects\n\n");
    match search.map(|s| &s.range) {
        Some(SuspectRange::Commits {
            base,
            head,
            commits,
        }) => {
            let _ = write!(
                out,
                "The {commits} commit(s) on `{}` between the last green run's tested commit \
                 `{}` and the first red run's `{}` ([compare](https://github.com/{on}/compare/{base}...{head})), \
                 each mapped to its PR.\n\n",
                scope.branch,
                short(base.as_str()),
                short(head.as_str()),
            );
        }
        Some(SuspectRange::TimeWindow { from, to, why }) => {
            let why = if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.trim_end_matches('.'))
            };
            let _ = write!(
                out,
                "The tested commits are unknown{why}; these are the PRs merged into `{}` \
                 between the two runs' start times, {from} and {to}.\n\n",
                scope.branch
            );
        }
        None => {}
    }
    if incident.suspects.is_empty() {
        out.push_str("No PR was merged in that range.");
        return out.trim_end().to_string();
    }
    out.push_str(
        "| PR | title | author | merged at | score | reasons |\n|---|---|---|---|---|---|\n",
    );
    let ranked = culprit::top_suspects(incident, usize::MAX);
    let reverted = |s: &crate::model::Suspect| {
        incident
            .reverts
            .iter()
            .any(|r| r.repo == s.repo && r.suspect == s.pr)
    };
    let (shown, hidden): (Vec<_>, Vec<_>) = ranked
        .into_iter()
        .enumerate()
        .partition(|(rank, s)| *rank < SUSPECT_ROWS || reverted(s));
    for s in shown.into_iter().map(|(_, s)| s) {
        let mut reasons: Vec<String> = s.reasons.iter().map(|r| cell(r)).collect();
        if let Some(r) = incident
            .reverts
            .iter()
            .find(|r| r.repo == s.repo && r.suspect == s.pr)
        {
            reasons.push(match (r.revert_pr, &r.error) {
                (Some(pr), _) => format!("**reverted in {}**", pr_ref(&s.repo, on, pr)),
                (None, Some(e)) => format!("revert failed: {}", cell(e)),
                (None, None) => format!("revert asked by @{}", r.by),
            });
        }
        let merged = s
            .merged_at
            .map_or_else(|| "unknown".to_string(), |t| t.to_string());
        let _ = writeln!(
            out,
            "| {} | {} | `{}` | {merged} | {} | {} |",
            pr_ref(&s.repo, on, s.pr),
            cell(&s.title),
            cell(s.author.as_str()),
            score(s.score),
            reasons.join("; ")
        );
    }
    if !hidden.is_empty() {
        let _ = write!(
            out,
            "\n{} more suspect(s) with lower scores are not listed here; the dashboard and \
             `GET /api/v1/incidents/{}` have every one.\n",
            hidden.len(),
            incident.id
        );
    }
    let in_scope: Vec<crate::model::Suspect> = incident
        .suspects
        .iter()
        .filter(|s| &s.repo == on)
        .cloned()
        .collect();
    let plan = culprit::bisection(&culprit::merge_order(&in_scope));
    if plan.runs > 0 {
        let first: Vec<String> = plan
            .test_first
            .iter()
            .map(|(pr, sha)| match sha {
                Some(sha) => format!("{} (`{}`)", pr_ref(on, on, *pr), short(sha.as_str())),
                None => pr_ref(on, on, *pr),
            })
            .collect();
        let _ = write!(
            out,
            "\n**Bisection.** {} suspects on `{on}`: {} run(s) of the job single out one. Test \
             the merge commit of {} first (red: the culprit is it or earlier; green: later), \
             then {}.",
            in_scope.len(),
            plan.runs,
            first[0],
            if first.len() > 1 {
                first[1..].join(" and ")
            } else {
                "the remaining suspect".to_string()
            }
        );
    }
    out.trim_end().to_string()
}

/// The incident's `/scalability-rerun`s and what came of each (nothing when none).
pub fn reruns_section(incident: &Incident) -> String {
    if incident.reruns.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n\n### Reruns\n");
    for r in &incident.reruns {
        let state = match (&r.result, &r.error, &r.execution) {
            (Some(done), _, _) => format!(
                "run {} is `{}`: {}",
                run_link(&done.run),
                done.result.as_str(),
                match done.result {
                    crate::model::RunResult::Success => "looks like a flake",
                    crate::model::RunResult::Failure => "the regression is confirmed",
                    _ => "inconclusive",
                }
            ),
            (None, Some(error), _) => format!("Gangway refused it: {}", cell(error)),
            (None, None, Some(execution)) => {
                format!("Gangway execution `{execution}`, waiting for its result")
            }
            (None, None, None) => "waiting for Gangway".to_string(),
        };
        let _ = write!(out, "\n- asked by @{} at {}: {state}", r.by, r.at);
    }
    out
}

/// The first 12 characters of a sha (one from a `started.json` may be any text).
fn short(sha: &str) -> &str {
    sha.char_indices().nth(12).map_or(sha, |(at, _)| &sha[..at])
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
    fit_for_github(format!(
        "## Merges to `{repo}` branch `{branch}` are blocked\n\n\
         Blocked by incident `{id}`: {scopes}.\n\n{cause}\n\n\
         {label} {holds}\n\n\
         **Why.** {rules}\n\n\
         **How to unblock.** Find and revert or fix the culprit, or switch it off. Then an \
         approver comments `/scalability-unblock <reason>` on this issue. An approver can let \
         a PR merge meanwhile with `/scalability-exempt <reason>` on it, open an exempt revert \
         of a suspect with `/scalability-revert #N`, and re-run the job to rule out a flake \
         with `/scalability-rerun` (where Gangway is configured).\n\n\
         **Who can.** {who}.{suspects}{reruns}\n\n{marker}",
        repo = scope.repo,
        branch = scope.branch,
        id = incident.id,
        cause = incident_cause(incident),
        label = label_sentence(ctx),
        rules = rules_paragraph(),
        who = who_can(ctx),
        suspects = suspects_section(incident, scope),
        reruns = reruns_section(incident),
        marker = issue_marker(&incident.id, &scope.branch),
    ))
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
            "| #42 | Speed up the scheduler | `dev` | unknown | 1 |",
            "`lgtm` and `approved`",
            "<!-- scalability-gate:ci-job-100:issue/master -->",
        ] {
            assert!(body.contains(want), "missing {want:?} in\n{body}");
        }
        let me = crate::model::Login::new("gate-bot");
        assert_eq!(
            issue_incident(Some(&me), "gate-bot", &body),
            Some(i.id.clone())
        );
        assert_eq!(issue_incident(Some(&me), "mallory", &body), None);
    }

    #[test]
    fn markers_parse_back() {
        let id = IncidentId::new("j-1");
        let text = format!("x {} y {}", announcement_marker(&id), lifted_marker(&id));
        assert_eq!(
            parse_markers(&text),
            vec![(id.clone(), "announce".into()), (id, "lifted".into())]
        );
        let me = crate::model::Login::new("gate-bot");
        assert_eq!(issue_incident(Some(&me), "gate-bot", "no marker"), None);
    }

    /// A marker counts only on what the plugin's own login wrote; a stranger's copy, or
    /// any copy while the login is unknown, counts for nothing.
    #[test]
    fn a_marker_counts_only_on_what_the_plugin_wrote() {
        let id = IncidentId::new("j-1");
        let marker = announcement_marker(&id);
        let body = format!("Merges are blocked.\n\n{marker}");
        let me = crate::model::Login::new("scalability-gate-bot");
        assert!(ours(Some(&me), "scalability-gate-bot", &body, &marker));
        assert!(
            ours(Some(&me), "Scalability-Gate-Bot", &body, &marker),
            "GitHub logins compare without case"
        );
        assert!(
            !ours(Some(&me), "mallory", &body, &marker),
            "a stranger's copy"
        );
        assert!(
            !ours(Some(&me), "scalability-gate-bot-fan", &body, &marker),
            "a login that merely starts alike"
        );
        assert!(!ours(Some(&me), "", &body, &marker));
        assert!(
            !ours(None, "scalability-gate-bot", &body, &marker),
            "with the login unknown no marker counts"
        );
        assert!(
            !ours(
                Some(&me),
                "scalability-gate-bot",
                &body,
                &lifted_marker(&id)
            ),
            "our comment, another marker"
        );
        let app = crate::model::Login::new("scalability-gate[bot]");
        assert!(ours(Some(&app), "scalability-gate[bot]", &body, &marker));
        assert!(!ours(Some(&app), "scalability-gate", &body, &marker));
    }
}

// ---------------------------------------------------------------------------------------
// Culprit texts (issue 6): escalation steps, the hard block of a revert PR while the
// blocker issue is open, a cut suspect range (posted by the reconciler); a failed revert
// and the rerun's outcome (posted through the outbox when the gate records the finding).
// ---------------------------------------------------------------------------------------

/// The marker of the notice that a scope's suspect range was longer than what was read.
pub fn range_cut_marker(incident: &IncidentId, branch: &str) -> String {
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
pub fn revert_notice_marker(incident: &IncidentId) -> String {
    marker(incident, "revert-notice")
}

/// The marker of the hard-block notice about revert PR `revert_pr` on the incident's issue.
pub fn revert_hard_block_marker(incident: &IncidentId, revert_pr: PrNumber) -> String {
    marker(incident, &format!("revert-hard-block/{}", revert_pr.0))
}

/// Posted once on a revert PR while the Tide blocker issue `issue` of its branch is open:
/// the PR is exempt from the label, but Tide merges nothing on the branch meanwhile.
pub fn revert_hard_block_on_pr(
    incident: &Incident,
    scope: &crate::model::Scope,
    suspect: PrNumber,
    issue: PrNumber,
    ctx: &NoticeContext,
) -> String {
    format!(
        "This PR reverts {suspect}, a suspect of incident `{id}`, and is exempt from the \
         block: it never gets the label `{label}`. But the Tide blocker issue {issue} is open \
         on `{scope}`, and while it is open **Tide merges nothing on that branch, exemptions \
         included** (a hard block). Either someone with merge rights on `{repo}` merges this \
         PR by hand, or an approver lifts the incident with `/scalability-unblock <reason>` \
         on {issue} (who can: {who}), after which Tide merges it as usual.\n\n{marker}",
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
    suspect: PrNumber,
    revert_pr: PrNumber,
    ctx: &NoticeContext,
) -> String {
    format!(
        "{revert_pr} reverts suspect {suspect} and is exempt from the label. This issue is a \
         Tide blocker, though: while it is open, Tide merges nothing on `{scope}`, not even \
         {revert_pr}. Someone with merge rights merges {revert_pr} by hand, or an approver \
         ({who}) lifts the incident with `/scalability-unblock <reason>` here and Tide merges \
         it.\n\n{marker}",
        who = who_can(ctx),
        marker = revert_hard_block_marker(&incident.id, revert_pr),
    )
}

/// The marker of escalation step `step` (1: mention, 2: suggest a revert).
pub fn escalation_marker(incident: &IncidentId, step: u8) -> String {
    marker(incident, &format!("escalate-{step}"))
}

/// The escalation comment of `step` on the incident's issue of `scope`. Step 1 mentions
/// the top suspects' authors and the approver teams; step 2 suggests reverting the top
/// suspect with the exact command.
pub fn escalation(
    incident: &Incident,
    scope: &crate::model::Scope,
    step: u8,
    policy: &crate::core::culprit::Escalation,
    ctx: &NoticeContext,
) -> String {
    use crate::core::culprit;
    let since = incident.opened_at;
    let on = &scope.repo;
    let body = if step == 1 {
        let top = culprit::top_suspects(incident, policy.top);
        let mut authors: Vec<String> = Vec::new();
        for s in &top {
            let mention = format!("@{}", s.author);
            if !authors.contains(&mention) {
                authors.push(mention);
            }
        }
        let teams: Vec<String> = ctx.approver_teams.iter().map(|t| format!("@{t}")).collect();
        let who = [authors, teams].concat().join(" ");
        let list = if top.is_empty() {
            "No suspect is known yet.".to_string()
        } else {
            let items: Vec<String> = top
                .iter()
                .map(|s| {
                    format!(
                        "- {} {} (by @{}, score {}: {})",
                        pr_ref(&s.repo, on, s.pr),
                        cell(&s.title),
                        s.author,
                        score(s.score),
                        s.reasons.join("; ")
                    )
                })
                .collect();
            format!("The top suspects:\n\n{}", items.join("\n"))
        };
        format!(
            "Merges to `{scope}` have been blocked since {since} by incident `{id}`. {who}: \
             please take a look. Is one of these the cause? A revert \
             (`/scalability-revert #N`, approvers), a fix or switching the change off lets \
             the block be lifted.\n\n{list}",
            id = incident.id,
        )
    } else {
        match culprit::top_revertible(incident) {
            Some(top) => format!(
                "Merges to `{scope}` are still blocked (since {since}, incident `{id}`). The \
                 top suspect is {pr} {title} by @{author} (score {score}). Unless a fix is \
                 close, an approver can revert it now by commenting\n\n\
                 ```\n/scalability-revert #{n}\n```\n\n\
                 The revert PR is exempt from the label; once it merges and the job is green, \
                 lift the block with `/scalability-unblock <reason>`.",
                id = incident.id,
                pr = pr_ref(&top.repo, on, top.pr),
                title = cell(&top.title),
                author = top.author,
                score = score(top.score),
                n = top.pr.0,
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

/// The marker of the notice that the revert of `suspect` failed.
pub fn revert_failed_marker(incident: &IncidentId, suspect: PrNumber) -> String {
    marker(incident, &format!("revert-failed/{}", suspect.0))
}

/// Posted once where `/scalability-revert` was asked when the revert PR could not be opened.
pub fn revert_failed(incident: &Incident, revert: &crate::model::Revert) -> String {
    format!(
        "@{by}: the revert PR of {suspect} (incident `{id}`) could not be opened: {error}. \
         Open it by hand (GitHub's \"Revert\" button on {suspect}), then exempt it with \
         `/scalability-exempt` on the revert PR.\n\n{marker}",
        by = revert.by,
        suspect = revert.suspect,
        id = incident.id,
        error = revert.error.as_deref().unwrap_or("unknown error"),
        marker = revert_failed_marker(&incident.id, revert.suspect),
    )
}

/// The marker of a rerun's notice of `kind` (`failed`, `result`).
pub fn rerun_marker(incident: &IncidentId, rerun: u64, kind: &str) -> String {
    marker(incident, &format!("rerun/{rerun}/{kind}"))
}

/// Posted once where `/scalability-rerun` was asked when Gangway refused the rerun.
pub fn rerun_failed(incident: &Incident, rerun: &crate::model::Rerun) -> String {
    format!(
        "@{by}: the rerun of `{job}` (incident `{id}`) could not be started through Gangway: \
         {error}. Re-run the job from Prow instead (the rerun button on its Deck page).\n\n{marker}",
        by = rerun.by,
        job = incident.job,
        id = incident.id,
        error = rerun.error.as_deref().unwrap_or("unknown error"),
        marker = rerun_marker(&incident.id, rerun.id, "failed"),
    )
}

/// Whether a rerun's result makes the regression look like a flake, in words.
pub fn rerun_verdict(result: crate::model::RunResult) -> &'static str {
    use crate::model::RunResult;
    match result {
        RunResult::Success => {
            "**it looks like a flake**: the job passes again on a newer run. If the next \
             scheduled runs are green too, an approver can lift the block with \
             `/scalability-unblock flake`."
        }
        RunResult::Failure => {
            "**the regression is confirmed**: the job fails again, so it is not a flake. Look \
             at the suspects on the blocker issue."
        }
        RunResult::Aborted | RunResult::Error => {
            "**inconclusive**: the run did not finish with a result (aborted or errored); it \
             tells nothing about the regression. Re-run again with `/scalability-rerun`."
        }
    }
}

/// Posted once where `/scalability-rerun` was asked when the rerun's run has finished.
pub fn rerun_result(incident: &Incident, rerun: &crate::model::Rerun) -> String {
    let Some(done) = &rerun.result else {
        return String::new();
    };
    format!(
        "@{by}: the rerun of `{job}` (incident `{id}`) finished: run {run} is `{result}`, so \
         {verdict}\n\n{marker}",
        by = rerun.by,
        job = incident.job,
        id = incident.id,
        run = run_link(&done.run),
        result = done.result.as_str(),
        verdict = rerun_verdict(done.result),
        marker = rerun_marker(&incident.id, rerun.id, "result"),
    )
}

#[cfg(test)]
mod culprit_tests {
    use super::*;
    use crate::core::culprit::Escalation;
    use crate::model::{
        CommitSha, IncidentState, JobName, Login, RepoName, Rerun, RerunResult, Revert, RunResult,
        Scope, Suspect, SuspectRange, SuspectSearch, Timestamp,
    };

    fn scope() -> Scope {
        Scope {
            repo: RepoName::new("kubernetes", "kubernetes"),
            branch: "master".into(),
        }
    }

    fn suspect(pr: u64, score: f64) -> Suspect {
        Suspect {
            repo: scope().repo,
            pr: PrNumber(pr),
            title: format!("Change | number {pr}"),
            author: Login::new(format!("dev{pr}")),
            merged_at: Some(Timestamp(1_764_000_000 + pr as i64)),
            score,
            reasons: vec![format!("reason of {pr}")],
            merge_commit: Some(CommitSha::new(format!("{pr:0>40}"))),
            reverts: None,
        }
    }

    fn incident(n: u64) -> Incident {
        let mut i = Incident::new(
            IncidentId::new("ci-job-100"),
            JobName::new("ci-job"),
            Timestamp(1_764_000_000),
            Cause::Manual {
                by: Login::new("alice"),
                reason: String::new(),
            },
            vec![scope()],
        );
        i.suspects = (1..=n).map(|pr| suspect(pr, (pr % 3) as f64)).collect();
        i.searches.push(SuspectSearch {
            scope: scope(),
            range: SuspectRange::Commits {
                base: CommitSha::new("a".repeat(40)),
                head: CommitSha::new("b".repeat(40)),
                commits: 9,
            },
            at: Timestamp(1_764_000_100),
        });
        i
    }

    fn ctx() -> NoticeContext {
        NoticeContext {
            label: "do-not-merge/scalability-regression".into(),
            ready_only: true,
            ready_labels: vec![vec!["lgtm".into()]],
            blocker: true,
            approver_users: vec!["alice".into()],
            approver_teams: vec!["kubernetes/sig-scalability-leads".into()],
        }
    }

    /// A long range lists the best suspects (and any with a revert) and counts the rest;
    /// the issue body stays within GitHub's limit even with a thousand suspects.
    #[test]
    fn a_long_suspect_list_is_cut_to_the_best_and_the_body_fits_github() {
        let mut i = incident(1000);
        i.suspects[999].score = -1.0;
        i.reverts.push(Revert {
            revert_pr: Some(PrNumber(2000)),
            ..Revert::asked(
                scope().repo,
                PrNumber(1000),
                Login::new("alice"),
                Timestamp(1),
                None,
            )
        });
        let text = suspects_section(&i, &scope());
        let rows = text.lines().filter(|l| l.starts_with("| #")).count();
        assert_eq!(rows, SUSPECT_ROWS + 1, "the best 50 and the reverted one");
        assert!(text.contains("| #1000 |"), "reverted, so listed: {text}");
        assert!(
            text.contains("949 more suspect(s) with lower scores are not listed here"),
            "{text}"
        );
        let body = blocker_body(&i, &scope(), &ctx());
        assert!(body.chars().count() <= GITHUB_BODY_CHARS);
        assert!(!body.contains("Cut here"), "the table alone fits");
    }

    #[test]
    fn a_body_over_githubs_limit_is_cut_before_its_marker() {
        let marker = issue_marker(&IncidentId::new("ci-job-100"), "master");
        let short = format!("short\n\n{marker}");
        assert_eq!(fit_for_github(short.clone()), short);
        let long = format!("{}\n\n{marker}", "é".repeat(100_000));
        let fitted = fit_for_github(long);
        assert!(
            fitted.chars().count() <= GITHUB_BODY_CHARS,
            "{}",
            fitted.len()
        );
        assert!(fitted.ends_with(&marker));
        assert!(fitted.contains("Cut here"));
        let exact = "x".repeat(GITHUB_BODY_CHARS);
        assert_eq!(fit_for_github(exact.clone()), exact);
        let no_marker = fit_for_github("y".repeat(GITHUB_BODY_CHARS + 1));
        assert!(no_marker.chars().count() <= GITHUB_BODY_CHARS);
    }

    #[test]
    fn the_suspects_table_has_every_column_the_plan_and_how_they_were_found() {
        let mut i = incident(7);
        i.reverts.push(Revert {
            revert_pr: Some(PrNumber(900)),
            ..Revert::asked(
                scope().repo,
                PrNumber(5),
                Login::new("alice"),
                Timestamp(1),
                None,
            )
        });
        let text = suspects_section(&i, &scope());
        assert!(
            !text.contains("@dev"),
            "authors are named, not notified: {text}"
        );
        for want in [
            "| PR | title | author | merged at | score | reasons |",
            "| #2 | Change \\| number 2 | `dev2` | 2025-11-24T16:00:02Z | 2 | reason of 2 |",
            "**reverted in #900**",
            "The 9 commit(s) on `master` between the last green run's tested commit `aaaaaaaaaaaa` and the first red run's `bbbbbbbbbbbb`",
            "7 suspects on `kubernetes/kubernetes`: 3 run(s)",
            "Test the merge commit of #4 (`000000000000`) first",
            "then #2 (`000000000000`) and #6 (`000000000000`).",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // Best first: scores 2 (#2, #5), 1 (#1, #4, #7), 0 (#3, #6), ties in merge order.
        let order: Vec<usize> = [2, 5, 1, 4, 7, 3, 6]
            .iter()
            .map(|n| text.find(&format!("| #{n} |")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    }

    #[test]
    fn unknown_tested_commits_are_said_plainly() {
        let mut i = incident(1);
        i.searches[0].range = SuspectRange::TimeWindow {
            from: Timestamp(1_764_000_000),
            to: Timestamp(1_764_003_600),
            why: "no started.json for run 100".into(),
        };
        let text = suspects_section(&i, &scope());
        assert!(
            text.contains("The tested commits are unknown (no started.json for run 100); these are the PRs merged into `master` between the two runs' start times"),
            "{text}"
        );
        assert!(
            !text.contains("Bisection"),
            "one suspect needs no bisection: {text}"
        );
        i.suspects.clear();
        assert!(suspects_section(&i, &scope()).contains("No PR was merged in that range."));
        i.searches.clear();
        assert_eq!(suspects_section(&i, &scope()), "");
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

    #[test]
    fn escalation_step_1_mentions_authors_and_teams_and_step_2_gives_the_command() {
        let i = incident(4);
        let policy = Escalation {
            mention_after: None,
            suggest_revert_after: None,
            top: 2,
        };
        let one = escalation(&i, &scope(), 1, &policy, &ctx());
        assert!(
            one.contains("@dev2 @dev1 @kubernetes/sig-scalability-leads"),
            "{one}"
        );
        assert!(!one.contains("@dev4"), "only the top 2: {one}");
        assert!(
            one.ends_with("<!-- scalability-gate:ci-job-100:escalate-1 -->"),
            "{one}"
        );
        let two = escalation(&i, &scope(), 2, &policy, &ctx());
        assert!(two.contains("```\n/scalability-revert #2\n```"), "{two}");
        assert!(
            two.ends_with("<!-- scalability-gate:ci-job-100:escalate-2 -->"),
            "{two}"
        );
    }

    #[test]
    fn revert_notices_say_tide_merges_nothing_while_the_blocker_issue_is_open() {
        let i = incident(1);
        let on_pr = revert_hard_block_on_pr(&i, &scope(), PrNumber(1), PrNumber(50), &ctx());
        assert!(on_pr.contains("Tide merges nothing on that branch, exemptions included"));
        assert!(on_pr.contains("merges this PR by hand"));
        assert!(on_pr.ends_with(&revert_notice_marker(&i.id)));
        let on_issue = revert_hard_block_on_issue(&i, &scope(), PrNumber(1), PrNumber(77), &ctx());
        assert!(on_issue.contains("not even #77"), "{on_issue}");
        assert!(on_issue.ends_with("<!-- scalability-gate:ci-job-100:revert-hard-block/77 -->"));
    }

    #[test]
    fn rerun_outcomes_say_whether_it_looks_like_a_flake() {
        let mut i = incident(0);
        i.state = IncidentState::Active;
        let mut rerun = Rerun {
            id: 5,
            by: Login::new("alice"),
            at: Timestamp(1),
            repo: scope().repo,
            requested_on: PrNumber(3),
            execution: Some("exec".into()),
            build_id: None,
            result: None,
            error: None,
        };
        let cases = [
            (RunResult::Success, "looks like a flake"),
            (RunResult::Failure, "the regression is confirmed"),
            (RunResult::Aborted, "inconclusive"),
        ];
        for (result, want) in cases {
            rerun.result = Some(RerunResult {
                run: RunRef {
                    build_id: crate::model::BuildId::new("555"),
                    url: "https://prow/555".into(),
                    started_at: None,
                    commits: Default::default(),
                },
                result,
            });
            let text = rerun_result(&i, &rerun);
            assert!(text.contains(want), "{text}");
            assert!(text.contains("[555](https://prow/555)"), "{text}");
            assert!(text.ends_with("<!-- scalability-gate:ci-job-100:rerun/5/result -->"));
        }
        i.reruns.push(rerun.clone());
        let section = reruns_section(&i);
        assert!(
            section.contains("- asked by @alice at 1970-01-01T00:00:01Z: run [555](https://prow/555) is `aborted`: inconclusive"),
            "{section}"
        );
        rerun.result = None;
        rerun.error = Some("permission denied".into());
        assert!(rerun_failed(&i, &rerun).contains("permission denied"));
        i.reruns = vec![rerun];
        assert!(reruns_section(&i).contains("Gangway refused it: permission denied"));
        i.reruns.clear();
        assert_eq!(reruns_section(&i), "");
    }
}
