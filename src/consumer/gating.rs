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
use crate::core::command::{self, Who};
use crate::core::detector::Outcome;
use crate::core::gate::{self, Approval, ApproverList, Decision, GateJob, LabelMode, Policy};
use crate::github::Client;
use crate::model::{IncidentId, JobName, Login, RepoName, Scope, Timestamp};
use crate::prow::event::{CommentAction, Event, IssueComment, PrAction, PullRequestEvent};
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
        rerun_available: !config.sources.gangway.address.trim().is_empty(),
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
    let decision = decide(store, policy, input, now, issue_incident)?;
    if !decision.is_empty() {
        store.apply_decision(&changes(&decision))?;
    }
    Ok(decision)
}

/// The gate's decision on `input` against the incidents in the store, not yet written.
pub fn decide(
    store: &Store,
    policy: &Policy,
    input: &gate::Input,
    now: Timestamp,
    issue_incident: Option<&IncidentId>,
) -> anyhow::Result<Decision> {
    let extra = match input {
        gate::Input::Regression { job, first_red, .. } => Some(gate::regression_id(job, first_red)),
        gate::Input::Finding(finding) => Some(finding.incident().clone()),
        _ => None,
    };
    let state = state(store, extra.as_ref().or(issue_incident))?;
    let ctx = gate::Ctx {
        now,
        policy,
        issue_incident,
    };
    Ok(gate::decide(&state, input, &ctx))
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

    /// The plugin's own login (`GET /user`), remembered once known; `None` while GitHub
    /// cannot say (asked again next time).
    pub async fn own_login(&self) -> Option<Login> {
        let github = self.github.as_ref()?;
        let known = self
            .own_login
            .get_or_try_init(|| async { github.own_login().await.map(Some) })
            .await;
        match known {
            Ok(login) => login.clone(),
            Err(error) => {
                tracing::warn!(error = %error, "cannot learn the plugin's own login");
                None
            }
        }
    }

    /// Whether `login` is an approver: a configured user, or an active member of a
    /// configured team (asked through GitHub, remembered for [`APPROVER_CACHE_TTL`]).
    /// `Unknown` when GitHub did not answer for a team and no other team said yes: the
    /// gate then refuses saying so, instead of calling a team member no approver.
    pub async fn approval(&self, login: &Login) -> Approval {
        if is_configured_user(&self.config, login) {
            return Approval::Approver;
        }
        if let Some(answer) = self.approvers.get(login) {
            return if answer {
                Approval::Approver
            } else {
                Approval::NotApprover
            };
        }
        let Some(github) = &self.github else {
            return Approval::NotApprover;
        };
        let mut unknown = false;
        for team in &self.config.approvers.teams {
            let Some((org, slug)) = team.split_once('/') else {
                continue;
            };
            match github.is_team_member(org, slug, login.as_str()).await {
                Ok(true) => {
                    self.approvers.put(login, true);
                    return Approval::Approver;
                }
                Ok(false) => {}
                Err(error) => {
                    // Not remembered: the next command asks again.
                    tracing::warn!(error = %error, team, login = %login, "team membership unknown");
                    unknown = true;
                }
            }
        }
        if unknown {
            return Approval::Unknown;
        }
        self.approvers.put(login, false);
        Approval::NotApprover
    }

    /// A webhook event: decided and written.
    pub async fn on_event(&self, event: &Event, now: Timestamp) -> anyhow::Result<Decision> {
        match event {
            Event::IssueComment(comment) => self.on_comment(comment, now).await,
            Event::PullRequest(pr) => self.on_pull_request(pr, now).await,
            Event::Ignored(_) => Ok(Decision::default()),
        }
    }

    async fn on_comment(&self, comment: &IssueComment, now: Timestamp) -> anyhow::Result<Decision> {
        // Edited or deleted comments and bots' comments are never commands; checked before
        // anything that may cost a request (our own login is asked only once). The ingress
        // keeps in its inbox exactly the comments that pass this first check.
        if !may_carry_command(comment) || !is_gated_repo(&self.policy(None), &comment.repo) {
            return Ok(Decision::default());
        }
        let commands = command::parse(&comment.body);
        if !is_command_comment(comment, self.own_login().await.as_ref()) {
            tracing::debug!(repo = %comment.repo, pr = comment.number.0, author = %comment.author, "not a command comment");
            return Ok(Decision::default());
        }
        let needs_approver = commands
            .iter()
            .any(|c| matches!(c, Ok(c) if c.who() == Who::Approvers));
        let approval = if needs_approver {
            self.approval(&comment.author).await
        } else {
            Approval::NotApprover
        };
        let issue_incident = if comment.is_pr {
            None
        } else {
            self.incident_of_issue(&comment.repo, comment.number)?
        };
        let input = gate::Input::Comment(gate::CommentInput {
            repo: comment.repo.clone(),
            number: comment.number,
            is_pr: comment.is_pr,
            author: comment.author.clone(),
            approval,
            comment_id: comment.comment_id,
            commands,
        });
        decide_and_commit(
            &self.store,
            &self.policy(None),
            &input,
            now,
            issue_incident.as_ref(),
        )
    }

    async fn on_pull_request(
        &self,
        event: &PullRequestEvent,
        now: Timestamp,
    ) -> anyhow::Result<Decision> {
        let own = self.own_login().await;
        let input = pr_input(event, own.as_ref());
        let policy = self.policy(Some(&input.scope));
        decide_and_commit(
            &self.store,
            &policy,
            &gate::Input::PullRequest(input),
            now,
            None,
        )
    }

    /// A finding of reconcile or the rerun executor: decided and written (also when its
    /// incident was lifted meanwhile). A failed revert or a rerun's outcome is told, once
    /// (by marker), where the command was written, in the same write.
    pub fn on_finding(&self, finding: &gate::Finding, now: Timestamp) -> anyhow::Result<Decision> {
        let input = gate::Input::Finding(finding.clone());
        let decision = decide(&self.store, &self.policy(None), &input, now, None)?;
        if decision.is_empty() {
            return Ok(decision);
        }
        let mut changes = changes(&decision);
        for incident in &decision.incidents {
            changes.replies.extend(finding_notices(incident, finding));
        }
        self.store.apply_decision(&changes)?;
        Ok(decision)
    }

    /// The incident a blocker or tracking issue belongs to (the reconciler remembers it).
    fn incident_of_issue(
        &self,
        repo: &RepoName,
        number: crate::model::PrNumber,
    ) -> anyhow::Result<Option<IncidentId>> {
        self.store.incident_of_issue(repo, number)
    }

    /// A detector outcome for `job`: decided and written. A recovery that leaves the
    /// incident active is also announced on the incident's issues (once: the notice's
    /// marker), in the same write.
    pub fn on_outcome(
        &self,
        job: &JobName,
        outcome: &Outcome,
        now: Timestamp,
    ) -> anyhow::Result<Decision> {
        let Some(input) = outcome_input(job, outcome) else {
            return Ok(Decision::default());
        };
        let decision = decide(&self.store, &self.policy(None), &input, now, None)?;
        let mut changes = changes(&decision);
        if let gate::Input::Recovery { green, .. } = &input {
            for incident in decision.incidents.iter().filter(|i| i.is_active()) {
                for scope in &incident.scopes {
                    let Some(issue) = self.store.issue_of(&incident.id, scope)? else {
                        continue;
                    };
                    changes.replies.push(PendingReply {
                        key: comment::recovered_marker(&incident.id),
                        repo: scope.repo.clone(),
                        number: issue,
                        body: comment::recovered(incident, green),
                    });
                }
            }
        }
        if !decision.is_empty() {
            self.store.apply_decision(&changes)?;
        }
        Ok(decision)
    }
}

