//! Webhook ingress: Prow's `ValidateWebhook`, then decode and enqueue.
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
//!
//! What is enqueued: `issue_comment` and `pull_request` events. Other events are answered
//! 200 and counted as `ignored` but not enqueued, so they cannot crowd the queue. A signed
//! JSON payload that does not decode into our types is logged with its delivery id,
//! counted as `undecodable`, answered 200 (GitHub would only redeliver the same bytes) and
//! dropped. Nothing here waits on GitHub or on the consumer.
//!
//! An event that carries a command (an `issue_comment` that
//! [`gating::may_carry_command`] accepts, the gate's own first check) is also written to
//! the store's durable inbox ([`crate::store::InboxEntry`]: delivery id, event name, the
//! verified body) and flushed before it is answered 200, so a process killed before the
//! consumer decided on it does not lose a person's command: [`replay_inbox`] queues it
//! again at start-up, before the listener accepts webhooks. Other events keep the fast
//! path (no store write, no flush): the reconciler's resync repairs what they would lose.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tracing::Instrument;

use crate::consumer::gating;
use crate::consumer::{Input, QueueError, QueueSender};
use crate::prow::event::{DecodeError, Event};
use crate::prow::hmac::{Algorithm, HmacSecrets, Secrets, Signature};
use crate::store::{InboxEntry, InboxError, InboxKey};
use crate::telemetry::Metrics;
use crate::{App, Store};

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

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
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

/// What happened to an accepted webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// Queued for the consumer.
    Queued,
    /// An event the plugin does not act on: answered, not queued.
    Ignored,
    /// Signed JSON that did not decode: logged and dropped.
    Undecodable,
}

impl Accepted {
    /// The `outcome` label of `scalability_gate_webhooks_total`.
    pub fn outcome(self) -> &'static str {
        match self {
            Accepted::Queued => "accepted",
            Accepted::Ignored => "ignored",
            Accepted::Undecodable => "undecodable",
        }
    }
}

/// Hands a verified event to the consumer without waiting: a full queue is refused.
pub fn enqueue(
    queue: &QueueSender,
    delivery: &str,
    verified: Verified,
) -> Result<Accepted, Rejection> {
    enqueue_kept(queue, delivery, verified, None)
}

/// As [`enqueue`], for an event kept in the inbox under `inbox` (the consumer removes it).
fn enqueue_kept(
    queue: &QueueSender,
    delivery: &str,
    verified: Verified,
    inbox: Option<InboxKey>,
) -> Result<Accepted, Rejection> {
    match verified {
        Verified::Event(event) if matches!(*event, Event::Ignored(_)) => Ok(Accepted::Ignored),
        Verified::Undecodable(error) => {
            tracing::warn!(delivery, error = %error, "signed payload does not decode; dropped");
            Ok(Accepted::Undecodable)
        }
        Verified::Event(event) => {
            let input = Input::Webhook {
                delivery: delivery.to_string(),
                event,
                inbox,
            };
            match queue.try_send(input) {
                Ok(()) => Ok(Accepted::Queued),
                Err(QueueError::Full) => Err(Rejection::QueueFull),
                Err(QueueError::Closed) => Err(Rejection::ShuttingDown),
            }
        }
    }
}

/// The `event` label: GitHub's name once the signature matched; before that only names
/// the plugin knows, so unsigned requests cannot grow the label set.
fn event_label(name: &str, verified: bool) -> &str {
    match name {
        "" => "none",
        "issue_comment" | "pull_request" => name,
        _ if verified && name.len() <= 64 => name,
        _ => "other",
    }
}

/// Whether a verified event carries a command, and so is kept in the inbox.
pub fn carries_command(verified: &Verified) -> bool {
    matches!(verified, Verified::Event(event)
        if matches!(&**event, Event::IssueComment(c) if gating::may_carry_command(c)))
}

