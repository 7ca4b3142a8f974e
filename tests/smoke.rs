//! The plugin starts on ephemeral ports, answers health, readiness and metrics, and stops.

mod common;

use common::{Plugin, test_config};

#[tokio::test]
async fn starts_answers_health_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let plugin = Plugin::start(test_config(&dir.path().join("store"), &hmac)).await;
    let http = reqwest::Client::new();
    let health = format!("http://{}", plugin.bound.health);
    let r = http.get(format!("{health}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(plugin.readiness().await, 200);
    let text = plugin.metrics().await;
    assert!(text.contains("scalability_gate_queue_depth"), "{text}");
    assert!(text.contains("scalability_gate_inbox_entries 0"), "{text}");
    // sled may not have written its files yet: the size is there, possibly 0.
    let store_bytes = text
        .lines()
        .find_map(|l| l.strip_prefix("scalability_gate_store_bytes "))
        .unwrap_or_else(|| panic!("no store size in {text}"));
    assert!(store_bytes.trim().parse::<u64>().is_ok(), "{text}");
    plugin.stop().await;
}

/// The README's run command starts the plugin on `examples/config.yaml`: that file loads
/// and validates (dry-run, the example HMAC file), and the plugin becomes ready on it. Only
/// what cannot be shared in a test changes: ephemeral ports, a temporary store, and no
/// polling of the real Deck and GCS.
#[tokio::test]
async fn the_example_config_of_the_readme_loads_and_runs() {
    use scalability_gate::config::{Config, Overrides};
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/config.yaml");
    let mut config = Config::load_from(Some(&example), &[], &Overrides::default())
        .expect("examples/config.yaml loads and validates");
    assert!(config.dry_run, "the example is dry-run");
    assert!(
        config.hmac_secret_file.exists(),
        "{} exists",
        config.hmac_secret_file.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    config.listen = any;
    config.health_listen = any;
    config.metrics_listen = any;
    config.grpc_listen = any;
    config.store_path = dir.path().join("store");
    config.sources.deck.url = String::new();
    config.sources.gcs.url = String::new();
    let plugin = Plugin::start(config).await;
    assert_eq!(plugin.readiness().await, 200);
    plugin.stop().await;
}
