//! `GET /search/issues`: the part of GitHub's issue search query language the client
//! speaks (repo, is/type/state, label, author, in: qualifiers, quoted terms).

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Response};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::render::{PageQuery, add_link, issue_json, raw_query, validation_failed};
use super::state::{Item, Repo, Shared};

/// A parsed `q` of `GET /search/issues`.
#[derive(Debug, Default)]
struct SearchQuery {
    repo: Option<String>,
    is_pr: Option<bool>,
    open: Option<bool>,
    labels: Vec<String>,
    author: Option<String>,
    in_title: bool,
    in_body: bool,
    terms: Vec<String>,
}

/// Splits on whitespace outside double quotes, dropping the quotes.
fn search_tokens(q: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in q.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

fn parse_search(q: &str) -> Result<SearchQuery, String> {
    let mut out = SearchQuery::default();
    for token in search_tokens(q) {
        let Some((key, value)) = token.split_once(':').filter(|(k, _)| {
            matches!(
                *k,
                "repo" | "is" | "state" | "label" | "author" | "in" | "type"
            )
        }) else {
            out.terms.push(token.to_ascii_lowercase());
            continue;
        };
        match (key, value) {
            ("repo", v) => out.repo = Some(v.to_ascii_lowercase()),
            ("is" | "type", "issue") => out.is_pr = Some(false),
            ("is" | "type", "pr") => out.is_pr = Some(true),
            ("is" | "state", "open") => out.open = Some(true),
            ("is" | "state", "closed") => out.open = Some(false),
            ("label", v) => out.labels.push(v.to_string()),
            ("author", v) => out.author = Some(v.to_ascii_lowercase()),
            ("in", v) => {
                for field in v.split(',') {
                    match field {
                        "title" => out.in_title = true,
                        "body" => out.in_body = true,
                        "comments" => {}
                        other => return Err(format!("unknown in: field {other}")),
                    }
                }
            }
            (k, v) => return Err(format!("unsupported qualifier {k}:{v}")),
        }
    }
    if !out.in_title && !out.in_body {
        out.in_title = true;
        out.in_body = true;
    }
    Ok(out)
}

fn matches_search(q: &SearchQuery, repo: &Repo, item: &Item) -> bool {
    let title = item.title.to_ascii_lowercase();
    let body = item.body.to_ascii_lowercase();
    q.repo
        .as_deref()
        .is_none_or(|r| r == repo.name.to_ascii_lowercase())
        && q.is_pr.is_none_or(|p| p == item.pr.is_some())
        && q.open.is_none_or(|o| o == item.open)
        && q.author
            .as_deref()
            .is_none_or(|a| a == item.author.to_ascii_lowercase())
        && q.labels
            .iter()
            .all(|w| item.labels.iter().any(|l| l.eq_ignore_ascii_case(w)))
        && q.terms.iter().all(|t| {
            (q.in_title && title.contains(t.as_str())) || (q.in_body && body.contains(t.as_str()))
        })
}

pub(super) async fn search_issues(
    State(state): State<Shared>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
    _headers: HeaderMap,
) -> Response<Body> {
    let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) else {
        return validation_failed("Validation Failed: q is missing");
    };
    let query = match parse_search(text) {
        Ok(query) => query,
        Err(e) => return validation_failed(&format!("Validation Failed: {e}")),
    };
    let s = state.lock().expect("fake state");
    let mut found: Vec<Value> = Vec::new();
    for repo in s.repos.values() {
        for item in repo.items.values().rev() {
            if matches_search(&query, repo, item) {
                let mut v = issue_json(&s.base_url, repo, item);
                v["score"] = json!(1.0); // OpenAPI conformance
                found.push(v);
            }
        }
    }
    let total = found.len();
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    let last = total.div_ceil(per_page).max(1);
    let items: Vec<Value> = found
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(json!({
        "total_count": total,
        "incomplete_results": false,
        "search_type": "lexical", // OpenAPI conformance
        "items": items,
    }))
    .into_response();
    add_link(
        &mut response,
        &s.base_url,
        uri.path(),
        &raw_query(&uri),
        page,
        last,
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_queries_parse_qualifiers_and_quoted_terms() {
        let q = parse_search(
            r#"repo:o/r is:issue is:open label:"tide/merge-blocker" in:body "scalability-gate:inc-1:blocker""#,
        )
        .unwrap();
        assert_eq!(q.repo.as_deref(), Some("o/r"));
        assert_eq!(q.is_pr, Some(false));
        assert_eq!(q.open, Some(true));
        assert_eq!(q.labels, vec!["tide/merge-blocker"]);
        assert!(q.in_body && !q.in_title);
        assert_eq!(q.terms, vec!["scalability-gate:inc-1:blocker"]);
        assert!(parse_search("is:weird").is_err());
    }
}
