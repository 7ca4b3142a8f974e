//! The fake GitHub's git history and merged PRs: commits with parents and messages on
//! branches, PRs merged at given times (with labels, files and size), and the endpoints
//! that read them (compare, commit → PRs, PR files), plus GraphQL `revertPullRequest`.
//!
//! Seeding: [`FakeGithub::merge_pr`] (a merge commit, or a squash commit, onto a branch),
//! [`FakeGithub::push_commit`] (a commit with no PR). Reading: [`FakeGithub::branch_head`],
//! [`FakeGithub::pulls`].

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};

use super::{
    FakeGithub, FakeState, Item, PageQuery, PrPart, Repo, Repo3, Shared, add_link, error,
    not_found, paged, pull_json, raw_query, ts, user_json,
};
use crate::github::types::PullRequestDetail;
use crate::model::Timestamp;

/// Commits a compare answer lists when it is not paginated (GitHub's bound).
const COMPARE_UNPAGINATED_MAX: usize = 250;

/// One commit of the fake's history.
#[derive(Debug, Clone)]
pub(super) struct FakeCommit {
    sha: String,
    message: String,
    parents: Vec<String>,
    author: String,
    /// Order of creation: compare lists commits in it (oldest first).
    seq: u64,
    at: i64,
}

/// A repository's history: commits, branch heads, and which PRs brought which commits.
#[derive(Debug, Clone, Default)]
pub(super) struct History {
    commits: BTreeMap<String, FakeCommit>,
    branches: BTreeMap<String, String>,
    commit_prs: BTreeMap<String, Vec<u64>>,
    next_seq: u64,
}

impl History {
    fn resolve(&self, reference: &str) -> Option<&FakeCommit> {
        if let Some(c) = self.commits.get(reference) {
            return Some(c);
        }
        if let Some(head) = self.branches.get(reference) {
            return self.commits.get(head);
        }
        if reference.len() >= 7 {
            let mut found = self
                .commits
                .values()
                .filter(|c| c.sha.starts_with(reference));
            if let (Some(c), None) = (found.next(), found.next()) {
                return Some(c);
            }
        }
        None
    }

    fn ancestors(&self, sha: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![sha.to_string()];
        while let Some(s) = stack.pop() {
            if let Some(c) = self.commits.get(&s) {
                if seen.insert(s) {
                    stack.extend(c.parents.iter().cloned());
                }
            }
        }
        seen
    }

    fn commit(&mut self, parents: Vec<String>, message: &str, author: &str, at: i64) -> String {
        self.next_seq += 1;
        let seq = self.next_seq;
        let sha = format!(
            "{:040x}",
            u128::from(seq) * 0x9e37_79b9_7f4a_7c15_u128 + 0xc0ffee
        );
        self.commits.insert(
            sha.clone(),
            FakeCommit {
                sha: sha.clone(),
                message: message.to_string(),
                parents,
                author: author.to_string(),
                seq,
                at,
            },
        );
        sha
    }

    /// The branch's head, with a root commit made first when the branch has none.
    fn head_or_root(&mut self, branch: &str, at: i64) -> String {
        if let Some(head) = self.branches.get(branch) {
            return head.clone();
        }
        let root = self.commit(Vec::new(), "Initial commit", "octocat", at);
        self.branches.insert(branch.to_string(), root.clone());
        root
    }
}

/// What only a merged (or reverting) PR has, kept on the fake's PR.
#[derive(Debug, Clone, Default)]
pub(super) struct PrFacts {
    pub(super) merge_commit: Option<String>,
    pub(super) merged_at: Option<i64>,
    pub(super) merged_by: Option<String>,
    pub(super) head_ref: Option<String>,
    pub(super) files: Vec<String>,
    pub(super) additions: u64,
    pub(super) deletions: u64,
}

