//! Comments on an issue or PR: read them all, post one.

use reqwest::Method;
use serde_json::json;

use super::answer::Resend;
use super::error::GithubError;
use super::users::dry_run_user;
use super::{Client, PER_PAGE, repo_path};
use crate::github::types::Comment;
use crate::model::{PrNumber, RepoName};

impl Client {
    /// Every comment of an issue or PR, oldest first, following pagination.
    pub async fn list_comments(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> Result<Vec<Comment>, GithubError> {
        let path = format!(
            "{}/issues/{}/comments?per_page={PER_PAGE}",
            repo_path(repo),
            number.0
        );
        self.get_all(path).await
    }

    /// Posts a comment. In dry-run: a comment with id 0 (nothing was posted).
    ///
    /// Sent once, as [`Client::create_issue`]: the caller looks for the comment before it
    /// tries again.
    pub async fn create_comment(
        &self,
        repo: &RepoName,
        number: PrNumber,
        body: &str,
    ) -> Result<Comment, GithubError> {
        let path = format!("{}/issues/{}/comments", repo_path(repo), number.0);
        if self.skip_in_dry_run(
            "POST",
            &path,
            "comment",
            format!("{repo}#{}", number.0),
            || body.to_string(),
        ) {
            return Ok(Comment {
                id: 0,
                body: body.to_string(),
                user: dry_run_user(),
                created_at: None,
                html_url: None,
            });
        }
        self.send_json(
            Method::POST,
            &path,
            &json!({ "body": body }),
            Resend::OnlyUnsent,
        )
        .await
    }
}
