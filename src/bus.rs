//! The bus: the one event type every ingress (webhooks, Prow result sources, the admin
//! API, the reconciler's and the rerun executor's findings) sends and the one ordered
//! consumer reads ([`Input`]), the bounded queue that carries it ([`queue`]), and the
//! handles that poke the background tasks ([`ReconcileHandle`], [`RerunHandle`]).
//!
//! A leaf below every task: it imports only the plain types (`model`, `core`, `config`,
//! `store`'s keys, `telemetry`), so any task can send on it without importing another.

pub mod admin;
pub mod event;
pub mod tide;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::{Notify, mpsc};

use crate::model::{PrNumber, RepoName, Run};
use crate::telemetry::Metrics;
use event::Event;

/// Inputs waiting to be applied, at most.
pub const QUEUE_CAPACITY: usize = 1024;

/// One thing that happened, in our own types.
#[derive(Debug)]
pub enum Input {
    /// A verified, decoded GitHub webhook; `inbox` is where the ingress kept it when it
    /// carries a command (removed once its decision is durable).
    Webhook {
        delivery: String,
        event: Box<Event>,
        inbox: Option<crate::store::InboxKey>,
    },
    /// As [`Input::Webhook`], queued again by the consumer's membership's background task once it
    /// knows whether the author of the command in it is an approver.
    Authorized {
        delivery: String,
        event: Box<Event>,
        inbox: Option<crate::store::InboxKey>,
        approval: crate::core::gate::Approval,
    },
    /// A finished run of a gated job, from any channel.
    Run(Box<Run>),
    /// As [`Input::Run`], for a source that must know when the run is durably stored (a
    /// Pub/Sub message is acknowledged only then): `done` is signalled after the run is
    /// applied and the store flushed, and dropped unsignalled when applying failed.
    RunAcked {
        run: Box<Run>,
        done: tokio::sync::oneshot::Sender<()>,
    },
    /// An authenticated admin API call (gRPC `Block`, `Unblock`, `Exempt`): decided by the
    /// gate like a command and written to the store; the decision is sent back on `done`.
    Admin {
        request: admin::AdminRequest,
        done: tokio::sync::oneshot::Sender<anyhow::Result<crate::core::gate::Decision>>,
    },
    /// What reconcile or the rerun executor found or did about an incident: recorded by
    /// the gate (one writer of incidents); `done` says once it is written (or why not).
    Finding {
        finding: crate::core::gate::Finding,
        done: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
    },
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

    /// How many inputs the queue holds at most.
    pub fn capacity(&self) -> usize {
        self.tx.max_capacity()
    }

    /// Queues, waiting for room (sources that can afford to wait use this).
    pub async fn send(&self, input: Input) -> Result<(), QueueError> {
        self.tx.send(input).await.map_err(|_| QueueError::Closed)?;
        self.metrics.queue_depth.inc();
        Ok(())
    }

    /// A sender that does not keep the queue open.
    pub fn downgrade(&self) -> WeakQueueSender {
        WeakQueueSender {
            tx: self.tx.downgrade(),
            metrics: self.metrics.clone(),
        }
    }
}

/// A [`QueueSender`] that does not keep the queue open: once every other sender is gone
/// (shutdown), it cannot send any more.
#[derive(Clone)]
pub struct WeakQueueSender {
    tx: mpsc::WeakSender<Input>,
    metrics: Arc<Metrics>,
}

impl WeakQueueSender {
    /// The sender, while the queue is open.
    pub fn upgrade(&self) -> Option<QueueSender> {
        Some(QueueSender {
            tx: self.tx.upgrade()?,
            metrics: self.metrics.clone(),
        })
    }
}

/// A bounded queue.
pub fn queue(capacity: usize, metrics: Arc<Metrics>) -> (QueueSender, mpsc::Receiver<Input>) {
    let (tx, rx) = mpsc::channel(capacity);
    (QueueSender { tx, metrics }, rx)
}

impl Input {
    /// The `kind` label of the input in the processing metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Input::Webhook { .. } | Input::Authorized { .. } => "webhook",
            Input::Run(_) | Input::RunAcked { .. } => "run",
            Input::Admin { .. } => "admin",
            Input::Finding { .. } => "finding",
        }
    }
}

/// Pending wants of the reconciler at most; more turn into one full pass.
const FAST_PATH_MAX: usize = 1024;

/// What the reconciler was asked to do since its last look.
#[derive(Debug, Default)]
pub struct ReconcileWants {
    /// A full pass.
    pub full: bool,
    /// PRs to label (or unlabel) now, without a full pass.
    pub prs: BTreeSet<(RepoName, PrNumber)>,
}

/// How the rest of the plugin pokes the running reconciler. Cheap to clone.
#[derive(Clone, Default)]
pub struct ReconcileHandle {
    notify: Arc<Notify>,
    wants: Arc<Mutex<ReconcileWants>>,
}

impl ReconcileHandle {
    /// Asks for a full pass soon (the incidents changed).
    pub fn poke(&self) {
        self.wants.lock().expect("reconcile wants lock").full = true;
        self.notify.notify_one();
    }

    /// Asks for one PR to be labelled (or unlabelled) now, without a full pass.
    pub fn label_pr(&self, repo: RepoName, pr: PrNumber) {
        {
            let mut wants = self.wants.lock().expect("reconcile wants lock");
            if wants.prs.len() < FAST_PATH_MAX {
                wants.prs.insert((repo, pr));
            } else {
                wants.full = true;
            }
        }
        self.notify.notify_one();
    }

    /// Whether anything waits: a full pass or a PR.
    pub fn pending(&self) -> bool {
        let wants = self.wants.lock().expect("reconcile wants lock");
        wants.full || !wants.prs.is_empty()
    }

    /// Takes what waits (the reconciler's side).
    pub fn take(&self) -> ReconcileWants {
        std::mem::take(&mut *self.wants.lock().expect("reconcile wants lock"))
    }

    /// Resolves at the next poke (the reconciler's side).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

/// Pokes the rerun executor: a rerun was recorded.
#[derive(Clone, Default)]
pub struct RerunHandle {
    notify: Arc<Notify>,
}

impl RerunHandle {
    /// Asks for a pass soon.
    pub fn poke(&self) {
        self.notify.notify_one();
    }

    /// Resolves at the next poke (the executor's side).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}
