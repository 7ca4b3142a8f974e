//! Our own types, named from the design's vocabulary: job, run, result, scope, incident,
//! suspect, exemption. Everything past the edges (webhooks, Prow sources, GitHub) speaks
//! these, never raw payload strings.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch. The core never reads a clock: time is passed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 (`2026-11-25T17:57:39Z`, fractions allowed).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = humantime::parse_rfc3339_weak(text.trim()).ok()?;
        let secs = match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        Some(Self(secs))
    }

    /// RFC 3339 in UTC, to the second. Times outside 1970..=9999 (a `started.json` may
    /// say anything) are shown clamped: RFC 3339 has four-digit years, and the formatter
    /// fails (a panic in `to_string`) past 9999.
    pub fn to_rfc3339(self) -> String {
        const LAST_SECOND_OF_9999: u64 = 253_402_300_799;
        let secs = u64::try_from(self.0).unwrap_or(0).min(LAST_SECOND_OF_9999);
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        humantime::format_rfc3339_seconds(t).to_string()
    }

    /// Seconds from `self` to `later` (zero when `later` is earlier).
    pub fn seconds_until(self, later: Timestamp) -> i64 {
        later.0.saturating_sub(self.0).max(0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// `org/repo`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RepoName {
    pub org: String,
    pub repo: String,
}

impl RepoName {
    pub fn new(org: impl Into<String>, repo: impl Into<String>) -> Self {
        Self {
            org: org.into(),
            repo: repo.into(),
        }
    }

    /// Parses `org/repo`; anything else is an error naming the text.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        match text.split_once('/') {
            Some((org, repo)) if !org.is_empty() && !repo.is_empty() && !repo.contains('/') => {
                Ok(Self::new(org, repo))
            }
            _ => Err(ModelError::RepoName(text.to_string())),
        }
    }
}

impl fmt::Display for RepoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.org, self.repo)
    }
}

impl TryFrom<String> for RepoName {
    type Error = ModelError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RepoName> for String {
    fn from(value: RepoName) -> Self {
        value.to_string()
    }
}

/// Errors of parsing our own types.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("{0:?} is not of the form org/repo")]
    RepoName(String),
}

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

string_newtype!(
    /// A gated periodic Prow job's exact name.
    JobName
);
string_newtype!(
    /// One run of a job (Prow's `build_id`).
    BuildId
);
string_newtype!(
    /// A git commit SHA.
    CommitSha
);
string_newtype!(
    /// An incident's stable id, used in markers: `<!-- scalability-gate:<id>:<kind> -->`.
    IncidentId
);
string_newtype!(
    /// A GitHub login.
    Login
);

/// A pull request or issue number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PrNumber(pub u64);

impl fmt::Display for PrNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// `(org/repo, branch)` that a job's regression blocks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Scope {
    pub repo: RepoName,
    pub branch: String,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.repo, self.branch)
    }
}

/// The result of a finished run. Only `Success` is green and only `Failure` is red.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunResult {
    Success,
    Failure,
    Aborted,
    Error,
}

impl RunResult {
    /// Maps Prow's `ProwJobState`; `None` for states that are not final.
    pub fn from_prow_state(state: &str) -> Option<Self> {
        match state.to_ascii_lowercase().as_str() {
            "success" => Some(Self::Success),
            "failure" => Some(Self::Failure),
            "aborted" => Some(Self::Aborted),
            "error" => Some(Self::Error),
            _ => None,
        }
    }

    pub fn is_green(self) -> bool {
        self == Self::Success
    }

    pub fn is_red(self) -> bool {
        self == Self::Failure
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Aborted => "aborted",
            Self::Error => "error",
        }
    }
}

/// Which channel delivered a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Deck,
    PubsubPull,
    PubsubPush,
    Gangway,
    Api,
    Gcs,
    Manual,
}

/// One finished execution of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Run {
    pub job: JobName,
    pub build_id: BuildId,
    pub result: RunResult,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// The run's page (Prow's `status.url`).
    pub url: String,
    /// `gs://bucket/logs/job/build` when known.
    pub gcs_path: String,
    /// The tested commit per repo, when known (from GCS artifacts).
    #[serde(default)]
    pub commits: BTreeMap<RepoName, CommitSha>,
    pub channel: Channel,
}

