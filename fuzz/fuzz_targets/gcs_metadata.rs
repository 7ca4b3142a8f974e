//! Fuzzes the reading of a run's GCS metadata (`prow::gcs::Started` and `Finished` from
//! `started.json` / `finished.json`, `Started::commits`, `Finished::result`).
//!
//! Properties, besides never panicking (the timestamp and every string may be anything):
//! - every tested commit found is non-empty, for a repo named `org/repo`, and looks like
//!   a commit (1 to 64 ASCII hex digits: junk `repos` values are unknown commits);
//! - scope inference (`core::scopes::infer`) over the repos found keeps every scope,
//!   blocked or left open, never both, and never leaves all open; against unknown
//!   commits it blocks every scope;
//! - the timestamps render as RFC 3339 (a year past 9999 once made that panic).

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::core::scopes::{infer, is_commit, tested_commit};
use scalability_gate::model::{RepoName, Scope, Timestamp};
use scalability_gate::prow::gcs::{Finished, Started};

fuzz_target!(|data: &[u8]| {
    let primary = RepoName::new("kubernetes", "kubernetes");
    if let Ok(started) = serde_json::from_slice::<Started>(data) {
        let commits = started.commits(Some(&primary));
        for (repo, sha) in &commits {
            assert!(!sha.as_str().is_empty(), "empty sha for {repo}");
            assert!(is_commit(sha.as_str()), "junk taken as a commit: {sha:?}");
            assert!(!repo.org.is_empty() && !repo.repo.is_empty());
        }
        for value in started.repos.values() {
            if let Some(sha) = tested_commit(value) {
                assert!(is_commit(sha.as_str()));
            }
        }
        let scopes: Vec<Scope> = commits
            .keys()
            .map(|repo| Scope {
                repo: repo.clone(),
                branch: "master".into(),
            })
            .collect();
        // The green run's commits: the same for even repos, another for odd ones.
        let green = commits
            .iter()
            .enumerate()
            .map(|(n, (r, s))| {
                let s = if n % 2 == 0 {
                    s.clone()
                } else {
                    scalability_gate::model::CommitSha::new("0")
                };
                (r.clone(), s)
            })
            .collect();
        let split = infer(&scopes, &green, &commits);
        assert_eq!(split.blocked.len() + split.left_open.len(), scopes.len());
        assert!(split.left_open.iter().all(|s| !split.blocked.contains(s)));
        assert!(scopes.is_empty() || !split.blocked.is_empty());
        let unknown = infer(&scopes, &Default::default(), &commits);
        assert_eq!(unknown.blocked, scopes);
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
