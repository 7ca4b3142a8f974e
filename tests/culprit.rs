//! Issue 6 end to end against the fake GitHub over HTTP and a real sled store: suspects
//! found from the tested commits (compare, commit → PR, PR facts) and ranked with reasons
//! into the blocker issue; the time-window search when the tested commits are unknown; a
//! revert PR opened through GraphQL, exempt and never labelled, once across passes and
//! restarts; escalation steps once each, with the clock driven by the test.
//!
//! The harness runs the real consumer (the gate writes every finding) and drives the
//! reconciler pass by pass, so each step is a sync point: no sleeps.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use scalability_gate::Store;
use scalability_gate::bus::{self, QueueSender};
use scalability_gate::clock::Clock;
use scalability_gate::config::{Config, JobConfig, LabelPrs, ScopeConfig};
use scalability_gate::consumer;
use scalability_gate::github::fake::{FakeGithub, MergedPr, PrSpec};
use scalability_gate::model::{
    Breach, BuildId, Cause, CommitSha, ExemptionKind, Incident, IncidentId, IncidentState, JobName,
    Login, PrNumber, RepoName, Revert, RunRef, Scope, SuspectRange, Timestamp,
};
use scalability_gate::reconcile::{Reconciler, Report};
use tokio::sync::watch;

const REPO: &str = "kubernetes/kubernetes";
const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const LABEL: &str = "do-not-merge/scalability-regression";
const APPROVER: &str = "wojtek-t";

/// When the incident opened (the first red run started an hour before).
const OPENED: i64 = 1_790_200_000;

fn repo() -> RepoName {
    RepoName::parse(REPO).unwrap()
}

fn scope() -> Scope {
    Scope {
        repo: repo(),
        branch: "master".into(),
    }
}

fn minutes(m: i64) -> Timestamp {
    Timestamp(OPENED + m * 60)
}

fn run(build: &str, started: Timestamp, commit: Option<&str>) -> RunRef {
    RunRef {
        build_id: BuildId::new(build),
        url: format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{JOB}/{build}"),
        started_at: Some(started),
        commits: commit
            .map(|c| BTreeMap::from([(repo(), CommitSha::new(c))]))
            .unwrap_or_default(),
        finished_at: None,
    }
}

/// `/scalability-revert #pr` by the approver at `at`, not opened yet.
fn asked_by_approver(pr: u64, at: Timestamp) -> Revert {
    Revert::asked(repo(), PrNumber(pr), Login::new(APPROVER), at, None)
}

/// A regression incident whose runs tested `green` and `red` (when known).
fn regression(id: &str, green: Option<&str>, red: Option<&str>) -> Incident {
    Incident::new(
        IncidentId::new(id),
        JobName::new(JOB),
        Timestamp(OPENED),
        Cause::Regression {
            first_red: run("1002", minutes(-60), red),
            last_green: run("1001", minutes(-240), green),
        },
        vec![scope()],
    )
}

/// The configuration of these tests: every open PR labelled (so an exempt PR that got the
/// label would show), blocker issues, ranking signals, escalation at 1h and 4h.
fn config(fake: &FakeGithub, dir: &std::path::Path) -> Config {
    let token = dir.join("token");
    std::fs::write(&token, format!("{}\n", fake.token())).unwrap();
    let mut job = JobConfig::new(JOB, REPO, "master");
    job.suspects.hot_paths = vec![
        "pkg/scheduler/".into(),
        "staging/src/k8s.io/apiserver/".into(),
    ];
    job.suspects.labels = vec!["sig/scalability".into(), "sig/scheduling".into()];
    let mut c = Config {
        jobs: vec![job],
        dry_run: false,
        store_path: dir.join("store"),
        label_prs: LabelPrs::All,
        ..Config::default()
    };
    c.github.endpoints = vec![fake.url()];
    c.github.token_file = token;
    c.approvers.teams = vec!["kubernetes/sig-scalability-leads".into()];
    c.approvers.users = vec![APPROVER.into()];
    c.escalation.mention_after = Some(Duration::from_secs(3600));
    c.escalation.suggest_revert_after = Some(Duration::from_secs(4 * 3600));
    c.escalation.top_suspects = 2;
    c
}

