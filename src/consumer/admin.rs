//! Admin API calls (gRPC `Block`, `Unblock`, `Exempt`) as the gate sees them: each becomes
//! the command an approver would write (`/scalability-block`, `/scalability-unblock` on the
//! incident's blocker issue, `/scalability-exempt` on the PR), authored by `grpc:<actor>`,
//! decided by the same pure `gate::decide` and written in one transaction with its audit
//! record. No reply is posted on GitHub: the caller gets the outcome instead.

use crate::Store;
use crate::bus::admin::{AdminError, AdminRequest};
use crate::consumer::gating;
use crate::core::command::Command;
use crate::core::gate::{self, Decision, Policy};
use crate::model::{Login, PrNumber, RepoName, Timestamp};

/// The audit name of an actor: `grpc:<actor>` (`grpc:api` when none is given).
pub fn who(actor: &str) -> Login {
    let actor = actor.trim();
    Login::new(format!(
        "grpc:{}",
        if actor.is_empty() { "api" } else { actor }
    ))
}

/// Decides `request` like the command it stands for and writes the decision (incidents and
/// audit records; replies are dropped) in one transaction.
pub fn decide_and_commit(
    store: &Store,
    policy: &Policy,
    request: &AdminRequest,
    now: Timestamp,
) -> anyhow::Result<Decision> {
    // A unique id per call, for the id of an incident opened by hand.
    let call_id = now.0.max(0) as u64 * 1000 + u64::from(std::process::id() % 1000);
    // Where the command is "said": the API names a repo and a PR (or a scope), not always
    // a branch; without one, every scope of the repo.
    let mut base = gate::PrBase::AnyBranch;
    let (actor, repo, number, is_pr, command, issue_incident, target) = match request {
        AdminRequest::Block { actor, job, reason } => {
            let repo = policy
                .job(job)
                .and_then(|j| j.scopes.first())
                .map(|s| s.repo.clone())
                .unwrap_or_else(|| RepoName::new("-", "-"));
            let command = Command::Block {
                job: job.clone(),
                reason: reason.clone(),
            };
            (actor, repo, PrNumber(0), false, command, None, job.clone())
        }
        AdminRequest::Unblock {
            actor,
            incident: Some(incident),
            scope,
            reason,
        } => {
            let Some(found) = store.incident(incident)? else {
                return Err(AdminError::UnknownIncident(incident.to_string()).into());
            };
            if let Some(scope) = scope.as_ref().filter(|s| !found.scopes.contains(s)) {
                return Err(AdminError::NotInScope(incident.to_string(), scope.to_string()).into());
            }
            let repo = found
                .scopes
                .first()
                .map(|s| s.repo.clone())
                .unwrap_or_else(|| RepoName::new("-", "-"));
            let command = Command::Unblock {
                reason: reason.clone(),
            };
            (
                actor,
                repo,
                PrNumber(0),
                false,
                command,
                Some(incident.clone()),
                incident.to_string(),
            )
        }
        AdminRequest::Unblock {
            actor,
            incident: None,
            scope,
            reason,
        } => {
            let Some(scope) = scope else {
                return Err(AdminError::NoTarget.into());
            };
            // As on a PR of that branch: the active incidents blocking the scope.
            base = gate::PrBase::Branch(scope.branch.clone());
            let command = Command::Unblock {
                reason: reason.clone(),
            };
            (
                actor,
                scope.repo.clone(),
                PrNumber(0),
                true,
                command,
                None,
                scope.to_string(),
            )
        }
        AdminRequest::Exempt {
            actor,
            repo,
            pr,
            branch,
            reason,
        } => {
            if let Some(branch) = branch {
                base = gate::PrBase::Branch(branch.clone());
            }
            let command = Command::Exempt {
                reason: reason.clone(),
            };
            let target = format!("{repo}#{}", pr.0);
            (actor, repo.clone(), *pr, true, command, None, target)
        }
    };
    let input = gate::Input::Comment(gate::CommentInput {
        repo,
        number,
        is_pr,
        base,
        author: who(actor),
        approval: gate::Approval::Approver,
        comment_id: call_id,
        commands: vec![Ok(command)],
    });
    let state = gating::state(store, issue_incident.as_ref())?;
    let ctx = gate::Ctx {
        now,
        policy,
        issue_incident: issue_incident.as_ref(),
    };
    let mut decision = gate::decide(&state, &input, &ctx);
    decision.replies.clear();
    for record in &mut decision.audit {
        record.target = target.clone();
    }
    if !decision.is_empty() {
        store.apply_decision(&gating::changes(&decision))?;
    }
    Ok(decision)
}
