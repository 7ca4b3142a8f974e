//! The servers: the plugin's HTTP listener (webhooks, `/help`, push, dashboard, API), the
//! health listener, the metrics listener and the gRPC listener. Each is a supervised task;
//! all stop on one signal.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod dry_run;
pub mod gate_api;
pub mod grpc;
pub mod http;
pub mod results;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::app::{App, Bound};
use crate::config::Config;
use crate::prow::hmac::HmacSecrets;
use crate::supervise::{Supervisor, stopped};

/// The four bound sockets.
pub struct Listeners {
    pub listen: TcpListener,
    pub health: TcpListener,
    pub metrics: TcpListener,
    pub grpc: TcpListener,
}

impl Listeners {
    /// Binds every configured address.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        async fn one(addr: SocketAddr, what: &str) -> anyhow::Result<TcpListener> {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {what} on {addr}"))
        }
        Ok(Self {
            listen: one(config.listen, "listen").await?,
            health: one(config.health_listen, "health_listen").await?,
            metrics: one(config.metrics_listen, "metrics_listen").await?,
            grpc: one(config.grpc_listen, "grpc_listen").await?,
        })
    }

    pub fn bound(&self) -> anyhow::Result<Bound> {
        Ok(Bound {
            listen: self.listen.local_addr()?,
            health: self.health.local_addr()?,
            metrics: self.metrics.local_addr()?,
            grpc: self.grpc.local_addr()?,
        })
    }
}

/// A bound socket its server task can serve again after a restart: each incarnation
/// serves a duplicate of the same socket, so the port is never released meanwhile.
struct Socket(std::net::TcpListener);

impl Socket {
    fn of(listener: TcpListener, what: &str) -> anyhow::Result<Self> {
        let socket = listener
            .into_std()
            .with_context(|| format!("keeping the {what} socket"))?;
        Ok(Self(socket))
    }

    fn listener(&self) -> anyhow::Result<TcpListener> {
        let socket = self
            .0
            .try_clone()
            .context("duplicating a listening socket")?;
        socket.set_nonblocking(true)?;
        Ok(TcpListener::from_std(socket)?)
    }
}

/// Serves every listener under `supervisor`, one task each (`http_server`,
/// `health_server`, `metrics_server`, `grpc_server`), until its stop. The handle resolves
/// once all four stopped.
pub fn spawn(
    app: App,
    l: Listeners,
    supervisor: &Supervisor,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let health = Readiness {
        app: app.clone(),
        tasks: supervisor.health(),
        hmac: Arc::new(HmacSecrets::new(&app.config.hmac_secret_file)),
    };
    let main = Socket::of(l.listen, "listen")?;
    let health_socket = Socket::of(l.health, "health_listen")?;
    let metrics = Socket::of(l.metrics, "metrics_listen")?;
    let grpc_socket = Socket::of(l.grpc, "grpc_listen")?;
    let router = http::router(app.clone());
    let main = supervisor.spawn("http_server", move |stop| {
        let (listener, router) = (main.listener(), router.clone());
        async move {
            axum::serve(listener?, router)
                .with_graceful_shutdown(stopped(stop))
                .await
                .context("http server")
        }
    });
    let router = health_router(health);
    let health = supervisor.spawn("health_server", move |stop| {
        let (listener, router) = (health_socket.listener(), router.clone());
        async move {
            axum::serve(listener?, router)
                .with_graceful_shutdown(stopped(stop))
                .await
                .context("health server")
        }
    });
    let router = metrics_router(app.clone());
    let metrics = supervisor.spawn("metrics_server", move |stop| {
        let (listener, router) = (metrics.listener(), router.clone());
        async move {
            axum::serve(listener?, router)
                .with_graceful_shutdown(stopped(stop))
                .await
                .context("metrics server")
        }
    });
    let grpc = supervisor.spawn("grpc_server", move |stop| {
        let (listener, app) = (grpc_socket.listener(), app.clone());
        async move { grpc::serve(app, listener?, stopped(stop)).await }
    });
    Ok(tokio::spawn(async move {
        let _ = tokio::join!(main, health, metrics, grpc);
    }))
}

/// What `/healthz/ready` consults: the plugin started, no supervised task is down, and
/// the HMAC secret file holds a token (it is re-read when it changes).
#[derive(Clone)]
struct Readiness {
    app: App,
    tasks: crate::supervise::Health,
    hmac: Arc<HmacSecrets>,
}

fn health_router(readiness: Readiness) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "OK" }))
        .route("/healthz/ready", get(ready))
        .with_state(readiness)
}

async fn ready(State(r): State<Readiness>) -> (StatusCode, String) {
    let unavailable = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why);
    if !r.app.ready.load(Ordering::SeqCst) {
        return unavailable("not ready".into());
    }
    let down = r.tasks.down();
    if !down.is_empty() {
        return unavailable(format!("not ready: task down: {}", down.join(", ")));
    }
    // A small file, read (and parsed only when changed) off the async workers.
    let hmac = r.hmac.clone();
    match tokio::task::spawn_blocking(move || hmac.current().map(|_| ())).await {
        Ok(Ok(())) => {
            // Ready (webhooks are taken and kept), but say what is missing for the rest.
            let mut missing = r.app.github.missing();
            missing.extend(gcs_missing(&r.app));
            if missing.is_empty() {
                (StatusCode::OK, "OK".into())
            } else {
                (
                    StatusCode::OK,
                    format!("OK; degraded: {}", missing.join("; ")),
                )
            }
        }
        // The error names the file and what is wrong with it, never a token.
        Ok(Err(error)) => unavailable(format!("not ready: hmac_secret_file: {error:#}")),
        Err(_) => unavailable("not ready: checking hmac_secret_file failed".into()),
    }
}

/// What is wrong with the GCS credentials every reader shares, as last seen (nothing
/// without `sources.gcs.url`). A token that could not be had is asked again in the
/// background (within the retry delay), so a fixed grant clears the line by itself.
fn gcs_missing(app: &App) -> Option<String> {
    if app.config.sources.gcs.url.trim().is_empty() {
        return None;
    }
    app.gcs_credentials.recheck();
    let problem = app.gcs_credentials.problem()?;
    Some(format!(
        "gcs credentials: {problem} (GCS reads fail until this clears)"
    ))
}

fn metrics_router(app: App) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(app): State<App>| async move {
                // What the store holds, read at the scrape (the inbox is bounded by the
                // queue's capacity, so counting it is cheap).
                let store = app.store.clone();
                let reader = app.clone();
                let sizes = tokio::task::spawn_blocking(move || {
                    // The gate's own figures, from the incidents and runs in the store.
                    match crate::status::metric_figures(&reader) {
                        Ok(figures) => reader.metrics.set_figures(figures),
                        Err(e) => tracing::warn!(
                            error = format!("{e:#}"),
                            "cannot compute the gate's figures"
                        ),
                    }
                    (store.inbox_len(), store.size_on_disk())
                })
                .await;
                if let Ok((inbox, bytes)) = sizes {
                    match inbox {
                        Ok(n) => {
                            app.metrics.inbox_entries.set(n as i64);
                        }
                        Err(e) => {
                            tracing::warn!(error = format!("{e:#}"), "cannot count the inbox")
                        }
                    }
                    app.metrics
                        .store_bytes
                        .set(i64::try_from(bytes).unwrap_or(i64::MAX));
                }
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    app.metrics.encode(),
                )
            }),
        )
        .with_state(app)
}
