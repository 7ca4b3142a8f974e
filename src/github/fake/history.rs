//! The fake GitHub's git history and merged PRs: commits with parents and messages on
//! branches, and PRs merged at given times (with labels, files and size). The endpoints
//! that read it are in [`super::commits`]; GraphQL `revertPullRequest` in [`super::graphql`].
//!
//! Seeding: [`FakeGithub::merge_pr`] (a merge commit, or a squash commit, onto a branch),
//! [`FakeGithub::push_commit`] (a commit with no PR). Reading: [`FakeGithub::branch_head`],
//! [`FakeGithub::pulls`].

use std::collections::BTreeSet;

use super::FakeGithub;
use super::state::{FakeCommit, History, Item, PrFacts, PrPart};
use crate::model::Timestamp;

impl History {
    pub(super) fn resolve(&self, reference: &str) -> Option<&FakeCommit> {
        if let Some(c) = self.commits.get(reference) {
            return Some(c);
        }
        if let Some(head) = self.branches.get(reference) {
            return self.commits.get(head);
        }
        if reference.len() >= 7 {
            let mut found = self
                .commits
                .values()
                .filter(|c| c.sha.starts_with(reference));
            if let (Some(c), None) = (found.next(), found.next()) {
                return Some(c);
            }
        }
        None
    }

    pub(super) fn ancestors(&self, sha: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![sha.to_string()];
        while let Some(s) = stack.pop() {
            if let Some(c) = self.commits.get(&s) {
                if seen.insert(s) {
                    stack.extend(c.parents.iter().cloned());
                }
            }
        }
        seen
    }

    pub(super) fn commit(
        &mut self,
        parents: Vec<String>,
        message: &str,
        author: &str,
        at: i64,
    ) -> String {
        self.next_seq += 1;
        let seq = self.next_seq;
        let sha = format!(
            "{:040x}",
            u128::from(seq) * 0x9e37_79b9_7f4a_7c15_u128 + 0xc0ffee
        );
        self.commits.insert(
            sha.clone(),
            FakeCommit {
                sha: sha.clone(),
                message: message.to_string(),
                parents,
                author: author.to_string(),
                seq,
                at,
            },
        );
        sha
    }

    /// The branch's head, with a root commit made first when the branch has none.
    pub(super) fn head_or_root(&mut self, branch: &str, at: i64) -> String {
        if let Some(head) = self.branches.get(branch) {
            return head.clone();
        }
        let root = self.commit(Vec::new(), "Initial commit", "octocat", at);
        self.branches.insert(branch.to_string(), root.clone());
        root
    }
}

/// How a PR lands on its branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStyle {
    /// GitHub's "Create a merge commit": the PR's commit, then `Merge pull request #N
    /// from author/branch` with two parents.
    MergeCommit,
    /// "Squash and merge": one commit `Title (#N)` with one parent.
    Squash,
}

/// A merged PR to seed with [`FakeGithub::merge_pr`].
#[derive(Debug, Clone)]
pub struct MergedPr {
    pub base: String,
    pub title: String,
    pub body: String,
    pub author: String,
    pub labels: Vec<String>,
    pub files: Vec<String>,
    pub additions: u64,
    pub deletions: u64,
    pub merged_at: Timestamp,
    pub style: MergeStyle,
    /// Whether GitHub associates the commits with the PR (`commits/{sha}/pulls`);
    /// false models history where only the commit message names the PR.
    pub linked: bool,
}

impl MergedPr {
    /// A PR titled `title` merged into `base` at `merged_at` with a merge commit, by
    /// `contributor`, touching `README.md` with 10 lines added.
    pub fn new(base: &str, title: &str, merged_at: Timestamp) -> Self {
        Self {
            base: base.to_string(),
            title: title.to_string(),
            body: String::new(),
            author: "contributor".into(),
            labels: Vec::new(),
            files: vec!["README.md".into()],
            additions: 10,
            deletions: 0,
            merged_at,
            style: MergeStyle::MergeCommit,
            linked: true,
        }
    }

