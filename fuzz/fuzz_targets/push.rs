//! Fuzzes the Pub/Sub push envelope (`prow::push::decode`: the envelope, its base64
//! `data`, crier's report inside) and what the route makes of it (`to_report` with the
//! envelope's `publishTime`).
//!
//! Properties, besides never panicking:
//! - what decodes is UTF-8 (JSON is; serde would skip an ignored field unchecked);
//! - a run taken from it is of the gated job, finishing at the publish time (when that
//!   parses), which renders as RFC 3339.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::Config;
use scalability_gate::config::JobConfig;
use scalability_gate::model::{Channel, Timestamp};
use scalability_gate::prow::crier::Report;
use scalability_gate::prow::push::decode;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

fuzz_target!(|data: &[u8]| {
    let Ok((envelope, report)) = decode(data) else {
        return;
    };
    assert!(std::str::from_utf8(data).is_ok(), "decoded, so UTF-8");
    let published = Timestamp::parse_rfc3339(&envelope.message.publish_time);
    let config = Config {
        jobs: vec![JobConfig::new(JOB, "kubernetes/kubernetes", "master")],
        ..Config::default()
    };
    if let Ok(Report::Run(run)) = report.to_report(&config, Channel::PubsubPush, published) {
        assert_eq!(run.job.as_str(), JOB);
        assert_eq!(run.finished_at, published);
        let _ = run.finished_at.map(|t| t.to_string());
    }
});
