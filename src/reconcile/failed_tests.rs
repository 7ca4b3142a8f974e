//! "What failed": the failed testcases of each active regression incident's first red
//! run, read once from its GCS `artifacts/junit*.xml` ([`Gcs::failed_tests`], bounded in
//! files and bytes and by [`READ_BOUND`]) and reported to the gate as
//! [`Finding::FailedTests`]. A missing or unreadable junit is recorded as such and said in
//! the body, never an error.
//!
//! The read never holds up a pass: a pass only starts it ([`Reconciler::start_failed_test_reads`],
//! one task per incident, at most one at a time each) and goes on to open the blocker
//! issue and label the PRs, whose body says the failed tests are being read. Recording the
//! finding changes the incident, which pokes the reconciler, and the next pass edits the
//! body to name them. The tasks end with the reconciler (its last clone aborts them).

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;

use super::Reconciler;
use crate::core::gate::Finding;
use crate::model::{Cause, Incident, IncidentId, TestFailures};
use crate::prow::gcs::Gcs;

/// The longest one run's JUnit files are read for; past it the read is given up and the
/// body says so (a slow bucket must not keep the list unread forever).
pub const READ_BOUND: Duration = Duration::from_secs(120);

/// The failed-test reads running in the background: which incidents, and their tasks.
#[derive(Default)]
pub(super) struct Reads {
    in_flight: Arc<Mutex<BTreeSet<IncidentId>>>,
    tasks: Mutex<JoinSet<()>>,
}

/// Takes an incident off the in-flight set when its read ends (or is aborted).
struct InFlight {
    set: Arc<Mutex<BTreeSet<IncidentId>>>,
    id: IncidentId,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

impl Reconciler {
    /// Whether this reconciler reads failed tests (a GCS source and a findings queue):
    /// until it has, an issue body says they are being read.
    pub(super) fn reads_failed_tests(&self) -> bool {
        self.gcs.is_some() && self.findings.is_some()
    }

    /// Starts reading the failed tests of every active regression incident that has none
    /// recorded and no read running, each in its own task; returns at once. Off without a
    /// GCS source or a findings queue.
    pub(super) fn start_failed_test_reads(&self, incidents: &[Incident]) {
        let (Some(gcs), Some(queue)) = (&self.gcs, &self.findings) else {
            return;
        };
        let mut tasks = self.reads.tasks.lock().unwrap_or_else(|e| e.into_inner());
        // Reap the finished ones (a panic in one is logged, the others go on).
        while let Some(ended) = tasks.try_join_next() {
            if let Err(e) = ended
                && e.is_panic()
            {
                tracing::error!(error = %e, "a failed-tests read panicked; the next pass retries it");
            }
        }
        for incident in incidents
            .iter()
            .filter(|i| i.is_active() && i.failed_tests.is_none())
        {
            let Cause::Regression { first_red, .. } = &incident.cause else {
                continue;
            };
            let newly = self
                .reads
                .in_flight
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(incident.id.clone());
            if !newly {
                continue; // already being read
            }
            let guard = InFlight {
                set: self.reads.in_flight.clone(),
                id: incident.id.clone(),
            };
            let (gcs, queue, now) = (gcs.clone(), queue.clone(), self.clock.now());
            let (incident, run) = (incident.clone(), first_red.clone());
            tasks.spawn(async move {
                let _guard = guard;
                let failures = read(&gcs, &incident, &run, now).await;
                tracing::info!(incident = %incident.id, build = %run.build_id,
                    failed = failures.total, files = failures.files_read, "failed tests read");
                let finding = Finding::FailedTests {
                    incident: incident.id.clone(),
                    failures,
                };
                // Recorded, the incident changed: the gate pokes the reconciler, whose next
                // pass edits the issue body.
                if let Err(e) = super::culprit::record_through(&queue, finding).await {
                    tracing::warn!(incident = %incident.id, error = format!("{e:#}"),
                        "recording the failed tests failed; the next pass reads them again");
                }
            });
        }
    }
}

/// The failed tests of `run` of the incident's job, within [`READ_BOUND`].
async fn read(
    gcs: &Gcs,
    incident: &Incident,
    run: &crate::model::RunRef,
    now: crate::model::Timestamp,
) -> TestFailures {
    let job = incident.job.as_str();
    let build = run.build_id.as_str();
    let mut failures = TestFailures {
        build_id: run.build_id.clone(),
        names: Vec::new(),
        total: 0,
        files_read: 0,
        notes: Vec::new(),
        at: now,
    };
    match tokio::time::timeout(READ_BOUND, gcs.failed_tests(job, build)).await {
        Ok(read) => {
            failures.names = read.names;
            failures.total = read.total_failed;
            failures.files_read = read.files_read;
            failures.notes = read.notes;
        }
        Err(_) => failures.notes.push(format!(
            "reading the junit files took longer than {}s",
            READ_BOUND.as_secs()
        )),
    }
    failures
}
