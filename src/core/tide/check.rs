//! Does the block hold? For each gated scope, whether every query that can merge into it
//! excludes our label, and whether Prow honours our blocker issues; the report of that.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;

use super::config::ProwTide;
use crate::model::Scope;

/// What to check: our label, our blocker label, and the gated scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckParams {
    /// The label the plugin puts on PRs.
    pub label: String,
    /// Our `tide.blocker_label`; empty: we open no blocker issues.
    pub blocker_label: String,
    /// The gated scopes. Empty: every query must exclude the label.
    pub scopes: Vec<Scope>,
}

/// Whether the blocker issues we open would stop Tide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BlockerCheck {
    /// We open no blocker issues (label-only mode).
    NotUsed,
    /// Prow's `tide.blocker_label` is ours: an open blocker issue stops the branch.
    Honoured { label: String },
    /// Prow's `tide.blocker_label` is empty or another label: our issues block nothing.
    NotHonoured { ours: String, prows: String },
}

/// One query that can merge into a scope, and whether it excludes our label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueryFinding {
    /// Position in `tide.queries` (from 0).
    pub index: usize,
    /// What the query covers, for people.
    pub description: String,
    /// Whether the query lists our label in `missingLabels`.
    pub excludes_label: bool,
    /// The labels the query requires.
    pub labels: Vec<String>,
}

/// One gated scope and the queries that can merge into it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeCoverage {
    pub scope: Scope,
    /// Every query that can merge into the scope. Empty: Tide merges nothing there.
    pub queries: Vec<QueryFinding>,
}

impl ScopeCoverage {
    /// Whether our label keeps every PR carrying it out of Tide's pool for this scope.
    pub fn covered(&self) -> bool {
        self.queries.iter().all(|q| q.excludes_label)
    }

    /// The queries that would still merge a PR carrying our label.
    pub fn uncovered(&self) -> impl Iterator<Item = &QueryFinding> {
        self.queries.iter().filter(|q| !q.excludes_label)
    }
}

/// The outcome of the check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TideReport {
    pub label: String,
    pub blocker: BlockerCheck,
    /// Number of queries in Prow's config.
    pub query_count: usize,
    /// One entry per gated scope (empty when checking every query).
    pub scopes: Vec<ScopeCoverage>,
    /// When no scopes were given: every query, each of which must exclude the label.
    pub all_queries: Vec<QueryFinding>,
}

impl TideReport {
    /// Whether the label holds on every scope (or query) checked.
    pub fn label_holds(&self) -> bool {
        self.scopes.iter().all(ScopeCoverage::covered)
            && self.all_queries.iter().all(|q| q.excludes_label)
    }

    /// Whether everything checked holds: the label everywhere, and blocker issues if used.
    pub fn holds(&self) -> bool {
        self.label_holds() && !matches!(self.blocker, BlockerCheck::NotHonoured { .. })
    }

    /// The scopes where a labelled PR could still merge.
    pub fn uncovered_scopes(&self) -> Vec<&Scope> {
        self.scopes
            .iter()
            .filter(|s| !s.covered())
            .map(|s| &s.scope)
            .collect()
    }

    /// Indexes of the queries whose `missingLabels` lack our label, where it matters.
    pub fn queries_to_fix(&self) -> BTreeSet<usize> {
        self.scopes
            .iter()
            .flat_map(|s| s.uncovered())
            .chain(self.all_queries.iter().filter(|q| !q.excludes_label))
            .map(|q| q.index)
            .collect()
    }

    /// One line per problem, for stderr and logs.
    pub fn diagnostics(&self) -> Vec<String> {
        let mut out = Vec::new();
        for s in &self.scopes {
            for q in s.uncovered() {
                out.push(format!(
                    "uncovered: {}: tide.queries[{}] ({}) can merge it but its missingLabels lack {}",
                    s.scope, q.index, q.description, self.label
                ));
            }
        }
        for q in self.all_queries.iter().filter(|q| !q.excludes_label) {
            out.push(format!(
                "uncovered: tide.queries[{}] ({}): its missingLabels lack {}",
                q.index, q.description, self.label
            ));
        }
        if let BlockerCheck::NotHonoured { ours, prows } = &self.blocker {
            out.push(format!(
                "blocker issues ignored: our tide.blocker_label is {ours:?} but Prow's is {prows:?}; \
                 Tide will not stop for our blocker issues"
            ));
        }
        out
    }

