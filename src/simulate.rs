//! `scalability-gate simulate`: feeds a recorded sequence of runs, comments and PR events
//! through the real detector, gate and reconciler against the in-memory fake GitHub, and
//! prints the timeline — each decision and each GitHub request made. Operators use it to
//! check a configuration before going live. Built only with the `fake` cargo feature, as
//! the fake is (`cargo run --features fake -- simulate ...`).
//!
//! The events file (YAML):
//!
//! ```yaml
//! github:                       # the fake GitHub's state before the first event
//!   login: scalability-gate-bot # the token's owner (the plugin's own login)
//!   teams:
//!     kubernetes/sig-scalability-leads: [wojtek-t]
//!   repos:
//!     kubernetes/kubernetes:
//!       pulls:                  # numbered 1, 2, ... in this order
//!         - {base: master, labels: [lgtm, approved], author: alice}
//! events:
//!   - at: 2026-11-25T08:00:00Z
//!     run: {job: ci-kubernetes-e2e-gce-scale-performance-100, build: "100", result: success}
//!   - at: 2026-11-25T11:00:00Z
//!     comment: {repo: kubernetes/kubernetes, number: 1, author: mallory, body: /scalability-unblock}
//!   - at: 2026-11-25T11:05:00Z
//!     pr: {repo: kubernetes/kubernetes, number: 2, action: labeled, label: approved}
//! ```

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use serde::Deserialize;

use crate::Store;
use crate::bus::event::{CommentAction, Event, IssueComment, PrAction, PullRequestEvent};
use crate::config::Config;
use crate::consumer::gating::{Applied, Gatekeeper};
use crate::consumer::membership::{Approvers, OwnLogin};
use crate::core::detector::Outcome;
use crate::core::gate::{Decision, Intent};
use crate::github::fake::{FakeGithub, PrSpec};
use crate::github::{Client, ClientOptions};
use crate::model::{
    BuildId, Channel, CommitSha, IncidentState, JobName, Login, PrNumber, RepoName, Run, RunResult,
    Timestamp,
};
use crate::reconcile::Reconciler;

/// A whole events file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EventsFile {
    #[serde(default)]
    pub github: InitialGithub,
    pub events: Vec<TimedEvent>,
}

/// The fake GitHub's state before the first event.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct InitialGithub {
    /// The plugin's own login (the token's owner).
    pub login: String,
    /// `org/team-slug` → member logins.
    pub teams: BTreeMap<String, Vec<String>>,
    /// `org/repo` → its state.
    pub repos: BTreeMap<String, InitialRepo>,
}

impl Default for InitialGithub {
    fn default() -> Self {
        Self {
            login: "scalability-gate-bot".into(),
            teams: BTreeMap::new(),
            repos: BTreeMap::new(),
        }
    }
}

/// One repository of the fake.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct InitialRepo {
    /// Open pull requests, numbered 1, 2, ... in this order.
    pub pulls: Vec<InitialPull>,
}

/// One open pull request of the fake.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InitialPull {
    #[serde(default = "master")]
    pub base: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default = "someone")]
    pub author: String,
    #[serde(default)]
    pub title: String,
}

fn master() -> String {
    "master".into()
}

fn someone() -> String {
    "contributor".into()
}

/// One event at a time (RFC 3339).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TimedEvent {
    pub at: String,
    #[serde(flatten)]
    pub what: SimEvent,
}

/// What happens.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum SimEvent {
    /// A finished run of a job.
    Run(SimRun),
    /// A new comment on a PR or issue.
    Comment(SimComment),
    /// Something done to a PR.
    Pr(SimPr),
}

/// A finished run.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimRun {
    pub job: String,
    pub build: String,
    pub result: RunResult,
    #[serde(default)]
    pub url: String,
}

/// A new comment.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimComment {
    pub repo: String,
    pub number: u64,
    pub author: String,
    pub body: String,
}

/// What is done to a PR.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum SimPrAction {
    Opened,
    Synchronize,
    Labeled,
    Unlabeled,
    Closed,
    Merged,
}

/// Something done to a PR (applied to the fake, then delivered as a `pull_request` event).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SimPr {
    pub repo: String,
    pub number: u64,
    pub action: SimPrAction,
    /// For `labeled` / `unlabeled`.
    #[serde(default)]
    pub label: String,
    /// For `opened` (the new PR takes the next number; `number` must be it).
    #[serde(default = "master")]
    pub base: String,
    /// For `opened`: the labels it starts with.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Who did it.
    #[serde(default = "someone")]
    pub sender: String,
}

