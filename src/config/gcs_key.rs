//! The GCS credentials the configuration names (`sources.gcs.credentials_file`): the
//! `metadata` value, and a service-account JSON key, parsed when the configuration is
//! checked. Signing with it lives in `gcs_auth`.

use std::path::Path;

use anyhow::{Context, bail};
use serde::Deserialize;

/// `sources.gcs.credentials_file` value that selects the metadata server.
pub const METADATA: &str = "metadata";

/// Google's clients reach the metadata server at this `host:port` when it is set.
pub const GCE_METADATA_HOST: &str = "GCE_METADATA_HOST";

/// The fields of a service-account JSON key that the grant needs.
#[derive(Clone)]
pub struct ServiceAccountKey {
    /// The account (`iss` of the assertion).
    pub client_email: String,
    /// Where the assertion is exchanged (`aud` of the assertion).
    pub token_uri: String,
    /// `kid` of the assertion's header, when the key names it.
    pub private_key_id: Option<String>,
    pub(crate) private_key: jsonwebtoken::EncodingKey,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    client_email: String,
    #[serde(default)]
    private_key: String,
    #[serde(default)]
    private_key_id: String,
    #[serde(default)]
    token_uri: String,
}

impl ServiceAccountKey {
    /// Parses a service-account JSON key; the error says which part is wrong, never the key.
    pub fn from_json(text: &str) -> anyhow::Result<Self> {
        let file: KeyFile = serde_json::from_str(text)
            .map_err(|e| anyhow::anyhow!("not a JSON service-account key: {e}"))?;
        if file.kind != "service_account" {
            bail!(
                "not a service-account key (\"type\" is {:?}, want \"service_account\")",
                file.kind
            );
        }
        if file.client_email.trim().is_empty() {
            bail!("the key has no client_email");
        }
        let token_uri = file.token_uri.trim();
        if reqwest::Url::parse(token_uri).is_err() {
            bail!("the key's token_uri is not a URL: {token_uri:?}");
        }
        let private_key = jsonwebtoken::EncodingKey::from_rsa_pem(file.private_key.as_bytes())
            .map_err(|_| anyhow::anyhow!("the key's private_key is not an RSA private key PEM"))?;
        Ok(Self {
            client_email: file.client_email.trim().to_string(),
            token_uri: token_uri.to_string(),
            private_key_id: Some(file.private_key_id).filter(|k| !k.is_empty()),
            private_key,
        })
    }

    /// Reads and parses the key file at `path`.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::from_json(&text).with_context(|| format!("reading {}", path.display()))
    }
}
