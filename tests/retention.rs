//! Retention through the reconciler (issue 9): against the fake GitHub served over HTTP and
//! a real sled store in a temporary directory, a lifted incident beyond
//! `history.incident_retention` leaves the store only once the reconciler has cleaned it
//! up on GitHub, and dropping it redoes nothing there.

mod common;

use std::sync::Arc;
use std::time::Duration;

use scalability_gate::Store;
use scalability_gate::config::{Config, JobConfig};
use scalability_gate::github::fake::{FakeGithub, Flaky, PrSpec};
use scalability_gate::model::{
    Cause, Incident, IncidentId, IncidentState, JobName, Login, RepoName, Scope, Timestamp,
};
use scalability_gate::reconcile::Reconciler;

const REPO: &str = "kubernetes/kubernetes";
const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const LABEL: &str = "do-not-merge/scalability-regression";

fn scope() -> Scope {
    Scope {
        repo: RepoName::parse(REPO).unwrap(),
        branch: "master".into(),
    }
}

/// A manual block (no suspects to search) opened at `opened`.
fn incident(id: &str, opened: i64) -> Incident {
    Incident::new(
        IncidentId::new(id),
        JobName::new(JOB),
        Timestamp(opened),
        Cause::Manual {
            by: Login::new("wojtek-t"),
            reason: "soak".into(),
        },
        vec![scope()],
    )
}

fn lift(store: &Store, id: &str, at: i64) {
    store
        .update_incident(&IncidentId::new(id), |i| {
            let mut i = i?;
            // Over for good: resolved (a provisional lift may still re-block, and is kept).
            i.state = IncidentState::Resolved {
                how: scalability_gate::model::ResolvedHow::Final,
                at: Timestamp(at),
            };
            Some(i)
        })
        .unwrap()
        .expect("the incident is stored");
}

fn ids(incidents: Vec<Incident>) -> Vec<String> {
    incidents.into_iter().map(|i| i.id.0).collect()
}

#[tokio::test(start_paused = true)]
async fn an_old_lifted_incident_is_dropped_only_after_its_cleanup_and_nothing_is_redone() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_repo(REPO);
    let ready: Vec<u64> = (0..3)
        .map(|_| fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm", "approved"])))
        .collect();
    let mut config = Config {
        jobs: vec![JobConfig::new(JOB, REPO, "master")],
        dry_run: false,
        ..Config::default()
    };
    config.github.endpoints = vec![fake.url()];
    config.escalation.mention_after = None;
    config.escalation.suggest_revert_after = None;
    config.history.incident_retention = 1;
    let client = common::github_client(&fake, |options| {
        options.max_attempts = 1;
        options.backoff_max = Duration::from_millis(50);
        options.dry_run = false;
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let reconciler = Reconciler::new(client, Arc::new(config), store.clone());

    // Two blocks, each with its blocker issue and labels on the ready PRs.
    store.put_incident(&incident("old", 100)).unwrap();
    store.put_incident(&incident("new", 200)).unwrap();
    let report = reconciler.reconcile().await.unwrap();
    assert!(report.converged(), "{report:?}");
    let issue_of = |id: &str| {
        store
            .issue_of(&IncidentId::new(id), &scope())
            .unwrap()
            .expect("issue remembered")
            .0
    };
    let (old_issue, new_issue) = (issue_of("old"), issue_of("new"));
    assert!(fake.issue(REPO, old_issue).unwrap().is_open());
    assert!(
        ready
            .iter()
            .all(|pr| fake.labels_of(REPO, *pr).iter().any(|l| l == LABEL))
    );

    // Both lifted, "old" first; a third block stays active throughout.
    lift(&store, "old", 1_000);
    lift(&store, "new", 2_000);
    store.put_incident(&incident("active", 50)).unwrap();

    // GitHub fails every request: nothing is cleaned up, so nothing is dropped, though
    // two lifted incidents are one more than the retention.
    fake.set_flaky(Flaky {
        error_every: 1,
        ..Flaky::default()
    });
    let report = reconciler.reconcile().await.unwrap();
    assert!(!report.converged());
    assert!(!store.is_cleaned(&IncidentId::new("old")).unwrap());
    assert_eq!(
        ids(store.all_incidents().unwrap()),
        ["new", "old", "active"]
    );
    assert!(fake.issue(REPO, old_issue).unwrap().is_open());

    // GitHub answers again: both are cleaned up, then the older one goes.
    fake.set_flaky(Flaky::default());
    let report = reconciler.reconcile().await.unwrap();
    assert!(report.converged(), "{report:?}");
    assert_eq!(report.issues_closed, 2, "{report:?}");
    assert!(!fake.issue(REPO, old_issue).unwrap().is_open());
    assert!(!fake.issue(REPO, new_issue).unwrap().is_open());
    assert_eq!(ids(store.all_incidents().unwrap()), ["new", "active"]);
    assert_eq!(ids(store.active_incidents().unwrap()), ["active"]);
    let old = IncidentId::new("old");
    assert!(store.incident(&old).unwrap().is_none());
    assert!(
        !store.is_cleaned(&old).unwrap(),
        "its cache entries went too"
    );
    assert_eq!(store.issue_of(&old, &scope()).unwrap(), None);
    assert!(store.is_cleaned(&IncidentId::new("new")).unwrap());
    let old_comments = fake.comments(REPO, old_issue).len();

    // Later passes redo nothing on GitHub for the dropped incident: its issue stays
    // closed, no comment is added, and only the active block's issue is touched (read).
    fake.clear_log();
    for _ in 0..2 {
        let report = reconciler.reconcile().await.unwrap();
        assert!(report.converged(), "{report:?}");
    }
    assert_eq!(fake.mutation_count(), 0, "{:?}", fake.requests());
    assert!(!fake.issue(REPO, old_issue).unwrap().is_open());
    assert_eq!(fake.comments(REPO, old_issue).len(), old_comments);
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.path.ends_with(&format!("/issues/{old_issue}"))),
        "the dropped incident's issue is not even read"
    );

    // The store as reopened says the same.
    drop(reconciler);
    drop(store);
    let store = Store::open(&dir.path().join("store")).unwrap();
    assert_eq!(ids(store.all_incidents().unwrap()), ["new", "active"]);
    assert_eq!(ids(store.active_incidents().unwrap()), ["active"]);
}
