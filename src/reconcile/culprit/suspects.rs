//! The suspects of one regression on one scope: the PRs whose commits landed between the
//! last green and the first red run (or, without both commits, those merged between the
//! two runs' starts), their facts read and ranked, and the search reported to the gate.
//! A manual block is searched the same way, from the job's last green run to its latest
//! run after it, else to the branch head ([`manual_bounds`]).

use std::collections::{BTreeMap, BTreeSet};

use crate::comment;
use crate::core::culprit::{self, Signals, SuspectFacts};
use crate::core::gate::Finding;
use crate::github::types::{Comparison, PullRequestDetail};
use crate::model::{
    CommitSha, Incident, Login, PrNumber, RepoName, RunRef, Scope, SuspectRange, SuspectSearch,
    Timestamp,
};
use crate::reconcile::Reconciler;

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
    /// The range's head as a commit (a branch name asked for is resolved to its tip).
    head: String,
}

/// The commit of a whole range that no other commit of it names as a parent: its head
/// (every commit of `base...head` is an ancestor of `head`). `None` for an empty or cut
/// range, or one with more than one such commit.
fn tip(comparison: &Comparison) -> Option<&str> {
    if comparison.truncated() {
        return None;
    }
    let parents: BTreeSet<&str> = comparison
        .commits
        .iter()
        .flat_map(|c| c.parents.iter().map(|p| p.sha.as_str()))
        .collect();
    let mut tips = comparison
        .commits
        .iter()
        .map(|c| c.sha.as_str())
        .filter(|sha| !parents.contains(sha));
    match (tips.next(), tips.next()) {
        (Some(tip), None) => Some(tip),
        _ => None,
    }
}

/// Where a manual block's suspects are searched: the job's last green run (`None`: no
/// green run on record) and its latest run after it, or, when there is none or its tested
/// commit of `repo` is unknown, the branch head (the branch's name as the commit, which
/// GitHub's compare resolves; started at the block).
pub(super) fn manual_bounds(
    runs: &[crate::model::Run],
    repo: &RepoName,
    branch: &str,
    blocked_at: Timestamp,
) -> (Option<RunRef>, RunRef) {
    use crate::model::RunResult;
    let green_at = runs.iter().rposition(|r| r.result == RunResult::Success);
    let last_green = green_at.map(|i| RunRef::from(&runs[i]));
    let after = green_at.map_or(0, |i| i + 1);
    // After the last green run every judged run is red (aborted and error runs say nothing).
    let latest = runs[after..]
        .iter()
        .rfind(|r| r.result == RunResult::Failure)
        .filter(|r| r.commits.contains_key(repo));
    let head = match latest {
        Some(run) => RunRef::from(run),
        None => RunRef {
            build_id: crate::model::BuildId(format!("{branch} (branch head)")),
            url: String::new(),
            started_at: Some(blocked_at),
            finished_at: None,
            commits: [(repo.clone(), CommitSha(branch.to_string()))].into(),
        },
    };
    (last_green, head)
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
    // A branch name asked for is not among the commits: its tip is the head.
    let head = if in_range.contains_key(head) {
        head
    } else {
        tip(comparison).unwrap_or(head)
    };
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

impl Reconciler {
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
    pub(super) async fn find_suspects(
        &self,
        incident: &Incident,
        scope: &Scope,
        last_green: Option<&RunRef>,
        first_red: &RunRef,
        incidents: &[Incident],
    ) -> anyhow::Result<()> {
        let repo = &scope.repo;
        let signals = self.signals(incident);
        let base = last_green.and_then(|g| g.commits.get(repo));
        let head = first_red.commits.get(repo);
        // Why the range is not a commit range, clause by clause (the issue says them).
        let mut why: Vec<String> = match last_green {
            Some(last_green) => {
                comment::commits_unknown(last_green, base.is_none(), first_red, head.is_none())
            }
            None => Some(comment::no_green_run().to_string()),
        }
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
                        head: CommitSha(landed.head.clone()),
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
                let from = match last_green.and_then(|g| g.started_at) {
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
                at: self.clock.now(),
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
        let resolved = match tip(&comparison) {
            Some(tip) if !comparison.commits.iter().any(|c| c.sha == head.as_str()) => {
                tip.to_string()
            }
            _ => head.as_str().to_string(),
        };
        let landed = Landed {
            commits: landed(&comparison, head.as_str()),
            total: comparison.total_commits,
            truncated: comparison.truncated(),
            head: resolved,
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
        // A branch name asked for: its tip is the head, the same line.
        assert_eq!(tip(&comparison), Some("m3"));
        let by_branch: Vec<String> = landed(&comparison, "master")
            .into_iter()
            .map(|(sha, _)| sha)
            .collect();
        assert_eq!(by_branch, vec!["m1", "s", "m3"]);
        // A cut range whose head was not read: every commit read.
        let mut cut = comparison.clone();
        cut.total_commits = 900;
        assert_eq!(tip(&cut), None);
        assert_eq!(landed(&cut, "zz").len(), 5);
    }

    #[test]
    fn a_manual_block_searches_from_the_last_green_run_to_the_latest_or_the_branch_head() {
        use crate::model::{BuildId, Channel, JobName, Run, RunResult};
        let repo = RepoName::new("kubernetes", "kubernetes");
        let run = |build: &str, result: RunResult, sha: Option<&str>| Run {
            job: JobName::new("job"),
            build_id: BuildId::new(build),
            result,
            started_at: Some(Timestamp(100)),
            finished_at: None,
            url: String::new(),
            gcs_path: String::new(),
            commits: sha
                .map(|s| [(repo.clone(), CommitSha::new(s))].into())
                .unwrap_or_default(),
            channel: Channel::Api,
        };
        let at = Timestamp(500);
        // green, red, aborted: from the green to the red run.
        let runs = [
            run("1", RunResult::Success, Some("g")),
            run("2", RunResult::Failure, Some("r")),
            run("3", RunResult::Aborted, Some("x")),
        ];
        let (green, head) = manual_bounds(&runs, &repo, "master", at);
        assert_eq!(green.unwrap().build_id.as_str(), "1");
        assert_eq!(head.build_id.as_str(), "2");
        // The latest run is the green one: to the branch head, from the block's time.
        let (green, head) = manual_bounds(&runs[..1], &repo, "master", at);
        assert_eq!(green.unwrap().build_id.as_str(), "1");
        assert_eq!(head.commits[&repo].as_str(), "master");
        assert_eq!(head.started_at, Some(at));
        // A latest run without a tested commit: the branch head too; no green run: none.
        let runs = [run("5", RunResult::Failure, None)];
        let (green, head) = manual_bounds(&runs, &repo, "release-1.34", at);
        assert!(green.is_none());
        assert_eq!(head.commits[&repo].as_str(), "release-1.34");
    }
}
