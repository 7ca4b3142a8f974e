//! The Pub/Sub pull source against the real Pub/Sub emulator of the Google Cloud CLI
//! (`gcloud beta emulators pubsub start`). Each test starts its own emulator on a free
//! port and kills its process group at the end, panics included. Where the emulator is
//! not installed the tests say so and skip, except under `CI=true`, where they fail.

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Plugin, eventually, test_config};
use scalability_gate::Store;
use scalability_gate::model::{Channel, JobName, RunResult};
use serde_json::{Value, json};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const PROJECT: &str = "sgtest";

/// The emulator, killed with its whole process group (gcloud's Python and the JVM) on drop.
struct Emulator {
    child: Child,
    host: String,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts the emulator and waits until it answers; `None` (skip) when the Google
    /// Cloud CLI or its emulator is missing and `CI` is not `true`.
    async fn start() -> Option<Emulator> {
        let missing = |why: String| -> Option<Emulator> {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the Pub/Sub emulator is required under CI=true: {why}");
            }
            eprintln!("skipping: Pub/Sub emulator not available: {why}");
            None
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let host = format!("127.0.0.1:{port}");
        let dir = tempfile::tempdir().unwrap();
        let log = std::fs::File::create(dir.path().join("emulator.log")).unwrap();
        let spawned = {
            use std::os::unix::process::CommandExt;
            Command::new("gcloud")
                .args(["beta", "emulators", "pubsub", "start"])
                .arg(format!("--host-port={host}"))
                .arg(format!("--project={PROJECT}"))
                .env("CLOUDSDK_CORE_DISABLE_PROMPTS", "1")
                .env("CLOUDSDK_CONFIG", dir.path().join("gcloud"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
        };
        let child = match spawned {
            Ok(child) => child,
            Err(error) => return missing(format!("cannot run gcloud: {error}")),
        };
        let mut emulator = Emulator {
            child,
            host,
            http: reqwest::Client::new(),
            _dir: dir,
        };
        let started = Instant::now();
        loop {
            if let Ok(r) = emulator.http.get(emulator.url("/")).send().await
                && r.status().is_success()
            {
                break;
            }
            if let Some(status) = emulator.child.try_wait().unwrap() {
                let log = emulator.log();
                return missing(format!("emulator exited with {status}: {log}"));
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "emulator not up within 60 s: {}",
                emulator.log()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        eprintln!("pubsub emulator up in {:?}", started.elapsed());
        Some(emulator)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("emulator.log")).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.host)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let r = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn create_topic(&self, topic: &str) {
        let path = format!("/v1/projects/{PROJECT}/topics/{topic}");
        self.call(reqwest::Method::PUT, &path, json!({})).await;
    }

    async fn create_subscription(&self, subscription: &str, topic: &str, extra: Value) {
        let mut body = json!({
            "topic": format!("projects/{PROJECT}/topics/{topic}"),
            "ackDeadlineSeconds": 10,
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let path = format!("/v1/projects/{PROJECT}/subscriptions/{subscription}");
        self.call(reqwest::Method::PUT, &path, body).await;
    }

    /// Publishes each payload as one message's data; returns the message ids.
    async fn publish(&self, topic: &str, payloads: &[Vec<u8>]) -> Vec<String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let messages: Vec<Value> = payloads
            .iter()
            .map(|p| json!({"data": b64.encode(p)}))
            .collect();
        let path = format!("/v1/projects/{PROJECT}/topics/{topic}:publish");
        let answer = self
            .call(reqwest::Method::POST, &path, json!({"messages": messages}))
            .await;
        answer["messageIds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    /// Sets the ack deadline of these messages to zero, so that any not acknowledged is
    /// delivered again at once (the emulator's ack ids are `SUBSCRIPTION:MESSAGE_ID`).
    async fn release(&self, subscription: &str, message_ids: &[String]) {
        let name = format!("projects/{PROJECT}/subscriptions/{subscription}");
        let ack_ids: Vec<String> = message_ids
            .iter()
            .map(|id| format!("{name}:{id}"))
            .collect();
        let path = format!("/v1/{name}:modifyAckDeadline");
        self.call(
            reqwest::Method::POST,
            &path,
            json!({"ackIds": ack_ids, "ackDeadlineSeconds": 0}),
        )
        .await;
    }

    /// A REST pull that does not wait: what the subscription would deliver now.
    async fn pull_now(&self, subscription: &str) -> Vec<Value> {
        let path = format!("/v1/projects/{PROJECT}/subscriptions/{subscription}:pull");
        let answer = self
            .call(
                reqwest::Method::POST,
                &path,
                json!({"maxMessages": 100, "returnImmediately": true}),
            )
            .await;
        answer["receivedMessages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// crier's Pub/Sub `ReportMessage` for one state of one run.
fn report(job: &str, build: u64, status: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "project": PROJECT,
        "topic": "crier",
        "runid": format!("run-{build}"),
        "status": status,
        "url": format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{job}/{build}"),
        "gcs_path": format!("gs://kubernetes-ci-logs/logs/{job}/{build}"),
        "refs": [],
        "job_type": "periodic",
        "job_name": job,
    }))
    .unwrap()
}

/// Everything the plugins of this test binary log, as JSON lines.
fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .json()
            .with_env_filter("info,scalability_gate=debug")
            .with_writer(move || LogWriter(writer.clone()))
            .init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Log lines (parsed) whose message contains `text`.
fn log_lines(text: &str) -> Vec<Value> {
    let bytes = logs().lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.contains(text))
        })
        .collect()
}

fn config(
    store: &Path,
    hmac: &Path,
    emulator: &Emulator,
    subscription: &str,
) -> scalability_gate::Config {
    let mut config = test_config(store, hmac);
    config.sources.pubsub.subscription = format!("projects/{PROJECT}/subscriptions/{subscription}");
    config.sources.pubsub.emulator_host = emulator.host.clone();
    config
}

/// Runs the consumer has applied so far (from its log), as `(build, result)`.
fn runs_applied() -> Vec<(String, String)> {
    log_lines("run applied")
        .iter()
        .map(|v| {
            (
                v["fields"]["build"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["fields"]["result"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

/// Whether the consumer has applied runs with all these build ids.
fn applied(builds: &[&str]) -> bool {
    let done = runs_applied();
    builds
        .iter()
        .all(|b| done.iter().any(|(build, _)| build == b))
}

/// The job's stored history, read from the store on disk once the plugin has stopped.
fn stored_history(store: &Path) -> Vec<(String, RunResult, Channel)> {
    let store = Store::open(store).unwrap();
    store
        .runs(&JobName::new(JOB))
        .unwrap()
        .into_iter()
        .map(|r| (r.build_id.0, r.result, r.channel))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_subscription_stores_finished_runs_and_drops_malformed_messages() {
    let _ = logs();
    let Some(emulator) = Emulator::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret").unwrap();
    let store = dir.path().join("store");

    // The plugin starts before the subscription exists: it retries with backoff until it
    // can pull.
    let plugin = Plugin::start(config(&store, &hmac, &emulator, "crier-pull")).await;
    eventually("a failed pull attempt", || {
        !log_lines("pubsub: cannot pull").is_empty()
    })
    .await;
    emulator.create_topic("crier").await;
    emulator
        .create_subscription("crier-pull", "crier", json!({}))
        .await;

    let ids = emulator
        .publish(
            "crier",
            &[
                report(JOB, 100, "pending"),
                report(JOB, 100, "success"),
                b"this is not JSON".to_vec(),
                report("ci-not-gated", 7, "failure"),
                report(JOB, 101, "success"),
                br#"{"status": "failure", "job_name": ["not", "a", "name"]}"#.to_vec(),
                report(JOB, 102, "failure"),
            ],
        )
        .await;
    let (not_json, not_report) = (ids[2].clone(), ids[5].clone());

    eventually("three runs applied", || applied(&["100", "101", "102"])).await;
    eventually("the malformed messages logged", || {
        let lines = log_lines("does not decode");
        [&not_json, &not_report]
            .iter()
            .all(|id| lines.iter().any(|l| l["fields"]["message_id"] == **id))
    })
    .await;
    plugin.stop().await;

    let pull = Channel::PubsubPull;
    assert_eq!(
        stored_history(&store),
        vec![
            ("100".to_string(), RunResult::Success, pull),
            ("101".to_string(), RunResult::Success, pull),
            ("102".to_string(), RunResult::Failure, pull),
        ]
    );
    // Everything was acknowledged, even what never decodes: once every message is
    // released, only an unacknowledged control message published now comes back.
    let control = emulator
        .publish("crier", &[report(JOB, 103, "success")])
        .await;
    let all: Vec<String> = ids.iter().chain(&control).cloned().collect();
    let again = eventually("the control message", async || {
        // Released again on each round: the emulator may still hand messages to the
        // plugin's closing stream for a moment.
        emulator.release("crier-pull", &all).await;
        let pulled = emulator.pull_now("crier-pull").await;
        (!pulled.is_empty()).then_some(pulled)
    })
    .await;
    let mut again: Vec<&str> = again
        .iter()
        .map(|m| m["message"]["messageId"].as_str().unwrap())
        .collect();
    again.sort();
    assert_eq!(again, vec![control[0].as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_subscription_delivers_to_the_plugin() {
    let _ = logs();
    let Some(emulator) = Emulator::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret").unwrap();
    let token = dir.path().join("push-token");
    std::fs::write(&token, "push-s3cret\n").unwrap();
    let store = dir.path().join("store");
    let mut config = test_config(&store, &hmac);
    config.sources.pubsub_push.token_file = token.to_string_lossy().into_owned();
    let plugin = Plugin::start(config).await;

    emulator.create_topic("crier").await;
    let endpoint = format!("{}/pubsub/push?token=push-s3cret", plugin.url());
    emulator
        .create_subscription(
            "crier-push",
            "crier",
            json!({"pushConfig": {"pushEndpoint": endpoint}}),
        )
        .await;
    emulator
        .publish(
            "crier",
            &[
                report(JOB, 200, "pending"),
                report(JOB, 200, "success"),
                report("ci-not-gated", 8, "success"),
                report(JOB, 201, "failure"),
            ],
        )
        .await;
    eventually("two pushed runs applied", || applied(&["200", "201"])).await;
    plugin.stop().await;

    let push = Channel::PubsubPush;
    // Pushes arrive concurrently; the store orders the history by time, then build id.
    assert_eq!(
        stored_history(&store),
        vec![
            ("200".to_string(), RunResult::Success, push),
            ("201".to_string(), RunResult::Failure, push),
        ]
    );
}

/// A fake GCS serving `started.json` / `finished.json` at `/{bucket}/logs/{job}/{build}/`
/// (what `gs://bucket/...` paths map onto); anything else is 404, as GCS answers.
async fn fake_gcs(objects: BTreeMap<String, String>) -> String {
    use axum::extract::{Request, State};
    use axum::response::IntoResponse;
    let objects = Arc::new(objects);
    let router = axum::Router::new()
        .fallback(
            |State(objects): State<Arc<BTreeMap<String, String>>>, req: Request| async move {
                let path = req.uri().path().trim_start_matches('/');
                match objects.get(path) {
                    Some(body) => body.clone().into_response(),
                    None => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            },
        )
        .with_state(objects);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A red run pulled after a green one is filled from GCS like every other channel: the
/// incident knows both tested commits, and the suspect search finds the PR merged between
/// them (compare on the fake GitHub), into the blocker issue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulled_runs_are_filled_from_gcs_so_a_regression_has_suspects() {
    use scalability_gate::github::fake::{FakeGithub, MergedPr};
    use scalability_gate::model::{Cause, Timestamp};
    const REPO: &str = "kubernetes/kubernetes";
    const GREEN_START: i64 = 1_790_000_000;
    let _ = logs();
    let Some(emulator) = Emulator::start().await else {
        return;
    };
    let fake = FakeGithub::start().await.unwrap();
    let green = fake.push_commit(REPO, "master", "Before the green run");
    let suspect = fake
        .merge_pr(
            REPO,
            MergedPr::new(
                "master",
                "Scheduler: bind pods in batches",
                Timestamp(GREEN_START + 1800),
            ),
        )
        .number;
    let red = fake.branch_head(REPO, "master").unwrap();
    let mut objects = BTreeMap::new();
    for (build, start, sha, passed) in [
        (7300, GREEN_START, &green, true),
        (7301, GREEN_START + 3600, &red, false),
    ] {
        let dir = format!("kubernetes-ci-logs/logs/{JOB}/{build}");
        objects.insert(
            format!("{dir}/started.json"),
            json!({"timestamp": start, "repo-commit": sha}).to_string(),
        );
        objects.insert(
            format!("{dir}/finished.json"),
            json!({"timestamp": start + 1200, "passed": passed}).to_string(),
        );
    }

    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret").unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{}\n", fake.token())).unwrap();
    let store = dir.path().join("store");
    let mut config = config(&store, &hmac, &emulator, "crier-enriched");
    config.dry_run = false;
    config.github.endpoints = vec![fake.url()];
    config.github.token_file = token;
    config.sources.gcs.url = fake_gcs(objects).await;
    config.sources.gcs.bucket = "kubernetes-ci-logs".into();
    emulator.create_topic("crier-e").await;
    emulator
        .create_subscription("crier-enriched", "crier-e", json!({}))
        .await;
    let plugin = Plugin::start(config).await;

    emulator
        .publish("crier-e", &[report(JOB, 7300, "success")])
        .await;
    eventually("the green run applied", || applied(&["7300"])).await;
    emulator
        .publish("crier-e", &[report(JOB, 7301, "failure")])
        .await;
    eventually("the blocker issue naming the suspect", || {
        fake.issues(REPO)
            .iter()
            .any(|i| i.is_open() && i.body_text().contains(&format!("#{suspect}")))
    })
    .await;
    plugin.stop().await;

    let store = Store::open(&store).unwrap();
    let incidents = store.active_incidents().unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    let incident = &incidents[0];
    let repo = scalability_gate::model::RepoName::parse(REPO).unwrap();
    match &incident.cause {
        Cause::Regression {
            first_red,
            last_green,
        } => {
            assert_eq!(
                first_red.commits.get(&repo).map(|c| c.0.as_str()),
                Some(red.as_str())
            );
            assert_eq!(
                last_green.commits.get(&repo).map(|c| c.0.as_str()),
                Some(green.as_str())
            );
            assert_eq!(first_red.started_at, Some(Timestamp(GREEN_START + 3600)));
        }
        other => panic!("not a regression: {other:?}"),
    }
    let found: Vec<u64> = incident.suspects.iter().map(|s| s.pr.0).collect();
    assert_eq!(found, vec![suspect]);
}
