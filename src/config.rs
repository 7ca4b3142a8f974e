//! The configuration: one typed tree.
//!
//! Layers, weakest first: the defaults written on each field below, the YAML file
//! (`--config`), the environment (`SCALABILITY_GATE__SECTION__KEY`), then Prow-style flags
//! (see [`Overrides`]). Unknown keys, a missing required key or an invalid value stop
//! start-up with an error naming the key. The file holds paths to secrets, never secrets.

pub mod app_key;
pub mod gcs_key;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// Prefix of environment variables that override the file.
pub const ENV_PREFIX: &str = "SCALABILITY_GATE";

/// Google's clients connect to this Pub/Sub emulator (`host:port`) when it is set.
pub const PUBSUB_EMULATOR_HOST: &str = "PUBSUB_EMULATOR_HOST";

/// The whole configuration of one plugin instance.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Webhooks (`/hook` and `/`), `/help`, `/pubsub/push`, dashboard and `/api/v1`.
    pub listen: SocketAddr,
    /// `/healthz` and `/healthz/ready`.
    pub health_listen: SocketAddr,
    /// Prometheus `/metrics`.
    pub metrics_listen: SocketAddr,
    /// The `scalability_gate.v1` gRPC API.
    pub grpc_listen: SocketAddr,
    /// As in Prow: nothing is changed on GitHub until this is false.
    pub dry_run: bool,
    /// Prow's HMAC secret file: one bare token or the YAML map of tokens per org/repo.
    pub hmac_secret_file: PathBuf,
    /// Directory of the sled store.
    pub store_path: PathBuf,
    pub github: GithubConfig,
    /// The label that keeps a PR out of Tide's pool.
    pub label: String,
    /// Which open PRs get the label during an incident.
    pub label_prs: LabelPrs,
    /// Tide's required labels, used when `tide.prow_config` is not set.
    pub ready_labels: Vec<String>,
    pub tide: TideConfig,
    pub approvers: Approvers,
    /// The gated periodic jobs. Required: at least one.
    pub jobs: Vec<JobConfig>,
    pub sources: Sources,
    pub history: HistoryConfig,
    pub reconcile: ReconcileConfig,
    pub api: ApiConfig,
    /// When the plugin escalates an incident that is still active.
    pub escalation: EscalationConfig,
    /// Announcements of blocks and lifts (Slack).
    pub notify: NotifyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: addr("0.0.0.0:8888"),
            health_listen: addr("0.0.0.0:8081"),
            metrics_listen: addr("0.0.0.0:9090"),
            grpc_listen: addr("0.0.0.0:9000"),
            dry_run: true,
            hmac_secret_file: PathBuf::from("/etc/webhook/hmac"),
            store_path: PathBuf::from("/var/lib/scalability-gate"),
            github: GithubConfig::default(),
            label: "do-not-merge/scalability-regression".into(),
            label_prs: LabelPrs::Ready,
            ready_labels: vec!["lgtm".into(), "approved".into()],
            tide: TideConfig::default(),
            approvers: Approvers::default(),
            jobs: Vec::new(),
            sources: Sources::default(),
            history: HistoryConfig::default(),
            reconcile: ReconcileConfig::default(),
            api: ApiConfig::default(),
            escalation: EscalationConfig::default(),
            notify: NotifyConfig::default(),
        }
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("valid default address")
}

/// How the plugin reaches GitHub.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GithubConfig {
    /// Tried in order: ghproxy first, api.github.com as the fallback.
    pub endpoints: Vec<String>,
    /// File holding the token; its owner is the plugin's own login. Not read when a GitHub
    /// App is configured (`app_id`).
    pub token_file: PathBuf,
    /// A GitHub App's id (decimal), instead of a token; "" = no app. The plugin's login is
    /// then the app's `<slug>[bot]`. YAML and the environment may give it as a number.
    #[serde(deserialize_with = "string_or_number")]
    pub app_id: String,
    /// The GitHub App's private key (PEM), with `app_id`; "" = no app.
    pub app_private_key_file: String,
    /// Content-creating requests allowed per minute (GitHub allows about 80).
    pub mutations_per_minute: u32,
    /// Content-creating requests allowed per hour (GitHub allows about 500).
    pub mutations_per_hour: u32,
}

