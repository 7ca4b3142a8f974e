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
//! as a finding and awaited before the pass relies on it.
//!
//! It runs at startup, whenever poked ([`Handle::poke`]), as a periodic full resync
//! (`reconcile.resync_interval`), and sooner again after a pass that failed part-way. A PR
//! that just became selected is labelled on its own through [`Handle::label_pr`], without
//! a full pass.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{Notify, watch};

use crate::comment::{self, NoticeContext};
use crate::config::{Config, LabelPrs};
use crate::core::tide::ReadyRule;
use crate::github::Client;
use crate::github::types::{Comment, Issue, IssueEdit, IssueState, Label, NewIssue, PullRequest};
use crate::model::{Incident, IncidentId, Login, PrNumber, RepoName, Scope, Timestamp};
use crate::store::{PendingReply, Store};

pub mod culprit;

/// The reconciler's clock (injectable, so tests drive escalation time without sleeping).
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// Colour of the label the plugin creates (GitHub's red for do-not-merge labels).
pub const LABEL_COLOR: &str = "e11d21";

/// Description of the label the plugin creates; names the plugin.
pub const LABEL_DESCRIPTION: &str =
    "Merges blocked by scalability-gate: a release-blocking scalability job regressed";

/// First wait before a pass that failed part-way is tried again (doubled up to the resync
/// interval).
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Tries at creating one issue or comment whose earlier try may have gone through (each
/// after looking for it by its marker), before the pass reports it failed.
const CREATE_ATTEMPTS: u32 = 5;

/// Wait before looking again after such a try, times the attempt number.
const CREATE_BACKOFF: Duration = Duration::from_millis(200);

/// PRs waiting for the fast path, at most (more are left to the next full pass).
const FAST_PATH_MAX: usize = 1024;

/// How long a pass labels before it lets newer wants go first (see
/// [`Reconciler::with_handle`]). Budget pacing makes a `label_prs: all` pass last hours.
pub const YIELD_AFTER: Duration = Duration::from_secs(30);

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

// ----- pure planning -----

/// One label change on one PR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelAction {
    pub repo: RepoName,
    pub pr: PrNumber,
    /// Add (true) or remove (false) the label.
    pub add: bool,
    /// The PR is ready (it goes first).
    pub ready: bool,
}

/// Whether a PR is ready: it carries the required labels of a Tide query of its scope.
pub fn is_ready(pr: &PullRequest, rule: &ReadyRule) -> bool {
    let names: Vec<&str> = pr.labels.iter().map(|l| l.name.as_str()).collect();
    rule.is_ready(&names)
}

/// What one open PR on a blocked scope should become: `Some(true)` carry the label,
/// `Some(false)` not carry it (exempt), `None` left alone (not selected in ready mode).
pub fn wants_label(
    pr: &PullRequest,
    mode: LabelPrs,
    required: &ReadyRule,
    exempt: bool,
) -> Option<bool> {
    if exempt {
        return Some(false);
    }
    match mode {
        LabelPrs::All => Some(true),
        LabelPrs::Ready if is_ready(pr, required) => Some(true),
        LabelPrs::Ready => None,
    }
}

/// The label changes that bring a blocked scope's open PRs in line: ready PRs first, then
/// exempt PRs that carry the label, then the others (`all` mode). Nothing for a PR
/// already as it should be.
pub fn plan_labels(
    repo: &RepoName,
    prs: &[PullRequest],
    label: &str,
    mode: LabelPrs,
    required: &ReadyRule,
    exempt: impl Fn(PrNumber) -> bool,
) -> Vec<LabelAction> {
    let mut actions: Vec<LabelAction> = prs
        .iter()
        .filter_map(|pr| {
            let want = wants_label(pr, mode, required, exempt(pr.pr()))?;
            (want != pr.has_label(label)).then(|| LabelAction {
                repo: repo.clone(),
                pr: pr.pr(),
                add: want,
                ready: is_ready(pr, required),
            })
        })
        .collect();
    actions.sort_by_key(|a| (!a.ready, a.add && !a.ready, a.pr));
    actions
}

/// The removals of a lifted scope: every PR carrying the label, ready ones first.
pub fn plan_lift(
    repo: &RepoName,
    prs: &[PullRequest],
    label: &str,
    required: &ReadyRule,
) -> Vec<LabelAction> {
    let mut actions: Vec<LabelAction> = prs
        .iter()
        .filter(|pr| pr.has_label(label))
        .map(|pr| LabelAction {
            repo: repo.clone(),
            pr: pr.pr(),
            add: false,
            ready: is_ready(pr, required),
        })
        .collect();
    actions.sort_by_key(|a| (!a.ready, a.pr));
    actions
}

/// The active incidents covering each scope.
pub fn coverage(incidents: &[Incident]) -> BTreeMap<Scope, Vec<&Incident>> {
    let mut map: BTreeMap<Scope, Vec<&Incident>> = BTreeMap::new();
    for incident in incidents.iter().filter(|i| i.is_active()) {
        for scope in &incident.scopes {
            map.entry(scope.clone()).or_default().push(incident);
        }
    }
    map
}

/// A PR is exempt on a scope only when every incident blocking it exempts it.
pub fn exempt_on(blocking: &[&Incident], repo: &RepoName, pr: PrNumber) -> bool {
    !blocking.is_empty() && blocking.iter().all(|i| i.is_exempt(repo, pr))
}