    /// The human report printed by `check-tide`.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "Tide check for label {} ({} queries in Prow's config)",
            self.label, self.query_count
        );
        let _ = match &self.blocker {
            BlockerCheck::NotUsed => writeln!(
                out,
                "blocker issues: not used (our tide.blocker_label is empty: label-only mode)"
            ),
            BlockerCheck::Honoured { label } => writeln!(
                out,
                "blocker issues: honoured (Prow's tide.blocker_label is {label}, as ours)"
            ),
            BlockerCheck::NotHonoured { ours, prows } => writeln!(
                out,
                "blocker issues: NOT honoured (ours is {ours:?}, Prow's tide.blocker_label is {prows:?})"
            ),
        };
        for s in &self.scopes {
            if s.queries.is_empty() {
                let _ = writeln!(out, "{}: held (no Tide query merges into it)", s.scope);
                continue;
            }
            let open = s.uncovered().count();
            if open == 0 {
                let _ = writeln!(
                    out,
                    "{}: held ({} of {} queries exclude the label)",
                    s.scope,
                    s.queries.len(),
                    s.queries.len()
                );
            } else {
                let _ = writeln!(
                    out,
                    "{}: NOT HELD ({open} of {} queries would still merge a labelled PR)",
                    s.scope,
                    s.queries.len()
                );
            }
            for q in &s.queries {
                let verdict = if q.excludes_label {
                    "excludes the label"
                } else {
                    "missingLabels lack the label"
                };
                let _ = writeln!(
                    out,
                    "  tide.queries[{}] ({}): {verdict}",
                    q.index, q.description
                );
            }
        }
        if !self.all_queries.is_empty() {
            let _ = writeln!(out, "no scopes given: every query must exclude the label");
            for q in &self.all_queries {
                let verdict = if q.excludes_label {
                    "excludes the label"
                } else {
                    "missingLabels lack the label"
                };
                let _ = writeln!(
                    out,
                    "  tide.queries[{}] ({}): {verdict}",
                    q.index, q.description
                );
            }
        }
        let _ = if self.holds() {
            writeln!(out, "result: the block holds")
        } else if self.label_holds() {
            writeln!(
                out,
                "result: the label holds, but blocker issues would be ignored"
            )
        } else {
            let queries: Vec<String> = self
                .queries_to_fix()
                .iter()
                .map(|i| format!("tide.queries[{i}]"))
                .collect();
            writeln!(
                out,
                "result: the block does NOT hold; `check-tide --fix` adds the label to {}",
                queries.join(", ")
            )
        };
        out
    }
}

