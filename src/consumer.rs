//! The one ordered consumer. Ingress (webhooks, Prow result sources) parses, validates and
//! enqueues an [`Input`] on the [`crate::bus`]; this task applies inputs one at a time, in arrival order, to the
//! state, and hands what must change on GitHub to the reconciler. The inputs waiting
//! together share one flush ([`batch`]): nothing is acknowledged or acted on before the
//! flush that makes its decision durable.

pub mod admin;
pub mod batch;
pub mod gating;
pub mod membership;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::bus::event::Event;
use crate::bus::{Input, WeakQueueSender};
use crate::clock::Clock;
use crate::config::Config;
use crate::core::detector;
use crate::model::Run;
use crate::store::{RecordOutcome, Store};
use crate::telemetry::KindLabels;
use crate::telemetry::Metrics;

/// How long shutdown waits for the queue to drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(20);

/// Applies inputs in order until every sender is gone, or until `stop` and what was
/// queued before it is applied (see [`run_shared`]).
pub async fn run(
    parts: Parts,
    rx: mpsc::Receiver<Input>,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    run_shared(parts, shared(rx), stop).await
}

/// The receiving side, shared so that a restarted consumer goes on where the last one
/// stopped (the supervisor's factory keeps it).
pub type SharedReceiver = Arc<tokio::sync::Mutex<mpsc::Receiver<Input>>>;

/// Wraps `rx` for [`run_shared`].
pub fn shared(rx: mpsc::Receiver<Input>) -> SharedReceiver {
    Arc::new(tokio::sync::Mutex::new(rx))
}

/// The handles the consumer is built from: all but the queue's sending side (a consumer
/// holding one would keep its own queue open, and the drain at shutdown would never end);
/// the background approver check holds the queue weakly.
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub github: crate::github::Client,
    pub tide: crate::bus::tide::SharedTide,
    pub reconcile: crate::bus::ReconcileHandle,
    pub reruns: crate::bus::RerunHandle,
    pub queue: WeakQueueSender,
    /// The plugin's login, resolved before the start (see [`membership::OwnLogin::resolve`]).
    pub own_login: membership::OwnLogin,
    /// The time every decision is made at.
    pub clock: Clock,
}

/// As [`run`], on a shared receiver: applies inputs in order until every sender is gone.
/// One input that fails is logged and skipped.
///
/// Once `stop` turns true it applies what is queued at that moment and returns: the
/// caller sends it after every ingress stopped, so nothing queued is lost; a command
/// answered but not yet decided is kept in the durable inbox and replayed at the next
/// start, and a run is read again from its source.
pub async fn run_shared(
    parts: Parts,
    rx: SharedReceiver,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = parts.metrics.clone();
    // Without a token or app (dry-run only) nobody is asked: approvers are the users.
    let github = parts.github.has_credentials().then(|| parts.github.clone());
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
        clock: parts.clock,
        reconcile: parts.reconcile,
        reruns: parts.reruns,
        config: parts.config,
        store: parts.store,
        metrics: metrics.clone(),
    };
    let mut rx = rx.lock().await;
    loop {
        let input = tokio::select! {
            biased;
            input = rx.recv() => input,
            _ = stopping(&mut stop) => break,
        };
        let Some(input) = input else {
            return Ok(());
        };
        app.apply_batch(batch::waiting(input, &mut rx), &metrics)
            .await;
    }
    // Stopping: what is queued now is applied, then the consumer ends.
    let mut drained = 0usize;
    while let Ok(input) = rx.try_recv() {
        let inputs = batch::waiting(input, &mut rx);
        drained += inputs.len();
        app.apply_batch(inputs, &metrics).await;
    }
    tracing::info!(drained, "consumer stopped");
    Ok(())
}

