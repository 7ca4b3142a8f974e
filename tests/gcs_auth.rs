//! Private artifact buckets end to end, over real sockets: a fake GCS that serves
//! `started.json` / `finished.json` only with `Authorization: Bearer <token>`, a local
//! OAuth 2 token endpoint that issues that token for a valid RS256 assertion of the test's
//! service-account key (`tests/data/gcs-test-key.pem`, generated for these tests), and a
//! local metadata server. A red run after a green one gets its tested commits from GCS, and
//! so suspects from the commit range, only when the plugin has credentials.
//!
//! Sync points: the plugin's `/api/v1/status` (the incident's suspect search) polled with a
//! bounded timeout; the stored runs are read by stopping the plugin and opening the store.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::{Plugin, eventually, test_config};
use scalability_gate::Store;
use scalability_gate::config::{Config, GcsSource};
use scalability_gate::gcs_auth::READ_SCOPE;
use scalability_gate::github::fake::{FakeGithub, MergedPr};
use scalability_gate::model::{BuildId, Channel, JobName, RepoName, Run, RunResult, Timestamp};
use scalability_gate::prow::gcs::Gcs;

const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";
const REPO: &str = "kubernetes/kubernetes";
const BUCKET: &str = "private-ci-logs";
const ACCOUNT: &str = "scalability-gate@test-project.iam.gserviceaccount.com";
const PRIVATE_KEY: &str = include_str!("data/gcs-test-key.pem");
const PUBLIC_KEY: &str = include_str!("data/gcs-test-key.pub.pem");
const METADATA_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default/token";

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

// ---------------------------------------------------------------- fakes

/// A private bucket: objects at `/{bucket}/{path}`, served only with an accepted bearer
/// token (401 without or with an unknown one, 403 with a token that lacks read access).
#[derive(Clone, Default)]
struct PrivateGcs {
    objects: Arc<Mutex<BTreeMap<String, String>>>,
    /// Token → may read.
    tokens: Arc<Mutex<BTreeMap<String, bool>>>,
    served: Arc<AtomicUsize>,
    refused: Arc<AtomicUsize>,
}

impl PrivateGcs {
    fn accept(&self, token: &str, may_read: bool) {
        self.tokens
            .lock()
            .unwrap()
            .insert(token.to_string(), may_read);
    }

    fn revoke(&self, token: &str) {
        self.tokens.lock().unwrap().remove(token);
    }

    /// `started.json` (tested commit `sha`) and `finished.json` of one run.
    fn add_run(&self, build: u64, sha: &str, passed: bool) {
        let dir = format!("{BUCKET}/logs/{JOB}/{build}");
        let started = 1_790_000_000 + build as i64 * 3600;
        let mut o = self.objects.lock().unwrap();
        o.insert(
            format!("{dir}/started.json"),
            serde_json::json!({"timestamp": started, "repo-commit": sha,
                "repos": {REPO: "master"}})
            .to_string(),
        );
        o.insert(
            format!("{dir}/finished.json"),
            serde_json::json!({"timestamp": started + 1800, "passed": passed}).to_string(),
        );
    }

    async fn start(&self) -> String {
        let router = axum::Router::new()
            .fallback(private_gcs)
            .with_state(self.clone());
        serve(router).await
    }
}

