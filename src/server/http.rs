//! The plugin's main HTTP listener: webhooks on `/hook` and `/`, `/help`, and the rest.
//!
//! Add a route by adding a line here; handlers take `State<App>`. `/` answers webhooks on
//! `POST` (Prow's plugins are served at `/`) and the dashboard on `GET`; its other methods
//! fall back to the webhook handler's 405.

use axum::Router;
use axum::extract::Request;
use axum::routing::{any, get};

use crate::App;
use crate::prow::help;
use crate::prow::webhook::Ingress;
use crate::server::api;

/// Every route on `listen`.
pub fn router(app: App) -> Router {
    let ingress = Ingress::from_app(&app);
    let hook = move |request: Request| {
        let ingress = ingress.clone();
        async move { ingress.handle(request).await }
    };
    Router::new()
        .route("/hook", any(hook.clone()))
        .route("/", get(api::dashboard).post(hook.clone()).fallback(hook))
        .route("/help", any(help::handle))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/summary", get(api::summary))
        .route("/api/v1/incidents/{id}", get(api::incident))
        .route("/badge.svg", get(api::badge))
        .route("/api/v1/dry-run", get(crate::server::dry_run::api))
        .with_state(app.clone())
        .merge(crate::prow::push::router(app))
}
