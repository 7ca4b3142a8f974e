//! The store's one path to disk: a group-commit flusher.
//!
//! sled 0.34's `flush_async` deadlocks when several callers flush at once
//! (spacejam/sled#1308, #1241): a handful of concurrent command-bearing webhooks, each
//! flushed before its 200, hung `/hook` and then shutdown. So nothing calls it. One
//! dedicated thread owns the flushing: [`Flusher::flush`] queues a request and awaits its
//! answer; the thread takes every request queued so far, runs one blocking flush, and
//! answers all of them with its outcome. A flush that begins after a request was queued
//! covers everything written before that request, so one disk write serves a whole burst.
//!
//! Lifetime and failures: the thread ends when the last handle is dropped (its request
//! channel closes), so it never holds a shutdown up. A failed flush is answered to every
//! request it covered; a flush that panics is caught and answered as an error; a thread
//! that is gone anyway (it stopped holding requests) answers through the dropped reply
//! channels, so a caller gets an error, never a hang.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;

use anyhow::Context;
use tokio::sync::oneshot;

/// The answer to one request: the flush's error as text (the same error goes to every
/// request it covered, and `anyhow::Error` is not `Clone`).
type Reply = oneshot::Sender<Result<(), String>>;

/// The handle on the flusher thread; the thread ends once this is dropped.
pub(super) struct Flusher {
    requests: mpsc::Sender<Reply>,
}

impl Flusher {
    /// Starts the thread that runs `flush` for every group of requests.
    pub(super) fn spawn(
        mut flush: impl FnMut() -> anyhow::Result<()> + Send + 'static,
    ) -> anyhow::Result<Self> {
        let (requests, queued) = mpsc::channel::<Reply>();
        std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || serve(&queued, &mut flush))
            .context("starting the store flusher thread")?;
        Ok(Self { requests })
    }

    /// Queues a request for the next flush; the receiver answers once a flush that began
    /// after this call has ended.
    fn request(&self) -> anyhow::Result<oneshot::Receiver<Result<(), String>>> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(reply)
            .map_err(|_| anyhow::anyhow!("the store flusher has stopped"))?;
        Ok(answer)
    }

    /// Waits until everything written before this call is on disk.
    pub(super) async fn flush(&self) -> anyhow::Result<()> {
        let answer = self.request()?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(anyhow::anyhow!(error)),
            Err(_) => anyhow::bail!("the store flusher stopped before flushing"),
        }
    }
}

/// The flusher thread: one flush per group of queued requests, until every handle is gone.
fn serve(queued: &mpsc::Receiver<Reply>, flush: &mut dyn FnMut() -> anyhow::Result<()>) {
    let mut tally = Tally::default();
    while let Ok(first) = queued.recv() {
        let mut group = vec![first];
        group.extend(queued.try_iter());
        let started = std::time::Instant::now();
        // A caller that gave up (its future dropped) needs no answer; if none is left,
        // the flush is still done: the caller wrote before it asked.
        let outcome = match catch_unwind(AssertUnwindSafe(&mut *flush)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("{error:#}")),
            Err(_) => Err("the store flush panicked".to_string()),
        };
        if let Err(error) = &outcome {
            tracing::error!(error, waiting = group.len(), "flushing the store failed");
        }
        tally.add(group.len(), started.elapsed());
        for reply in group {
            let _ = reply.send(outcome.clone());
        }
    }
    tracing::debug!("store flusher stopped: no handle left");
}

/// What the flusher did, logged at debug level about once a second while it works: how
/// many flushes, how many requests they answered, how long they took.
#[derive(Default)]
struct Tally {
    since: Option<std::time::Instant>,
    flushes: u64,
    requests: u64,
    flushing: std::time::Duration,
}

impl Tally {
    fn add(&mut self, requests: usize, took: std::time::Duration) {
        let since = *self.since.get_or_insert_with(std::time::Instant::now);
        self.flushes += 1;
        self.requests += requests as u64;
        self.flushing += took;
        if since.elapsed() >= std::time::Duration::from_secs(1) {
            tracing::debug!(
                flushes = self.flushes,
                requests = self.requests,
                flushing_ms = self.flushing.as_millis() as u64,
                elapsed_ms = since.elapsed().as_millis() as u64,
                "store flushes"
            );
            *self = Self::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    /// Generous: only a hang (the bug this module exists for) ever reaches it.
    const HANG: Duration = Duration::from_secs(60);

    #[tokio::test]
    async fn one_flush_answers_every_request_queued_before_it_began() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = mpsc::channel::<()>();
        let (release, released) = mpsc::channel::<()>();
        let counted = flushes.clone();
        let flusher = Flusher::spawn(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            started_tx.send(()).ok();
            released.recv().ok();
            Ok(())
        })
        .unwrap();
        // The first flush begins and is held; 100 requests queue up behind it.
        let first = flusher.request().unwrap();
        started.recv_timeout(HANG).unwrap();
        let behind: Vec<_> = (0..100).map(|_| flusher.request().unwrap()).collect();
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(()));
        // One more flush covers all 100.
        started.recv_timeout(HANG).unwrap();
        release.send(()).unwrap();
        for answer in behind {
            assert_eq!(
                tokio::time::timeout(HANG, answer).await.unwrap().unwrap(),
                Ok(())
            );
        }
        assert_eq!(flushes.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_failed_or_panicking_flush_is_an_error_for_every_waiter_and_the_next_succeeds() {
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = calls.clone();
        let flusher = Arc::new(
            Flusher::spawn(move || match counted.fetch_add(1, Ordering::SeqCst) {
                0 => anyhow::bail!("disk full"),
                1 => panic!("sled panicked"),
                _ => Ok(()),
            })
            .unwrap(),
        );
        let error = tokio::time::timeout(HANG, flusher.flush())
            .await
            .unwrap()
            .unwrap_err();
        assert!(format!("{error:#}").contains("disk full"), "{error:#}");
        let error = tokio::time::timeout(HANG, flusher.flush())
            .await
            .unwrap()
            .unwrap_err();
        assert!(format!("{error:#}").contains("panicked"), "{error:#}");
        tokio::time::timeout(HANG, flusher.flush())
            .await
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn waiters_get_an_error_not_a_hang_when_the_flusher_is_gone() {
        // A flusher thread that dies holding a request (as if killed mid-flush).
        let (requests, queued) = mpsc::channel::<Reply>();
        let flusher = Flusher { requests };
        let dying = std::thread::spawn(move || {
            let held = queued.recv();
            drop(held);
            drop(queued);
        });
        let error = tokio::time::timeout(HANG, flusher.flush())
            .await
            .unwrap()
            .unwrap_err();
        assert!(format!("{error:#}").contains("stopped"), "{error:#}");
        dying.join().unwrap();
        // Every later request is refused at once.
        let error = tokio::time::timeout(HANG, flusher.flush())
            .await
            .unwrap()
            .unwrap_err();
        assert!(format!("{error:#}").contains("stopped"), "{error:#}");
    }

    #[test]
    fn the_thread_ends_when_the_handle_is_dropped() {
        let (gone_tx, gone) = mpsc::channel::<()>();
        struct Gone(mpsc::Sender<()>);
        impl Drop for Gone {
            fn drop(&mut self) {
                self.0.send(()).ok();
            }
        }
        let marker = Gone(gone_tx);
        let flusher = Flusher::spawn(move || {
            let _ = &marker;
            Ok(())
        })
        .unwrap();
        drop(flusher);
        // The closure (and what it owns, the store's `Db` in real use) is dropped with the
        // thread.
        gone.recv_timeout(HANG).unwrap();
    }
}
