//! What the running plugin shares: the handles [`crate::run_with`] creates once (config,
//! store, metrics, the bus, Tide's state, the GitHub client, the GCS credentials, the
//! clock) and the server,
//! the status API and the ingress endpoints read. Background tasks get only the handles
//! they use, named in their constructors.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::store::Store;

/// What every part of the running plugin shares.
#[derive(Clone)]
pub struct App {
    pub config: Arc<Config>,
    pub store: Store,
    pub metrics: Arc<crate::telemetry::Metrics>,
    pub queue: crate::bus::QueueSender,
    /// True once the store is open and every listener is up.
    pub ready: Arc<AtomicBool>,
    /// The latest Tide exclusion check of `tide.prow_config`.
    pub tide: crate::bus::tide::SharedTide,
    /// The only way to GitHub (shared pauses, mutation budget and counters).
    pub github: crate::github::Client,
    /// The one GCS credential source every GCS reader shares (one cached token, one
    /// record of what is wrong with it for `/healthz/ready`).
    pub gcs_credentials: crate::gcs_auth::TokenSource,
    /// Pokes the background reconciler (a full pass, or one PR now).
    pub reconcile: crate::bus::ReconcileHandle,
    /// Pokes the rerun executor (a `/scalability-rerun` was recorded).
    pub reruns: crate::bus::RerunHandle,
    /// The one clock (see [`crate::clock`]).
    pub clock: crate::clock::Clock,
    /// When this process started (by the clock): a job's silence counts from it until a
    /// run of the job is seen.
    pub started_at: crate::model::Timestamp,
}

/// Addresses actually bound (tests bind port 0 and read them here).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub listen: std::net::SocketAddr,
    pub health: std::net::SocketAddr,
    pub metrics: std::net::SocketAddr,
    pub grpc: std::net::SocketAddr,
}
