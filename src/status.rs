//! Read models: what the dashboard, the JSON API, the badge and the gRPC `GetStatus` show,
//! built by one pure function ([`build`]) from store data, so the HTML and the JSON never
//! disagree. [`snapshot`] is the thin shell that reads the store, the Tide state and the
//! clock and calls it.

use serde::Serialize;

use crate::app::App;
use crate::bus::tide::TideState;
use crate::config::Config;
use crate::core::figures::{self, Summary};
use crate::core::tide::TideReport;
use crate::model::Run;
use crate::model::{
    AuditRecord, Breach, Cause, Exemption, Incident, IncidentId, IncidentState, JobName, RunRef,
    RunResult, Scope, Suspect, Timestamp,
};

/// Runs shown per job in the strip of recent runs.
pub const RECENT_RUNS: usize = 30;

/// Past (resolved) incidents shown in the history.
pub const HISTORY_LIMIT: usize = 50;

/// Audit records shown.
pub const AUDIT_LIMIT: usize = 50;

/// Everything at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    /// When this view was built.
    pub generated_at: Timestamp,
    /// Whether the plugin changes nothing on GitHub.
    pub dry_run: bool,
    /// Every gated job, in configuration order.
    pub jobs: Vec<JobStatus>,
    /// The incidents that block now or may block again (active, or lifted
    /// provisionally), oldest first.
    pub incidents: Vec<IncidentView>,
    /// Resolved incidents, newest first.
    pub history: Vec<IncidentView>,
    /// The newest audit records (commands and API calls), newest first.
    pub audit: Vec<AuditRecord>,
    pub tide: TideView,
    /// The gate's own figures over the last 30 days (as `GET /api/v1/summary`).
    pub summary: Summary,
}

/// What a job's latest counted run says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Green,
    Red,
    /// No green or red run recorded yet.
    Unknown,
}

/// One gated job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatus {
    pub name: JobName,
    pub scopes: Vec<Scope>,
    /// Whether an active incident of this job blocks its scopes.
    pub blocked: bool,
    /// The active incident, if any.
    pub incident: Option<IncidentId>,
    /// The result of the latest green-or-red run.
    pub health: Health,
    /// The latest green run, if one is recorded.
    pub last_green: Option<RunView>,
    /// Seconds from the latest green run's finish (or start) to now.
    pub since_last_green_seconds: Option<i64>,
    /// The latest runs, oldest first (at most [`RECENT_RUNS`]).
    pub runs: Vec<RunView>,
    /// No finished run for the job's `max_silence`: a warning, never a block.
    pub stale: bool,
    /// Seconds since the latest finished run (any result), or since the plugin started
    /// when none is recorded.
    pub silent_seconds: i64,
}

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunView {
    pub build_id: String,
    pub result: RunResult,
    /// The run's page.
    pub url: String,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

impl From<&Run> for RunView {
    fn from(run: &Run) -> Self {
        Self {
            build_id: run.build_id.to_string(),
            result: run.result,
            url: run.url.clone(),
            started_at: run.started_at,
            finished_at: run.finished_at,
        }
    }
}

/// One incident, with what the dashboard shows about it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentView {
    pub id: IncidentId,
    pub job: JobName,
    /// `active`, `lifted` (provisionally: it may re-block) or `resolved`.
    pub state: &'static str,
    /// How it was resolved: `green-after-lift`, `final`, `auto-recovery`; `null` until.
    pub resolved_how: Option<&'static str>,
    /// How many times it blocked again after a provisional lift.
    pub reblocks: usize,
    /// Each re-block: the red run and the lift it followed.
    pub reblock_history: Vec<crate::model::Reblock>,
    /// Every lift, oldest first.
    pub lifts: Vec<crate::model::Lift>,
    pub opened_at: Timestamp,
    /// Seconds blocked: until now when active, until the lift otherwise.
    pub duration_seconds: i64,
    pub scopes: Vec<ScopeView>,
    /// The job's scopes `infer_scopes` left open: unchanged since the last green run.
    pub scopes_left_open: Vec<Scope>,
    pub cause: Cause,
    /// Later red runs folded into the incident.
    pub folded_runs: Vec<RunRef>,
    /// The green run that ended the regression, if one came.
    pub recovered_by: Option<RunRef>,
    /// How it ended, when lifted.
    pub lifted: Option<Lifted>,
    pub exemptions: Vec<Exemption>,
    pub breaches: Vec<Breach>,
    /// Best-ranked first.
    pub suspects: Vec<Suspect>,
    /// How the suspects were found, per scope.
    pub searches: Vec<crate::model::SuspectSearch>,
    /// `/scalability-revert` requests and their revert PRs.
    pub reverts: Vec<crate::model::Revert>,
    /// `/scalability-rerun` requests, their Gangway executions and results.
    pub reruns: Vec<crate::model::Rerun>,
    /// Escalation steps taken.
    pub escalations: Vec<crate::model::EscalationStep>,
    /// The culprit an approver recorded last: `null`, or `{"pr": N, "mitigation": ..,
    /// "note": ..}` (with who and when).
    pub culprit: Option<crate::model::Culprit>,
    /// The culprits recorded before it, oldest first.
    pub culprit_history: Vec<crate::model::Culprit>,
    /// The failed tests of the first red run, once read from GCS.
    pub failed_tests: Option<crate::model::TestFailures>,
}

