//! Pull requests: the open ones of a branch, one by number, and the files one touches.
//!
//! GitHub answers the same request in two shapes the plugin reads: [`PullRequest`] (what
//! labelling needs) and [`PullRequestDetail`] (body, node id, merge commit, size). Each
//! request is written once, generic over the shape; the public calls name the shape.

use serde::de::DeserializeOwned;

use super::error::GithubError;
use super::{Client, PER_PAGE, encode, repo_path};
use crate::github::types::{PullFile, PullRequest, PullRequestDetail};
use crate::model::{PrNumber, RepoName};

impl Client {
    /// Every open PR of `repo` whose base is `base`, following pagination.
    pub async fn list_open_pulls(
        &self,
        repo: &RepoName,
        base: &str,
    ) -> Result<Vec<PullRequest>, GithubError> {
        self.open_pulls(repo, base).await
    }

    /// As [`Client::list_open_pulls`], with the body, node id and merge commit of each.
    pub async fn list_open_pulls_detail(
        &self,
        repo: &RepoName,
        base: &str,
    ) -> Result<Vec<PullRequestDetail>, GithubError> {
        self.open_pulls(repo, base).await
    }

    /// One PR, `None` when it does not exist.
    pub async fn get_pull(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<PullRequest>, GithubError> {
        self.pull(repo, number).await
    }

    /// One PR with everything GitHub says about it (size, merge commit, node id, body),
    /// `None` when it does not exist.
    pub async fn get_pull_detail(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<PullRequestDetail>, GithubError> {
        self.pull(repo, number).await
    }

    /// The files a PR touches (`GET /repos/{o}/{r}/pulls/{n}/files`), at most `max`
    /// (GitHub itself lists 3,000 at most).
    pub async fn pull_files(
        &self,
        repo: &RepoName,
        number: PrNumber,
        max: usize,
    ) -> Result<Vec<PullFile>, GithubError> {
        let path = format!(
            "{}/pulls/{}/files?per_page={PER_PAGE}",
            repo_path(repo),
            number.0
        );
        let mut files = self
            .get_pages(path, max, |page: Vec<PullFile>| page)
            .await?;
        files.truncate(max);
        Ok(files)
    }

    /// `GET /repos/{o}/{r}/pulls?state=open&base=`, every page, in the shape `T`.
    async fn open_pulls<T: DeserializeOwned>(
        &self,
        repo: &RepoName,
        base: &str,
    ) -> Result<Vec<T>, GithubError> {
        let path = format!(
            "{}/pulls?state=open&base={}&per_page={PER_PAGE}",
            repo_path(repo),
            encode(base)
        );
        self.get_all(path).await
    }

    /// `GET /repos/{o}/{r}/pulls/{n}` in the shape `T`, `None` on 404.
    async fn pull<T: DeserializeOwned>(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Option<T>, GithubError> {
        let path = format!("{}/pulls/{}", repo_path(repo), number.0);
        self.get_json_or_none(&path).await
    }
}
