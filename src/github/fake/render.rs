//! The model as GitHub's JSON: users, labels, issues, PRs, comments, errors, and one page
//! of a list with its `Link` header.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::documented::ts;
use super::state::{FakeComment, Item, Repo};
use super::{documented, graphql};

pub(super) fn error(status: StatusCode, message: &str) -> Response<Body> {
    (
        status,
        Json(json!({ "message": message, "documentation_url": "https://docs.github.com/rest" })),
    )
        .into_response()
}

/// GitHub's 422 answer.
pub(super) fn validation_failed(message: &str) -> Response<Body> {
    error(StatusCode::UNPROCESSABLE_ENTITY, message)
}

pub(super) fn not_found() -> Response<Body> {
    error(StatusCode::NOT_FOUND, "Not Found")
}

pub(super) fn user_json(login: &str) -> Value {
    // OpenAPI conformance: a whole `simple-user`.
    documented::user(login)
}

pub(super) fn labels_json(base: &str, repo: &Repo, names: &[String]) -> Value {
    // OpenAPI conformance: whole `label`s (id, node_id, url, default).
    Value::Array(
        names
            .iter()
            .map(|n| {
                let label = repo.labels.get(&n.to_ascii_lowercase());
                documented::label(base, &repo.name, n, label)
            })
            .collect(),
    )
}

pub(super) fn issue_json(base: &str, repo: &Repo, item: &Item) -> Value {
    let mut v = json!({
        "number": item.number,
        "title": item.title,
        "body": item.body,
        "state": if item.open { "open" } else { "closed" },
        "state_reason": item.state_reason,
        "user": user_json(&item.author),
        "labels": labels_json(base, repo, &item.labels),
        "html_url": format!("https://github.com/{}/issues/{}", repo.name, item.number),
        "comments": item.comments.len(),
        "created_at": ts(item.created),
        "updated_at": ts(item.updated),
    });
    if item.pr.is_some() {
        v["pull_request"] =
            json!({ "url": format!("{base}/repos/{}/pulls/{}", repo.name, item.number) });
        v["html_url"] = json!(format!(
            "https://github.com/{}/pull/{}",
            repo.name, item.number
        ));
    }
    documented::complete_issue(&mut v, base, repo, item); // OpenAPI conformance
    v
}

pub(super) fn pull_json(base: &str, repo: &Repo, item: &Item) -> Option<Value> {
    let pr = item.pr.as_ref()?;
    let mut v = json!({
        "number": item.number,
        "title": item.title,
        "body": item.body,
        "state": if item.open { "open" } else { "closed" },
        "user": user_json(&item.author),
        "labels": labels_json(base, repo, &item.labels),
        "base": { "ref": pr.base, "sha": "0".repeat(40) },
        "head": {
            "ref": pr.facts.head_ref.clone().unwrap_or_else(|| format!("pr-{}", item.number)),
            "sha": pr.head_sha,
        },
        "merged": pr.merged,
        "merged_at": if pr.merged { Some(ts(pr.facts.merged_at.unwrap_or(item.updated))) } else { None },
        "merge_commit_sha": pr.facts.merge_commit,
        "node_id": graphql::node_id(&repo.name, item.number),
        "html_url": format!("https://github.com/{}/pull/{}", repo.name, item.number),
        "created_at": ts(item.created),
        "updated_at": ts(item.updated),
    });
    documented::complete_pull(&mut v, base, repo, item); // OpenAPI conformance
    Some(v)
}

pub(super) fn comment_json(c: &FakeComment) -> Value {
    json!({
        "id": c.id,
        "body": c.body,
        "user": user_json(&c.author),
        "created_at": ts(c.created),
        "updated_at": ts(c.created),
    })
}

#[derive(Debug, Deserialize, Default)]
pub(super) struct PageQuery {
    pub(super) page: Option<usize>,
    pub(super) per_page: Option<usize>,
    pub(super) state: Option<String>,
    pub(super) base: Option<String>,
    pub(super) labels: Option<String>,
    pub(super) q: Option<String>,
    pub(super) sort: Option<String>,
    pub(super) direction: Option<String>,
}

/// One page of `items` with GitHub's `Link` header (first/prev/next/last).
pub(super) fn paged(
    base: &str,
    path: &str,
    raw_query: &str,
    q: &PageQuery,
    items: Vec<Value>,
) -> Response<Body> {
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(Value::Array(chunk)).into_response();
    add_link(&mut response, base, path, raw_query, page, last);
    response
}

pub(super) fn add_link(
    response: &mut Response<Body>,
    base: &str,
    path: &str,
    raw_query: &str,
    page: usize,
    last: usize,
) {
    let others: Vec<&str> = raw_query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page="))
        .collect();
    let url = |n: usize| {
        let mut q = others.clone().join("&");
        if !q.is_empty() {
            q.push('&');
        }
        format!("<{base}{path}?{q}page={n}>")
    };
    let mut parts = Vec::new();
    if page < last {
        parts.push(format!("{}; rel=\"next\"", url(page + 1)));
        parts.push(format!("{}; rel=\"last\"", url(last)));
    }
    if page > 1 {
        parts.push(format!("{}; rel=\"first\"", url(1)));
        parts.push(format!("{}; rel=\"prev\"", url(page - 1)));
    }
    if let (false, Ok(v)) = (parts.is_empty(), HeaderValue::from_str(&parts.join(", "))) {
        response.headers_mut().insert("link", v);
    }
}

pub(super) fn raw_query(uri: &axum::http::Uri) -> String {
    uri.query().unwrap_or("").to_string()
}

impl PageQuery {
    /// Whether an item open (or closed) matches `?state=` (GitHub's default: `open`).
    pub(super) fn wants_state(&self, open: bool) -> bool {
        match self.state.as_deref().unwrap_or("open") {
            "open" => open,
            "closed" => !open,
            _ => true,
        }
    }
}

/// `GET .../pulls/{n}`: the list fields plus size, merged_by and mergeability.
pub(super) fn pull_detail_json(base: &str, repo: &Repo, item: &Item) -> Option<Value> {
    let mut v = pull_json(base, repo, item)?;
    let pr = item.pr.as_ref()?;
    v["additions"] = json!(pr.facts.additions);
    v["deletions"] = json!(pr.facts.deletions);
    v["changed_files"] = json!(pr.facts.files.len());
    v["merged_by"] = pr.facts.merged_by.as_deref().map_or(Value::Null, user_json);
    v["mergeable"] = json!(item.open);
    // OpenAPI conformance: the rest of a `pull-request`.
    documented::complete_pull_detail(&mut v, item, pr.facts.merged_by.as_deref());
    Some(v)
}

/// The path of an endpoint under `/repos/{owner}/{repo}/…/{number}`.
pub(super) type Repo3 = axum::extract::Path<(String, String, u64)>;
