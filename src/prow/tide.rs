//! Prow's Tide config as the plugin reads it: the parts of `config.yaml` the exclusion
//! check needs (`tide.queries` and `tide.blocker_label`; every other key is ignored, as
//! Prow configs have many), `--fix` with its safety checks, and the background task that
//! re-runs the check when the mounted file changes.
//!
//! The decisions are in [`crate::core::tide`]; this module only reads, parses and reports.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde::{Deserialize, Deserializer};
use tokio::sync::watch;

use crate::bus::tide::LiveCheck;
use crate::config::Config;
use crate::core::tide::{
    self, CheckParams, PoolVerdict, ProwTide, TidePool, TideQuery, TideReport,
};
use crate::model::{RepoName, Scope};

/// Prow's config, reduced to what we read. Unknown keys are ignored on purpose.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ProwConfigDoc {
    #[serde(deserialize_with = "nullable")]
    tide: TideDoc,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TideDoc {
    #[serde(deserialize_with = "nullable")]
    queries: Vec<QueryDoc>,
    #[serde(deserialize_with = "nullable")]
    blocker_label: String,
}

/// Prow's `TideQuery` (JSON names, as Prow's config uses them).
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct QueryDoc {
    #[serde(deserialize_with = "nullable")]
    orgs: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    repos: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    excluded_repos: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    labels: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    missing_labels: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    included_branches: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    excluded_branches: Vec<String>,
    #[serde(deserialize_with = "nullable")]
    milestone: String,
    #[serde(deserialize_with = "nullable")]
    author: String,
    #[serde(deserialize_with = "nullable")]
    review_approved_required: bool,
}

/// A YAML `null` (an empty key) reads as the default, as Go's decoder does.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl From<QueryDoc> for TideQuery {
    fn from(q: QueryDoc) -> Self {
        TideQuery {
            orgs: q.orgs,
            repos: q.repos,
            excluded_repos: q.excluded_repos,
            labels: q.labels,
            missing_labels: q.missing_labels,
            included_branches: q.included_branches,
            excluded_branches: q.excluded_branches,
            milestone: q.milestone,
            author: q.author,
            review_approved_required: q.review_approved_required,
        }
    }
}

/// Deck's `/tide.js`: `{"Queries":[..],"TideQueries":[..],"Pools":[PoolForDeck]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TideJsDoc {
    #[serde(rename = "Pools", deserialize_with = "nullable")]
    pools: Vec<PoolDoc>,
}

/// Tide's `PoolForDeck` (Go field names; nil slices arrive as `null`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PoolDoc {
    #[serde(rename = "Org", deserialize_with = "nullable")]
    org: String,
    #[serde(rename = "Repo", deserialize_with = "nullable")]
    repo: String,
    #[serde(rename = "Branch", deserialize_with = "nullable")]
    branch: String,
    #[serde(rename = "SuccessPRs", deserialize_with = "nullable")]
    success: Vec<NumberDoc>,
    #[serde(rename = "PendingPRs", deserialize_with = "nullable")]
    pending: Vec<NumberDoc>,
    #[serde(rename = "MissingPRs", deserialize_with = "nullable")]
    missing: Vec<NumberDoc>,
    #[serde(rename = "BatchPending", deserialize_with = "nullable")]
    batch: Vec<NumberDoc>,
    #[serde(rename = "Action", deserialize_with = "nullable")]
    action: String,
    #[serde(rename = "Blockers", deserialize_with = "nullable")]
    blockers: Vec<NumberDoc>,
}

/// A PR (`MinCodeReviewCommon`) or a blocker issue: only its number matters here.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NumberDoc {
    #[serde(rename = "Number")]
    number: u64,
}

/// Parses the body of Deck's `/tide.js` into Tide's pools.
pub fn parse_tide_js(body: &[u8]) -> anyhow::Result<Vec<TidePool>> {
    let doc: TideJsDoc =
        serde_json::from_slice(body).context("Deck's /tide.js is not the expected JSON")?;
    Ok(doc
        .pools
        .into_iter()
        .map(|p| TidePool {
            org: p.org,
            repo: p.repo,
            branch: p.branch,
            action: p.action,
            blockers: p.blockers.iter().map(|b| b.number).collect(),
            prs: [p.success, p.pending, p.missing, p.batch]
                .iter()
                .flatten()
                .map(|pr| pr.number)
                .collect(),
        })
        .collect())
}

