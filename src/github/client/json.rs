//! JSON in and out: one GET decoded, one body sent and its answer decoded.

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::Client;
use super::answer::Resend;
use super::error::{GithubError, not_found_is_none};

/// Decodes an answer's body; an empty body (204) decodes as JSON null.
pub(super) fn decode<T: DeserializeOwned>(
    method: &Method,
    path: &str,
    body: &[u8],
) -> Result<T, GithubError> {
    let body: &[u8] = if body.is_empty() { b"null" } else { body };
    serde_json::from_slice(body).map_err(|e| GithubError::decode(method, path, e))
}

impl Client {
    /// GETs `path` and decodes the answer.
    pub(super) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, GithubError> {
        let answer = self
            .request(Method::GET, path, None, Resend::Always)
            .await?;
        decode(&Method::GET, path, &answer.body)
    }

    /// As [`Client::get_json`], `None` when GitHub answers 404.
    pub(super) async fn get_json_or_none<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Option<T>, GithubError> {
        not_found_is_none(self.get_json(path).await)
    }

    /// Sends `body` as JSON and decodes the answer. With [`Resend::OnlyUnsent`] a request
    /// that may have taken effect (5xx, connection broken after sending) is not sent
    /// again: for requests that create something.
    pub(super) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
        resend: Resend,
    ) -> Result<T, GithubError> {
        let body = serde_json::to_value(body).map_err(|e| GithubError::decode(&method, path, e))?;
        let answer = self
            .request(method.clone(), path, Some(&body), resend)
            .await?;
        decode(&method, path, &answer.body)
    }
}
