//! The GitHub client against the stateful fake GitHub over real sockets: headers,
//! pagination, labels, issues, comments, search, teams, retries, rate limits, pacing and
//! dry-run; then the reconciler: labels, blocker issues, announcements, lifting, crashes
//! and faults.

mod common;

use std::time::Duration;

use common::{eventually, github_client as client_with};
use scalability_gate::github::client::{Client, GithubError};
use scalability_gate::github::fake::{FakeGithub, Flaky, PrSpec};
use scalability_gate::github::types::{IssueEdit, IssueState, Label, NewIssue};
use scalability_gate::model::{PrNumber, RepoName};
use tokio::time::Instant;

const REPO: &str = "kubernetes/kubernetes";

fn repo() -> RepoName {
    RepoName::parse(REPO).unwrap()
}

/// A client of `fake` as every test here builds it (`common::github_client`).
fn client(fake: &FakeGithub) -> Client {
    client_with(fake, |_| {})
}

#[tokio::test]
async fn sends_github_headers_and_reads_own_login() {
    let fake = FakeGithub::start().await.unwrap();
    fake.set_login("k8s-ci-robot");
    let c = client(&fake);
    assert_eq!(c.own_login().await.unwrap().as_str(), "k8s-ci-robot");
    // Remembered: a second ask sends nothing.
    assert_eq!(c.own_login().await.unwrap().as_str(), "k8s-ci-robot");
    let log = fake.requests();
    assert_eq!(log.len(), 1);
    let r = &log[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/user"));
    assert_eq!(
        r.authorization.as_deref(),
        Some(format!("Bearer {}", fake.token()).as_str())
    );
    assert_eq!(r.api_version.as_deref(), Some("2022-11-28"));
    assert_eq!(r.accept.as_deref(), Some("application/vnd.github+json"));
    assert!(
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("scalability-gate/"))
    );
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_no_token_sends_nothing() {
    let fake = FakeGithub::start().await.unwrap();
    let wrong = client_with(&fake, |o| o.token = Some("nope".into()));
    let err = wrong.own_login().await.unwrap_err();
    assert_eq!(err.status(), Some(401), "{err}");
    let none = client_with(&fake, |o| o.token = None);
    let err = none.get_label(&repo(), "x").await.unwrap_err();
    assert!(matches!(err, GithubError::NoToken { .. }), "{err}");
    assert_eq!(
        fake.request_count(),
        1,
        "only the wrong-token request was sent"
    );
}

#[tokio::test]
async fn lists_open_prs_of_one_branch_across_pages() {
    let fake = FakeGithub::start().await.unwrap();
    for i in 0..250 {
        fake.add_pr(
            REPO,
            PrSpec::new("master")
                .title(&format!("pr {i}"))
                .labels(&["lgtm"]),
        );
    }
    for _ in 0..7 {
        fake.add_pr(REPO, PrSpec::new("release-1.34"));
    }
    let closed = fake.add_pr(REPO, PrSpec::new("master"));
    fake.close(REPO, closed, true);
    let c = client(&fake);
    let prs = c.list_open_pulls(&repo(), "master").await.unwrap();
    assert_eq!(prs.len(), 250);
    assert!(
        prs.iter()
            .all(|p| p.base_branch() == "master" && p.state == "open")
    );
    assert!(prs.iter().all(|p| p.has_label("LGTM")));
    let mut numbers: Vec<u64> = prs.iter().map(|p| p.number).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), 250, "no PR twice across pages");
    let pages: Vec<String> = fake.requests().iter().map(|r| r.query.clone()).collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[0].contains("base=master") && pages[0].contains("per_page=100"));
    assert!(pages[2].contains("page=3"), "{pages:?}");
    let release = c.list_open_pulls(&repo(), "release-1.34").await.unwrap();
    assert_eq!(release.len(), 7);
}

#[tokio::test]
async fn creates_the_label_only_when_missing() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_repo(REPO);
    let c = client(&fake);
    let label = Label {
        name: "do-not-merge/scalability-regression".into(),
        color: "e11d21".into(),
        description: Some("Blocked by scalability-gate".into()),
    };
    c.ensure_label(&repo(), &label).await.unwrap();
    let created = fake.repo_label(REPO, &label.name).unwrap();
    assert_eq!(
        created.description.as_deref(),
        Some("Blocked by scalability-gate")
    );
    assert_eq!(created.color, "e11d21");
    assert_eq!(fake.mutation_count(), 1);
    c.ensure_label(&repo(), &label).await.unwrap();
    assert_eq!(fake.mutation_count(), 1, "an existing label is only read");
    let err = c.create_label(&repo(), &label).await.unwrap_err();
    assert_eq!(err.status(), Some(422), "{err}");
    let log = fake.requests();
    assert!(
        log.iter().any(|r| r.path
            == "/repos/kubernetes/kubernetes/labels/do-not-merge%2Fscalability-regression"),
        "label names are percent-encoded in paths: {log:?}"
    );
}

#[tokio::test]
async fn adds_and_removes_a_label_with_a_slash() {
    let fake = FakeGithub::start().await.unwrap();
    let pr = fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm"]));
    let c = client(&fake);
    let label = "do-not-merge/scalability-regression".to_string();
    let now = c
        .add_labels(&repo(), PrNumber(pr), std::slice::from_ref(&label))
        .await
        .unwrap();
    assert_eq!(now.len(), 2);
    assert_eq!(fake.labels_of(REPO, pr), vec!["lgtm", label.as_str()]);
    assert!(c.remove_label(&repo(), PrNumber(pr), &label).await.unwrap());
    assert_eq!(fake.labels_of(REPO, pr), vec!["lgtm"]);
    assert!(
        !c.remove_label(&repo(), PrNumber(pr), &label).await.unwrap(),
        "removing a label the PR lacks is a 404, reported as false"
    );
}

