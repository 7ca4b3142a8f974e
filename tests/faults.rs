//! Fault injection: the whole plugin against a fake GitHub that fails while it blocks and
//! unblocks (5xx bursts, 403 and 429 with `Retry-After`, slow answers, dropped connections,
//! answers cut off after the change was made), and the real binary killed with SIGKILL at
//! seeded points of a block and unblock, then restarted on the same sled store.
//!
//! Every scenario ends with the same judgement of GitHub and the store: the ready PRs of
//! the blocked branch carried the label and no other PR did; one blocker issue, open while
//! blocked and closed after; no comment or issue posted twice (counted by the hidden
//! markers); an audit record for every command issued.
//!
//! A command answered 200 but not yet applied when the binary is killed is applied once
//! after the restart, from the store's inbox (Prow's hook does not deliver it again).
//!
//! Figures are printed per scenario and per trial: `cargo test --test faults -- --nocapture`.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{Binary, Plugin, eventually};
use scalability_gate::Store;
use scalability_gate::config::Config;
use scalability_gate::github::fake::{
    FAKE_LOGIN, FakeGithub, Flaky, LoggedRequest, MergedPr, PrSpec,
};
use scalability_gate::model::{PrNumber, RepoName, Timestamp};
use serde_json::json;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const REPO: &str = "kubernetes/kubernetes";
const LABEL: &str = "do-not-merge/scalability-regression";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";
const KEY: &str = "faults-test-hmac-key";

/// Ready PRs on master: #1..=READY. Then NOT_READY PRs on master, then OTHER_BRANCH ready
/// PRs on a release branch: only the first group may ever carry the label.
const READY: u64 = 20;
const NOT_READY: u64 = 4;
const OTHER_BRANCH: u64 = 2;
const PRS: u64 = READY + NOT_READY + OTHER_BRANCH;

/// A webhook the test issued: a command posted as a comment, or a PR event. Delivered
/// again under the same delivery id when the plugin died before answering, as Prow's hook
/// does.
#[derive(Debug, Clone)]
struct Issued {
    /// The command, or what the event is (`ready`, `label removed`).
    command: &'static str,
    /// Who: the audit record's `who`.
    who: String,
    number: u64,
    /// The comment of a command (it gets a reply).
    comment_id: Option<u64>,
    /// Whether it leaves an audit record.
    audited: bool,
    event: &'static str,
    delivery: String,
    body: Vec<u8>,
    delivered: bool,
}

/// The shared world (a fake GitHub, its token, HMAC and store files) seeded with PRs, and
/// what the test issued.
struct World {
    world: common::World,
    issued: Mutex<Vec<Issued>>,
}

impl std::ops::Deref for World {
    type Target = common::World;
    fn deref(&self) -> &common::World {
        &self.world
    }
}

impl World {
    async fn new() -> World {
        let world = common::World::builder()
            .key(KEY)
            .approver_team(TEAM, APPROVER)
            .build()
            .await;
        let fake = &world.fake;
        let ready = ["lgtm", "approved"];
        for n in 1..=PRS {
            let spec = if n <= READY {
                PrSpec::new("master").labels(&ready)
            } else if n <= READY + NOT_READY {
                PrSpec::new("master").labels(&["lgtm"])
            } else {
                PrSpec::new("release-1.34").labels(&ready)
            };
            assert_eq!(fake.add_pr(REPO, spec.author(&format!("dev{n}"))), n);
        }
        World {
            world,
            issued: Mutex::new(Vec::new()),
        }
    }

    /// The shared config with a mutation budget no scenario reaches.
    fn config(&self) -> Config {
        let mut c = self.world.config();
        c.github.mutations_per_minute = 10_000;
        c.github.mutations_per_hour = 100_000;
        c
    }

    /// Every comment the plugin posted in the repo, with the issue or PR it is on.
    fn own_comments(&self) -> Vec<(u64, String)> {
        (1..=PRS + 20)
            .flat_map(|n| {
                self.fake
                    .comments(REPO, n)
                    .into_iter()
                    .filter(|c| c.user.login == FAKE_LOGIN)
                    .map(move |c| (n, c.body))
            })
            .collect()
    }

    fn has_comment_with(&self, number: u64, needle: &str) -> bool {
        self.fake
            .comments(REPO, number)
            .iter()
            .any(|c| c.body.contains(needle))
    }