/// What to do with an incident's issue on one scope while the incident is active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueStep {
    /// No issue carries the marker: open one.
    Create,
    /// It was closed by someone: open it again (with the current body).
    Reopen(PrNumber),
    /// Its body is out of date (e.g. new suspects).
    UpdateBody(PrNumber),
    /// As it should be.
    Keep(PrNumber),
}

/// Compares the issue found by its marker with the desired body.
pub fn plan_issue(found: Option<&Issue>, body: &str) -> IssueStep {
    match found {
        None => IssueStep::Create,
        Some(i) if !i.is_open() => IssueStep::Reopen(PrNumber(i.number)),
        Some(i) if i.body_text() != body => IssueStep::UpdateBody(PrNumber(i.number)),
        Some(i) => IssueStep::Keep(PrNumber(i.number)),
    }
}

/// Whether any of `comments` is the plugin's own (written by `own`) and carries `marker`:
/// a stranger's copy of a marker counts for nothing (see [`comment::ours`]).
pub fn has_marker(own: Option<&Login>, comments: &[Comment], marker: &str) -> bool {
    comments
        .iter()
        .any(|c| comment::ours(own, &c.user.login, &c.body, marker))
}

/// Whether `issue` is the plugin's own issue carrying `marker`: never a PR, never anything
/// a stranger opened, whatever its body says (see [`comment::ours`]).
pub fn is_our_issue(own: &Login, issue: &Issue, marker: &str) -> bool {
    !issue.is_pull_request()
        && comment::ours(Some(own), &issue.user.login, issue.body_text(), marker)
}

// ----- the outcome of a pass -----

/// What a pass did, and what went wrong (the next pass retries it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub labels_added: usize,
    pub labels_removed: usize,
    pub issues_created: usize,
    pub issues_edited: usize,
    pub issues_closed: usize,
    pub comments_posted: usize,
    /// Revert PRs opened through GraphQL (adopted ones not counted).
    pub reverts_opened: usize,
    pub errors: Vec<String>,
    /// The pass stopped labelling part-way to let newer wants (an incident changed, a PR
    /// became ready) go first; the next pass, at once, picks up where it left off.
    pub cut_short: bool,
}

impl Report {
    /// Whether the pass reached the desired state everywhere.
    pub fn converged(&self) -> bool {
        self.errors.is_empty() && !self.cut_short
    }

    /// Adds what `other` did and what went wrong in it.
    fn absorb(&mut self, other: Report) {
        self.labels_added += other.labels_added;
        self.labels_removed += other.labels_removed;
        self.issues_created += other.issues_created;
        self.issues_edited += other.issues_edited;
        self.issues_closed += other.issues_closed;
        self.comments_posted += other.comments_posted;
        self.reverts_opened += other.reverts_opened;
        self.errors.extend(other.errors);
        self.cut_short |= other.cut_short;
    }

    fn fail(&mut self, what: impl std::fmt::Display, error: impl std::fmt::Display) {
        let text = format!("{what}: {error:#}");
        tracing::warn!(
            error = text,
            "reconcile step failed; the next pass retries it"
        );
        self.errors.push(text);
    }
}

/// What the fast path did with one PR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrOutcome {
    Labelled,
    Unlabelled,
    /// Already as it should be, not selected, closed, or on no blocked scope.
    Unchanged,
}

// ----- the reconciler -----

/// Brings GitHub in line with the incidents. Cheap to clone.
#[derive(Clone)]
pub struct Reconciler {
    client: Client,
    config: Arc<Config>,
    store: Store,
    required: ReadyRules,
    leaks: Leaks,
    /// Where findings go (the ordered queue); `None`: the culprit work is off.
    findings: Option<crate::consumer::QueueSender>,
    clock: Clock,
    /// The running loop's handle: a long label run stops when it holds newer wants.
    handle: Option<Handle>,
    yield_after: Duration,
}

impl Reconciler {
    /// A reconciler for which a ready PR carries all of `ready_labels`, on every scope.
    pub fn new(client: Client, config: Arc<Config>, store: Store) -> Self {
        let ready = ReadyRule::from_labels(&config.ready_labels);
        Self {
            client,
            config,
            store,
            required: Arc::new(move |_| ready.clone()),
            leaks: Arc::new(|_, _| None),
            findings: None,
            clock: Arc::new(now),
            handle: None,
            yield_after: YIELD_AFTER,
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
    pub fn with_findings(mut self, queue: crate::consumer::QueueSender) -> Self {
        self.findings = Some(queue);
        self
    }

    /// Reads the time from `clock` (escalation delays) instead of the system clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
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
        }
    }

    /// The label our issues carry, and that they are found by.
    fn issue_label(&self) -> &str {
        if self.config.tide.blocker_label.is_empty() {
            &self.config.label
        } else {
            &self.config.tide.blocker_label
        }
    }

    /// One full pass over the incidents in the store.
    pub async fn reconcile(&self) -> anyhow::Result<Report> {
        let mut incidents = self.store.all_incidents().context("reading incidents")?;
        let mut culprit = Report::default();
        if self.culprit_pass(&incidents, &mut culprit).await {
            // The gate wrote what was found: labels and issues go by that.
            incidents = self.store.all_incidents().context("reading incidents")?;
        }
        let mut report = self.reconcile_incidents(&incidents).await;
        self.culprit_notices(&incidents, &mut culprit).await;
        report.absorb(culprit);
        // Retention last: only what this or an earlier pass cleaned up on GitHub goes.
        let kept = self.config.history.incident_retention;
        match self.store.prune_lifted_incidents(kept) {
            Ok(dropped) if !dropped.is_empty() => {
                tracing::info!(
                    dropped = dropped.len(),
                    kept,
                    "lifted incidents dropped by retention"
                );
            }
            Ok(_) => {}
            Err(e) => report.fail("dropping lifted incidents beyond retention", e),
        }
        Ok(report)
    }

