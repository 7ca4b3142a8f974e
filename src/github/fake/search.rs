//! `GET /search/issues`: the part of GitHub's issue search query language the client
//! speaks (repo, is/type/state, `is:merged`/`is:unmerged`, `merged:` with `>=`, `>`, `<=`,
//! `<`, a range `a..b` or a day, over `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SSZ` dates in UTC,
//! base, label with `a,b` meaning either and `-label`
//! excluding, author, in: qualifiers, quoted terms and values), answered as GitHub does:
//! at most the first 1,000 results reachable (a page past them is a 422), a repository
//! the token cannot see a 422, `incomplete_results` when told to time out
//! ([`FakeGithub::search_incomplete_next`]), and the search rate limit (30 a minute by
//! default, [`FakeGithub::set_search_limit`]) answered with a 403 and `Retry-After`.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::FakeGithub;
use super::render::{PageQuery, add_link, error, issue_json, raw_query};
use super::state::{Item, Repo, Shared};

/// Search reaches only the first 1,000 results of a query, whatever `total_count` says.
pub const SEARCH_RESULT_CAP: usize = 1000;

const MINUTE: Duration = Duration::from_secs(60);

impl FakeGithub {
    /// Allows `per_minute` searches in any minute (tokio time) from now on, GitHub's
    /// [`super::SEARCH_PER_MINUTE`] unless told otherwise; 0 lifts the limit. A search past it
    /// answers 403 with `Retry-After` and `X-RateLimit-Resource: search`, as GitHub does.
    pub fn set_search_limit(&self, per_minute: u32) {
        let mut s = self.lock();
        s.faults.search.per_minute = per_minute;
        s.faults.search.recent.clear();
    }

    /// The next `n` searches time out on GitHub's side: they answer every other match
    /// only, with `incomplete_results: true`.
    pub fn search_incomplete_next(&self, n: u64) {
        self.lock().faults.search.incomplete_next = n;
    }

    /// The next `n` searches are refused with GitHub's 422 for a query naming a
    /// repository the token may not search (as an App installation without access gets).
    pub fn search_refused_next(&self, n: u64) {
        self.lock().faults.search.refused_next = n;
    }
}

/// A parsed `q` of `GET /search/issues`.
#[derive(Debug, Default)]
struct SearchQuery {
    repo: Option<String>,
    is_pr: Option<bool>,
    open: Option<bool>,
    base: Option<String>,
    /// Each `label:` qualifier: the item carries one of these (`label:a,b` is either).
    labels: Vec<Vec<String>>,
    /// Each `-label:` qualifier: the item carries none of these.
    not_labels: Vec<String>,
    author: Option<String>,
    /// `is:merged` (true) or `is:unmerged` (false): a PR merged or not (an issue never).
    merged: Option<bool>,
    /// `merged:`: the PR's merge time lies in `[from, to)` (epoch seconds).
    merged_in: Option<(i64, i64)>,
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

/// The names of a `label:` value: `a,b` is either one.
fn label_names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_search(q: &str) -> Result<SearchQuery, String> {
    let mut out = SearchQuery::default();
    for token in search_tokens(q) {
        let (negated, bare) = match token.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, token.as_str()),
        };
        let Some((key, value)) = bare.split_once(':').filter(|(k, _)| {
            matches!(
                *k,
                "repo" | "is" | "state" | "label" | "author" | "in" | "type" | "base" | "merged"
            )
        }) else {
            out.terms.push(token.to_ascii_lowercase());
            continue;
        };
        if value.is_empty() {
            return Err(format!("the qualifier {key}: has no value"));
        }
        match (negated, key, value) {
            (true, "label", v) => out.not_labels.extend(label_names(v)),
            (true, k, _) => return Err(format!("unsupported negated qualifier -{k}:")),
            (false, "repo", v) => out.repo = Some(v.to_ascii_lowercase()),
            (false, "is" | "type", "issue") => out.is_pr = Some(false),
            (false, "is" | "type", "pr") => out.is_pr = Some(true),
            (false, "is" | "state", "open") => out.open = Some(true),
            (false, "is" | "state", "closed") => out.open = Some(false),
            (false, "is", "merged") => out.merged = Some(true),
            (false, "is", "unmerged") => out.merged = Some(false),
            (false, "merged", v) => out.merged_in = Some(date_range(v)?),
            (false, "base", v) => out.base = Some(v.to_string()),
            (false, "label", v) => out.labels.push(label_names(v)),
            (false, "author", v) => out.author = Some(v.to_ascii_lowercase()),
            (false, "in", v) => {
                for field in v.split(',') {
                    match field {
                        "title" => out.in_title = true,
                        "body" => out.in_body = true,
                        "comments" => {}
                        other => return Err(format!("unknown in: field {other}")),
                    }
                }
            }
            (_, k, v) => return Err(format!("unsupported qualifier {k}:{v}")),
        }
    }
    if !out.in_title && !out.in_body {
        out.in_title = true;
        out.in_body = true;
    }
    Ok(out)
}

