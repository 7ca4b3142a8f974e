//! Label changes on GitHub: the label made in each blocked repo, every blocked scope's
//! PRs labelled ready first (a long run yields to newer wants), and the fast path that
//! labels or unlabels one PR without a full pass.
//!
//! Ready PRs are found directly: when a scope is blocked, one search per Tide query
//! (`is:pr is:open repo:R base:B label:<each required label> -label:<our label>`) finds
//! the ready PRs that lack the label, and they are labelled before the scope's full PR
//! list is read. On unblock, a search for `label:<our label>` finds what to unlabel,
//! ready PRs first. Search is eventually consistent, may time out part-way, and has a
//! rate limit of its own: the full list read afterwards stays the truth, so whatever the
//! search missed, or failed to find at all, is caught in the same pass.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::Context;

use super::plan::{LabelAction, coverage, exempt_on, plan_labels, plan_lift};
use super::{Handle, Reconciler, Report};
use crate::core::tide::ReadyRule;
use crate::github::types::{Issue, Label};
use crate::model::{Incident, PrNumber, RepoName, Scope};

/// Colour of the label the plugin creates (GitHub's red for do-not-merge labels).
pub const LABEL_COLOR: &str = "e11d21";

/// Description of the label the plugin creates; names the plugin.
pub const LABEL_DESCRIPTION: &str =
    "Merges blocked by scalability-gate: a release-blocking scalability job regressed";

/// How long a pass labels before it lets newer wants go first (see
/// [`Reconciler::with_handle`]). Budget pacing makes a `label_prs: all` pass last hours.
pub const YIELD_AFTER: Duration = Duration::from_secs(30);

/// What the fast path did with one PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrOutcome {
    Labelled,
    Unlabelled,
    /// Already as it should be, not selected, closed, or on no blocked scope.
    Unchanged,
}

/// Quotes one label name (or branch) for a search query; `None` when it cannot be said
/// in one (a `"` in it, or a comma, which search reads as "either").
fn quoted(value: &str) -> Option<String> {
    (!value.is_empty() && !value.contains(['"', ','])).then(|| format!("\"{value}\""))
}

/// The `label:` qualifier of one required entry (`a,b` means either, as in Tide and in
/// search); `None` when search cannot say it (an "either" of names with spaces).
fn label_qualifier(entry: &str) -> Option<String> {
    let names: Vec<&str> = entry.split(',').map(str::trim).collect();
    if names.iter().any(|n| n.is_empty() || n.contains('"')) {
        return None;
    }
    match names.as_slice() {
        [one] => Some(format!("label:{}", quoted(one)?)),
        either if either.iter().all(|n| !n.contains(char::is_whitespace)) => {
            Some(format!("label:{}", either.join(",")))
        }
        _ => None,
    }
}

/// `is:pr is:open repo:R base:B` of a scope.
fn scope_qualifiers(scope: &Scope) -> Option<String> {
    if scope.branch.contains(char::is_whitespace) {
        return None;
    }
    Some(format!(
        "is:pr is:open repo:{} base:{}",
        scope.repo,
        quoted(&scope.branch)?
    ))
}

/// The searches that find a scope's ready PRs lacking `label`: one per Tide query
/// (alternative) of `required`. `None` when search cannot find them: an alternative
/// without required labels (every PR is ready: the full list is the search), or a name
/// search cannot say.
pub(super) fn ready_searches(
    scope: &Scope,
    required: &ReadyRule,
    label: &str,
) -> Option<Vec<String>> {
    let base = scope_qualifiers(scope)?;
    let exclude = format!("-label:{}", quoted(label)?);
    required
        .alternatives
        .iter()
        .map(|entries| {
            if entries.is_empty() {
                return None;
            }
            let labels = entries
                .iter()
                .map(|e| label_qualifier(e))
                .collect::<Option<Vec<_>>>()?;
            Some(format!("{base} {} {exclude}", labels.join(" ")))
        })
        .collect()
}

/// The search that finds a scope's open PRs carrying `label`.
pub(super) fn labelled_search(scope: &Scope, label: &str) -> Option<String> {
    Some(format!(
        "{} label:{}",
        scope_qualifiers(scope)?,
        quoted(label)?
    ))
}

/// The names of an issue's labels.
fn names(labels: &[Label]) -> Vec<&str> {
    labels.iter().map(|l| l.name.as_str()).collect()
}

