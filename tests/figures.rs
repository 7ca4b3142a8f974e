//! The gate's own figures and the stale signal end to end (issue 18, items 3 and 4), over
//! real sockets: the plugin runs on an injected clock the test moves on, runs arrive through
//! the Results gRPC API, commands as signed webhooks, GitHub is the stateful fake, and the
//! figures are read back from `/api/v1/status`, `/api/v1/summary`, `/metrics` and gRPC
//! `GetStatus`.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use scalability_gate::clock::Clock;
use scalability_gate::model::Timestamp;
use scalability_gate::pb::scalability_gate::v1::GetStatusRequest;
use scalability_gate::pb::scalability_gate::v1::gate_client::GateClient;
use serde_json::Value;
use support::{Plugin, REPO, World, eventually, report_run_started};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const APPROVER: &str = "alice";
/// The time the test's clock starts at.
const T0: i64 = 1_790_000_000;

/// A clock the test moves by hand, and its handle.
fn manual_clock() -> (Clock, Arc<AtomicI64>) {
    let at = Arc::new(AtomicI64::new(T0));
    let seen = at.clone();
    (
        Clock::from_fn(move || Timestamp(seen.load(Ordering::SeqCst))),
        at,
    )
}

async fn get_json(url: String) -> Value {
    let response = reqwest::get(&url).await.expect("answered");
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.expect("JSON")
}

/// Whether `/metrics` has the sample `name{..job..} value`.
fn has_sample(metrics: &str, name: &str, value: &str) -> bool {
    metrics.lines().any(|l| {
        l.starts_with(&format!("{name}{{"))
            && l.contains(&format!("job=\"{JOB}\""))
            && l.ends_with(&format!(" {value}"))
    })
}

#[tokio::test]
async fn a_silent_job_turns_stale_and_clears_with_the_next_finished_run() {
    let world = World::builder().build().await;
    let mut config = world.config();
    config.jobs[0].max_silence = Some(Duration::from_secs(3600));
    let (clock, at) = manual_clock();
    let plugin = Plugin::start_with_clock(config, clock).await;
    let status_url = format!("{}/api/v1/status", plugin.url());
    let job = |status: &Value| status["jobs"][0].clone();

    // Just started, no run ever seen: silent since the start, not stale yet.
    let status = get_json(status_url.clone()).await;
    assert_eq!(job(&status)["stale"], false, "{status}");
    assert_eq!(job(&status)["silent_seconds"], 0);
    assert!(has_sample(
        &plugin.metrics().await,
        "scalability_gate_job_stale",
        "0"
    ));

    // An hour without a finished run: stale, a warning and never a block.
    at.store(T0 + 3600, Ordering::SeqCst);
    let status = get_json(status_url.clone()).await;
    assert_eq!(job(&status)["stale"], true, "{status}");
    assert_eq!(job(&status)["silent_seconds"], 3600);
    assert_eq!(job(&status)["blocked"], false);
    assert_eq!(status["incidents"].as_array().map(Vec::len), Some(0));
    assert!(has_sample(
        &plugin.metrics().await,
        "scalability_gate_job_stale",
        "1"
    ));
    let page = reqwest::get(plugin.url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("⚠ stale: no finished run for 1h 0m"),
        "{page}"
    );
    let mut gate = GateClient::connect(format!("http://{}", plugin.bound.grpc))
        .await
        .unwrap();
    let answer = gate
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.stale_jobs, vec![JOB.to_string()]);

    // A run that finished now (a red one counts as well as a green one) clears it.
    report_run_started(&plugin.bound.grpc.to_string(), JOB, 7, "aborted", T0 + 1800).await;
    let status = eventually("the job no longer stale", async || {
        let status = get_json(status_url.clone()).await;
        if job(&status)["stale"] == false {
            Ok(status)
        } else {
            Err(status)
        }
    })
    .await;
    assert_eq!(job(&status)["silent_seconds"], 0);
    assert!(has_sample(
        &plugin.metrics().await,
        "scalability_gate_job_stale",
        "0"
    ));
    plugin.stop().await;
}