impl Run {
    /// The order runs are judged in: start time, then build id (numeric when both are).
    pub fn order_key(&self) -> (Timestamp, u128, String) {
        (
            self.started_at.or(self.finished_at).unwrap_or(Timestamp(0)),
            self.build_id.0.parse::<u128>().unwrap_or(0),
            self.build_id.0.clone(),
        )
    }
}

/// A short reference to a run, kept on incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRef {
    pub build_id: BuildId,
    pub url: String,
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    pub commits: BTreeMap<RepoName, CommitSha>,
    /// When the run finished, when known (absent in records stored before issue 18).
    #[serde(default)]
    pub finished_at: Option<Timestamp>,
}

impl From<&Run> for RunRef {
    fn from(run: &Run) -> Self {
        Self {
            build_id: run.build_id.clone(),
            url: run.url.clone(),
            started_at: run.started_at,
            commits: run.commits.clone(),
            finished_at: run.finished_at,
        }
    }
}

/// Why an incident was opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Cause {
    /// The job went green → red.
    Regression {
        first_red: RunRef,
        last_green: RunRef,
    },
    /// An approver's `/scalability-block` (or the API): never lifted automatically.
    Manual { by: Login, reason: String },
}

/// Whether an incident still blocks (DESIGN.md "Incident lifecycle"): `active` blocks;
/// `lifted` does not, but is provisional (the first red run started after the lift
/// re-blocks it); `resolved` is over for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum IncidentState {
    Active,
    /// Lifted while the job was still red: provisional.
    Lifted {
        by: String,
        reason: String,
        at: Timestamp,
    },
    /// Over: never blocks again.
    Resolved {
        how: ResolvedHow,
        at: Timestamp,
    },
}

/// How an incident was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ResolvedHow {
    /// The first green run after a provisional lift.
    GreenAfterLift,
    /// `/scalability-unblock --final`, an unblock while the job was green, or a lift
    /// stored by a version without provisional lifts.
    Final,
    /// `auto_unblock_on_recovery` and a green run.
    AutoRecovery,
}

impl ResolvedHow {
    /// As in the API: `green-after-lift`, `final`, `auto-recovery`.
    pub fn as_str(self) -> &'static str {
        match self {
            ResolvedHow::GreenAfterLift => "green-after-lift",
            ResolvedHow::Final => "final",
            ResolvedHow::AutoRecovery => "auto-recovery",
        }
    }
}

/// One lift of an incident (its history is kept on the incident).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lift {
    pub by: String,
    pub reason: String,
    pub at: Timestamp,
    /// `--final`, or the job was green: the lift resolved the incident.
    #[serde(default)]
    pub final_lift: bool,
}

/// A re-block: red run `run`, started after the lift at `lift_at`, made the incident
/// active again at `at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reblock {
    pub run: RunRef,
    pub lift_by: String,
    pub lift_at: Timestamp,
    pub at: Timestamp,
}

/// Why a PR may merge during an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExemptionKind {
    /// A revert of a suspect.
    Revert,
    /// An approver's `/scalability-exempt`.
    Approver,
}

/// A PR allowed to merge during an incident: never labelled, always recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exemption {
    pub repo: RepoName,
    pub pr: PrNumber,
    pub kind: ExemptionKind,
    pub by: Login,
    pub reason: String,
    pub at: Timestamp,
}

/// A PR merged into a blocked scope that was not exempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Breach {
    pub scope: Scope,
    pub pr: PrNumber,
    pub merged_by: Option<Login>,
    pub at: Timestamp,
}

/// A PR merged between the last green and the first red commits, with its ranking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suspect {
    pub repo: RepoName,
    pub pr: PrNumber,
    pub title: String,
    pub author: Login,
    pub merged_at: Option<Timestamp>,
    pub score: f64,
    pub reasons: Vec<String>,
    /// The commit that brought it onto the branch (its merge or squash commit).
    #[serde(default)]
    pub merge_commit: Option<CommitSha>,
    /// `Some(M)` when this PR is itself a revert of `#M` (reverting it re-lands `#M`).
    #[serde(default)]
    pub reverts: Option<PrNumber>,
}

