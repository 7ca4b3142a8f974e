//! Seeding the fake's state as a test sets the scene: repositories, labels, open PRs and
//! issues, comments, hand-made label changes, closes and team memberships (none logged).

use super::FakeGithub;
use super::state::{FakeComment, Item, PrPart, Repo};

/// A PR to seed with [`FakeGithub::add_pr`].
#[derive(Debug, Clone)]
pub struct PrSpec {
    pub base: String,
    pub title: String,
    pub author: String,
    pub labels: Vec<String>,
    pub head_sha: String,
}

impl PrSpec {
    /// An open PR on `base` by `contributor` with no labels.
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            title: "A change".into(),
            author: "contributor".into(),
            labels: Vec::new(),
            head_sha: String::new(),
        }
    }

    /// With these labels.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    /// With this title.
    pub fn title(mut self, title: &str) -> Self {
        self.title = title.to_string();
        self
    }

    /// By this author.
    pub fn author(mut self, author: &str) -> Self {
        self.author = author.to_string();
        self
    }
}

impl FakeGithub {
    /// Sets the login that owns the token.
    pub fn set_login(&self, login: &str) {
        self.lock().login = login.to_string();
    }

    /// Adds an empty repository `org/repo` (no-op when it exists).
    pub fn add_repo(&self, repo: &str) {
        let mut s = self.lock();
        s.repos
            .entry(repo.to_ascii_lowercase())
            .or_insert_with(|| Repo {
                name: repo.to_string(),
                next_number: 1,
                ..Repo::default()
            });
    }

    /// Adds a label to a repository (the repo is created when missing).
    pub fn add_label(&self, repo: &str, name: &str) {
        self.add_repo(repo);
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        r.label_or_create(name);
    }

    fn add_item(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        author: &str,
        labels: &[String],
        pr: Option<PrPart>,
    ) -> u64 {
        self.add_repo(repo);
        let mut s = self.lock();
        let now = s.tick();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let number = r.next_number;
        r.next_number += 1;
        let labels = labels.iter().map(|l| r.label_or_create(l)).collect();
        r.items.insert(
            number,
            Item {
                number,
                title: title.to_string(),
                body: body.to_string(),
                author: author.to_string(),
                open: true,
                state_reason: None,
                labels,
                comments: Vec::new(),
                pr,
                created: now,
                updated: now,
            },
        );
        number
    }

    /// Opens a PR; returns its number.
    pub fn add_pr(&self, repo: &str, spec: PrSpec) -> u64 {
        let sha = if spec.head_sha.is_empty() {
            format!("{:040x}", self.lock().clock as u128 * 7919)
        } else {
            spec.head_sha.clone()
        };
        self.add_item(
            repo,
            &spec.title,
            "",
            &spec.author,
            &spec.labels,
            Some(PrPart {
                base: spec.base.clone(),
                head_sha: sha,
                merged: false,
                facts: super::state::PrFacts::default(),
            }),
        )
    }

    /// Opens an issue; returns its number.
    pub fn add_issue(
        &self,
        repo: &str,
        title: &str,
        body: &str,
        author: &str,
        labels: &[&str],
    ) -> u64 {
        let labels: Vec<String> = labels.iter().map(|l| l.to_string()).collect();
        self.add_item(repo, title, body, author, &labels, None)
    }

    /// Posts a comment as `author`; returns its id.
    pub fn add_comment(&self, repo: &str, number: u64, author: &str, body: &str) -> u64 {
        let mut s = self.lock();
        let now = s.tick();
        s.next_comment_id += 1;
        let id = s.next_comment_id;
        let item = s
            .repos
            .get_mut(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get_mut(&number))
            .expect("issue exists");
        item.comments.push(FakeComment {
            id,
            author: author.to_string(),
            body: body.to_string(),
            created: now,
        });
        id
    }

    /// A person adds a label by hand (not logged as a request).
    pub fn add_pr_label(&self, repo: &str, number: u64, label: &str) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let name = r.label_or_create(label);
        let item = r.items.get_mut(&number).expect("item");
        if !item.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
            item.labels.push(name);
        }
    }

    /// A person removes a label by hand (not logged as a request).
    pub fn remove_pr_label(&self, repo: &str, number: u64, label: &str) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let item = r.items.get_mut(&number).expect("item");
        item.labels.retain(|l| !l.eq_ignore_ascii_case(label));
    }

    /// Changes a PR's base branch.
    pub fn set_pr_base(&self, repo: &str, number: u64, base: &str) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        if let Some(pr) = r.items.get_mut(&number).and_then(|i| i.pr.as_mut()) {
            pr.base = base.to_string();
        }
    }

    /// Closes an issue or PR (merged, for a PR, when `merged`).
    pub fn close(&self, repo: &str, number: u64, merged: bool) {
        let mut s = self.lock();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let item = r.items.get_mut(&number).expect("item");
        item.open = false;
        if let Some(pr) = item.pr.as_mut() {
            pr.merged = merged;
        }
    }

    /// Makes `login` an active member of the team `org/slug`.
    pub fn add_team_member(&self, team: &str, login: &str) {
        self.set_membership(team, login, "active");
    }

    /// Invites `login` to `org/slug` (a pending membership is not membership).
    pub fn add_pending_team_member(&self, team: &str, login: &str) {
        self.set_membership(team, login, "pending");
    }

    fn set_membership(&self, team: &str, login: &str, state: &str) {
        self.lock()
            .teams
            .entry(team.to_ascii_lowercase())
            .or_default()
            .insert(login.to_ascii_lowercase(), state.to_string());
    }

    /// Sets the body of an issue or PR (as its author editing it).
    pub fn set_body(&self, repo: &str, number: u64, body: &str) {
        let mut s = self.lock();
        let now = s.tick();
        let item = s
            .repos
            .get_mut(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get_mut(&number))
            .expect("issue or PR exists");
        item.body = body.to_string();
        item.updated = now;
    }
}