#[tokio::test]
async fn a_red_run_blocked_then_unblocked_final_is_counted_as_a_false_block() {
    let world = World::builder().approver_user(APPROVER).build().await;
    world.fake.add_repo(REPO);
    let (clock, at) = manual_clock();
    let plugin = Plugin::start_with_clock(world.config(), clock).await;
    let grpc = plugin.bound.grpc.to_string();
    let summary_url = format!("{}/api/v1/summary", plugin.url());

    // Green, then red finishing half an hour before now: the incident opens now, and its
    // blocker issue is opened at once (the clock stands), 1800 s after the red finish.
    report_run_started(&grpc, JOB, 1, "success", T0 - 7200).await;
    report_run_started(&grpc, JOB, 2, "failure", T0 - 3600).await;
    let issue = eventually("the blocker issue open", || world.open_blockers().pop()).await;
    let summary = eventually("the time to block recorded", async || {
        let summary = get_json(summary_url.clone()).await;
        if summary["time_to_block_seconds"]["p50"] == 1800 {
            Ok(summary)
        } else {
            Err(summary)
        }
    })
    .await;
    assert_eq!(summary["incidents"], 1, "{summary}");
    assert_eq!(summary["active"], 1);
    assert_eq!(summary["false_blocks"], 0, "not resolved yet");

    // Ten minutes later an approver lifts it for good, naming no culprit.
    at.store(T0 + 600, Ordering::SeqCst);
    world
        .comment(
            &plugin.url(),
            issue.number,
            APPROVER,
            "/scalability-unblock --final infra flake",
        )
        .await;
    let summary = eventually("the incident resolved", async || {
        let summary = get_json(summary_url.clone()).await;
        if summary["active"] == 0 && summary["false_blocks"] == 1 {
            Ok(summary)
        } else {
            Err(summary)
        }
    })
    .await;
    let figures = |f: &Value| {
        assert_eq!(f["incidents"], 1, "{f}");
        assert_eq!(f["active"], 0);
        assert_eq!(f["reblocks"], 0);
        assert_eq!(f["false_blocks"], 1);
        assert_eq!(f["time_to_block_seconds"]["p50"], 1800);
        assert_eq!(f["time_to_block_seconds"]["max"], 1800);
        assert_eq!(f["blocked_seconds"]["total"], 600);
    };
    figures(&summary);
    figures(&summary["jobs"][JOB]);
    // The status API carries the same summary.
    let status = get_json(format!("{}/api/v1/status", plugin.url())).await;
    assert_eq!(status["summary"], summary);

    let metrics = plugin.metrics().await;
    for (name, value) in [
        ("scalability_gate_incidents_total", "1"),
        ("scalability_gate_false_blocks_total", "1"),
        ("scalability_gate_reblocks_total", "0"),
        ("scalability_gate_blocked_seconds_total", "600"),
        ("scalability_gate_time_to_block_seconds_count", "1"),
        ("scalability_gate_time_to_block_seconds_sum", "1800.0"),
    ] {
        assert!(
            has_sample(&metrics, name, value),
            "{name} {value} in:\n{metrics}"
        );
    }

    let mut gate = GateClient::connect(format!("http://{}", plugin.bound.grpc))
        .await
        .unwrap();
    let answer = gate
        .get_status(GetStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let all = answer.summary.expect("the summary in GetStatus");
    assert_eq!((all.incidents, all.false_blocks), (1, 1));
    assert_eq!(all.time_to_block_p50_seconds, Some(1800));
    assert_eq!(all.blocked_seconds_total, 600);
    assert_eq!(answer.summary_jobs[JOB].incidents, 1);

    let page = reqwest::get(plugin.url())
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("id=\"figures-h\""), "{page}");
    assert!(
        page.contains("<td data-label=\"False blocks\">1</td>"),
        "{page}"
    );
    plugin.stop().await;
}

/// A recorded culprit decides whether a resolved incident was a false block: a revert
/// makes it a true one, and replacing it with `flake` makes it false again.
#[tokio::test]
async fn a_recorded_culprit_decides_whether_the_block_was_false() {
    let world = World::builder().approver_user(APPROVER).build().await;
    world.fake.add_repo(REPO);
    let (clock, _at) = manual_clock();
    let plugin = Plugin::start_with_clock(world.config(), clock).await;
    let grpc = plugin.bound.grpc.to_string();
    let summary_url = format!("{}/api/v1/summary", plugin.url());
    report_run_started(&grpc, JOB, 1, "success", T0 - 7200).await;
    report_run_started(&grpc, JOB, 2, "failure", T0 - 3600).await;
    let issue = eventually("the blocker issue open", || world.open_blockers().pop()).await;
    let false_blocks_become = |want: u64, what: &'static str| {
        let url = summary_url.clone();
        async move {
            eventually(what, async || {
                let summary = get_json(url.clone()).await;
                if summary["active"] == 0 && summary["false_blocks"] == want {
                    Ok(summary)
                } else {
                    Err(summary)
                }
            })
            .await
        }
    };

    world
        .comment(
            &plugin.url(),
            issue.number,
            APPROVER,
            "/scalability-culprit #4242 revert reverted",
        )
        .await;
    world
        .comment(
            &plugin.url(),
            issue.number,
            APPROVER,
            "/scalability-unblock --final reverted",
        )
        .await;
    let summary = false_blocks_become(0, "resolved with a revert: no false block").await;
    assert_eq!(summary["incidents"], 1, "{summary}");

    world
        .comment(
            &plugin.url(),
            issue.number,
            APPROVER,
            "/scalability-culprit #4242 flake it was the cluster",
        )
        .await;
    false_blocks_become(1, "the culprit replaced by a flake: a false block").await;
    plugin.stop().await;
}

/// An unparsable `max_silence` stops the plugin at start with exit 2, naming the key.
#[test]
fn an_unparsable_max_silence_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n\
             grpc_listen: 127.0.0.1:0\ndry_run: true\nhmac_secret_file: {}\n\
             store_path: {}\njobs:\n  - name: {JOB}\n    scopes:\n\
             \x20     - repo: kubernetes/kubernetes\n        branch: master\n\
             \x20   max_silence: half a day\n",
            hmac.display(),
            dir.path().join("store").display(),
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
        .args(["serve", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("jobs[0].max_silence"), "{stderr}");
    assert!(stderr.contains("half a day"), "{stderr}");
}
