//! `POST /graphql`: only the `revertPullRequest` mutation, resolving the PR by the global
//! node id the fake renders.

use axum::body::Body;
use axum::extract::State;
use axum::http::Response;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::state::{Caller, FakeState, Item, PrFacts, PrPart, Shared};

/// A PR's GraphQL global id: opaque to clients, resolvable by the fake.
pub(super) fn node_id(repo: &str, number: u64) -> String {
    let raw = format!("{}#{number}", repo.to_ascii_lowercase());
    let hex: String = raw.bytes().map(|b| format!("{b:02x}")).collect();
    format!("PR_kw{hex}")
}

fn parse_node_id(id: &str) -> Option<(String, u64)> {
    let hex = id.strip_prefix("PR_kw")?;
    if hex.len() % 2 != 0 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    let raw = String::from_utf8(bytes?).ok()?;
    let (repo, number) = raw.rsplit_once('#')?;
    Some((repo.to_string(), number.parse().ok()?))
}

fn graphql_error(kind: &str, message: &str) -> Response<Body> {
    // GraphQL errors come with HTTP 200, as on GitHub.
    Json(json!({
        "data": null,
        "errors": [{ "type": kind, "message": message }],
    }))
    .into_response()
}

/// `POST /graphql`: `revertPullRequest(input: $input)` only (the fake parses no other
/// document). It opens `Revert "<title>"` on the same base, body `Reverts org/repo#N`,
/// branch `revert-N-<branch>`, authored by the token's owner.
pub(super) async fn graphql(
    State(state): State<Shared>,
    Extension(Caller(login)): Extension<Caller>,
    Json(body): Json<Value>,
) -> Response<Body> {
    let query = body.get("query").and_then(Value::as_str).unwrap_or("");
    if !(query.trim_start().starts_with("mutation") && query.contains("revertPullRequest")) {
        return graphql_error(
            "NOT_SUPPORTED",
            "the fake GitHub implements only the revertPullRequest mutation",
        );
    }
    let Some(input) = body.pointer("/variables/input").filter(|v| v.is_object()) else {
        return graphql_error(
            "INVALID",
            "Variable $input of type RevertPullRequestInput! was provided invalid value",
        );
    };
    let Some(id) = input.get("pullRequestId").and_then(Value::as_str) else {
        return graphql_error("INVALID", "pullRequestId is required");
    };
    let mut s = state.lock().expect("fake state");
    match revert(&mut s, id, input, login) {
        Ok(data) => Json(json!({ "data": data })).into_response(),
        Err((kind, message)) => graphql_error(kind, &message),
    }
}

fn revert(
    s: &mut FakeState,
    id: &str,
    input: &Value,
    login: String,
) -> Result<Value, (&'static str, String)> {
    let unresolved = || {
        (
            "NOT_FOUND",
            format!("Could not resolve to a node with the global id of '{id}'"),
        )
    };
    let (repo, number) = parse_node_id(id).ok_or_else(unresolved)?;
    let now = s.tick();
    let r = s.repos.get_mut(&repo).ok_or_else(unresolved)?;
    let original = r.items.get(&number).ok_or_else(unresolved)?;
    let Some(pr) = original.pr.as_ref().filter(|p| p.merged) else {
        return Err((
            "UNPROCESSABLE",
            format!("Pull request #{number} has not been merged, so it cannot be reverted"),
        ));
    };
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_string);
    let title = text("title").unwrap_or_else(|| format!("Revert \"{}\"", original.title));
    let body = text("body").unwrap_or_else(|| format!("Reverts {}#{number}", r.name));
    let head_ref = format!(
        "revert-{number}-{}",
        pr.facts
            .head_ref
            .clone()
            .unwrap_or_else(|| format!("pr-{number}"))
    );
    let base = pr.base.clone();
    let parent = r.history.head_or_root(&base, now);
    let head_sha = r.history.commit(vec![parent], &title, &login, now);
    let revert_number = r.next_number;
    r.next_number += 1;
    let item = Item {
        number: revert_number,
        title,
        body,
        author: login,
        open: true,
        state_reason: None,
        labels: Vec::new(),
        comments: Vec::new(),
        pr: Some(PrPart {
            base,
            head_sha,
            merged: false,
            facts: PrFacts {
                head_ref: Some(head_ref.clone()),
                ..PrFacts::default()
            },
        }),
        created: now,
        updated: now,
    };
    r.items.insert(revert_number, item);
    let url = |n: u64| format!("https://github.com/{}/pull/{n}", r.name);
    Ok(json!({
        "revertPullRequest": {
            "clientMutationId": input.get("clientMutationId"),
            "pullRequest": { "number": number, "url": url(number) },
            "revertPullRequest": {
                "number": revert_number,
                "url": url(revert_number),
                "headRefName": head_ref,
            },
        }
    }))
}