impl EventsFile {
    /// Reads and checks an events file; errors name the event.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading events file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("events file {}", path.display()))
    }

    /// Parses and checks the YAML text.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: EventsFile = serde_yaml::from_str(text).context("parsing YAML")?;
        for repo in file.github.repos.keys() {
            RepoName::parse(repo).with_context(|| format!("github.repos: {repo}"))?;
        }
        for (i, event) in file.events.iter().enumerate() {
            crate::model::Timestamp::parse_rfc3339(&event.at)
                .with_context(|| format!("events[{i}].at: {:?} is not RFC 3339", event.at))?;
            let repo = match &event.what {
                SimEvent::Run(_) => None,
                SimEvent::Comment(c) => Some(&c.repo),
                SimEvent::Pr(p) => Some(&p.repo),
            };
            if let Some(repo) = repo {
                RepoName::parse(repo).with_context(|| format!("events[{i}].repo"))?;
            }
        }
        Ok(file)
    }
}

/// Runs `events` through the real detector, gate, store and reconciler against an
/// in-memory fake GitHub seeded from the file, writing the timeline to `out`. The fake is
/// the only GitHub: `dry_run` and `github.endpoints` of `config` are overridden, so
/// mutations are made (on the fake) and shown.
pub async fn run(config: Config, events: &EventsFile, out: &mut dyn Write) -> anyhow::Result<()> {
    let fake = FakeGithub::start()
        .await
        .context("starting the fake GitHub")?;
    seed(&fake, &events.github);
    let mut config = config;
    config.dry_run = false;
    config.github.endpoints = vec![fake.url()];
    let config = Arc::new(config);
    let mut options = ClientOptions::new(vec![fake.url()], Some(fake.token()));
    options.mutations_per_minute = u32::MAX;
    options.mutations_per_hour = u32::MAX;
    let client = Client::new(options)?;
    let store = Store::temporary()?.with_audit_retention(config.history.audit_retention);
    let tide = crate::bus::tide::shared(&config);
    let approvers = Arc::new(Approvers::new(&config, Some(client.clone())));
    let own_login = OwnLogin::known(Login::new(&events.github.login));
    let gate = Gatekeeper::new(config.clone(), store.clone(), approvers, own_login, tide);
    let reconciler = Reconciler::new(client, config.clone(), store.clone());

    writeln!(
        out,
        "simulating {} event(s) against an in-memory GitHub (login {})",
        events.events.len(),
        events.github.login
    )?;
    for (i, timed) in events.events.iter().enumerate() {
        let now = Timestamp::parse_rfc3339(&timed.at).with_context(|| format!("events[{i}].at"))?;
        let mark = fake.request_count();
        writeln!(out, "\n{now}  {}", describe(&timed.what))?;
        let decision = match &timed.what {
            SimEvent::Run(r) => {
                let run = Run {
                    job: JobName::new(&r.job),
                    build_id: BuildId::new(&r.build),
                    result: r.result,
                    started_at: Some(now),
                    finished_at: Some(now),
                    url: if r.url.is_empty() {
                        format!("https://prow.k8s.io/view/gs/sim/logs/{}/{}", r.job, r.build)
                    } else {
                        r.url.clone()
                    },
                    gcs_path: String::new(),
                    commits: Default::default(),
                    channel: Channel::Manual,
                };
                let outcome = crate::consumer::record_and_detect(&store, &config, &run)
                    .with_context(|| format!("events[{i}]"))?;
                writeln!(out, "  detector: {}", outcome_text(&outcome))?;
                gate.on_outcome(&run.job, &outcome, now)?
            }
            SimEvent::Comment(c) => decide_event(&gate, &comment_event(&fake, c)?, now).await?,
            SimEvent::Pr(p) => decide_event(&gate, &pr_event(&fake, p)?, now).await?,
        };
        print_decision(out, &decision)?;
        act(&reconciler, &decision, out).await?;
        for request in fake.requests().iter().skip(mark) {
            let star = if request.is_mutation() { "*" } else { " " };
            let query = if request.query.is_empty() {
                String::new()
            } else {
                format!("?{}", request.query)
            };
            writeln!(
                out,
                "  github {star} {} {}{} -> {}",
                request.method, request.path, query, request.status
            )?;
        }
    }
    let requests = fake.requests();
    writeln!(
        out,
        "\n{} GitHub request(s), {} of them mutations (marked *)",
        requests.len(),
        requests.iter().filter(|r| r.is_mutation()).count()
    )?;
    Ok(())
}

