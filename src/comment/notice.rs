//! The short notices the reconciler posts once on an incident's issue: the announcement,
//! a breach, a Tide leak, the recovery and the lift.

use super::marker::{
    announcement_marker, breach_marker, lifted_marker, recovered_marker, tide_leak_marker,
};
use crate::model::{Incident, IncidentId, RunRef};

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

/// The notice posted once per lift on an incident's issue (before closing it).
pub fn lift_notice(incident: &Incident) -> String {
    let (how, after) = match &incident.state {
        crate::model::IncidentState::Lifted { by, reason, at } => {
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(": {reason}")
            };
            (
                format!(" by `{by}` at {at}{why}"),
                " The job is still red, so the lift is provisional: the first red run that \
                 starts after it blocks the branch again and reopens this issue; the first \
                 green run resolves it."
                    .to_string(),
            )
        }
        crate::model::IncidentState::Resolved { how, at } => {
            let by = incident
                .lifts
                .last()
                .map(|l| format!(" by `{}`", l.by))
                .unwrap_or_default();
            (
                format!("{by} at {at} (resolved: {})", how.as_str()),
                String::new(),
            )
        }
        crate::model::IncidentState::Active => (String::new(), String::new()),
    };
    format!(
        "Unblocked: incident `{}` was lifted{how}. The label is removed from every PR that \
         carries it unless another incident still blocks the branch; this issue is closed.{after}\n\n{}",
        incident.id,
        lifted_marker_of(incident)
    )
}

/// The marker of the lift notice for the incident's current lift: the first lift keeps
/// the original marker, each lift after a re-block gets its own.
pub fn lifted_marker_of(incident: &Incident) -> String {
    match incident.reblocks.len() {
        0 => lifted_marker(&incident.id),
        n => super::marker::marker(&incident.id, &format!("lifted-{}", n + 1)),
    }
}

/// The comment posted once per re-block on the incident's issue: which run failed after
/// which lift.
pub fn reblock_notice(incident: &Incident, reblock: &crate::model::Reblock, n: usize) -> String {
    let run = if reblock.run.url.is_empty() {
        format!("`{}`", reblock.run.build_id)
    } else {
        format!("[{}]({})", reblock.run.build_id, reblock.run.url)
    };
    let started = reblock
        .run
        .started_at
        .map(|t| format!(", started at {t}"))
        .unwrap_or_default();
    format!(
        "Blocked again: `{}` failed in run {run}{started}, after the lift by `{}` at {}. \
         Incident `{}` is active again (re-block {n}); ready PRs get the label back. Lift it \
         with `/scalability-unblock [reason]` once fixed, or `--final` to resolve it for good.\n\n{}",
        incident.job,
        reblock.lift_by,
        reblock.lift_at,
        incident.id,
        reblock_marker(&incident.id, n)
    )
}

/// The marker of the `n`-th re-block notice of an incident.
pub fn reblock_marker(incident: &IncidentId, n: usize) -> String {
    super::marker::marker(incident, &format!("reblock-{n}"))
}
