//! The fake's HTTP server: one connection at a time through latency, holds, faults and
//! authentication, then the routes, then the log.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use tokio::sync::{oneshot, watch};
use tower::ServiceExt;

use super::app::caller;
use super::faults::{After, Verdict, after_apply, delayed, faults, held};
use super::log::{log_entry, record};
use super::render::error;
use super::state::LoggedRequest;
use super::state::Shared;

/// Returned by the connection's service to make hyper drop the connection unanswered.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Serves one connection: latency, faults, auth, the log and hooks, then the model.
pub(super) async fn serve_connection(stream: tokio::net::TcpStream, router: Router, state: Shared) {
    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
        let router = router.clone();
        let state = state.clone();
        async move { handle(req.map(Body::new), router, state).await }
    });
    let io = hyper_util::rt::TokioIo::new(stream);
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(io, service)
        .await;
}

async fn handle(
    req: Request<Body>,
    router: Router,
    state: Shared,
) -> Result<Response<Body>, Dropped> {
    let latency = state.lock().expect("fake state").faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut entry = log_entry(&req);
    let mut req = req;
    req.extensions_mut().insert(caller(&state, &entry));
    delayed(&state, &entry).await;
    if let Some((tx, release)) = held(&state, &entry) {
        return stall(req, router, state, entry, false, tx, release).await;
    }
    let verdict = faults(&state, &entry);
    let after = match verdict {
        Verdict::Route if entry.is_mutation() => after_apply(&state),
        _ => After::Answer,
    };
    if let After::Stall { apply, tx, release } = after {
        return stall(req, router, state, entry, apply, tx, release).await;
    }
    let response = match verdict {
        Verdict::Drop => None,
        Verdict::Answer(r) => Some(r),
        Verdict::Route => {
            // OpenAPI conformance: routed through the capture (a plain oneshot when off).
            let r = super::capture::route(router, req, &state).await;
            entry.applied = r.status().as_u16() < 400;
            Some(match after {
                After::Reset => cut_off(r).await,
                After::Fail => error(StatusCode::BAD_GATEWAY, "Server Error"),
                _ => r,
            })
        }
    };
    entry.status = match after {
        After::Reset => 0,
        _ => response.as_ref().map_or(0, |r| r.status().as_u16()),
    };
    record(&state, entry);
    response.ok_or(Dropped)
}

/// Holds a request (a mutation applied first when `apply`) until the test releases it,
/// then closes the connection without an answer.
async fn stall(
    req: Request<Body>,
    router: Router,
    state: Shared,
    mut entry: LoggedRequest,
    apply: bool,
    tx: oneshot::Sender<LoggedRequest>,
    mut release: watch::Receiver<u64>,
) -> Result<Response<Body>, Dropped> {
    if apply {
        let r = router
            .oneshot(req)
            .await
            .unwrap_or_else(|e: Infallible| match e {});
        entry.applied = r.status().as_u16() < 400;
    }
    let _ = tx.send(entry.clone());
    let _ = release.changed().await;
    record(&state, entry);
    Err(Dropped)
}

/// The same answer, but its body breaks off after the first half (at least one byte is
/// sent) and the connection is closed: a reset mid-response.
async fn cut_off(response: Response<Body>) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let half = bytes.slice(..bytes.len().div_ceil(2));
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = vec![
        Ok(half),
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset by fault injection",
        )),
    ];
    Response::from_parts(parts, Body::from_stream(futures::stream::iter(chunks)))
}