/// Decides `event` as the running plugin does, asking GitHub about a command's author in
/// line (the plugin asks in the background and decides once it knows).
async fn decide_event(
    gate: &Gatekeeper,
    event: &Event,
    now: Timestamp,
) -> anyhow::Result<Decision> {
    match gate.on_event(event, None, now)? {
        Applied::Decided(decision) => Ok(decision),
        Applied::NeedsApproval(author) => {
            let approval = gate.approvers().lookup(&author).await;
            gate.approvers().learn_base(event).await;
            match gate.on_event(event, Some(approval), now)? {
                Applied::Decided(decision) => Ok(decision),
                Applied::NeedsApproval(_) => anyhow::bail!(
                    "the gate asked again about {author}, whose approval it was given"
                ),
            }
        }
    }
}

/// Loads the fake with the file's initial state.
fn seed(fake: &FakeGithub, github: &InitialGithub) {
    fake.set_login(&github.login);
    for (team, members) in &github.teams {
        for member in members {
            fake.add_team_member(team, member);
        }
    }
    for (repo, state) in &github.repos {
        fake.add_repo(repo);
        for pull in &state.pulls {
            let labels: Vec<&str> = pull.labels.iter().map(String::as_str).collect();
            let mut spec = PrSpec::new(&pull.base).labels(&labels).author(&pull.author);
            if !pull.title.is_empty() {
                spec = spec.title(&pull.title);
            }
            fake.add_pr(repo, spec);
        }
    }
}

/// Does what the running plugin's reconciler would: a PR labelled now, then a full pass
/// (issues, replies, lifts, labels).
async fn act(
    reconciler: &Reconciler,
    decision: &Decision,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for intent in &decision.intents {
        if let Intent::LabelPr { repo, pr } = intent {
            reconciler.label_pr_now(repo, *pr).await?;
        }
    }
    let wants_pass = decision.intents.contains(&Intent::Reconcile) || !decision.replies.is_empty();
    if wants_pass {
        let report = reconciler.reconcile().await?;
        if !report.converged() {
            writeln!(out, "  reconcile: not converged: {:?}", report.errors)?;
        }
    }
    Ok(())
}

fn describe(event: &SimEvent) -> String {
    match event {
        SimEvent::Run(r) => format!("run {} #{}: {}", r.job, r.build, r.result.as_str()),
        SimEvent::Comment(c) => format!(
            "{} comments on {}#{}: {:?}",
            c.author, c.repo, c.number, c.body
        ),
        SimEvent::Pr(p) => {
            let label = if p.label.is_empty() {
                String::new()
            } else {
                format!(" {}", p.label)
            };
            format!("{} {:?}{label} {}#{}", p.sender, p.action, p.repo, p.number).to_lowercase()
        }
    }
}

fn outcome_text(outcome: &Outcome) -> String {
    match outcome {
        Outcome::None => "no transition".into(),
        Outcome::Regression {
            first_red,
            last_green,
        } => format!(
            "REGRESSION (last green {}, first red {})",
            last_green.build_id, first_red.build_id
        ),
        Outcome::Recovery { green } => format!("RECOVERY (green {})", green.build_id),
    }
}

fn print_decision(out: &mut dyn Write, decision: &Decision) -> anyhow::Result<()> {
    if decision.is_empty() {
        writeln!(out, "  gate: nothing to do")?;
    }
    for incident in &decision.incidents {
        let state = match &incident.state {
            IncidentState::Active => "active".to_string(),
            IncidentState::Lifted { by, .. } => format!("lifted by {by}"),
            IncidentState::Resolved { how, .. } => format!("resolved ({})", how.as_str()),
        };
        let scopes: Vec<String> = incident.scopes.iter().map(|s| s.to_string()).collect();
        let mut extra = String::new();
        if !incident.folded_runs.is_empty() {
            extra.push_str(&format!(", {} folded run(s)", incident.folded_runs.len()));
        }
        if let Some(green) = &incident.recovered_by {
            extra.push_str(&format!(", recovered by {}", green.build_id));
        }
        if !incident.exemptions.is_empty() {
            let prs: Vec<String> = incident
                .exemptions
                .iter()
                .map(|e| e.pr.to_string())
                .collect();
            extra.push_str(&format!(", exempt {}", prs.join(" ")));
        }
        writeln!(
            out,
            "  gate: incident {} [{}] over {}{extra}",
            incident.id,
            state,
            scopes.join(", ")
        )?;
    }
    for intent in &decision.intents {
        match intent {
            Intent::Reconcile => {}
            Intent::LabelPr { repo, pr } => writeln!(out, "  gate: label {repo}{pr} now")?,
            Intent::Rerun => writeln!(out, "  gate: re-run the job through Gangway")?,
        }
    }
    for record in &decision.audit {
        writeln!(
            out,
            "  audit: {} {} on {}: {}",
            record.who, record.command, record.target, record.outcome
        )?;
    }
    for reply in &decision.replies {
        let first = crate::comment::reply(reply);
        let first = first.lines().next().unwrap_or_default().to_string();
        writeln!(out, "  reply on {}{}: {}", reply.repo, reply.number, first)?;
    }
    Ok(())
}

