//! Fault injection: the errors, rate limits, drops, latency, holds and delays a test asks
//! for, and the stage that applies them (with authentication) before the model sees a
//! request.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::json;
use tokio::sync::{oneshot, watch};

use super::FakeGithub;
use super::render::error;
use super::state::{Delay, Flaky, LoggedRequest, Shared, Stall};

/// What the fault stage decided for one request.
pub(super) enum Verdict {
    Drop,
    Answer(Response<Body>),
    Route,
}

impl FakeGithub {
    /// The next `n` requests answer 500.
    pub fn fail_next(&self, n: u64) {
        self.lock().faults.fail_next = n;
    }

    /// The next `n` requests answer 403 with `Retry-After: secs` (a secondary limit).
    pub fn rate_limit_next(&self, n: u64, secs: u64) {
        let mut s = self.lock();
        s.faults.rate_limit_next = n;
        s.faults.retry_after_secs = secs;
    }

    /// The next `n` requests answer 403 with `X-RateLimit-Remaining: 0` and a reset
    /// `reset_in_secs` from now (wall clock, as GitHub states it).
    pub fn exhaust_primary_limit_next(&self, n: u64, reset_in_secs: u64) {
        let mut s = self.lock();
        s.faults.primary_limit_next = n;
        s.faults.primary_reset_secs = reset_in_secs;
    }

    /// The next `n` requests get their connection closed without an answer.
    pub fn drop_next(&self, n: u64) {
        self.lock().faults.drop_next = n;
    }

    /// Every request waits this long (tokio time) before it is handled.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().faults.latency = latency;
    }

    /// Fails part of the requests from now on, deterministically (see [`Flaky`]).
    pub fn set_flaky(&self, flaky: Flaky) {
        let mut s = self.lock();
        s.faults.flaky = flaky;
        s.faults.flaky_count = 0;
    }

    /// The next `n` requests answer 429 with `Retry-After: secs` (GitHub's other way of
    /// stating a secondary limit).
    pub fn too_many_requests_next(&self, n: u64, secs: u64) {
        let mut s = self.lock();
        s.faults.too_many_next = n;
        s.faults.too_many_secs = secs;
    }

    /// The next `n` mutations are applied, then their answer is cut off after part of the
    /// body and the connection closed: the client cannot tell whether it happened.
    pub fn reset_after_apply_next(&self, n: u64) {
        self.lock().faults.reset_after_apply_next = n;
    }

    /// The next `n` mutations are applied, then answered 502.
    pub fn fail_after_apply_next(&self, n: u64) {
        self.lock().faults.fail_after_apply_next = n;
    }

    /// Holds the `k`-th mutation from now (1-based) unanswered until
    /// [`FakeGithub::release_stalls`], applied first when `apply`; the receiver resolves
    /// when it arrives. A test kills the plugin at that exact point, then releases it (the
    /// held connection is then closed without an answer).
    pub fn stall_mutation(&self, k: u64, apply: bool) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock().faults.stall = Some(Stall {
            remaining: k.max(1),
            apply,
            tx,
        });
        rx
    }

    /// Holds the first request from now on whose method is `method` and whose path
    /// contains `path_contains` unanswered (not applied) until
    /// [`FakeGithub::release_stalls`]; the receiver resolves when it arrives. A read works
    /// too: a test holds the plugin's consumer on the team membership it asks before
    /// deciding on a command, and kills the plugin right then.
    pub fn stall_request(
        &self,
        method: &str,
        path_contains: &str,
    ) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock()
            .faults
            .held
            .push((method.to_string(), path_contains.to_string(), tx));
        rx
    }

    /// Refuses every request whose method is `method` and whose path contains
    /// `path_contains` with GitHub's 403 for a token without the permission, until
    /// [`FakeGithub::allow_all`].
    pub fn forbid(&self, method: &str, path_contains: &str) {
        self.lock()
            .faults
            .forbidden
            .push((method.to_string(), path_contains.to_string()));
    }

    /// The next `n` `POST /graphql` answer GitHub's GraphQL rate limit: HTTP 200 with
    /// `errors[].type == "RATE_LIMITED"`, with `Retry-After: secs` when `retry_after` is
    /// set (else no wait is stated). The query does not run.
    pub fn graphql_rate_limited_next(&self, n: u64, retry_after: Option<u64>) {
        self.lock().faults.graphql_limited = (n, retry_after);
    }

    /// Forgets every [`FakeGithub::forbid`].
    pub fn allow_all(&self) {
        self.lock().faults.forbidden.clear();
    }

    /// Holds the first request from now on whose method is `method` and whose path
    /// contains `path_contains` for `delay` (tokio time) or until
    /// [`FakeGithub::release_delays`], then answers it as usual (a slow GitHub, not a
    /// broken one); the receiver resolves when it arrives. [`FakeGithub::delayed_now`]
    /// says whether it is still held.
    pub fn delay_request(
        &self,
        method: &str,
        path_contains: &str,
        delay: Duration,
    ) -> oneshot::Receiver<LoggedRequest> {
        let (tx, rx) = oneshot::channel();
        self.lock().faults.delays.push(Delay {
            method: method.to_string(),
            path: path_contains.to_string(),
            delay,
            tx,
        });
        rx
    }

    /// Lets every request held by [`FakeGithub::delay_request`] go on now.
    pub fn release_delays(&self) {
        self.lock().faults.delay_release.send_modify(|g| *g += 1);
    }

    /// How many requests [`FakeGithub::delay_request`] holds right now.
    pub fn delayed_now(&self) -> usize {
        self.lock().faults.delayed_now
    }

    /// Lets every held request go (closing its connection) and forgets a stall not yet
    /// reached.
    pub fn release_stalls(&self) {
        let mut s = self.lock();
        s.faults.stall = None;
        s.faults.held.clear();
        s.stall_release.send_modify(|g| *g += 1);
    }
}

