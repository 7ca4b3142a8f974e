//! Ready PRs first, found directly: at block time the plugin searches the scope's ready
//! PRs and labels them before it reads the full PR list; on unblock it closes the blocker
//! issue first, then takes the label off what a search finds, ready PRs first. Each test
//! runs the plugin over real sockets against the stateful fake GitHub, including what
//! search does wrong on GitHub (a partial answer, a refused query, its own rate limit, a
//! PR that changes under it): the full list still brings every PR in line, and no request
//! is spent on a PR already as it should be.

mod support;

use std::time::Duration;

use scalability_gate::config::Config;
use scalability_gate::github::client::{Client, ClientOptions};
use scalability_gate::github::fake::{FakeGithub, LoggedRequest, PrSpec, SEARCH_RESULT_CAP};
use scalability_gate::model::{PrNumber, RepoName};
use scalability_gate::pb::scalability_gate::v1::gate_client::GateClient;
use scalability_gate::pb::scalability_gate::v1::{BlockRequest, UnblockRequest};
use support::{API_TOKEN, Plugin, bearer, eventually, test_config};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const REPO: &str = "kubernetes/kubernetes";
const LABEL: &str = "do-not-merge/scalability-regression";
const BLOCKER: &str = "tide/merge-blocker";
/// Tide's required labels here: one with a space and a colon, quoted in the search.
const READY: [&str; 3] = ["lgtm", "approved", "cncf-cla: yes"];

struct Env {
    dir: tempfile::TempDir,
    fake: FakeGithub,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeGithub::start().await.unwrap();
        std::fs::write(dir.path().join("token"), format!("{}\n", fake.token())).unwrap();
        std::fs::write(dir.path().join("hmac"), "ready-search-hmac").unwrap();
        Env { dir, fake }
    }

    fn config(&self) -> Config {
        let mut c = test_config(
            &self.dir.path().join("store"),
            &self.dir.path().join("hmac"),
        );
        c.dry_run = false;
        c.github.endpoints = vec![self.fake.url()];
        c.github.token_file = self.dir.path().join("token");
        c.ready_labels = READY.iter().map(|l| l.to_string()).collect();
        c
    }

    fn ready_pr(&self, base: &str) -> u64 {
        self.fake.add_pr(REPO, PrSpec::new(base).labels(&READY))
    }

    fn has_label(&self, pr: u64) -> bool {
        self.fake.labels_of(REPO, pr).iter().any(|l| l == LABEL)
    }

    /// The requests that changed `pr`'s labels: `POST .../issues/N/labels` (adds) and
    /// `DELETE .../issues/N/labels/...` (removals), by method.
    fn label_requests(&self, pr: u64, method: &str) -> usize {
        self.fake
            .requests()
            .iter()
            .filter(|r| r.method == method && label_pr(r) == Some(pr))
            .count()
    }

    fn open_blockers(&self) -> Vec<u64> {
        self.fake
            .issues(REPO)
            .into_iter()
            .filter(|i| i.is_open() && i.has_label(BLOCKER))
            .map(|i| i.number)
            .collect()
    }
}

/// The PR of a label request (`/repos/o/r/issues/N/labels[/name]`).
fn label_pr(r: &LoggedRequest) -> Option<u64> {
    let rest = r.path.split("/issues/").nth(1)?;
    let (number, tail) = rest.split_once('/')?;
    tail.starts_with("labels").then(|| number.parse().ok())?
}

fn is_search(r: &LoggedRequest) -> bool {
    r.path == "/search/issues"
}

/// A GET of the scope's full list of open PRs (not the closed PRs a manual block's
/// suspect search reads).
fn is_pull_list(r: &LoggedRequest) -> bool {
    r.method == "GET"
        && r.path.ends_with(&format!("{REPO}/pulls"))
        && !r.query.contains("state=closed")
}

/// The decoded `q` of a search request.
fn search_query(r: &LoggedRequest) -> String {
    reqwest::Url::parse(&format!("http://x/?{}", r.query))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "q")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn gate(plugin: &Plugin) -> GateClient<tonic::transport::Channel> {
    GateClient::connect(format!("http://{}", plugin.bound.grpc))
        .await
        .unwrap()
}

