//! The gate end to end, over real sockets: runs pushed through the Results gRPC API, signed
//! webhooks on `/hook`, and the stateful fake GitHub as the only GitHub. Each test reads as
//! a conversation: the job regresses, PRs and people act, and we look at GitHub.

mod common;

use std::time::Duration;

use common::{BLOCKER, Binary, LABEL, Plugin, REPO, World, eventually, post_webhook};
use scalability_gate::Store;
use scalability_gate::github::fake::{FAKE_LOGIN, PrSpec};
use serde_json::json;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";
const KEY: &str = "gate-test-hmac-key";

/// The fake GitHub with `APPROVER` in `TEAM`, the only approvers, and webhooks signed with
/// `KEY`.
async fn world() -> World {
    World::builder()
        .key(KEY)
        .approver_team(TEAM, APPROVER)
        .build()
        .await
}

/// The steps only these tests take.
impl World {
    /// Ready PRs #1, #2 and a not-ready #3 on master; a ready #4 on a release branch.
    fn seed_prs(&self) {
        let ready = ["lgtm", "approved"];
        assert_eq!(
            self.fake
                .add_pr(REPO, PrSpec::new("master").labels(&ready).author("alice")),
            1
        );
        assert_eq!(
            self.fake
                .add_pr(REPO, PrSpec::new("master").labels(&ready).author("bob")),
            2
        );
        assert_eq!(
            self.fake.add_pr(
                REPO,
                PrSpec::new("master").labels(&["lgtm"]).author("carol")
            ),
            3
        );
        assert_eq!(
            self.fake.add_pr(
                REPO,
                PrSpec::new("release-1.34").labels(&ready).author("dave")
            ),
            4
        );
    }
}

/// A Deck whose `/tide.js` says master's pool would merge `pr` (in the pool, not exempt);
/// its URL.
async fn deck_that_would_merge(pr: u64) -> String {
    let tide_js = json!({
        "Queries": [], "TideQueries": [],
        "Pools": [{"Org": "kubernetes", "Repo": "kubernetes", "Branch": "master",
            "SuccessPRs": [{"Title": "t", "Number": pr, "HeadRefOID": "a", "Mergeable": "MERGEABLE"}],
            "PendingPRs": null, "MissingPRs": null, "BatchPending": null,
            "Action": "MERGE", "Target": null, "Blockers": null, "Error": "", "TenantIDs": null}]
    })
    .to_string();
    let deck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let deck_url = format!("http://{}", deck.local_addr().unwrap());
    let app = axum::Router::new().route(
        "/tide.js",
        axum::routing::get(move || {
            let body = tide_js.clone();
            async move { body }
        }),
    );
    tokio::spawn(async move { axum::serve(deck, app).await });
    deck_url
}

/// Green, green, red: a regression whose first red run is build 3.
async fn regress(grpc: &str) {
    common::report_run(grpc, JOB, 1, "success").await;
    common::report_run(grpc, JOB, 2, "success").await;
    common::report_run(grpc, JOB, 3, "failure").await;
}

