//! Fixtures the gate's tests share: a policy of two jobs, a blocked state, a comment.

use std::collections::BTreeMap;

use super::*;
use crate::core::command::Command;
use crate::model::{JobName, Login, PrNumber, RepoName, RunRef, Scope, Suspect, Timestamp};

pub(super) const JOB: &str = "ci-scale-100";
pub(super) const AUTO_JOB: &str = "ci-scale-auto";

pub(super) fn repo() -> RepoName {
    RepoName::new("kubernetes", "kubernetes")
}

pub(super) fn master() -> Scope {
    Scope {
        repo: repo(),
        branch: "master".into(),
    }
}

pub(super) fn policy() -> Policy {
    Policy {
        jobs: vec![
            GateJob {
                name: JobName::new(JOB),
                scopes: vec![master()],
                auto_unblock_on_recovery: false,
                infer_scopes: false,
            },
            GateJob {
                name: JobName::new(AUTO_JOB),
                scopes: vec![Scope {
                    repo: RepoName::new("kubernetes", "perf-tests"),
                    branch: "master".into(),
                }],
                auto_unblock_on_recovery: true,
                infer_scopes: false,
            },
        ],
        approvers: ApproverList {
            users: vec!["alice".into()],
            teams: vec!["kubernetes/sig-scalability-leads".into()],
        },
        label: "do-not-merge/scalability-regression".into(),
        label_mode: LabelMode::Ready,
        ready_labels: vec!["lgtm".into(), "approved".into()],
        ready_rules: BTreeMap::new(),
        rerun_available: true,
    }
}

pub(super) fn run(build: &str) -> RunRef {
    RunRef {
        build_id: crate::model::BuildId::new(build),
        url: format!("https://prow.example/view/{build}"),
        started_at: None,
        commits: BTreeMap::new(),
        finished_at: None,
    }
}

pub(super) fn ctx(policy: &Policy) -> Ctx<'_> {
    Ctx {
        now: Timestamp(1_000),
        policy,
        issue_incident: None,
    }
}

pub(super) fn regression(job: &str, red: &str) -> Input {
    Input::Regression {
        job: JobName::new(job),
        first_red: run(red),
        last_green: run("100"),
    }
}

/// Applies a decision's incidents to a state, as the store would.
pub(super) fn apply(state: &mut State, decision: &Decision) {
    for changed in &decision.incidents {
        match state.incidents.iter_mut().find(|i| i.id == changed.id) {
            Some(slot) => *slot = changed.clone(),
            None => state.incidents.push(changed.clone()),
        }
    }
}

/// Decides and applies in one step.
pub(super) fn step(state: &mut State, input: &Input, ctx: &Ctx<'_>) -> Decision {
    let d = decide(state, input, ctx);
    apply(state, &d);
    d
}

pub(super) fn blocked(policy: &Policy) -> State {
    let mut state = State::default();
    let d = decide(&state, &regression(JOB, "101"), &ctx(policy));
    apply(&mut state, &d);
    state
}

pub(super) fn comment(author: &str, approver: bool, commands: Vec<Command>) -> CommentInput {
    CommentInput {
        repo: repo(),
        number: PrNumber(42),
        is_pr: true,
        base: PrBase::Branch("master".into()),
        author: Login::new(author),
        approval: if approver {
            Approval::Approver
        } else {
            Approval::NotApprover
        },
        comment_id: 7,
        commands: commands.into_iter().map(Ok).collect(),
    }
}

pub(super) fn suspect(pr: u64) -> Suspect {
    Suspect {
        repo: repo(),
        pr: PrNumber(pr),
        title: format!("PR {pr}"),
        author: Login::new("dev"),
        merged_at: Some(Timestamp(pr as i64)),
        score: 1.0,
        reasons: vec!["labelled `sig/scalability`".into()],
        merge_commit: None,
        reverts: None,
    }
}

pub(super) fn with_rerun(state: &mut State) {
    state.incidents[0].reruns.push(crate::model::Rerun {
        id: 77,
        by: Login::new("alice"),
        at: Timestamp(950),
        repo: repo(),
        requested_on: PrNumber(42),
        execution: None,
        build_id: None,
        result: None,
        error: None,
    });
}