#[tokio::test]
async fn team_membership_is_active_membership_only() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_team_member("kubernetes/sig-scalability-leads", "wojtek-t");
    fake.add_pending_team_member("kubernetes/sig-scalability-leads", "newcomer");
    let c = client(&fake);
    assert!(
        c.is_team_member("kubernetes", "sig-scalability-leads", "wojtek-t")
            .await
            .unwrap()
    );
    assert!(
        !c.is_team_member("kubernetes", "sig-scalability-leads", "newcomer")
            .await
            .unwrap()
    );
    assert!(
        !c.is_team_member("kubernetes", "sig-scalability-leads", "someone")
            .await
            .unwrap()
    );
    assert!(
        !c.is_team_member("kubernetes", "other", "wojtek-t")
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn issues_comments_lists_and_search() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_repo(REPO);
    fake.add_issue(REPO, "unrelated", "", "someone", &["kind/bug"]);
    let c = client(&fake);
    let marker = "<!-- scalability-gate:inc-1:blocker:master -->";
    let issue = c
        .create_issue(
            &repo(),
            &NewIssue {
                title: "Merges blocked branch:master".into(),
                body: format!("why\n{marker}"),
                labels: vec!["tide/merge-blocker".into()],
            },
        )
        .await
        .unwrap();
    assert_eq!(issue.number, 2, "issues and PRs share one number space");
    assert_eq!(issue.user.login, "scalability-gate-bot");
    let listed = c
        .list_issues(&repo(), &["tide/merge-blocker"], IssueState::Open)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].body_text().contains(marker));
    let found = c
        .search_issues(&format!(
            "repo:{REPO} is:issue label:\"tide/merge-blocker\" in:body \"scalability-gate:inc-1:blocker\""
        ))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].number, 2);
    let n = PrNumber(issue.number);
    // GitHub's body limit, in characters (not bytes), on comments and issue edits alike.
    let limit = scalability_gate::github::fake::MAX_BODY_CHARS;
    c.create_comment(&repo(), n, &"é".repeat(limit))
        .await
        .unwrap();
    let refused = c
        .create_comment(&repo(), n, &"é".repeat(limit + 1))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("body is too long"),
        "{refused}"
    );
    let edit = IssueEdit {
        body: Some("x".repeat(limit + 1)),
        ..IssueEdit::default()
    };
    assert!(c.edit_issue(&repo(), n, &edit).await.is_err());
    c.create_comment(&repo(), n, "hello").await.unwrap();
    fake.add_comment(REPO, issue.number, "wojtek-t", "/scalability-status");
    let comments = c.list_comments(&repo(), n).await.unwrap();
    assert_eq!(comments.len(), 3);
    assert_eq!(comments[1].user.login, "scalability-gate-bot");
    assert_eq!(comments[2].body, "/scalability-status");
    c.edit_issue(
        &repo(),
        n,
        &IssueEdit {
            body: Some("new body".into()),
            ..IssueEdit::default()
        },
    )
    .await
    .unwrap();
    c.close_issue(&repo(), n).await.unwrap();
    let closed = c.get_issue(&repo(), n).await.unwrap().unwrap();
    assert!(!closed.is_open());
    assert_eq!(closed.body_text(), "new body");
    assert!(
        c.list_issues(&repo(), &["tide/merge-blocker"], IssueState::Open)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(c.get_issue(&repo(), PrNumber(99)).await.unwrap().is_none());
}

#[tokio::test(start_paused = true)]
async fn retries_5xx_and_dropped_connections_then_gives_up_within_bounds() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_label(REPO, "lgtm");
    let c = client(&fake);
    fake.fail_next(2);
    assert!(c.get_label(&repo(), "lgtm").await.unwrap().is_some());
    assert_eq!(fake.request_count(), 3);
    assert_eq!(c.counters().retries, 2);

    fake.drop_next(1);
    assert!(c.get_label(&repo(), "lgtm").await.unwrap().is_some());
    assert_eq!(c.counters().retries, 3);

    fake.clear_log();
    fake.fail_next(100);
    let err = c.get_label(&repo(), "lgtm").await.unwrap_err();
    assert_eq!(err.status(), Some(500), "{err}");
    assert_eq!(fake.request_count(), 5, "bounded attempts");
    fake.fail_next(0);
}

#[tokio::test]
async fn endpoints_are_tried_in_order() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_label(REPO, "lgtm");
    // A port nobody listens on stands for a ghproxy that is down.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let c = client_with(&fake, |o| o.endpoints = vec![dead, fake.url()]);
    assert!(c.get_label(&repo(), "lgtm").await.unwrap().is_some());
    assert_eq!(c.counters().requests, 2);
    assert_eq!(c.counters().retries, 0, "the fallback is not a retry round");

    // A 5xx from the first endpoint also moves on to the next at once.
    let c = client_with(&fake, |o| o.endpoints = vec![fake.url(), fake.url()]);
    fake.fail_next(1);
    assert!(c.get_label(&repo(), "lgtm").await.unwrap().is_some());
    assert_eq!(c.counters().retries, 0);
    assert_eq!(c.counters().requests, 2);
}

#[tokio::test(start_paused = true)]
async fn retry_after_pauses_every_request_of_the_client() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_label(REPO, "lgtm");
    let c = client(&fake);
    fake.rate_limit_next(1, 30);
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.get_label(&repo(), "lgtm").await }
    });
    eventually("the 403", || c.counters().rate_limited == 1).await;
    // Another request, started after the refusal, must wait out the same pause.
    let other = c.own_login().await.unwrap();
    assert_eq!(other.as_str(), "scalability-gate-bot");
    assert!(first.await.unwrap().unwrap().is_some());
    let log = fake.requests();
    let refused = log.iter().find(|r| r.status == 403).unwrap();
    let user = log.iter().find(|r| r.path == "/user").unwrap();
    assert!(
        user.at.duration_since(refused.at) >= Duration::from_secs(30),
        "GET /user went {:?} after the 403",
        user.at.duration_since(refused.at)
    );
    let retried: Vec<_> = log.iter().filter(|r| r.path.contains("/labels/")).collect();
    assert_eq!(retried.len(), 2);
    assert!(retried[1].at.duration_since(retried[0].at) >= Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_spent_primary_limit_waits_for_the_reset() {
    let fake = FakeGithub::start().await.unwrap();
    fake.add_label(REPO, "lgtm");
    let c = client(&fake);
    fake.exhaust_primary_limit_next(1, 120);
    assert!(c.get_label(&repo(), "lgtm").await.unwrap().is_some());
    let log = fake.requests();
    assert_eq!(log.len(), 2);
    // The reset is a wall-clock second, so allow the second it was rounded down in.
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_secs(119));
}

#[tokio::test(start_paused = true)]
async fn mutations_are_paced_within_the_minute_and_hour_budgets() {
    let fake = FakeGithub::start().await.unwrap();
    let prs: Vec<u64> = (0..12)
        .map(|_| fake.add_pr(REPO, PrSpec::new("master")))
        .collect();
    let c = client_with(&fake, |o| {
        o.mutations_per_minute = 5;
        o.mutations_per_hour = 100;
    });
    let start = Instant::now();
    for pr in &prs {
        c.add_labels(&repo(), PrNumber(*pr), &["x".to_string()])
            .await
            .unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_secs(120),
        "12 mutations at 5 a minute take two minutes, took {:?}",
        start.elapsed()
    );
    let times: Vec<Instant> = fake
        .requests()
        .iter()
        .filter(|r| r.is_mutation())
        .map(|r| r.at)
        .collect();
    assert_eq!(times.len(), 12);
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(60))
            .count();
        assert!(in_window <= 5, "{in_window} mutations within a minute");
    }
    // Reads are not paced.
    let before = Instant::now();
    c.list_open_pulls(&repo(), "master").await.unwrap();
    assert!(before.elapsed() < Duration::from_secs(1));

    let hourly = client_with(&fake, |o| {
        o.mutations_per_minute = 100;
        o.mutations_per_hour = 3;
    });
    let start = Instant::now();
    for pr in &prs[..4] {
        hourly
            .remove_label(&repo(), PrNumber(*pr), "x")
            .await
            .unwrap();
    }
    assert!(start.elapsed() >= Duration::from_secs(3600));
}

