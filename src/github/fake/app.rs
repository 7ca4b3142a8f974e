//! GitHub Apps on the fake: an app registered by the test (id, slug, public key), its
//! installations on orgs, the JWT it signs, and the installation tokens it gets.
//!
//! As GitHub: `GET /app`, `GET /orgs/{org}/installation`, `GET /repos/{o}/{r}/installation`
//! and `POST /app/installations/{id}/access_tokens` take the app's JWT, verified here
//! (RS256 against the registered public key, `iss` the app id, `exp` not past and at most
//! ten minutes ahead, `iat` not in the future); every other endpoint refuses a JWT. An
//! installation token works on its own account's repositories and org only (404 elsewhere,
//! as GitHub hides what an installation cannot see), is refused with 403 on `GET /user`,
//! and with 401 once expired. What is written with it is authored by `<slug>[bot]`.
//! Expiry is wall-clock (GitHub's `expires_at`); the test sets the lifetime of tokens to
//! come ([`FakeGithub::set_installation_token_ttl`]) or expires the issued ones at once
//! ([`FakeGithub::expire_installation_tokens`]).

use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::FakeGithub;
use super::documented::{id_of, ts, user};
use super::render::{error, not_found};
use super::state::{App, Caller, FakeState, Issued, LoggedRequest, Shared};

impl FakeGithub {
    /// Registers the GitHub App `id` named `slug` whose JWTs verify with
    /// `public_key_pem` (an RSA public key); its bot is `<slug>[bot]`.
    pub fn register_app(&self, id: u64, slug: &str, public_key_pem: &str) -> anyhow::Result<()> {
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(public_key_pem.as_bytes())?;
        self.lock().app.app = Some(App {
            id,
            slug: slug.to_string(),
            key,
        });
        Ok(())
    }

    /// Installs the app on the org (or user) `account`; the installation's id.
    pub fn install_app(&self, account: &str) -> u64 {
        let id = id_of(&format!("installation:{}", account.to_ascii_lowercase()));
        self.lock()
            .app
            .installations
            .insert(account.to_ascii_lowercase(), id);
        id
    }

    /// Tokens issued from now on expire `secs` after they are issued (wall clock; GitHub:
    /// an hour). A lifetime under five minutes makes the client renew before each use.
    pub fn set_installation_token_ttl(&self, secs: i64) {
        self.lock().app.ttl_secs = secs;
    }

    /// Every installation token issued so far is expired now (401 from now on).
    pub fn expire_installation_tokens(&self) {
        let now = unix_now();
        for token in self.lock().app.tokens.values_mut() {
            token.expires_at = token.expires_at.min(now - 1);
        }
    }

    /// How many installation tokens the fake has issued.
    pub fn installation_tokens_issued(&self) -> u64 {
        self.lock().app.issued
    }

