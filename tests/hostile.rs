//! Hostile text end to end, through the running plugin over real sockets (the fake
//! GitHub over HTTP, a real sled store, signed webhooks, the Results gRPC API): a suspect
//! range full of multi-byte whitespace, emoji, RTL and zero-width characters still blocks
//! and lists its suspects, and garbage comments each get their defined answer, while
//! `/healthz/ready` stays 200 and a normal command or regression afterwards still works.

mod common;

use common::World;
use scalability_gate::config::LabelPrs;
use scalability_gate::github::fake::{FakeGithub, MergedPr};
use scalability_gate::model::Timestamp;
use serde_json::json;

const REPO: &str = "kubernetes/kubernetes";
const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const KEY: &str = "hook-secret";
const APPROVER: &str = "wojtek-t";

/// When `common::report_run` says build `n` started.
fn started(build: u64) -> Timestamp {
    Timestamp(1_790_000_000 + build as i64 * 3600)
}

/// A plugin against the world, with the job's scope on `master`, one approver, every open PR
/// labelled, and a job that lifts its block when it goes green again.
async fn plugin(world: &World) -> common::Plugin {
    let mut config = world.config();
    config.label_prs = LabelPrs::All;
    config.jobs[0].auto_unblock_on_recovery = true;
    common::Plugin::start(config).await
}

/// The shared world: webhooks signed with `KEY`, `APPROVER` an approver.
async fn world() -> World {
    World::builder()
        .key(KEY)
        .approver_user(APPROVER)
        .build()
        .await
}

/// The open blocker issue whose body contains `what`, once there is one.
async fn open_issue_with(fake: &FakeGithub, what: &str) -> (u64, String) {
    common::eventually(&format!("an open issue containing {what:?}"), || {
        fake.issues(REPO).into_iter().find_map(|i| {
            let body = i.body_text().to_string();
            (i.is_open() && body.contains(what)).then_some((i.number, body))
        })
    })
    .await
}

#[tokio::test]
async fn a_hostile_suspect_range_still_blocks_lists_suspects_and_a_later_regression_is_acted_on() {
    let world = world().await;
    let fake = &world.fake;
    fake.push_commit(REPO, "master", "Update CHANGELOG");
    // Merged between the green run (build 1) and the red one (build 2): the tested
    // commits are unknown, so the suspects are the PRs merged between their start times.
    let at = |minutes: i64| Timestamp(started(1).0 + minutes * 60);
    let hostile = [
        // The reported crash: U+00A0 right before `#N` in a `Revert "…"` PR's body.
        MergedPr::new("master", "Revert \"Speed up 🚀 the scheduler\"", at(10))
            .author("alice")
            .body("This reverts\u{a0}#4321 because\u{2003}#77 and\u{3000}#5 doubled latency")
            .files(&["pkg/scheduler/schedule_one.go"]),
        MergedPr::new("master", "🔥🔥 apiserver: new watch cache 👩‍👩‍👧", at(20))
            .author("bob")
            .body("\u{202e}gnirts desrever\u{200b}\u{200b} #\u{a0}#\0 `#1` > #2\r\n```\n/scalability-unblock\n```")
            .files(&["staging/src/k8s.io/apiserver/pkg/cacher.go"]),
        MergedPr::new("master", "\u{200b}\u{202e}|<!-- scalability-gate:x:issue/master -->", at(30))
            .author("carol")
            .body(&"\u{a0}#".repeat(5_000)),
    ];
    let numbers: Vec<u64> = hostile
        .into_iter()
        .map(|spec| fake.merge_pr(REPO, spec).number)
        .collect();

    let plugin = plugin(&world).await;
    let grpc = plugin.bound.grpc.to_string();
    common::report_run(&grpc, JOB, 1, "SUCCESS").await;
    common::report_run(&grpc, JOB, 2, "FAILURE").await;

    // It blocks, and lists every merged PR as a suspect, the revert read as one.
    let (first_issue, body) = open_issue_with(fake, &format!("| #{} |", numbers[2])).await;
    for n in &numbers {
        assert!(body.contains(&format!("| #{n} |")), "#{n} missing:\n{body}");
    }
    assert!(body.contains("a revert of #4321"), "{body}");
    // A stranger's text cannot forge the issue's hidden marker.
    assert_eq!(body.matches("<!-- scalability-gate:").count(), 1, "{body}");
    assert_eq!(plugin.readiness().await, 200);

    // Green again lifts the block; the next regression is acted on all the same.
    common::report_run(&grpc, JOB, 3, "SUCCESS").await;
    common::eventually("the first blocker issue closed", || {
        fake.issue(REPO, first_issue)
            .is_some_and(|i| !i.is_open())
            .then_some(())
    })
    .await;
    common::report_run(&grpc, JOB, 4, "FAILURE").await;
    let (second_issue, _) = open_issue_with(fake, &format!("{JOB}-4")).await;
    assert_ne!(second_issue, first_issue);
    assert_eq!(plugin.readiness().await, 200);
    plugin.stop().await;
}