/// Queues the inbox's entries again, in arrival order (start-up, before the listener
/// accepts webhooks; waits for room in the queue). Their signatures were verified before
/// they were written, so they are not checked again. An entry that does not decode (a
/// damaged record, one of a newer binary, a body this binary no longer reads) is logged
/// with its delivery id and removed: its command is lost, loudly, rather than retried on
/// every start. An entry kept longer than [`INBOX_MAX_AGE`] ago is not carried out (the
/// plugin was down that long: what was asked may no longer hold, and its delivery id may
/// have left the de-duplication memory); its author gets a reply saying so, unless the
/// comment was answered already. Returns how many were queued.
pub async fn replay_inbox(store: &Store, queue: &QueueSender) -> anyhow::Result<usize> {
    replay_inbox_at(store, queue, crate::consumer::gating::now()).await
}

/// How long ago a command may have been kept and still be carried out at start-up.
pub const INBOX_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// [`replay_inbox`] with the time given.
pub async fn replay_inbox_at(
    store: &Store,
    queue: &QueueSender,
    now: crate::model::Timestamp,
) -> anyhow::Result<usize> {
    let mut queued = 0;
    for (key, entry) in store.inbox_pending()? {
        let decoded = entry.and_then(|entry| {
            let event = Event::decode(&entry.event, &entry.body)?;
            anyhow::ensure!(
                !matches!(event, Event::Ignored(_)),
                "event {} is not one the plugin acts on",
                entry.event
            );
            Ok((entry.delivery, entry.kept_at, event))
        });
        match decoded {
            Ok((delivery, kept_at, event))
                if kept_at > 0 && now.0 - kept_at > INBOX_MAX_AGE.as_secs() as i64 =>
            {
                tracing::error!(
                    delivery,
                    kept_at,
                    "a command kept before the plugin stopped is too old to carry out; its author is told"
                );
                if let Event::IssueComment(comment) = &event {
                    store.apply_decision(&stale_command(
                        comment,
                        crate::model::Timestamp(kept_at),
                        now,
                    ))?;
                }
                store.inbox_remove(key)?;
            }
            Ok((delivery, _, event)) => {
                tracing::info!(delivery, event = event.name(), "inbox entry queued again");
                let input = Input::Webhook {
                    delivery,
                    event: Box::new(event),
                    inbox: Some(key),
                };
                queue
                    .send(input)
                    .await
                    .map_err(|e| anyhow::anyhow!("queueing the inbox: {e}"))?;
                queued += 1;
            }
            Err(error) => {
                tracing::error!(
                    inbox_key = key.0,
                    error = format!("{error:#}"),
                    "inbox entry cannot be replayed; dropped (the command it held is lost)"
                );
                store.inbox_remove(key)?;
            }
        }
    }
    Ok(queued)
}

/// What the store gets for a command too old to replay: a reply to its comment (posted by
/// the reconciler, once: its marker is the comment's reply marker, so a comment answered
/// before the stop gets nothing more) and an audit record.
fn stale_command(
    comment: &crate::prow::event::IssueComment,
    kept_at: crate::model::Timestamp,
    now: crate::model::Timestamp,
) -> crate::store::Changes {
    use crate::core::gate::{Reply, ReplyPart};
    let reply = Reply {
        repo: comment.repo.clone(),
        number: comment.number,
        in_reply_to: comment.comment_id,
        author: comment.author.clone(),
        parts: vec![ReplyPart::TooOld { kept_at, now }],
    };
    crate::store::Changes {
        incidents: Vec::new(),
        audit: vec![crate::model::AuditRecord {
            at: now,
            who: comment.author.to_string(),
            command: "command kept in the inbox".into(),
            target: format!("{}#{}", comment.repo, comment.number.0),
            outcome: "dropped: too old to carry out after a restart".into(),
            reason: String::new(),
        }],
        replies: vec![crate::store::PendingReply {
            key: crate::comment::reply_marker(comment.comment_id),
            repo: comment.repo.clone(),
            number: comment.number,
            body: crate::comment::reply(&reply),
        }],
    }
}

/// The webhook endpoint: owns the secret file, the queue's sending side and the store
/// (for the inbox of command-bearing events).
#[derive(Clone)]
pub struct Ingress {
    secrets: Arc<HmacSecrets>,
    queue: QueueSender,
    metrics: Arc<Metrics>,
    store: Store,
}