    /// By this author.
    pub fn author(mut self, author: &str) -> Self {
        self.author = author.to_string();
        self
    }

    /// With this body.
    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_string();
        self
    }

    /// With these labels.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    /// Touching these files.
    pub fn files(mut self, files: &[&str]) -> Self {
        self.files = files.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Of this size.
    pub fn size(mut self, additions: u64, deletions: u64) -> Self {
        self.additions = additions;
        self.deletions = deletions;
        self
    }

    /// Squashed into one commit `Title (#N)`.
    pub fn squashed(mut self) -> Self {
        self.style = MergeStyle::Squash;
        self
    }

    /// Not associated with its commits by GitHub (only the message names it).
    pub fn unlinked(mut self) -> Self {
        self.linked = false;
        self
    }
}

/// What [`FakeGithub::merge_pr`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub number: u64,
    /// The commit that brought it onto the branch (the branch's new head).
    pub merge_commit: String,
}

impl FakeGithub {
    /// A commit pushed onto `branch` with no PR; returns its sha.
    pub fn push_commit(&self, repo: &str, branch: &str, message: &str) -> String {
        self.add_repo(repo);
        let mut s = self.lock();
        let now = s.tick();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let head = r.history.head_or_root(branch, now);
        let sha = r.history.commit(vec![head], message, "pusher", now);
        r.history.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    /// The head commit of `branch`, `None` before anything landed on it.
    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())?
            .history
            .branches
            .get(branch)
            .cloned()
    }

    /// Merges a new PR into `spec.base` at `spec.merged_at`: its commit(s) land on the
    /// branch (see [`MergeStyle`]) and the PR is closed as merged.
    pub fn merge_pr(&self, repo: &str, spec: MergedPr) -> Merged {
        self.add_repo(repo);
        let mut s = self.lock();
        let now = s.tick();
        let login = s.login.clone();
        let at = spec.merged_at.0;
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let number = r.next_number;
        r.next_number += 1;
        let head_ref = format!("{}-change-{number}", spec.author);
        let parent = r.history.head_or_root(&spec.base, now.min(at));
        let pr_commit = r
            .history
            .commit(vec![parent.clone()], &spec.title, &spec.author, at);
        let merge_commit = match spec.style {
            MergeStyle::MergeCommit => r.history.commit(
                vec![parent, pr_commit.clone()],
                &format!(
                    "Merge pull request #{number} from {}/{head_ref}\n\n{}",
                    spec.author, spec.title
                ),
                &login,
                at,
            ),
            MergeStyle::Squash => {
                // The squash commit replaces the PR's commit on the branch.
                let c = r.history.commits.remove(&pr_commit).expect("just made");
                let sha = c.sha.clone();
                r.history.commits.insert(
                    sha.clone(),
                    FakeCommit {
                        message: format!("{} (#{number})", spec.title),
                        ..c
                    },
                );
                sha
            }
        };
        r.history
            .branches
            .insert(spec.base.clone(), merge_commit.clone());
        if spec.linked {
            for sha in BTreeSet::from([pr_commit.clone(), merge_commit.clone()]) {
                r.history.commit_prs.entry(sha).or_default().push(number);
            }
        }
        let labels = spec.labels.iter().map(|l| r.label_or_create(l)).collect();
        r.items.insert(
            number,
            Item {
                number,
                title: spec.title.clone(),
                body: spec.body.clone(),
                author: spec.author.clone(),
                open: false,
                state_reason: None,
                labels,
                comments: Vec::new(),
                pr: Some(PrPart {
                    base: spec.base.clone(),
                    head_sha: pr_commit,
                    merged: true,
                    facts: PrFacts {
                        merge_commit: Some(merge_commit.clone()),
                        merged_at: Some(at),
                        merged_by: Some("k8s-merge-robot".into()),
                        head_ref: Some(head_ref),
                        files: spec.files.clone(),
                        additions: spec.additions,
                        deletions: spec.deletions,
                    },
                }),
                created: at - 3600,
                updated: at,
            },
        );
        Merged {
            number,
            merge_commit,
        }
    }
}
