//! History: what was merged, for finding suspects (a commit range, the PRs of a commit,
//! the PRs merged in a time window).

use super::error::GithubError;
use super::{Client, MAX_PAGES, PER_PAGE, encode, repo_path};
use crate::github::types::{Comparison, MergedWindow, PullRequestDetail};
use crate::model::{RepoName, Timestamp};

impl Client {
    /// The commits reachable from `head` and not from `base`
    /// (`GET /repos/{o}/{r}/compare/{base}...{head}`), oldest first, following pages until
    /// `max_commits` are fetched. `total_commits` always says how many there are, so
    /// [`Comparison::truncated`] tells when the range was cut. `None` when GitHub does not
    /// know either commit (404).
    pub async fn compare(
        &self,
        repo: &RepoName,
        base: &str,
        head: &str,
        max_commits: usize,
    ) -> Result<Option<Comparison>, GithubError> {
        let path = format!(
            "{}/compare/{}...{}?per_page={PER_PAGE}",
            repo_path(repo),
            encode(base),
            encode(head)
        );
        let mut all: Option<Comparison> = None;
        let walked = self
            .walk_pages(path, MAX_PAGES, |page: Comparison| {
                let done = page.commits.is_empty();
                let all = match all.as_mut() {
                    None => all.insert(page),
                    Some(all) => {
                        all.commits.extend(page.commits);
                        all
                    }
                };
                !done && all.commits.len() < max_commits
            })
            .await;
        match walked {
            Ok(_) => {}
            Err(e) if e.status() == Some(404) && all.is_none() => return Ok(None),
            Err(e) => return Err(e),
        }
        Ok(all.map(|mut c| {
            c.commits.truncate(max_commits);
            c
        }))
    }

    /// The PRs that brought `sha` in (`GET /repos/{o}/{r}/commits/{sha}/pulls`): for a
    /// commit on the default branch, the merged PR that introduced it.
    pub async fn pulls_of_commit(
        &self,
        repo: &RepoName,
        sha: &str,
    ) -> Result<Vec<PullRequestDetail>, GithubError> {
        let path = format!(
            "{}/commits/{}/pulls?per_page={PER_PAGE}",
            repo_path(repo),
            encode(sha)
        );
        match self.get_json(&path).await {
            Err(e) if matches!(e.status(), Some(404 | 422)) => Ok(Vec::new()),
            other => other,
        }
    }

    /// The PRs merged into `base` between `from` and `to` (inclusive), oldest merge first:
    /// closed PRs newest-updated first (`GET .../pulls?state=closed&base=&sort=updated&
    /// direction=desc`), read until they were last updated before `from` (a PR merged in
    /// the window was updated at or after its merge), at most `max_pages` pages.
    /// [`MergedWindow::complete`] is false when the pages ran out before the list reached
    /// `from`: older merges of the window may be missing.
    pub async fn merged_pulls_between(
        &self,
        repo: &RepoName,
        base: &str,
        from: Timestamp,
        to: Timestamp,
        max_pages: usize,
    ) -> Result<MergedWindow, GithubError> {
        let path = format!(
            "{}/pulls?state=closed&base={}&sort=updated&direction=desc&per_page={PER_PAGE}",
            repo_path(repo),
            encode(base)
        );
        let mut merged = Vec::new();
        let cut = self
            .walk_pages(
                path,
                max_pages.clamp(1, MAX_PAGES),
                |page: Vec<PullRequestDetail>| {
                    let older = page.iter().any(|p| {
                        p.pull
                            .updated_at
                            .as_deref()
                            .and_then(Timestamp::parse_rfc3339)
                            .is_some_and(|t| t < from)
                    });
                    merged.extend(
                        page.into_iter()
                            .filter(|p| p.merged().is_some_and(|t| from <= t && t <= to)),
                    );
                    !older
                },
            )
            .await?;
        merged.sort_by_key(|p| (p.merged(), p.pull.number));
        Ok(MergedWindow {
            pulls: merged,
            complete: !cut,
        })
    }
}