/// Blocks the job by hand; answers the incident.
async fn block(plugin: &Plugin) -> String {
    let done = gate(plugin)
        .await
        .block(bearer(
            BlockRequest {
                job: JOB.into(),
                reason: "a regression".into(),
                actor: "wojtek".into(),
            },
            API_TOKEN,
        ))
        .await
        .unwrap()
        .into_inner();
    done.incident_ids[0].clone()
}

async fn unblock(plugin: &Plugin, incident: &str) {
    gate(plugin)
        .await
        .unblock(bearer(
            UnblockRequest {
                incident_id: incident.into(),
                reason: "fixed".into(),
                actor: "wojtek".into(),
                ..Default::default()
            },
            API_TOKEN,
        ))
        .await
        .unwrap();
}

/// Waits until `prs` carry the label and the others of `all` do not.
async fn labelled_exactly(env: &Env, all: &[u64], prs: &[u64]) {
    eventually("the ready PRs labelled", || {
        all.iter()
            .all(|n| env.has_label(*n) == prs.contains(n))
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn ready_prs_are_searched_and_labelled_first_and_the_issue_closes_first_on_unblock() {
    let env = Env::new().await;
    let ready = env.ready_pr("master");
    let not_ready = env
        .fake
        .add_pr(REPO, PrSpec::new("master").labels(&["lgtm"]));
    let also_ready = env.fake.add_pr(
        REPO,
        PrSpec::new("master").labels(&["LGTM", "Approved", "cncf-cla: yes"]),
    );
    let already = env.ready_pr("master");
    env.fake.add_pr_label(REPO, already, LABEL);
    env.fake.add_pr_label(REPO, not_ready, LABEL); // labelled by hand: left alone while blocked
    let other_branch = env.ready_pr("release-1.34");
    let closed = env.ready_pr("master");
    env.fake.close(REPO, closed, false);
    for _ in 0..5 {
        env.fake
            .add_pr(REPO, PrSpec::new("master").labels(&["kind/feature"]));
    }
    let all = [ready, not_ready, also_ready, already, other_branch, closed];

    let plugin = Plugin::start(env.config()).await;
    let incident = block(&plugin).await;
    eventually("one open blocker issue", || {
        (env.open_blockers().len() == 1).then_some(())
    })
    .await;
    labelled_exactly(&env, &all, &[ready, not_ready, also_ready, already]).await;

    let log = env.fake.requests();
    let search = log.iter().find(|r| is_search(r)).expect("a search");
    let q = search_query(search);
    for part in [
        "is:pr",
        "is:open",
        &format!("repo:{REPO}"),
        "base:\"master\"",
        "label:\"lgtm\"",
        "label:\"approved\"",
        "label:\"cncf-cla: yes\"",
        &format!("-label:\"{LABEL}\""),
    ] {
        assert!(q.contains(part), "the search {q:?} lacks {part:?}");
    }
    let list = log
        .iter()
        .position(is_pull_list)
        .expect("the full list read");
    let adds: Vec<(usize, u64)> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "POST")
        .filter_map(|(i, r)| label_pr(r).map(|n| (i, n)))
        .collect();
    let mut added: Vec<u64> = adds.iter().map(|(_, n)| *n).collect();
    added.sort();
    assert_eq!(
        added,
        vec![ready, also_ready],
        "each ready PR labelled once"
    );
    assert!(
        adds.iter().all(|(i, _)| *i < list),
        "ready PRs labelled before the full list is read: {adds:?}, list at {list}"
    );

    // Unblock: the issue closed before any label comes off, ready PRs first.
    env.fake.clear_log();
    unblock(&plugin, &incident).await;
    labelled_exactly(&env, &all, &[]).await;
    eventually("the blocker issue closed", || {
        env.open_blockers().is_empty().then_some(())
    })
    .await;
    let log = env.fake.requests();
    let close = log
        .iter()
        .position(|r| r.method == "PATCH" && r.path.contains("/issues/"))
        .expect("the issue closed");
    let removals: Vec<(usize, u64)> = log
        .iter()
        .enumerate()
        .filter(|(_, r)| r.method == "DELETE")
        .filter_map(|(i, r)| label_pr(r).map(|n| (i, n)))
        .collect();
    assert!(
        removals.iter().all(|(i, _)| *i > close),
        "{removals:?} before {close}"
    );
    let order: Vec<u64> = removals.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        order.len(),
        4,
        "each labelled PR unlabelled once: {order:?}"
    );
    assert_eq!(order[3], not_ready, "ready PRs first: {order:?}");
    assert!(
        log.iter()
            .any(|r| is_search(r) && search_query(r).contains(&format!("label:\"{LABEL}\""))),
        "the labelled PRs were searched"
    );
    plugin.stop().await;
}

/// A search that timed out on GitHub's side finds half the ready PRs: they go first, and
/// the full list labels the rest, each PR once.
#[tokio::test]
async fn a_partial_search_answer_is_completed_by_the_full_list() {
    let env = Env::new().await;
    let ready: Vec<u64> = (0..6).map(|_| env.ready_pr("master")).collect();
    env.fake.search_incomplete_next(1);
    let plugin = Plugin::start(env.config()).await;
    block(&plugin).await;
    labelled_exactly(&env, &ready, &ready).await;

    let log = env.fake.requests();
    let list = log.iter().position(is_pull_list).expect("the full list");
    let before: Vec<u64> = log[..list]
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(label_pr)
        .collect();
    assert_eq!(before.len(), 3, "half found by search first: {before:?}");
    for pr in &ready {
        assert_eq!(env.label_requests(*pr, "POST"), 1, "#{pr} labelled once");
    }
    plugin.stop().await;
}

/// GitHub refuses the search (422): the block goes on from the full list, each ready PR
/// labelled once, and the pass does not fail for it.
#[tokio::test]
async fn a_refused_search_falls_back_to_the_full_list() {
    let env = Env::new().await;
    let ready: Vec<u64> = (0..3).map(|_| env.ready_pr("master")).collect();
    env.fake.search_refused_next(1);
    let plugin = Plugin::start(env.config()).await;
    block(&plugin).await;
    labelled_exactly(&env, &ready, &ready).await;
    let log = env.fake.requests();
    let statuses: Vec<u16> = log
        .iter()
        .filter(|r| is_search(r))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, vec![422]);
    for pr in &ready {
        assert_eq!(env.label_requests(*pr, "POST"), 1, "#{pr} labelled once");
    }
    plugin.stop().await;
}

