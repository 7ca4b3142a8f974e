//! The GitHub App credentials the configuration names (`github.app_id`,
//! `github.app_private_key_file`): parsed and test-signed when the configuration is
//! checked, so a broken key stops start-up. Exchanging the JWT for installation tokens
//! lives in `github::client::auth`.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// How far in the past a JWT says it was issued (GitHub's advice against clock drift).
pub const JWT_BACKDATE: Duration = Duration::from_secs(60);

/// How long a JWT is valid after now (GitHub refuses more than ten minutes).
pub const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// A GitHub App's id and private key (`github.app_id`, `github.app_private_key_file`).
#[derive(Clone)]
pub struct AppCredentials {
    app_id: u64,
    key: Arc<jsonwebtoken::EncodingKey>,
}

impl std::fmt::Debug for AppCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppCredentials")
            .field("app_id", &self.app_id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The claims of a GitHub App JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    /// The app id, as a decimal string.
    pub iss: String,
    /// Issued at (Unix seconds), backdated by [`JWT_BACKDATE`].
    pub iat: u64,
    /// Expiry (Unix seconds), [`JWT_LIFETIME`] after now.
    pub exp: u64,
}

impl AppCredentials {
    /// From the app id (decimal digits) and the private key's PEM. The key must be an RSA
    /// private key that signs; errors name what is wrong, never the key.
    pub fn from_pem(app_id: &str, pem: &[u8]) -> anyhow::Result<Self> {
        let app_id: u64 = app_id
            .trim()
            .parse()
            .ok()
            .filter(|id| *id > 0)
            .ok_or_else(|| anyhow::anyhow!("the app id {:?} is not a number", app_id.trim()))?;
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem)
            .map_err(|_| anyhow::anyhow!("the private key is not an RSA private key PEM"))?;
        let credentials = Self {
            app_id,
            key: Arc::new(key),
        };
        // ring checks the key itself only when signing: sign once now, so a broken key
        // stops start-up rather than the first request. The token is thrown away, so
        // any time does: no clock is read.
        credentials
            .jwt(UNIX_EPOCH)
            .map_err(|_| anyhow::anyhow!("the private key is not a usable RSA private key"))?;
        Ok(credentials)
    }

    /// Reads the private key file at `path` (see [`AppCredentials::from_pem`]).
    pub fn load(app_id: &str, path: &Path) -> anyhow::Result<Self> {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_pem(app_id, &pem).with_context(|| format!("reading {}", path.display()))
    }

    /// The app id.
    pub fn app_id(&self) -> u64 {
        self.app_id
    }

    /// The claims of a JWT made at `now`.
    pub fn claims(&self, now: SystemTime) -> AppClaims {
        let now = unix(now);
        AppClaims {
            iss: self.app_id.to_string(),
            iat: now.saturating_sub(JWT_BACKDATE.as_secs()),
            exp: now + JWT_LIFETIME.as_secs(),
        }
    }

    /// The signed JWT (RS256) made at `now`.
    pub fn jwt(&self, now: SystemTime) -> Result<String, jsonwebtoken::errors::Error> {
        let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        jsonwebtoken::encode(&header, &self.claims(now), &self.key)
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}
