//! The reconciler's culprit work (issue 6), done at the start of every full pass, before
//! issues and labels:
//!
//! 1. **Suspects.** For each active regression incident and scope not searched yet: the
//!    commits between the last green run's tested commit and the first red run's (compare
//!    API, at most [`MAX_RANGE_COMMITS`]), each commit that landed on the branch mapped to
//!    its PR (`commits/{sha}/pulls`, else the merge-commit message), the PRs' facts read
//!    and ranked by [`culprit::rank`]. Without both tested commits, the PRs merged between
//!    the two runs' start times instead, and the search says why. Reported to the gate as
//!    [`Finding::Suspects`]; the issue body then shows them (next step of the pass).
//! 2. **Reverts.** For each `/scalability-revert` not carried out yet: an open PR saying
//!    `Reverts org/repo#N` is adopted, else GraphQL `revertPullRequest` opens one. Reported
//!    as [`Finding::RevertOpened`] (which exempts it) before anything is labelled in the
//!    pass, so the revert PR is never labelled. While the blocker issue is open, the revert
//!    PR and the incident's issue are told (once each) that Tide merges nothing there.
//! 3. **Escalation.** The steps [`culprit::escalations_due`] at the reconciler's clock are
//!    posted on the incident's issues once each (by marker), then reported as
//!    [`Finding::Escalated`].
//!
//! Every finding is sent through the ordered queue and awaited, so the gate (the one
//! writer of incidents) has written it before this pass relies on it. Without a queue
//! ([`Reconciler::with_findings`] not called) this work is off.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;

use super::{Reconciler, Report};
use crate::comment;
use crate::core::culprit::{self, Signals, SuspectFacts};
use crate::core::gate::Finding;
use crate::github::GithubError;
use crate::github::types::{Comparison, PullRequestDetail};
use crate::model::{
    Cause, CommitSha, Incident, Login, PrNumber, RepoName, RunRef, Scope, SuspectRange,
    SuspectSearch, Timestamp,
};

/// Commits of a suspect range read at most (GitHub's own unpaginated bound); a longer
/// range is searched in its oldest part and the issue says so.
pub const MAX_RANGE_COMMITS: usize = 250;

/// Files of one PR read at most (GitHub lists 3,000 at most).
const MAX_FILES: usize = 3000;

/// Pages of closed PRs read at most for a time-window search (100 PRs a page).
const MAX_CLOSED_PAGES: usize = 10;

/// When the last green run's start is unknown, how far back a time window reaches.
const DEFAULT_WINDOW_SECS: i64 = 24 * 3600;

/// The commits of a range that landed on the branch, and how long the range was.
struct Landed {
    /// Oldest first: merge, squash or rebased commits on the first-parent line.
    commits: Vec<(String, String)>,
    total: u64,
    truncated: bool,
}

/// The first-parent line from the range's head back to its base: the commits that landed
/// on the branch (a PR's own commits hang off its merge commit's second parent).
fn landed(comparison: &Comparison, head: &str) -> Vec<(String, String)> {
    let in_range: BTreeMap<&str, &crate::github::types::Commit> = comparison
        .commits
        .iter()
        .map(|c| (c.sha.as_str(), c))
        .collect();
    let mut line = Vec::new();
    let mut at = in_range.get(head).copied();
    if at.is_none() {
        // The head lies beyond the commits read (a cut range): use each commit read.
        return comparison
            .commits
            .iter()
            .map(|c| (c.sha.clone(), c.commit.message.clone()))
            .collect();
    }
    let mut seen = BTreeSet::new();
    while let Some(c) = at {
        if !seen.insert(c.sha.as_str()) {
            break;
        }
        line.push((c.sha.clone(), c.commit.message.clone()));
        at = c
            .parents
            .first()
            .and_then(|p| in_range.get(p.sha.as_str()).copied());
    }
    line.reverse();
    line
}

