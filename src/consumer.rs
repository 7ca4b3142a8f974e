//! The one ordered consumer. Ingress (webhooks, Prow result sources) parses, validates and
//! enqueues an [`Input`]; this task applies inputs one at a time, in arrival order, to the
//! state, and hands what must change on GitHub to the reconciler.

pub mod admin;
pub mod gating;
pub mod membership;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::core::detector;
use crate::model::Run;
use crate::prow::event::Event;
use crate::store::RecordOutcome;
use crate::telemetry::KindLabels;
use crate::telemetry::Metrics;
use crate::{App, Config, Store};

/// Inputs waiting to be applied, at most.
pub const QUEUE_CAPACITY: usize = 1024;

/// How long shutdown waits for the queue to drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

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
    /// As [`Input::Webhook`], queued again by [`membership`]'s background task once it
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

/// Applies inputs in order until every sender is gone. `own_login` is the plugin's login
/// as resolved before the start (see [`membership::OwnLogin::resolve`]); the consumer
/// never waits for GitHub.
pub async fn run(
    app: App,
    rx: mpsc::Receiver<Input>,
    own_login: membership::OwnLogin,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    // The consumer must not keep its own sender alive, or the queue never closes.
    let parts = Parts::new(&app, own_login);
    drop(app);
    run_shared(parts, shared(rx), stop).await
}

/// The receiving side, shared so that a restarted consumer goes on where the last one
/// stopped (the supervisor's factory keeps it).
pub type SharedReceiver = Arc<tokio::sync::Mutex<mpsc::Receiver<Input>>>;

/// Wraps `rx` for [`run_shared`].
pub fn shared(rx: mpsc::Receiver<Input>) -> SharedReceiver {
    Arc::new(tokio::sync::Mutex::new(rx))
}

/// What the consumer uses of the app: all but the queue's sending side (a consumer holding
/// one would keep its own queue open, and the drain at shutdown would never end); the
/// background approver check holds the queue weakly.
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub github: crate::github::Client,
    pub tide: crate::prow::tide::SharedTide,
    pub reconcile: crate::reconcile::Handle,
    pub reruns: crate::rerun::Handle,
    pub queue: WeakQueueSender,
    /// The plugin's login, resolved before the start (see [`membership::OwnLogin::resolve`]).
    pub own_login: membership::OwnLogin,
}

impl Parts {
    /// The parts of `app`, with the plugin's login as resolved at start-up.
    pub fn new(app: &App, own_login: membership::OwnLogin) -> Self {
        Self {
            config: app.config.clone(),
            store: app.store.clone(),
            metrics: app.metrics.clone(),
            github: app.github.clone(),
            tide: app.tide.clone(),
            reconcile: app.reconcile.clone(),
            reruns: app.reruns.clone(),
            queue: app.queue.downgrade(),
            own_login,
        }
    }
}

/// As [`run`], on a shared receiver: applies inputs in order until every sender is gone.
/// One input that fails is logged and skipped.
pub async fn run_shared(
    parts: Parts,
    rx: SharedReceiver,
    _stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = parts.metrics.clone();
    // Without a token (dry-run only) nobody is asked: approvers are the users.
    let github = parts
        .config
        .github
        .token_file
        .exists()
        .then(|| parts.github.clone());
    let approvers = Arc::new(membership::Approvers::new(&parts.config, github));
    let app = Consumer {
        gate: gating::Gatekeeper::new(
            parts.config.clone(),
            parts.store.clone(),
            approvers.clone(),
            parts.own_login,
            parts.tide.clone(),
        ),
        resolver: membership::spawn(approvers, parts.queue),
        reconcile: parts.reconcile,
        reruns: parts.reruns,
        config: parts.config,
        store: parts.store,
        metrics: metrics.clone(),
    };
    let mut rx = rx.lock().await;
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
    config: Arc<Config>,
    gate: gating::Gatekeeper,
    /// Asks GitHub, in the background, whether a command's author is an approver.
    resolver: membership::Resolver,
    /// Pokes the reconciler: the only way to GitHub.
    reconcile: crate::reconcile::Handle,
    /// Pokes the rerun executor.
    reruns: crate::rerun::Handle,
    store: crate::Store,
    metrics: Arc<Metrics>,
}

