//! Block and unblock a busy branch through the real client and reconciler against the fake
//! GitHub: 1,000 open PRs on the branch, 40 of them ready, 50 ms per request, GitHub's
//! default budget (60 mutations a minute, 450 an hour). Time runs paused (tokio's virtual
//! clock), so the figures are the time the requests, their latency and the mutation budget
//! impose, without sleeping through them; the wall time is printed too.
//!
//! Then the same branch with `label_prs: all`: every open PR labelled, ready ones first, and
//! every label removed again on unblock. There the hourly budget is the limit: the bench
//! prints how long the full block and the full unblock take, the requests and mutations
//! against the floor (one mutation per PR, plus the issue), the fewest seconds the budget
//! itself allows for that many mutations, and the most mutations the fake saw in any
//! sliding minute and hour (asserted within `mutations_per_minute` / `mutations_per_hour`).
//!
//! Run: `cargo bench --bench block`.

use std::sync::Arc;
use std::time::Duration;

use scalability_gate::Store;
use scalability_gate::config::{Config, JobConfig, LabelPrs};
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
/// GitHub's budget as configured by default (`github.mutations_per_minute` / `_per_hour`).
const PER_MINUTE: usize = 60;
const PER_HOUR: usize = 450;
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

fn incident() -> Incident {
    let run = |b: &str| RunRef {
        build_id: BuildId::new(b),
        url: format!("https://prow.k8s.io/view/{b}"),
        started_at: None,
        commits: Default::default(),
        finished_at: None,
    };
    Incident::new(
        IncidentId::new("ci-scale-1002"),
        JobName::new("ci-kubernetes-e2e-gce-scale-performance-100"),
        Timestamp(0),
        Cause::Regression {
            first_red: run("1002"),
            last_green: run("1001"),
        },
        vec![Scope {
            repo: RepoName::parse(REPO).unwrap(),
            branch: "master".into(),
        }],
    )
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

/// The most of `times` (sorted) inside any window `[t, t + window)`.
fn max_in_window(times: &[Instant], window: Duration) -> usize {
    let mut best = 0;
    let mut start = 0;
    for (end, t) in times.iter().enumerate() {
        while times[start] + window <= *t {
            start += 1;
        }
        best = best.max(end + 1 - start);
    }
    best
}

/// The fewest seconds `n` mutations take under the budget, starting from an empty window:
/// mutation k goes at the latest of a minute after mutation k - PER_MINUTE and an hour
/// after mutation k - PER_HOUR (the client's sliding windows; requests themselves free).
fn budget_minimum(n: usize) -> f64 {
    let mut at: Vec<f64> = Vec::with_capacity(n);
    for k in 0..n {
        let mut t: f64 = 0.0;
        if k >= PER_MINUTE {
            t = t.max(at[k - PER_MINUTE] + 60.0);
        }
        if k >= PER_HOUR {
            t = t.max(at[k - PER_HOUR] + 3600.0);
        }
        at.push(t);
    }
    at.last().copied().unwrap_or(0.0)
}

/// Checks the fake's observed mutation times against both windows, and prints the most
/// seen in any minute and any hour.
fn check_budget(log: &[LoggedRequest]) {
    let mut times: Vec<Instant> = log
        .iter()
        .filter(|r| r.is_mutation())
        .map(|r| r.at)
        .collect();
    times.sort();
    let minute = max_in_window(&times, MINUTE);
    let hour = max_in_window(&times, HOUR);
    println!(
        "  most mutations in any minute {minute} (budget {PER_MINUTE}), in any hour {hour} (budget {PER_HOUR})"
    );
    assert!(minute <= PER_MINUTE, "{minute} mutations in one minute");
    assert!(hour <= PER_HOUR, "{hour} mutations in one hour");
}

/// The issue number in `/repos/{o}/{r}/issues/{n}/labels...`.
fn pr_of(path: &str) -> u64 {
    path.split('/')
        .skip_while(|p| *p != "issues")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("an issue path")
}

fn h_m_s(secs: f64) -> String {
    let s = secs.round() as u64;
    format!("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60)
}

/// Seeds the branch: [`OPEN_PRS`] open PRs, every (OPEN_PRS / READY_PRS)-th one ready.
/// Answers the PRs' numbers.
fn seed(fake: &FakeGithub) -> Vec<u64> {
    let mut numbers = Vec::with_capacity(OPEN_PRS);
    for i in 0..OPEN_PRS {
        let spec = PrSpec::new("master");
        let spec = if i % (OPEN_PRS / READY_PRS) == 0 {
            spec.labels(&["lgtm", "approved", "kind/bug"])
        } else {
            spec.labels(&["kind/feature"])
        };
        numbers.push(fake.add_pr(REPO, spec));
    }
    numbers
}

fn config(fake: &FakeGithub, label_prs: LabelPrs) -> Config {
    let mut config = Config {
        jobs: vec![JobConfig::new(
            "ci-kubernetes-e2e-gce-scale-performance-100",
            REPO,
            "master",
        )],
        dry_run: false,
        label_prs,
        ..Config::default()
    };
    config.github.endpoints = vec![fake.url()];
    config
}

/// The plugin's client (GitHub's default budget, no request timeout: the paused clock
/// jumps over hours) and a reconciler with `label_prs` over a temporary store, against
/// `fake` answering in [`LATENCY`].
fn plugin(fake: &FakeGithub, label_prs: LabelPrs) -> (Client, Reconciler) {
    fake.set_latency(LATENCY);
    let mut options = ClientOptions::new(vec![fake.url()], Some(fake.token()));
    options.request_timeout = None;
    assert_eq!(
        (options.mutations_per_minute, options.mutations_per_hour),
        (PER_MINUTE as u32, PER_HOUR as u32)
    );
    let client = Client::new(options).unwrap();
    let reconciler = Reconciler::new(
        client.clone(),
        Arc::new(config(fake, label_prs)),
        Store::temporary().unwrap(),
    );
    (client, reconciler)
}

/// Lifts `incident` by hand.
fn lift(incident: &mut Incident) {
    incident.state = IncidentState::Lifted {
        by: "wojtek-t".into(),
        reason: "reverted".into(),
        at: Timestamp(1),
    };
}

fn print_counters(client: &Client) {
    let c = client.counters();
    println!(
        "client counters: requests {}, mutations {}, retries {}, rate-limit pauses {}",
        c.requests, c.mutations, c.retries, c.rate_limited
    );
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(ready_mode());
    runtime.block_on(all_mode());
}

/// `label_prs: all`: the full block and the full unblock under the hourly budget.
async fn all_mode() {
    let fake = FakeGithub::start().await.unwrap();
    let numbers = seed(&fake);
    let label = Config::default().label;
    let carrying = |fake: &FakeGithub| {
        numbers
            .iter()
            .filter(|n| fake.labels_of(REPO, **n).contains(&label))
            .count()
    };
    let (client, reconciler) = plugin(&fake, LabelPrs::All);
    println!();
    println!(
        "label_prs: all — {OPEN_PRS} open PRs, {READY_PRS} ready, {} ms per request, {PER_MINUTE} mutations/min, {PER_HOUR}/hour",
        LATENCY.as_millis()
    );

    let mut active = incident();
    let mut full_log = Vec::new();
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let done = reconciler
        .reconcile_incidents(std::slice::from_ref(&active))
        .await;
    assert!(done.converged(), "{done:?}");
    let block = fake.requests();
    assert_eq!(carrying(&fake), OPEN_PRS, "every open PR carries the label");
    report("full block", start, &block, OPEN_PRS + 1);
    let label_changes: Vec<&LoggedRequest> = block
        .iter()
        .filter(|r| r.is_mutation() && r.path.contains("/issues/") && r.path.contains("/labels"))
        .collect();
    let ready: Vec<u64> = numbers
        .iter()
        .step_by(OPEN_PRS / READY_PRS)
        .copied()
        .collect();
    println!(
        "  last ready PR labelled at  {:>8.2} s (ready PRs first)",
        since(start, last_of_ready_first(&label_changes, &ready))
    );
    let took = start.elapsed().as_secs_f64();
    let mutations = block.iter().filter(|r| r.is_mutation()).count();
    println!(
        "  full block took {} virtual ({took:.0} s; the budget alone allows {} for {mutations} mutations), {:.2} s wall",
        h_m_s(took),
        h_m_s(budget_minimum(mutations)),
        wall.elapsed().as_secs_f64()
    );
    check_budget(&block);
    full_log.extend(block);

    lift(&mut active);
    fake.clear_log();
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let lifted = reconciler
        .reconcile_incidents(std::slice::from_ref(&active))
        .await;
    assert!(lifted.converged(), "{lifted:?}");
    let unblock = fake.requests();
    assert_eq!(
        carrying(&fake),
        0,
        "no PR carries the label after the unblock"
    );
    report(
        "full unblock (right after the block: shares the hour's budget)",
        start,
        &unblock,
        OPEN_PRS + 1,
    );
    let removals: Vec<&LoggedRequest> = unblock
        .iter()
        .filter(|r| r.method == "DELETE" && r.path.contains("/labels/"))
        .collect();
    println!(
        "  last ready PR unlabelled at {:>8.2} s (ready PRs first)",
        since(start, last_of_ready_first(&removals, &ready))
    );
    if let Some(closed) = unblock
        .iter()
        .find(|r| r.method == "PATCH" && r.path.contains("/issues/"))
    {
        println!(
            "  blocker issue closed at    {:>8.2} s (Tide blocks the whole branch until then)",
            since(start, closed)
        );
    }
    let took = start.elapsed().as_secs_f64();
    println!(
        "  full unblock took {} virtual ({took:.0} s), {:.2} s wall",
        h_m_s(took),
        wall.elapsed().as_secs_f64()
    );
    check_budget(&unblock);
    full_log.extend(unblock);
    println!("block and unblock together:");
    check_budget(&full_log);
    print_counters(&client);
}

/// Asserts the first [`READY_PRS`] label changes are the ready PRs' and returns the last
/// of them.
fn last_of_ready_first<'a>(changes: &[&'a LoggedRequest], ready: &[u64]) -> &'a LoggedRequest {
    let first: Vec<u64> = changes[..READY_PRS]
        .iter()
        .map(|r| pr_of(&r.path))
        .collect();
    assert!(
        first.iter().all(|n| ready.contains(n)),
        "ready PRs go first: {first:?}"
    );
    changes[READY_PRS - 1]
}

/// `label_prs: ready` (the default): the block and the unblock.
async fn ready_mode() {
    {
        let fake = FakeGithub::start().await.unwrap();
        seed(&fake);
        let (client, reconciler) = plugin(&fake, LabelPrs::Ready);
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

        // An unblock comes later than a minute after the block in practice: the block's
        // mutations have left the budget's minute (right after, the 60-a-minute budget
        // alone would hold the removals back until that minute is over).
        tokio::time::sleep(MINUTE).await;
        lift(&mut active);
        fake.clear_log();
        let wall = std::time::Instant::now();
        let start = Instant::now();
        let lifted = reconciler
            .reconcile_incidents(std::slice::from_ref(&active))
            .await;
        assert!(lifted.converged(), "{lifted:?}");
        report(
            "unblock (a minute after the block: a fresh minute's budget)",
            start,
            &fake.requests(),
            READY_PRS + 1, // one removal per labelled PR, closing the issue
        );
        println!(
            "  pass took {:.2} s virtual, {:.2} s wall",
            start.elapsed().as_secs_f64(),
            wall.elapsed().as_secs_f64()
        );
        print_counters(&client);
    }
}
