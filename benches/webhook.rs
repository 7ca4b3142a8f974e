//! Throughput of the webhook path after the body is read: header checks, HMAC-SHA256
//! verification, decoding into our types and enqueueing, through the very functions the
//! HTTP handler calls (`check_headers`, `Ingress::accept`), on one thread.
//!
//! `cargo bench --bench webhook` prints ops/s and MB/s per core for a ~30 KB signed
//! `pull_request` payload (the shared real fixture when present, else a synthetic one of
//! the same size), and the verify-only and decode-only parts; then for a ~11 KB
//! `issue_comment` (the shared fixture, its body set) that carries no command of ours
//! (`/build`: the fast path) and one that does (`/scalability-block`: written to the
//! store's inbox and flushed before it is answered; the op also removes the entry again,
//! as the consumer does once the decision is durable). The store is real sled in a
//! temporary directory, so the command's figure includes a real flush to disk.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Method};
use scalability_gate::Store;
use scalability_gate::bus;
use scalability_gate::bus::event::Event;
use scalability_gate::prow::hmac::{Algorithm, HmacSecrets, Secrets, Signature};
use scalability_gate::prow::webhook::{Accepted, Ingress, check_headers};
use scalability_gate::telemetry::Metrics;

const KEY: &str = "bench-hmac-key";

/// How long each measurement runs.
const RUN_FOR: Duration = Duration::from_secs(2);

/// An `issue_comment` whose comment says `text`.
fn comment_payload(text: &str) -> (Vec<u8>, &'static str) {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/github-webhooks/issue_comment.created.json");
    let (mut value, source) = match std::fs::read(fixture) {
        Ok(body) => (
            serde_json::from_slice::<serde_json::Value>(&body).expect("fixture is JSON"),
            "shared fixture issue_comment.created.json",
        ),
        Err(_) => (
            serde_json::json!({
                "action": "created",
                "repository": {"full_name": "kubernetes/kubernetes"},
                "issue": {"number": 7, "title": "t", "labels": [], "body": "x".repeat(9 * 1024)},
                "comment": {"id": 9, "body": "", "html_url": "",
                    "user": {"login": "alice", "type": "User"}},
                "sender": {"login": "alice", "type": "User"},
            }),
            "synthetic issue_comment",
        ),
    };
    value["comment"]["body"] = text.into();
    (value.to_string().into_bytes(), source)
}

fn payload() -> (Vec<u8>, &'static str) {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/fixtures/github-webhooks/pull_request.labeled.json");
    if let Ok(body) = std::fs::read(fixture) {
        return (body, "shared fixture pull_request.labeled.json");
    }
    let padding = "x".repeat(28 * 1024);
    let body = serde_json::json!({
        "action": "labeled", "number": 7,
        "label": {"name": "lgtm"},
        "repository": {"full_name": "kubernetes/kubernetes"},
        "sender": {"login": "alice", "type": "User"},
        "pull_request": {
            "number": 7, "title": "t", "body": padding,
            "user": {"login": "alice", "type": "User"},
            "labels": [{"name": "lgtm"}, {"name": "approved"}],
            "base": {"ref": "master", "sha": "b"}, "head": {"ref": "x", "sha": "h"},
            "merged": false, "merged_at": null, "merge_commit_sha": null, "merged_by": null
        }
    });
    (body.to_string().into_bytes(), "synthetic pull_request")
}

/// Runs `op` for [`RUN_FOR`] and prints ops/s and MB/s.
fn measure(name: &str, bytes: usize, mut op: impl FnMut()) {
    for _ in 0..200 {
        op();
    }
    let started = Instant::now();
    let mut n: u64 = 0;
    while started.elapsed() < RUN_FOR {
        for _ in 0..100 {
            op();
        }
        n += 100;
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = n as f64 / secs;
    println!(
        "{name:<32} {ops:>10.0} ops/s  {mbs:>8.1} MB/s  {us:>7.1} µs/op",
        mbs = ops * bytes as f64 / 1e6,
        us = 1e6 / ops,
    );
}

fn main() {
    let (body, source) = payload();
    let dir = tempfile::tempdir().expect("temp dir");
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, format!("{KEY}\n")).expect("write secret file");
    let metrics = Arc::new(Metrics::new());
    let (queue, mut rx) = bus::queue(bus::QUEUE_CAPACITY, metrics.clone());
    let store = Store::open(&dir.path().join("store")).expect("store");
    let ingress = Ingress::new(
        Arc::new(HmacSecrets::new(&hmac)),
        queue,
        metrics,
        store.clone(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");

    let signature = Algorithm::Sha256.sign(KEY.as_bytes(), &body);
    let mut headers = HeaderMap::new();
    headers.insert("x-github-event", "pull_request".parse().unwrap());
    headers.insert("x-github-delivery", "bench-delivery".parse().unwrap());
    headers.insert("x-hub-signature-256", signature.parse().unwrap());
    headers.insert("content-type", "application/json".parse().unwrap());

    println!(
        "payload: {source}, {} bytes; one thread; each op as the handler does it",
        body.len()
    );
    measure("check+verify+decode+enqueue", body.len(), || {
        let checked = check_headers(&Method::POST, &headers).expect("valid headers");
        let accepted = runtime
            .block_on(ingress.accept(&checked, &body))
            .expect("accepted");
        assert_eq!(accepted, Accepted::Queued);
        black_box(rx.try_recv().expect("queued"));
    });

    let secrets = Secrets::parse(KEY.as_bytes()).unwrap();
    let sig = Signature {
        algorithm: Algorithm::Sha256,
        value: &signature,
    };
    measure("  verify (HMAC-SHA256) only", body.len(), || {
        assert!(secrets.verify("kubernetes/kubernetes", &sig, black_box(&body)));
    });
    measure("  decode only", body.len(), || {
        black_box(Event::decode("pull_request", black_box(&body)).expect("decodes"));
    });
    let file = HmacSecrets::new(&hmac);
    measure("  secret file re-read only", body.len(), || {
        black_box(file.current().expect("secret file"));
    });

    for (name, text, kept) in [
        ("comment, no command (/build)", "/build", false),
        (
            "comment, /scalability-block (inbox)",
            "/scalability-block ci-kubernetes-e2e-gce-scale-performance investigating",
            true,
        ),
    ] {
        let (body, source) = comment_payload(text);
        let signature = Algorithm::Sha256.sign(KEY.as_bytes(), &body);
        let mut headers = HeaderMap::new();
        headers.insert("x-github-event", "issue_comment".parse().unwrap());
        headers.insert("x-github-delivery", "bench-delivery".parse().unwrap());
        headers.insert("x-hub-signature-256", signature.parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        println!("payload: {source}, {} bytes, comment {text:?}", body.len());
        measure(name, body.len(), || {
            let checked = check_headers(&Method::POST, &headers).expect("valid headers");
            let accepted = runtime
                .block_on(ingress.accept(&checked, &body))
                .expect("accepted");
            assert_eq!(accepted, Accepted::Queued);
            let input = rx.try_recv().expect("queued");
            let bus::Input::Webhook { inbox, .. } = input else {
                panic!("a webhook was queued");
            };
            assert_eq!(inbox.is_some(), kept, "kept in the inbox");
            if let Some(key) = inbox {
                store.inbox_remove(key).expect("inbox entry removed");
            }
        });
    }
}
