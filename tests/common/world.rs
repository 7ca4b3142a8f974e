//! The world a test talks to: the stateful fake GitHub, the token, HMAC and store files in
//! a temporary directory, and the config that points the plugin at them; its verbs are the
//! steps of a test (someone comments, a PR changes, the plugin labels and replies).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use scalability_gate::config::Config;
use scalability_gate::github::fake::FakeGithub;
use scalability_gate::github::types::Issue;
use serde_json::json;

use super::{Plugin, eventually, post_webhook, test_config};

/// The repository of [`test_config`]'s job.
pub const REPO: &str = "kubernetes/kubernetes";
/// The label the plugin puts on ready PRs while blocked.
pub const LABEL: &str = "do-not-merge/scalability-regression";
/// The label of a blocker issue.
pub const BLOCKER: &str = "tide/merge-blocker";

/// Who may approve in a [`World`]: the members of a team on the fake, or logins.
enum Approvers {
    /// The config's default approvers.
    Default,
    /// `team` (`org/slug`) only, with `member` in it on the fake.
    Team {
        team: &'static str,
        member: &'static str,
    },
    /// These logins, besides the default team.
    Users(Vec<String>),
}

/// Builds a [`World`]: `World::builder().key(KEY).approver_team(TEAM, APPROVER).build()`.
pub struct WorldBuilder {
    key: &'static str,
    approvers: Approvers,
}

impl WorldBuilder {
    /// The HMAC key webhooks are signed with.
    pub fn key(mut self, key: &'static str) -> Self {
        self.key = key;
        self
    }

    /// Only the members of `team` approve; `member` is one of them on the fake.
    pub fn approver_team(mut self, team: &'static str, member: &'static str) -> Self {
        self.approvers = Approvers::Team { team, member };
        self
    }

    /// `login` approves (besides the default team).
    pub fn approver_user(mut self, login: &str) -> Self {
        self.approvers = Approvers::Users(vec![login.into()]);
        self
    }

    /// Starts the fake GitHub and writes the token and HMAC files.
    pub async fn build(self) -> World {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let fake = FakeGithub::start().await.expect("the fake GitHub starts");
        if let Approvers::Team { team, member } = &self.approvers {
            fake.add_team_member(team, member);
        }
        std::fs::write(dir.path().join("token"), format!("{}\n", fake.token())).unwrap();
        std::fs::write(dir.path().join("hmac"), self.key).unwrap();
        World {
            dir,
            fake,
            key: self.key,
            approvers: self.approvers,
            deliveries: AtomicU64::new(0),
        }
    }
}

/// A fake GitHub, its token, an HMAC file and a store path in a temporary directory.
pub struct World {
    /// Holds the token, `hmac` and `store`.
    pub dir: tempfile::TempDir,
    /// The only GitHub the plugin talks to.
    pub fake: FakeGithub,
    key: &'static str,
    approvers: Approvers,
    deliveries: AtomicU64,
}

impl World {
    /// A builder with the key `test-hmac-key` and the default approvers.
    pub fn builder() -> WorldBuilder {
        WorldBuilder {
            key: "test-hmac-key",
            approvers: Approvers::Default,
        }
    }

    /// The sled store's directory.
    pub fn store_path(&self) -> PathBuf {
        self.dir.path().join("store")
    }

    /// [`test_config`] pointed at the fake GitHub, writing (not dry-run), with the
    /// builder's approvers.
    pub fn config(&self) -> Config {
        let mut c = test_config(&self.store_path(), &self.dir.path().join("hmac"));
        c.dry_run = false;
        c.github.endpoints = vec![self.fake.url()];
        c.github.token_file = self.dir.path().join("token");
        match &self.approvers {
            Approvers::Default => {}
            Approvers::Team { team, .. } => {
                c.approvers.teams = vec![(*team).into()];
                c.approvers.users = vec![];
            }
            Approvers::Users(users) => c.approvers.users = users.clone(),
        }
        c
    }

    /// Starts the plugin with [`World::config`].
    pub async fn start(&self) -> Plugin {
        Plugin::start(self.config()).await
    }

    /// A fresh delivery id.
    pub fn delivery(&self) -> String {
        format!(
            "delivery-{}",
            self.deliveries.fetch_add(1, Ordering::SeqCst)
        )
    }

    /// Delivers a webhook `event` signed with the world's key; it must be answered 200.
    pub async fn deliver(&self, url: &str, event: &str, delivery: &str, body: &[u8]) {
        let status = post_webhook(url, self.key, event, delivery, body).await;
        assert_eq!(status, 200, "{event} {delivery} answered 200");
    }

    /// `author` comments `body` on `number` (posted on the fake, then delivered).
    pub async fn comment(&self, url: &str, number: u64, author: &str, body: &str) -> u64 {
        let id = self.fake.add_comment(REPO, number, author, body);
        self.deliver_comment(url, number, id, author, body).await;
        id
    }

    /// Delivers the webhook of comment `id` (already on the fake) to the plugin.
    pub async fn deliver_comment(&self, url: &str, number: u64, id: u64, author: &str, body: &str) {
        let payload = self.comment_payload(number, id, author, body);
        self.deliver(url, "issue_comment", &self.delivery(), &payload)
            .await;
    }

