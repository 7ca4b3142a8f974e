//! Issues: open, read, edit, close, and find them by label (listing) or by search.

use reqwest::Method;
use serde_json::Value;

use super::answer::Resend;
use super::error::GithubError;
use super::users::dry_run_user;
use super::{Client, PER_PAGE, encode, labels, repo_path};
use crate::github::types::{Issue, IssueEdit, IssueState, NewIssue, SearchResult};
use crate::model::{PrNumber, RepoName};

impl Client {
    /// Opens an issue. In dry-run: an issue numbered 0 (nothing was created).
    ///
    /// Sent once: a 5xx or a connection broken after sending is not retried here, since the
    /// issue may exist by then ([`GithubError::may_have_happened`]); the caller looks for
    /// it before it tries again.
    pub async fn create_issue(
        &self,
        repo: &RepoName,
        issue: &NewIssue,
    ) -> Result<Issue, GithubError> {
        let path = format!("{}/issues", repo_path(repo));
        if self.skip_in_dry_run("POST", &path, "open issue", repo.to_string(), || {
            format!(
                "title: {}\nlabels: {}\n\n{}",
                issue.title,
                issue.labels.join(", "),
                issue.body
            )
        }) {
            return Ok(Issue {
                number: 0,
                title: issue.title.clone(),
                body: Some(issue.body.clone()),
                state: "open".into(),
                user: dry_run_user(),
                labels: issue
                    .labels
                    .iter()
                    .map(|name| labels::named(name))
                    .collect(),
                html_url: None,
                pull_request: None,
                created_at: None,
            });
        }
        self.send_json(Method::POST, &path, issue, Resend::OnlyUnsent)
            .await
    }

    /// One issue (or PR through the issues API), `None` when it does not exist.
    pub async fn get_issue(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<Issue>, GithubError> {
        let path = format!("{}/issues/{}", repo_path(repo), number.0);
        self.get_json_or_none(&path).await
    }

    /// Edits an issue's title, body or state. In dry-run: nothing.
    pub async fn edit_issue(
        &self,
        repo: &RepoName,
        number: PrNumber,
        edit: &IssueEdit,
    ) -> Result<(), GithubError> {
        let path = format!("{}/issues/{}", repo_path(repo), number.0);
        if self.skip_in_dry_run(
            "PATCH",
            &path,
            "edit issue",
            format!("{repo}#{}", number.0),
            || {
                let mut text = String::new();
                for (key, value) in [
                    ("state", &edit.state),
                    ("state_reason", &edit.state_reason),
                    ("title", &edit.title),
                ] {
                    if let Some(value) = value {
                        text.push_str(&format!("{key}: {value}\n"));
                    }
                }
                if let Some(body) = &edit.body {
                    text.push('\n');
                    text.push_str(body);
                }
                text
            },
        ) {
            return Ok(());
        }
        self.send_json::<Value>(Method::PATCH, &path, edit, Resend::Always)
            .await
            .map(|_| ())
    }

    /// Closes an issue as completed. In dry-run: nothing.
    pub async fn close_issue(&self, repo: &RepoName, number: PrNumber) -> Result<(), GithubError> {
        let edit = IssueEdit {
            state: Some("closed".into()),
            state_reason: Some("completed".into()),
            ..IssueEdit::default()
        };
        self.edit_issue(repo, number, &edit).await
    }

    /// Issues (and PRs) of `repo` carrying every one of `labels`, in `state`, following
    /// pagination. Unlike search, this is consistent at once.
    pub async fn list_issues(
        &self,
        repo: &RepoName,
        labels: &[&str],
        state: IssueState,
    ) -> Result<Vec<Issue>, GithubError> {
        let path = format!(
            "{}/issues?labels={}&state={}&per_page={PER_PAGE}",
            repo_path(repo),
            encode(&labels.join(",")),
            state.as_str()
        );
        self.get_all(path).await
    }

    /// Issues and PRs matching a search query (`GET /search/issues?q=`), following
    /// pagination. Search is eventually consistent on GitHub: the reconciler finds its
    /// own issues by listing, and uses search only to look further.
    pub async fn search_issues(&self, query: &str) -> Result<Vec<Issue>, GithubError> {
        Ok(self.search(query).await?.items)
    }

    /// As [`Client::search_issues`], saying whether GitHub answered everything: a search
    /// that timed out on GitHub's side (`incomplete_results`) or matched more than the
    /// 1,000 results search reaches is [`Search::incomplete`]. A search rate limit fails
    /// at once and pauses later searches only ([`Client::search_paused`]).
    pub async fn search(&self, query: &str) -> Result<Search, GithubError> {
        let path = format!("/search/issues?q={}&per_page={PER_PAGE}", encode(query));
        let mut found = Search::default();
        let mut total = 0;
        let cut = self
            .walk_pages(path, SEARCH_PAGES, |page: SearchResult| {
                found.incomplete |= page.incomplete_results;
                total = total.max(page.total_count);
                found.items.extend(page.items);
                true
            })
            .await?;
        found.incomplete |= cut || total > found.items.len() as u64;
        Ok(found)
    }
}

/// Pages of 100 that reach search's first 1,000 results.
const SEARCH_PAGES: usize = 10;

/// What a search found, and whether that is all there is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Search {
    pub items: Vec<Issue>,
    /// Some matches may be missing: GitHub timed out (`incomplete_results`), or more
    /// matched than search reaches.
    pub incomplete: bool,
}