/// What happens to a routed mutation's answer.
pub(super) enum After {
    Answer,
    /// Applied, then the answer cut off mid-body.
    Reset,
    /// Applied, then answered 502.
    Fail,
    /// Held until released (applied first when `apply`).
    Stall {
        apply: bool,
        tx: oneshot::Sender<LoggedRequest>,
        release: watch::Receiver<u64>,
    },
}

pub(super) fn after_apply(state: &Shared) -> After {
    let mut s = state.lock().expect("fake state");
    if let Some(stall) = s.faults.stall.as_mut() {
        stall.remaining -= 1;
        if stall.remaining == 0 {
            let stall = s.faults.stall.take().expect("stall present");
            let mut release = s.stall_release.subscribe();
            release.mark_unchanged();
            return After::Stall {
                apply: stall.apply,
                tx: stall.tx,
                release,
            };
        }
    }
    let f = &mut s.faults;
    if f.reset_after_apply_next > 0 {
        f.reset_after_apply_next -= 1;
        return After::Reset;
    }
    if f.fail_after_apply_next > 0 {
        f.fail_after_apply_next -= 1;
        return After::Fail;
    }
    After::Answer
}

/// Waits out the delay set by [`FakeGithub::delay_request`] that `entry` matches (taken),
/// counted in `delayed_now` meanwhile (also when the client gives up mid-way).
pub(super) async fn delayed(state: &Shared, entry: &LoggedRequest) {
    struct Held(Shared);
    impl Drop for Held {
        fn drop(&mut self) {
            let mut s = self.0.lock().unwrap_or_else(|e| e.into_inner());
            s.faults.delayed_now -= 1;
        }
    }
    let (wait, mut release, _held) = {
        let mut s = state.lock().expect("fake state");
        let f = &mut s.faults;
        let Some(at) = f.delays.iter().position(|d| {
            d.method.eq_ignore_ascii_case(&entry.method) && entry.path.contains(d.path.as_str())
        }) else {
            return;
        };
        let delay = f.delays.remove(at);
        f.delayed_now += 1;
        let mut release = f.delay_release.subscribe();
        release.mark_unchanged();
        let _ = delay.tx.send(entry.clone());
        (delay.delay, release, Held(state.clone()))
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => {}
        _ = release.changed() => {}
    }
}

