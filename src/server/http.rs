//! The plugin's main HTTP listener: webhooks on `/hook` and `/`, `/help`, and the rest.
//!
//! Add a route by adding a line here; handlers take `State<App>`. `/` answers webhooks on
//! `POST` (Prow's plugins are served at `/`); its other methods fall back to the webhook
//! handler's 405 until a `.get(..)` (the dashboard) is added to that method router.

use axum::Router;
use axum::extract::Request;
use axum::routing::{any, post};

use crate::App;
use crate::prow::help;
use crate::prow::webhook::Ingress;

/// Every route on `listen`.
pub fn router(app: App) -> Router {
    let ingress = Ingress::from_app(&app);
    let hook = move |request: Request| {
        let ingress = ingress.clone();
        async move { ingress.handle(request).await }
    };
    Router::new()
        .route("/hook", any(hook.clone()))
        .route("/", post(hook.clone()).fallback(hook))
        .route("/help", any(help::handle))
        .with_state(app.clone())
        .merge(crate::prow::push::router(app))
}