    /// Whether every command issued so far was answered.
    fn all_replied(&self) -> bool {
        let issued = self.issued.lock().unwrap().clone();
        issued.iter().all(|i| {
            i.comment_id.is_none_or(|id| {
                self.has_comment_with(i.number, &format!("scalability-gate:reply-{id}:reply"))
            })
        })
    }

    /// Whether PR `n` should carry the label while blocked: on master with both required
    /// labels (as the fake has it now).
    fn ready(&self, n: u64) -> bool {
        let Some(pr) = self.fake.pull(REPO, n) else {
            return false;
        };
        pr.base.branch == "master"
            && ["lgtm", "approved"]
                .iter()
                .all(|r| pr.labels.iter().any(|l| l.name == *r))
    }

    /// The issue number when the block is complete on GitHub: exactly the ready master
    /// PRs labelled, one blocker issue, open and announced, every command answered.
    fn blocked(&self) -> Option<u64> {
        let labels_right = (1..=PRS).all(|n| self.has_label(n) == self.ready(n));
        let blockers = self.blockers();
        let [issue] = blockers.as_slice() else {
            return None;
        };
        (labels_right
            && issue.is_open()
            && self.has_comment_with(issue.number, ":announce -->")
            && self.all_replied())
        .then_some(issue.number)
    }

    /// Whether the unblock is complete on GitHub: no label, the one blocker issue closed
    /// with its lift notice, every command answered.
    fn unblocked(&self) -> bool {
        let no_labels = (1..=PRS).all(|n| !self.has_label(n));
        let blockers = self.blockers();
        let [issue] = blockers.as_slice() else {
            return false;
        };
        no_labels
            && !issue.is_open()
            && self.has_comment_with(issue.number, ":lifted -->")
            && self.all_replied()
    }

    /// No comment and no issue posted twice: every hidden marker at most once across the
    /// repo's comments, and one issue per issue marker.
    fn assert_no_duplicates(&self) {
        let mut seen: BTreeMap<String, Vec<u64>> = BTreeMap::new();
        for (number, body) in self.own_comments() {
            for marker in markers(&body) {
                seen.entry(marker).or_default().push(number);
            }
        }
        let twice: Vec<_> = seen.iter().filter(|(_, at)| at.len() > 1).collect();
        assert!(twice.is_empty(), "comments posted twice: {twice:?}");
        let issues: Vec<String> = self
            .fake
            .issues(REPO)
            .iter()
            .filter(|i| i.user.login == FAKE_LOGIN)
            .flat_map(|i| markers(i.body_text()))
            .collect();
        let mut unique = issues.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(
            unique.len(),
            issues.len(),
            "issues opened twice: {issues:?}"
        );
        assert_eq!(self.blockers().len(), 1, "one blocker issue in all");
    }

    /// Every command issued has its audit record (the plugin must be stopped).
    fn assert_audit(&self) {
        let store = Store::open(&self.store_path()).unwrap();
        let log = store.audit_log(1000).unwrap();
        for issued in self.issued.lock().unwrap().iter().filter(|i| i.audited) {
            let target = format!("{REPO}#{}", issued.number);
            assert!(
                log.iter().any(|r| r.who == issued.who
                    && r.command == issued.command
                    && r.target == target),
                "no audit record of {} on {target}: {log:#?}",
                issued.command
            );
        }
        assert!(
            store.active_incidents().unwrap().is_empty(),
            "no incident left active"
        );
    }

    /// Posts `body` as `APPROVER` on `number` and remembers it as issued (not delivered).
    fn issue_command(&self, command: &'static str, number: u64, body: &str) -> Issued {
        let comment_id = self.fake.add_comment(REPO, number, APPROVER, body);
        let issued = Issued {
            command,
            who: APPROVER.into(),
            number,
            comment_id: Some(comment_id),
            audited: true,
            event: "issue_comment",
            delivery: self.delivery(),
            body: self.comment_payload(number, comment_id, APPROVER, body),
            delivered: false,
        };
        self.issued.lock().unwrap().push(issued.clone());
        issued
    }

