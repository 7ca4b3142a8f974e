//! Webhook ingress over a real socket: Prow's validation table, signatures, the HMAC
//! secret file's levels and rotation, the real GitHub payloads, de-duplication, the body
//! limit, `/help`, and the real binary's SIGTERM.

mod common;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Plugin, TIMEOUT, eventually, shared_fixtures, test_config};
use reqwest::StatusCode;
use scalability_gate::bus::event::{CommentAction, Event, PrAction};
use scalability_gate::model::{CommitSha, Login, PrNumber, RepoName};
use scalability_gate::prow::hmac::Algorithm;
use scalability_gate::prow::webhook::ACCEPTED;

/// A plugin with its HMAC secret file, and an HTTP client.
struct Hook {
    plugin: Plugin,
    hmac: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Hook {
    async fn start(secret_file: &str) -> Hook {
        let dir = tempfile::tempdir().unwrap();
        let hmac = dir.path().join("hmac");
        std::fs::write(&hmac, secret_file).unwrap();
        let plugin = Plugin::start(test_config(&dir.path().join("store"), &hmac)).await;
        Hook {
            plugin,
            hmac,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Sends a request built from scratch: every header given, nothing added.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (StatusCode, String) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.plugin.url()))
            .body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        (status, response.text().await.unwrap())
    }

    /// A webhook as hook sends it, signed with sha256 by `key`.
    async fn webhook(&self, event: &str, delivery: &str, key: &str, body: &[u8]) -> StatusCode {
        let sig = Algorithm::Sha256.sign(key.as_bytes(), body);
        let headers = [
            ("X-GitHub-Event", event),
            ("X-GitHub-Delivery", delivery),
            ("X-Hub-Signature-256", sig.as_str()),
            ("Content-Type", "application/json"),
            ("User-Agent", "ProwHook"),
        ];
        let (status, text) = self
            .send(reqwest::Method::POST, "/hook", &headers, body.to_vec())
            .await;
        if status == StatusCode::OK {
            assert_eq!(text, ACCEPTED);
        }
        status
    }

    /// The value of one metric series (name with labels, as exposed), if present.
    async fn metric(&self, series: &str) -> Option<f64> {
        let text = self
            .http
            .get(format!("http://{}/metrics", self.plugin.bound.metrics))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
            .map(|v| v.trim().parse().unwrap())
    }

    /// Polls until the series has the value (the consumer works in the background).
    async fn expect_metric(&self, series: &str, want: f64) {
        eventually(&format!("{series} at {want}"), async || {
            let got = self.metric(series).await;
            if got == Some(want) { Ok(()) } else { Err(got) }
        })
        .await;
    }
}

/// A minimal signed-able `issue_comment` payload on `repo`.
fn comment_on(repo: &str) -> Vec<u8> {
    serde_json::json!({
        "action": "created",
        "repository": {"full_name": repo},
        "issue": {"number": 5, "title": "t", "labels": [], "pull_request": {"url": "x"}},
        "comment": {"id": 9, "body": "/scalability-status", "html_url": "u",
                    "user": {"login": "alice", "type": "User"}},
        "sender": {"login": "alice", "type": "User"}
    })
    .to_string()
    .into_bytes()
}

const KEY: &str = "test-hmac-key";

/// One row of the validation table: name, method, path, headers, body, status, answer.
type Row<'a> = (
    &'a str,
    reqwest::Method,
    &'a str,
    Vec<(&'a str, &'a str)>,
    Vec<u8>,
    u16,
    &'a str,
);

