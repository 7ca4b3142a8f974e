//! Culprit texts (issue 6): escalation steps, the hard block of a revert PR while the
//! blocker issue is open, a cut suspect range (posted by the reconciler); a failed revert
//! and the rerun's outcome (posted through the outbox when the gate records the finding).

use super::context::{NoticeContext, who_can};
use super::fit::{cell, pr_ref, run_link, score};
use super::marker::{
    escalation_marker, range_cut_marker, rerun_marker, revert_failed_marker,
    revert_hard_block_marker, revert_notice_marker,
};
use crate::model::{Incident, PrNumber};

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
mod tests {
    use super::*;
    use crate::comment::issue::reruns_section;
    use crate::comment::testing::{ctx, incident, scope};
    use crate::core::culprit::Escalation;
    use crate::model::{IncidentState, Login, Rerun, RerunResult, RunRef, RunResult, Timestamp};

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
                    finished_at: None,
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