/// The `issue_comment` event of a new comment, posted on the fake first.
fn comment_event(fake: &FakeGithub, c: &SimComment) -> anyhow::Result<Event> {
    let repo = RepoName::parse(&c.repo)?;
    let issue = fake
        .issue(&c.repo, c.number)
        .with_context(|| format!("{}#{} does not exist on the fake", c.repo, c.number))?;
    let id = fake.add_comment(&c.repo, c.number, &c.author, &c.body);
    Ok(Event::IssueComment(IssueComment {
        action: CommentAction::Created,
        repo,
        number: PrNumber(c.number),
        is_pr: issue.is_pull_request(),
        issue_title: issue.title.clone(),
        issue_labels: issue.labels.iter().map(|l| l.name.clone()).collect(),
        author: Login::new(&c.author),
        author_is_bot: c.author.ends_with("[bot]"),
        comment_id: id,
        body: c.body.clone(),
        html_url: String::new(),
    }))
}

/// Applies a PR change to the fake, then builds its `pull_request` event.
fn pr_event(fake: &FakeGithub, p: &SimPr) -> anyhow::Result<Event> {
    let repo = RepoName::parse(&p.repo)?;
    let action = match p.action {
        SimPrAction::Opened => {
            let labels: Vec<&str> = p.labels.iter().map(String::as_str).collect();
            let number = fake.add_pr(&p.repo, PrSpec::new(&p.base).labels(&labels));
            anyhow::ensure!(
                number == p.number,
                "opened PR got number {number}, not {}",
                p.number
            );
            PrAction::Opened
        }
        SimPrAction::Synchronize => PrAction::Synchronize,
        SimPrAction::Labeled => {
            fake.add_pr_label(&p.repo, p.number, &p.label);
            PrAction::Labeled {
                label: p.label.clone(),
            }
        }
        SimPrAction::Unlabeled => {
            fake.remove_pr_label(&p.repo, p.number, &p.label);
            PrAction::Unlabeled {
                label: p.label.clone(),
            }
        }
        SimPrAction::Closed => {
            fake.close(&p.repo, p.number, false);
            PrAction::Closed { merged: false }
        }
        SimPrAction::Merged => {
            fake.close(&p.repo, p.number, true);
            PrAction::Closed { merged: true }
        }
    };
    let pull = fake
        .pull(&p.repo, p.number)
        .with_context(|| format!("PR {}#{} does not exist on the fake", p.repo, p.number))?;
    let merged = matches!(p.action, SimPrAction::Merged);
    Ok(Event::PullRequest(PullRequestEvent {
        action,
        repo,
        number: PrNumber(p.number),
        base_ref: pull.base.branch.clone(),
        head_sha: CommitSha::new(&pull.head.sha),
        title: pull.title.clone(),
        author: Login::new(&pull.user.login),
        labels: pull.labels.iter().map(|l| l.name.clone()).collect(),
        merged_at: None,
        merge_commit_sha: None,
        merged_by: merged.then(|| Login::new(&p.sender)),
        sender: Login::new(&p.sender),
        sender_is_bot: p.sender.ends_with("[bot]"),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_events_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/events.yaml");
        let file = EventsFile::load(&path).unwrap();
        assert!(file.events.len() >= 5);
        assert!(matches!(file.events[0].what, SimEvent::Run(_)));
    }

    #[test]
    fn bad_events_are_named() {
        let err = EventsFile::parse(
            "events:\n- at: yesterday\n  run: {job: j, build: '1', result: success}\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("events[0].at"), "{err:#}");
        let err = EventsFile::parse(
            "events:\n- at: 2026-01-01T00:00:00Z\n  run: {job: j, build: '1', result: purple}\n",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("purple"), "{err:#}");
    }
}
