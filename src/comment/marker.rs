//! The hidden markers in what the plugin posts, and whose copy of one counts.
//!
//! Each text the reconciler posts carries `<!-- scalability-gate:<incident>:<kind> -->`
//! so it can tell what it has already posted, across crashes; a reply carries one keyed by
//! the comment it answers, so it is never posted twice. A marker counts only on what the
//! plugin itself wrote ([`ours`]).

use crate::model::{IncidentId, PrNumber};

/// A hidden marker: `<!-- scalability-gate:<incident>:<kind> -->`.
pub fn marker(incident: &crate::model::IncidentId, kind: &str) -> String {
    format!("<!-- scalability-gate:{incident}:{kind} -->")
}

/// Every `(incident, kind)` marker in `text`, in order.
pub fn parse_markers(text: &str) -> Vec<(crate::model::IncidentId, String)> {
    const OPEN: &str = "<!-- scalability-gate:";
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find(" -->") else {
            break;
        };
        if let Some((id, kind)) = after[..end].split_once(':') {
            found.push((crate::model::IncidentId::new(id), kind.to_string()));
        }
        rest = &after[end..];
    }
    found
}

/// Whether a comment or issue that `author` wrote, whose text is `body`, carries `marker`
/// as the plugin's own. **Every check of a hidden marker found on GitHub goes through
/// here.** Anyone can paste `<!-- scalability-gate:... -->` into a comment or an issue, so
/// a marker counts only on what the plugin's own login `own` wrote (the token's owner, or
/// a GitHub App's `<slug>[bot]`; logins compare without case, as on GitHub); on anything
/// else it counts for nothing, and the plugin acts as if it had not been posted.
///
/// `own` is `None` while GitHub has not said who the plugin is: then no marker counts.
/// That is the side a stranger cannot exploit (a forged marker never suppresses a
/// notice); a caller for which "not found" would do harm when repeated (opening an issue,
/// closing one) must not act without the login at all (see the reconciler).
pub fn ours(own: Option<&crate::model::Login>, author: &str, body: &str, marker: &str) -> bool {
    own.is_some_and(|me| me.as_str().eq_ignore_ascii_case(author)) && body.contains(marker)
}

/// The incident an issue belongs to, when it is one of our blocker/tracking issues: its
/// body carries an issue marker and `author` is the plugin's own login (see [`ours`]).
pub fn issue_incident(
    own: Option<&crate::model::Login>,
    author: &str,
    body: &str,
) -> Option<crate::model::IncidentId> {
    parse_markers(body)
        .into_iter()
        .find(|(id, kind)| kind.starts_with("issue/") && ours(own, author, body, &marker(id, kind)))
        .map(|(id, _)| id)
}

/// The hidden marker of the reply to comment `comment_id`:
/// `<!-- scalability-gate:reply-<comment_id>:reply -->`.
pub fn reply_marker(comment_id: u64) -> String {
    format!("<!-- scalability-gate:reply-{comment_id}:reply -->")
}

/// The marker of an incident's blocker or tracking issue on one branch.
pub fn issue_marker(incident: &crate::model::IncidentId, branch: &str) -> String {
    marker(incident, &format!("issue/{branch}"))
}

/// The marker of an incident's announcement comment.
pub fn announcement_marker(incident: &crate::model::IncidentId) -> String {
    marker(incident, "announce")
}

/// The marker of the notice of one breach (a PR merged during the incident).
pub fn breach_marker(incident: &crate::model::IncidentId, pr: crate::model::PrNumber) -> String {
    marker(incident, &format!("breach/{}", pr.0))
}

/// The marker of the notice that Tide's pool on `branch` did not hold.
pub fn tide_leak_marker(incident: &crate::model::IncidentId, branch: &str) -> String {
    marker(incident, &format!("tide-leak/{branch}"))
}

/// The marker of an incident's lift notice.
pub fn lifted_marker(incident: &crate::model::IncidentId) -> String {
    marker(incident, "lifted")
}

/// The hidden marker of an incident's recovery notice.
pub fn recovered_marker(incident: &IncidentId) -> String {
    format!("<!-- scalability-gate:{incident}:recovered -->")
}

/// The marker of the notice that a scope's suspect range was longer than what was read.
pub fn range_cut_marker(incident: &IncidentId, branch: &str) -> String {
    marker(incident, &format!("range-cut/{branch}"))
}

/// The marker of the hard-block notice on a revert PR.
pub fn revert_notice_marker(incident: &IncidentId) -> String {
    marker(incident, "revert-notice")
}

/// The marker of the hard-block notice about revert PR `revert_pr` on the incident's issue.
pub fn revert_hard_block_marker(incident: &IncidentId, revert_pr: PrNumber) -> String {
    marker(incident, &format!("revert-hard-block/{}", revert_pr.0))
}

/// The marker of escalation step `step` (1: mention, 2: suggest a revert).
pub fn escalation_marker(incident: &IncidentId, step: u8) -> String {
    marker(incident, &format!("escalate-{step}"))
}

/// The marker of the notice that the revert of `suspect` failed.
pub fn revert_failed_marker(incident: &IncidentId, suspect: PrNumber) -> String {
    marker(incident, &format!("revert-failed/{}", suspect.0))
}

/// The marker of a rerun's notice of `kind` (`failed`, `result`).
pub fn rerun_marker(incident: &IncidentId, rerun: u64, kind: &str) -> String {
    marker(incident, &format!("rerun/{rerun}/{kind}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_parse_back() {
        let id = IncidentId::new("j-1");
        let text = format!("x {} y {}", announcement_marker(&id), lifted_marker(&id));
        assert_eq!(
            parse_markers(&text),
            vec![(id.clone(), "announce".into()), (id, "lifted".into())]
        );
        let me = crate::model::Login::new("gate-bot");
        assert_eq!(issue_incident(Some(&me), "gate-bot", "no marker"), None);
    }

    /// A marker counts only on what the plugin's own login wrote; a stranger's copy, or
    /// any copy while the login is unknown, counts for nothing.
    #[test]
    fn a_marker_counts_only_on_what_the_plugin_wrote() {
        let id = IncidentId::new("j-1");
        let marker = announcement_marker(&id);
        let body = format!("Merges are blocked.\n\n{marker}");
        let me = crate::model::Login::new("scalability-gate-bot");
        assert!(ours(Some(&me), "scalability-gate-bot", &body, &marker));
        assert!(
            ours(Some(&me), "Scalability-Gate-Bot", &body, &marker),
            "GitHub logins compare without case"
        );
        assert!(
            !ours(Some(&me), "mallory", &body, &marker),
            "a stranger's copy"
        );
        assert!(
            !ours(Some(&me), "scalability-gate-bot-fan", &body, &marker),
            "a login that merely starts alike"
        );
        assert!(!ours(Some(&me), "", &body, &marker));
        assert!(
            !ours(None, "scalability-gate-bot", &body, &marker),
            "with the login unknown no marker counts"
        );
        assert!(
            !ours(
                Some(&me),
                "scalability-gate-bot",
                &body,
                &lifted_marker(&id)
            ),
            "our comment, another marker"
        );
        let app = crate::model::Login::new("scalability-gate[bot]");
        assert!(ours(Some(&app), "scalability-gate[bot]", &body, &marker));
        assert!(!ours(Some(&app), "scalability-gate", &body, &marker));
    }
}
