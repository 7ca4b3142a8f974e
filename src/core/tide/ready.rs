//! Which PRs are *ready*: they carry every label some query of their scope requires.

use serde::Serialize;

use super::config::{ProwTide, TideQuery};
use crate::model::Scope;

impl ProwTide {
    /// Which PRs of `scope` Tide could merge, by their labels.
    pub fn ready_rule(&self, scope: &Scope) -> ReadyRule {
        ReadyRule {
            alternatives: self
                .queries_for(scope)
                .into_iter()
                .map(|i| self.queries[i].labels.clone())
                .collect(),
        }
    }
}

/// Which PRs are *ready*: those carrying all labels of at least one alternative (one per
/// matching Tide query; an entry `a,b` means "a or b"). Built from Prow's config with
/// [`ProwTide::ready_rule`], or from our `ready_labels` with [`ReadyRule::from_labels`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadyRule {
    /// The required labels of each query that can merge into the scope. Empty: Tide merges
    /// nothing there, so nothing is ready.
    pub alternatives: Vec<Vec<String>>,
}

impl ReadyRule {
    /// One alternative: every label of `labels` (our `ready_labels` fallback).
    pub fn from_labels(labels: &[String]) -> Self {
        Self {
            alternatives: vec![labels.to_vec()],
        }
    }

    /// Whether a PR carrying `pr_labels` is ready.
    pub fn is_ready<S: AsRef<str>>(&self, pr_labels: &[S]) -> bool {
        self.alternatives.iter().any(|labels| {
            TideQuery {
                labels: labels.clone(),
                ..TideQuery::default()
            }
            .has_required_labels(pr_labels)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tide::testing::{kubernetes, list, scope};

    #[test]
    fn ready_prs_carry_all_labels_of_some_matching_query() {
        let mut tide = kubernetes();
        tide.queries.push(TideQuery {
            repos: list(&["kubernetes/kubernetes"]),
            labels: list(&["bot-approved", "ok-to-merge,lgtm"]),
            ..TideQuery::default()
        });
        let rule = tide.ready_rule(&scope("kubernetes/kubernetes@master"));
        assert_eq!(rule.alternatives.len(), 2);
        let cases: &[(&[&str], bool)] = &[
            (&["lgtm", "approved", "cncf-cla: yes"], true),
            (
                &["LGTM", "approved", "cncf-cla: yes", "do-not-merge/hold"],
                true,
            ),
            (&["lgtm", "approved"], false),
            (&["bot-approved", "ok-to-merge"], true),
            (&["bot-approved", "lgtm"], true),
            (&["bot-approved"], false),
            (&[], false),
        ];
        for (labels, want) in cases {
            assert_eq!(rule.is_ready(labels), *want, "{labels:?}");
        }
        // A scope no query merges into has no ready PR.
        assert!(
            !tide
                .ready_rule(&scope("other/repo@main"))
                .is_ready(&["lgtm"])
        );
        // The ready_labels fallback.
        let fallback = ReadyRule::from_labels(&list(&["lgtm", "approved"]));
        assert!(fallback.is_ready(&["approved", "lgtm", "x"]));
        assert!(!fallback.is_ready(&["lgtm"]));
        // A query without required labels makes every PR ready.
        assert!(ReadyRule::from_labels(&[]).is_ready::<&str>(&[]));
    }
}