/// At most `budget` of `times` fall within any sliding minute.
fn within_a_minute(times: &[Instant], budget: usize) {
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| u.duration_since(*t) < Duration::from_secs(60))
            .count();
        assert!(in_window <= budget, "{in_window} mutations within a minute");
    }
}

fn mutation_times(fake: &FakeGithub) -> Vec<Instant> {
    fake.requests()
        .iter()
        .filter(|r| r.is_mutation())
        .map(|r| r.at)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_attempt_of_a_mutation_on_any_endpoint_takes_its_own_slot() {
    let fake = FakeGithub::start().await.unwrap();
    let prs: Vec<u64> = (0..3)
        .map(|_| fake.add_pr(REPO, PrSpec::new("master")))
        .collect();
    // Two endpoints, the first answering 500 to each label: the mutation is sent on to
    // the second at once, and GitHub receives both.
    let c = client_with(&fake, |o| {
        o.endpoints = vec![fake.url(), fake.url()];
        o.mutations_per_minute = 2;
        o.mutations_per_hour = 100;
    });
    for pr in &prs {
        fake.fail_next(1);
        c.add_labels(&repo(), PrNumber(*pr), &["x".to_string()])
            .await
            .unwrap();
        assert_eq!(fake.labels_of(REPO, *pr), vec!["x"]);
    }
    assert_eq!(
        fake.mutation_count(),
        6,
        "each label: a 500, then the failover"
    );
    assert_eq!(
        c.counters().paced,
        6,
        "one slot per attempt GitHub received"
    );
    assert_eq!(c.counters().mutations, 6);
    assert_eq!(c.counters().retries, 0, "failover is not a retry round");
    within_a_minute(&mutation_times(&fake), 2);

    // A retry round after a 5xx on the only endpoint takes a slot too.
    fake.clear_log();
    let single = client_with(&fake, |o| {
        o.mutations_per_minute = 2;
        o.mutations_per_hour = 100;
    });
    fake.fail_next(3);
    single
        .remove_label(&repo(), PrNumber(prs[0]), "x")
        .await
        .unwrap();
    assert_eq!(fake.mutation_count(), 4);
    assert_eq!(single.counters().paced, 4);
    within_a_minute(&mutation_times(&fake), 2);

    // A ghproxy that is down never receives the attempt: its slot is given back, so the
    // budget is spent on what reaches GitHub only.
    fake.clear_log();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let behind_dead = client_with(&fake, |o| {
        o.endpoints = vec![dead, fake.url()];
        o.mutations_per_minute = 2;
        o.mutations_per_hour = 100;
    });
    for pr in &prs[..2] {
        behind_dead
            .add_labels(&repo(), PrNumber(*pr), &["y".to_string()])
            .await
            .unwrap();
    }
    assert_eq!(fake.mutation_count(), 2);
    assert_eq!(
        behind_dead.counters().mutations,
        4,
        "two attempts per label"
    );
    assert_eq!(
        behind_dead.counters().paced,
        2,
        "slots given back for the dead one"
    );
}

#[tokio::test]
async fn dry_run_makes_no_mutating_request() {
    let fake = FakeGithub::start().await.unwrap();
    let pr = fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm"]));
    let c = client_with(&fake, |o| o.dry_run = true);
    assert!(c.is_dry_run());
    let label = Label {
        name: "do-not-merge/scalability-regression".into(),
        color: "e11d21".into(),
        description: None,
    };
    c.ensure_label(&repo(), &label).await.unwrap();
    c.add_labels(&repo(), PrNumber(pr), std::slice::from_ref(&label.name))
        .await
        .unwrap();
    assert!(c.remove_label(&repo(), PrNumber(pr), "lgtm").await.unwrap());
    let issue = c
        .create_issue(
            &repo(),
            &NewIssue {
                title: "t".into(),
                body: "b".into(),
                labels: vec![],
            },
        )
        .await
        .unwrap();
    assert_eq!(issue.number, 0, "nothing was created");
    let comment = c.create_comment(&repo(), PrNumber(pr), "hi").await.unwrap();
    assert_eq!(comment.id, 0);
    c.close_issue(&repo(), PrNumber(pr)).await.unwrap();
    assert!(
        c.graphql("mutation { x }", serde_json::json!({}))
            .await
            .unwrap()
            .is_null()
    );
    // Reads still happen.
    assert_eq!(c.list_open_pulls(&repo(), "master").await.unwrap().len(), 1);
    assert_eq!(fake.mutation_count(), 0);
    assert!(fake.request_count() >= 2);
    assert_eq!(c.counters().mutations, 0);
    assert_eq!(c.counters().dry_run_mutations, 7);
    assert_eq!(fake.labels_of(REPO, pr), vec!["lgtm"]);
}

#[tokio::test]
async fn the_fake_tells_when_a_request_happens_and_flakes_on_demand() {
    let fake = FakeGithub::start().await.unwrap();
    let pr = fake.add_pr(REPO, PrSpec::new("master"));
    let c = client(&fake);
    let seen = fake.on_request("POST", "/labels");
    c.add_labels(&repo(), PrNumber(pr), &["a".to_string()])
        .await
        .unwrap();
    let r = tokio::time::timeout(common::TIMEOUT, seen)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.path, format!("/repos/{REPO}/issues/{pr}/labels"));
    fake.set_flaky(Flaky {
        error_every: 2,
        rate_limit_every: 0,
        retry_after_secs: 0,
    });
    for _ in 0..4 {
        c.get_pull(&repo(), PrNumber(pr)).await.unwrap().unwrap();
    }
    assert!(fake.requests().iter().any(|r| r.status == 502));
}

// ----- the reconciler -----

mod reconciler {
    use std::sync::Arc;
    use std::time::Duration;

    use scalability_gate::Store;
    use scalability_gate::config::{Config, JobConfig, LabelPrs};
    use scalability_gate::github::client::ClientOptions;
    use scalability_gate::github::fake::{FakeGithub, Flaky, PrSpec};
    use scalability_gate::model::{
        BuildId, Cause, Exemption, ExemptionKind, Incident, IncidentId, IncidentState, JobName,
        Login, PrNumber, RepoName, RunRef, Scope, Suspect, Timestamp,
    };
    use scalability_gate::reconcile::{self, PrOutcome, Reconciler};

    const REPO: &str = "kubernetes/kubernetes";
    const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
    const LABEL: &str = "do-not-merge/scalability-regression";
    const BLOCKER: &str = "tide/merge-blocker";

    fn scope(branch: &str) -> Scope {
        Scope {
            repo: RepoName::parse(REPO).unwrap(),
            branch: branch.into(),
        }
    }

    fn run(build: &str) -> RunRef {
        RunRef {
            build_id: BuildId::new(build),
            url: format!("https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/{JOB}/{build}"),
            started_at: Some(Timestamp(1_790_000_000)),
            commits: Default::default(),
            finished_at: None,
        }
    }

