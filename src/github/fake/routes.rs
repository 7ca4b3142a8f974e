//! The REST endpoints the client uses on issues, PRs, labels, comments, teams and the token's
//! user (writes authored by the request's caller, see [`app::Caller`]), over the model (history and search have files of their own).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use serde_json::{Value, json};

use super::app;
use super::render::{
    PageQuery, Repo3, comment_json, error, issue_json, labels_json, not_found, paged,
    pull_detail_json, pull_json, raw_query, validation_failed,
};
use super::state::Caller;
use super::state::{FakeComment, Item, Shared};
use super::{commits, documented, graphql, search};
use crate::github::types::Label;

pub(super) fn routes(state: Shared) -> Router {
    Router::new()
        .route("/user", get(get_user))
        .route("/repos/{owner}/{repo}/pulls", get(list_pulls))
        .route("/repos/{owner}/{repo}/pulls/{number}", get(get_pull))
        .route("/search/issues", get(search::search_issues))
        .route(
            "/repos/{owner}/{repo}/issues",
            get(list_issues).post(create_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}",
            get(get_issue).patch(edit_issue),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels",
            post(add_labels),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/labels/{name}",
            delete(remove_label),
        )
        .route(
            "/repos/{owner}/{repo}/issues/{number}/comments",
            get(list_comments).post(create_comment),
        )
        .route("/repos/{owner}/{repo}/labels", post(create_label))
        .route("/repos/{owner}/{repo}/labels/{name}", get(get_label))
        .route(
            "/orgs/{org}/teams/{slug}/memberships/{user}",
            get(team_membership),
        )
        .route(
            "/repos/{owner}/{repo}/compare/{basehead}",
            get(commits::compare),
        )
        .route(
            "/repos/{owner}/{repo}/commits/{sha}/pulls",
            get(commits::commit_pulls),
        )
        .route(
            "/repos/{owner}/{repo}/pulls/{number}/files",
            get(commits::pull_files),
        )
        .route("/graphql", post(graphql::graphql))
        .route("/app", get(app::get_app))
        .route("/orgs/{org}/installation", get(app::org_installation))
        .route(
            "/repos/{owner}/{repo}/installation",
            get(app::repo_installation),
        )
        .route(
            "/app/installations/{id}/access_tokens",
            post(app::access_token),
        )
        .fallback(|| async { not_found() })
        .with_state(state)
}

async fn get_user(State(state): State<Shared>) -> Response<Body> {
    let s = state.lock().expect("fake state");
    Json(documented::own_user(&s.login)).into_response() // OpenAPI conformance
}

async fn list_pulls(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(r) = s.repo(&owner, &repo) else {
        return not_found();
    };
    let mut selected: Vec<&Item> = r
        .items
        .values()
        .rev() // newest first, GitHub's default sort
        .filter(|i| {
            i.pr.as_ref().is_some_and(|pr| {
                q.base.as_deref().is_none_or(|b| b == pr.base) && q.wants_state(i.open)
            })
        })
        .collect();
    if q.sort.is_some() {
        sort_pulls(&mut selected, &q);
    }
    let items: Vec<Value> = selected
        .into_iter()
        .filter_map(|i| pull_json(&s.base_url, r, i))
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, items)
}

async fn get_pull(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.repo(&owner, &repo)
        .and_then(|r| {
            r.items
                .get(&number)
                .and_then(|i| pull_detail_json(&s.base_url, r, i))
        })
        .map_or_else(not_found, |v| Json(v).into_response())
}

async fn list_issues(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(r) = s.repo(&owner, &repo) else {
        return not_found();
    };
    let wanted: Vec<String> = q
        .labels
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    let items: Vec<Value> = r
        .items
        .values()
        .rev()
        .filter(|i| q.wants_state(i.open))
        .filter(|i| {
            wanted
                .iter()
                .all(|w| i.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        })
        .map(|i| issue_json(&s.base_url, r, i))
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, items)
}

async fn get_issue(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.repo(&owner, &repo)
        .and_then(|r| r.items.get(&number).map(|i| issue_json(&s.base_url, r, i)))
        .map_or_else(not_found, |v| Json(v).into_response())
}

/// GitHub's limit on an issue's or a comment's body, in characters.
pub const MAX_BODY_CHARS: usize = 65_536;

/// GitHub's answer to a `body` over [`MAX_BODY_CHARS`], if it is.
fn body_too_long(request: &Value) -> Option<Response<Body>> {
    let text = request.get("body").and_then(Value::as_str)?;
    (text.chars().count() > MAX_BODY_CHARS).then(|| {
        validation_failed("Validation Failed: body is too long (maximum is 65536 characters)")
    })
}

