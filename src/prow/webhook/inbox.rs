//! Replaying the durable inbox at start-up: commands kept but not yet decided are queued
//! again, and one kept longer than [`INBOX_MAX_AGE`] ago is answered instead.

use crate::bus::event::Event;
use crate::bus::{Input, QueueSender};
use crate::store::Store;

/// Queues the inbox's entries again, in arrival order (start-up, before the listener
/// accepts webhooks; waits for room in the queue). Their signatures were verified before
/// they were written, so they are not checked again. An entry that does not decode (a
/// damaged record, one of a newer binary, a body this binary no longer reads) is logged
/// with its delivery id and removed: its command is lost, loudly, rather than retried on
/// every start. An entry kept longer than [`INBOX_MAX_AGE`] ago is not carried out (the
/// plugin was down that long: what was asked may no longer hold, and its delivery id may
/// have left the de-duplication memory); its author gets a reply saying so, unless the
/// comment was answered already. Returns how many were queued.
pub async fn replay_inbox(
    store: &Store,
    queue: &QueueSender,
    clock: &crate::clock::Clock,
) -> anyhow::Result<usize> {
    replay_inbox_at(store, queue, clock.now()).await
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
    comment: &crate::bus::event::IssueComment,
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::bus;
    use crate::prow::webhook::testing::{comment_body, ingress, post};
    use crate::store::InboxEntry;
    use crate::telemetry::Metrics;

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
        let (queue, mut replayed) = bus::queue(8, Arc::new(Metrics::new()));
        assert_eq!(
            replay_inbox(&store, &queue, &crate::clock::Clock::system())
                .await
                .unwrap(),
            2
        );
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
        let (queue, mut replayed) = bus::queue(8, Arc::new(Metrics::new()));
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
}
