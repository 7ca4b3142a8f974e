//! What an authenticated admin API call (gRPC `Block`, `Unblock`, `Exempt`) asks of the
//! gate, as the server sends it on the bus and the consumer decides it.

use crate::model::{IncidentId, PrNumber, RepoName};

/// One authenticated admin call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRequest {
    Block {
        actor: String,
        job: String,
        reason: String,
    },
    Unblock {
        actor: String,
        incident: IncidentId,
        reason: String,
    },
    Exempt {
        actor: String,
        repo: RepoName,
        pr: PrNumber,
        reason: String,
    },
}

/// Why an admin call could not be decided at all.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("no incident {0}")]
    UnknownIncident(String),
}
