//! One full pass of the reconciler and what it did: the failed-test reads started (in the
//! background: never awaited), the culprit work, the issues, the outbox's replies, the
//! lifted incidents' cleanup, the labels, then retention, in that order; each step's
//! failure is reported and the others go on.

use std::collections::BTreeMap;

use anyhow::Context;

use super::Reconciler;
use super::plan::coverage;
use crate::model::{Incident, Scope, Timestamp};

/// What a pass did, and what went wrong (the next pass retries it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub labels_added: usize,
    pub labels_removed: usize,
    pub issues_created: usize,
    pub issues_edited: usize,
    pub issues_closed: usize,
    pub comments_posted: usize,
    /// Revert PRs opened through GraphQL (adopted ones not counted).
    pub reverts_opened: usize,
    pub errors: Vec<String>,
    /// The pass stopped labelling part-way to let newer wants (an incident changed, a PR
    /// became ready) go first; the next pass, at once, picks up where it left off.
    pub cut_short: bool,
}

impl Report {
    /// Whether the pass reached the desired state everywhere.
    pub fn converged(&self) -> bool {
        self.errors.is_empty() && !self.cut_short
    }

    /// Adds what `other` did and what went wrong in it.
    pub(super) fn absorb(&mut self, other: Report) {
        self.labels_added += other.labels_added;
        self.labels_removed += other.labels_removed;
        self.issues_created += other.issues_created;
        self.issues_edited += other.issues_edited;
        self.issues_closed += other.issues_closed;
        self.comments_posted += other.comments_posted;
        self.reverts_opened += other.reverts_opened;
        self.errors.extend(other.errors);
        self.cut_short |= other.cut_short;
    }

    pub(super) fn fail(&mut self, what: impl std::fmt::Display, error: impl std::fmt::Display) {
        let text = format!("{what}: {error:#}");
        tracing::warn!(
            error = text,
            "reconcile step failed; the next pass retries it"
        );
        self.errors.push(text);
    }
}

impl Reconciler {
    /// One full pass over the incidents in the store.
    pub async fn reconcile(&self) -> anyhow::Result<Report> {
        let mut incidents = self.store.all_incidents().context("reading incidents")?;
        let mut culprit = Report::default();
        // The block never waits on GCS: the reads record what they find later, and that
        // pokes the next pass, which edits the issue body.
        self.start_failed_test_reads(&incidents);
        let recorded = self.culprit_pass(&incidents, &mut culprit).await;
        if recorded {
            // The gate wrote what was found: labels and issues go by that.
            incidents = self.store.all_incidents().context("reading incidents")?;
        }
        let mut report = self.reconcile_incidents(&incidents).await;
        self.culprit_notices(&incidents, &mut culprit).await;
        report.absorb(culprit);
        // Retention last: only what this or an earlier pass cleaned up on GitHub goes.
        let kept = self.config.history.incident_retention;
        match self.store.prune_lifted_incidents(kept) {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::info!(
                    dropped = dropped.len(),
                    kept,
                    "lifted incidents dropped by retention"
                );
            }
            Ok(_) => {}
            Err(e) => report.fail("dropping lifted incidents beyond retention", e),
        }
        Ok(report)
    }

    /// One full pass over `incidents` (active and lifted): issues first, then the command
    /// replies waiting in the outbox, then the lifted incidents' cleanup, then labels.
    pub async fn reconcile_incidents(&self, incidents: &[Incident]) -> Report {
        let mut report = Report::default();
        let covered = coverage(incidents);
        for incident in incidents.iter().filter(|i| i.is_active()) {
            // Re-blocked after a lift that was cleaned up: its next lift is cleaned again.
            if !incident.reblocks.is_empty()
                && let Err(e) = self.store.unmark_cleaned(&incident.id)
            {
                report.fail(format!("cleanup state of {}", incident.id), e);
            }
            for scope in &incident.scopes {
                if let Err(e) = self.ensure_issue(incident, scope, &mut report).await {
                    report.fail(format!("issue of {} on {scope}", incident.id), e);
                }
            }
        }
        self.post_pending_replies(&mut report).await;
        for incident in incidents.iter().filter(|i| !i.is_active()) {
            match self.store.cleaned_at(&incident.id) {
                Ok(Some(at)) => {
                    // A culprit recorded since the cleanup: the closed issues show it.
                    if let Some(c) = incident.culprit.as_ref().filter(|c| c.at >= at) {
                        match self.show_late_culprit(incident, &mut report).await {
                            Ok(()) => {
                                let after = Timestamp(c.at.0.saturating_add(1));
                                let now = self.clock.now().max(after);
                                if let Err(e) = self.store.mark_cleaned(&incident.id, now) {
                                    report.fail(format!("marking {} cleaned", incident.id), e);
                                }
                            }
                            Err(e) => report.fail(format!("culprit on {}", incident.id), e),
                        }
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    report.fail(format!("cleanup state of {}", incident.id), e);
                    continue;
                }
            }
            if report.cut_short {
                break;
            }
            let before = report.errors.len();
            self.clean_up(incident, &covered, &mut report).await;
            if report.errors.len() == before && !report.cut_short {
                let marked = self.store.mark_cleaned(&incident.id, self.clock.now());
                if let Err(e) = marked {
                    report.fail(format!("marking {} cleaned", incident.id), e);
                }
            }
        }
        self.label_blocked_scopes(&covered, &mut report).await;
        tracing::info!(
            added = report.labels_added,
            removed = report.labels_removed,
            issues_created = report.issues_created,
            issues_closed = report.issues_closed,
            comments = report.comments_posted,
            errors = report.errors.len(),
            cut_short = report.cut_short,
            "reconcile pass done"
        );
        report
    }

    /// A lifted incident: labels off its scopes that nothing else blocks, its issues
    /// commented once and closed.
    async fn clean_up(
        &self,
        incident: &Incident,
        covered: &BTreeMap<Scope, Vec<&Incident>>,
        report: &mut Report,
    ) {
        for scope in &incident.scopes {
            // The blocker issue first: it holds the whole branch in Tide, and closing it
            // lifts that at once. Then the labels, ready PRs first (with `label_prs: all`
            // the others can take hours of budget).
            if let Err(e) = self.close_issue(incident, scope, report).await {
                report.fail(
                    format!("closing the issue of {} on {scope}", incident.id),
                    e,
                );
            }
            if !covered.contains_key(scope) {
                self.unlabel_scope(scope, report).await;
            }
        }
    }
}