/// The hold set by [`FakeGithub::stall_request`] that `entry` matches, taken.
pub(super) fn held(
    state: &Shared,
    entry: &LoggedRequest,
) -> Option<(oneshot::Sender<LoggedRequest>, watch::Receiver<u64>)> {
    let mut s = state.lock().expect("fake state");
    let at = s.faults.held.iter().position(|(method, path, _)| {
        method.eq_ignore_ascii_case(&entry.method) && entry.path.contains(path.as_str())
    })?;
    let (_, _, tx) = s.faults.held.remove(at);
    let mut release = s.stall_release.subscribe();
    release.mark_unchanged();
    Some((tx, release))
}

/// Applies injected faults and authentication before the model sees the request.
pub(super) fn faults(state: &Shared, entry: &LoggedRequest) -> Verdict {
    let mut s = state.lock().expect("fake state");
    let f = &mut s.faults;
    if f.drop_next > 0 {
        f.drop_next -= 1;
        return Verdict::Drop;
    }
    if f.forbidden
        .iter()
        .any(|(m, p)| m.eq_ignore_ascii_case(&entry.method) && entry.path.contains(p.as_str()))
    {
        return Verdict::Answer(error(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    if f.fail_next > 0 {
        f.fail_next -= 1;
        return Verdict::Answer(error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"));
    }
    if f.rate_limit_next > 0 {
        f.rate_limit_next -= 1;
        return Verdict::Answer(secondary_limit(f.retry_after_secs));
    }
    if f.too_many_next > 0 {
        f.too_many_next -= 1;
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        r.headers_mut()
            .insert("retry-after", HeaderValue::from(f.too_many_secs));
        return Verdict::Answer(r);
    }
    if f.primary_limit_next > 0 {
        f.primary_limit_next -= 1;
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + f.primary_reset_secs;
        let mut r = error(StatusCode::FORBIDDEN, "API rate limit exceeded");
        let h = r.headers_mut();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        return Verdict::Answer(r);
    }
    if f.flaky.error_every > 0 || f.flaky.rate_limit_every > 0 {
        f.flaky_count += 1;
        let k = f.flaky_count;
        if f.flaky.error_every > 0 && k % f.flaky.error_every == 0 {
            return Verdict::Answer(error(StatusCode::BAD_GATEWAY, "Server Error"));
        }
        if f.flaky.rate_limit_every > 0 && k % f.flaky.rate_limit_every == 0 {
            return Verdict::Answer(secondary_limit(f.flaky.retry_after_secs));
        }
    }
    if f.graphql_limited.0 > 0 && entry.method == "POST" && entry.path == "/graphql" {
        f.graphql_limited.0 -= 1;
        let body = json!({"errors": [{"type": "RATE_LIMITED", "code": "graphql_rate_limit",
            "message": "API rate limit already exceeded for user ID 1."}]});
        let mut r = (StatusCode::OK, Json(body)).into_response();
        if let Some(secs) = f.graphql_limited.1 {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
        }
        return Verdict::Answer(r);
    }
    match super::app::authenticate(&s, entry) {
        Ok(_) => Verdict::Route,
        Err(refused) => Verdict::Answer(refused.answer()),
    }
}

pub(super) fn secondary_limit(secs: u64) -> Response<Body> {
    let mut r = error(
        StatusCode::FORBIDDEN,
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
    );
    r.headers_mut()
        .insert("retry-after", HeaderValue::from(secs));
    r
}
