//! The API token that guards every gRPC write (`Gate/Block`, `Gate/Unblock`, `Gate/Exempt`,
//! `Results/ReportJobResult`): one check, used by both services.
//!
//! A write needs `authorization: Bearer <token>` equal (in constant time) to the content of
//! `api.token_file`, trimmed of surrounding whitespace. The file is read on each write, so a
//! rotated token (a rewritten file, or a Kubernetes Secret's symlink swap) takes effect on
//! the next call without a restart. The refusals:
//!
//! - `api.token_file: ""` → `PERMISSION_DENIED` (writes are switched off);
//! - the file missing, unreadable, too large or empty → `UNAVAILABLE` (logged with the path);
//! - no header, another scheme or a wrong token → `UNAUTHENTICATED`.
//!
//! The token is never logged, displayed or put in a status message.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use subtle::ConstantTimeEq;
use tonic::Status;
use tonic::metadata::MetadataMap;

/// A token file larger than this is refused (a real one is a few dozen bytes).
pub const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// The API token of `api.token_file`, re-read on every check.
pub struct ApiToken {
    /// `None` when `api.token_file` is empty: every write is refused.
    path: Option<PathBuf>,
    /// The file's bytes at the last check, to log a rotation once.
    last: Mutex<Option<Vec<u8>>>,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiToken")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ApiToken {
    /// The token in `file` (`api.token_file`); `""` refuses every write.
    pub fn new(file: &str) -> Self {
        let file = file.trim();
        Self {
            path: (!file.is_empty()).then(|| PathBuf::from(file)),
            last: Mutex::new(None),
        }
    }

    /// The file's path, `None` when writes are switched off.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Whether a write carrying `metadata` may go ahead; the status to answer if not.
    pub fn authorize(&self, metadata: &MetadataMap) -> Result<(), Status> {
        let Some(path) = self.path.as_deref() else {
            return Err(Status::permission_denied(
                "mutating calls are disabled (api.token_file is empty)",
            ));
        };
        let want = match self.current(path) {
            Ok(token) => token,
            Err(error) => {
                tracing::error!(
                    path = %path.display(),
                    error = format!("{error:#}"),
                    "the API token file is unusable; refusing gRPC writes"
                );
                return Err(Status::unavailable("the API token is unavailable"));
            }
        };
        let given = metadata
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(bearer)
            .unwrap_or_default();
        if bool::from(given.as_bytes().ct_eq(&want)) {
            Ok(())
        } else {
            Err(Status::unauthenticated(
                "missing or wrong authorization: Bearer <token>",
            ))
        }
    }

    /// The token as the file holds it now (trimmed, never empty).
    fn current(&self, path: &Path) -> anyhow::Result<Vec<u8>> {
        let content = read_bounded(path)?;
        let token = trim(&content);
        anyhow::ensure!(!token.is_empty(), "the API token file is empty");
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.as_ref().is_some_and(|l| *l != content) {
            tracing::info!(path = %path.display(), "API token file changed; reloaded");
        }
        let token = token.to_vec();
        *last = Some(content);
        Ok(token)
    }
}

/// The credentials of `Bearer <token>` (the scheme in any case, as RFC 6750 allows).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    use anyhow::Context;
    use std::io::Read;
    let file = std::fs::File::open(path).context("opening the API token file")?;
    let mut content = Vec::with_capacity(64);
    file.take(MAX_TOKEN_FILE + 1)
        .read_to_end(&mut content)
        .context("reading the API token file")?;
    anyhow::ensure!(
        content.len() as u64 <= MAX_TOKEN_FILE,
        "the API token file is larger than {MAX_TOKEN_FILE} bytes"
    );
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(header: Option<&str>) -> MetadataMap {
        let mut m = MetadataMap::new();
        if let Some(h) = header {
            m.insert("authorization", h.parse().unwrap());
        }
        m
    }

    fn code(token: &ApiToken, header: Option<&str>) -> tonic::Code {
        match token.authorize(&with(header)) {
            Ok(()) => tonic::Code::Ok,
            Err(status) => status.code(),
        }
    }

    #[test]
    fn only_the_token_of_the_file_passes_and_rotation_takes_effect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "  s3cret\n").unwrap();
        let token = ApiToken::new(&path.display().to_string());
        assert_eq!(code(&token, Some("Bearer s3cret")), tonic::Code::Ok);
        assert_eq!(code(&token, Some("bearer  s3cret ")), tonic::Code::Ok);
        for refused in [
            None,
            Some("Bearer"),
            Some("Bearer "),
            Some("Bearer s3cre"),
            Some("Bearer s3cretX"),
            Some("Basic s3cret"),
            Some("s3cret"),
        ] {
            assert_eq!(
                code(&token, refused),
                tonic::Code::Unauthenticated,
                "{refused:?}"
            );
        }
        std::fs::write(&path, "n3w\n").unwrap();
        assert_eq!(
            code(&token, Some("Bearer s3cret")),
            tonic::Code::Unauthenticated
        );
        assert_eq!(code(&token, Some("Bearer n3w")), tonic::Code::Ok);
    }

    #[test]
    fn no_file_refuses_and_a_broken_file_is_unavailable() {
        let off = ApiToken::new(" ");
        assert_eq!(code(&off, Some("Bearer ")), tonic::Code::PermissionDenied);
        assert_eq!(code(&off, None), tonic::Code::PermissionDenied);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let token = ApiToken::new(&path.display().to_string());
        assert_eq!(code(&token, Some("Bearer x")), tonic::Code::Unavailable);
        // An empty file is no token: even an empty bearer is refused.
        std::fs::write(&path, " \n").unwrap();
        assert_eq!(code(&token, Some("Bearer ")), tonic::Code::Unavailable);
        assert_eq!(code(&token, None), tonic::Code::Unavailable);
        std::fs::write(&path, vec![b'a'; MAX_TOKEN_FILE as usize + 1]).unwrap();
        assert_eq!(code(&token, Some("Bearer a")), tonic::Code::Unavailable);
    }

    #[test]
    fn the_token_is_never_in_a_status_or_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "hunter2").unwrap();
        let token = ApiToken::new(&path.display().to_string());
        let status = token.authorize(&with(Some("Bearer nope"))).unwrap_err();
        assert!(!status.message().contains("hunter2"));
        assert!(!format!("{token:?}").contains("hunter2"));
    }
}
