//! Periodic job results over real sockets: each channel (Deck, Pub/Sub push, Gangway, our
//! gRPC API, the GCS backfill) ends in the same stored history; the detector's scenario
//! (green, green, red → one regression; already red at install → none; green → recovery);
//! and history surviving a restart.
//!
//! Sync points: the plugin's own `/metrics` (`runs_recorded` by channel, `transitions`),
//! polled with a bounded timeout; the history is read back by stopping the plugin (which
//! drains the queue and releases sled's lock) and reopening the store.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use common::{API_TOKEN, Plugin, bearer, eventually, test_config};
use scalability_gate::Store;
use scalability_gate::config::Config;
use scalability_gate::model::{JobName, RepoName, RunResult};
use scalability_gate::pb::gangway::prow_server::{Prow, ProwServer};
use scalability_gate::pb::gangway::{
    CreateJobExecutionRequest, JobExecution, JobExecutionStatus, JobExecutionType, JobExecutions,
    ListJobExecutionsRequest,
};
use scalability_gate::pb::scalability_gate::v1::ReportJobResultRequest;
use scalability_gate::pb::scalability_gate::v1::results_client::ResultsClient;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const BUCKET: &str = "kubernetes-ci-logs";

/// The runs every channel delivers in the per-source tests: (build, state, start time).
const RUNS: [(u64, &str, i64); 3] = [
    (1861000000000000101, "success", 1_764_000_000),
    (1861000000000000102, "success", 1_764_010_000),
    (1861000000000000103, "failure", 1_764_020_000),
];

fn sha(build: u64) -> String {
    format!("{:040x}", build)
}

/// The history every channel must end in: (build, result, start, kubernetes commit).
fn expected_history() -> Vec<(String, RunResult, Option<i64>, Option<String>)> {
    RUNS.iter()
        .map(|(b, state, t)| {
            (
                b.to_string(),
                RunResult::from_prow_state(state).unwrap(),
                Some(*t),
                Some(sha(*b)),
            )
        })
        .collect()
}

// ---------------------------------------------------------------- harness

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hmac"), "secret\n").unwrap();
        Self { dir }
    }

    fn store_path(&self) -> std::path::PathBuf {
        self.dir.path().join("store")
    }

    fn config(&self) -> Config {
        let mut c = test_config(&self.store_path(), &self.dir.path().join("hmac"));
        c.history.backfill = 0;
        c
    }

    /// The stored history of JOB, after the plugin stopped.
    fn history(&self) -> Vec<(String, RunResult, Option<i64>, Option<String>)> {
        let store = Store::open(&self.store_path()).unwrap();
        let k8s = RepoName::new("kubernetes", "kubernetes");
        store
            .runs(&JobName::new(JOB))
            .unwrap()
            .into_iter()
            .map(|r| {
                (
                    r.build_id.0.clone(),
                    r.result,
                    r.started_at.map(|t| t.0),
                    r.commits.get(&k8s).map(|c| c.0.clone()),
                )
            })
            .collect()
    }
}