/// Parses Prow's config text into a YAML tree (anchors resolved, `<<` merged) and our view.
fn parse_tree(text: &str) -> anyhow::Result<(serde_yaml::Value, ProwTide)> {
    let mut tree: serde_yaml::Value =
        serde_yaml::from_str(text).context("Prow's config is not valid YAML")?;
    tree.apply_merge()
        .context("Prow's config has an invalid `<<` merge key")?;
    if tree.is_null() {
        tree = serde_yaml::Value::Mapping(Default::default());
    }
    let doc: ProwConfigDoc = serde_path_to_error::deserialize(tree.clone()).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!("Prow's config at `{path}`: {}", e.into_inner())
    })?;
    let prow = ProwTide {
        queries: doc.tide.queries.into_iter().map(TideQuery::from).collect(),
        blocker_label: doc.tide.blocker_label,
    };
    Ok((tree, prow))
}

/// Parses the Tide part of Prow's config text.
pub fn parse(text: &str) -> anyhow::Result<ProwTide> {
    parse_tree(text).map(|(_, prow)| prow)
}

/// Reads and parses Prow's config file.
pub fn load(path: &Path) -> anyhow::Result<(String, ProwTide)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading Prow's config {}", path.display()))?;
    let prow = parse(&text).with_context(|| format!("parsing {}", path.display()))?;
    Ok((text, prow))
}

/// What our configuration asks of Tide: our label and blocker label, and every gated scope.
pub fn params_from_config(config: &Config) -> CheckParams {
    let mut scopes: Vec<Scope> = Vec::new();
    for job in &config.jobs {
        for s in &job.scopes {
            let Ok(repo) = RepoName::parse(&s.repo) else {
                continue; // rejected when the config was validated
            };
            let scope = Scope {
                repo,
                branch: s.branch.clone(),
            };
            if !scopes.contains(&scope) {
                scopes.push(scope);
            }
        }
    }
    CheckParams {
        label: config.label.clone(),
        blocker_label: config.tide.blocker_label.clone(),
        scopes,
    }
}

/// The outcome of `--fix`.
#[derive(Debug, Clone)]
pub struct Fixed {
    /// The whole config, edited (equal to the input when nothing needed fixing).
    pub text: String,
    /// The queries the label was added to.
    pub queries: BTreeSet<usize>,
    /// The check of the edited config.
    pub report: TideReport,
}

/// Adds our label to the `missingLabels` of exactly the queries that lack it where it
/// matters, by editing the text (every other byte is kept). The result is parsed again and
/// must equal the original with only those lists extended, and must pass the label check;
/// otherwise this refuses.
pub fn fix(text: &str, params: &CheckParams) -> anyhow::Result<Fixed> {
    let (tree, prow) = parse_tree(text)?;
    let before = tide::check(&prow, params);
    let queries = before.queries_to_fix();
    if queries.is_empty() {
        return Ok(Fixed {
            text: text.to_string(),
            queries,
            report: before,
        });
    }
    let edited = tide::insert_missing_label(text, &params.label, &queries, prow.queries.len())
        .context("refusing to edit Prow's config")?;
    let (edited_tree, edited_prow) = parse_tree(&edited)
        .context("refusing: the edited config would not parse (a bug; please report it)")?;
    let expected = with_label_added(tree, &params.label, &queries)?;
    ensure!(
        edited_tree == expected,
        "refusing: the edit would change more than the missingLabels of tide.queries{queries:?} \
         (a bug; please report it)"
    );
    let report = tide::check(&edited_prow, params);
    ensure!(
        report.label_holds(),
        "refusing: the edited config still does not hold (a bug; please report it)"
    );
    Ok(Fixed {
        text: edited,
        queries,
        report,
    })
}