impl Default for GithubConfig {
    fn default() -> Self {
        Self {
            endpoints: vec!["http://ghproxy".into(), "https://api.github.com".into()],
            token_file: PathBuf::from("/etc/github/oauth"),
            app_id: String::new(),
            app_private_key_file: String::new(),
            mutations_per_minute: 60,
            mutations_per_hour: 450,
        }
    }
}

impl GithubConfig {
    /// Whether a GitHub App (rather than a token) is configured.
    pub fn uses_app(&self) -> bool {
        !self.app_id.trim().is_empty() || !self.app_private_key_file.trim().is_empty()
    }

    /// Checks the GitHub App settings when an app is configured: both keys set, the id a
    /// number, the key file readable and an RSA private key. Each error names its key.
    pub fn validate_app(&self) -> anyhow::Result<()> {
        if !self.uses_app() {
            return Ok(());
        }
        let id = self.app_id.trim();
        if id.is_empty() {
            bail!(
                "invalid configuration at `github.app_id`: required with github.app_private_key_file"
            );
        }
        if id.parse::<u64>().ok().filter(|n| *n > 0).is_none() {
            bail!("invalid configuration at `github.app_id`: {id:?} is not a number");
        }
        let key = self.app_private_key_file.trim();
        if key.is_empty() {
            bail!(
                "invalid configuration at `github.app_private_key_file`: required with github.app_id"
            );
        }
        app_key::AppCredentials::load(id, Path::new(key)).with_context(|| {
            "invalid configuration at `github.app_private_key_file`: want the GitHub App's \
             private key (PEM)"
        })?;
        Ok(())
    }
}

/// Which PRs carry the label during an incident.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LabelPrs {
    /// Only PRs carrying all of Tide's required labels (and each one that becomes so).
    #[default]
    Ready,
    /// Every open PR on the branch, ready ones first.
    All,
}

/// What the plugin knows of Tide.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TideConfig {
    /// Tide's `blocker_label`; empty: never open blocker issues.
    pub blocker_label: String,
    /// Path of Prow's config.yaml; empty: no exclusion check.
    pub prow_config: String,
    /// Deck's base URL; empty: no check of `/tide.js`.
    pub deck_url: String,
    /// How often `prow_config` is re-read for changes (Prow mounts it from a ConfigMap).
    #[serde(with = "humane")]
    pub recheck_interval: Duration,
}

impl Default for TideConfig {
    fn default() -> Self {
        Self {
            blocker_label: "tide/merge-blocker".into(),
            prow_config: String::new(),
            deck_url: String::new(),
            recheck_interval: Duration::from_secs(30),
        }
    }
}

/// Who may block, unblock, exempt, revert and re-run.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Approvers {
    /// GitHub teams as `org/team-slug`.
    pub teams: Vec<String>,
    /// GitHub logins.
    pub users: Vec<String>,
}

impl Default for Approvers {
    fn default() -> Self {
        Self {
            teams: vec!["kubernetes/sig-scalability-leads".into()],
            users: Vec::new(),
        }
    }
}

/// One gated periodic job.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    /// Exact Prow job name. Required.
    pub name: String,
    /// What a regression of this job blocks. Required: at least one.
    pub scopes: Vec<ScopeConfig>,
    /// Consecutive red runs after a green one that make a regression.
    #[serde(default = "one")]
    pub failures_to_confirm: u32,
    /// Lift the incident by itself when the job is green again.
    #[serde(default)]
    pub auto_unblock_on_recovery: bool,
    /// Block only the scopes whose repo changed between the last green and the first red
    /// run (`started.json` `repos`); an unknown commit blocks its scope.
    #[serde(default)]
    pub infer_scopes: bool,
    /// Signals that rank this job's suspects.
    #[serde(default)]
    pub suspects: SuspectSignals,
    /// No finished run for this long makes the job stale: a warning on the dashboard, the
    /// status API and `scalability_gate_job_stale`, never a block. `""` = off (default).
    #[serde(default, with = "humane_opt")]
    pub max_silence: Option<Duration>,
}

