//! Starts every enabled job-result source (each is off when its address is empty):
//! the GCS backfill at start-up, then the Deck and Gangway pollers and the Pub/Sub pull
//! subscriber (`prow::pubsub`, which acknowledges runs once stored). Each enqueues
//! [`Input::Run`] on the ordered queue; the consumer records and judges. The push endpoint
//! and the gRPC API are served by the listeners instead.
//!
//! Pollers remember the runs of their previous poll and enqueue only runs not seen then,
//! so a steady Deck answer costs nothing downstream; the store is idempotent anyway, so a
//! restart that re-sends everything once is harmless. Before enqueueing a new run, every
//! source fills its tested commits and times from GCS through the one
//! [`Enricher`](crate::prow::gcs::Enricher) (the Pub/Sub subscriber too).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bus::Input;
use crate::bus::QueueSender;
use crate::config::{self, Config};
use crate::model::{BuildId, JobName, Run};
use crate::prow::{deck, gangway::Gangway, gcs::Enricher, gcs::Gcs};
use crate::supervise::Supervisor;
use crate::supervise::stopped;

/// Timeout of one Deck request (the body is tens of MB).
const DECK_TIMEOUT: Duration = Duration::from_secs(300);

/// The handles the result sources are built from: the config and the bus.
#[derive(Clone)]
struct Parts {
    config: Arc<Config>,
    queue: QueueSender,
}

/// Starts the enabled sources under `supervisor`, each a named task (`gcs_backfill` first,
/// then `deck_poller`, `gangway_poller`, `pubsub_subscriber`); the handle resolves once all
/// of them stopped on the supervisor's stop.
pub fn spawn(
    config: Arc<Config>,
    queue: QueueSender,
    gcs_credentials: crate::gcs_auth::TokenSource,
    supervisor: &Supervisor,
) -> JoinHandle<()> {
    let app = Parts { config, queue };
    let supervisor = supervisor.clone();
    tokio::spawn(async move {
        let enricher = Enricher::new(&app.config, &gcs_credentials);
        if let Some(gcs) = enricher.gcs() {
            // History first: the pollers start once it is queued (or on stop).
            let (app, gcs) = (app.clone(), gcs.clone());
            let done = supervisor.spawn_once("gcs_backfill", move |stop| {
                let (app, gcs) = (app.clone(), gcs.clone());
                async move {
                    tokio::select! {
                        _ = backfill(&app, &gcs) => {},
                        _ = stopped(stop) => {},
                    }
                    Ok(())
                }
            });
            let _ = done.await;
            if *supervisor.stop().borrow() {
                return;
            }
        }
        let mut tasks = Vec::new();
        if !app.config.sources.deck.url.trim().is_empty() {
            let (app, enricher) = (app.clone(), enricher.clone());
            tasks.push(supervisor.spawn("deck_poller", move |stop| {
                let polled = poll_deck(app.clone(), enricher.clone(), stop);
                async move {
                    polled.await;
                    Ok(())
                }
            }));
        }
        let gangway = &app.config.sources.gangway;
        if !gangway.address.trim().is_empty() {
            match gangway_client(gangway) {
                Ok(client) => {
                    let (app, enricher) = (app.clone(), enricher.clone());
                    tasks.push(supervisor.spawn("gangway_poller", move |stop| {
                        let polled =
                            poll_gangway(app.clone(), client.clone(), enricher.clone(), stop);
                        async move {
                            polled.await;
                            Ok(())
                        }
                    }));
                }
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "Gangway source disabled")
                }
            }
        }
        if let Some(settings) = crate::prow::pubsub::Settings::from_config(&app.config) {
            let (queue, enricher) = (app.queue.clone(), enricher.clone());
            tasks.push(supervisor.spawn("pubsub_subscriber", move |stop| {
                let pulled = crate::prow::pubsub::run(
                    settings.clone(),
                    queue.clone(),
                    enricher.clone(),
                    stop,
                );
                async move {
                    pulled.await;
                    Ok(())
                }
            }));
        }
        drop(app);
        for task in tasks {
            let _ = task.await;
        }
    })
}

