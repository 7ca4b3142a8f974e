//! The plugin's main HTTP listener: webhooks on `/hook` and `/`, `/help`, and the rest.

use axum::Router;

use crate::App;

/// Every route on `listen`.
pub fn router(app: App) -> Router {
    Router::new().with_state(app)
}