impl Input {
    fn kind(&self) -> &'static str {
        match self {
            Input::Webhook { .. } | Input::Authorized { .. } => "webhook",
            Input::Run(_) | Input::RunAcked { .. } => "run",
            Input::Admin { .. } => "admin",
            Input::Finding { .. } => "finding",
        }
    }
}

impl Consumer {
    async fn apply(&self, input: Input) -> anyhow::Result<()> {
        match input {
            Input::Webhook {
                delivery,
                event,
                inbox,
            } => self.apply_webhook(delivery, event, inbox, None).await,
            Input::Authorized {
                delivery,
                event,
                inbox,
                approval,
            } => {
                if let Event::IssueComment(comment) = &*event {
                    self.gate.answered(&comment.author);
                }
                self.apply_webhook(delivery, event, inbox, Some(approval))
                    .await
            }
            Input::Admin { request, done } => {
                let policy = self.gate.policy(None);
                match admin::decide_and_commit(&self.store, &policy, &request, gating::now()) {
                    Ok(decision) => {
                        self.make_durable(&decision).await?;
                        let _ = done.send(Ok(decision.clone()));
                        self.act(decision).await
                    }
                    Err(error) => {
                        let message = format!("{error:#}");
                        let _ = done.send(Err(error));
                        anyhow::bail!("admin request failed: {message}")
                    }
                }
            }
            Input::Finding { finding, done } => {
                match self.gate.on_finding(&finding, gating::now()) {
                    Ok(decision) => {
                        self.make_durable(&decision).await?;
                        let _ = done.send(Ok(()));
                        self.act(decision).await
                    }
                    Err(error) => {
                        let message = format!("{error:#}");
                        let _ = done.send(Err(error));
                        anyhow::bail!("recording a finding failed: {message}")
                    }
                }
            }
            Input::RunAcked { run, done } => {
                Box::pin(self.apply(Input::Run(run))).await?;
                self.store.flush().await?;
                let _ = done.send(());
                Ok(())
            }
            Input::Run(run) => {
                let outcome = detect(&self.store, &self.config, &run)?;
                self.metrics
                    .runs_recorded
                    .get_or_create(&KindLabels {
                        kind: channel_name(run.channel).to_string(),
                    })
                    .inc();
                let transition = match &outcome {
                    detector::Outcome::None => None,
                    detector::Outcome::Regression { .. } => Some("regression"),
                    detector::Outcome::Recovery { .. } => Some("recovery"),
                };
                if let Some(kind) = transition {
                    self.metrics
                        .transitions
                        .get_or_create(&KindLabels { kind: kind.into() })
                        .inc();
                }
                tracing::info!(job = %run.job, build = %run.build_id,
                    result = run.result.as_str(), outcome = ?outcome, "run applied");
                // The gate's incident is written before the run is recorded: a crash in
                // between redelivers a run that is still news, and the incident's id is
                // deterministic, so the regression is neither lost nor opened twice.
                let decision = self.gate.on_outcome(&run.job, &outcome, gating::now())?;
                // A red run may re-block a provisionally lifted incident (a run the
                // detector finds nothing new in: the job was red all along).
                let reblock = if run.result.is_red() {
                    let red = crate::model::RunRef::from(&*run);
                    self.gate.on_red_run(&run.job, &red, gating::now())?
                } else {
                    crate::core::gate::Decision::default()
                };
                record(&self.store, &self.config, &run)?;
                self.make_durable(&decision).await?;
                self.make_durable(&reblock).await?;
                self.act(decision).await?;
                self.act(reblock).await?;
                self.tie_reruns(&run).await
            }
        }
    }
}

