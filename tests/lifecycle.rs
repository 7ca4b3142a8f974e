//! The incident lifecycle end to end (issue 17), over real sockets: runs with start times
//! pushed through the Results gRPC API, signed comment webhooks on `/hook`, the stateful
//! fake GitHub, and the plugin's own `/api/v1` read model. Where a command is said decides
//! what it touches; a lift while the job is red is provisional and the first red run
//! started after it re-blocks the same incident.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use scalability_gate::config::{Config, JobConfig};
use scalability_gate::github::fake::{FakeGithub, PrSpec};
use serde_json::Value;
use support::{Plugin, comment_payload, eventually, post_webhook, report_run_started, test_config};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const RELEASE_JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100-release";
const OTHER_JOB: &str = "ci-kubernetes-e2e-gce-scale-correctness";
const REPO: &str = "kubernetes/kubernetes";
const LABEL: &str = "do-not-merge/scalability-regression";
const BLOCKER: &str = "tide/merge-blocker";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";
const KEY: &str = "lifecycle-test-hmac-key";
const RELEASE: &str = "release-1.34";

/// The wall clock, in seconds: lifts are stamped with it, so runs are placed around it.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct Env {
    dir: tempfile::TempDir,
    fake: FakeGithub,
    deliveries: AtomicU64,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeGithub::start().await.unwrap();
        fake.add_team_member(TEAM, APPROVER);
        std::fs::write(dir.path().join("token"), format!("{}\n", fake.token())).unwrap();
        std::fs::write(dir.path().join("hmac"), KEY).unwrap();
        Env {
            dir,
            fake,
            deliveries: AtomicU64::new(0),
        }
    }

    fn store_path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// The plugin's config: `jobs` replace the default job.
    fn config(&self, jobs: Vec<JobConfig>) -> Config {
        let mut c = test_config(&self.store_path(), &self.dir.path().join("hmac"));
        c.dry_run = false;
        c.github.endpoints = vec![self.fake.url()];
        c.github.token_file = self.dir.path().join("token");
        c.approvers.teams = vec![TEAM.into()];
        c.approvers.users = vec![];
        c.jobs = jobs;
        c
    }

    /// Ready PRs #1 and #2 on master, a ready #3 on the release branch.
    fn seed_prs(&self) {
        let ready = ["lgtm", "approved"];
        assert_eq!(
            self.fake.add_pr(REPO, PrSpec::new("master").labels(&ready)),
            1
        );
        assert_eq!(
            self.fake.add_pr(REPO, PrSpec::new("master").labels(&ready)),
            2
        );
        assert_eq!(
            self.fake.add_pr(REPO, PrSpec::new(RELEASE).labels(&ready)),
            3
        );
    }

    fn has_label(&self, pr: u64) -> bool {
        self.fake.labels_of(REPO, pr).iter().any(|l| l == LABEL)
    }

    /// `author` comments `body` on `number` (posted on the fake, then delivered).
    async fn comment(&self, url: &str, number: u64, author: &str, body: &str) {
        let id = self.fake.add_comment(REPO, number, author, body);
        let body = comment_payload(&self.fake, number, id, author, body);
        let delivery = format!("life-{}", self.deliveries.fetch_add(1, Ordering::SeqCst));
        assert_eq!(
            post_webhook(url, KEY, "issue_comment", &delivery, &body).await,
            200
        );
    }

    /// Our replies on `number` (comments carrying a reply marker).
    fn replies(&self, number: u64) -> Vec<String> {
        self.fake
            .comments(REPO, number)
            .into_iter()
            .map(|c| c.body)
            .filter(|b| b.contains("scalability-gate:reply-"))
            .collect()
    }

    /// Every blocker issue of the repo (open or closed) whose title names `branch`.
    fn blockers(&self, branch: &str) -> Vec<scalability_gate::github::types::Issue> {
        self.fake
            .issues(REPO)
            .into_iter()
            .filter(|i| i.has_label(BLOCKER) && i.title.ends_with(&format!("branch:{branch}")))
            .collect()
    }

    fn open_blockers(&self, branch: &str) -> usize {
        self.blockers(branch).iter().filter(|i| i.is_open()).count()
    }
}

/// A job on master (`branch`), with `failures_to_confirm` and auto-unblock.
fn job(name: &str, branch: &str, confirm: u32, auto: bool) -> JobConfig {
    let mut j = JobConfig::new(name, REPO, branch);
    j.failures_to_confirm = confirm;
    j.auto_unblock_on_recovery = auto;
    j
}

/// Reports run `build` of `job` (`result`) that started at `started` (Unix seconds).
async fn report(grpc: &str, job: &str, build: u64, result: &str, started: i64) {
    report_run_started(grpc, job, build, result, started).await;
}

