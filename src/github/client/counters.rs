//! Counts of what the client sent, kept lock-free and read as one snapshot.

use std::sync::atomic::{AtomicU64, Ordering};

/// Counts of what the client sent (every HTTP attempt counts), for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// HTTP requests sent, reads and mutations, retries included.
    pub requests: u64,
    /// Content-creating HTTP requests sent (POST/PATCH/PUT/DELETE), retries included.
    pub mutations: u64,
    /// Mutations not sent because of dry-run.
    pub dry_run_mutations: u64,
    /// Requests sent again after a 5xx or a connection error.
    pub retries: u64,
    /// Rate-limit answers that paused the client (GraphQL `RATE_LIMITED` included).
    pub rate_limited: u64,
    /// Slots of the mutation budget taken: one per mutation attempt on any endpoint,
    /// less those given back because the connection could not be made.
    pub paced: u64,
}

/// The live counters every clone of a client adds to.
#[derive(Default)]
pub(super) struct AtomicCounters {
    pub(super) requests: AtomicU64,
    pub(super) mutations: AtomicU64,
    pub(super) dry_run_mutations: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) paced: AtomicU64,
}

impl AtomicCounters {
    /// The counts as they are now.
    pub(super) fn snapshot(&self) -> Counters {
        Counters {
            requests: self.requests.load(Ordering::Relaxed),
            mutations: self.mutations.load(Ordering::Relaxed),
            dry_run_mutations: self.dry_run_mutations.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            paced: self.paced.load(Ordering::Relaxed),
        }
    }
}
