//! Why a GitHub call failed, and the helpers that turn an answer into that error.

use reqwest::Method;
use serde_json::Value;

use super::answer::Answer;

/// Why a GitHub call failed. Callers match on [`GithubError::status`].
#[derive(Debug, thiserror::Error)]
pub enum GithubError {
    #[error("{method} {path}: no GitHub token configured, request not sent")]
    NoToken { method: String, path: String },
    #[error(
        "{method} {path}: names no org, so no GitHub App installation token can be chosen for it"
    )]
    NoInstallation { method: String, path: String },
    /// The GitHub App is not installed on the org (its installation lookup answered 404);
    /// not a 404 of the request itself, so no caller takes it for "absent".
    #[error(
        "the GitHub App is not installed on {org} (or cannot see it): install it there, then the work is retried"
    )]
    NotInstalled { org: String },
    #[error("{method} {path}: GitHub answered {status}: {message}")]
    Status {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    #[error("{method} {path}: could not decode the answer: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
    #[error("GraphQL: {0}")]
    Graphql(String),
}

impl GithubError {
    /// The HTTP status GitHub answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the request may have taken effect although it failed: GitHub answered 5xx,
    /// or the connection broke after the request was sent. A caller that creates something
    /// looks before it tries again.
    pub fn may_have_happened(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status >= 500,
            Self::Transport { .. } => true,
            _ => false,
        }
    }

    /// A body that could not be encoded or an answer that could not be decoded.
    pub(super) fn decode(method: &Method, path: &str, error: impl std::fmt::Display) -> Self {
        Self::Decode {
            method: method.to_string(),
            path: path.to_string(),
            message: error.to_string(),
        }
    }

    /// A request that got no answer.
    pub(super) fn transport(method: &Method, path: &str, message: String) -> Self {
        Self::Transport {
            method: method.to_string(),
            path: path.to_string(),
            message,
        }
    }

    /// GitHub's refusal of a request, with its `message`.
    pub(super) fn refused(method: &Method, path: &str, answer: &Answer) -> Self {
        Self::Status {
            method: method.to_string(),
            path: path.to_string(),
            status: answer.status,
            message: error_message(&answer.body),
        }
    }
}

/// `Ok(None)` for a 404, so a lookup of something absent is not an error.
pub(super) fn not_found_is_none<T>(
    result: Result<T, GithubError>,
) -> Result<Option<T>, GithubError> {
    match result {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(e),
    }
}

/// GitHub's `message` field of an error body, or the start of the body.
pub(super) fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// What went wrong sending a request: its kind and the cause chain (reqwest's own text
/// repeats the URL, which the caller already logs as a path).
pub(super) fn without_url(e: &reqwest::Error) -> String {
    let mut text = String::from(if e.is_connect() {
        "connection failed"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    });
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