/// How a PR lands on its branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeStyle {
    /// GitHub's "Create a merge commit": the PR's commit, then `Merge pull request #N
    /// from author/branch` with two parents.
    MergeCommit,
    /// "Squash and merge": one commit `Title (#N)` with one parent.
    Squash,
}

/// A merged PR to seed with [`FakeGithub::merge_pr`].
#[derive(Debug, Clone)]
pub struct MergedPr {
    pub base: String,
    pub title: String,
    pub body: String,
    pub author: String,
    pub labels: Vec<String>,
    pub files: Vec<String>,
    pub additions: u64,
    pub deletions: u64,
    pub merged_at: Timestamp,
    pub style: MergeStyle,
    /// Whether GitHub associates the commits with the PR (`commits/{sha}/pulls`);
    /// false models history where only the commit message names the PR.
    pub linked: bool,
}

impl MergedPr {
    /// A PR titled `title` merged into `base` at `merged_at` with a merge commit, by
    /// `contributor`, touching `README.md` with 10 lines added.
    pub fn new(base: &str, title: &str, merged_at: Timestamp) -> Self {
        Self {
            base: base.to_string(),
            title: title.to_string(),
            body: String::new(),
            author: "contributor".into(),
            labels: Vec::new(),
            files: vec!["README.md".into()],
            additions: 10,
            deletions: 0,
            merged_at,
            style: MergeStyle::MergeCommit,
            linked: true,
        }
    }

    /// By this author.
    pub fn author(mut self, author: &str) -> Self {
        self.author = author.to_string();
        self
    }

    /// With this body.
    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_string();
        self
    }

    /// With these labels.
    pub fn labels(mut self, labels: &[&str]) -> Self {
        self.labels = labels.iter().map(|l| l.to_string()).collect();
        self
    }

    /// Touching these files.
    pub fn files(mut self, files: &[&str]) -> Self {
        self.files = files.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Of this size.
    pub fn size(mut self, additions: u64, deletions: u64) -> Self {
        self.additions = additions;
        self.deletions = deletions;
        self
    }

    /// Squashed into one commit `Title (#N)`.
    pub fn squashed(mut self) -> Self {
        self.style = MergeStyle::Squash;
        self
    }

    /// Not associated with its commits by GitHub (only the message names it).
    pub fn unlinked(mut self) -> Self {
        self.linked = false;
        self
    }
}

/// What [`FakeGithub::merge_pr`] made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Merged {
    pub number: u64,
    /// The commit that brought it onto the branch (the branch's new head).
    pub merge_commit: String,
}

impl FakeGithub {
    /// A commit pushed onto `branch` with no PR; returns its sha.
    pub fn push_commit(&self, repo: &str, branch: &str, message: &str) -> String {
        self.add_repo(repo);
        let mut s = self.lock();
        let now = s.tick();
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let head = r.history.head_or_root(branch, now);
        let sha = r.history.commit(vec![head], message, "pusher", now);
        r.history.branches.insert(branch.to_string(), sha.clone());
        sha
    }

    /// The head commit of `branch`, `None` before anything landed on it.
    pub fn branch_head(&self, repo: &str, branch: &str) -> Option<String> {
        let s = self.lock();
        s.repos
            .get(&repo.to_ascii_lowercase())?
            .history
            .branches
            .get(branch)
            .cloned()
    }