#[tokio::test]
async fn a_regression_blocks_the_branch_and_only_an_approver_lifts_it() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let url = plugin.url();
    let grpc = plugin.bound.grpc.to_string();

    // green → red: the scope's branch is blocked.
    regress(&grpc).await;
    let issue = eventually("one open blocker issue", || {
        let open = env.open_blockers();
        (open.len() == 1).then(|| open[0].clone())
    })
    .await;
    eventually("the ready PRs on master are labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;
    assert!(!env.has_label(3), "a PR that is not ready is left alone");
    assert!(!env.has_label(4), "a PR on another branch is left alone");
    assert!(issue.title.ends_with(" branch:master"), "{}", issue.title);
    assert!(issue.title.contains(JOB), "{}", issue.title);
    let body = issue.body_text();
    for needle in [
        JOB,
        "https://prow.example/view/3",
        "https://prow.example/view/2",
        "/scalability-unblock",
        TEAM,
        "`kubernetes/kubernetes` branch `master`",
    ] {
        assert!(
            body.contains(needle),
            "blocker body lacks {needle:?}:\n{body}"
        );
    }

    // A PR that becomes ready during the block is labelled on its event.
    env.fake.add_pr_label(REPO, 3, "approved");
    env.pr_event(&url, 3, "labeled", Some("approved"), "carol")
        .await;
    eventually("#3 labelled once ready", || env.has_label(3).then_some(())).await;

    // Our label removed by hand is put back.
    env.fake.remove_pr_label(REPO, 2, LABEL);
    env.pr_event(&url, 2, "unlabeled", Some(LABEL), "bob").await;
    eventually("#2 labelled again", || env.has_label(2).then_some(())).await;

    // An unauthorised unblock: one reply saying who may, nothing else changes.
    let before = env.fake.mutation_count();
    env.comment(&url, 1, "mallory", "/scalability-unblock it is a flake")
        .await;
    let reply = eventually("a reply to mallory", || env.replies(1).pop()).await;
    assert!(
        reply.contains("@mallory") && reply.contains("not allowed"),
        "{reply}"
    );
    assert!(reply.contains(TEAM), "the reply says who may: {reply}");
    assert_eq!(
        env.fake.mutation_count(),
        before + 1,
        "only the reply was posted"
    );
    assert!(env.has_label(1) && env.has_label(2) && env.has_label(3));
    assert_eq!(env.open_blockers().len(), 1);

    // `/scalability-status` is for anyone.
    env.comment(&url, 3, "carol", "/scalability-status").await;
    let status = eventually("a status reply", || env.replies(3).pop()).await;
    assert!(
        status.contains("**blocked**") && status.contains("ci-kubernetes"),
        "{status}"
    );

    // The job recovers: recorded and announced once, but the block stays (no auto-unblock).
    common::report_run(&grpc, JOB, 4, "success").await;
    let notice = eventually("a recovery notice on the blocker issue", || {
        env.fake
            .comments(REPO, issue.number)
            .into_iter()
            .find(|c| c.body.contains(":recovered -->"))
    })
    .await;
    assert!(
        notice.body.contains("https://prow.example/view/4"),
        "{}",
        notice.body
    );
    assert!(env.has_label(1) && env.fake.issue(REPO, issue.number).unwrap().is_open());

    // The approver (a team member on the fake) unblocks on the blocker issue.
    env.comment(
        &url,
        issue.number,
        APPROVER,
        "/scalability-unblock fixed by the revert",
    )
    .await;
    eventually("every label removed and the issue closed", || {
        let labelled = (1..=4).any(|n| env.has_label(n));
        let open = env.fake.issue(REPO, issue.number).unwrap().is_open();
        (!labelled && !open).then_some(())
    })
    .await;
    let lifted = eventually("a reply to the approver", || {
        env.replies(issue.number).pop()
    })
    .await;
    assert!(
        lifted.contains("lifted") && lifted.contains("fixed by the revert"),
        "{lifted}"
    );
    assert_eq!(env.replies(1).len(), 1, "mallory got exactly one reply");

    // The audit log records each command.
    plugin.stop().await;
    let store = Store::open(&env.store_path()).unwrap();
    let log = store.audit_log(100).unwrap();
    let line = |who: &str, command: &str| {
        log.iter()
            .find(|r| r.who == who && r.command == command)
            .unwrap_or_else(|| panic!("no audit record of {who} {command}: {log:#?}"))
            .clone()
    };
    let refused = line("mallory", "/scalability-unblock");
    assert_eq!(refused.outcome, "refused: not an approver");
    assert_eq!(refused.reason, "it is a flake");
    assert_eq!(refused.target, "kubernetes/kubernetes#1");
    let status = line("carol", "/scalability-status");
    assert!(status.outcome.starts_with("status"), "{status:?}");
    let unblock = line(APPROVER, "/scalability-unblock");
    assert_eq!(
        unblock.outcome,
        "lifted ci-kubernetes-e2e-gce-scale-performance-100-3"
    );
    assert_eq!(unblock.reason, "fixed by the revert");
    let removed = line("bob", "label removed");
    assert!(removed.outcome.contains("put back"), "{removed:?}");
    assert!(store.active_incidents().unwrap().is_empty());
}

