//! Reading the fake's state back, rendered as GitHub would answer it: labels, issues, PRs,
//! comments.

use serde_json::Value;

use super::FakeGithub;
use super::render::{comment_json, issue_json, pull_detail_json, pull_json};
use crate::github::types::{Comment, Issue, Label, PullRequest, PullRequestDetail};

impl FakeGithub {
    /// The labels a PR or issue carries now.
    pub fn labels_of(&self, repo: &str, number: u64) -> Vec<String> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get(&number))
            .map(|i| i.labels.clone())
            .unwrap_or_default()
    }

    /// A repository label, if it exists.
    pub fn repo_label(&self, repo: &str, name: &str) -> Option<Label> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())
            .and_then(|r| r.labels.get(&name.to_ascii_lowercase()).cloned())
    }

    /// Every issue of a repo (not PRs), in number order, as GitHub would answer it.
    pub fn issues(&self, repo: &str) -> Vec<Issue> {
        let s = self.lock();
        let Some(r) = s.repos.get(&repo.to_ascii_lowercase()) else {
            return Vec::new();
        };
        r.items
            .values()
            .filter(|i| i.pr.is_none())
            .map(|i| decode_render(issue_json(&s.base_url, r, i)))
            .collect()
    }

    /// One issue or PR as the issues API shows it.
    pub fn issue(&self, repo: &str, number: u64) -> Option<Issue> {
        let s = self.lock();
        let r = s.repos.get(&repo.to_ascii_lowercase())?;
        r.items
            .get(&number)
            .map(|i| decode_render(issue_json(&s.base_url, r, i)))
    }

    /// One PR as the pulls API shows it.
    pub fn pull(&self, repo: &str, number: u64) -> Option<PullRequest> {
        let s = self.lock();
        let r = s.repos.get(&repo.to_ascii_lowercase())?;
        let item = r.items.get(&number)?;
        pull_json(&s.base_url, r, item).map(decode_render)
    }

    /// The comments of an issue or PR, oldest first.
    pub fn comments(&self, repo: &str, number: u64) -> Vec<Comment> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get(&number))
            .map(|i| {
                i.comments
                    .iter()
                    .map(|c| decode_render(comment_json(c)))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every PR of a repo (open, closed and merged) as `GET .../pulls/{n}` shows it, in
    /// number order.
    pub fn pulls(&self, repo: &str) -> Vec<PullRequestDetail> {
        let s = self.lock();
        let Some(r) = s.repos.get(&repo.to_ascii_lowercase()) else {
            return Vec::new();
        };
        r.items
            .values()
            .filter_map(|i| pull_detail_json(&s.base_url, r, i))
            .map(|v| serde_json::from_value(v).expect("the fake renders what the client decodes"))
            .collect()
    }
}

pub(super) fn decode_render<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).expect("the fake renders what the client decodes")
}
