//! scalability-gate: a Prow external plugin that blocks merges to a branch when a
//! release-blocking periodic job goes from green to red, finds the culprit, helps revert
//! it, and unblocks. See `docs/architecture.md` for the shape of the whole.
//!
//! The library holds everything; the binary only parses flags and calls [`run`].

#![forbid(unsafe_code)]

pub mod app;
pub mod bus;
pub mod clock;
pub mod comment;
pub mod config;
pub mod consumer;
pub mod core;
pub mod gcs_auth;
pub mod github;
pub mod model;
pub mod notify;
pub mod pb;
pub mod preflight;
pub mod prow;
pub mod reconcile;
pub mod rerun;
pub mod server;
#[cfg(feature = "fake")]
pub mod simulate;
pub mod status;
pub mod store;
pub mod supervise;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::Clock;

use anyhow::Context;

pub use app::{App, Bound};
pub use config::Config;
pub use store::Store;

/// Runs the plugin until `shutdown` resolves, then drains the queue and flushes the store.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(config, shutdown, |_| {}).await
}

/// As [`run`], telling `on_bound` the bound addresses once every listener is up.
pub async fn run_with(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    run_with_clock(config, Clock::system(), shutdown, on_bound).await
}

/// As [`run_with`], reading the time from `clock` (tests move time on with
/// [`Clock::from_fn`]).
pub async fn run_with_clock(
    config: Config,
    clock: Clock,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_bound: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    let config = Arc::new(config);
    // Opening may wait for a lock a previous handle is releasing: off the async workers.
    let store_path = config.store_path.clone();
    let store = tokio::task::spawn_blocking(move || Store::open(&store_path))
        .await
        .context("opening the store")??
        .with_audit_retention(config.history.audit_retention);
    let metrics = Arc::new(telemetry::Metrics::new());
    let (queue, receiver) = bus::queue(bus::QUEUE_CAPACITY, metrics.clone());
    let app = App {
        config: config.clone(),
        store: store.clone(),
        metrics,
        queue,
        ready: Arc::new(AtomicBool::new(false)),
        tide: bus::tide::shared(&config),
        github: github::Client::from_config(&config, clock.clone()).context("GitHub client")?,
        gcs_credentials: gcs_auth::TokenSource::from_config(&config.sources.gcs)
            .context("GCS credentials")?,
        reconcile: bus::ReconcileHandle::default(),
        reruns: bus::RerunHandle::default(),
        clock: clock.clone(),
        started_at: clock.now(),
    };

    if !config.sources.gcs.url.trim().is_empty() {
        // Unusable GCS credentials show on /healthz/ready before a read needs them.
        app.gcs_credentials.check_in_background();
    }

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // The consumer stops last, on its own signal, sent once every task that queues has
    // stopped: it applies what they queued, then ends.
    let (drain_tx, drain_rx) = tokio::sync::watch::channel(false);
    // Every long-running task runs under it: restarted when it dies, readiness false
    // meanwhile, nothing restarted once stop is sent.
    let supervisor = supervise::Supervisor::new(stop_rx.clone(), &app.metrics);
    let listeners = server::Listeners::bind(&config).await?;
    let bound = listeners.bound()?;
    // The plugin's own login, asked before the consumer starts (bounded; asked again in
    // the background if GitHub is slow) and handed over as a value: the consumer never
    // waits for GitHub. Without a token (dry-run) it stays unknown.
    let own_login = consumer::membership::OwnLogin::resolve(
        app.github.has_credentials().then_some(&app.github),
        stop_rx.clone(),
    )
    .await;
    let consumer = {
        let parts = consumer::Parts {
            config: app.config.clone(),
            store: app.store.clone(),
            metrics: app.metrics.clone(),
            github: app.github.clone(),
            tide: app.tide.clone(),
            reconcile: app.reconcile.clone(),
            reruns: app.reruns.clone(),
            queue: app.queue.downgrade(),
            own_login,
            clock: clock.clone(),
        };
        let receiver = consumer::shared(receiver);
        supervisor
            .with_stop(drain_rx)
            .spawn("consumer", move |stop| {
                consumer::run_shared(parts.clone(), receiver.clone(), stop)
            })
    };
    // Commands answered 200 but not applied before the last stop go first, before the
    // listener accepts a webhook.
    let replayed = prow::webhook::replay_inbox(&app.store, &app.queue, &clock)
        .await
        .context("replaying the webhook inbox")?;
    if replayed > 0 {
        tracing::info!(replayed, "commands kept in the inbox queued again");
    }
    let servers = server::spawn(app.clone(), listeners, &supervisor)?;
    let tide_watch = prow::tide::spawn_watch(
        &prow::tide::Parts {
            config: app.config.clone(),
            store: app.store.clone(),
            metrics: app.metrics.clone(),
            tide: app.tide.clone(),
            reconcile: app.reconcile.clone(),
            clock: clock.clone(),
        },
        &supervisor,
    );
    let sources = prow::sources::spawn(
        app.config.clone(),
        app.queue.clone(),
        app.gcs_credentials.clone(),
        &supervisor,
    );
    let reconciler = reconcile::spawn(
        reconcile::Parts {
            config: app.config.clone(),
            store: app.store.clone(),
            github: app.github.clone(),
            tide: app.tide.clone(),
            queue: app.queue.clone(),
            handle: app.reconcile.clone(),
            gcs_credentials: app.gcs_credentials.clone(),
            clock: clock.clone(),
        },
        &supervisor,
    );
    let reruns = rerun::spawn(
        app.config.clone(),
        app.store.clone(),
        app.queue.clone(),
        app.reruns.clone(),
        &supervisor,
    );
    let notifier = notify::spawn(
        notify::Parts {
            config: app.config.clone(),
            store: app.store.clone(),
            metrics: app.metrics.clone(),
            clock: clock.clone(),
        },
        &supervisor,
    );

    app.ready.store(true, Ordering::SeqCst);
    tracing::info!(listen = %bound.listen, health = %bound.health, metrics = %bound.metrics,
        grpc = %bound.grpc, dry_run = config.dry_run, "scalability-gate is ready");
    on_bound(bound);

    shutdown.await;
    tracing::info!("shutting down: draining the queue");
    app.ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    servers.await.context("server tasks")?;
    if tokio::time::timeout(consumer::DRAIN_TIMEOUT, sources)
        .await
        .is_err()
    {
        tracing::warn!("result sources did not stop within the bound");
    }
    reconciler.await.context("reconciler task")?;
    if let Some(reruns) = reruns {
        reruns.await.context("rerun executor task")?;
    }
    if let Some(notifier) = notifier {
        notifier.await.context("notifier task")?;
    }
    for watch in tide_watch {
        watch.await.context("Tide watch task")?;
    }
    // Every task that queues has stopped: the consumer applies what they queued, then
    // ends. Stop is said before the last sender goes: a consumer that saw its queue close
    // first would end "before stop", which its supervisor counts as a death.
    let _ = drain_tx.send(true);
    drop(app);
    if tokio::time::timeout(consumer::DRAIN_TIMEOUT, consumer)
        .await
        .is_err()
    {
        tracing::warn!("queue not drained within the bound; the rest is left to the next resync");
    }
    store.flush().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Checks the secret files at start-up: the HMAC secret file must hold a token (else
/// every webhook would be refused), and a missing GitHub token is a warning in dry-run (so
/// the example starts at once) and an error otherwise. Never logs what the files hold.
pub fn check_secrets(config: &Config) -> anyhow::Result<()> {
    // Unusable later (it is re-read on change) turns readiness false instead.
    prow::hmac::HmacSecrets::new(&config.hmac_secret_file)
        .current()
        .context("hmac_secret_file is unusable (it must hold a token)")?;
    notify::check(config)?;
    let token = &config.github.token_file;
    if config.github.uses_app() {
        // The app's settings were checked with the configuration; exactly one way in.
        if token.exists() {
            anyhow::bail!(
                "github.token_file {} exists while github.app_id is set: configure a token or \
                 a GitHub App, not both (set github.token_file to \"\")",
                token.display()
            );
        }
    } else if !token.exists() {
        if config.dry_run {
            tracing::warn!(path = %token.display(), "GitHub token file missing; dry-run goes on without GitHub");
        } else {
            anyhow::bail!(
                "github.token_file {} does not exist (required unless dry_run)",
                token.display()
            );
        }
    }
    Ok(())
}
