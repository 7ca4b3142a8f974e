//! Block and unblock a busy branch through the real client and reconciler against the fake
//! GitHub: 1,000 open PRs on the branch, 40 of them ready, 50 ms per request, GitHub's
//! default budget (60 mutations a minute, 450 an hour). Time runs paused (tokio's virtual
//! clock), so the figures are the time the requests, their latency and the mutation budget
//! impose, without sleeping through them; the wall time is printed too.
//!
//! Run: `cargo bench --bench block`.

use std::sync::Arc;
use std::time::Duration;

use scalability_gate::Store;
use scalability_gate::config::{Config, JobConfig, ScopeConfig};
use scalability_gate::github::client::{Client, ClientOptions};
use scalability_gate::github::fake::{FakeGithub, LoggedRequest, PrSpec};
use scalability_gate::model::{
    BuildId, Cause, Incident, IncidentId, IncidentState, JobName, RepoName, RunRef, Scope,
    Timestamp,
};
use scalability_gate::reconcile::Reconciler;
use tokio::time::Instant;

const REPO: &str = "kubernetes/kubernetes";
const OPEN_PRS: usize = 1000;
const READY_PRS: usize = 40;
const LATENCY: Duration = Duration::from_millis(50);

fn incident() -> Incident {
    let run = |b: &str| RunRef {
        build_id: BuildId::new(b),
        url: format!("https://prow.k8s.io/view/{b}"),
        started_at: None,
        commits: Default::default(),
    };
    Incident {
        id: IncidentId::new("ci-scale-1002"),
        job: JobName::new("ci-kubernetes-e2e-gce-scale-performance-100"),
        opened_at: Timestamp(0),
        cause: Cause::Regression {
            first_red: run("1002"),
            last_green: run("1001"),
        },
        scopes: vec![Scope {
            repo: RepoName::parse(REPO).unwrap(),
            branch: "master".into(),
        }],
        state: IncidentState::Active,
        folded_runs: vec![],
        recovered_by: None,
        exemptions: vec![],
        breaches: vec![],
        searches: Vec::new(),
        reverts: Vec::new(),
        reruns: Vec::new(),
        escalations: Vec::new(),
        suspects: vec![],
    }
}

fn since(start: Instant, r: &LoggedRequest) -> f64 {
    r.at.duration_since(start).as_secs_f64()
}

fn report(what: &str, start: Instant, log: &[LoggedRequest], floor: usize) {
    let mutations: Vec<&LoggedRequest> = log.iter().filter(|r| r.is_mutation()).collect();
    let issue = mutations
        .iter()
        .find(|r| r.path.ends_with("/issues") || r.method == "PATCH");
    let labels: Vec<&&LoggedRequest> = mutations
        .iter()
        .filter(|r| r.path.contains("/labels") && r.path.contains("/issues/"))
        .collect();
    println!("{what}:");
    if let Some(issue) = issue {
        println!(
            "  blocker issue request at   {:>8.2} s",
            since(start, issue)
        );
    }
    if let Some(last) = labels.last() {
        println!("  last label change at       {:>8.2} s", since(start, last));
    }
    println!(
        "  requests {:>5}, mutations {:>4} (floor {floor}), label changes {}",
        log.len(),
        mutations.len(),
        labels.len()
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let fake = FakeGithub::start().await.unwrap();
        for i in 0..OPEN_PRS {
            let spec = PrSpec::new("master");
            let spec = if i % (OPEN_PRS / READY_PRS) == 0 {
                spec.labels(&["lgtm", "approved", "kind/bug"])
            } else {
                spec.labels(&["kind/feature"])
            };
            fake.add_pr(REPO, spec);
        }
        fake.set_latency(LATENCY);
        let mut config = Config {
            jobs: vec![JobConfig {
                name: "ci-kubernetes-e2e-gce-scale-performance-100".into(),
                scopes: vec![ScopeConfig {
                    repo: REPO.into(),
                    branch: "master".into(),
                }],
                failures_to_confirm: 1,
                auto_unblock_on_recovery: false,
                suspects: Default::default(),
            }],
            dry_run: false,
            ..Config::default()
        };
        config.github.endpoints = vec![fake.url()];
        let mut options = ClientOptions::new(vec![fake.url()], Some(fake.token()));
        options.request_timeout = None;
        let client = Client::new(options).unwrap();
        let store = Store::temporary().unwrap();
        let reconciler = Reconciler::new(client.clone(), Arc::new(config), store);
        let pages = OPEN_PRS.div_ceil(100);
        println!(
            "{OPEN_PRS} open PRs on master, {READY_PRS} ready, {} ms per request, 60 mutations/min",
            LATENCY.as_millis()
        );

        let mut active = incident();
        let wall = std::time::Instant::now();
        let start = Instant::now();
        let done = reconciler
            .reconcile_incidents(std::slice::from_ref(&active))
            .await;
        assert!(done.converged(), "{done:?}");
        println!("(list pages per pass: {pages})");
        report(
            "block",
            start,
            &fake.requests(),
            1 + READY_PRS, // one blocker issue, one label per ready PR
        );
        println!(
            "  pass took {:.2} s virtual, {:.2} s wall",
            start.elapsed().as_secs_f64(),
            wall.elapsed().as_secs_f64()
        );

        fake.clear_log();
        let start = Instant::now();
        let again = reconciler
            .reconcile_incidents(std::slice::from_ref(&active))
            .await;
        assert!(again.converged());
        report("second pass while blocked", start, &fake.requests(), 0);

        active.state = IncidentState::Lifted {
            by: "wojtek-t".into(),
            reason: "reverted".into(),
            at: Timestamp(1),
        };
        fake.clear_log();
        let wall = std::time::Instant::now();
        let start = Instant::now();
        let lifted = reconciler
            .reconcile_incidents(std::slice::from_ref(&active))
            .await;
        assert!(lifted.converged(), "{lifted:?}");
        report(
            "unblock (right after the block: shares the minute's budget)",
            start,
            &fake.requests(),
            READY_PRS + 1, // one removal per labelled PR, closing the issue
        );
        println!(
            "  pass took {:.2} s virtual, {:.2} s wall",
            start.elapsed().as_secs_f64(),
            wall.elapsed().as_secs_f64()
        );
        let c = client.counters();
        println!(
            "client counters: requests {}, mutations {}, retries {}, rate-limit pauses {}",
            c.requests, c.mutations, c.retries, c.rate_limited
        );
    });
}
