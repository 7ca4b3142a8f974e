//! Prow's `ValidateWebhook`: the header checks, the bounded body, the signature.
//!
//! The checks run in Prow's order and answer with Prow's statuses, so hook (and anyone
//! reading its logs) sees what every other plugin answers:
//!
//! | check | status |
//! |---|---|
//! | method is not `POST` | 405 |
//! | no `X-GitHub-Event` | 400 |
//! | no `X-GitHub-Delivery` | 400 |
//! | neither `X-Hub-Signature-256` nor `X-Hub-Signature` | 403 |
//! | `Content-Type` is not exactly `application/json` | 400 |
//! | body over 25 MB (GitHub's own cap) | 413 |
//! | body is not a JSON object, or the signature does not match | 403 |
//! | the event queue is full / the plugin is stopping | 503 |
//! | a command-bearing event cannot be kept in the inbox (full, or the store failed) | 503 |
//! | otherwise | 200 `Event received. Have a nice day.` |
//!
//! `X-Hub-Signature-256` is checked when present, else the legacy `X-Hub-Signature`
//! (sha1), in constant time, against the tokens of the payload's `repository.full_name`
//! (see [`crate::prow::hmac`]). The body is parsed once: `issue_comment` and
//! `pull_request` straight into [`Event`]; other events only far enough to find the
//! repository.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;

use crate::bus::event::{DecodeError, Event};
use crate::prow::hmac::{Algorithm, Secrets, Signature};

/// GitHub never sends a webhook body larger than 25 MB; neither do we accept one.
pub const MAX_BODY: usize = 25 * 1024 * 1024;

/// Prow's answer to an accepted webhook.
pub const ACCEPTED: &str = "Event received. Have a nice day.";

/// Why a webhook was refused; each has its status, answer and metric outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    MethodNotAllowed,
    MissingEvent,
    MissingDelivery,
    MissingSignature,
    BadContentType,
    TooLarge,
    UnreadableBody,
    /// The body is not a JSON object, or no token of its repository signed it.
    BadSignature,
    /// The secret file cannot be read: our fault, not the sender's.
    SecretsUnavailable,
    QueueFull,
    ShuttingDown,
    /// A command-bearing event, and the inbox already holds the queue's worth.
    InboxFull,
    /// A command-bearing event that could not be written to the inbox and flushed.
    InboxUnavailable,
}

impl Rejection {
    /// The HTTP status Prow answers with.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::MissingEvent
            | Rejection::MissingDelivery
            | Rejection::BadContentType
            | Rejection::UnreadableBody => StatusCode::BAD_REQUEST,
            Rejection::MissingSignature | Rejection::BadSignature => StatusCode::FORBIDDEN,
            Rejection::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::SecretsUnavailable => StatusCode::INTERNAL_SERVER_ERROR,
            Rejection::QueueFull
            | Rejection::ShuttingDown
            | Rejection::InboxFull
            | Rejection::InboxUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `outcome` label of `scalability_gate_webhooks_total`.
    pub fn outcome(self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed => "method_not_allowed",
            Rejection::MissingEvent => "missing_event",
            Rejection::MissingDelivery => "missing_delivery",
            Rejection::MissingSignature => "missing_signature",
            Rejection::BadContentType => "bad_content_type",
            Rejection::TooLarge => "too_large",
            Rejection::UnreadableBody => "unreadable_body",
            Rejection::BadSignature => "bad_signature",
            Rejection::SecretsUnavailable => "secrets_unavailable",
            Rejection::QueueFull => "queue_full",
            Rejection::ShuttingDown => "shutting_down",
            Rejection::InboxFull => "inbox_full",
            Rejection::InboxUnavailable => "inbox_unavailable",
        }
    }

    /// The answer's body (Prow's wording where Prow has one).
    pub fn message(self) -> &'static str {
        match self {
            Rejection::MethodNotAllowed => "405 Method not allowed",
            Rejection::MissingEvent => "400 Bad Request: Missing X-GitHub-Event Header",
            Rejection::MissingDelivery => "400 Bad Request: Missing X-GitHub-Delivery Header",
            Rejection::MissingSignature => {
                "403 Forbidden: Missing X-Hub-Signature-256 or X-Hub-Signature"
            }
            Rejection::BadContentType => {
                "400 Bad Request: Hook only accepts content-type: application/json - please reconfigure this hook on GitHub"
            }
            Rejection::TooLarge => "413 Payload Too Large: webhook bodies are limited to 25 MB",
            Rejection::UnreadableBody => "400 Bad Request: Failed to read request body",
            Rejection::BadSignature => "403 Forbidden: Invalid X-Hub-Signature",
            Rejection::SecretsUnavailable => {
                "500 Internal Server Error: the HMAC secret file cannot be read"
            }
            Rejection::QueueFull => {
                "503 Service Unavailable: the event queue is full; the event was not accepted"
            }
            Rejection::ShuttingDown => {
                "503 Service Unavailable: the plugin is shutting down; the event was not accepted"
            }
            Rejection::InboxFull => {
                "503 Service Unavailable: the command inbox is full; the event was not accepted"
            }
            Rejection::InboxUnavailable => {
                "503 Service Unavailable: the command could not be stored; the event was not accepted"
            }
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        (self.status(), self.message()).into_response()
    }
}

