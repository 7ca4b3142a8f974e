//! Capture of whole exchanges (request and answer bodies) the model served, for the check
//! that the fake answers as GitHub documents (tests/openapi.rs).
//!
//! Off unless [`FakeGithub::capture_exchanges`] is called: only then are request and answer
//! bodies buffered, so every other use of the fake streams exactly as before. Only answers
//! of the model are captured: answers made up by fault injection (500, 502, 403/429 rate
//! limits, dropped or cut-off connections) and held requests are not.

use std::convert::Infallible;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, Response};
use tower::ServiceExt;

use super::state::Exchange;
use super::{FakeGithub, Shared};

/// Bodies above this are not buffered whole (no answer of the fake comes near it).
const MAX_CAPTURED: usize = 16 << 20;

impl FakeGithub {
    /// From now on, records every exchange the model answers (see [`Exchange`]).
    pub fn capture_exchanges(&self) {
        let mut s = self.lock();
        if s.exchanges.is_none() {
            s.exchanges = Some(Vec::new());
        }
    }

    /// The exchanges recorded since [`FakeGithub::capture_exchanges`], in order.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.lock().exchanges.clone().unwrap_or_default()
    }
}

/// Routes `req` to the model; when capturing, records the exchange (bodies buffered).
pub(super) async fn route(router: Router, req: Request<Body>, state: &Shared) -> Response<Body> {
    let capturing = state.lock().expect("fake state").exchanges.is_some();
    if !capturing {
        return oneshot(router, req).await;
    }
    let (parts, body) = req.into_parts();
    let request_body = axum::body::to_bytes(body, MAX_CAPTURED)
        .await
        .unwrap_or_default();
    let method = parts.method.to_string();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let req = Request::from_parts(parts, Body::from(request_body.clone()));
    let (parts, body) = oneshot(router, req).await.into_parts();
    let response_body = axum::body::to_bytes(body, MAX_CAPTURED)
        .await
        .unwrap_or_default();
    let exchange = Exchange {
        method,
        path,
        query,
        request_body: request_body.to_vec(),
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        response_body: response_body.to_vec(),
    };
    if let Some(log) = state.lock().expect("fake state").exchanges.as_mut() {
        log.push(exchange);
    }
    Response::from_parts(parts, Body::from(response_body))
}

async fn oneshot(router: Router, req: Request<Body>) -> Response<Body> {
    router
        .oneshot(req)
        .await
        .unwrap_or_else(|e: Infallible| match e {})
}
