//! Fuzzes webhook verification and decoding (`prow::webhook::verify_and_decode`, which
//! runs `prow::event::Event::decode`) with a known per-repository secret file.
//!
//! Input: the `X-GitHub-Event` name, a newline, then the body (the seeds are the GitHub
//! fixtures in this form). The body is signed with each level's token (`*`, org, repo)
//! and with a token of no level, and:
//! - at most one level's token is accepted, never the stranger's, never a mangled
//!   signature; anything refused is refused with 403;
//! - for a JSON text: accepted exactly when it is an object, with the token of the
//!   repository (else organization) it names (Prow refuses anything else); what is not
//!   JSON at all is refused;
//! - whatever is accepted, the secret file's own verifier accepts for the decoded
//!   event's repository: decoding never lets in a body the verifier rejected.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::bus::event::Event;
use scalability_gate::prow::hmac::{Algorithm, Secrets, Signature};
use scalability_gate::prow::webhook::{Checked, Rejection, Verified, verify_and_decode};

/// Per-repository, per-org and `*` tokens, so choosing the wrong level is caught.
const SECRETS: &str = "\
'*':
- value: star-token
kubernetes:
- value: org-token
kubernetes/kubernetes:
- value: repo-token
";

/// The token Prow would pick for `scope` (`org/repo`, `org` or empty).
fn token_for(scope: &str) -> &'static str {
    let org = scope.split('/').next().unwrap_or_default();
    if scope == "kubernetes/kubernetes" {
        "repo-token"
    } else if org == "kubernetes" {
        "org-token"
    } else {
        "star-token"
    }
}

/// `repository.full_name`, else `organization.login`, of a JSON object, as GitHub sends them.
fn scope_of(value: &serde_json::Value) -> String {
    let repo = value
        .pointer("/repository/full_name")
        .and_then(|v| v.as_str())
        .filter(|r| !r.is_empty());
    let org = value
        .pointer("/organization/login")
        .and_then(|v| v.as_str());
    repo.or(org).unwrap_or_default().to_string()
}

fn run(
    secrets: &Secrets,
    event: &str,
    algorithm: Algorithm,
    value: &str,
    body: &[u8],
) -> Result<Verified, Rejection> {
    let checked = Checked {
        event,
        delivery: "fuzz",
        signature: Signature { algorithm, value },
    };
    verify_and_decode(secrets, &checked, body)
}

/// The same signature with its last hex digit changed.
fn mangle(signature: &str) -> String {
    let (head, last) = signature.split_at(signature.len() - 1);
    format!("{head}{}", if last == "0" { "1" } else { "0" })
}

fuzz_target!(|data: &[u8]| {
    let secrets = Secrets::parse(SECRETS.as_bytes()).expect("the fuzz secret file parses");
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let Ok(event) = std::str::from_utf8(&data[..split]) else {
        return;
    };
    let body = data.get(split + 1..).unwrap_or_default();

    // The oracle judges what `serde_json::Value` reads. A body that is JSON syntax but not
    // for `Value` (invalid UTF-8 inside a string, a number out of range such as `6e666`)
    // is left to the token properties: the product skips unknown fields unchecked, as
    // Go's decoder in Prow does. What is not JSON syntax at all must be refused.
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let syntax = json.is_some() || serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
    let object = json.as_ref().filter(|v| v.is_object());

    for algorithm in [Algorithm::Sha256, Algorithm::Sha1] {
        let mut accepted = Vec::new();
        for token in ["star-token", "org-token", "repo-token", "not-a-token"] {
            let good = algorithm.sign(token.as_bytes(), body);
            let Ok(verified) = run(&secrets, event, algorithm, &good, body).map_err(|rejection| {
                assert_eq!(rejection, Rejection::BadSignature);
            }) else {
                continue;
            };
            accepted.push(token);
            match &verified {
                Verified::Event(decoded) => {
                    assert_eq!(decoded.name(), event);
                    if let Some(repo) = decoded.repo() {
                        let repo = repo.to_string();
                        let signature = Signature {
                            algorithm,
                            value: &good,
                        };
                        assert!(
                            secrets.verify(&repo, &signature, body),
                            "accepted {repo}, which the verifier refuses"
                        );
                        assert_eq!(token, token_for(&repo), "wrong level's token for {repo}");
                    }
                }
                Verified::Undecodable(_) => assert!(Event::decode(event, body).is_err()),
            }
            assert_eq!(
                run(&secrets, event, algorithm, &mangle(&good), body).err(),
                Some(Rejection::BadSignature),
                "accepted a mangled signature"
            );
        }
        // One level's tokens sign a body; a token of no level never does.
        assert!(
            accepted.len() <= 1,
            "accepted with several levels' tokens: {accepted:?}"
        );
        assert!(!accepted.contains(&"not-a-token"));
        if json.is_some() {
            match object {
                Some(value) => assert_eq!(
                    accepted,
                    [token_for(&scope_of(value))],
                    "a JSON object was not accepted with its repository's token alone"
                ),
                None => assert!(
                    accepted.is_empty(),
                    "accepted a body that is not a JSON object"
                ),
            }
        } else if !syntax {
            assert!(accepted.is_empty(), "accepted a body that is not JSON");
        }
    }
});