/// The plugin's consumer (the gate, the one writer of incidents) on a real store, and a
/// reconciler driven pass by pass with the test's clock.
struct World {
    fake: FakeGithub,
    config: Arc<Config>,
    store: Store,
    queue: QueueSender,
    reconciler: Reconciler,
    now: Arc<AtomicI64>,
    stop: watch::Sender<bool>,
    consumer: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl World {
    async fn start(fake: FakeGithub, adjust: impl FnOnce(&mut Config)) -> World {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config(&fake, dir.path());
        adjust(&mut config);
        let now = Arc::new(AtomicI64::new(OPENED));
        Self::boot(fake, Arc::new(config), now, dir).await
    }

    async fn boot(
        fake: FakeGithub,
        config: Arc<Config>,
        now: Arc<AtomicI64>,
        dir: tempfile::TempDir,
    ) -> World {
        let path = config.store_path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .unwrap()
            .unwrap();
        let github = common::github_client(&fake, |options| {
            options.backoff_base = Duration::from_millis(5);
            options.backoff_max = Duration::from_millis(20);
        });
        let metrics = Arc::new(scalability_gate::telemetry::Metrics::new());
        let (queue, receiver) = bus::queue(bus::QUEUE_CAPACITY, metrics.clone());
        let (stop, stop_rx) = watch::channel(false);
        let own_login =
            consumer::membership::OwnLogin::resolve(Some(&github), stop_rx.clone()).await;
        let parts = consumer::Parts {
            config: config.clone(),
            store: store.clone(),
            metrics,
            github: github.clone(),
            tide: bus::tide::shared(&config),
            reconcile: Default::default(),
            reruns: Default::default(),
            queue: queue.downgrade(),
            own_login,
            clock: Clock::system(),
        };
        let consumer = tokio::spawn(consumer::run(parts, receiver, stop_rx));
        let clock = now.clone();
        let reconciler = Reconciler::new(github, config.clone(), store.clone())
            .with_findings(queue.clone())
            .with_clock(Arc::new(move || Timestamp(clock.load(Ordering::SeqCst))));
        World {
            fake,
            config,
            store,
            queue,
            reconciler,
            now,
            stop,
            consumer,
            _dir: dir,
        }
    }

    /// Stops the consumer, closes the store and starts everything again on the same
    /// store and the same GitHub: nothing is remembered but what the store holds.
    async fn restart(self) -> World {
        let World {
            fake,
            config,
            store,
            queue,
            reconciler,
            now,
            stop,
            consumer,
            _dir,
        } = self;
        drop(reconciler);
        drop(queue);
        let _ = stop.send(true);
        tokio::time::timeout(common::TIMEOUT, consumer)
            .await
            .expect("consumer stopped in time")
            .unwrap()
            .unwrap();
        store.flush().await.unwrap();
        drop(store);
        Self::boot(fake, config, now, _dir).await
    }

    fn put(&self, incident: &Incident) {
        self.store.put_incident(incident).unwrap();
    }

    fn incident(&self, id: &str) -> Incident {
        self.store
            .incident(&IncidentId::new(id))
            .unwrap()
            .expect("incident in the store")
    }

    fn set_clock(&self, t: Timestamp) {
        self.now.store(t.0, Ordering::SeqCst);
    }

    /// One full pass, which must reach the desired state.
    async fn pass(&self) -> Report {
        self.pass_within(common::TIMEOUT).await
    }

    /// [`World::pass`] with its own bound, for a pass that reads many pages of the fake
    /// (every answer a whole documented object: slow in a debug build on a loaded machine).
    async fn pass_within(&self, bound: Duration) -> Report {
        let report = tokio::time::timeout(bound, self.reconciler.reconcile())
            .await
            .expect("pass finished in time")
            .unwrap();
        assert!(report.converged(), "{:?}", report.errors);
        report
    }

    /// The open blocker issue's body.
    fn issue_body(&self) -> String {
        let issues = self.fake.issues(REPO);
        let open: Vec<_> = issues.iter().filter(|i| i.is_open()).collect();
        assert_eq!(open.len(), 1, "one blocker issue: {issues:?}");
        open[0].body_text().to_string()
    }

    fn issue_number(&self) -> u64 {
        self.fake.issues(REPO)[0].number
    }

    /// Requests to GitHub whose path contains `part`.
    fn requests_to(&self, method: &str, part: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    }

    /// Comments on `number` carrying `marker_kind` in their marker.
    fn comments_marked(&self, number: u64, kind: &str) -> usize {
        let marker = format!(":{kind} -->");
        self.fake
            .comments(REPO, number)
            .iter()
            .filter(|c| c.body.contains(&marker))
            .count()
    }
}

/// Seven merged PRs (merge commits, a squash, one GitHub does not link to its commit, a
/// revert) and a direct push between the last green and the first red tested commits.
/// Returns (green, red, numbers in merge order).
fn seven_merged(fake: &FakeGithub) -> (String, String, Vec<u64>) {
    let green = fake.push_commit(REPO, "master", "Update CHANGELOG");
    let mut prs = Vec::new();
    let mut merge = |spec: MergedPr| prs.push(fake.merge_pr(REPO, spec).number);
    merge(
        MergedPr::new("master", "Scheduler: bind pods in batches", minutes(-230))
            .author("alice")
            .labels(&["sig/scheduling", "lgtm", "approved"])
            .files(&[
                "pkg/scheduler/schedule_one.go",
                "pkg/scheduler/framework/bind.go",
            ])
            .size(150, 20),
    );
    merge(
        MergedPr::new("master", "Fix a typo in the README", minutes(-220))
            .author("bob")
            .files(&["README.md"])
            .size(1, 1),
    );
    merge(
        MergedPr::new("master", "apiserver: new watch cache", minutes(-200))
            .author("carol")
            .labels(&["sig/scalability", "sig/api-machinery"])
            .files(&[
                "staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go",
                "staging/src/k8s.io/apiserver/pkg/storage/cacher/watch_cache.go",
            ])
            .size(1400, 300),
    );
    merge(
        MergedPr::new("master", "kubectl: add --wait to delete", minutes(-180))
            .author("dave")
            .files(&["staging/src/k8s.io/kubectl/pkg/cmd/delete/delete.go"])
            .size(250, 10)
            .squashed(),
    );
    fake.push_commit(REPO, "master", "Bump the version file");
    merge(
        MergedPr::new("master", "Merged during the last block", minutes(-150))
            .author("erin")
            .files(&["pkg/kubelet/kubelet.go"])
            .size(40, 5),
    );
    merge(
        MergedPr::new("master", "Revert \"Old flag\"", minutes(-120))
            .author("frank")
            .body("Reverts kubernetes/kubernetes#4321")
            .files(&["cmd/kube-proxy/app/server.go"])
            .size(3, 30),
    );
    merge(
        MergedPr::new("master", "e2e: longer scale test timeout", minutes(-90))
            .author("grace")
            .labels(&["sig/scalability"])
            .files(&["test/e2e/scalability/load.go"])
            .size(5, 5)
            .unlinked(),
    );
    let red = fake.branch_head(REPO, "master").unwrap();
    (green, red, prs)
}

/// Where `#n` first appears (not as the start of a longer number) after `from`.
fn position_of(text: &str, from: usize, n: u64) -> Option<usize> {
    let needle = format!("#{n}");
    text[from..]
        .match_indices(&needle)
        .find(|(i, _)| !text[from + i + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
        .map(|(i, _)| from + i)
}

#[tokio::test]
async fn the_suspect_table_lists_seven_merged_prs_ranked_with_reasons() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    let w = World::start(fake, |_| {}).await;
    // An earlier incident during which PR 5 merged without an exemption: a breach.
    let mut earlier = regression("earlier", None, None);
    earlier.state = IncidentState::Lifted {
        by: APPROVER.into(),
        reason: "fixed".into(),
        at: minutes(-100),
    };
    earlier.breaches.push(Breach {
        scope: scope(),
        pr: PrNumber(prs[4]),
        merged_by: Some(Login::new("erin")),
        at: minutes(-150),
    });
    w.put(&earlier);
    w.put(&regression("inc-1", Some(&green), Some(&red)));
    // Something to label: every open PR is (label_prs: all).
    let open = w.fake.add_pr(REPO, PrSpec::new("master"));

    w.pass().await;

    let incident = w.incident("inc-1");
    let ranked: Vec<u64> = incident.suspects.iter().map(|s| s.pr.0).collect();
    // carol (hot path + label + large) 7, alice (hot path + label) 5, erin (breach) 3,
    // grace (label) 2, dave (medium) 1, then bob and frank's revert at 0 in merge order.
    let expected = vec![prs[2], prs[0], prs[4], prs[6], prs[3], prs[1], prs[5]];
    assert_eq!(ranked, expected, "{:#?}", incident.suspects);
    let reasons = |n: u64| {
        incident
            .suspects
            .iter()
            .find(|s| s.pr.0 == n)
            .unwrap()
            .reasons
            .join("; ")
    };
    assert!(
        reasons(prs[2]).contains("staging/src/k8s.io/apiserver/"),
        "{}",
        reasons(prs[2])
    );
    assert!(
        reasons(prs[2]).contains("sig/scalability"),
        "{}",
        reasons(prs[2])
    );
    assert!(
        reasons(prs[2]).contains("large change"),
        "{}",
        reasons(prs[2])
    );
    assert!(
        reasons(prs[0]).contains("pkg/scheduler/"),
        "{}",
        reasons(prs[0])
    );
    assert!(
        reasons(prs[0]).contains("sig/scheduling"),
        "{}",
        reasons(prs[0])
    );
    assert!(reasons(prs[4]).contains("breach"), "{}", reasons(prs[4]));
    assert!(reasons(prs[3]).contains("medium"), "{}", reasons(prs[3]));
    assert!(
        reasons(prs[5]).contains("revert of #4321"),
        "{}",
        reasons(prs[5])
    );
    let suspect = |n: u64| incident.suspects.iter().find(|s| s.pr.0 == n).unwrap();
    assert_eq!(suspect(prs[5]).reverts, Some(PrNumber(4321)));
    assert_eq!(suspect(prs[0]).author.as_str(), "alice");
    assert_eq!(suspect(prs[0]).merged_at, Some(minutes(-230)));
    assert!(suspect(prs[0]).merge_commit.is_some());
    // The search is recorded: the range and its length (8 landed commits, 14 in all).
    assert_eq!(incident.searches.len(), 1);
    match &incident.searches[0].range {
        SuspectRange::Commits {
            base,
            head,
            commits,
        } => {
            assert_eq!(
                (base.as_str(), head.as_str()),
                (green.as_str(), red.as_str())
            );
            assert_eq!(*commits, 14);
        }
        other => panic!("a commit range, not {other:?}"),
    }

    // The blocker issue's body shows all seven, in the ranked order.
    let body = w.issue_body();
    let start = body.find("Suspects").expect("a suspects section");
    let positions: Vec<usize> = expected
        .iter()
        .map(|n| position_of(&body, start, *n).unwrap_or_else(|| panic!("#{n} in {body}")))
        .collect();
    assert!(
        positions.windows(2).all(|p| p[0] < p[1]),
        "ranked order in the body: {positions:?}\n{body}"
    );
    // Each row of the table carries the PR's reasons.
    let row = |n: u64| {
        body.lines()
            .find(|l| l.starts_with(&format!("| #{n} |")))
            .unwrap_or_else(|| panic!("a row for #{n} in {body}"))
            .to_string()
    };
    let top = row(prs[2]);
    assert!(
        top.contains("hot path") && top.contains("sig/scalability") && top.contains("large change"),
        "{top}"
    );
    assert!(
        top.contains("| `carol` |") && top.contains("| 7 |"),
        "{top}"
    );
    assert!(row(prs[0]).contains("pkg/scheduler/"), "{}", row(prs[0]));
    assert!(row(prs[4]).contains("breach"), "{}", row(prs[4]));
    assert!(row(prs[3]).contains("medium"), "{}", row(prs[3]));
    assert!(row(prs[5]).contains("revert of #4321"), "{}", row(prs[5]));
    assert!(body.contains("Bisection"), "{body}");
    assert!(w.fake.labels_of(REPO, open).iter().any(|l| l == LABEL));

    // Reads were bounded: one compare, one commit → PR lookup per landed commit.
    assert_eq!(w.requests_to("GET", "/compare/"), 1);
    let listings = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path == format!("/repos/{REPO}/pulls"))
        .count();
    assert_eq!(listings, 1, "open PRs listed once, for the labels");
    let lookups = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(&format!("/repos/{REPO}/commits/")))
        .count();
    assert_eq!(lookups, 8, "7 merges/squashes and the direct push");