/// How an incident ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lifted {
    pub by: String,
    pub reason: String,
    pub at: Timestamp,
}

/// One blocked scope, with links and the Tide check for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScopeView {
    pub repo: String,
    pub branch: String,
    /// Deck's merge-pool page, when `tide.deck_url` is set.
    pub tide_url: Option<String>,
    /// GitHub's list of the open PRs on the branch carrying our label.
    pub labelled_prs_url: String,
    /// GitHub's list of the open blocker issues, when blocker issues are used.
    pub blocker_issues_url: Option<String>,
    /// Whether Tide honours our label here, when Prow's config has been checked.
    pub tide_check: Option<ScopeTideCheck>,
}

/// The Tide exclusion check of one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeTideCheck {
    /// Every Tide query that can merge into the scope lists our label in `missingLabels`.
    pub holds: bool,
    /// The queries that would still merge a labelled PR.
    pub uncovered_queries: Vec<String>,
}

/// The Tide check as a whole.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TideView {
    /// Whether `tide.prow_config` is set.
    pub configured: bool,
    pub prow_config: String,
    /// Deck's base URL, when set.
    pub deck_url: Option<String>,
    /// Whether the latest check passed (label everywhere, blocker issues honoured).
    pub holds: Option<bool>,
    pub checked_at: Option<Timestamp>,
    /// Why the latest read of Prow's config failed, if it did.
    pub error: Option<String>,
    pub report: Option<TideReport>,
}

/// The inputs of [`build`], as read from the store and the shared state.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub config: &'a Config,
    /// Every recorded run per configured job, oldest first, in configuration order.
    pub runs: &'a [(JobName, Vec<Run>)],
    /// Every incident, in any order.
    pub incidents: &'a [Incident],
    /// The newest audit records, newest first.
    pub audit: &'a [AuditRecord],
    pub tide: &'a TideState,
    pub now: Timestamp,
    /// When the plugin started: a job's silence counts from it until a run is seen.
    pub started_at: Timestamp,
}

/// Builds the read model. Pure.
pub fn build(inputs: Inputs<'_>) -> Status {
    let Inputs {
        config,
        runs,
        incidents,
        audit,
        tide,
        now,
        started_at,
    } = inputs;
    let mut active: Vec<&Incident> = incidents.iter().filter(|i| i.is_open()).collect();
    active.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then(a.id.cmp(&b.id)));
    let mut past: Vec<&Incident> = incidents.iter().filter(|i| !i.is_open()).collect();
    past.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(a.id.cmp(&b.id)));
    past.truncate(HISTORY_LIMIT);

    let jobs = config
        .jobs
        .iter()
        .map(|job| {
            let name = JobName::new(&job.name);
            let history: &[Run] = runs
                .iter()
                .find(|(j, _)| j == &name)
                .map_or(&[], |(_, r)| r.as_slice());
            let incident = active
                .iter()
                .find(|i| i.is_active() && i.job == name)
                .map(|i| i.id.clone());
            let mut status = job_status(name, scopes_of(job), incident, history, now);
            let last_finished = history
                .iter()
                .filter_map(|r| r.finished_at.or(r.started_at))
                .max();
            let max_silence = job
                .max_silence
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let silence = figures::silence(last_finished, started_at, max_silence, now);
            status.stale = silence.stale;
            status.silent_seconds = silence.silent_seconds;
            status
        })
        .collect();
    let job_names = job_names(config);

    Status {
        generated_at: now,
        dry_run: config.dry_run,
        jobs,
        incidents: active
            .iter()
            .map(|i| incident_view(i, config, tide, now))
            .collect(),
        history: past
            .iter()
            .map(|i| incident_view(i, config, tide, now))
            .collect(),
        audit: audit.iter().take(AUDIT_LIMIT).cloned().collect(),
        tide: tide_view(config, tide),
        summary: figures::summary(incidents, &job_names, now),
    }
}