    /// The account the installation token `token` belongs to, if it is one.
    pub fn installation_token_account(&self, token: &str) -> Option<String> {
        self.lock().app.tokens.get(token).map(|t| t.account.clone())
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// The claims the fake reads of an app JWT.
#[derive(Deserialize)]
struct Claims {
    iss: Value,
    iat: i64,
    exp: i64,
}

/// Whether `path` is one of the endpoints that take the app's JWT.
fn takes_jwt(path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    matches!(parts.as_slice(), ["", "app"] | ["", "app", ..])
        || matches!(parts.as_slice(), ["", "orgs", _, "installation"])
        || matches!(parts.as_slice(), ["", "repos", _, _, "installation"])
}

/// The account a path acts on (`/repos/{account}/…`, `/orgs/{account}/…`), lower-cased.
fn account_of(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "repos", account, ..] | ["", "orgs", account, ..] if !account.is_empty() => {
            Some(account.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// Verifies the app's JWT as GitHub does; the refusal's message otherwise.
fn verify_jwt(s: &FakeState, jwt: &str) -> Result<(), &'static str> {
    let Some(app) = s.app.app.as_ref() else {
        return Err("A JSON web token could not be decoded");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.leeway = 0;
    validation.validate_exp = false; // checked below, with GitHub's rules
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<Claims>(jwt, &app.key, &validation)
        .map_err(|_| "A JSON web token could not be decoded")?
        .claims;
    let iss_ok = match &claims.iss {
        Value::String(s) => s.parse::<u64>().ok() == Some(app.id),
        Value::Number(n) => n.as_u64() == Some(app.id),
        _ => false,
    };
    if !iss_ok {
        return Err("'Issuer' claim ('iss') must be an Integer or String of the app's ID");
    }
    let now = unix_now();
    if claims.exp <= now {
        return Err(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        );
    }
    if claims.exp > now + 600 {
        return Err("'Expiration time' claim ('exp') is too far in the future");
    }
    if claims.iat > now + 60 || claims.iat >= claims.exp {
        return Err(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        );
    }
    Ok(())
}

/// GitHub's refusal of a request: its status and message.
pub(super) struct Refusal(StatusCode, &'static str);

impl Refusal {
    /// The answer GitHub gives.
    pub(super) fn answer(&self) -> Response<Body> {
        error(self.0, self.1)
    }
}

/// Authentication: who sent `entry`, or GitHub's refusal. The user's token (as before),
/// the app's JWT on the app's endpoints, or an installation token on its own account.
pub(super) fn authenticate(s: &FakeState, entry: &LoggedRequest) -> Result<Caller, Refusal> {
    let unauthorized = |message: &'static str| Refusal(StatusCode::UNAUTHORIZED, message);
    let presented = entry.authorization.as_deref().and_then(|a| {
        a.strip_prefix("Bearer ")
            .or_else(|| a.strip_prefix("token "))
    });
    let Some(presented) = presented else {
        return Err(unauthorized("Requires authentication"));
    };
    if presented == s.token {
        return Ok(Caller(s.login.clone()));
    }
    let app = s.app.app.as_ref();
    if presented.matches('.').count() == 2 && presented.starts_with("eyJ") {
        if !takes_jwt(&entry.path) {
            return Err(unauthorized(
                "A JSON web token cannot be used to access this endpoint",
            ));
        }
        verify_jwt(s, presented).map_err(unauthorized)?;
        let slug = app.map_or("", |a| a.slug.as_str());
        return Ok(Caller(format!("{slug}[bot]")));
    }
    let Some((issued, app)) = s.app.tokens.get(presented).zip(app) else {
        return Err(unauthorized("Bad credentials"));
    };
    if issued.expires_at <= unix_now() {
        return Err(unauthorized("Bad credentials"));
    }
    if takes_jwt(&entry.path) {
        return Err(unauthorized("A JSON web token could not be decoded"));
    }
    if entry.path == "/user" {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "Resource not accessible by integration",
        ));
    }
    if account_of(&entry.path).is_some_and(|a| a != issued.account) {
        return Err(Refusal(StatusCode::NOT_FOUND, "Not Found"));
    }
    Ok(Caller(format!("{}[bot]", app.slug)))
}

/// `GET /app`: the `integration` (GitHub App) the JWT belongs to.
pub(super) async fn get_app(State(state): State<Shared>) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(app) = s.app.app.as_ref() else {
        return not_found();
    };
    Json(json!({
        "id": app.id,
        "slug": app.slug,
        "node_id": format!("A_{}", id_of(&format!("app:{}", app.id))),
        "client_id": format!("Iv1.{:016x}", app.id),
        "owner": user("kubernetes"),
        "name": app.slug,
        "description": "",
        "external_url": "https://example.com",
        "html_url": format!("https://github.com/apps/{}", app.slug),
        "created_at": ts(0),
        "updated_at": ts(0),
        "permissions": permissions(),
        "events": ["issue_comment", "pull_request"],
        "installations_count": s.app.installations.len(),
    }))
    .into_response()
}

fn permissions() -> Value {
    json!({
        "issues": "write", "pull_requests": "write", "contents": "write",
        "members": "read", "metadata": "read",
    })
}

/// An `installation` of the app on `account`.
fn installation_json(s: &FakeState, account: &str, id: u64) -> Value {
    let app = s.app.app.as_ref();
    let base = &s.base_url;
    json!({
        "id": id,
        "account": user(account),
        "repository_selection": "all",
        "access_tokens_url": format!("{base}/app/installations/{id}/access_tokens"),
        "repositories_url": format!("{base}/installation/repositories"),
        "html_url": format!("https://github.com/organizations/{account}/settings/installations/{id}"),
        "app_id": app.map_or(0, |a| a.id),
        "app_slug": app.map_or("", |a| a.slug.as_str()),
        "target_id": id_of(&format!("user:{account}")),
        "target_type": "Organization",
        "permissions": permissions(),
        "events": ["issue_comment", "pull_request"],
        "created_at": ts(0),
        "updated_at": ts(0),
        "single_file_name": null,
        "suspended_by": null,
        "suspended_at": null,
    })
}

/// `GET /orgs/{org}/installation`: 404 when the app is not installed there.
pub(super) async fn org_installation(
    State(state): State<Shared>,
    Path(org): Path<String>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let account = org.to_ascii_lowercase();
    match s.app.installations.get(&account) {
        Some(id) => Json(installation_json(&s, &account, *id)).into_response(),
        None => not_found(),
    }
}

/// `GET /repos/{owner}/{repo}/installation`: the installation on the repository's owner,
/// 404 when the repository or the installation does not exist.
pub(super) async fn repo_installation(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let account = owner.to_ascii_lowercase();
    match (s.repo(&owner, &repo), s.app.installations.get(&account)) {
        (Some(_), Some(id)) => Json(installation_json(&s, &account, *id)).into_response(),
        _ => not_found(),
    }
}

/// `POST /app/installations/{id}/access_tokens`: a new `installation-token`.
pub(super) async fn access_token(
    State(state): State<Shared>,
    Path(id): Path<u64>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let Some(account) = s
        .app
        .installations
        .iter()
        .find(|(_, i)| **i == id)
        .map(|(a, _)| a.clone())
    else {
        return not_found();
    };
    s.app.issued += 1;
    let token = format!("ghs_fake{:016}{id}", s.app.issued);
    let expires_at = unix_now() + s.app.ttl_secs;
    s.app.tokens.insert(
        token.clone(),
        Issued {
            account,
            expires_at,
        },
    );
    (
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "expires_at": crate::model::Timestamp(expires_at).to_rfc3339(),
            "permissions": permissions(),
            "repository_selection": "all",
        })),
    )
        .into_response()
}

/// Who wrote `entry` (the user's login when it did not authenticate: such a request is
/// answered 401 before any handler reads it, or held by a test).
pub(super) fn caller(state: &Shared, entry: &LoggedRequest) -> Caller {
    let s = state.lock().expect("fake state");
    authenticate(&s, entry).unwrap_or_else(|_| Caller(s.login.clone()))
}