/// Search's own rate limit (403 with `Retry-After`): the plugin labels from the full list
/// at once, and sends no search again while the limit lasts (the unblock goes by the list).
#[tokio::test]
async fn a_search_rate_limit_falls_back_and_searches_no_more_meanwhile() {
    let env = Env::new().await;
    let ready: Vec<u64> = (0..3).map(|_| env.ready_pr("master")).collect();
    env.fake.set_search_limit(1);
    // Someone else spent this minute's search.
    let spent = reqwest::Client::new()
        .get(format!("{}/search/issues?q=is:pr", env.fake.url()))
        .bearer_auth(env.fake.token())
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), 200);

    let plugin = Plugin::start(env.config()).await;
    let incident = block(&plugin).await;
    labelled_exactly(&env, &ready, &ready).await;
    unblock(&plugin, &incident).await;
    labelled_exactly(&env, &ready, &[]).await;
    eventually("the blocker issue closed", || {
        env.open_blockers().is_empty().then_some(())
    })
    .await;

    let log = env.fake.requests();
    let searches: Vec<u16> = log
        .iter()
        .filter(|r| is_search(r))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        searches,
        vec![200, 403],
        "one refused search, none while limited"
    );
    for pr in &ready {
        assert_eq!(env.label_requests(*pr, "POST"), 1, "#{pr} labelled once");
        assert_eq!(
            env.label_requests(*pr, "DELETE"),
            1,
            "#{pr} unlabelled once"
        );
    }
    plugin.stop().await;
}

