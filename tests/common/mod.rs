//! Shared test harness: a plugin running in-process on ephemeral ports with a real sled
//! store in a temporary directory, the one [`eventually`] every wait goes through, a
//! [`World`] of a fake GitHub with its token, HMAC and store files, and the path of the
//! shared real-data fixtures.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]

mod binary;
mod eventually;
mod world;

use std::path::PathBuf;

use scalability_gate::Bound;
use scalability_gate::config::{Config, JobConfig};
use scalability_gate::github::client::{Client, ClientOptions};
use scalability_gate::github::fake::FakeGithub;
use tokio::sync::oneshot;

#[allow(
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]
pub use binary::Binary;
pub use eventually::{TIMEOUT, eventually};
#[allow(
    unused_imports,
    reason = "each test binary uses a different part of the harness"
)]
pub use world::{BLOCKER, LABEL, REPO, World, comment_payload};

/// The real fixtures in `../shared/fixtures`. Missing under `CI=true` fails the test; a
/// developer without them gets `None` and the test says it skipped.
pub fn shared_fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures");
    if dir.is_dir() {
        return Some(dir);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{} is missing, and CI=true requires it", dir.display());
    }
    eprintln!("skipping: {} is missing", dir.display());
    None
}

/// The gRPC API token of [`test_config`] (`api.token_file` is `test-grpc-api-token` next to the HMAC
/// file).
pub const API_TOKEN: &str = "test-api-token";

/// `request` with `authorization: Bearer <token>`, as a gRPC write needs.
pub fn bearer<T>(request: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(request);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ASCII token"),
    );
    request
}

/// A config for tests: every listener on 127.0.0.1:0, no result source, one job, and the
/// gRPC API token [`API_TOKEN`] written next to the HMAC file.
pub fn test_config(store: &std::path::Path, hmac_file: &std::path::Path) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        health_listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        grpc_listen: "127.0.0.1:0".parse().unwrap(),
        hmac_secret_file: hmac_file.to_path_buf(),
        store_path: store.to_path_buf(),
        jobs: vec![JobConfig::new(
            "ci-kubernetes-e2e-gce-scale-performance-100",
            "kubernetes/kubernetes",
            "master",
        )],
        ..Config::default()
    };
    c.sources.deck.url = String::new();
    c.sources.gcs.url = String::new();
    let token = hmac_file.with_file_name("test-grpc-api-token");
    std::fs::write(&token, format!("{API_TOKEN}\n")).expect("API token file written");
    c.api.token_file = token.display().to_string();
    c
}

/// A running plugin; dropping it does not stop it, [`Plugin::stop`] does.
pub struct Plugin {
    pub bound: Bound,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Plugin {
    /// Starts the plugin and waits until every listener is up.
    pub async fn start(config: Config) -> Plugin {
        Self::start_with_clock(config, scalability_gate::clock::Clock::system()).await
    }

    /// As [`Plugin::start`], with the plugin's one clock given (a test moves time on with
    /// `Clock::from_fn`).
    pub async fn start_with_clock(config: Config, clock: scalability_gate::clock::Clock) -> Plugin {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (bound_tx, bound_rx) = oneshot::channel::<Bound>();
        let task = tokio::spawn(scalability_gate::run_with_clock(
            config,
            clock,
            async move {
                let _ = stop_rx.await;
            },
            move |b| {
                let _ = bound_tx.send(b);
            },
        ));
        let mut task = task;
        let bound = match tokio::time::timeout(TIMEOUT, bound_rx)
            .await
            .expect("plugin started in time")
        {
            Ok(bound) => bound,
            // The plugin stopped before binding: say why.
            Err(_) => match (&mut task).await {
                Ok(Err(error)) => panic!("plugin failed to start: {error:#}"),
                other => panic!("plugin failed to start: {other:?}"),
            },
        };
        Plugin {
            bound,
            stop: Some(stop_tx),
            task,
        }
    }

    /// `http://127.0.0.1:PORT` of the main listener.
    pub fn url(&self) -> String {
        format!("http://{}", self.bound.listen)
    }

    /// The text of `GET /metrics`, which must answer 200.
    pub async fn metrics(&self) -> String {
        let url = format!("http://{}/metrics", self.bound.metrics);
        let response = reqwest::get(&url).await.expect("/metrics answered");
        assert_eq!(response.status(), 200, "{url}");
        response.text().await.expect("/metrics read")
    }

    /// The status of `GET /healthz/ready`.
    pub async fn readiness(&self) -> u16 {
        reqwest::get(format!("http://{}/healthz/ready", self.bound.health))
            .await
            .expect("readiness answered")
            .status()
            .as_u16()
    }

    /// Stops the plugin and waits for a clean exit.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        tokio::time::timeout(TIMEOUT, &mut self.task)
            .await
            .expect("plugin stopped in time")
            .expect("plugin task")
            .expect("plugin exited cleanly");
    }
}