/// A counter from the plugin's `/metrics` (0 when absent).
async fn metric(plugin: &Plugin, name: &str, kind: &str) -> u64 {
    let text = plugin.metrics().await;
    let prefix = format!("scalability_gate_{name}_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

/// Waits until the counter reaches `want`; fails after [`TIMEOUT`].
async fn wait_metric(plugin: &Plugin, name: &str, kind: &str, want: u64) {
    let what = format!("{name}{{kind={kind}}} at {want}");
    eventually(&what, async || {
        let got = metric(plugin, name, kind).await;
        if got >= want { Ok(()) } else { Err(got) }
    })
    .await;
}

async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A fake GCS serving objects at `/{bucket}/{path}` and the JSON listing API (two pages).
#[derive(Clone, Default)]
struct FakeGcs {
    objects: Arc<Mutex<BTreeMap<String, String>>>,
}

impl FakeGcs {
    /// `started.json` and `finished.json` of one run.
    fn add_run(&self, build: u64, started: i64, passed: Option<bool>) {
        let dir = format!("{BUCKET}/logs/{JOB}/{build}");
        let mut o = self.objects.lock().unwrap();
        o.insert(
            format!("{dir}/started.json"),
            serde_json::json!({"timestamp": started, "repo-commit": sha(build),
                "repos": {"kubernetes/kubernetes": "master"}, "node": "n1"})
            .to_string(),
        );
        if let Some(passed) = passed {
            o.insert(
                format!("{dir}/finished.json"),
                serde_json::json!({"timestamp": started + 3600, "passed": passed,
                    "result": if passed {"SUCCESS"} else {"FAILURE"}, "metadata": {}})
                .to_string(),
            );
        }
    }

    async fn start(&self) -> String {
        let router = Router::new().fallback(gcs_handler).with_state(self.clone());
        format!("http://{}", serve(router).await)
    }
}

async fn gcs_handler(State(gcs): State<FakeGcs>, req: Request) -> axum::response::Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    let objects = gcs.objects.lock().unwrap().clone();
    if let Some(bucket) = path
        .strip_prefix("storage/v1/b/")
        .and_then(|p| p.strip_suffix("/o"))
    {
        let query: HashMap<String, String> =
            serde_urlencoded_pairs(req.uri().query().unwrap_or_default());
        assert_eq!(query.get("delimiter").map(String::as_str), Some("/"));
        let prefix = format!("{bucket}/{}", query["prefix"]);
        let mut prefixes: Vec<String> = objects
            .keys()
            .filter_map(|k| {
                let rest = k.strip_prefix(&prefix)?;
                let (dir, _) = rest.split_once('/')?;
                Some(format!("{}{dir}/", query["prefix"]))
            })
            .collect();
        prefixes.dedup();
        // Two pages, to follow nextPageToken.
        let half = prefixes.len() / 2;
        let body = if query.contains_key("pageToken") {
            serde_json::json!({"kind": "storage#objects", "prefixes": prefixes[half..]})
        } else {
            serde_json::json!({"kind": "storage#objects", "prefixes": prefixes[..half],
                "nextPageToken": "page2"})
        };
        return axum::Json(body).into_response();
    }
    match objects.get(&path) {
        Some(body) => body.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn serde_urlencoded_pairs(query: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{query}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// A ProwJob as Deck's `/prowjobs.js` lists it (pod_spec etc. omitted).
fn prowjob(job: &str, kind: &str, state: &str, build: u64, start: i64) -> serde_json::Value {
    let t = |s: i64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(s as u64),
        )
        .to_string()
    };
    serde_json::json!({
        "kind": "ProwJob", "apiVersion": "prow.k8s.io/v1",
        "metadata": {"name": format!("uuid-{build}"), "namespace": "test-pods",
                     "creationTimestamp": t(start)},
        "spec": {"type": kind, "agent": "kubernetes", "cluster": "k8s-infra-prow-build",
                 "namespace": "test-pods", "job": job, "report": true,
                 "refs": if kind == "presubmit" {
                     serde_json::json!({"org": "kubernetes", "repo": "kubernetes",
                        "base_ref": "master", "base_sha": "abc",
                        "pulls": [{"number": 1, "author": "a", "sha": "def"}]})
                 } else { serde_json::Value::Null }},
        "status": {"startTime": t(start), "completionTime": t(start + 3600),
                   "state": state, "description": "Job succeeded.",
                   "url": format!("https://prow.k8s.io/view/gs/{BUCKET}/logs/{job}/{build}"),
                   "pod_name": format!("uuid-{build}"), "build_id": build.to_string(),
                   "prev_report_states": {"gcsk8sreporter": state}}
    })
}

// ---------------------------------------------------------------- one test per source

#[tokio::test]
async fn deck_poller_stores_finished_periodics_with_commits_from_gcs() {
    let env = Env::new();
    let gcs = FakeGcs::default();
    for (b, _, t) in RUNS {
        gcs.add_run(b, t, None);
    }
    let gcs_url = gcs.start().await;

    let body = Arc::new(Mutex::new(String::new()));
    let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut items: Vec<serde_json::Value> = (0..2000u64)
        .map(|i| {
            prowjob(
                "pull-kubernetes-e2e",
                "presubmit",
                "success",
                i,
                1_764_000_000,
            )
        })
        .collect();
    // The first poll: two finished runs, a pending one, a same-prefix job, a presubmit.
    items.push(prowjob(JOB, "periodic", RUNS[0].1, RUNS[0].0, RUNS[0].2));
    items.push(prowjob(JOB, "periodic", RUNS[1].1, RUNS[1].0, RUNS[1].2));
    items.push(prowjob(JOB, "periodic", "pending", RUNS[2].0, RUNS[2].2));
    items.push(prowjob(&format!("{JOB}-1-37"), "periodic", "failure", 7, 5));
    items.push(prowjob(JOB, "presubmit", "failure", 8, 5));
    *body.lock().unwrap() = serde_json::json!({ "items": items }).to_string();
    let deck = {
        let (body, polls) = (body.clone(), polls.clone());
        Router::new().route(
            "/prowjobs.js",
            axum::routing::get(move |req: Request| {
                let (body, polls) = (body.clone(), polls.clone());
                async move {
                    assert_eq!(
                        req.uri().query(),
                        Some("omit=annotations,labels,decoration_config,pod_spec")
                    );
                    polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    body.lock().unwrap().clone()
                }
            }),
        )
    };
    let deck_url = format!("http://{}", serve(deck).await);

    let mut config = env.config();
    config.sources.deck.url = deck_url;
    config.sources.deck.interval = std::time::Duration::from_millis(50);
    config.sources.gcs.url = gcs_url;
    config.sources.gcs.bucket = BUCKET.into();
    let plugin = Plugin::start(config).await;
    wait_metric(&plugin, "runs_recorded", "deck", 2).await;
    // The third run finishes: the next poll brings it.
    items.pop();
    items.pop();
    items.pop();
    items.push(prowjob(JOB, "periodic", RUNS[2].1, RUNS[2].0, RUNS[2].2));
    *body.lock().unwrap() = serde_json::json!({ "items": items }).to_string();
    wait_metric(&plugin, "runs_recorded", "deck", 3).await;
    wait_metric(&plugin, "transitions", "regression", 1).await;
    plugin.stop().await;
    assert!(polls.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    assert_eq!(env.history(), expected_history());
}

fn envelope(report: &serde_json::Value, publish: &str) -> serde_json::Value {
    let data = base64::engine::general_purpose::STANDARD.encode(report.to_string());
    serde_json::json!({
        "message": {"data": data, "attributes": {}, "messageId": "m1",
                    "message_id": "m1", "publishTime": publish, "publish_time": publish},
        "subscription": "projects/p/subscriptions/s"
    })
}

fn crier_report(job: &str, status: &str, build: u64, job_type: &str) -> serde_json::Value {
    serde_json::json!({
        "project": "k8s-prow", "topic": "prowjobs", "runid": "", "status": status,
        "url": format!("https://prow.k8s.io/view/gs/{BUCKET}/logs/{job}/{build}"),
        "gcs_path": format!("gs://{BUCKET}/logs/{job}/{build}"),
        "job_type": job_type, "job_name": job
    })
}

#[tokio::test]
async fn pubsub_push_checks_token_and_envelope_and_stores_runs() {
    let env = Env::new();
    let gcs = FakeGcs::default();
    for (b, _, t) in RUNS {
        gcs.add_run(b, t, None);
    }
    let token_file = env.dir.path().join("push-token");
    std::fs::write(&token_file, "s3cret\n").unwrap();
    let mut config = env.config();
    config.sources.gcs.url = gcs.start().await;
    config.sources.gcs.bucket = BUCKET.into();
    config.sources.pubsub_push.token_file = token_file.to_string_lossy().into_owned();
    let plugin = Plugin::start(config).await;
    let http = reqwest::Client::new();
    let push = |token: Option<&str>, body: String| {
        let url = match token {
            Some(t) => format!("{}/pubsub/push?token={t}", plugin.url()),
            None => format!("{}/pubsub/push", plugin.url()),
        };
        http.post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let good = envelope(
        &crier_report(JOB, "success", RUNS[0].0, "periodic"),
        "2025-11-25T10:00:00Z",
    )
    .to_string();
    assert_eq!(push(None, good.clone()).await.unwrap().status(), 401);
    assert_eq!(
        push(Some("wrong"), good.clone()).await.unwrap().status(),
        401
    );
    assert_eq!(
        push(Some("s3cre"), good.clone()).await.unwrap().status(),
        401
    );
    for bad in [
        "not json".to_string(),
        r#"{"message":{}}"#.to_string(),
        r#"{"message":{"data":"@@not base64@@"}}"#.to_string(),
        envelope(&serde_json::json!(["not", "a", "report"]), "").to_string(),
    ] {
        assert_eq!(push(Some("s3cret"), bad).await.unwrap().status(), 400);
    }
    // A good envelope with bytes that are not UTF-8 in a field the plugin ignores: not
    // JSON, so refused whole (serde alone would skip the field unchecked).
    let mut not_utf8 = good.clone().into_bytes();
    not_utf8.pop(); // the closing brace
    not_utf8.extend_from_slice(b",\"extra\":\"\xe2N\"}");
    let answer = http
        .post(format!("{}/pubsub/push?token=s3cret", plugin.url()))
        .header("content-type", "application/json")
        .body(not_utf8)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400, "a body that is not UTF-8 is refused");
    for ignored in [
        crier_report(JOB, "pending", 99, "periodic"),
        crier_report(JOB, "triggered", 98, "periodic"),
        crier_report(&format!("{JOB}-1-37"), "failure", 97, "periodic"),
        crier_report(JOB, "failure", 96, "presubmit"),
    ] {
        let r = push(Some("s3cret"), envelope(&ignored, "").to_string())
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    for (b, state, _) in RUNS {
        let body = envelope(
            &crier_report(JOB, state, b, "periodic"),
            "2025-11-25T10:00:00Z",
        );
        let r = push(Some("s3cret"), body.to_string()).await.unwrap();
        assert_eq!(r.status(), 200);
    }
    // The same message again (Pub/Sub redelivers at least once): still one run.
    assert_eq!(push(Some("s3cret"), good).await.unwrap().status(), 200);
    wait_metric(&plugin, "runs_recorded", "pubsub_push", 4).await;
    plugin.stop().await;
    assert_eq!(env.history(), expected_history());
}

#[tokio::test]
async fn pubsub_push_route_is_absent_without_a_token_file() {
    let env = Env::new();
    let plugin = Plugin::start(env.config()).await;
    let r = reqwest::Client::new()
        .post(format!("{}/pubsub/push?token=x", plugin.url()))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    plugin.stop().await;
}

/// An in-process Gangway built from our proto, serving the three runs.
#[derive(Default, Clone)]
struct FakeGangway {
    keys: Arc<Mutex<Vec<String>>>,
    created: Arc<Mutex<Vec<CreateJobExecutionRequest>>>,
}

#[tonic::async_trait]
impl Prow for FakeGangway {
    async fn create_job_execution(
        &self,
        request: tonic::Request<CreateJobExecutionRequest>,
    ) -> Result<tonic::Response<JobExecution>, tonic::Status> {
        let req = request.into_inner();
        self.created.lock().unwrap().push(req.clone());
        Ok(tonic::Response::new(JobExecution {
            id: "new-uuid".into(),
            job_name: req.job_name,
            job_type: req.job_execution_type,
            job_status: JobExecutionStatus::Triggered as i32,
            ..Default::default()
        }))
    }

    async fn list_job_executions(
        &self,
        request: tonic::Request<ListJobExecutionsRequest>,
    ) -> Result<tonic::Response<JobExecutions>, tonic::Status> {
        let key = request
            .metadata()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        self.keys.lock().unwrap().push(key);
        let job = request.into_inner().job_name;
        let ts = |s: i64| {
            Some(prost_types::Timestamp {
                seconds: s,
                nanos: 0,
            })
        };
        let mut list: Vec<JobExecution> = RUNS
            .iter()
            .map(|(b, state, t)| JobExecution {
                id: format!("uuid-{b}"),
                job_name: job.clone(),
                job_type: JobExecutionType::Periodic as i32,
                job_status: if *state == "success" {
                    JobExecutionStatus::Success
                } else {
                    JobExecutionStatus::Failure
                } as i32,
                gcs_path: format!("gs://{BUCKET}/logs/{job}/{b}"),
                create_time: ts(*t),
                completion_time: ts(t + 3600),
                job_url: format!("https://prow.k8s.io/view/gs/{BUCKET}/logs/{job}/{b}"),
            })
            .collect();
        list.push(JobExecution {
            id: "running".into(),
            job_name: job.clone(),
            job_type: JobExecutionType::Periodic as i32,
            job_status: JobExecutionStatus::Pending as i32,
            gcs_path: format!("gs://{BUCKET}/logs/{job}/1861000000000000199"),
            ..Default::default()
        });
        Ok(tonic::Response::new(JobExecutions {
            job_execution: list,
        }))
    }
}

#[tokio::test]
async fn gangway_poller_sends_the_api_key_and_stores_runs() {
    let env = Env::new();
    let fake = FakeGangway::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = fake.clone();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(ProwServer::new(server))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
            .unwrap()
    });
    let gcs = FakeGcs::default();
    for (b, _, t) in RUNS {
        gcs.add_run(b, t, None);
    }
    let key_file = env.dir.path().join("gangway-key");
    std::fs::write(&key_file, "AIza-test-key\n").unwrap();
    let mut config = env.config();
    config.sources.gcs.url = gcs.start().await;
    config.sources.gcs.bucket = BUCKET.into();
    config.sources.gangway.address = addr.to_string();
    config.sources.gangway.interval = std::time::Duration::from_millis(50);
    config.sources.gangway.api_key_file = key_file.to_string_lossy().into_owned();
    let plugin = Plugin::start(config).await;
    wait_metric(&plugin, "runs_recorded", "gangway", 3).await;
    plugin.stop().await;
    assert_eq!(env.history(), expected_history());
    assert!(
        fake.keys
            .lock()
            .unwrap()
            .iter()
            .all(|k| k == "AIza-test-key")
    );

    // The client for /scalability-rerun: a periodic, no refs.
    let client =
        scalability_gate::prow::gangway::Gangway::new(&addr.to_string(), "AIza-test-key").unwrap();
    let started = client.create_periodic(JOB).await.unwrap();
    assert_eq!(started.job_status, JobExecutionStatus::Triggered as i32);
    let created = fake.created.lock().unwrap().clone();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].job_name, JOB);
    assert_eq!(
        created[0].job_execution_type,
        JobExecutionType::Periodic as i32
    );
}

