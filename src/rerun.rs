//! The rerun executor: carries out the reruns the gate recorded (`/scalability-rerun`)
//! through Gangway's `CreateJobExecution`, and reports each execution back to the gate as a
//! finding ([`Finding::RerunStarted`] / [`Finding::RerunFailed`]), so the incident says
//! which execution is its rerun before anything relies on it.
//!
//! Level-triggered, like the reconciler: each pass reads the active incidents from the
//! store and works on every rerun still waiting for its execution; a pass runs at start,
//! when the consumer pokes ([`Handle::poke`]) and every `sources.gangway.interval`.
//!
//! Idempotent across a crash: before creating, the executor lists the job's executions and
//! adopts one created at or after the request (less [`ADOPT_SKEW`]) that no other rerun of
//! the incident holds. What stays at-least-once: an execution created just before a crash
//! that Gangway does not list yet (or whose clock runs more than [`ADOPT_SKEW`] behind
//! ours) is created a second time; both are runs of the same job, and the first to finish
//! answers the rerun. A scheduled run of the job that started after the request may be
//! adopted instead of creating one: it rules out a flake just as well.
//!
//! The result is tied in the consumer, when a run of the job arrives (see
//! [`crate::core::culprit::rerun_answered_by`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};

use crate::bus::{Input, QueueSender};
use crate::config::Config;
use crate::core::gate::Finding;
use crate::model::{Incident, Rerun};
use crate::prow::gangway::{self, Gangway};
use crate::store::Store;

/// How far before the request an execution's creation time may lie and still be adopted
/// (clocks of the cluster and of the plugin differ a little).
pub const ADOPT_SKEW: i64 = 60;

/// Pokes the executor: a rerun was recorded (it lives on the bus).
pub use crate::bus::RerunHandle as Handle;

/// Starts the executor when Gangway is configured, under `supervisor` (task
/// `rerun_executor`); it stops with the supervisor's stop. It reads the incidents from
/// `store`, records what it did through `queue`, and runs when `handle` is poked.
pub fn spawn(
    config: Arc<Config>,
    store: Store,
    queue: QueueSender,
    handle: Handle,
    supervisor: &crate::supervise::Supervisor,
) -> Option<tokio::task::JoinHandle<()>> {
    let gangway_config = &config.sources.gangway;
    if gangway_config.address.trim().is_empty() {
        return None;
    }
    let key = if gangway_config.api_key_file.is_empty() {
        String::new()
    } else {
        match crate::config::read_secret_file(std::path::Path::new(&gangway_config.api_key_file)) {
            Ok(key) => key,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "rerun executor disabled");
                return None;
            }
        }
    };
    let gangway = match Gangway::new(&gangway_config.address, &key) {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "rerun executor disabled");
            return None;
        }
    };
    Some(supervisor.spawn("rerun_executor", move |stop| {
        let executor = Executor {
            config: config.clone(),
            store: store.clone(),
            gangway: gangway.clone(),
            queue: queue.clone(),
        };
        let handle = handle.clone();
        async move {
            executor.run(handle, stop).await;
            Ok(())
        }
    }))
}

struct Executor {
    config: Arc<Config>,
    store: Store,
    gangway: Gangway,
    queue: QueueSender,
}

