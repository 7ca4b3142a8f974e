//! `scalability-gate simulate`: feeds a recorded sequence of runs, comments and PR events
//! through the real detector, gate and reconciler against the in-memory fake GitHub, and
//! prints the timeline — each decision and each GitHub request made. Operators use it to
//! check a configuration before going live.
//!
//! The events file (YAML):
//!
//! ```yaml
//! github:                       # the fake GitHub's state before the first event
//!   login: scalability-gate-bot # the token's owner (the plugin's own login)
//!   teams:
//!     kubernetes/sig-scalability-leads: [wojtek-t]
//!   repos:
//!     kubernetes/kubernetes:
//!       pulls:                  # numbered 1, 2, ... in this order
//!         - {base: master, labels: [lgtm, approved], author: alice}
//! events:
//!   - at: 2026-11-25T08:00:00Z
//!     run: {job: ci-kubernetes-e2e-gce-scale-performance-100, build: "100", result: success}
//!   - at: 2026-11-25T11:00:00Z
//!     comment: {repo: kubernetes/kubernetes, number: 1, author: mallory, body: /scalability-unblock}
//!   - at: 2026-11-25T11:05:00Z
//!     pr: {repo: kubernetes/kubernetes, number: 2, action: labeled, label: approved}
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

use crate::model::{RepoName, RunResult};

/// A whole events file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsFile {
    #[serde(default)]
    pub github: InitialGithub,
    pub events: Vec<TimedEvent>,
}

/// The fake GitHub's state before the first event.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InitialGithub {
    /// The plugin's own login (the token's owner).
    pub login: String,
    /// `org/team-slug` → member logins.
    pub teams: BTreeMap<String, Vec<String>>,
    /// `org/repo` → its state.
    pub repos: BTreeMap<String, InitialRepo>,
}

impl Default for InitialGithub {
    fn default() -> Self {
        Self {
            login: "scalability-gate-bot".into(),
            teams: BTreeMap::new(),
            repos: BTreeMap::new(),
        }
    }
}

/// One repository of the fake.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct InitialRepo {
    /// Open pull requests, numbered 1, 2, ... in this order.
    pub pulls: Vec<InitialPull>,
}

/// One open pull request of the fake.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitialPull {
    #[serde(default = "master")]
    pub base: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default = "someone")]
    pub author: String,
    #[serde(default)]
    pub title: String,
}

fn master() -> String {
    "master".into()
}

fn someone() -> String {
    "contributor".into()
}

/// One event at a time (RFC 3339).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimedEvent {
    pub at: String,
    #[serde(flatten)]
    pub what: SimEvent,
}

/// What happens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum SimEvent {
    /// A finished run of a job.
    Run(SimRun),
    /// A new comment on a PR or issue.
    Comment(SimComment),
    /// Something done to a PR.
    Pr(SimPr),
}

/// A finished run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimRun {
    pub job: String,
    pub build: String,
    pub result: RunResult,
    #[serde(default)]
    pub url: String,
}

/// A new comment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimComment {
    pub repo: String,
    pub number: u64,
    pub author: String,
    pub body: String,
}

/// What is done to a PR.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SimPrAction {
    Opened,
    Synchronize,
    Labeled,
    Unlabeled,
    Closed,
    Merged,
}

/// Something done to a PR (applied to the fake, then delivered as a `pull_request` event).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimPr {
    pub repo: String,
    pub number: u64,
    pub action: SimPrAction,
    /// For `labeled` / `unlabeled`.
    #[serde(default)]
    pub label: String,
    /// For `opened` (the new PR takes the next number; `number` must be it).
    #[serde(default = "master")]
    pub base: String,
    /// For `opened`: the labels it starts with.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Who did it.
    #[serde(default = "someone")]
    pub sender: String,
}

impl EventsFile {
    /// Reads and checks an events file; errors name the event.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading events file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("events file {}", path.display()))
    }

    /// Parses and checks the YAML text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: EventsFile = serde_yaml::from_str(text).context("parsing YAML")?;
        for repo in file.github.repos.keys() {
            RepoName::parse(repo).with_context(|| format!("github.repos: {repo}"))?;
        }
        for (i, event) in file.events.iter().enumerate() {
            crate::model::Timestamp::parse_rfc3339(&event.at)
                .with_context(|| format!("events[{i}].at: {:?} is not RFC 3339", event.at))?;
            let repo = match &event.what {
                SimEvent::Run(_) => None,
                SimEvent::Comment(c) => Some(&c.repo),
                SimEvent::Pr(p) => Some(&p.repo),
            };
            if let Some(repo) = repo {
                RepoName::parse(repo).with_context(|| format!("events[{i}].repo"))?;
            }
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_events_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events.yaml");
        let file = EventsFile::load(&path).unwrap();
        assert!(file.events.len() >= 5);
        assert!(matches!(file.events[0].what, SimEvent::Run(_)));
    }

    #[test]
    fn bad_events_are_named() {
        let err = EventsFile::parse(
            "events:\n- at: yesterday\n  run: {job: j, build: '1', result: success}\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("events[0].at"), "{err:#}");
        let err = EventsFile::parse(
            "events:\n- at: 2026-01-01T00:00:00Z\n  run: {job: j, build: '1', result: purple}\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("purple"), "{err:#}");
    }
}
