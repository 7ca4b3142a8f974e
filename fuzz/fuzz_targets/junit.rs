//! Fuzzes the streaming JUnit parser (`prow::junit::parse_junit`).
//!
//! The first byte picks how the file is cut into reads (as the network cuts it), the
//! second the byte cap (small, so the cut is reached); the rest is the file. Properties,
//! besides never panicking:
//! - the result does not depend on how the file arrives: in small pieces or whole, the
//!   same names, counts and notes;
//! - the bounds hold: at most `max_names` names, each once and at most `max_name_chars`
//!   characters (plus `…`); no more failures than testcases; no more bytes read than
//!   the cap or the file; "truncated" only for a file longer than the cap, and a file
//!   read without a note was read to its end.

#![no_main]

use std::collections::HashSet;
use std::io::Read;

use libfuzzer_sys::fuzz_target;
use scalability_gate::prow::junit::{Limits, parse_junit};

/// Hands out the file `piece` bytes at a time.
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

fuzz_target!(|data: &[u8]| {
    let [cut, cap, file @ ..] = data else {
        return;
    };
    let limits = Limits {
        max_bytes: if *cap == 0 {
            1 << 20
        } else {
            u64::from(*cap) * 16
        },
        max_names: 3,
        max_name_chars: 8,
        max_depth: 8,
        max_markup_bytes: 512,
    };
    let whole = parse_junit(file, &limits);
    let pieces = parse_junit(
        Pieces {
            rest: file,
            piece: usize::from(cut % 16) + 1,
        },
        &limits,
    );
    assert_eq!(whole, pieces, "the result depends on how the file arrives");

    assert!(whole.names.len() <= limits.max_names);
    assert!(whole.names.len() <= whole.failed);
    assert!(whole.failed <= whole.testcases);
    let distinct: HashSet<&String> = whole.names.iter().collect();
    assert_eq!(
        distinct.len(),
        whole.names.len(),
        "a name twice: {:?}",
        whole.names
    );
    for name in &whole.names {
        assert!(
            name.chars().count() <= limits.max_name_chars + 1,
            "{name:?}"
        );
    }
    let len = file.len() as u64;
    assert!(whole.bytes_read <= len.min(limits.max_bytes));
    assert!(!whole.truncated || len > limits.max_bytes);
    if !whole.truncated && whole.notes.is_empty() {
        assert_eq!(whole.bytes_read, len, "stopped early without a note");
    }
});
