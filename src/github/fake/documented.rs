//! The fields GitHub's OpenAPI description requires of the fake's answers beyond those the
//! model tracks: ids, node ids, the API and web URLs of users, labels, repositories,
//! issues, PRs, comments and commits, and the fixed values of what the fake does not model
//! (no assignee, milestone, lock or auto-merge). Held to the description by
//! tests/openapi.rs.

use serde_json::{Value, json};

use super::state::{Item, Repo};
use crate::github::types::Label;
use crate::model::Timestamp;

/// The web address the fake's objects point at, as GitHub's would.
const WEB: &str = "https://github.com";

/// A stable positive id for `text` (FNV-1a, within JavaScript's safe integers).
pub(super) fn id_of(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 12) | 1
}

/// A `simple-user` (as `user`, `owner`, `merged_by`, a commit's `author`).
pub(super) fn user(login: &str) -> Value {
    let kind = if login.ends_with("[bot]") {
        "Bot"
    } else {
        "User"
    };
    let api = format!("https://api.github.com/users/{login}");
    json!({
        "login": login,
        "id": id_of(&format!("user:{login}")),
        "node_id": format!("U_{}", id_of(&format!("user:{login}"))),
        "avatar_url": format!("https://avatars.githubusercontent.com/{login}"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("{WEB}/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "site_admin": false,
    })
}

/// `GET /user`: a `public-user` (the token's user as the API shows it to itself, less the
/// private fields).
pub(super) fn own_user(login: &str) -> Value {
    let mut v = user(login);
    for (k, field) in [
        ("name", Value::Null),
        ("company", Value::Null),
        ("blog", json!("")),
        ("location", Value::Null),
        ("email", Value::Null),
        ("hireable", Value::Null),
        ("bio", Value::Null),
        ("public_repos", json!(0)),
        ("public_gists", json!(0)),
        ("followers", json!(0)),
        ("following", json!(0)),
        ("created_at", json!(ts(0))),
        ("updated_at", json!(ts(0))),
    ] {
        v[k] = field;
    }
    v
}

/// A `label` of `repo` (`repo` as `org/name`).
pub(super) fn label(base: &str, repo: &str, name: &str, label: Option<&Label>) -> Value {
    json!({
        "id": id_of(&format!("label:{}:{}", repo.to_ascii_lowercase(), name.to_ascii_lowercase())),
        "node_id": format!("LA_{}", id_of(&format!("label:{repo}:{name}"))),
        "url": format!("{base}/repos/{repo}/labels/{}", super::super::client::encode(name)),
        "name": name,
        "color": label.map_or("ededed", |l| l.color.as_str()),
        "description": label.and_then(|l| l.description.clone()),
        "default": false,
    })
}

/// A `repository` (a PR's `base.repo` and `head.repo`).
pub(super) fn repository(base: &str, full_name: &str) -> Value {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    let api = format!("{base}/repos/{full_name}");
    let mut v = json!({
        "id": id_of(&format!("repo:{}", full_name.to_ascii_lowercase())),
        "node_id": format!("R_{}", id_of(&format!("repo:{full_name}"))),
        "name": name,
        "full_name": full_name,
        "owner": user(owner),
        "private": false,
        "html_url": format!("{WEB}/{full_name}"),
        "description": null,
        "fork": false,
        "url": api,
        "clone_url": format!("{WEB}/{full_name}.git"),
        "git_url": format!("git://github.com/{full_name}.git"),
        "ssh_url": format!("git@github.com:{full_name}.git"),
        "svn_url": format!("{WEB}/{full_name}"),
        "mirror_url": null,
        "homepage": null,
        "language": null,
        "license": null,
        "default_branch": "master",
        "forks": 0, "forks_count": 0, "open_issues": 0, "open_issues_count": 0,
        "stargazers_count": 0, "watchers": 0, "watchers_count": 0, "size": 0,
        "has_downloads": true, "has_issues": true, "has_projects": true, "has_wiki": true,
        "has_pages": false, "archived": false, "disabled": false,
        "pushed_at": null, "created_at": null, "updated_at": null,
    });
    for (k, suffix) in [
        ("archive_url", "/{archive_format}{/ref}"),
        ("assignees_url", "/assignees{/user}"),
        ("blobs_url", "/git/blobs{/sha}"),
        ("branches_url", "/branches{/branch}"),
        ("collaborators_url", "/collaborators{/collaborator}"),
        ("comments_url", "/comments{/number}"),
        ("commits_url", "/commits{/sha}"),
        ("compare_url", "/compare/{base}...{head}"),
        ("contents_url", "/contents/{+path}"),
        ("contributors_url", "/contributors"),
        ("deployments_url", "/deployments"),
        ("downloads_url", "/downloads"),
        ("events_url", "/events"),
        ("forks_url", "/forks"),
        ("git_commits_url", "/git/commits{/sha}"),
        ("git_refs_url", "/git/refs{/sha}"),
        ("git_tags_url", "/git/tags{/sha}"),
        ("hooks_url", "/hooks"),
        ("issue_comment_url", "/issues/comments{/number}"),
        ("issue_events_url", "/issues/events{/number}"),
        ("issues_url", "/issues{/number}"),
        ("keys_url", "/keys{/key_id}"),
        ("labels_url", "/labels{/name}"),
        ("languages_url", "/languages"),
        ("merges_url", "/merges"),
        ("milestones_url", "/milestones{/number}"),
        (
            "notifications_url",
            "/notifications{?since,all,participating}",
        ),
        ("pulls_url", "/pulls{/number}"),
        ("releases_url", "/releases{/id}"),
        ("stargazers_url", "/stargazers"),
        ("statuses_url", "/statuses/{sha}"),
        ("subscribers_url", "/subscribers"),
        ("subscription_url", "/subscription"),
        ("tags_url", "/tags"),
        ("teams_url", "/teams"),
        ("trees_url", "/git/trees{/sha}"),
    ] {
        v[k] = json!(format!("{api}{suffix}"));
    }
    v
}

/// Adds to an issue (or a PR as the issues API shows it) what the model does not track.
pub(super) fn complete_issue(v: &mut Value, base: &str, repo: &Repo, item: &Item) {
    let api = format!("{base}/repos/{}/issues/{}", repo.name, item.number);
    let id = id_of(&format!(
        "issue:{}#{}",
        repo.name.to_ascii_lowercase(),
        item.number
    ));
    v["id"] = json!(id);
    v["node_id"] = json!(format!("I_{id}"));
    v["url"] = json!(api);
    v["repository_url"] = json!(format!("{base}/repos/{}", repo.name));
    v["labels_url"] = json!(format!("{api}/labels{{/name}}"));
    v["comments_url"] = json!(format!("{api}/comments"));
    v["events_url"] = json!(format!("{api}/events"));
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["milestone"] = Value::Null;
    v["locked"] = json!(false);
    v["author_association"] = json!("NONE");
    v["closed_at"] = if item.open {
        Value::Null
    } else {
        json!(ts(item.updated))
    };
    if let Some(pr) = v.get_mut("pull_request") {
        let web = format!("{WEB}/{}/pull/{}", repo.name, item.number);
        pr["html_url"] = json!(web);
        pr["diff_url"] = json!(format!("{web}.diff"));
        pr["patch_url"] = json!(format!("{web}.patch"));
    }
}

/// Adds to a PR (`pull-request-simple`) what the model does not track.
pub(super) fn complete_pull(v: &mut Value, base: &str, repo: &Repo, item: &Item) {
    let api = format!("{base}/repos/{}/pulls/{}", repo.name, item.number);
    let issue = format!("{base}/repos/{}/issues/{}", repo.name, item.number);
    let web = format!("{WEB}/{}/pull/{}", repo.name, item.number);
    let id = id_of(&format!(
        "pull:{}#{}",
        repo.name.to_ascii_lowercase(),
        item.number
    ));
    let owner = repo.name.split('/').next().unwrap_or(&repo.name);
    v["id"] = json!(id);
    v["url"] = json!(api);
    v["issue_url"] = json!(issue);
    v["diff_url"] = json!(format!("{web}.diff"));
    v["patch_url"] = json!(format!("{web}.patch"));
    v["commits_url"] = json!(format!("{api}/commits"));
    v["review_comments_url"] = json!(format!("{api}/comments"));
    v["review_comment_url"] = json!(format!(
        "{base}/repos/{}/pulls/comments{{/number}}",
        repo.name
    ));
    v["comments_url"] = json!(format!("{issue}/comments"));
    let head_sha = v.pointer("/head/sha").cloned().unwrap_or(Value::Null);
    v["statuses_url"] = json!(format!(
        "{base}/repos/{}/statuses/{}",
        repo.name,
        head_sha.as_str().unwrap_or("")
    ));
    v["assignee"] = Value::Null;
    v["assignees"] = json!([]);
    v["milestone"] = Value::Null;
    v["locked"] = json!(false);
    v["author_association"] = json!("NONE");
    v["auto_merge"] = Value::Null;
    v["closed_at"] = if item.open {
        Value::Null
    } else {
        json!(ts(item.updated))
    };
    for side in ["base", "head"] {
        let r = v[side]["ref"].as_str().unwrap_or("").to_string();
        v[side]["label"] = json!(format!("{owner}:{r}"));
        v[side]["user"] = user(owner);
        v[side]["repo"] = repository(base, &repo.name);
    }
    let href = |h: String| json!({ "href": h });
    v["_links"] = json!({
        "self": href(api.clone()),
        "html": href(web),
        "issue": href(issue.clone()),
        "comments": href(format!("{issue}/comments")),
        "review_comments": href(format!("{api}/comments")),
        "review_comment": href(format!("{base}/repos/{}/pulls/comments{{/number}}", repo.name)),
        "commits": href(format!("{api}/commits")),
        "statuses": href(v["statuses_url"].as_str().unwrap_or("").to_string()),
    });
}

/// Adds to a PR's detail (`pull-request`) what the model does not track.
pub(super) fn complete_pull_detail(v: &mut Value, item: &Item, merged_by: Option<&str>) {
    v["comments"] = json!(item.comments.len());
    v["review_comments"] = json!(0);
    v["commits"] = json!(1);
    v["maintainer_can_modify"] = json!(false);
    v["mergeable_state"] = json!(if item.open { "clean" } else { "unknown" });
    v["merged_by"] = merged_by.map_or(Value::Null, user);
}

/// Adds to an issue comment what the model does not track.
pub(super) fn complete_comment(v: &mut Value, base: &str, repo: &Repo, number: u64) {
    let id = v["id"].as_u64().unwrap_or(0);
    v["node_id"] = json!(format!("IC_{id}"));
    v["url"] = json!(format!("{base}/repos/{}/issues/comments/{id}", repo.name));
    v["html_url"] = json!(format!(
        "{WEB}/{}/issues/{number}#issuecomment-{id}",
        repo.name
    ));
    v["issue_url"] = json!(format!("{base}/repos/{}/issues/{number}", repo.name));
    v["author_association"] = json!("NONE");
}

/// An item's time (epoch seconds of the fake's clock) as GitHub writes it.
pub(super) fn ts(secs: i64) -> String {
    Timestamp(secs).to_rfc3339()
}
