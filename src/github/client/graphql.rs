//! GraphQL: the one document the plugin sends, GitHub's "Revert" button.

use reqwest::Method;
use serde_json::{Value, json};

use super::Client;
use super::answer::Resend;
use super::auth::Target;
use super::error::GithubError;
use super::json::decode;
use crate::github::types::RevertedPull;
use crate::model::{PrNumber, RepoName};

/// The one GraphQL document the plugin sends: GitHub's "Revert" button as an API.
pub const REVERT_PULL_REQUEST: &str = "mutation($input: RevertPullRequestInput!) { \
revertPullRequest(input: $input) { pullRequest { number url } revertPullRequest { number url } } }";

impl Client {
    /// Opens a PR reverting the merged PR whose GraphQL id is `node_id` (GraphQL
    /// `revertPullRequest`, GitHub's own "Revert" button: title `Revert "…"`, body
    /// `Reverts org/repo#N`, unless `title`/`body` are given). In dry-run: `None`.
    pub async fn revert_pull(
        &self,
        node_id: &str,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Option<RevertedPull>, GithubError> {
        self.revert_pull_of(None, node_id, title, body).await
    }

    /// As [`Client::revert_pull`] for a PR of `repo`: with a GitHub App, the request
    /// carries the installation token of `repo`'s org (a node id names no org).
    pub async fn revert_pull_in(
        &self,
        repo: &RepoName,
        node_id: &str,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Option<RevertedPull>, GithubError> {
        self.revert_pull_of(Some(Target::repo(repo)), node_id, title, body)
            .await
    }

    async fn revert_pull_of(
        &self,
        target: Option<Target>,
        node_id: &str,
        title: Option<&str>,
        body: Option<&str>,
    ) -> Result<Option<RevertedPull>, GithubError> {
        let mut input = json!({ "pullRequestId": node_id, "draft": false });
        if let Some(title) = title {
            input["title"] = json!(title);
        }
        if let Some(body) = body {
            input["body"] = json!(body);
        }
        let data = self
            .graphql_for(target, REVERT_PULL_REQUEST, json!({ "input": input }))
            .await?;
        if data.is_null() && self.is_dry_run() {
            return Ok(None);
        }
        let payload = &data["revertPullRequest"];
        let number = |v: &Value| v.get("number").and_then(Value::as_u64).map(PrNumber);
        let (Some(reverted), Some(revert)) = (
            number(&payload["pullRequest"]),
            number(&payload["revertPullRequest"]),
        ) else {
            return Err(GithubError::Graphql(format!(
                "revertPullRequest answered no pull request numbers: {data}"
            )));
        };
        Ok(Some(RevertedPull {
            reverted,
            revert,
            url: payload["revertPullRequest"]["url"]
                .as_str()
                .map(str::to_string),
        }))
    }

    /// Posts a GraphQL document to `POST /graphql` and returns its `data`. Counted and
    /// paced as a mutation (the plugin's only GraphQL call, `revertPullRequest`, is one);
    /// in dry-run: `null`. A `RATE_LIMITED` answer (HTTP 200) pauses every request and is
    /// sent again after the pause, like a secondary limit; other GraphQL errors are
    /// [`GithubError::Graphql`].
    /// With a GitHub App it cannot choose an installation (GraphQL paths name no org):
    /// use the calls that name their repository, such as [`Client::revert_pull_in`].
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value, GithubError> {
        self.graphql_for(None, query, variables).await
    }

    async fn graphql_for(
        &self,
        target: Option<Target>,
        query: &str,
        variables: Value,
    ) -> Result<Value, GithubError> {
        if self.skip_in_dry_run("POST", "/graphql", "graphql", "graphql".to_string(), || {
            format!("{query}\nvariables: {variables}")
        }) {
            return Ok(Value::Null);
        }
        let body = json!({ "query": query, "variables": variables });
        // Sent once: the one mutation (`revertPullRequest`) opens a PR, and a 502 after it
        // did must not open a second; the reconciler adopts the open revert instead.
        let answer = self
            .request_for(
                target,
                Method::POST,
                "/graphql",
                Some(&body),
                Resend::OnlyUnsent,
            )
            .await?;
        let answer: Value = decode(&Method::POST, "/graphql", &answer.body)?;
        let errors = answer.get("errors").and_then(Value::as_array);
        if let Some(errors) = errors.filter(|e| !e.is_empty()) {
            let messages: Vec<&str> = errors
                .iter()
                .filter_map(|e| e.get("message").and_then(Value::as_str))
                .collect();
            return Err(GithubError::Graphql(messages.join("; ")));
        }
        Ok(answer.get("data").cloned().unwrap_or(Value::Null))
    }
}
