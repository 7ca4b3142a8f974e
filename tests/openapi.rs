//! The fake GitHub answers as GitHub documents, and the plugin asks as GitHub documents:
//! every exchange of a representative run (the client's every call, its error answers, and
//! the plugin's own flows) is checked against GitHub's published OpenAPI description
//! (`@octokit/openapi`, fetched by `tests/openapi/fetch.sh` into an ignored cache).
//!
//! Without the description the check fails under `CI=true` and says it skipped otherwise.

#[path = "openapi/conformance.rs"]
mod conformance;

use std::path::PathBuf;
use std::time::Duration;

use conformance::{Erratum, ErratumKind, Spec};
use scalability_gate::github::client::{AppCredentials, Client, ClientOptions};
use scalability_gate::github::fake::{FakeGithub, MergedPr, PrSpec};
use scalability_gate::github::types::{IssueEdit, IssueState, Label, NewIssue};
use scalability_gate::model::{PrNumber, RepoName, Timestamp};
use serde_json::Value;

const REPO: &str = "kubernetes/kubernetes";

/// Known errata of the description (@octokit/openapi 23.0.2): GitHub answers unlike its own
/// description here. Each is tolerated only for these operations, at this place, for this
/// value; the check reports how often each was used.
const ERRATA: &[Erratum] = &[
    Erratum {
        operations: &[
            "GET /repos/{owner}/{repo}/pulls",
            "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls",
        ],
        kind: ErratumKind::Answer {
            instance_path: "/*/labels/*/description",
            value: Value::is_null,
        },
        why: "pull-request-simple types labels[].description as a string, but GitHub               answers null for a label without description (as the `label` and               `pull-request` schemas allow): github/rest-api-description#1812",
    },
    Erratum {
        operations: &["GET /orgs/{org}/teams/{team_slug}/memberships/{username}"],
        kind: ErratumKind::BodyWithoutContent { status: 404 },
        why: "the 404 of team membership (not a member) is documented without content, but               GitHub answers its usual JSON error body {message, documentation_url}; no               upstream issue found for it",
    },
    Erratum {
        operations: &["GET /orgs/{org}/installation"],
        kind: ErratumKind::UndocumentedStatus { status: 404 },
        why: "the installation of an app on an org lists only 200, but GitHub answers 404 \
              (Not Found) when the app is not installed there, as it does for the \
              documented GET /repos/{owner}/{repo}/installation; no upstream issue found",
    },
];

/// Where the description is: `OPENAPI_SPEC`, else `target/openapi/api.github.com.json`
/// (where `tests/openapi/fetch.sh` puts it).
fn spec_path() -> PathBuf {
    std::env::var_os("OPENAPI_SPEC").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/openapi/api.github.com.json"),
        PathBuf::from,
    )
}

/// The description, or `None` (skip) when it is missing outside CI; under `CI=true` a
/// missing description fails the check.
fn load_spec() -> Option<Spec> {
    let path = spec_path();
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true");
            assert!(
                !ci,
                "GitHub's OpenAPI description is missing at {} ({e}); under CI=true the \
                 conformance check must run: run tests/openapi/fetch.sh first",
                path.display()
            );
            eprintln!(
                "SKIPPED: GitHub's OpenAPI description is missing at {} ({e}); run \
                 `bash tests/openapi/fetch.sh` to check the fake against it",
                path.display()
            );
            return None;
        }
    };
    Some(Spec::parse(&text).expect("GitHub's OpenAPI description parses"))
}

fn repo() -> RepoName {
    RepoName::parse(REPO).unwrap()
}

fn client(fake: &FakeGithub) -> Client {
    let mut options = ClientOptions::new(vec![fake.url()], Some(fake.token()));
    options.backoff_base = Duration::from_millis(10);
    options.backoff_max = Duration::from_millis(100);
    Client::new(options).unwrap()
}

