//! How requests authenticate: a token, or a GitHub App's installation tokens, one per org.
//!
//! With a GitHub App the client signs a JWT (RS256; `iss` the app id, issued a minute in the
//! past against clock skew, expiring in nine minutes, under GitHub's ten) and exchanges it
//! for an installation token of the org a request targets: `GET /orgs/{org}/installation`
//! (or `/repos/{org}/{repo}/installation` for an account that is not an org) names the
//! installation, `POST /app/installations/{id}/access_tokens` issues the token. Tokens are
//! cached per org and refreshed [`REFRESH_EARLY`] before they expire; a 401 mid-run (a token
//! revoked or expired early) refreshes once and sends the request once more (see
//! `transport`). The app's own endpoints (`/app…`) are called with the JWT itself.
//!
//! Neither the key, the JWT nor a token is ever logged; every `Debug` here redacts them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::Deserialize;
use serde_json::Value;

use super::Client;
use super::answer::Resend;
use super::error::GithubError;
use super::json::decode;
use super::{encode, repo_path};
use crate::clock::Clock;
use crate::config::app_key::AppCredentials;
use crate::model::RepoName;

/// How long before its expiry an installation token is replaced.
pub const REFRESH_EARLY: Duration = Duration::from_secs(5 * 60);

/// Whether a token expiring at `expires_at` may still be used at `now`.
pub fn is_fresh(expires_at: SystemTime, now: SystemTime) -> bool {
    expires_at
        .checked_sub(REFRESH_EARLY)
        .is_some_and(|renew_at| now < renew_at)
}

/// How a client authenticates.
pub(super) enum Auth {
    /// No credentials: every request fails with [`GithubError::NoToken`].
    None,
    /// One token for everything.
    Token(String),
    /// A GitHub App: installation tokens per org.
    App(AppAuth),
}

/// A GitHub App's credentials and its installation tokens per org.
pub(super) struct AppAuth {
    credentials: AppCredentials,
    /// The plugin's one clock: JWTs are issued, and tokens judged fresh, at its time.
    clock: Clock,
    /// Lower-cased org → its installation; one lock per org, so a slow exchange for one
    /// org holds up no other.
    orgs: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Installation>>>>,
}

/// What is known of one org's installation.
#[derive(Default)]
struct Installation {
    id: Option<u64>,
    token: Option<(String, SystemTime)>,
}

/// Whom a request acts on: the org (and repository) that picks the installation token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Target {
    pub(super) org: String,
    pub(super) repo: Option<String>,
}

impl Target {
    /// The target of a request path: `/repos/{org}/{repo}/…`, `/orgs/{org}/…`, or a search
    /// whose query has a `repo:org/name` (or `org:`) qualifier. `None` for anything else.
    pub(super) fn of(path: &str) -> Option<Target> {
        let url = reqwest::Url::parse(&format!("http://github.invalid{path}")).ok()?;
        let segments: Vec<String> = url
            .path_segments()?
            .map(|s| percent_decode(s).to_ascii_lowercase())
            .collect();
        match segments.as_slice() {
            [first, org, repo, ..] if first == "repos" && !org.is_empty() => Some(Target {
                org: org.clone(),
                repo: Some(repo.clone()).filter(|r| !r.is_empty()),
            }),
            [first, org, ..] if first == "orgs" && !org.is_empty() => Some(Target {
                org: org.clone(),
                repo: None,
            }),
            [first, _] if first == "search" => {
                let (_, q) = url.query_pairs().find(|(k, _)| k == "q")?;
                q.split_whitespace().find_map(|term| {
                    if let Some(full) = term.strip_prefix("repo:") {
                        let (org, repo) = full.split_once('/')?;
                        (!org.is_empty()).then(|| Target {
                            org: org.to_ascii_lowercase(),
                            repo: Some(repo.to_ascii_lowercase()).filter(|r| !r.is_empty()),
                        })
                    } else {
                        let org = term.strip_prefix("org:")?;
                        (!org.is_empty()).then(|| Target {
                            org: org.to_ascii_lowercase(),
                            repo: None,
                        })
                    }
                })
            }
            _ => None,
        }
    }

    /// The target of a repository.
    pub(super) fn repo(repo: &RepoName) -> Target {
        Target {
            org: repo.org.to_ascii_lowercase(),
            repo: Some(repo.repo.to_ascii_lowercase()),
        }
    }
}

/// `%XX` decoded (path segments the client encoded itself); invalid escapes stay as they are.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether a path is one of the app's own endpoints, called with the JWT.
pub(super) fn is_app_path(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/") || path.starts_with("/app?")
}

