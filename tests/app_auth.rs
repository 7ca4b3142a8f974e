//! GitHub App auth end to end: the plugin runs as a GitHub App against the fake GitHub,
//! which verifies the app's JWT and hands out installation tokens per org. A block, a
//! command reply and an unblock are made with installation tokens and authored by the
//! app's bot; a token expired mid-run is renewed without anything done twice; an org
//! without the app waits while the others go on; a malformed key stops start-up (exit 2).
//! The key pair in `tests/data/github-app-test-key*.pem` was generated for these tests.

mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use scalability_gate::config::{Config, ScopeConfig};
use scalability_gate::github::fake::{FakeGithub, PrSpec};
use support::{Plugin, comment_payload, eventually, post_webhook, test_config};

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const REPO: &str = "kubernetes/kubernetes";
const OTHER: &str = "other-org/thing";
const LABEL: &str = "do-not-merge/scalability-regression";
const BLOCKER: &str = "tide/merge-blocker";
const TEAM: &str = "kubernetes/sig-scalability-leads";
const APPROVER: &str = "wojtek";
const KEY: &str = "app-test-hmac-key";
const APP_ID: u64 = 424_242;
const SLUG: &str = "scalability-gate-app";
const BOT: &str = "scalability-gate-app[bot]";
const PRIVATE_KEY: &str = include_str!("data/github-app-test-key.pem");
const PUBLIC_KEY: &str = include_str!("data/github-app-test-key.pub.pem");

/// A fake GitHub with the app registered (installed on `kubernetes`), the key and HMAC
/// files, and a config that runs the plugin as the app.
struct Env {
    dir: tempfile::TempDir,
    fake: FakeGithub,
    deliveries: AtomicU64,
}

impl Env {
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let fake = FakeGithub::start().await.unwrap();
        fake.register_app(APP_ID, SLUG, PUBLIC_KEY).unwrap();
        fake.install_app("kubernetes");
        fake.add_team_member(TEAM, APPROVER);
        std::fs::write(dir.path().join("app.pem"), PRIVATE_KEY).unwrap();
        std::fs::write(dir.path().join("hmac"), KEY).unwrap();
        let ready = ["lgtm", "approved"];
        for author in ["alice", "bob"] {
            fake.add_pr(REPO, PrSpec::new("master").labels(&ready).author(author));
        }
        Env {
            dir,
            fake,
            deliveries: AtomicU64::new(0),
        }
    }

    fn config(&self) -> Config {
        let mut c = test_config(
            &self.dir.path().join("store"),
            &self.dir.path().join("hmac"),
        );
        c.dry_run = false;
        c.github.endpoints = vec![self.fake.url()];
        c.github.token_file = PathBuf::new();
        c.github.app_id = APP_ID.to_string();
        c.github.app_private_key_file = self.dir.path().join("app.pem").display().to_string();
        c.approvers.teams = vec![TEAM.into()];
        c.approvers.users = vec![];
        c
    }

    fn has_label(&self, repo: &str, pr: u64) -> bool {
        self.fake.labels_of(repo, pr).iter().any(|l| l == LABEL)
    }

    /// `author` comments `body` on `number` of [`REPO`] (on the fake, then delivered).
    async fn comment(&self, url: &str, number: u64, author: &str, body: &str) {
        let id = self.fake.add_comment(REPO, number, author, body);
        let body = comment_payload(&self.fake, number, id, author, body);
        let delivery = format!("app-{}", self.deliveries.fetch_add(1, Ordering::SeqCst));
        let status = post_webhook(url, KEY, "issue_comment", &delivery, &body).await;
        assert_eq!(status, 200);
    }

    /// Our replies on `number`: (author, body) of comments carrying a reply marker.
    fn replies(&self, number: u64) -> Vec<(String, String)> {
        self.fake
            .comments(REPO, number)
            .into_iter()
            .filter(|c| c.body.contains("scalability-gate:reply-"))
            .map(|c| (c.user.login, c.body))
            .collect()
    }

    fn open_blockers(&self, repo: &str) -> Vec<scalability_gate::github::types::Issue> {
        self.fake
            .issues(repo)
            .into_iter()
            .filter(|i| i.is_open() && i.has_label(BLOCKER))
            .collect()
    }

    /// The bearer credentials the plugin sent, by kind: (JWTs, installation tokens, other).
    fn credentials_used(&self) -> (usize, usize, usize) {
        let mut kinds = (0, 0, 0);
        for r in self.fake.requests() {
            let token = r
                .authorization
                .as_deref()
                .and_then(|a| a.strip_prefix("Bearer "))
                .unwrap_or("");
            if token.starts_with("eyJ") {
                kinds.0 += 1;
            } else if self.fake.installation_token_account(token).is_some() {
                kinds.1 += 1;
            } else {
                kinds.2 += 1;
            }
        }
        kinds
    }
}

