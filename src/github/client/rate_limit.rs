//! GitHub's rate limits: reading how long an answer asks us to wait, and the one shared
//! "not before" instant that pauses every request of a client.

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;
use tokio::time::Instant;

use super::Client;
use super::answer::Answer;
use super::error::error_message;

/// Rate-limit pauses one request may sit through before it gives up.
pub(super) const MAX_RATE_LIMIT_WAITS: u32 = 10;

/// The wait GitHub's documentation asks for after a secondary limit without `Retry-After`
/// (also used for a GraphQL `RATE_LIMITED` answer without rate-limit headers).
pub const SECONDARY_LIMIT_DEFAULT_WAIT: Duration = Duration::from_secs(60);

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// Whether a 200 from `POST /graphql` is GitHub's GraphQL rate limit: an error of
/// `type: RATE_LIMITED` (the query did not run).
pub(super) fn graphql_rate_limited(path: &str, answer: &Answer) -> bool {
    if path != "/graphql" || answer.status >= 400 {
        return false;
    }
    serde_json::from_slice::<Value>(&answer.body)
        .ok()
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(Value::as_array)
        .is_some_and(|errors| {
            errors
                .iter()
                .any(|e| e.get("type").and_then(Value::as_str) == Some("RATE_LIMITED"))
        })
}

/// Time from `now` until a Unix epoch second (zero when past): GitHub states the reset
/// as wall-clock time.
fn until_epoch(epoch_secs: u64, now: crate::model::Timestamp) -> Duration {
    let now = Duration::from_secs(u64::try_from(now.0).unwrap_or(0));
    Duration::from_secs(epoch_secs).saturating_sub(now)
}

impl Client {
    /// How long a 403/429 (or a GraphQL `RATE_LIMITED` answer) asks us to wait; `None`
    /// when it is not a rate limit.
    ///
    /// Search has a limit of its own on GitHub (30 a minute): a search rate limit pauses
    /// only searches ([`Client::search_paused`]) and answers `None`, so the search fails
    /// at once and its caller goes another way instead of holding every request up.
    pub(super) fn rate_limit_wait(&self, path: &str, answer: &Answer) -> Option<Duration> {
        let cap = self.inner.options.max_rate_limit_wait;
        if path.starts_with("/search/") {
            let retry_after = header_u64(&answer.headers, RETRY_AFTER.as_str());
            let spent = header_u64(&answer.headers, "x-ratelimit-remaining") == Some(0);
            let said = error_message(&answer.body)
                .to_ascii_lowercase()
                .contains("rate limit");
            if retry_after.is_none() && !spent && !said {
                return None; // refused for another reason
            }
            let wait = retry_after
                .map(Duration::from_secs)
                .or_else(|| {
                    spent.then(|| {
                        until_epoch(
                            header_u64(&answer.headers, "x-ratelimit-reset").unwrap_or(0),
                            self.inner.options.clock.now(),
                        )
                    })
                })
                .unwrap_or(SECONDARY_LIMIT_DEFAULT_WAIT)
                .clamp(Duration::from_secs(1), cap.max(Duration::from_secs(1)));
            tracing::warn!(
                path,
                wait_secs = wait.as_secs(),
                "GitHub search rate limit: no search until it passes"
            );
            let until = Instant::now() + wait;
            let mut paused = self
                .inner
                .search_not_before
                .lock()
                .expect("search_not_before lock poisoned");
            if paused.is_none_or(|t| t < until) {
                *paused = Some(until);
            }
            return None;
        }
        if let Some(secs) = header_u64(&answer.headers, RETRY_AFTER.as_str()) {
            return Some(Duration::from_secs(secs).min(cap));
        }
        let graphql = graphql_rate_limited(path, answer);
        if header_u64(&answer.headers, "x-ratelimit-remaining") == Some(0) {
            let reset = header_u64(&answer.headers, "x-ratelimit-reset");
            if reset.is_some() || !graphql {
                let reset = reset.unwrap_or(0);
                return Some(
                    until_epoch(reset, self.inner.options.clock.now())
                        .max(Duration::from_secs(1))
                        .min(cap),
                );
            }
        }
        if graphql {
            return Some(SECONDARY_LIMIT_DEFAULT_WAIT.min(cap));
        }
        let message = error_message(&answer.body).to_ascii_lowercase();
        (message.contains("secondary rate limit") || message.contains("abuse"))
            .then_some(SECONDARY_LIMIT_DEFAULT_WAIT)
    }

    /// A successful answer that spent the primary limit pauses what follows until reset.
    /// Search's own limit (`X-RateLimit-Resource: search`) pauses nothing here.
    pub(super) fn note_primary_limit(&self, headers: &HeaderMap) {
        let resource = headers
            .get("x-ratelimit-resource")
            .and_then(|v| v.to_str().ok());
        if resource == Some("search") {
            return;
        }
        if header_u64(headers, "x-ratelimit-remaining") == Some(0) {
            let reset = header_u64(headers, "x-ratelimit-reset").unwrap_or(0);
            let wait = until_epoch(reset, self.inner.options.clock.now())
                .min(self.inner.options.max_rate_limit_wait);
            if !wait.is_zero() {
                tracing::warn!(
                    wait_secs = wait.as_secs(),
                    "GitHub primary rate limit spent: pausing until reset"
                );
                self.pause_for(wait);
            }
        }
    }

    /// Pauses every request of this client for `wait` from now (never shortens a pause).
    pub(super) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut not_before = self
            .inner
            .not_before
            .lock()
            .expect("not_before lock poisoned");
        if not_before.is_none_or(|t| t < until) {
            *not_before = Some(until);
        }
    }

    /// Whether GitHub's search rate limit is spent (a search now would be refused).
    pub fn search_paused(&self) -> bool {
        self.inner
            .search_not_before
            .lock()
            .expect("search_not_before lock poisoned")
            .is_some_and(|t| t > Instant::now())
    }

    /// Waits out the shared pause, however often it is extended meanwhile.
    pub(super) async fn wait_until_allowed(&self) {
        loop {
            let until = *self
                .inner
                .not_before
                .lock()
                .expect("not_before lock poisoned");
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}
