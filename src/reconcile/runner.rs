//! Running the reconciler: the loop [`spawn`] starts (a full pass at once, then on every
//! poke, every resync interval, sooner after a failed pass with backoff; the breach
//! resync at once and at every resync interval), the fast-path
//! PRs it takes first, and the [`Handle`] the rest of the plugin pokes it through.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Leak, Leaks, ReadyRules, Reconciler, YIELD_AFTER};
use crate::core::tide::ReadyRule;

/// First wait before a pass that failed part-way is tried again (doubled up to the resync
/// interval).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// How the rest of the plugin pokes the running reconciler (it lives on the bus, so a
/// task pokes it without importing the reconciler).
pub use crate::bus::ReconcileHandle as Handle;

/// The handles the running reconciler is built from (and rebuilt from on a restart).
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<crate::config::Config>,
    pub store: crate::store::Store,
    pub github: crate::github::Client,
    /// Tide's state, for ready rules and leaks.
    pub tide: crate::bus::tide::SharedTide,
    /// Where findings go (the gate records them).
    pub queue: crate::bus::QueueSender,
    /// What the rest of the plugin pokes.
    pub handle: Handle,
    /// The plugin's one GCS credential source (the first red runs' JUnit files).
    pub gcs_credentials: crate::gcs_auth::TokenSource,
    pub clock: crate::clock::Clock,
}

/// Starts the reconciler of `parts` in the background, under `supervisor` (task
/// `reconciler`, rebuilt from `parts` on a restart): a full pass at once, then on every
/// poke, every `reconcile.resync_interval`, and sooner after a pass that failed part-way.
/// It stops on the supervisor's stop (a pass cut short is safe: the next one finishes it).
pub fn spawn(
    parts: Parts,
    supervisor: &crate::supervise::Supervisor,
) -> tokio::task::JoinHandle<()> {
    supervisor.spawn("reconciler", move |stop| {
        let reconciler = reconciler_of(&parts);
        let handle = parts.handle.clone();
        async move {
            run(reconciler, handle, stop).await;
            Ok(())
        }
    })
}

/// The reconciler of a running plugin, reading Tide's state for ready rules and leaks.
fn reconciler_of(app: &Parts) -> Reconciler {
    let tide = app.tide.clone();
    let ready_labels = app.config.ready_labels.clone();
    let rules: ReadyRules = Arc::new(move |scope| {
        tide.read()
            .map(|t| t.ready_rule(scope, &ready_labels))
            .unwrap_or_else(|_| ReadyRule::from_labels(&ready_labels))
    });
    let live = app.tide.clone();
    let leaks: Leaks = Arc::new(move |scope, incident| {
        let state = live.read().ok()?;
        let check = state.live.get(&scope.to_string())?;
        if &check.incident != incident {
            return None;
        }
        let prs = match &check.verdict {
            crate::core::tide::PoolVerdict::WouldMerge { prs } => prs.clone(),
            _ => Vec::new(),
        };
        check
            .first_leak_at
            .map(|first_seen| Leak { first_seen, prs })
    });
    let gcs = crate::prow::gcs::Gcs::with_tokens(&app.config.sources.gcs, &app.gcs_credentials)
        .unwrap_or_else(|error| {
            tracing::error!(
                error = format!("{error:#}"),
                "GCS reader disabled: blocker issues will not name the failed tests"
            );
            None
        });
    Reconciler::new(app.github.clone(), app.config.clone(), app.store.clone())
        .with_gcs(gcs)
        .with_ready_rules(rules)
        .with_leaks(leaks)
        .with_findings(app.queue.clone())
        .with_clock(app.clock.clone())
        .with_handle(app.handle.clone(), YIELD_AFTER)
}

/// How one turn of [`run`] ended.
enum Pass {
    Converged,
    /// Labelling stopped part-way for newer wants (not a failure: no backoff).
    CutShort,
    Failed,
}

/// Without a token or a GitHub App nothing can be read from GitHub: what needs it (labels,
/// blocker issues, suspects, reverts) waits, said once rather than at every retry.
fn warn_once_without_github(reconciler: &Reconciler, warned: &mut bool) {
    if !std::mem::replace(warned, true) {
        tracing::warn!(
            dry_run = reconciler.client.is_dry_run(),
            "no GitHub token or app configured: labels, blocker issues and suspects wait \
             until one is (nothing is retried meanwhile); in dry-run the replies to commands \
             are shown on the dashboard and at /api/v1/dry-run"
        );
    }
}

/// The loop [`spawn`] runs.
pub async fn run(reconciler: Reconciler, handle: Handle, mut stop: watch::Receiver<bool>) {
    let resync = reconciler.config.reconcile.resync_interval;
    let mut retry = RETRY_AFTER_FAILURE;
    let mut full = true;
    let mut warned_no_github = false;
    // The breach resync is due: at start-up, then on each periodic resync (until one ran
    // without a failure).
    let mut resync_due = true;
    loop {
        let wants = handle.take();
        full |= wants.full;
        let work = async {
            if !reconciler.client.has_credentials() {
                warn_once_without_github(&reconciler, &mut warned_no_github);
                reconciler.post_replies_without_github().await;
                return Pass::Converged;
            }
            // One PR that fails is left to the full pass; the others go on.
            let mut failed = false;
            for (repo, pr) in &wants.prs {
                match reconciler.label_pr_now(repo, *pr).await {
                    Ok(outcome) => tracing::info!(repo = %repo, pr = pr.0, ?outcome, "fast path"),
                    Err(e) => {
                        tracing::warn!(repo = %repo, pr = pr.0, error = format!("{e:#}"), "fast path failed; left to the full pass");
                        failed = true;
                    }
                }
            }
            if failed {
                return Pass::Failed;
            }
            if !full {
                return Pass::Converged;
            }
            let mut breaches = super::Report::default();
            if resync_due {
                reconciler.breach_resync(&mut breaches).await;
                resync_due = !breaches.errors.is_empty();
            }
            match reconciler.reconcile().await.map(|mut report| {
                report.absorb(breaches);
                report
            }) {
                Ok(report) if report.converged() => Pass::Converged,
                Ok(report) if report.cut_short && report.errors.is_empty() => Pass::CutShort,
                Ok(_) => Pass::Failed,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "reconcile pass failed");
                    Pass::Failed
                }
            }
        };
        let pass = tokio::select! {
            pass = work => pass,
            _ = stop.changed() => return,
        };
        let wait = match pass {
            Pass::Converged => {
                retry = RETRY_AFTER_FAILURE;
                full = false;
                resync
            }
            // Newer wants are waiting: at once, and the next pass finishes the work.
            Pass::CutShort => {
                full = true;
                continue;
            }
            Pass::Failed => {
                let wait = retry.min(resync);
                retry = (retry * 2).min(resync);
                full = true;
                wait
            }
        };
        tokio::select! {
            _ = handle.notified() => {}
            _ = tokio::time::sleep(wait) => {
                full = true;
                resync_due = true;
            }
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}
