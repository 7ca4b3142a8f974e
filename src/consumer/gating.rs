//! The gate's shell: turns inputs (detector outcomes, webhook events) into the pure
//! gate's inputs, resolves what the core cannot (approvers, the plugin's own login, which
//! incident a blocker issue belongs to), and writes each decision to the store — whole,
//! in one transaction — before anything is done on GitHub. What to do next (reconcile,
//! label a PR now, post replies) is returned to the consumer, which hands it to the
//! reconciler.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::Store;
use crate::comment;
use crate::config::{Config, LabelPrs};
use crate::core::detector::Outcome;
use crate::core::gate::{self, ApproverList, Decision, GateJob, LabelMode, Policy};
use crate::github::Client;
use crate::model::{IncidentId, JobName, Login, RepoName, Scope, Timestamp};
use crate::prow::tide::SharedTide;
use crate::store::{Changes, PendingReply};

/// How long a team membership answer is trusted.
pub const APPROVER_CACHE_TTL: Duration = Duration::from_secs(300);

/// At most this many logins are remembered; the cache is cleared when full.
const APPROVER_CACHE_MAX: usize = 4096;

/// The gate's policy from the configuration.
pub fn policy(config: &Config) -> Policy {
    let jobs = config
        .jobs
        .iter()
        .map(|j| GateJob {
            name: JobName::new(&j.name),
            scopes: j
                .scopes
                .iter()
                .filter_map(|s| {
                    Some(Scope {
                        repo: RepoName::parse(&s.repo).ok()?,
                        branch: s.branch.clone(),
                    })
                })
                .collect(),
            auto_unblock_on_recovery: j.auto_unblock_on_recovery,
        })
        .collect();
    Policy {
        jobs,
        approvers: ApproverList {
            users: config.approvers.users.clone(),
            teams: config.approvers.teams.clone(),
        },
        label: config.label.clone(),
        label_mode: match config.label_prs {
            LabelPrs::Ready => LabelMode::Ready,
            LabelPrs::All => LabelMode::All,
        },
        ready_labels: config.ready_labels.clone(),
        ready_rules: Default::default(),
    }
}

/// The current time as the core sees it.
pub fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Timestamp(secs)
}

/// The gate's state for a decision: every active incident, plus `extra` when stored.
pub fn state(store: &Store, extra: Option<&IncidentId>) -> anyhow::Result<gate::State> {
    let mut incidents = store.active_incidents()?;
    if let Some(id) = extra
        && !incidents.iter().any(|i| &i.id == id)
        && let Some(found) = store.incident(id)?
    {
        incidents.push(found);
    }
    Ok(gate::State { incidents })
}

/// The gate's input for a detector outcome, if it is one.
pub fn outcome_input(job: &JobName, outcome: &Outcome) -> Option<gate::Input> {
    match outcome {
        Outcome::None => None,
        Outcome::Regression {
            first_red,
            last_green,
        } => Some(gate::Input::Regression {
            job: job.clone(),
            first_red: first_red.clone(),
            last_green: last_green.clone(),
        }),
        Outcome::Recovery { green } => Some(gate::Input::Recovery {
            job: job.clone(),
            green: green.clone(),
        }),
    }
}

/// Decides on `input` and writes the decision (incidents, audit records, rendered replies)
/// to the store in one transaction. Returns the decision for the caller to act on.
pub fn decide_and_commit(
    store: &Store,
    policy: &Policy,
    input: &gate::Input,
    now: Timestamp,
    issue_incident: Option<&IncidentId>,
) -> anyhow::Result<Decision> {
    let extra = match input {
        gate::Input::Regression { job, first_red, .. } => Some(gate::regression_id(job, first_red)),
        _ => None,
    };
    let state = state(store, extra.as_ref().or(issue_incident))?;
    let ctx = gate::Ctx {
        now,
        policy,
        issue_incident,
    };
    let decision = gate::decide(&state, input, &ctx);
    if !decision.is_empty() {
        store.apply_decision(&changes(&decision))?;
    }
    Ok(decision)
}

/// What a decision writes: the replies rendered, each with its marker.
pub fn changes(decision: &Decision) -> Changes {
    Changes {
        incidents: decision.incidents.clone(),
        audit: decision.audit.clone(),
        replies: decision
            .replies
            .iter()
            .map(|r| PendingReply {
                key: comment::reply_marker(r.in_reply_to),
                repo: r.repo.clone(),
                number: r.number,
                body: comment::reply(r),
            })
            .collect(),
    }
}

