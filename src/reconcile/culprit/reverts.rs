//! Reverts of suspects: an open PR the plugin itself opened that says it reverts the
//! suspect is adopted (a lost answer of an earlier try), else
//! GitHub's `revertPullRequest` opens one, and the outcome is reported to the gate; while
//! the blocker issue holds the branch, the revert PR and the issue are told so once.

use crate::comment;
use crate::core::gate::Finding;
use crate::github::GithubError;
use crate::model::{Incident, Login, PrNumber, RepoName, Scope};
use crate::reconcile::{Reconciler, Report};

/// Whether `pr` is a revert of `repo#number` that the plugin itself opened: authored by
/// its own login and saying so in GitHub's revert body. Only such a PR is adopted (and so
/// exempted): anyone can open a PR whose body says "Reverts ...", and adopting a
/// stranger's would let it merge through the block. With the login unknown, nothing is.
pub fn is_our_revert(
    own: Option<&Login>,
    author: &str,
    body: &str,
    repo: &RepoName,
    number: PrNumber,
) -> bool {
    own.is_some_and(|me| me.as_str().eq_ignore_ascii_case(author))
        && says_reverts(body, repo, number)
}

/// Whether `body` says it reverts `repo#number` (GitHub's revert body), exactly.
pub fn says_reverts(body: &str, repo: &RepoName, number: PrNumber) -> bool {
    let wanted = format!("reverts {repo}#{}", number.0).to_ascii_lowercase();
    body.lines().any(|line| {
        let line = line.trim().to_ascii_lowercase();
        line.strip_prefix(&wanted)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_digit()))
    })
}

/// Whether a GitHub failure will not go away by trying again (so it is reported to the
/// gate rather than retried by the next pass).
fn is_permanent(error: &GithubError) -> bool {
    match error {
        GithubError::Graphql(_) => true,
        GithubError::Status { status, .. } => {
            (400..500).contains(status) && !matches!(status, 403 | 429)
        }
        _ => false,
    }
}

impl Reconciler {
    /// Opens (or adopts) the revert PR of `suspect` and reports it; true when a finding
    /// was recorded.
    pub(super) async fn open_revert(
        &self,
        incident: &Incident,
        repo: &RepoName,
        suspect: PrNumber,
        report: &mut Report,
    ) -> anyhow::Result<bool> {
        let failed = |error: String| Finding::RevertFailed {
            incident: incident.id.clone(),
            repo: repo.clone(),
            suspect,
            error,
        };
        let Some(original) = self.client.get_pull_detail(repo, suspect).await? else {
            self.record(failed(format!("{repo}#{} does not exist", suspect.0)))
                .await?;
            return Ok(true);
        };
        if original.merged().is_none() {
            self.record(failed(format!(
                "{repo}#{} is not merged, so there is nothing to revert",
                suspect.0
            )))
            .await?;
            return Ok(true);
        }
        let open = self
            .client
            .list_open_pulls_detail(repo, original.pull.base_branch())
            .await?;
        let own = self.own_login().await;
        let ours = |p: &&crate::github::types::PullRequestDetail| {
            is_our_revert(
                own.as_ref(),
                &p.pull.user.login,
                p.body_text(),
                repo,
                suspect,
            )
        };
        let adopted = open.iter().find(ours).map(|p| PrNumber(p.pull.number));
        let revert_pr = match adopted {
            Some(pr) => {
                tracing::info!(incident = %incident.id, suspect = suspect.0, revert = pr.0, "adopting an open revert PR");
                pr
            }
            None => {
                let Some(node_id) = original.node_id.as_deref() else {
                    self.record(failed(format!(
                        "GitHub gave no node id for {repo}#{}",
                        suspect.0
                    )))
                    .await?;
                    return Ok(true);
                };
                match self.client.revert_pull_in(repo, node_id, None, None).await {
                    Ok(Some(reverted)) => {
                        report.reverts_opened += 1;
                        tracing::info!(incident = %incident.id, suspect = suspect.0, revert = reverted.revert.0, "revert PR opened");
                        reverted.revert
                    }
                    Ok(None) => return Ok(false), // dry-run: nothing was opened
                    Err(e) if is_permanent(&e) => {
                        self.record(failed(e.to_string())).await?;
                        return Ok(true);
                    }
                    Err(e) if !e.may_have_happened() => return Err(e.into()),
                    Err(e) => {
                        // The answer may be lost although GitHub opened it: look again at
                        // once, so this pass exempts it before the labelling step.
                        let again = self
                            .client
                            .list_open_pulls_detail(repo, original.pull.base_branch())
                            .await?;
                        let Some(found) = again.iter().find(ours) else {
                            return Err(e.into());
                        };
                        tracing::warn!(incident = %incident.id, suspect = suspect.0, revert = found.pull.number,
                            error = %e, "the revert's answer was lost; it was opened all the same");
                        PrNumber(found.pull.number)
                    }
                }
            }
        };
        self.record(Finding::RevertOpened {
            incident: incident.id.clone(),
            repo: repo.clone(),
            suspect,
            revert_pr,
        })
        .await?;
        Ok(true)
    }