/// The parsed config as it should be after the fix: `label` appended to the
/// `missingLabels` of each query in `queries`.
fn with_label_added(
    mut tree: serde_yaml::Value,
    label: &str,
    queries: &BTreeSet<usize>,
) -> anyhow::Result<serde_yaml::Value> {
    use serde_yaml::Value;
    for &i in queries {
        let Some(query) = tree
            .get_mut("tide")
            .and_then(|t| t.get_mut("queries"))
            .and_then(|q| q.get_mut(i))
            .and_then(Value::as_mapping_mut)
        else {
            bail!("tide.queries[{i}] is not a mapping");
        };
        let key = Value::String("missingLabels".into());
        match query.get_mut(&key) {
            Some(Value::Sequence(list)) => list.push(Value::String(label.into())),
            Some(Value::Null) | None => {
                query.insert(key, Value::Sequence(vec![Value::String(label.into())]));
            }
            Some(_) => bail!("tide.queries[{i}].missingLabels is not a list"),
        }
    }
    Ok(tree)
}

/// The handles the Tide watch is built from.
#[derive(Clone)]
pub struct Parts {
    pub config: Arc<Config>,
    pub store: crate::store::Store,
    pub metrics: Arc<crate::telemetry::Metrics>,
    /// What the watch writes and the others read.
    pub tide: crate::bus::tide::SharedTide,
    /// Poked when a live check finds a leak.
    pub reconcile: crate::bus::ReconcileHandle,
    pub clock: crate::clock::Clock,
}

/// Starts the background checks, each only when configured:
/// - `tide.prow_config`: at once, then every `tide.recheck_interval`, re-running the check
///   whenever the file's content changes (Prow mounts it from a ConfigMap, swapped in place);
/// - `tide.deck_url`: every `tide.recheck_interval` while an incident is active, reads
///   Deck's `/tide.js` and records whether each blocked scope's pool holds.
///
/// Each runs under `supervisor` (tasks `tide_prow_config`, `tide_deck`).
pub fn spawn_watch(
    app: &Parts,
    supervisor: &crate::supervise::Supervisor,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if !app.config.tide.prow_config.trim().is_empty() {
        let app = app.clone();
        tasks.push(supervisor.spawn("tide_prow_config", move |stop| {
            let watched = watch_prow_config(app.clone(), stop);
            async move {
                watched.await;
                Ok(())
            }
        }));
    }
    if !app.config.tide.deck_url.trim().is_empty() {
        let app = app.clone();
        tasks.push(supervisor.spawn("tide_deck", move |stop| {
            let watched = watch_deck(app.clone(), stop);
            async move {
                watched.await;
                Ok(())
            }
        }));
    }
    tasks
}