/// One incident's view. Pure.
pub fn incident_view(
    incident: &Incident,
    config: &Config,
    tide: &TideState,
    now: Timestamp,
) -> IncidentView {
    let (state, lifted, end) = match &incident.state {
        IncidentState::Active => ("active", None, now),
        IncidentState::Lifted { by, reason, at } => (
            "lifted",
            Some(Lifted {
                by: by.clone(),
                reason: reason.clone(),
                at: *at,
            }),
            *at,
        ),
        IncidentState::Resolved { at, .. } => (
            "resolved",
            incident.lifts.last().map(|l| Lifted {
                by: l.by.clone(),
                reason: l.reason.clone(),
                at: *at,
            }),
            *at,
        ),
    };
    let mut suspects = incident.suspects.clone();
    suspects.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.pr.cmp(&b.pr)));
    IncidentView {
        id: incident.id.clone(),
        job: incident.job.clone(),
        state,
        resolved_how: incident.resolved_how().map(|h| h.as_str()),
        reblocks: incident.reblocks.len(),
        reblock_history: incident.reblocks.clone(),
        lifts: incident.lifts.clone(),
        opened_at: incident.opened_at,
        duration_seconds: incident.opened_at.seconds_until(end),
        scopes: incident
            .scopes
            .iter()
            .map(|s| scope_view(s, config, tide))
            .collect(),
        scopes_left_open: incident.scopes_left_open.clone(),
        cause: incident.cause.clone(),
        folded_runs: incident.folded_runs.clone(),
        recovered_by: incident.recovered_by.clone(),
        lifted,
        exemptions: incident.exemptions.clone(),
        breaches: incident.breaches.clone(),
        suspects,
        searches: incident.searches.clone(),
        reverts: incident.reverts.clone(),
        reruns: incident.reruns.clone(),
        escalations: incident.escalations.clone(),
        culprit: incident.culprit.clone(),
        culprit_history: incident.culprit_history.clone(),
        failed_tests: incident.failed_tests.clone(),
    }
}

/// Whether `job` is blocked now: an active incident of it exists.
pub fn is_blocked(incidents: &[Incident], job: &str) -> bool {
    incidents
        .iter()
        .any(|i| i.is_active() && i.job.as_str() == job)
}

fn scopes_of(job: &crate::config::JobConfig) -> Vec<Scope> {
    job.scopes
        .iter()
        .filter_map(|s| {
            Some(Scope {
                repo: crate::model::RepoName::parse(&s.repo).ok()?,
                branch: s.branch.clone(),
            })
        })
        .collect()
}

fn job_status(
    name: JobName,
    scopes: Vec<Scope>,
    incident: Option<IncidentId>,
    history: &[Run],
    now: Timestamp,
) -> JobStatus {
    let counted = history
        .iter()
        .rev()
        .find(|r| r.result.is_green() || r.result.is_red());
    let health = match counted {
        Some(r) if r.result.is_green() => Health::Green,
        Some(_) => Health::Red,
        None => Health::Unknown,
    };
    let last_green = history.iter().rev().find(|r| r.result.is_green());
    let since_last_green_seconds = last_green
        .and_then(|r| r.finished_at.or(r.started_at))
        .map(|t| t.seconds_until(now));
    let start = history.len().saturating_sub(RECENT_RUNS);
    JobStatus {
        name,
        scopes,
        blocked: incident.is_some(),
        incident,
        health,
        last_green: last_green.map(RunView::from),
        since_last_green_seconds,
        runs: history[start..].iter().map(RunView::from).collect(),
        stale: false,
        silent_seconds: 0,
    }
}