impl Consumer {
    /// A webhook: decided and written, or, when a command in it waits for its author's
    /// membership, handed to the background check (its inbox entry stays until decided).
    /// `approval` is the author's, once that check answered.
    async fn apply_webhook(
        &self,
        delivery: String,
        event: Box<Event>,
        inbox: Option<crate::store::InboxKey>,
        approval: Option<crate::core::gate::Approval>,
    ) -> anyhow::Result<()> {
        if self.store.seen_delivery(&delivery)? {
            self.metrics.deliveries_duplicate.inc();
            tracing::info!(delivery, "duplicate delivery ignored");
            self.inbox_done(inbox);
            return Ok(());
        }
        // The decision is written before the delivery is remembered: a crash in between
        // replays the event, and replies carry markers, so nothing is lost and nothing is
        // said twice.
        let decision = match self.gate.on_event(&event, approval, gating::now())? {
            gating::Applied::Decided(decision) => decision,
            gating::Applied::NeedsApproval(author) => {
                self.gate.awaiting(&author);
                let awaiting = membership::Awaiting {
                    delivery,
                    event,
                    inbox,
                    author,
                };
                tracing::info!(delivery = awaiting.delivery, author = %awaiting.author,
                    "command waits for its author's membership");
                let Err(refused) = self.resolver.try_send(awaiting) else {
                    return Ok(());
                };
                // Too many waiting already: refused as a membership GitHub did not answer
                // (nothing happens; the author is asked to repeat it).
                let membership::Awaiting {
                    delivery,
                    event,
                    inbox,
                    author,
                } = *refused;
                self.gate.answered(&author);
                tracing::warn!(delivery, author = %author,
                    "too many commands wait for a membership check; refused as unknown");
                let unknown = Some(crate::core::gate::Approval::Unknown);
                return Box::pin(self.apply_webhook(delivery, event, inbox, unknown)).await;
            }
        };
        self.store.remember_delivery(&delivery)?;
        self.make_durable(&decision).await?;
        // Only now may the ingress's copy go: the decision survives a crash.
        self.inbox_done(inbox);
        self.count_breaches(&event, &decision);
        tracing::info!(
            delivery,
            event = event.name(),
            incidents = decision.incidents.len(),
            replies = decision.replies.len(),
            "event applied"
        );
        self.act(decision).await
    }

    /// Removes a delivery's inbox entry once its decision is durable. Not flushed: an
    /// entry whose removal is lost is replayed at the next start and found a duplicate.
    /// A failure is logged, not returned, so the decision is still acted on.
    fn inbox_done(&self, inbox: Option<crate::store::InboxKey>) {
        let Some(key) = inbox else { return };
        if let Err(error) = self.store.inbox_remove(key) {
            tracing::error!(
                error = format!("{error:#}"),
                inbox_key = key.0,
                "cannot remove an applied event from the inbox"
            );
        }
    }

    /// Counts the breaches a merged-PR event added: the gate touches an incident on a merge
    /// only when it records a new breach.
    fn count_breaches(&self, event: &Event, decision: &crate::core::gate::Decision) {
        let Event::PullRequest(pr) = event else {
            return;
        };
        if pr.action != (crate::prow::event::PrAction::Closed { merged: true }) {
            return;
        }
        for incident in &decision.incidents {
            for breach in incident.breaches.iter().filter(|b| b.pr == pr.number) {
                if breach.scope.repo == pr.repo {
                    self.metrics.breach(&breach.scope);
                }
            }
        }
    }

    /// Flushes the store when `decision` wrote something, before anyone acts on it or is
    /// told. sled keeps recent writes in memory for up to half a second: a process killed
    /// in that window (SIGKILL, OOM) would otherwise lose an incident or a lift that
    /// GitHub already shows, and its audit record; after a restart the reconciler would
    /// then undo on GitHub what the lost decision did.
    async fn make_durable(&self, decision: &crate::core::gate::Decision) -> anyhow::Result<()> {
        if decision.is_empty() {
            return Ok(());
        }
        self.store.flush().await
    }

