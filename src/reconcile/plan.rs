//! The reconciler's decisions, pure: a snapshot of GitHub (PRs, an issue, comments) and
//! the incidents go in, the changes that bring GitHub in line come out; nothing here sends
//! a request. Also what counts as the plugin's own (a marker only on what its login wrote).

use std::collections::BTreeMap;

use crate::comment;
use crate::config::LabelPrs;
use crate::core::tide::ReadyRule;
use crate::github::types::{Comment, Issue, PullRequest};
use crate::model::{Incident, Login, PrNumber, RepoName, Scope};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::github::types::{GitRef, Label, User};
    use crate::model::IncidentId;

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
