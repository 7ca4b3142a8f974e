//! The plugin starts on ephemeral ports, answers health, readiness and metrics, and stops.

mod support;

use support::{Plugin, test_config};

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
    let r = http
        .get(format!("{health}/healthz/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .get(format!("http://{}/metrics", plugin.bound.metrics))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(text.contains("scalability_gate_queue_depth"), "{text}");
    plugin.stop().await;
}