fn api_request(build: u64, result: &str, started: i64) -> ReportJobResultRequest {
    ReportJobResultRequest {
        job_name: JOB.into(),
        build_id: build.to_string(),
        result: result.into(),
        started_at: started,
        finished_at: started + 3600,
        url: format!("https://ci.example/{build}"),
        gcs_path: String::new(),
        commits: [("kubernetes/kubernetes".to_string(), sha(build))].into(),
    }
}

/// Adds the test config's API token to every call (a result report is a write).
type WithToken = fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>;

fn with_token(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {API_TOKEN}").parse().unwrap(),
    );
    Ok(request)
}

async fn channel(plugin: &Plugin) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}", plugin.bound.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A `Results` client that sends [`API_TOKEN`] with every call.
async fn api_client(
    plugin: &Plugin,
) -> ResultsClient<InterceptedService<tonic::transport::Channel, WithToken>> {
    ResultsClient::with_interceptor(channel(plugin).await, with_token as WithToken)
}

#[tokio::test]
async fn grpc_api_validates_and_stores_runs() {
    let env = Env::new();
    let plugin = Plugin::start(env.config()).await;
    let mut client = api_client(&plugin).await;
    let mut bad = api_request(1, "success", 1);
    bad.job_name = format!("{JOB}-1-37");
    let err = client.report_job_result(bad).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert!(
        err.message().contains("not a gated job"),
        "{}",
        err.message()
    );
    let err = client
        .report_job_result(api_request(1, "green", 1))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let mut no_build = api_request(1, "success", 1);
    no_build.build_id = " ".into();
    let err = client.report_job_result(no_build).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    let mut bad_repo = api_request(1, "success", 1);
    bad_repo.commits = [("kubernetes".to_string(), "abc".to_string())].into();
    let err = client.report_job_result(bad_repo).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    for (b, state, t) in RUNS {
        let r = client
            .report_job_result(api_request(b, state, t))
            .await
            .unwrap();
        assert!(r.into_inner().recorded);
    }
    wait_metric(&plugin, "runs_recorded", "api", 3).await;
    let again = client
        .report_job_result(api_request(RUNS[0].0, "failure", RUNS[0].2))
        .await
        .unwrap();
    assert!(
        !again.into_inner().recorded,
        "a known build is not recorded again"
    );
    wait_metric(&plugin, "runs_recorded", "api", 4).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 1);
    plugin.stop().await;
    assert_eq!(env.history(), expected_history());
}

