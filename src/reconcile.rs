//! The level-triggered reconciler: desired state (incidents in the store) vs GitHub,
//! closed idempotently, like a Kubernetes controller.
//!
//! For each active incident and scope: the label exists in the repo; the PRs `label_prs`
//! selects carry it, except exempt ones (ready PRs by default, every open PR with `all`,
//! ready first); one blocker issue (with `tide.blocker_label`; else a tracking issue)
//! carrying `branch:<branch>` in its title and a body that says what, why, how and who;
//! one announcement comment on it. For each lifted incident not yet cleaned up: the label
//! removed from every PR carrying it on scopes no other active incident covers (ready
//! first), the issue commented once and closed. It also posts the command replies the gate
//! left in the store's outbox.
//!
//! Deciding is pure ([`plan_labels`], [`plan_lift`], [`plan_issue`]): a snapshot of GitHub
//! (the PR list already fetched) and the incidents go in, actions come out; the executor is
//! thin. It never sends a request that changes nothing: it knows each PR's labels from the
//! list. Every posted issue and comment carries a hidden marker
//! (`<!-- scalability-gate:<incident>:<kind> -->`) and the reconciler looks for it before
//! creating anything, so a crash between "created on GitHub" and "remembered in the store"
//! never duplicates. Issue numbers are cached in the store; the truth is GitHub's.
//!
//! Before issues and labels, each full pass does the culprit work of [`culprit`]: suspects
//! searched and ranked, revert PRs opened, escalations posted, each reported to the gate
//! as a finding and awaited before the pass relies on it. With a GCS source it also starts
//! reading the first red run's failed tests once per incident (`failed_tests`), in the
//! background so the block never waits on GCS; the finding pokes a pass that edits the
//! body.
//!
//! It runs at startup, whenever poked ([`Handle::poke`]), as a periodic full resync
//! (`reconcile.resync_interval`), and sooner again after a pass that failed part-way. At
//! startup and on each periodic resync it first looks for merges into blocked scopes that
//! no webhook told of (`breaches`: one search per scope, recorded as breach findings). A PR
//! that just became selected is labelled on its own through [`Handle::label_pr`], without
//! a full pass.
//!
//! One file per concern: `plan` decides (pure), `pass` orders a full pass and reports
//! it, `issues` keeps the blocker issues, `notices` posts marked comments once (and the
//! outbox's replies), `labels` changes labels (and the fast path for one PR), `runner`
//! runs the loop ([`spawn`], [`Handle`]), `breaches` finds merges no webhook told of, and
//! [`culprit`] does the culprit work. Every
//! reading of the time goes through the reconciler's [`Clock`].

use std::sync::Arc;
use std::time::Duration;

use crate::comment::NoticeContext;
use crate::config::{Config, LabelPrs};
use crate::core::tide::ReadyRule;
use crate::github::Client;
use crate::model::{IncidentId, Login, Scope};
use crate::store::Store;

mod breaches;
pub mod culprit;
mod failed_tests;
mod issues;
mod labels;
mod notices;
mod pass;
mod plan;
mod runner;
#[cfg(test)]
mod tests;

pub use labels::{LABEL_COLOR, LABEL_DESCRIPTION, PrOutcome, YIELD_AFTER};
pub use pass::Report;
pub use plan::{
    IssueStep, LabelAction, coverage, exempt_on, has_marker, is_our_issue, is_ready, plan_issue,
    plan_labels, plan_lift, wants_label,
};
pub use runner::{Handle, Parts, RETRY_AFTER_FAILURE, run, spawn};

/// The reconciler's clock: every time it records (a lifted incident cleaned up, a suspect
/// search, an escalation step and when it is due) is read from it. Injectable, so tests
/// drive escalation time without sleeping.
pub use crate::clock::Clock;

/// Tries at creating one issue or comment whose earlier try may have gone through (each
/// after looking for it by its marker), before the pass reports it failed.
const CREATE_ATTEMPTS: u32 = 5;

/// Wait before looking again after such a try, times the attempt number.
const CREATE_BACKOFF: Duration = Duration::from_millis(200);

/// Which PRs of a scope are ready (from Prow's Tide queries when known, else
/// `ready_labels`).
pub type ReadyRules = Arc<dyn Fn(&Scope) -> ReadyRule + Send + Sync>;

/// Whether Tide's live pool was seen ready to merge into `scope` during `incident` (the
/// live `/tide.js` check): when first seen, and the PRs it would merge now.
pub type Leaks = Arc<dyn Fn(&Scope, &IncidentId) -> Option<Leak> + Send + Sync>;