    // A second pass searches nothing again and leaves the body as it is.
    w.fake.clear_log();
    w.pass().await;
    assert_eq!(w.requests_to("GET", "/compare/"), 0);
    assert_eq!(w.requests_to("PATCH", "/issues/"), 0);
    assert_eq!(w.fake.mutation_count(), 0);
}

#[tokio::test]
async fn unknown_tested_commits_list_the_prs_merged_between_the_runs() {
    let fake = FakeGithub::start().await.unwrap();
    let before = fake.merge_pr(
        REPO,
        MergedPr::new("master", "Before the green run", minutes(-300)),
    );
    let inside: Vec<u64> = [-200, -150, -100]
        .iter()
        .map(|m| {
            fake.merge_pr(
                REPO,
                MergedPr::new("master", &format!("Change at {m}"), minutes(*m)),
            )
            .number
        })
        .collect();
    let after = fake.merge_pr(
        REPO,
        MergedPr::new("master", "After the red run started", minutes(-30)),
    );
    fake.merge_pr(
        REPO,
        MergedPr::new("release-1.34", "Another branch", minutes(-150)),
    );
    let w = World::start(fake, |_| {}).await;
    w.put(&regression("inc-2", None, None));

    w.pass().await;

    let incident = w.incident("inc-2");
    let found: Vec<u64> = incident.suspects.iter().map(|s| s.pr.0).collect();
    let mut sorted = found.clone();
    sorted.sort();
    assert_eq!(
        sorted, inside,
        "only the PRs merged between the two runs' starts"
    );
    assert!(!found.contains(&before.number) && !found.contains(&after.number));
    match &incident.searches[0].range {
        SuspectRange::TimeWindow { from, to, why } => {
            assert_eq!((*from, *to), (minutes(-240), minutes(-60)));
            assert!(why.contains("unknown"), "said plainly: {why}");
            assert!(why.contains("1001") && why.contains("1002"), "{why}");
        }
        other => panic!("a time window, not {other:?}"),
    }
    assert_eq!(w.requests_to("GET", "/compare/"), 0, "nothing to compare");
    let body = w.issue_body();
    assert!(body.contains("tested commits are unknown"), "{body}");
    for n in &inside {
        assert!(position_of(&body, 0, *n).is_some(), "#{n} in {body}");
    }
}

