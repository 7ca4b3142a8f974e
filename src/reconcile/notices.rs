//! Comments posted once: each carries a hidden marker and is posted only when no comment
//! of the plugin's own login there carries it; the gate's replies waiting in the store's
//! outbox are posted so and leave it.

use super::plan::has_marker;
use super::{CREATE_ATTEMPTS, CREATE_BACKOFF, Reconciler, Report};
use crate::comment;
use crate::model::{PrNumber, RepoName};
use crate::store::PendingReply;

impl Reconciler {
    /// Posts `text()` on `repo#number` unless a comment there by the plugin's own login
    /// carries `marker` ([`has_marker`]: a stranger's copy of the marker suppresses
    /// nothing). A post that may have gone through although it failed (5xx, connection
    /// broken) is looked for again before it is sent again.
    ///
    /// Without the login no marker counts, so the comment is posted: a notice or reply
    /// said twice is better than one a forged marker could suppress. Only the outbox's
    /// replies and notices get here so (a notice of the reconciler's own first needs the
    /// incident's issue, which needs the login), and each leaves the outbox once posted.
    pub(super) async fn comment_once(
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
            let (own, comments) = if self.client.has_credentials() {
                let own = self.own_login().await;
                (own, self.client.list_comments(repo, number).await?)
            } else {
                // Dry-run without GitHub: nothing to read, and the post below is only
                // logged and shown (outside dry-run it fails: no token).
                (None, Vec::new())
            };
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

    /// Posts the gate's replies from the outbox, each once (found by its marker).
    pub(super) async fn post_pending_replies(&self, report: &mut Report) {
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

    /// Without GitHub credentials: in dry-run the outbox's replies are "posted" (logged
    /// with their text and shown, see the client's `would_have_sent`) and leave the outbox;
    /// outside dry-run they wait.
    pub(super) async fn post_replies_without_github(&self) {
        if !self.client.is_dry_run() {
            return;
        }
        let mut report = Report::default();
        self.post_pending_replies(&mut report).await;
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
}