    fn incident(id: &str, branches: &[&str]) -> Incident {
        Incident::new(
            IncidentId::new(id),
            JobName::new(JOB),
            Timestamp(1_790_000_100),
            Cause::Regression {
                first_red: run("1002"),
                last_green: run("1001"),
            },
            branches.iter().map(|b| scope(b)).collect(),
        )
    }

    fn lifted(mut incident: Incident) -> Incident {
        incident.state = IncidentState::Lifted {
            by: "wojtek-t".into(),
            reason: "reverted #7".into(),
            at: Timestamp(1_790_003_600),
        };
        incident
    }

    fn config(fake: &FakeGithub) -> Config {
        let mut c = Config {
            jobs: vec![JobConfig::new(JOB, REPO, "master")],
            dry_run: false,
            ..Config::default()
        };
        c.github.endpoints = vec![fake.url()];
        c
    }

    struct World {
        fake: FakeGithub,
        store: Store,
        reconciler: Reconciler,
    }

    async fn world_with(adjust: impl FnOnce(&mut Config, &mut ClientOptions)) -> World {
        let fake = FakeGithub::start().await.unwrap();
        fake.add_repo(REPO);
        let mut config = config(&fake);
        let client = crate::common::github_client(&fake, |options| {
            options.backoff_max = Duration::from_millis(50);
            adjust(&mut config, options);
            options.dry_run = config.dry_run;
        });
        let store = Store::temporary().unwrap();
        let reconciler = Reconciler::new(client, Arc::new(config), store.clone());
        World {
            fake,
            store,
            reconciler,
        }
    }

    async fn world() -> World {
        world_with(|_, _| {}).await
    }

    /// master: 3 ready, 2 lgtm only, 1 bare; release-1.34: 2 ready. Returns (ready, others,
    /// release) numbers.
    fn seed(fake: &FakeGithub) -> (Vec<u64>, Vec<u64>, Vec<u64>) {
        let mut ready = Vec::new();
        let mut others = Vec::new();
        let mut release = Vec::new();
        for i in 0..3 {
            ready.push(
                fake.add_pr(
                    REPO,
                    PrSpec::new("master")
                        .labels(&["lgtm", "approved"])
                        .title(&format!("ready {i}")),
                ),
            );
            if i < 2 {
                others.push(fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm"])));
            }
            if i < 2 {
                release.push(fake.add_pr(
                    REPO,
                    PrSpec::new("release-1.34").labels(&["lgtm", "approved"]),
                ));
            }
        }
        others.push(fake.add_pr(REPO, PrSpec::new("master")));
        (ready, others, release)
    }

    fn has(fake: &FakeGithub, pr: u64, label: &str) -> bool {
        fake.labels_of(REPO, pr).iter().any(|l| l == label)
    }

    #[tokio::test]
    async fn a_block_labels_only_the_scopes_ready_prs_and_opens_one_blocker_issue() {
        let w = world().await;
        let (ready, others, release) = seed(&w.fake);
        let mut inc = incident("ci-e2e-1002", &["master"]);
        inc.suspects.push(Suspect {
            repo: RepoName::parse(REPO).unwrap(),
            pr: PrNumber(7),
            title: "Make the scheduler faster".into(),
            author: Login::new("dev"),
            merged_at: None,
            score: 1.0,
            reasons: vec![],
            merge_commit: None,
            reverts: None,
        });
        let report = w
            .reconciler
            .reconcile_incidents(std::slice::from_ref(&inc))
            .await;
        assert!(report.converged(), "{report:?}");
        for pr in &ready {
            assert!(has(&w.fake, *pr, LABEL), "ready PR {pr} labelled");
        }
        for pr in others.iter().chain(&release) {
            assert!(!has(&w.fake, *pr, LABEL), "PR {pr} left alone");
        }
        let label = w.fake.repo_label(REPO, LABEL).unwrap();
        assert!(label.description.unwrap().contains("scalability-gate"));

        let issues = w.fake.issues(REPO);
        assert_eq!(issues.len(), 1, "{issues:?}");
        let issue = &issues[0];
        assert!(issue.is_open());
        assert!(issue.has_label(BLOCKER));
        assert!(issue.title.ends_with(" branch:master"), "{}", issue.title);
        let body = issue.body_text();
        for want in [
            "`kubernetes/kubernetes` branch `master`",
            JOB,
            "[1002](https://prow.k8s.io/view/gs/kubernetes-ci-logs/logs/",
            "[1001](",
            "/scalability-unblock",
            "members of `kubernetes/sig-scalability-leads`",
            "| #7 | Make the scheduler faster | `dev` |",
            "<!-- scalability-gate:ci-e2e-1002:issue/master -->",
        ] {
            assert!(body.contains(want), "missing {want:?} in\n{body}");
        }
        let comments = w.fake.comments(REPO, issue.number);
        assert_eq!(comments.len(), 1);
        assert!(
            comments[0]
                .body
                .contains("<!-- scalability-gate:ci-e2e-1002:announce -->")
        );

        // The blocker issue went out before any label.
        let mutations: Vec<_> = w
            .fake
            .requests()
            .into_iter()
            .filter(|r| r.is_mutation())
            .collect();
        let issue_at = mutations
            .iter()
            .position(|r| r.path.ends_with("/issues"))
            .unwrap();
        let first_label = mutations
            .iter()
            .position(|r| r.path.ends_with("/labels") && r.path.contains("/issues/"))
            .unwrap();
        assert!(issue_at < first_label);

        // A second pass changes nothing.
        w.fake.clear_log();
        let again = w.reconciler.reconcile_incidents(&[inc]).await;
        assert!(again.converged(), "{again:?}");
        assert_eq!(w.fake.mutation_count(), 0, "{:?}", w.fake.requests());
        assert_eq!(
            again.labels_added + again.comments_posted + again.issues_created,
            0
        );
    }

    #[tokio::test]
    async fn lifting_removes_every_label_then_comments_and_closes_the_issue() {
        let w = world().await;
        let (ready, others, release) = seed(&w.fake);
        let inc = incident("ci-e2e-1002", &["master"]);
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
        );
        // Someone put the label on a PR that is not ready, and on a release PR.
        w.fake.add_pr_label(REPO, others[0], LABEL);
        w.fake.add_pr_label(REPO, release[0], LABEL);

        let done = lifted(inc);
        let report = w
            .reconciler
            .reconcile_incidents(std::slice::from_ref(&done))
            .await;
        assert!(report.converged(), "{report:?}");
        for pr in ready.iter().chain(&others) {
            assert!(!has(&w.fake, *pr, LABEL), "label gone from {pr}");
        }
        assert!(
            has(&w.fake, release[0], LABEL),
            "another branch is not this scope"
        );
        let issue = &w.fake.issues(REPO)[0];
        assert!(!issue.is_open());
        let comments = w.fake.comments(REPO, issue.number);
        assert_eq!(comments.len(), 2);
        assert!(comments[1].body.contains("lifted by `wojtek-t`"));
        assert!(
            comments[1]
                .body
                .contains("<!-- scalability-gate:ci-e2e-1002:lifted -->")
        );
        assert!(w.store.is_cleaned(&done.id).unwrap());

        w.fake.clear_log();
        let again = w.reconciler.reconcile_incidents(&[done]).await;
        assert!(again.converged());
        assert_eq!(
            w.fake.request_count(),
            0,
            "a cleaned incident costs nothing"
        );
    }