/// More merges in the window than the closed-PR pages the search reads: the newest are
/// listed and the issue says older ones may be missing. The issue still opens: its table
/// shows the best suspects within GitHub's body limit (the fake refuses longer bodies).
#[tokio::test]
async fn a_time_window_longer_than_the_pages_read_says_it_may_miss_prs() {
    let fake = FakeGithub::start().await.unwrap();
    for i in 0..1005 {
        fake.merge_pr(
            REPO,
            MergedPr::new("master", &format!("Change {i}"), minutes(-230 + i / 10)),
        );
    }
    let w = World::start(fake, |c| c.jobs[0].suspects = Default::default()).await;
    w.put(&regression("inc-7", None, None));

    // Ten pages of 100 merged PRs: allow a slow machine three times the usual bound.
    w.pass_within(3 * common::TIMEOUT).await;

    let incident = w.incident("inc-7");
    assert_eq!(incident.suspects.len(), 1000, "ten pages of 100");
    match &incident.searches[0].range {
        SuspectRange::TimeWindow { why, .. } => {
            assert!(why.contains("unknown"), "{why}");
            assert!(why.contains("may be missing"), "{why}");
        }
        other => panic!("a time window, not {other:?}"),
    }
    let body = w.issue_body();
    assert!(body.contains("may be missing"), "{body}");
    assert!(body.contains("950 more suspect(s)"), "{body}");
}

#[tokio::test]
async fn a_revert_pr_is_opened_once_exempt_and_never_labelled() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    let w = World::start(fake, |_| {}).await;
    w.put(&regression("inc-3", Some(&green), Some(&red)));
    let bystander = w
        .fake
        .add_pr(REPO, PrSpec::new("master").title("Unrelated work"));
    w.pass().await;
    assert!(w.fake.labels_of(REPO, bystander).iter().any(|l| l == LABEL));

    // An approver's `/scalability-revert #N` as the gate records it.
    let top = prs[2];
    w.store
        .update_incident(&IncidentId::new("inc-3"), |i| {
            let mut i = i?;
            i.reverts.push(asked_by_approver(top, minutes(5)));
            Some(i)
        })
        .unwrap();
    w.fake.clear_log();
    w.pass().await;

    // One GraphQL mutation opened it; the gate linked and exempted it.
    assert_eq!(w.requests_to("POST", "/graphql"), 1);
    let incident = w.incident("inc-3");
    let revert_pr = incident.reverts[0].revert_pr.expect("revert PR linked");
    let pr = w.fake.pull(REPO, revert_pr.0).unwrap();
    assert_eq!(pr.title, "Revert \"apiserver: new watch cache\"");
    assert_eq!(pr.state, "open");
    assert!(
        incident
            .exemptions
            .iter()
            .any(|e| e.pr == revert_pr && e.kind == ExemptionKind::Revert)
    );
    assert!(
        w.fake.labels_of(REPO, revert_pr.0).is_empty(),
        "the revert PR is exempt: never labelled, although every open PR is"
    );
    let label_requests: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(&format!("/issues/{}/labels", revert_pr.0)))
        .map(|r| r.path.clone())
        .collect();
    assert!(label_requests.is_empty(), "{label_requests:?}");

    // The blocker issue is open: Tide merges nothing on master, the revert included. Said
    // once on the revert PR and once on the issue.
    let issue = w.issue_number();
    assert_eq!(w.comments_marked(revert_pr.0, "revert-notice"), 1);
    assert_eq!(
        w.comments_marked(issue, &format!("revert-hard-block/{}", revert_pr.0)),
        1
    );
    let notice = &w.fake.comments(REPO, revert_pr.0)[0].body;
    assert!(notice.contains("merges nothing"), "{notice}");
    assert!(notice.contains("by hand"), "{notice}");

    // Another pass opens nothing and says nothing again.
    w.fake.clear_log();
    w.pass().await;
    assert_eq!(w.requests_to("POST", "/graphql"), 0);
    assert_eq!(w.fake.mutation_count(), 0);

    // Nor after a restart.
    let w = w.restart().await;
    w.fake.clear_log();
    w.pass().await;
    assert_eq!(w.requests_to("POST", "/graphql"), 0);
    assert_eq!(w.fake.mutation_count(), 0);
    assert_eq!(w.comments_marked(revert_pr.0, "revert-notice"), 1);
    let open_reverts = w
        .fake
        .pulls(REPO)
        .iter()
        .filter(|p| p.pull.title.starts_with("Revert \"apiserver"))
        .count();
    assert_eq!(open_reverts, 1);
}

