//! Sending one logical request: endpoints in order, retries with backoff, and the
//! rate-limit pauses and budget slots (see `rate_limit` and `pacer`) around each attempt.

use std::sync::atomic::Ordering;

use reqwest::Method;
use serde_json::Value;

use super::Client;
use super::answer::{Answer, Resend};
use super::auth::{Auth, Target, is_app_path};
use super::error::{GithubError, without_url};
use super::rate_limit::{MAX_RATE_LIMIT_WAITS, graphql_rate_limited};

/// A request that got no answer: whether it surely never reached the endpoint (the
/// connection could not be made), and what happened.
struct Unsent(bool, String);

/// Whether requests of this method create content (GitHub's secondary-limit notion).
fn is_mutation(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PATCH | Method::PUT | Method::DELETE
    )
}

impl Client {
    /// Sends one logical request with the credentials it needs (see `auth`): the token,
    /// or with a GitHub App the JWT for the app's own endpoints and otherwise the
    /// installation token of the org the path targets.
    pub(super) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Answer, GithubError> {
        self.request_for(Target::of(path), method, path, body, resend)
            .await
    }

    /// As [`Client::request`], acting on `target`'s org (a path that names none, such as
    /// `/graphql`, takes it from the caller).
    pub(super) async fn request_for(
        &self,
        target: Option<Target>,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
    ) -> Result<Answer, GithubError> {
        match &self.inner.auth {
            Auth::None => Err(GithubError::NoToken {
                method: method.to_string(),
                path: path.to_string(),
            }),
            Auth::Token(token) => self.send_with(method, path, body, resend, token).await,
            Auth::App(app) if is_app_path(path) => {
                let jwt = app.jwt(&method, path)?;
                self.send_with(method, path, body, resend, &jwt).await
            }
            Auth::App(app) => {
                let Some(target) = target else {
                    return Err(GithubError::NoInstallation {
                        method: method.to_string(),
                        path: path.to_string(),
                    });
                };
                let token = self.installation_token(app, &target, None).await?;
                match self
                    .send_with(method.clone(), path, body, resend, &token)
                    .await
                {
                    // Revoked or expired before its time: GitHub did nothing with it, so a
                    // new token and one more try are safe, also for a mutation.
                    Err(e) if e.status() == Some(401) => {
                        tracing::warn!(method = %method, path, org = %target.org,
                            "installation token refused (401): renewing it and trying once more");
                        let token = self.installation_token(app, &target, Some(&token)).await?;
                        self.send_with(method, path, body, resend, &token).await
                    }
                    other => other,
                }
            }
        }
    }

    /// Sends one logical request with `token`: pacing, rate-limit pauses, endpoints in
    /// order, retries, resending after a failure only as `resend` allows.
    pub(super) async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        resend: Resend,
        token: &str,
    ) -> Result<Answer, GithubError> {
        let options = &self.inner.options;
        let mut round = 0;
        let mut rate_waits = 0;
        loop {
            self.wait_until_allowed().await;
            let outcome = self.try_endpoints(&method, path, body, token, resend).await;
            match outcome {
                Ok(answer) if answer.status < 400 && !graphql_rate_limited(path, &answer) => {
                    self.note_primary_limit(&answer.headers);
                    return Ok(answer);
                }
                Ok(answer)
                    if answer.status < 400 || answer.status == 403 || answer.status == 429 =>
                {
                    let Some(wait) = self.rate_limit_wait(path, &answer) else {
                        return Err(GithubError::refused(&method, path, &answer));
                    };
                    rate_waits += 1;
                    self.inner
                        .counters
                        .rate_limited
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(method = %method, path, status = answer.status,
                        wait_secs = wait.as_secs(), "GitHub rate limit: pausing every request");
                    self.pause_for(wait);
                    if rate_waits > MAX_RATE_LIMIT_WAITS {
                        return Err(if answer.status < 400 {
                            GithubError::Graphql(format!(
                                "still rate limited (RATE_LIMITED) after {MAX_RATE_LIMIT_WAITS} pauses"
                            ))
                        } else {
                            GithubError::refused(&method, path, &answer)
                        });
                    }
                    continue;
                }
                Ok(answer) if answer.status < 500 => {
                    return Err(GithubError::refused(&method, path, &answer));
                }
                Ok(answer) => {
                    round += 1;
                    if round >= options.max_attempts.max(1) || resend == Resend::OnlyUnsent {
                        return Err(GithubError::refused(&method, path, &answer));
                    }
                    tracing::warn!(method = %method, path, status = answer.status, round, "GitHub 5xx, retrying");
                }
                Err(Unsent(false, message)) if resend == Resend::OnlyUnsent => {
                    return Err(GithubError::transport(&method, path, message));
                }
                Err(Unsent(_, message)) => {
                    round += 1;
                    if round >= options.max_attempts.max(1) {
                        return Err(GithubError::transport(&method, path, message));
                    }
                    tracing::warn!(method = %method, path, error = message, round, "GitHub unreachable, retrying");
                }
            }
            self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
            let backoff = options
                .backoff_base
                .saturating_mul(1 << (round - 1).min(16))
                .min(options.backoff_max);
            tokio::time::sleep(backoff).await;
        }
    }

    /// One try over the endpoints in order; a connection error or 5xx moves on. Answers
    /// the first other answer, else the last failure (`Err` for a connection error). With
    /// [`Resend::OnlyUnsent`] it moves on only when the endpoint could not be reached.
    async fn try_endpoints(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        token: &str,
        resend: Resend,
    ) -> Result<Answer, Unsent> {
        let mut last = Err(Unsent(true, String::from("no endpoint")));
        let mutation = is_mutation(method);
        for endpoint in &self.inner.endpoints {
            // Every attempt of a mutation is one GitHub may receive: it takes a slot.
            let slot = if mutation {
                let slot = self.pace().await;
                // A pause may have been set while this mutation waited for its slot.
                self.wait_until_allowed().await;
                Some(slot)
            } else {
                None
            };
            let url = format!("{endpoint}{path}");
            let mut request = self
                .inner
                .http
                .request(method.clone(), &url)
                .bearer_auth(token);
            if let Some(body) = body {
                request = request.json(body);
            }
            self.inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            if mutation {
                self.inner
                    .counters
                    .mutations
                    .fetch_add(1, Ordering::Relaxed);
            }
            let answer = match request.send().await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    match response.bytes().await {
                        Ok(body) => Ok(Answer {
                            status,
                            headers,
                            body,
                        }),
                        Err(e) => Err(Unsent(
                            false,
                            format!("reading the answer of {endpoint}: {e}"),
                        )),
                    }
                }
                Err(e) => Err(Unsent(
                    e.is_connect(),
                    format!("{endpoint}: {}", without_url(&e)),
                )),
            };
            if let (Some(slot), Err(Unsent(true, _))) = (slot, &answer) {
                self.give_back(slot).await;
            }
            match answer {
                Ok(a) if a.status < 500 => return Ok(a),
                Err(Unsent(true, _)) => last = answer,
                other if resend == Resend::OnlyUnsent => return other,
                other => last = other,
            }
        }
        last
    }
}
