//! The servers: the plugin's HTTP listener (webhooks, `/help`, push, dashboard, API), the
//! health listener, the metrics listener and the gRPC listener. All stop on one signal.

pub mod api;
pub mod auth;
pub mod dashboard;
pub mod gate_api;
pub mod grpc;
pub mod http;
pub mod results;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::{App, Bound, Config};

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

/// Serves every listener until `stop` turns true.
pub async fn serve(app: App, l: Listeners, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let main = axum::serve(l.listen, http::router(app.clone()))
        .with_graceful_shutdown(stopped(stop.clone()));
    let health = axum::serve(l.health, health_router(app.clone()))
        .with_graceful_shutdown(stopped(stop.clone()));
    let metrics = axum::serve(l.metrics, metrics_router(app.clone()))
        .with_graceful_shutdown(stopped(stop.clone()));
    let grpc = grpc::serve(app, l.grpc, stopped(stop));
    let (a, b, c, d) = tokio::join!(main, health, metrics, grpc);
    a.context("http server")?;
    b.context("health server")?;
    c.context("metrics server")?;
    d.context("grpc server")?;
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn health_router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "OK" }))
        .route("/healthz/ready", get(ready))
        .with_state(app)
}

async fn ready(State(app): State<App>) -> (StatusCode, &'static str) {
    if app.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "OK")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

fn metrics_router(app: App) -> Router {
    Router::new()
        .route(
            "/metrics",
            get(|State(app): State<App>| async move {
                // What the store holds, read at the scrape (the inbox is bounded by the
                // queue's capacity, so counting it is cheap).
                let store = app.store.clone();
                let sizes =
                    tokio::task::spawn_blocking(move || (store.inbox_len(), store.size_on_disk()))
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