async fn create_issue(
    State(state): State<Shared>,
    Extension(Caller(author)): Extension<Caller>,
    Path((owner, repo)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let Some(title) = body
        .get("title")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
    else {
        return validation_failed("Validation Failed: title is missing");
    };
    if let Some(refused) = body_too_long(&body) {
        return refused;
    }
    let text = body
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let labels: Vec<String> = body
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let title = title.to_string();
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let number = r.next_number;
    r.next_number += 1;
    let labels = labels.iter().map(|l| r.label_or_create(l)).collect();
    let item = Item {
        number,
        title,
        body: text,
        author,
        open: true,
        state_reason: None,
        labels,
        comments: Vec::new(),
        pr: None,
        created: now,
        updated: now,
    };
    let v = issue_json(&base, r, &item);
    r.items.insert(number, item);
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn edit_issue(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Json(body): Json<Value>,
) -> Response<Body> {
    if let Some(refused) = body_too_long(&body) {
        return refused;
    }
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let labels: Option<Vec<String>> = body.get("labels").and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(Value::as_str)
            .map(|l| r.label_or_create(l))
            .collect()
    });
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    if let Some(t) = body.get("title").and_then(Value::as_str) {
        item.title = t.to_string();
    }
    if let Some(b) = body.get("body").and_then(Value::as_str) {
        item.body = b.to_string();
    }
    match body.get("state").and_then(Value::as_str) {
        Some("open") => {
            item.open = true;
            item.state_reason = Some("reopened".into());
        }
        Some("closed") => {
            item.open = false;
            item.state_reason = body
                .get("state_reason")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or(Some("completed".into()));
        }
        Some(other) => return validation_failed(&format!("Validation Failed: state {other}")),
        None => {}
    }
    if let Some(labels) = labels {
        item.labels = labels;
    }
    item.updated = now;
    let item = item.clone();
    Json(issue_json(&base, r, &item)).into_response()
}

async fn add_labels(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Json(body): Json<Value>,
) -> Response<Body> {
    let names: Vec<String> = body
        .get("labels")
        .unwrap_or(&body)
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        return validation_failed("Validation Failed: labels");
    }
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let names: Vec<String> = names.iter().map(|n| r.label_or_create(n)).collect();
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    for name in names {
        if !item.labels.iter().any(|l| l.eq_ignore_ascii_case(&name)) {
            item.labels.push(name);
        }
    }
    item.updated = now;
    let labels = item.labels.clone();
    Json(labels_json(&base, r, &labels)).into_response()
}

async fn remove_label(
    State(state): State<Shared>,
    Path((owner, repo, number, name)): Path<(String, String, u64, String)>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    let before = item.labels.len();
    item.labels.retain(|l| !l.eq_ignore_ascii_case(&name));
    if item.labels.len() == before {
        return error(StatusCode::NOT_FOUND, "Label does not exist");
    }
    item.updated = now;
    let labels = item.labels.clone();
    Json(labels_json(&base, r, &labels)).into_response()
}

async fn list_comments(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(item) = s.repo(&owner, &repo).and_then(|r| r.items.get(&number)) else {
        return not_found();
    };
    let r = s.repo(&owner, &repo).expect("the item's repo");
    let items = item
        .comments
        .iter()
        .map(|c| {
            let mut v = comment_json(c);
            documented::complete_comment(&mut v, &s.base_url, r, number); // OpenAPI conformance
            v
        })
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, items)
}

