//! The incident lifecycle end to end, the guards after a block (issue 17): a manual block's
//! suspects in its blocker issue and no automatic lift of it; a merge into a blocked branch
//! whose webhook was lost, found by the resync and recorded once; the real binary killed
//! with SIGKILL between a re-block's steps and restarted on the same store; a store
//! written by version 1 whose `lifted` incident never re-blocks after the upgrade. Over
//! real sockets: runs through the Results gRPC API, signed webhooks on `/hook`, the
//! stateful fake GitHub, the plugin's own `/api/v1`.

mod common;

use common::{API_TOKEN, Binary, Plugin, REPO, World, bearer, eventually, report_run_tested};
use scalability_gate::config::Config;
use scalability_gate::config::JobConfig;
use scalability_gate::github::fake::{MergedPr, PrSpec};
use scalability_gate::model::Timestamp;
use scalability_gate::pb::scalability_gate::v1::gate_client::GateClient;
use scalability_gate::pb::scalability_gate::v1::{ExemptRequest, UnblockRequest};
use serde_json::Value;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";

/// The wall clock in seconds: incidents and lifts are stamped with it.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A world whose team approves, with ready PRs #1 and #2 on master.
async fn world() -> World {
    let world = World::builder().approver_team(TEAM, APPROVER).build().await;
    for n in 1..=2 {
        let spec = PrSpec::new("master").labels(&["lgtm", "approved"]);
        assert_eq!(world.fake.add_pr(REPO, spec), n);
    }
    world
}

/// Reports run `build` of the job (`result`) started at `started`, with its tested commit
/// of the repo when known.
async fn report(grpc: &str, build: u64, result: &str, started: i64, commit: Option<&str>) {
    report_job(grpc, JOB, build, result, started, commit).await;
}