/// The notices a recorded finding posts where its command was written: a failed revert,
/// a rerun Gangway refused, a rerun's result.
pub fn finding_notices(
    incident: &crate::model::Incident,
    finding: &gate::Finding,
) -> Vec<PendingReply> {
    use gate::Finding;
    match finding {
        Finding::RevertFailed { repo, suspect, .. } => incident
            .reverts
            .iter()
            .filter(|r| &r.repo == repo && r.suspect == *suspect && r.error.is_some())
            .filter_map(|r| {
                Some(PendingReply {
                    key: comment::revert_failed_marker(&incident.id, r.suspect),
                    repo: r.repo.clone(),
                    number: r.requested_on?,
                    body: comment::revert_failed(incident, r),
                })
            })
            .collect(),
        Finding::RerunFailed { rerun, .. } | Finding::RerunFinished { rerun, .. } => incident
            .reruns
            .iter()
            .filter(|r| r.id == *rerun)
            .filter_map(|r| {
                let (kind, body) = if r.result.is_some() {
                    ("result", comment::rerun_result(incident, r))
                } else if r.error.is_some() {
                    ("failed", comment::rerun_failed(incident, r))
                } else {
                    return None;
                };
                Some(PendingReply {
                    key: comment::rerun_marker(&incident.id, r.id, kind),
                    repo: r.repo.clone(),
                    number: r.requested_on,
                    body,
                })
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `repo` is in a scope of a gated job (commands elsewhere are not ours).
pub fn is_gated_repo(policy: &Policy, repo: &RepoName) -> bool {
    policy
        .jobs
        .iter()
        .any(|j| j.scopes.iter().any(|s| &s.repo == repo))
}

/// The gate's input for a `pull_request` event; `own_login` is the plugin's.
pub fn pr_input(event: &PullRequestEvent, own_login: Option<&Login>) -> gate::PrInput {
    let change = match &event.action {
        PrAction::Opened => gate::PrChange::Opened,
        PrAction::Reopened => gate::PrChange::Reopened,
        PrAction::Synchronize => gate::PrChange::Synchronize,
        PrAction::Edited { base_changed: true } => gate::PrChange::BaseChanged,
        PrAction::Edited {
            base_changed: false,
        } => gate::PrChange::Other,
        PrAction::Labeled { label } => gate::PrChange::Labeled(label.clone()),
        PrAction::Unlabeled { label } => gate::PrChange::Unlabeled(label.clone()),
        PrAction::Closed { merged: true } => gate::PrChange::Merged {
            by: event.merged_by.clone(),
        },
        PrAction::Closed { merged: false } => gate::PrChange::Closed,
        PrAction::Other(_) => gate::PrChange::Other,
    };
    gate::PrInput {
        scope: Scope {
            repo: event.repo.clone(),
            branch: event.base_ref.clone(),
        },
        pr: event.number,
        labels: event.labels.clone(),
        change,
        sender: event.sender.clone(),
        sender_is_self: own_login
            .is_some_and(|me| me.as_str().eq_ignore_ascii_case(event.sender.as_str())),
    }
}

/// Whether a comment may carry a command, by what it says alone: a new comment, not by a
/// bot, with at least one `/scalability-…` line outside code and quotes. The gate applies
/// this first (then the repository, then the plugin's own login); the ingress keeps the
/// events that pass it in the durable inbox, so the two never disagree.
pub fn may_carry_command(comment: &IssueComment) -> bool {
    is_command_comment(comment, None) && !command::parse(&comment.body).is_empty()
}

/// Whether a comment can carry commands at all (checked before any lookup): see
/// [`gate::is_command_comment`].
pub fn is_command_comment(comment: &IssueComment, own_login: Option<&Login>) -> bool {
    gate::is_command_comment(gate::CommentFacts {
        is_new: comment.action == CommentAction::Created,
        author_is_bot: comment.author_is_bot,
        author_is_self: own_login
            .is_some_and(|me| me.as_str().eq_ignore_ascii_case(comment.author.as_str())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CommitSha, PrNumber};

    fn pr_event(action: PrAction, sender: &str) -> PullRequestEvent {
        PullRequestEvent {
            action,
            repo: RepoName::new("o", "r"),
            number: PrNumber(5),
            base_ref: "main".into(),
            head_sha: CommitSha::new("abc"),
            title: "t".into(),
            author: Login::new("alice"),
            labels: vec!["lgtm".into()],
            merged_at: None,
            merge_commit_sha: None,
            merged_by: Some(Login::new("bob")),
            sender: Login::new(sender),
            sender_is_bot: false,
        }
    }

    #[test]
    fn pr_actions_map_onto_gate_changes() {
        let me = Login::new("Gate-Bot");
        let cases = [
            (PrAction::Opened, gate::PrChange::Opened),
            (
                PrAction::Edited { base_changed: true },
                gate::PrChange::BaseChanged,
            ),
            (
                PrAction::Edited {
                    base_changed: false,
                },
                gate::PrChange::Other,
            ),
            (
                PrAction::Closed { merged: true },
                gate::PrChange::Merged {
                    by: Some(Login::new("bob")),
                },
            ),
            (PrAction::Closed { merged: false }, gate::PrChange::Closed),
            (
                PrAction::Unlabeled { label: "x".into() },
                gate::PrChange::Unlabeled("x".into()),
            ),
        ];
        for (action, change) in cases {
            let input = pr_input(&pr_event(action, "carol"), Some(&me));
            assert_eq!(input.change, change);
            assert_eq!(input.scope.branch, "main");
            assert!(!input.sender_is_self);
        }
        let ours = pr_input(&pr_event(PrAction::Opened, "gate-bot"), Some(&me));
        assert!(ours.sender_is_self, "logins compare case-insensitively");
    }

    #[test]
    fn approver_cache_remembers_per_login_case_insensitively() {
        let cache = ApproverCache::default();
        assert_eq!(cache.get(&Login::new("Alice")), None);
        cache.put(&Login::new("Alice"), true);
        assert_eq!(cache.get(&Login::new("alice")), Some(true));
    }

    #[test]
    fn comments_by_us_bots_or_edits_are_not_commands() {
        let comment = |action, author: &str, bot| IssueComment {
            action,
            repo: RepoName::new("o", "r"),
            number: PrNumber(1),
            is_pr: true,
            issue_title: String::new(),
            issue_labels: vec![],
            author: Login::new(author),
            author_is_bot: bot,
            comment_id: 1,
            body: "/scalability-status".into(),
            html_url: String::new(),
        };
        let me = Login::new("gate-bot");
        assert!(is_command_comment(
            &comment(CommentAction::Created, "alice", false),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(CommentAction::Edited, "alice", false),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(CommentAction::Deleted, "alice", false),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(CommentAction::Created, "ci[bot]", true),
            Some(&me)
        ));
        assert!(!is_command_comment(
            &comment(CommentAction::Created, "Gate-Bot", false),
            Some(&me)
        ));
    }

    #[test]
    fn a_failed_revert_is_told_where_it_was_asked_and_other_findings_post_nothing() {
        use crate::model::{Cause, Incident, Revert};
        let repo = RepoName::new("o", "r");
        let mut incident = Incident::new(
            IncidentId::new("j-1"),
            JobName::new("j"),
            Timestamp(1),
            Cause::Manual {
                by: Login::new("alice"),
                reason: String::new(),
            },
            vec![],
        );
        incident.reverts.push(Revert {
            error: Some("merge conflict".into()),
            ..Revert::asked(
                repo.clone(),
                PrNumber(5),
                Login::new("alice"),
                Timestamp(2),
                Some(PrNumber(9)),
            )
        });
        let failed = gate::Finding::RevertFailed {
            incident: incident.id.clone(),
            repo: repo.clone(),
            suspect: PrNumber(5),
            error: "merge conflict".into(),
        };
        let notices = finding_notices(&incident, &failed);
        assert_eq!(notices.len(), 1);
        assert_eq!(notices[0].number, PrNumber(9));
        assert_eq!(
            notices[0].key,
            "<!-- scalability-gate:j-1:revert-failed/5 -->"
        );
        assert!(
            notices[0].body.contains("merge conflict"),
            "{}",
            notices[0].body
        );
        assert!(
            notices[0].body.starts_with("@alice:"),
            "{}",
            notices[0].body
        );
        let escalated = gate::Finding::Escalated {
            incident: incident.id.clone(),
            step: 1,
            at: Timestamp(3),
        };
        assert!(finding_notices(&incident, &escalated).is_empty());
    }
}
