//! Fuzzes the Prow config parser and `check-tide --fix` (`prow::tide::parse`, `fix`, and
//! `core::tide::check` / `render` on what parses).
//!
//! Properties, besides never panicking (a bad config is an error, not a crash):
//! - `fix` accepts only what `parse` accepts;
//! - a fix is complete: the fixed text parses, the label check holds on it, and fixing it
//!   again changes nothing (parse → edit → parse round-trip, idempotent);
//! - the fix only inserts: every byte of the input is still there, in order.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::core::tide::{CheckParams, check};
use scalability_gate::model::{RepoName, Scope};
use scalability_gate::prow::tide::{fix, parse};

/// Is `small` a subsequence of `big` (the fix inserts, never deletes)?
fn is_subsequence(small: &[u8], big: &[u8]) -> bool {
    let mut it = big.iter();
    small.iter().all(|b| it.any(|c| c == b))
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let params = CheckParams {
        label: "do-not-merge/scalability-regression".into(),
        blocker_label: "tide/merge-blocker".into(),
        scopes: vec![
            Scope {
                repo: RepoName::new("kubernetes", "kubernetes"),
                branch: "master".into(),
            },
            Scope {
                repo: RepoName::new("kubernetes", "test-infra"),
                branch: "release-1.37".into(),
            },
        ],
    };
    let parsed = parse(text);
    if let Ok(prow) = &parsed {
        let report = check(prow, &params);
        let _ = report.render();
        let _ = report.diagnostics();
    }
    let Ok(fixed) = fix(text, &params) else {
        return;
    };
    assert!(parsed.is_ok(), "fix accepted a config parse refuses");
    assert!(fixed.report.label_holds(), "the fixed config does not hold");
    assert!(
        is_subsequence(text.as_bytes(), fixed.text.as_bytes()),
        "the fix changed or removed bytes"
    );
    let again = fix(&fixed.text, &params).expect("the fixed config fixes again");
    assert!(
        again.queries.is_empty(),
        "a second fix changed queries {:?}",
        again.queries
    );
    assert_eq!(again.text, fixed.text);
});
