//! The announcer: tells a Slack channel (an incoming webhook, `notify.slack_webhook_file`)
//! when an incident blocks, is lifted, blocks again or resolves.
//!
//! Level-triggered and in its own room, like the reconciler: each pass reads the
//! incidents from the store, works out their transitions ([`crate::core::announce`]) and
//! sends those not yet recorded as sent, oldest first; a transition is recorded (and the
//! store flushed) only after Slack answered 2xx. So a restart resends nothing that was
//! recorded, and a crash loses nothing: at worst the one message Slack accepted just
//! before the crash is sent again. Failures are retried with a doubling wait
//! ([`RETRY_MIN`] to [`RETRY_MAX`]); a transition older than [`GIVE_UP_AFTER`] is given
//! up (recorded and counted as `abandoned`). Transitions from before the announcer first
//! ran are never sent.
//!
//! Nothing waits on it: the consumer and the reconciler never call it, it only reads the
//! store. The URL is a secret: it is read from its file for each pass and never logged
//! (reqwest's errors are stripped of it).

pub mod text;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::clock::Clock;
use crate::config::Config;
use crate::core::announce::{Announcement, announcements};
use crate::model::{Incident, IncidentId};
use crate::store::Store;
use crate::telemetry::Metrics;

/// How long one POST to Slack may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The first wait after a failed message; it doubles on each failure in a row.
pub const RETRY_MIN: Duration = Duration::from_secs(1);

/// The longest wait between retries.
pub const RETRY_MAX: Duration = Duration::from_secs(300);

/// A transition still unsent this long after it happened is given up (seconds).
pub const GIVE_UP_AFTER: i64 = 24 * 3600;

/// How often the open incidents are read for new transitions.
pub const POLL: Duration = Duration::from_secs(1);

/// How often every stored incident is read (resolutions, pruned records).
pub const FULL_PASS: Duration = Duration::from_secs(600);

/// The handles the announcer uses.
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub clock: Clock,
}

/// Checks `notify.slack_webhook_file` at start-up: when set, it must hold an http(s) URL.
/// The error names the file, never what it holds.
pub fn check(config: &Config) -> anyhow::Result<()> {
    webhook_url(config).map(|_| ())
}

/// The webhook URL from its file; `None` when announcements are off.
fn webhook_url(config: &Config) -> anyhow::Result<Option<reqwest::Url>> {
    let path = config.notify.slack_webhook_file.trim();
    if path.is_empty() {
        return Ok(None);
    }
    let what = || format!("notify.slack_webhook_file {path}");
    let text = crate::config::read_secret_file(std::path::Path::new(path))
        .map_err(|_| anyhow::anyhow!("{} is unreadable", what()))?;
    // The parse error could quote the URL: it is replaced, not wrapped.
    let url = reqwest::Url::parse(&text)
        .map_err(|_| anyhow::anyhow!("{} does not hold a URL", what()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        anyhow::bail!("{} does not hold an http(s) URL", what());
    }
    Ok(Some(url))
}

/// Starts the announcer under `supervisor` (task `notifier`) when
/// `notify.slack_webhook_file` is set; it stops with the supervisor's stop.
pub fn spawn(
    parts: Parts,
    supervisor: &crate::supervise::Supervisor,
) -> Option<tokio::task::JoinHandle<()>> {
    if parts.config.notify.slack_webhook_file.trim().is_empty() {
        return None;
    }
    let http = match reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(REQUEST_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(error = %error.without_url(), "announcements disabled");
            return None;
        }
    };
    Some(supervisor.spawn("notifier", move |stop| {
        let notifier = Notifier {
            parts: parts.clone(),
            http: http.clone(),
        };
        async move { notifier.run(stop).await }
    }))
}

struct Notifier {
    parts: Parts,
    http: reqwest::Client,
}

/// What a pass left to do.
enum Pass {
    /// Everything due was sent (or nothing was due).
    Done,
    /// A message failed: retry after the wait.
    Failed,
}

