//! Prow's Tide config as the check sees it: the queries and what each may merge.
//!
//! [`TideQuery`] mirrors the fields of Prow's `TideQuery` that decide which repos and
//! branches a query can merge into and which labels it requires or refuses; [`ProwTide`] is
//! the parsed subset of `config.yaml` (`tide.queries`, `tide.blocker_label`). Parsing the
//! YAML is the shell's job (`prow::tide`).

use serde::Serialize;

use crate::model::{RepoName, Scope};

/// One of Tide's queries (Prow's `TideQuery`), the fields that decide what it may merge.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TideQuery {
    /// Orgs whose every repo the query covers (minus `excluded_repos`).
    pub orgs: Vec<String>,
    /// `org/repo` names the query covers.
    pub repos: Vec<String>,
    /// `org/repo` names taken out of an org-wide query.
    pub excluded_repos: Vec<String>,
    /// Labels a PR must carry; an entry `a,b` means "a or b", as in Tide.
    pub labels: Vec<String>,
    /// Labels a PR must not carry.
    pub missing_labels: Vec<String>,
    /// When not empty, the only base branches the query covers (it wins over excluded).
    pub included_branches: Vec<String>,
    /// Base branches the query does not cover.
    pub excluded_branches: Vec<String>,
    /// Milestone a PR must be in; it narrows the PRs, not the scopes.
    pub milestone: String,
    /// Author a PR must have; it narrows the PRs, not the scopes.
    pub author: String,
    /// Whether an approving review is required; narrows the PRs, not the scopes.
    pub review_approved_required: bool,
}

impl TideQuery {
    /// Whether the query covers `repo`, as Prow's `TideQuery.ForRepo`: an org-wide query
    /// covers every repo of the org not in `excludedRepos`, otherwise the repo must be
    /// listed. Names compare case-insensitively, as GitHub's search does.
    pub fn for_repo(&self, repo: &RepoName) -> bool {
        let full = format!("{}/{}", repo.org, repo.repo);
        if self.orgs.iter().any(|o| o.eq_ignore_ascii_case(&repo.org)) {
            return !self
                .excluded_repos
                .iter()
                .any(|r| r.eq_ignore_ascii_case(&full));
        }
        self.repos.iter().any(|r| r.eq_ignore_ascii_case(&full))
    }

    /// Whether the query may merge into `branch`: Tide turns `includedBranches` into
    /// `base:` and `excludedBranches` into `-base:` search terms, and with both set only the
    /// included ones take effect. Leaning towards "may merge" is the safe side here, so
    /// inclusion compares case-insensitively and exclusion exactly.
    pub fn for_branch(&self, branch: &str) -> bool {
        if !self.included_branches.is_empty() {
            return self
                .included_branches
                .iter()
                .any(|b| b.eq_ignore_ascii_case(branch));
        }
        !self.excluded_branches.iter().any(|b| b == branch)
    }

    /// Whether the query can merge a PR into `scope`.
    pub fn covers(&self, scope: &Scope) -> bool {
        self.for_repo(&scope.repo) && self.for_branch(&scope.branch)
    }

    /// Whether a PR carrying `label` is out of this query's pool.
    pub fn excludes(&self, label: &str) -> bool {
        self.missing_labels
            .iter()
            .any(|l| l.trim().eq_ignore_ascii_case(label.trim()))
    }

    /// Whether a PR carrying `pr_labels` has every label the query requires (each entry
    /// may list alternatives separated by commas). `missingLabels`, milestone and author
    /// are deliberately not looked at: a PR on hold today is ready the moment the hold is
    /// lifted, and is labelled already.
    pub fn has_required_labels<S: AsRef<str>>(&self, pr_labels: &[S]) -> bool {
        self.labels.iter().all(|entry| {
            entry.split(',').any(|alternative| {
                pr_labels
                    .iter()
                    .any(|l| l.as_ref().trim().eq_ignore_ascii_case(alternative.trim()))
            })
        })
    }

    /// A short human name of what the query covers: `repos: a/b, c/d; excludedBranches: x`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut field = |name: &str, values: &[String]| {
            if !values.is_empty() {
                parts.push(format!("{name}: {}", values.join(", ")));
            }
        };
        field("orgs", &self.orgs);
        field("repos", &self.repos);
        field("excludedRepos", &self.excluded_repos);
        field("includedBranches", &self.included_branches);
        field("excludedBranches", &self.excluded_branches);
        if !self.milestone.is_empty() {
            parts.push(format!("milestone: {}", self.milestone));
        }
        if !self.author.is_empty() {
            parts.push(format!("author: {}", self.author));
        }
        if parts.is_empty() {
            "no orgs or repos".into()
        } else {
            parts.join("; ")
        }
    }
}