/// The headers of a webhook that passed the header checks.
#[derive(Debug, Clone, Copy)]
pub struct Checked<'a> {
    /// `X-GitHub-Event`.
    pub event: &'a str,
    /// `X-GitHub-Delivery`.
    pub delivery: &'a str,
    pub signature: Signature<'a>,
}

pub(super) fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let value = headers.get(name)?;
    // A value that is not visible ASCII is as good as absent (Prow reads it as "").
    Some(value.to_str().unwrap_or_default()).filter(|v| !v.is_empty())
}

/// Prow's header checks, in Prow's order.
pub fn check_headers<'a>(
    method: &Method,
    headers: &'a HeaderMap,
) -> Result<Checked<'a>, Rejection> {
    if method != Method::POST {
        return Err(Rejection::MethodNotAllowed);
    }
    let event = header(headers, "x-github-event").ok_or(Rejection::MissingEvent)?;
    let delivery = header(headers, "x-github-delivery").ok_or(Rejection::MissingDelivery)?;
    let signature = match headers.get("x-hub-signature-256") {
        Some(value) => Signature {
            algorithm: Algorithm::Sha256,
            value: value.to_str().unwrap_or_default(),
        },
        None => Signature {
            algorithm: Algorithm::Sha1,
            value: header(headers, "x-hub-signature").ok_or(Rejection::MissingSignature)?,
        },
    };
    let content_type = headers.get(header::CONTENT_TYPE).map(|v| v.as_bytes());
    if content_type != Some(b"application/json") {
        return Err(Rejection::BadContentType);
    }
    Ok(Checked {
        event,
        delivery,
        signature,
    })
}

/// Reads the body, refusing more than `limit` bytes (at once when `Content-Length` says
/// so, before a byte of it is read).
pub async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes, Rejection> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::TooLarge);
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| Rejection::UnreadableBody)?;
        if buf.len() + chunk.len() > limit {
            return Err(Rejection::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// A webhook whose signature matched.
#[derive(Debug)]
pub enum Verified {
    /// Decoded into our types (possibly [`Event::Ignored`]); boxed as the queue holds it.
    Event(Box<Event>),
    /// Signed and JSON, but not of the shape the plugin reads.
    Undecodable(DecodeError),
}

/// Parses the body once, finds the repository whose tokens may sign it, and checks the
/// signature. Nothing the payload says is trusted before the signature matched.
pub fn verify_and_decode(
    secrets: &Secrets,
    checked: &Checked<'_>,
    body: &[u8],
) -> Result<Verified, Rejection> {
    if !starts_as_object(body) {
        return Err(Rejection::BadSignature);
    }
    let (repo, verified) = match Event::decode(checked.event, body) {
        Ok(event @ (Event::IssueComment(_) | Event::PullRequest(_))) => {
            let repo = event.repo().map(ToString::to_string).unwrap_or_default();
            (repo, Verified::Event(Box::new(event)))
        }
        Ok(ignored) => (signing_scope(body)?, Verified::Event(Box::new(ignored))),
        Err(error) => (signing_scope(body)?, Verified::Undecodable(error)),
    };
    if secrets.verify(&repo, &checked.signature, body) {
        Ok(verified)
    } else {
        Err(Rejection::BadSignature)
    }
}

/// Whether the first byte past JSON whitespace opens an object. Serde's derived structs
/// also read a JSON array, field by position (`[{"full_name":"o/r"}]` has a repository),
/// where Prow's Go decoder refuses anything but an object: so arrays are refused first.
fn starts_as_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b" \t\r\n".contains(b)) == Some(&b'{')
}