impl JobConfig {
    /// A job that gates one `branch` of `repo`, with the file's defaults: one red run after
    /// a green one confirms a regression, no automatic unblock, no ranking signals.
    pub fn new(name: &str, repo: &str, branch: &str) -> Self {
        Self {
            name: name.to_string(),
            scopes: vec![ScopeConfig {
                repo: repo.to_string(),
                branch: branch.to_string(),
            }],
            failures_to_confirm: one(),
            auto_unblock_on_recovery: false,
            infer_scopes: false,
            suspects: SuspectSignals::default(),
            max_silence: None,
        }
    }
}

/// What makes a PR a likely culprit of one job's regression (`jobs[].suspects`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SuspectSignals {
    /// Path prefixes whose changes move this job's numbers, e.g. `pkg/scheduler/`.
    pub hot_paths: Vec<String>,
    /// Labels (`sig/*`, `area/*`) of PRs likely to matter to this job.
    pub labels: Vec<String>,
}

/// Escalation of an incident still active after a while (top-level `escalation`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct EscalationConfig {
    /// Step 1: mention the top suspects' authors and the approver teams on the incident's
    /// issue, this long after it opened. `""` = off.
    #[serde(with = "humane_opt")]
    pub mention_after: Option<Duration>,
    /// Step 2: suggest reverting the top suspect, this long after it opened. `""` = off.
    #[serde(with = "humane_opt")]
    pub suggest_revert_after: Option<Duration>,
    /// How many suspects step 1 mentions.
    pub top_suspects: usize,
}

impl Default for EscalationConfig {
    fn default() -> Self {
        Self {
            mention_after: Some(Duration::from_secs(3600)),
            suggest_revert_after: Some(Duration::from_secs(4 * 3600)),
            top_suspects: 3,
        }
    }
}

fn one() -> u32 {
    1
}

/// `(org/repo, branch)` as written in the file.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ScopeConfig {
    /// `org/repo`.
    pub repo: String,
    pub branch: String,
}

/// Where job results come from. Each channel is off when its address is empty.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Sources {
    pub deck: DeckSource,
    pub gcs: GcsSource,
    pub pubsub: PubsubSource,
    pub pubsub_push: PubsubPushSource,
    pub gangway: GangwaySource,
}

/// Polls Deck's `/prowjobs.js`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DeckSource {
    /// Deck's base URL; empty: off.
    pub url: String,
    #[serde(with = "humane")]
    pub interval: Duration,
}

impl Default for DeckSource {
    fn default() -> Self {
        Self {
            url: "https://prow.k8s.io".into(),
            interval: Duration::from_secs(60),
        }
    }
}

/// Reads `started.json` / `finished.json` of runs.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GcsSource {
    /// Base of both GCS forms; empty: off.
    pub url: String,
    pub bucket: String,
    /// How reads authenticate: `""` anonymous (public buckets), a service-account JSON key
    /// file, or `metadata` (the metadata server's token, as with Workload Identity).
    pub credentials_file: String,
    /// The metadata server (`host:port`) for `credentials_file: metadata`: not in the file,
    /// the `GCE_METADATA_HOST` environment variable when set, else the usual host.
    #[serde(skip)]
    pub metadata_host: String,
}

impl Default for GcsSource {
    fn default() -> Self {
        Self {
            url: "https://storage.googleapis.com".into(),
            bucket: "kubernetes-ci-logs".into(),
            credentials_file: String::new(),
            metadata_host: String::new(),
        }
    }
}

/// A Pub/Sub pull subscription on crier's topic.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PubsubSource {
    /// `projects/P/subscriptions/S`; empty: off.
    pub subscription: String,
    /// `host:port` of a Pub/Sub emulator: plain-text gRPC, no credentials. Empty: the
    /// `PUBSUB_EMULATOR_HOST` environment variable when set (as Google's clients do), else
    /// Cloud Pub/Sub itself over TLS.
    pub emulator_host: String,
    /// File holding an OAuth 2 access token for Cloud Pub/Sub, re-read at each
    /// (re)connection and kept fresh by something else (a sidecar). Required when
    /// `subscription` is set and no emulator is used.
    pub token_file: String,
}

/// A Pub/Sub push subscription delivering to `/pubsub/push`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct PubsubPushSource {
    /// File holding the `?token=` secret; empty: `/pubsub/push` disabled.
    pub token_file: String,
}