    /// A `pull_request` event about PR `number` as the fake has it now, by its author;
    /// `what` names it (`ready`, or `label removed`, which leaves an audit record).
    fn issue_pr_event(&self, what: &'static str, number: u64, action: &str, label: &str) {
        let pr = self.fake.pull(REPO, number).expect("pr exists");
        let author = pr.user.login.clone();
        let body = self.pr_payload(number, action, Some(label), &author);
        self.issued.lock().unwrap().push(Issued {
            command: what,
            who: author,
            number,
            comment_id: None,
            audited: what == "label removed",
            event: "pull_request",
            delivery: self.delivery(),
            body,
            delivered: false,
        });
    }

    /// Delivers every issued command not yet answered 200 (again, under its delivery id).
    async fn deliver_pending(&self, url: &str) {
        let pending: Vec<Issued> = self
            .issued
            .lock()
            .unwrap()
            .iter()
            .filter(|i| !i.delivered)
            .cloned()
            .collect();
        for i in pending {
            self.deliver(url, i.event, &i.delivery, &i.body).await;
            for known in self.issued.lock().unwrap().iter_mut() {
                if known.delivery == i.delivery {
                    known.delivered = true;
                }
            }
        }
    }

    fn issued(&self, command: &str) -> bool {
        self.issued
            .lock()
            .unwrap()
            .iter()
            .any(|i| i.command == command)
    }

    /// Figures of the fake's request log.
    fn figures(&self) -> Figures {
        let log = self.fake.requests();
        let count = |f: &dyn Fn(&LoggedRequest) -> bool| log.iter().filter(|r| f(r)).count();
        Figures {
            requests: log.len(),
            mutations: count(&|r| r.is_mutation()),
            applied: self.fake.applied_mutation_count(),
            faulted: count(&|r| r.status == 0 || r.status >= 500),
            limited: count(&|r| r.status == 403 || r.status == 429),
        }
    }
}

/// The hidden markers in `text`.
fn markers(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<!-- scalability-gate:") {
        let Some(end) = rest[start..].find("-->") else {
            break;
        };
        found.push(rest[start..start + end].to_string());
        rest = &rest[start + end..];
    }
    found
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    requests: usize,
    mutations: usize,
    applied: usize,
    faulted: usize,
    limited: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "requests={} mutations={} applied={} faulted={} rate-limited={}",
            self.requests, self.mutations, self.applied, self.faulted, self.limited
        )
    }
}

// ----- faults injected into an in-process plugin -----

/// Blocks by hand and unblocks on the blocker issue, with `during_block` and
/// `during_unblock` setting faults on the fake just before each command; checks GitHub and
/// the audit log after each step, and prints the figures.
async fn scenario(
    name: &str,
    during_block: impl FnOnce(&FakeGithub),
    during_unblock: impl FnOnce(&FakeGithub),
) -> World {
    let world = World::new().await;
    let plugin = Plugin::start(world.config()).await;
    let url = plugin.url();
    let started = Instant::now();

    during_block(&world.fake);
    world.issue_command(
        "/scalability-block",
        1,
        &format!("/scalability-block {JOB} investigating"),
    );
    world.deliver_pending(&url).await;
    let issue = eventually("blocked: ready PRs labelled, one blocker issue", || {
        world.blocked()
    })
    .await;
    let blocked_at = started.elapsed();
    world.fake.set_flaky(Flaky::default());
    world.assert_no_duplicates();
    let at_block = world.figures();

    during_unblock(&world.fake);
    world.issue_command(
        "/scalability-unblock",
        issue,
        "/scalability-unblock fixed by the revert",
    );
    world.deliver_pending(&url).await;
    eventually("unblocked: no label, the blocker issue closed", || {
        world.unblocked().then_some(())
    })
    .await;
    world.fake.set_flaky(Flaky::default());
    let total = world.figures();
    plugin.stop().await;
    world.assert_no_duplicates();
    world.assert_audit();
    println!(
        "faults {name}: blocked in {:?} ({at_block}); unblocked after {:?} (total {total})",
        blocked_at,
        started.elapsed()
    );
    world
}

#[tokio::test]
async fn server_error_bursts_during_block_and_unblock() {
    let world = scenario(
        "5xx",
        |fake| {
            // A burst of three, then every 7th request a 502.
            fake.fail_next(3);
            fake.set_flaky(Flaky {
                error_every: 7,
                ..Flaky::default()
            });
        },
        |fake| {
            // Changes made, then answered 502: the plugin cannot tell they happened.
            fake.fail_after_apply_next(3);
            fake.set_flaky(Flaky {
                error_every: 5,
                ..Flaky::default()
            });
        },
    )
    .await;
    assert!(world.figures().faulted >= 8, "{}", world.figures());
}

