//! The reconciler's culprit work (issue 6), done at the start of every full pass, before
//! issues and labels:
//!
//! 1. **Suspects.** For each active incident and scope not searched yet: the
//!    commits between the last green run's tested commit and the first red run's (compare
//!    API, at most [`MAX_RANGE_COMMITS`]), each commit that landed on the branch mapped to
//!    its PR (`commits/{sha}/pulls`, else the merge-commit message), the PRs' facts read
//!    and ranked by [`culprit::rank`]. Without both tested commits, the PRs merged between
//!    the two runs' start times instead, and the search says why. A manual block is
//!    searched from the job's last green run to its latest run after it, else to the
//!    branch head. Reported to the gate as [`Finding::Suspects`]; the issue body then shows them (next step of the pass).
//! 2. **Reverts.** For each `/scalability-revert` not carried out yet: an open PR saying
//!    `Reverts org/repo#N` is adopted, else GraphQL `revertPullRequest` opens one. Reported
//!    as [`Finding::RevertOpened`] (which exempts it) before anything is labelled in the
//!    pass, so the revert PR is never labelled. While the blocker issue is open, the revert
//!    PR and the incident's issue are told (once each) that Tide merges nothing there.
//! 3. **Escalation.** The steps [`culprit::escalations_due`] at the reconciler's clock are
//!    posted on the incident's issues once each (by marker), then reported as
//!    [`Finding::Escalated`].
//!
//! Every finding is sent through the ordered queue and awaited, so the gate (the one
//! writer of incidents) has written it before this pass relies on it. Without a queue
//! ([`Reconciler::with_findings`] not called) this work is off.
//!
//! The suspect search is in `suspects`, the reverts and their hard-block notices in
//! `reverts`; this file orders the work and holds the escalation.

use anyhow::Context;

use super::{Reconciler, Report};
use crate::comment;
use crate::core::culprit;
use crate::core::gate::Finding;
use crate::model::{Cause, Incident, PrNumber, Scope, SuspectRange};

mod reverts;
mod suspects;

pub use reverts::says_reverts;
pub use suspects::MAX_RANGE_COMMITS;

impl Reconciler {
    /// The culprit work of one pass; true when a finding was recorded (the caller then
    /// reads the incidents again).
    pub(super) async fn culprit_pass(&self, incidents: &[Incident], report: &mut Report) -> bool {
        if self.findings.is_none() {
            return false;
        }
        let mut recorded = false;
        for incident in incidents.iter().filter(|i| i.is_active()) {
            for scope in &incident.scopes {
                if incident.searches.iter().any(|s| &s.scope == scope) {
                    continue;
                }
                let (last_green, first_red) = match &incident.cause {
                    Cause::Regression {
                        first_red,
                        last_green,
                    } => (Some(last_green.clone()), first_red.clone()),
                    Cause::Manual { .. } => match self.store.runs(&incident.job) {
                        Ok(runs) => suspects::manual_bounds(
                            &runs,
                            &scope.repo,
                            &scope.branch,
                            incident.opened_at,
                        ),
                        Err(e) => {
                            report.fail(format!("runs of {}", incident.job), e);
                            continue;
                        }
                    },
                };
                match self
                    .find_suspects(incident, scope, last_green.as_ref(), &first_red, incidents)
                    .await
                {
                    Ok(()) => recorded = true,
                    Err(e) => report.fail(format!("suspects of {} on {scope}", incident.id), e),
                }
            }
            for revert in incident
                .reverts
                .iter()
                .filter(|r| r.revert_pr.is_none() && r.error.is_none())
            {
                match self
                    .open_revert(incident, &revert.repo, revert.suspect, report)
                    .await
                {
                    Ok(true) => recorded = true,
                    Ok(false) => {}
                    Err(e) => report.fail(
                        format!(
                            "revert of {}#{} for {}",
                            revert.repo, revert.suspect.0, incident.id
                        ),
                        e,
                    ),
                }
            }
        }
        recorded
    }