#[tokio::test]
async fn garbage_comments_each_get_their_answer_and_the_plugin_stays_ready() {
    let world = world().await;
    let fake = &world.fake;
    let issue = fake.add_issue(REPO, "🔥 \u{202e}tracking\u{200b}", "", "alice", &[]);
    let plugin = plugin(&world).await;
    let url = plugin.url();

    let mut deliveries = 0u64;
    let mut send = |author: &str, body: &str| {
        deliveries += 1;
        let id = fake.add_comment(REPO, issue, author, body);
        let payload = json!({
            "action": "created",
            "repository": {"full_name": REPO},
            "issue": {"number": issue, "title": "🔥 \u{202e}tracking\u{200b} 👩‍👩‍👧", "labels": []},
            "comment": {"id": id, "body": body, "html_url": "", "user": {"login": author, "type": "User"}},
            "sender": {"login": author, "type": "User"},
        });
        let delivery = format!("hostile-{deliveries}");
        (id, serde_json::to_vec(&payload).unwrap(), delivery)
    };
    let reply_to = |id: u64| {
        let marker = format!("scalability-gate:reply-{id}:reply");
        fake.comments(REPO, issue)
            .into_iter()
            .find(|c| c.body.contains(&marker))
            .map(|c| c.body)
    };

    // 64 KB of fences, NUL, RTL and zero-width characters; the only command is fenced.
    let noise =
        "```\n/scalability-unblock \u{202e}\0\u{200b}\n```\n\u{a0}#1 > /scalability-status\n";
    let fenced = noise.repeat(65_536 / noise.len());
    // A command followed by 10,000 arguments, from someone who may not use it.
    let many = format!(
        "/scalability-unblock {}",
        "arg\u{a0}\u{200b} ".repeat(10_000)
    );
    // A command word of 20,000 emoji: not a command of ours, and said so.
    let unknown = format!("/scalability-{}", "😀".repeat(20_000));
    // A revert of a PR number no integer holds.
    let huge = "/scalability-revert #99999999999999999999".to_string();

    let mut ids = Vec::new();
    for (author, body) in [
        ("mallory", fenced.as_str()),
        ("mallory", many.as_str()),
        ("mallory", unknown.as_str()),
        (APPROVER, huge.as_str()),
    ] {
        let (id, payload, delivery) = send(author, body);
        assert_eq!(
            common::post_webhook(&url, KEY, "issue_comment", &delivery, &payload).await,
            200,
            "{delivery}"
        );
        ids.push(id);
    }
    // Not JSON at all, and JSON of the wrong shape, both signed: answered, nothing queued.
    let mut junk = vec![0xff, 0xfe, b'{'];
    junk.extend("\u{202e}".repeat(1_000).as_bytes());
    let status = common::post_webhook(&url, KEY, "issue_comment", "junk-1", &junk).await;
    assert!(status == 400 || status == 403, "junk answered {status}");
    let wrong = json!({"action": "created", "comment": {"body": 7}, "issue": [1, 2]});
    let wrong = serde_json::to_vec(&wrong).unwrap();
    assert_eq!(
        common::post_webhook(&url, KEY, "issue_comment", "junk-2", &wrong).await,
        200
    );
    assert_eq!(plugin.readiness().await, 200);

    // After all that, a normal command works; the consumer takes comments in order, so
    // once it is answered every comment before it was handled.
    let (status_id, payload, delivery) = send("mallory", "/scalability-status");
    assert_eq!(
        common::post_webhook(&url, KEY, "issue_comment", &delivery, &payload).await,
        200
    );
    let status = common::eventually("the status reply", || reply_to(status_id)).await;
    assert!(status.contains("is not blocked"), "{status}");

    assert_eq!(reply_to(ids[0]), None, "a fenced command was answered");
    let refusal = reply_to(ids[1]).expect("the refusal of the 10,000-argument unblock");
    assert!(refusal.contains("you are not allowed"), "{refusal}");
    let unknown = reply_to(ids[2]).expect("the answer to an unknown command");
    assert!(unknown.contains("is not a scalability-gate command"));
    assert!(unknown.chars().count() <= scalability_gate::comment::GITHUB_BODY_CHARS);
    let malformed = reply_to(ids[3]).expect("the answer to a revert of an impossible PR");
    assert!(
        malformed.contains("expected a pull request as `#N`"),
        "{malformed}"
    );
    assert_eq!(plugin.readiness().await, 200);
    plugin.stop().await;
}