impl Reconciler {
    /// Labels on every blocked scope, ready PRs of every scope before any other PR: at
    /// block time found by search and labelled first, then every scope's full PR list
    /// brings the rest in line (and catches what the search missed).
    pub(super) async fn label_blocked_scopes(
        &self,
        covered: &BTreeMap<Scope, Vec<&Incident>>,
        report: &mut Report,
    ) {
        let mut labelled_repos = BTreeMap::new();
        for scope in covered.keys() {
            if labelled_repos.contains_key(&scope.repo) {
                continue;
            }
            let made = self.client.ensure_label(&scope.repo, &self.label()).await;
            if let Err(e) = &made {
                report.fail(format!("label in {}", scope.repo), e);
            }
            labelled_repos.insert(scope.repo.clone(), made.is_ok());
        }
        let ready_to_label = |scope: &Scope| labelled_repos.get(&scope.repo) == Some(&true);
        let walked = self.walked_scopes(covered);
        let mut found_first = BTreeSet::new();
        for (scope, blocking) in covered {
            if ready_to_label(scope) && !walked.contains(scope) {
                let tried = self.label_ready_found(scope, blocking, report).await;
                found_first.extend(tried.into_iter().map(|pr| (scope.repo.clone(), pr)));
            }
        }
        let mut actions = Vec::new();
        let mut listed = Vec::new();
        for (scope, blocking) in covered.iter().filter(|(s, _)| ready_to_label(s)) {
            let required = (self.required)(scope);
            match self
                .client
                .list_open_pulls(&scope.repo, &scope.branch)
                .await
            {
                Ok(prs) => {
                    listed.push(scope.clone());
                    actions.extend(plan_labels(
                        &scope.repo,
                        &prs,
                        &self.config.label,
                        self.config.label_prs,
                        &required,
                        |pr| exempt_on(blocking, &scope.repo, pr),
                    ));
                }
                Err(e) => report.fail(format!("listing PRs of {scope}"), e),
            }
        }
        // Tried a moment ago from the search: not again in this pass (in dry-run the list
        // cannot show the label; a failed try is reported, and the next pass retries it).
        actions.retain(|a| !(a.add && found_first.contains(&(a.repo.clone(), a.pr))));
        actions.sort_by_key(|a| (!a.ready, a.add && !a.ready));
        self.execute(&actions, report).await;
        self.walked
            .lock()
            .expect("walked scopes lock poisoned")
            .extend(listed);
    }

    /// The blocked scopes whose full PR list was read since they were blocked (their
    /// ready PRs are labelled through that list and the events); forgets scopes no
    /// longer blocked, so a new block searches again.
    fn walked_scopes(&self, covered: &BTreeMap<Scope, Vec<&Incident>>) -> BTreeSet<Scope> {
        let mut walked = self.walked.lock().expect("walked scopes lock poisoned");
        walked.retain(|s| covered.contains_key(s));
        walked.clone()
    }

    /// Searches a newly blocked scope's ready PRs lacking the label and labels them, one
    /// by one. A search that fails (rate limited, refused) or finds only part (timed out,
    /// lagging) is no failure of the pass: the full list that follows is the truth. A PR
    /// that stopped being ready between the search and its labelling (GitHub answers the
    /// labels it carries then) has the label taken off again at once.
    /// Answers the PRs it tried to label.
    async fn label_ready_found(
        &self,
        scope: &Scope,
        blocking: &[&Incident],
        report: &mut Report,
    ) -> Vec<PrNumber> {
        let required = (self.required)(scope);
        let Some(searches) = ready_searches(scope, &required, &self.config.label) else {
            return Vec::new();
        };
        let found = self.search_prs(scope, &searches).await;
        let mut actions: Vec<LabelAction> = found
            .iter()
            .filter(|pr| {
                !pr.has_label(&self.config.label)
                    && required.is_ready(&names(&pr.labels))
                    && !exempt_on(blocking, &scope.repo, PrNumber(pr.number))
            })
            .map(|pr| LabelAction {
                repo: scope.repo.clone(),
                pr: PrNumber(pr.number),
                add: true,
                ready: true,
            })
            .collect();
        actions.sort_by_key(|a| a.pr);
        if !actions.is_empty() {
            tracing::info!(scope = %scope, ready = actions.len(), "labelling the ready PRs search found");
        }
        self.execute_checked(&actions, report, |labels| required.is_ready(&names(labels)))
            .await;
        actions.iter().map(|a| a.pr).collect()
    }

