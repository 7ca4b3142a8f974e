//! `/scalability-rerun` end to end, over real sockets: a fake Gangway (our tonic server of
//! Prow's `gangway.proto` on a real port), the stateful fake GitHub, signed webhooks, runs
//! through the Results gRPC API, and the incident read back from `/api/v1/incidents/{id}`.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use common::{Plugin, World, eventually};
use scalability_gate::Store;
use scalability_gate::config::Config;
use scalability_gate::github::fake::PrSpec;
use scalability_gate::model::{IncidentId, Login, PrNumber, RepoName, Rerun, Timestamp};
use scalability_gate::pb::gangway::prow_server::{Prow, ProwServer};
use scalability_gate::pb::gangway::{
    CreateJobExecutionRequest, JobExecution, JobExecutionStatus, JobExecutionType, JobExecutions,
    ListJobExecutionsRequest,
};
use serde_json::Value;
use tokio::net::TcpListener;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const REPO: &str = "kubernetes/kubernetes";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";
const KEY: &str = "rerun-test-hmac-key";
/// The incident `regress` opens (first red run: build 3).
const INCIDENT: &str = "ci-kubernetes-e2e-gce-scale-performance-100-3";
const BUCKET: &str = "kubernetes-ci-logs";

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp { seconds, nanos: 0 })
}

/// A Gangway that remembers what it was asked and keeps the executions it created.
#[derive(Default, Clone)]
struct FakeGangway {
    created: Arc<Mutex<Vec<CreateJobExecutionRequest>>>,
    executions: Arc<Mutex<Vec<JobExecution>>>,
    /// Refuse every CreateJobExecution, as Gangway does for a caller not on its allow-list.
    refuse: Arc<std::sync::atomic::AtomicBool>,
}

impl FakeGangway {
    async fn start(&self) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let service = ProwServer::new(self.clone());
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap()
        });
        addr.to_string()
    }

    fn created(&self) -> Vec<CreateJobExecutionRequest> {
        self.created.lock().unwrap().clone()
    }

    /// An execution of the job as Prow would list it.
    fn add(&self, id: &str, created_at: i64) {
        self.executions.lock().unwrap().push(JobExecution {
            id: id.into(),
            job_name: JOB.into(),
            job_type: JobExecutionType::Periodic as i32,
            job_status: JobExecutionStatus::Pending as i32,
            create_time: ts(created_at),
            ..Default::default()
        });
    }

    /// The execution `id` finishes as build `build` with `status`.
    fn finish(&self, id: &str, build: u64, status: JobExecutionStatus) {
        let mut all = self.executions.lock().unwrap();
        let e = all
            .iter_mut()
            .find(|e| e.id == id)
            .expect("execution exists");
        e.job_status = status as i32;
        e.gcs_path = format!("gs://{BUCKET}/logs/{JOB}/{build}");
        e.job_url = format!("https://prow.k8s.io/view/gs/{BUCKET}/logs/{JOB}/{build}");
        e.completion_time = ts(unix_now());
    }
}

#[tonic::async_trait]
impl Prow for FakeGangway {
    async fn create_job_execution(
        &self,
        request: tonic::Request<CreateJobExecutionRequest>,
    ) -> Result<tonic::Response<JobExecution>, tonic::Status> {
        let req = request.into_inner();
        let n = {
            let mut created = self.created.lock().unwrap();
            created.push(req.clone());
            created.len()
        };
        if self.refuse.load(Ordering::SeqCst) {
            return Err(tonic::Status::permission_denied(
                "caller not allowed to trigger",
            ));
        }
        if req.job_execution_type != JobExecutionType::Periodic as i32 {
            return Err(tonic::Status::invalid_argument("only periodics here"));
        }
        let id = format!("exec-{n}");
        self.add(&id, unix_now());
        let e = self
            .executions
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .unwrap();
        Ok(tonic::Response::new(e))
    }

