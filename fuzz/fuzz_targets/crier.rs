//! Fuzzes the decoding of crier's Pub/Sub report (`prow::crier::ReportMessage::from_json`,
//! `build_id`, `to_report`), the message a pull subscription delivers.
//!
//! Properties, besides never panicking (a bad message is an error, not a crash):
//! - a build id, when found, is not empty;
//! - a report kept as a run is of the gated job, with that build id and the publish time
//!   as its finish time (which renders, though it is past year 9999).

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::Config;
use scalability_gate::config::JobConfig;
use scalability_gate::model::{Channel, Timestamp};
use scalability_gate::prow::crier::{Report, ReportMessage};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

fuzz_target!(|data: &[u8]| {
    let Ok(report) = ReportMessage::from_json(data) else {
        return;
    };
    let build = report.build_id();
    if let Some(b) = &build {
        assert!(!b.is_empty());
    }
    let config = Config {
        jobs: vec![JobConfig::new(JOB, "kubernetes/kubernetes", "master")],
        ..Config::default()
    };
    let published = Some(Timestamp(i64::MAX));
    if let Ok(Report::Run(run)) = report.to_report(&config, Channel::PubsubPull, published) {
        assert_eq!(run.job.as_str(), JOB);
        assert_eq!(Some(run.build_id.as_str()), build.as_deref());
        assert_eq!(run.finished_at, published);
        let _ = run.finished_at.map(|t| t.to_string());
    }
});
