//! The gate: pure decisions over incidents. Given the incidents a decision may touch, one
//! input (a detector outcome for a job, the commands of one comment, or a PR event on a
//! scope) and the policy, [`decide`] returns what changes: new or changed incidents,
//! intents for the reconciler, audit records and replies. It never reads a clock (`now` is
//! in the [`Ctx`]) and never talks to anything; the shell writes the incidents to the store
//! before it acts on the intents.
//!
//! Rules (DESIGN.md "Commands" and issue 4):
//! - a regression of job J opens an incident `{J}-{first_red_build}` over J's scopes; one
//!   active incident per job, a later regression while active is folded into it;
//! - a recovery records `recovered_by`; it lifts the incident only when the job's
//!   `auto_unblock_on_recovery` is set and the incident was not opened by hand;
//! - commands: the permission check comes first, with one deny path and one reply per
//!   comment; every command's outcome is an [`AuditRecord`](crate::model::AuditRecord);
//! - PR events on a blocked scope: a PR that becomes one the mode selects is labelled now;
//!   our label removed by someone else from a non-exempt PR is put back, and recorded.
//!
//! One idea per file: `types` (input, state, decision, replies), `policy` (configuration
//! and context), `work` (a decision in progress), `targets` (which incidents an input
//! applies to), `lifecycle` (incident ids and state transitions), `runs` (regression and
//! recovery), `commands` (a comment's commands: permission, limit, dispatch, audit),
//! `blocking` (block, unblock, exempt), `revert`, `rerun`, `culprit`, `prs` (pull request events) and
//! `findings` (what the shell reports back).

mod blocking;
mod commands;
mod culprit;
mod findings;
mod inputs;
mod lifecycle;
mod policy;
mod prs;
mod rerun;
mod revert;
mod runs;
mod targets;
#[cfg(test)]
mod test_support;
mod types;
mod work;

pub use commands::{MAX_COMMANDS_PER_COMMENT, is_command_comment};
pub use inputs::{Approval, CommentFacts, CommentInput, Finding, PrBase, PrChange, PrInput};
pub use lifecycle::{manual_id, regression_id};
pub use policy::{
    AUTOMATIC_ACTOR, ApproverList, Ctx, GateJob, LabelMode, Policy, RERUN_PENDING_FOR,
};
pub use types::{Decision, Input, Intent, Reply, ReplyPart, State};

use work::Work;

/// Decides what `input` changes. Pure.
pub fn decide(state: &State, input: &Input, ctx: &Ctx<'_>) -> Decision {
    let mut work = Work::new(state, ctx);
    match input {
        Input::Regression {
            job,
            first_red,
            last_green,
        } => work.regression(job, first_red, last_green),
        Input::Recovery { job, green } => work.recovery(job, green),
        Input::RedRun { job, run } => work.red_run(job, run),
        Input::Comment(comment) => work.comment(comment),
        Input::PullRequest(pr) => work.pull_request(pr),
        Input::Finding(finding) => work.finding(finding),
    }
    work.finish()
}
