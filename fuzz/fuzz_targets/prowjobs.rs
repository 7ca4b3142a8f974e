//! Fuzzes the streaming prowjobs.js parser (`prow::deck::parse_prowjobs`).
//!
//! The first byte picks how the body is cut into reads (as the network cuts it); the rest
//! is the body. Properties, besides never panicking:
//! - the result does not depend on how the body arrives: read in small pieces or whole,
//!   the same runs, counts or error;
//! - what is accepted is JSON, and every run kept is a finished periodic of a gated job,
//!   read from Deck, with a build id; `kept` counts them and never exceeds `items`.

#![no_main]

use std::collections::HashSet;
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use scalability_gate::model::{Channel, Run};
use scalability_gate::prow::deck::{ParseStats, parse_prowjobs};

/// Hands out the body `piece` bytes at a time.
struct Pieces<'a> {
    rest: &'a [u8],
    piece: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.piece.min(buf.len()).min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest = &self.rest[n..];
        Ok(n)
    }
}

fn parse(reader: impl Read, gated: &HashSet<String>) -> Result<(Vec<Run>, ParseStats), String> {
    let mut runs = Vec::new();
    parse_prowjobs(reader, gated, |run| runs.push(run))
        .map(|stats| (runs, stats))
        .map_err(|e| format!("{e:#}"))
}

fuzz_target!(|data: &[u8]| {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let gated: HashSet<String> = ["ci-kubernetes-e2e-gce-scale-performance-100", "job", "j"]
        .into_iter()
        .map(String::from)
        .collect();
    let whole = parse(body, &gated);
    let pieces = parse(
        Pieces {
            rest: body,
            piece: usize::from(cut % 16) + 1,
        },
        &gated,
    );
    match (&whole, &pieces) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "the result depends on how the body arrives"),
        (Err(_), Err(_)) => {}
        _ => panic!("whole: {whole:?}; in pieces: {pieces:?}"),
    }
    let Ok((runs, stats)) = whole else {
        return;
    };
    assert!(
        serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok(),
        "accepted a body that is not JSON"
    );
    assert_eq!(stats.kept, runs.len());
    assert!(stats.kept <= stats.items);
    for run in &runs {
        assert!(
            gated.contains(run.job.as_str()),
            "kept an ungated job: {run:?}"
        );
        assert!(!run.build_id.as_str().is_empty());
        assert_eq!(run.channel, Channel::Deck);
    }
});
