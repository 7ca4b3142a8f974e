//! Announcements end to end (issue 18, item 6), through the plugin's own binary: a local
//! HTTP server stands in for Slack's incoming webhook, runs arrive through the Results
//! gRPC API, commands as signed webhooks, and GitHub is the stateful fake. One message per
//! block and lift, none again after a restart, a failing Slack retried until it takes the
//! message once, and a Slack that hangs never holds back the block on GitHub.

mod support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use support::{Binary, World, eventually, report_run};
use tokio::net::TcpListener;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";

/// What the fake Slack does with one request.
#[derive(Clone, Copy, Debug)]
enum Answer {
    Status(u16),
    /// Never answers (the plugin's timeout ends the request).
    Hang,
}

/// A local stand-in for a Slack incoming webhook: answers from a script (then 200), and
/// keeps the `text` of every request it answered 2xx, and the count of every request.
#[derive(Clone, Default)]
struct FakeSlack {
    script: Arc<Mutex<VecDeque<Answer>>>,
    delivered: Arc<Mutex<Vec<String>>>,
    requests: Arc<Mutex<usize>>,
}

impl FakeSlack {
    fn with_script(script: &[Answer]) -> Self {
        let slack = Self::default();
        slack.script.lock().unwrap().extend(script.iter().copied());
        slack
    }

