//! Dry-run shows its words: through the running binary with no GitHub token (the README's
//! first run), a `/scalability-status` comment's reply is not sent but its text appears on
//! the dashboard and at `/api/v1/dry-run`, and the missing token is said once, not at
//! every retry.

mod common;

use common::{Binary, Plugin, World, eventually, post_webhook, report_run};
use scalability_gate::github::fake::PrSpec;

const HMAC: &str = "dry-run-test-secret";

/// A config on ephemeral loopback ports, dry-run, no token file, no result source.
fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let hmac = dir.join("hmac");
    std::fs::write(&hmac, format!("{HMAC}\n")).unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n\
         grpc_listen: 127.0.0.1:0\ndry_run: true\nhmac_secret_file: {hmac}\n\
         store_path: {store}\ngithub:\n  token_file: {token}\n\
         sources:\n  deck: {{url: \"\"}}\n  gcs: {{url: \"\"}}\n\
         jobs:\n  - name: ci-kubernetes-e2e-gce-scale-performance-100\n    scopes:\n\
         \x20     - repo: kubernetes/kubernetes\n        branch: master\n",
        hmac = hmac.display(),
        store = dir.join("store").display(),
        token = dir.join("no-token").display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

/// The README's test webhook: `/scalability-status` on kubernetes/kubernetes#`number`.
fn status_comment(number: u64, id: u64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "action": "created",
        "repository": {"full_name": "kubernetes/kubernetes"},
        "issue": {"number": number, "title": "test", "labels": [], "pull_request": {}},
        "comment": {"id": id, "body": "/scalability-status", "html_url": "https://example.invalid",
                    "user": {"login": "you", "type": "User"}},
        "sender": {"login": "you", "type": "User"},
    }))
    .unwrap()
}

async fn get(url: &str) -> String {
    reqwest::get(url).await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn without_a_token_the_would_be_reply_is_shown_and_the_missing_token_said_once() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = Binary::spawn(&write_config(dir.path()));

    for (number, id) in [(1, 101), (2, 102)] {
        let status = post_webhook(
            &plugin.url,
            HMAC,
            "issue_comment",
            &format!("dry-run-{id}"),
            &status_comment(number, id),
        )
        .await;
        assert_eq!(status, 200);
        let on = format!("kubernetes/kubernetes#{number}");
        let listed = eventually(
            &format!("the reply on {on} in /api/v1/dry-run"),
            async || {
                let view: serde_json::Value =
                    serde_json::from_str(&get(&format!("{}/api/v1/dry-run", plugin.url)).await)
                        .unwrap();
                view["would_send"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|w| w["on"] == on.as_str() && w["action"] == "comment")
                    .cloned()
            },
        )
        .await;
        let text = listed["text"].as_str().unwrap();
        assert!(text.contains("@you"), "{text}");
        assert!(
            text.contains("kubernetes/kubernetes is not blocked"),
            "the reply's full text: {text}"
        );
        assert_eq!(listed["method"], "POST");

        // The dashboard lists it too, escaped, in its own section.
        let page = get(&plugin.url).await;
        assert!(page.contains("id=\"dry-run\""), "{page}");
        assert!(page.contains(&on), "{page}");
        assert!(
            page.contains("kubernetes/kubernetes is not blocked"),
            "{page}"
        );
    }
    let view: serde_json::Value =
        serde_json::from_str(&get(&format!("{}/api/v1/dry-run", plugin.url)).await).unwrap();
    assert_eq!(view["dry_run"], true);
    let seqs: Vec<u64> = view["would_send"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["seq"].as_u64().unwrap())
        .collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );

    // The text is in the log, at info, with where it would have gone.
    let logged = plugin.logged("dry-run: GitHub mutation not sent");
    assert!(
        logged
            .iter()
            .any(|l| l.contains("kubernetes/kubernetes#2") && l.contains("is not blocked")),
        "{logged:#?}"
    );
    // Two commands made at least two passes of the reconciler; the missing token was said
    // once, and no request was retried for it.
    assert_eq!(
        plugin.logged("no GitHub token or app configured").len(),
        1,
        "{:#?}",
        plugin.logged("token")
    );
    assert!(
        plugin
            .logged("no GitHub token configured, request not sent")
            .is_empty(),
        "{:#?}",
        plugin.logged("request not sent")
    );
    // Ready (webhooks are taken), naming what is missing.
    let line = plugin.logged("scalability-gate is ready").remove(0);
    let fields: serde_json::Value = serde_json::from_str(&line).unwrap();
    let health = fields["fields"]["health"].as_str().unwrap();
    let answer = reqwest::get(format!("http://{health}/healthz/ready"))
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body = answer.text().await.unwrap();
    assert!(
        body.contains("degraded: github: no token or GitHub App configured"),
        "{body}"
    );
    plugin.stop().await;
}

/// With a token (GitHub is read) but in dry-run: a regression's blocker issue, with its
/// title, labels and body, and the block label on the ready PR are listed, and nothing of
/// it reaches GitHub.
#[tokio::test]
async fn a_block_in_dry_run_lists_the_blocker_issue_and_the_labels_it_did_not_send() {
    let world = World::builder().build().await;
    let ready = world.fake.add_pr(
        common::REPO,
        PrSpec::new("master")
            .labels(&["lgtm", "approved"])
            .author("alice"),
    );
    let mut config = world.config();
    config.dry_run = true;
    let plugin = Plugin::start(config).await;
    let grpc = plugin.bound.grpc.to_string();
    let job = "ci-kubernetes-e2e-gce-scale-performance-100";
    report_run(&grpc, job, 1, "success").await;
    report_run(&grpc, job, 2, "failure").await;

    let api = format!("{}/api/v1/dry-run", plugin.url());
    let find = |view: &serde_json::Value, action: &str, on: &str| {
        view["would_send"]
            .as_array()
            .unwrap()
            .iter()
            .find(|w| w["action"] == action && w["on"] == on)
            .cloned()
    };
    let on_pr = format!("{}#{ready}", common::REPO);
    let view = eventually("the blocker issue and the PR's label listed", async || {
        let view: serde_json::Value = reqwest::get(&api).await.unwrap().json().await.unwrap();
        (find(&view, "open issue", common::REPO).is_some()
            && find(&view, "add labels", &on_pr).is_some())
        .then_some(view)
    })
    .await;
    let issue = find(&view, "open issue", common::REPO).unwrap();
    let text = issue["text"].as_str().unwrap();
    assert!(text.starts_with("title: "), "{text}");
    assert!(
        text.contains(&format!("labels: {}", common::BLOCKER)),
        "{text}"
    );
    assert!(text.contains(job), "the body names the job: {text}");
    let label = find(&view, "add labels", &on_pr).unwrap();
    assert_eq!(label["text"], common::LABEL);

    // Nothing was sent: no issue, no label on GitHub.
    assert!(world.blockers().is_empty());
    assert!(!world.has_label(ready));
    plugin.stop().await;
}