    /// Merges a new PR into `spec.base` at `spec.merged_at`: its commit(s) land on the
    /// branch (see [`MergeStyle`]) and the PR is closed as merged.
    pub fn merge_pr(&self, repo: &str, spec: MergedPr) -> Merged {
        self.add_repo(repo);
        let mut s = self.lock();
        let now = s.tick();
        let login = s.login.clone();
        let at = spec.merged_at.0;
        let r = s.repos.get_mut(&repo.to_ascii_lowercase()).expect("repo");
        let number = r.next_number;
        r.next_number += 1;
        let head_ref = format!("{}-change-{number}", spec.author);
        let parent = r.history.head_or_root(&spec.base, now.min(at));
        let pr_commit = r
            .history
            .commit(vec![parent.clone()], &spec.title, &spec.author, at);
        let merge_commit = match spec.style {
            MergeStyle::MergeCommit => r.history.commit(
                vec![parent, pr_commit.clone()],
                &format!(
                    "Merge pull request #{number} from {}/{head_ref}\n\n{}",
                    spec.author, spec.title
                ),
                &login,
                at,
            ),
            MergeStyle::Squash => {
                // The squash commit replaces the PR's commit on the branch.
                let c = r.history.commits.remove(&pr_commit).expect("just made");
                let sha = c.sha.clone();
                r.history.commits.insert(
                    sha.clone(),
                    FakeCommit {
                        message: format!("{} (#{number})", spec.title),
                        ..c
                    },
                );
                sha
            }
        };
        r.history
            .branches
            .insert(spec.base.clone(), merge_commit.clone());
        if spec.linked {
            for sha in BTreeSet::from([pr_commit.clone(), merge_commit.clone()]) {
                r.history.commit_prs.entry(sha).or_default().push(number);
            }
        }
        let labels = spec.labels.iter().map(|l| r.label_or_create(l)).collect();
        r.items.insert(
            number,
            Item {
                number,
                title: spec.title.clone(),
                body: spec.body.clone(),
                author: spec.author.clone(),
                open: false,
                state_reason: None,
                labels,
                comments: Vec::new(),
                pr: Some(PrPart {
                    base: spec.base.clone(),
                    head_sha: pr_commit,
                    merged: true,
                    facts: PrFacts {
                        merge_commit: Some(merge_commit.clone()),
                        merged_at: Some(at),
                        merged_by: Some("k8s-merge-robot".into()),
                        head_ref: Some(head_ref),
                        files: spec.files.clone(),
                        additions: spec.additions,
                        deletions: spec.deletions,
                    },
                }),
                created: at - 3600,
                updated: at,
            },
        );
        Merged {
            number,
            merge_commit,
        }
    }

    /// Sets the body of an issue or PR (as its author editing it).
    pub fn set_body(&self, repo: &str, number: u64, body: &str) {
        let mut s = self.lock();
        let now = s.tick();
        let item = s
            .repos
            .get_mut(&repo.to_ascii_lowercase())
            .and_then(|r| r.items.get_mut(&number))
            .expect("issue or PR exists");
        item.body = body.to_string();
        item.updated = now;
    }

    /// Every PR of a repo (open, closed and merged) as `GET .../pulls/{n}` shows it, in
    /// number order.
    pub fn pulls(&self, repo: &str) -> Vec<PullRequestDetail> {
        let s = self.lock();
        let Some(r) = s.repos.get(&repo.to_ascii_lowercase()) else {
            return Vec::new();
        };
        r.items
            .values()
            .filter_map(|i| pull_detail_json(&s.base_url, r, i))
            .map(|v| serde_json::from_value(v).expect("the fake renders what the client decodes"))
            .collect()
    }
}

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
    super::documented::complete_pull_detail(&mut v, item, pr.facts.merged_by.as_deref());
    Some(v)
}

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
    match revert(&mut s, id, input) {
        Ok(data) => Json(json!({ "data": data })).into_response(),
        Err((kind, message)) => graphql_error(kind, &message),
    }
}

fn revert(s: &mut FakeState, id: &str, input: &Value) -> Result<Value, (&'static str, String)> {
    let unresolved = || {
        (
            "NOT_FOUND",
            format!("Could not resolve to a node with the global id of '{id}'"),
        )
    };
    let (repo, number) = parse_node_id(id).ok_or_else(unresolved)?;
    let now = s.tick();
    let login = s.login.clone();
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

/// Sorts `GET .../pulls` items as `?sort=&direction=` ask (GitHub's defaults: `created`,
/// `desc` for created, `asc` otherwise).
pub(super) fn sort_pulls(items: &mut [&Item], q: &PageQuery) {
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