#[tokio::test]
async fn an_open_revert_pr_the_plugin_opened_is_adopted_instead_of_opening_another() {
    use scalability_gate::github::fake::FAKE_LOGIN;
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    // The plugin's own revert of PR 1, from an earlier try whose answer was lost.
    let ours = fake.add_pr(
        REPO,
        PrSpec::new("master")
            .title("Revert \"Scheduler: bind pods in batches\"")
            .author(FAKE_LOGIN),
    );
    fake.set_body(
        REPO,
        ours,
        &format!("Reverts {REPO}#{}\n\nBy the gate.", prs[0]),
    );
    // And an unrelated PR whose body merely starts alike.
    let other = fake.add_pr(REPO, PrSpec::new("master").author(FAKE_LOGIN));
    fake.set_body(REPO, other, &format!("Reverts {REPO}#{}0", prs[0]));
    let w = World::start(fake, |_| {}).await;
    let mut incident = regression("inc-4", Some(&green), Some(&red));
    incident.reverts.push(asked_by_approver(prs[0], minutes(5)));
    w.put(&incident);
    w.pass().await;
    assert_eq!(
        w.requests_to("POST", "/graphql"),
        0,
        "adopted, not opened again"
    );
    let incident = w.incident("inc-4");
    assert_eq!(incident.reverts[0].revert_pr, Some(PrNumber(ours)));
    assert!(incident.is_exempt(&repo(), PrNumber(ours)));
    assert!(w.fake.labels_of(REPO, ours).is_empty());
    assert!(w.fake.labels_of(REPO, other).iter().any(|l| l == LABEL));
}

/// Anyone can open a PR whose body says "Reverts org/repo#N": adopting a stranger's would
/// exempt it from the block. Only the plugin's own is adopted; the plugin opens its own
/// revert, and the stranger's PR stays labelled (an approver may exempt it by hand).
#[tokio::test]
async fn a_strangers_pr_claiming_to_revert_a_suspect_is_not_adopted_nor_exempted() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    let claimed = fake.add_pr(
        REPO,
        PrSpec::new("master")
            .title("Revert \"Scheduler: bind pods in batches\"")
            .author("mallory"),
    );
    fake.set_body(
        REPO,
        claimed,
        &format!("Reverts {REPO}#{}\n\nTrust me.", prs[0]),
    );
    let w = World::start(fake, |_| {}).await;
    let mut incident = regression("inc-4", Some(&green), Some(&red));
    incident.reverts.push(asked_by_approver(prs[0], minutes(5)));
    w.put(&incident);
    w.pass().await;
    assert_eq!(
        w.requests_to("POST", "/graphql"),
        1,
        "the plugin opens its own revert"
    );
    let incident = w.incident("inc-4");
    let revert = incident.reverts[0].revert_pr.expect("a revert PR recorded");
    assert_ne!(revert, PrNumber(claimed));
    assert!(!incident.is_exempt(&repo(), PrNumber(claimed)));
    assert!(w.fake.labels_of(REPO, claimed).iter().any(|l| l == LABEL));
}

#[tokio::test]
async fn a_revert_whose_answer_is_lost_is_adopted_at_once_never_opened_twice() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    let w = World::start(fake, |_| {}).await;
    let mut incident = regression("inc-7", Some(&green), Some(&red));
    incident.reverts.push(asked_by_approver(prs[2], minutes(5)));
    w.put(&incident);
    // GitHub opens the revert PR, but its answer is lost on the way back: the pass looks
    // again at once and adopts it, before its labelling step could label it.
    w.fake.fail_after_apply_next(1);
    w.pass().await;
    let incident = w.incident("inc-7");
    let reverts: Vec<u64> = w
        .fake
        .pulls(REPO)
        .iter()
        .filter(|p| p.pull.title.starts_with("Revert \"apiserver"))
        .map(|p| p.pull.number)
        .collect();
    assert_eq!(reverts.len(), 1, "one revert PR");
    assert_eq!(incident.reverts[0].revert_pr, Some(PrNumber(reverts[0])));
    assert_eq!(w.requests_to("POST", "/graphql"), 1, "not asked again");
    let labelled = w
        .fake
        .requests()
        .iter()
        .any(|r| r.path.ends_with(&format!("/issues/{}/labels", reverts[0])));
    assert!(!labelled, "never labelled, not even for a moment");

    // When the request was cut off before GitHub did anything, there is no revert to find:
    // the error is reported and the next pass asks again.
    let mut second = regression("inc-8", Some(&green), Some(&red));
    second.reverts.push(asked_by_approver(prs[0], minutes(6)));
    w.put(&second);
    w.fake.clear_log();
    let held = w.fake.stall_mutation(1, false);
    let reconciler = w.reconciler.clone();
    let pass = tokio::spawn(async move { reconciler.reconcile().await });
    let request = tokio::time::timeout(common::TIMEOUT, held)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(request.path, "/graphql");
    w.fake.release_stalls();
    let report = pass.await.unwrap().unwrap();
    assert!(!report.converged(), "reported, for the next pass");
    assert_eq!(w.incident("inc-8").reverts[0].error, None, "not a failure");
    w.pass().await;
    assert!(w.incident("inc-8").reverts[0].revert_pr.is_some());
    assert_eq!(w.requests_to("POST", "/graphql"), 2, "asked again once");
}

#[tokio::test]
async fn escalation_fires_once_per_step_as_the_test_moves_the_clock() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    let w = World::start(fake, |_| {}).await;
    w.put(&regression("inc-5", Some(&green), Some(&red)));
    w.set_clock(minutes(10));
    w.pass().await;
    let issue = w.issue_number();
    assert_eq!(w.comments_marked(issue, "escalate-1"), 0, "not yet");
    assert!(w.incident("inc-5").escalations.is_empty());
    // Before the first step nobody is notified: the table names authors, never @-mentions.
    let said: Vec<String> =
        std::iter::once(w.fake.issue(REPO, issue).unwrap().body_text().to_string())
            .chain(w.fake.comments(REPO, issue).into_iter().map(|c| c.body))
            .collect();
    for text in &said {
        for author in ["carol", "alice", "erin"] {
            assert!(
                !text.contains(&format!("@{author}")),
                "{author} notified early: {text}"
            );
        }
    }

    w.set_clock(minutes(60));
    w.pass().await;
    assert_eq!(w.comments_marked(issue, "escalate-1"), 1);
    assert_eq!(w.comments_marked(issue, "escalate-2"), 0);
    let mention = w
        .fake
        .comments(REPO, issue)
        .into_iter()
        .find(|c| c.body.contains(":escalate-1 -->"))
        .unwrap()
        .body;
    // The top two suspects' authors and the approver team are mentioned.
    assert!(
        mention.contains("@carol") && mention.contains("@alice"),
        "{mention}"
    );
    assert!(!mention.contains("@erin"), "top 2 only: {mention}");
    assert!(
        mention.contains("@kubernetes/sig-scalability-leads"),
        "{mention}"
    );
    let steps: Vec<(u8, Timestamp)> = w
        .incident("inc-5")
        .escalations
        .iter()
        .map(|e| (e.step, e.at))
        .collect();
    assert_eq!(steps, vec![(1, minutes(60))]);

    w.set_clock(minutes(61));
    w.pass().await;
    assert_eq!(w.comments_marked(issue, "escalate-1"), 1, "once");

    w.set_clock(minutes(240));
    w.pass().await;
    assert_eq!(w.comments_marked(issue, "escalate-1"), 1);
    assert_eq!(w.comments_marked(issue, "escalate-2"), 1);
    let suggestion = w
        .fake
        .comments(REPO, issue)
        .into_iter()
        .find(|c| c.body.contains(":escalate-2 -->"))
        .unwrap()
        .body;
    assert!(
        suggestion.contains(&format!("/scalability-revert #{}", prs[2])),
        "{suggestion}"
    );
    w.set_clock(minutes(600));
    w.pass().await;
    let w = w.restart().await;
    w.pass().await;
    assert_eq!(w.comments_marked(issue, "escalate-1"), 1);
    assert_eq!(w.comments_marked(issue, "escalate-2"), 1);
    assert_eq!(w.incident("inc-5").escalations.len(), 2);
}

