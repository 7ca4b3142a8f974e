//! The policy: what the gate needs from the configuration (gated jobs and their scopes,
//! approvers, the label and its mode, Tide's rules) and the context of one decision.

use std::collections::BTreeMap;

use super::super::tide::ReadyRule;

use crate::model::{IncidentId, JobName, Scope, Timestamp};

/// How long a rerun waiting for its result keeps another `/scalability-rerun` of the same
/// incident from starting one (the largest scalability jobs run for about half a day).
pub const RERUN_PENDING_FOR: i64 = 24 * 3600;

/// Who lifts an incident when the job recovers by itself.
pub const AUTOMATIC_ACTOR: &str = "scalability-gate";

/// A gated job as the gate sees it (built from the configuration by the shell).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateJob {
    pub name: JobName,
    pub scopes: Vec<Scope>,
    pub auto_unblock_on_recovery: bool,
    /// `jobs[].infer_scopes`: a regression blocks only the scopes whose repo changed.
    pub infer_scopes: bool,
}

/// Which open PRs carry the label during an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LabelMode {
    /// PRs carrying all of Tide's required labels, each one the moment it becomes so.
    #[default]
    Ready,
    /// Every open PR on the branch.
    All,
}

/// The configured approvers, as told to whoever is refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApproverList {
    /// GitHub logins.
    pub users: Vec<String>,
    /// `org/team-slug`.
    pub teams: Vec<String>,
}

/// What the gate needs from the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    pub jobs: Vec<GateJob>,
    pub approvers: ApproverList,
    /// The label that keeps a PR out of Tide's pool.
    pub label: String,
    pub label_mode: LabelMode,
    /// Tide's required labels where Prow's queries are not known.
    pub ready_labels: Vec<String>,
    /// Which PRs are ready, per scope, from Prow's Tide queries (overrides `ready_labels`).
    pub ready_rules: BTreeMap<Scope, ReadyRule>,
    /// Gangway is configured: `/scalability-rerun` can re-run a job.
    pub rerun_available: bool,
}

impl Policy {
    /// The job of that exact name.
    pub fn job(&self, name: &str) -> Option<&GateJob> {
        self.jobs.iter().find(|j| j.name.as_str() == name)
    }

    /// Whether a PR with `labels` on `scope` is ready (Tide could merge it).
    pub fn is_ready(&self, scope: &Scope, labels: &[String]) -> bool {
        match self.ready_rules.get(scope) {
            Some(rule) => rule.is_ready(labels),
            None => ReadyRule::from_labels(&self.ready_labels).is_ready(labels),
        }
    }
}

/// Everything a decision depends on besides the state and the input.
#[derive(Debug, Clone, Copy)]
pub struct Ctx<'a> {
    pub now: Timestamp,
    pub policy: &'a Policy,
    /// When the comment is on a blocker or tracking issue the reconciler opened: the
    /// incident that issue belongs to.
    pub issue_incident: Option<&'a IncidentId>,
}
