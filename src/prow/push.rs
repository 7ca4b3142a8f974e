//! `POST /pubsub/push?token=<secret>`: a Pub/Sub push subscription delivering crier's
//! reports. The envelope is `{"message":{"data":base64,"attributes":{},"messageId":..,
//! "publishTime":..},"subscription":..}`; `data` is crier's [`ReportMessage`].
//!
//! Answers: the route is absent (404) when `sources.pubsub_push.token_file` is empty;
//! a wrong or missing token → 401 (constant-time comparison; the file is re-read on each
//! request, so rotation needs no restart); a malformed envelope or report → 400 and
//! nothing stored; a report that is not a final periodic run of a gated job → 200,
//! acknowledged and ignored; a run → 200 only once it is durable: filled from GCS
//! ([`Enricher`]), queued as [`Input::RunAcked`], applied by the consumer and the store
//! flushed. Otherwise 503 and Pub/Sub delivers it again (the history is idempotent by
//! build id): when [`MAX_IN_FLIGHT`] pushes are already waiting, when the queue is full
//! or closing, when applying failed, or when it is not durable within [`DURABLE_WAIT`].

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use base64::Engine;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::App;
use crate::bus::{Input, QueueError};
use crate::model::{Channel, Timestamp};
use crate::prow::crier::{Report, ReportMessage};
use crate::prow::gcs::Enricher;

/// Pub/Sub messages are at most 10 MB; the envelope's base64 adds a third.
pub const MAX_BODY_BYTES: usize = 14 * 1024 * 1024;

/// Pushed runs being resolved, queued and stored at once, at most.
pub const MAX_IN_FLIGHT: usize = 64;

/// How long a push waits for its queued run to be durable before it answers 503. Pub/Sub
/// waits for a push answer up to the subscription's ack deadline (10 s by default) and
/// delivers again after it; a run stored after a 503 is found known on redelivery.
pub const DURABLE_WAIT: Duration = Duration::from_secs(10);

#[derive(Clone)]
struct PushState {
    app: App,
    enricher: Enricher,
    permits: Arc<Semaphore>,
}

/// The push envelope.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub message: PushedMessage,
    #[serde(default)]
    pub subscription: String,
}

/// The message inside a push envelope.
#[derive(Debug, Deserialize)]
pub struct PushedMessage {
    pub data: String,
    #[serde(default)]
    pub attributes: std::collections::BTreeMap<String, String>,
    #[serde(default, rename = "messageId")]
    pub message_id: String,
    #[serde(default, rename = "publishTime")]
    pub publish_time: String,
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// The `/pubsub/push` route, or an empty router when the push source is off.
pub fn router(app: App) -> Router {
    if app.config.sources.pubsub_push.token_file.trim().is_empty() {
        return Router::new();
    }
    let state = PushState {
        enricher: Enricher::new(&app.config, &app.gcs_credentials),
        app,
        permits: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
    };
    Router::new()
        .route("/pubsub/push", post(push))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn push(
    State(state): State<PushState>,
    Query(query): Query<TokenQuery>,
    body: Bytes,
) -> (StatusCode, &'static str) {
    let file = &state.app.config.sources.pubsub_push.token_file;
    let expected = match crate::config::read_secret_file(std::path::Path::new(file)) {
        Ok(token) if !token.is_empty() => token,
        Ok(_) | Err(_) => {
            tracing::error!(file, "push token file unreadable or empty");
            return (StatusCode::INTERNAL_SERVER_ERROR, "push token unavailable");
        }
    };
    let given = query.token.unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return (StatusCode::UNAUTHORIZED, "bad token");
    }
    let (envelope, report) = match decode(&body) {
        Ok(decoded) => decoded,
        Err(why) => {
            tracing::warn!(why, "malformed Pub/Sub push refused");
            return (StatusCode::BAD_REQUEST, why);
        }
    };
    let published = Timestamp::parse_rfc3339(&envelope.message.publish_time);
    let run = match report.to_report(&state.app.config, Channel::PubsubPush, published) {
        Ok(Report::Run(run)) => run,
        Ok(Report::Ignored(why)) => {
            tracing::debug!(
                job = report.job_name,
                status = report.status,
                why,
                "push ignored"
            );
            return (StatusCode::OK, "ignored");
        }
        Err(error) => {
            tracing::warn!(message = envelope.message.message_id, error = %error, "push refused");
            return (StatusCode::BAD_REQUEST, "report without build id");
        }
    };
    let Ok(_permit) = state.permits.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy");
    };
    let mut run = run;
    state.enricher.enrich(&mut run).await;
    let (job, build) = (run.job.clone(), run.build_id.clone());
    let (done, durable) = tokio::sync::oneshot::channel();
    match state.app.queue.try_send(Input::RunAcked { run, done }) {
        Ok(()) => {}
        Err(QueueError::Full) => {
            tracing::warn!(job = %job, build = %build, "queue full; push refused for redelivery");
            return (StatusCode::SERVICE_UNAVAILABLE, "queue full");
        }
        Err(QueueError::Closed) => return (StatusCode::SERVICE_UNAVAILABLE, "shutting down"),
    }
    // The consumer signals once the run is applied and the store flushed; it drops `done`
    // when applying failed.
    match tokio::time::timeout(DURABLE_WAIT, durable).await {
        Ok(Ok(())) => (StatusCode::OK, "stored"),
        Ok(Err(_)) => {
            tracing::warn!(job = %job, build = %build, "pushed run not stored; refused for redelivery");
            (StatusCode::SERVICE_UNAVAILABLE, "not stored")
        }
        Err(_) => {
            tracing::warn!(job = %job, build = %build, wait = ?DURABLE_WAIT,
                "pushed run not durable in time; refused for redelivery");
            (StatusCode::SERVICE_UNAVAILABLE, "not stored in time")
        }
    }
}

/// Decodes the envelope and its report, or says what is wrong.
pub fn decode(body: &[u8]) -> Result<(Envelope, ReportMessage), &'static str> {
    // JSON is UTF-8, and serde skips the fields it ignores without checking them: a body
    // that is not UTF-8 is refused here, whole, rather than half-read.
    let text = std::str::from_utf8(body).map_err(|_| "not a Pub/Sub push envelope (not UTF-8)")?;
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|_| "not a Pub/Sub push envelope")?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(envelope.message.data.trim())
        .map_err(|_| "message data is not base64")?;
    let report = ReportMessage::from_json(&data).map_err(|_| "not a crier report message")?;
    Ok((envelope, report))
}