/// An incident on two branches: each branch's issue gets each escalation step once, the
/// step is recorded once, and a later pass posts nothing more.
#[tokio::test]
async fn escalation_reaches_the_issue_of_every_scope_once() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, _) = seven_merged(&fake);
    let release = Scope {
        repo: repo(),
        branch: "release-1.34".into(),
    };
    let w = World::start(fake, |c| {
        c.jobs[0].scopes.push(ScopeConfig {
            repo: REPO.into(),
            branch: "release-1.34".into(),
        })
    })
    .await;
    let mut incident = regression("inc-8", Some(&green), Some(&red));
    incident.scopes.push(release);
    w.put(&incident);
    let issues = || -> Vec<u64> {
        w.fake
            .issues(REPO)
            .iter()
            .filter(|i| i.is_open() && !i.is_pull_request())
            .map(|i| i.number)
            .collect()
    };
    w.set_clock(minutes(10));
    w.pass().await;
    assert_eq!(issues().len(), 2, "one issue per branch");

    w.set_clock(minutes(60));
    w.pass().await;
    w.set_clock(minutes(61));
    w.pass().await;
    for n in issues() {
        assert_eq!(w.comments_marked(n, "escalate-1"), 1, "issue #{n}");
        assert_eq!(w.comments_marked(n, "escalate-2"), 0, "issue #{n}");
    }
    w.set_clock(minutes(240));
    w.pass().await;
    w.set_clock(minutes(300));
    w.pass().await;
    for n in issues() {
        assert_eq!(w.comments_marked(n, "escalate-1"), 1, "issue #{n}");
        assert_eq!(w.comments_marked(n, "escalate-2"), 1, "issue #{n}");
    }
    let steps: Vec<u8> = w
        .incident("inc-8")
        .escalations
        .iter()
        .map(|e| e.step)
        .collect();
    assert_eq!(steps, vec![1, 2], "each step recorded once");
}

/// A step that falls due while one scope's issue cannot be opened (the token may not
/// create issues in that repository yet) is not recorded: once that issue opens it gets
/// the step too, and the issue that had it already gets nothing twice.
#[tokio::test]
async fn an_escalation_step_waits_for_every_scope_s_issue() {
    const OTHER: &str = "kubernetes/perf-tests";
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, _) = seven_merged(&fake);
    fake.add_repo(OTHER);
    let w = World::start(fake, |_| {}).await;
    let mut incident = regression("inc-9", Some(&green), Some(&red));
    incident.scopes.push(Scope {
        repo: RepoName::parse(OTHER).unwrap(),
        branch: "master".into(),
    });
    w.put(&incident);
    w.fake.forbid("POST", &format!("/repos/{OTHER}/issues"));
    w.set_clock(minutes(60));
    let report = w.reconciler.reconcile().await.unwrap();
    assert!(!report.converged(), "no issue in {OTHER}");
    assert!(w.fake.issues(OTHER).is_empty());
    let issue = w.issue_number();
    assert_eq!(w.comments_marked(issue, "escalate-1"), 1);
    assert!(
        w.incident("inc-9").escalations.is_empty(),
        "not recorded while {OTHER} has no issue"
    );

    w.fake.allow_all();
    w.set_clock(minutes(61));
    w.pass().await;
    let other = w.fake.issues(OTHER);
    assert_eq!(other.len(), 1, "{other:?}");
    let said = w
        .fake
        .comments(OTHER, other[0].number)
        .into_iter()
        .filter(|c| c.body.contains(":escalate-1 -->"))
        .count();
    assert_eq!(said, 1, "the late issue gets the step");
    assert_eq!(w.comments_marked(issue, "escalate-1"), 1, "not twice");
    let steps: Vec<u8> = w
        .incident("inc-9")
        .escalations
        .iter()
        .map(|e| e.step)
        .collect();
    assert_eq!(steps, vec![1]);
}

#[tokio::test]
async fn a_range_longer_than_the_cap_is_searched_in_part_and_said_once() {
    let fake = FakeGithub::start().await.unwrap();
    let green = fake.push_commit(REPO, "master", "green");
    let mut prs = Vec::new();
    for i in 0..260 {
        prs.push(
            fake.merge_pr(
                REPO,
                MergedPr::new("master", &format!("change {i}"), minutes(-230 + i / 2)).squashed(),
            )
            .number,
        );
    }
    let red = fake.branch_head(REPO, "master").unwrap();
    // No hot paths: no file lists to read.
    let w = World::start(fake, |c| c.jobs[0].suspects = Default::default()).await;
    w.put(&regression("inc-6", Some(&green), Some(&red)));
    w.pass().await;
    let incident = w.incident("inc-6");
    assert_eq!(incident.suspects.len(), 250, "the oldest 250 commits");
    assert!(incident.suspects.iter().all(|s| s.pr.0 <= prs[249]));
    assert!(matches!(
        incident.searches[0].range,
        SuspectRange::Commits { commits: 260, .. }
    ));
    assert_eq!(
        w.requests_to("GET", "/compare/"),
        3,
        "pages of 100 up to the cap"
    );
    let issue = w.issue_number();
    assert_eq!(w.comments_marked(issue, "range-cut/master"), 1);
    let said = w
        .fake
        .comments(REPO, issue)
        .into_iter()
        .find(|c| c.body.contains(":range-cut/master -->"))
        .unwrap()
        .body;
    assert!(said.contains("260") && said.contains("250"), "{said}");
    w.pass().await;
    assert_eq!(w.comments_marked(issue, "range-cut/master"), 1, "once");
}