fn scope_view(scope: &Scope, config: &Config, tide: &TideState) -> ScopeView {
    let repo = scope.repo.to_string();
    let deck = config.tide.deck_url.trim().trim_end_matches('/');
    let tide_check = tide.report.as_ref().and_then(|report| {
        report
            .scopes
            .iter()
            .find(|c| &c.scope == scope)
            .map(|c| ScopeTideCheck {
                holds: c.covered(),
                uncovered_queries: c
                    .uncovered()
                    .map(|q| format!("tide.queries[{}] ({})", q.index, q.description))
                    .collect(),
            })
    });
    let blocker = config.tide.blocker_label.trim();
    ScopeView {
        tide_url: (!deck.is_empty()).then(|| format!("{deck}/tide")),
        labelled_prs_url: format!(
            "https://github.com/{repo}/pulls?q={}",
            query_escape(&format!(
                "is:pr is:open base:{} label:\"{}\"",
                scope.branch, config.label
            ))
        ),
        blocker_issues_url: (!blocker.is_empty()).then(|| {
            format!(
                "https://github.com/{repo}/issues?q={}",
                query_escape(&format!("is:issue is:open label:\"{blocker}\""))
            )
        }),
        repo,
        branch: scope.branch.clone(),
        tide_check,
    }
}

fn tide_view(config: &Config, tide: &TideState) -> TideView {
    let deck = config.tide.deck_url.trim().trim_end_matches('/');
    TideView {
        configured: !tide.prow_config.trim().is_empty(),
        prow_config: tide.prow_config.clone(),
        deck_url: (!deck.is_empty()).then(|| deck.to_string()),
        holds: tide.report.as_ref().map(TideReport::holds),
        checked_at: tide.checked_at,
        error: tide.error.clone(),
        report: tide.report.clone(),
    }
}

