//! The mutation budget: a sliding minute and hour of slots every mutation attempt takes.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;

use super::Client;

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// The sliding windows of mutation timestamps.
pub(super) struct Pacer {
    per_minute: usize,
    per_hour: usize,
    /// Instants of the mutations of the last hour, oldest first (at most `per_hour`).
    sent: VecDeque<Instant>,
}

impl Pacer {
    /// A budget of `per_minute` and `per_hour` mutations (at least one each).
    pub(super) fn new(per_minute: u32, per_hour: u32) -> Self {
        Self {
            per_minute: per_minute.max(1) as usize,
            per_hour: per_hour.max(1) as usize,
            sent: VecDeque::new(),
        }
    }

    /// `None` when a mutation may go at `now`, else the instant a slot frees up.
    fn next_slot(&mut self, now: Instant) -> Option<Instant> {
        while self.sent.front().is_some_and(|t| *t + HOUR <= now) {
            self.sent.pop_front();
        }
        let len = self.sent.len();
        if len >= self.per_hour {
            return Some(self.sent[len - self.per_hour] + HOUR);
        }
        if len >= self.per_minute {
            let oldest_of_minute = self.sent[len - self.per_minute];
            if oldest_of_minute + MINUTE > now {
                return Some(oldest_of_minute + MINUTE);
            }
        }
        None
    }

    /// Gives back the slot taken at `at` (the attempt never left this host).
    fn give_back(&mut self, at: Instant) {
        if let Some(i) = self.sent.iter().rposition(|t| *t == at) {
            self.sent.remove(i);
        }
    }
}

impl Client {
    /// Waits for a free slot in the mutation budget and takes it; answers when it was
    /// taken (to give it back with [`Client::give_back`]). The lock is held while waiting
    /// so mutations go out in the order they asked.
    pub(super) async fn pace(&self) -> Instant {
        let mut pacer = self.inner.pacer.lock().await;
        loop {
            let now = Instant::now();
            match pacer.next_slot(now) {
                None => {
                    pacer.sent.push_back(now);
                    self.inner.counters.paced.fetch_add(1, Ordering::Relaxed);
                    return now;
                }
                Some(at) => {
                    tracing::debug!(
                        wait_ms = (at - now).as_millis() as u64,
                        "pacing a GitHub mutation"
                    );
                    tokio::time::sleep_until(at).await;
                }
            }
        }
    }

    /// Gives back a slot [`Client::pace`] took: the attempt could not even connect, so
    /// GitHub never received it.
    pub(super) async fn give_back(&self, slot: Instant) {
        self.inner.pacer.lock().await.give_back(slot);
        self.inner.counters.paced.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn pacer_never_exceeds_minute_or_hour() {
        let mut p = Pacer {
            per_minute: 2,
            per_hour: 3,
            sent: VecDeque::new(),
        };
        let t0 = Instant::now();
        assert_eq!(p.next_slot(t0), None);
        p.sent.push_back(t0);
        assert_eq!(p.next_slot(t0), None);
        p.sent.push_back(t0);
        assert_eq!(p.next_slot(t0), Some(t0 + MINUTE));
        p.sent.push_back(t0 + MINUTE);
        assert_eq!(p.next_slot(t0 + MINUTE), Some(t0 + HOUR));
        assert_eq!(p.next_slot(t0 + HOUR), None);
    }
}