/// `sha256=<hex>` of `body` under `key`, as GitHub signs webhooks.
pub fn sign_sha256(key: &str, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs a webhook to `{url}/hook` as Prow's hook does, signed with `key`; returns the
/// status.
pub async fn post_webhook(url: &str, key: &str, event: &str, delivery: &str, body: &[u8]) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/hook"))
        .header("X-GitHub-Event", event)
        .header("X-GitHub-Delivery", delivery)
        .header("X-Hub-Signature-256", sign_sha256(key, body))
        .header("Content-Type", "application/json")
        .header("User-Agent", "ProwHook")
        .body(body.to_vec())
        .send()
        .await
        .expect("webhook sent")
        .status()
        .as_u16()
}

/// Reports run `build` of `job` through the Results gRPC API at `grpc` (`host:port`):
/// started at hour `build` after a fixed time, finished half an hour later.
pub async fn report_run(grpc: &str, job: &str, build: u64, result: &str) {
    report_run_started(
        grpc,
        job,
        build,
        result,
        1_790_000_000 + build as i64 * 3600,
    )
    .await;
}

/// Reports run `build` of `job` (`result`) that started at `started` (Unix seconds) and
/// took half an hour, through gRPC `ReportJobResult` with the API token.
pub async fn report_run_started(grpc: &str, job: &str, build: u64, result: &str, started: i64) {
    report_run_tested(grpc, job, build, result, started, &[]).await;
}

/// As [`report_run_started`], with the commits the run tested (`("org/repo", "sha")`).
pub async fn report_run_tested(
    grpc: &str,
    job: &str,
    build: u64,
    result: &str,
    started: i64,
    commits: &[(&str, &str)],
) {
    use scalability_gate::pb::scalability_gate::v1::ReportJobResultRequest;
    use scalability_gate::pb::scalability_gate::v1::results_client::ResultsClient;
    let mut client = ResultsClient::connect(format!("http://{grpc}"))
        .await
        .unwrap();
    client
        .report_job_result(bearer(
            ReportJobResultRequest {
                job_name: job.into(),
                build_id: build.to_string(),
                result: result.into(),
                started_at: started,
                finished_at: started + 1800,
                url: format!("https://prow.example/view/{build}"),
                gcs_path: String::new(),
                commits: commits
                    .iter()
                    .map(|(repo, sha)| (repo.to_string(), sha.to_string()))
                    .collect(),
            },
            API_TOKEN,
        ))
        .await
        .unwrap();
}

/// A GitHub client of `fake` as the tests build it: the default policy but a short backoff
/// and no per-request timeout (paused-time tests would otherwise jump to it while waiting
/// on a socket); `adjust` changes the rest.
pub fn github_client(fake: &FakeGithub, adjust: impl FnOnce(&mut ClientOptions)) -> Client {
    let mut options = ClientOptions::new(vec![fake.url()], Some(fake.token()));
    options.backoff_base = std::time::Duration::from_millis(10);
    options.backoff_max = std::time::Duration::from_millis(100);
    options.request_timeout = None;
    adjust(&mut options);
    Client::new(options).expect("a client of the fake GitHub")
}