async fn get_json(url: &str) -> Value {
    reqwest::get(url).await.unwrap().json().await.unwrap()
}

/// The incident `id` as `/api/v1/incidents/{id}` shows it.
async fn incident(plugin: &Plugin, id: &str) -> Value {
    get_json(&format!("{}/api/v1/incidents/{id}", plugin.url())).await
}

/// Polls the incident until `check` holds.
async fn incident_until(
    plugin: &Plugin,
    id: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + support::TIMEOUT;
    loop {
        let json = incident(plugin, id).await;
        if check(&json) {
            return json;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}: {json}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Green then red, both started hours before now: the job's incident `{job}-{red}` opens.
async fn regress(grpc: &str, job: &str, green: u64, red: u64) {
    let t = now();
    report(grpc, job, green, "success", t - 5 * 3600).await;
    report(grpc, job, red, "failure", t - 4 * 3600).await;
}

#[tokio::test]
async fn unblock_on_a_master_pr_leaves_the_release_branch_blocked() {
    let env = Env::new().await;
    env.seed_prs();
    let plugin = Plugin::start(env.config(vec![
        job(JOB, "master", 1, false),
        job(RELEASE_JOB, RELEASE, 1, false),
    ]))
    .await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    regress(&grpc, JOB, 1, 2).await;
    regress(&grpc, RELEASE_JOB, 1, 2).await;
    eventually("both branches blocked", || {
        (env.has_label(1)
            && env.has_label(3)
            && env.open_blockers("master") == 1
            && env.open_blockers(RELEASE) == 1)
            .then_some(())
    })
    .await;

    env.comment(&url, 1, APPROVER, "/scalability-unblock fixed on master")
        .await;
    eventually("master unblocked", || {
        (!env.has_label(1) && !env.has_label(2) && env.open_blockers("master") == 0).then_some(())
    })
    .await;
    let reply = eventually("a reply", || env.replies(1).pop()).await;
    assert!(reply.contains(&format!("{JOB}-2")), "{reply}");
    assert!(!reply.contains(RELEASE_JOB), "{reply}");
    assert!(env.has_label(3), "the release branch stays blocked");
    assert_eq!(env.open_blockers(RELEASE), 1);
    let release = incident(&plugin, &format!("{RELEASE_JOB}-2")).await;
    assert_eq!(release["state"], "active", "{release}");
    let master = incident(&plugin, &format!("{JOB}-2")).await;
    assert_eq!(master["state"], "lifted", "{master}");

    // On a plain issue that is no blocker issue: nothing, and the reply says so.
    let plain = env.fake.add_issue(REPO, "a question", "body", "carol", &[]);
    env.comment(&url, plain, APPROVER, "/scalability-unblock")
        .await;
    let reply = eventually("a reply on the plain issue", || env.replies(plain).pop()).await;
    assert!(reply.contains("acts where it is said"), "{reply}");
    assert!(env.has_label(3));
    // A misspelt --final is a parse error, not a lift.
    env.comment(&url, 3, APPROVER, "/scalability-unblock --finale")
        .await;
    let reply = eventually("a reply on #3", || env.replies(3).pop()).await;
    assert!(reply.contains("unknown flag"), "{reply}");
    assert_eq!(
        incident(&plugin, &format!("{RELEASE_JOB}-2")).await["state"],
        "active"
    );
    assert!(env.has_label(3));
    plugin.stop().await;
}

#[tokio::test]
async fn exempt_and_exempt_cancel_on_one_branch() {
    let env = Env::new().await;
    env.seed_prs();
    let plugin = Plugin::start(env.config(vec![
        job(JOB, "master", 1, false),
        job(RELEASE_JOB, RELEASE, 1, false),
    ]))
    .await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    regress(&grpc, JOB, 1, 2).await;
    regress(&grpc, RELEASE_JOB, 1, 2).await;
    eventually("both branches labelled", || {
        (env.has_label(1) && env.has_label(3)).then_some(())
    })
    .await;

    env.comment(&url, 1, APPROVER, "/scalability-exempt fixes it")
        .await;
    eventually("#1 unlabelled", || (!env.has_label(1)).then_some(())).await;
    let master = incident(&plugin, &format!("{JOB}-2")).await;
    assert_eq!(
        master["exemptions"].as_array().unwrap().len(),
        1,
        "{master}"
    );
    let release = incident(&plugin, &format!("{RELEASE_JOB}-2")).await;
    assert_eq!(
        release["exemptions"].as_array().unwrap().len(),
        0,
        "the release branch's incident is untouched: {release}"
    );
    assert!(env.has_label(2));

    env.comment(&url, 1, APPROVER, "/scalability-exempt cancel")
        .await;
    eventually("#1 labelled again", || env.has_label(1).then_some(())).await;
    let master = incident(&plugin, &format!("{JOB}-2")).await;
    assert_eq!(
        master["exemptions"].as_array().unwrap().len(),
        0,
        "{master}"
    );

    // Cancel on a PR that is not exempt: a defined reply, nothing changes.
    env.comment(&url, 3, APPROVER, "/scalability-exempt cancel")
        .await;
    let reply = eventually("a reply on #3", || env.replies(3).pop()).await;
    assert!(reply.contains("is not exempt"), "{reply}");
    assert!(env.has_label(3));
    plugin.stop().await;
}

#[tokio::test]
async fn a_provisional_lift_reblocks_on_the_first_red_run_started_after_it() {
    let env = Env::new().await;
    env.seed_prs();
    let plugin = Plugin::start(env.config(vec![job(JOB, "master", 1, false)])).await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    let id = format!("{JOB}-2");
    regress(&grpc, JOB, 1, 2).await;
    eventually("blocked", || {
        (env.has_label(1) && env.open_blockers("master") == 1).then_some(())
    })
    .await;
    let issue = env.blockers("master")[0].number;

    let lifted_at = now();
    env.comment(&url, 1, APPROVER, "/scalability-unblock reverted #99")
        .await;
    let json = incident_until(&plugin, &id, "lifted", |j| j["state"] == "lifted").await;
    assert_eq!(json["resolved_how"], Value::Null);
    assert_eq!(json["lifts"][0]["by"], APPROVER);
    eventually("unblocked", || {
        (!env.has_label(1) && env.open_blockers("master") == 0).then_some(())
    })
    .await;

    // A red run already in flight at the lift: ignored.
    report(&grpc, JOB, 3, "failure", lifted_at - 3600).await;
    // Aborted and error runs started after the lift: neither red nor green.
    report(&grpc, JOB, 4, "aborted", lifted_at + 100).await;
    report(&grpc, JOB, 5, "error", lifted_at + 200).await;
    // Then a red run that started after the lift re-blocks the same incident.
    report(&grpc, JOB, 6, "failure", lifted_at + 3600).await;
    let json = incident_until(&plugin, &id, "re-blocked", |j| j["state"] == "active").await;
    assert_eq!(json["reblocks"], 1, "{json}");
    assert_eq!(json["reblock_history"][0]["run"]["build_id"], "6", "{json}");
    eventually("the same issue reopened and PRs labelled", || {
        (env.has_label(1) && env.has_label(2) && env.open_blockers("master") == 1).then_some(())
    })
    .await;
    assert_eq!(
        env.blockers("master").len(),
        1,
        "one issue per incident and branch, ever"
    );
    assert_eq!(env.blockers("master")[0].number, issue);
    let notice = eventually("the re-block comment", || {
        env.fake
            .comments(REPO, issue)
            .into_iter()
            .find(|c| c.body.contains(":reblock-1 -->"))
    })
    .await;
    assert!(
        notice.body.contains("https://prow.example/view/6"),
        "{}",
        notice.body
    );
    assert!(
        notice.body.contains(APPROVER),
        "names the lift: {}",
        notice.body
    );

    // Lifted again, then the first green run resolves it.
    env.comment(&url, 2, APPROVER, "/scalability-unblock second fix")
        .await;
    incident_until(&plugin, &id, "lifted again", |j| j["state"] == "lifted").await;
    eventually("unblocked again", || {
        (!env.has_label(1) && env.open_blockers("master") == 0).then_some(())
    })
    .await;
    report(&grpc, JOB, 7, "success", now() + 7200).await;
    let json = incident_until(&plugin, &id, "resolved", |j| j["state"] == "resolved").await;
    assert_eq!(json["resolved_how"], "green-after-lift", "{json}");
    assert_eq!(json["reblocks"], 1);
    assert_eq!(json["lifts"].as_array().unwrap().len(), 2);
    // Resolved: a later red run opens a new incident, never this one.
    let reblock_notices = env
        .fake
        .comments(REPO, issue)
        .into_iter()
        .filter(|c| c.body.contains(":reblock-"))
        .count();
    assert_eq!(reblock_notices, 1, "said once");
    let status = get_json(&format!("{}/api/v1/status", plugin.url())).await;
    assert!(
        status["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["id"] != id.as_str()),
        "{status}"
    );
    plugin.stop().await;
}

#[tokio::test]
async fn a_final_unblock_never_reblocks() {
    let env = Env::new().await;
    env.seed_prs();
    let plugin = Plugin::start(env.config(vec![job(JOB, "master", 1, false)])).await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    let id = format!("{JOB}-2");
    regress(&grpc, JOB, 1, 2).await;
    eventually("blocked", || env.has_label(1).then_some(())).await;
    let issue = env.blockers("master")[0].number;
    // On the blocker issue: that incident.
    env.comment(
        &url,
        issue,
        APPROVER,
        "/scalability-unblock --final the test was broken",
    )
    .await;
    let json = incident_until(&plugin, &id, "resolved", |j| j["state"] == "resolved").await;
    assert_eq!(json["resolved_how"], "final", "{json}");
    eventually("unblocked", || {
        (!env.has_label(1) && env.open_blockers("master") == 0).then_some(())
    })
    .await;
    report(&grpc, JOB, 3, "failure", now() + 3600).await;
    report(&grpc, JOB, 4, "success", now() + 7200).await;
    // The green run is recorded only after the red one (one ordered queue): once the job
    // shows green, the red run was seen and re-blocked nothing.
    let deadline = tokio::time::Instant::now() + support::TIMEOUT;
    loop {
        let status = get_json(&format!("{}/api/v1/status", plugin.url())).await;
        if status["jobs"][0]["health"] == "green" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{status}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let json = incident(&plugin, &id).await;
    assert_eq!(json["state"], "resolved", "{json}");
    assert_eq!(json["reblocks"], 0);
    assert!(!env.has_label(1));
    assert_eq!(env.open_blockers("master"), 0);
    plugin.stop().await;
}

#[tokio::test]
async fn two_jobs_red_on_one_branch_need_two_lifts() {
    let env = Env::new().await;
    env.seed_prs();
    let plugin = Plugin::start(env.config(vec![
        job(JOB, "master", 1, false),
        job(OTHER_JOB, "master", 1, false),
    ]))
    .await;
    let (url, grpc) = (plugin.url(), plugin.bound.grpc.to_string());
    regress(&grpc, JOB, 1, 2).await;
    regress(&grpc, OTHER_JOB, 1, 2).await;
    eventually("two issues", || {
        (env.open_blockers("master") == 2 && env.has_label(1)).then_some(())
    })
    .await;
    let issues: Vec<u64> = env.blockers("master").iter().map(|i| i.number).collect();
    let first = issues
        .iter()
        .copied()
        .find(|n| env.fake.issue(REPO, *n).unwrap().title.contains(JOB))
        .expect("the first job's issue");
    env.comment(&url, first, APPROVER, "/scalability-unblock")
        .await;
    eventually("one issue closed", || {
        (env.open_blockers("master") == 1).then_some(())
    })
    .await;
    let states = [
        incident(&plugin, &format!("{JOB}-2")).await["state"].clone(),
        incident(&plugin, &format!("{OTHER_JOB}-2")).await["state"].clone(),
    ];
    assert_eq!(
        states.iter().filter(|s| **s == "active").count(),
        1,
        "{states:?}"
    );
    assert!(
        env.has_label(1) && env.has_label(2),
        "still blocked by the other job"
    );
    env.comment(&url, 1, APPROVER, "/scalability-unblock").await;
    eventually("both lifted", || {
        (env.open_blockers("master") == 0 && !env.has_label(1) && !env.has_label(2)).then_some(())
    })
    .await;
    plugin.stop().await;
}

#[tokio::test]
async fn two_failures_to_confirm_and_auto_unblock_on_recovery() {
    let env = Env::new().await;
    env.seed_prs();
    let plugin = Plugin::start(env.config(vec![job(JOB, "master", 2, true)])).await;
    let grpc = plugin.bound.grpc.to_string();
    let t = now();
    report(&grpc, JOB, 1, "success", t - 6 * 3600).await;
    report(&grpc, JOB, 2, "failure", t - 5 * 3600).await;
    report(&grpc, JOB, 3, "error", t - 4 * 3600 - 1800).await;
    report(&grpc, JOB, 4, "aborted", t - 4 * 3600 - 900).await;
    // One red run (aborted and error ones not counting) is not yet a regression: the
    // next red run confirms it, named after the first.
    report(&grpc, JOB, 5, "failure", t - 4 * 3600).await;
    let id = format!("{JOB}-2");
    let json = incident_until(&plugin, &id, "opened", |j| j["state"] == "active").await;
    assert_eq!(json["job"], JOB);
    eventually("blocked", || env.has_label(1).then_some(())).await;
    // auto_unblock_on_recovery: the green run resolves it.
    report(&grpc, JOB, 6, "success", t - 3 * 3600).await;
    let json = incident_until(&plugin, &id, "resolved", |j| j["state"] == "resolved").await;
    assert_eq!(json["resolved_how"], "auto-recovery", "{json}");
    eventually("unblocked", || {
        (!env.has_label(1) && env.open_blockers("master") == 0).then_some(())
    })
    .await;
    plugin.stop().await;
}
