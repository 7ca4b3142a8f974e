//! Observability at the boundary: JSON logs through tracing, and the Prometheus metrics
//! every part records into.

use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Sets up JSON logs on stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Labels of the webhook counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub event: String,
    pub outcome: String,
}

/// Labels keyed by one kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

/// Labels of a per-task metric (the supervisor's task names).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TaskLabels {
    pub task: String,
}

/// Labels of a per-scope metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ScopeLabels {
    pub repo: String,
    pub branch: String,
}

/// Every metric the plugin exports.
pub struct Metrics {
    registry: Registry,
    pub webhooks: Family<WebhookLabels, Counter>,
    pub queue_depth: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub processing_seconds: Family<KindLabels, Histogram>,
    pub runs_recorded: Family<KindLabels, Counter<u64, AtomicU64>>,
    /// Detector outcomes other than none: `regression`, `recovery`.
    pub transitions: Family<KindLabels, Counter>,
    /// 1 for a gated scope where some Tide query would still merge a labelled PR.
    pub tide_scope_uncovered: Family<ScopeLabels, Gauge>,
    /// Webhooks whose `X-GitHub-Delivery` was already processed (GitHub or hook redelivered).
    pub deliveries_duplicate: Counter,
    /// 1 for a blocked scope whose live Tide pool (Deck's `/tide.js`) would still merge.
    pub tide_pool_would_merge: Family<ScopeLabels, Gauge>,
    /// PRs merged into a blocked scope without an exemption.
    pub breaches: Family<ScopeLabels, Counter>,
    /// Commands answered 200 and not yet applied (the store's inbox); set at each scrape.
    pub inbox_entries: Gauge,
    /// The store's size on disk in bytes; set at each scrape.
    pub store_bytes: Gauge,
    /// Supervised tasks restarted after a panic, an error or an early end, by task.
    pub task_restarts: Family<TaskLabels, Counter>,
    /// Announcements (Slack) by outcome: `sent`, `failed` (an attempt; retried),
    /// `abandoned` (given up after a day).
    pub announcements: Family<KindLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("scalability_gate");
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhooks",
            "Webhooks received, by event and outcome",
            webhooks.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "Inputs waiting in the ordered event queue",
            queue_depth.clone(),
        );
        let processing_seconds = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 16))
        });
        registry.register(
            "processing_seconds",
            "Time to apply one queued input, by kind",
            processing_seconds.clone(),
        );
        let runs_recorded = Family::<KindLabels, Counter>::default();
        registry.register(
            "runs_recorded",
            "Finished runs of gated jobs recorded, by channel",
            runs_recorded.clone(),
        );
        let transitions = Family::<KindLabels, Counter>::default();
        registry.register(
            "transitions",
            "Job transitions the detector found, by kind (regression, recovery)",
            transitions.clone(),
        );
        let tide_scope_uncovered = Family::<ScopeLabels, Gauge>::default();
        registry.register(
            "tide_scope_uncovered",
            "1 when a Tide query can merge into the gated scope without excluding the label",
            tide_scope_uncovered.clone(),
        );
        let deliveries_duplicate = Counter::default();
        registry.register(
            "deliveries_duplicate",
            "Webhook deliveries seen before and not processed again",
            deliveries_duplicate.clone(),
        );
        let tide_pool_would_merge = Family::<ScopeLabels, Gauge>::default();
        registry.register(
            "tide_pool_would_merge",
            "1 when Tide's live pool for a blocked scope holds PRs it could still merge",
            tide_pool_would_merge.clone(),
        );
        let breaches = Family::<ScopeLabels, Counter>::default();
        registry.register(
            "breaches",
            "PRs merged into a blocked scope without an exemption",
            breaches.clone(),
        );
        let inbox_entries = Gauge::default();
        registry.register(
            "inbox_entries",
            "Command-bearing webhooks answered 200 and not yet applied",
            inbox_entries.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_bytes",
            "The sled store's size on disk, in bytes",
            store_bytes.clone(),
        );
        let task_restarts = Family::<TaskLabels, Counter>::default();
        registry.register(
            "task_restarts",
            "Supervised tasks restarted after a panic, an error or an early end, by task",
            task_restarts.clone(),
        );
        let announcements = Family::<KindLabels, Counter>::default();
        registry.register(
            "announcements",
            "Announcements of blocks and lifts (Slack) by outcome: sent, failed, abandoned",
            announcements.clone(),
        );
        Self {
            registry,
            webhooks,
            queue_depth,
            processing_seconds,
            runs_recorded,
            transitions,
            tide_scope_uncovered,
            deliveries_duplicate,
            tide_pool_would_merge,
            breaches,
            inbox_entries,
            store_bytes,
            task_restarts,
            announcements,
        }
    }

    /// The live Tide pool gauge of one scope.
    pub fn tide_pool_would_merge(&self, repo: &str, branch: &str) -> Gauge {
        self.tide_pool_would_merge
            .get_or_create(&ScopeLabels {
                repo: repo.to_string(),
                branch: branch.to_string(),
            })
            .clone()
    }

    /// Counts one breach: a PR merged into a blocked scope without an exemption.
    pub fn breach(&self, scope: &crate::model::Scope) {
        self.breaches
            .get_or_create(&ScopeLabels {
                repo: scope.repo.to_string(),
                branch: scope.branch.clone(),
            })
            .inc();
    }

    /// The Tide coverage gauge of one scope.
    pub fn tide_scope_uncovered(&self, repo: &str, branch: &str) -> Gauge {
        self.tide_scope_uncovered
            .get_or_create(&ScopeLabels {
                repo: repo.to_string(),
                branch: branch.to_string(),
            })
            .clone()
    }

    /// Counts one webhook.
    pub fn webhook(&self, event: &str, outcome: &str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                event: event.to_string(),
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// Records how long one input took.
    pub fn observe_processing(&self, kind: &str, took: Duration) {
        self.processing_seconds
            .get_or_create(&KindLabels {
                kind: kind.to_string(),
            })
            .observe(took.as_secs_f64());
    }

    /// The registry, for parts that register their own metrics at start-up.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("encoding metrics into a String cannot fail");
        out
    }
}
