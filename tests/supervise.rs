//! The running plugin's readiness and its refusal of configuration that cannot work:
//! supervised tasks are counted on `/metrics`, readiness follows the HMAC secret file, and
//! the binary exits 2 on a zero interval or an unusable HMAC file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{Plugin, test_config};

/// The tasks every plugin runs, whatever its sources.
const ALWAYS: [&str; 6] = [
    "consumer",
    "reconciler",
    "http_server",
    "health_server",
    "metrics_server",
    "grpc_server",
];

#[tokio::test]
async fn ready_at_start_and_task_restarts_are_exposed_per_task() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let plugin = Plugin::start(test_config(&dir.path().join("store"), &hmac)).await;
    assert_eq!(plugin.readiness().await, 200);
    let text = plugin.metrics().await;
    assert!(
        text.contains("# TYPE scalability_gate_task_restarts counter"),
        "{text}"
    );
    for task in ALWAYS {
        let line = format!("scalability_gate_task_restarts_total{{task=\"{task}\"}} 0");
        assert!(text.contains(&line), "no `{line}` in {text}");
    }
    plugin.stop().await;
}

/// The HMAC secret file is re-read on change: while it holds no token the pod is not
/// ready (every webhook would be refused), and liveness stays 200.
#[tokio::test]
async fn readiness_is_false_while_the_hmac_file_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let plugin = Plugin::start(test_config(&dir.path().join("store"), &hmac)).await;
    let http = reqwest::Client::new();
    let health = format!("http://{}", plugin.bound.health);
    let get = |path: &'static str| {
        let (http, health) = (http.clone(), health.clone());
        async move {
            let r = http.get(format!("{health}{path}")).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(get("/healthz/ready").await.0, 200);

    std::fs::write(&hmac, "\n").unwrap();
    let (status, body) = get("/healthz/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("hmac_secret_file"), "{body}");
    assert!(body.contains("empty"), "{body}");
    assert_eq!(get("/healthz").await.0, 200, "liveness is not readiness");

    std::fs::remove_file(&hmac).unwrap();
    let (status, body) = get("/healthz/ready").await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("hmac_secret_file"), "{body}");

    std::fs::write(&hmac, "rotated\n").unwrap();
    assert_eq!(get("/healthz/ready").await.0, 200, "ready again once fixed");
    plugin.stop().await;
}

/// A config file for the binary: ephemeral ports, dry-run, no sources; `extra` is appended
/// at the top level.
fn write_config(dir: &Path, hmac: &Path, extra: &str) -> PathBuf {
    let config = format!(
        "listen: 127.0.0.1:0\nhealth_listen: 127.0.0.1:0\nmetrics_listen: 127.0.0.1:0\n\
         grpc_listen: 127.0.0.1:0\ndry_run: true\nhmac_secret_file: {hmac}\n\
         store_path: {store}\ngithub:\n  token_file: {token}\n\
         jobs:\n  - name: ci-kubernetes-e2e-gce-scale-performance-100\n    scopes:\n\
         \x20     - repo: kubernetes/kubernetes\n        branch: master\n{extra}",
        hmac = hmac.display(),
        store = dir.join("store").display(),
        token = dir.join("no-token").display(),
    );
    let path = dir.join("config.yaml");
    std::fs::write(&path, config).unwrap();
    path
}

fn gate(args: &[&str], config: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

#[test]
fn check_config_refuses_a_zero_interval_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    for (extra, key) in [
        (
            "sources:\n  deck: {url: \"https://prow.example\", interval: 0s}\n",
            "sources.deck.interval",
        ),
        (
            "reconcile:\n  resync_interval: 0s\n",
            "reconcile.resync_interval",
        ),
    ] {
        let config = write_config(dir.path(), &hmac, extra);
        let out = gate(&["serve", "--check-config"], &config);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{key}: {stderr}");
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
        assert!(stderr.contains("must be positive"), "{stderr}");
        // `serve` itself refuses it the same way, before binding anything.
        let out = gate(&["serve"], &config);
        assert_eq!(out.status.code(), Some(2), "{key}");
    }
    // A positive one passes.
    let config = write_config(
        dir.path(),
        &hmac,
        "sources:\n  deck: {url: \"\", interval: 1s}\n",
    );
    let out = gate(&["serve", "--check-config"], &config);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unusable_hmac_file_at_start_is_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    let config = write_config(dir.path(), &hmac, "sources:\n  deck: {url: \"\"}\n");
    for (what, content) in [("missing", None), ("empty", Some("\n"))] {
        if let Some(content) = content {
            std::fs::write(&hmac, content).unwrap();
        }
        for args in [&["serve", "--check-config"][..], &["serve"][..]] {
            let out = gate(args, &config);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} {args:?}: {stderr}");
            assert!(
                stderr.contains("hmac_secret_file"),
                "{what} {args:?}: {stderr}"
            );
        }
    }
}
