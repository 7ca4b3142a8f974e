//! The GCS resolver: reads a run's `started.json` / `finished.json` (Prow's pod-utils
//! metadata) under `{gcs.url}/{bucket}/logs/{job}/{build}/` to learn the tested commit,
//! the start time and the result, and lists a job's builds for the start-up backfill.
//!
//! `sources.gcs.url` is the base of both GCS forms: objects at `{url}/{bucket}/{path}` and
//! listings at `{url}/storage/v1/b/{bucket}/o?prefix=..&delimiter=/`; a `gs://bucket/path`
//! from Prow maps onto `{url}/bucket/path`. Missing artifacts are not an error: the run
//! keeps what it has and the gap is logged.
//!
//! [`Enricher`] is the one way every channel (Deck, Gangway, Pub/Sub pull and push, the
//! gRPC `Results` API) fills a run from GCS before it is queued.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

use crate::Config;
use crate::config::{GcsSource, JobConfig};
use crate::gcs_auth::{Credentials, TokenSource};
use crate::model::{BuildId, Channel, CommitSha, JobName, RepoName, Run, RunResult, Timestamp};
use crate::prow::junit;

/// Per-request timeout for GCS reads.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest metadata file read (`started.json` and `finished.json` are a few hundred bytes).
const MAX_METADATA_BYTES: usize = 1 << 20;

/// Largest listing page read.
const MAX_LISTING_BYTES: usize = 8 << 20;

/// Pages of a listing followed at most.
const MAX_LISTING_PAGES: usize = 100;

/// `started.json` as Prow's pod-utils write it (older and newer forms).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Started {
    pub timestamp: Option<i64>,
    /// The primary repo's tested commit.
    #[serde(rename = "repo-commit")]
    pub repo_commit: String,
    /// `{"org/repo": "branch:sha,pr:sha,..."}`.
    pub repos: BTreeMap<String, String>,
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// `finished.json`: `passed` (newer) or `result` (older).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Finished {
    pub timestamp: Option<i64>,
    pub passed: Option<bool>,
    pub result: String,
}

impl Finished {
    /// The run's result as the artifacts tell it.
    pub fn result(&self) -> Option<RunResult> {
        match self.passed {
            Some(true) => Some(RunResult::Success),
            Some(false) => Some(RunResult::Failure),
            None => match self.result.to_ascii_uppercase().as_str() {
                "SUCCESS" => Some(RunResult::Success),
                "FAILURE" | "FAILED" => Some(RunResult::Failure),
                "ABORTED" => Some(RunResult::Aborted),
                "ERROR" => Some(RunResult::Error),
                _ => None,
            },
        }
    }
}

/// Maps Go import paths Prow used in old metadata (`k8s.io/kubernetes`) to `org/repo`.
fn repo_name(key: &str) -> Option<RepoName> {
    let key = key.strip_prefix("github.com/").unwrap_or(key);
    let key = match key.strip_prefix("k8s.io/") {
        Some(rest) => format!("kubernetes/{rest}"),
        None => key.to_string(),
    };
    RepoName::parse(&key).ok()
}

/// The sha in a `repos` value (`branch:sha,pr:sha`): the base ref's; junk is unknown.
fn base_sha(value: &str) -> Option<CommitSha> {
    crate::core::scopes::tested_commit(value)
}

impl Started {
    /// The tested commit per repo. `repos` entries with a sha win; `repo-commit` is the
    /// primary repo's (the first of `repos`, else `primary`, the job's first scope repo);
    /// `metadata`'s `repos` / `repo-commit` are the older places for the same.
    pub fn commits(&self, primary: Option<&RepoName>) -> BTreeMap<RepoName, CommitSha> {
        let mut out = BTreeMap::new();
        let meta_repos: BTreeMap<String, String> = self
            .metadata
            .get("repos")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let repos = if self.repos.is_empty() {
            &meta_repos
        } else {
            &self.repos
        };
        for (key, value) in repos {
            if let (Some(repo), Some(sha)) = (repo_name(key), base_sha(value)) {
                out.insert(repo, sha);
            }
        }
        let commit = if self.repo_commit.is_empty() {
            self.metadata
                .get("repo-commit")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
        } else {
            self.repo_commit.as_str()
        };
        let commit = commit.trim_matches(|c: char| c.is_ascii_whitespace());
        if crate::core::scopes::is_commit(commit) {
            let first = repos.keys().find_map(|k| repo_name(k));
            if let Some(repo) = first.or_else(|| primary.cloned()) {
                out.entry(repo).or_insert_with(|| CommitSha::new(commit));
            }
        }
        out
    }
}

