//! The dashboard, the status API, the badge and the admin gRPC API, over real sockets
//! against a running plugin with a real sled store.

mod common;

use common::{Plugin, test_config};
use scalability_gate::Store;
use scalability_gate::model::{
    AuditRecord, BuildId, Cause, Channel, IncidentId, IncidentState, JobName, Login, PrNumber,
    RepoName, Run, RunRef, RunResult, Scope, Suspect, Timestamp,
};
use scalability_gate::pb::scalability_gate::v1::gate_client::GateClient;
use scalability_gate::pb::scalability_gate::v1::{
    BlockRequest, GetStatusRequest, ListIncidentsRequest, UnblockRequest,
};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const INCIDENT: &str = "ci-kubernetes-e2e-gce-scale-performance-100-1002";

fn run(build: u64, at: i64, result: RunResult) -> Run {
    Run {
        job: JobName::new(JOB),
        build_id: BuildId::new(build.to_string()),
        result,
        started_at: Some(Timestamp(at)),
        finished_at: Some(Timestamp(at + 600)),
        url: format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{JOB}/{build}"),
        gcs_path: String::new(),
        commits: [(
            RepoName::new("kubernetes", "kubernetes"),
            scalability_gate::model::CommitSha::new(format!("{build:0>40}")),
        )]
        .into(),
        channel: Channel::Api,
    }
}

fn suspect(pr: u64, title: &str, score: f64) -> Suspect {
    Suspect {
        repo: RepoName::new("kubernetes", "kubernetes"),
        pr: PrNumber(pr),
        title: title.into(),
        author: Login::new("someone"),
        merged_at: Some(Timestamp(1_764_000_100)),
        score,
        reasons: vec!["touches pkg/scheduler".into()],
        merge_commit: None,
        reverts: None,
    }
}

/// Writes a green then a red run, the active incident they caused (with suspects, one with
/// a hostile title), a lifted incident and an audit record, into the store at `path`
/// before the plugin opens it.
fn seed(path: &std::path::Path) {
    let store = Store::open(path).unwrap();
    let green = run(1001, 1_764_000_000, RunResult::Success);
    let red = run(1002, 1_764_003_600, RunResult::Failure);
    store.record_run(&green, 100).unwrap();
    store.record_run(&red, 100).unwrap();
    let scope = Scope {
        repo: RepoName::new("kubernetes", "kubernetes"),
        branch: "master".into(),
    };
    let mut incident = scalability_gate::model::Incident {
        id: IncidentId::new(INCIDENT),
        job: JobName::new(JOB),
        opened_at: Timestamp(1_764_004_300),
        cause: Cause::Regression {
            first_red: RunRef::from(&red),
            last_green: RunRef::from(&green),
        },
        scopes: vec![scope],
        scopes_left_open: vec![],
        state: IncidentState::Active,
        folded_runs: vec![],
        recovered_by: None,
        exemptions: vec![],
        breaches: vec![],
        searches: Vec::new(),
        reverts: Vec::new(),
        reruns: Vec::new(),
        escalations: Vec::new(),
        lifts: Vec::new(),
        reblocks: Vec::new(),
        issue_opened_at: None,
        failed_tests: None,
        culprit: None,
        culprit_history: Vec::new(),
        suspects: vec![
            suspect(
                4242,
                "Speed up the <script>alert(1)</script> scheduler & more",
                0.9,
            ),
            suspect(4243, "Bump etcd", 0.35),
        ],
    };
    store.put_incident(&incident).unwrap();
    incident.id = IncidentId::new("old-incident");
    incident.opened_at = Timestamp(1_763_000_000);
    // A past incident: resolved (before provisional lifts, a lift was final).
    incident.state = IncidentState::Resolved {
        how: scalability_gate::model::ResolvedHow::Final,
        at: Timestamp(1_763_007_200),
    };
    incident.lifts.push(scalability_gate::model::Lift {
        by: "alice".into(),
        reason: "a flake, rerun is green".into(),
        at: Timestamp(1_763_007_200),
        final_lift: true,
    });
    store.put_incident(&incident).unwrap();
    store
        .append_audit(&AuditRecord {
            at: Timestamp(1_763_007_200),
            who: "alice".into(),
            command: "/scalability-unblock".into(),
            target: "kubernetes/kubernetes#1".into(),
            outcome: "lifted old-incident".into(),
            reason: "a flake, rerun is green".into(),
        })
        .unwrap();
}