    /// Serves on 127.0.0.1:0; returns the webhook URL (with a secret-looking path).
    async fn start(&self) -> String {
        let router = Router::new()
            .route("/services/T0/B0/s3cr3t-path", axum::routing::post(slack))
            .with_state(self.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        format!("http://{addr}/services/T0/B0/s3cr3t-path")
    }

    fn delivered(&self) -> Vec<String> {
        self.delivered.lock().unwrap().clone()
    }

    fn requests(&self) -> usize {
        *self.requests.lock().unwrap()
    }

    /// The delivered messages that contain `needle`.
    fn with(&self, needle: &str) -> Vec<String> {
        self.delivered()
            .into_iter()
            .filter(|t| t.contains(needle))
            .collect()
    }
}

async fn slack(
    State(slack): State<FakeSlack>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::response::Response {
    *slack.requests.lock().unwrap() += 1;
    let answer = slack
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(200));
    match answer {
        Answer::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Answer::Status(code) => {
            if (200..300).contains(&code) {
                let text = body["text"].as_str().unwrap_or_default().to_string();
                slack.delivered.lock().unwrap().push(text);
            }
            StatusCode::from_u16(code).unwrap().into_response()
        }
    }
}

/// A world with an approver team, and the plugin's config file pointing at `slack_url`
/// (written in a file, with a trailing newline as Kubernetes Secrets often have).
async fn world_with_slack(slack_url: &str) -> (World, std::path::PathBuf) {
    let world = World::builder().approver_team(TEAM, APPROVER).build().await;
    world.fake.add_repo(support::REPO);
    let url_file = world.dir.path().join("slack-webhook");
    std::fs::write(&url_file, format!("{slack_url}\n")).unwrap();
    let mut config = world.config();
    config.notify.slack_webhook_file = url_file.display().to_string();
    let path = world.dir.path().join("config.yaml");
    std::fs::write(&path, config.to_redacted_yaml()).unwrap();
    (world, path)
}

/// Green run 1, red run 2 of the job: a regression.
async fn regress(bin: &Binary) {
    report_run(&bin.grpc, JOB, 1, "success").await;
    report_run(&bin.grpc, JOB, 2, "failure").await;
}

/// A counter of the binary's `/metrics` (0 when absent).
async fn announcements(bin: &Binary, kind: &str) -> u64 {
    let text = reqwest::get(format!("http://{}/metrics", bin.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let prefix = format!("scalability_gate_announcements_total{{kind=\"{kind}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_per_block_and_lift_and_none_again_after_a_restart() {
    let slack = FakeSlack::default();
    let url = slack.start().await;
    let (world, config) = world_with_slack(&url).await;
    let bin = Binary::spawn(&config);
    regress(&bin).await;

    let blocked = eventually("one block message", || {
        let m = slack.with("*Merges blocked*");
        (m.len() == 1).then(|| m[0].clone())
    })
    .await;
    // The facts of the blocker issue: job, scope, red run link, suspects count.
    assert!(blocked.contains(&format!("`{JOB}`")), "{blocked}");
    assert!(
        blocked.contains("`kubernetes/kubernetes` branch `master`"),
        "{blocked}"
    );
    assert!(
        blocked.contains("<https://prow.example/view/2|2>"),
        "{blocked}"
    );
    assert!(blocked.contains("Suspects: 0."), "{blocked}");
    let issue = eventually("the blocker issue", || world.open_blockers().pop())
        .await
        .number;

    // Restarted: the block is not announced again.
    bin.stop().await;
    let bin = Binary::spawn(&config);
    world
        .comment(
            &bin.url,
            issue,
            APPROVER,
            "/scalability-unblock reverted <!channel> & friends",
        )
        .await;
    let lifted = eventually("one lift message", || {
        let m = slack.with("*Merges unblocked*");
        (m.len() == 1).then(|| m[0].clone())
    })
    .await;
    assert!(
        lifted.contains(&format!(
            "Lifted by {APPROVER}: reverted &lt;!channel&gt; &amp; friends."
        )),
        "{lifted}"
    );
    assert!(lifted.contains("provisionally"), "{lifted}");
    // Messages go out oldest first, so the block was weighed before the lift was sent.
    assert_eq!(slack.delivered().len(), 2, "{:#?}", slack.delivered());
    assert_eq!(slack.requests(), 2);
    assert_eq!(
        announcements(&bin, "sent").await,
        1,
        "one sent by this process"
    );
    assert_eq!(announcements(&bin, "failed").await, 0);
    bin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_that_fails_then_answers_gets_the_message_once() {
    let slack = FakeSlack::with_script(&[Answer::Status(500), Answer::Status(503)]);
    let url = slack.start().await;
    let (world, config) = world_with_slack(&url).await;
    let bin = Binary::spawn(&config);
    regress(&bin).await;
    eventually("the block delivered after two failures", || {
        (slack.delivered().len() == 1).then_some(())
    })
    .await;
    eventually("the blocker issue", || world.open_blockers().pop()).await;
    assert_eq!(slack.requests(), 3, "two failures, then one success");
    assert_eq!(announcements(&bin, "failed").await, 2);
    assert_eq!(announcements(&bin, "sent").await, 1);
    bin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slack_that_hangs_holds_back_nothing_and_is_retried() {
    let slack = FakeSlack::with_script(&[Answer::Hang]);
    let url = slack.start().await;
    let (world, config) = world_with_slack(&url).await;
    let bin = Binary::spawn(&config);
    regress(&bin).await;
    // Slack holds the first request: the block is on GitHub all the same.
    eventually("Slack holding the first request", || slack.requests() == 1).await;
    eventually("the blocker issue while Slack hangs", || {
        world.open_blockers().pop()
    })
    .await;
    assert!(slack.delivered().is_empty());
    // The request times out and the message goes again, once.
    eventually("the block delivered on the retry", || {
        (slack.with("*Merges blocked*").len() == 1).then_some(())
    })
    .await;
    assert_eq!(slack.requests(), 2);
    assert_eq!(announcements(&bin, "failed").await, 1);
    bin.stop().await;
}

#[test]
fn an_unreadable_or_wrong_webhook_file_is_exit_2_without_showing_it() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let url_file = dir.path().join("slack");
    let config_path = dir.path().join("config.yaml");
    let mut config = support::test_config(&dir.path().join("store"), &hmac);
    config.notify.slack_webhook_file = url_file.display().to_string();
    std::fs::write(&config_path, config.to_redacted_yaml()).unwrap();
    for (what, content) in [
        ("missing", None),
        ("not a URL", Some("hooks.slack.com/services/SECRET-PART\n")),
        ("not http", Some("ftp://hooks.example/SECRET-PART\n")),
        ("empty", Some("\n")),
    ] {
        if let Some(content) = content {
            std::fs::write(&url_file, content).unwrap();
        }
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
            .args(["serve", "--check-config", "--config"])
            .arg(&config_path)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(
            stderr.contains("notify.slack_webhook_file"),
            "{what}: {stderr}"
        );
        assert!(!stderr.contains("SECRET-PART"), "{what}: {stderr}");
    }
    // An unknown key in the section is refused like any other.
    let yaml = config
        .to_redacted_yaml()
        .replace("slack_webhook_file:", "slack_url: x\n  slack_webhook_file:");
    std::fs::write(&config_path, yaml).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
        .args(["serve", "--check-config", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slack_url"));
}
