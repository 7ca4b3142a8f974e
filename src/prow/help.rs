//! `POST /help`: the plugin's help as Prow's hook asks for it.
//!
//! hook POSTs the repositories the plugin is enabled on as `[{"Org":..,"Repo":..}]` (Go's
//! `config.OrgRepo`, `Repo` empty for an org-wide entry), or `null` for all, and expects a
//! `pluginhelp.PluginHelp` in Go's field names. `Config` maps each asked `org/repo` (or
//! `org`) to what the plugin gates there; for `null`, every gated repository.

use std::collections::BTreeMap;

use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::App;
use crate::config::Config;
use crate::core::command::{COMMANDS, Who};

/// hook's request body is a short list; anything larger is refused.
pub const MAX_HELP_BODY: usize = 1024 * 1024;

/// Prow's `pluginhelp.PluginHelp`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PluginHelp {
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Config", default)]
    pub config: BTreeMap<String, String>,
    #[serde(rename = "Snippet", default, skip_serializing_if = "String::is_empty")]
    pub snippet: String,
    #[serde(rename = "Events")]
    pub events: Vec<String>,
    #[serde(rename = "Commands")]
    pub commands: Vec<CommandHelp>,
}

/// Prow's `pluginhelp.Command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandHelp {
    #[serde(rename = "Usage")]
    pub usage: String,
    #[serde(rename = "Featured")]
    pub featured: bool,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "Examples")]
    pub examples: Vec<String>,
    #[serde(rename = "WhoCanUse")]
    pub who_can_use: String,
}

/// Prow's `config.OrgRepo` (Go decodes field names case-insensitively; so do we for the
/// two spellings seen in practice).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrgRepo {
    #[serde(rename = "Org", alias = "org")]
    pub org: String,
    #[serde(rename = "Repo", alias = "repo", default)]
    pub repo: String,
}

/// The webhook events the plugin subscribes to (as in `plugin.yaml`).
pub const EVENTS: &[&str] = &["issue_comment", "pull_request"];

/// The help for the repositories hook asked about (`None`: all gated repositories).
pub fn plugin_help(config: &Config, asked: Option<&[OrgRepo]>) -> PluginHelp {
    let who_approvers = approvers_text(config);
    let commands = COMMANDS
        .iter()
        .map(|spec| CommandHelp {
            usage: spec.usage.to_string(),
            featured: matches!(spec.name, "scalability-unblock" | "scalability-status"),
            description: spec.description.to_string(),
            examples: spec.examples.iter().map(|e| e.to_string()).collect(),
            who_can_use: match spec.who {
                Who::Anyone => "Anyone can use this command.".to_string(),
                Who::Approvers => who_approvers.clone(),
            },
        })
        .collect();
    let keys: Vec<String> = match asked {
        None => gated_repos(config),
        Some(list) => list
            .iter()
            .filter(|o| !o.org.is_empty())
            .map(|o| {
                if o.repo.is_empty() {
                    o.org.clone()
                } else {
                    format!("{}/{}", o.org, o.repo)
                }
            })
            .collect(),
    };
    let config_text = keys
        .into_iter()
        .map(|key| {
            let text = repo_text(config, &key);
            (key, text)
        })
        .collect();
    PluginHelp {
        description: format!(
            "scalability-gate blocks merges to a branch when a release-blocking scalability \
             periodic job goes from green to red: it labels ready pull requests with `{label}` \
             (which Tide's query excludes){blocker}, lists the pull requests merged between \
             the last green and the first red run as suspects, helps revert them, and lifts \
             the block on an approver's /scalability-unblock{recovery}.",
            label = config.label,
            blocker = if config.tide.blocker_label.is_empty() {
                String::new()
            } else {
                format!(
                    " and opens a Tide merge-blocker issue (`{}`)",
                    config.tide.blocker_label
                )
            },
            recovery = if config.jobs.iter().any(|j| j.auto_unblock_on_recovery) {
                " or when the job is green again"
            } else {
                ""
            },
        ),
        config: config_text,
        snippet: String::new(),
        events: EVENTS.iter().map(|e| e.to_string()).collect(),
        commands,
    }
}

fn approvers_text(config: &Config) -> String {
    let mut who: Vec<String> = config
        .approvers
        .teams
        .iter()
        .map(|t| format!("members of the GitHub team {t}"))
        .collect();
    who.extend(config.approvers.users.iter().map(|u| format!("@{u}")));
    if who.is_empty() {
        "Nobody: no approvers are configured.".to_string()
    } else {
        format!("Approvers: {}.", who.join(", "))
    }
}