    /// The culprit work that follows issues: a cut range said, hard-block notices of
    /// revert PRs and escalation comments, on `incidents` as re-read after the findings.
    pub(super) async fn culprit_notices(&self, incidents: &[Incident], report: &mut Report) {
        if self.findings.is_none() {
            return;
        }
        for incident in incidents.iter().filter(|i| i.is_active()) {
            for search in &incident.searches {
                let SuspectRange::Commits { commits, .. } = search.range else {
                    continue;
                };
                if (commits as usize) <= MAX_RANGE_COMMITS
                    || !incident.scopes.contains(&search.scope)
                {
                    continue;
                }
                if let Err(e) = self
                    .say_range_cut(incident, &search.scope, u64::from(commits), report)
                    .await
                {
                    report.fail(
                        format!("range notice of {} on {}", incident.id, search.scope),
                        e,
                    );
                }
            }
            for revert in &incident.reverts {
                let Some(revert_pr) = revert.revert_pr else {
                    continue;
                };
                if let Err(e) = self
                    .hard_block_notices(incident, &revert.repo, revert.suspect, revert_pr, report)
                    .await
                {
                    report.fail(
                        format!("revert notices of {}#{}", revert.repo, revert_pr.0),
                        e,
                    );
                }
            }
            if let Err(e) = self.escalate(incident, report).await {
                report.fail(format!("escalation of {}", incident.id), e);
            }
        }
    }

    /// Sends `finding` through the ordered queue and waits until the gate has written it.
    pub(super) async fn record(&self, finding: Finding) -> anyhow::Result<()> {
        let queue = self
            .findings
            .as_ref()
            .context("no queue to report findings to")?;
        record_through(queue, finding).await
    }

    /// Says once on the incident's issue that the range was longer than what was read.
    async fn say_range_cut(
        &self,
        incident: &Incident,
        scope: &Scope,
        total: u64,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let Some(issue) = self.find_issue(&incident.id, scope).await? else {
            return Ok(()); // no issue yet (dry-run): nothing to say it on
        };
        self.comment_once(
            &scope.repo,
            PrNumber(issue.number),
            &comment::range_cut_marker(&incident.id, &scope.branch),
            || comment::range_cut(incident, scope, total, MAX_RANGE_COMMITS),
            report,
        )
        .await
    }

    /// Posts the escalation steps due now on the incident's issues, once each, and
    /// records them.
    async fn escalate(&self, incident: &Incident, report: &mut Report) -> anyhow::Result<()> {
        let policy = culprit::Escalation {
            mention_after: self.config.escalation.mention_after,
            suggest_revert_after: self.config.escalation.suggest_revert_after,
            top: self.config.escalation.top_suspects,
        };
        let now = self.clock.now();
        for step in culprit::escalations_due(incident, now, &policy) {
            // Recorded once every scope's issue has it; until then each pass posts it where
            // it is missing (the marker keeps an issue from getting it twice).
            let mut posted_everywhere = true;
            for scope in &incident.scopes {
                let Some(issue) = self.find_issue(&incident.id, scope).await? else {
                    posted_everywhere = false;
                    continue;
                };
                let ctx = self.notice_context(scope);
                self.comment_once(
                    &scope.repo,
                    PrNumber(issue.number),
                    &comment::escalation_marker(&incident.id, step),
                    || comment::escalation(incident, scope, step, &policy, &ctx),
                    report,
                )
                .await?;
            }
            if !posted_everywhere {
                continue; // an issue is missing (or dry-run): the next pass tries again
            }
            self.record(Finding::Escalated {
                incident: incident.id.clone(),
                step,
                at: now,
            })
            .await?;
            tracing::info!(incident = %incident.id, step, "escalated");
        }
        Ok(())
    }
}

/// Sends `finding` through `queue` and waits until the gate has written it.
pub(super) async fn record_through(
    queue: &crate::bus::QueueSender,
    finding: Finding,
) -> anyhow::Result<()> {
    let (done, written) = tokio::sync::oneshot::channel();
    queue
        .send(crate::bus::Input::Finding { finding, done })
        .await
        .context("queueing a finding")?;
    written
        .await
        .context("the consumer dropped the finding unanswered")?
}