impl Ingress {
    /// The ingress of a running plugin.
    pub fn from_app(app: &App) -> Self {
        Self::new(
            Arc::new(HmacSecrets::new(&app.config.hmac_secret_file)),
            app.queue.clone(),
            app.metrics.clone(),
            app.store.clone(),
        )
    }

    /// An ingress from its parts (benchmarks build one without a server). The inbox holds
    /// at most the queue's capacity.
    pub fn new(
        secrets: Arc<HmacSecrets>,
        queue: QueueSender,
        metrics: Arc<Metrics>,
        store: Store,
    ) -> Self {
        Self {
            secrets,
            queue,
            metrics,
            store,
        }
    }

    /// Everything after the body is read: secrets, signature, decode, the inbox for a
    /// command, enqueue. The handler and the benchmark both go through here.
    pub async fn accept(&self, checked: &Checked<'_>, body: &[u8]) -> Result<Accepted, Rejection> {
        let secrets = self.secrets.current().map_err(|error| {
            // The error names the file, never what it holds.
            tracing::error!(
                error = format!("{error:#}"),
                "cannot read the HMAC secret file"
            );
            Rejection::SecretsUnavailable
        })?;
        let verified = verify_and_decode(&secrets, checked, body)?;
        if let Verified::Event(event) = &verified {
            let span = tracing::Span::current();
            if let Some(repo) = event.repo() {
                span.record("org", repo.org.as_str());
                span.record("repo", repo.repo.as_str());
            }
            if let Some(number) = event.number() {
                span.record("pr", number.0);
            }
        }
        if !carries_command(&verified) {
            return enqueue_kept(&self.queue, checked.delivery, verified, None);
        }
        // Kept, flushed and queued as one task: a request dropped mid-flush (the client
        // went away) must not leave an entry kept but never queued, which only the next
        // start would find.
        let entry = InboxEntry {
            delivery: checked.delivery.to_string(),
            event: checked.event.to_string(),
            body: body.to_vec(),
            kept_at: crate::consumer::gating::now().0,
        };
        let this = self.clone();
        tokio::spawn(async move { this.keep_and_enqueue(entry, verified).await })
            .await
            .unwrap_or_else(|error| {
                tracing::error!(error = %error, "keeping a command failed");
                Err(Rejection::InboxUnavailable)
            })
    }

    /// Writes a command-bearing webhook to the inbox, flushes it, and queues it; an event
    /// the queue refuses is removed again (not claimed as received: not replayed either).
    async fn keep_and_enqueue(
        &self,
        entry: InboxEntry,
        verified: Verified,
    ) -> Result<Accepted, Rejection> {
        let key = self.keep(&entry).await?;
        let queued = enqueue_kept(&self.queue, &entry.delivery, verified, Some(key));
        if queued.is_err() {
            self.forget(key).await;
        }
        queued
    }

    /// Writes a command-bearing webhook to the inbox and flushes it.
    async fn keep(&self, entry: &InboxEntry) -> Result<InboxKey, Rejection> {
        let key = match self.store.inbox_put(entry, self.queue.capacity()) {
            Ok(key) => key,
            Err(InboxError::Full(held)) => {
                tracing::warn!(held, "the command inbox is full");
                return Err(Rejection::InboxFull);
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot keep a command in the inbox");
                return Err(Rejection::InboxUnavailable);
            }
        };
        if let Err(error) = self.store.flush().await {
            tracing::error!(
                error = format!("{error:#}"),
                "cannot flush the command inbox"
            );
            self.forget(key).await;
            return Err(Rejection::InboxUnavailable);
        }
        Ok(key)
    }

    /// Removes an entry that was refused after all (best effort: one left behind is
    /// replayed at the next start, and a delivery decided twice says nothing twice).
    async fn forget(&self, key: InboxKey) {
        let removed = match self.store.inbox_remove(key) {
            Ok(()) => self.store.flush().await,
            Err(error) => Err(error),
        };
        if let Err(error) = removed {
            tracing::error!(
                error = format!("{error:#}"),
                inbox_key = key.0,
                "cannot remove a refused event from the inbox"
            );
        }
    }