/// Longest wait for Deck's `/tide.js`.
const DECK_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest `/tide.js` body read (Kubernetes' is a few MB).
const DECK_BODY_LIMIT: usize = 64 << 20;

async fn fetch_tide_js(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<TidePool>> {
    let mut resp = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    ensure!(
        resp.status().is_success(),
        "GET {url}: HTTP {}",
        resp.status()
    );
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.with_context(|| format!("GET {url}"))? {
        ensure!(
            body.len() + chunk.len() <= DECK_BODY_LIMIT,
            "GET {url}: body over {DECK_BODY_LIMIT} bytes"
        );
        body.extend_from_slice(&chunk);
    }
    parse_tide_js(&body)
}

async fn watch_deck(app: Parts, mut stop: watch::Receiver<bool>) {
    let url = format!(
        "{}/tide.js",
        app.config.tide.deck_url.trim().trim_end_matches('/')
    );
    let client = match reqwest::Client::builder().timeout(DECK_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the HTTP client for Deck; live Tide check off");
            return;
        }
    };
    let mut ticker = tokio::time::interval(app.config.tide.recheck_interval.max(MIN_RECHECK));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let incidents = match app.store.active_incidents() {
            Ok(incidents) => incidents,
            Err(e) => {
                tracing::warn!(
                    error = format!("{e:#}"),
                    "live Tide check: reading incidents"
                );
                continue;
            }
        };
        if incidents.is_empty() {
            clear_live(&app);
            continue;
        }
        let pools = match fetch_tide_js(&client, &url).await {
            Ok(pools) => {
                last_error = None;
                pools
            }
            Err(e) => {
                let error = format!("{e:#}");
                if last_error.as_deref() != Some(error.as_str()) {
                    tracing::warn!(error = %error, "live Tide check: reading Deck's /tide.js");
                }
                last_error = Some(error.clone());
                app.tide
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .deck_error = Some(error);
                continue;
            }
        };
        let at = app.clock.now();
        let mut live = std::collections::BTreeMap::new();
        let mut leaked = false;
        let previous = app
            .tide
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .live
            .clone();
        for incident in &incidents {
            for scope in &incident.scopes {
                let exempt: Vec<u64> = incident
                    .exemptions
                    .iter()
                    .filter(|e| e.repo == scope.repo)
                    .map(|e| e.pr.0)
                    .collect();
                let verdict = tide::judge_pool(&pools, scope, &exempt);
                let key = scope.to_string();
                let before = previous.get(&key).filter(|c| c.incident == incident.id);
                let first_leak_at = before.and_then(|c| c.first_leak_at).or_else(|| {
                    (!verdict.holds()).then(|| {
                        if let PoolVerdict::WouldMerge { prs } = &verdict {
                            tracing::warn!(incident = %incident.id, scope = %scope, prs = ?prs,
                                "live Tide check: Tide's pool would still merge into a blocked scope");
                        }
                        at
                    })
                });
                if before.and_then(|c| c.first_leak_at).is_none() && first_leak_at.is_some() {
                    leaked = true;
                }
                app.metrics
                    .tide_pool_would_merge(&scope.repo.to_string(), &scope.branch)
                    .set(i64::from(!verdict.holds()));
                live.insert(
                    key,
                    LiveCheck {
                        scope: scope.clone(),
                        incident: incident.id.clone(),
                        verdict,
                        at,
                        first_leak_at,
                    },
                );
            }
        }
        let mut state = app.tide.write().unwrap_or_else(|p| p.into_inner());
        for gone in state
            .live
            .values()
            .filter(|c| !live.contains_key(&c.scope.to_string()))
        {
            app.metrics
                .tide_pool_would_merge(&gone.scope.repo.to_string(), &gone.scope.branch)
                .set(0);
        }
        state.live = live;
        state.deck_error = None;
        drop(state);
        if leaked {
            // A new leak: the reconciler says so on the incident's issue now.
            app.reconcile.poke();
        }
    }
}

/// No incident is active: nothing is blocked, so no pool can leak.
fn clear_live(app: &Parts) {
    let mut state = app.tide.write().unwrap_or_else(|p| p.into_inner());
    for check in state.live.values() {
        app.metrics
            .tide_pool_would_merge(&check.scope.repo.to_string(), &check.scope.branch)
            .set(0);
    }
    state.live.clear();
}

async fn watch_prow_config(app: Parts, mut stop: watch::Receiver<bool>) {
    let path = std::path::PathBuf::from(app.config.tide.prow_config.trim());
    let params = params_from_config(&app.config);
    let mut ticker = tokio::time::interval(app.config.tide.recheck_interval.max(MIN_RECHECK));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last: Option<u64> = None;
    let mut last_error: Option<String> = None;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        let text = match tokio::fs::read_to_string(&path).await {
            Ok(text) => text,
            Err(e) => {
                let error = format!("reading Prow's config {}: {e}", path.display());
                record_error(&app, &mut last_error, error);
                last = None;
                continue;
            }
        };
        let digest = {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            text.hash(&mut h);
            h.finish()
        };
        if last == Some(digest) {
            continue;
        }
        last = Some(digest);
        match parse(&text) {
            Ok(prow) => {
                last_error = None;
                apply_check(&app, &path, prow, &params);
            }
            Err(e) => record_error(
                &app,
                &mut last_error,
                format!("parsing Prow's config {}: {e:#}", path.display()),
            ),
        }
    }
}

/// Never re-read more often than this, whatever the config says.
const MIN_RECHECK: Duration = Duration::from_millis(50);

