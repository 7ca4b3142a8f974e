//! The reconciler against the fake GitHub over HTTP: the order of a lift with
//! `label_prs: all`, and an unblock cutting a long label run short.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Handle, Reconciler, run};
use crate::config::{Config, LabelPrs};
use crate::github::Client;
use crate::model::{Incident, IncidentId, RepoName, Scope, Timestamp};
use crate::store::Store;

fn repo() -> RepoName {
    RepoName::parse("o/r").unwrap()
}

/// A config gating one job on `repo`'s master with `label_prs: all`, against `fake`,
/// and a client of it.
fn all_mode(fake: &crate::github::fake::FakeGithub, repo: &str) -> (Config, Client) {
    use crate::config::JobConfig;
    use crate::github::client::ClientOptions;
    let mut config = Config {
        jobs: vec![JobConfig::new("job", repo, "master")],
        dry_run: false,
        label_prs: LabelPrs::All,
        ..Config::default()
    };
    config.github.endpoints = vec![fake.url()];
    let client = Client::new(ClientOptions::new(vec![fake.url()], Some(fake.token()))).unwrap();
    (config, client)
}

/// With `label_prs: all`, removing every label can take hours of budget: the blocker
/// issue (which holds the whole branch in Tide) is closed before any label comes off,
/// then the ready PRs lose the label, then the other PRs do.
#[tokio::test]
async fn lifting_closes_the_blocker_issue_first_then_ready_prs_before_the_others() {
    use crate::github::fake::{FakeGithub, PrSpec};
    use crate::model::{BuildId, Cause, IncidentState, JobName, RunRef};

    const REPO: &str = "o/r";
    let fake = FakeGithub::start().await.unwrap();
    let other = fake.add_pr(REPO, PrSpec::new("master").labels(&["kind/bug"]));
    let ready = fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm", "approved"]));
    let (config, client) = all_mode(&fake, REPO);
    let reconciler = Reconciler::new(client, Arc::new(config), Store::temporary().unwrap());
    let run = |b: &str| RunRef {
        build_id: BuildId::new(b),
        url: String::new(),
        started_at: None,
        commits: Default::default(),
        finished_at: None,
    };
    let mut incident = Incident::new(
        IncidentId::new("job-2"),
        JobName::new("job"),
        Timestamp(0),
        Cause::Regression {
            first_red: run("2"),
            last_green: run("1"),
        },
        vec![Scope {
            repo: repo(),
            branch: "master".into(),
        }],
    );
    let blocked = reconciler
        .reconcile_incidents(std::slice::from_ref(&incident))
        .await;
    assert!(blocked.converged(), "{blocked:?}");
    assert_eq!(blocked.labels_added, 2);

    incident.state = IncidentState::Lifted {
        by: "approver".into(),
        reason: String::new(),
        at: Timestamp(1),
    };
    fake.clear_log();
    let lifted = reconciler
        .reconcile_incidents(std::slice::from_ref(&incident))
        .await;
    assert!(lifted.converged(), "{lifted:?}");
    let order: Vec<String> = fake
        .requests()
        .iter()
        .filter(|r| r.method == "DELETE" || r.method == "PATCH")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    let removal = |n: u64| {
        order
            .iter()
            .position(|r| r.starts_with("DELETE") && r.contains(&format!("/issues/{n}/labels/")))
            .unwrap_or_else(|| panic!("no removal on #{n}: {order:?}"))
    };
    let close = order
        .iter()
        .position(|r| r.starts_with("PATCH"))
        .unwrap_or_else(|| panic!("the issue was not closed: {order:?}"));
    assert!(
        close < removal(ready) && removal(ready) < removal(other),
        "the issue, then the ready PR, then the rest: {order:?}"
    );
}

/// With `label_prs: all` a pass labels for hours; an unblock meanwhile must not wait
/// for it. The running loop stops the label run, and the next pass removes what was
/// added and closes the issue: the block stops growing at once.
#[tokio::test]
async fn an_unblock_cuts_a_long_label_run_short() {
    use crate::github::fake::{FakeGithub, PrSpec};
    use crate::model::{Cause, IncidentState, JobName, Login};

    const REPO: &str = "o/r";
    const PRS: usize = 40;
    let fake = FakeGithub::start().await.unwrap();
    let prs: Vec<u64> = (0..PRS)
        .map(|_| fake.add_pr(REPO, PrSpec::new("master")))
        .collect();
    let (config, client) = all_mode(&fake, REPO);
    let label = config.label.clone();
    let store = Store::temporary().unwrap();
    let handle = Handle::default();
    let reconciler = Reconciler::new(client, Arc::new(config), store.clone())
        .with_handle(handle.clone(), Duration::ZERO);
    let id = IncidentId::new("manual-1");
    store
        .put_incident(&Incident::new(
            id.clone(),
            JobName::new("job"),
            Timestamp(0),
            Cause::Manual {
                by: Login::new("approver"),
                reason: String::new(),
            },
            vec![Scope {
                repo: repo(),
                branch: "master".into(),
            }],
        ))
        .unwrap();
    fake.set_latency(Duration::from_millis(20));
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(run(reconciler, handle.clone(), stopped));
    let labelled = |fake: &FakeGithub| {
        prs.iter()
            .filter(|n| fake.labels_of(REPO, **n).contains(&label))
            .count()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while labelled(&fake) < 3 {
        assert!(tokio::time::Instant::now() < deadline, "nothing labelled");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store
        .update_incident(&id, |i| {
            let mut i = i?;
            i.state = IncidentState::Lifted {
                by: "approver".into(),
                reason: String::new(),
                at: Timestamp(1),
            };
            Some(i)
        })
        .unwrap();
    handle.poke();
    while labelled(&fake) > 0 || fake.issues(REPO).iter().any(|i| i.is_open()) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not lifted in 20 s: {} PRs still labelled (the label run went on, spending \
             the minute's budget?)",
            labelled(&fake)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let adds = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/labels"))
        .count();
    assert!(
        adds < PRS,
        "the label run went on after the unblock: {adds} adds"
    );
    stop.send(true).unwrap();
    task.await.unwrap();
}