/// As [`report`], for `job`.
async fn report_job(
    grpc: &str,
    job: &str,
    build: u64,
    result: &str,
    started: i64,
    commit: Option<&str>,
) {
    let commits: Vec<(&str, &str)> = commit.map(|c| (REPO, c)).into_iter().collect();
    report_run_tested(grpc, job, build, result, started, &commits).await;
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// Polls `/api/v1/incidents/{id}` until `check` holds.
async fn incident_until(url: &str, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let url = format!("{url}/api/v1/incidents/{id}");
    let deadline = tokio::time::Instant::now() + common::TIMEOUT;
    loop {
        let json = get_json(&url).await;
        if check(&json) {
            return json;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {json}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Waits until run `build` of the job is recorded (runs are applied in order, so every
/// run reported before it is too).
async fn run_recorded(url: &str, build: u64) {
    let url = format!("{url}/api/v1/status");
    let wanted = build.to_string();
    let deadline = tokio::time::Instant::now() + common::TIMEOUT;
    loop {
        let status = get_json(&url).await;
        let recorded = status["jobs"][0]["runs"]
            .as_array()
            .is_some_and(|runs| runs.iter().any(|r| r["build_id"] == wanted.as_str()));
        if recorded {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for run {build}: {status}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The open blocker issues' numbers.
fn open_blockers(world: &World) -> Vec<u64> {
    world.open_blockers().iter().map(|i| i.number).collect()
}

#[tokio::test]
async fn a_manual_block_lists_its_suspects_and_is_never_lifted_automatically() {
    let world = world().await;
    let t = now();
    // History: #3 before the last green run, #4 and #5 after it.
    let before = world.fake.merge_pr(
        REPO,
        MergedPr::new("master", "old change", Timestamp(t - 6 * 3600)),
    );
    let green = before.merge_commit.clone();
    let a = world.fake.merge_pr(
        REPO,
        MergedPr::new("master", "faster scheduler", Timestamp(t - 3 * 3600)).size(900, 40),
    );
    let b = world.fake.merge_pr(
        REPO,
        MergedPr::new("master", "docs", Timestamp(t - 2 * 3600)),
    );
    let mut config = world.config();
    config.jobs[0].auto_unblock_on_recovery = true;
    let plugin = Plugin::start(config).await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    // The job's latest run is green: the range reaches the branch head.
    report(&grpc, 1, "success", t - 5 * 3600, Some(&green)).await;
    run_recorded(&url, 1).await;

    let comment = world
        .comment(
            &url,
            1,
            APPROVER,
            &format!("/scalability-block {JOB} looks slow"),
        )
        .await;
    let id = format!("{JOB}-manual-{comment}");
    let issue = eventually("a blocker issue listing the suspects", || {
        world.open_blockers().into_iter().find(|i| {
            let body = i.body.clone().unwrap_or_default();
            body.contains(&format!("#{}", a.number)) && body.contains(&format!("#{}", b.number))
        })
    })
    .await;
    let body = issue.body.unwrap_or_default();
    assert!(
        !body.contains(&format!("#{} ", before.number))
            && !body.contains(&format!("#{}|", before.number)),
        "the PR before the last green run is no suspect: {body}"
    );
    assert!(body.contains("latest run"), "{body}");
    let json = incident_until(&url, &id, "suspects", |j| {
        j["suspects"].as_array().is_some_and(|s| s.len() == 2)
    })
    .await;
    assert_eq!(json["state"], "active", "{json}");
    eventually("PRs labelled", || {
        (world.has_label(1) && world.has_label(2)).then_some(())
    })
    .await;

    // Red, then green (a recovery) with auto_unblock_on_recovery: a manual block stays.
    report(&grpc, 2, "failure", t - 3600, None).await;
    report(&grpc, 3, "success", t - 1800, None).await;
    run_recorded(&url, 3).await;
    let json = get_json(&format!("{url}/api/v1/incidents/{id}")).await;
    assert_eq!(
        json["state"], "active",
        "never lifted automatically: {json}"
    );
    assert_eq!(json["resolved_how"], Value::Null);
    assert!(world.has_label(1));
    assert_eq!(open_blockers(&world), vec![issue.number]);
    plugin.stop().await;
}

#[tokio::test]
async fn a_merge_whose_webhook_was_lost_is_found_by_the_resync_once() {
    let world = world().await;
    world.fake.set_search_limit(0);
    let t = now();
    // Merged two days before the block: no breach.
    let earlier = world.fake.merge_pr(
        REPO,
        MergedPr::new("master", "earlier", Timestamp(t - 2 * 86_400)),
    );
    let mut config = world.config();
    config.reconcile.resync_interval = std::time::Duration::from_secs(1);
    let plugin = Plugin::start(config).await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    report(&grpc, 1, "success", t - 5 * 3600, None).await;
    report(&grpc, 2, "failure", t - 4 * 3600, None).await;
    let id = format!("{JOB}-2");
    eventually("blocked", || {
        (world.has_label(1) && open_blockers(&world).len() == 1).then_some(())
    })
    .await;
    let issue = open_blockers(&world)[0];

    // Merged during the block; GitHub's webhook never reaches the plugin.
    let merged_at = now() + 1;
    let sneaky = world.fake.merge_pr(
        REPO,
        MergedPr::new("master", "merged anyway", Timestamp(merged_at)).author("hasty"),
    );
    let json = incident_until(&url, &id, "the breach recorded", |j| {
        j["breaches"].as_array().is_some_and(|b| !b.is_empty())
    })
    .await;
    assert_eq!(json["breaches"][0]["pr"], sneaky.number, "{json}");
    assert_eq!(json["breaches"][0]["at"], merged_at, "{json}");
    world
        .comment_with(issue, &format!("breach/{} -->", sneaky.number))
        .await;

    // Two more resyncs search again: nothing is recorded or said twice.
    let searches = || {
        world
            .fake
            .requests()
            .iter()
            .filter(|r| r.path == "/search/issues" && r.query.contains("merged"))
            .count()
    };
    let seen = searches();
    eventually("two more resyncs", || {
        (searches() >= seen + 2).then_some(())
    })
    .await;
    let json = get_json(&format!("{url}/api/v1/incidents/{id}")).await;
    let breaches = json["breaches"].as_array().unwrap();
    assert_eq!(breaches.len(), 1, "recorded once: {json}");
    assert!(breaches.iter().all(|b| b["pr"] != earlier.number));
    let notices = world
        .fake
        .comments(REPO, issue)
        .into_iter()
        .filter(|c| c.body.contains(&format!("breach/{} -->", sneaky.number)))
        .count();
    assert_eq!(notices, 1, "said once");
    let status = get_json(&format!("{url}/api/v1/status")).await;
    let audited = status["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["command"] == "finding: breach")
        .count();
    assert_eq!(audited, 1, "audited once: {status}");
    assert!(
        plugin
            .metrics()
            .await
            .lines()
            .any(|l| l.starts_with("scalability_gate_breaches_total") && l.ends_with(" 1")),
        "counted once"
    );
    plugin.stop().await;
}

/// Where the first binary is killed during the re-block: its comment on the reopened
/// issue held unanswered (not posted), or its first label held (reopened and said).
#[derive(Debug, Clone, Copy)]
enum KillAt {
    ReblockComment,
    FirstLabel,
}

#[tokio::test]
async fn sigkill_between_the_reblocks_steps_converges_with_no_duplicate() {
    for at in [KillAt::ReblockComment, KillAt::FirstLabel] {
        kill_during_reblock(at).await;
    }
}

async fn kill_during_reblock(at: KillAt) {
    let world = world().await;
    let config_file = world.dir.path().join("config.yaml");
    let config: Config = world.config();
    std::fs::write(&config_file, config.to_redacted_yaml()).unwrap();
    let first = Binary::spawn(&config_file);
    let t = now();
    report(&first.grpc, 1, "success", t - 5 * 3600, None).await;
    report(&first.grpc, 2, "failure", t - 4 * 3600, None).await;
    eventually("blocked", || {
        (world.has_label(1) && world.has_label(2) && open_blockers(&world).len() == 1).then_some(())
    })
    .await;
    let issue = open_blockers(&world)[0];
    world
        .comment(&first.url, 1, APPROVER, "/scalability-unblock reverted")
        .await;
    world.comment_with(issue, ":lifted").await;
    eventually("lifted and cleaned up", || {
        (!world.has_label(1) && !world.has_label(2) && open_blockers(&world).is_empty())
            .then_some(())
    })
    .await;

    let held = match at {
        KillAt::ReblockComment => world
            .fake
            .stall_request("POST", &format!("/issues/{issue}/comments")),
        KillAt::FirstLabel => world.fake.stall_request("POST", "/labels"),
    };
    let before = world.fake.request_count();
    report(&first.grpc, 3, "failure", now() + 3600, None).await;
    let point = tokio::time::timeout(common::TIMEOUT, held)
        .await
        .expect("the re-block reached the kill point")
        .expect("the stall fired");
    first.kill();
    world.fake.release_stalls();
    assert_eq!(
        open_blockers(&world),
        vec![issue],
        "{at:?}: reopened before the kill"
    );
    let said = |w: &World| {
        w.fake
            .comments(REPO, issue)
            .into_iter()
            .filter(|c| c.body.contains(":reblock-1 -->"))
            .count()
    };
    match at {
        KillAt::ReblockComment => assert_eq!(said(&world), 0, "held: {point:?}"),
        KillAt::FirstLabel => assert_eq!(said(&world), 1, "said before labels: {point:?}"),
    }

    let second = Binary::spawn(&config_file);
    eventually("re-blocked after the restart", || {
        (world.has_label(1) && world.has_label(2) && said(&world) == 1).then_some(())
    })
    .await;
    // Settle: a status read after the restart's first pass; then nothing was done twice.
    incident_until(&second.url, &format!("{JOB}-2"), "active", |j| {
        j["state"] == "active" && j["reblocks"] == 1
    })
    .await;
    second.kill();
    assert_eq!(said(&world), 1, "{at:?}: one re-block comment");
    assert_eq!(world.blockers().len(), 1, "{at:?}: one issue ever");
    assert_eq!(open_blockers(&world), vec![issue]);
    let reopens = world.fake.requests()[before..]
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.path.ends_with(&format!("/issues/{issue}")) && r.applied
        })
        .count();
    assert_eq!(reopens, 1, "{at:?}: one reopen");
    let label_adds = world.fake.requests()[before..]
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/labels") && r.applied)
        .count();
    assert!(
        label_adds <= 2,
        "{at:?}: each PR labelled once ({label_adds})"
    );
}

#[tokio::test]
async fn a_lifted_incident_stored_by_version_1_is_resolved_and_never_reblocks() {
    let world = world().await;
    let t = now();
    let id = format!("{JOB}-2");
    {
        // What version 1 wrote: the job's incident lifted by hand three hours ago.
        let db = sled::open(world.store_path()).unwrap();
        let tree = db.open_tree("incidents").unwrap();
        let record = serde_json::json!({"v": 1, "data": {
            "id": id, "job": JOB, "opened_at": t - 4 * 3600,
            "cause": {"kind": "regression",
                "first_red": {"build_id": "2", "url": "https://prow.example/view/2", "started_at": t - 4 * 3600},
                "last_green": {"build_id": "1", "url": "https://prow.example/view/1", "started_at": t - 5 * 3600}},
            "scopes": [{"repo": REPO, "branch": "master"}],
            "state": {"state": "lifted", "by": APPROVER, "reason": "fixed", "at": t - 3 * 3600},
        }});
        tree.insert(id.as_bytes(), serde_json::to_vec(&record).unwrap())
            .unwrap();
        db.flush().unwrap();
    }
    let plugin = world.start().await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    let json = get_json(&format!("{url}/api/v1/incidents/{id}")).await;
    assert_eq!(json["state"], "resolved", "{json}");
    assert_eq!(json["resolved_how"], "final", "{json}");
    // The runs again, then a red run started after the old lift: nothing re-blocks.
    report(&grpc, 1, "success", t - 5 * 3600, None).await;
    report(&grpc, 2, "failure", t - 4 * 3600, None).await;
    report(&grpc, 3, "failure", t - 3600, None).await;
    run_recorded(&url, 3).await;
    let json = get_json(&format!("{url}/api/v1/incidents/{id}")).await;
    assert_eq!(json["state"], "resolved", "{json}");
    assert_eq!(json["reblocks"], 0, "{json}");
    let status = get_json(&format!("{url}/api/v1/status")).await;
    assert!(
        status["incidents"].as_array().unwrap().is_empty(),
        "nothing blocks: {status}"
    );
    assert!(!world.has_label(1) && !world.has_label(2));
    assert!(world.blockers().is_empty());
    plugin.stop().await;
}

#[tokio::test]
async fn grpc_unblock_and_exempt_act_only_where_they_say() {
    const RELEASE_JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100-release";
    const RELEASE: &str = "release-1.34";
    let world = world().await;
    assert_eq!(
        world
            .fake
            .add_pr(REPO, PrSpec::new(RELEASE).labels(&["lgtm", "approved"])),
        3
    );
    let mut config = world.config();
    config.jobs = vec![
        JobConfig::new(JOB, REPO, "master"),
        JobConfig::new(RELEASE_JOB, REPO, RELEASE),
    ];
    let plugin = Plugin::start(config).await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    let t = now();
    for job in [JOB, RELEASE_JOB] {
        report_job(&grpc, job, 1, "success", t - 5 * 3600, None).await;
        report_job(&grpc, job, 2, "failure", t - 4 * 3600, None).await;
    }
    eventually("both branches blocked", || {
        (world.has_label(1) && world.has_label(3)).then_some(())
    })
    .await;
    let (master, release) = (format!("{JOB}-2"), format!("{RELEASE_JOB}-2"));
    let mut gate = GateClient::connect(format!("http://{grpc}")).await.unwrap();

    // Exempt with its base branch: only the master incident.
    let exempted = gate
        .exempt(bearer(
            ExemptRequest {
                repo: REPO.into(),
                pr: 1,
                reason: "the fix".into(),
                actor: "ops".into(),
                branch: "master".into(),
            },
            API_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exempted.incident_ids, vec![master.clone()]);
    let json = get_json(&format!("{url}/api/v1/incidents/{release}")).await;
    assert_eq!(json["exemptions"].as_array().unwrap().len(), 0, "{json}");

    // An incident id with a branch it does not block: refused, nothing lifted.
    let refused = gate
        .unblock(bearer(
            UnblockRequest {
                incident_id: master.clone(),
                repo: REPO.into(),
                branch: RELEASE.into(),
                ..Default::default()
            },
            API_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    // A repo without a branch: refused.
    let refused = gate
        .unblock(bearer(
            UnblockRequest {
                repo: REPO.into(),
                ..Default::default()
            },
            API_TOKEN,
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");

    // Unblock by scope: the release branch only.
    let lifted = gate
        .unblock(bearer(
            UnblockRequest {
                repo: REPO.into(),
                branch: RELEASE.into(),
                reason: "fixed on the branch".into(),
                actor: "ops".into(),
                ..Default::default()
            },
            API_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(lifted.incident_ids, vec![release.clone()]);
    eventually("the release branch unblocked", || {
        (!world.has_label(3)).then_some(())
    })
    .await;
    let json = get_json(&format!("{url}/api/v1/incidents/{master}")).await;
    assert_eq!(json["state"], "active", "{json}");
    assert!(world.has_label(2), "master stays blocked");
    plugin.stop().await;
}