/// Prow's Gangway gRPC API.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GangwaySource {
    /// `host:port` or URL; empty: off.
    pub address: String,
    #[serde(with = "humane")]
    pub interval: Duration,
    /// File holding the API key; empty: none sent.
    pub api_key_file: String,
}

impl Default for GangwaySource {
    fn default() -> Self {
        Self {
            address: String::new(),
            interval: Duration::from_secs(60),
            api_key_file: String::new(),
        }
    }
}

/// How much run history is kept.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HistoryConfig {
    /// Runs kept per job; older ones are dropped.
    pub retention: usize,
    /// Runs of each job read from GCS at start-up.
    pub backfill: usize,
    /// Audit records kept (one per command); the oldest are dropped past it.
    pub audit_retention: usize,
    /// Lifted incidents kept; older ones are dropped once cleaned up on GitHub. Active
    /// incidents are never dropped.
    pub incident_retention: usize,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            retention: 200,
            backfill: 20,
            audit_retention: crate::store::AUDIT_KEPT,
            incident_retention: crate::store::LIFTED_INCIDENTS_KEPT,
        }
    }
}

/// The level-triggered reconciler.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Period of the full resync against GitHub.
    #[serde(with = "humane")]
    pub resync_interval: Duration,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        Self {
            resync_interval: Duration::from_secs(600),
        }
    }
}

/// The admin gRPC API (`scalability_gate.v1.Gate`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// File holding the bearer token the mutating calls (`Block`, `Unblock`, `Exempt`)
    /// require (`authorization: Bearer <token>`); empty: those calls are refused.
    pub token_file: String,
}

/// Announcements where people look (top-level `notify`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// File holding a Slack incoming-webhook URL (a secret: never logged); `""` = off.
    pub slack_webhook_file: String,
}

/// Durations as humane strings (`1s`, `60s`, `10m`).
mod humane {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(text.trim())
            .map_err(|e| D::Error::custom(format!("invalid duration {text:?}: {e}")))
    }
}

/// Optional durations: a humane string, or `""` for off.
mod humane_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&humantime::format_duration(*d).to_string()),
            None => s.serialize_str(""),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = String::deserialize(d)?;
        if text.trim().is_empty() {
            return Ok(None);
        }
        humantime::parse_duration(text.trim())
            .map(Some)
            .map_err(|e| D::Error::custom(format!("invalid duration {text:?} (\"\" = off): {e}")))
    }
}

/// A string, or a number written without quotes (`app_id: 12345`), as its decimal text.
fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    use serde::de::Error;
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        other => Err(D::Error::custom(format!(
            "want a number or a string, not {other}"
        ))),
    }
}

/// Prow-style flags: the strongest layer.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub dry_run: Option<bool>,
    pub hmac_secret_file: Option<PathBuf>,
    pub github_token_path: Option<PathBuf>,
    /// Prow's `--github-app-id`.
    pub github_app_id: Option<String>,
    /// Prow's `--github-app-private-key-path`.
    pub github_app_private_key_path: Option<PathBuf>,
    pub github_endpoints: Vec<String>,
    pub port: Option<u16>,
    pub store_path: Option<PathBuf>,
}