#[tokio::test]
async fn every_row_of_prows_validation_table() {
    let hook = Hook::start(&format!("{KEY}\n")).await;
    let body = comment_on("kubernetes/kubernetes");
    let good = Algorithm::Sha256.sign(KEY.as_bytes(), &body);
    let bad = Algorithm::Sha256.sign(b"wrong", &body);
    let not_json = b"{not json".to_vec();
    let not_json_sig = Algorithm::Sha256.sign(KEY.as_bytes(), &not_json);
    let array = b"[1,2]".to_vec();
    let array_sig = Algorithm::Sha256.sign(KEY.as_bytes(), &array);
    let ev = ("X-GitHub-Event", "issue_comment");
    let id = ("X-GitHub-Delivery", "d-1");
    let sig = ("X-Hub-Signature-256", good.as_str());
    let json = ("Content-Type", "application/json");
    use reqwest::Method as M;
    #[rustfmt::skip]
    let rows: Vec<Row> = vec![
        ("GET /hook", M::GET, "/hook", vec![ev, id, sig, json], vec![], 405, "Method not allowed"),
        ("PUT /hook", M::PUT, "/hook", vec![ev, id, sig, json], body.clone(), 405, "Method not allowed"),
        ("PUT / (GET / is the dashboard)", M::PUT, "/", vec![], vec![], 405, ""),
        ("DELETE /", M::DELETE, "/", vec![ev, id, sig, json], vec![], 405, ""),
        ("no event", M::POST, "/hook", vec![id, sig, json], body.clone(), 400, "X-GitHub-Event"),
        ("empty event", M::POST, "/hook", vec![("X-GitHub-Event", ""), id, sig, json], body.clone(), 400, "X-GitHub-Event"),
        ("no event, no signature", M::POST, "/hook", vec![id, json], body.clone(), 400, "X-GitHub-Event"),
        ("no delivery", M::POST, "/hook", vec![ev, sig, json], body.clone(), 400, "X-GitHub-Delivery"),
        ("no signature", M::POST, "/hook", vec![ev, id, json], body.clone(), 403, "Missing X-Hub-Signature"),
        ("no signature, bad type", M::POST, "/hook", vec![ev, id, ("Content-Type", "text/plain")], body.clone(), 403, "Missing X-Hub-Signature"),
        ("no content type", M::POST, "/hook", vec![ev, id, sig], body.clone(), 400, "content-type"),
        ("form content type", M::POST, "/hook", vec![ev, id, sig, ("Content-Type", "application/x-www-form-urlencoded")], body.clone(), 400, "content-type"),
        ("json with charset", M::POST, "/hook", vec![ev, id, sig, ("Content-Type", "application/json; charset=utf-8")], body.clone(), 400, "content-type"),
        ("bad signature", M::POST, "/hook", vec![ev, id, ("X-Hub-Signature-256", bad.as_str()), json], body.clone(), 403, "Invalid X-Hub-Signature"),
        ("not hex", M::POST, "/hook", vec![ev, id, ("X-Hub-Signature-256", "sha256=xyz"), json], body.clone(), 403, "Invalid X-Hub-Signature"),
        ("no prefix", M::POST, "/hook", vec![ev, id, ("X-Hub-Signature-256", &good[7..]), json], body.clone(), 403, "Invalid X-Hub-Signature"),
        ("signed non-JSON", M::POST, "/hook", vec![ev, id, ("X-Hub-Signature-256", not_json_sig.as_str()), json], not_json.clone(), 403, "Invalid X-Hub-Signature"),
        ("signed non-object JSON", M::POST, "/hook", vec![ev, id, ("X-Hub-Signature-256", array_sig.as_str()), json], array.clone(), 403, "Invalid X-Hub-Signature"),
        ("good on /hook", M::POST, "/hook", vec![ev, id, sig, json], body.clone(), 200, ACCEPTED),
        ("good on /", M::POST, "/", vec![ev, ("X-GitHub-Delivery", "d-2"), sig, json], body.clone(), 200, ACCEPTED),
    ];
    for (name, method, path, headers, body, status, text) in rows {
        let (got, answer) = hook.send(method, path, &headers, body).await;
        assert_eq!(got.as_u16(), status, "{name}: {answer}");
        assert!(answer.contains(text), "{name}: {answer:?} lacks {text:?}");
    }
    hook.expect_metric(
        r#"scalability_gate_webhooks_total{event="issue_comment",outcome="accepted"}"#,
        2.0,
    )
    .await;
    hook.expect_metric(
        r#"scalability_gate_webhooks_total{event="issue_comment",outcome="bad_signature"}"#,
        5.0,
    )
    .await;
    hook.plugin.stop().await;
}