#[tokio::test]
async fn gcs_backfill_stores_the_last_runs_as_history() {
    let env = Env::new();
    let gcs = FakeGcs::default();
    gcs.add_run(1861000000000000099, 1_763_990_000, Some(true)); // beyond the backfill
    for (b, state, t) in RUNS {
        gcs.add_run(b, t, Some(state == "success"));
    }
    gcs.add_run(1861000000000000104, 1_764_030_000, None); // still running: skipped
    let mut config = env.config();
    config.sources.gcs.url = gcs.start().await;
    config.sources.gcs.bucket = BUCKET.into();
    config.history.backfill = 4;
    let plugin = Plugin::start(config).await;
    wait_metric(&plugin, "runs_recorded", "gcs", 3).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 0);
    plugin.stop().await;
    assert_eq!(env.history(), expected_history());
}

// ---------------------------------------------------------------- scenario and restart

#[tokio::test]
async fn scenario_regression_once_none_when_already_red_at_install_then_recovery() {
    // A job that goes green, green, red: one regression; red again: nothing new.
    let env = Env::new();
    let plugin = Plugin::start(env.config()).await;
    let mut client = api_client(&plugin).await;
    let mut sent = 0;
    for (b, state) in [(1, "success"), (2, "success"), (3, "failure")] {
        client
            .report_job_result(api_request(b, state, b as i64 * 1000))
            .await
            .unwrap();
        sent += 1;
    }
    wait_metric(&plugin, "runs_recorded", "api", sent).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 1);
    client
        .report_job_result(api_request(4, "failure", 4000))
        .await
        .unwrap();
    wait_metric(&plugin, "runs_recorded", "api", sent + 1).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 1);
    assert_eq!(metric(&plugin, "transitions", "recovery").await, 0);
    plugin.stop().await;

    // A fresh install where the job is already red: GCS shows green, red, red.
    let env = Env::new();
    let gcs = FakeGcs::default();
    gcs.add_run(11, 11_000, Some(true));
    gcs.add_run(12, 12_000, Some(false));
    gcs.add_run(13, 13_000, Some(false));
    let mut config = env.config();
    config.sources.gcs.url = gcs.start().await;
    config.sources.gcs.bucket = BUCKET.into();
    config.history.backfill = 20;
    let plugin = Plugin::start(config).await;
    wait_metric(&plugin, "runs_recorded", "gcs", 3).await;
    let mut client = api_client(&plugin).await;
    // The first live result, red: judged against real history, the job was already red.
    client
        .report_job_result(api_request(14, "failure", 14_000))
        .await
        .unwrap();
    wait_metric(&plugin, "runs_recorded", "api", 1).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 0);
    // Green: recovery.
    client
        .report_job_result(api_request(15, "success", 15_000))
        .await
        .unwrap();
    wait_metric(&plugin, "transitions", "recovery", 1).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 0);
    plugin.stop().await;
    let builds: Vec<String> = env.history().into_iter().map(|h| h.0).collect();
    assert_eq!(builds, ["11", "12", "13", "14", "15"]);
}