/// The whole plugin, as Prow runs it: an approver's `/scalability-revert #N` on the blocker
/// issue opens the revert PR through GraphQL; it is exempt and never labelled, a
/// `pull_request opened` webhook for it labels nothing, a revert of a revert is refused
/// with the gate's explanation, and a restart opens no second revert.
#[tokio::test]
async fn the_running_plugin_reverts_on_command_and_refuses_a_revert_of_a_revert() {
    use serde_json::json;

    const KEY: &str = "hook-secret";
    let world = common::World::builder().key(KEY).build().await;
    let fake = &world.fake;
    let (green, red, prs) = seven_merged(fake);
    let bystander = fake.add_pr(REPO, PrSpec::new("master").title("Unrelated work"));
    let mut config = world.config();
    let ours = self::config(fake, world.dir.path());
    config.github = ours.github.clone();
    config.jobs = ours.jobs.clone();
    config.label_prs = LabelPrs::All;
    config.approvers = ours.approvers.clone();
    {
        let store = Store::open(&config.store_path).unwrap();
        store
            .put_incident(&regression("inc-e2e", Some(&green), Some(&red)))
            .unwrap();
        store.flush().await.unwrap();
    }
    let plugin = common::Plugin::start(config.clone()).await;
    let issue = common::eventually("the blocker issue with the suspects table", || {
        let issue = fake.issues(REPO).into_iter().find(|i| i.is_open())?;
        issue
            .body_text()
            .contains(&format!("| #{} |", prs[2]))
            .then_some(issue.number)
    })
    .await;
    common::eventually("the other open PR labelled", || {
        fake.labels_of(REPO, bystander)
            .iter()
            .any(|l| l == LABEL)
            .then_some(())
    })
    .await;

    let mut deliveries = 0;
    let mut comment = |body: &str| {
        deliveries += 1;
        let id = fake.add_comment(REPO, issue, APPROVER, body);
        let payload = json!({
            "action": "created",
            "repository": {"full_name": REPO},
            "issue": {"number": issue, "title": "blocked", "labels": [{"name": "tide/merge-blocker"}]},
            "comment": {"id": id, "body": body, "html_url": "", "user": {"login": APPROVER, "type": "User"}},
            "sender": {"login": APPROVER, "type": "User"},
        });
        (
            serde_json::to_vec(&payload).unwrap(),
            format!("delivery-{deliveries}"),
        )
    };
    let url = plugin.url();
    let (body, delivery) = comment(&format!("/scalability-revert #{}", prs[2]));
    assert_eq!(
        common::post_webhook(&url, KEY, "issue_comment", &delivery, &body).await,
        200
    );
    let revert_pr = common::eventually("the revert PR opened", || {
        fake.pulls(REPO)
            .into_iter()
            .find(|p| p.pull.title == "Revert \"apiserver: new watch cache\"")
            .map(|p| p.pull.number)
    })
    .await;
    // The gate linked it: the table says so, the PR and the issue are told Tide holds it.
    common::eventually("the table shows the revert", || {
        let body = fake.issue(REPO, issue)?.body.unwrap_or_default();
        body.contains(&format!("reverted in #{revert_pr}"))
            .then_some(())
    })
    .await;
    common::eventually("the hard-block notices", || {
        let on_pr = fake
            .comments(REPO, revert_pr)
            .iter()
            .any(|c| c.body.contains(":revert-notice -->"));
        let on_issue = fake.comments(REPO, issue).iter().any(|c| {
            c.body
                .contains(&format!(":revert-hard-block/{revert_pr} -->"))
        });
        (on_pr && on_issue).then_some(())
    })
    .await;

    // A revert of a revert (frank's PR reverts #4321) is refused, with the reason.
    let (body, delivery) = comment(&format!("/scalability-revert #{}", prs[5]));
    assert_eq!(
        common::post_webhook(&url, KEY, "issue_comment", &delivery, &body).await,
        200
    );
    let refusal = common::eventually("the refusal", || {
        fake.comments(REPO, issue)
            .into_iter()
            .find(|c| c.body.contains("I will not revert"))
            .map(|c| c.body)
    })
    .await;
    assert!(refusal.contains("itself a revert of #4321"), "{refusal}");

    // GitHub tells the plugin the revert PR was opened: it is exempt, so nothing happens.
    let pr = fake.pull(REPO, revert_pr).unwrap();
    let payload = json!({
        "action": "opened",
        "number": revert_pr,
        "repository": {"full_name": REPO},
        "pull_request": {
            "number": revert_pr, "title": pr.title,
            "user": {"login": pr.user.login, "type": "User"},
            "labels": [], "base": {"ref": "master", "sha": "b".repeat(40)},
            "head": {"ref": pr.head.branch, "sha": pr.head.sha},
            "merged": false, "merged_at": null, "merge_commit_sha": null, "merged_by": null,
        },
        "sender": {"login": pr.user.login, "type": "User"},
    });
    let body = serde_json::to_vec(&payload).unwrap();
    assert_eq!(
        common::post_webhook(&url, KEY, "pull_request", "delivery-opened", &body).await,
        200
    );
    // Sync point: the fast path read that PR after the event.
    fake.clear_log();
    let (body, delivery) = comment("/scalability-status");
    assert_eq!(
        common::post_webhook(&url, KEY, "issue_comment", &delivery, &body).await,
        200
    );
    common::eventually("the status reply", || {
        fake.comments(REPO, issue)
            .iter()
            .any(|c| {
                c.body.contains("scalability-gate:reply-")
                    && c.body.contains("inc-e2e")
                    && c.body.contains("active")
            })
            .then_some(())
    })
    .await;
    plugin.stop().await;

    // After a restart: a full pass, and still one revert PR.
    fake.clear_log();
    let plugin = common::Plugin::start(config).await;
    common::eventually("a pass reached the revert notices", || {
        fake.requests()
            .iter()
            .any(|r| {
                r.method == "GET" && r.path.ends_with(&format!("/issues/{revert_pr}/comments"))
            })
            .then_some(())
    })
    .await;
    plugin.stop().await;
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.path == "/graphql")
            .count(),
        0,
        "no second revert after a restart"
    );
    let reverts = fake
        .pulls(REPO)
        .into_iter()
        .filter(|p| p.pull.title.starts_with("Revert \"apiserver"))
        .count();
    assert_eq!(reverts, 1);
    assert!(fake.labels_of(REPO, revert_pr).is_empty(), "never labelled");
    assert!(fake.labels_of(REPO, bystander).iter().any(|l| l == LABEL));
    let store = Store::open(&world.store_path()).unwrap();
    let incident = store
        .incident(&IncidentId::new("inc-e2e"))
        .unwrap()
        .unwrap();
    assert_eq!(
        incident.reverts.len(),
        1,
        "the revert of a revert was not recorded"
    );
    assert_eq!(incident.reverts[0].revert_pr, Some(PrNumber(revert_pr)));
    assert!(incident.is_exempt(&repo(), PrNumber(revert_pr)));
}