fn at(minutes: i64) -> Timestamp {
    Timestamp(1_790_000_000 + minutes * 60)
}

/// Every call of the client, with the answers GitHub gives when things are missing or
/// already there (404, 422).
async fn client_calls(fake: &FakeGithub) {
    let c = client(fake);
    let r = repo();
    fake.add_label(REPO, "lgtm");
    let pr = fake.add_pr(
        REPO,
        PrSpec::new("master").labels(&["lgtm"]).author("alice"),
    );
    fake.add_team_member("kubernetes/sig-scalability", "alice");
    fake.add_pending_team_member("kubernetes/sig-scalability", "bob");

    c.own_login().await.unwrap();
    assert_eq!(c.list_open_pulls(&r, "master").await.unwrap().len(), 1);
    c.list_open_pulls_detail(&r, "master").await.unwrap();
    c.get_pull(&r, PrNumber(pr)).await.unwrap().unwrap();
    assert!(c.get_pull(&r, PrNumber(9999)).await.unwrap().is_none());

    // Labels: add (one auto-created), remove, remove again (404), get, create, exists.
    let blocker = Label {
        name: "do-not-merge/scalability".into(),
        color: "e11d21".into(),
        description: Some("Blocked by a scalability regression".into()),
    };
    assert!(c.get_label(&r, &blocker.name).await.unwrap().is_none());
    c.create_label(&r, &blocker).await.unwrap();
    assert!(c.create_label(&r, &blocker).await.is_err());
    c.ensure_label(&r, &blocker).await.unwrap();
    c.get_label(&r, &blocker.name).await.unwrap().unwrap();
    c.add_labels(&r, PrNumber(pr), &[blocker.name.clone(), "new/one".into()])
        .await
        .unwrap();
    assert!(c.remove_label(&r, PrNumber(pr), "new/one").await.unwrap());
    assert!(!c.remove_label(&r, PrNumber(pr), "new/one").await.unwrap());

    // Issues: create, read, edit, close, list, search.
    let issue = c
        .create_issue(
            &r,
            &NewIssue {
                title: "Scalability regression in gce-5000".into(),
                body: "<!-- scalability-gate:inc-1:blocker -->\nbody".into(),
                labels: vec!["tide/merge-blocker".into()],
            },
        )
        .await
        .unwrap();
    let number = PrNumber(issue.number);
    c.get_issue(&r, number).await.unwrap().unwrap();
    assert!(c.get_issue(&r, PrNumber(9999)).await.unwrap().is_none());
    c.edit_issue(
        &r,
        number,
        &IssueEdit {
            body: Some("edited".into()),
            ..IssueEdit::default()
        },
    )
    .await
    .unwrap();
    for state in [IssueState::Open, IssueState::Closed, IssueState::All] {
        c.list_issues(&r, &["tide/merge-blocker"], state)
            .await
            .unwrap();
    }
    c.search_issues(&format!(
        "repo:{REPO} is:issue is:open label:\"tide/merge-blocker\" in:body \
         \"scalability-gate:inc-1:blocker\""
    ))
    .await
    .unwrap();
    c.search_issues(&format!("repo:{REPO} is:pr is:open label:lgtm"))
        .await
        .unwrap();

    // Comments.
    c.create_comment(&r, number, "a comment").await.unwrap();
    c.create_comment(&r, PrNumber(pr), "on the PR")
        .await
        .unwrap();
    assert_eq!(c.list_comments(&r, number).await.unwrap().len(), 1);
    c.close_issue(&r, number).await.unwrap();

    // Teams: active, pending, none.
    assert!(
        c.is_team_member("kubernetes", "sig-scalability", "alice")
            .await
            .unwrap()
    );
    assert!(
        !c.is_team_member("kubernetes", "sig-scalability", "bob")
            .await
            .unwrap()
    );
    assert!(
        !c.is_team_member("kubernetes", "sig-scalability", "carol")
            .await
            .unwrap()
    );

    // History: compare, commit -> PRs, PR detail and files, merged PRs in a window, revert.
    let base = fake.push_commit(REPO, "master", "last green");
    let first = fake.merge_pr(
        REPO,
        MergedPr::new("master", "Scheduler: faster queue", at(1))
            .author("alice")
            .labels(&["lgtm"])
            .files(&["pkg/scheduler/queue.go"])
            .size(10, 2),
    );
    fake.merge_pr(
        REPO,
        MergedPr::new("master", "Kubelet: fewer syncs", at(2)).squashed(),
    );
    let head = fake.branch_head(REPO, "master").unwrap();
    c.compare(&r, &base, &head, 250).await.unwrap().unwrap();
    assert!(
        c.compare(&r, &"f".repeat(40), &head, 250)
            .await
            .unwrap()
            .is_none()
    );
    c.pulls_of_commit(&r, &first.merge_commit).await.unwrap();
    let detail = c
        .get_pull_detail(&r, PrNumber(first.number))
        .await
        .unwrap()
        .unwrap();
    c.pull_files(&r, PrNumber(first.number), 100).await.unwrap();
    c.merged_pulls_between(&r, "master", at(0), at(10), 3)
        .await
        .unwrap();
    c.revert_pull(detail.node_id.as_deref().unwrap(), None, None)
        .await
        .unwrap()
        .unwrap();
    assert!(c.revert_pull("PR_kwnope", None, None).await.is_err());
    app_calls(fake).await;
}