#[tokio::test]
async fn secondary_limits_with_retry_after_pause_every_request() {
    let world = scenario(
        "403/429",
        |fake| fake.rate_limit_next(1, 1),
        |fake| fake.too_many_requests_next(1, 1),
    )
    .await;
    let log = world.fake.requests();
    let limited: Vec<&LoggedRequest> = log
        .iter()
        .filter(|r| r.status == 403 || r.status == 429)
        .collect();
    assert_eq!(limited.len(), 2, "one 403 and one 429");
    for refused in limited {
        // Nothing reached GitHub while the pause lasted (a little slack for the clock).
        let next = log
            .iter()
            .filter(|r| r.at > refused.at)
            .map(|r| r.at - refused.at)
            .min()
            .expect("requests after the limit");
        assert!(
            next >= Duration::from_millis(950),
            "a request {next:?} after a {} with Retry-After: 1",
            refused.status
        );
    }
}

#[tokio::test]
async fn slow_answers_during_block_and_unblock() {
    let world = scenario(
        "slow",
        |fake| fake.set_latency(Duration::from_millis(25)),
        |fake| fake.set_latency(Duration::from_millis(40)),
    )
    .await;
    let log = world.fake.requests();
    assert!(log.len() > 2 * READY as usize);
}

#[tokio::test]
async fn connection_resets_and_answers_cut_off_during_block_and_unblock() {
    let world = scenario(
        "resets",
        |fake| {
            // Two connections dropped before the change, then three changes made whose
            // answers break off mid-body: the blocker issue, its announcement, the reply.
            fake.drop_next(2);
            fake.reset_after_apply_next(3);
        },
        |fake| {
            fake.reset_after_apply_next(4);
            fake.drop_next(1);
        },
    )
    .await;
    assert!(world.figures().faulted >= 10, "{}", world.figures());
}

/// A revert PR that GitHub opened but answered 502 (or whose answer was cut off) is not
/// opened again by the client: the error says it may have happened, and the reconciler
/// adopts the open revert on its next pass (`tests/culprit.rs`).
#[tokio::test]
async fn a_revert_whose_answer_is_lost_is_opened_once() {
    let fake = FakeGithub::start().await.unwrap();
    let client = common::github_client(&fake, |_| {});
    let repo = RepoName::parse(REPO).unwrap();
    let reverts = || {
        fake.pulls(REPO)
            .iter()
            .filter(|p| p.pull.title.starts_with("Revert"))
            .count()
    };
    for (n, lose_answer) in [
        (
            1,
            &FakeGithub::fail_after_apply_next as &dyn Fn(&FakeGithub, u64),
        ),
        (2, &FakeGithub::reset_after_apply_next),
    ] {
        let merged = fake.merge_pr(
            REPO,
            MergedPr::new(
                "master",
                "apiserver: new watch cache",
                Timestamp(1_790_000_000),
            ),
        );
        let detail = client
            .get_pull_detail(&repo, PrNumber(merged.number))
            .await
            .unwrap()
            .expect("merged PR");
        lose_answer(&fake, 1);
        let error = client
            .revert_pull(detail.node_id.as_deref().expect("node id"), None, None)
            .await
            .expect_err("the answer was lost");
        assert!(error.may_have_happened(), "{error}");
        assert_eq!(reverts(), n, "one revert PR per revert asked for");
    }
    let graphql = fake
        .requests()
        .iter()
        .filter(|r| r.path == "/graphql")
        .count();
    assert_eq!(graphql, 2, "each sent once");
}

// ----- SIGKILL at seeded points of the real binary -----

/// The fixed seeds of the kill trials, two run at a time. Chosen so that, with the
/// mutation order of today, the trials aimed at a key mutation (see [`clean_run`]) hit
/// each of them (blocking by runs and by command), applied and not, and eight more trials
/// kill at any mutation; the figures printed say where each trial was killed.
const SEEDS: [u64; 38] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 18, 22, 26, 29, 32, 35, 36, 38, 40, 41, 44, 49,
    50, 57, 61, 72, 88, 96, 123, 136, 149, 164, 175, 192,
];

/// splitmix64: a seed → a well-mixed number, with no crate.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// How a trial blocks: the job regresses (runs through gRPC), or an approver blocks by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockBy {
    Runs,
    Command,
}