fn record_error(app: &Parts, last_error: &mut Option<String>, error: String) {
    if last_error.as_deref() != Some(error.as_str()) {
        tracing::warn!(error = %error, "Tide exclusion check could not run");
    }
    *last_error = Some(error.clone());
    let mut state = app.tide.write().unwrap_or_else(|p| p.into_inner());
    state.error = Some(error);
    state.checked_at = Some(app.clock.now());
}

fn apply_check(app: &Parts, path: &Path, prow: ProwTide, params: &CheckParams) {
    let report = tide::check(&prow, params);
    for line in report.diagnostics() {
        tracing::warn!(prow_config = %path.display(), "Tide exclusion check: {line}");
    }
    if report.holds() {
        tracing::info!(prow_config = %path.display(), scopes = report.scopes.len(),
            "Tide exclusion check: the block holds on every scope");
    }
    for s in &report.scopes {
        app.metrics
            .tide_scope_uncovered(&s.scope.repo.to_string(), &s.scope.branch)
            .set(i64::from(!s.covered()));
    }
    let mut state = app.tide.write().unwrap_or_else(|p| p.into_inner());
    state.report = Some(report);
    state.prow = Some(prow);
    state.error = None;
    state.checked_at = Some(app.clock.now());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(repo: &str, branch: &str) -> Scope {
        Scope {
            repo: RepoName::parse(repo).unwrap(),
            branch: branch.into(),
        }
    }

    #[test]
    fn parses_what_it_needs_and_ignores_the_rest() {
        let text = "\
plank: {job_url_prefix_config: {'*': x}}
defaults: &dnm
  missingLabels: [do-not-merge]
tide:
  sync_period: 2m
  queries:
  - <<: *dnm
    orgs: [o]
    excludedRepos: [o/x]
    reviewApprovedRequired: true
    unknownKey: 1
  - repos: [o/x]
    missingLabels:
    includedBranches: [main]
    milestone: v1
    author: bot
  blocker_label: tide/merge-blocker
  merge_method: {o/x: squash}
";
        let prow = parse(text).unwrap();
        assert_eq!(prow.blocker_label, "tide/merge-blocker");
        assert_eq!(prow.queries.len(), 2);
        assert_eq!(prow.queries[0].missing_labels, ["do-not-merge"]);
        assert_eq!(prow.queries[0].excluded_repos, ["o/x"]);
        assert!(prow.queries[0].review_approved_required);
        assert!(prow.queries[1].missing_labels.is_empty());
        assert_eq!(prow.queries[1].included_branches, ["main"]);
        assert_eq!(prow.queries[1].milestone, "v1");
        assert_eq!(prow.queries[1].author, "bot");
    }

    #[test]
    fn no_tide_section_means_no_queries() {
        assert_eq!(parse("").unwrap(), ProwTide::default());
        assert_eq!(parse("tide:\n").unwrap(), ProwTide::default());
        assert_eq!(parse("deck: {}\n").unwrap(), ProwTide::default());
    }

    #[test]
    fn bad_input_is_an_error_naming_the_place() {
        let err = format!("{:#}", parse("tide: [").unwrap_err());
        assert!(err.contains("not valid YAML"), "{err}");
        let err = format!("{:#}", parse("tide:\n  queries: 5\n").unwrap_err());
        assert!(err.contains("tide.queries"), "{err}");
        let err = format!(
            "{:#}",
            parse("tide:\n  queries:\n  - labels: [[a]]\n").unwrap_err()
        );
        assert!(err.contains("tide.queries[0].labels[0]"), "{err}");
    }

    #[test]
    fn fix_refuses_what_core_cannot_edit_and_keeps_what_is_fine() {
        let params = CheckParams {
            label: "do-not-merge/scalability-regression".into(),
            blocker_label: String::new(),
            scopes: vec![scope("o/r", "main")],
        };
        // An alias: editing the anchored list would change other queries too.
        let text = "tide:\n  queries:\n  - repos: [o/s]\n    missingLabels: &dnm [a]\n  - repos: [o/r]\n    missingLabels: *dnm\n";
        let err = format!("{:#}", fix(text, &params).unwrap_err());
        assert!(err.contains("refusing") && err.contains("line 6"), "{err}");
        // Nothing to fix: the text comes back as it was.
        let text = "tide:\n  queries:\n  - repos: [o/s]\n";
        let fixed = fix(text, &params).unwrap();
        assert_eq!(fixed.text, text);
        assert!(fixed.queries.is_empty());
        // A fix of a query using an anchor for another field.
        let text =
            "tide:\n  queries:\n  - repos: &r [o/r]\n    missingLabels: [a]\n  - repos: *r\n";
        let fixed = fix(text, &params).unwrap();
        assert_eq!(fixed.queries, BTreeSet::from([0, 1]));
        assert!(fixed.report.label_holds());
    }

    #[test]
    fn expected_tree_appends_or_creates_the_list() {
        let (tree, _) =
            parse_tree("tide:\n  queries:\n  - missingLabels: [a]\n  - repos: [o/r]\n").unwrap();
        let tree = with_label_added(tree, "l", &BTreeSet::from([0, 1])).unwrap();
        let (want, _) = parse_tree(
            "tide:\n  queries:\n  - missingLabels: [a, l]\n  - repos: [o/r]\n    missingLabels: [l]\n",
        )
        .unwrap();
        assert_eq!(tree, want);
    }

    #[test]
    fn params_take_every_scope_once() {
        let mut config = Config::default();
        let job = |name: &str, scopes: &[(&str, &str)]| crate::config::JobConfig {
            name: name.into(),
            scopes: scopes
                .iter()
                .map(|(r, b)| crate::config::ScopeConfig {
                    repo: r.to_string(),
                    branch: b.to_string(),
                })
                .collect(),
            failures_to_confirm: 1,
            auto_unblock_on_recovery: false,
            infer_scopes: false,
            suspects: Default::default(),
            max_silence: None,
        };
        config.jobs = vec![
            job("a", &[("o/r", "main"), ("o/r", "dev")]),
            job("b", &[("o/r", "main")]),
        ];
        let params = params_from_config(&config);
        assert_eq!(params.scopes, [scope("o/r", "main"), scope("o/r", "dev")]);
        assert_eq!(params.label, config.label);
        assert_eq!(params.blocker_label, "tide/merge-blocker");
    }

    #[test]
    fn tide_js_with_nulls_and_unknown_fields() {
        assert!(parse_tide_js(b"{}").unwrap().is_empty());
        assert!(parse_tide_js(br#"{"Pools": null}"#).unwrap().is_empty());
        let pools = parse_tide_js(
            br#"{"Queries": [], "Pools": [{"Org": "o", "Repo": "r", "Branch": "main",
                "SuccessPRs": [{"Number": 1, "Title": "a"}], "PendingPRs": [{"Number": 2}],
                "MissingPRs": null, "BatchPending": [{"Number": 3}], "Action": "BLOCKED",
                "Blockers": [{"Number": 9, "Title": "x", "URL": "u"}], "New": 1}]}"#,
        )
        .unwrap();
        assert_eq!(pools.len(), 1);
        assert_eq!(pools[0].prs, [1, 2, 3]);
        assert_eq!(pools[0].blockers, [9]);
        assert_eq!(pools[0].action, "BLOCKED");
        assert!(parse_tide_js(b"<html>").is_err());
    }

    #[test]
    fn ready_rule_falls_back_to_ready_labels() {
        let mut state = crate::bus::tide::TideState::default();
        let labels = vec!["lgtm".to_string()];
        assert!(
            state
                .ready_rule(&scope("o/r", "main"), &labels)
                .is_ready(&["lgtm"])
        );
        state.prow = Some(ProwTide {
            queries: vec![TideQuery {
                repos: vec!["o/r".into()],
                labels: vec!["approved".into()],
                ..TideQuery::default()
            }],
            blocker_label: String::new(),
        });
        let rule = state.ready_rule(&scope("o/r", "main"), &labels);
        assert!(!rule.is_ready(&["lgtm"]));
        assert!(rule.is_ready(&["approved"]));
    }
}
