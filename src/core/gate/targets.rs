//! Where an input applies: which incidents a job's run, a command or a PR event touches
//! (DESIGN.md "Commands": "where" decides which incidents). The decisions ask here rather
//! than filtering the incidents themselves.

use super::commands::CommentInput;
use super::prs::PrInput;
use super::work::Work;

use crate::model::{Incident, IncidentId, JobName, RepoName};

impl Work<'_, '_> {
    /// The active incident of `job` (at most one).
    pub(super) fn active_for_job(&mut self, job: &JobName) -> Option<&mut Incident> {
        self.incidents
            .iter_mut()
            .find(|i| i.is_active() && &i.job == job)
    }

    /// The active incidents with a scope on `repo`.
    pub(super) fn active_on_repo(&self, repo: &RepoName) -> Vec<IncidentId> {
        self.incidents
            .iter()
            .filter(|i| i.is_active() && i.scopes.iter().any(|s| &s.repo == repo))
            .map(|i| i.id.clone())
            .collect()
    }

    /// The active incidents a command on this comment is about: the blocker issue's
    /// incident, or every active incident on the repo.
    pub(super) fn targets(&self, comment: &CommentInput) -> Vec<IncidentId> {
        match self.ctx.issue_incident {
            Some(id) => {
                let active = self.incidents.iter().any(|i| &i.id == id && i.is_active());
                if active { vec![id.clone()] } else { Vec::new() }
            }
            None => self.active_on_repo(&comment.repo),
        }
    }

    /// What `/scalability-status` shows on `repo`: its active incidents, by id.
    pub(super) fn status_of(&self, repo: &RepoName) -> Vec<Incident> {
        let mut incidents: Vec<Incident> = self
            .incidents
            .iter()
            .filter(|i| i.is_active() && i.scopes.iter().any(|s| &s.repo == repo))
            .cloned()
            .collect();
        incidents.sort_by(|a, b| a.id.cmp(&b.id));
        incidents
    }

    /// The active incidents a PR event on its scope is blocked by: those whose scopes
    /// contain the PR's scope and from which the PR is not exempt.
    pub(super) fn blocking(&self, input: &PrInput) -> Vec<IncidentId> {
        self.incidents
            .iter()
            .filter(|i| i.is_active() && i.scopes.contains(&input.scope))
            .filter(|i| !i.is_exempt(&input.scope.repo, input.pr))
            .map(|i| i.id.clone())
            .collect()
    }
}
