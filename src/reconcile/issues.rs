//! The blocker issues: each incident's issue on each scope found by its marker (only the
//! plugin's own), opened once (a create that may have gone through is looked for before
//! it is sent again), reopened or edited to the current body, announced on, and closed
//! with a notice when the incident is lifted.

use super::plan::{IssueStep, is_our_issue, plan_issue};
use super::{CREATE_ATTEMPTS, CREATE_BACKOFF, Reconciler, Report};
use crate::comment;
use crate::core::gate::Finding;
use crate::github::types::{Issue, IssueEdit, IssueState, NewIssue};
use crate::model::{Incident, IncidentId, PrNumber, RepoName, Scope};

impl Reconciler {
    /// The label our issues carry, and that they are found by.
    fn issue_label(&self) -> &str {
        if self.config.tide.blocker_label.is_empty() {
            &self.config.label
        } else {
            &self.config.tide.blocker_label
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
    pub(super) async fn find_issue(
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
    pub(super) async fn ensure_issue(
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
                if incident.issue_opened_at.is_none() {
                    // The block took effect: the end of the incident's time to block. Not
                    // worth failing the pass over (the figure is then missing).
                    let opened = Finding::IssueOpened {
                        incident: incident.id.clone(),
                        at: self.clock.now(),
                    };
                    if let Err(e) = self.record(opened).await {
                        tracing::warn!(incident = %incident.id, error = format!("{e:#}"),
                            "cannot record when the blocker issue opened");
                    }
                }
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

    /// A closed issue's body brought up to date (a culprit recorded after the lift),
    /// without opening it again; nothing when it already says the same.
    async fn refresh_body(
        &self,
        incident: &Incident,
        scope: &Scope,
        issue: &Issue,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let body = comment::blocker_body(incident, scope, &self.notice_context(scope));
        if issue.body_text() != body {
            self.edit_issue(&scope.repo, PrNumber(issue.number), body, false, report)
                .await?;
        }
        Ok(())
    }

    /// The bodies of a lifted incident's issues, cleaned up before a culprit was recorded
    /// on it: brought up to date (the issues stay closed).
    pub(super) async fn show_late_culprit(
        &self,
        incident: &Incident,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        for scope in &incident.scopes {
            if let Some(issue) = self.find_issue(&incident.id, scope).await? {
                self.refresh_body(incident, scope, &issue, report).await?;
            }
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

    pub(super) async fn close_issue(
        &self,
        incident: &Incident,
        scope: &Scope,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        let Some(issue) = self.find_issue(&incident.id, scope).await? else {
            return Ok(());
        };
        let number = PrNumber(issue.number);
        // Closed first, then the notice: people wait on the close (it lifts Tide's block).
        if issue.is_open() {
            self.client.close_issue(&scope.repo, number).await?;
            report.issues_closed += 1;
        }
        self.refresh_body(incident, scope, &issue, report).await?;
        self.comment_once(
            &scope.repo,
            number,
            &comment::lifted_marker_of(incident),
            || comment::lift_notice(incident),
            report,
        )
        .await
    }
}
