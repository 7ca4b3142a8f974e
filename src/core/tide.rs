//! Pure core: does the block really hold in Tide?
//!
//! Tide merges a PR when it matches *any* of its queries. Our label keeps a PR out of the
//! pool only where *every* query that can merge into the scope lists it in
//! `missingLabels`, and a blocker issue blocks only when Prow's `tide.blocker_label` is the
//! label we put on it. This module decides, for each gated scope, which queries can merge
//! into it (Prow's `TideQuery.ForRepo` plus the branch filters of its search string) and
//! whether each excludes our label; it also says which PRs are *ready* (carry all labels of
//! a matching query), and edits Prow's config text to add the label where it is missing,
//! byte for byte, without re-serializing it.
//!
//! Parsing the YAML into [`ProwTide`] is the shell's job (`prow::tide`); everything here is
//! plain functions over strings and our own types.

use std::collections::BTreeSet;
use std::fmt::Write as _;

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

/// One of Tide's pools as Deck's `/tide.js` shows it, reduced to what the live check needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TidePool {
    pub org: String,
    pub repo: String,
    pub branch: String,
    /// Tide's last action on the pool: `BLOCKED` when a blocker issue holds it.
    pub action: String,
    /// Numbers of the blocker issues Tide honours on this pool.
    pub blockers: Vec<u64>,
    /// Numbers of every PR in the pool (success, pending, missing, batch): PRs Tide may merge.
    pub prs: Vec<u64>,
}

/// Whether Tide's live pool for a blocked scope holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PoolVerdict {
    /// Tide reports the pool `BLOCKED` (a blocker issue holds it).
    Blocked { blockers: Vec<u64> },
    /// The pool holds no PR that is not exempt (or Tide has no pool there).
    Held,
    /// Tide could still merge these PRs (in its pool, not exempt).
    WouldMerge { prs: Vec<u64> },
}

impl PoolVerdict {
    /// Whether the block holds on the pool.
    pub fn holds(&self) -> bool {
        !matches!(self, PoolVerdict::WouldMerge { .. })
    }
}

/// Judges Tide's live pools for `scope` during an incident: `exempt` PRs may merge.
pub fn judge_pool(pools: &[TidePool], scope: &Scope, exempt: &[u64]) -> PoolVerdict {
    let mut prs: Vec<u64> = Vec::new();
    for pool in pools.iter().filter(|p| {
        p.org.eq_ignore_ascii_case(&scope.repo.org)
            && p.repo.eq_ignore_ascii_case(&scope.repo.repo)
            && p.branch == scope.branch
    }) {
        if pool.action.eq_ignore_ascii_case("BLOCKED") {
            return PoolVerdict::Blocked {
                blockers: pool.blockers.clone(),
            };
        }
        prs.extend(pool.prs.iter().filter(|n| !exempt.contains(n)));
    }
    prs.sort_unstable();
    prs.dedup();
    if prs.is_empty() {
        PoolVerdict::Held
    } else {
        PoolVerdict::WouldMerge { prs }
    }
}

/// Why `--fix` refuses to edit a config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FixError {
    #[error("no top-level `tide:` block mapping found")]
    NoTideSection,
    #[error("no block-style `queries:` list under `tide:`")]
    NoQueries,
    #[error("line {line}: {what}; edit this by hand")]
    Unsupported { line: usize, what: String },
    #[error("found {found} queries in the text but the parser saw {expected}")]
    QueryCount { found: usize, expected: usize },
}

/// One line of the text: its byte range, without and with the line ending.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// Byte offset of the line's first character.
    start: usize,
    /// The line's text, without `\n` or `\r\n`.
    text: &'a str,
    /// Byte offset just past the line ending (or the end of the text).
    end: usize,
    /// Whether the line has a line ending.
    has_eol: bool,
}

impl Line<'_> {
    fn indent(&self) -> usize {
        self.text.len() - self.text.trim_start_matches(' ').len()
    }

    /// Blank or a comment: no structure.
    fn is_filler(&self) -> bool {
        let t = self.text.trim();
        t.is_empty() || t.starts_with('#')
    }

    fn content(&self) -> &str {
        &self.text[self.indent()..]
    }

    /// A `- ` (or bare `-`) sequence entry at this line's indentation.
    fn is_dash(&self) -> bool {
        let c = self.content();
        c == "-" || c.starts_with("- ") || c.starts_with("-\t")
    }
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let (raw, end, has_eol) = match text[start..].find('\n') {
            Some(i) => (&text[start..start + i], start + i + 1, true),
            None => (&text[start..], text.len(), false),
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        out.push(Line {
            start,
            text: line,
            end,
            has_eol,
        });
        start = end;
    }
    out
}

