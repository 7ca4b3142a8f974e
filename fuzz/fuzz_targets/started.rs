//! Fuzzes the reading of a run's `started.json` and `finished.json` (`prow::gcs`), the
//! GCS metadata that tells the tested commit and the result.
//!
//! The input is decoded as both. Properties, besides never panicking: what is accepted is
//! JSON; every commit found is non-empty and belongs to a valid `org/repo`; a commit of
//! the primary repo found without it is also found with it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::model::RepoName;
use scalability_gate::prow::gcs::{Finished, Started};

fuzz_target!(|data: &[u8]| {
    if let Ok(started) = serde_json::from_slice::<Started>(data) {
        assert!(serde_json::from_slice::<serde::de::IgnoredAny>(data).is_ok());
        let primary = RepoName::new("kubernetes", "kubernetes");
        let without = started.commits(None);
        let with = started.commits(Some(&primary));
        for (repo, sha) in with.iter().chain(without.iter()) {
            assert!(!sha.as_str().is_empty(), "an empty commit for {repo}");
            assert!(RepoName::parse(&repo.to_string()).is_ok(), "{repo}");
        }
        for (repo, sha) in &without {
            assert_eq!(with.get(repo), Some(sha), "the primary repo changed {repo}");
        }
    }
    if let Ok(finished) = serde_json::from_slice::<Finished>(data) {
        let _ = finished.result();
    }
});
