//! Read-only HTTP routes over the read model: the dashboard (`GET /`), the JSON status API
//! (`GET /api/v1/status`, `GET /api/v1/summary`, `GET /api/v1/incidents/{id}`) and the badge
//! (`GET /badge.svg?job=<name>`). They only read the store; nothing here writes.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::App;
use crate::server::dashboard;
use crate::status;

/// An error answered as `{"error": "..."}` with its status (the one bridge to HTTP).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    fn not_found(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn internal(error: anyhow::Error) -> Self {
        tracing::error!(error = format!("{error:#}"), "reading the status failed");
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "reading the status failed; see the plugin's logs".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        no_cache(&mut response);
        response
    }
}

fn no_cache(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// `GET /`: the dashboard.
pub async fn dashboard(State(app): State<App>) -> Result<Response, ApiError> {
    let status = status::snapshot(&app).map_err(ApiError::internal)?;
    let mut response = (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        dashboard::render_with(
            &status,
            &crate::server::dry_run::section(&crate::server::dry_run::view(&app)),
        ),
    )
        .into_response();
    no_cache(&mut response);
    Ok(response)
}

/// `GET /api/v1/status`: jobs, active incidents, history, audit log and the Tide check.
pub async fn status(State(app): State<App>) -> Result<Response, ApiError> {
    let status = status::snapshot(&app).map_err(ApiError::internal)?;
    let mut response = Json(status).into_response();
    no_cache(&mut response);
    Ok(response)
}

/// `GET /api/v1/summary`: the gate's own figures over the last 30 days, in all and per
/// job.
pub async fn summary(State(app): State<App>) -> Result<Response, ApiError> {
    let summary = status::summary_snapshot(&app).map_err(ApiError::internal)?;
    let mut response = Json(summary).into_response();
    no_cache(&mut response);
    Ok(response)
}

/// `GET /api/v1/incidents/{id}`: one incident, active or past.
pub async fn incident(
    State(app): State<App>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    match status::incident_snapshot(&app, &id).map_err(ApiError::internal)? {
        Some(view) => {
            let mut response = Json(view).into_response();
            no_cache(&mut response);
            Ok(response)
        }
        None => Err(ApiError::not_found(format!("no incident {id:?}"))),
    }
}

/// The badge's query.
#[derive(Debug, Deserialize)]
pub struct BadgeQuery {
    /// The gated job's exact name.
    pub job: Option<String>,
}

/// `GET /badge.svg?job=<name>`: `open` or `blocked`; an unknown job is a 404.
pub async fn badge(
    State(app): State<App>,
    Query(query): Query<BadgeQuery>,
) -> Result<Response, ApiError> {
    let Some(job) = query.job.filter(|j| !j.is_empty()) else {
        return Err(ApiError {
            status: StatusCode::BAD_REQUEST,
            message: "missing ?job=<name>".into(),
        });
    };
    if app.config.job(&job).is_none() {
        return Err(ApiError::not_found(format!("{job:?} is not a gated job")));
    }
    let incidents = app.store.active_incidents().map_err(ApiError::internal)?;
    let mut response = (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        dashboard::badge(status::is_blocked(&incidents, &job)),
    )
        .into_response();
    no_cache(&mut response);
    Ok(response)
}