/// A mapping key at the start of `s` (plain or quoted), and what follows its colon with
/// any trailing comment removed.
fn key_of(s: &str) -> Option<(String, &str)> {
    let (key, rest) = if let Some(q @ ('"' | '\'')) = s.chars().next() {
        let close = s[1..].find(q)? + 1;
        (s[1..close].to_string(), &s[close + 1..])
    } else {
        let end = s.find(':')?;
        let key = &s[..end];
        if key.is_empty() || key.contains([' ', '#', '[', '{', ',']) || key.starts_with('-') {
            return None;
        }
        (key.to_string(), &s[end..])
    };
    let rest = rest.strip_prefix(':')?;
    if !(rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')) {
        return None;
    }
    Some((key, strip_comment(rest).trim()))
}

/// `s` without a trailing ` # comment` (outside quotes).
fn strip_comment(s: &str) -> &str {
    let mut quote = None;
    let mut prev_space = true;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, '#') if prev_space => return &s[..i],
            _ => {}
        }
        prev_space = c == ' ' || c == '\t';
    }
    s
}

/// The label as a YAML scalar: plain when that is unambiguous, else double-quoted.
fn yaml_scalar(label: &str) -> String {
    let plain_chars = label
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    let starts_well = label
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic());
    let lower = label.to_ascii_lowercase();
    let special = matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "true" | "false" | "null" | "~"
    );
    if plain_chars && starts_well && !special {
        label.to_string()
    } else {
        let escaped = label.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// One insertion into the text: the only kind of edit `--fix` makes.
struct Insert {
    /// Byte offset in the original text.
    at: usize,
    text: String,
}

/// Adds `label` to the `missingLabels` of the queries at `indexes` in Prow's config text,
/// creating the list where a query has none, and changes no other byte: the result is the
/// input with text inserted. Block lists (`- item`, any indentation) and one-line flow
/// lists (`[a, b]`) are edited; any other shape is refused with the line to edit by hand.
/// `expected_queries` is the number of queries the parser saw, as a cross-check of the
/// scan. The caller should parse the result and check it again.
pub fn insert_missing_label(
    text: &str,
    label: &str,
    indexes: &BTreeSet<usize>,
    expected_queries: usize,
) -> Result<String, FixError> {
    let lines = split_lines(text);
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let unsupported = |i: usize, what: &str| FixError::Unsupported {
        line: i + 1,
        what: what.to_string(),
    };

    // The top-level `tide:` block.
    let tide = lines
        .iter()
        .position(|l| l.indent() == 0 && key_of(l.text).is_some_and(|(k, _)| k == "tide"))
        .ok_or(FixError::NoTideSection)?;
    if let Some((_, rest)) = key_of(lines[tide].text)
        && !rest.is_empty()
    {
        return Err(unsupported(tide, "`tide:` is not a block mapping"));
    }
    let tide_end = (tide + 1..lines.len())
        .find(|&i| !lines[i].is_filler() && lines[i].indent() == 0)
        .unwrap_or(lines.len());
    let child_indent = (tide + 1..tide_end)
        .find(|&i| !lines[i].is_filler())
        .map(|i| lines[i].indent())
        .ok_or(FixError::NoQueries)?;

    // `queries:` under it.
    let queries = (tide + 1..tide_end)
        .find(|&i| {
            let l = &lines[i];
            !l.is_filler()
                && l.indent() == child_indent
                && key_of(l.content()).is_some_and(|(k, _)| k == "queries")
        })
        .ok_or(FixError::NoQueries)?;
    let (_, rest) = key_of(lines[queries].content()).expect("matched above");
    if !rest.is_empty() {
        if rest == "[]" && expected_queries == 0 {
            return Ok(text.to_string());
        }
        return Err(unsupported(queries, "`queries:` is not a block list"));
    }
    let Some(first) = (queries + 1..tide_end).find(|&i| !lines[i].is_filler()) else {
        return check_count(0, expected_queries).map(|_| text.to_string());
    };
    let item_indent = lines[first].indent();
    if item_indent < child_indent || !lines[first].is_dash() {
        return check_count(0, expected_queries).map(|_| text.to_string());
    }
    let list_end = (first..tide_end)
        .find(|&i| {
            let l = &lines[i];
            !l.is_filler()
                && (l.indent() < item_indent || (l.indent() == item_indent && !l.is_dash()))
        })
        .unwrap_or(tide_end);
    let starts: Vec<usize> = (first..list_end)
        .filter(|&i| !lines[i].is_filler() && lines[i].indent() == item_indent)
        .collect();
    check_count(starts.len(), expected_queries)?;

    // The list style (offset of `-` under its key) used by the file, for lists we create.
    let mut offset = None;

    let mut plans: Vec<(usize, Item)> = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(list_end);
        let item = Item::scan(&lines, start, end, item_indent);
        if offset.is_none() {
            offset = item.list_offset;
        }
        plans.push((n, item));
    }
    let offset = offset.unwrap_or(2);

    let mut edits = Vec::new();
    for (n, item) in &plans {
        if !indexes.contains(n) {
            continue;
        }
        if let Some((line, what)) = &item.refusal {
            return Err(unsupported(*line, what));
        }
        edits.push(item.edit(&lines, label, offset, eol)?);
    }

    let mut out = text.to_string();
    edits.sort_by_key(|edit: &Insert| std::cmp::Reverse(edit.at));
    for Insert { at, text } in edits {
        out.insert_str(at, &text);
    }
    Ok(out)
}