async fn create_comment(
    State(state): State<Shared>,
    Extension(Caller(author)): Extension<Caller>,
    Path((owner, repo, number)): Repo3,
    Json(body): Json<Value>,
) -> Response<Body> {
    let Some(text) = body.get("body").and_then(Value::as_str).map(str::to_string) else {
        return validation_failed("Validation Failed: body is missing");
    };
    if let Some(refused) = body_too_long(&body) {
        return refused;
    }
    let mut s = state.lock().expect("fake state");
    let now = s.tick();
    s.next_comment_id += 1;
    let id = s.next_comment_id;
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let comment = FakeComment {
        id,
        author,
        body: text,
        created: now,
    };
    let mut v = comment_json(&comment);
    documented::complete_comment(&mut v, &base, r, number); // OpenAPI conformance
    let Some(item) = r.items.get_mut(&number) else {
        return not_found();
    };
    item.comments.push(comment);
    item.updated = now;
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn get_label(
    State(state): State<Shared>,
    Path((owner, repo, name)): Path<(String, String, String)>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.repo(&owner, &repo)
        .and_then(|r| r.labels.get(&name.to_ascii_lowercase()).map(|l| (r, l)))
        .map_or_else(not_found, |(r, l)| {
            // OpenAPI conformance: a whole `label`.
            Json(documented::label(&s.base_url, &r.name, &l.name, Some(l))).into_response()
        })
}

async fn create_label(
    State(state): State<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response<Body> {
    let mut s = state.lock().expect("fake state");
    let base = s.base_url.clone();
    let Some(r) = s.repo_mut(&owner, &repo) else {
        return not_found();
    };
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return validation_failed("Validation Failed: name is missing");
    };
    if r.has_label(name) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({
                "message": "Validation Failed",
                "errors": [{ "resource": "Label", "code": "already_exists", "field": "name" }],
                "documentation_url": "https://docs.github.com/rest/issues/labels#create-a-label",
            })),
        )
            .into_response();
    }
    let label = Label {
        name: name.to_string(),
        color: body
            .get("color")
            .and_then(Value::as_str)
            .unwrap_or("ededed")
            .trim_start_matches('#')
            .to_string(),
        description: body
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    r.labels.insert(name.to_ascii_lowercase(), label.clone());
    let v = documented::label(&base, &r.name, &label.name, Some(&label)); // OpenAPI conformance
    (StatusCode::CREATED, Json(v)).into_response()
}

async fn team_membership(
    State(state): State<Shared>,
    Path((org, slug, user)): Path<(String, String, String)>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    s.teams
        .get(&format!("{org}/{slug}").to_ascii_lowercase())
        .and_then(|members| members.get(&user.to_ascii_lowercase()))
        .map_or_else(not_found, |state| {
            // OpenAPI conformance: `url` is required.
            let url = format!("{}/organizations/1/team/1/memberships/{user}", s.base_url);
            Json(json!({ "state": state, "role": "member", "url": url })).into_response()
        })
}

/// Sorts `GET .../pulls` items as `?sort=&direction=` ask (GitHub's defaults: `created`,
/// `desc` for created, `asc` otherwise).
fn sort_pulls(items: &mut [&Item], q: &PageQuery) {
    let sort = q.sort.as_deref().unwrap_or("created");
    let descending = match q.direction.as_deref() {
        Some("asc") => false,
        Some("desc") => true,
        _ => sort == "created",
    };
    match sort {
        "updated" => items.sort_by_key(|i| (i.updated, i.number)),
        _ => items.sort_by_key(|i| (i.created, i.number)),
    }
    if descending {
        items.reverse();
    }
}

#[cfg(test)]
mod tests {
    use crate::github::fake::{FAKE_LOGIN, FakeGithub};

    /// What the token's user writes through the API is theirs, what a test seeds is its
    /// author's; a later change of the token's user changes no earlier author.
    #[tokio::test]
    async fn issues_and_comments_carry_their_real_author() {
        use crate::github::client::{Client, ClientOptions};
        use crate::github::types::NewIssue;
        use crate::model::{PrNumber, RepoName};
        let fake = FakeGithub::start().await.unwrap();
        let seeded = fake.add_issue("o/r", "t", "b", "mallory", &[]);
        fake.add_comment("o/r", seeded, "mallory", "forged");
        let client = Client::new(ClientOptions::new(vec![fake.url()], Some(fake.token()))).unwrap();
        let repo = RepoName::parse("o/r").unwrap();
        let new = NewIssue {
            title: "ours".into(),
            body: "b".into(),
            labels: vec![],
        };
        let created = client.create_issue(&repo, &new).await.unwrap();
        assert_eq!(created.user.login, FAKE_LOGIN);
        client
            .create_comment(&repo, PrNumber(seeded), "ours")
            .await
            .unwrap();
        fake.set_login("someone-else");
        let authors: Vec<(String, String)> = client
            .list_comments(&repo, PrNumber(seeded))
            .await
            .unwrap()
            .into_iter()
            .map(|c| (c.user.login, c.body))
            .collect();
        assert_eq!(
            authors,
            vec![
                ("mallory".to_string(), "forged".to_string()),
                (FAKE_LOGIN.to_string(), "ours".to_string())
            ]
        );
        let read = |n: u64| {
            let client = client.clone();
            let repo = repo.clone();
            async move { client.get_issue(&repo, PrNumber(n)).await.unwrap().unwrap() }
        };
        assert_eq!(read(seeded).await.user.login, "mallory");
        assert_eq!(read(created.number).await.user.login, FAKE_LOGIN);
    }
}