    /// While the incident's blocker issue on the revert's branch is open, Tide merges
    /// nothing there, the exempt revert included: says so once on the revert PR and once
    /// on the issue.
    pub(super) async fn hard_block_notices(
        &self,
        incident: &Incident,
        repo: &RepoName,
        suspect: PrNumber,
        revert_pr: PrNumber,
        report: &mut Report,
    ) -> anyhow::Result<()> {
        if self.config.tide.blocker_label.is_empty() {
            return Ok(()); // soft mode: the exempt revert merges through Tide
        }
        let Some(pr) = self.client.get_pull(repo, revert_pr).await? else {
            return Ok(());
        };
        if pr.state != "open" {
            return Ok(());
        }
        let scope = Scope {
            repo: repo.clone(),
            branch: pr.base_branch().to_string(),
        };
        if !incident.scopes.contains(&scope) {
            return Ok(());
        }
        let Some(issue) = self
            .find_issue(&incident.id, &scope)
            .await?
            .filter(|i| i.is_open())
        else {
            return Ok(());
        };
        let ctx = self.notice_context(&scope);
        self.comment_once(
            repo,
            revert_pr,
            &comment::revert_notice_marker(&incident.id),
            || {
                comment::revert_hard_block_on_pr(
                    incident,
                    &scope,
                    suspect,
                    PrNumber(issue.number),
                    &ctx,
                )
            },
            report,
        )
        .await?;
        self.comment_once(
            repo,
            PrNumber(issue.number),
            &comment::revert_hard_block_marker(&incident.id, revert_pr),
            || comment::revert_hard_block_on_issue(incident, &scope, suspect, revert_pr, &ctx),
            report,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revert_bodies_are_matched_exactly() {
        let repo = RepoName::parse("kubernetes/kubernetes").unwrap();
        assert!(says_reverts(
            "Reverts kubernetes/kubernetes#12",
            &repo,
            PrNumber(12)
        ));
        assert!(says_reverts(
            "Some text\nreverts Kubernetes/Kubernetes#12.\n",
            &repo,
            PrNumber(12)
        ));
        assert!(!says_reverts(
            "Reverts kubernetes/kubernetes#123",
            &repo,
            PrNumber(12)
        ));
        assert!(!says_reverts("Reverts other/repo#12", &repo, PrNumber(12)));
        assert!(!says_reverts("", &repo, PrNumber(12)));
    }

    #[test]
    fn only_the_plugins_own_revert_is_adopted() {
        let repo = RepoName::parse("kubernetes/kubernetes").unwrap();
        let me = Login::new("gate-bot");
        let body = "Reverts kubernetes/kubernetes#12";
        assert!(is_our_revert(
            Some(&me),
            "Gate-Bot",
            body,
            &repo,
            PrNumber(12)
        ));
        assert!(!is_our_revert(
            Some(&me),
            "mallory",
            body,
            &repo,
            PrNumber(12)
        ));
        assert!(!is_our_revert(None, "gate-bot", body, &repo, PrNumber(12)));
        assert!(!is_our_revert(
            Some(&me),
            "gate-bot",
            "Reverts x/y#12",
            &repo,
            PrNumber(12)
        ));
    }

    #[test]
    fn only_client_errors_are_permanent() {
        let status = |status| GithubError::Status {
            method: "GET".into(),
            path: "/x".into(),
            status,
            message: String::new(),
        };
        assert!(is_permanent(&GithubError::Graphql("no".into())));
        assert!(is_permanent(&status(422)));
        assert!(!is_permanent(&status(502)));
        assert!(!is_permanent(&status(403)));
        assert!(!is_permanent(&GithubError::Transport {
            method: "GET".into(),
            path: "/x".into(),
            message: "reset".into()
        }));
    }
}