    #[tokio::test]
    async fn a_lifted_incident_keeps_labels_another_active_one_still_needs() {
        let w = world().await;
        let (ready, _, _) = seed(&w.fake);
        let first = incident("a-1", &["master"]);
        let mut second = incident("b-1", &["master"]);
        second.job = JobName::new("another-job");
        let both = [first.clone(), second.clone()];
        assert!(w.reconciler.reconcile_incidents(&both).await.converged());
        assert_eq!(
            w.fake.issues(REPO).len(),
            2,
            "one issue per incident and scope"
        );
        let report = w
            .reconciler
            .reconcile_incidents(&[lifted(first), second])
            .await;
        assert!(report.converged(), "{report:?}");
        assert!(ready.iter().all(|pr| has(&w.fake, *pr, LABEL)));
        let open: Vec<_> = w
            .fake
            .issues(REPO)
            .into_iter()
            .filter(|i| i.is_open())
            .collect();
        assert_eq!(open.len(), 1);
        assert!(open[0].body_text().contains("b-1:issue/master"));
    }

    #[tokio::test]
    async fn a_lost_cache_never_duplicates_an_issue_or_a_comment() {
        let w = world().await;
        seed(&w.fake);
        let inc = incident("ci-e2e-1002", &["master"]);
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
        );
        // A crash between "created on GitHub" and "remembered in the store".
        w.store.forget_reconcile_cache().unwrap();
        w.fake.clear_log();
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
        );
        assert_eq!(w.fake.mutation_count(), 0, "{:?}", w.fake.requests());
        assert_eq!(w.fake.issues(REPO).len(), 1);
        // Lifting after the cache is lost again still finds the issue and says it once.
        w.store.forget_reconcile_cache().unwrap();
        let done = lifted(inc);
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&done))
                .await
                .converged()
        );
        w.store.forget_reconcile_cache().unwrap();
        assert!(w.reconciler.reconcile_incidents(&[done]).await.converged());
        let issue = &w.fake.issues(REPO)[0];
        assert_eq!(w.fake.comments(REPO, issue.number).len(), 2);
    }

    #[tokio::test]
    async fn an_issue_closed_by_hand_while_active_is_reopened() {
        let w = world().await;
        let inc = incident("ci-e2e-1002", &["master"]);
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
        );
        let number = w.fake.issues(REPO)[0].number;
        w.fake.close(REPO, number, false);
        assert!(w.reconciler.reconcile_incidents(&[inc]).await.converged());
        let issues = w.fake.issues(REPO);
        assert_eq!(issues.len(), 1);
        assert!(issues[0].is_open());
        assert_eq!(w.fake.comments(REPO, number).len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn converges_while_github_fails_part_of_the_time() {
        let w = world_with(|_, o| o.max_attempts = 2).await;
        let (ready, others, _) = seed(&w.fake);
        for _ in 0..20 {
            w.fake
                .add_pr(REPO, PrSpec::new("master").labels(&["lgtm", "approved"]));
        }
        w.fake.set_flaky(Flaky {
            error_every: 3,
            rate_limit_every: 7,
            retry_after_secs: 2,
        });
        let inc = incident("ci-e2e-1002", &["master"]);
        let mut passes = 0;
        loop {
            passes += 1;
            assert!(passes <= 30, "did not converge");
            if w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
            {
                break;
            }
        }
        let log = w.fake.requests();
        assert!(log.iter().any(|r| r.status == 502) && log.iter().any(|r| r.status == 403));
        w.fake.set_flaky(Flaky::default());
        for pr in &ready {
            assert!(has(&w.fake, *pr, LABEL));
        }
        assert!(others.iter().all(|pr| !has(&w.fake, *pr, LABEL)));
        let issues = w.fake.issues(REPO);
        assert_eq!(issues.len(), 1);
        assert_eq!(w.fake.comments(REPO, issues[0].number).len(), 1);
        w.fake.clear_log();
        assert!(w.reconciler.reconcile_incidents(&[inc]).await.converged());
        assert_eq!(w.fake.mutation_count(), 0);
    }

    #[tokio::test]
    async fn exempt_prs_are_never_labelled_and_lose_a_label_they_had() {
        let w = world().await;
        let (ready, _, _) = seed(&w.fake);
        let mut inc = incident("ci-e2e-1002", &["master"]);
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
        );
        inc.exemptions.push(Exemption {
            repo: RepoName::parse(REPO).unwrap(),
            pr: PrNumber(ready[0]),
            kind: ExemptionKind::Approver,
            by: Login::new("wojtek-t"),
            reason: "the fix".into(),
            at: Timestamp(1_790_000_500),
        });
        assert!(w.reconciler.reconcile_incidents(&[inc]).await.converged());
        assert!(!has(&w.fake, ready[0], LABEL));
        assert!(has(&w.fake, ready[1], LABEL));
    }

    #[tokio::test]
    async fn all_mode_labels_every_open_pr_ready_ones_first() {
        let w = world_with(|c, _| c.label_prs = LabelPrs::All).await;
        let (ready, others, release) = seed(&w.fake);
        let inc = incident("ci-e2e-1002", &["master"]);
        assert!(w.reconciler.reconcile_incidents(&[inc]).await.converged());
        for pr in ready.iter().chain(&others) {
            assert!(has(&w.fake, *pr, LABEL));
        }
        assert!(release.iter().all(|pr| !has(&w.fake, *pr, LABEL)));
        let labelled: Vec<u64> = w
            .fake
            .requests()
            .iter()
            .filter(|r| {
                r.method == "POST" && r.path.ends_with("/labels") && r.path.contains("/issues/")
            })
            .map(|r| r.path.split('/').nth(5).unwrap().parse().unwrap())
            .collect();
        assert_eq!(labelled.len(), 6);
        let mut first: Vec<u64> = labelled[..3].to_vec();
        first.sort();
        assert_eq!(first, ready, "ready PRs first");
    }

    #[tokio::test]
    async fn the_fast_path_labels_a_pr_that_became_ready_and_restores_a_removed_label() {
        let w = world().await;
        let (ready, others, release) = seed(&w.fake);
        let inc = incident("ci-e2e-1002", &["master"]);
        let incidents = [inc];
        assert!(
            w.reconciler
                .reconcile_incidents(&incidents)
                .await
                .converged()
        );
        let repo = RepoName::parse(REPO).unwrap();
        let pr = others[0];
        w.fake.add_pr_label(REPO, pr, "approved");
        w.fake.clear_log();
        let outcome = w
            .reconciler
            .ensure_pr(&incidents, &repo, PrNumber(pr))
            .await
            .unwrap();
        assert_eq!(outcome, PrOutcome::Labelled);
        assert!(has(&w.fake, pr, LABEL));
        assert_eq!(w.fake.mutation_count(), 1);
        // Asking again changes nothing.
        let outcome = w
            .reconciler
            .ensure_pr(&incidents, &repo, PrNumber(pr))
            .await
            .unwrap();
        assert_eq!(outcome, PrOutcome::Unchanged);
        assert_eq!(w.fake.mutation_count(), 1);
        // Someone removes the label by hand: it is put back.
        w.fake.remove_pr_label(REPO, ready[0], LABEL);
        let outcome = w
            .reconciler
            .ensure_pr(&incidents, &repo, PrNumber(ready[0]))
            .await
            .unwrap();
        assert_eq!(outcome, PrOutcome::Labelled);
        assert!(has(&w.fake, ready[0], LABEL));
        // A ready PR on a branch nothing blocks is left alone.
        let outcome = w
            .reconciler
            .ensure_pr(&incidents, &repo, PrNumber(release[0]))
            .await
            .unwrap();
        assert_eq!(outcome, PrOutcome::Unchanged);
        // A PR that is not ready is left alone in the default mode.
        let outcome = w
            .reconciler
            .ensure_pr(&incidents, &repo, PrNumber(others[2]))
            .await
            .unwrap();
        assert_eq!(outcome, PrOutcome::Unchanged);
    }

    #[tokio::test]
    async fn dry_run_reconciles_with_zero_mutating_requests() {
        let w = world_with(|c, _| c.dry_run = true).await;
        seed(&w.fake);
        let inc = incident("ci-e2e-1002", &["master"]);
        let report = w
            .reconciler
            .reconcile_incidents(std::slice::from_ref(&inc))
            .await;
        assert!(report.converged(), "{report:?}");
        assert_eq!(
            report.labels_added, 3,
            "what would be done is still reported"
        );
        assert_eq!(report.issues_created, 1);
        assert!(
            w.reconciler
                .reconcile_incidents(&[lifted(inc)])
                .await
                .converged()
        );
        assert!(w.fake.request_count() > 0, "reads happen");
        assert_eq!(w.fake.mutation_count(), 0);
        assert!(w.fake.issues(REPO).is_empty());
    }

    #[tokio::test]
    async fn without_a_blocker_label_a_tracking_issue_is_opened() {
        let w = world_with(|c, _| c.tide.blocker_label = String::new()).await;
        seed(&w.fake);
        let inc = incident("ci-e2e-1002", &["master"]);
        assert!(
            w.reconciler
                .reconcile_incidents(std::slice::from_ref(&inc))
                .await
                .converged()
        );
        let issues = w.fake.issues(REPO);
        assert_eq!(issues.len(), 1);
        assert!(!issues[0].has_label(BLOCKER));
        assert!(issues[0].has_label(LABEL));
        assert!(issues[0].body_text().contains("tracks the block"));
        assert_eq!(w.fake.comments(REPO, issues[0].number).len(), 1);
        w.store.forget_reconcile_cache().unwrap();
        w.fake.clear_log();
        assert!(w.reconciler.reconcile_incidents(&[inc]).await.converged());
        assert_eq!(w.fake.mutation_count(), 0);
    }

    #[tokio::test]
    async fn the_background_reconciler_runs_at_start_and_when_poked() {
        let w = world().await;
        let (ready, others, _) = seed(&w.fake);
        let handle = reconcile::Handle::default();
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(reconcile::run(
            w.reconciler.clone(),
            handle.clone(),
            stop_rx,
        ));
        // Nothing to do at start; then an incident is written and the reconciler poked.
        w.store
            .put_incident(&incident("ci-e2e-1002", &["master"]))
            .unwrap();
        handle.poke();
        crate::common::eventually("ready PRs labelled", || {
            ready.iter().all(|pr| has(&w.fake, *pr, LABEL))
        })
        .await;
        // A PR that becomes ready is labelled through the fast path.
        w.fake.add_pr_label(REPO, others[0], "approved");
        handle.label_pr(RepoName::parse(REPO).unwrap(), PrNumber(others[0]));
        crate::common::eventually("the new ready PR labelled", || {
            has(&w.fake, others[0], LABEL)
        })
        .await;
        stop_tx.send(true).unwrap();
        tokio::time::timeout(super::common::TIMEOUT, task)
            .await
            .unwrap()
            .unwrap();
    }
}