#[tokio::test]
async fn sha256_first_and_sha1_as_fallback() {
    let hook = Hook::start(KEY).await;
    let body = comment_on("o/r");
    let sha256 = Algorithm::Sha256.sign(KEY.as_bytes(), &body);
    let sha1 = Algorithm::Sha1.sign(KEY.as_bytes(), &body);
    let bad256 = Algorithm::Sha256.sign(b"other", &body);
    let bad1 = Algorithm::Sha1.sign(b"other", &body);
    let base = [
        ("X-GitHub-Event", "issue_comment"),
        ("X-GitHub-Delivery", "d"),
        ("Content-Type", "application/json"),
    ];
    let cases: [(&[(&str, &str)], u16); 5] = [
        (&[("X-Hub-Signature", sha1.as_str())], 200),
        (&[("X-Hub-Signature-256", sha256.as_str())], 200),
        (
            &[
                ("X-Hub-Signature-256", sha256.as_str()),
                ("X-Hub-Signature", bad1.as_str()),
            ],
            200,
        ),
        // The sha256 header is the one checked when present.
        (
            &[
                ("X-Hub-Signature-256", bad256.as_str()),
                ("X-Hub-Signature", sha1.as_str()),
            ],
            403,
        ),
        (&[("X-Hub-Signature", bad1.as_str())], 403),
    ];
    for (i, (sigs, want)) in cases.into_iter().enumerate() {
        let mut headers = base.to_vec();
        headers.extend_from_slice(sigs);
        let (status, text) = hook
            .send(reqwest::Method::POST, "/hook", &headers, body.clone())
            .await;
        assert_eq!(status.as_u16(), want, "case {i}: {text}");
    }
    hook.plugin.stop().await;
}

#[tokio::test]
async fn most_specific_token_level_is_used() {
    let yaml = "\
'*':
  - value: star-token
    created_at: 2024-01-01T00:00:00Z
kubernetes:
  - value: org-token
    created_at: 2024-01-01T00:00:00Z
kubernetes/kubernetes:
  - value: repo-token
    created_at: 2024-01-01T00:00:00Z
";
    let hook = Hook::start(yaml).await;
    let cases = [
        ("kubernetes/kubernetes", "repo-token", 200),
        ("kubernetes/kubernetes", "org-token", 403),
        ("kubernetes/kubernetes", "star-token", 403),
        ("kubernetes/test-infra", "org-token", 200),
        ("kubernetes/test-infra", "repo-token", 403),
        ("kubernetes/test-infra", "star-token", 403),
        ("someone/else", "star-token", 200),
        ("someone/else", "org-token", 403),
    ];
    for (i, (repo, key, want)) in cases.into_iter().enumerate() {
        let status = hook
            .webhook("issue_comment", &format!("d{i}"), key, &comment_on(repo))
            .await;
        assert_eq!(status.as_u16(), want, "{repo} signed with {key}");
    }
    hook.plugin.stop().await;
}

#[tokio::test]
async fn tokens_rotate_while_running() {
    let one = |tokens: &[&str]| {
        let list: String = tokens
            .iter()
            .map(|t| format!("  - value: {t}\n    created_at: 2024-01-01T00:00:00Z\n"))
            .collect();
        format!("kubernetes:\n{list}")
    };
    let hook = Hook::start(&one(&["old-token"])).await;
    let body = comment_on("kubernetes/kubernetes");
    assert_eq!(
        hook.webhook("issue_comment", "r1", "old-token", &body)
            .await,
        200
    );
    assert_eq!(
        hook.webhook("issue_comment", "r2", "new-token", &body)
            .await,
        403
    );
    // Rotation, step 1: both tokens are valid while GitHub moves to the new one.
    std::fs::write(&hook.hmac, one(&["old-token", "new-token"])).unwrap();
    assert_eq!(
        hook.webhook("issue_comment", "r3", "old-token", &body)
            .await,
        200
    );
    assert_eq!(
        hook.webhook("issue_comment", "r4", "new-token", &body)
            .await,
        200
    );
    // Step 2: the old token is removed and stops working at once.
    std::fs::write(&hook.hmac, one(&["new-token"])).unwrap();
    assert_eq!(
        hook.webhook("issue_comment", "r5", "old-token", &body)
            .await,
        403
    );
    assert_eq!(
        hook.webhook("issue_comment", "r6", "new-token", &body)
            .await,
        200
    );
    // A file swapped for a bare token (Kubernetes replaces Secret files by rename).
    let swap = hook.hmac.with_extension("new");
    std::fs::write(&swap, "bare-token\n").unwrap();
    std::fs::rename(&swap, &hook.hmac).unwrap();
    assert_eq!(
        hook.webhook("issue_comment", "r7", "new-token", &body)
            .await,
        403
    );
    assert_eq!(
        hook.webhook("issue_comment", "r8", "bare-token", &body)
            .await,
        200
    );
    // A file gone (or empty) refuses everything, and comes back without a restart.
    std::fs::remove_file(&hook.hmac).unwrap();
    let status = hook
        .webhook("issue_comment", "r9", "bare-token", &body)
        .await;
    assert_eq!(status, 500);
    std::fs::write(&hook.hmac, "\n").unwrap();
    let status = hook.webhook("issue_comment", "r10", "", &body).await;
    assert_eq!(status, 500);
    std::fs::write(&hook.hmac, "back-token").unwrap();
    let status = hook
        .webhook("issue_comment", "r11", "back-token", &body)
        .await;
    assert_eq!(status, 200);
    hook.plugin.stop().await;
}

