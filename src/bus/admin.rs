//! What an authenticated admin API call (gRPC `Block`, `Unblock`, `Exempt`) asks of the
//! gate, as the server sends it on the bus and the consumer decides it.

use crate::model::{IncidentId, PrNumber, RepoName, Scope};

/// One authenticated admin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    Block {
        actor: String,
        job: String,
        reason: String,
    },
    /// Lifts `incident` (when `scope` is given too, only if the incident blocks it), or,
    /// without an incident, the active incidents blocking `scope`.
    Unblock {
        actor: String,
        incident: Option<IncidentId>,
        scope: Option<Scope>,
        reason: String,
    },
    /// Exempts `repo#pr` from the active incidents on `branch`, or on every branch of
    /// `repo` when `None`.
    Exempt {
        actor: String,
        repo: RepoName,
        pr: PrNumber,
        branch: Option<String>,
        reason: String,
    },
}

/// Why an admin call could not be decided at all.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no incident {0}")]
    UnknownIncident(String),
    #[error("incident {0} does not block {1}")]
    NotInScope(String, String),
    #[error("say which incident, or which repo and branch")]
    NoTarget,
}
