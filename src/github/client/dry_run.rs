//! What dry-run did not send: each mutation it skipped, with its full text (a comment's or
//! issue's body, the labels, on which issue or PR), logged at info and kept in a bounded
//! ring that the dashboard and `/api/v1/dry-run` show, newest first.

use std::collections::VecDeque;

use serde::Serialize;

/// How many skipped mutations the ring keeps; older ones are dropped (they stay in the log).
pub const DRY_RUN_KEPT: usize = 50;

/// A text longer than this (in chars) is cut in the ring (never in the log).
const TEXT_KEPT_CHARS: usize = 8 * 1024;

/// One mutation dry-run did not send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WouldSend {
    /// Counts every skipped mutation since start (1 is the first): gaps show what the ring
    /// dropped.
    pub seq: u64,
    /// What it would have done: `comment`, `open issue`, `edit issue`, `add labels`,
    /// `remove label`, `create label`, `graphql`.
    pub action: String,
    /// Where: `org/repo#N`, `org/repo` or `graphql`.
    pub on: String,
    /// The request's method and path, as the log names them.
    pub method: String,
    pub path: String,
    /// The full text it would have sent (cut at 8 KiB chars here; whole in the log).
    pub text: String,
}

/// The ring of the last [`DRY_RUN_KEPT`] skipped mutations.
#[derive(Debug, Default)]
pub(super) struct DryRunLog {
    seq: u64,
    kept: VecDeque<WouldSend>,
}

impl DryRunLog {
    /// Logs `would` at info with its full text and keeps it, dropping the oldest beyond
    /// [`DRY_RUN_KEPT`].
    pub(super) fn record(&mut self, mut would: WouldSend) {
        self.seq += 1;
        would.seq = self.seq;
        tracing::info!(
            seq = would.seq,
            action = %would.action,
            on = %would.on,
            method = %would.method,
            path = %would.path,
            text = %would.text,
            "dry-run: GitHub mutation not sent"
        );
        if let Some((cut, _)) = would.text.char_indices().nth(TEXT_KEPT_CHARS) {
            would.text.truncate(cut);
            would.text.push('…');
        }
        if self.kept.len() == DRY_RUN_KEPT {
            self.kept.pop_front();
        }
        self.kept.push_back(would);
    }

    /// Newest first.
    pub(super) fn newest_first(&self) -> Vec<WouldSend> {
        self.kept.iter().rev().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn would(text: &str) -> WouldSend {
        WouldSend {
            seq: 0,
            action: "comment".into(),
            on: "o/r#1".into(),
            method: "POST".into(),
            path: "/repos/o/r/issues/1/comments".into(),
            text: text.into(),
        }
    }

    #[test]
    fn keeps_the_newest_fifty_newest_first_and_cuts_long_text_on_a_char() {
        let mut log = DryRunLog::default();
        for i in 0..(DRY_RUN_KEPT + 7) {
            log.record(would(&format!("reply {i}")));
        }
        let kept = log.newest_first();
        assert_eq!(kept.len(), DRY_RUN_KEPT);
        assert_eq!(kept[0].text, format!("reply {}", DRY_RUN_KEPT + 6));
        assert_eq!(kept[0].seq, (DRY_RUN_KEPT + 7) as u64);
        assert_eq!(kept[DRY_RUN_KEPT - 1].text, "reply 7");

        let long = "é".repeat(TEXT_KEPT_CHARS + 10);
        log.record(would(&long));
        let text = &log.newest_first()[0].text;
        assert_eq!(text.chars().count(), TEXT_KEPT_CHARS + 1);
        assert!(text.ends_with('…'));
    }
}
