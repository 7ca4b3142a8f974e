//! Fuzzes revert and reference detection (`core::culprit::reverted_pr`,
//! `pr_from_commit_message`) and the ranking that uses them (`core::culprit::rank`).
//!
//! Input: a PR title, a newline, then its body (which is also read as a commit message).
//! Properties, besides never panicking (a body with U+00A0 before `#N` once did):
//! - a PR named as reverted, or as brought in by a merge commit, is written as `#N`
//!   (maybe `#0N`) in the text it was read from, and is not 0;
//! - the title `Revert "<title>"` finds a reverted PR whenever the plain title does (a
//!   `Reverts #N` line is read whatever the title);
//! - ranking keeps every suspect, with a score that is never negative and a reason.

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use scalability_gate::core::culprit::{
    Signals, SuspectFacts, pr_from_commit_message, rank, reverted_pr,
};
use scalability_gate::model::{CommitSha, Login, PrNumber, RepoName, Timestamp};

/// Whether `text` writes PR `n` as `#N` (leading zeros allowed, as the readers allow).
fn writes(text: &str, n: u64) -> bool {
    text.split('#').skip(1).any(|after| {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.trim_start_matches('0') == n.to_string()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (title, body) = text.split_once('\n').unwrap_or((&text, ""));

    let plain = reverted_pr(title, body);
    let revert = reverted_pr(&format!("Revert \"{title}\""), body);
    for pr in [plain, revert].into_iter().flatten() {
        assert!(pr.0 > 0, "PR 0 from {body:?}");
        assert!(writes(body, pr.0), "#{} is not in {body:?}", pr.0);
    }
    if plain.is_some() {
        assert!(
            revert.is_some(),
            "a Revert \"…\" title lost the reference in {body:?}"
        );
    }
    if let Some(pr) = pr_from_commit_message(body) {
        assert!(pr.0 > 0 && writes(body, pr.0), "{pr:?} from {body:?}");
    }

    let facts = SuspectFacts {
        repo: RepoName::new("kubernetes", "kubernetes"),
        pr: PrNumber(1),
        title: title.to_string(),
        body: body.to_string(),
        author: Login::new(title),
        merged_at: Some(Timestamp(i64::MAX)),
        merge_commit: Some(CommitSha::new(body)),
        labels: body.lines().take(8).map(str::to_string).collect(),
        files: title.split('/').map(str::to_string).collect(),
        additions: u64::MAX,
        deletions: data.len() as u64,
    };
    let signals = Signals {
        hot_paths: vec![title.chars().take(4).collect()],
        labels: body
            .lines()
            .next()
            .into_iter()
            .map(str::to_string)
            .collect(),
    };
    let ranked = rank(&[facts.clone(), facts], &signals, &BTreeSet::new());
    assert_eq!(ranked.len(), 2);
    assert!(
        ranked
            .iter()
            .all(|s| s.score >= 0.0 && !s.reasons.is_empty())
    );
});
