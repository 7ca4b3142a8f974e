//! Fuzzes the reading of a run's GCS metadata (`prow::gcs::Started` and `Finished` from
//! `started.json` / `finished.json`, `Started::commits`, `Finished::result`).
//!
//! Properties, besides never panicking (the timestamp and every string may be anything):
//! - every tested commit found is non-empty, for a repo named `org/repo`;
//! - the timestamps render as RFC 3339 (a year past 9999 once made that panic).

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::model::{RepoName, Timestamp};
use scalability_gate::prow::gcs::{Finished, Started};

fuzz_target!(|data: &[u8]| {
    let primary = RepoName::new("kubernetes", "kubernetes");
    if let Ok(started) = serde_json::from_slice::<Started>(data) {
        for (repo, sha) in started.commits(Some(&primary)) {
            assert!(!sha.as_str().is_empty(), "empty sha for {repo}");
            assert!(!repo.org.is_empty() && !repo.repo.is_empty());
        }
        if let Some(t) = started.timestamp {
            assert!(Timestamp(t).to_string().ends_with('Z'));
        }
    }
    if let Ok(finished) = serde_json::from_slice::<Finished>(data) {
        let _ = finished.result();
        if let Some(t) = finished.timestamp {
            assert!(Timestamp(t).to_string().ends_with('Z'));
        }
    }
});