/// A PR that loses a ready label between the search and its labelling: GitHub's answer to
/// the label request shows it, and the label comes off again; the others stay labelled.
#[tokio::test]
async fn a_pr_that_stops_being_ready_while_labelled_is_unlabelled_again() {
    let env = Env::new().await;
    let first = env.ready_pr("master");
    let changing = env.ready_pr("master");
    let last = env.ready_pr("master");
    let held = env.fake.delay_request(
        "POST",
        &format!("/issues/{changing}/labels"),
        Duration::from_secs(60),
    );
    let plugin = Plugin::start(env.config()).await;
    block(&plugin).await;
    tokio::time::timeout(support::TIMEOUT, held)
        .await
        .expect("the label request in time")
        .unwrap();
    env.fake.remove_pr_label(REPO, changing, "lgtm");
    env.fake.release_delays();
    eventually("the changed PR unlabelled again", || {
        (env.label_requests(changing, "DELETE") == 1).then_some(())
    })
    .await;
    let all = [first, changing, last];
    labelled_exactly(&env, &all, &[first, last]).await;
    for pr in all {
        assert_eq!(env.label_requests(pr, "POST"), 1, "#{pr} labelled once");
    }
    plugin.stop().await;
}

/// The fake answers search as GitHub does: `base:`, quoted and negated labels, `a,b` as
/// either, only the first 1,000 results reachable, a rate limit with `Retry-After`.
#[tokio::test]
async fn the_fake_searches_as_github_does() {
    let fake = FakeGithub::start().await.unwrap();
    let client = Client::new(ClientOptions::new(vec![fake.url()], Some(fake.token()))).unwrap();
    let ready = fake.add_pr(REPO, PrSpec::new("master").labels(&READY));
    let either = fake.add_pr(
        REPO,
        PrSpec::new("master").labels(&["ok-to-merge", "approved", "cncf-cla: yes"]),
    );
    let labelled = fake.add_pr(REPO, PrSpec::new("master").labels(&READY));
    fake.add_pr_label(REPO, labelled, LABEL);
    fake.add_pr(REPO, PrSpec::new("release-1.34").labels(&READY));
    let numbers = |found: &[scalability_gate::github::types::Issue]| {
        let mut n: Vec<u64> = found.iter().map(|i| i.number).collect();
        n.sort();
        n
    };
    let found = client
        .search(&format!(
            "is:pr is:open repo:{REPO} base:\"master\" label:lgtm,ok-to-merge label:\"cncf-cla: yes\" -label:\"{LABEL}\""
        ))
        .await
        .unwrap();
    assert_eq!(numbers(&found.items), vec![ready, either]);
    assert!(!found.incomplete);
    let unknown = client
        .search("is:pr repo:nobody/nothing")
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(422), "{unknown}");

    // Past the first 1,000 results nothing is reachable: the client stops there and says
    // the answer is incomplete.
    fake.set_search_limit(0);
    for _ in 0..(SEARCH_RESULT_CAP + 10) {
        fake.add_pr("o/big", PrSpec::new("main"));
    }
    let big = client.search("is:pr is:open repo:o/big").await.unwrap();
    assert_eq!(big.items.len(), SEARCH_RESULT_CAP);
    assert!(big.incomplete);
    let past = reqwest::Client::new()
        .get(format!(
            "{}/search/issues?q=repo:o/big&per_page=100&page=11",
            fake.url()
        ))
        .bearer_auth(fake.token())
        .send()
        .await
        .unwrap();
    assert_eq!(past.status(), 422);

    // The rate limit: the third search of the minute is refused with Retry-After, and the
    // client searches no more meanwhile (other requests go on).
    // (Every page is one search: these fit in one.)
    let small = format!("is:pr repo:{REPO}");
    fake.set_search_limit(2);
    client.search(&small).await.unwrap();
    client.search(&small).await.unwrap();
    let raw = reqwest::Client::new()
        .get(format!("{}/search/issues?q=is:pr", fake.url()))
        .bearer_auth(fake.token())
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 403);
    let retry: u64 = raw.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(raw.headers()["x-ratelimit-resource"], "search");
    assert!(!client.search_paused());
    let limited = client.search(&small).await.unwrap_err();
    assert_eq!(limited.status(), Some(403), "{limited}");
    assert!(client.search_paused());
    assert!(
        client
            .get_pull(&RepoName::parse(REPO).unwrap(), PrNumber(ready))
            .await
            .unwrap()
            .is_some()
    );
}
