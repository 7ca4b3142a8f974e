//! Labels: on an issue or PR (add, remove) and of a repository (get, create, ensure).

use reqwest::Method;
use serde_json::json;

use super::answer::Resend;
use super::error::GithubError;
use super::{Client, encode, repo_path};
use crate::github::types::Label;
use crate::model::{PrNumber, RepoName};

/// A label known only by its name (what dry-run answers for a label asked for).
pub(super) fn named(name: &str) -> Label {
    Label {
        name: name.to_string(),
        color: String::new(),
        description: None,
    }
}

impl Client {
    /// Adds labels to an issue or PR; GitHub answers every label it now carries. In
    /// dry-run: the labels asked for.
    pub async fn add_labels(
        &self,
        repo: &RepoName,
        number: PrNumber,
        labels: &[String],
    ) -> Result<Vec<Label>, GithubError> {
        let path = format!("{}/issues/{}/labels", repo_path(repo), number.0);
        if self.skip_in_dry_run(
            "POST",
            &path,
            "add labels",
            format!("{repo}#{}", number.0),
            || labels.join(", "),
        ) {
            return Ok(labels.iter().map(|name| named(name)).collect());
        }
        self.send_json(
            Method::POST,
            &path,
            &json!({ "labels": labels }),
            Resend::Always,
        )
        .await
    }

    /// Removes one label from an issue or PR; false when it did not carry it (404).
    /// In dry-run: true.
    pub async fn remove_label(
        &self,
        repo: &RepoName,
        number: PrNumber,
        label: &str,
    ) -> Result<bool, GithubError> {
        let path = format!(
            "{}/issues/{}/labels/{}",
            repo_path(repo),
            number.0,
            encode(label)
        );
        if self.skip_in_dry_run(
            "DELETE",
            &path,
            "remove label",
            format!("{repo}#{}", number.0),
            || label.to_string(),
        ) {
            return Ok(true);
        }
        match self
            .request(Method::DELETE, &path, None, Resend::Always)
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.status() == Some(404) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// A repository label, `None` when the repo lacks it.
    pub async fn get_label(
        &self,
        repo: &RepoName,
        name: &str,
    ) -> Result<Option<Label>, GithubError> {
        let path = format!("{}/labels/{}", repo_path(repo), encode(name));
        self.get_json_or_none(&path).await
    }

    /// Creates a repository label. GitHub answers 422 when it exists already (see
    /// [`Client::ensure_label`]). In dry-run: the label asked for.
    pub async fn create_label(&self, repo: &RepoName, label: &Label) -> Result<Label, GithubError> {
        let path = format!("{}/labels", repo_path(repo));
        if self.skip_in_dry_run("POST", &path, "create label", repo.to_string(), || {
            serde_json::to_string(label).unwrap_or_default()
        }) {
            return Ok(label.clone());
        }
        self.send_json(Method::POST, &path, label, Resend::Always)
            .await
    }

    /// The label, created when the repo lacks it (one read when it exists).
    pub async fn ensure_label(&self, repo: &RepoName, label: &Label) -> Result<Label, GithubError> {
        if let Some(found) = self.get_label(repo, &label.name).await? {
            return Ok(found);
        }
        match self.create_label(repo, label).await {
            // Created by someone else in between: it exists, which is all we want.
            Err(e) if e.status() == Some(422) => Ok(label.clone()),
            other => other,
        }
    }
}