fn gangway_client(config: &config::GangwaySource) -> anyhow::Result<Gangway> {
    let key = if config.api_key_file.is_empty() {
        String::new()
    } else {
        config::read_secret_file(std::path::Path::new(&config.api_key_file))?
    };
    Gangway::new(&config.address, &key)
}

/// Reads the last `history.backfill` runs of each gated job from GCS and enqueues them as
/// history (channel `Gcs`: the detector never judges them as news).
async fn backfill(app: &Parts, gcs: &Gcs) {
    let n = app.config.history.backfill;
    if n == 0 {
        return;
    }
    for job in &app.config.jobs {
        match gcs.backfill(job, n).await {
            Ok(runs) => {
                tracing::info!(job = %job.name, runs = runs.len(), "history backfilled from GCS");
                for mut run in runs {
                    let deck = app.config.sources.deck.url.trim_end_matches('/');
                    if run.url.is_empty() && !deck.is_empty() {
                        run.url = format!(
                            "{deck}/view/gs/{}/logs/{}/{}",
                            app.config.sources.gcs.bucket, run.job, run.build_id
                        );
                    }
                    if app.queue.send(Input::Run(Box::new(run))).await.is_err() {
                        return;
                    }
                }
            }
            Err(error) => tracing::warn!(job = %job.name, error = format!("{error:#}"),
                "GCS backfill failed; history starts empty"),
        }
    }
}

/// Runs seen in the previous poll of one source.
#[derive(Default)]
struct Seen(HashSet<(JobName, BuildId)>);

impl Seen {
    /// Enqueues the runs not seen in the previous poll (filling commits from GCS first);
    /// false once the queue is closed or `stop` came.
    async fn enqueue_new(
        &mut self,
        app: &Parts,
        enricher: &Enricher,
        runs: Vec<Run>,
        stop: &watch::Receiver<bool>,
    ) -> bool {
        let mut now = HashSet::with_capacity(runs.len());
        for mut run in runs {
            let key = (run.job.clone(), run.build_id.clone());
            if !self.0.contains(&key) {
                enricher.enrich(&mut run).await;
                let sent = tokio::select! {
                    r = app.queue.send(Input::Run(Box::new(run))) => r.is_ok(),
                    _ = stopped(stop.clone()) => false,
                };
                if !sent {
                    return false;
                }
            }
            now.insert(key);
        }
        self.0 = now;
        true
    }
}

async fn poll_deck(app: Parts, enricher: Enricher, stop: watch::Receiver<bool>) {
    let http = match reqwest::Client::builder().timeout(DECK_TIMEOUT).build() {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(error = %error, "Deck poller disabled");
            return;
        }
    };
    let gated: HashSet<String> = app.config.jobs.iter().map(|j| j.name.clone()).collect();
    let url = app.config.sources.deck.url.clone();
    let mut ticker = tokio::time::interval(app.config.sources.deck.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {},
            _ = stopped(stop.clone()) => return,
        }
        let polled = tokio::select! {
            r = deck::poll_once(&http, &url, &gated) => r,
            _ = stopped(stop.clone()) => return,
        };
        match polled {
            Ok((runs, stats)) => {
                tracing::debug!(items = stats.items, kept = stats.kept, "Deck polled");
                if !seen.enqueue_new(&app, &enricher, runs, &stop).await {
                    return;
                }
            }
            Err(error) => tracing::warn!(error = format!("{error:#}"), "Deck poll failed"),
        }
    }
}

async fn poll_gangway(
    app: Parts,
    client: Gangway,
    enricher: Enricher,
    stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(app.config.sources.gangway.interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = Seen::default();
    loop {
        tokio::select! {
            _ = ticker.tick() => {},
            _ = stopped(stop.clone()) => return,
        }
        let mut runs = Vec::new();
        for job in &app.config.jobs {
            let listed = tokio::select! {
                r = client.list_runs(&job.name) => r,
                _ = stopped(stop.clone()) => return,
            };
            match listed {
                Ok(mut r) => runs.append(&mut r),
                Err(error) => {
                    tracing::warn!(job = %job.name, error = format!("{error:#}"), "Gangway poll failed")
                }
            }
        }
        if !seen.enqueue_new(&app, &enricher, runs, &stop).await {
            return;
        }
    }
}
