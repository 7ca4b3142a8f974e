//! Credentials for GCS reads (`sources.gcs.credentials_file`): anonymous (no header), a
//! service-account JSON key (an RS256-signed JWT assertion exchanged at the key's
//! `token_uri` for an access token, the OAuth 2 JWT-bearer grant), or `metadata` (the
//! instance's token from the metadata server, as Workload Identity serves it).
//!
//! [`TokenSource`] caches the access token and refreshes it [`REFRESH_EARLY`] before it
//! expires; concurrent callers wait for one refresh. A refused or unanswered refresh is
//! logged once and remembered for [`FIRST_RETRY_AFTER`], doubling while it keeps failing up
//! to [`RETRY_AFTER_FAILURE`], so a burst of reads does not become a burst of token
//! requests. The private key and tokens are never logged: every `Debug` here redacts them.
//!
//! The plugin builds one source at start ([`TokenSource::from_config`]) and hands clones
//! to every GCS reader, so they share one token and one record of what is wrong with the
//! credentials ([`TokenSource::problem`], named by `/healthz/ready`): the last refused or
//! unanswered refresh, or GCS refusing the token (401/403), cleared by the next success.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::config::GcsSource;
pub use crate::config::gcs_key::{GCE_METADATA_HOST, METADATA, ServiceAccountKey};

/// The scope every token is asked for: read objects and listings, nothing more.
pub const READ_SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// The metadata server's host on GCE and GKE.
pub const METADATA_HOST: &str = "metadata.google.internal";

/// The default service account's token on the metadata server.
const METADATA_TOKEN_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

/// The JWT-bearer grant type (RFC 7523).
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// A token is refreshed this long before it expires.
pub const REFRESH_EARLY: Duration = Duration::from_secs(300);

/// After a failed refresh, callers get the same error for this long before another try
/// (doubled after each further failure, up to [`RETRY_AFTER_FAILURE`]).
pub const FIRST_RETRY_AFTER: Duration = Duration::from_secs(2);

/// The longest a failed refresh is repeated to callers before another try.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(30);

/// Timeout of one token request (token endpoint or metadata server).
pub const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Lifetime asked for the signed assertion (Google accepts at most one hour).
const ASSERTION_LIFETIME: u64 = 3600;

/// Largest token answer read.
const MAX_TOKEN_BYTES: usize = 64 << 10;

/// The claims of the assertion, as Google's token endpoint wants them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub scope: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

impl ServiceAccountKey {
    /// The claims of an assertion issued at `now` (Unix seconds).
    pub fn claims(&self, now: u64) -> Claims {
        Claims {
            iss: self.client_email.clone(),
            scope: READ_SCOPE.to_string(),
            aud: self.token_uri.clone(),
            iat: now,
            exp: now + ASSERTION_LIFETIME,
        }
    }

    /// The signed assertion (RS256) issued at `now` (Unix seconds).
    pub fn assertion(&self, now: u64) -> anyhow::Result<String> {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        jsonwebtoken::encode(&header, &self.claims(now), &self.private_key)
            .context("signing the token assertion")
    }
}

/// Where tokens come from.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// No `Authorization` header (public buckets).
    Anonymous,
    /// A service-account key's JWT-bearer grant.
    ServiceAccount(ServiceAccountKey),
    /// The metadata server at `host` (`host:port`, or a URL base).
    Metadata { host: String },
    /// `credentials_file` could not be read at start (it was checked at load, so it changed
    /// since): every token request fails with `why`, never an anonymous read.
    Unusable { why: String },
}

impl Credentials {
    /// The credentials `sources.gcs` names: `""` anonymous, `metadata`, or a key file.
    pub fn from_config(config: &GcsSource) -> anyhow::Result<Self> {
        let file = config.credentials_file.trim();
        if file.is_empty() {
            return Ok(Self::Anonymous);
        }
        if file == METADATA {
            let host = config.metadata_host.trim();
            let host = if host.is_empty() { METADATA_HOST } else { host };
            return Ok(Self::Metadata {
                host: host.to_string(),
            });
        }
        ServiceAccountKey::load(Path::new(file)).map(Self::ServiceAccount)
    }

    fn describe(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".into(),
            Self::ServiceAccount(key) => format!("service account {}", key.client_email),
            Self::Metadata { host } => format!("metadata server {host}"),
            Self::Unusable { .. } => "sources.gcs.credentials_file".into(),
        }
    }
}

/// An access token and when it stops being used.
#[derive(Clone)]
struct Cached {
    token: Arc<str>,
    refresh_at: Instant,
}