async fn regress(grpc: &str) {
    support::report_run(grpc, JOB, 1, "success").await;
    support::report_run(grpc, JOB, 2, "success").await;
    support::report_run(grpc, JOB, 3, "failure").await;
}

#[tokio::test]
async fn as_a_github_app_it_blocks_replies_and_unblocks_with_installation_tokens() {
    let env = Env::new().await;
    let plugin = Plugin::start(env.config()).await;
    let url = plugin.url();
    let grpc = plugin.bound.grpc.to_string();

    // The block: a blocker issue authored by the app's bot, the ready PRs labelled.
    regress(&grpc).await;
    let issue = eventually("one open blocker issue", || {
        let open = env.open_blockers(REPO);
        (open.len() == 1).then(|| open[0].clone())
    })
    .await;
    assert_eq!(issue.user.login, BOT, "the blocker issue is the bot's");
    eventually("the ready PRs are labelled", || {
        (env.has_label(REPO, 1) && env.has_label(REPO, 2)).then_some(())
    })
    .await;

    // A command reply, by the bot.
    env.comment(&url, 1, "carol", "/scalability-status").await;
    let (author, status) = eventually("a status reply", || env.replies(1).pop()).await;
    assert_eq!(author, BOT);
    assert!(status.contains("**blocked**"), "{status}");

    // The bot's own comments are no commands, although they quote one: the plugin knows
    // its login from `GET /app` (no `GET /user`, which an installation token may not ask).
    let requests = env.fake.requests();
    assert!(requests.iter().any(|r| r.path == "/app" && r.status == 200));
    assert!(requests.iter().all(|r| r.path != "/user"), "no GET /user");
    let (jwts, installation, other) = env.credentials_used();
    assert!(jwts >= 3, "GET /app, the installation, its token: {jwts}");
    assert!(installation > 0);
    assert_eq!(other, 0, "nothing was sent with another credential");

    // The token expires mid-run: the unblock's first request gets 401, the plugin renews
    // the token and goes on; nothing is done twice.
    let issued = env.fake.installation_tokens_issued();
    env.fake.expire_installation_tokens();
    env.fake.clear_log();
    env.comment(&url, issue.number, APPROVER, "/scalability-unblock fixed")
        .await;
    eventually("the labels removed and the issue closed", || {
        let labelled = env.has_label(REPO, 1) || env.has_label(REPO, 2);
        let open = env.fake.issue(REPO, issue.number).unwrap().is_open();
        (!labelled && !open).then_some(())
    })
    .await;
    let (author, lifted) = eventually("a reply to the approver", || {
        env.replies(issue.number).pop()
    })
    .await;
    assert_eq!(author, BOT);
    assert!(lifted.contains("lifted"), "{lifted}");
    assert_eq!(
        env.fake.installation_tokens_issued(),
        issued + 1,
        "renewed once"
    );
    let requests = env.fake.requests();
    let refused = requests.iter().filter(|r| r.status == 401).count();
    // Requests already on their way with the old token are each refused once (at most
    // one per concurrent task); all renew to the same new token.
    assert!((1..=3).contains(&refused), "{requests:#?}");
    assert_eq!(
        env.replies(issue.number).len(),
        1,
        "one reply to the unblock"
    );
    assert_eq!(env.replies(1).len(), 1, "one reply to the status");
    let closes = requests
        .iter()
        .filter(|r| {
            r.method == "PATCH" && r.path == format!("/repos/{REPO}/issues/{}", issue.number)
        })
        .count();
    assert_eq!(closes, 1, "the blocker issue closed once");
    plugin.stop().await;
}