/// Drives a block, two PR events during it, then an unblock, from wherever the world is
/// to the end: reports the runs again (as a result source would after a restart),
/// delivers webhooks not yet answered, issues the next step once GitHub shows the previous
/// one done. During the block PR #21 becomes ready (labelled by the fast path) and its
/// author removes our label from #2 (put back, with an audit record).
async fn drive(world: &World, bin: &Binary, by: BlockBy) {
    const NEWLY_READY: u64 = READY + 1;
    const UNLABELLED: u64 = 2;
    if !world.issued("/scalability-unblock") {
        if !world.issued("ready") {
            match by {
                BlockBy::Runs => {
                    common::report_run(&bin.grpc, JOB, 1, "success").await;
                    common::report_run(&bin.grpc, JOB, 2, "success").await;
                    common::report_run(&bin.grpc, JOB, 3, "failure").await;
                }
                BlockBy::Command => {
                    if !world.issued("/scalability-block") {
                        world.issue_command(
                            "/scalability-block",
                            1,
                            &format!("/scalability-block {JOB} investigating"),
                        );
                    }
                    world.deliver_pending(&bin.url).await;
                }
            }
            eventually("blocked", || world.blocked()).await;
            world.fake.add_pr_label(REPO, NEWLY_READY, "approved");
            world.issue_pr_event("ready", NEWLY_READY, "labeled", "approved");
        }
        world.deliver_pending(&bin.url).await;
        eventually("blocked, the newly ready PR too", || world.blocked()).await;
        if !world.issued("label removed") {
            world.fake.remove_pr_label(REPO, UNLABELLED, LABEL);
            world.issue_pr_event("label removed", UNLABELLED, "unlabeled", LABEL);
        }
        world.deliver_pending(&bin.url).await;
        let issue = eventually("blocked, the label put back", || world.blocked()).await;
        world.issue_command(
            "/scalability-unblock",
            issue,
            "/scalability-unblock fixed by the revert",
        );
    }
    world.deliver_pending(&bin.url).await;
    eventually("unblocked", || world.unblocked().then_some(())).await;
}

/// One trial without a kill: the figures of a clean block and unblock, and the positions
/// (1-based, among the mutations) of the key ones: those that are not label changes
/// (opening the blocker issue, comments, closing it) and the two labels the PR events
/// cause (the newly ready PR by the fast path, the label put back). The kill trials aim
/// at them half of the time.
async fn clean_run(by: BlockBy) -> (Figures, Vec<u64>) {
    let world = World::new().await;
    let config = world.dir.path().join("config.yaml");
    std::fs::write(&config, world.config().to_redacted_yaml()).unwrap();
    let bin = Binary::spawn(&config);
    drive(&world, &bin, by).await;
    bin.kill();
    world.assert_no_duplicates();
    world.assert_audit();
    let mut labelled = std::collections::BTreeSet::new();
    let keys = world
        .fake
        .requests()
        .iter()
        .filter(|r| r.is_mutation())
        .enumerate()
        .filter(|(_, r)| {
            let event_caused = r.method == "POST"
                && (r.path.ends_with(&format!("/issues/{}/labels", READY + 1))
                    || !labelled.insert(r.path.clone()));
            event_caused || !r.path.contains("/labels")
        })
        .map(|(i, _)| i as u64 + 1)
        .collect();
    (world.figures(), keys)
}

/// What the clean runs of each way of blocking told: figures and the key mutations.
type Clean = BTreeMap<bool, (Figures, Vec<u64>)>;