impl Config {
    /// Loads defaults < `file` < environment < `overrides`, then validates.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(file, &env, overrides)
    }

    /// As [`Config::load`] with the environment given (tests pass their own).
    pub fn load_from(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                bail!("config file {} does not exist", path.display());
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Yaml)
                    .required(true),
            );
        }
        let env_map = env
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{ENV_PREFIX}__")))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("github.endpoints")
                .with_list_parse_key("ready_labels")
                .with_list_parse_key("approvers.teams")
                .with_list_parse_key("approvers.users")
                .source(Some(env_map)),
        );
        let layered = builder
            .build()
            .map_err(|e| anyhow::anyhow!("reading configuration: {e}"))?;
        let mut tree: serde_json::Value = layered
            .try_deserialize()
            .map_err(|e| anyhow::anyhow!("reading configuration: {e}"))?;
        if tree.is_null() {
            tree = serde_json::Value::Object(Default::default());
        }
        apply_overrides(&mut tree, overrides);
        let config: Config = serde_path_to_error::deserialize(tree).map_err(|e| {
            let path = e.path().to_string();
            anyhow::anyhow!("invalid configuration at `{path}`: {}", e.into_inner())
        })?;
        let mut config = config.apply_port(overrides.port);
        if config.sources.pubsub.emulator_host.is_empty()
            && let Some((_, host)) = env.iter().find(|(k, _)| k == PUBSUB_EMULATOR_HOST)
        {
            config.sources.pubsub.emulator_host = host.trim().to_string();
        }
        if let Some((_, host)) = env.iter().find(|(k, _)| k == gcs_key::GCE_METADATA_HOST) {
            config.sources.gcs.metadata_host = host.trim().to_string();
        }
        config.validate()?;
        Ok(config)
    }

    fn apply_port(mut self, port: Option<u16>) -> Self {
        if let Some(port) = port {
            self.listen.set_port(port);
        }
        self
    }

    /// Checks what types alone cannot; each error names its key.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.jobs.is_empty() {
            bail!("invalid configuration at `jobs`: at least one gated job is required");
        }
        if self.label.trim().is_empty() {
            bail!("invalid configuration at `label`: must not be empty");
        }
        if self.github.endpoints.is_empty() {
            bail!("invalid configuration at `github.endpoints`: at least one endpoint");
        }
        if self.github.mutations_per_minute == 0 || self.github.mutations_per_hour == 0 {
            bail!("invalid configuration at `github.mutations_per_*`: must be positive");
        }
        self.github.validate_app()?;
        if self.history.retention == 0 {
            bail!("invalid configuration at `history.retention`: must be positive");
        }
        if self.history.audit_retention == 0 {
            bail!("invalid configuration at `history.audit_retention`: must be positive");
        }
        if self.history.incident_retention == 0 {
            bail!("invalid configuration at `history.incident_retention`: must be positive");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, job) in self.jobs.iter().enumerate() {
            if job.name.trim().is_empty() {
                bail!("invalid configuration at `jobs[{i}].name`: must not be empty");
            }
            if !seen.insert(job.name.as_str()) {
                bail!(
                    "invalid configuration at `jobs[{i}].name`: {} twice",
                    job.name
                );
            }
            if job.scopes.is_empty() {
                bail!("invalid configuration at `jobs[{i}].scopes`: at least one scope");
            }
            if job.failures_to_confirm == 0 {
                bail!("invalid configuration at `jobs[{i}].failures_to_confirm`: at least 1");
            }
            for (j, path) in job.suspects.hot_paths.iter().enumerate() {
                if path.trim().is_empty() {
                    bail!("invalid configuration at `jobs[{i}].suspects.hot_paths[{j}]`: empty");
                }
            }
            for (j, label) in job.suspects.labels.iter().enumerate() {
                if label.trim().is_empty() {
                    bail!("invalid configuration at `jobs[{i}].suspects.labels[{j}]`: empty");
                }
            }
            if job.max_silence.is_some_and(|d| d.is_zero()) {
                bail!(
                    "invalid configuration at `jobs[{i}].max_silence`: must be positive (\"\" turns it off)"
                );
            }
            for (j, scope) in job.scopes.iter().enumerate() {
                crate::model::RepoName::parse(&scope.repo).with_context(|| {
                    format!("invalid configuration at `jobs[{i}].scopes[{j}].repo`")
                })?;
                if scope.branch.trim().is_empty() {
                    bail!("invalid configuration at `jobs[{i}].scopes[{j}].branch`: empty");
                }
            }
        }
        let pubsub = &self.sources.pubsub;
        if !pubsub.subscription.is_empty() {
            let parts: Vec<&str> = pubsub.subscription.split('/').collect();
            if !matches!(parts.as_slice(), ["projects", p, "subscriptions", s] if !p.is_empty() && !s.is_empty())
            {
                bail!(
                    "invalid configuration at `sources.pubsub.subscription`: want projects/P/subscriptions/S"
                );
            }
            if pubsub.emulator_host.is_empty() && pubsub.token_file.is_empty() {
                bail!(
                    "invalid configuration at `sources.pubsub.token_file`: required for Cloud Pub/Sub (or set emulator_host)"
                );
            }
        }
        let credentials = self.sources.gcs.credentials_file.trim();
        if !credentials.is_empty() && credentials != gcs_key::METADATA {
            gcs_key::ServiceAccountKey::load(Path::new(credentials)).with_context(|| {
                "invalid configuration at `sources.gcs.credentials_file`: want a \
                     service-account JSON key, \"metadata\" or \"\" (anonymous)"
            })?;
        }
        for (key, duration) in self.durations() {
            if duration.is_some_and(|d| d.is_zero()) {
                let off = if key.starts_with("escalation.") {
                    " (\"\" turns it off)"
                } else {
                    ""
                };
                bail!("invalid configuration at `{key}`: must be positive{off}");
            }
        }
        if self.escalation.top_suspects == 0 {
            bail!("invalid configuration at `escalation.top_suspects`: at least 1");
        }
        for (i, team) in self.approvers.teams.iter().enumerate() {
            if team
                .split_once('/')
                .is_none_or(|(o, t)| o.is_empty() || t.is_empty())
            {
                bail!("invalid configuration at `approvers.teams[{i}]`: want org/team-slug");
            }
        }
        Ok(())
    }

    /// Every duration of the file by its key; `None` is an optional one that is off. Each
    /// must be positive: a zero interval panics a ticker or spins a loop.
    pub fn durations(&self) -> [(&'static str, Option<Duration>); 6] {
        [
            ("tide.recheck_interval", Some(self.tide.recheck_interval)),
            ("escalation.mention_after", self.escalation.mention_after),
            (
                "escalation.suggest_revert_after",
                self.escalation.suggest_revert_after,
            ),
            ("sources.deck.interval", Some(self.sources.deck.interval)),
            (
                "sources.gangway.interval",
                Some(self.sources.gangway.interval),
            ),
            (
                "reconcile.resync_interval",
                Some(self.reconcile.resync_interval),
            ),
        ]
    }

    /// The job of that exact name.
    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }

    /// The effective configuration as YAML. The file names secret files, never
    /// secrets, so nothing here needs redacting beyond what [`redacted`] hides.
    pub fn to_redacted_yaml(&self) -> String {
        let mut tree = serde_json::to_value(self).expect("config serializes");
        redacted(&mut tree);
        serde_yaml::to_string(&tree).expect("yaml serializes")
    }
}

