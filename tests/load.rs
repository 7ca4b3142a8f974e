//! Load through the real binary: rounds of concurrent command-bearing webhooks (each kept
//! in the inbox and flushed before its 200) together with concurrent Pub/Sub pushes (each
//! answered only once stored and flushed), against the fake GitHub over HTTP.
//!
//! Every request must be answered 2xx within [`TIMEOUT`], a fresh delivery must still be
//! answered after each round, every command gets exactly one reply, a red run pushed after
//! all that still blocks, and SIGTERM still stops the process cleanly. With sled's
//! `flush_async` (concurrent flushes deadlock, spacejam/sled#1308) the first round hung.
//!
//! A burst of concurrent commands, each answered 200, is all in the store when the binary
//! is killed with SIGKILL right after the last answer, and each is replied to exactly once
//! after the restart.
//!
//! Round times are printed for information only: `cargo test --test load -- --nocapture`.

mod common;

use std::time::Instant;

use base64::Engine;
use common::{Binary, TIMEOUT, post_webhook, sign_sha256, test_config};
use scalability_gate::Store;
use scalability_gate::github::fake::{FakeGithub, PrSpec};
use serde_json::json;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const REPO: &str = "kubernetes/kubernetes";
const BLOCKER: &str = "tide/merge-blocker";
const KEY: &str = "load-test-hmac-key";
const PUSH_TOKEN: &str = "load-push-token";
const COMMENTER: &str = "someone";

/// Rounds, and webhooks and pushes per round (each sent all at once).
const ROUNDS: u64 = 3;
const PER_ROUND: u64 = 64;

/// PRs the commands are spread over.
const PRS: u64 = 8;

/// A `/scalability-status` comment posted on PR `pr` and its signed webhook.
struct StatusCommand {
    pr: u64,
    comment: u64,
    delivery: String,
    body: Vec<u8>,
}

impl StatusCommand {
    fn post(fake: &FakeGithub, pr: u64, delivery: String) -> StatusCommand {
        let text = "/scalability-status";
        let comment = fake.add_comment(REPO, pr, COMMENTER, text);
        let payload = json!({
            "action": "created",
            "repository": {"full_name": REPO},
            "issue": {"number": pr, "title": format!("PR {pr}"), "labels": [],
                "pull_request": {"url": format!("https://api.github.com/repos/{REPO}/pulls/{pr}")}},
            "comment": {"id": comment, "body": text, "html_url": "",
                "user": {"login": COMMENTER, "type": "User"}},
            "sender": {"login": COMMENTER, "type": "User"},
        });
        StatusCommand {
            pr,
            comment,
            delivery,
            body: serde_json::to_vec(&payload).unwrap(),
        }
    }

    /// How many of the plugin's comments carry this command's reply marker.
    fn replies(&self, fake: &FakeGithub) -> usize {
        let marker = format!("scalability-gate:reply-{}:reply", self.comment);
        fake.comments(REPO, self.pr)
            .iter()
            .filter(|c| c.body.contains(&marker))
            .count()
    }
}

/// The push envelope of crier's report about run `build`.
fn push_body(build: u64, status: &str) -> String {
    let report = json!({
        "project": "p", "topic": "crier", "runid": format!("run-{build}"),
        "status": status,
        "url": format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{JOB}/{build}"),
        "gcs_path": format!("gs://kubernetes-ci-logs/logs/{JOB}/{build}"),
        "job_type": "periodic", "job_name": JOB,
    });
    let data = base64::engine::general_purpose::STANDARD.encode(report.to_string());
    json!({
        "message": {"data": data, "attributes": {}, "messageId": format!("m-{build}"),
            "publishTime": "2025-11-25T10:00:00Z"},
        "subscription": "projects/p/subscriptions/crier-push",
    })
    .to_string()
}

/// One request's status, or a failure naming it when it is not answered in [`TIMEOUT`].
async fn answered(what: String, request: reqwest::RequestBuilder) -> (String, u16) {
    match tokio::time::timeout(TIMEOUT, request.send()).await {
        Ok(Ok(response)) => (what, response.status().as_u16()),
        Ok(Err(error)) => panic!("{what}: {error}"),
        Err(_) => panic!("{what}: not answered within {TIMEOUT:?}"),
    }
}

async fn push(http: &reqwest::Client, url: &str, build: u64, status: &str) -> u16 {
    let request = http
        .post(format!("{url}/pubsub/push?token={PUSH_TOKEN}"))
        .header("content-type", "application/json")
        .body(push_body(build, status));
    answered(format!("push {build}"), request).await.1
}

/// A fake GitHub with [`PRS`] ready PRs and the plugin's config file against it (not in
/// dry-run, so replies are posted), in `dir`.
async fn setup(dir: &std::path::Path) -> (FakeGithub, std::path::PathBuf) {
    let fake = FakeGithub::start().await.unwrap();
    for n in 1..=PRS {
        let spec = PrSpec::new("master").labels(&["lgtm", "approved"]);
        assert_eq!(fake.add_pr(REPO, spec.author(&format!("dev{n}"))), n);
    }
    std::fs::write(dir.join("hmac"), KEY).unwrap();
    std::fs::write(dir.join("token"), format!("{}\n", fake.token())).unwrap();
    std::fs::write(dir.join("push-token"), format!("{PUSH_TOKEN}\n")).unwrap();
    let mut config = test_config(&dir.join("store"), &dir.join("hmac"));
    config.dry_run = false;
    config.github.endpoints = vec![fake.url()];
    config.github.token_file = dir.join("token");
    config.github.mutations_per_minute = 100_000;
    config.github.mutations_per_hour = 1_000_000;
    config.sources.pubsub_push.token_file = dir.join("push-token").to_string_lossy().into_owned();
    let config_file = dir.join("config.yaml");
    std::fs::write(&config_file, config.to_redacted_yaml()).unwrap();
    (fake, config_file)
}

