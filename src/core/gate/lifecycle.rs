//! The incident lifecycle: the ids incidents open under and the transitions of an
//! incident (open, fold a later red run into it, lift it). Runs and commands change an
//! incident's [`IncidentState`] only through these; what they record on it besides
//! (recoveries, exemptions, reverts, reruns, breaches) they write in place.

use super::work::Work;

use crate::model::{Cause, Incident, IncidentId, IncidentState, JobName, RunRef, Scope, Timestamp};

/// The id of the incident a regression opens: deterministic, so a repeated detection
/// never opens a second one.
pub fn regression_id(job: &JobName, first_red: &RunRef) -> IncidentId {
    IncidentId(format!("{}-{}", job, first_red.build_id))
}

/// The id of an incident opened by hand from comment `comment_id`.
pub fn manual_id(job: &JobName, comment_id: u64) -> IncidentId {
    IncidentId(format!("{job}-manual-{comment_id}"))
}

impl Work<'_, '_> {
    /// Opens incident `id` of `job`, active from now over `scopes`.
    pub(super) fn open(&mut self, id: IncidentId, job: JobName, cause: Cause, scopes: Vec<Scope>) {
        self.incidents
            .push(Incident::new(id.clone(), job, self.ctx.now, cause, scopes));
        self.touch(&id);
    }
}

/// Folds red run `first_red` into the active incident: false when the incident already
/// holds it (as its cause or as a folded run).
pub(super) fn fold(active: &mut Incident, first_red: &RunRef) -> bool {
    let already = active
        .folded_runs
        .iter()
        .any(|r| r.build_id == first_red.build_id)
        || matches!(&active.cause, Cause::Regression { first_red: f, .. } if f.build_id == first_red.build_id);
    if already {
        return false;
    }
    active.folded_runs.push(first_red.clone());
    true
}

/// Lifts the incident: it no longer blocks, and says who lifted it, why and when.
pub(super) fn lift(incident: &mut Incident, by: String, reason: String, at: Timestamp) {
    incident.state = IncidentState::Lifted { by, reason, at };
}
