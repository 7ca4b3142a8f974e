//! A decision in progress: the working copy of the incidents, which of them changed, and
//! the decision being built; [`Work::finish`] turns it into the [`Decision`]. The decisions
//! of each input (runs, commands, PR events, findings) are methods on it, in their files.

use super::policy::Ctx;
use super::types::{Decision, Intent, State};

use crate::model::{Incident, IncidentId};

/// A decision in progress: a working copy of the incidents and what changed.
pub(super) struct Work<'c, 'a> {
    pub(super) incidents: Vec<Incident>,
    changed: Vec<IncidentId>,
    pub(super) decision: Decision,
    pub(super) ctx: &'c Ctx<'a>,
}

impl<'c, 'a> Work<'c, 'a> {
    /// Starts from a copy of the incidents in `state`.
    pub(super) fn new(state: &State, ctx: &'c Ctx<'a>) -> Self {
        Work {
            incidents: state.incidents.clone(),
            changed: Vec::new(),
            decision: Decision::default(),
            ctx,
        }
    }
}

impl Work<'_, '_> {
    /// The decision: every changed incident in full, and `Reconcile` when any changed.
    pub(super) fn finish(mut self) -> Decision {
        for id in &self.changed {
            if let Some(incident) = self.incidents.iter().find(|i| &i.id == id) {
                self.decision.incidents.push(incident.clone());
            }
        }
        if !self.changed.is_empty() {
            self.decision.intend(Intent::Reconcile);
        }
        self.decision
    }

    /// Marks incident `id` as changed (written in full by the shell).
    pub(super) fn touch(&mut self, id: &IncidentId) {
        if !self.changed.contains(id) {
            self.changed.push(id.clone());
        }
    }

    /// The incident of that id in the working copy.
    pub(super) fn get_mut(&mut self, id: &IncidentId) -> Option<&mut Incident> {
        self.incidents.iter_mut().find(|i| &i.id == id)
    }
}

/// Incident ids as a list for audit outcomes.
pub(super) fn join_ids(ids: &[IncidentId]) -> String {
    ids.iter()
        .map(|i| i.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