async fn private_gcs(State(gcs): State<PrivateGcs>, req: Request) -> axum::response::Response {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let may_read = token.and_then(|t| gcs.tokens.lock().unwrap().get(&t).copied());
    match may_read {
        None => {
            gcs.refused.fetch_add(1, Ordering::SeqCst);
            return StatusCode::UNAUTHORIZED.into_response();
        }
        Some(false) => {
            gcs.refused.fetch_add(1, Ordering::SeqCst);
            return StatusCode::FORBIDDEN.into_response();
        }
        Some(true) => {}
    }
    let path = req.uri().path().trim_start_matches('/').to_string();
    match gcs.objects.lock().unwrap().get(&path) {
        Some(body) => {
            gcs.served.fetch_add(1, Ordering::SeqCst);
            body.clone().into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A token endpoint that checks the JWT-bearer grant as Google's does (RS256 signature by
/// the test key, `iss`, `scope`, `aud` = its own URL) and answers with the next token of
/// `issue`; anything else is a 400 `invalid_grant`.
#[derive(Clone)]
struct TokenEndpoint {
    url: Arc<Mutex<String>>,
    issue: Arc<Mutex<Vec<String>>>,
    grants: Arc<AtomicUsize>,
}

impl TokenEndpoint {
    async fn start(issue: &[&str]) -> TokenEndpoint {
        let endpoint = TokenEndpoint {
            url: Arc::default(),
            issue: Arc::new(Mutex::new(
                issue.iter().rev().map(|s| s.to_string()).collect(),
            )),
            grants: Arc::default(),
        };
        let router = axum::Router::new()
            .route("/token", axum::routing::post(grant))
            .with_state(endpoint.clone());
        *endpoint.url.lock().unwrap() = format!("{}/token", serve(router).await);
        endpoint
    }

    fn url(&self) -> String {
        self.url.lock().unwrap().clone()
    }
}

#[derive(serde::Deserialize)]
struct Claims {
    iss: String,
    scope: String,
}

async fn grant(State(endpoint): State<TokenEndpoint>, body: String) -> axum::response::Response {
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    let form: BTreeMap<String, String> = reqwest::Url::parse(&format!("http://x/?{body}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return refuse("grant_type");
    }
    let Some(assertion) = form.get("assertion") else {
        return refuse("no assertion");
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&[endpoint.url()]);
    validation.set_required_spec_claims(&["exp", "aud", "iss"]);
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(PUBLIC_KEY.as_bytes()).unwrap();
    let claims = match jsonwebtoken::decode::<Claims>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(_) => return refuse("Invalid JWT Signature."),
    };
    if claims.iss != ACCOUNT || claims.scope != READ_SCOPE {
        return refuse("iss or scope");
    }
    endpoint.grants.fetch_add(1, Ordering::SeqCst);
    let Some(token) = endpoint.issue.lock().unwrap().pop() else {
        return refuse("no more tokens in this test");
    };
    axum::Json(
        serde_json::json!({"access_token": token, "expires_in": 3599,
        "token_type": "Bearer"}),
    )
    .into_response()
}

/// A metadata server handing out `token` to requests with `Metadata-Flavor: Google`.
async fn metadata_server(token: &str) -> String {
    let token = token.to_string();
    let router = axum::Router::new().route(
        METADATA_PATH,
        axum::routing::get(move |headers: axum::http::HeaderMap| {
            let token = token.clone();
            async move {
                if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
                    return StatusCode::FORBIDDEN.into_response();
                }
                axum::Json(
                    serde_json::json!({"access_token": token, "expires_in": 3599,
                    "token_type": "Bearer"}),
                )
                .into_response()
            }
        }),
    );
    serve(router)
        .await
        .trim_start_matches("http://")
        .to_string()
}

/// A service-account JSON key of the test key pair, exchanged at `token_uri`.
fn key_file(dir: &std::path::Path, token_uri: &str) -> String {
    let path = dir.join("gcs-key.json");
    let key = serde_json::json!({
        "type": "service_account", "project_id": "test-project",
        "private_key_id": "0123456789abcdef", "private_key": PRIVATE_KEY,
        "client_email": ACCOUNT, "client_id": "1",
        "auth_uri": "https://accounts.example/o/oauth2/auth", "token_uri": token_uri,
    });
    std::fs::write(&path, key.to_string()).unwrap();
    path.display().to_string()
}

// ---------------------------------------------------------------- the plugin

struct Env {
    dir: tempfile::TempDir,
    fake: FakeGithub,
    gcs: PrivateGcs,
    gcs_url: String,
    green: String,
    red: String,
    suspect: u64,
}

impl Env {
    /// GitHub: a green commit, one PR merged long before either run started (so only the
    /// commit range finds it), the red commit. GCS: runs 1 (green) and 2 (red).
    async fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hmac"), "hmac-key").unwrap();
        let fake = FakeGithub::start().await.unwrap();
        std::fs::write(dir.path().join("token"), format!("{}\n", fake.token())).unwrap();
        let green = fake.push_commit(REPO, "master", "Update CHANGELOG");
        let suspect = fake
            .merge_pr(
                REPO,
                MergedPr::new(
                    "master",
                    "Scheduler: bind in batches",
                    Timestamp(1_780_000_000),
                ),
            )
            .number;
        let red = fake.branch_head(REPO, "master").unwrap();
        let gcs = PrivateGcs::default();
        gcs.add_run(1, &green, true);
        gcs.add_run(2, &red, false);
        let gcs_url = gcs.start().await;
        Env {
            dir,
            fake,
            gcs,
            gcs_url,
            green,
            red,
            suspect,
        }
    }

    fn config(&self, credentials_file: &str) -> Config {
        let mut c = test_config(
            &self.dir.path().join("store"),
            &self.dir.path().join("hmac"),
        );
        c.github.endpoints = vec![self.fake.url()];
        c.github.token_file = self.dir.path().join("token");
        c.history.backfill = 0;
        c.sources.gcs.url = self.gcs_url.clone();
        c.sources.gcs.bucket = BUCKET.into();
        c.sources.gcs.credentials_file = credentials_file.into();
        c
    }

    /// Starts the plugin, reports green run 1 and red run 2 through the Results API, and
    /// returns the incident's first suspect search and suspects once recorded; stops it.
    async fn regress(&self, config: Config) -> (serde_json::Value, Vec<u64>) {
        let plugin = Plugin::start(config).await;
        let grpc = plugin.bound.grpc.to_string();
        common::report_run(&grpc, JOB, 1, "success").await;
        common::report_run(&grpc, JOB, 2, "failure").await;
        let incident = searched_incident(&plugin).await;
        plugin.stop().await;
        let suspects = incident["suspects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["pr"].as_u64().unwrap())
            .collect();
        (incident["searches"][0]["range"].clone(), suspects)
    }

    /// The tested kubernetes commit of each stored run (the plugin stopped).
    fn stored_commits(&self) -> Vec<Option<String>> {
        let store = Store::open(&self.dir.path().join("store")).unwrap();
        let k8s = RepoName::new("kubernetes", "kubernetes");
        store
            .runs(&JobName::new(JOB))
            .unwrap()
            .iter()
            .map(|r| r.commits.get(&k8s).map(|c| c.0.clone()))
            .collect()
    }

    fn assert_found_by_commits(&self, range: &serde_json::Value, suspects: &[u64]) {
        assert_eq!(range["kind"], "commits", "{range}");
        assert_eq!(range["base"], self.green.as_str(), "{range}");
        assert_eq!(range["head"], self.red.as_str(), "{range}");
        assert_eq!(
            suspects,
            [self.suspect],
            "the PR between the tested commits"
        );
        assert_eq!(
            self.stored_commits(),
            [Some(self.green.clone()), Some(self.red.clone())]
        );
    }
}

/// The active incident once its suspect search is recorded.
async fn searched_incident(plugin: &Plugin) -> serde_json::Value {
    eventually("an incident with a suspect search", async || {
        let status: serde_json::Value = reqwest::get(format!("{}/api/v1/status", plugin.url()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["incidents"]
            .as_array()
            .and_then(|list| {
                list.iter()
                    .find(|i| i["searches"].as_array().is_some_and(|s| !s.is_empty()))
                    .cloned()
            })
            .ok_or_else(|| status.to_string())
    })
    .await
}

#[tokio::test]
async fn a_private_bucket_read_with_a_service_account_key_gives_commits_and_suspects() {
    let env = Env::new().await;
    let tokens = TokenEndpoint::start(&["ya29.service-account-token"]).await;
    env.gcs.accept("ya29.service-account-token", true);
    let key = key_file(env.dir.path(), &tokens.url());

    let (range, suspects) = env.regress(env.config(&key)).await;

    env.assert_found_by_commits(&range, &suspects);
    // One credential source for the whole plugin: the runs' enricher and the reconciler
    // reading the first red run's junit files share one cached token.
    assert_eq!(tokens.grants.load(Ordering::SeqCst), 1, "one token, cached");
    assert_eq!(
        env.gcs.served.load(Ordering::SeqCst),
        4,
        "two objects per run"
    );
    assert_eq!(env.gcs.refused.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_private_bucket_read_through_the_metadata_server_gives_commits_and_suspects() {
    let env = Env::new().await;
    env.gcs.accept("ya29.workload-identity-token", true);
    let mut config = env.config("metadata");
    config.sources.gcs.metadata_host = metadata_server("ya29.workload-identity-token").await;

    let (range, suspects) = env.regress(config).await;

    env.assert_found_by_commits(&range, &suspects);
    assert_eq!(env.gcs.refused.load(Ordering::SeqCst), 0);
}

/// Without credentials the same runs are still recorded and judged, but their tested
/// commits are unknown: the suspects come from the time window, which misses the PR.
#[tokio::test]
async fn without_credentials_a_private_bucket_gives_no_commits_and_no_commit_range() {
    let env = Env::new().await;

    let (range, suspects) = env.regress(env.config("")).await;

    assert_eq!(range["kind"], "time_window", "{range}");
    assert!(suspects.is_empty(), "{suspects:?}");
    assert_eq!(env.stored_commits(), [None, None]);
    assert!(env.gcs.refused.load(Ordering::SeqCst) >= 4);
    assert_eq!(env.gcs.served.load(Ordering::SeqCst), 0);
}

/// A token endpoint that refuses the grant: the runs are still recorded and the regression
/// still found, without commits; nothing panics.
#[tokio::test]
async fn a_refused_grant_leaves_runs_without_commits_and_the_gate_working() {
    let env = Env::new().await;
    let tokens = TokenEndpoint::start(&[]).await;
    let key = key_file(env.dir.path(), &tokens.url());

    let (range, suspects) = env.regress(env.config(&key)).await;

    assert_eq!(range["kind"], "time_window", "{range}");
    assert!(suspects.is_empty(), "{suspects:?}");
    assert_eq!(env.stored_commits(), [None, None]);
    assert_eq!(env.gcs.served.load(Ordering::SeqCst), 0);
}

/// `/healthz/ready`'s status and body.
async fn readiness(plugin: &Plugin) -> (u16, String) {
    let answer = reqwest::get(format!("http://{}/healthz/ready", plugin.bound.health))
        .await
        .unwrap();
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap())
}

/// Readiness once its body `wanted` (200 throughout: webhooks are still taken and kept).
async fn readiness_body(plugin: &Plugin, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    eventually(what, async || {
        let (status, body) = readiness(plugin).await;
        if status == 200 && wanted(&body) {
            Ok(body)
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await
}

/// A token endpoint that refuses the grant: `/healthz/ready` names the GCS credentials
/// (asked at start, before any read needs them) and stays 200; once the endpoint answers,
/// the line goes by itself and reads get the runs' commits.
#[tokio::test]
async fn readiness_names_refused_gcs_credentials_until_the_token_endpoint_answers() {
    let env = Env::new().await;
    let tokens = TokenEndpoint::start(&[]).await;
    env.gcs.accept("ya29.late-token", true);
    let key = key_file(env.dir.path(), &tokens.url());
    let plugin = Plugin::start(env.config(&key)).await;

    let body = readiness_body(&plugin, "readiness naming the GCS credentials", |b| {
        b.contains("gcs credentials")
    })
    .await;
    assert!(
        body.starts_with("OK; degraded: gcs credentials: "),
        "{body}"
    );
    assert!(
        body.contains("400") && body.contains("invalid_grant"),
        "what the token endpoint said: {body}"
    );
    assert!(body.contains(ACCOUNT), "which credentials: {body}");
    assert!(!body.contains("PRIVATE KEY"), "{body}");

    // The endpoint answers now: the line goes without a read.
    tokens
        .issue
        .lock()
        .unwrap()
        .push("ya29.late-token".to_string());
    readiness_body(&plugin, "readiness OK again", |b| b == "OK").await;

    let grpc = plugin.bound.grpc.to_string();
    common::report_run(&grpc, JOB, 1, "success").await;
    common::report_run(&grpc, JOB, 2, "failure").await;
    let incident = searched_incident(&plugin).await;
    plugin.stop().await;
    let suspects: Vec<u64> = incident["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["pr"].as_u64().unwrap())
        .collect();
    env.assert_found_by_commits(&incident["searches"][0]["range"], &suspects);
}

/// A token GCS refuses for lack of the role (403) is named by `/healthz/ready` until a
/// read gets through.
#[tokio::test]
async fn readiness_names_credentials_without_read_access_until_a_read_gets_through() {
    let env = Env::new().await;
    env.gcs.accept("ya29.no-role", false);
    let mut config = env.config("metadata");
    config.sources.gcs.metadata_host = metadata_server("ya29.no-role").await;
    let plugin = Plugin::start(config).await;
    assert_eq!(
        readiness(&plugin).await,
        (200, "OK".to_string()),
        "the grant works"
    );
    let grpc = plugin.bound.grpc.to_string();

    common::report_run(&grpc, JOB, 1, "success").await;
    let body = readiness_body(&plugin, "readiness naming the missing role", |b| {
        b.contains("gcs credentials")
    })
    .await;
    assert!(
        body.contains("403") && body.contains("lack storage read access"),
        "{body}"
    );
    assert!(body.contains("metadata server 127.0.0.1:"), "{body}");
    assert!(
        !body.contains("ya29.no-role"),
        "no token in the body: {body}"
    );

    // The role is granted: the next read gets through and the line goes.
    env.gcs.accept("ya29.no-role", true);
    common::report_run(&grpc, JOB, 2, "success").await;
    readiness_body(&plugin, "readiness OK once a read got through", |b| {
        b == "OK"
    })
    .await;
    plugin.stop().await;
}

// ---------------------------------------------------------------- the reader alone

fn run(build: u64) -> Run {
    Run {
        job: JobName::new(JOB),
        build_id: BuildId::new(build.to_string()),
        result: RunResult::Failure,
        started_at: None,
        finished_at: None,
        url: String::new(),
        gcs_path: String::new(),
        commits: Default::default(),
        channel: Channel::Api,
    }
}

fn reader(url: &str, credentials_file: &str, metadata_host: &str) -> Gcs {
    Gcs::new(&GcsSource {
        url: url.into(),
        bucket: BUCKET.into(),
        credentials_file: credentials_file.into(),
        metadata_host: metadata_host.into(),
    })
    .unwrap()
    .unwrap()
}

/// GCS stops accepting the cached token (401): one new token, the read retried once.
#[tokio::test]
async fn a_token_refused_by_gcs_is_refreshed_once_and_the_read_retried() {
    let dir = tempfile::tempdir().unwrap();
    let gcs = PrivateGcs::default();
    gcs.add_run(7, "abc", false);
    let url = gcs.start().await;
    let tokens = TokenEndpoint::start(&["first", "second", "third"]).await;
    gcs.accept("first", true);
    gcs.accept("second", true);
    let reader = reader(&url, &key_file(dir.path(), &tokens.url()), "");

    let artifacts = reader.artifacts(&run(7)).await.unwrap();
    assert_eq!(artifacts.started.unwrap().repo_commit, "abc");
    assert_eq!(tokens.grants.load(Ordering::SeqCst), 1);

    gcs.revoke("first");
    let artifacts = reader.artifacts(&run(7)).await.unwrap();
    assert_eq!(artifacts.finished.unwrap().passed, Some(false));
    assert_eq!(
        tokens.grants.load(Ordering::SeqCst),
        2,
        "both reads that got a 401 share one refresh"
    );

    // GCS refuses the new token too: refreshed once, then the error says so.
    gcs.revoke("second");
    let err = format!("{:#}", reader.artifacts(&run(7)).await.unwrap_err());
    assert!(
        err.contains("401") && err.contains("refused the access token"),
        "{err}"
    );
    assert_eq!(
        tokens.grants.load(Ordering::SeqCst),
        3,
        "one retry, not a loop"
    );
}

/// A token without storage read access (GCS answers 403) is named as such.
#[tokio::test]
async fn a_token_without_read_access_is_said_plainly() {
    let gcs = PrivateGcs::default();
    gcs.add_run(7, "abc", false);
    let url = gcs.start().await;
    gcs.accept("no-storage-scope", false);
    let host = metadata_server("no-storage-scope").await;
    let err = format!(
        "{:#}",
        reader(&url, "metadata", &host)
            .artifacts(&run(7))
            .await
            .unwrap_err()
    );
    assert!(
        err.contains("403") && err.contains("the credentials lack storage read access"),
        "{err}"
    );
    assert!(
        !err.contains("no-storage-scope"),
        "the token is not in errors: {err}"
    );
    assert!(
        err.contains("metadata server 127.0.0.1:"),
        "which credentials: {err}"
    );
    // And anonymously, the error says the bucket is not public.
    let err = format!(
        "{:#}",
        reader(&url, "", "").artifacts(&run(7)).await.unwrap_err()
    );
    assert!(err.contains("credentials_file"), "{err}");
}

/// `sources.gcs.credentials_file` is checked at load: a missing or malformed key stops
/// start-up with an error naming the key; `metadata` and `""` need no file.
#[test]
fn a_malformed_key_file_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let load = |credentials: &str| {
        std::fs::write(
            &config,
            format!(
                "jobs:\n- name: j\n  scopes:\n  - {{repo: o/r, branch: master}}\n\
                 sources:\n  gcs:\n    credentials_file: {credentials:?}\n"
            ),
        )
        .unwrap();
        Config::load_from(Some(&config), &[], &Default::default())
    };
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"type":"service_account","client_email":"a@b","private_key":"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n","token_uri":"https://t/"}"#).unwrap();
    for path in [bad.display().to_string(), "/nonexistent/key.json".into()] {
        let err = format!("{:#}", load(&path).unwrap_err());
        assert!(err.contains("`sources.gcs.credentials_file`"), "{err}");
        assert!(!err.contains("nope"), "no key material in errors: {err}");
    }
    assert!(load("metadata").is_ok());
    assert!(load("").is_ok());
    let good = key_file(dir.path(), "https://oauth2.example/token");
    assert_eq!(
        load(&good).unwrap().sources.gcs.credentials_file,
        good,
        "a valid key loads"
    );
}