/// A run's artifacts, each absent when GCS has none.
#[derive(Debug, Clone, Default)]
pub struct Artifacts {
    pub started: Option<Started>,
    pub finished: Option<Finished>,
}

/// Reads runs' artifacts from GCS (or anything serving its two URL forms), with the
/// bearer token of `sources.gcs.credentials_file` when one is configured.
#[derive(Clone)]
pub struct Gcs {
    http: reqwest::Client,
    base: String,
    bucket: String,
    tokens: TokenSource,
}

#[derive(Deserialize)]
struct Listing {
    #[serde(default)]
    prefixes: Vec<String>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

impl Gcs {
    /// A reader with credentials of its own, or `None` when `sources.gcs.url` is empty
    /// (tools and tests; the running plugin shares one source: [`Gcs::with_tokens`]).
    pub fn new(config: &GcsSource) -> anyhow::Result<Option<Self>> {
        if config.url.trim().is_empty() {
            return Ok(None);
        }
        let credentials =
            Credentials::from_config(config).context("sources.gcs.credentials_file")?;
        Self::with_tokens(config, &TokenSource::new(credentials)?)
    }

    /// A reader whose tokens come from `tokens` (shared with every other reader built
    /// from it), or `None` when `sources.gcs.url` is empty.
    pub fn with_tokens(config: &GcsSource, tokens: &TokenSource) -> anyhow::Result<Option<Self>> {
        if config.url.trim().is_empty() {
            return Ok(None);
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the GCS client")?;
        Ok(Some(Self {
            http,
            base: config.url.trim_end_matches('/').to_string(),
            bucket: config.bucket.clone(),
            tokens: tokens.clone(),
        }))
    }

    /// GETs `url` with the current token, if any; a 401 gets one new token and one retry.
    /// A 401 or 403 that remains is an error saying what the credentials lack.
    async fn send_get(&self, url: &str) -> anyhow::Result<reqwest::Response> {
        let token = self.tokens.token().await?;
        let mut response = self.get_with(url, token.as_deref()).await?;
        if response.status() == reqwest::StatusCode::UNAUTHORIZED
            && let Some(rejected) = token
        {
            let token = self.tokens.token_after_rejection(&rejected).await?;
            response = self.get_with(url, token.as_deref()).await?;
        }
        let status = response.status();
        let refused = match status {
            reqwest::StatusCode::UNAUTHORIZED | reqwest::StatusCode::FORBIDDEN
                if self.tokens.is_anonymous() =>
            {
                format!("{status}: the bucket is not public; set sources.gcs.credentials_file")
            }
            reqwest::StatusCode::UNAUTHORIZED => format!(
                "{status}: GCS refused the access token of {}",
                self.tokens.describe()
            ),
            reqwest::StatusCode::FORBIDDEN => format!(
                "{status}: the credentials lack storage read access \
                 (roles/storage.objectViewer on the bucket) of {}",
                self.tokens.describe()
            ),
            _ => {
                self.tokens.note_answered();
                return Ok(response);
            }
        };
        // Shared by every reader: `/healthz/ready` names it until a read gets through.
        self.tokens.note_refused(refused.clone());
        anyhow::bail!("GET {url}: {refused}")
    }

    async fn get_with(&self, url: &str, token: Option<&str>) -> anyhow::Result<reqwest::Response> {
        let mut request = self.http.get(url);
        if let Some(token) = token {
            let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}"))
                .context("access token is not a header value")?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        request.send().await.with_context(|| format!("GET {url}"))
    }

    /// `{url}/{bucket}/{path}`, or for `gs://b/p`, `{url}/b/p`.
    pub fn object_url(&self, path: &str) -> String {
        match path.strip_prefix("gs://") {
            Some(rest) => format!("{}/{}", self.base, rest.trim_end_matches('/')),
            None => format!("{}/{}/{}", self.base, self.bucket, path.trim_matches('/')),
        }
    }

    /// The run's directory: its `gcs_path` when known, else `logs/{job}/{build}`.
    fn run_dir(&self, run: &Run) -> String {
        if run.gcs_path.is_empty() {
            self.object_url(&format!("logs/{}/{}", run.job, run.build_id))
        } else {
            self.object_url(&run.gcs_path)
        }
    }

    /// Fetches a small JSON object; `None` when it does not exist.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        limit: usize,
    ) -> anyhow::Result<Option<T>> {
        let mut response = self.send_get(url).await?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !response.status().is_success() {
            anyhow::bail!("GET {url}: {}", response.status());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .with_context(|| format!("GET {url}"))?
        {
            if body.len() + chunk.len() > limit {
                anyhow::bail!("GET {url}: body larger than {limit} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map(Some)
            .with_context(|| format!("decoding {url}"))
    }

    /// Reads `started.json` and `finished.json` of `run`.
    pub async fn artifacts(&self, run: &Run) -> anyhow::Result<Artifacts> {
        let dir = self.run_dir(run);
        let started_url = format!("{dir}/started.json");
        let finished_url = format!("{dir}/finished.json");
        let (started, finished) = tokio::join!(
            self.get_json::<Started>(&started_url, MAX_METADATA_BYTES),
            self.get_json::<Finished>(&finished_url, MAX_METADATA_BYTES),
        );
        Ok(Artifacts {
            started: started?,
            finished: finished?,
        })
    }

    /// Fills `run`'s tested commits and missing times from its artifacts. Missing or
    /// unreadable artifacts leave the run as it is, and are logged.
    pub async fn enrich(&self, run: &mut Run, job: &JobConfig) {
        match self.artifacts(run).await {
            Ok(a) => apply(run, &a, job),
            Err(error) => tracing::warn!(job = %run.job, build = %run.build_id,
                error = format!("{error:#}"), "GCS artifacts unreadable; commits unknown"),
        }
    }

    /// Build ids under `logs/{job}/`, through the JSON listing API (following
    /// `nextPageToken`), falling back to `latest-build.txt`. Oldest first, by number.
    pub async fn list_builds(&self, job: &str) -> anyhow::Result<Vec<String>> {
        let prefix = format!("logs/{job}/");
        let mut builds = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LISTING_PAGES {
            let mut url =
                reqwest::Url::parse(&format!("{}/storage/v1/b/{}/o", self.base, self.bucket))
                    .context("listing URL")?;
            url.query_pairs_mut()
                .append_pair("prefix", &prefix)
                .append_pair("delimiter", "/");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let Some(page) = self
                .get_json::<Listing>(url.as_str(), MAX_LISTING_BYTES)
                .await?
            else {
                break;
            };
            builds.extend(page.prefixes.iter().filter_map(|p| {
                let build = p.strip_prefix(&prefix)?.trim_end_matches('/');
                (!build.is_empty() && build.chars().all(|c| c.is_ascii_digit()))
                    .then(|| build.to_string())
            }));
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        if builds.is_empty() {
            let url = self.object_url(&format!("{prefix}latest-build.txt"));
            let response = self.send_get(&url).await?;
            if response.status().is_success() {
                let text = response
                    .text()
                    .await
                    .with_context(|| format!("GET {url}"))?;
                let build = text.trim();
                if !build.is_empty() && build.chars().all(|c| c.is_ascii_digit()) {
                    builds.push(build.to_string());
                }
            }
        }
        builds.sort_by_key(|b| (b.len(), b.clone()));
        builds.dedup();
        Ok(builds)
    }

    /// The last `n` finished runs of `job` as GCS tells them, as channel `Gcs`. A build
    /// without `finished.json` (still running) or without a result is skipped.
    pub async fn backfill(&self, job: &JobConfig, n: usize) -> anyhow::Result<Vec<Run>> {
        let builds = self.list_builds(&job.name).await?;
        let mut runs = Vec::new();
        for build in builds.iter().rev().take(n).rev() {
            let mut run = Run {
                job: JobName::new(&job.name),
                build_id: BuildId::new(build.clone()),
                result: RunResult::Error,
                started_at: None,
                finished_at: None,
                url: String::new(),
                gcs_path: format!("gs://{}/logs/{}/{}", self.bucket, job.name, build),
                commits: Default::default(),
                channel: Channel::Gcs,
            };
            let artifacts = self.artifacts(&run).await?;
            let Some(result) = artifacts.finished.as_ref().and_then(Finished::result) else {
                tracing::debug!(job = %job.name, build, "no final result in GCS; skipped");
                continue;
            };
            run.result = result;
            apply(&mut run, &artifacts, job);
            runs.push(run);
        }
        Ok(runs)
    }
}

/// Fills a run from GCS the same way whichever channel brought it: its tested commits and
/// missing start and finish times from `started.json` / `finished.json`, never its result
/// nor what the channel already said. Without `sources.gcs.url` it leaves runs as they are.
#[derive(Clone)]
pub struct Enricher {
    gcs: Option<Gcs>,
    config: std::sync::Arc<Config>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("gcs", &self.gcs.as_ref().map(|g| g.base.as_str()))
            .finish()
    }
}

impl Enricher {
    /// The enricher of `config` (`sources.gcs`), reading with the plugin's one credential
    /// source `tokens`; a GCS client that cannot be built is logged and leaves runs as they
    /// are.
    pub fn new(config: &std::sync::Arc<Config>, tokens: &TokenSource) -> Self {
        let gcs = Gcs::with_tokens(&config.sources.gcs, tokens).unwrap_or_else(|error| {
            tracing::error!(
                error = format!("{error:#}"),
                "GCS resolver disabled: runs keep only what their channel says"
            );
            None
        });
        Self {
            gcs,
            config: config.clone(),
        }
    }

    /// The GCS reader, when configured (the start-up backfill reads through it).
    pub fn gcs(&self) -> Option<&Gcs> {
        self.gcs.as_ref()
    }

    /// Fills `run` from its artifacts (a run of a job that is not gated is left alone).
    /// Unreadable artifacts are logged; the run goes on with what it has.
    pub async fn enrich(&self, run: &mut Run) {
        if let (Some(gcs), Some(job)) = (&self.gcs, self.config.job(run.job.as_str())) {
            gcs.enrich(run, job).await;
        }
    }
}

/// Applies what the artifacts tell to `run` (never its result).
fn apply(run: &mut Run, artifacts: &Artifacts, job: &JobConfig) {
    let primary = job
        .scopes
        .first()
        .and_then(|s| RepoName::parse(&s.repo).ok());
    if let Some(started) = &artifacts.started {
        for (repo, sha) in started.commits(primary.as_ref()) {
            run.commits.entry(repo).or_insert(sha);
        }
        if run.started_at.is_none() {
            run.started_at = started.timestamp.map(Timestamp);
        }
    } else {
        tracing::info!(job = %run.job, build = %run.build_id, "no started.json; commit unknown");
    }
    if let Some(finished) = &artifacts.finished
        && run.finished_at.is_none()
    {
        run.finished_at = finished.timestamp.map(Timestamp);
    }
}

/// JUnit files of one run read at most (`artifacts/junit_01.xml` ..).
pub const MAX_JUNIT_FILES: usize = 20;

/// Response chunks buffered between the network and the JUnit parser, at most.
const JUNIT_CHUNKS_IN_FLIGHT: usize = 16;

/// A page of the JSON listing API's objects.
#[derive(Deserialize)]
struct ObjectListing {
    #[serde(default)]
    items: Vec<ObjectItem>,
    #[serde(default, rename = "nextPageToken")]
    next_page_token: Option<String>,
}

#[derive(Deserialize)]
struct ObjectItem {
    #[serde(default)]
    name: String,
}

/// A job name or build id usable as one path segment (what Prow writes: letters,
/// digits, `-`, `_`, `.`); anything else could point elsewhere in the bucket.
fn is_plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 256
        && s != "."
        && s != ".."
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// The failed tests of a run: its JUnit files, listed, streamed and merged.
impl Gcs {
    /// The failed testcases of run `build_id` of `job`, from the `junit*.xml` files
    /// directly under `logs/{job}/{build_id}/artifacts/` (at most [`MAX_JUNIT_FILES`],
    /// in listing order), each streamed through [`junit::parse_junit`] with the default
    /// [`junit::Limits`]. Never fails: no files, an unreadable listing or file, a
    /// truncated or malformed file are notes in the result.
    pub async fn failed_tests(&self, job: &str, build_id: &str) -> junit::FailedTests {
        self.failed_tests_with(job, build_id, &junit::Limits::default())
            .await
    }

    /// [`Gcs::failed_tests`] with other bounds.
    pub async fn failed_tests_with(
        &self,
        job: &str,
        build_id: &str,
        limits: &junit::Limits,
    ) -> junit::FailedTests {
        let mut out = junit::FailedTests::default();
        if !is_plain_segment(job) || !is_plain_segment(build_id) {
            out.note("the job or build id is not a plain name; junit files not read");
            return out;
        }
        let prefix = format!("logs/{job}/{build_id}/artifacts/");
        let (files, more) = match self.list_junit(&prefix).await {
            Ok(Some(listed)) => listed,
            Ok(None) => {
                out.note("no artifacts listing (404)");
                return out;
            }
            Err(e) => {
                out.note(format!("artifacts listing unreadable: {e:#}"));
                return out;
            }
        };
        if files.is_empty() {
            out.note("no junit files");
            return out;
        }
        if more {
            out.note(format!(
                "more than {MAX_JUNIT_FILES} junit files; the first {MAX_JUNIT_FILES} read"
            ));
        }
        for file in files {
            let url = self.object_url(&format!("{prefix}{file}"));
            match self.read_junit(&url, limits).await {
                Ok(parsed) => out.add_file(&file, parsed, limits),
                Err(e) => out.note(format!("{file} unreadable: {e:#}")),
            }
        }
        out
    }

    /// `junit*.xml` names directly under `prefix` (at most [`MAX_JUNIT_FILES`], and
    /// whether there were more); `None` when the listing is not found.
    async fn list_junit(&self, prefix: &str) -> anyhow::Result<Option<(Vec<String>, bool)>> {
        let mut files = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_LISTING_PAGES {
            let mut url =
                reqwest::Url::parse(&format!("{}/storage/v1/b/{}/o", self.base, self.bucket))
                    .context("listing URL")?;
            url.query_pairs_mut()
                .append_pair("prefix", prefix)
                .append_pair("delimiter", "/");
            if let Some(t) = &token {
                url.query_pairs_mut().append_pair("pageToken", t);
            }
            let Some(page) = self
                .get_json::<ObjectListing>(url.as_str(), MAX_LISTING_BYTES)
                .await?
            else {
                return Ok(None);
            };
            for item in page.items {
                let Some(file) = item.name.strip_prefix(prefix) else {
                    continue;
                };
                if file.starts_with("junit") && file.ends_with(".xml") && is_plain_segment(file) {
                    if files.len() == MAX_JUNIT_FILES {
                        return Ok(Some((files, true)));
                    }
                    files.push(file.to_string());
                }
            }
            match page.next_page_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => break,
            }
        }
        Ok(Some((files, false)))
    }

    /// Streams one JUnit file through the parser on a blocking thread, fed by a bounded
    /// channel of response chunks; the parser's byte cap ends the download too.
    async fn read_junit(
        &self,
        url: &str,
        limits: &junit::Limits,
    ) -> anyhow::Result<junit::JunitFile> {
        // With the configured credentials, as every GCS read.
        let mut response = self.send_get(url).await?;
        if !response.status().is_success() {
            anyhow::bail!("{}", response.status());
        }
        let (tx, reader) = crate::prow::deck::ChannelReader::new(JUNIT_CHUNKS_IN_FLIGHT);
        let limits = *limits;
        let parser = tokio::task::spawn_blocking(move || junit::parse_junit(reader, &limits));
        loop {
            let chunk = match response.chunk().await {
                Ok(Some(chunk)) => chunk,
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    break;
                }
            };
            if tx.send(Ok(chunk)).await.is_err() {
                break; // the parser stopped (cap reached or bad XML): its notes tell why
            }
        }
        drop(tx);
        parser.await.context("junit parser task")
    }
}

#[cfg(test)]
mod junit_tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::Router;
    use axum::extract::{Request, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
    const BUILD: &str = "1861000000000000001";

    /// A fake GCS: objects at `/{bucket}/{path}`, the JSON listing API (one object per
    /// page, to follow `nextPageToken`), an endless object, and a count of object reads.
    #[derive(Clone, Default)]
    struct FakeGcs {
        objects: Arc<BTreeMap<String, String>>,
        /// Listed but not served (a 404 on read).
        missing: Arc<Vec<String>>,
        listing_fails: bool,
        reads: Arc<AtomicUsize>,
    }

    async fn handler(State(gcs): State<FakeGcs>, req: Request) -> axum::response::Response {
        let path = req.uri().path().trim_start_matches('/').to_string();
        if let Some(bucket) = path
            .strip_prefix("storage/v1/b/")
            .and_then(|p| p.strip_suffix("/o"))
        {
            if gcs.listing_fails {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            let query: BTreeMap<String, String> =
                reqwest::Url::parse(&format!("http://x/?{}", req.uri().query().unwrap_or("")))
                    .unwrap()
                    .query_pairs()
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            assert_eq!(query["delimiter"], "/");
            let prefix = &query["prefix"];
            let names: Vec<String> = gcs
                .objects
                .keys()
                .chain(gcs.missing.iter())
                .filter_map(|k| k.strip_prefix(&format!("{bucket}/")))
                .filter(|k| {
                    k.strip_prefix(prefix.as_str())
                        .is_some_and(|r| !r.contains('/'))
                })
                .map(String::from)
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let page: usize = query.get("pageToken").map_or(0, |t| t.parse().unwrap());
            let mut body = serde_json::json!({"kind": "storage#objects",
                "items": names.get(page).map(|n| vec![serde_json::json!({"name": n, "size": "1"})])
                    .unwrap_or_default()});
            if page + 1 < names.len() {
                body["nextPageToken"] = (page + 1).to_string().into();
            }
            return axum::Json(body).into_response();
        }
        gcs.reads.fetch_add(1, Ordering::SeqCst);
        if path.ends_with("junit_endless.xml") {
            // Declares 1 GB and would send it all: the parser's cap ends it.
            let head = futures::stream::once(async {
                Ok::<_, std::io::Error>(bytes::Bytes::from_static(
                    b"<testsuites><testsuite><testcase name=\"first\"><failure/></testcase>",
                ))
            });
            let rest = futures::stream::repeat_with(|| {
                Ok(bytes::Bytes::from_static(
                    b"<testcase name=\"t\"><skipped/></testcase>\n",
                ))
            });
            let body = axum::body::Body::from_stream(futures::StreamExt::chain(head, rest));
            return ([("content-length", "1000000000")], body).into_response();
        }
        match gcs.objects.get(&path) {
            Some(body) => body.clone().into_response(),
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }

    async fn start(fake: FakeGcs) -> Gcs {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().fallback(handler).with_state(fake);
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Gcs::new(&GcsSource {
            url: format!("http://{addr}"),
            bucket: "kubernetes-ci-logs".into(),
            ..GcsSource::default()
        })
        .unwrap()
        .unwrap()
    }

    fn object(file: &str) -> String {
        format!("kubernetes-ci-logs/logs/{JOB}/{BUILD}/artifacts/{file}")
    }

    fn junit(cases: &[(&str, bool)]) -> String {
        let body: String = cases
            .iter()
            .map(|(name, failed)| {
                let inner = if *failed {
                    r#"<failure type="Failure">timed out waiting for the condition</failure>"#
                } else {
                    "<system-out>ok</system-out>"
                };
                format!(
                    r#"<testcase classname="Kubernetes e2e suite" name="{name}" time="1">{inner}</testcase>"#
                )
            })
            .collect();
        format!(r#"<?xml version="1.0"?><testsuite name="Kubernetes e2e suite">{body}</testsuite>"#)
    }

    #[tokio::test]
    async fn reads_and_merges_the_junit_files_of_a_run() {
        let load = "[sig-scalability] Load capacity [Feature:Performance] load testing";
        let objects = BTreeMap::from([
            (
                object("junit_01.xml"),
                junit(&[(load, true), ("passes", false)]),
            ),
            (
                object("junit_02.xml"),
                junit(&[("[sig-api] b", true), (load, true)]),
            ),
            (
                object("junit_bad.xml"),
                "<testsuite><testcase name=\"cut\"><failure>".into(),
            ),
            (object("build-log.txt"), "not junit".into()),
            (object("nested/junit_99.xml"), junit(&[("nested", true)])),
            (
                format!("kubernetes-ci-logs/logs/{JOB}/{BUILD}/junit_00.xml"),
                junit(&[("up", true)]),
            ),
        ]);
        let fake = FakeGcs {
            objects: Arc::new(objects),
            missing: Arc::new(vec![object("junit_03.xml")]),
            ..FakeGcs::default()
        };
        let gcs = start(fake.clone()).await;
        let got = gcs.failed_tests(JOB, BUILD).await;
        assert_eq!(got.names, vec![load, "[sig-api] b", "cut"]);
        assert_eq!(got.total_failed, 4);
        assert_eq!(got.files_read, 3);
        assert_eq!(got.notes.len(), 2, "{:?}", got.notes);
        assert_eq!(got.notes[0], "junit_03.xml unreadable: 404 Not Found");
        assert!(
            got.notes[1].starts_with("junit_bad.xml: the file ends inside an open element"),
            "{:?}",
            got.notes
        );
        // Only the four junit files directly under artifacts/ were fetched.
        assert_eq!(fake.reads.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn no_files_or_no_listing_are_notes() {
        let gcs = start(FakeGcs::default()).await;
        let got = gcs.failed_tests(JOB, BUILD).await;
        assert_eq!(
            got,
            junit::FailedTests {
                notes: vec!["no junit files".into()],
                ..Default::default()
            }
        );
        let gcs = start(FakeGcs {
            listing_fails: true,
            ..FakeGcs::default()
        })
        .await;
        let got = gcs.failed_tests(JOB, BUILD).await;
        assert_eq!(got.files_read, 0);
        assert!(
            got.notes[0].starts_with("artifacts listing unreadable:")
                && got.notes[0].contains("500"),
            "{:?}",
            got.notes
        );
    }

    #[tokio::test]
    async fn at_most_twenty_files_are_read() {
        let objects = (1..=25)
            .map(|i| {
                (
                    object(&format!("junit_{i:02}.xml")),
                    junit(&[(&format!("t{i:02}"), true)]),
                )
            })
            .collect();
        let fake = FakeGcs {
            objects: Arc::new(objects),
            ..FakeGcs::default()
        };
        let gcs = start(fake.clone()).await;
        let got = gcs.failed_tests(JOB, BUILD).await;
        assert_eq!(got.files_read, 20);
        assert_eq!(got.total_failed, 20);
        assert_eq!(got.names.first().map(String::as_str), Some("t01"));
        assert_eq!(got.names.last().map(String::as_str), Some("t20"));
        assert_eq!(
            got.notes,
            vec!["more than 20 junit files; the first 20 read".to_string()]
        );
        assert_eq!(fake.reads.load(Ordering::SeqCst), 20);
    }

    #[tokio::test]
    async fn an_endless_file_is_capped() {
        let fake = FakeGcs {
            missing: Arc::new(vec![object("junit_endless.xml")]),
            ..FakeGcs::default()
        };
        let gcs = start(fake).await;
        let limits = junit::Limits {
            max_bytes: 2 << 20,
            ..junit::Limits::default()
        };
        let got = gcs.failed_tests_with(JOB, BUILD, &limits).await;
        assert_eq!(got.names, vec!["first"]);
        assert_eq!(got.total_failed, 1);
        assert_eq!(
            got.notes,
            vec!["junit_endless.xml: truncated at 2 MiB".to_string()]
        );
    }

    #[tokio::test]
    async fn odd_job_or_build_ids_are_not_read() {
        let fake = FakeGcs::default();
        let gcs = start(fake.clone()).await;
        for (job, build) in [
            (JOB, "../../other"),
            ("a/b", BUILD),
            (JOB, ""),
            ("..", BUILD),
        ] {
            let got = gcs.failed_tests(job, build).await;
            assert_eq!(got.files_read, 0);
            assert!(got.notes[0].contains("not a plain name"), "{:?}", got.notes);
        }
        assert_eq!(fake.reads.load(Ordering::SeqCst), 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(json: &str) -> Started {
        serde_json::from_str(json).unwrap()
    }

    fn k8s() -> RepoName {
        RepoName::new("kubernetes", "kubernetes")
    }

    #[test]
    fn commit_from_repo_commit_goes_to_the_primary_repo() {
        let s = started(r#"{"timestamp":1700000000,"repo-commit":"abc123","node":"n"}"#);
        let c = s.commits(Some(&k8s()));
        assert_eq!(c.get(&k8s()).unwrap().as_str(), "abc123");
        assert_eq!(s.timestamp, Some(1700000000));
    }

    #[test]
    fn commits_from_repos_map() {
        let s = started(
            r#"{"timestamp":1,"repos":{"kubernetes/kubernetes":"master:abc,123:def",
                "kubernetes/perf-tests":"master:fff"}}"#,
        );
        let c = s.commits(None);
        assert_eq!(c.get(&k8s()).unwrap().as_str(), "abc");
        assert_eq!(
            c.get(&RepoName::new("kubernetes", "perf-tests"))
                .unwrap()
                .as_str(),
            "fff"
        );
    }

    #[test]
    fn repos_without_sha_take_repo_commit() {
        let s = started(
            r#"{"timestamp":1,"repos":{"kubernetes/kubernetes":"master"},"repo-commit":"abc"}"#,
        );
        assert_eq!(s.commits(None).get(&k8s()).unwrap().as_str(), "abc");
    }

    #[test]
    fn old_metadata_form() {
        let s = started(
            r#"{"timestamp":1,"metadata":{"repos":{"k8s.io/kubernetes":"master:abc"},
                "repo-commit":"abc"}}"#,
        );
        assert_eq!(s.commits(None).get(&k8s()).unwrap().as_str(), "abc");
    }

    #[test]
    fn finished_passed_and_older_result() {
        let f: Finished = serde_json::from_str(r#"{"timestamp":2,"passed":false}"#).unwrap();
        assert_eq!(f.result(), Some(RunResult::Failure));
        let f: Finished = serde_json::from_str(r#"{"result":"SUCCESS"}"#).unwrap();
        assert_eq!(f.result(), Some(RunResult::Success));
        let f: Finished = serde_json::from_str(r#"{"timestamp":2}"#).unwrap();
        assert_eq!(f.result(), None);
    }

    #[test]
    fn gs_paths_map_onto_the_base_url() {
        let g = Gcs::new(&GcsSource {
            url: "http://127.0.0.1:1/".into(),
            bucket: "b".into(),
            ..GcsSource::default()
        })
        .unwrap()
        .unwrap();
        assert_eq!(
            g.object_url("gs://other/logs/j/1/"),
            "http://127.0.0.1:1/other/logs/j/1"
        );
        assert_eq!(g.object_url("logs/j/1"), "http://127.0.0.1:1/b/logs/j/1");
        assert!(Gcs::new(&GcsSource::default()).unwrap().is_some());
        let off = GcsSource {
            url: String::new(),
            ..GcsSource::default()
        };
        assert!(Gcs::new(&off).unwrap().is_none());
    }
}