    /// One full pass over `incidents` (active and lifted): issues first, then the command
    /// replies waiting in the outbox, then the lifted incidents' cleanup, then labels.
    pub async fn reconcile_incidents(&self, incidents: &[Incident]) -> Report {
        let mut report = Report::default();
        let covered = coverage(incidents);
        for incident in incidents.iter().filter(|i| i.is_active()) {
            for scope in &incident.scopes {
                if let Err(e) = self.ensure_issue(incident, scope, &mut report).await {
                    report.fail(format!("issue of {} on {scope}", incident.id), e);
                }
            }
        }
        self.post_pending_replies(&mut report).await;
        for incident in incidents.iter().filter(|i| !i.is_active()) {
            match self.store.is_cleaned(&incident.id) {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => {
                    report.fail(format!("cleanup state of {}", incident.id), e);
                    continue;
                }
            }
            if report.cut_short {
                break;
            }
            let before = report.errors.len();
            self.clean_up(incident, &covered, &mut report).await;
            if report.errors.len() == before && !report.cut_short {
                let marked = self.store.mark_cleaned(&incident.id, now());
                if let Err(e) = marked {
                    report.fail(format!("marking {} cleaned", incident.id), e);
                }
            }
        }
        self.label_blocked_scopes(&covered, &mut report).await;
        tracing::info!(
            added = report.labels_added,
            removed = report.labels_removed,
            issues_created = report.issues_created,
            issues_closed = report.issues_closed,
            comments = report.comments_posted,
            errors = report.errors.len(),
            cut_short = report.cut_short,
            "reconcile pass done"
        );
        report
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

    /// Finds an incident's issue on a scope by its marker: the remembered number first,
    /// else the repo's issues carrying our issue label (consistent, unlike search). Only an
    /// issue the plugin's own login opened counts ([`is_our_issue`]): a stranger's issue
    /// carrying a copy of the marker is never adopted, edited, announced on or closed.
    ///
    /// Without the login this fails (the pass is retried): an issue whose author cannot
    /// be told must not be adopted, and taking "not found" would open a new issue on every
    /// pass, or mark a lifted incident cleaned with its issue left open. Labels do not
    /// depend on it and go on. In dry-run nothing is opened or closed, so "not found" is
    /// harmless there (and a dry-run may have no token to ask `GET /user` with).
    async fn find_issue(
        &self,
        incident: &IncidentId,
        scope: &Scope,
    ) -> anyhow::Result<Option<Issue>> {
        let Some(own) = self.own_login().await else {
            if self.client.is_dry_run() {
                return Ok(None);
            }
            anyhow::bail!(
                "the plugin's own login is unknown (GET /user failed): no issue is adopted, \
                 opened or closed until GitHub says it"
            );
        };
        let marker = comment::issue_marker(incident, &scope.branch);
        if let Some(number) = self.store.issue_of(incident, scope)? {
            let cached = self.client.get_issue(&scope.repo, number).await?;
            if let Some(issue) = cached.filter(|i| is_our_issue(&own, i, &marker)) {
                return Ok(Some(issue));
            }
        }
        let listed = self
            .client
            .list_issues(&scope.repo, &[self.issue_label()], IssueState::All)
            .await?;
        let found = listed.into_iter().find(|i| is_our_issue(&own, i, &marker));
        if let Some(issue) = &found {
            self.store
                .remember_issue(incident, scope, PrNumber(issue.number))?;
        }
        Ok(found)
    }

    /// The incident's issue on `scope` is open with the current body, and announced once.
    async fn ensure_issue(
        &self,
        incident: &Incident,
        scope: &Scope,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let ctx = self.notice_context(scope);
        let body = comment::blocker_body(incident, scope, &ctx);
        let found = self.find_issue(&incident.id, scope).await?;
        let number = match plan_issue(found.as_ref(), &body) {
            IssueStep::Create => {
                let created = self.create_issue_once(incident, scope, body).await?;
                report.issues_created += 1;
                tracing::info!(incident = %incident.id, scope = %scope, issue = created.number, "issue opened");
                if created.number == 0 {
                    return Ok(()); // dry-run: nothing was created, nothing to announce on
                }
                let number = PrNumber(created.number);
                self.store.remember_issue(&incident.id, scope, number)?;
                number
            }
            IssueStep::Reopen(number) => {
                self.edit_issue(&scope.repo, number, body, true, report)
                    .await?
            }
            IssueStep::UpdateBody(number) => {
                self.edit_issue(&scope.repo, number, body, false, report)
                    .await?
            }
            IssueStep::Keep(number) => number,
        };
        self.comment_once(
            &scope.repo,
            number,
            &comment::announcement_marker(&incident.id),
            || comment::announcement(incident, scope),
            report,
        )
        .await?;
        for breach in incident.breaches.iter().filter(|b| &b.scope == scope) {
            self.comment_once(
                &scope.repo,
                number,
                &comment::breach_marker(&incident.id, breach.pr),
                || comment::breach(incident, breach),
                report,
            )
            .await?;
        }
        if let Some(leak) = (self.leaks)(scope, &incident.id) {
            self.comment_once(
                &scope.repo,
                number,
                &comment::tide_leak_marker(&incident.id, &scope.branch),
                || comment::tide_leak(incident, scope, leak.first_seen, &leak.prs),
                report,
            )
            .await?;
        }
        Ok(())
    }

    /// Sets an issue's body (and opens it again when `reopen`).
    async fn edit_issue(
        &self,
        repo: &RepoName,
        number: PrNumber,
        body: String,
        reopen: bool,
        report: &mut Report,
    ) -> anyhow::Result<PrNumber> {
        let edit = IssueEdit {
            body: Some(body),
            state: reopen.then(|| "open".to_string()),
            ..IssueEdit::default()
        };
        self.client.edit_issue(repo, number, &edit).await?;
        report.issues_edited += 1;
        Ok(number)
    }

    /// Posts `text()` on `repo#number` unless a comment there by the plugin's own login
    /// carries `marker` ([`has_marker`]: a stranger's copy of the marker suppresses
    /// nothing). A post that may have gone through although it failed (5xx, connection
    /// broken) is looked for again before it is sent again.
    ///
    /// Without the login no marker counts, so the comment is posted: a notice or reply
    /// said twice is better than one a forged marker could suppress. Only the outbox's
    /// replies and notices get here so (a notice of the reconciler's own first needs the
    /// incident's issue, which needs the login), and each leaves the outbox once posted.
    async fn comment_once(
        &self,
        repo: &RepoName,
        number: PrNumber,
        marker: &str,
        text: impl FnOnce() -> String,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let mut text = Some(text);
        let mut body = String::new();
        let mut attempt = 1;
        loop {
            let own = self.own_login().await;
            let comments = self.client.list_comments(repo, number).await?;
            if has_marker(own.as_ref(), &comments, marker) {
                return Ok(());
            }
            if let Some(text) = text.take() {
                body = text();
            }
            match self.client.create_comment(repo, number, &body).await {
                Ok(_) => {
                    report.comments_posted += 1;
                    return Ok(());
                }
                // Looking again is useless without the login (our own post would not
                // count): the next pass tries, rather than posting again at once.
                Err(e) if e.may_have_happened() && attempt < CREATE_ATTEMPTS && own.is_some() => {
                    tracing::warn!(repo = %repo, number = number.0, marker, error = %e,
                        "posting a comment may have failed; looking before posting again");
                    tokio::time::sleep(CREATE_BACKOFF * attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Opens the incident's issue on `scope`. A create that may have gone through although
    /// it failed (5xx, connection broken) is looked for by its marker before it is sent
    /// again.
    async fn create_issue_once(
        &self,
        incident: &Incident,
        scope: &Scope,
        body: String,
    ) -> anyhow::Result<Issue> {
        let new = NewIssue {
            title: comment::blocker_title(incident, &scope.branch),
            body,
            labels: vec![self.issue_label().to_string()],
        };
        let mut attempt = 1;
        loop {
            match self.client.create_issue(&scope.repo, &new).await {
                Ok(created) => return Ok(created),
                Err(e) if e.may_have_happened() && attempt < CREATE_ATTEMPTS => {
                    tracing::warn!(incident = %incident.id, scope = %scope, error = %e,
                        "opening the issue may have failed; looking before opening again");
                    tokio::time::sleep(CREATE_BACKOFF * attempt).await;
                    attempt += 1;
                    if let Some(found) = self.find_issue(&incident.id, scope).await? {
                        return Ok(found);
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Posts the gate's replies from the outbox, each once (found by its marker).
    async fn post_pending_replies(&self, report: &mut Report) {
        let pending = match self.store.pending_replies() {
            Ok(p) => p,
            Err(e) => return report.fail("reading the reply outbox", e),
        };
        for reply in pending {
            if let Err(e) = self.post_reply(&reply, report).await {
                report.fail(format!("reply on {}#{}", reply.repo, reply.number.0), e);
            }
        }
    }

    async fn post_reply(&self, reply: &PendingReply, report: &mut Report) -> anyhow::Result<()> {
        let markers = comment::parse_markers(&reply.body);
        let marker = markers
            .last()
            .map(|(id, kind)| comment::marker(id, kind))
            .unwrap_or_else(|| reply.body.clone());
        let body = reply.body.clone();
        self.comment_once(&reply.repo, reply.number, &marker, || body, report)
            .await?;
        self.store.reply_posted(reply)
    }

    /// A lifted incident: labels off its scopes that nothing else blocks, its issues
    /// commented once and closed.
    async fn clean_up(
        &self,
        incident: &Incident,
        covered: &BTreeMap<Scope, Vec<&Incident>>,
        report: &mut Report,
    ) {
        for scope in &incident.scopes {
            // Ready PRs first, then the blocker issue (it holds the whole branch in Tide),
            // then the other PRs: with `label_prs: all` those can take hours of budget, and
            // the branch must not stay blocked meanwhile.
            let mut not_ready = Vec::new();
            if !covered.contains_key(scope) {
                let required = (self.required)(scope);
                let removed = async {
                    let prs = self
                        .client
                        .list_open_pulls(&scope.repo, &scope.branch)
                        .await?;
                    let actions = plan_lift(&scope.repo, &prs, &self.config.label, &required);
                    anyhow::Ok(actions)
                }
                .await;
                match removed {
                    Ok(actions) => {
                        let (ready, others) =
                            actions.into_iter().partition::<Vec<_>, _>(|a| a.ready);
                        self.execute(&ready, report).await;
                        not_ready = others;
                    }
                    Err(e) => report.fail(format!("listing PRs of {scope}"), e),
                }
            }
            if let Err(e) = self.close_issue(incident, scope, report).await {
                report.fail(
                    format!("closing the issue of {} on {scope}", incident.id),
                    e,
                );
            }
            self.execute(&not_ready, report).await;
        }
    }

    async fn close_issue(
        &self,
        incident: &Incident,
        scope: &Scope,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let Some(issue) = self.find_issue(&incident.id, scope).await? else {
            return Ok(());
        };
        let number = PrNumber(issue.number);
        self.comment_once(
            &scope.repo,
            number,
            &comment::lifted_marker(&incident.id),
            || comment::lift_notice(incident),
            report,
        )
        .await?;
        if issue.is_open() {
            self.client.close_issue(&scope.repo, number).await?;
            report.issues_closed += 1;
        }
        Ok(())
    }

    /// Labels on every blocked scope, ready PRs of every scope before any other PR.
    async fn label_blocked_scopes(
        &self,
        covered: &BTreeMap<Scope, Vec<&Incident>>,
        report: &mut Report,
    ) {
        let mut labelled_repos = BTreeSet::new();
        let mut actions = Vec::new();
        for (scope, blocking) in covered {
            if labelled_repos.insert(scope.repo.clone()) {
                if let Err(e) = self.client.ensure_label(&scope.repo, &self.label()).await {
                    report.fail(format!("label in {}", scope.repo), e);
                    continue;
                }
            }
            let required = (self.required)(scope);
            match self
                .client
                .list_open_pulls(&scope.repo, &scope.branch)
                .await
            {
                Ok(prs) => actions.extend(plan_labels(
                    &scope.repo,
                    &prs,
                    &self.config.label,
                    self.config.label_prs,
                    &required,
                    |pr| exempt_on(blocking, &scope.repo, pr),
                )),
                Err(e) => report.fail(format!("listing PRs of {scope}"), e),
            }
        }
        actions.sort_by_key(|a| (!a.ready, a.add && !a.ready));
        self.execute(&actions, report).await;
    }

    fn label(&self) -> Label {
        Label {
            name: self.config.label.clone(),
            color: LABEL_COLOR.into(),
            description: Some(LABEL_DESCRIPTION.into()),
        }
    }

    /// Applies label changes in order; a failed one is reported and the rest go on. After
    /// [`Reconciler::with_handle`]'s `yield_after`, it stops early when newer wants wait
    /// (and says so in `report.cut_short`); a pass already cut short changes nothing more.
    async fn execute(&self, actions: &[LabelAction], report: &mut Report) {
        if report.cut_short {
            return;
        }
        let started = std::time::Instant::now();
        for (done, a) in actions.iter().enumerate() {
            if done > 0
                && started.elapsed() >= self.yield_after
                && self.handle.as_ref().is_some_and(Handle::pending)
            {
                tracing::info!(
                    done,
                    left = actions.len() - done,
                    "label run cut short: newer wants go first"
                );
                report.cut_short = true;
                return;
            }
            self.apply_label(a, report).await;
        }
    }

    /// One label change; a failure is reported.
    async fn apply_label(&self, a: &LabelAction, report: &mut Report) {
        let label = self.config.label.clone();
        let done = if a.add {
            self.client
                .add_labels(&a.repo, a.pr, std::slice::from_ref(&label))
                .await
                .map(|_| report.labels_added += 1)
        } else {
            // A 404 means someone removed it meanwhile: just as good.
            self.client
                .remove_label(&a.repo, a.pr, &label)
                .await
                .map(|_| report.labels_removed += 1)
        };
        if let Err(e) = done {
            report.fail(format!("{}#{}", a.repo, a.pr.0), e);
        }
    }

    /// The fast path for one PR (an event made it selected, or someone removed the label
    /// by hand): reads the PR and labels or unlabels it as the active incidents in the
    /// store want, with no full pass.
    pub async fn label_pr_now(&self, repo: &RepoName, pr: PrNumber) -> anyhow::Result<PrOutcome> {
        let incidents = self.store.active_incidents().context("reading incidents")?;
        self.ensure_pr(&incidents, repo, pr).await
    }

    /// As [`Reconciler::label_pr_now`] against `incidents`.
    pub async fn ensure_pr(
        &self,
        incidents: &[Incident],
        repo: &RepoName,
        pr: PrNumber,
    ) -> anyhow::Result<PrOutcome> {
        let Some(found) = self.client.get_pull(repo, pr).await? else {
            return Ok(PrOutcome::Unchanged);
        };
        if found.state != "open" {
            return Ok(PrOutcome::Unchanged);
        }
        let scope = Scope {
            repo: repo.clone(),
            branch: found.base_branch().to_string(),
        };
        let covered = coverage(incidents);
        let Some(blocking) = covered.get(&scope) else {
            return Ok(PrOutcome::Unchanged);
        };
        let required = (self.required)(&scope);
        let actions = plan_labels(
            repo,
            std::slice::from_ref(&found),
            &self.config.label,
            self.config.label_prs,
            &required,
            |n| exempt_on(blocking, repo, n),
        );
        let Some(action) = actions.first() else {
            return Ok(PrOutcome::Unchanged);
        };
        if action.add {
            self.client.ensure_label(repo, &self.label()).await?;
        }
        let mut report = Report::default();
        self.execute(&actions, &mut report).await;
        if let Some(error) = report.errors.first() {
            anyhow::bail!("{error}");
        }
        Ok(if action.add {
            PrOutcome::Labelled
        } else {
            PrOutcome::Unlabelled
        })
    }
}

fn now() -> Timestamp {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    Timestamp(secs)
}

// ----- running it -----

#[derive(Default)]
struct Wants {
    full: bool,
    prs: BTreeSet<(RepoName, PrNumber)>,
}

/// How the rest of the plugin pokes the running reconciler. Cheap to clone.
#[derive(Clone, Default)]
pub struct Handle {
    notify: Arc<Notify>,
    wants: Arc<Mutex<Wants>>,
}

impl Handle {
    /// Asks for a full pass soon (the incidents changed).
    pub fn poke(&self) {
        self.wants.lock().expect("reconcile wants lock").full = true;
        self.notify.notify_one();
    }

    /// Asks for one PR to be labelled (or unlabelled) now, without a full pass.
    pub fn label_pr(&self, repo: RepoName, pr: PrNumber) {
        {
            let mut wants = self.wants.lock().expect("reconcile wants lock");
            if wants.prs.len() < FAST_PATH_MAX {
                wants.prs.insert((repo, pr));
            } else {
                wants.full = true;
            }
        }
        self.notify.notify_one();
    }

    /// Whether anything waits: a full pass or a PR.
    fn pending(&self) -> bool {
        let wants = self.wants.lock().expect("reconcile wants lock");
        wants.full || !wants.prs.is_empty()
    }

    fn take(&self) -> Wants {
        std::mem::take(&mut *self.wants.lock().expect("reconcile wants lock"))
    }
}

/// Starts the reconciler of `app` in the background, under `supervisor` (task
/// `reconciler`, rebuilt from `app` on a restart): a full pass at once, then on every
/// poke, every `reconcile.resync_interval`, and sooner after a pass that failed part-way.
/// It stops on the supervisor's stop (a pass cut short is safe: the next one finishes it).
pub fn spawn(
    app: &crate::App,
    supervisor: &crate::supervise::Supervisor,
) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    supervisor.spawn("reconciler", move |stop| {
        let reconciler = reconciler_of(&app);
        let handle = app.reconcile.clone();
        async move {
            run(reconciler, handle, stop).await;
            Ok(())
        }
    })
}

/// The reconciler of a running plugin, reading Tide's state for ready rules and leaks.
fn reconciler_of(app: &crate::App) -> Reconciler {
    let tide = app.tide.clone();
    let ready_labels = app.config.ready_labels.clone();
    let rules: ReadyRules = Arc::new(move |scope| {
        tide.read()
            .map(|t| t.ready_rule(scope, &ready_labels))
            .unwrap_or_else(|_| ReadyRule::from_labels(&ready_labels))
    });
    let live = app.tide.clone();
    let leaks: Leaks = Arc::new(move |scope, incident| {
        let state = live.read().ok()?;
        let check = state.live.get(&scope.to_string())?;
        if &check.incident != incident {
            return None;
        }
        let prs = match &check.verdict {
            crate::core::tide::PoolVerdict::WouldMerge { prs } => prs.clone(),
            _ => Vec::new(),
        };
        check
            .first_leak_at
            .map(|first_seen| Leak { first_seen, prs })
    });
    Reconciler::new(app.github.clone(), app.config.clone(), app.store.clone())
        .with_ready_rules(rules)
        .with_leaks(leaks)
        .with_findings(app.queue.clone())
        .with_handle(app.reconcile.clone(), YIELD_AFTER)
}

/// How one turn of [`run`] ended.
enum Pass {
    Converged,
    /// Labelling stopped part-way for newer wants (not a failure: no backoff).
    CutShort,
    Failed,
}

/// The loop [`spawn`] runs.
pub async fn run(reconciler: Reconciler, handle: Handle, mut stop: watch::Receiver<bool>) {
    let resync = reconciler.config.reconcile.resync_interval;
    let mut retry = RETRY_AFTER_FAILURE;
    let mut full = true;
    loop {
        let wants = handle.take();
        full |= wants.full;
        let work = async {
            // One PR that fails is left to the full pass; the others go on.
            let mut failed = false;
            for (repo, pr) in &wants.prs {
                match reconciler.label_pr_now(repo, *pr).await {
                    Ok(outcome) => tracing::info!(repo = %repo, pr = pr.0, ?outcome, "fast path"),
                    Err(e) => {
                        tracing::warn!(repo = %repo, pr = pr.0, error = format!("{e:#}"), "fast path failed; left to the full pass");
                        failed = true;
                    }
                }
            }
            if failed {
                return Pass::Failed;
            }
            if !full {
                return Pass::Converged;
            }
            match reconciler.reconcile().await {
                Ok(report) if report.converged() => Pass::Converged,
                Ok(report) if report.cut_short && report.errors.is_empty() => Pass::CutShort,
                Ok(_) => Pass::Failed,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "reconcile pass failed");
                    Pass::Failed
                }
            }
        };
        let pass = tokio::select! {
            pass = work => pass,
            _ = stop.changed() => return,
        };
        let wait = match pass {
            Pass::Converged => {
                retry = RETRY_AFTER_FAILURE;
                full = false;
                resync
            }
            // Newer wants are waiting: at once, and the next pass finishes the work.
            Pass::CutShort => {
                full = true;
                continue;
            }
            Pass::Failed => {
                let wait = retry.min(resync);
                retry = (retry * 2).min(resync);
                full = true;
                wait
            }
        };
        tokio::select! {
            _ = handle.notify.notified() => {}
            _ = tokio::time::sleep(wait) => full = true,
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::types::{GitRef, User};

    fn pr(number: u64, labels: &[&str]) -> PullRequest {
        PullRequest {
            number,
            title: format!("pr {number}"),
            state: "open".into(),
            user: User {
                login: "dev".into(),
                kind: None,
            },
            labels: labels
                .iter()
                .map(|l| Label {
                    name: l.to_string(),
                    color: String::new(),
                    description: None,
                })
                .collect(),
            base: GitRef {
                branch: "master".into(),
                sha: String::new(),
            },
            head: GitRef {
                branch: "x".into(),
                sha: String::new(),
            },
            created_at: None,
            updated_at: None,
            merged_at: None,
        }
    }

    const L: &str = "do-not-merge/scalability-regression";

    fn required() -> ReadyRule {
        ReadyRule::from_labels(&["lgtm".into(), "approved".into()])
    }

    fn repo() -> RepoName {
        RepoName::parse("o/r").unwrap()
    }

    #[test]
    fn ready_mode_labels_only_ready_prs_and_never_twice() {
        let prs = vec![
            pr(1, &["lgtm", "approved"]),
            pr(2, &["lgtm"]),
            pr(3, &["LGTM", "Approved", L]),
            pr(4, &[]),
        ];
        let actions = plan_labels(&repo(), &prs, L, LabelPrs::Ready, &required(), |_| false);
        assert_eq!(
            actions,
            vec![LabelAction {
                repo: repo(),
                pr: PrNumber(1),
                add: true,
                ready: true
            }]
        );
    }

    #[test]
    fn all_mode_labels_ready_first_and_exempt_prs_lose_the_label() {
        let prs = vec![
            pr(1, &[]),
            pr(2, &["lgtm", "approved"]),
            pr(3, &[L]),
            pr(4, &["lgtm", "approved"]),
        ];
        let exempt = |n: PrNumber| n.0 == 3 || n.0 == 4;
        let actions = plan_labels(&repo(), &prs, L, LabelPrs::All, &required(), exempt);
        let got: Vec<(u64, bool)> = actions.iter().map(|a| (a.pr.0, a.add)).collect();
        assert_eq!(got, vec![(2, true), (3, false), (1, true)]);
    }

    #[test]
    fn lifting_removes_every_label_ready_first() {
        let prs = vec![pr(1, &[L]), pr(2, &["lgtm", "approved", L]), pr(3, &[])];
        let got: Vec<(u64, bool)> = plan_lift(&repo(), &prs, L, &required())
            .iter()
            .map(|a| (a.pr.0, a.add))
            .collect();
        assert_eq!(got, vec![(2, false), (1, false)]);
    }

    /// A config gating one job on `repo`'s master with `label_prs: all`, against `fake`,
    /// and a client of it.
    fn all_mode(fake: &crate::github::fake::FakeGithub, repo: &str) -> (Config, Client) {
        use crate::config::JobConfig;
        use crate::github::client::ClientOptions;
        let mut config = Config {
            jobs: vec![JobConfig::new("job", repo, "master")],
            dry_run: false,
            label_prs: LabelPrs::All,
            ..Config::default()
        };
        config.github.endpoints = vec![fake.url()];
        let client = Client::new(ClientOptions::new(vec![fake.url()], Some(fake.token()))).unwrap();
        (config, client)
    }

    /// With `label_prs: all`, removing every label can take hours of budget: the blocker
    /// issue (which holds the whole branch in Tide) is closed right after the ready PRs
    /// lose the label, before the other PRs do.
    #[tokio::test]
    async fn lifting_closes_the_blocker_issue_after_the_ready_prs_before_the_others() {
        use crate::github::fake::{FakeGithub, PrSpec};
        use crate::model::{BuildId, Cause, IncidentState, JobName, RunRef};

        const REPO: &str = "o/r";
        let fake = FakeGithub::start().await.unwrap();
        let other = fake.add_pr(REPO, PrSpec::new("master").labels(&["kind/bug"]));
        let ready = fake.add_pr(REPO, PrSpec::new("master").labels(&["lgtm", "approved"]));
        let (config, client) = all_mode(&fake, REPO);
        let reconciler = Reconciler::new(client, Arc::new(config), Store::temporary().unwrap());
        let run = |b: &str| RunRef {
            build_id: BuildId::new(b),
            url: String::new(),
            started_at: None,
            commits: Default::default(),
        };
        let mut incident = Incident::new(
            IncidentId::new("job-2"),
            JobName::new("job"),
            Timestamp(0),
            Cause::Regression {
                first_red: run("2"),
                last_green: run("1"),
            },
            vec![Scope {
                repo: repo(),
                branch: "master".into(),
            }],
        );
        let blocked = reconciler
            .reconcile_incidents(std::slice::from_ref(&incident))
            .await;
        assert!(blocked.converged(), "{blocked:?}");
        assert_eq!(blocked.labels_added, 2);

        incident.state = IncidentState::Lifted {
            by: "approver".into(),
            reason: String::new(),
            at: Timestamp(1),
        };
        fake.clear_log();
        let lifted = reconciler
            .reconcile_incidents(std::slice::from_ref(&incident))
            .await;
        assert!(lifted.converged(), "{lifted:?}");
        let order: Vec<String> = fake
            .requests()
            .iter()
            .filter(|r| r.method == "DELETE" || r.method == "PATCH")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        let removal = |n: u64| {
            order
                .iter()
                .position(|r| {
                    r.starts_with("DELETE") && r.contains(&format!("/issues/{n}/labels/"))
                })
                .unwrap_or_else(|| panic!("no removal on #{n}: {order:?}"))
        };
        let close = order
            .iter()
            .position(|r| r.starts_with("PATCH"))
            .unwrap_or_else(|| panic!("the issue was not closed: {order:?}"));
        assert!(
            removal(ready) < close && close < removal(other),
            "ready PR, then the issue, then the rest: {order:?}"
        );
    }

    /// With `label_prs: all` a pass labels for hours; an unblock meanwhile must not wait
    /// for it. The running loop stops the label run, and the next pass removes what was
    /// added and closes the issue: the block stops growing at once.
    #[tokio::test]
    async fn an_unblock_cuts_a_long_label_run_short() {
        use crate::github::fake::{FakeGithub, PrSpec};
        use crate::model::{Cause, IncidentState, JobName, Login};

        const REPO: &str = "o/r";
        const PRS: usize = 40;
        let fake = FakeGithub::start().await.unwrap();
        let prs: Vec<u64> = (0..PRS)
            .map(|_| fake.add_pr(REPO, PrSpec::new("master")))
            .collect();
        let (config, client) = all_mode(&fake, REPO);
        let label = config.label.clone();
        let store = Store::temporary().unwrap();
        let handle = Handle::default();
        let reconciler = Reconciler::new(client, Arc::new(config), store.clone())
            .with_handle(handle.clone(), Duration::ZERO);
        let id = IncidentId::new("manual-1");
        store
            .put_incident(&Incident::new(
                id.clone(),
                JobName::new("job"),
                Timestamp(0),
                Cause::Manual {
                    by: Login::new("approver"),
                    reason: String::new(),
                },
                vec![Scope {
                    repo: repo(),
                    branch: "master".into(),
                }],
            ))
            .unwrap();
        fake.set_latency(Duration::from_millis(20));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(reconciler, handle.clone(), stopped));
        let labelled = |fake: &FakeGithub| {
            prs.iter()
                .filter(|n| fake.labels_of(REPO, **n).contains(&label))
                .count()
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while labelled(&fake) < 3 {
            assert!(tokio::time::Instant::now() < deadline, "nothing labelled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        store
            .update_incident(&id, |i| {
                let mut i = i?;
                i.state = IncidentState::Lifted {
                    by: "approver".into(),
                    reason: String::new(),
                    at: Timestamp(1),
                };
                Some(i)
            })
            .unwrap();
        handle.poke();
        while labelled(&fake) > 0 || fake.issues(REPO).iter().any(|i| i.is_open()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "not lifted in 20 s: {} PRs still labelled (the label run went on, spending \
                 the minute's budget?)",
                labelled(&fake)
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let adds = fake
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.ends_with("/labels"))
            .count();
        assert!(
            adds < PRS,
            "the label run went on after the unblock: {adds} adds"
        );
        stop.send(true).unwrap();
        task.await.unwrap();
    }

    /// Markers on GitHub count only on what the plugin's login wrote: a stranger's comment
    /// or issue copying one, a PR, or anything while the login is unknown counts nothing.
    #[test]
    fn only_the_plugins_own_comments_and_issues_carry_markers() {
        use crate::github::types::PullRequestLink;
        let me = Login::new("scalability-gate-bot");
        let id = IncidentId::new("job-3");
        let marker = comment::announcement_marker(&id);
        let said = |login: &str| Comment {
            id: 1,
            body: format!("text\n\n{marker}"),
            user: User {
                login: login.into(),
                kind: None,
            },
            created_at: None,
            html_url: None,
        };
        assert!(!has_marker(Some(&me), &[said("mallory")], &marker));
        assert!(!has_marker(None, &[said("scalability-gate-bot")], &marker));
        assert!(has_marker(
            Some(&me),
            &[said("mallory"), said("scalability-gate-bot")],
            &marker
        ));
        assert!(!has_marker(Some(&me), &[], &marker));

        let issue_marker = comment::issue_marker(&id, "master");
        let mut issue = Issue {
            number: 5,
            title: "t".into(),
            body: Some(format!("body\n\n{issue_marker}")),
            state: "open".into(),
            user: User {
                login: "mallory".into(),
                kind: None,
            },
            labels: vec![],
            html_url: None,
            pull_request: None,
            created_at: None,
        };
        assert!(!is_our_issue(&me, &issue, &issue_marker), "a stranger's");
        issue.user.login = "scalability-gate-bot".into();
        assert!(is_our_issue(&me, &issue, &issue_marker));
        assert!(!is_our_issue(
            &me,
            &issue,
            &comment::issue_marker(&id, "release-1.34")
        ));
        issue.pull_request = Some(PullRequestLink { url: None });
        assert!(!is_our_issue(&me, &issue, &issue_marker), "never a PR");
    }

    #[test]
    fn issue_steps() {
        let mut issue = Issue {
            number: 5,
            title: "t".into(),
            body: Some("b".into()),
            state: "open".into(),
            user: User {
                login: "bot".into(),
                kind: None,
            },
            labels: vec![],
            html_url: None,
            pull_request: None,
            created_at: None,
        };
        assert_eq!(plan_issue(None, "b"), IssueStep::Create);
        assert_eq!(plan_issue(Some(&issue), "b"), IssueStep::Keep(PrNumber(5)));
        assert_eq!(
            plan_issue(Some(&issue), "c"),
            IssueStep::UpdateBody(PrNumber(5))
        );
        issue.state = "closed".into();
        assert_eq!(
            plan_issue(Some(&issue), "b"),
            IssueStep::Reopen(PrNumber(5))
        );
    }
}