/// Resolves once `stop` is true; never when its sender is gone without saying so (the
/// queue closing ends the consumer then).
async fn stopping(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// What the consumer holds.
struct Consumer {
    config: Arc<Config>,
    gate: gating::Gatekeeper,
    /// Asks GitHub, in the background, whether a command's author is an approver.
    resolver: membership::Resolver,
    /// Pokes the reconciler: the only way to GitHub.
    reconcile: crate::bus::ReconcileHandle,
    /// Pokes the rerun executor.
    reruns: crate::bus::RerunHandle,
    store: Store,
    clock: Clock,
    metrics: Arc<Metrics>,
}

impl Consumer {
    /// Applies `inputs` in order, each counted in the metrics (one that fails is logged
    /// and skipped), then makes all their writes durable with one flush, and only then
    /// acknowledges and acts on them. When the flush fails nothing of the batch is
    /// acknowledged: waiting sources get an error, and the commands stay in the inbox, to
    /// be replayed at the next start.
    async fn apply_batch(&self, inputs: Vec<Input>, metrics: &Metrics) {
        let mut batch = batch::Batch::default();
        let applied = inputs.len();
        for input in inputs {
            metrics.queue_depth.dec();
            let started = std::time::Instant::now();
            let kind = input.kind();
            if let Err(error) = self.apply(input, &mut batch) {
                tracing::error!(error = format!("{error:#}"), kind, "applying input failed");
            }
            metrics.observe_processing(kind, started.elapsed());
        }
        if batch.dirty()
            && let Err(error) = self.store.flush().await
        {
            tracing::error!(
                error = format!("{error:#}"),
                applied,
                "flushing the consumer's decisions failed: none is acknowledged"
            );
            return;
        }
        for step in batch.into_steps() {
            self.after_flush(step);
        }
    }

    /// What a decision's durability unlocks, run once the batch is flushed.
    fn after_flush(&self, step: batch::AfterFlush) {
        use batch::AfterFlush;
        match step {
            // Only now may the ingress's copy go: the decision survives a crash.
            AfterFlush::InboxDone(key) => self.inbox_done(Some(key)),
            AfterFlush::Act(decision) => self.act(decision),
            AfterFlush::Admin(done, decision) => {
                let _ = done.send(Ok(decision.clone()));
                self.act(decision);
            }
            AfterFlush::Finding(done) => {
                let _ = done.send(Ok(()));
            }
            AfterFlush::Run(done) => {
                let _ = done.send(());
            }
        }
    }

    fn apply(&self, input: Input, batch: &mut batch::Batch) -> anyhow::Result<()> {
        match input {
            Input::Webhook {
                delivery,
                event,
                inbox,
            } => self.apply_webhook(delivery, event, inbox, None, batch),
            Input::Authorized {
                delivery,
                event,
                inbox,
                approval,
            } => {
                if let Event::IssueComment(comment) = &*event {
                    self.gate.answered(&comment.author);
                }
                self.apply_webhook(delivery, event, inbox, Some(approval), batch)
            }
            Input::Admin { request, done } => {
                let policy = self.gate.policy(None);
                match admin::decide_and_commit(&self.store, &policy, &request, self.clock.now()) {
                    Ok(decision) => {
                        batch.wrote(&decision);
                        batch.then(batch::AfterFlush::Admin(done, decision));
                        Ok(())
                    }
                    Err(error) => {
                        let message = format!("{error:#}");
                        let _ = done.send(Err(error));
                        anyhow::bail!("admin request failed: {message}")
                    }
                }
            }
            Input::Finding { finding, done } => {
                match self.gate.on_finding(&finding, self.clock.now()) {
                    Ok(decision) => {
                        self.count_found_breach(&finding, &decision);
                        batch.wrote(&decision);
                        batch.then(batch::AfterFlush::Finding(done));
                        batch.then(batch::AfterFlush::Act(decision));
                        Ok(())
                    }
                    Err(error) => {
                        let message = format!("{error:#}");
                        let _ = done.send(Err(error));
                        anyhow::bail!("recording a finding failed: {message}")
                    }
                }
            }
            Input::RunAcked { run, done } => {
                self.apply(Input::Run(run), batch)?;
                batch.must_flush();
                batch.then(batch::AfterFlush::Run(done));
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
                let decision = self.gate.on_outcome(&run.job, &outcome, self.clock.now())?;
                // A red run may re-block a provisionally lifted incident (a run the
                // detector finds nothing new in: the job was red all along).
                let reblock = if run.result.is_red() {
                    let red = crate::model::RunRef::from(&*run);
                    self.gate.on_red_run(&run.job, &red, self.clock.now())?
                } else {
                    crate::core::gate::Decision::default()
                };
                record(&self.store, &self.config, &run)?;
                batch.wrote(&decision);
                batch.wrote(&reblock);
                batch.then(batch::AfterFlush::Act(decision));
                batch.then(batch::AfterFlush::Act(reblock));
                self.tie_reruns(&run, batch)
            }
        }
    }
}

impl Consumer {
    /// A webhook: decided and written, or, when a command in it waits for its author's
    /// membership, handed to the background check (its inbox entry stays until decided).
    /// `approval` is the author's, once that check answered. Its inbox entry goes, and its
    /// decision is acted on, once `batch` is durable.
    fn apply_webhook(
        &self,
        delivery: String,
        event: Box<Event>,
        inbox: Option<crate::store::InboxKey>,
        approval: Option<crate::core::gate::Approval>,
        batch: &mut batch::Batch,
    ) -> anyhow::Result<()> {
        if self.store.seen_delivery(&delivery)? {
            self.metrics.deliveries_duplicate.inc();
            tracing::info!(delivery, "duplicate delivery ignored");
            if let Some(key) = inbox {
                batch.then(batch::AfterFlush::InboxDone(key));
            }
            return Ok(());
        }
        // The decision is written before the delivery is remembered: a crash in between
        // replays the event, and replies carry markers, so nothing is lost and nothing is
        // said twice.
        let decision = match self.gate.on_event(&event, approval, self.clock.now())? {
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
                return self.apply_webhook(delivery, event, inbox, unknown, batch);
            }
        };
        // A comment that cannot carry a command does nothing in any state, so a replay of
        // it does nothing either: remembering its delivery would guard nothing and cost a
        // store write per webhook (most webhooks are such comments; docs/performance.md).
        let inert =
            matches!(&*event, Event::IssueComment(c) if !crate::bus::event::may_carry_command(c));
        if !(inert && decision.is_empty()) {
            self.store.remember_delivery(&delivery)?;
        }
        batch.wrote(&decision);
        if let Some(key) = inbox {
            batch.then(batch::AfterFlush::InboxDone(key));
        }
        self.count_breaches(&event, &decision);
        // An event that changed nothing (most of them: comments without a command, PR
        // edits) is logged at debug level only: an info line each cost the consumer a
        // formatted write per webhook at thousands a second (docs/performance.md).
        if decision.is_empty() {
            tracing::debug!(
                delivery,
                event = event.name(),
                "event applied: nothing to do"
            );
        } else {
            tracing::info!(
                delivery,
                event = event.name(),
                incidents = decision.incidents.len(),
                replies = decision.replies.len(),
                "event applied"
            );
        }
        batch.then(batch::AfterFlush::Act(decision));
        Ok(())
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

    /// Counts a breach the resync found, as the webhook's would be (only when the gate
    /// recorded it: never twice).
    fn count_found_breach(
        &self,
        finding: &crate::core::gate::Finding,
        decision: &crate::core::gate::Decision,
    ) {
        if let crate::core::gate::Finding::Breach { scope, .. } = finding
            && !decision.incidents.is_empty()
        {
            self.metrics.breach(scope);
        }
    }

    /// Counts the breaches a merged-PR event added: the gate touches an incident on a merge
    /// only when it records a new breach.
    fn count_breaches(&self, event: &Event, decision: &crate::core::gate::Decision) {
        let Event::PullRequest(pr) = event else {
            return;
        };
        if pr.action != (crate::bus::event::PrAction::Closed { merged: true }) {
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

    /// Ties `run` to the rerun it answers, on each active incident of its job: recorded
    /// through the gate (the notice of whether it looks like a flake goes with it).
    fn tie_reruns(&self, run: &crate::model::Run, batch: &mut batch::Batch) -> anyhow::Result<()> {
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
            if let Err(error) = self.record_finding(&finding, batch) {
                tracing::error!(incident = %incident.id, rerun, error = format!("{error:#}"),
                    "recording an answered rerun failed");
            }
        }
        Ok(())
    }

    /// Records `finding` through the gate; it is acted on once `batch` is durable.
    fn record_finding(
        &self,
        finding: &crate::core::gate::Finding,
        batch: &mut batch::Batch,
    ) -> anyhow::Result<()> {
        let decision = self.gate.on_finding(finding, self.clock.now())?;
        self.count_found_breach(finding, &decision);
        batch.wrote(&decision);
        batch.then(batch::AfterFlush::Act(decision));
        Ok(())
    }

    /// Acts on a decision already written to the store and flushed: PRs to label now go
    /// to the reconciler's fast path; changed incidents and replies ask for a pass.
    ///
    /// Never before the flush: sled keeps recent writes in memory for up to half a
    /// second, and a process killed in that window (SIGKILL, OOM) would otherwise lose an
    /// incident or a lift that GitHub already shows, and its audit record; after a
    /// restart the reconciler would then undo on GitHub what the lost decision did.
    fn act(&self, decision: crate::core::gate::Decision) {
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