    async fn list_job_executions(
        &self,
        request: tonic::Request<ListJobExecutionsRequest>,
    ) -> Result<tonic::Response<JobExecutions>, tonic::Status> {
        let job = request.into_inner().job_name;
        let job_execution = self
            .executions
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.job_name == job)
            .cloned()
            .collect();
        Ok(tonic::Response::new(JobExecutions { job_execution }))
    }
}

/// The shared world with `APPROVER` in `TEAM` and PR #1 to comment on.
async fn world() -> World {
    let world = World::builder()
        .key(KEY)
        .approver_team(TEAM, APPROVER)
        .build()
        .await;
    assert_eq!(world.fake.add_pr(REPO, PrSpec::new("master")), 1);
    world
}

/// The plugin's config; Gangway at `gangway` (`""`: not configured).
fn config(world: &World, gangway: &str) -> Config {
    let mut c = world.config();
    c.sources.gangway.address = gangway.into();
    c.sources.gangway.interval = std::time::Duration::from_millis(100);
    c
}

/// Reports a run through the Results gRPC API of `plugin`.
async fn report(plugin: &Plugin, build: u64, result: &str) {
    common::report_run(&plugin.bound.grpc.to_string(), JOB, build, result).await;
}

/// Green, green, red: incident [`INCIDENT`] opens.
async fn regress(plugin: &Plugin) {
    report(plugin, 1, "success").await;
    report(plugin, 2, "success").await;
    report(plugin, 3, "failure").await;
}

