//! The fake's request log: one entry per request received (what it asked, what it was
//! answered, whether it took effect), and hooks that resolve when a given request happens.

use axum::body::Body;
use axum::http::Request;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::FakeGithub;
use super::state::{LoggedRequest, Shared};

impl FakeGithub {
    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.lock().log.clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        self.lock().log.len()
    }

    /// How many content-creating requests (POST/PATCH/PUT/DELETE) were received.
    pub fn mutation_count(&self) -> usize {
        self.lock().log.iter().filter(|r| r.is_mutation()).count()
    }

    /// Forgets the request log.
    pub fn clear_log(&self) {
        self.lock().log.clear();
    }

    /// Resolves with the first request from now on whose method is `method` and whose
    /// path contains `path_contains` (the percent-encoded path, e.g. `/labels`).
    pub fn on_request(
        &self,
        method: &str,
        path_contains: &str,
    ) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock()
            .hooks
            .push((method.to_string(), path_contains.to_string(), tx));
        rx
    }

    /// How many mutations GitHub applied (answered below 400, or applied and then cut off
    /// or held by fault injection), as opposed to merely received.
    pub fn applied_mutation_count(&self) -> usize {
        self.lock()
            .log
            .iter()
            .filter(|r| r.is_mutation() && r.applied)
            .count()
    }
}

pub(super) fn log_entry(req: &Request<Body>) -> LoggedRequest {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    LoggedRequest {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or("").to_string(),
        status: 0,
        at: Instant::now(),
        authorization: header("authorization"),
        api_version: header("x-github-api-version"),
        accept: header("accept"),
        user_agent: header("user-agent"),
        applied: false,
    }
}

pub(super) fn record(state: &Shared, entry: LoggedRequest) {
    let mut s = state.lock().expect("fake state");
    let hooks = std::mem::take(&mut s.hooks);
    for (method, path, tx) in hooks {
        if method.eq_ignore_ascii_case(&entry.method) && entry.path.contains(&path) {
            let _ = tx.send(entry.clone());
        } else {
            s.hooks.push((method, path, tx));
        }
    }
    s.log.push(entry);
}