impl Notifier {
    async fn run(self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let now = self.parts.clock.now();
        let since = self
            .blocking(move |store| store.announce_since(now))
            .await?;
        self.parts.store.flush().await?;
        let mut retry = RETRY_MIN;
        let mut last_full: Option<tokio::time::Instant> = None;
        // Incidents seen open: read again once they leave the index (their resolution).
        let mut watched: Vec<IncidentId> = Vec::new();
        loop {
            let full = last_full.is_none_or(|at| at.elapsed() >= FULL_PASS);
            let wait = match self.pass(since, full, &mut watched).await {
                Ok(Pass::Done) => {
                    if full {
                        last_full = Some(tokio::time::Instant::now());
                    }
                    retry = RETRY_MIN;
                    POLL
                }
                Ok(Pass::Failed) => {
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "announcement pass failed; retried"
                    );
                    let wait = retry;
                    retry = (retry * 2).min(RETRY_MAX);
                    wait
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
            if *stop.borrow() {
                return Ok(());
            }
        }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let store = self.parts.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .context("store task")?
    }

    /// One pass: the incidents to look at (every one on a full pass, else the open ones
    /// and those that just left the open set), then each transition due, oldest first.
    async fn pass(
        &self,
        since: crate::model::Timestamp,
        full: bool,
        watched: &mut Vec<IncidentId>,
    ) -> anyhow::Result<Pass> {
        let previous = std::mem::take(watched);
        let incidents = self
            .blocking(move |store| {
                let mut incidents = if full {
                    let all = store.all_incidents()?;
                    let ids: std::collections::BTreeSet<IncidentId> =
                        all.iter().map(|i| i.id.clone()).collect();
                    store.forget_announced(|id| ids.contains(id))?;
                    all
                } else {
                    store.open_incidents()?
                };
                for id in previous {
                    if !incidents.iter().any(|i| i.id == id)
                        && let Some(incident) = store.incident(&id)?
                    {
                        incidents.push(incident);
                    }
                }
                Ok(incidents)
            })
            .await?;
        *watched = incidents
            .iter()
            .filter(|i| i.is_open())
            .map(|i| i.id.clone())
            .collect();
        let mut due: Vec<(&Incident, Announcement)> = Vec::new();
        for incident in &incidents {
            for what in announcements(incident) {
                if what.at < since {
                    continue;
                }
                let (id, key) = (incident.id.clone(), what.key());
                if !self.blocking(move |s| s.announced(&id, &key)).await? {
                    due.push((incident, what));
                }
            }
        }
        due.sort_by(|a, b| a.1.at.cmp(&b.1.at).then(a.0.id.cmp(&b.0.id)));
        if due.is_empty() {
            return Ok(Pass::Done);
        }
        let Some(url) = webhook_url(&self.parts.config)? else {
            return Ok(Pass::Done);
        };
        let now = self.parts.clock.now();
        for (incident, what) in due {
            let outcome = if what.at.seconds_until(now) > GIVE_UP_AFTER {
                tracing::warn!(incident = %incident.id, transition = what.key(),
                    "announcement given up: older than a day");
                "abandoned"
            } else {
                let text = text::message(incident, &what, self.parts.config.dry_run);
                match self.send(&url, &text).await {
                    Ok(()) => "sent",
                    Err(error) => {
                        self.count("failed");
                        tracing::warn!(incident = %incident.id, transition = what.key(),
                            error = format!("{error:#}"), "announcement failed; retried");
                        return Ok(Pass::Failed);
                    }
                }
            };
            let (id, key) = (incident.id.clone(), what.key());
            self.blocking(move |s| s.mark_announced(&id, &key, now))
                .await?;
            self.parts.store.flush().await?;
            self.count(outcome);
            tracing::info!(incident = %incident.id, transition = what.key(), outcome, "announcement");
        }
        Ok(Pass::Done)
    }

    fn count(&self, outcome: &str) {
        self.parts
            .metrics
            .announcements
            .get_or_create(&crate::telemetry::KindLabels {
                kind: outcome.to_string(),
            })
            .inc();
    }

    /// POSTs `{"text": text}`; 2xx is sent, anything else an error (without the URL).
    async fn send(&self, url: &reqwest::Url, text: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .post(url.clone())
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("Slack webhook: {}", e.without_url()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        anyhow::bail!("Slack webhook answered {status}")
    }
}