/// Whether `login` is one of the configured users (GitHub logins are case-insensitive).
pub fn is_configured_user(config: &Config, login: &Login) -> bool {
    config
        .approvers
        .users
        .iter()
        .any(|u| u.eq_ignore_ascii_case(login.as_str()))
}

/// Team membership answers, trusted for [`APPROVER_CACHE_TTL`].
#[derive(Default)]
pub struct ApproverCache {
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

impl ApproverCache {
    /// The remembered answer for `login`, if still fresh.
    pub fn get(&self, login: &Login) -> Option<bool> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let key = login.as_str().to_ascii_lowercase();
        entries
            .get(&key)
            .filter(|(_, at)| at.elapsed() < APPROVER_CACHE_TTL)
            .map(|(answer, _)| *answer)
    }

    /// Remembers the answer for `login`.
    pub fn put(&self, login: &Login, answer: bool) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= APPROVER_CACHE_MAX {
            entries.clear();
        }
        entries.insert(
            login.as_str().to_ascii_lowercase(),
            (answer, Instant::now()),
        );
    }
}

/// The gate's shell state: the policy, the store, GitHub (for who is who) and caches.
pub struct Gatekeeper {
    config: Arc<Config>,
    store: Store,
    /// `None` when there is no token (dry-run without a token file).
    github: Option<Client>,
    tide: SharedTide,
    approvers: ApproverCache,
    own_login: tokio::sync::OnceCell<Option<Login>>,
}

impl Gatekeeper {
    /// A gatekeeper over `store`, asking `github` about teams and its own login.
    pub fn new(
        config: Arc<Config>,
        store: Store,
        github: Option<Client>,
        tide: SharedTide,
    ) -> Self {
        Self {
            config,
            store,
            github,
            tide,
            approvers: ApproverCache::default(),
            own_login: tokio::sync::OnceCell::new(),
        }
    }

    /// The policy, with Tide's ready rule for `scope` when Prow's config is known.
    pub fn policy(&self, scope: Option<&Scope>) -> Policy {
        let mut policy = policy(&self.config);
        if let Some(scope) = scope {
            let tide = self.tide.read().unwrap_or_else(|e| e.into_inner());
            policy.ready_rules.insert(
                scope.clone(),
                tide.ready_rule(scope, &self.config.ready_labels),
            );
        }
        policy
    }

    /// The plugin's own login (`GET /user`), asked once; `None` when GitHub cannot say.
    pub async fn own_login(&self) -> Option<Login> {
        self.own_login
            .get_or_init(|| async {
                let github = self.github.as_ref()?;
                match github.own_login().await {
                    Ok(login) => Some(login),
                    Err(error) => {
                        tracing::warn!(error = %error, "cannot learn the plugin's own login");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// Whether `login` is an approver: a configured user, or an active member of a
    /// configured team (asked through GitHub, remembered for [`APPROVER_CACHE_TTL`]).
    pub async fn is_approver(&self, login: &Login) -> bool {
        if is_configured_user(&self.config, login) {
            return true;
        }
        if let Some(answer) = self.approvers.get(login) {
            return answer;
        }
        let Some(github) = &self.github else {
            return false;
        };
        for team in &self.config.approvers.teams {
            let Some((org, slug)) = team.split_once('/') else {
                continue;
            };
            match github.is_team_member(org, slug, login.as_str()).await {
                Ok(true) => {
                    self.approvers.put(login, true);
                    return true;
                }
                Ok(false) => {}
                Err(error) => {
                    // Not remembered: the next command asks again.
                    tracing::warn!(error = %error, team, login = %login, "team membership unknown");
                    return false;
                }
            }
        }
        self.approvers.put(login, false);
        false
    }

    /// A detector outcome for `job`: decided and written.
    pub fn on_outcome(
        &self,
        job: &JobName,
        outcome: &Outcome,
        now: Timestamp,
    ) -> anyhow::Result<Decision> {
        let Some(input) = outcome_input(job, outcome) else {
            return Ok(Decision::default());
        };
        decide_and_commit(&self.store, &self.policy(None), &input, now, None)
    }
}