#[derive(Default)]
struct Cache {
    token: Option<Cached>,
    /// The last refresh failed: its message, and until when it is repeated.
    failed: Option<(String, Instant)>,
    /// How long the next failure is repeated (doubles while refreshes keep failing).
    backoff: Option<Duration>,
}

/// What is wrong with the credentials, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    /// No token: the last refresh was refused or not answered (cleared by a refresh).
    Token(String),
    /// GCS refused the token (401 after a renewal, or 403): cleared by a read GCS answers.
    Access(String),
}

/// Hands out bearer tokens for GCS reads; cheap to clone (clones share the cache).
#[derive(Clone)]
pub struct TokenSource {
    inner: Arc<Inner>,
}

struct Inner {
    credentials: Credentials,
    http: reqwest::Client,
    cache: Mutex<Cache>,
    /// Read by `/healthz/ready` without waiting for a refresh in progress.
    problem: std::sync::Mutex<Option<Problem>>,
    /// A background re-check ([`TokenSource::recheck`]) is running.
    checking: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("credentials", &self.inner.credentials.describe())
            .finish()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

#[derive(Deserialize)]
struct TokenError {
    #[serde(default)]
    error: String,
    #[serde(default)]
    error_description: String,
}

impl TokenSource {
    /// A source handing out tokens of `credentials`, each request bounded by
    /// [`TOKEN_TIMEOUT`].
    pub fn new(credentials: Credentials) -> anyhow::Result<Self> {
        Self::with_timeout(credentials, TOKEN_TIMEOUT)
    }