#[tokio::test]
async fn an_org_without_the_app_waits_while_the_others_go_on() {
    let env = Env::new().await;
    let other_pr = env.fake.add_pr(
        OTHER,
        PrSpec::new("master")
            .labels(&["lgtm", "approved"])
            .author("erin"),
    );
    let mut config = env.config();
    config.jobs[0].scopes.push(ScopeConfig {
        repo: OTHER.into(),
        branch: "master".into(),
    });
    config.reconcile.resync_interval = Duration::from_secs(1);
    let plugin = Plugin::start(config).await;
    regress(&plugin.bound.grpc.to_string()).await;

    // kubernetes is blocked as usual; other-org is not reachable: its lookup answered 404.
    eventually("kubernetes blocked", || {
        (env.has_label(REPO, 1) && env.has_label(REPO, 2) && env.open_blockers(REPO).len() == 1)
            .then_some(())
    })
    .await;
    eventually("the installation of other-org looked up", || {
        env.fake
            .requests()
            .iter()
            .any(|r| r.path == "/orgs/other-org/installation" && r.status == 404)
            .then_some(())
    })
    .await;
    assert!(!env.has_label(OTHER, other_pr));
    // Readiness stays 200 (webhooks are taken) and names what is missing.
    let readiness = format!("http://{}/healthz/ready", plugin.bound.health);
    let ready = async || {
        let answer = reqwest::get(&readiness).await.unwrap();
        (answer.status().as_u16(), answer.text().await.unwrap())
    };
    let (status, body) = ready().await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("degraded: github: the GitHub App is not installed on other-org"),
        "{body}"
    );
    let sent_to_other = env
        .fake
        .requests()
        .iter()
        .filter(|r| r.path.starts_with("/repos/other-org/") && !r.path.ends_with("/installation"))
        .count();
    assert_eq!(sent_to_other, 0, "nothing is sent there without a token");

    // Installed later: its work is retried and done.
    env.fake.install_app("other-org");
    eventually("other-org's ready PR labelled after the install", || {
        env.has_label(OTHER, other_pr).then_some(())
    })
    .await;
    assert_eq!(
        env.open_blockers(REPO).len(),
        1,
        "kubernetes' block untouched"
    );
    assert_eq!(
        ready().await,
        (200, "OK".to_string()),
        "nothing missing now"
    );
    plugin.stop().await;
}

/// `scalability-gate serve` with `args`; its exit code and stderr.
fn serve(config: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_scalability-gate"))
        .arg("serve")
        .arg("--config")
        .arg(config)
        .arg("--check-config")
        .args(args)
        .output()
        .expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_bad_app_key_or_id_refuses_to_start_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let hmac = dir.path().join("hmac");
    std::fs::write(&hmac, KEY).unwrap();
    std::fs::write(
        &config,
        format!(
            "hmac_secret_file: {hmac:?}\ngithub:\n  token_file: \"\"\njobs:\n- name: {JOB}\n  scopes:\n  - {{repo: {REPO}, branch: master}}\n"
        ),
    )
    .unwrap();
    let good = dir.path().join("app.pem");
    std::fs::write(&good, PRIVATE_KEY).unwrap();
    let not_rsa = dir.path().join("public.pem");
    std::fs::write(&not_rsa, PUBLIC_KEY).unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    let path = |p: &Path| p.display().to_string();

    // The good key starts (and --check-config prints the settings, never the key).
    let (code, stderr) = serve(
        &config,
        &[
            "--github-app-id",
            "424242",
            "--github-app-private-key-path",
            &path(&good),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");

    for (id, key, names) in [
        ("424242", path(&not_rsa), "github.app_private_key_file"),
        ("424242", path(&garbage), "github.app_private_key_file"),
        (
            "424242",
            path(&dir.path().join("absent.pem")),
            "github.app_private_key_file",
        ),
        ("my-app", path(&good), "github.app_id"),
    ] {
        let (code, stderr) = serve(
            &config,
            &["--github-app-id", id, "--github-app-private-key-path", &key],
        );
        assert_eq!(code, Some(2), "{id} {key}: {stderr}");
        assert!(stderr.contains(names), "{id} {key}: {stderr}");
        assert!(!stderr.contains("MII"), "the key is never echoed: {stderr}");
    }

    // A token and an app at once: exactly one way in.
    let token = dir.path().join("token");
    std::fs::write(&token, "t").unwrap();
    let (code, stderr) = serve(
        &config,
        &[
            "--github-app-id",
            "424242",
            "--github-app-private-key-path",
            &path(&good),
            "--github-token-path",
            &path(&token),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("github.token_file") && stderr.contains("not both"),
        "{stderr}"
    );
}
