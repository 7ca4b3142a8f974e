//! Test fixtures shared by the comment tests: an incident with ranked suspects on one
//! scope, and the deployment the texts describe.

use super::context::NoticeContext;
use crate::model::{
    Cause, CommitSha, Incident, IncidentId, JobName, Login, PrNumber, RepoName, Scope, Suspect,
    SuspectRange, SuspectSearch, Timestamp,
};

pub(super) fn scope() -> Scope {
    Scope {
        repo: RepoName::new("kubernetes", "kubernetes"),
        branch: "master".into(),
    }
}

fn suspect(pr: u64, score: f64) -> Suspect {
    Suspect {
        repo: scope().repo,
        pr: PrNumber(pr),
        title: format!("Change | number {pr}"),
        author: Login::new(format!("dev{pr}")),
        merged_at: Some(Timestamp(1_764_000_000 + pr as i64)),
        score,
        reasons: vec![format!("reason of {pr}")],
        merge_commit: Some(CommitSha::new(format!("{pr:0>40}"))),
        reverts: None,
    }
}

pub(super) fn incident(n: u64) -> Incident {
    let mut i = Incident::new(
        IncidentId::new("ci-job-100"),
        JobName::new("ci-job"),
        Timestamp(1_764_000_000),
        Cause::Manual {
            by: Login::new("alice"),
            reason: String::new(),
        },
        vec![scope()],
    );
    i.suspects = (1..=n).map(|pr| suspect(pr, (pr % 3) as f64)).collect();
    i.searches.push(SuspectSearch {
        scope: scope(),
        range: SuspectRange::Commits {
            base: CommitSha::new("a".repeat(40)),
            head: CommitSha::new("b".repeat(40)),
            commits: 9,
        },
        at: Timestamp(1_764_000_100),
    });
    i
}

pub(super) fn ctx() -> NoticeContext {
    NoticeContext {
        label: "do-not-merge/scalability-regression".into(),
        ready_only: true,
        ready_labels: vec![vec!["lgtm".into()]],
        blocker: true,
        approver_users: vec!["alice".into()],
        approver_teams: vec!["kubernetes/sig-scalability-leads".into()],
        reads_failed_tests: true,
    }
}