/// `repository.full_name` (or `organization.login` for org-level events, or "") of any
/// JSON object; anything that is not a JSON object is refused as Prow does.
fn signing_scope(body: &[u8]) -> Result<String, Rejection> {
    #[derive(Deserialize)]
    struct Envelope {
        repository: Option<Named>,
        organization: Option<Named>,
    }
    #[derive(Deserialize)]
    struct Named {
        full_name: Option<String>,
        login: Option<String>,
    }
    let scope = |repo: Option<&str>, org: Option<&str>| {
        repo.filter(|r| !r.is_empty())
            .or(org)
            .unwrap_or_default()
            .to_string()
    };
    match serde_json::from_slice::<Envelope>(body) {
        Ok(e) => Ok(scope(
            e.repository.as_ref().and_then(|r| r.full_name.as_deref()),
            e.organization.as_ref().and_then(|o| o.login.as_deref()),
        )),
        // Valid JSON of another shape (`"repository": 3`, say): look again, loosely.
        Err(e) if e.is_data() => {
            let value: serde_json::Value =
                serde_json::from_slice(body).map_err(|_| Rejection::BadSignature)?;
            if !value.is_object() {
                return Err(Rejection::BadSignature);
            }
            Ok(scope(
                value
                    .pointer("/repository/full_name")
                    .and_then(|v| v.as_str()),
                value
                    .pointer("/organization/login")
                    .and_then(|v| v.as_str()),
            ))
        }
        Err(_) => Err(Rejection::BadSignature),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, v.parse().unwrap());
        }
        map
    }

    #[test]
    fn header_checks_follow_prows_order() {
        let all = [
            ("x-github-event", "ping"),
            ("x-github-delivery", "d"),
            ("x-hub-signature-256", "sha256=00"),
            ("content-type", "application/json"),
        ];
        assert!(check_headers(&Method::POST, &headers(&all)).is_ok());
        assert_eq!(
            check_headers(&Method::GET, &HeaderMap::new()).unwrap_err(),
            Rejection::MethodNotAllowed
        );
        assert_eq!(
            check_headers(&Method::POST, &HeaderMap::new()).unwrap_err(),
            Rejection::MissingEvent
        );
        assert_eq!(
            check_headers(&Method::POST, &headers(&all[..1])).unwrap_err(),
            Rejection::MissingDelivery
        );
        assert_eq!(
            check_headers(&Method::POST, &headers(&all[..2])).unwrap_err(),
            Rejection::MissingSignature
        );
        assert_eq!(
            check_headers(&Method::POST, &headers(&all[..3])).unwrap_err(),
            Rejection::BadContentType
        );
        let mut charset = all;
        charset[3].1 = "application/json; charset=utf-8";
        assert_eq!(
            check_headers(&Method::POST, &headers(&charset)).unwrap_err(),
            Rejection::BadContentType
        );
    }

    #[test]
    fn non_object_json_is_refused_even_when_signed() {
        let secrets = Secrets::parse(b"k").unwrap();
        for body in [&b"[]"[..], b"3", b"\"x\"", b"{", b""] {
            let value = Algorithm::Sha256.sign(b"k", body);
            let checked = Checked {
                event: "ping",
                delivery: "d",
                signature: Signature {
                    algorithm: Algorithm::Sha256,
                    value: &value,
                },
            };
            assert_eq!(
                verify_and_decode(&secrets, &checked, body).unwrap_err(),
                Rejection::BadSignature,
                "{body:?}"
            );
        }
        let body = br#"{"repository":3}"#;
        let value = Algorithm::Sha256.sign(b"k", body);
        let checked = Checked {
            event: "pull_request",
            delivery: "d",
            signature: Signature {
                algorithm: Algorithm::Sha256,
                value: &value,
            },
        };
        assert!(matches!(
            verify_and_decode(&secrets, &checked, body),
            Ok(Verified::Undecodable(_))
        ));
    }

    /// Found by `fuzz/fuzz_targets/webhook.rs`: serde read these arrays by position, so a
    /// signed array was accepted (and the second one decoded into a comment).
    #[test]
    fn signed_json_arrays_are_refused_not_read_by_position() {
        let secrets = Secrets::parse(b"k").unwrap();
        for (event, body) in [
            ("status", &br#"[{"full_name":"o/r"},null]"#[..]),
            (
                "issue_comment",
                br#" ["created",["o/r"],[1,"t",[],{}],[2,"/scalability-unblock","",["u",null]]]"#,
            ),
        ] {
            let value = Algorithm::Sha256.sign(b"k", body);
            let checked = Checked {
                event,
                delivery: "d",
                signature: Signature {
                    algorithm: Algorithm::Sha256,
                    value: &value,
                },
            };
            assert_eq!(
                verify_and_decode(&secrets, &checked, body).unwrap_err(),
                Rejection::BadSignature,
                "{event}"
            );
        }
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused_declared_or_streamed() {
        let chunks = || {
            Body::from_stream(futures::stream::iter(
                (0..4).map(|_| Ok::<_, std::io::Error>(Bytes::from_static(&[b'x'; 10]))),
            ))
        };
        let none = HeaderMap::new();
        assert_eq!(read_body(&none, chunks(), 40).await.unwrap().len(), 40);
        assert_eq!(
            read_body(&none, chunks(), 39).await.unwrap_err(),
            Rejection::TooLarge
        );
        let declared = headers(&[("content-length", "41")]);
        assert_eq!(
            read_body(&declared, Body::empty(), 40).await.unwrap_err(),
            Rejection::TooLarge
        );
    }
}