#[tokio::test]
async fn exempt_and_block_by_hand_and_ignored_comments() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let url = plugin.url();

    // Blocking by hand: an unknown job is answered, a known one opens an incident.
    env.comment(&url, 1, APPROVER, "/scalability-block ci-nope")
        .await;
    let unknown = eventually("unknown job reply", || env.replies(1).pop()).await;
    assert!(
        unknown.contains("`ci-nope` is not a gated job"),
        "{unknown}"
    );
    env.comment(
        &url,
        1,
        APPROVER,
        &format!("/scalability-block {JOB} investigating"),
    )
    .await;
    eventually("ready PRs labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;
    assert_eq!(env.open_blockers().len(), 1);

    // Edited comments, bots and the plugin's own comments are not commands.
    let before = env.fake.request_count();
    let edited = json!({
        "action": "edited", "repository": {"full_name": REPO},
        "issue": {"number": 2, "title": "", "labels": [], "pull_request": {}},
        "comment": {"id": 1, "body": "/scalability-unblock", "user": {"login": APPROVER, "type": "User"}},
    });
    let body = serde_json::to_vec(&edited).unwrap();
    assert_eq!(
        post_webhook(&url, KEY, "issue_comment", &env.delivery(), &body).await,
        200
    );
    env.comment(&url, 2, "ci-robot[bot]", "/scalability-unblock")
        .await;
    env.comment(&url, 2, "scalability-gate-bot", "/scalability-unblock")
        .await;

    // An approver exempts #2: its label goes, #1 keeps its own.
    env.comment(&url, 2, APPROVER, "/scalability-exempt it is the revert")
        .await;
    let reply = eventually("exempt reply", || env.replies(2).pop()).await;
    assert!(reply.contains("#2 is exempt"), "{reply}");
    assert_eq!(env.replies(2).len(), 1, "the ignored comments got no reply");
    eventually("#2 unlabelled", || (!env.has_label(2)).then_some(())).await;
    assert!(env.has_label(1));
    assert!(env.fake.request_count() > before);
    // A synchronize of the exempt PR does not label it again.
    env.pr_event(&url, 2, "synchronize", None, "bob").await;
    plugin.stop().await;
    assert!(!env.has_label(2));
    let store = Store::open(&env.store_path()).unwrap();
    let active = store.active_incidents().unwrap();
    assert_eq!(active.len(), 1);
    assert!(active[0].id.as_str().contains("-manual-"));
    assert_eq!(active[0].exemptions.len(), 1);
    let log = store.audit_log(100).unwrap();
    assert_eq!(
        log.iter().filter(|r| r.who == APPROVER).count(),
        3,
        "{log:#?}"
    );
    // Besides the approver's commands, only the plugin's own findings (the manual block's
    // suspect search) are recorded.
    assert!(
        log.iter()
            .all(|r| r.who == APPROVER || r.who == scalability_gate::core::gate::AUTOMATIC_ACTOR),
        "ignored comments leave no record"
    );
}

#[tokio::test]
async fn dry_run_makes_no_mutating_request() {
    let env = world().await;
    env.seed_prs();
    let mut config = env.config();
    config.dry_run = true;
    let plugin = Plugin::start(config).await;
    let url = plugin.url();
    regress(&plugin.bound.grpc.to_string()).await;
    env.fake.add_pr_label(REPO, 3, "approved");
    env.pr_event(&url, 3, "labeled", Some("approved"), "carol")
        .await;
    env.comment(&url, 1, "mallory", "/scalability-unblock")
        .await;
    env.comment(&url, 1, APPROVER, "/scalability-unblock").await;
    // Sync point: the reply to the last comment was looked for (its marker checked) and a
    // reconcile pass listed the PRs after it.
    eventually("the replies were considered and a pass ran after", || {
        let log = env.fake.requests();
        let replies = log
            .iter()
            .rposition(|r| r.method == "GET" && r.path.ends_with("/issues/1/comments"))?;
        let checked = log[..=replies]
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/issues/1/comments"))
            .count();
        let pass = log[replies..]
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with("/pulls"));
        (checked >= 2 && pass).then_some(())
    })
    .await;
    plugin.stop().await;
    assert_eq!(env.fake.mutation_count(), 0, "{:#?}", env.fake.requests());
    let store = Store::open(&env.store_path()).unwrap();
    // (The suspect search is read-only, so it is recorded in dry-run too: not counted.)
    assert_eq!(
        store
            .audit_log(10)
            .unwrap()
            .iter()
            .filter(|r| !r.command.starts_with("finding"))
            .count(),
        2,
        "commands are still decided and audited"
    );
    assert!(
        store.active_incidents().unwrap().is_empty(),
        "the approver lifted it"
    );
}