/// The plugin itself starts the reconciler: an incident already in the store is carried
/// out on GitHub at start-up.
#[tokio::test]
async fn the_running_plugin_reconciles_at_start() {
    use scalability_gate::Store;
    use scalability_gate::model::{Cause, Incident, IncidentId, JobName, Login, Scope, Timestamp};

    let fake = FakeGithub::start().await.unwrap();
    let ready = fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm", "approved"]));
    let dir = tempfile::tempdir().unwrap();
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, "secret\n").unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("  {}\n", fake.token())).unwrap();
    let store_path = dir.path().join("store");
    {
        let store = Store::open(&store_path).unwrap();
        store
            .put_incident(&Incident::new(
                IncidentId::new("by-hand-1"),
                JobName::new("ci-kubernetes-e2e-gce-scale-performance-100"),
                Timestamp(1_790_000_000),
                Cause::Manual {
                    by: Login::new("wojtek-t"),
                    reason: "testing".into(),
                },
                vec![Scope {
                    repo: repo(),
                    branch: "master".into(),
                }],
            ))
            .unwrap();
        store.flush().await.unwrap();
    }
    let mut config = common::test_config(&store_path, &hmac);
    config.dry_run = false;
    config.github.endpoints = vec![fake.url()];
    config.github.token_file = token;
    let plugin = common::Plugin::start(config).await;
    eventually("the ready PR labelled", || {
        fake.labels_of(REPO, ready)
            .iter()
            .any(|l| l == "do-not-merge/scalability-regression")
    })
    .await;
    eventually("the blocker issue", || fake.issues(REPO).len() == 1).await;
    plugin.stop().await;
}

/// The history endpoints the culprit search reads, and the one GraphQL mutation, against
/// the fake's seeded history.
mod history {
    use scalability_gate::github::GithubError;
    use scalability_gate::github::fake::{FakeGithub, MergedPr, PrSpec};
    use scalability_gate::model::{PrNumber, Timestamp};

    use super::{REPO, client, repo};

    const T0: i64 = 1_790_100_000;

    fn at(minutes: i64) -> Timestamp {
        Timestamp(T0 + minutes * 60)
    }

