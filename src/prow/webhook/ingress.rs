//! The webhook endpoint: verify, keep a command in the durable inbox, enqueue, answer.
//!
//! What is enqueued: `issue_comment` and `pull_request` events. Other events are answered
//! 200 and counted as `ignored` but not enqueued, so they cannot crowd the queue. A signed
//! JSON payload that does not decode into our types is logged with its delivery id,
//! counted as `undecodable`, answered 200 (GitHub would only redeliver the same bytes) and
//! dropped. Nothing here waits on GitHub or on the consumer.
//!
//! An event that carries a command (an `issue_comment` that
//! [`may_carry_command`] accepts, the gate's own first check) is also written to
//! the store's durable inbox ([`crate::store::InboxEntry`]: delivery id, event name, the
//! verified body) and flushed before it is answered 200, so a process killed before the
//! consumer decided on it does not lose a person's command: [`super::replay_inbox`] queues
//! it again at start-up, before the listener accepts webhooks. Other events keep the fast
//! path (no store write, no flush): the reconciler's resync repairs what they would lose.

use std::sync::Arc;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::validate::{
    ACCEPTED, Checked, MAX_BODY, Rejection, Verified, check_headers, header, read_body,
    verify_and_decode,
};
use crate::app::App;
use crate::bus::event::Event;
use crate::bus::event::may_carry_command;
use crate::bus::{Input, QueueError, QueueSender};
use crate::clock::Clock;
use crate::prow::hmac::HmacSecrets;
use crate::store::Store;
use crate::store::{InboxEntry, InboxError, InboxKey};
use crate::telemetry::Metrics;

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
        if matches!(&**event, Event::IssueComment(c) if may_carry_command(c)))
}

/// The webhook endpoint: owns the secret file, the queue's sending side and the store
/// (for the inbox of command-bearing events).
#[derive(Clone)]
pub struct Ingress {
    secrets: Arc<HmacSecrets>,
    queue: QueueSender,
    metrics: Arc<Metrics>,
    store: Store,
    /// When a kept command was kept.
    clock: Clock,
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
        .with_clock(app.clock.clone())
    }

    /// The same ingress, reading the time (when a command was kept) from `clock`.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// An ingress from its parts (benchmarks build one without a server), on the system
    /// clock. The inbox holds at most the queue's capacity.
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
            clock: Clock::system(),
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
            kept_at: self.clock.now().0,
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
    use crate::bus;
    use crate::prow::webhook::testing::{comment_body, inbox_of, ingress, post};

    #[test]
    fn a_full_queue_is_refused_with_503() {
        let metrics = Arc::new(Metrics::new());
        let (queue, _rx) = bus::queue(1, metrics);
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

    #[test]
    fn unsigned_event_names_do_not_grow_the_labels() {
        assert_eq!(event_label("pull_request", false), "pull_request");
        assert_eq!(event_label("made-up", false), "other");
        assert_eq!(event_label("status", true), "status");
        assert_eq!(event_label("", false), "none");
    }
}