    /// The `issue_comment created` payload of comment `id` on `number` as the fake has
    /// the issue now.
    pub fn comment_payload(&self, number: u64, id: u64, author: &str, body: &str) -> Vec<u8> {
        comment_payload(&self.fake, number, id, author, body)
    }

    /// A `pull_request` event about `number` as the fake has it now, sent by `sender`.
    pub async fn pr_event(
        &self,
        url: &str,
        number: u64,
        action: &str,
        label: Option<&str>,
        sender: &str,
    ) {
        let payload = self.pr_payload(number, action, label, sender);
        self.deliver(url, "pull_request", &self.delivery(), &payload)
            .await;
    }

    /// `number` was merged by `by` (a `pull_request closed` event, merged).
    pub async fn merged(&self, url: &str, number: u64, by: &str) {
        let mut payload = self.pr_json(number, "closed", by);
        let pr = &mut payload["pull_request"];
        pr["labels"] = json!([]);
        pr["merged"] = json!(true);
        pr["merged_at"] = json!("2026-11-25T20:00:00Z");
        pr["merge_commit_sha"] = json!("c".repeat(40));
        pr["merged_by"] = json!({"login": by, "type": "User"});
        let body = serde_json::to_vec(&payload).unwrap();
        self.deliver(url, "pull_request", &self.delivery(), &body)
            .await;
    }

    /// The `pull_request` payload about open PR `number` as the fake has it now.
    pub fn pr_payload(
        &self,
        number: u64,
        action: &str,
        label: Option<&str>,
        sender: &str,
    ) -> Vec<u8> {
        let mut payload = self.pr_json(number, action, sender);
        if let Some(label) = label {
            payload["label"] = json!({"name": label});
        }
        serde_json::to_vec(&payload).unwrap()
    }

    /// A `pull_request` event about open PR `number` as the fake has it now.
    fn pr_json(&self, number: u64, action: &str, sender: &str) -> serde_json::Value {
        let pr = self.fake.pull(REPO, number).expect("pr exists");
        json!({
            "action": action,
            "number": number,
            "repository": {"full_name": REPO},
            "pull_request": {
                "number": number,
                "title": pr.title,
                "user": {"login": pr.user.login, "type": "User"},
                "labels": pr.labels.iter().map(|l| json!({"name": l.name})).collect::<Vec<_>>(),
                "base": {"ref": pr.base.branch, "sha": "b".repeat(40)},
                "head": {"ref": "topic", "sha": pr.head.sha},
                "merged": false,
                "merged_at": null,
                "merge_commit_sha": null,
                "merged_by": null,
            },
            "sender": {"login": sender, "type": "User"},
        })
    }

    /// Whether PR `pr` carries the plugin's label.
    pub fn has_label(&self, pr: u64) -> bool {
        self.fake.labels_of(REPO, pr).iter().any(|l| l == LABEL)
    }

    /// The plugin's replies on `number` (comments carrying a reply marker).
    pub fn replies(&self, number: u64) -> Vec<String> {
        self.fake
            .comments(REPO, number)
            .into_iter()
            .map(|c| c.body)
            .filter(|b| b.contains("scalability-gate:reply-"))
            .collect()
    }

    /// The issues carrying the blocker label, open or closed.
    pub fn blockers(&self) -> Vec<Issue> {
        self.fake
            .issues(REPO)
            .into_iter()
            .filter(|i| i.has_label(BLOCKER))
            .collect()
    }

    /// The open blocker issues.
    pub fn open_blockers(&self) -> Vec<Issue> {
        self.blockers()
            .into_iter()
            .filter(|i| i.is_open())
            .collect()
    }

    /// Waits for a comment on `number` containing `needle`, and returns it.
    pub async fn comment_with(&self, number: u64, needle: &str) -> String {
        eventually(&format!("a comment on #{number} with {needle}"), || {
            self.fake
                .comments(REPO, number)
                .into_iter()
                .map(|c| c.body)
                .find(|b| b.contains(needle))
        })
        .await
    }
}

/// The `issue_comment created` payload of comment `id` on `number` of [`REPO`], as `fake`
/// has the issue now.
pub fn comment_payload(
    fake: &FakeGithub,
    number: u64,
    id: u64,
    author: &str,
    body: &str,
) -> Vec<u8> {
    let issue = fake.issue(REPO, number).expect("issue exists");
    let mut issue_json = json!({
        "number": number,
        "title": issue.title,
        "labels": issue.labels.iter().map(|l| json!({"name": l.name})).collect::<Vec<_>>(),
    });
    if issue.pull_request.is_some() {
        issue_json["pull_request"] =
            json!({"url": format!("https://api.github.com/repos/{REPO}/pulls/{number}")});
    }
    let payload = json!({
        "action": "created",
        "repository": {"full_name": REPO},
        "issue": issue_json,
        "comment": {"id": id, "body": body, "html_url": "", "user": {"login": author, "type": "User"}},
        "sender": {"login": author, "type": "User"},
    });
    serde_json::to_vec(&payload).unwrap()
}
