//! The body of an incident's blocker (or tracking) issue: the cause, the label, how to
//! unblock and who can, the suspects table with how they were found and the bisection
//! plan, and the reruns.

use std::fmt::Write as _;

use super::context::{NoticeContext, label_sentence, rules_paragraph, who_can};
use super::fit::{cell, fit_for_github, pr_ref, run_link, score, short};
use super::marker::issue_marker;
use crate::model::{Cause, Incident, RunRef};

/// The blocker issue's title. Tide reads the `branch:<name>` token (kept last, after a
/// space, so its pattern takes exactly the branch name).
pub fn blocker_title(incident: &Incident, branch: &str) -> String {
    format!(
        "Merges blocked: scalability regression of {} branch:{branch}",
        incident.job
    )
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
         Blocked by incident `{id}`: {scopes}.{left_open}\n\n{cause}{what_failed}{culprit}\n\n\
         {label} {holds}\n\n\
         **Why.** {rules}\n\n\
         **How to unblock.** Find and revert or fix the culprit, or switch it off. Then an \
         approver comments `/scalability-unblock <reason>` on this issue. An approver can let \
         a PR merge meanwhile with `/scalability-exempt <reason>` on it, open an exempt revert \
         of a suspect with `/scalability-revert #N`, re-run the job to rule out a flake \
         with `/scalability-rerun` (where Gangway is configured), and record the culprit and \
         its mitigation with `/scalability-culprit #N <revert|fix|feature-off|flake|other> \
         [note]`.\n\n\
         **Who can.** {who}.{suspects}{reruns}\n\n{marker}",
        repo = scope.repo,
        branch = scope.branch,
        id = incident.id,
        left_open = left_open_sentence(incident),
        cause = incident_cause(incident),
        what_failed = super::failed::what_failed_section(incident, scope, ctx.reads_failed_tests),
        culprit = super::failed::culprit_section(incident, scope),
        label = label_sentence(ctx),
        rules = rules_paragraph(),
        who = who_can(ctx),
        suspects = suspects_section(incident, scope),
        reruns = reruns_section(incident),
        marker = issue_marker(&incident.id, &scope.branch),
    ))
}

/// The scopes `jobs[].infer_scopes` left open, and why; nothing when none were.
pub fn left_open_sentence(incident: &Incident) -> String {
    if incident.scopes_left_open.is_empty() {
        return String::new();
    }
    let open = incident
        .scopes_left_open
        .iter()
        .map(|s| format!("`{}` branch `{}`", s.repo, s.branch))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        " Left open: {open}, unchanged since the last green run (the same commit was tested \
         in the last green and the first red run)."
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

fn started(run: &crate::model::RunRef) -> String {
    run.started_at
        .map_or_else(|| "unknown".into(), |t| t.to_string())
}

/// Rows of the suspects table on an issue (best first; a suspect with a revert is always
/// listed); the others are counted, and the dashboard and the API list them all.
pub const SUSPECT_ROWS: usize = 50;

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
            let to = match incident.cause {
                Cause::Regression { .. } => "the first red run's",
                Cause::Manual { .. } => "the latest run's (else the branch head)",
            };
            let _ = write!(
                out,
                "The {commits} commit(s) on `{}` between the last green run's tested commit \
                 `{}` and {to} `{}` ([compare](https://github.com/{on}/compare/{base}...{head})), \
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

/// Why a manual block's suspects are a time window: the job has no green run on record.
pub fn no_green_run() -> &'static str {
    "the job has no green run on record"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::fit::GITHUB_BODY_CHARS;
    use crate::comment::marker::issue_incident;
    use crate::comment::testing::{ctx, incident, scope};
    use crate::model::{
        IncidentId, IncidentState, Login, PrNumber, RepoName, Revert, Scope, Suspect, SuspectRange,
        Timestamp,
    };

    fn regression() -> Incident {
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
                    finished_at: None,
                },
                last_green: RunRef {
                    build_id: crate::model::BuildId::new("99"),
                    url: "https://prow/99".into(),
                    started_at: None,
                    commits: Default::default(),
                    finished_at: None,
                },
            },
            scopes_left_open: Vec::new(),
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
            lifts: Vec::new(),
            reblocks: Vec::new(),
            failed_tests: None,
            culprit: None,
            culprit_history: Vec::new(),
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
            issue_opened_at: None,
        }
    }

    fn regression_ctx() -> NoticeContext {
        NoticeContext {
            label: "do-not-merge/scalability-regression".into(),
            ready_only: true,
            ready_labels: vec![vec!["lgtm".into(), "approved".into()]],
            blocker: true,
            approver_users: vec!["alice".into()],
            approver_teams: vec!["o/leads".into()],
            reads_failed_tests: true,
        }
    }

    #[test]
    fn blocker_title_ends_with_the_branch_token() {
        assert!(blocker_title(&regression(), "release-1.34").ends_with(" branch:release-1.34"));
    }

    #[test]
    fn blocker_body_says_what_why_how_and_who() {
        let i = regression();
        let body = blocker_body(&i, &i.scopes[0], &regression_ctx());
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
            // The fixture is a block by hand: its range ends at the latest run or the head.
            "The 9 commit(s) on `master` between the last green run's tested commit `aaaaaaaaaaaa` and the latest run's (else the branch head) `bbbbbbbbbbbb`",
            "7 suspects on `kubernetes/kubernetes`: 3 run(s)",
            "Test the merge commit of #4 (`000000000000`) first",
            "then #2 (`000000000000`) and #6 (`000000000000`).",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
        // A regression's range ends at its first red run.
        let mut red = i.clone();
        red.cause = crate::model::Cause::Regression {
            first_red: crate::model::RunRef {
                build_id: crate::model::BuildId::new("2"),
                url: String::new(),
                started_at: None,
                finished_at: None,
                commits: Default::default(),
            },
            last_green: crate::model::RunRef {
                build_id: crate::model::BuildId::new("1"),
                url: String::new(),
                started_at: None,
                finished_at: None,
                commits: Default::default(),
            },
        };
        assert!(
            suspects_section(&red, &scope())
                .contains("tested commit `aaaaaaaaaaaa` and the first red run's `bbbbbbbbbbbb`")
        );
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
}