/// Replaces any value under a key that looks like an inline secret.
fn redacted(tree: &mut serde_json::Value) {
    if let serde_json::Value::Object(map) = tree {
        for (key, value) in map.iter_mut() {
            let inline_secret = ["token", "secret", "password", "api_key"]
                .iter()
                .any(|s| key == s);
            if inline_secret && value.is_string() {
                *value = serde_json::Value::String("<redacted>".into());
            } else {
                redacted(value);
            }
        }
    }
}

fn apply_overrides(tree: &mut serde_json::Value, o: &Overrides) {
    use serde_json::Value;
    let root = tree.as_object_mut().expect("config root is a map");
    if let Some(d) = o.dry_run {
        root.insert("dry_run".into(), Value::Bool(d));
    }
    if let Some(p) = &o.hmac_secret_file {
        root.insert("hmac_secret_file".into(), Value::String(path_str(p)));
    }
    if let Some(p) = &o.store_path {
        root.insert("store_path".into(), Value::String(path_str(p)));
    }
    if o.github_token_path.is_some()
        || o.github_app_id.is_some()
        || o.github_app_private_key_path.is_some()
        || !o.github_endpoints.is_empty()
    {
        let github = root
            .entry("github")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(github) = github.as_object_mut() {
            if let Some(p) = &o.github_token_path {
                github.insert("token_file".into(), Value::String(path_str(p)));
            }
            if let Some(id) = &o.github_app_id {
                github.insert("app_id".into(), Value::String(id.clone()));
            }
            if let Some(p) = &o.github_app_private_key_path {
                github.insert("app_private_key_file".into(), Value::String(path_str(p)));
            }
            if !o.github_endpoints.is_empty() {
                let list = o.github_endpoints.iter().cloned().map(Value::String);
                github.insert("endpoints".into(), Value::Array(list.collect()));
            }
        }
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Reads a secret or token file, trimmed of surrounding whitespace as Prow does.
pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading secret file {}", path.display()))?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests;