/// One kill trial: the seed picks how the block comes (runs or command), the mutation to
/// kill at (half of the time a key one) and whether GitHub applied it
/// before the kill. The binary runs until that mutation reaches the fake, is killed with
/// SIGKILL, and a new one on the same store drives the block and unblock to the end.
/// Returns what it measured and a line of figures.
async fn kill_trial(seed: u64, clean: &Clean) -> (Trial, String) {
    let r = mix(seed);
    let by = if r & 1 == 0 {
        BlockBy::Command
    } else {
        BlockBy::Runs
    };
    let apply = r & 2 == 0;
    let (figures, keys) = &clean[&(by == BlockBy::Command)];
    let k = if r & 4 == 0 {
        keys[((r >> 8) % keys.len() as u64) as usize]
    } else {
        1 + (r >> 8) % figures.applied as u64
    };
    let started = Instant::now();
    let world = World::new().await;
    let config = world.dir.path().join("config.yaml");
    std::fs::write(&config, world.config().to_redacted_yaml()).unwrap();
    let mut stalled = world.fake.stall_mutation(k, apply);
    let first = Binary::spawn(&config);
    let killed_at: Option<LoggedRequest> = tokio::select! {
        held = &mut stalled => Some(held.expect("the stall fired")),
        // Done before the mutation to kill at: it may still be held right now (an applied
        // last mutation shows on GitHub while its answer is held).
        () = drive(&world, &first, by) => stalled.try_recv().ok(),
    };
    let at_kill = world.figures();
    first.kill();
    world.fake.release_stalls();
    // Every other trial, the restarted plugin's first change is made but its answer lost
    // (cut off mid-body, or a 502): it must not redo what it cannot tell happened.
    let lossy = match (r & 8 == 0, r & 16 == 0) {
        (false, _) => "no",
        (true, true) => {
            world.fake.reset_after_apply_next(1);
            "cut off"
        }
        (true, false) => {
            world.fake.fail_after_apply_next(1);
            "502"
        }
    };
    let restarted = Instant::now();
    let second = Binary::spawn(&config);
    drive(&world, &second, by).await;
    let converged = restarted.elapsed();
    second.kill();
    world.assert_no_duplicates();
    world.assert_audit();
    let end = world.figures();
    // Nothing done twice on GitHub: the restart redoes none of the changes made before (a
    // label added again after its answer was lost changes nothing, but counts).
    let lost = usize::from(lossy != "no");
    assert!(
        end.applied <= figures.applied + lost,
        "seed {seed}: {} changes applied, a clean run needs {} (+{lost} answers lost)",
        end.applied,
        figures.applied
    );
    let point = match &killed_at {
        Some(r) => format!(
            "{} {} ({})",
            r.method,
            r.path,
            if apply { "applied" } else { "not applied" }
        ),
        None => "none (finished first)".into(),
    };
    let line = format!(
        "kill trial seed={seed} block={by:?} k={k} at={point} first answer after restart lost={lossy}; at kill {at_kill}; \
         converged {converged:?} after restart; total {end}; trial {:?}",
        started.elapsed()
    );
    (
        Trial {
            killed: killed_at.is_some(),
            converged,
            requests: end.requests,
        },
        line,
    )
}

/// What one kill trial measured.
struct Trial {
    killed: bool,
    /// From the restart to the end of the unblock.
    converged: Duration,
    /// Requests both processes sent in all.
    requests: usize,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_seeded_points_of_block_and_unblock_loses_and_duplicates_nothing() {
    let mut clean = Clean::new();
    for by in [BlockBy::Command, BlockBy::Runs] {
        let (figures, keys) = clean_run(by).await;
        println!(
            "kill trials: a clean block ({by:?}) and unblock: {figures}; \
             key mutations at {keys:?}"
        );
        clean.insert(by == BlockBy::Command, (figures, keys));
    }
    let total = Instant::now();
    let mut trials = Vec::new();
    for pair in SEEDS.chunks(2) {
        let done = futures::future::join_all(pair.iter().map(|&seed| kill_trial(seed, &clean)));
        for (trial, line) in done.await {
            println!("{line}");
            trials.push(trial);
        }
    }
    let kills = trials.iter().filter(|t| t.killed).count();
    let slowest = trials.iter().map(|t| t.converged).max().unwrap_or_default();
    let requests = trials.iter().map(|t| t.requests);
    println!(
        "kill trials: {} trials, {kills} killed mid-way, {:?} in all; converged at most \
         {slowest:?} after a restart; requests per trial {}..{} (a clean run: {})",
        SEEDS.len(),
        total.elapsed(),
        requests.clone().min().unwrap_or(0),
        requests.max().unwrap_or(0),
        clean[&true].0.requests,
    );
    assert!(
        kills >= 20,
        "at least 20 trials were killed mid-way ({kills})"
    );
}

// ----- a command answered 200, then SIGKILL before the consumer applied it -----

/// `/scalability-block` from an approver is answered 200; the consumer, deciding on it,
/// asks GitHub whether the author is in the approvers' team, and the fake holds that
/// question: the binary is killed with SIGKILL right then, before anything of the command
/// is decided. Prow's hook does not deliver a webhook again after a 200, so the restarted
/// binary gets nothing from the test: the command must come from the store's inbox, and
/// take effect exactly once (one blocker issue, one reply, one audit record).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_answered_200_survives_sigkill_before_it_is_applied() {
    let world = World::new().await;
    let config = world.dir.path().join("config.yaml");
    std::fs::write(&config, world.config().to_redacted_yaml()).unwrap();
    let asked = world
        .fake
        .stall_request("GET", &format!("/memberships/{APPROVER}"));
    let first = Binary::spawn(&config);
    let issued = world.issue_command(
        "/scalability-block",
        1,
        &format!("/scalability-block {JOB} investigating"),
    );
    world.deliver_pending(&first.url).await; // answered 200
    let held = tokio::time::timeout(common::TIMEOUT, asked)
        .await
        .expect("the consumer asked about the approver in time")
        .expect("the request was held");
    println!("consumer held at {} {}", held.method, held.path);
    first.kill();
    world.fake.release_stalls();
    {
        let store = Store::open(&world.store_path()).unwrap();
        assert_eq!(store.inbox_len().unwrap(), 1, "the command is in the inbox");
        assert!(
            store.audit_log(100).unwrap().is_empty(),
            "nothing was decided before the kill"
        );
    }
    assert!(world.blockers().is_empty(), "nothing done on GitHub yet");