    /// The open PRs `searches` find on `scope`, each once; nothing when search is rate
    /// limited or fails (logged: the full list follows).
    async fn search_prs(&self, scope: &Scope, searches: &[String]) -> Vec<Issue> {
        let mut seen = BTreeSet::new();
        let mut prs = Vec::new();
        for query in searches {
            if self.client.search_paused() {
                tracing::info!(scope = %scope, "search is rate limited: the full PR list alone");
                break;
            }
            match self.client.search(query).await {
                Ok(found) => {
                    if found.incomplete {
                        tracing::info!(scope = %scope, query, found = found.items.len(),
                            "search answered part only: the full PR list finds the rest");
                    }
                    prs.extend(
                        found
                            .items
                            .into_iter()
                            .filter(|i| i.is_pull_request() && i.is_open())
                            .filter(|i| seen.insert(i.number)),
                    );
                }
                Err(e) => {
                    tracing::warn!(scope = %scope, query, error = %e,
                        "search failed: the full PR list alone");
                }
            }
        }
        prs
    }

    /// Takes the label off every open PR of an unblocked `scope` carrying it, ready ones
    /// first: those search finds, then whatever the full list still shows.
    pub(super) async fn unlabel_scope(&self, scope: &Scope, report: &mut Report) {
        let required = (self.required)(scope);
        let label = &self.config.label;
        if let Some(query) = labelled_search(scope, label) {
            let found = self.search_prs(scope, std::slice::from_ref(&query)).await;
            let mut actions: Vec<LabelAction> = found
                .iter()
                .filter(|pr| pr.has_label(label))
                .map(|pr| LabelAction {
                    repo: scope.repo.clone(),
                    pr: PrNumber(pr.number),
                    add: false,
                    ready: required.is_ready(&names(&pr.labels)),
                })
                .collect();
            actions.sort_by_key(|a| (!a.ready, a.pr));
            self.execute(&actions, report).await;
        }
        if report.cut_short {
            return;
        }
        match self
            .client
            .list_open_pulls(&scope.repo, &scope.branch)
            .await
        {
            Ok(prs) => {
                let actions = plan_lift(&scope.repo, &prs, label, &required);
                self.execute(&actions, report).await;
            }
            Err(e) => report.fail(format!("listing PRs of {scope}"), e),
        }
    }

    fn label(&self) -> Label {
        Label {
            name: self.config.label.clone(),
            color: LABEL_COLOR.into(),
            description: Some(LABEL_DESCRIPTION.into()),
        }
    }

    /// Applies label changes in order; a failed one is reported and the rest go on. After
    /// [`Reconciler::with_handle`]'s `yield_after`, it stops early when newer wants wait
    /// (and says so in `report.cut_short`); a pass already cut short changes nothing more.
    pub(super) async fn execute(&self, actions: &[LabelAction], report: &mut Report) {
        self.execute_checked(actions, report, |_| true).await;
    }

    /// As [`Reconciler::execute`]; an added label comes off again at once when the labels
    /// GitHub answers the PR carries fail `still_wanted` (it changed meanwhile).
    async fn execute_checked(
        &self,
        actions: &[LabelAction],
        report: &mut Report,
        still_wanted: impl Fn(&[Label]) -> bool,
    ) {
        if report.cut_short {
            return;
        }
        let started = std::time::Instant::now();
        for (done, a) in actions.iter().enumerate() {
            if done > 0
                && started.elapsed() >= self.yield_after
                && self.handle.as_ref().is_some_and(Handle::pending)
            {
                tracing::info!(
                    done,
                    left = actions.len() - done,
                    "label run cut short: newer wants go first"
                );
                report.cut_short = true;
                return;
            }
            if let Some(carried) = self.apply_label(a, report).await {
                if !still_wanted(&carried) {
                    tracing::info!(repo = %a.repo, pr = a.pr.0,
                        "PR changed while it was labelled: label taken off again");
                    let undo = LabelAction {
                        add: false,
                        ..a.clone()
                    };
                    self.apply_label(&undo, report).await;
                }
            }
        }
    }

    /// One label change; a failure is reported. Answers the labels the PR carries after
    /// an add (as GitHub says; not in dry-run).
    async fn apply_label(&self, a: &LabelAction, report: &mut Report) -> Option<Vec<Label>> {
        let label = self.config.label.clone();
        let done = if a.add {
            self.client
                .add_labels(&a.repo, a.pr, std::slice::from_ref(&label))
                .await
                .map(|carried| {
                    report.labels_added += 1;
                    (!self.client.is_dry_run()).then_some(carried)
                })
        } else {
            // A 404 means someone removed it meanwhile: just as good.
            self.client
                .remove_label(&a.repo, a.pr, &label)
                .await
                .map(|_| {
                    report.labels_removed += 1;
                    None
                })
        };
        done.unwrap_or_else(|e| {
            report.fail(format!("{}#{}", a.repo, a.pr.0), e);
            None
        })
    }

