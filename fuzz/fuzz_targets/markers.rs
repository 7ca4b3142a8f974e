//! Fuzzes the hidden-marker reader (`comment::parse_markers`, `issue_incident`) and the
//! cut to GitHub's size (`comment::fit_for_github`) with arbitrary comment and issue bodies.
//!
//! Properties, besides never panicking:
//! - a marker the plugin writes, put after any text without an unterminated marker
//!   opening, is found again (the reconciler finds its issues and comments by it), and
//!   counts only on what the plugin's own login wrote;
//! - the cut body is within GitHub's limit, unchanged when it already was, and keeps the
//!   marker at its end.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::comment::{
    GITHUB_BODY_CHARS, fit_for_github, issue_incident, marker, parse_markers,
};
use scalability_gate::model::{IncidentId, Login};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_markers(&text);
    let me = Login::new("gate-bot");
    let _ = issue_incident(Some(&me), "gate-bot", &text);

    let id = IncidentId::new("ci-scale-101");
    let ours = marker(&id, "issue/master");
    let body = format!("{text}\n\n{ours}");
    if !text.contains("<!-- scalability-gate:") {
        assert!(
            parse_markers(&body).contains(&(id.clone(), "issue/master".to_string())),
            "our marker is lost after {text:?}"
        );
        assert_eq!(issue_incident(Some(&me), "gate-bot", &body), Some(id));
        assert_eq!(issue_incident(Some(&me), "mallory", &body), None);
    }

    // Repeated to cross the limit now and then (the input alone is at most a few KB).
    let times = if data.first().is_some_and(|b| b & 1 == 1) {
        1
    } else {
        40
    };
    let long = format!("{}\n\n{ours}", text.repeat(times));
    let fitted = fit_for_github(long.clone());
    assert!(fitted.chars().count() <= GITHUB_BODY_CHARS);
    if long.chars().count() <= GITHUB_BODY_CHARS {
        assert_eq!(fitted, long);
    }
    if !text.contains("<!-- scalability-gate:") {
        assert!(fitted.ends_with(&ours), "the marker was cut");
    }
});
