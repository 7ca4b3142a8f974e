//! The fake GitHub's model: repositories with labels, and issues and PRs sharing one number
//! space, each with its comments; organisations' teams; the clock items are stamped with.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::faults::Faults;
use super::history;
use super::log::{Hook, LoggedRequest};
use crate::github::types::Label;

/// Epoch second of the fake's clock for item timestamps (items are a minute apart).
pub(super) const EPOCH: i64 = 1_790_000_000;

/// A comment on an issue or PR.
#[derive(Debug, Clone)]
pub(super) struct FakeComment {
    pub(super) id: u64,
    pub(super) author: String,
    pub(super) body: String,
    pub(super) created: i64,
}

/// What a PR has beyond what an issue has.
#[derive(Debug, Clone)]
pub(super) struct PrPart {
    pub(super) base: String,
    pub(super) head_sha: String,
    pub(super) merged: bool,
    /// Merge commit, merge time, files, size, branch (see [`history`]).
    pub(super) facts: history::PrFacts,
}

/// An issue or a PR: they share one number space per repository, as on GitHub.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) number: u64,
    pub(super) title: String,
    pub(super) body: String,
    pub(super) author: String,
    pub(super) open: bool,
    pub(super) state_reason: Option<String>,
    pub(super) labels: Vec<String>,
    pub(super) comments: Vec<FakeComment>,
    pub(super) pr: Option<PrPart>,
    pub(super) created: i64,
    pub(super) updated: i64,
}

/// One repository: labels by lower-cased name, items by number, history.
#[derive(Debug, Clone, Default)]
pub(super) struct Repo {
    pub(super) name: String,
    pub(super) labels: BTreeMap<String, Label>,
    pub(super) items: BTreeMap<u64, Item>,
    pub(super) next_number: u64,
    /// Commits, branches and which PRs brought which commits.
    pub(super) history: history::History,
}

impl Repo {
    pub(super) fn has_label(&self, name: &str) -> bool {
        self.labels.contains_key(&name.to_ascii_lowercase())
    }

    /// The label's canonical spelling, creating it as GitHub does when it is added to an
    /// issue without existing.
    pub(super) fn label_or_create(&mut self, name: &str) -> String {
        self.labels
            .entry(name.to_ascii_lowercase())
            .or_insert_with(|| Label {
                name: name.to_string(),
                color: "ededed".into(),
                description: None,
            })
            .name
            .clone()
    }
}

/// Everything the fake holds, behind one lock.
pub(super) struct FakeState {
    pub(super) base_url: String,
    pub(super) token: String,
    pub(super) login: String,
    pub(super) repos: BTreeMap<String, Repo>,
    /// `org/slug` → login → `active` | `pending`.
    pub(super) teams: BTreeMap<String, BTreeMap<String, String>>,
    pub(super) next_comment_id: u64,
    pub(super) clock: i64,
    pub(super) log: Vec<LoggedRequest>,
    pub(super) faults: Faults,
    pub(super) hooks: Vec<Hook>,
    /// Bumped by [`FakeGithub::release_stalls`]; held requests wait for a change.
    pub(super) stall_release: watch::Sender<u64>,
    /// GitHub Apps: the registered app, installations, tokens (see [`super::app`]).
    pub(super) app: super::app::AppState,
    /// OpenAPI conformance: exchanges recorded when capturing (see [`super::capture`]).
    pub(super) exchanges: Option<Vec<super::capture::Exchange>>,
}

impl FakeState {
    pub(super) fn tick(&mut self) -> i64 {
        self.clock += 60;
        self.clock
    }

    pub(super) fn repo_mut(&mut self, owner: &str, repo: &str) -> Option<&mut Repo> {
        self.repos
            .get_mut(&format!("{owner}/{repo}").to_ascii_lowercase())
    }

    pub(super) fn repo(&self, owner: &str, repo: &str) -> Option<&Repo> {
        self.repos
            .get(&format!("{owner}/{repo}").to_ascii_lowercase())
    }
}

/// The state as the server and the handle share it.
pub(super) type Shared = Arc<Mutex<FakeState>>;