    let restarted = Instant::now();
    let second = Binary::spawn(&config);
    let issue = eventually("blocked after the restart, from the inbox", || {
        world.blocked()
    })
    .await;
    let blocked_in = restarted.elapsed();
    second.stop().await;

    world.assert_no_duplicates();
    let reply = format!(
        "scalability-gate:reply-{}:reply",
        issued.comment_id.unwrap()
    );
    let replies = world
        .own_comments()
        .iter()
        .filter(|(_, body)| body.contains(&reply))
        .count();
    assert_eq!(replies, 1, "one reply to the command");
    let store = Store::open(&world.store_path()).unwrap();
    let blocks = store
        .audit_log(1000)
        .unwrap()
        .into_iter()
        .filter(|r| r.command == "/scalability-block" && r.who == APPROVER)
        .count();
    assert_eq!(blocks, 1, "one audit record of the block");
    assert_eq!(
        store.inbox_len().unwrap(),
        0,
        "the inbox is empty once applied"
    );
    println!(
        "inbox replay: blocked (issue #{issue}) {blocked_in:?} after the restart; {}",
        world.figures()
    );
}

/// An inbox entry whose delivery was already decided (the crash came after the decision
/// was written, before the entry was removed) is found a duplicate on replay: removed,
/// and nothing is decided, said or done again.
#[tokio::test]
async fn a_replayed_delivery_already_decided_is_dropped_and_says_nothing() {
    let world = World::new().await;
    let comment = world
        .fake
        .add_comment(REPO, 1, APPROVER, "/scalability-unblock");
    let body = serde_json::to_vec(&json!({
        "action": "created",
        "repository": {"full_name": REPO},
        "issue": {"number": 1, "title": "t", "labels": [],
            "pull_request": {"url": "u"}},
        "comment": {"id": comment, "body": format!("/scalability-block {JOB} again"),
            "html_url": "", "user": {"login": APPROVER, "type": "User"}},
        "sender": {"login": APPROVER, "type": "User"},
    }))
    .unwrap();
    {
        let store = Store::open(&world.store_path()).unwrap();
        assert!(store.remember_delivery("decided-before").unwrap());
        store
            .inbox_put(
                &scalability_gate::store::InboxEntry {
                    delivery: "decided-before".into(),
                    event: "issue_comment".into(),
                    body,
                    kept_at: 0,
                },
                16,
            )
            .unwrap();
        store.flush().await.unwrap();
    }
    let plugin = Plugin::start(world.config()).await;
    plugin.stop().await; // drains the queue: the replayed entry is applied or dropped
    let store = Store::open(&world.store_path()).unwrap();
    assert_eq!(
        store.inbox_len().unwrap(),
        0,
        "the duplicate left the inbox"
    );
    assert!(store.audit_log(100).unwrap().is_empty(), "nothing decided");
    assert!(store.active_incidents().unwrap().is_empty());
    assert!(world.own_comments().is_empty(), "nothing said");
}