/// How one scope's suspects were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SuspectRange {
    /// The commits between the last green run's tested commit (`base`) and the first red
    /// run's (`head`), through GitHub's compare API.
    Commits {
        base: CommitSha,
        head: CommitSha,
        commits: u32,
    },
    /// The tested commits are unknown: the PRs merged between the two runs' start times.
    TimeWindow {
        from: Timestamp,
        to: Timestamp,
        why: String,
    },
}

/// One search for the suspects of one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectSearch {
    pub scope: Scope,
    pub range: SuspectRange,
    pub at: Timestamp,
}

/// A `/scalability-revert #N` and what came of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    /// The suspect's repo (where the command was written).
    pub repo: RepoName,
    /// The suspect to revert.
    pub suspect: PrNumber,
    pub by: Login,
    pub at: Timestamp,
    /// The revert PR, once opened (it is then exempt).
    #[serde(default)]
    pub revert_pr: Option<PrNumber>,
    /// Why the revert PR could not be opened.
    #[serde(default)]
    pub error: Option<String>,
    /// The issue or PR the command was written on (failures are told there).
    #[serde(default)]
    pub requested_on: Option<PrNumber>,
}

impl Revert {
    /// A revert asked by `by` at `at`, on `requested_on`, not opened yet.
    pub fn asked(
        repo: RepoName,
        suspect: PrNumber,
        by: Login,
        at: Timestamp,
        requested_on: Option<PrNumber>,
    ) -> Self {
        Self {
            repo,
            suspect,
            by,
            at,
            revert_pr: None,
            error: None,
            requested_on,
        }
    }
}

/// A `/scalability-rerun`: a new run of the incident's job through Gangway, and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerun {
    /// The id of the comment that asked for it: unique, keys its notices and findings.
    pub id: u64,
    pub by: Login,
    pub at: Timestamp,
    /// Where it was asked (the outcome is told there).
    pub repo: RepoName,
    pub requested_on: PrNumber,
    /// Gangway's execution id (the ProwJob's name), once created.
    #[serde(default)]
    pub execution: Option<String>,
    /// The build id of the execution, when Gangway told it.
    #[serde(default)]
    pub build_id: Option<BuildId>,
    /// The run it produced, and its result.
    #[serde(default)]
    pub result: Option<RerunResult>,
    /// Why the execution could not be created.
    #[serde(default)]
    pub error: Option<String>,
}

impl Rerun {
    /// Waiting for Gangway to create the execution (a run of the job that started after
    /// the request and arrived first also answers it: then nothing is created).
    pub fn awaits_execution(&self) -> bool {
        self.execution.is_none() && self.error.is_none() && self.result.is_none()
    }

    /// Created (or being created), without a result yet.
    pub fn awaits_result(&self) -> bool {
        self.result.is_none() && self.error.is_none()
    }
}

/// The run a rerun produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RerunResult {
    pub run: RunRef,
    pub result: RunResult,
}

/// One escalation step taken on an incident: 1 = the top suspects' authors and the
/// approver teams were mentioned, 2 = reverting the top suspect was suggested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationStep {
    pub step: u8,
    pub at: Timestamp,
}

/// The mitigation an approver chose for an incident's culprit (`/scalability-culprit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mitigation {
    Revert,
    Fix,
    FeatureOff,
    Flake,
    Other,
}

impl Mitigation {
    /// Every mitigation, in the order the command's usage lists them.
    pub const ALL: [Mitigation; 5] = [
        Mitigation::Revert,
        Mitigation::Fix,
        Mitigation::FeatureOff,
        Mitigation::Flake,
        Mitigation::Other,
    ];

    /// As written in the command and the API: `revert`, `fix`, `feature-off`, `flake`,
    /// `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mitigation::Revert => "revert",
            Mitigation::Fix => "fix",
            Mitigation::FeatureOff => "feature-off",
            Mitigation::Flake => "flake",
            Mitigation::Other => "other",
        }
    }

    /// The mitigation a command word names (any case); `None` for any other word.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(word))
    }
}