/// `command` as a signed webhook request to the plugin at `url`, answered in a task.
fn deliver(
    http: &reqwest::Client,
    url: &str,
    command: &StatusCommand,
) -> tokio::task::JoinHandle<(String, u16)> {
    let request = http
        .post(format!("{url}/hook"))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", &command.delivery)
        .header("X-Hub-Signature-256", sign_sha256(KEY, &command.body))
        .header("Content-Type", "application/json")
        .header("User-Agent", "ProwHook")
        .body(command.body.clone());
    tokio::spawn(answered(format!("webhook {}", command.delivery), request))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_and_pushes_through_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, config_file) = setup(dir.path()).await;
    let bin = Binary::spawn(&config_file);
    // One connection per request, as separate hook replicas and Pub/Sub would open.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();

    let mut commands = Vec::new();
    for round in 0..ROUNDS {
        let batch: Vec<StatusCommand> = (0..PER_ROUND)
            .map(|i| {
                let pr = 1 + (round * PER_ROUND + i) % PRS;
                StatusCommand::post(&fake, pr, format!("load-{round}-{i}"))
            })
            .collect();
        let started = Instant::now();
        let mut requests = Vec::new();
        for command in &batch {
            requests.push(deliver(&http, &bin.url, command));
        }
        for i in 0..PER_ROUND {
            // Ten-digit build ids, all green, in one order whatever the sort.
            let build = 1_000_000_000 + round * PER_ROUND + i;
            let request = http
                .post(format!("{}/pubsub/push?token={PUSH_TOKEN}", bin.url))
                .header("content-type", "application/json")
                .body(push_body(build, "success"));
            requests.push(tokio::spawn(answered(format!("push {build}"), request)));
        }
        for request in requests {
            let (what, status) = request.await.expect("request task");
            assert!((200..300).contains(&status), "{what}: answered {status}");
        }
        eprintln!(
            "round {round}: {} webhooks and {} pushes answered in {:?}",
            PER_ROUND,
            PER_ROUND,
            started.elapsed()
        );
        // Still serving: a fresh delivery is answered.
        let fresh = StatusCommand::post(&fake, 1, format!("load-fresh-{round}"));
        let status = tokio::time::timeout(
            TIMEOUT,
            post_webhook(&bin.url, KEY, "issue_comment", &fresh.delivery, &fresh.body),
        )
        .await
        .expect("a fresh delivery answered after the round");
        assert_eq!(status, 200, "fresh delivery after round {round}");
        commands.extend(batch);
        commands.push(fresh);
    }

    let started = Instant::now();
    common::eventually("every command replied to", || {
        commands.iter().all(|c| c.replies(&fake) >= 1).then_some(())
    })
    .await;
    eprintln!(
        "{} commands all replied {:?} after the last round",
        commands.len(),
        started.elapsed()
    );
    for command in &commands {
        assert_eq!(
            command.replies(&fake),
            1,
            "comment {} on #{} replied to once",
            command.comment,
            command.pr
        );
    }

    // The gate still works: a red run after the greens blocks.
    let green = 1_000_000_000 + ROUNDS * PER_ROUND;
    assert_eq!(push(&http, &bin.url, green, "success").await, 200);
    assert_eq!(push(&http, &bin.url, green + 1, "failure").await, 200);
    common::eventually("a blocker issue after the red run", || {
        fake.issues(REPO)
            .iter()
            .any(|i| i.is_open() && i.has_label(BLOCKER))
            .then_some(())
    })
    .await;

    bin.stop().await;
}

/// [`PER_ROUND`] command-bearing webhooks sent at once, each answered 200; SIGKILL right
/// after the last answer. Every one of them is in the store: still in the inbox (to be
/// replayed), or decided (its delivery remembered, written with its decision). After the
/// restart each is replied to exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commands_answered_200_survive_sigkill_right_after_the_last_answer() {
    let dir = tempfile::tempdir().unwrap();
    let (fake, config_file) = setup(dir.path()).await;
    let bin = Binary::spawn(&config_file);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let commands: Vec<StatusCommand> = (0..PER_ROUND)
        .map(|i| StatusCommand::post(&fake, 1 + i % PRS, format!("kill-{i}")))
        .collect();
    let requests: Vec<_> = commands
        .iter()
        .map(|c| deliver(&http, &bin.url, c))
        .collect();
    for request in requests {
        let (what, status) = request.await.expect("request task");
        assert_eq!(status, 200, "{what}");
    }
    bin.kill();

    let (mut kept, mut decided) = (0, 0);
    {
        let store = Store::open(&dir.path().join("store")).unwrap();
        let inbox: Vec<String> = store
            .inbox_pending()
            .unwrap()
            .into_iter()
            .map(|(_, entry)| entry.expect("a readable inbox entry").delivery)
            .collect();
        for command in &commands {
            if inbox.contains(&command.delivery) {
                kept += 1;
            } else {
                assert!(
                    store.seen_delivery(&command.delivery).unwrap(),
                    "{} answered 200 but neither in the inbox nor decided",
                    command.delivery
                );
                decided += 1;
            }
        }
    }
    eprintln!("after SIGKILL: {kept} commands in the inbox, {decided} decided");

    let restarted = Binary::spawn(&config_file);
    common::eventually("every command replied to after the restart", || {
        commands.iter().all(|c| c.replies(&fake) >= 1).then_some(())
    })
    .await;
    for command in &commands {
        assert_eq!(
            command.replies(&fake),
            1,
            "{} (comment {} on #{}) replied to once",
            command.delivery,
            command.comment,
            command.pr
        );
    }
    restarted.stop().await;
}