    /// The fast path for one PR (an event made it selected, or someone removed the label
    /// by hand): reads the PR and labels or unlabels it as the active incidents in the
    /// store want, with no full pass.
    pub async fn label_pr_now(&self, repo: &RepoName, pr: PrNumber) -> anyhow::Result<PrOutcome> {
        let incidents = self.store.active_incidents().context("reading incidents")?;
        self.ensure_pr(&incidents, repo, pr).await
    }

    /// As [`Reconciler::label_pr_now`] against `incidents`.
    pub async fn ensure_pr(
        &self,
        incidents: &[Incident],
        repo: &RepoName,
        pr: PrNumber,
    ) -> anyhow::Result<PrOutcome> {
        let Some(found) = self.client.get_pull(repo, pr).await? else {
            return Ok(PrOutcome::Unchanged);
        };
        if found.state != "open" {
            return Ok(PrOutcome::Unchanged);
        }
        let scope = Scope {
            repo: repo.clone(),
            branch: found.base_branch().to_string(),
        };
        let covered = coverage(incidents);
        let Some(blocking) = covered.get(&scope) else {
            return Ok(PrOutcome::Unchanged);
        };
        let required = (self.required)(&scope);
        let actions = plan_labels(
            repo,
            std::slice::from_ref(&found),
            &self.config.label,
            self.config.label_prs,
            &required,
            |n| exempt_on(blocking, repo, n),
        );
        let Some(action) = actions.first() else {
            return Ok(PrOutcome::Unchanged);
        };
        if action.add {
            self.client.ensure_label(repo, &self.label()).await?;
        }
        let mut report = Report::default();
        self.execute(&actions, &mut report).await;
        if let Some(error) = report.errors.first() {
            anyhow::bail!("{error}");
        }
        Ok(if action.add {
            PrOutcome::Labelled
        } else {
            PrOutcome::Unlabelled
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(branch: &str) -> Scope {
        Scope {
            repo: RepoName::parse("kubernetes/kubernetes").unwrap(),
            branch: branch.into(),
        }
    }

    const L: &str = "do-not-merge/scalability-regression";

    #[test]
    fn one_search_per_tide_query_with_every_label_quoted() {
        let rule = ReadyRule {
            alternatives: vec![
                vec!["lgtm".into(), "approved".into(), "cncf-cla: yes".into()],
                vec!["bot-approved".into(), "ok-to-merge,lgtm".into()],
            ],
        };
        let got = ready_searches(&scope("release-1.34"), &rule, L).unwrap();
        assert_eq!(
            got,
            vec![
                format!(
                    r#"is:pr is:open repo:kubernetes/kubernetes base:"release-1.34" label:"lgtm" label:"approved" label:"cncf-cla: yes" -label:"{L}""#
                ),
                format!(
                    r#"is:pr is:open repo:kubernetes/kubernetes base:"release-1.34" label:"bot-approved" label:ok-to-merge,lgtm -label:"{L}""#
                ),
            ]
        );
        assert_eq!(
            labelled_search(&scope("master"), L).unwrap(),
            format!(r#"is:pr is:open repo:kubernetes/kubernetes base:"master" label:"{L}""#)
        );
    }

    #[test]
    fn what_search_cannot_say_is_left_to_the_full_list() {
        let every_pr = ReadyRule {
            alternatives: vec![vec![]],
        };
        assert_eq!(ready_searches(&scope("master"), &every_pr, L), None);
        let quote = ReadyRule::from_labels(&["say \"yes\"".into()]);
        assert_eq!(ready_searches(&scope("master"), &quote, L), None);
        let either_spaced = ReadyRule::from_labels(&["cncf-cla: yes,lgtm".into()]);
        assert_eq!(ready_searches(&scope("master"), &either_spaced, L), None);
        let plain = ReadyRule::from_labels(&["lgtm".into()]);
        assert_eq!(ready_searches(&scope("master"), &plain, "a,b"), None);
        // A scope no Tide query merges into has no ready PR: nothing to search.
        let none = ReadyRule {
            alternatives: vec![],
        };
        assert_eq!(ready_searches(&scope("master"), &none, L), Some(vec![]));
    }
}