/// One date of a date qualifier: a day (its first second, and the next day's) or a time
/// in UTC (that second, and the next).
fn date_bounds(text: &str) -> Result<(i64, i64), String> {
    let invalid = || format!("the date {text:?} is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ");
    if text.len() == 10 {
        let at = crate::model::Timestamp::parse_rfc3339(&format!("{text}T00:00:00Z"))
            .ok_or_else(invalid)?;
        return Ok((at.0, at.0 + 86_400));
    }
    let at = crate::model::Timestamp::parse_rfc3339(text).ok_or_else(invalid)?;
    Ok((at.0, at.0 + 1))
}

/// A `merged:` value as the half-open interval of seconds it selects.
fn date_range(value: &str) -> Result<(i64, i64), String> {
    const ALL: (i64, i64) = (i64::MIN, i64::MAX);
    if let Some(rest) = value.strip_prefix(">=") {
        return Ok((date_bounds(rest)?.0, ALL.1));
    }
    if let Some(rest) = value.strip_prefix("<=") {
        return Ok((ALL.0, date_bounds(rest)?.1));
    }
    if let Some(rest) = value.strip_prefix('>') {
        return Ok((date_bounds(rest)?.1, ALL.1));
    }
    if let Some(rest) = value.strip_prefix('<') {
        return Ok((ALL.0, date_bounds(rest)?.0));
    }
    if let Some((from, to)) = value.split_once("..") {
        let from = if from == "*" {
            ALL.0
        } else {
            date_bounds(from)?.0
        };
        let to = if to == "*" { ALL.1 } else { date_bounds(to)?.1 };
        return Ok((from, to));
    }
    date_bounds(value)
}

fn matches_search(q: &SearchQuery, repo: &Repo, item: &Item) -> bool {
    let merged_at = item
        .pr
        .as_ref()
        .filter(|pr| pr.merged)
        .map(|pr| pr.facts.merged_at.unwrap_or(item.updated));
    let title = item.title.to_ascii_lowercase();
    let body = item.body.to_ascii_lowercase();
    let carries = |name: &String| item.labels.iter().any(|l| l.eq_ignore_ascii_case(name));
    q.repo
        .as_deref()
        .is_none_or(|r| r == repo.name.to_ascii_lowercase())
        && q.is_pr.is_none_or(|p| p == item.pr.is_some())
        && q.merged
            .is_none_or(|m| item.pr.is_some() && m == merged_at.is_some())
        && q.merged_in
            .is_none_or(|(from, to)| merged_at.is_some_and(|t| from <= t && t < to))
        && q.open.is_none_or(|o| o == item.open)
        && q.base
            .as_deref()
            .is_none_or(|b| item.pr.as_ref().is_some_and(|pr| pr.base == b))
        && q.author
            .as_deref()
            .is_none_or(|a| a == item.author.to_ascii_lowercase())
        && q.labels.iter().all(|either| either.iter().any(carries))
        && !q.not_labels.iter().any(carries)
        && q.terms.iter().all(|t| {
            (q.in_title && title.contains(t.as_str())) || (q.in_body && body.contains(t.as_str()))
        })
}

/// GitHub's 422 for a query it cannot run, naming why in `errors`.
fn invalid_query(message: &str) -> Response<Body> {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({
            "message": "Validation Failed",
            "errors": [{"message": message, "resource": "Search", "field": "q", "code": "invalid"}],
            "documentation_url": "https://docs.github.com/v3/search/",
        })),
    )
        .into_response()
}

/// Takes a slot of the search rate limit, or answers GitHub's 403 for a spent one.
/// Answers the limit, what is left of it and its reset (epoch seconds); a zero limit is none.
fn spend_search(state: &Shared) -> Result<(u32, u32, u64), Box<Response<Body>>> {
    let mut s = state.lock().expect("fake state");
    let limit = &mut s.faults.search;
    if limit.per_minute == 0 {
        return Ok((0, 0, 0));
    }
    let now = Instant::now();
    while limit.recent.front().is_some_and(|t| *t + MINUTE <= now) {
        limit.recent.pop_front();
    }
    if limit.recent.len() >= limit.per_minute as usize {
        let free_at = limit.recent[limit.recent.len() - limit.per_minute as usize] + MINUTE;
        let wait = (free_at - now).as_secs_f64().ceil().max(1.0) as u64;
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs()
            + wait;
        let mut r = error(
            StatusCode::FORBIDDEN,
            "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
        );
        let h = r.headers_mut();
        h.insert("retry-after", HeaderValue::from(wait));
        h.insert("x-ratelimit-limit", HeaderValue::from(limit.per_minute));
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("search"));
        return Err(Box::new(r));
    }
    limit.recent.push_back(now);
    let oldest = limit.recent.front().copied().unwrap_or(now);
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
        + (oldest + MINUTE - now).as_secs_f64().ceil() as u64;
    Ok((
        limit.per_minute,
        limit.per_minute - limit.recent.len() as u32,
        reset,
    ))
}