/// Runs the check of `params` against Prow's Tide config.
pub fn check(tide: &ProwTide, params: &CheckParams) -> TideReport {
    let finding = |index: usize| {
        let q = &tide.queries[index];
        QueryFinding {
            index,
            description: q.describe(),
            excludes_label: q.excludes(&params.label),
            labels: q.labels.clone(),
        }
    };
    let blocker = if params.blocker_label.trim().is_empty() {
        BlockerCheck::NotUsed
    } else if tide
        .blocker_label
        .trim()
        .eq_ignore_ascii_case(params.blocker_label.trim())
    {
        BlockerCheck::Honoured {
            label: tide.blocker_label.clone(),
        }
    } else {
        BlockerCheck::NotHonoured {
            ours: params.blocker_label.clone(),
            prows: tide.blocker_label.clone(),
        }
    };
    let mut scopes: Vec<ScopeCoverage> = Vec::new();
    for scope in &params.scopes {
        if scopes.iter().any(|s| &s.scope == scope) {
            continue;
        }
        scopes.push(ScopeCoverage {
            scope: scope.clone(),
            queries: tide.queries_for(scope).into_iter().map(finding).collect(),
        });
    }
    let all_queries = if params.scopes.is_empty() {
        (0..tide.queries.len()).map(finding).collect()
    } else {
        Vec::new()
    };
    TideReport {
        label: params.label.clone(),
        blocker,
        query_count: tide.queries.len(),
        scopes,
        all_queries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tide::config::TideQuery;
    use crate::core::tide::testing::{LABEL, kubernetes, list, scope};

    #[test]
    fn report_names_every_query_lacking_the_label() {
        let tide = kubernetes();
        let params = CheckParams {
            label: LABEL.into(),
            blocker_label: "tide/merge-blocker".into(),
            scopes: vec![
                scope("kubernetes/kubernetes@master"),
                scope("kubernetes/kubernetes@release-1.36"),
                scope("kubernetes/test-infra@master"),
                scope("kubernetes-sigs/kind@main"),
                scope("kubernetes/kubernetes@master"), // a duplicate is reported once
            ],
        };
        let report = check(&tide, &params);
        assert_eq!(report.scopes.len(), 4);
        let covered: Vec<bool> = report.scopes.iter().map(ScopeCoverage::covered).collect();
        assert_eq!(covered, [true, false, false, true]);
        assert_eq!(report.queries_to_fix(), BTreeSet::from([0, 1]));
        assert!(!report.holds());
        assert_eq!(
            report.uncovered_scopes(),
            [
                &scope("kubernetes/kubernetes@release-1.36"),
                &scope("kubernetes/test-infra@master")
            ]
        );
        let diagnostics = report.diagnostics();
        assert_eq!(diagnostics.len(), 2, "{diagnostics:?}");
        assert!(diagnostics[0].contains("kubernetes/kubernetes@release-1.36"));
        assert!(diagnostics[0].contains("tide.queries[1]"));
        assert!(diagnostics[1].contains("tide.queries[0]"));
        let text = report.render();
        assert!(
            text.contains("kubernetes-sigs/kind@main: held (no Tide query"),
            "{text}"
        );
        assert!(text.contains("NOT HELD"), "{text}");

        // Only the master scope: it holds.
        let master = CheckParams {
            scopes: vec![scope("kubernetes/kubernetes@master")],
            ..params
        };
        let report = check(&tide, &master);
        assert!(report.holds(), "{}", report.render());
        assert!(report.diagnostics().is_empty());
    }

    #[test]
    fn several_queries_for_one_scope_must_all_exclude_the_label() {
        let mut tide = kubernetes();
        // A second query on master (e.g. a bot author's), lacking the label.
        tide.queries.push(TideQuery {
            repos: list(&["kubernetes/kubernetes"]),
            author: "k8s-ci-robot".into(),
            missing_labels: list(&["do-not-merge"]),
            ..TideQuery::default()
        });
        let params = CheckParams {
            label: LABEL.into(),
            blocker_label: String::new(),
            scopes: vec![scope("kubernetes/kubernetes@master")],
        };
        let report = check(&tide, &params);
        let found: Vec<(usize, bool)> = report.scopes[0]
            .queries
            .iter()
            .map(|q| (q.index, q.excludes_label))
            .collect();
        assert_eq!(found, [(2, true), (3, false)]);
        assert_eq!(report.queries_to_fix(), BTreeSet::from([3]));
        assert!(report.diagnostics()[0].contains("author: k8s-ci-robot"));
    }

    #[test]
    fn without_scopes_every_query_must_exclude_the_label() {
        let report = check(
            &kubernetes(),
            &CheckParams {
                label: LABEL.into(),
                blocker_label: String::new(),
                scopes: Vec::new(),
            },
        );
        assert_eq!(report.all_queries.len(), 3);
        assert_eq!(report.queries_to_fix(), BTreeSet::from([0, 1]));
        assert!(!report.label_holds());
    }

    #[test]
    fn blocker_issues_honoured_only_when_the_labels_match() {
        let cases: &[(&str, &str, BlockerCheck)] = &[
            ("", "tide/merge-blocker", BlockerCheck::NotUsed),
            ("", "", BlockerCheck::NotUsed),
            (
                "tide/merge-blocker",
                "tide/merge-blocker",
                BlockerCheck::Honoured {
                    label: "tide/merge-blocker".into(),
                },
            ),
            (
                "tide/merge-blocker",
                "",
                BlockerCheck::NotHonoured {
                    ours: "tide/merge-blocker".into(),
                    prows: String::new(),
                },
            ),
            (
                "tide/merge-blocker",
                "merge-blocker",
                BlockerCheck::NotHonoured {
                    ours: "tide/merge-blocker".into(),
                    prows: "merge-blocker".into(),
                },
            ),
        ];
        for (ours, prows, want) in cases {
            let tide = ProwTide {
                queries: Vec::new(),
                blocker_label: prows.to_string(),
            };
            let report = check(
                &tide,
                &CheckParams {
                    label: LABEL.into(),
                    blocker_label: ours.to_string(),
                    scopes: vec![scope("o/r@main")],
                },
            );
            assert_eq!(&report.blocker, want, "ours {ours:?} prow's {prows:?}");
            let not_honoured = matches!(want, BlockerCheck::NotHonoured { .. });
            assert_eq!(report.holds(), !not_honoured);
            assert!(report.label_holds());
        }
    }
}