/// The same fake as a GitHub App sees it: the app, its installation (and the lack of
/// one), an installation token, and a call made with it.
async fn app_calls(fake: &FakeGithub) {
    fake.register_app(
        4242,
        "gate-app",
        include_str!("data/github-app-test-key.pub.pem"),
    )
    .unwrap();
    fake.install_app(&repo().org);
    let mut options = ClientOptions::new(vec![fake.url()], None);
    options.app = Some(
        AppCredentials::from_pem(
            "4242",
            include_str!("data/github-app-test-key.pem").as_bytes(),
        )
        .unwrap(),
    );
    options.max_attempts = 1;
    let app = Client::new(options).unwrap();
    assert_eq!(app.own_login().await.unwrap().as_str(), "gate-app[bot]");
    app.list_issues(&repo(), &[], IssueState::Open)
        .await
        .unwrap();
    let elsewhere = RepoName::parse("not-installed/repo").unwrap();
    assert!(app.get_issue(&elsewhere, PrNumber(1)).await.is_err());
}

/// The operations the run must reach, so that the check cannot pass by checking nothing.
const MUST_COVER: &[&str] = &[
    "GET /user -> 200",
    "GET /repos/{owner}/{repo}/pulls -> 200",
    "GET /repos/{owner}/{repo}/pulls/{pull_number} -> 200",
    "GET /repos/{owner}/{repo}/pulls/{pull_number} -> 404",
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/files -> 200",
    "GET /search/issues -> 200",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/labels -> 200",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name} -> 200",
    "DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name} -> 404",
    "GET /repos/{owner}/{repo}/labels/{name} -> 200",
    "GET /repos/{owner}/{repo}/labels/{name} -> 404",
    "POST /repos/{owner}/{repo}/labels -> 201",
    "POST /repos/{owner}/{repo}/labels -> 422",
    "POST /repos/{owner}/{repo}/issues -> 201",
    "GET /repos/{owner}/{repo}/issues -> 200",
    "GET /repos/{owner}/{repo}/issues/{issue_number} -> 200",
    "GET /repos/{owner}/{repo}/issues/{issue_number} -> 404",
    "PATCH /repos/{owner}/{repo}/issues/{issue_number} -> 200",
    "GET /repos/{owner}/{repo}/issues/{issue_number}/comments -> 200",
    "POST /repos/{owner}/{repo}/issues/{issue_number}/comments -> 201",
    "GET /orgs/{org}/teams/{team_slug}/memberships/{username} -> 200",
    "GET /orgs/{org}/teams/{team_slug}/memberships/{username} -> 404",
    "GET /repos/{owner}/{repo}/compare/{base}...{head} -> 200",
    "GET /repos/{owner}/{repo}/compare/{base}...{head} -> 404",
    "GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls -> 200",
    "POST /graphql -> 200",
    "GET /app -> 200",
    "GET /orgs/{org}/installation -> 200",
    "GET /orgs/{org}/installation -> 404",
    "GET /repos/{owner}/{repo}/installation -> 404",
    "POST /app/installations/{installation_id}/access_tokens -> 201",
];

