//! What the plugin knows of Tide right now, shared between the Tide watch (which writes it)
//! and its readers (the gate, the reconciler, the status API).

use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::config::Config;
use crate::core::tide::{PoolVerdict, ProwTide, ReadyRule, TideReport};
use crate::model::{IncidentId, Scope, Timestamp};

/// What the plugin knows of Tide right now: read by the status API and the reconciler.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TideState {
    /// `tide.prow_config`; empty: the check is off.
    pub prow_config: String,
    /// The latest check, once Prow's config has been read.
    pub report: Option<TideReport>,
    /// Why the latest read failed, if it did (the report is then the last good one).
    pub error: Option<String>,
    /// When Prow's config was last (re)read.
    pub checked_at: Option<Timestamp>,
    /// Prow's Tide queries, for selecting ready PRs.
    #[serde(skip)]
    pub prow: Option<ProwTide>,
    /// The live check of Deck's `/tide.js` during incidents, by scope (`org/repo@branch`).
    pub live: std::collections::BTreeMap<String, LiveCheck>,
    /// Why the latest read of `/tide.js` failed, if it did.
    pub deck_error: Option<String>,
}

/// What Tide's live pool showed for one blocked scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveCheck {
    pub scope: Scope,
    /// The active incident blocking the scope.
    pub incident: IncidentId,
    pub verdict: PoolVerdict,
    pub at: Timestamp,
    /// When the pool was first seen that would still merge, during this incident.
    pub first_leak_at: Option<Timestamp>,
}

impl TideState {
    /// Which PRs of `scope` are ready: from Prow's queries when its config has been read,
    /// else from our `ready_labels`.
    pub fn ready_rule(&self, scope: &Scope, ready_labels: &[String]) -> ReadyRule {
        match &self.prow {
            Some(prow) => prow.ready_rule(scope),
            None => ReadyRule::from_labels(ready_labels),
        }
    }
}

/// The state shared between the watcher and its readers.
pub type SharedTide = Arc<RwLock<TideState>>;

/// A fresh, empty shared state for `config`.
pub fn shared(config: &Config) -> SharedTide {
    Arc::new(RwLock::new(TideState {
        prow_config: config.tide.prow_config.clone(),
        ..TideState::default()
    }))
}