/// Every gated `org/repo`, sorted, once.
fn gated_repos(config: &Config) -> Vec<String> {
    let mut repos: Vec<String> = config
        .jobs
        .iter()
        .flat_map(|j| j.scopes.iter().map(|s| s.repo.clone()))
        .collect();
    repos.sort();
    repos.dedup();
    repos
}

/// What is gated in `key` (`org/repo`, or `org` for all its repositories).
fn repo_text(config: &Config, key: &str) -> String {
    let matches = |repo: &str| {
        if key.contains('/') {
            repo.eq_ignore_ascii_case(key)
        } else {
            repo.split('/')
                .next()
                .is_some_and(|org| org.eq_ignore_ascii_case(key))
        }
    };
    let mut lines = Vec::new();
    for job in &config.jobs {
        for scope in job.scopes.iter().filter(|s| matches(&s.repo)) {
            lines.push(format!(
                "A regression (green to red{confirm}) of the periodic job {job} blocks merges \
                 to {repo} branch {branch}{auto}.",
                confirm = if job.failures_to_confirm > 1 {
                    format!(", confirmed by {} red runs", job.failures_to_confirm)
                } else {
                    String::new()
                },
                job = job.name,
                repo = scope.repo,
                branch = scope.branch,
                auto = if job.auto_unblock_on_recovery {
                    "; the block lifts by itself when the job is green again"
                } else {
                    ""
                },
            ));
        }
    }
    if lines.is_empty() {
        format!("No scalability job gates {key}.")
    } else {
        lines.join(" ")
    }
}

/// `POST /help` (any other method: 405).
pub async fn handle(State(app): State<App>, request: Request) -> Response {
    if request.method() != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "405 Method not allowed").into_response();
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_HELP_BODY).await {
        Ok(body) => body,
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "400 Bad Request: unreadable or oversized body",
            )
                .into_response();
        }
    };
    let asked: Option<Vec<OrgRepo>> = match serde_json::from_slice(&body) {
        Ok(asked) => asked,
        Err(error) => {
            tracing::info!(error = %error, "malformed /help request");
            return (
                StatusCode::BAD_REQUEST,
                format!("400 Bad Request: expected [{{\"Org\":..,\"Repo\":..}}] or null: {error}"),
            )
                .into_response();
        }
    };
    let help = plugin_help(&app.config, asked.as_deref());
    ([(header::CACHE_CONTROL, "no-cache")], axum::Json(help)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{JobConfig, ScopeConfig};

    fn config() -> Config {
        Config {
            jobs: vec![JobConfig {
                name: "ci-scale".into(),
                scopes: vec![
                    ScopeConfig {
                        repo: "kubernetes/kubernetes".into(),
                        branch: "master".into(),
                    },
                    ScopeConfig {
                        repo: "kubernetes/perf-tests".into(),
                        branch: "main".into(),
                    },
                ],
                failures_to_confirm: 2,
                auto_unblock_on_recovery: true,
                infer_scopes: false,
                suspects: Default::default(),
                max_silence: None,
            }],
            ..Config::default()
        }
    }

    #[test]
    fn null_lists_every_gated_repo() {
        let help = plugin_help(&config(), None);
        assert_eq!(
            help.config.keys().collect::<Vec<_>>(),
            ["kubernetes/kubernetes", "kubernetes/perf-tests"]
        );
        assert!(help.config["kubernetes/kubernetes"].contains("ci-scale"));
        assert!(help.config["kubernetes/kubernetes"].contains("master"));
        assert!(help.config["kubernetes/kubernetes"].contains("2 red runs"));
        assert_eq!(help.commands.len(), 7);
        assert!(
            help.commands
                .iter()
                .any(|c| c.usage.starts_with("/scalability-culprit #N"))
        );
        let json = serde_json::to_value(&help).unwrap();
        assert!(json.get("Snippet").is_none());
        assert_eq!(json["Events"][0], "issue_comment");
        let who = json["Commands"][0]["WhoCanUse"].as_str().unwrap();
        assert!(who.contains("sig-scalability-leads"), "{who}");
    }

    #[test]
    fn asked_repos_and_orgs() {
        let asked = [
            OrgRepo {
                org: "kubernetes".into(),
                repo: "kubernetes".into(),
            },
            OrgRepo {
                org: "other".into(),
                repo: "thing".into(),
            },
            OrgRepo {
                org: "kubernetes".into(),
                repo: String::new(),
            },
        ];
        let help = plugin_help(&config(), Some(&asked));
        assert_eq!(help.config.len(), 3);
        assert!(!help.config["kubernetes/kubernetes"].contains("perf-tests"));
        assert!(help.config["other/thing"].starts_with("No scalability job"));
        assert!(help.config["kubernetes"].contains("perf-tests"));
    }
}
