//! "What failed": the failed testcases of each active regression incident's first red
//! run, read once from its GCS `artifacts/junit*.xml` ([`Gcs::failed_tests`], bounded in
//! files and bytes) and reported to the gate as [`Finding::FailedTests`] before the
//! issues are written, so the blocker issue's body (which only formats) names them. A
//! missing or unreadable junit is recorded as such and said in the body, never an error.

use std::time::Duration;

use super::{Reconciler, Report};
use crate::core::gate::Finding;
use crate::model::{Cause, Incident, TestFailures};
use crate::prow::gcs::Gcs;

/// The longest one run's JUnit files are read for; past it the read is given up and the
/// body says so (a pass must not hang on a slow bucket).
pub const READ_BOUND: Duration = Duration::from_secs(120);

impl Reconciler {
    /// Reads and records the failed tests of every active regression incident that has
    /// none recorded yet; true when one was recorded. Off without a GCS source or a
    /// findings queue.
    pub(super) async fn failed_tests_pass(
        &self,
        incidents: &[Incident],
        report: &mut Report,
    ) -> bool {
        let (Some(gcs), Some(_)) = (&self.gcs, &self.findings) else {
            return false;
        };
        let mut recorded = false;
        for incident in incidents
            .iter()
            .filter(|i| i.is_active() && i.failed_tests.is_none())
        {
            let Cause::Regression { first_red, .. } = &incident.cause else {
                continue;
            };
            let failures = read(gcs, incident, first_red, self.clock.now()).await;
            tracing::info!(incident = %incident.id, build = %first_red.build_id,
                failed = failures.total, files = failures.files_read, "failed tests read");
            let finding = Finding::FailedTests {
                incident: incident.id.clone(),
                failures,
            };
            match self.record(finding).await {
                Ok(()) => recorded = true,
                Err(e) => report.fail(format!("failed tests of {}", incident.id), e),
            }
        }
        recorded
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
