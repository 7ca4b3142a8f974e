//! Scope inference end to end (issue 18, item 5), through the plugin's own binary: a job
//! gating two repos with `infer_scopes: true`, a local fake GCS serving each run's
//! `started.json` (Prow's `repos` map: `"org/repo": "branch:sha"`, or
//! `"branch:sha,PR:sha"`), runs reported through the Results gRPC API, and the stateful
//! fake GitHub. Only the scope whose repo changed is blocked, and the blocker issue says
//! which was left open; an unknown commit blocks (fail closed).

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use scalability_gate::config::ScopeConfig;
use serde_json::{Value, json};
use support::{Binary, World, eventually, report_run};
use tokio::net::TcpListener;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const K8S: &str = "kubernetes/kubernetes";
const PERF: &str = "kubernetes/perf-tests";
const BUCKET: &str = "kubernetes-ci-logs";

/// A fake GCS: objects at `/{bucket}/{path}`, 404 for anything else (listings included).
#[derive(Clone, Default)]
struct FakeGcs {
    objects: Arc<Mutex<BTreeMap<String, String>>>,
}

impl FakeGcs {
    /// `started.json` of run `build`, as given.
    fn started(&self, build: u64, started: Value) {
        self.objects.lock().unwrap().insert(
            format!("{BUCKET}/logs/{JOB}/{build}/started.json"),
            started.to_string(),
        );
    }

    async fn start(&self) -> String {
        let router = Router::new().fallback(gcs).with_state(self.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}")
    }
}

async fn gcs(State(gcs): State<FakeGcs>, req: Request) -> axum::response::Response {
    let path = req.uri().path().trim_start_matches('/').to_string();
    match gcs.objects.lock().unwrap().get(&path) {
        Some(body) => body.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The started time report_run gives build `build`.
fn start_of(build: u64) -> i64 {
    1_790_000_000 + build as i64 * 3600
}

/// Starts the binary with one job over master of both repos, `infer_scopes: true`, its
/// runs' artifacts in `gcs`; reports green run 1 and red run 2, and returns the incident
/// once the plugin has opened it.
async fn regress_with(world: &World, gcs: &FakeGcs) -> (Binary, Value) {
    world.fake.add_repo(K8S);
    world.fake.add_repo(PERF);
    let gcs_url = gcs.start().await;
    let mut config = world.config();
    config.sources.gcs.url = gcs_url;
    let job = &mut config.jobs[0];
    job.scopes.push(ScopeConfig {
        repo: PERF.into(),
        branch: "master".into(),
    });
    job.infer_scopes = true;
    let path = world.dir.path().join("config.yaml");
    std::fs::write(&path, config.to_redacted_yaml()).unwrap();
    let bin = Binary::spawn(&path);
    report_run(&bin.grpc, JOB, 1, "success").await;
    report_run(&bin.grpc, JOB, 2, "failure").await;
    let status_url = format!("{}/api/v1/status", bin.url);
    let incident = eventually("the incident", async || {
        let status: Value = reqwest::get(&status_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["incidents"]
            .as_array()
            .and_then(|a| a.first().cloned())
            .ok_or(status)
    })
    .await;
    (bin, incident)
}

fn body(issue: &scalability_gate::github::types::Issue) -> &str {
    issue.body.as_deref().unwrap_or_default()
}

fn repos_of(scopes: &Value) -> Vec<String> {
    scopes
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["repo"].as_str().unwrap().to_string())
        .collect()
}

/// The open blocker issue of `repo`, once there is one.
async fn blocker_of(world: &World, repo: &str) -> scalability_gate::github::types::Issue {
    eventually(&format!("a blocker issue on {repo}"), || {
        world
            .fake
            .issues(repo)
            .into_iter()
            .find(|i| i.is_open() && i.has_label(support::BLOCKER))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_repo_that_changed_is_blocked_and_the_issue_says_which_was_left_open() {
    let world = World::builder().build().await;
    let gcs = FakeGcs::default();
    let (k_sha, green_perf, red_perf) = ("a".repeat(40), "b".repeat(40), "c".repeat(40));
    gcs.started(
        1,
        json!({"timestamp": start_of(1), "repos": {
            K8S: format!("master:{k_sha}"), PERF: format!("master:{green_perf}")}}),
    );
    // Prow's form with a PR ref after the base, on the unchanged repo.
    gcs.started(
        2,
        json!({"timestamp": start_of(2), "repos": {
            K8S: format!("master:{k_sha},12345:{}", "d".repeat(40)),
            PERF: format!("master:{red_perf}")}}),
    );
    let (bin, incident) = regress_with(&world, &gcs).await;
    assert_eq!(repos_of(&incident["scopes"]), vec![PERF], "{incident:#}");
    assert_eq!(
        repos_of(&incident["scopes_left_open"]),
        vec![K8S],
        "{incident:#}"
    );
    let issue = blocker_of(&world, PERF).await;
    assert!(
        body(&issue).contains(
            "Left open: `kubernetes/kubernetes` branch `master`, unchanged since the last green run"
        ),
        "{}",
        body(&issue)
    );
    // The repo left open never gets a blocker issue (its scope is not in the incident,
    // which the reconciler reads whole on each pass).
    assert!(
        world.open_blockers().is_empty(),
        "{:?}",
        world.open_blockers()
    );
    bin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_commits_block_every_scope() {
    // (what, green started.json, red started.json)
    let cases = [
        (
            "no repos map",
            json!({"timestamp": start_of(1)}),
            json!({"timestamp": start_of(2)}),
        ),
        (
            "junk values",
            json!({"timestamp": start_of(1), "repos": {
                K8S: "master", PERF: format!("master:{}", "b".repeat(100))}}),
            json!({"timestamp": start_of(2), "repos": {
                K8S: "master:ｚｚｚ", PERF: "", "not a repo": "x:y"}}),
        ),
    ];
    for (what, green, red) in cases {
        let world = World::builder().build().await;
        let gcs = FakeGcs::default();
        gcs.started(1, green);
        gcs.started(2, red);
        let (bin, incident) = regress_with(&world, &gcs).await;
        assert_eq!(
            repos_of(&incident["scopes"]),
            vec![K8S, PERF],
            "{what}: {incident:#}"
        );
        assert_eq!(
            repos_of(&incident["scopes_left_open"]),
            Vec::<String>::new()
        );
        let k8s = blocker_of(&world, K8S).await;
        blocker_of(&world, PERF).await;
        assert!(!body(&k8s).contains("Left open"), "{what}: {}", body(&k8s));
        bin.stop().await;
    }
}
