//! The REST endpoints that read the history: compare, commit → PRs, a PR's files.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::documented::ts;
use super::render::{
    PageQuery, Repo3, add_link, error, not_found, paged, pull_json, raw_query, user_json,
};
use super::state::{FakeCommit, Repo, Shared};

/// Commits a compare answer lists when it is not paginated (GitHub's bound).
const COMPARE_UNPAGINATED_MAX: usize = 250;

fn commit_json(base: &str, repo: &Repo, c: &FakeCommit) -> Value {
    let person =
        json!({ "name": c.author, "email": format!("{}@example.com", c.author), "date": ts(c.at) });
    json!({
        "sha": c.sha,
        "node_id": format!("C_kw{}", &c.sha[..16]),
        "url": format!("{base}/repos/{}/commits/{}", repo.name, c.sha),
        "html_url": format!("https://github.com/{}/commit/{}", repo.name, c.sha),
        "comments_url": format!("{base}/repos/{}/commits/{}/comments", repo.name, c.sha),
        "commit": {
            "message": c.message, "author": person, "committer": person,
            // OpenAPI conformance: required; the fake keeps no trees.
            "url": format!("{base}/repos/{}/git/commits/{}", repo.name, c.sha),
            "tree": { "sha": c.sha, "url": format!("{base}/repos/{}/git/trees/{}", repo.name, c.sha) },
            "comment_count": 0,
        },
        "author": user_json(&c.author),
        "committer": user_json(&c.author),
        "parents": c.parents.iter().map(|p| json!({
            "sha": p,
            "url": format!("{base}/repos/{}/commits/{p}", repo.name),
        })).collect::<Vec<_>>(),
    })
}

/// `GET /repos/{o}/{r}/compare/{base}...{head}`: commits reachable from head and not from
/// base, oldest first; paginated (`Link`) when `page` or `per_page` is given, else at most
/// 250 commits, as GitHub does.
pub(super) async fn compare(
    State(state): State<Shared>,
    Path((owner, repo, basehead)): Path<(String, String, String)>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(r) = s.repo(&owner, &repo) else {
        return not_found();
    };
    let Some((base, head)) = basehead.split_once("...") else {
        return not_found();
    };
    let (Some(base), Some(head)) = (r.history.resolve(base), r.history.resolve(head)) else {
        return not_found();
    };
    let from_head = r.history.ancestors(&head.sha);
    let from_base = r.history.ancestors(&base.sha);
    let mut ahead: Vec<&FakeCommit> = from_head
        .difference(&from_base)
        .filter_map(|sha| r.history.commits.get(sha))
        .collect();
    ahead.sort_by_key(|c| c.seq);
    let behind_by = from_base.difference(&from_head).count();
    let status = match (ahead.is_empty(), behind_by == 0) {
        (true, true) => "identical",
        (false, true) => "ahead",
        (true, false) => "behind",
        (false, false) => "diverged",
    };
    let paginated = q.page.is_some() || q.per_page.is_some();
    let (per_page, page) = if paginated {
        (
            q.per_page.unwrap_or(30).clamp(1, 100),
            q.page.unwrap_or(1).max(1),
        )
    } else {
        (COMPARE_UNPAGINATED_MAX, 1)
    };
    let last = ahead.len().div_ceil(per_page).max(1);
    let commits: Vec<Value> = ahead
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|c| commit_json(&s.base_url, r, c))
        .collect();
    // OpenAPI conformance: the merge base (newest common ancestor) is required.
    let merge_base = from_head
        .intersection(&from_base)
        .filter_map(|sha| r.history.commits.get(sha))
        .max_by_key(|c| c.seq)
        .unwrap_or(base);
    let web = format!("https://github.com/{}/compare/{basehead}", r.name);
    let mut response = Json(json!({
        "url": format!("{}/repos/{}/compare/{basehead}", s.base_url, r.name),
        "html_url": web,
        "permalink_url": format!("https://github.com/{}/compare/{}...{}", r.name, base.sha, head.sha),
        "diff_url": format!("{web}.diff"),
        "patch_url": format!("{web}.patch"),
        "merge_base_commit": commit_json(&s.base_url, r, merge_base),
        "status": status,
        "ahead_by": ahead.len(),
        "behind_by": behind_by,
        "total_commits": ahead.len(),
        "base_commit": commit_json(&s.base_url, r, base),
        "commits": commits,
        "files": [],
    }))
    .into_response();
    if paginated {
        add_link(
            &mut response,
            &s.base_url,
            uri.path(),
            &raw_query(&uri),
            page,
            last,
        );
    }
    response
}

/// `GET /repos/{o}/{r}/commits/{sha}/pulls`: the PRs GitHub associates with the commit.
pub(super) async fn commit_pulls(
    State(state): State<Shared>,
    Path((owner, repo, sha)): Path<(String, String, String)>,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some(r) = s.repo(&owner, &repo) else {
        return not_found();
    };
    let Some(commit) = r.history.resolve(&sha) else {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            &format!("No commit found for SHA: {sha}"),
        );
    };
    let pulls: Vec<Value> = r
        .history
        .commit_prs
        .get(&commit.sha)
        .into_iter()
        .flatten()
        .filter_map(|n| r.items.get(n))
        .filter_map(|i| pull_json(&s.base_url, r, i))
        .collect();
    Json(Value::Array(pulls)).into_response()
}

/// `GET /repos/{o}/{r}/pulls/{n}/files`, paginated.
pub(super) async fn pull_files(
    State(state): State<Shared>,
    Path((owner, repo, number)): Repo3,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
) -> Response<Body> {
    let s = state.lock().expect("fake state");
    let Some((r, pr)) = s
        .repo(&owner, &repo)
        .and_then(|r| Some((r, r.items.get(&number)?.pr.as_ref()?)))
    else {
        return not_found();
    };
    let n = pr.facts.files.len().max(1) as u64;
    let files = pr
        .facts
        .files
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (a, d) = (pr.facts.additions / n, pr.facts.deletions / n);
            json!({
                "sha": format!("{:040x}", i + 1),
                "filename": f,
                "status": "modified",
                "additions": a,
                "deletions": d,
                "changes": a + d,
                // OpenAPI conformance: required.
                "blob_url": format!("https://github.com/{}/blob/{}/{f}", r.name, pr.head_sha),
                "raw_url": format!("https://github.com/{}/raw/{}/{f}", r.name, pr.head_sha),
                "contents_url": format!("{}/repos/{}/contents/{f}?ref={}", s.base_url, r.name, pr.head_sha),
            })
        })
        .collect();
    paged(&s.base_url, uri.path(), &raw_query(&uri), &q, files)
}