/// GitHub's answer to `POST /app/installations/{id}/access_tokens` (what we read of it).
#[derive(Deserialize)]
struct IssuedToken {
    token: String,
    expires_at: String,
}

/// GitHub's answer naming an installation (what we read of it).
#[derive(Deserialize)]
struct InstallationAnswer {
    id: u64,
}

impl AppAuth {
    pub(super) fn new(credentials: AppCredentials, clock: Clock) -> Self {
        Self {
            credentials,
            clock,
            orgs: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// A fresh JWT, or the error a request made with it would get.
    pub(super) fn jwt(&self, method: &Method, path: &str) -> Result<String, GithubError> {
        self.credentials.jwt(self.clock.system_time()).map_err(|_| {
            GithubError::transport(method, path, "signing the GitHub App JWT failed".into())
        })
    }

    fn org(&self, org: &str) -> Arc<tokio::sync::Mutex<Installation>> {
        let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        orgs.entry(org.to_string()).or_default().clone()
    }
}

impl Client {
    /// The installation token for `target`'s org: the cached one while fresh, else a new
    /// one. `refused` is a token GitHub just answered 401 to: it is replaced, unless a
    /// concurrent request replaced it already (then that new one is used, not a third).
    pub(super) async fn installation_token(
        &self,
        app: &AppAuth,
        target: &Target,
        refused: Option<&str>,
    ) -> Result<String, GithubError> {
        let slot = app.org(&target.org);
        let mut installation = slot.lock().await;
        if let Some((token, expires_at)) = &installation.token
            && refused != Some(token.as_str())
            && is_fresh(*expires_at, app.clock.system_time())
        {
            return Ok(token.clone());
        }
        installation.token = None;
        let id = match installation.id {
            Some(id) => id,
            None => {
                let id = self.find_installation(app, target).await?;
                installation.id = Some(id);
                id
            }
        };
        let path = format!("/app/installations/{id}/access_tokens");
        let jwt = app.jwt(&Method::POST, &path)?;
        let answer = match self
            .send_with(Method::POST, &path, None, Resend::Always, &jwt)
            .await
        {
            Ok(answer) => answer,
            Err(e) if e.status() == Some(404) => {
                // Uninstalled and maybe installed again: look the installation up anew.
                installation.id = None;
                tracing::warn!(org = %target.org, installation = id,
                    "the GitHub App's installation is gone (404); its work waits and is retried");
                return Err(GithubError::NotInstalled {
                    org: target.org.clone(),
                });
            }
            Err(e) => return Err(e),
        };
        let issued: IssuedToken = decode(&Method::POST, &path, &answer.body)?;
        if issued.token.trim().is_empty() {
            return Err(GithubError::decode(
                &Method::POST,
                &path,
                "the installation token is empty",
            ));
        }
        let expires_at =
            humantime::parse_rfc3339_weak(issued.expires_at.trim()).unwrap_or_else(|_| {
                tracing::warn!(org = %target.org, expires_at = %issued.expires_at,
                    "installation token expiry unreadable; renewing it in ten minutes");
                app.clock.system_time() + REFRESH_EARLY + Duration::from_secs(600)
            });
        tracing::info!(org = %target.org, installation = id, "GitHub App installation token issued");
        installation.token = Some((issued.token.clone(), expires_at));
        Ok(issued.token)
    }

    /// The app's installation on `target`'s org (`/orgs/{org}/installation`), or on its
    /// repository when the account is not an org.
    async fn find_installation(&self, app: &AppAuth, target: &Target) -> Result<u64, GithubError> {
        let mut paths = vec![format!("/orgs/{}/installation", encode(&target.org))];
        if let Some(repo) = &target.repo {
            paths.push(format!(
                "{}/installation",
                repo_path(&RepoName {
                    org: target.org.clone(),
                    repo: repo.clone(),
                })
            ));
        }
        let mut last = None;
        for path in paths {
            let jwt = app.jwt(&Method::GET, &path)?;
            match self
                .send_with(Method::GET, &path, None, Resend::Always, &jwt)
                .await
            {
                Ok(answer) => {
                    let found: InstallationAnswer = decode(&Method::GET, &path, &answer.body)?;
                    self.note_installed(&target.org, true);
                    return Ok(found.id);
                }
                Err(e) if e.status() == Some(404) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        tracing::warn!(org = %target.org, app_id = app.credentials.app_id(), error = ?last.map(|e| e.to_string()),
            "the GitHub App is not installed on this org (404); its work waits and is retried");
        self.note_installed(&target.org, false);
        Err(GithubError::NotInstalled {
            org: target.org.clone(),
        })
    }

    /// The app's bot login, `<slug>[bot]` (`GET /app` with the JWT).
    pub(super) async fn app_login(&self) -> Result<crate::model::Login, GithubError> {
        let answer = self
            .request(Method::GET, "/app", None, Resend::Always)
            .await?;
        let app: Value = decode(&Method::GET, "/app", &answer.body)?;
        let slug = app
            .get("slug")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| GithubError::decode(&Method::GET, "/app", "the app has no slug"))?;
        Ok(crate::model::Login::new(format!("{slug}[bot]")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::app_key::AppClaims;
    use std::time::UNIX_EPOCH;

    const PRIVATE: &str = include_str!("../../../tests/data/github-app-test-key.pem");
    const PUBLIC: &str = include_str!("../../../tests/data/github-app-test-key.pub.pem");

    #[test]
    fn the_jwt_is_rs256_with_github_s_claims_and_verifies_with_the_public_key() {
        let credentials = AppCredentials::from_pem("12345", PRIVATE.as_bytes()).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let jwt = credentials.jwt(now).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, jsonwebtoken::Algorithm::RS256);
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.validate_exp = false;
        validation.set_issuer(&["12345"]);
        let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).unwrap();
        let claims = jsonwebtoken::decode::<AppClaims>(&jwt, &key, &validation)
            .unwrap()
            .claims;
        assert_eq!(
            claims,
            AppClaims {
                iss: "12345".into(),
                iat: 1_800_000_000 - 60,
                exp: 1_800_000_000 + 540,
            }
        );
        assert!(
            claims.exp - 1_800_000_000 <= 600,
            "GitHub refuses over 10 min"
        );
        // Signed with another key, it does not verify.
        let other = include_str!("../../../tests/data/gcs-test-key.pem");
        let forged = AppCredentials::from_pem("12345", other.as_bytes())
            .unwrap()
            .jwt(now)
            .unwrap();
        assert!(jsonwebtoken::decode::<AppClaims>(&forged, &key, &validation).is_err());
    }

    #[test]
    fn bad_ids_and_keys_are_refused_without_echoing_the_key() {
        let err = |id: &str, pem: &[u8]| AppCredentials::from_pem(id, pem).unwrap_err().to_string();
        assert!(err("12a", PRIVATE.as_bytes()).contains("not a number"));
        assert!(err("", PRIVATE.as_bytes()).contains("not a number"));
        assert!(err("0", PRIVATE.as_bytes()).contains("not a number"));
        let garbage = err(
            "1",
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
        );
        assert!(garbage.contains("not an RSA private key"), "{garbage}");
        let public = err("1", PUBLIC.as_bytes());
        assert!(public.contains("RSA private key"), "{public}");
        assert!(!public.contains("MII"), "the key is not echoed: {public}");
        let debug = format!(
            "{:?}",
            AppCredentials::from_pem("7", PRIVATE.as_bytes()).unwrap()
        );
        assert_eq!(debug, "AppCredentials { app_id: 7, key: \"<redacted>\" }");
    }

    #[test]
    fn a_token_is_renewed_five_minutes_before_it_expires() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let expires = t0 + Duration::from_secs(3600);
        assert!(is_fresh(expires, t0));
        assert!(is_fresh(expires, expires - Duration::from_secs(301)));
        assert!(!is_fresh(expires, expires - Duration::from_secs(300)));
        assert!(!is_fresh(expires, expires));
        assert!(!is_fresh(expires, expires + Duration::from_secs(1)));
        assert!(!is_fresh(UNIX_EPOCH, t0), "no underflow");
    }

    #[test]
    fn each_request_targets_the_org_it_names() {
        let t = |org: &str, repo: Option<&str>| {
            Some(Target {
                org: org.into(),
                repo: repo.map(str::to_string),
            })
        };
        assert_eq!(
            Target::of("/repos/Kubernetes/kubernetes/issues/1/labels/do-not-merge%2Fx"),
            t("kubernetes", Some("kubernetes"))
        );
        assert_eq!(
            Target::of("/repos/o/r/issues?labels=a&state=open"),
            t("o", Some("r"))
        );
        assert_eq!(
            Target::of("/orgs/kubernetes/teams/leads/memberships/bob"),
            t("kubernetes", None)
        );
        assert_eq!(
            Target::of(
                "/search/issues?q=is%3Apr%20repo%3Aother%2Fthing%20label%3Algtm&per_page=100"
            ),
            t("other", Some("thing"))
        );
        assert_eq!(
            Target::of("/search/issues?q=org%3Aacme+is%3Aissue"),
            t("acme", None)
        );
        assert_eq!(Target::of("/search/issues?q=is%3Apr"), None);
        assert_eq!(Target::of("/graphql"), None);
        assert_eq!(Target::of("/user"), None);
        assert_eq!(Target::of("/repos/"), None);
        assert!(is_app_path("/app") && is_app_path("/app/installations/1/access_tokens"));
        assert!(!is_app_path("/apps/x") && !is_app_path("/repos/app/x"));
    }

    /// Against the fake over HTTP: one token per org, reused while fresh, renewed early
    /// when it is about to expire, renewed once after a 401; the bot's login from `/app`.
    #[tokio::test]
    async fn installation_tokens_are_cached_per_org_and_renewed() {
        use crate::github::client::{Client, ClientOptions};
        use crate::github::fake::FakeGithub;
        use crate::model::PrNumber;
        let fake = FakeGithub::start().await.unwrap();
        fake.register_app(12345, "gate-app", PUBLIC).unwrap();
        fake.install_app("o");
        fake.install_app("p");
        let one = fake.add_issue("o/r", "t", "b", "alice", &[]);
        let two = fake.add_issue("p/r", "t", "b", "alice", &[]);
        fake.add_issue("x/r", "t", "b", "alice", &[]);
        let mut options = ClientOptions::new(vec![fake.url()], None);
        options.app = Some(AppCredentials::from_pem("12345", PRIVATE.as_bytes()).unwrap());
        options.max_attempts = 1;
        let client = Client::new(options).unwrap();
        assert_eq!(client.own_login().await.unwrap().as_str(), "gate-app[bot]");
        let o = RepoName::parse("o/r").unwrap();
        let p = RepoName::parse("p/r").unwrap();
        let get = |repo: &RepoName, n: u64| {
            let (client, repo) = (client.clone(), repo.clone());
            async move { client.get_issue(&repo, PrNumber(n)).await }
        };
        let token_of = |path: &str| {
            let logged = fake.requests();
            let last = logged.iter().rev().find(|r| r.path == path).unwrap();
            let auth = last.authorization.clone().unwrap();
            auth.strip_prefix("Bearer ").unwrap().to_string()
        };

        // One token per org, reused.
        get(&o, one).await.unwrap().unwrap();
        get(&o, one).await.unwrap().unwrap();
        get(&p, two).await.unwrap().unwrap();
        assert_eq!(fake.installation_tokens_issued(), 2);
        let o_token = token_of(&format!("/repos/o/r/issues/{one}"));
        let p_token = token_of(&format!("/repos/p/r/issues/{two}"));
        assert_eq!(
            fake.installation_token_account(&o_token).as_deref(),
            Some("o")
        );
        assert_eq!(
            fake.installation_token_account(&p_token).as_deref(),
            Some("p")
        );

        // Expired behind the client's back: a 401, one renewal, one more try.
        fake.expire_installation_tokens();
        fake.clear_log();
        get(&o, one).await.unwrap().unwrap();
        assert_eq!(fake.installation_tokens_issued(), 3);
        let statuses: Vec<(String, u16)> = fake
            .requests()
            .iter()
            .map(|r| (r.path.clone(), r.status))
            .collect();
        let issue = format!("/repos/o/r/issues/{one}");
        assert_eq!(
            statuses
                .iter()
                .filter(|(p, _)| *p == issue)
                .map(|(_, s)| *s)
                .collect::<Vec<_>>(),
            vec![401, 200]
        );

        // A token within five minutes of its expiry is renewed before it is used.
        fake.set_installation_token_ttl(240);
        get(&p, two).await.unwrap().unwrap(); // p's token was expired too: 401, renewed
        let issued = fake.installation_tokens_issued();
        fake.clear_log();
        get(&p, two).await.unwrap().unwrap();
        assert_eq!(fake.installation_tokens_issued(), issued + 1);
        assert!(
            fake.requests().iter().all(|r| r.status < 400),
            "no 401 on the way"
        );

        // Not installed on x: the lookup's 404 is the error; nothing is sent to x's repo.
        fake.clear_log();
        let err = get(&RepoName::parse("x/r").unwrap(), 1).await.unwrap_err();
        assert!(
            matches!(err, GithubError::NotInstalled { ref org } if org == "x"),
            "{err}"
        );
        assert_eq!(err.status(), None, "not taken for an absent issue");
        let paths: Vec<String> = fake.requests().iter().map(|r| r.path.clone()).collect();
        assert_eq!(
            paths,
            vec!["/orgs/x/installation", "/repos/x/r/installation"]
        );
    }
}