/// The culprit of an incident as an approver recorded it with `/scalability-culprit`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Culprit {
    /// The culprit PR, in `repo`.
    pub pr: PrNumber,
    pub mitigation: Mitigation,
    /// The approver's note, if any (untrusted text).
    #[serde(default)]
    pub note: Option<String>,
    /// The repo of the PR (where the command was said).
    pub repo: RepoName,
    pub by: Login,
    pub at: Timestamp,
    /// Whether the PR was among the incident's suspects when it was recorded (a PR
    /// outside them is allowed, and said so).
    #[serde(default)]
    pub suspect: bool,
}

/// The failed testcases of an incident's first red run, read from its GCS
/// `artifacts/junit*.xml` by the reconciler (never by the core).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailures {
    /// The run they were read from.
    pub build_id: BuildId,
    /// Failed testcase names (untrusted text), at most the parser's limit, in order.
    pub names: Vec<String>,
    /// Failed testcases counted over every file read, including those not named.
    pub total: usize,
    /// JUnit files read, wholly or in part.
    pub files_read: usize,
    /// Why the list is unavailable or may be incomplete (no files, unreadable, cut).
    #[serde(default)]
    pub notes: Vec<String>,
    pub at: Timestamp,
}

/// One regression of one job, and everything done about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    pub job: JobName,
    pub opened_at: Timestamp,
    pub cause: Cause,
    pub scopes: Vec<Scope>,
    /// Scopes of the job left open (`jobs[].infer_scopes`): unchanged since the last
    /// green run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes_left_open: Vec<Scope>,
    pub state: IncidentState,
    /// Later red runs folded into this incident while it was active.
    #[serde(default)]
    pub folded_runs: Vec<RunRef>,
    /// The green run that ended the regression, if one came.
    #[serde(default)]
    pub recovered_by: Option<RunRef>,
    #[serde(default)]
    pub exemptions: Vec<Exemption>,
    #[serde(default)]
    pub breaches: Vec<Breach>,
    #[serde(default)]
    pub suspects: Vec<Suspect>,
    /// How the suspects were found, one search per scope (the latest).
    #[serde(default)]
    pub searches: Vec<SuspectSearch>,
    #[serde(default)]
    pub reverts: Vec<Revert>,
    #[serde(default)]
    pub reruns: Vec<Rerun>,
    #[serde(default)]
    pub escalations: Vec<EscalationStep>,
    /// Every lift, oldest first.
    #[serde(default)]
    pub lifts: Vec<Lift>,
    /// Every re-block, oldest first (the count of re-blocks is its length).
    #[serde(default)]
    pub reblocks: Vec<Reblock>,
    /// When its first blocker issue was opened on GitHub (the block took effect); the end
    /// of its time to block.
    #[serde(default)]
    pub issue_opened_at: Option<Timestamp>,
    /// The failed tests of the first red run, once the reconciler has read them.
    #[serde(default)]
    pub failed_tests: Option<TestFailures>,
    /// The culprit an approver recorded last (`/scalability-culprit`).
    #[serde(default)]
    pub culprit: Option<Culprit>,
    /// The culprits recorded before it, oldest first.
    #[serde(default)]
    pub culprit_history: Vec<Culprit>,
}

impl Incident {
    /// A new active incident, with nothing recorded on it yet.
    pub fn new(
        id: IncidentId,
        job: JobName,
        opened_at: Timestamp,
        cause: Cause,
        scopes: Vec<Scope>,
    ) -> Self {
        Self {
            id,
            job,
            opened_at,
            cause,
            scopes,
            scopes_left_open: Vec::new(),
            state: IncidentState::Active,
            folded_runs: Vec::new(),
            recovered_by: None,
            exemptions: Vec::new(),
            breaches: Vec::new(),
            suspects: Vec::new(),
            searches: Vec::new(),
            reverts: Vec::new(),
            reruns: Vec::new(),
            escalations: Vec::new(),
            lifts: Vec::new(),
            reblocks: Vec::new(),
            issue_opened_at: None,
            failed_tests: None,
            culprit: None,
            culprit_history: Vec::new(),
        }
    }

