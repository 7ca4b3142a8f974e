//! The one clock: every reading of the wall-clock time in the plugin goes through a
//! [`Clock`], created once at start-up and handed to each task that needs it (the gate,
//! the reconciler, the status API, the Tide watch, the webhook inbox, the GitHub client's
//! App tokens and rate-limit resets). Tests hand a
//! [`Clock::fixed`] or a [`Clock::from_fn`] instead. Elapsed durations use `Instant`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::model::Timestamp;

/// Tells the time. Cheap to clone; the system clock by default.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> Timestamp + Send + Sync>);

impl Clock {
    /// The system's wall clock, in whole seconds since the Unix epoch.
    pub fn system() -> Self {
        Self(Arc::new(|| Timestamp(since_epoch().as_secs() as i64)))
    }

    /// A clock that always reads `at` (tests).
    pub fn fixed(at: Timestamp) -> Self {
        Self(Arc::new(move || at))
    }

    /// A clock that reads `now` (tests that move time on).
    pub fn from_fn(now: impl Fn() -> Timestamp + Send + Sync + 'static) -> Self {
        Self(Arc::new(now))
    }

    /// The time now.
    pub fn now(&self) -> Timestamp {
        (self.0)()
    }

    /// The time now as a [`SystemTime`], for APIs that take one (a JWT's issue time, a
    /// token's expiry); the Unix epoch for a clock set before it.
    pub fn system_time(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(u64::try_from(self.now().0).unwrap_or(0))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Clock").field(&self.now()).finish()
    }
}

impl<F: Fn() -> Timestamp + Send + Sync + 'static> From<Arc<F>> for Clock {
    fn from(now: Arc<F>) -> Self {
        Self(now)
    }
}

/// The system's wall clock since the Unix epoch, finer than [`Clock`]'s seconds: for what
/// must be the real time whatever the clock injected (a signed token's issue time, a
/// request id), never for decisions.
pub fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn a_fixed_clock_stands_and_a_manual_one_moves() {
        assert_eq!(Clock::fixed(Timestamp(7)).now(), Timestamp(7));
        let at = Arc::new(AtomicI64::new(1));
        let seen = at.clone();
        let clock = Clock::from_fn(move || Timestamp(seen.load(Ordering::SeqCst)));
        assert_eq!(clock.now(), Timestamp(1));
        at.store(5, Ordering::SeqCst);
        assert_eq!(clock.clone().now(), Timestamp(5));
        assert_eq!(clock.system_time(), UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!(Clock::fixed(Timestamp(-3)).system_time(), UNIX_EPOCH);
    }

    #[test]
    fn the_system_clock_is_after_2020() {
        assert!(Clock::default().now().0 > 1_577_836_800);
    }
}