    #[tokio::test]
    async fn compare_lists_the_range_oldest_first_across_pages_and_caps_it() {
        let fake = FakeGithub::start().await.unwrap();
        let base = fake.push_commit(REPO, "master", "last green");
        let mut merges = Vec::new();
        for i in 0..130 {
            let m = fake.merge_pr(
                REPO,
                MergedPr::new("master", &format!("change {i}"), at(i)).squashed(),
            );
            merges.push(m);
        }
        // Another branch moves too: not in the range.
        fake.merge_pr(REPO, MergedPr::new("release-1.34", "backport", at(5)));
        let head = fake.branch_head(REPO, "master").unwrap();
        assert_eq!(head, merges.last().unwrap().merge_commit);
        let c = client(&fake);
        fake.clear_log();
        let all = c
            .compare(&repo(), &base, &head, 250)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(all.status, "ahead");
        assert_eq!(all.total_commits, 130);
        assert!(!all.truncated());
        let shas: Vec<&str> = all.commits.iter().map(|c| c.sha.as_str()).collect();
        let expected: Vec<&str> = merges.iter().map(|m| m.merge_commit.as_str()).collect();
        assert_eq!(shas, expected, "oldest first, every page");
        assert_eq!(all.commits[0].parents[0].sha, base);
        assert_eq!(
            all.commits[7].commit.message,
            format!("change 7 (#{})", merges[7].number)
        );
        let pages = fake.requests();
        assert_eq!(pages.len(), 2, "{pages:?}");
        assert!(
            pages[0]
                .path
                .ends_with(&format!("/compare/{base}...{head}"))
        );
        assert!(pages[1].query.contains("page=2"), "{pages:?}");

        // Capped: one page, and it says the range was cut.
        fake.clear_log();
        let capped = c.compare(&repo(), &base, &head, 50).await.unwrap().unwrap();
        assert_eq!(capped.commits.len(), 50);
        assert_eq!(capped.total_commits, 130);
        assert!(capped.truncated());
        assert_eq!(fake.request_count(), 1);

        // Unknown commits: None, not an error.
        assert!(
            c.compare(&repo(), &"f".repeat(40), &head, 250)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn merge_commits_map_to_their_pr_with_size_files_and_node_id() {
        let fake = FakeGithub::start().await.unwrap();
        let base = fake.push_commit(REPO, "master", "green");
        let files: Vec<String> = (0..150).map(|i| format!("pkg/scheduler/f{i}.go")).collect();
        let file_refs: Vec<&str> = files.iter().map(String::as_str).collect();
        let big = fake.merge_pr(
            REPO,
            MergedPr::new("master", "Scheduler: faster queue", at(1))
                .author("alice")
                .body("Makes the queue faster.")
                .labels(&["sig/scheduling", "lgtm"])
                .files(&file_refs)
                .size(1200, 300),
        );
        let unlinked = fake.merge_pr(
            REPO,
            MergedPr::new("master", "Only named in the message", at(2)).unlinked(),
        );
        let c = client(&fake);
        let comparison = c
            .compare(
                &repo(),
                &base,
                &fake.branch_head(REPO, "master").unwrap(),
                250,
            )
            .await
            .unwrap()
            .unwrap();
        // A merge commit PR brings two commits: its own and the merge (two parents).
        assert_eq!(comparison.total_commits, 4);
        let merge = comparison
            .commits
            .iter()
            .find(|c| c.sha == big.merge_commit)
            .unwrap();
        assert!(merge.is_merge());
        assert!(
            merge
                .commit
                .message
                .starts_with(&format!("Merge pull request #{} from alice/", big.number))
        );
        let pulls = c.pulls_of_commit(&repo(), &big.merge_commit).await.unwrap();
        assert_eq!(pulls.len(), 1);
        assert_eq!(pulls[0].pull.number, big.number);
        assert!(
            c.pulls_of_commit(&repo(), &unlinked.merge_commit)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            c.pulls_of_commit(&repo(), &"e".repeat(40))
                .await
                .unwrap()
                .is_empty(),
            "an unknown commit (422) has no PRs"
        );

        let detail = c
            .get_pull_detail(&repo(), PrNumber(big.number))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(detail.additions, Some(1200));
        assert_eq!(detail.deletions, Some(300));
        assert_eq!(detail.changed_files, Some(150));
        assert_eq!(
            detail.merge_commit_sha.as_deref(),
            Some(big.merge_commit.as_str())
        );
        assert_eq!(detail.merged(), Some(at(1)));
        assert_eq!(detail.body_text(), "Makes the queue faster.");
        assert_eq!(detail.pull.user.login, "alice");
        assert!(detail.pull.has_label("sig/scheduling"));
        assert!(detail.node_id.as_deref().is_some_and(|id| !id.is_empty()));
        assert!(
            c.get_pull_detail(&repo(), PrNumber(999))
                .await
                .unwrap()
                .is_none()
        );

        fake.clear_log();
        let listed = c
            .pull_files(&repo(), PrNumber(big.number), 3000)
            .await
            .unwrap();
        assert_eq!(listed.len(), 150);
        assert_eq!(listed[149].filename, "pkg/scheduler/f149.go");
        assert_eq!(fake.request_count(), 2, "two pages of 100");
        let few = c
            .pull_files(&repo(), PrNumber(big.number), 20)
            .await
            .unwrap();
        assert_eq!(few.len(), 20);
    }

    #[tokio::test]
    async fn lists_prs_merged_between_two_times_only() {
        let fake = FakeGithub::start().await.unwrap();
        let before = fake.merge_pr(REPO, MergedPr::new("master", "before", at(0)));
        let inside: Vec<u64> = (1..=3)
            .map(|i| {
                fake.merge_pr(
                    REPO,
                    MergedPr::new("master", &format!("in {i}"), at(10 * i)),
                )
                .number
            })
            .collect();
        let after = fake.merge_pr(REPO, MergedPr::new("master", "after", at(100)));
        fake.merge_pr(REPO, MergedPr::new("release-1.34", "other branch", at(15)));
        let closed = fake.add_pr(REPO, PrSpec::new("master"));
        fake.close(REPO, closed, false);
        let c = client(&fake);
        let window = c
            .merged_pulls_between(&repo(), "master", at(5), at(35), 10)
            .await
            .unwrap();
        assert!(window.complete, "one page, read to its end");
        let numbers: Vec<u64> = window.pulls.iter().map(|p| p.pull.number).collect();
        assert_eq!(numbers, inside, "merge order, window only");
        assert!(!numbers.contains(&before.number) && !numbers.contains(&after.number));
        let asked = fake.requests();
        let q = &asked.last().unwrap().query;
        assert!(
            q.contains("state=closed")
                && q.contains("base=master")
                && q.contains("sort=updated")
                && q.contains("direction=desc"),
            "{q}"
        );
    }

    /// A window with more merges than the pages allowed is read in its newest part, and
    /// the answer says it is not complete; one the pages cover is complete.
    #[tokio::test]
    async fn a_merged_window_longer_than_the_pages_says_it_is_incomplete() {
        let fake = FakeGithub::start().await.unwrap();
        let numbers: Vec<u64> = (0..130)
            .map(|i| {
                fake.merge_pr(
                    REPO,
                    MergedPr::new("master", &format!("change {i}"), at(10 + i)),
                )
                .number
            })
            .collect();
        let c = client(&fake);
        let cut = c
            .merged_pulls_between(&repo(), "master", at(5), at(500), 1)
            .await
            .unwrap();
        assert!(!cut.complete, "one page of 100 out of 130 merges");
        assert_eq!(cut.pulls.len(), 100);
        assert!(cut.pulls.iter().all(|p| p.pull.number >= numbers[30]));
        let whole = c
            .merged_pulls_between(&repo(), "master", at(5), at(500), 2)
            .await
            .unwrap();
        assert!(whole.complete);
        assert_eq!(whole.pulls.len(), 130);
    }

    #[tokio::test]
    async fn graphql_revert_opens_the_revert_pr_and_graphql_errors_are_errors() {
        let fake = FakeGithub::start().await.unwrap();
        let merged = fake.merge_pr(
            REPO,
            MergedPr::new("master", "Scheduler: faster queue", at(1)).author("alice"),
        );
        let c = client(&fake);
        let detail = c
            .get_pull_detail(&repo(), PrNumber(merged.number))
            .await
            .unwrap()
            .unwrap();
        fake.clear_log();
        let reverted = c
            .revert_pull(detail.node_id.as_deref().unwrap(), None, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reverted.reverted, PrNumber(merged.number));
        assert_eq!(fake.mutation_count(), 1);
        assert_eq!(fake.requests()[0].path, "/graphql");
        let pr = fake
            .pulls(REPO)
            .into_iter()
            .find(|p| PrNumber(p.pull.number) == reverted.revert)
            .unwrap();
        assert_eq!(pr.pull.state, "open");
        assert_eq!(pr.pull.base_branch(), "master");
        assert_eq!(pr.pull.title, "Revert \"Scheduler: faster queue\"");
        assert_eq!(pr.body_text(), format!("Reverts {REPO}#{}", merged.number));
        assert_eq!(
            pr.pull.head.branch,
            format!("revert-{}-alice-change-{}", merged.number, merged.number)
        );
        assert_eq!(
            pr.pull.user.login,
            scalability_gate::github::fake::FAKE_LOGIN
        );

        // GraphQL errors arrive with HTTP 200: the client returns them as errors.
        let err = c.revert_pull("PR_kwnope", None, None).await.unwrap_err();
        assert!(matches!(err, GithubError::Graphql(_)), "{err}");
        assert!(err.to_string().contains("Could not resolve"), "{err}");
        let open = c
            .get_pull_detail(&repo(), reverted.revert)
            .await
            .unwrap()
            .unwrap();
        let err = c
            .revert_pull(open.node_id.as_deref().unwrap(), None, None)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not been merged"), "{err}");
        let err = c
            .graphql("query { viewer { login } }", serde_json::json!({}))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("only the revertPullRequest"),
            "{err}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_graphql_rate_limit_pauses_every_request_and_is_sent_again() {
        use std::time::Duration;
        use tokio::time::Instant;

        let fake = FakeGithub::start().await.unwrap();
        let first = fake.merge_pr(REPO, MergedPr::new("master", "one", at(1)));
        let second = fake.merge_pr(REPO, MergedPr::new("master", "two", at(2)));
        let c = client(&fake);
        let node = |n: u64| {
            let c = c.clone();
            async move {
                c.get_pull_detail(&repo(), PrNumber(n))
                    .await
                    .unwrap()
                    .unwrap()
                    .node_id
                    .unwrap()
            }
        };
        let (one, two) = (node(first.number).await, node(second.number).await);
        fake.clear_log();

        // HTTP 200 with errors[].type RATE_LIMITED and Retry-After: 30.
        fake.graphql_rate_limited_next(1, Some(30));
        let revert = tokio::spawn({
            let c = c.clone();
            async move { c.revert_pull(&one, None, None).await }
        });
        crate::common::eventually("the RATE_LIMITED answer", || c.counters().rate_limited == 1)
            .await;
        // Another request, started after the refusal, waits out the same pause.
        c.own_login().await.unwrap();
        let reverted = revert.await.unwrap().expect("sent again after the pause");
        let reverted = reverted.expect("not dry-run");
        assert_eq!(reverted.reverted, PrNumber(first.number));
        let log = fake.requests();
        let graphql: Vec<_> = log.iter().filter(|r| r.path == "/graphql").collect();
        assert_eq!(graphql.len(), 2, "{log:?}");
        assert!(!graphql[0].applied && graphql[1].applied);
        let user = log.iter().find(|r| r.path == "/user").unwrap();
        assert!(user.at.duration_since(graphql[0].at) >= Duration::from_secs(30));
        assert!(graphql[1].at.duration_since(graphql[0].at) >= Duration::from_secs(30));
        assert_eq!(c.counters().paced, 2, "each attempt took a slot");
        let reverts = |fake: &FakeGithub| {
            fake.pulls(REPO)
                .iter()
                .filter(|p| p.pull.state == "open")
                .count()
        };
        assert_eq!(reverts(&fake), 1, "the limited attempt opened nothing");

        // Without Retry-After or a reset: GitHub's default wait, a minute.
        fake.clear_log();
        fake.graphql_rate_limited_next(1, None);
        let start = Instant::now();
        c.revert_pull(&two, None, None).await.unwrap().unwrap();
        let log = fake.requests();
        assert_eq!(log.len(), 2);
        assert!(log[1].at.duration_since(log[0].at) >= Duration::from_secs(60));
        assert!(start.elapsed() >= Duration::from_secs(60));
        assert_eq!(reverts(&fake), 2);

        // A limit that never lifts ends in an error after bounded pauses, not success.
        fake.graphql_rate_limited_next(100, Some(1));
        let err = c.revert_pull("PR_any", None, None).await.unwrap_err();
        assert!(matches!(err, GithubError::Graphql(_)), "{err}");
        assert!(err.to_string().contains("RATE_LIMITED"), "{err}");
        fake.graphql_rate_limited_next(0, None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_new_endpoints_ride_out_faults() {
        let fake = FakeGithub::start().await.unwrap();
        let base = fake.push_commit(REPO, "master", "green");
        let m = fake.merge_pr(REPO, MergedPr::new("master", "x", at(1)));
        let c = client(&fake);
        fake.fail_next(2);
        let comparison = c
            .compare(&repo(), &base, &m.merge_commit, 250)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(comparison.total_commits, 2);
        fake.drop_next(1);
        assert_eq!(
            c.pulls_of_commit(&repo(), &m.merge_commit)
                .await
                .unwrap()
                .len(),
            1
        );
        fake.rate_limit_next(1, 30);
        let detail = c
            .get_pull_detail(&repo(), PrNumber(m.number))
            .await
            .unwrap()
            .unwrap();
        // A 5xx may come after GitHub opened the revert: the client does not send it again
        // (the reconciler looks for an open revert first), the caller asks anew.
        fake.fail_next(1);
        let err = c
            .revert_pull(detail.node_id.as_deref().unwrap(), None, None)
            .await
            .unwrap_err();
        assert!(err.may_have_happened(), "{err}");
        let reverted = c
            .revert_pull(detail.node_id.as_deref().unwrap(), None, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reverted.reverted, PrNumber(m.number));
        assert_eq!(
            fake.pulls(REPO)
                .iter()
                .filter(|p| p.pull.state == "open")
                .count(),
            1,
            "a 500 before the mutation ran opens one revert, not two"
        );
    }
}