/// `GET /api/v1/incidents/{INCIDENT}` once it answers 200.
async fn incident(plugin: &Plugin) -> Value {
    let url = format!("{}/api/v1/incidents/{INCIDENT}", plugin.url());
    let response = reqwest::get(&url).await.unwrap();
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Polls the incident until `check` accepts it (bounded by the harness timeout).
async fn incident_until(plugin: &Plugin, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{}/api/v1/incidents/{INCIDENT}", plugin.url());
    eventually(what, async || {
        let response = reqwest::get(&url).await.unwrap();
        if !response.status().is_success() {
            return Err(format!("{url} answers {}", response.status()));
        }
        let body: Value = response.json().await.unwrap();
        if check(&body) {
            Ok(body)
        } else {
            Err(format!("incident is {body:#}"))
        }
    })
    .await
}

#[tokio::test]
async fn an_approvers_rerun_goes_through_gangway_and_its_result_is_tied_to_the_incident() {
    let env = world().await;
    let gangway = FakeGangway::default();
    let address = gangway.start().await;
    let plugin = Plugin::start(config(&env, &address)).await;
    regress(&plugin).await;
    incident_until(&plugin, "the incident", |i| i["state"] == "active").await;

    let comment = env
        .comment(&plugin.url(), 1, APPROVER, "/scalability-rerun")
        .await;
    let reply = env
        .comment_with(1, &format!("scalability-gate:reply-{comment}:reply"))
        .await;
    assert!(
        reply.contains("re-running `ci-kubernetes-e2e-gce-scale-performance-100` through Gangway"),
        "{reply}"
    );

    // CreateJobExecution, for the incident's job, as a periodic.
    let created = eventually("CreateJobExecution on the fake Gangway", || {
        let created = gangway.created();
        (!created.is_empty()).then_some(created)
    })
    .await;
    assert_eq!(created[0].job_name, JOB);
    assert_eq!(
        created[0].job_execution_type,
        JobExecutionType::Periodic as i32
    );

    // The execution id is on the incident.
    let body = incident_until(&plugin, "the execution id on the incident", |i| {
        i["reruns"][0]["execution"] == "exec-1"
    })
    .await;
    let rerun = &body["reruns"][0];
    assert_eq!(rerun["id"], comment);
    assert_eq!(rerun["by"], APPROVER);
    assert!(rerun["result"].is_null(), "{rerun}");

    // The rerun's run finishes green; the Gangway poller brings it in and it is tied.
    gangway.finish(
        "exec-1",
        1_861_000_000_000_000_777,
        JobExecutionStatus::Success,
    );
    let body = incident_until(&plugin, "the rerun's result on the incident", |i| {
        !i["reruns"][0]["result"].is_null()
    })
    .await;
    let result = &body["reruns"][0]["result"];
    assert_eq!(result["result"], "success", "{result}");
    assert_eq!(result["run"]["build_id"], "1861000000000000777", "{result}");
    assert_eq!(body["state"], "active", "a rerun does not lift the block");
    let notice = env
        .comment_with(
            1,
            &format!("scalability-gate:{INCIDENT}:rerun/{comment}/result"),
        )
        .await;
    assert!(notice.contains("looks like a flake"), "{notice}");
    assert!(notice.contains("1861000000000000777"), "{notice}");

    // Exactly one execution was created, and asking again while none waits starts a new one
    // only once.
    assert_eq!(gangway.created().len(), 1);
    let again = env
        .comment(&plugin.url(), 1, APPROVER, "/scalability-rerun")
        .await;
    env.comment_with(1, &format!("scalability-gate:reply-{again}:reply"))
        .await;
    eventually("a second execution", || {
        (gangway.created().len() == 2).then_some(())
    })
    .await;
    let body = incident_until(&plugin, "the second execution on the incident", |i| {
        i["reruns"][1]["execution"] == "exec-2"
    })
    .await;
    assert_eq!(body["reruns"].as_array().unwrap().len(), 2);
    plugin.stop().await;
}

#[tokio::test]
async fn a_rerun_by_someone_else_is_refused_and_nothing_is_created() {
    let env = world().await;
    let gangway = FakeGangway::default();
    let address = gangway.start().await;
    let plugin = Plugin::start(config(&env, &address)).await;
    regress(&plugin).await;
    incident_until(&plugin, "the incident", |i| i["state"] == "active").await;

    let comment = env
        .comment(&plugin.url(), 1, "mallory", "/scalability-rerun")
        .await;
    let reply = env
        .comment_with(1, &format!("scalability-gate:reply-{comment}:reply"))
        .await;
    assert!(
        reply.contains("you are not allowed to use `/scalability-rerun`"),
        "{reply}"
    );
    assert!(reply.contains(TEAM), "{reply}");
    // The reply is written with the decision: had a rerun been recorded, it would be there.
    let body = incident(&plugin).await;
    assert_eq!(body["reruns"].as_array().unwrap().len(), 0, "{body:#}");
    plugin.stop().await;
    assert!(gangway.created().is_empty());
}

#[tokio::test]
async fn without_gangway_the_reply_says_it_is_not_configured() {
    let env = world().await;
    let plugin = Plugin::start(config(&env, "")).await;
    regress(&plugin).await;
    incident_until(&plugin, "the incident", |i| i["state"] == "active").await;

    let comment = env
        .comment(&plugin.url(), 1, APPROVER, "/scalability-rerun")
        .await;
    let reply = env
        .comment_with(1, &format!("scalability-gate:reply-{comment}:reply"))
        .await;
    assert!(reply.contains("no Gangway configured"), "{reply}");
    assert!(reply.contains("sources.gangway.address"), "{reply}");
    let body = incident(&plugin).await;
    assert_eq!(body["reruns"].as_array().unwrap().len(), 0, "{body:#}");
    plugin.stop().await;
}

#[tokio::test]
async fn after_a_crash_an_execution_created_for_the_rerun_is_adopted_not_created_again() {
    let env = world().await;
    let gangway = FakeGangway::default();
    let address = gangway.start().await;
    let asked = unix_now() - 600;
    // Before the crash: the rerun was recorded and Gangway had created its execution, but
    // the plugin died before recording the execution id. An older run is listed as well.
    {
        let store = Store::open(&env.store_path()).unwrap();
        let mut inc = scalability_gate::model::Incident::new(
            IncidentId::new(INCIDENT),
            scalability_gate::model::JobName::new(JOB),
            Timestamp(asked - 60),
            scalability_gate::model::Cause::Manual {
                by: Login::new(APPROVER),
                reason: "test".into(),
            },
            vec![scalability_gate::model::Scope {
                repo: RepoName::parse(REPO).unwrap(),
                branch: "master".into(),
            }],
        );
        inc.reruns.push(Rerun {
            id: 4242,
            by: Login::new(APPROVER),
            at: Timestamp(asked),
            repo: RepoName::parse(REPO).unwrap(),
            requested_on: PrNumber(1),
            execution: None,
            build_id: None,
            result: None,
            error: None,
        });
        store.put_incident(&inc).unwrap();
        store.flush().await.unwrap();
    }
    gangway.add("scheduled-before", asked - 3_600);
    gangway.add("created-before-the-crash", asked + 2);

    let plugin = Plugin::start(config(&env, &address)).await;
    let body = incident_until(&plugin, "the adopted execution on the incident", |i| {
        !i["reruns"][0]["execution"].is_null()
    })
    .await;
    assert_eq!(body["reruns"][0]["execution"], "created-before-the-crash");
    // The consumer writes the finding before the executor moves on: no create followed.
    plugin.stop().await;
    assert!(gangway.created().is_empty(), "{:?}", gangway.created());
}

#[tokio::test]
async fn a_rerun_gangway_refuses_is_recorded_and_told_once() {
    let env = world().await;
    let gangway = FakeGangway::default();
    gangway.refuse.store(true, Ordering::SeqCst);
    let address = gangway.start().await;
    let plugin = Plugin::start(config(&env, &address)).await;
    regress(&plugin).await;
    incident_until(&plugin, "the incident", |i| i["state"] == "active").await;

    let comment = env
        .comment(&plugin.url(), 1, APPROVER, "/scalability-rerun")
        .await;
    let body = incident_until(&plugin, "the refusal on the incident", |i| {
        !i["reruns"][0]["error"].is_null()
    })
    .await;
    let error = body["reruns"][0]["error"].as_str().unwrap();
    assert!(error.contains("PermissionDenied"), "{error}");
    assert!(body["reruns"][0]["execution"].is_null());
    let notice = env
        .comment_with(
            1,
            &format!("scalability-gate:{INCIDENT}:rerun/{comment}/failed"),
        )
        .await;
    assert!(
        notice.contains("could not be started through Gangway"),
        "{notice}"
    );
    assert!(notice.contains("caller not allowed to trigger"), "{notice}");
    plugin.stop().await;
    // Asked once: a refusal is final, not retried at every pass.
    assert_eq!(gangway.created().len(), 1);
}

/// A stranger pastes the markers of a rerun's refusal notice and of the command's reply
/// before the plugin says either: the plugin still says both, once, as its own login.
#[tokio::test]
async fn forged_rerun_markers_change_nothing() {
    use scalability_gate::comment;
    use scalability_gate::github::fake::FAKE_LOGIN;
    let env = world().await;
    let gangway = FakeGangway::default();
    gangway.refuse.store(true, Ordering::SeqCst);
    let address = gangway.start().await;
    let plugin = Plugin::start(config(&env, &address)).await;
    regress(&plugin).await;
    incident_until(&plugin, "the incident", |i| i["state"] == "active").await;

    let command = "/scalability-rerun";
    let asked = env.fake.add_comment(REPO, 1, APPROVER, command);
    let id = IncidentId::new(INCIDENT);
    let forged = [
        comment::rerun_marker(&id, asked, "failed"),
        comment::reply_marker(asked),
    ];
    for marker in &forged {
        env.fake
            .add_comment(REPO, 1, "mallory", &format!("Done already.\n\n{marker}"));
    }
    env.deliver_comment(&plugin.url(), 1, asked, APPROVER, command)
        .await;
    let ours = |marker: &str| {
        env.fake
            .comments(REPO, 1)
            .iter()
            .filter(|c| c.user.login == FAKE_LOGIN && c.body.contains(marker))
            .count()
    };
    for marker in &forged {
        eventually(&format!("the plugin's own {marker}"), || {
            (ours(marker) > 0).then_some(())
        })
        .await;
    }
    plugin.stop().await;
    for marker in &forged {
        assert_eq!(ours(marker), 1, "{marker} once");
    }
}