    /// Answers one HTTP request on `/hook` or `/`.
    pub async fn handle(&self, request: Request) -> Response {
        let (parts, body) = request.into_parts();
        let span = tracing::info_span!(
            "webhook",
            delivery = header(&parts.headers, "x-github-delivery").unwrap_or_default(),
            event = header(&parts.headers, "x-github-event").unwrap_or_default(),
            org = tracing::field::Empty,
            repo = tracing::field::Empty,
            pr = tracing::field::Empty,
        );
        async move {
            let event = header(&parts.headers, "x-github-event").unwrap_or_default();
            let result = match check_headers(&parts.method, &parts.headers) {
                Ok(checked) => match read_body(&parts.headers, body, MAX_BODY).await {
                    Ok(bytes) => self.accept(&checked, &bytes).await,
                    Err(rejection) => Err(rejection),
                },
                Err(rejection) => Err(rejection),
            };
            match result {
                Ok(accepted) => {
                    self.metrics
                        .webhook(event_label(event, true), accepted.outcome());
                    tracing::debug!(outcome = accepted.outcome(), "webhook accepted");
                    (StatusCode::OK, ACCEPTED).into_response()
                }
                Err(rejection) => {
                    let verified = matches!(
                        rejection,
                        Rejection::QueueFull
                            | Rejection::ShuttingDown
                            | Rejection::InboxFull
                            | Rejection::InboxUnavailable
                    );
                    self.metrics
                        .webhook(event_label(event, verified), rejection.outcome());
                    tracing::warn!(
                        status = rejection.status().as_u16(),
                        outcome = rejection.outcome(),
                        "webhook refused"
                    );
                    rejection.into_response()
                }
            }
        }
        .instrument(span)
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consumer;

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
    fn a_full_queue_is_refused_with_503() {
        let metrics = Arc::new(Metrics::new());
        let (queue, _rx) = consumer::queue(1, metrics);
        let event = || {
            Verified::Event(Box::new(
                Event::decode(
                    "issue_comment",
                    br#"{"action":"created","repository":{"full_name":"o/r"},
                    "issue":{"number":1},"comment":{"id":2,"user":{"login":"u"}}}"#,
                )
                .unwrap(),
            ))
        };
        assert_eq!(enqueue(&queue, "a", event()), Ok(Accepted::Queued));
        let refused = enqueue(&queue, "b", event()).unwrap_err();
        assert_eq!(refused, Rejection::QueueFull);
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.message().contains("queue is full"));
        assert_eq!(
            enqueue(
                &queue,
                "c",
                Verified::Event(Box::new(Event::Ignored("ping".into())))
            ),
            Ok(Accepted::Ignored)
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

    fn comment_body(text: &str) -> Vec<u8> {
        serde_json::json!({
            "action": "created",
            "repository": {"full_name": "o/r"},
            "issue": {"number": 1},
            "comment": {"id": 2, "body": text, "user": {"login": "u"}},
        })
        .to_string()
        .into_bytes()
    }

    /// An ingress over a real (temporary) store, its queue holding at most `capacity`.
    /// The secret file is read on every webhook: the directory lives as long as the test.
    fn ingress(
        capacity: usize,
    ) -> (
        Ingress,
        Store,
        tokio::sync::mpsc::Receiver<Input>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("hmac");
        std::fs::write(&secret, "k").unwrap();
        let metrics = Arc::new(Metrics::new());
        let (queue, rx) = consumer::queue(capacity, metrics.clone());
        let store = Store::temporary().unwrap();
        let secrets = Arc::new(HmacSecrets::new(&secret));
        let ingress = Ingress::new(secrets, queue, metrics, store.clone());
        (ingress, store, rx, dir)
    }

    async fn post(
        ingress: &Ingress,
        event: &str,
        delivery: &str,
        body: &[u8],
    ) -> Result<Accepted, Rejection> {
        let value = Algorithm::Sha256.sign(b"k", body);
        let checked = Checked {
            event,
            delivery,
            signature: Signature {
                algorithm: Algorithm::Sha256,
                value: &value,
            },
        };
        ingress.accept(&checked, body).await
    }

    fn inbox_of(input: Input) -> Option<InboxKey> {
        match input {
            Input::Webhook { inbox, .. } => inbox,
            _ => panic!("a webhook"),
        }
    }

    #[tokio::test]
    async fn only_command_bearing_comments_are_kept_in_the_inbox() {
        let (ingress, store, mut rx, _dir) = ingress(8);
        let plain = [
            ("issue_comment", comment_body("/lgtm\nlooks good")),
            // Quoted or in code: text, not a command (the parser's rule).
            ("issue_comment", comment_body("> /scalability-block j\n")),
            (
                "issue_comment",
                comment_body("```\n/scalability-block j\n```"),
            ),
            (
                "pull_request",
                br#"{"action":"opened","number":1,"repository":{"full_name":"o/r"},
                "pull_request":{"number":1,"title":"t","user":{"login":"a"},"labels":[],
                "base":{"ref":"main","sha":"b"},"head":{"ref":"x","sha":"h"},"merged":false},
                "sender":{"login":"a"}}"#
                    .to_vec(),
            ),
        ];
        for (i, (event, body)) in plain.iter().enumerate() {
            let delivery = format!("plain-{i}");
            assert_eq!(
                post(&ingress, event, &delivery, body).await,
                Ok(Accepted::Queued),
                "{delivery}"
            );
            assert_eq!(inbox_of(rx.try_recv().unwrap()), None, "{delivery}");
        }
        // An edit is never a command to the gate, so not to the inbox either.
        let edited = String::from_utf8(comment_body("/scalability-block j"))
            .unwrap()
            .replace("created", "edited");
        assert_eq!(
            post(&ingress, "issue_comment", "edited", edited.as_bytes()).await,
            Ok(Accepted::Queued)
        );
        assert_eq!(inbox_of(rx.try_recv().unwrap()), None);
        assert_eq!(store.inbox_len().unwrap(), 0, "no inbox write");

        let body = comment_body("thanks\n/scalability-block j investigating");
        assert_eq!(
            post(&ingress, "issue_comment", "cmd", &body).await,
            Ok(Accepted::Queued)
        );
        let key = inbox_of(rx.try_recv().unwrap()).expect("kept");
        let pending = store.inbox_pending().unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, key);
        let entry = pending[0].1.as_ref().unwrap();
        assert_eq!(
            (entry.delivery.as_str(), entry.event.as_str(), &entry.body),
            ("cmd", "issue_comment", &body)
        );
    }

    #[tokio::test]
    async fn a_full_inbox_or_queue_answers_503_and_keeps_nothing_refused() {
        let (ingress, store, mut rx, _dir) = ingress(1);
        let command = comment_body("/scalability-unblock");
        assert_eq!(
            post(&ingress, "issue_comment", "a", &command).await,
            Ok(Accepted::Queued)
        );
        // Taken by the consumer but not decided yet: the inbox still holds it.
        let first = inbox_of(rx.try_recv().unwrap()).expect("kept");
        let refused = post(&ingress, "issue_comment", "b", &command)
            .await
            .unwrap_err();
        assert_eq!(refused, Rejection::InboxFull);
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.message().contains("inbox is full"));
        assert!(rx.try_recv().is_err(), "nothing queued");
        // A plain event does not need the inbox.
        let plain = comment_body("/lgtm");
        assert_eq!(
            post(&ingress, "issue_comment", "c", &plain).await,
            Ok(Accepted::Queued)
        );
        // Decided: room again, but the queue is full now. Refused, and not kept (so not
        // replayed after a restart: nothing was claimed as received).
        store.inbox_remove(first).unwrap();
        assert_eq!(
            post(&ingress, "issue_comment", "d", &command).await,
            Err(Rejection::QueueFull)
        );
        assert_eq!(store.inbox_len().unwrap(), 0);
        assert_eq!(
            Rejection::InboxUnavailable.status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test]
    async fn the_inbox_is_replayed_in_order_and_what_cannot_be_is_dropped() {
        let (ingress, store, mut rx, _dir) = ingress(8);
        for (delivery, text) in [
            ("one", "/scalability-block j"),
            ("two", "/scalability-unblock"),
        ] {
            let body = comment_body(text);
            post(&ingress, "issue_comment", delivery, &body)
                .await
                .unwrap();
            rx.try_recv().unwrap();
        }
        // A body this binary does not read, and an event it does not act on.
        store
            .inbox_put(
                &InboxEntry {
                    delivery: "bad".into(),
                    event: "issue_comment".into(),
                    body: br#"{"action":3}"#.to_vec(),
                    kept_at: 0,
                },
                8,
            )
            .unwrap();
        store
            .inbox_put(
                &InboxEntry {
                    delivery: "ping".into(),
                    event: "ping".into(),
                    body: b"{}".to_vec(),
                    kept_at: 0,
                },
                8,
            )
            .unwrap();
        let (queue, mut replayed) = consumer::queue(8, Arc::new(Metrics::new()));
        assert_eq!(replay_inbox(&store, &queue).await.unwrap(), 2);
        let mut order = Vec::new();
        while let Ok(Input::Webhook {
            delivery,
            event,
            inbox,
        }) = replayed.try_recv()
        {
            assert!(matches!(*event, Event::IssueComment(_)));
            assert!(inbox.is_some());
            order.push(delivery);
        }
        assert_eq!(order, ["one", "two"]);
        assert_eq!(store.inbox_len().unwrap(), 2, "the two bad ones removed");
    }

    /// A request dropped while its command is being kept (the client went away during the
    /// flush) still queues what it kept: nothing waits in the inbox for the next start.
    #[tokio::test]
    async fn a_request_dropped_while_keeping_still_queues_its_command() {
        let (ingress, store, mut rx, _dir) = ingress(8);
        let body = comment_body("/scalability-block j");
        let request = post(&ingress, "issue_comment", "dropped", &body);
        // Polled once (the task is spawned), then dropped.
        let _ = tokio::time::timeout(std::time::Duration::ZERO, request).await;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
        let queued = loop {
            if let Ok(input) = rx.try_recv() {
                break input;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "kept in the inbox ({}) but never queued",
                store.inbox_len().unwrap()
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        assert!(inbox_of(queued).is_some());
        assert_eq!(store.inbox_len().unwrap(), 1, "until the consumer decides");
    }

    /// At start-up, a command kept more than `INBOX_MAX_AGE` ago is not carried out: its
    /// author gets a reply (through the outbox, under the comment's reply marker) and the
    /// audit log says so; a recent one is queued as usual.
    #[tokio::test]
    async fn a_command_kept_too_long_ago_is_answered_not_replayed() {
        let store = Store::temporary().unwrap();
        let now = crate::model::Timestamp(1_764_000_000);
        let keep = |delivery: &str, text: &str, age: i64| {
            store
                .inbox_put(
                    &InboxEntry {
                        delivery: delivery.into(),
                        event: "issue_comment".into(),
                        body: comment_body(text),
                        kept_at: now.0 - age,
                    },
                    8,
                )
                .unwrap();
        };
        keep("old", "/scalability-unblock", 2 * 3600);
        keep("recent", "/scalability-block j", 600);
        let (queue, mut replayed) = consumer::queue(8, Arc::new(Metrics::new()));
        assert_eq!(replay_inbox_at(&store, &queue, now).await.unwrap(), 1);
        let Ok(Input::Webhook { delivery, .. }) = replayed.try_recv() else {
            panic!("the recent one is queued");
        };
        assert_eq!(delivery, "recent");
        assert!(replayed.try_recv().is_err());
        assert_eq!(store.inbox_len().unwrap(), 1, "only the recent one is left");
        let replies = store.pending_replies().unwrap();
        assert_eq!(replies.len(), 1);
        assert!(
            replies[0].body.contains("were not carried out")
                && replies[0].body.contains(&crate::comment::reply_marker(2)),
            "{}",
            replies[0].body
        );
        let audit = store.audit_log(10).unwrap();
        assert_eq!(audit.len(), 1);
        assert!(audit[0].outcome.contains("too old"), "{audit:?}");
    }

    #[test]
    fn unsigned_event_names_do_not_grow_the_labels() {
        assert_eq!(event_label("pull_request", false), "pull_request");
        assert_eq!(event_label("made-up", false), "other");
        assert_eq!(event_label("status", true), "status");
        assert_eq!(event_label("", false), "none");
    }
}