    /// As [`TokenSource::new`], each token request bounded by `timeout`.
    pub fn with_timeout(credentials: Credentials, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .context("building the GCS token client")?;
        let problem = match &credentials {
            Credentials::Unusable { why } => Some(Problem::Token(why.clone())),
            _ => None,
        };
        Ok(Self {
            inner: Arc::new(Inner {
                credentials,
                http,
                cache: Mutex::new(Cache::default()),
                problem: std::sync::Mutex::new(problem),
                checking: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// The one source of the plugin, from `sources.gcs`: a key file that cannot be read
    /// now is logged and gives a source whose every request fails saying so (and
    /// [`TokenSource::problem`] names it), never an anonymous one.
    pub fn from_config(config: &GcsSource) -> anyhow::Result<Self> {
        let credentials = Credentials::from_config(config).unwrap_or_else(|error| {
            let why = format!("sources.gcs.credentials_file is unusable: {error:#}");
            tracing::error!(error = %why, "GCS credentials unusable; reads fail until restarted");
            Credentials::Unusable { why }
        });
        Self::new(credentials)
    }

    /// What keeps the credentials from working, as last seen (a refused or unanswered
    /// token request, or GCS refusing the token); `None` once a refresh or a read
    /// succeeded since. Never holds a token.
    pub fn problem(&self) -> Option<String> {
        match &*self.inner.problem.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Problem::Token(why)) | Some(Problem::Access(why)) => Some(why.clone()),
            None => None,
        }
    }

    fn set_problem(&self, problem: Option<Problem>) {
        *self.inner.problem.lock().unwrap_or_else(|e| e.into_inner()) = problem;
    }

    /// GCS refused the token of these credentials (or, anonymous, the bucket is not
    /// public): `why` is what [`TokenSource::problem`] says until a read gets through.
    pub fn note_refused(&self, why: String) {
        self.set_problem(Some(Problem::Access(why)));
    }

    /// GCS answered a read with something other than 401/403: the credentials work.
    pub fn note_answered(&self) {
        let mut problem = self.inner.problem.lock().unwrap_or_else(|e| e.into_inner());
        if problem.is_some() && !matches!(self.inner.credentials, Credentials::Unusable { .. }) {
            *problem = None;
        }
    }

    /// While no token could be had, tries once more in the background (within the retry
    /// delay, so at most once per delay however often it is called); what it finds goes to
    /// [`TokenSource::problem`]. `/healthz/ready` calls it, so a fixed grant clears the
    /// line without waiting for the next read. Needs a tokio runtime.
    pub fn recheck(&self) {
        let token_problem = matches!(
            &*self.inner.problem.lock().unwrap_or_else(|e| e.into_inner()),
            Some(Problem::Token(_))
        );
        if token_problem {
            self.check_in_background();
        }
    }

    /// Asks for a token in the background (nothing when anonymous or a check is already
    /// running): at start, so unusable credentials show on `/healthz/ready` before the
    /// first read needs them. Needs a tokio runtime.
    pub fn check_in_background(&self) {
        use std::sync::atomic::Ordering;
        if self.is_anonymous() || self.inner.checking.swap(true, Ordering::SeqCst) {
            return;
        }
        let source = self.clone();
        tokio::spawn(async move {
            let _ = source.token().await;
            source.inner.checking.store(false, Ordering::SeqCst);
        });
    }

    /// Which credentials, for messages (`service account a@b`, `metadata server h`); no
    /// secret.
    pub fn describe(&self) -> String {
        self.inner.credentials.describe()
    }

    /// True when requests go without a token.
    pub fn is_anonymous(&self) -> bool {
        matches!(self.inner.credentials, Credentials::Anonymous)
    }

    /// The bearer token to send, `None` when anonymous: the cached one while it is fresh,
    /// else a new one (one refresh however many callers wait for it).
    pub async fn token(&self) -> anyhow::Result<Option<Arc<str>>> {
        if self.is_anonymous() {
            return Ok(None);
        }
        let mut cache = self.inner.cache.lock().await;
        if let Some(cached) = &cache.token
            && Instant::now() < cached.refresh_at
        {
            return Ok(Some(cached.token.clone()));
        }
        self.refresh(&mut cache).await.map(Some)
    }

    /// After GCS refused `rejected` (401): a new token, unless another caller already
    /// replaced it, in which case that one.
    pub async fn token_after_rejection(&self, rejected: &str) -> anyhow::Result<Option<Arc<str>>> {
        if self.is_anonymous() {
            return Ok(None);
        }
        let mut cache = self.inner.cache.lock().await;
        if let Some(cached) = &cache.token
            && &*cached.token != rejected
            && Instant::now() < cached.refresh_at
        {
            return Ok(Some(cached.token.clone()));
        }
        cache.token = None;
        cache.failed = None;
        self.refresh(&mut cache).await.map(Some)
    }

    async fn refresh(&self, cache: &mut Cache) -> anyhow::Result<Arc<str>> {
        if let Some((error, until)) = &cache.failed
            && Instant::now() < *until
        {
            bail!("{error}");
        }
        match self.fetch().await {
            Ok((token, lifetime)) => {
                let token: Arc<str> = token.into();
                cache.token = Some(Cached {
                    token: token.clone(),
                    refresh_at: Instant::now() + lifetime.saturating_sub(REFRESH_EARLY),
                });
                cache.failed = None;
                cache.backoff = None;
                {
                    let mut problem = self.inner.problem.lock().unwrap_or_else(|e| e.into_inner());
                    if matches!(*problem, Some(Problem::Token(_))) {
                        *problem = None;
                    }
                }
                tracing::debug!(credentials = %self.inner.credentials.describe(),
                    lifetime_seconds = lifetime.as_secs(), "GCS access token refreshed");
                Ok(token)
            }
            Err(error) => {
                let message = format!(
                    "no GCS access token ({}): {error:#}",
                    self.inner.credentials.describe()
                );
                tracing::error!(error = %message, "GCS token refresh failed; reads go without commits until it succeeds");
                cache.token = None;
                let hold = cache.backoff.unwrap_or(FIRST_RETRY_AFTER);
                cache.backoff = Some((hold * 2).min(RETRY_AFTER_FAILURE));
                cache.failed = Some((message.clone(), Instant::now() + hold));
                self.set_problem(Some(Problem::Token(message.clone())));
                bail!("{message}")
            }
        }
    }

    /// One token request: the token and how long it lives.
    async fn fetch(&self) -> anyhow::Result<(String, Duration)> {
        let request = match &self.inner.credentials {
            Credentials::Anonymous => bail!("anonymous credentials have no token"),
            Credentials::Unusable { why } => bail!("{why}"),
            Credentials::ServiceAccount(key) => {
                // The token endpoint checks it against the real time: never a test clock.
                let now = crate::clock::since_epoch().as_secs();
                let assertion = key.assertion(now)?;
                let body = reqwest::Url::parse_with_params(
                    "http://form/",
                    [
                        ("grant_type", JWT_BEARER),
                        ("assertion", assertion.as_str()),
                    ],
                )
                .context("encoding the token request")?
                .query()
                .unwrap_or_default()
                .to_string();
                self.inner
                    .http
                    .post(&key.token_uri)
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body)
            }
            Credentials::Metadata { host } => {
                let base = if host.starts_with("http://") || host.starts_with("https://") {
                    host.trim_end_matches('/').to_string()
                } else {
                    format!("http://{host}")
                };
                self.inner
                    .http
                    .get(format!("{base}{METADATA_TOKEN_PATH}"))
                    .header("Metadata-Flavor", "Google")
            }
        };
        let mut response = request.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "did not answer in time"
            } else {
                "unreachable"
            };
            anyhow::anyhow!("token endpoint {what}: {}", e.without_url())
        })?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.context("reading the token answer")? {
            if body.len() + chunk.len() > MAX_TOKEN_BYTES {
                bail!("token answer larger than {MAX_TOKEN_BYTES} bytes");
            }
            body.extend_from_slice(&chunk);
        }
        if !status.is_success() {
            // OAuth errors name the cause (`invalid_grant`, ...); nothing in them is secret.
            let detail = serde_json::from_slice::<TokenError>(&body)
                .ok()
                .filter(|e| !e.error.is_empty())
                .map(|e| {
                    let description: String = e.error_description.chars().take(200).collect();
                    format!(
                        ": {} {description}",
                        e.error.chars().take(100).collect::<String>()
                    )
                })
                .unwrap_or_default();
            bail!("token endpoint refused: {status}{}", detail.trim_end());
        }
        let answer: TokenAnswer = serde_json::from_slice(&body)
            .map_err(|e| anyhow::anyhow!("token answer is not a token: {e}"))?;
        if answer.access_token.is_empty()
            || reqwest::header::HeaderValue::from_str(&format!("Bearer {}", answer.access_token))
                .is_err()
        {
            bail!("token answer has no usable access_token");
        }
        let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600));
        Ok((answer.access_token, lifetime))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = include_str!("../tests/data/gcs-test-key.pem");
    const PUBLIC: &str = include_str!("../tests/data/gcs-test-key.pub.pem");

    fn key_json(token_uri: &str) -> String {
        serde_json::json!({
            "type": "service_account", "project_id": "p", "private_key_id": "kid-1",
            "private_key": PRIVATE, "client_email": "gate@p.iam.gserviceaccount.com",
            "client_id": "1", "token_uri": token_uri,
        })
        .to_string()
    }

    #[test]
    fn the_assertion_is_rs256_with_the_grant_s_claims_and_verifies_with_the_public_key() {
        let key = ServiceAccountKey::from_json(&key_json("https://oauth2.example/token")).unwrap();
        let jwt = key.assertion(1_800_000_000).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_audience(&["https://oauth2.example/token"]);
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<Claims>(&jwt, &decoding, &validation)
            .unwrap()
            .claims;
        assert_eq!(
            claims,
            Claims {
                iss: "gate@p.iam.gserviceaccount.com".into(),
                scope: READ_SCOPE.into(),
                aud: "https://oauth2.example/token".into(),
                iat: 1_800_000_000,
                exp: 1_800_003_600,
            }
        );
        // A tampered assertion does not verify.
        let mut parts: Vec<&str> = jwt.split('.').collect();
        let other = key.assertion(1_800_000_001).unwrap();
        let other_claims = other.split('.').nth(1).unwrap().to_string();
        parts[1] = &other_claims;
        assert!(jsonwebtoken::decode::<Claims>(&parts.join("."), &decoding, &validation).is_err());
    }

    #[test]
    fn malformed_keys_are_refused_without_echoing_the_key() {
        let good: serde_json::Value = serde_json::from_str(&key_json("https://t/")).unwrap();
        let with = |k: &str, v: serde_json::Value| {
            let mut j = good.clone();
            j[k] = v;
            j.to_string()
        };
        let cases = [
            ("{not json".to_string(), "not a JSON"),
            (with("type", "authorized_user".into()), "service_account"),
            (with("client_email", "".into()), "client_email"),
            (with("token_uri", "not a url".into()), "token_uri"),
            (
                with("private_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n".into()),
                "private_key",
            ),
        ];
        for (text, want) in cases {
            let err = format!("{:#}", ServiceAccountKey::from_json(&text).unwrap_err());
            assert!(err.contains(want), "{want}: {err}");
            assert!(!err.contains("BEGIN PRIVATE KEY"), "{err}");
        }
        let key = ServiceAccountKey::from_json(&key_json("https://t/")).unwrap();
        let debug = format!(
            "{key:?} {:?}",
            TokenSource::new(Credentials::ServiceAccount(key.clone())).unwrap()
        );
        assert!(!debug.contains("PRIVATE"), "{debug}");
        assert!(debug.contains("gate@p.iam.gserviceaccount.com"), "{debug}");
    }

    /// A token endpoint on 127.0.0.1 that answers each request with the next token and
    /// `expires_in`; returns its URL and the count of requests.
    async fn token_endpoint(
        expires_in: u64,
        status: u16,
    ) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let count = Arc::new(AtomicUsize::new(0));
        let hits = count.clone();
        let router =
            axum::Router::new().fallback(move |body: String| {
                let hits = hits.clone();
                async move {
                    let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
                    assert!(body.contains(
                        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
                    ));
                    let status = axum::http::StatusCode::from_u16(status).unwrap();
                    let answer = if status.is_success() {
                        serde_json::json!({"access_token": format!("token-{n}"),
                        "expires_in": expires_in, "token_type": "Bearer"})
                    } else {
                        serde_json::json!({"error": "invalid_grant",
                        "error_description": "Invalid JWT Signature."})
                    };
                    (status, axum::Json(answer))
                }
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        (url, count)
    }

    fn source(url: &str) -> TokenSource {
        let key = ServiceAccountKey::from_json(&key_json(url)).unwrap();
        TokenSource::new(Credentials::ServiceAccount(key)).unwrap()
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_refresh_and_the_token_is_cached() {
        use std::sync::atomic::Ordering;
        let (url, count) = token_endpoint(3600, 200).await;
        let tokens = source(&url);
        let got = futures::future::join_all((0..8).map(|_| tokens.token())).await;
        for token in got {
            assert_eq!(token.unwrap().as_deref(), Some("token-1"));
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert_eq!(tokens.token().await.unwrap().as_deref(), Some("token-1"));
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // GCS refused token-1: one new token, and a caller still holding token-1 gets it
        // without another request.
        let after = tokens.token_after_rejection("token-1").await.unwrap();
        assert_eq!(after.as_deref(), Some("token-2"));
        let again = tokens.token_after_rejection("token-1").await.unwrap();
        assert_eq!(again.as_deref(), Some("token-2"));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_token_within_the_refresh_margin_is_refreshed_at_each_use() {
        use std::sync::atomic::Ordering;
        // Lives less than REFRESH_EARLY: stale as soon as it arrives.
        let (url, count) = token_endpoint(REFRESH_EARLY.as_secs() - 1, 200).await;
        let tokens = source(&url);
        assert_eq!(tokens.token().await.unwrap().as_deref(), Some("token-1"));
        assert_eq!(tokens.token().await.unwrap().as_deref(), Some("token-2"));
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refused_grant_is_one_request_and_a_clear_error_until_the_retry_delay() {
        use std::sync::atomic::Ordering;
        let (url, count) = token_endpoint(3600, 400).await;
        let tokens = source(&url);
        for _ in 0..3 {
            let err = format!("{:#}", tokens.token().await.unwrap_err());
            assert!(
                err.contains("400") && err.contains("invalid_grant"),
                "{err}"
            );
            assert!(err.contains("gate@p.iam.gserviceaccount.com"), "{err}");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn anonymous_has_no_token_and_metadata_sends_the_flavor_header() {
        assert_eq!(
            TokenSource::new(Credentials::Anonymous)
                .unwrap()
                .token()
                .await
                .unwrap(),
            None
        );
        let router = axum::Router::new().route(
            METADATA_TOKEN_PATH,
            axum::routing::get(|headers: axum::http::HeaderMap| async move {
                if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
                    return (
                        axum::http::StatusCode::FORBIDDEN,
                        axum::Json(serde_json::json!({})),
                    );
                }
                (
                    axum::http::StatusCode::OK,
                    axum::Json(serde_json::json!({"access_token": "from-metadata",
                        "expires_in": 3599, "token_type": "Bearer"})),
                )
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, router).await });
        let tokens = TokenSource::new(Credentials::Metadata { host }).unwrap();
        assert_eq!(
            tokens.token().await.unwrap().as_deref(),
            Some("from-metadata")
        );
    }

    #[tokio::test]
    async fn an_unreachable_token_endpoint_is_a_clear_error() {
        // A port that was free a moment ago: nothing listens there.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let tokens = source(&format!("http://{addr}/token"));
        let err = format!("{:#}", tokens.token().await.unwrap_err());
        assert!(err.contains("token endpoint unreachable"), "{err}");
    }

    #[tokio::test]
    async fn a_metadata_server_that_never_answers_is_bounded_by_the_timeout() {
        // Accepts connections and reads, never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let tokens =
            TokenSource::with_timeout(Credentials::Metadata { host }, Duration::from_millis(200))
                .unwrap();
        let err = format!("{:#}", tokens.token().await.unwrap_err());
        assert!(err.contains("did not answer in time"), "{err}");
        assert!(err.contains("metadata server"), "{err}");
    }
}
