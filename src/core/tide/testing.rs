//! Test data shared by the Tide check's tests: the label, scopes, and Kubernetes' queries.

use super::config::{ProwTide, TideQuery};
use crate::model::{RepoName, Scope};

pub(super) const LABEL: &str = "do-not-merge/scalability-regression";

pub(super) fn scope(text: &str) -> Scope {
    let (repo, branch) = text.split_once('@').unwrap();
    Scope {
        repo: RepoName::parse(repo).unwrap(),
        branch: branch.into(),
    }
}

pub(super) fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// The two kubernetes/kubernetes queries of Kubernetes' real config, plus the org-wide
/// query before them (shortened), as in test-infra's config.yaml.
pub(super) fn kubernetes() -> ProwTide {
    ProwTide {
        queries: vec![
            TideQuery {
                orgs: list(&["kubernetes", "kubernetes-sigs"]),
                excluded_repos: list(&["kubernetes/kubernetes", "kubernetes-sigs/kind"]),
                labels: list(&["lgtm", "approved", "cncf-cla: yes"]),
                missing_labels: list(&["do-not-merge", "do-not-merge/hold"]),
                ..TideQuery::default()
            },
            TideQuery {
                repos: list(&["kubernetes/kubernetes"]),
                excluded_branches: list(&["master", "release-1.37"]),
                labels: list(&["lgtm", "approved", "cncf-cla: yes"]),
                missing_labels: list(&["do-not-merge", "do-not-merge/hold"]),
                ..TideQuery::default()
            },
            TideQuery {
                repos: list(&["kubernetes/kubernetes"]),
                milestone: "v1.37".into(),
                included_branches: list(&["master", "release-1.37"]),
                labels: list(&["lgtm", "approved", "cncf-cla: yes"]),
                missing_labels: list(&["do-not-merge", LABEL]),
                ..TideQuery::default()
            },
        ],
        blocker_label: "tide/merge-blocker".into(),
    }
}