#[tokio::test]
async fn killed_mid_labelling_it_finishes_after_restart_without_duplicates() {
    const READY: u64 = 30;
    let env = world().await;
    for _ in 0..READY {
        env.fake
            .add_pr(REPO, PrSpec::new("master").labels(&["lgtm", "approved"]));
    }
    env.fake.set_latency(Duration::from_millis(60));
    let mut config = env.config();
    config.github.mutations_per_minute = 10_000;
    config.github.mutations_per_hour = 100_000;
    let path = env.dir.path().join("config.yaml");
    std::fs::write(&path, config.to_redacted_yaml()).unwrap();

    let first = Binary::spawn(&path);
    regress(&first.grpc).await;
    eventually("a few PRs labelled", || {
        let labelled = (1..=READY).filter(|&n| env.has_label(n)).count();
        (labelled >= 5).then_some(())
    })
    .await;
    first.kill();
    let labelled_at_kill = (1..=READY).filter(|&n| env.has_label(n)).count() as u64;
    assert!(
        labelled_at_kill < READY,
        "killed before the end ({labelled_at_kill})"
    );

    let second = Binary::spawn(&path);
    eventually("every ready PR labelled after the restart", || {
        (1..=READY).all(|n| env.has_label(n)).then_some(())
    })
    .await;
    let blockers: Vec<_> = env
        .fake
        .issues(REPO)
        .into_iter()
        .filter(|i| i.has_label(BLOCKER))
        .collect();
    assert_eq!(blockers.len(), 1, "one blocker issue across the crash");
    let comments = env.fake.comments(REPO, blockers[0].number);
    let mut markers: Vec<&str> = comments
        .iter()
        .filter_map(|c| c.body.split("<!-- scalability-gate:").nth(1))
        .collect();
    let total = markers.len();
    markers.sort();
    markers.dedup();
    assert_eq!(
        markers.len(),
        total,
        "no notice posted twice: {comments:#?}"
    );
    second.kill();
}

/// A PR merged into a blocked scope without an exemption is a breach: recorded on the
/// incident, announced once on its blocker issue even when the event comes twice.
#[tokio::test]
async fn a_merge_during_the_block_is_one_breach_notice() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let url = plugin.url();
    env.comment(
        &url,
        1,
        APPROVER,
        &format!("/scalability-block {JOB} investigating"),
    )
    .await;
    let blocker = eventually("blocker issue", || env.open_blockers().pop()).await;

    // The same merge twice, under two delivery ids (hook and a redelivery).
    for _ in 0..2 {
        env.merged(&url, 3, "carol").await;
    }
    let notices = || {
        env.fake
            .comments(REPO, blocker.number)
            .into_iter()
            .filter(|c| c.body.contains(":breach/3 -->"))
            .count()
    };
    eventually("breach notice", || (notices() > 0).then_some(())).await;
    let metrics = plugin.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("scalability_gate_breaches_total") && l.ends_with(" 1")),
        "{metrics}"
    );
    plugin.stop().await;
    assert_eq!(notices(), 1, "one notice for one breach");
    let store = Store::open(&env.store_path()).unwrap();
    let active = store.active_incidents().unwrap();
    assert_eq!(active[0].breaches.len(), 1);
    assert_eq!(active[0].breaches[0].pr.0, 3);
}

/// The live check of Deck's `/tide.js` sees Tide ready to merge into a blocked scope: the
/// incident's blocker issue says so, once.
#[tokio::test]
async fn a_pool_that_would_still_merge_is_reported_once_on_the_blocker_issue() {
    let env = world().await;
    env.seed_prs();
    let mut config = env.config();
    config.tide.deck_url = deck_that_would_merge(3).await;
    config.tide.recheck_interval = std::time::Duration::from_millis(50);
    let plugin = Plugin::start(config).await;
    let url = plugin.url();
    env.comment(
        &url,
        1,
        APPROVER,
        &format!("/scalability-block {JOB} investigating"),
    )
    .await;
    let blocker = eventually("blocker issue", || env.open_blockers().pop()).await;
    let notices = || {
        env.fake
            .comments(REPO, blocker.number)
            .into_iter()
            .filter(|c| c.body.contains(":tide-leak/master -->"))
            .map(|c| c.body)
            .collect::<Vec<_>>()
    };
    let notice = eventually("leak notice", || notices().pop()).await;
    assert!(
        notice.contains("does not hold") && notice.contains("#3"),
        "{notice}"
    );
    // Further polls and passes say nothing more.
    env.comment(&url, 1, "someone", "/scalability-status").await;
    eventually("status reply", || env.replies(1).pop()).await;
    plugin.stop().await;
    assert_eq!(notices().len(), 1);
}