    /// Ties `run` to the rerun it answers, on each active incident of its job: recorded
    /// through the gate (the notice of whether it looks like a flake goes with it).
    async fn tie_reruns(&self, run: &crate::model::Run) -> anyhow::Result<()> {
        if run.channel == crate::model::Channel::Gcs {
            return Ok(()); // history read at start-up, not news
        }
        let reference = crate::model::RunRef::from(run);
        for incident in self.store.active_incidents()? {
            if incident.job != run.job {
                continue;
            }
            let Some(rerun) = crate::core::culprit::rerun_answered_by(&incident, &reference) else {
                continue;
            };
            let finding = crate::core::gate::Finding::RerunFinished {
                incident: incident.id.clone(),
                rerun,
                run: reference.clone(),
                result: run.result,
            };
            tracing::info!(incident = %incident.id, rerun, build = %run.build_id,
                result = run.result.as_str(), "rerun answered");
            // One incident that fails is logged; the run still answers the others.
            if let Err(error) = self.record_finding(&finding).await {
                tracing::error!(incident = %incident.id, rerun, error = format!("{error:#}"),
                    "recording an answered rerun failed");
            }
        }
        Ok(())
    }

    /// Records `finding` through the gate, makes it durable and acts on it.
    async fn record_finding(&self, finding: &crate::core::gate::Finding) -> anyhow::Result<()> {
        let decision = self.gate.on_finding(finding, gating::now())?;
        self.make_durable(&decision).await?;
        self.act(decision).await
    }

    /// Acts on a decision already written to the store: PRs to label now go to the
    /// reconciler's fast path; changed incidents and replies ask for a pass.
    async fn act(&self, decision: crate::core::gate::Decision) -> anyhow::Result<()> {
        use crate::core::gate::Intent;
        for incident in &decision.incidents {
            tracing::info!(incident = %incident.id, job = %incident.job,
                active = incident.is_active(), "incident written");
        }
        for intent in &decision.intents {
            match intent {
                Intent::Reconcile => self.reconcile.poke(),
                Intent::LabelPr { repo, pr } => self.reconcile.label_pr(repo.clone(), *pr),
                Intent::Rerun => self.reruns.poke(),
            }
        }
        if !decision.replies.is_empty() {
            self.reconcile.poke();
        }
        Ok(())
    }
}

/// Records `run` in its job's history (idempotent by build id, bounded by
/// `history.retention`) and judges it against the history recorded before it. A run of a
/// job that is not gated is refused.
///
/// The consumer itself splits the two ([`detect`], then the gate's write, then [`record`])
/// so that the incident is durable before the run that caused it.
pub fn record_and_detect(
    store: &Store,
    config: &Config,
    run: &Run,
) -> anyhow::Result<detector::Outcome> {
    let outcome = detect(store, config, run)?;
    record(store, config, run)?;
    Ok(outcome)
}

/// Judges `run` against the history recorded before it, without recording it.
pub fn detect(store: &Store, config: &Config, run: &Run) -> anyhow::Result<detector::Outcome> {
    let Some(job) = config.job(run.job.as_str()) else {
        anyhow::bail!("run {} of {} is not of a gated job", run.build_id, run.job);
    };
    let history = store.runs(&run.job)?;
    Ok(detector::detect(&history, run, job.failures_to_confirm))
}

/// Records `run` in its job's history (idempotent by build id).
pub fn record(store: &Store, config: &Config, run: &Run) -> anyhow::Result<()> {
    let recorded = store.record_run(run, config.history.retention)?;
    if recorded != RecordOutcome::New {
        tracing::debug!(job = %run.job, build = %run.build_id, ?recorded, "run known before");
    }
    Ok(())
}

/// The `kind` label of a channel in `runs_recorded`.
fn channel_name(channel: crate::model::Channel) -> &'static str {
    use crate::model::Channel;
    match channel {
        Channel::Deck => "deck",
        Channel::PubsubPull => "pubsub_pull",
        Channel::PubsubPush => "pubsub_push",
        Channel::Gangway => "gangway",
        Channel::Api => "api",
        Channel::Gcs => "gcs",
        Channel::Manual => "manual",
    }
}
