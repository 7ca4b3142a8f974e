//! Fuzzes the HMAC secret file parser (`prow::hmac::Secrets::parse`).
//!
//! Properties, besides never panicking on any bytes:
//! - a file that parses as one bare token verifies signatures made with the file's
//!   trimmed text, for any repository, and refuses signatures made with anything else;
//! - `Debug` never shows a bare token (secrets are never logged);
//! - a file that parses holds at least one token somewhere.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::prow::hmac::{Algorithm, Secrets, Signature};

const BODY: &[u8] = br#"{"repository":{"full_name":"kubernetes/kubernetes"}}"#;

fn verifies(secrets: &Secrets, repo: &str, key: &[u8]) -> bool {
    let value = Algorithm::Sha256.sign(key, BODY);
    let signature = Signature {
        algorithm: Algorithm::Sha256,
        value: &value,
    };
    secrets.verify(repo, &signature, BODY)
}

fuzz_target!(|data: &[u8]| {
    let Ok(secrets) = Secrets::parse(data) else {
        return;
    };
    let text = std::str::from_utf8(data).expect("only UTF-8 parses");
    let trimmed = text.trim();
    assert!(!trimmed.is_empty(), "an empty file parsed");
    let debug = format!("{secrets:?}");
    match &secrets {
        Secrets::Global(tokens) => {
            assert_eq!(tokens.len(), 1);
            for repo in ["kubernetes/kubernetes", "kubernetes", "", "o/r"] {
                assert!(
                    verifies(&secrets, repo, trimmed.as_bytes()),
                    "the bare token does not verify for {repo:?}"
                );
            }
            assert!(!verifies(&secrets, "o/r", format!("{trimmed}x").as_bytes()));
            assert!(!verifies(&secrets, "o/r", b""));
            if trimmed.len() >= 4 && !"Secrets::Global(<redacted>)".contains(trimmed) {
                assert!(!debug.contains(trimmed), "Debug shows the token: {debug}");
            }
        }
        Secrets::PerRepo(map) => {
            assert!(
                map.values().any(|tokens| !tokens.is_empty()),
                "a per-repository file without a token parsed"
            );
            // An empty key never verifies.
            assert!(!verifies(&secrets, "o/r", b""));
        }
    }
});