/// GitHub does not answer whether the author is in the approver team (a 403 on the
/// membership check): the command is refused saying so, not as "not an approver", nothing
/// is blocked, and the refusal is audited. Once GitHub answers, the same approver's repeated
/// command blocks. No reply @-mentions the approver team.
#[tokio::test]
async fn an_approver_github_cannot_vouch_for_is_asked_to_repeat_and_nothing_happens() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let url = plugin.url();
    env.fake.forbid("GET", "/memberships/");
    env.comment(
        &url,
        1,
        APPROVER,
        &format!("/scalability-block {JOB} looks bad"),
    )
    .await;
    let refused = eventually("the refusal", || env.replies(1).pop()).await;
    assert!(refused.contains("was not carried out"), "{refused}");
    assert!(refused.contains("repeat the command"), "{refused}");
    assert!(!refused.contains("not allowed"), "{refused}");
    assert!(env.open_blockers().is_empty());
    assert!(!env.has_label(1));

    env.fake.allow_all();
    env.comment(
        &url,
        1,
        APPROVER,
        &format!("/scalability-block {JOB} looks bad"),
    )
    .await;
    eventually("ready PRs labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;
    env.comment(&url, 2, "mallory", "/scalability-unblock")
        .await;
    let unauthorised = eventually("the unauthorised reply", || env.replies(2).pop()).await;
    assert!(unauthorised.contains("not allowed"), "{unauthorised}");
    for reply in env.replies(1).into_iter().chain(env.replies(2)) {
        assert!(
            !reply.contains(&format!("@{TEAM}")),
            "the team is notified: {reply}"
        );
    }
    plugin.stop().await;
    let store = Store::open(&env.store_path()).unwrap();
    // The commands' records (the manual block's suspect search is the plugin's own).
    let outcomes: Vec<String> = store
        .audit_log(10)
        .unwrap()
        .into_iter()
        .rev()
        .filter(|r| r.who != scalability_gate::core::gate::AUTOMATIC_ACTOR)
        .map(|r| r.outcome)
        .collect();
    assert_eq!(
        outcomes[0], "refused: approver check failed",
        "{outcomes:?}"
    );
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[2], "refused: not an approver", "{outcomes:?}");
}

// ----- hidden markers count only on what the plugin's own login wrote -----

/// The incident [`regress`] opens (its first red run is build 3).
const INCIDENT: &str = "ci-kubernetes-e2e-gce-scale-performance-100-3";

/// Someone with no business posting markers.
const STRANGER: &str = "mallory";

fn incident_id() -> scalability_gate::model::IncidentId {
    scalability_gate::model::IncidentId::new(INCIDENT)
}

impl World {
    /// Comments on `number` by the plugin's own login carrying the marker `marker`.
    fn ours_marked(&self, number: u64, marker: &str) -> usize {
        self.fake
            .comments(REPO, number)
            .iter()
            .filter(|c| c.user.login == FAKE_LOGIN && c.body.contains(marker))
            .count()
    }

    /// Waits for the plugin's own comment carrying `marker` on `number`.
    async fn ours_posted(&self, number: u64, marker: &str) {
        eventually(&format!("the plugin's own {marker} on #{number}"), || {
            (self.ours_marked(number, marker) > 0).then_some(())
        })
        .await;
    }
}

/// A stranger opens an issue that copies the incident's issue marker (even labelled as a
/// blocker, as a triager might) before the job goes red. The plugin opens its own blocker
/// issue, and never edits, announces on or closes the stranger's, also when the incident
/// is lifted.
#[tokio::test]
async fn a_strangers_issue_with_the_incident_marker_is_never_adopted() {
    use scalability_gate::comment;
    let env = world().await;
    env.seed_prs();
    let forged_body = format!(
        "Looks bad, blocking.\n\n{}",
        comment::issue_marker(&incident_id(), "master")
    );
    let forged = env.fake.add_issue(
        REPO,
        &format!("Merges blocked: {JOB} regressed branch:master"),
        &forged_body,
        STRANGER,
        &[BLOCKER],
    );
    let plugin = env.start().await;
    let url = plugin.url();
    regress(&plugin.bound.grpc.to_string()).await;

    let ours = eventually("the plugin's own blocker issue", || {
        env.open_blockers()
            .into_iter()
            .find(|i| i.user.login == FAKE_LOGIN)
    })
    .await;
    assert_ne!(ours.number, forged);
    assert!(
        ours.body_text()
            .contains(&comment::issue_marker(&incident_id(), "master"))
    );
    env.ours_posted(ours.number, &comment::announcement_marker(&incident_id()))
        .await;
    eventually("the ready PRs labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;

    env.comment(&url, ours.number, APPROVER, "/scalability-unblock flake")
        .await;
    eventually("the plugin's issue closed", || {
        let closed = !env.fake.issue(REPO, ours.number)?.is_open();
        (closed && !env.has_label(1)).then_some(())
    })
    .await;
    plugin.stop().await;

    let stranger = env.fake.issue(REPO, forged).unwrap();
    assert!(stranger.is_open(), "the stranger's issue is left open");
    assert_eq!(stranger.body_text(), forged_body, "and unedited");
    assert!(
        env.fake.comments(REPO, forged).is_empty(),
        "and nothing is said on it"
    );
    let touched: Vec<String> = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.is_mutation() && r.path.contains(&format!("/issues/{forged}")))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(touched.is_empty(), "{touched:?}");
    let blockers = env
        .fake
        .issues(REPO)
        .into_iter()
        .filter(|i| i.user.login == FAKE_LOGIN)
        .count();
    assert_eq!(blockers, 1, "one issue of the plugin's own");
}