/// Whether `body` says it reverts `repo#number` (GitHub's revert body), exactly.
pub fn says_reverts(body: &str, repo: &RepoName, number: PrNumber) -> bool {
    let wanted = format!("reverts {repo}#{}", number.0).to_ascii_lowercase();
    body.lines().any(|line| {
        let line = line.trim().to_ascii_lowercase();
        line.strip_prefix(&wanted)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Whether a GitHub failure will not go away by trying again (so it is reported to the
/// gate rather than retried by the next pass).
fn is_permanent(error: &GithubError) -> bool {
    match error {
        GithubError::Graphql(_) => true,
        GithubError::Status { status, .. } => {
            (400..500).contains(status) && !matches!(status, 403 | 429)
        }
        _ => false,
    }
}

impl Reconciler {
    /// The culprit work of one pass; true when a finding was recorded (the caller then
    /// reads the incidents again).
    pub(super) async fn culprit_pass(&self, incidents: &[Incident], report: &mut Report) -> bool {
        if self.findings.is_none() {
            return false;
        }
        let mut recorded = false;
        for incident in incidents.iter().filter(|i| i.is_active()) {
            for scope in &incident.scopes {
                if incident.searches.iter().any(|s| &s.scope == scope) {
                    continue;
                }
                let Cause::Regression {
                    first_red,
                    last_green,
                } = &incident.cause
                else {
                    continue;
                };
                match self
                    .find_suspects(incident, scope, last_green, first_red, incidents)
                    .await
                {
                    Ok(()) => recorded = true,
                    Err(e) => report.fail(format!("suspects of {} on {scope}", incident.id), e),
                }
            }
            for revert in incident
                .reverts
                .iter()
                .filter(|r| r.revert_pr.is_none() && r.error.is_none())
            {
                match self
                    .open_revert(incident, &revert.repo, revert.suspect, report)
                    .await
                {
                    Ok(true) => recorded = true,
                    Ok(false) => {}
                    Err(e) => report.fail(
                        format!(
                            "revert of {}#{} for {}",
                            revert.repo, revert.suspect.0, incident.id
                        ),
                        e,
                    ),
                }
            }
        }
        recorded
    }

    /// The culprit work that follows issues: a cut range said, hard-block notices of
    /// revert PRs and escalation comments, on `incidents` as re-read after the findings.
    pub(super) async fn culprit_notices(&self, incidents: &[Incident], report: &mut Report) {
        if self.findings.is_none() {
            return;
        }
        for incident in incidents.iter().filter(|i| i.is_active()) {
            for search in &incident.searches {
                let SuspectRange::Commits { commits, .. } = search.range else {
                    continue;
                };
                if (commits as usize) <= MAX_RANGE_COMMITS
                    || !incident.scopes.contains(&search.scope)
                {
                    continue;
                }
                if let Err(e) = self
                    .say_range_cut(incident, &search.scope, u64::from(commits), report)
                    .await
                {
                    report.fail(
                        format!("range notice of {} on {}", incident.id, search.scope),
                        e,
                    );
                }
            }
            for revert in &incident.reverts {
                let Some(revert_pr) = revert.revert_pr else {
                    continue;
                };
                if let Err(e) = self
                    .hard_block_notices(incident, &revert.repo, revert.suspect, revert_pr, report)
                    .await
                {
                    report.fail(
                        format!("revert notices of {}#{}", revert.repo, revert_pr.0),
                        e,
                    );
                }
            }
            if let Err(e) = self.escalate(incident, report).await {
                report.fail(format!("escalation of {}", incident.id), e);
            }
        }
    }

    /// Sends `finding` through the ordered queue and waits until the gate has written it.
    async fn record(&self, finding: Finding) -> anyhow::Result<()> {
        let queue = self
            .findings
            .as_ref()
            .context("no queue to report findings to")?;
        let (done, written) = tokio::sync::oneshot::channel();
        queue
            .send(crate::consumer::Input::Finding { finding, done })
            .await
            .context("queueing a finding")?;
        written
            .await
            .context("the consumer dropped the finding unanswered")?
    }

    fn signals(&self, incident: &Incident) -> Signals {
        self.config
            .jobs
            .iter()
            .find(|j| j.name == incident.job.as_str())
            .map(|j| Signals {
                hot_paths: j.suspects.hot_paths.clone(),
                labels: j.suspects.labels.clone(),
            })
            .unwrap_or_default()
    }

    /// Searches, ranks and records the suspects of one scope.
    async fn find_suspects(
        &self,
        incident: &Incident,
        scope: &Scope,
        last_green: &RunRef,
        first_red: &RunRef,
        incidents: &[Incident],
    ) -> anyhow::Result<()> {
        let repo = &scope.repo;
        let signals = self.signals(incident);
        let base = last_green.commits.get(repo);
        let head = first_red.commits.get(repo);
        // Why the range is not a commit range, clause by clause (the issue says them).
        let mut why: Vec<String> =
            comment::commits_unknown(last_green, base.is_none(), first_red, head.is_none())
                .into_iter()
                .collect();
        let mut prs: Vec<PrNumber> = Vec::new();
        let mut range = None;
        if let (Some(base), Some(head)) = (base, head) {
            match self.landed_prs(repo, base, head).await? {
                Some((found, landed)) => {
                    prs = found;
                    if landed.truncated {
                        tracing::warn!(incident = %incident.id, scope = %scope, commits = landed.total,
                            read = MAX_RANGE_COMMITS, "suspect range cut");
                    }
                    range = Some(SuspectRange::Commits {
                        base: base.clone(),
                        head: head.clone(),
                        commits: u32::try_from(landed.total).unwrap_or(u32::MAX),
                    });
                }
                None => why.push(comment::range_unknown_to_github(repo, base, head)),
            }
        }
        let mut details: Vec<PullRequestDetail> = Vec::new();
        let range = match range {
            Some(range) => {
                for pr in &prs {
                    if let Some(d) = self.client.get_pull_detail(repo, *pr).await? {
                        details.push(d);
                    }
                }
                range
            }
            None => {
                let to = first_red.started_at.unwrap_or(incident.opened_at);
                let from = match last_green.started_at {
                    Some(from) => from,
                    None => {
                        why.push(comment::green_start_unknown().into());
                        Timestamp(to.0.saturating_sub(DEFAULT_WINDOW_SECS))
                    }
                };
                let window = self
                    .client
                    .merged_pulls_between(repo, &scope.branch, from, to, MAX_CLOSED_PAGES)
                    .await?;
                if !window.complete {
                    tracing::warn!(incident = %incident.id, scope = %scope, pages = MAX_CLOSED_PAGES,
                        "time window listing cut");
                    why.push(comment::window_cut(MAX_CLOSED_PAGES * 100));
                }
                let why = why.join("; ");
                // The list lacks the size: read each PR.
                for listed in window.pulls {
                    let number = PrNumber(listed.pull.number);
                    details.push(
                        self.client
                            .get_pull_detail(repo, number)
                            .await?
                            .unwrap_or(listed),
                    );
                }
                SuspectRange::TimeWindow { from, to, why }
            }
        };
        let mut facts = Vec::with_capacity(details.len());
        for d in details {
            // The files matter to hot paths, and to a size reason (it names how many):
            // a small PR of a job without hot paths costs no read.
            let lines = d.additions.unwrap_or(0) + d.deletions.unwrap_or(0);
            let files = if signals.hot_paths.is_empty() && lines < culprit::MEDIUM_CHANGE {
                Vec::new()
            } else {
                self.client
                    .pull_files(repo, PrNumber(d.pull.number), MAX_FILES)
                    .await?
                    .into_iter()
                    .map(|f| f.filename)
                    .collect()
            };
            facts.push(SuspectFacts {
                repo: repo.clone(),
                pr: PrNumber(d.pull.number),
                title: d.pull.title.clone(),
                body: d.body_text().to_string(),
                author: Login::new(&d.pull.user.login),
                merged_at: d.merged(),
                merge_commit: d.merge_commit_sha.clone().map(CommitSha),
                labels: d.pull.labels.iter().map(|l| l.name.clone()).collect(),
                files,
                additions: d.additions.unwrap_or(0),
                deletions: d.deletions.unwrap_or(0),
            });
        }
        let breached: BTreeSet<(RepoName, PrNumber)> = incidents
            .iter()
            .filter(|i| i.id != incident.id)
            .flat_map(|i| &i.breaches)
            .map(|b| (b.scope.repo.clone(), b.pr))
            .collect();
        let suspects = culprit::rank(&facts, &signals, &breached);
        tracing::info!(incident = %incident.id, scope = %scope, suspects = suspects.len(), "suspects found");
        self.record(Finding::Suspects {
            incident: incident.id.clone(),
            search: SuspectSearch {
                scope: scope.clone(),
                range,
                at: (self.clock)(),
            },
            suspects,
        })
        .await
    }

    /// The PRs whose commits landed in `base...head`, in merge order; `None` when GitHub
    /// does not know the range.
    async fn landed_prs(
        &self,
        repo: &RepoName,
        base: &CommitSha,
        head: &CommitSha,
    ) -> anyhow::Result<Option<(Vec<PrNumber>, Landed)>> {
        let Some(comparison) = self
            .client
            .compare(repo, base.as_str(), head.as_str(), MAX_RANGE_COMMITS)
            .await?
        else {
            return Ok(None);
        };
        let landed = Landed {
            commits: landed(&comparison, head.as_str()),
            total: comparison.total_commits,
            truncated: comparison.truncated(),
        };
        let mut prs: Vec<PrNumber> = Vec::new();
        for (sha, message) in &landed.commits {
            let associated = self.client.pulls_of_commit(repo, sha).await?;
            let merged = associated
                .iter()
                .filter(|p| p.pull.merged_at.is_some())
                .find(|p| p.merge_commit_sha.as_deref() == Some(sha.as_str()))
                .or_else(|| associated.iter().find(|p| p.pull.merged_at.is_some()));
            let pr = merged
                .map(|p| PrNumber(p.pull.number))
                .or_else(|| culprit::pr_from_commit_message(message));
            if let Some(pr) = pr.filter(|pr| !prs.contains(pr)) {
                prs.push(pr);
            }
        }
        Ok(Some((prs, landed)))
    }

    /// Says once on the incident's issue that the range was longer than what was read.
    async fn say_range_cut(
        &self,
        incident: &Incident,
        scope: &Scope,
        total: u64,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let Some(issue) = self.find_issue(&incident.id, scope).await? else {
            return Ok(()); // no issue yet (dry-run): nothing to say it on
        };
        self.comment_once(
            &scope.repo,
            PrNumber(issue.number),
            &comment::range_cut_marker(&incident.id, &scope.branch),
            || comment::range_cut(incident, scope, total, MAX_RANGE_COMMITS),
            report,
        )
        .await
    }

    /// Opens (or adopts) the revert PR of `suspect` and reports it; true when a finding
    /// was recorded.
    async fn open_revert(
        &self,
        incident: &Incident,
        repo: &RepoName,
        suspect: PrNumber,
        report: &mut Report,
    ) -> anyhow::Result<bool> {
        let failed = |error: String| Finding::RevertFailed {
            incident: incident.id.clone(),
            repo: repo.clone(),
            suspect,
            error,
        };
        let Some(original) = self.client.get_pull_detail(repo, suspect).await? else {
            self.record(failed(format!("{repo}#{} does not exist", suspect.0)))
                .await?;
            return Ok(true);
        };
        if original.merged().is_none() {
            self.record(failed(format!(
                "{repo}#{} is not merged, so there is nothing to revert",
                suspect.0
            )))
            .await?;
            return Ok(true);
        }
        let open = self
            .client
            .list_open_pulls_detail(repo, original.pull.base_branch())
            .await?;
        let adopted = open
            .iter()
            .find(|p| says_reverts(p.body_text(), repo, suspect))
            .map(|p| PrNumber(p.pull.number));
        let revert_pr = match adopted {
            Some(pr) => {
                tracing::info!(incident = %incident.id, suspect = suspect.0, revert = pr.0, "adopting an open revert PR");
                pr
            }
            None => {
                let Some(node_id) = original.node_id.as_deref() else {
                    self.record(failed(format!(
                        "GitHub gave no node id for {repo}#{}",
                        suspect.0
                    )))
                    .await?;
                    return Ok(true);
                };
                match self.client.revert_pull(node_id, None, None).await {
                    Ok(Some(reverted)) => {
                        report.reverts_opened += 1;
                        tracing::info!(incident = %incident.id, suspect = suspect.0, revert = reverted.revert.0, "revert PR opened");
                        reverted.revert
                    }
                    Ok(None) => return Ok(false), // dry-run: nothing was opened
                    Err(e) if is_permanent(&e) => {
                        self.record(failed(e.to_string())).await?;
                        return Ok(true);
                    }
                    Err(e) if !e.may_have_happened() => return Err(e.into()),
                    Err(e) => {
                        // The answer may be lost although GitHub opened it: look again at
                        // once, so this pass exempts it before the labelling step.
                        let again = self
                            .client
                            .list_open_pulls_detail(repo, original.pull.base_branch())
                            .await?;
                        let Some(found) = again
                            .iter()
                            .find(|p| says_reverts(p.body_text(), repo, suspect))
                        else {
                            return Err(e.into());
                        };
                        tracing::warn!(incident = %incident.id, suspect = suspect.0, revert = found.pull.number,
                            error = %e, "the revert's answer was lost; it was opened all the same");
                        PrNumber(found.pull.number)
                    }
                }
            }
        };
        self.record(Finding::RevertOpened {
            incident: incident.id.clone(),
            repo: repo.clone(),
            suspect,
            revert_pr,
        })
        .await?;
        Ok(true)
    }

    /// While the incident's blocker issue on the revert's branch is open, Tide merges
    /// nothing there, the exempt revert included: says so once on the revert PR and once
    /// on the issue.
    async fn hard_block_notices(
        &self,
        incident: &Incident,
        repo: &RepoName,
        suspect: PrNumber,
        revert_pr: PrNumber,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if self.config.tide.blocker_label.is_empty() {
            return Ok(()); // soft mode: the exempt revert merges through Tide
        }
        let Some(pr) = self.client.get_pull(repo, revert_pr).await? else {
            return Ok(());
        };
        if pr.state != "open" {
            return Ok(());
        }
        let scope = Scope {
            repo: repo.clone(),
            branch: pr.base_branch().to_string(),
        };
        if !incident.scopes.contains(&scope) {
            return Ok(());
        }
        let Some(issue) = self
            .find_issue(&incident.id, &scope)
            .await?
            .filter(|i| i.is_open())
        else {
            return Ok(());
        };
        let ctx = self.notice_context(&scope);
        self.comment_once(
            repo,
            revert_pr,
            &comment::revert_notice_marker(&incident.id),
            || {
                comment::revert_hard_block_on_pr(
                    incident,
                    &scope,
                    suspect,
                    PrNumber(issue.number),
                    &ctx,
                )
            },
            report,
        )
        .await?;
        self.comment_once(
            repo,
            PrNumber(issue.number),
            &comment::revert_hard_block_marker(&incident.id, revert_pr),
            || comment::revert_hard_block_on_issue(incident, &scope, suspect, revert_pr, &ctx),
            report,
        )
        .await
    }

    /// Posts the escalation steps due now on the incident's issues, once each, and
    /// records them.
    async fn escalate(&self, incident: &Incident, report: &mut Report) -> anyhow::Result<()> {
        let policy = culprit::Escalation {
            mention_after: self.config.escalation.mention_after,
            suggest_revert_after: self.config.escalation.suggest_revert_after,
            top: self.config.escalation.top_suspects,
        };
        let now = (self.clock)();
        for step in culprit::escalations_due(incident, now, &policy) {
            // Recorded once every scope's issue has it; until then each pass posts it where
            // it is missing (the marker keeps an issue from getting it twice).
            let mut posted_everywhere = true;
            for scope in &incident.scopes {
                let Some(issue) = self.find_issue(&incident.id, scope).await? else {
                    posted_everywhere = false;
                    continue;
                };
                let ctx = self.notice_context(scope);
                self.comment_once(
                    &scope.repo,
                    PrNumber(issue.number),
                    &comment::escalation_marker(&incident.id, step),
                    || comment::escalation(incident, scope, step, &policy, &ctx),
                    report,
                )
                .await?;
            }
            if !posted_everywhere {
                continue; // an issue is missing (or dry-run): the next pass tries again
            }
            self.record(Finding::Escalated {
                incident: incident.id.clone(),
                step,
                at: now,
            })
            .await?;
            tracing::info!(incident = %incident.id, step, "escalated");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::types::{Commit, CommitParent, GitCommit};

    fn commit(sha: &str, parents: &[&str], message: &str) -> Commit {
        Commit {
            sha: sha.into(),
            commit: GitCommit {
                message: message.into(),
            },
            parents: parents
                .iter()
                .map(|p| CommitParent { sha: p.to_string() })
                .collect(),
        }
    }

    #[test]
    fn the_first_parent_line_is_what_landed() {
        // base ← a (PR 1's own commit) ; base ← m1 (merge of a) ← s (squash #2) ← m3 (merge of b)
        let comparison = Comparison {
            status: "ahead".into(),
            ahead_by: 5,
            behind_by: 0,
            total_commits: 5,
            commits: vec![
                commit("a", &["base"], "PR 1 work"),
                commit("m1", &["base", "a"], "Merge pull request #1 from x/y"),
                commit("s", &["m1"], "Squashed (#2)"),
                commit("b", &["s"], "PR 3 work"),
                commit("m3", &["s", "b"], "Merge pull request #3 from x/z"),
            ],
        };
        let line: Vec<String> = landed(&comparison, "m3")
            .into_iter()
            .map(|(sha, _)| sha)
            .collect();
        assert_eq!(line, vec!["m1", "s", "m3"]);
        // A cut range whose head was not read: every commit read.
        assert_eq!(landed(&comparison, "zz").len(), 5);
    }

    #[test]
    fn revert_bodies_are_matched_exactly() {
        let repo = RepoName::parse("kubernetes/kubernetes").unwrap();
        assert!(says_reverts(
            "Reverts kubernetes/kubernetes#12",
            &repo,
            PrNumber(12)
        ));
        assert!(says_reverts(
            "Some text\nreverts Kubernetes/Kubernetes#12.\n",
            &repo,
            PrNumber(12)
        ));
        assert!(!says_reverts(
            "Reverts kubernetes/kubernetes#123",
            &repo,
            PrNumber(12)
        ));
        assert!(!says_reverts("Reverts other/repo#12", &repo, PrNumber(12)));
        assert!(!says_reverts("", &repo, PrNumber(12)));
    }

    #[test]
    fn only_client_errors_are_permanent() {
        let status = |status| GithubError::Status {
            method: "GET".into(),
            path: "/x".into(),
            status,
            message: String::new(),
        };
        assert!(is_permanent(&GithubError::Graphql("no".into())));
        assert!(is_permanent(&status(422)));
        assert!(!is_permanent(&status(502)));
        assert!(!is_permanent(&status(403)));
        assert!(!is_permanent(&GithubError::Transport {
            method: "GET".into(),
            path: "/x".into(),
            message: "reset".into()
        }));
    }
}