/// Percent-encodes a URL query value (RFC 3986 unreserved characters pass).
pub fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Reads the store, the Tide state and the clock, and builds the read model.
pub fn snapshot(app: &App) -> anyhow::Result<Status> {
    let runs = app
        .config
        .jobs
        .iter()
        .map(|j| {
            let name = JobName::new(&j.name);
            let runs = app.store.runs(&name)?;
            Ok((name, runs))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let incidents = app.store.all_incidents()?;
    let audit = app.store.audit_log(AUDIT_LIMIT)?;
    let tide = tide_now(app);
    Ok(build(Inputs {
        config: &app.config,
        runs: &runs,
        incidents: &incidents,
        audit: &audit,
        tide: &tide,
        now: app.clock.now(),
        started_at: app.started_at,
    }))
}

/// The shared Tide state without Prow's parsed queries (the views never need them).
fn tide_now(app: &App) -> TideState {
    let tide = app.tide.read().unwrap_or_else(|e| e.into_inner());
    TideState {
        prow_config: tide.prow_config.clone(),
        report: tide.report.clone(),
        error: tide.error.clone(),
        checked_at: tide.checked_at,
        prow: None,
        live: tide.live.clone(),
        deck_error: tide.deck_error.clone(),
    }
}

/// The names of the configured jobs, in the config's order.
fn job_names(config: &Config) -> Vec<JobName> {
    config.jobs.iter().map(|j| JobName::new(&j.name)).collect()
}

/// The gate's own figures over the last 30 days, from the incidents in the store.
pub fn summary_snapshot(app: &App) -> anyhow::Result<Summary> {
    let incidents = app.store.all_incidents()?;
    let jobs = job_names(&app.config);
    Ok(figures::summary(&incidents, &jobs, app.clock.now()))
}

/// Per configured job (and per job of a stored incident), the figures `/metrics` exports:
/// staleness from the latest runs, and the tallies over every incident in the store.
pub fn metric_figures(app: &App) -> anyhow::Result<Vec<crate::telemetry::JobFigures>> {
    let now = app.clock.now();
    let incidents = app.store.all_incidents()?;
    let jobs = job_names(&app.config);
    let tallies = figures::tally_per_job(&incidents, &jobs, None, now);
    tallies
        .into_iter()
        .map(|(job, tally)| {
            let stale = match app.config.job(job.as_str()) {
                Some(config) => {
                    let last_finished = app
                        .store
                        .last_runs(&job, RECENT_RUNS)?
                        .iter()
                        .filter_map(|r| r.finished_at.or(r.started_at))
                        .max();
                    let max = config
                        .max_silence
                        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
                    figures::silence(last_finished, app.started_at, max, now).stale
                }
                None => false,
            };
            Ok(crate::telemetry::JobFigures {
                job: job.to_string(),
                stale,
                incidents: tally.incidents,
                reblocks: tally.reblocks,
                false_blocks: tally.false_blocks,
                blocked_seconds: tally.blocked_seconds,
                time_to_block_seconds: tally.time_to_block,
            })
        })
        .collect()
}

/// One incident's view, if it exists.
pub fn incident_snapshot(app: &App, id: &str) -> anyhow::Result<Option<IncidentView>> {
    let Some(incident) = app.store.incident(&IncidentId::new(id))? else {
        return Ok(None);
    };
    let tide = tide_now(app);
    Ok(Some(incident_view(
        &incident,
        &app.config,
        &tide,
        app.clock.now(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JobConfig;
    use crate::model::{BuildId, Channel, Login, PrNumber, RepoName};

    const JOB: &str = "ci-scale-100";

    fn config() -> Config {
        Config {
            jobs: vec![JobConfig::new(JOB, "kubernetes/kubernetes", "master")],
            ..Config::default()
        }
    }

    fn run(build: u64, at: i64, result: RunResult) -> Run {
        Run {
            job: JobName::new(JOB),
            build_id: BuildId::new(build.to_string()),
            result,
            started_at: Some(Timestamp(at)),
            finished_at: Some(Timestamp(at + 100)),
            url: format!("https://prow.example/view/{build}"),
            gcs_path: String::new(),
            commits: Default::default(),
            channel: Channel::Api,
        }
    }

    fn incident(id: &str, opened: i64, state: IncidentState) -> Incident {
        let r = RunRef::from(&run(2, 2000, RunResult::Failure));
        Incident {
            id: IncidentId::new(id),
            job: JobName::new(JOB),
            opened_at: Timestamp(opened),
            cause: Cause::Regression {
                first_red: r.clone(),
                last_green: r,
            },
            scopes_left_open: Vec::new(),
            scopes: vec![Scope {
                repo: RepoName::new("kubernetes", "kubernetes"),
                branch: "master".into(),
            }],
            state,
            folded_runs: vec![],
            recovered_by: None,
            exemptions: vec![],
            breaches: vec![],
            searches: Vec::new(),
            reverts: Vec::new(),
            reruns: Vec::new(),
            escalations: Vec::new(),
            lifts: Vec::new(),
            reblocks: Vec::new(),
            failed_tests: None,
            culprit: None,
            culprit_history: Vec::new(),
            suspects: vec![suspect(1, 0.2), suspect(2, 0.9), suspect(3, 0.5)],
            issue_opened_at: None,
        }
    }

    fn suspect(pr: u64, score: f64) -> Suspect {
        Suspect {
            repo: RepoName::new("kubernetes", "kubernetes"),
            pr: PrNumber(pr),
            title: format!("PR {pr}"),
            author: Login::new("a"),
            merged_at: None,
            score,
            reasons: vec![],
            merge_commit: None,
            reverts: None,
        }
    }

    #[test]
    fn job_health_last_green_and_strip() {
        let config = config();
        let runs = vec![(
            JobName::new(JOB),
            vec![
                run(1, 1000, RunResult::Success),
                run(2, 2000, RunResult::Failure),
                run(3, 3000, RunResult::Aborted),
            ],
        )];
        let incidents = vec![incident("i1", 2500, IncidentState::Active)];
        let status = build(Inputs {
            config: &config,
            runs: &runs,
            incidents: &incidents,
            audit: &[],
            tide: &TideState::default(),
            now: Timestamp(5000),
            started_at: Timestamp(0),
        });
        let job = &status.jobs[0];
        assert_eq!(job.health, Health::Red, "aborted runs do not count");
        assert!(job.blocked);
        assert_eq!(job.incident, Some(IncidentId::new("i1")));
        assert_eq!(job.last_green.as_ref().unwrap().build_id, "1");
        assert_eq!(job.since_last_green_seconds, Some(5000 - 1100));
        assert_eq!(job.runs.len(), 3);
        assert_eq!(status.incidents.len(), 1);
        assert_eq!(status.incidents[0].duration_seconds, 2500);
        let scores: Vec<u64> = status.incidents[0]
            .suspects
            .iter()
            .map(|s| s.pr.0)
            .collect();
        assert_eq!(scores, vec![2, 3, 1], "best-ranked suspect first");
        assert!(status.incidents[0].scopes[0].tide_url.is_none());
    }

    #[test]
    fn strip_is_bounded_and_unknown_without_runs() {
        let config = config();
        let many: Vec<Run> = (0..100)
            .map(|i| run(i, i as i64 * 10, RunResult::Success))
            .collect();
        let runs = vec![(JobName::new(JOB), many)];
        let status = build(Inputs {
            config: &config,
            runs: &runs,
            incidents: &[],
            audit: &[],
            tide: &TideState::default(),
            now: Timestamp(5000),
            started_at: Timestamp(0),
        });
        assert_eq!(status.jobs[0].runs.len(), RECENT_RUNS);
        assert_eq!(status.jobs[0].runs.last().unwrap().build_id, "99");
        assert_eq!(status.jobs[0].health, Health::Green);
        assert!(!status.jobs[0].blocked);

        let empty = build(Inputs {
            config: &config,
            runs: &[],
            incidents: &[],
            audit: &[],
            tide: &TideState::default(),
            now: Timestamp(5000),
            started_at: Timestamp(0),
        });
        assert_eq!(empty.jobs[0].health, Health::Unknown);
        assert_eq!(empty.jobs[0].since_last_green_seconds, None);
    }

    #[test]
    fn lifted_incidents_go_to_history_with_their_duration() {
        let mut config = config();
        config.tide.deck_url = "https://prow.k8s.io/".into();
        let lifted = IncidentState::Resolved {
            how: crate::model::ResolvedHow::Final,
            at: Timestamp(4000),
        };
        let lift = crate::model::Lift {
            by: "alice".into(),
            reason: "flake".into(),
            at: Timestamp(4000),
            final_lift: true,
        };
        let mut incidents = vec![
            incident("old", 1000, lifted.clone()),
            incident("older", 500, lifted),
            incident("now", 4500, IncidentState::Active),
        ];
        incidents[0].lifts.push(lift.clone());
        incidents[1].lifts.push(lift);
        let status = build(Inputs {
            config: &config,
            runs: &[],
            incidents: &incidents,
            audit: &[],
            tide: &TideState::default(),
            now: Timestamp(5000),
            started_at: Timestamp(0),
        });
        let ids: Vec<&str> = status.history.iter().map(|i| i.id.as_str()).collect();
        assert_eq!(ids, vec!["old", "older"], "newest first");
        assert_eq!(status.history[0].duration_seconds, 3000);
        assert_eq!(status.history[0].lifted.as_ref().unwrap().by, "alice");
        assert_eq!(status.incidents[0].duration_seconds, 500);
        assert_eq!(
            status.incidents[0].scopes[0].tide_url.as_deref(),
            Some("https://prow.k8s.io/tide")
        );
        assert_eq!(status.tide.deck_url.as_deref(), Some("https://prow.k8s.io"));
        assert!(is_blocked(&incidents, JOB));
        assert!(!is_blocked(&incidents, "other"));
    }

    #[test]
    fn a_job_silent_past_max_silence_is_stale() {
        let mut config = config();
        config.jobs[0].max_silence = Some(std::time::Duration::from_secs(3600));
        let runs = vec![(JobName::new(JOB), vec![run(1, 1000, RunResult::Aborted)])];
        let at = |config: &Config, now: i64, runs: &[(JobName, Vec<Run>)]| {
            let s = build(Inputs {
                config,
                runs,
                incidents: &[],
                audit: &[],
                tide: &TideState::default(),
                now: Timestamp(now),
                started_at: Timestamp(500),
            });
            (s.jobs[0].stale, s.jobs[0].silent_seconds)
        };
        // Finished at 1100 (any result counts as a finished run).
        assert_eq!(at(&config, 4699, &runs), (false, 3599));
        assert_eq!(at(&config, 4700, &runs), (true, 3600));
        // No run ever seen: counted from the plugin's start.
        assert_eq!(at(&config, 4100, &[]), (true, 3600));
        config.jobs[0].max_silence = None;
        assert_eq!(
            at(&config, 99_999, &runs),
            (false, 98_899),
            "off: never stale"
        );
    }

    #[test]
    fn query_escape_encodes_reserved_characters() {
        assert_eq!(query_escape("a b:\"c\"/d"), "a%20b%3A%22c%22%2Fd");
        assert_eq!(query_escape("é"), "%C3%A9");
    }
}