/// A pool that did not hold during an incident.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leak {
    pub first_seen: crate::model::Timestamp,
    pub prs: Vec<u64>,
}

/// Brings GitHub in line with the incidents. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    client: Client,
    config: Arc<Config>,
    store: Store,
    required: ReadyRules,
    leaks: Leaks,
    /// Where findings go (the ordered queue); `None`: the culprit work is off.
    findings: Option<crate::bus::QueueSender>,
    /// Where the first red runs' JUnit files are read ("What failed"); `None`: not read.
    gcs: Option<crate::prow::gcs::Gcs>,
    /// The one clock of the reconciler (see [`Clock`]).
    clock: Clock,
    /// The running loop's handle: a long label run stops when it holds newer wants.
    handle: Option<Handle>,
    yield_after: Duration,
    /// Blocked scopes whose full PR list was read since they were blocked: their ready
    /// PRs are no longer searched first (see `labels`). Shared by clones.
    walked: Arc<std::sync::Mutex<std::collections::BTreeSet<Scope>>>,
    /// The failed-test reads running in the background. Shared by clones.
    reads: Arc<failed_tests::Reads>,
}

impl Reconciler {
    /// A reconciler for which a ready PR carries all of `ready_labels`, on every scope,
    /// reading the time from the system clock ([`Clock::system`]) until
    /// [`Reconciler::with_clock`] says otherwise.
    pub fn new(client: Client, config: Arc<Config>, store: Store) -> Self {
        let ready = ReadyRule::from_labels(&config.ready_labels);
        Self {
            client,
            config,
            store,
            required: Arc::new(move |_| ready.clone()),
            leaks: Arc::new(|_, _| None),
            findings: None,
            gcs: None,
            clock: Clock::system(),
            handle: None,
            yield_after: YIELD_AFTER,
            walked: Arc::default(),
            reads: Arc::default(),
        }
    }

    /// Lets a label run that has gone on for `yield_after` stop part-way when `handle`
    /// holds newer wants (a poke: the incidents changed, e.g. an unblock; or a PR to
    /// label now), so they do not wait for hours of paced labelling. The pass reports
    /// [`Report::cut_short`] and the loop starts the next one at once, from the new state;
    /// the labels already changed stay, so nothing is redone.
    pub fn with_handle(mut self, handle: Handle, yield_after: Duration) -> Self {
        self.handle = Some(handle);
        self.yield_after = yield_after;
        self
    }

    /// Reports findings (suspects, reverts, escalations) to the gate through `queue`,
    /// which turns the culprit work on.
    pub fn with_findings(mut self, queue: crate::bus::QueueSender) -> Self {
        self.findings = Some(queue);
        self
    }

    /// Reads the failed tests of first red runs from `gcs` (with a findings queue).
    pub fn with_gcs(mut self, gcs: Option<crate::prow::gcs::Gcs>) -> Self {
        self.gcs = gcs;
        self
    }

    /// Reads the time from `clock` (cleanup, suspect searches, escalation delays) instead
    /// of the system clock.
    pub fn with_clock(mut self, clock: impl Into<Clock>) -> Self {
        self.clock = clock.into();
        self
    }

    /// Takes what the live Tide check saw (a pool that would still merge) from `leaks`.
    pub fn with_leaks(mut self, leaks: Leaks) -> Self {
        self.leaks = leaks;
        self
    }

    /// Takes which PRs are ready per scope from `rules` (e.g. Prow's Tide queries).
    pub fn with_ready_rules(mut self, rules: ReadyRules) -> Self {
        self.required = rules;
        self
    }

    /// The GitHub client it uses.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn notice_context(&self, scope: &Scope) -> NoticeContext {
        NoticeContext {
            label: self.config.label.clone(),
            ready_only: self.config.label_prs == LabelPrs::Ready,
            ready_labels: (self.required)(scope).alternatives,
            blocker: !self.config.tide.blocker_label.is_empty(),
            approver_users: self.config.approvers.users.clone(),
            approver_teams: self.config.approvers.teams.clone(),
            reads_failed_tests: self.reads_failed_tests(),
        }
    }

    /// The plugin's own login (the token's owner), which alone makes a marker count;
    /// `None` while GitHub cannot say (the client remembers only an answer, so the next
    /// call asks again).
    async fn own_login(&self) -> Option<Login> {
        match self.client.own_login().await {
            Ok(login) => Some(login),
            Err(e) => {
                tracing::warn!(error = %e, "cannot learn the plugin's own login; no marker counts");
                None
            }
        }
    }
}