#[tokio::test]
async fn history_survives_a_restart() {
    let env = Env::new();
    let plugin = Plugin::start(env.config()).await;
    let mut client = api_client(&plugin).await;
    for (b, state, t) in &RUNS[..2] {
        client
            .report_job_result(api_request(*b, state, *t))
            .await
            .unwrap();
    }
    wait_metric(&plugin, "runs_recorded", "api", 2).await;
    plugin.stop().await;

    // The same store, a new process life: old builds are known, and the first red after
    // the restart is judged against the history from before it.
    let plugin = Plugin::start(env.config()).await;
    let mut client = api_client(&plugin).await;
    let known = client
        .report_job_result(api_request(RUNS[1].0, RUNS[1].1, RUNS[1].2))
        .await
        .unwrap();
    assert!(!known.into_inner().recorded);
    let (b, state, t) = RUNS[2];
    client
        .report_job_result(api_request(b, state, t))
        .await
        .unwrap();
    wait_metric(&plugin, "transitions", "regression", 1).await;
    plugin.stop().await;
    assert_eq!(env.history(), expected_history());
}

// ---------------------------------------------------------------- the API token

/// `GET /api/v1/status` of the running plugin.
async fn api_status(plugin: &Plugin) -> serde_json::Value {
    reqwest::get(format!("{}/api/v1/status", plugin.url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The reads of the gRPC listener answer without a token: `Gate`'s reads, health and
/// reflection.
async fn reads_are_open(plugin: &Plugin) {
    use scalability_gate::pb::scalability_gate::v1::gate_client::GateClient;
    use scalability_gate::pb::scalability_gate::v1::{GetStatusRequest, ListIncidentsRequest};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let mut gate = GateClient::new(channel(plugin).await);
    let status = gate
        .get_status(GetStatusRequest {})
        .await
        .expect("GetStatus needs no token")
        .into_inner();
    assert_eq!(status.active_incidents, 0);
    gate.list_incidents(ListIncidentsRequest {
        include_lifted: true,
    })
    .await
    .expect("ListIncidents needs no token");
    let health = HealthClient::new(channel(plugin).await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health needs no token")
        .into_inner();
    assert_eq!(health.status, 1, "SERVING");
    let mut answers = ServerReflectionClient::new(channel(plugin).await)
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("reflection needs no token")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers
        .message()
        .await
        .unwrap()
        .and_then(|a| a.message_response)
    else {
        panic!("reflection lists the services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "scalability_gate.v1.Results"),
        "{names:?}"
    );
    reflection_v1alpha_lists_the_services(plugin).await;
}

/// Clients older than reflection v1 (grpcurl before 1.8.8) ask `grpc.reflection.v1alpha`.
async fn reflection_v1alpha_lists_the_services(plugin: &Plugin) {
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let mut answers = ServerReflectionClient::new(channel(plugin).await)
        .server_reflection_info(tokio_stream::iter([ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        }]))
        .await
        .expect("v1alpha reflection is served")
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = answers
        .message()
        .await
        .unwrap()
        .and_then(|a| a.message_response)
    else {
        panic!("v1alpha reflection lists the services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.iter().any(|n| n == "scalability_gate.v1.Gate"),
        "{names:?}"
    );
}

#[tokio::test]
async fn report_job_result_needs_the_api_token_and_honours_a_rotated_one() {
    let env = Env::new();
    let config = env.config();
    let token_file = std::path::PathBuf::from(&config.api.token_file);
    let plugin = Plugin::start(config).await;
    let mut client = api_client(&plugin).await;
    let mut bare = ResultsClient::new(channel(&plugin).await);
    for (b, state, t) in &RUNS[..2] {
        client
            .report_job_result(api_request(*b, state, *t))
            .await
            .unwrap();
    }
    wait_metric(&plugin, "runs_recorded", "api", 2).await;

    // A forged red run after two green ones would block: without the token, nothing.
    let (red, _, red_start) = RUNS[2];
    let forged = || api_request(red, "failure", red_start);
    let refusals = [
        ("no token", bare.report_job_result(forged()).await),
        (
            "a wrong token",
            bare.report_job_result(bearer(forged(), "not-the-token"))
                .await,
        ),
        (
            "the token one byte short",
            bare.report_job_result(bearer(forged(), &API_TOKEN[1..]))
                .await,
        ),
        (
            "another scheme",
            bare.report_job_result({
                let mut r = tonic::Request::new(forged());
                r.metadata_mut().insert(
                    "authorization",
                    format!("Basic {API_TOKEN}").parse().unwrap(),
                );
                r
            })
            .await,
        ),
    ];
    for (what, answer) in refusals {
        let status = answer.expect_err(what);
        assert_eq!(
            status.code(),
            tonic::Code::Unauthenticated,
            "{what}: {status:?}"
        );
        assert!(!status.message().contains(API_TOKEN), "{what}");
    }
    // Gate's writes refuse the same way: one check for both services.
    let mut gate = scalability_gate::pb::scalability_gate::v1::gate_client::GateClient::new(
        channel(&plugin).await,
    );
    let block = scalability_gate::pb::scalability_gate::v1::BlockRequest {
        job: JOB.into(),
        actor: "mallory".into(),
        reason: "forged".into(),
    };
    let status = gate
        .block(bearer(block, "not-the-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    reads_are_open(&plugin).await;

    // Rotation at runtime: the old token stops working, the new one works, no restart.
    std::fs::write(&token_file, "rotated-token\n").unwrap();
    let status = client
        .report_job_result(forged())
        .await
        .expect_err("the old token after rotation");
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    // A missing file is an outage of the token, not an open door.
    std::fs::remove_file(&token_file).unwrap();
    let status = bare
        .report_job_result(bearer(forged(), "rotated-token"))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
    std::fs::write(&token_file, "rotated-token\n").unwrap();

    // The refused reports changed nothing: the queue is ordered, so once a later report
    // is recorded, any refused one would have been too.
    let (b4, t4) = (1861000000000000104u64, 1_764_030_000);
    let r = bare
        .report_job_result(bearer(api_request(b4, "success", t4), "rotated-token"))
        .await
        .expect("the rotated token");
    assert!(r.into_inner().recorded);
    wait_metric(&plugin, "runs_recorded", "api", 3).await;
    assert_eq!(metric(&plugin, "transitions", "regression").await, 0);
    let json = api_status(&plugin).await;
    assert_eq!(json["incidents"], serde_json::json!([]), "{json}");
    plugin.stop().await;
    let builds: Vec<String> = env.history().into_iter().map(|h| h.0).collect();
    assert_eq!(
        builds,
        [RUNS[0].0.to_string(), RUNS[1].0.to_string(), b4.to_string()]
    );
}

#[tokio::test]
async fn an_empty_api_token_file_refuses_every_write_and_keeps_reads_open() {
    let env = Env::new();
    let mut config = env.config();
    config.api.token_file = String::new();
    let plugin = Plugin::start(config).await;
    let mut bare = ResultsClient::new(channel(&plugin).await);
    for (what, request) in [
        (
            "no token",
            tonic::Request::new(api_request(RUNS[2].0, "failure", RUNS[2].2)),
        ),
        (
            "an empty bearer",
            bearer(api_request(RUNS[2].0, "failure", RUNS[2].2), ""),
        ),
        (
            "the former token",
            bearer(api_request(RUNS[2].0, "failure", RUNS[2].2), API_TOKEN),
        ),
    ] {
        let status = bare.report_job_result(request).await.expect_err(what);
        // The same code as Gate's writes in this case: switched off, not a bad credential.
        assert_eq!(
            status.code(),
            tonic::Code::PermissionDenied,
            "{what}: {status:?}"
        );
    }
    let mut gate = scalability_gate::pb::scalability_gate::v1::gate_client::GateClient::new(
        channel(&plugin).await,
    );
    let status = gate
        .block(bearer(
            scalability_gate::pb::scalability_gate::v1::BlockRequest {
                job: JOB.into(),
                actor: "mallory".into(),
                reason: "forged".into(),
            },
            API_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    reads_are_open(&plugin).await;
    let json = api_status(&plugin).await;
    assert_eq!(json["incidents"], serde_json::json!([]), "{json}");
    assert_eq!(metric(&plugin, "runs_recorded", "api").await, 0);
    // Stopping drains the queue into the store: nothing was enqueued.
    plugin.stop().await;
    assert_eq!(env.history(), Vec::new());
}
