//! Observability at the boundary: JSON logs through tracing, and the Prometheus metrics
//! every part records into.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
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
    /// The gate's own figures per job, computed from the store at each scrape.
    figures: Arc<RwLock<Vec<JobFigures>>>,
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
        let figures = Arc::new(RwLock::new(Vec::new()));
        registry.register_collector(Box::new(FiguresCollector(figures.clone())));
        let announcements = Family::<KindLabels, Counter>::default();
        registry.register(
            "announcements",
            "Announcements of blocks and lifts (Slack) by outcome: sent, failed, abandoned",
            announcements.clone(),
        );
        Self {
            registry,
            figures,
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

    /// Replaces the per-job figures the next scrape shows.
    pub fn set_figures(&self, figures: Vec<JobFigures>) {
        *self.figures.write().unwrap_or_else(|e| e.into_inner()) = figures;
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

/// Labels of a per-job metric.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

/// One job's own figures (DESIGN.md "Incident lifecycle"), computed from the incidents
/// and runs in the store at each scrape: they survive restarts, and an incident dropped
/// by `history.incident_retention` leaves them (a counter reset to Prometheus).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobFigures {
    pub job: String,
    /// No finished run for the job's `max_silence`.
    pub stale: bool,
    pub incidents: u64,
    pub reblocks: u64,
    pub false_blocks: u64,
    /// Seconds blocked, over every incident (the active ones until now).
    pub blocked_seconds: i64,
    /// One time to block per incident that has one, in seconds.
    pub time_to_block_seconds: Vec<i64>,
}

/// Upper bounds of the time-to-block histogram, in seconds: a minute to a day.
const TIME_TO_BLOCK_BUCKETS: [f64; 9] = [
    60.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
];

/// Reads one counter's value off a job's figures.
type FigureOf = fn(&JobFigures) -> u64;

/// Encodes the latest [`JobFigures`] at each scrape.
#[derive(Debug)]
struct FiguresCollector(Arc<RwLock<Vec<JobFigures>>>);

impl prometheus_client::collector::Collector for FiguresCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::NoLabelSet;
        use prometheus_client::metrics::MetricType;
        let figures = self.0.read().unwrap_or_else(|e| e.into_inner()).clone();
        let labels: Vec<JobLabels> = figures
            .iter()
            .map(|f| JobLabels { job: f.job.clone() })
            .collect();
        let counters: [(&str, &str, FigureOf); 4] = [
            ("incidents", "Incidents opened, by job", |f| f.incidents),
            (
                "reblocks",
                "Re-blocks: a red run started after a provisional lift, by job",
                |f| f.reblocks,
            ),
            (
                "false_blocks",
                "Incidents resolved with no culprit recorded or a flake, by job",
                |f| f.false_blocks,
            ),
            (
                "blocked_seconds",
                "Seconds incidents were active (until lifted or resolved), by job",
                |f| u64::try_from(f.blocked_seconds).unwrap_or(0),
            ),
        ];
        for (name, help, value) in counters {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for (f, label) in figures.iter().zip(&labels) {
                metric
                    .encode_family(label)?
                    .encode_counter::<NoLabelSet, _, u64>(&value(f), None)?;
            }
        }
        let mut stale = encoder.encode_descriptor(
            "job_stale",
            "1 when the job has had no finished run for its max_silence",
            None,
            MetricType::Gauge,
        )?;
        for (f, label) in figures.iter().zip(&labels) {
            stale
                .encode_family(label)?
                .encode_gauge(&i64::from(f.stale))?;
        }
        let mut histogram = encoder.encode_descriptor(
            "time_to_block_seconds",
            "Seconds from the first red run's finish to the blocker issue's opening, by job",
            None,
            MetricType::Histogram,
        )?;
        for (f, label) in figures.iter().zip(&labels) {
            let mut buckets: Vec<(f64, u64)> = TIME_TO_BLOCK_BUCKETS
                .iter()
                .chain(std::iter::once(&f64::MAX))
                .map(|upper| (*upper, 0))
                .collect();
            for sample in &f.time_to_block_seconds {
                let at = buckets
                    .iter()
                    .position(|(upper, _)| *sample as f64 <= *upper)
                    .unwrap_or(buckets.len() - 1);
                buckets[at].1 += 1;
            }
            let sum = f.time_to_block_seconds.iter().map(|s| *s as f64).sum();
            histogram
                .encode_family(label)?
                .encode_histogram::<NoLabelSet>(
                    sum,
                    f.time_to_block_seconds.len() as u64,
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_exported_per_job() {
        let metrics = Metrics::new();
        metrics.set_figures(vec![JobFigures {
            job: "ci-a".into(),
            stale: true,
            incidents: 2,
            reblocks: 1,
            false_blocks: 1,
            blocked_seconds: 700,
            time_to_block_seconds: vec![30, 4000],
        }]);
        let text = metrics.encode();
        // A sample line: the name, each label (in any order) and the value.
        let has = |name: &str, labels: &[&str], value: &str| {
            text.lines().any(|l| {
                l.starts_with(&format!("{name}{{"))
                    && l.ends_with(&format!(" {value}"))
                    && labels.iter().all(|label| l.contains(label))
            })
        };
        let job = "job=\"ci-a\"";
        for (name, labels, value) in [
            ("scalability_gate_incidents_total", vec![job], "2"),
            ("scalability_gate_reblocks_total", vec![job], "1"),
            ("scalability_gate_false_blocks_total", vec![job], "1"),
            ("scalability_gate_blocked_seconds_total", vec![job], "700"),
            ("scalability_gate_job_stale", vec![job], "1"),
            (
                "scalability_gate_time_to_block_seconds_bucket",
                vec![job, "le=\"60.0\""],
                "1",
            ),
            (
                "scalability_gate_time_to_block_seconds_bucket",
                vec![job, "le=\"3600.0\""],
                "1",
            ),
            (
                "scalability_gate_time_to_block_seconds_bucket",
                vec![job, "le=\"7200.0\""],
                "2",
            ),
            (
                "scalability_gate_time_to_block_seconds_bucket",
                vec![job, "le=\"+Inf\""],
                "2",
            ),
            (
                "scalability_gate_time_to_block_seconds_count",
                vec![job],
                "2",
            ),
            (
                "scalability_gate_time_to_block_seconds_sum",
                vec![job],
                "4030.0",
            ),
        ] {
            assert!(
                has(name, &labels, value),
                "{name} {labels:?} {value} not in:\n{text}"
            );
        }
    }
}