impl Executor {
    async fn run(self, handle: Handle, mut stop: watch::Receiver<bool>) {
        let interval = self.config.sources.gangway.interval;
        loop {
            let pass = self.pass();
            tokio::select! {
                result = pass => {
                    if let Err(error) = result {
                        tracing::warn!(error = format!("{error:#}"), "rerun pass failed; the next pass retries");
                    }
                }
                _ = stop.changed() => return,
            }
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                _ = handle.notified() => {}
                _ = tokio::time::sleep(interval.max(Duration::from_secs(1))) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Works on every rerun of an active incident still waiting for its execution.
    async fn pass(&self) -> anyhow::Result<()> {
        let store = self.store.clone();
        let incidents = tokio::task::spawn_blocking(move || store.active_incidents()).await??;
        for incident in &incidents {
            for rerun in incident.reruns.iter().filter(|r| r.awaits_execution()) {
                // One rerun that fails is logged and left to the next pass; the others
                // go on.
                let done = match self.execute(incident, rerun).await {
                    Ok(Some(finding)) => self.record(finding).await,
                    Ok(None) => Ok(()),
                    Err(error) => Err(error),
                };
                if let Err(error) = done {
                    tracing::warn!(incident = %incident.id, rerun = rerun.id,
                        error = format!("{error:#}"), "rerun failed; the next pass retries");
                }
            }
        }
        Ok(())
    }

    /// Adopts or creates the execution of `rerun`; `None` when Gangway could not be asked
    /// (tried again next pass).
    async fn execute(&self, incident: &Incident, rerun: &Rerun) -> anyhow::Result<Option<Finding>> {
        let job = incident.job.as_str();
        let executions = match self.gangway.list_executions(job).await {
            Ok(list) => list,
            Err(error) => {
                // Without the list we cannot tell whether we created one before a crash.
                tracing::warn!(
                    job,
                    error = format!("{error:#}"),
                    "Gangway unreachable; rerun waits"
                );
                return Ok(None);
            }
        };
        let held: Vec<&str> = incident
            .reruns
            .iter()
            .filter_map(|r| r.execution.as_deref())
            .collect();
        let adopted = executions
            .iter()
            .filter(|e| !e.id.is_empty() && !held.contains(&e.id.as_str()))
            .filter(|e| {
                e.create_time
                    .as_ref()
                    .is_some_and(|t| t.seconds >= rerun.at.0 - ADOPT_SKEW)
            })
            .min_by_key(|e| e.create_time.as_ref().map(|t| t.seconds));
        if let Some(e) = adopted {
            tracing::info!(incident = %incident.id, job, execution = %e.id, "adopting an execution created after the request");
            return Ok(Some(started(incident, rerun, e)));
        }
        match self.gangway.create_periodic(job).await {
            Ok(e) => {
                tracing::info!(incident = %incident.id, job, execution = %e.id, "rerun created through Gangway");
                if e.id.is_empty() {
                    return Ok(Some(failed(
                        incident,
                        rerun,
                        "Gangway answered without an execution id".into(),
                    )));
                }
                Ok(Some(started(incident, rerun, &e)))
            }
            Err(error) if is_permanent(&error) => {
                tracing::warn!(
                    job,
                    error = format!("{error:#}"),
                    "Gangway refused the rerun"
                );
                Ok(Some(failed(incident, rerun, refusal(&error))))
            }
            Err(error) => {
                tracing::warn!(
                    job,
                    error = format!("{error:#}"),
                    "Gangway unreachable; rerun waits"
                );
                Ok(None)
            }
        }
    }

    /// Hands a finding to the gate through the ordered queue and waits for its write.
    async fn record(&self, finding: Finding) -> anyhow::Result<()> {
        let (done, written) = oneshot::channel();
        self.queue
            .send(Input::Finding { finding, done })
            .await
            .map_err(|e| anyhow::anyhow!("queueing a rerun finding: {e}"))?;
        written
            .await
            .map_err(|_| anyhow::anyhow!("the consumer dropped a rerun finding"))?
    }
}

fn started(incident: &Incident, rerun: &Rerun, e: &crate::pb::gangway::JobExecution) -> Finding {
    Finding::RerunStarted {
        incident: incident.id.clone(),
        rerun: rerun.id,
        execution: e.id.clone(),
        build_id: gangway::build_of(e),
    }
}

fn failed(incident: &Incident, rerun: &Rerun, error: String) -> Finding {
    Finding::RerunFailed {
        incident: incident.id.clone(),
        rerun: rerun.id,
        error,
    }
}

/// Whether Gangway's answer will not change by asking again.
fn is_permanent(error: &anyhow::Error) -> bool {
    use tonic::Code;
    error.downcast_ref::<tonic::Status>().is_some_and(|s| {
        matches!(
            s.code(),
            Code::InvalidArgument
                | Code::NotFound
                | Code::PermissionDenied
                | Code::Unauthenticated
                | Code::FailedPrecondition
                | Code::Unimplemented
        )
    })
}

/// Gangway's refusal in words: its status code and message.
fn refusal(error: &anyhow::Error) -> String {
    match error.downcast_ref::<tonic::Status>() {
        Some(status) => format!("{:?}: {}", status.code(), status.message()),
        None => format!("{error:#}"),
    }
}
