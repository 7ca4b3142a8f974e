//! How a client behaves: endpoints, token, dry-run, mutation budget, retry policy.

use std::time::Duration;

use std::path::Path;

use crate::clock::Clock;
use crate::config::Config;
use crate::config::app_key::AppCredentials;

/// How a [`super::Client`] behaves. [`ClientOptions::from_config`] builds it from the
/// plugin's configuration; tests adjust the fields they care about.
#[derive(Clone)]
pub struct ClientOptions {
    /// Base URLs tried in order, e.g. `http://ghproxy`, `https://api.github.com`.
    pub endpoints: Vec<String>,
    /// The token (already trimmed); `None` when the token file is missing in dry-run, or
    /// with a GitHub App.
    pub token: Option<String>,
    /// A GitHub App's credentials, used instead of `token` when set.
    pub app: Option<AppCredentials>,
    /// Mutations become logged no-ops.
    pub dry_run: bool,
    /// Content-creating requests allowed per sliding minute.
    pub mutations_per_minute: u32,
    /// Content-creating requests allowed per sliding hour.
    pub mutations_per_hour: u32,
    /// Rounds over all endpoints before a request fails (at least 1).
    pub max_attempts: u32,
    /// First backoff between rounds; doubled each round up to `backoff_max`.
    pub backoff_base: Duration,
    /// Longest backoff between rounds.
    pub backoff_max: Duration,
    /// Longest single rate-limit pause honoured (longer `Retry-After`/reset are capped).
    pub max_rate_limit_wait: Duration,
    /// Timeout of one HTTP request; `None`: none.
    pub request_timeout: Option<Duration>,
    /// `User-Agent` header.
    pub user_agent: String,
    /// The time a GitHub App's JWT is issued at, its tokens' freshness is judged at, and
    /// a rate limit's reset is waited for from: the plugin's one clock.
    pub clock: Clock,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("endpoints", &self.endpoints)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("app", &self.app)
            .field("dry_run", &self.dry_run)
            .field("mutations_per_minute", &self.mutations_per_minute)
            .field("mutations_per_hour", &self.mutations_per_hour)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

impl ClientOptions {
    /// Options for `endpoints` with `token` and the default budget and retry policy.
    pub fn new(endpoints: Vec<String>, token: Option<String>) -> Self {
        Self {
            endpoints,
            token,
            app: None,
            dry_run: false,
            mutations_per_minute: 60,
            mutations_per_hour: 450,
            max_attempts: 5,
            backoff_base: Duration::from_millis(250),
            backoff_max: Duration::from_secs(8),
            max_rate_limit_wait: Duration::from_secs(3600 + 60),
            request_timeout: Some(Duration::from_secs(30)),
            user_agent: concat!("scalability-gate/", env!("CARGO_PKG_VERSION")).to_string(),
            clock: Clock::system(),
        }
    }

    /// From the plugin's configuration: the GitHub App when `github.app_id` is set, else
    /// the token file (trimmed, as Prow does). A missing token file is tolerated in
    /// dry-run only.
    pub fn from_config(config: &Config) -> anyhow::Result<Self> {
        let path = &config.github.token_file;
        let app = if config.github.uses_app() {
            Some(AppCredentials::load(
                &config.github.app_id,
                Path::new(config.github.app_private_key_file.trim()),
            )?)
        } else {
            None
        };
        let token = if app.is_some() || (!path.exists() && config.dry_run) {
            None
        } else {
            Some(crate::config::read_secret_file(path)?)
        };
        let mut options = Self::new(config.github.endpoints.clone(), token);
        options.app = app;
        options.dry_run = config.dry_run;
        options.mutations_per_minute = config.github.mutations_per_minute;
        options.mutations_per_hour = config.github.mutations_per_hour;
        Ok(options)
    }
}