pub(super) async fn search_issues(
    State(state): State<Shared>,
    Query(q): Query<PageQuery>,
    uri: axum::http::Uri,
    _headers: HeaderMap,
) -> Response<Body> {
    let (limit, remaining, reset) = match spend_search(&state) {
        Ok(left) => left,
        Err(refused) => return *refused,
    };
    let Some(text) = q.q.as_deref().filter(|t| !t.trim().is_empty()) else {
        return invalid_query("q is missing");
    };
    let query = match parse_search(text) {
        Ok(query) => query,
        Err(e) => return invalid_query(&e),
    };
    let per_page = q.per_page.unwrap_or(30).clamp(1, 100);
    let page = q.page.unwrap_or(1).max(1);
    if (page - 1) * per_page >= SEARCH_RESULT_CAP {
        return invalid_query("Only the first 1000 search results are available");
    }
    let mut s = state.lock().expect("fake state");
    let refused = s.faults.search.refused_next > 0;
    if refused {
        s.faults.search.refused_next -= 1;
    }
    let unknown = query.repo.as_ref().is_some_and(|wanted| {
        !s.repos
            .values()
            .any(|r| r.name.eq_ignore_ascii_case(wanted))
    });
    if refused || unknown {
        return invalid_query(
            "The listed users and repositories cannot be searched either because the resources do not exist or you do not have permission to view them.",
        );
    }
    let incomplete = s.faults.search.incomplete_next > 0;
    if incomplete {
        s.faults.search.incomplete_next -= 1;
    }
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
    if incomplete {
        // Timed out part-way: every other match is missing.
        found = found.into_iter().step_by(2).collect();
    }
    let total = found.len();
    let reachable = total.min(SEARCH_RESULT_CAP);
    let last = reachable.div_ceil(per_page).max(1);
    let items: Vec<Value> = found
        .into_iter()
        .take(reachable)
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let mut response = Json(json!({
        "total_count": total,
        "incomplete_results": incomplete,
        "search_type": "lexical", // OpenAPI conformance
        "items": items,
    }))
    .into_response();
    if limit > 0 {
        let h = response.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from(limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        h.insert("x-ratelimit-resource", HeaderValue::from_static("search"));
    }
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
    fn merged_dates_select_as_github_does() {
        let day = 1_790_035_200; // 2026-09-22T00:00:00Z
        let q = parse_search("is:pr is:merged merged:>=2026-09-22T00:00:10Z").unwrap();
        assert_eq!(q.merged, Some(true));
        assert_eq!(q.merged_in, Some((day + 10, i64::MAX)));
        assert_eq!(date_range(">2026-09-22").unwrap(), (day + 86_400, i64::MAX));
        assert_eq!(date_range("<2026-09-22").unwrap(), (i64::MIN, day));
        assert_eq!(
            date_range("<=2026-09-22").unwrap(),
            (i64::MIN, day + 86_400)
        );
        assert_eq!(date_range("2026-09-22").unwrap(), (day, day + 86_400));
        assert_eq!(
            date_range("2026-09-22..2026-09-23").unwrap(),
            (day, day + 2 * 86_400)
        );
        assert_eq!(
            date_range("*..2026-09-22").unwrap(),
            (i64::MIN, day + 86_400)
        );
        assert!(parse_search("merged:>=yesterday").is_err());
        assert_eq!(parse_search("is:unmerged").unwrap().merged, Some(false));
    }

    #[test]
    fn search_queries_parse_qualifiers_and_quoted_terms() {
        let q = parse_search(
            r#"repo:o/r is:issue is:open label:"tide/merge-blocker" in:body "scalability-gate:inc-1:blocker""#,
        )
        .unwrap();
        assert_eq!(q.repo.as_deref(), Some("o/r"));
        assert_eq!(q.is_pr, Some(false));
        assert_eq!(q.open, Some(true));
        assert_eq!(q.labels, vec![vec!["tide/merge-blocker".to_string()]]);
        assert!(q.in_body && !q.in_title);
        assert_eq!(q.terms, vec!["scalability-gate:inc-1:blocker"]);
        assert!(parse_search("is:weird").is_err());
    }

    #[test]
    fn ready_queries_parse_base_either_labels_and_exclusions() {
        let q = parse_search(
            r#"is:pr is:open repo:o/r base:release-1.34 label:lgtm label:"approved,ok-to-merge" label:"cncf-cla: yes" -label:"do-not-merge/scalability-regression""#,
        )
        .unwrap();
        assert_eq!(q.base.as_deref(), Some("release-1.34"));
        assert_eq!(
            q.labels,
            vec![
                vec!["lgtm".to_string()],
                vec!["approved".to_string(), "ok-to-merge".to_string()],
                vec!["cncf-cla: yes".to_string()],
            ]
        );
        assert_eq!(q.not_labels, vec!["do-not-merge/scalability-regression"]);
        assert!(q.terms.is_empty());
        assert!(
            parse_search("-author:me").is_err(),
            "an unsupported negation"
        );
        assert!(parse_search("label:").is_err(), "a qualifier without value");
    }
}
