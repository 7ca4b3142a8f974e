//! Where an input applies: which incidents a job's run, a command or a PR event touches
//! (DESIGN.md "Commands": "where" decides which incidents). The decisions ask here rather
//! than filtering the incidents themselves.
//!
//! A command on a blocker issue touches that issue's incident; on a PR, the incidents
//! whose scopes contain the PR's repo **and base branch**; anywhere else, nothing. Never
//! another branch or repo.

use super::inputs::PrInput;
use super::inputs::{CommentInput, PrBase};
use super::work::Work;

use crate::model::{Incident, IncidentId, JobName, RepoName, Scope};

/// Where a command was said, as far as it decides which incidents it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Place {
    /// On the blocker issue of this incident.
    Issue(IncidentId),
    /// On a PR into this scope.
    Pr(Scope),
    /// Through the API, naming a repo (and a PR) but no branch: every scope of the repo.
    Repo(RepoName),
    /// On a PR whose base branch could not be learnt: nothing.
    UnknownBase,
    /// On a plain issue that is no blocker issue: nothing.
    Elsewhere,
}

impl Work<'_, '_> {
    /// The active incident of `job` (at most one).
    pub(super) fn active_for_job(&mut self, job: &JobName) -> Option<&mut Incident> {
        self.incidents
            .iter_mut()
            .find(|i| i.is_active() && &i.job == job)
    }

    /// The provisionally lifted incident of `job`, if any (the newest).
    pub(super) fn lifted_for_job(&mut self, job: &JobName) -> Option<&mut Incident> {
        self.incidents
            .iter_mut()
            .filter(|i| {
                &i.job == job && matches!(i.state, crate::model::IncidentState::Lifted { .. })
            })
            .max_by_key(|i| i.opened_at)
    }

    /// Where `comment` was said.
    pub(super) fn place(&self, comment: &CommentInput) -> Place {
        if let Some(id) = self.ctx.issue_incident {
            return Place::Issue(id.clone());
        }
        if !comment.is_pr {
            return Place::Elsewhere;
        }
        match &comment.base {
            PrBase::Branch(branch) => Place::Pr(Scope {
                repo: comment.repo.clone(),
                branch: branch.clone(),
            }),
            PrBase::AnyBranch => Place::Repo(comment.repo.clone()),
            PrBase::Unknown => Place::UnknownBase,
        }
    }

    /// The incidents in `place` that `keep` accepts, by id.
    pub(super) fn incidents_at(
        &self,
        place: &Place,
        keep: impl Fn(&Incident) -> bool,
    ) -> Vec<IncidentId> {
        self.incidents
            .iter()
            .filter(|i| keep(i))
            .filter(|i| match place {
                Place::Issue(id) => &i.id == id,
                Place::Pr(scope) => i.scopes.contains(scope),
                Place::Repo(repo) => i.scopes.iter().any(|s| &s.repo == repo),
                Place::UnknownBase | Place::Elsewhere => false,
            })
            .map(|i| i.id.clone())
            .collect()
    }

    /// The active incidents a command on this comment is about: the blocker issue's
    /// incident, or the active incidents over the PR's repo and base branch.
    pub(super) fn targets(&self, comment: &CommentInput) -> Vec<IncidentId> {
        self.incidents_at(&self.place(comment), Incident::is_active)
    }

    /// What `/scalability-status` shows on `repo`: its active and provisionally lifted
    /// incidents, by id.
    pub(super) fn status_of(&self, repo: &RepoName) -> Vec<Incident> {
        let mut incidents: Vec<Incident> = self
            .incidents
            .iter()
            .filter(|i| i.is_open() && i.scopes.iter().any(|s| &s.repo == repo))
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
