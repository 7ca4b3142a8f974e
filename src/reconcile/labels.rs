//! Label changes on GitHub: the label made in each blocked repo, every blocked scope's
//! PRs labelled ready first (a long run yields to newer wants), and the fast path that
//! labels or unlabels one PR without a full pass.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;

use super::plan::{LabelAction, coverage, exempt_on, plan_labels};
use super::{Handle, Reconciler, Report};
use crate::github::types::Label;
use crate::model::{Incident, PrNumber, RepoName, Scope};

/// Colour of the label the plugin creates (GitHub's red for do-not-merge labels).
pub const LABEL_COLOR: &str = "e11d21";

/// Description of the label the plugin creates; names the plugin.
pub const LABEL_DESCRIPTION: &str =
    "Merges blocked by scalability-gate: a release-blocking scalability job regressed";

/// How long a pass labels before it lets newer wants go first (see
/// [`Reconciler::with_handle`]). Budget pacing makes a `label_prs: all` pass last hours.
pub const YIELD_AFTER: Duration = Duration::from_secs(30);

/// What the fast path did with one PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrOutcome {
    Labelled,
    Unlabelled,
    /// Already as it should be, not selected, closed, or on no blocked scope.
    Unchanged,
}

impl Reconciler {
    /// Labels on every blocked scope, ready PRs of every scope before any other PR.
    pub(super) async fn label_blocked_scopes(
        &self,
        covered: &BTreeMap<Scope, Vec<&Incident>>,
        report: &mut Report,
    ) {
        let mut labelled_repos = BTreeSet::new();
        let mut actions = Vec::new();
        for (scope, blocking) in covered {
            if labelled_repos.insert(scope.repo.clone()) {
                if let Err(e) = self.client.ensure_label(&scope.repo, &self.label()).await {
                    report.fail(format!("label in {}", scope.repo), e);
                    continue;
                }
            }
            let required = (self.required)(scope);
            match self
                .client
                .list_open_pulls(&scope.repo, &scope.branch)
                .await
            {
                Ok(prs) => actions.extend(plan_labels(
                    &scope.repo,
                    &prs,
                    &self.config.label,
                    self.config.label_prs,
                    &required,
                    |pr| exempt_on(blocking, &scope.repo, pr),
                )),
                Err(e) => report.fail(format!("listing PRs of {scope}"), e),
            }
        }
        actions.sort_by_key(|a| (!a.ready, a.add && !a.ready));
        self.execute(&actions, report).await;
    }

    fn label(&self) -> Label {
        Label {
            name: self.config.label.clone(),
            color: LABEL_COLOR.into(),
            description: Some(LABEL_DESCRIPTION.into()),
        }
    }

    /// Applies label changes in order; a failed one is reported and the rest go on. After
    /// [`Reconciler::with_handle`]'s `yield_after`, it stops early when newer wants wait
    /// (and says so in `report.cut_short`); a pass already cut short changes nothing more.
    pub(super) async fn execute(&self, actions: &[LabelAction], report: &mut Report) {
        if report.cut_short {
            return;
        }
        let started = std::time::Instant::now();
        for (done, a) in actions.iter().enumerate() {
            if done > 0
                && started.elapsed() >= self.yield_after
                && self.handle.as_ref().is_some_and(Handle::pending)
            {
                tracing::info!(
                    done,
                    left = actions.len() - done,
                    "label run cut short: newer wants go first"
                );
                report.cut_short = true;
                return;
            }
            self.apply_label(a, report).await;
        }
    }

    /// One label change; a failure is reported.
    async fn apply_label(&self, a: &LabelAction, report: &mut Report) {
        let label = self.config.label.clone();
        let done = if a.add {
            self.client
                .add_labels(&a.repo, a.pr, std::slice::from_ref(&label))
                .await
                .map(|_| report.labels_added += 1)
        } else {
            // A 404 means someone removed it meanwhile: just as good.
            self.client
                .remove_label(&a.repo, a.pr, &label)
                .await
                .map(|_| report.labels_removed += 1)
        };
        if let Err(e) = done {
            report.fail(format!("{}#{}", a.repo, a.pr.0), e);
        }
    }

    /// The fast path for one PR (an event made it selected, or someone removed the label
    /// by hand): reads the PR and labels or unlabels it as the active incidents in the
    /// store want, with no full pass.
    pub async fn label_pr_now(&self, repo: &RepoName, pr: PrNumber) -> anyhow::Result<PrOutcome> {
        let incidents = self.store.active_incidents().context("reading incidents")?;
        self.ensure_pr(&incidents, repo, pr).await
    }

    /// As [`Reconciler::label_pr_now`] against `incidents`.
    pub async fn ensure_pr(
        &self,
        incidents: &[Incident],
        repo: &RepoName,
        pr: PrNumber,
    ) -> anyhow::Result<PrOutcome> {
        let Some(found) = self.client.get_pull(repo, pr).await? else {
            return Ok(PrOutcome::Unchanged);
        };
        if found.state != "open" {
            return Ok(PrOutcome::Unchanged);
        }
        let scope = Scope {
            repo: repo.clone(),
            branch: found.base_branch().to_string(),
        };
        let covered = coverage(incidents);
        let Some(blocking) = covered.get(&scope) else {
            return Ok(PrOutcome::Unchanged);
        };
        let required = (self.required)(&scope);
        let actions = plan_labels(
            repo,
            std::slice::from_ref(&found),
            &self.config.label,
            self.config.label_prs,
            &required,
            |n| exempt_on(blocking, repo, n),
        );
        let Some(action) = actions.first() else {
            return Ok(PrOutcome::Unchanged);
        };
        if action.add {
            self.client.ensure_label(repo, &self.label()).await?;
        }
        let mut report = Report::default();
        self.execute(&actions, &mut report).await;
        if let Some(error) = report.errors.first() {
            anyhow::bail!("{error}");
        }
        Ok(if action.add {
            PrOutcome::Labelled
        } else {
            PrOutcome::Unlabelled
        })
    }
}