/// A stranger pastes the plugin's hidden markers of every kind the plugin posts on its
/// blocker issue (announcement, breach, tide leak, escalation, recovery, lift) and the
/// reply marker of a command comment, each before the plugin would post it. The plugin
/// still posts every one of them, once, as its own login; the stranger's comments stay.
///
/// The blocker issue itself was opened by the plugin before a crash (authored by its login,
/// found by its marker), so the stranger could comment on it before anything was said.
#[tokio::test]
async fn forged_markers_of_every_kind_change_nothing() {
    use scalability_gate::comment;
    use scalability_gate::model::PrNumber;
    let env = world().await;
    env.seed_prs();
    let id = incident_id();
    let issue = env.fake.add_issue(
        REPO,
        &format!("Merges blocked: {JOB} regressed branch:master"),
        &format!(
            "Opened before a crash.\n\n{}",
            comment::issue_marker(&id, "master")
        ),
        FAKE_LOGIN,
        &[BLOCKER],
    );
    let [announced, breach, leak, escalated, recovered, lifted] = [
        comment::announcement_marker(&id),
        comment::breach_marker(&id, PrNumber(3)),
        comment::tide_leak_marker(&id, "master"),
        comment::escalation_marker(&id, 1),
        comment::recovered_marker(&id),
        comment::lifted_marker(&id),
    ];
    let on_issue = [&announced, &breach, &leak, &escalated, &recovered, &lifted];
    for marker in on_issue {
        env.fake.add_comment(
            REPO,
            issue,
            STRANGER,
            &format!("Nothing to see here.\n\n{marker}"),
        );
    }
    let mut config = env.config();
    config.tide.deck_url = deck_that_would_merge(3).await;
    config.tide.recheck_interval = Duration::from_millis(50);
    config.escalation.mention_after = Some(Duration::ZERO);
    let plugin = Plugin::start(config).await;
    let url = plugin.url();
    let grpc = plugin.bound.grpc.to_string();

    regress(&grpc).await;
    eventually("the plugin's issue adopted and brought up to date", || {
        let body = env.fake.issue(REPO, issue)?.body.unwrap_or_default();
        body.contains("/scalability-unblock").then_some(())
    })
    .await;
    assert_eq!(env.open_blockers().len(), 1, "no second issue");
    // Said at once on a blocked branch: the announcement, Tide's pool that does not hold,
    // and (escalating at once in this config) the first escalation step.
    for marker in [&announced, &leak, &escalated] {
        env.ours_posted(issue, marker).await;
    }

    // A command whose reply the stranger pre-empted with a copy of its reply marker.
    let command = "/scalability-status";
    let asked = env.fake.add_comment(REPO, 1, "carol", command);
    env.fake.add_comment(
        REPO,
        1,
        STRANGER,
        &format!("Answered.\n\n{}", comment::reply_marker(asked)),
    );
    env.deliver_comment(&url, 1, asked, "carol", command).await;
    env.ours_posted(1, &comment::reply_marker(asked)).await;

    env.merged(&url, 3, "carol").await;
    env.ours_posted(issue, &breach).await;
    common::report_run(&grpc, JOB, 4, "success").await;
    env.ours_posted(issue, &recovered).await;
    env.comment(&url, issue, APPROVER, "/scalability-unblock fixed")
        .await;
    env.ours_posted(issue, &lifted).await;
    eventually("the issue closed", || {
        (!env.fake.issue(REPO, issue)?.is_open()).then_some(())
    })
    .await;
    plugin.stop().await;

    for marker in on_issue {
        assert_eq!(env.ours_marked(issue, marker), 1, "{marker} once");
        let forged = env
            .fake
            .comments(REPO, issue)
            .iter()
            .filter(|c| c.user.login == STRANGER && c.body.contains(marker.as_str()))
            .count();
        assert_eq!(forged, 1, "the stranger's {marker} is left alone");
    }
    assert_eq!(env.ours_marked(1, &comment::reply_marker(asked)), 1);
}