/// The shared real payloads and their event names (the file name's prefix).
fn fixture_payloads() -> Option<Vec<(String, String, Vec<u8>)>> {
    let dir = shared_fixtures()?.join("github-webhooks");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "fixtures in {}", dir.display());
    Some(
        files
            .into_iter()
            .map(|path| {
                let file = path.file_name().unwrap().to_string_lossy().into_owned();
                let event = file.split('.').next().unwrap().to_string();
                (file, event, std::fs::read(&path).unwrap())
            })
            .collect(),
    )
}

#[tokio::test]
async fn real_payloads_are_accepted_and_queued() {
    let Some(payloads) = fixture_payloads() else {
        return;
    };
    let hook = Hook::start(KEY).await;
    let mut queued = std::collections::BTreeMap::<String, f64>::new();
    let mut ignored = std::collections::BTreeMap::<String, f64>::new();
    for (i, (file, event, body)) in payloads.iter().enumerate() {
        let status = hook
            .webhook(event, &format!("fixture-{i}"), KEY, body)
            .await;
        assert_eq!(status, 200, "{file}");
        let counts = if matches!(event.as_str(), "issue_comment" | "pull_request") {
            &mut queued
        } else {
            &mut ignored
        };
        *counts.entry(event.clone()).or_default() += 1.0;
    }
    // Every issue_comment and pull_request decoded and queued; the rest acknowledged.
    for (event, n) in &queued {
        hook.expect_metric(
            &format!(r#"scalability_gate_webhooks_total{{event="{event}",outcome="accepted"}}"#),
            *n,
        )
        .await;
    }
    for (event, n) in &ignored {
        hook.expect_metric(
            &format!(r#"scalability_gate_webhooks_total{{event="{event}",outcome="ignored"}}"#),
            *n,
        )
        .await;
    }
    assert!(queued.contains_key("pull_request") && ignored.contains_key("status"));
    // ... and applied by the consumer.
    let applied: f64 = queued.values().sum();
    hook.expect_metric(
        r#"scalability_gate_processing_seconds_count{kind="webhook"}"#,
        applied,
    )
    .await;
    hook.plugin.stop().await;
}

#[test]
fn real_payloads_decode_into_our_types() {
    let Some(payloads) = fixture_payloads() else {
        return;
    };
    let mut seen = 0;
    for (file, event, body) in &payloads {
        let decoded = Event::decode(event, body).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(decoded.name(), event, "{file}");
        match (file.as_str(), decoded) {
            ("issue_comment.created.json", Event::IssueComment(c)) => {
                assert_eq!(c.action, CommentAction::Created);
                assert_eq!(c.repo, RepoName::new("chhsia0", "knative-route-demo"));
                assert_eq!(c.number, PrNumber(3));
                assert!(c.is_pr);
                assert_eq!(c.issue_title, "Updated to v2.");
                assert_eq!(c.author, Login::new("chhsia0"));
                assert!(!c.author_is_bot);
                assert_eq!(c.comment_id, 546616131);
                assert_eq!(c.body, "/build");
                assert_eq!(
                    c.html_url,
                    "https://github.com/chhsia0/knative-route-demo/pull/3#issuecomment-546616131"
                );
            }
            ("issue_comment.created.non-pr.json", Event::IssueComment(c)) => {
                assert_eq!(c.repo, RepoName::new("Codertocat", "Hello-World"));
                assert_eq!(c.number, PrNumber(1));
                assert!(!c.is_pr);
                assert_eq!(c.issue_labels, ["bug"]);
                assert_eq!(c.comment_id, 492700400);
                assert!(c.body.starts_with("You are totally right!"));
            }
            ("pull_request.closed.json", Event::PullRequest(p)) => {
                assert_eq!(p.action, PrAction::Closed { merged: true });
                assert_eq!(
                    p.repo,
                    RepoName::new("ailisp", "gcbapp-buildconfig-example")
                );
                assert_eq!(p.number, PrNumber(3));
                assert_eq!(p.base_ref, "master");
                assert_eq!(
                    p.head_sha,
                    CommitSha::new("7b5a809ab03679215c55926f7d111156ec98b865")
                );
                assert_eq!(p.author, Login::new("byao1276"));
                assert_eq!(
                    p.merged_at.map(|t| t.to_rfc3339()),
                    Some("2019-11-26T07:01:13Z".into())
                );
                assert_eq!(
                    p.merge_commit_sha,
                    Some(CommitSha::new("a21683865c088b5fe1906cf6552d15a285a4986d"))
                );
                assert_eq!(p.merged_by, Some(Login::new("ailisp")));
                assert_eq!(p.sender, Login::new("ailisp"));
            }
            ("pull_request.labeled.json", Event::PullRequest(p)) => {
                assert_eq!(
                    p.action,
                    PrAction::Labeled {
                        label: "bug".into()
                    }
                );
                assert_eq!(p.labels, ["bug"]);
                assert_eq!(p.merge_commit_sha, None, "not merged");
                assert_eq!(p.merged_at, None);
            }
            ("pull_request.opened.json", Event::PullRequest(p)) => {
                assert_eq!(p.action, PrAction::Opened);
                assert_eq!(p.repo, RepoName::new("Codertocat", "Hello-World"));
                assert_eq!(p.number, PrNumber(2));
                assert_eq!(p.title, "Update the README with new information.");
                assert_eq!(
                    p.head_sha,
                    CommitSha::new("ec26c3e57ca3a959ca5aad62de7213c562f8c821")
                );
                assert_eq!(p.author, Login::new("Codertocat"));
                assert!(!p.sender_is_bot);
            }
            ("pull_request.synchronize.json", Event::PullRequest(p)) => {
                assert_eq!(p.action, PrAction::Synchronize);
                assert_eq!(p.base_ref, "master");
            }
            ("status.json" | "check_run.completed.json", Event::Ignored(name)) => {
                assert_eq!(&name, event);
            }
            (file, other) => panic!("{file}: unexpected {other:?}"),
        }
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[tokio::test]
async fn a_signed_payload_that_does_not_decode_is_dropped_with_200() {
    let hook = Hook::start(KEY).await;
    let body = br#"{"action":"opened","repository":{"full_name":"o/r"},"number":"seven"}"#;
    assert_eq!(hook.webhook("pull_request", "odd", KEY, body).await, 200);
    hook.expect_metric(
        r#"scalability_gate_webhooks_total{event="pull_request",outcome="undecodable"}"#,
        1.0,
    )
    .await;
    hook.plugin.stop().await;
}

#[tokio::test]
async fn a_duplicate_delivery_is_processed_once() {
    let hook = Hook::start(KEY).await;
    let body = comment_on("kubernetes/kubernetes");
    for _ in 0..2 {
        assert_eq!(
            hook.webhook("issue_comment", "same-id", KEY, &body).await,
            200
        );
    }
    assert_eq!(
        hook.webhook("issue_comment", "other-id", KEY, &body).await,
        200
    );
    hook.expect_metric(
        r#"scalability_gate_processing_seconds_count{kind="webhook"}"#,
        3.0,
    )
    .await;
    hook.expect_metric("scalability_gate_deliveries_duplicate_total", 1.0)
        .await;
    hook.plugin.stop().await;
}

/// A comment that cannot carry a command does nothing in any state: its delivery is not
/// remembered (no store write), so a second delivery is applied again, as the no-op it
/// is; a command's delivery is remembered and its second delivery dropped (every
/// delivery is counted as processed; only the command's second one as a duplicate).
#[tokio::test]
async fn a_plain_comment_is_not_remembered_a_command_is() {
    let hook = Hook::start(KEY).await;
    let plain = String::from_utf8(comment_on("kubernetes/kubernetes"))
        .unwrap()
        .replace("/scalability-status", "LGTM, thanks")
        .into_bytes();
    for _ in 0..2 {
        assert_eq!(
            hook.webhook("issue_comment", "plain-id", KEY, &plain).await,
            200
        );
    }
    hook.expect_metric(
        r#"scalability_gate_processing_seconds_count{kind="webhook"}"#,
        2.0,
    )
    .await;
    let command = comment_on("kubernetes/kubernetes");
    for _ in 0..2 {
        assert_eq!(
            hook.webhook("issue_comment", "command-id", KEY, &command)
                .await,
            200
        );
    }
    hook.expect_metric(
        r#"scalability_gate_processing_seconds_count{kind="webhook"}"#,
        4.0,
    )
    .await;
    hook.expect_metric("scalability_gate_deliveries_duplicate_total", 1.0)
        .await;
    hook.plugin.stop().await;
}

#[tokio::test]
async fn a_26_mb_body_is_refused() {
    let hook = Hook::start(KEY).await;
    // As curl sends large bodies: the headers, then the body only after `100 Continue`.
    // The plugin refuses on the declared length without reading a byte of it.
    let addr = hook.plugin.bound.listen;
    let len = 26 * 1024 * 1024;
    let status_line = tokio::task::spawn_blocking(move || {
        let mut socket = std::net::TcpStream::connect(addr).unwrap();
        socket.set_read_timeout(Some(TIMEOUT)).unwrap();
        write!(
            socket,
            "POST /hook HTTP/1.1\r\nHost: {addr}\r\nX-GitHub-Event: issue_comment\r\n\
             X-GitHub-Delivery: big\r\nX-Hub-Signature-256: sha256=00\r\n\
             Content-Type: application/json\r\nContent-Length: {len}\r\n\
             Expect: 100-continue\r\n\r\n"
        )
        .unwrap();
        let mut reader = std::io::BufReader::new(socket);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        line
    })
    .await
    .unwrap();
    assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line:?}");

    // A client that sends all 26 MB at once is refused as well.
    let body = vec![b' '; len];
    let sig = Algorithm::Sha256.sign(KEY.as_bytes(), &body);
    let sent = hook
        .http
        .post(format!("{}/hook", hook.plugin.url()))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", "big2")
        .header("X-Hub-Signature-256", sig)
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await;
    // The server answers before reading the body; the client sees the 413, or, when the
    // kernel resets the half-sent connection first, a send error. Never a 200.
    if let Ok(response) = sent {
        assert_eq!(response.status(), 413);
    }
    hook.expect_metric(
        r#"scalability_gate_webhooks_total{event="issue_comment",outcome="too_large"}"#,
        2.0,
    )
    .await;
    hook.plugin.stop().await;
}

#[tokio::test]
async fn help_answers_plugin_help() {
    let hook = Hook::start(KEY).await;
    let url = format!("{}/help", hook.plugin.url());
    let asked = serde_json::json!([
        {"Org": "kubernetes", "Repo": "kubernetes"},
        {"Org": "kubernetes", "Repo": "test-infra"}
    ]);
    let response = hook.http.post(&url).json(&asked).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
    let help: serde_json::Value = response.json().await.unwrap();
    let config = help["Config"].as_object().unwrap();
    assert_eq!(config.len(), 2);
    let k8s = config["kubernetes/kubernetes"].as_str().unwrap();
    assert!(
        k8s.contains("ci-kubernetes-e2e-gce-scale-performance-100") && k8s.contains("master"),
        "{k8s}"
    );
    assert!(
        config["kubernetes/test-infra"]
            .as_str()
            .unwrap()
            .starts_with("No")
    );
    assert!(
        help["Description"]
            .as_str()
            .unwrap()
            .contains("green to red")
    );
    assert_eq!(
        help["Events"],
        serde_json::json!(["issue_comment", "pull_request"])
    );
    assert!(help.get("Snippet").is_none(), "empty Snippet is omitted");
    let commands = help["Commands"].as_array().unwrap();
    let usages: Vec<&str> = commands
        .iter()
        .map(|c| c["Usage"].as_str().unwrap())
        .collect();
    for name in ["unblock", "block", "exempt", "revert", "rerun", "status"] {
        assert!(
            usages
                .iter()
                .any(|u| u.starts_with(&format!("/scalability-{name}"))),
            "{name} in {usages:?}"
        );
    }
    for c in commands {
        assert!(c["Featured"].is_boolean());
        assert!(!c["Description"].as_str().unwrap().is_empty());
        assert!(!c["Examples"].as_array().unwrap().is_empty());
        assert!(!c["WhoCanUse"].as_str().unwrap().is_empty());
    }

    let response = hook.http.post(&url).body("null").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let help: serde_json::Value = response.json().await.unwrap();
    let keys: Vec<&String> = help["Config"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["kubernetes/kubernetes"]);

    assert_eq!(hook.http.get(&url).send().await.unwrap().status(), 405);
    let response = hook.http.post(&url).body("{nope").send().await.unwrap();
    assert_eq!(response.status(), 400);
    hook.plugin.stop().await;
}

/// Reads the binary's JSON logs until the ready line; returns its listen and health
/// addresses, and the rest of the log lines as they come.
fn wait_for_ready_line(
    stderr: impl Read + Send + 'static,
) -> (String, String, std::sync::mpsc::Receiver<String>) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the binary logged that it is ready");
        let Ok(log) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if log["fields"]["message"] == "scalability-gate is ready" {
            let field = |name: &str| log["fields"][name].as_str().unwrap().to_string();
            return (field("listen"), field("health"), rx);
        }
    }
}

fn write_config(dir: &Path) -> PathBuf {
    let hmac = dir.join("hmac");
    std::fs::write(&hmac, format!("{KEY}\n")).unwrap();
    let config = format!(
        "listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n\
         grpc_listen: 127.0.0.1:0\ndry_run: true\nhmac_secret_file: {hmac}\n\
         store_path: {store}\ngithub:\n  token_file: {token}\n\
         jobs:\n  - name: ci-kubernetes-e2e-gce-scale-performance-100\n    scopes:\n\
         \x20     - repo: kubernetes/kubernetes\n        branch: master\n\
         sources:\n  deck: {{url: \"\"}}\n  gcs: {{url: \"\"}}\n",
        hmac = hmac.display(),
        store = dir.join("store").display(),
        token = dir.join("no-token").display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (listen, health, logs) = tokio::task::spawn_blocking(move || wait_for_ready_line(stderr))
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{health}/healthz/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // One event in flight when SIGTERM comes: it must be applied before the exit.
    let body = comment_on("kubernetes/kubernetes");
    let response = http
        .post(format!("http://{listen}/hook"))
        .header("X-GitHub-Event", "issue_comment")
        .header("X-GitHub-Delivery", "before-sigterm")
        .header(
            "X-Hub-Signature-256",
            Algorithm::Sha256.sign(KEY.as_bytes(), &body),
        )
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the binary did not exit within {TIMEOUT:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    })
    .await
    .unwrap();
    // The process is gone, so its stderr is closed and the reader thread ends.
    let rest: Vec<String> = tokio::task::spawn_blocking(move || logs.iter().collect())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0), "logs: {rest:#?}");
    let position = |needle: &str| rest.iter().position(|l| l.contains(needle));
    let draining = position("draining").expect("shutdown logged");
    let stopped = position("\"stopped\"").expect("stop logged");
    assert!(draining < stopped, "logs: {rest:#?}");

    // The event was applied and the store flushed before the exit: the same store, opened
    // again, knows the delivery.
    let hook = Hook {
        plugin: Plugin::start(test_config(
            &dir.path().join("store"),
            &dir.path().join("hmac"),
        ))
        .await,
        hmac: dir.path().join("hmac"),
        http,
        _dir: dir,
    };
    let body = comment_on("kubernetes/kubernetes");
    assert_eq!(
        hook.webhook("issue_comment", "before-sigterm", KEY, &body)
            .await,
        200
    );
    hook.expect_metric("scalability_gate_deliveries_duplicate_total", 1.0)
        .await;
    hook.plugin.stop().await;
}

#[test]
fn plugin_yaml_names_the_plugin_and_its_events() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugin.yaml");
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).expect("plugin.yaml is YAML");
    let entries = yaml["external_plugins"]
        .as_mapping()
        .expect("external_plugins map");
    assert!(!entries.is_empty());
    for (key, plugins) in entries {
        let plugin = &plugins[0];
        assert_eq!(plugin["name"], "scalability-gate", "{key:?}");
        let events: Vec<&str> = plugin["events"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|e| e.as_str().unwrap())
            .collect();
        assert_eq!(events, scalability_gate::prow::help::EVENTS);
    }
}