/// A plugin over a seeded store.
async fn seeded_plugin(dir: &tempfile::TempDir) -> Plugin {
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let store = dir.path().join("store");
    seed(&store);
    let token = dir.path().join("api-token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    let mut config = test_config(&store, &hmac);
    config.api.token_file = token.display().to_string();
    Plugin::start(config).await
}

/// The admin API's bearer token in the seeded plugin's `api.token_file`.
const TOKEN: &str = "s3cret-admin-token";

async fn gate_client(plugin: &Plugin) -> GateClient<tonic::transport::Channel> {
    GateClient::connect(format!("http://{}", plugin.bound.grpc))
        .await
        .unwrap()
}

fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

async fn get(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

#[tokio::test]
async fn status_json_lists_jobs_active_incidents_and_tide() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = seeded_plugin(&dir).await;
    let r = get(&format!("{}/api/v1/status", plugin.url())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let json: serde_json::Value = r.json().await.unwrap();

    let job = &json["jobs"][0];
    assert_eq!(job["name"], JOB);
    assert_eq!(job["blocked"], true);
    assert_eq!(job["incident"], INCIDENT);
    assert_eq!(job["health"], "red");
    assert_eq!(job["last_green"]["build_id"], "1001");
    assert!(job["since_last_green_seconds"].as_i64().unwrap() > 0);
    let results: Vec<&str> = job["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["success", "failure"]);

    let incidents = json["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "only active incidents: {incidents:?}");
    let incident = &incidents[0];
    assert_eq!(incident["id"], INCIDENT);
    assert_eq!(incident["state"], "active");
    assert_eq!(incident["scopes"][0]["repo"], "kubernetes/kubernetes");
    assert_eq!(incident["scopes"][0]["branch"], "master");
    assert_eq!(incident["cause"]["kind"], "regression");
    assert_eq!(incident["cause"]["first_red"]["build_id"], "1002");
    assert_eq!(incident["suspects"][0]["pr"], 4242, "best score first");

    assert_eq!(json["history"][0]["id"], "old-incident");
    assert_eq!(json["history"][0]["duration_seconds"], 7200);
    assert_eq!(json["audit"][0]["who"], "alice");
    assert_eq!(json["tide"]["configured"], false);
    plugin.stop().await;
}

#[tokio::test]
async fn incident_json_by_id_and_404_for_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = seeded_plugin(&dir).await;
    let r = get(&format!("{}/api/v1/incidents/{INCIDENT}", plugin.url())).await;
    assert_eq!(r.status(), 200);
    let json: serde_json::Value = r.json().await.unwrap();
    assert_eq!(json["id"], INCIDENT);
    assert_eq!(json["job"], JOB);
    assert_eq!(json["suspects"].as_array().unwrap().len(), 2);

    let r = get(&format!("{}/api/v1/incidents/old-incident", plugin.url())).await;
    let json: serde_json::Value = r.json().await.unwrap();
    // Issue 17: an incident that is over is `resolved` (a lift of the job while it is
    // still red is provisional, `lifted`).
    assert_eq!(json["state"], "resolved");
    assert_eq!(json["resolved_how"], "final");
    assert_eq!(json["lifted"]["by"], "alice");

    let r = get(&format!(
        "{}/api/v1/incidents/no-such-incident",
        plugin.url()
    ))
    .await;
    assert_eq!(r.status(), 404);
    let json: serde_json::Value = r.json().await.unwrap();
    assert!(
        json["error"].as_str().unwrap().contains("no-such-incident"),
        "{json}"
    );
    plugin.stop().await;
}

#[tokio::test]
async fn dashboard_shows_scope_cause_and_suspects_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = seeded_plugin(&dir).await;
    let r = get(&format!("{}/", plugin.url())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    let html = r.text().await.unwrap();
    for want in [
        "<title>Scalability gate: BLOCKED (1)</title>",
        "name=\"viewport\"",
        // The incident, its scope and its cause with links to both runs.
        &format!("id=\"incident-{INCIDENT}\""),
        "<strong>kubernetes/kubernetes</strong> branch <strong>master</strong>",
        "first red <a href=\"https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/ci-kubernetes-e2e-gce-scale-performance-100/1002\">run 1002</a>",
        "last green <a href=\"https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/ci-kubernetes-e2e-gce-scale-performance-100/1001\">run 1001</a>",
        // Suspects, with the hostile title escaped.
        "<a href=\"https://github.com/kubernetes/kubernetes/pull/4242\">kubernetes/kubernetes#4242</a>",
        "Speed up the &lt;script&gt;alert(1)&lt;/script&gt; scheduler &amp; more",
        "<td data-label=\"Score\" class=\"num\">0.90</td>",
        // The strip of runs, labelled, and the job's state.
        "aria-label=\"run 1002: failure (red)\"",
        "✗ blocked",
        // History and audit log.
        "old-incident",
        "lifted by alice",
        "/scalability-unblock",
        "Tide check: not configured",
    ] {
        assert!(html.contains(want), "missing {want:?} in:\n{html}");
    }
    assert!(!html.contains("<script>"), "unescaped markup in:\n{html}");
    plugin.stop().await;
}

#[tokio::test]
async fn badge_is_blocked_open_or_404() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = seeded_plugin(&dir).await;
    let r = get(&format!("{}/badge.svg?job={JOB}", plugin.url())).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let svg = r.text().await.unwrap();
    assert!(svg.contains("scalability gate: blocked"), "{svg}");

    let r = get(&format!("{}/badge.svg?job={JOB}-1-37", plugin.url())).await;
    assert_eq!(r.status(), 404, "job names match exactly");
    let r = get(&format!("{}/badge.svg", plugin.url())).await;
    assert_eq!(r.status(), 400);
    plugin.stop().await;
}

#[tokio::test]
async fn badge_and_dashboard_are_open_without_incident() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let plugin = Plugin::start(test_config(&dir.path().join("store"), &hmac)).await;
    let svg = get(&format!("{}/badge.svg?job={JOB}", plugin.url()))
        .await
        .text()
        .await
        .unwrap();
    assert!(svg.contains("scalability gate: open"), "{svg}");
    let html = get(&format!("{}/", plugin.url()))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("✓ Open: no active incident"), "{html}");
    plugin.stop().await;
}