fn report(spec: &Spec, fake: &FakeGithub) {
    let exchanges = fake.exchanges();
    let outcome = spec.check(&exchanges, ERRATA);
    eprintln!(
        "checked {} exchanges against {} documented operations; covered:",
        exchanges.len(),
        spec.operation_count()
    );
    for (op, n) in &outcome.covered {
        eprintln!("  {n:>3}  {op}");
    }
    for (why, n) in &outcome.tolerated {
        eprintln!("  tolerated {n} time(s): {why}");
    }
    let missing: Vec<&&str> = MUST_COVER
        .iter()
        .filter(|op| !outcome.covered.contains_key(**op))
        .collect();
    assert!(missing.is_empty(), "the run did not reach {missing:#?}");
    assert!(
        outcome.problems.is_empty(),
        "{} exchange(s) unlike GitHub's description:\n{}",
        outcome.problems.len(),
        outcome.problems.join("\n")
    );
}

#[tokio::test]
async fn fake_and_client_speak_as_github_documents() {
    let Some(spec) = load_spec() else { return };
    let fake = FakeGithub::start().await.unwrap();
    fake.capture_exchanges();
    client_calls(&fake).await;
    report(&spec, &fake);
}

/// The checker itself finds what it must: an undocumented path, an undocumented query
/// parameter, a request body and an answer unlike the schema, an undocumented status.
#[test]
fn the_check_finds_undocumented_exchanges() {
    let Some(spec) = load_spec() else { return };
    let x = |method: &str, path: &str, query: &str, req: Value, status: u16, resp: Value| {
        scalability_gate::github::fake::Exchange {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            request_body: if req.is_null() {
                Vec::new()
            } else {
                req.to_string().into_bytes()
            },
            status,
            content_type: Some("application/json; charset=utf-8".into()),
            response_body: resp.to_string().into_bytes(),
        }
    };
    let bad = [
        x(
            "GET",
            "/nowhere/at/all",
            "",
            Value::Null,
            200,
            serde_json::json!({}),
        ),
        x(
            "GET",
            "/user",
            "colour=red",
            Value::Null,
            200,
            serde_json::json!({}),
        ),
        x(
            "POST",
            "/repos/o/r/issues/1/comments",
            "",
            serde_json::json!({"text": 1}),
            201,
            serde_json::json!({"id": "one"}),
        ),
        x(
            "GET",
            "/orgs/o/teams/t/memberships/u",
            "",
            Value::Null,
            418,
            serde_json::json!({}),
        ),
        x(
            "GET",
            "/repos/o/r/issues/x",
            "",
            Value::Null,
            200,
            serde_json::json!({}),
        ),
    ];
    let outcome = spec.check(&bad, &[]);
    let found = |needle: &str| outcome.problems.iter().any(|p| p.contains(needle));
    assert!(found("no documented operation"), "{:#?}", outcome.problems);
    assert!(found("query parameter colour is not documented"));
    assert!(found("request body at"), "{:#?}", outcome.problems);
    assert!(found("answer at \"/id\""), "{:#?}", outcome.problems);
    assert!(found("status 418 is not documented"));
    assert!(found("path parameter issue_number=x: not an integer"));
}