#[tokio::test]
async fn without_hot_paths_only_sizeable_prs_have_their_files_read_and_soft_mode_says_nothing() {
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    // Soft mode (no blocker issue) and no hot paths.
    let w = World::start(fake, |c| {
        c.jobs[0].suspects.hot_paths.clear();
        c.tide.blocker_label = String::new();
    })
    .await;
    let mut incident = regression("inc-9", Some(&green), Some(&red));
    incident.reverts.push(asked_by_approver(prs[2], minutes(5)));
    w.put(&incident);
    w.pass().await;
    // carol's (1700 lines) and dave's (260) files are read; the small ones' are not.
    let mut read: Vec<u64> = w
        .fake
        .requests()
        .iter()
        .filter_map(|r| {
            r.path
                .strip_prefix(&format!("/repos/{REPO}/pulls/"))?
                .strip_suffix("/files")?
                .parse()
                .ok()
        })
        .collect();
    read.sort();
    assert_eq!(read, vec![prs[2], prs[3]]);
    let incident = w.incident("inc-9");
    let carol = incident.suspects.iter().find(|s| s.pr.0 == prs[2]).unwrap();
    assert!(
        carol.reasons.iter().any(|r| r.contains("in 2 files")),
        "{:?}",
        carol.reasons
    );
    // Soft mode: the exempt revert merges through Tide, so there is nothing to warn about.
    let revert_pr = incident.reverts[0].revert_pr.expect("opened");
    assert!(w.fake.comments(REPO, revert_pr.0).is_empty());
    assert!(w.fake.labels_of(REPO, revert_pr.0).is_empty());
    let hard_block = w
        .fake
        .comments(REPO, w.issue_number())
        .iter()
        .filter(|c| c.body.contains(":revert-hard-block/"))
        .count();
    assert_eq!(hard_block, 0);
}

/// A stranger pastes the markers of the revert's hard-block notices (on the revert PR, and
/// on the incident's issue the plugin opened before a crash) and of the first escalation
/// step, before the plugin says any of them. The plugin still says each once, as its own
/// login, and leaves the stranger's comments alone.
#[tokio::test]
async fn forged_revert_and_escalation_markers_change_nothing() {
    use scalability_gate::comment;
    use scalability_gate::github::fake::FAKE_LOGIN;
    let fake = FakeGithub::start().await.unwrap();
    let (green, red, prs) = seven_merged(&fake);
    // The revert the plugin opened before a crash (only its own is adopted).
    let by_hand = fake.add_pr(
        REPO,
        PrSpec::new("master")
            .title("Revert \"apiserver: new watch cache\"")
            .author(FAKE_LOGIN),
    );
    fake.set_body(REPO, by_hand, &format!("Reverts {REPO}#{}", prs[2]));
    let id = IncidentId::new("inc-forged");
    let issue = fake.add_issue(
        REPO,
        "Merges blocked branch:master",
        &format!(
            "Opened before a crash.\n\n{}",
            comment::issue_marker(&id, "master")
        ),
        FAKE_LOGIN,
        &["tide/merge-blocker"],
    );
    let forged = [
        (by_hand, comment::revert_notice_marker(&id)),
        (
            issue,
            comment::revert_hard_block_marker(&id, PrNumber(by_hand)),
        ),
        (issue, comment::escalation_marker(&id, 1)),
    ];
    for (number, marker) in &forged {
        fake.add_comment(REPO, *number, "mallory", &format!("Done.\n\n{marker}"));
    }
    let w = World::start(fake, |_| {}).await;
    let mut incident = regression(id.as_str(), Some(&green), Some(&red));
    incident.reverts.push(asked_by_approver(prs[2], minutes(5)));
    w.put(&incident);
    w.set_clock(minutes(60));
    w.pass().await;

    let incident = w.incident(id.as_str());
    assert_eq!(incident.reverts[0].revert_pr, Some(PrNumber(by_hand)));
    assert_eq!(
        incident.escalations.len(),
        1,
        "the first step was posted and recorded"
    );
    let by = |number: u64, login: &str, marker: &str| {
        w.fake
            .comments(REPO, number)
            .iter()
            .filter(|c| c.user.login == login && c.body.contains(marker))
            .count()
    };
    for (number, marker) in &forged {
        assert_eq!(by(*number, FAKE_LOGIN, marker), 1, "{marker} on #{number}");
        assert_eq!(by(*number, "mallory", marker), 1, "{marker} left alone");
    }
    // Once: another pass says nothing more.
    w.fake.clear_log();
    w.pass().await;
    assert_eq!(w.requests_to("POST", "/comments"), 0);
}