#[tokio::test]
async fn grpc_unblock_needs_the_token_and_lifts_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = seeded_plugin(&dir).await;
    let mut client = gate_client(&plugin).await;
    let unblock = || UnblockRequest {
        incident_id: INCIDENT.into(),
        reason: "fixed by the revert".into(),
        actor: "alice".into(),
        ..Default::default()
    };

    let refused = client.unblock(unblock()).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let refused = client
        .unblock(authed(unblock(), "wrong"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated, "{refused:?}");
    let status: serde_json::Value = get(&format!("{}/api/v1/status", plugin.url()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status["incidents"].as_array().unwrap().len(),
        1,
        "still blocked"
    );

    let lifted = client
        .unblock(authed(unblock(), TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lifted.incident_ids, [INCIDENT]);
    assert!(lifted.outcome.contains("lifted"), "{lifted:?}");

    let status: serde_json::Value = get(&format!("{}/api/v1/status", plugin.url()))
        .await
        .json()
        .await
        .unwrap();
    // Issue 17 (DESIGN.md: `incidents` holds active and lifted ones): the job is still
    // red, so the lift is provisional and the incident stays listed as `lifted`.
    let listed = status["incidents"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{status}");
    assert_eq!(listed[0]["state"], "lifted", "{status}");
    assert_eq!(status["jobs"][0]["blocked"], false);
    assert_eq!(status["audit"][0]["who"], "grpc:alice");
    assert_eq!(status["audit"][0]["target"], INCIDENT);
    let listed = client
        .list_incidents(ListIncidentsRequest {
            include_lifted: true,
        })
        .await
        .unwrap()
        .into_inner();
    let ours = listed.incidents.iter().find(|i| i.id == INCIDENT).unwrap();
    assert_eq!(ours.state, "lifted");
    assert_eq!(ours.lifted_by, "grpc:alice");
    assert_eq!(ours.lifted_reason, "fixed by the revert");

    // Unblocking again changes nothing and says so.
    let again = client.unblock(authed(unblock(), TOKEN)).await.unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition, "{again:?}");
    plugin.stop().await;
}

#[tokio::test]
async fn grpc_block_opens_an_incident_through_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = seeded_plugin(&dir).await;
    let mut client = gate_client(&plugin).await;
    let block = |job: &str| BlockRequest {
        job: job.into(),
        reason: "perf <b>drop</b>".into(),
        actor: "bob".into(),
    };
    let refused = client.block(block(JOB)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // The seeded incident already blocks JOB.
    let already = client.block(authed(block(JOB), TOKEN)).await.unwrap_err();
    assert_eq!(
        already.code(),
        tonic::Code::FailedPrecondition,
        "{already:?}"
    );
    let unknown = client
        .block(authed(block("no-such-job"), TOKEN))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound, "{unknown:?}");

    client
        .unblock(authed(
            UnblockRequest {
                incident_id: INCIDENT.into(),
                reason: String::new(),
                actor: String::new(),
                ..Default::default()
            },
            TOKEN,
        ))
        .await
        .unwrap();
    let opened = client
        .block(authed(block(JOB), TOKEN))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(opened.incident_ids.len(), 1, "{opened:?}");
    let id = &opened.incident_ids[0];
    assert!(id.starts_with(&format!("{JOB}-manual-")), "{id}");

    let status = client
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.active_incidents, 1);
    assert_eq!(status.blocked_jobs, [JOB]);
    let html = get(&format!("{}/", plugin.url()))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("blocked by hand by grpc:bob: “perf &lt;b&gt;drop&lt;/b&gt;”"),
        "{html}"
    );
    plugin.stop().await;
}
