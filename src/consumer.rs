//! The one ordered consumer. Ingress (webhooks, Prow result sources) parses, validates and
//! enqueues an [`Input`]; this task applies inputs one at a time, in arrival order, to the
//! state, and hands what must change on GitHub to the reconciler.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::App;
use crate::model::Run;
use crate::prow::event::Event;
use crate::telemetry::Metrics;

/// Inputs waiting to be applied, at most.
pub const QUEUE_CAPACITY: usize = 1024;

/// How long shutdown waits for the queue to drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// One thing that happened, in our own types.
#[derive(Debug, Clone)]
pub enum Input {
    /// A verified, decoded GitHub webhook.
    Webhook { delivery: String, event: Box<Event> },
    /// A finished run of a gated job, from any channel.
    Run(Box<Run>),
}

/// The sending side of the bounded queue; counts depth in the metrics.
#[derive(Clone)]
pub struct QueueSender {
    tx: mpsc::Sender<Input>,
    metrics: Arc<Metrics>,
}

/// Why an input could not be queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the event queue is full")]
    Full,
    #[error("the plugin is shutting down")]
    Closed,
}

impl QueueSender {
    /// Queues without waiting; a full queue is refused at once.
    pub fn try_send(&self, input: Input) -> Result<(), QueueError> {
        match self.tx.try_send(input) {
            Ok(()) => {
                self.metrics.queue_depth.inc();
                Ok(())
            }
            Err(mpsc::error::TrySendError::Full(_)) => Err(QueueError::Full),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(QueueError::Closed),
        }
    }

    /// Queues, waiting for room (sources that can afford to wait use this).
    pub async fn send(&self, input: Input) -> Result<(), QueueError> {
        self.tx.send(input).await.map_err(|_| QueueError::Closed)?;
        self.metrics.queue_depth.inc();
        Ok(())
    }
}

/// A bounded queue.
pub fn queue(capacity: usize, metrics: Arc<Metrics>) -> (QueueSender, mpsc::Receiver<Input>) {
    let (tx, rx) = mpsc::channel(capacity);
    (QueueSender { tx, metrics }, rx)
}

/// Applies inputs in order until every sender is gone.
pub async fn run(
    app: App,
    mut rx: mpsc::Receiver<Input>,
    _stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = app.metrics.clone();
    // The consumer must not keep its own sender alive, or the queue never closes.
    drop(app.queue);
    let app = Consumer {
        store: app.store,
        metrics: metrics.clone(),
    };
    while let Some(input) = rx.recv().await {
        metrics.queue_depth.dec();
        let started = std::time::Instant::now();
        let kind = input.kind();
        if let Err(error) = app.apply(input).await {
            tracing::error!(error = format!("{error:#}"), kind, "applying input failed");
        }
        metrics.observe_processing(kind, started.elapsed());
    }
    Ok(())
}

/// What the consumer holds.
struct Consumer {
    store: crate::Store,
    #[expect(dead_code, reason = "used once the gate is wired in")]
    metrics: Arc<Metrics>,
}

impl Input {
    fn kind(&self) -> &'static str {
        match self {
            Input::Webhook { .. } => "webhook",
            Input::Run(_) => "run",
        }
    }
}

impl Consumer {
    async fn apply(&self, input: Input) -> anyhow::Result<()> {
        match input {
            Input::Webhook { delivery, event } => {
                if !self.store.remember_delivery(&delivery)? {
                    tracing::info!(delivery, "duplicate delivery ignored");
                    return Ok(());
                }
                tracing::info!(delivery, event = event.name(), "event applied");
                Ok(())
            }
            Input::Run(run) => {
                tracing::info!(job = %run.job, build = %run.build_id, result = run.result.as_str(), "run received");
                Ok(())
            }
        }
    }
}