/// The part of Prow's config this check needs: `tide.queries` and `tide.blocker_label`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProwTide {
    pub queries: Vec<TideQuery>,
    /// Tide's `blocker_label`; empty: Tide ignores blocker issues.
    pub blocker_label: String,
}

impl ProwTide {
    /// Indexes of the queries that can merge into `scope`.
    pub fn queries_for(&self, scope: &Scope) -> Vec<usize> {
        (0..self.queries.len())
            .filter(|&i| self.queries[i].covers(scope))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tide::testing::{LABEL, kubernetes, list, scope};

    #[test]
    fn which_queries_cover_a_scope() {
        let tide = kubernetes();
        let cases: &[(&str, &[usize])] = &[
            // repo query including master; the other repo query excludes it; the org-wide
            // query excludes the repo.
            ("kubernetes/kubernetes@master", &[2]),
            ("kubernetes/kubernetes@release-1.37", &[2]),
            // any other branch: only the excluding query.
            ("kubernetes/kubernetes@release-1.36", &[1]),
            // org-wide: every other repo of the org, any branch.
            ("kubernetes/test-infra@master", &[0]),
            ("kubernetes-sigs/cluster-api@main", &[0]),
            // excludedRepos of an org query.
            ("kubernetes-sigs/kind@main", &[]),
            // not covered by anything.
            ("other/repo@master", &[]),
            // GitHub names compare case-insensitively.
            ("Kubernetes/Kubernetes@master", &[2]),
        ];
        for (text, want) in cases {
            assert_eq!(tide.queries_for(&scope(text)), want.to_vec(), "{text}");
        }
    }

    #[test]
    fn branch_filters() {
        let q = |inc: &[&str], exc: &[&str]| TideQuery {
            repos: list(&["o/r"]),
            included_branches: list(inc),
            excluded_branches: list(exc),
            ..TideQuery::default()
        };
        let cases: &[(TideQuery, &str, bool)] = &[
            (q(&[], &[]), "master", true),
            (q(&["main"], &[]), "main", true),
            (q(&["main"], &[]), "master", false),
            (q(&[], &["main"]), "main", false),
            (q(&[], &["main"]), "dev", true),
            // Both set: Prow warns that excludedBranches have no effect.
            (q(&["main"], &["main"]), "main", true),
            (q(&["main"], &["dev"]), "dev", false),
            // Erring on "may merge": inclusion ignores case, exclusion does not.
            (q(&["Main"], &[]), "main", true),
            (q(&[], &["Main"]), "main", true),
        ];
        for (query, branch, want) in cases {
            assert_eq!(query.for_branch(branch), *want, "{query:?} {branch}");
        }
    }

    #[test]
    fn org_query_covers_repos_not_excluded_and_repo_query_only_its_repos() {
        let org = TideQuery {
            orgs: list(&["o"]),
            excluded_repos: list(&["o/x"]),
            ..TideQuery::default()
        };
        assert!(org.for_repo(&RepoName::new("o", "a")));
        assert!(!org.for_repo(&RepoName::new("o", "x")));
        assert!(!org.for_repo(&RepoName::new("p", "a")));
        let repo = TideQuery {
            repos: list(&["o/a", "p/b"]),
            ..TideQuery::default()
        };
        assert!(repo.for_repo(&RepoName::new("p", "b")));
        assert!(!repo.for_repo(&RepoName::new("o", "b")));
        // An excludedRepos entry only acts on org-wide queries, as in Prow.
        let both = TideQuery {
            repos: list(&["o/x"]),
            excluded_repos: list(&["o/x"]),
            ..TideQuery::default()
        };
        assert!(both.for_repo(&RepoName::new("o", "x")));
    }

    #[test]
    fn label_compares_case_insensitively_and_trimmed() {
        let q = TideQuery {
            missing_labels: list(&["Do-Not-Merge/Scalability-Regression "]),
            ..TideQuery::default()
        };
        assert!(q.excludes(LABEL));
        assert!(!q.excludes("do-not-merge"));
    }
}