/// While GitHub does not say who the plugin is (`GET /user` refused), no marker can be
/// told for the plugin's own: the ready PRs are labelled all the same, but no blocker issue
/// is opened (a pass that took "not found" would open one more on every pass). Once GitHub
/// answers, exactly one is opened and announced.
#[tokio::test]
async fn without_its_own_login_the_plugin_opens_no_issue_until_github_says_it() {
    use scalability_gate::comment;
    let env = world().await;
    env.seed_prs();
    env.fake.forbid("GET", "/user");
    let mut config = env.config();
    config.reconcile.resync_interval = Duration::from_millis(100);
    let plugin = Plugin::start(config).await;
    regress(&plugin.bound.grpc.to_string()).await;
    eventually("the ready PRs labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;
    // Sync point: two passes asked who the plugin is, and were refused.
    let refused = || {
        env.fake
            .requests()
            .iter()
            .filter(|r| r.path == "/user" && r.status == 403)
            .count()
    };
    eventually("two passes refused the login", || {
        (refused() >= 2).then_some(())
    })
    .await;
    assert!(env.fake.issues(REPO).iter().all(|i| i.is_pull_request()));

    env.fake.allow_all();
    let issue = eventually("the blocker issue", || env.open_blockers().pop()).await;
    env.ours_posted(issue.number, &comment::announcement_marker(&incident_id()))
        .await;
    // Sync point: a later pass looked for the announcement again (and found it).
    let since = env.fake.request_count();
    let comments = format!("/issues/{}/comments", issue.number);
    eventually("another pass", || {
        env.fake.requests()[since..]
            .iter()
            .any(|r| r.method == "GET" && r.path.ends_with(&comments))
            .then_some(())
    })
    .await;
    plugin.stop().await;
    assert_eq!(env.open_blockers().len(), 1);
    assert_eq!(
        env.ours_marked(issue.number, &comment::announcement_marker(&incident_id())),
        1
    );
}

/// A stranger's command whose team-membership lookup GitHub holds (30 s) holds back
/// nothing behind it: a red run after a green one blocks the branch while that lookup is
/// still held. Once GitHub answers, the command gets its one reply saying who may, and
/// has no effect.
#[tokio::test]
async fn a_slow_membership_lookup_delays_a_reply_never_a_block() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let url = plugin.url();
    let grpc = plugin.bound.grpc.to_string();
    let asked = env
        .fake
        .delay_request("GET", "/memberships/mallory", Duration::from_secs(30));
    env.comment(
        &url,
        1,
        "mallory",
        &format!("/scalability-block {JOB} I say so"),
    )
    .await;
    tokio::time::timeout(common::TIMEOUT, asked)
        .await
        .expect("mallory's membership asked in time")
        .expect("the lookup is held");

    regress(&grpc).await;
    let issue = eventually("the blocker issue", || env.open_blockers().pop()).await;
    eventually("the ready PRs labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;
    assert_eq!(
        env.fake.delayed_now(),
        1,
        "blocked while the membership lookup is still held"
    );
    assert!(env.replies(1).is_empty(), "mallory is answered only later");

    env.fake.release_delays();
    let reply = eventually("the reply to mallory", || env.replies(1).pop()).await;
    assert!(
        reply.contains("@mallory") && reply.contains("not allowed") && reply.contains(TEAM),
        "{reply}"
    );
    plugin.stop().await;
    assert_eq!(env.replies(1).len(), 1, "one reply to mallory");
    assert_eq!(env.open_blockers().len(), 1);
    assert_eq!(env.open_blockers()[0].number, issue.number);
    let store = Store::open(&env.store_path()).unwrap();
    let active: Vec<String> = store
        .active_incidents()
        .unwrap()
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    assert_eq!(active, [format!("{JOB}-3")], "mallory opened nothing");
    let refused = store
        .audit_log(100)
        .unwrap()
        .into_iter()
        .find(|r| r.who == "mallory")
        .expect("mallory's command is audited");
    assert_eq!(refused.command, "/scalability-block");
    assert_eq!(refused.outcome, "refused: not an approver");
    assert_eq!(store.inbox_len().unwrap(), 0, "the command left the inbox");
}

/// An approver's `/scalability-unblock` is checked before anything happens: while GitHub
/// holds the membership lookup, the branch stays blocked (a status asked meanwhile says
/// so); once GitHub answers, the block is lifted end to end. A stranger's unblock is
/// refused with the one reply saying who may.
#[tokio::test]
async fn an_approvers_unblock_waits_for_the_membership_check_then_lifts() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let url = plugin.url();
    let grpc = plugin.bound.grpc.to_string();
    regress(&grpc).await;
    let issue = eventually("the blocker issue", || env.open_blockers().pop()).await;
    eventually("the ready PRs labelled", || {
        (env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;

    env.comment(&url, 1, "mallory", "/scalability-unblock")
        .await;
    let refused = eventually("the reply to mallory", || env.replies(1).pop()).await;
    assert!(
        refused.contains("@mallory") && refused.contains("not allowed") && refused.contains(TEAM),
        "{refused}"
    );
    assert!(env.has_label(1) && env.has_label(2));

    let asked = env.fake.delay_request(
        "GET",
        &format!("/memberships/{APPROVER}"),
        Duration::from_secs(30),
    );
    env.comment(&url, issue.number, APPROVER, "/scalability-unblock fixed")
        .await;
    tokio::time::timeout(common::TIMEOUT, asked)
        .await
        .expect("the approver's membership asked in time")
        .expect("the lookup is held");
    // Queued after the unblock, answered without a lookup: by then the consumer has seen
    // the unblock, and it has not been carried out.
    env.comment(&url, 3, "carol", "/scalability-status").await;
    let status = eventually("a status reply", || env.replies(3).pop()).await;
    assert!(status.contains("**blocked**"), "{status}");
    assert_eq!(env.fake.delayed_now(), 1, "the lookup is still held");
    assert!(env.has_label(1) && env.has_label(2));
    assert!(env.fake.issue(REPO, issue.number).unwrap().is_open());
    assert!(env.replies(issue.number).is_empty());

    env.fake.release_delays();
    eventually("every label removed and the issue closed", || {
        let labelled = (1..=4).any(|n| env.has_label(n));
        let open = env.fake.issue(REPO, issue.number).unwrap().is_open();
        (!labelled && !open).then_some(())
    })
    .await;
    let lifted = eventually("the reply to the approver", || {
        env.replies(issue.number).pop()
    })
    .await;
    assert!(
        lifted.contains("lifted") && lifted.contains("fixed"),
        "{lifted}"
    );
    plugin.stop().await;
    assert_eq!(env.replies(1).len(), 1, "one reply to mallory");
    assert_eq!(
        env.replies(issue.number).len(),
        1,
        "one reply to the approver"
    );
    let store = Store::open(&env.store_path()).unwrap();
    let log = store.audit_log(100).unwrap();
    let outcome = |who: &str| {
        log.iter()
            .find(|r| r.who == who && r.command == "/scalability-unblock")
            .map(|r| r.outcome.clone())
    };
    assert_eq!(
        outcome("mallory").as_deref(),
        Some("refused: not an approver")
    );
    assert_eq!(
        outcome(APPROVER),
        Some(format!("lifted {JOB}-3")),
        "{log:#?}"
    );
    assert!(store.active_incidents().unwrap().is_empty());
}

/// A command still waiting for its author's membership when the plugin stops is neither
/// decided nor lost: it stays in the inbox, and the next start carries it out once.
#[tokio::test]
async fn a_command_waiting_for_its_check_at_a_stop_is_carried_out_after_the_restart() {
    let env = world().await;
    env.seed_prs();
    let plugin = env.start().await;
    let asked = env.fake.delay_request(
        "GET",
        &format!("/memberships/{APPROVER}"),
        Duration::from_secs(30),
    );
    env.comment(
        &plugin.url(),
        1,
        APPROVER,
        &format!("/scalability-block {JOB} held"),
    )
    .await;
    tokio::time::timeout(common::TIMEOUT, asked)
        .await
        .expect("the approver's membership asked in time")
        .expect("the lookup is held");
    plugin.stop().await;
    {
        let store = Store::open(&env.store_path()).unwrap();
        assert_eq!(store.inbox_len().unwrap(), 1, "the command is kept");
        assert!(store.audit_log(10).unwrap().is_empty(), "nothing decided");
    }
    assert!(env.open_blockers().is_empty());
    assert!(env.replies(1).is_empty());

    env.fake.release_delays();
    let plugin = env.start().await;
    eventually("blocked after the restart", || {
        (env.open_blockers().len() == 1 && env.has_label(1) && env.has_label(2)).then_some(())
    })
    .await;
    eventually("the reply to the approver", || env.replies(1).pop()).await;
    plugin.stop().await;
    assert_eq!(env.open_blockers().len(), 1);
    assert_eq!(env.replies(1).len(), 1, "one reply");
    let store = Store::open(&env.store_path()).unwrap();
    let blocks = store
        .audit_log(100)
        .unwrap()
        .into_iter()
        .filter(|r| r.who == APPROVER && r.command == "/scalability-block")
        .count();
    assert_eq!(blocks, 1, "one audit record of the block");
    assert_eq!(
        store.inbox_len().unwrap(),
        0,
        "the inbox is empty once applied"
    );
}