    /// Whether it blocks now.
    pub fn is_active(&self) -> bool {
        self.state == IncidentState::Active
    }

    /// Whether it is not resolved: active, or lifted provisionally (it may re-block).
    pub fn is_open(&self) -> bool {
        !matches!(self.state, IncidentState::Resolved { .. })
    }

    /// How it was resolved, if it is.
    pub fn resolved_how(&self) -> Option<ResolvedHow> {
        match self.state {
            IncidentState::Resolved { how, .. } => Some(how),
            _ => None,
        }
    }

    /// When it stopped blocking (lifted or resolved), if it did.
    pub fn ended_at(&self) -> Option<Timestamp> {
        match self.state {
            IncidentState::Active => None,
            IncidentState::Lifted { at, .. } | IncidentState::Resolved { at, .. } => Some(at),
        }
    }

    /// Whether `pr` in `repo` is exempt from this incident.
    pub fn is_exempt(&self, repo: &RepoName, pr: PrNumber) -> bool {
        self.exemptions
            .iter()
            .any(|e| &e.repo == repo && e.pr == pr)
    }
}

/// One command's (or API call's) outcome, kept in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: Timestamp,
    /// GitHub login, or `grpc:<name>` for the API.
    pub who: String,
    /// The command, e.g. `/scalability-unblock`.
    pub command: String,
    /// Where: `org/repo#N`, or an incident id.
    pub target: String,
    /// What happened: `lifted inc-…`, `refused: not an approver`, …
    pub outcome: String,
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_outside_never_panic_when_shown_or_subtracted() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(-5).to_string(), "1970-01-01T00:00:00Z");
        assert_eq!(Timestamp(i64::MAX).to_string(), "9999-12-31T23:59:59Z");
        assert_eq!(
            Timestamp(253_402_300_800).to_string(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp(i64::MIN).seconds_until(Timestamp(i64::MAX)),
            i64::MAX
        );
        assert_eq!(Timestamp(i64::MAX).seconds_until(Timestamp(i64::MIN)), 0);
    }

    /// An incident as stored before issue 6: no searches, reverts, reruns or escalations,
    /// and suspects without `merge_commit` or `reverts`.
    const BEFORE_ISSUE_6: &str = r#"{
        "id": "ci-job-3", "job": "ci-job", "opened_at": 100,
        "cause": {"kind": "manual", "by": "alice", "reason": ""},
        "scopes": [{"repo": "o/r", "branch": "master"}],
        "state": {"state": "active"},
        "suspects": [{"repo": "o/r", "pr": 7, "title": "t", "author": "dev",
                      "merged_at": null, "score": 1.0, "reasons": []}]
    }"#;

    #[test]
    fn incidents_stored_before_the_culprit_fields_still_load() {
        let incident: Incident = serde_json::from_str(BEFORE_ISSUE_6).unwrap();
        assert!(incident.searches.is_empty() && incident.reverts.is_empty());
        assert!(incident.reruns.is_empty() && incident.escalations.is_empty());
        assert_eq!(incident.suspects[0].merge_commit, None);
        assert_eq!(incident.suspects[0].reverts, None);
        assert_eq!(incident.issue_opened_at, None, "stored before issue 18");
        // Nor the failed tests and culprit of issue 18: read as none (no version bump).
        assert_eq!(incident.failed_tests, None);
        assert_eq!(incident.culprit, None);
        assert!(incident.culprit_history.is_empty());
        // And what is written now reads back the same.
        let again: Incident =
            serde_json::from_str(&serde_json::to_string(&incident).unwrap()).unwrap();
        assert_eq!(again, incident);
    }

    #[test]
    fn run_refs_stored_before_their_finish_time_still_load() {
        let old = r#"{"build_id": "7", "url": "u", "started_at": 100}"#;
        let run: RunRef = serde_json::from_str(old).unwrap();
        assert_eq!(run.finished_at, None);
        assert_eq!(run.started_at, Some(Timestamp(100)));
    }
}