fn check_count(found: usize, expected: usize) -> Result<(), FixError> {
    if found == expected {
        Ok(())
    } else {
        Err(FixError::QueryCount { found, expected })
    }
}

/// What the scan learnt of one query.
struct Item {
    /// Column of the query's keys.
    key_indent: usize,
    /// The `missingLabels:` line, if any.
    missing: Option<usize>,
    /// The last line carrying the query's content.
    last: usize,
    /// Why this query cannot be edited safely, with the line.
    refusal: Option<(usize, String)>,
    /// How far this query's block lists sit right of their keys.
    list_offset: Option<usize>,
}

impl Item {
    fn scan(lines: &[Line<'_>], start: usize, end: usize, item_indent: usize) -> Item {
        let dash = &lines[start];
        let after = &dash.content()[1..];
        let spaces = after.len() - after.trim_start_matches(' ').len();
        let inline = strip_comment(after).trim();
        let mut item = Item {
            key_indent: item_indent + 1 + spaces,
            missing: None,
            last: start,
            refusal: None,
            list_offset: None,
        };
        if inline.is_empty() {
            match (start + 1..end).find(|&i| !lines[i].is_filler()) {
                Some(i) => item.key_indent = lines[i].indent(),
                None => {
                    item.refusal = Some((start, "an empty query".into()));
                    return item;
                }
            }
        } else if key_of(inline).is_none() {
            item.refusal = Some((start, "the query is not a block mapping".into()));
            return item;
        }
        let mut previous_key: Option<usize> = None; // a key whose value is on the next lines
        for (i, l) in lines.iter().enumerate().take(end).skip(start) {
            if l.is_filler() {
                continue;
            }
            item.last = i;
            let at_key = if i == start {
                (!inline.is_empty()).then_some(inline)
            } else if l.indent() == item.key_indent && !l.is_dash() {
                Some(l.content())
            } else {
                if l.indent() < item.key_indent {
                    item.refusal = Some((i, "unexpected indentation in the query".into()));
                }
                // The first `-` under a key with no inline value shows the list style.
                if l.is_dash() && previous_key.take().is_some() && l.indent() >= item.key_indent {
                    item.list_offset.get_or_insert(l.indent() - item.key_indent);
                }
                None
            };
            let Some(content) = at_key else { continue };
            previous_key = None;
            match key_of(content) {
                Some((key, rest)) => {
                    if key == "<<" {
                        item.refusal = Some((i, "the query uses a `<<` merge key".into()));
                    }
                    if rest.is_empty() {
                        previous_key = Some(i);
                    }
                    if key == "missingLabels" {
                        item.missing = Some(i);
                    }
                }
                None => item.refusal = Some((i, "a line that is not `key: value`".into())),
            }
        }
        item
    }

    fn edit(
        &self,
        lines: &[Line<'_>],
        label: &str,
        offset: usize,
        eol: &str,
    ) -> Result<Insert, FixError> {
        let scalar = yaml_scalar(label);
        let unsupported = |i: usize, what: &str| FixError::Unsupported {
            line: i + 1,
            what: what.to_string(),
        };
        let Some(key_line) = self.missing else {
            // No list: add one at the end of the query.
            let pad = " ".repeat(self.key_indent);
            let item_pad = " ".repeat(self.key_indent + offset);
            let body = format!("{pad}missingLabels:{eol}{item_pad}- {scalar}{eol}");
            return Ok(after_line(&lines[self.last], body, eol));
        };
        let l = &lines[key_line];
        // The key sits at the query's key column, on the `- ` line or its own.
        let (_, rest) = key_of(&l.text[self.key_indent..])
            .ok_or_else(|| unsupported(key_line, "unreadable key"))?;
        if rest.is_empty() {
            // A block list below (or nothing: null).
            let mut list_indent = None;
            let mut last = key_line;
            for (i, line) in lines.iter().enumerate().skip(key_line + 1) {
                if i > self.last {
                    break;
                }
                if line.is_filler() {
                    continue;
                }
                match list_indent {
                    None if line.is_dash() && line.indent() >= self.key_indent => {
                        list_indent = Some(line.indent());
                        last = i;
                    }
                    None => break,
                    Some(m) if line.indent() > m || (line.indent() == m && line.is_dash()) => {
                        last = i;
                    }
                    Some(_) => break,
                }
            }
            let indent = list_indent.unwrap_or(self.key_indent + offset);
            let body = format!("{}- {scalar}{eol}", " ".repeat(indent));
            return Ok(after_line(&lines[last], body, eol));
        }
        if rest.starts_with('[') {
            // A one-line flow list: insert before its closing bracket.
            let open = l
                .text
                .find('[')
                .ok_or_else(|| unsupported(key_line, "unreadable flow list"))?;
            let close = matching_bracket(&l.text[open..])
                .map(|c| open + c)
                .ok_or_else(|| unsupported(key_line, "a flow list over several lines"))?;
            let inside = &l.text[open + 1..close];
            let trimmed = inside.trim_end();
            let (at, text) = if trimmed.trim().is_empty() {
                (open + 1, scalar)
            } else if trimmed.ends_with(',') {
                (open + 1 + trimmed.len(), format!(" {scalar}"))
            } else {
                (open + 1 + trimmed.len(), format!(", {scalar}"))
            };
            return Ok(Insert {
                at: l.start + at,
                text,
            });
        }
        Err(unsupported(
            key_line,
            "`missingLabels` is neither a block list nor a one-line `[...]` list",
        ))
    }
}

/// Inserts `body` (whole lines ending in `eol`) after `line`.
fn after_line(line: &Line<'_>, body: String, eol: &str) -> Insert {
    if line.has_eol {
        Insert {
            at: line.end,
            text: body,
        }
    } else {
        let body = body.strip_suffix(eol).unwrap_or(&body);
        Insert {
            at: line.end,
            text: format!("{eol}{body}"),
        }
    }
}

/// Offset of the `]` closing the `[` at the start of `s`, outside quotes, on this line.
fn matching_bracket(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote = None;
    for (i, c) in s.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            (None, '#') => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LABEL: &str = "do-not-merge/scalability-regression";

    fn scope(text: &str) -> Scope {
        let (repo, branch) = text.split_once('@').unwrap();
        Scope {
            repo: RepoName::parse(repo).unwrap(),
            branch: branch.into(),
        }
    }

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The two kubernetes/kubernetes queries of Kubernetes' real config, plus the org-wide
    /// query before them (shortened), as in test-infra's config.yaml.
    fn kubernetes() -> ProwTide {
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
    fn label_compares_case_insensitively_and_trimmed() {
        let q = TideQuery {
            missing_labels: list(&["Do-Not-Merge/Scalability-Regression "]),
            ..TideQuery::default()
        };
        assert!(q.excludes(LABEL));
        assert!(!q.excludes("do-not-merge"));
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

    #[test]
    fn live_pools_are_judged_per_scope() {
        let pool = |branch: &str, action: &str, blockers: &[u64], prs: &[u64]| TidePool {
            org: "kubernetes".into(),
            repo: "kubernetes".into(),
            branch: branch.into(),
            action: action.into(),
            blockers: blockers.to_vec(),
            prs: prs.to_vec(),
        };
        let master = scope("kubernetes/kubernetes@master");
        let cases: &[(&str, Vec<TidePool>, &[u64], PoolVerdict)] = &[
            ("no pool at all", vec![], &[], PoolVerdict::Held),
            (
                "another branch's pool does not count",
                vec![pool("release-1.36", "MERGE", &[], &[7])],
                &[],
                PoolVerdict::Held,
            ),
            (
                "an empty pool",
                vec![pool("master", "WAIT", &[], &[])],
                &[],
                PoolVerdict::Held,
            ),
            (
                "blocked by a blocker issue, PRs or not",
                vec![pool("master", "BLOCKED", &[42], &[1, 2])],
                &[],
                PoolVerdict::Blocked { blockers: vec![42] },
            ),
            (
                "unlabelled PRs still in the pool",
                vec![pool("master", "TRIGGER", &[], &[5, 3, 5])],
                &[],
                PoolVerdict::WouldMerge { prs: vec![3, 5] },
            ),
            (
                "only exempt PRs in the pool",
                vec![pool("master", "MERGE", &[], &[9])],
                &[9],
                PoolVerdict::Held,
            ),
        ];
        for (name, pools, exempt, want) in cases {
            let got = judge_pool(pools, &master, exempt);
            assert_eq!(&got, want, "{name}");
            assert_eq!(got.holds(), !matches!(want, PoolVerdict::WouldMerge { .. }));
        }
    }

    fn fix(text: &str, queries: &[usize], count: usize) -> Result<String, FixError> {
        insert_missing_label(text, LABEL, &queries.iter().copied().collect(), count)
    }

    #[test]
    fn fix_edits_every_list_shape() {
        let cases: &[(&str, &str, &[usize], usize, &str)] = &[
            (
                "block list, indentless as in Kubernetes' config",
                "tide:\n  queries:\n  - repos:\n    - o/r\n    missingLabels:\n    - a\n    - b # why\n  blocker_label: x\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos:\n    - o/r\n    missingLabels:\n    - a\n    - b # why\n    - do-not-merge/scalability-regression\n  blocker_label: x\n",
            ),
            (
                "block list, indented",
                "tide:\n    queries:\n        -   repos: [o/r]\n            missingLabels:\n                - a\n            labels: [lgtm]\n",
                &[0],
                1,
                "tide:\n    queries:\n        -   repos: [o/r]\n            missingLabels:\n                - a\n                - do-not-merge/scalability-regression\n            labels: [lgtm]\n",
            ),
            (
                "flow list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a, \"b\"]  # keep\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a, \"b\", do-not-merge/scalability-regression]  # keep\n",
            ),
            (
                "empty flow list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: []\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [do-not-merge/scalability-regression]\n",
            ),
            (
                "missingLabels as the first key, on the dash line",
                "tide:\n  queries:\n  - missingLabels:\n    - a\n    repos: [o/r]\n",
                &[0],
                1,
                "tide:\n  queries:\n  - missingLabels:\n    - a\n    - do-not-merge/scalability-regression\n    repos: [o/r]\n",
            ),
            (
                "no list: one is created, in the file's list style",
                "tide:\n  queries:\n  - repos:\n      - o/r\n  - repos: [o/s]\n    labels: [lgtm]\n  # trailing comment\n  sync_period: 1m\n",
                &[1],
                2,
                "tide:\n  queries:\n  - repos:\n      - o/r\n  - repos: [o/s]\n    labels: [lgtm]\n    missingLabels:\n      - do-not-merge/scalability-regression\n  # trailing comment\n  sync_period: 1m\n",
            ),
            (
                "null list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels:\n    labels: [lgtm]\n",
                &[0],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels:\n      - do-not-merge/scalability-regression\n    labels: [lgtm]\n",
            ),
            (
                "only the chosen queries, with comments between them",
                "x: 1\ntide:\n  queries:\n  # first\n  - repos: [o/a]\n    missingLabels: [a]\n\n  # second\n  - repos: [o/b]\n    missingLabels: [a]\nother: 2\n",
                &[1],
                2,
                "x: 1\ntide:\n  queries:\n  # first\n  - repos: [o/a]\n    missingLabels: [a]\n\n  # second\n  - repos: [o/b]\n    missingLabels: [a, do-not-merge/scalability-regression]\nother: 2\n",
            ),
            (
                "CRLF line endings and no final newline",
                "tide:\r\n  queries:\r\n  - repos: [o/r]\r\n    missingLabels:\r\n    - a",
                &[0],
                1,
                "tide:\r\n  queries:\r\n  - repos: [o/r]\r\n    missingLabels:\r\n    - a\r\n    - do-not-merge/scalability-regression",
            ),
            (
                "a query whose keys start on the line after its dash",
                "tide:\n  queries:\n  -\n    repos: [o/r]\n    missingLabels:\n    - a\n",
                &[0],
                1,
                "tide:\n  queries:\n  -\n    repos: [o/r]\n    missingLabels:\n    - a\n    - do-not-merge/scalability-regression\n",
            ),
            (
                "nothing to fix",
                "tide:\n  queries:\n  - repos: [o/r]\n",
                &[],
                1,
                "tide:\n  queries:\n  - repos: [o/r]\n",
            ),
        ];
        for (name, input, queries, count, want) in cases {
            let got = fix(input, queries, *count).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(&got, want, "{name}");
        }
    }

    #[test]
    fn fix_quotes_labels_that_need_it() {
        let text = "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a]\n";
        let set = BTreeSet::from([0]);
        let got = insert_missing_label(text, "cncf-cla: no", &set, 1).unwrap();
        assert!(got.contains("[a, \"cncf-cla: no\"]"), "{got}");
        let got = insert_missing_label(text, "yes", &set, 1).unwrap();
        assert!(got.contains("[a, \"yes\"]"), "{got}");
    }

    #[test]
    fn fix_refuses_shapes_it_cannot_edit_safely() {
        let cases: &[(&str, &str, usize, &str)] = &[
            ("no tide", "prowjob_namespace: x\n", 0, "no top-level"),
            ("flow tide", "tide: {queries: []}\n", 0, "line 1"),
            (
                "flow queries",
                "tide:\n  queries: [{repos: [o/r]}]\n",
                1,
                "line 2",
            ),
            (
                "flow mapping query",
                "tide:\n  queries:\n  - {repos: [o/r]}\n",
                1,
                "line 3: the query is not a block mapping",
            ),
            (
                "multi-line flow list",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: [a,\n      b]\n",
                1,
                "line 4",
            ),
            (
                "alias",
                "tide:\n  queries:\n  - repos: [o/r]\n    missingLabels: *dnm\n",
                1,
                "line 4",
            ),
            (
                "merge key",
                "tide:\n  queries:\n  - <<: *base\n    repos: [o/r]\n",
                1,
                "merge key",
            ),
            (
                "count differs from the parser's",
                "tide:\n  queries:\n  - repos: [o/r]\n",
                2,
                "found 1 queries",
            ),
        ];
        for (name, input, count, want) in cases {
            let err = fix(input, &[0], *count).expect_err(name).to_string();
            assert!(err.contains(want), "{name}: {err}");
        }
    }

    /// The lines of `output` that are not in `input`, if `output` is `input` with whole
    /// lines inserted (and `None` otherwise).
    fn inserted_lines(input: &str, output: &str) -> Option<Vec<String>> {
        let mut want = input.split_inclusive('\n').peekable();
        let mut inserted = Vec::new();
        for line in output.split_inclusive('\n') {
            if want.peek() == Some(&line) {
                want.next();
            } else {
                inserted.push(line.to_string());
            }
        }
        want.peek().is_none().then_some(inserted)
    }

    #[test]
    fn fix_only_inserts_lines() {
        let input = "# c\ntide:\n  queries:\n  - repos: [o/a]\n    missingLabels:\n    - a\n  - orgs: [o]\n  - repos: [o/c]\n";
        let out = fix(input, &[0, 1], 3).unwrap();
        assert_eq!(
            inserted_lines(input, &out).expect("only insertions"),
            [
                "    - do-not-merge/scalability-regression\n",
                "    missingLabels:\n",
                // In the file's own (indentless) list style.
                "    - do-not-merge/scalability-regression\n",
            ]
        );
    }
}
