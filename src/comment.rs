//! Every text the plugin posts on GitHub: issue bodies, notices, replies.
//!
//! One file per kind of text: replies to commands, the blocker issue's body, the short
//! notices on an incident's issue, what failed and the recorded culprit, the culprit texts (escalation, reverts, reruns), what
//! they say about the deployment, the hidden markers that make each posted once, and the
//! fitting of text into what GitHub takes. Callers use the paths re-exported here.

mod context;
mod culprit;
mod failed;
mod fit;
mod issue;
mod marker;
mod notice;
mod reply;
#[cfg(test)]
mod testing;

pub use context::{NoticeContext, label_sentence, rules_paragraph, who_can};
pub use culprit::{
    escalation, range_cut, rerun_failed, rerun_result, rerun_verdict, revert_failed,
    revert_hard_block_on_issue, revert_hard_block_on_pr,
};
pub use failed::{
    FAILED_TEST_ROWS, TEST_NAME_CHARS, code_span, compare_link, culprit_section,
    what_failed_section,
};
pub use fit::{GITHUB_BODY_CHARS, fit_for_github};
pub use issue::{
    SUSPECT_ROWS, blocker_body, blocker_title, commits_unknown, green_start_unknown,
    incident_cause, no_green_run, range_unknown_to_github, reruns_section, suspects_section,
    window_cut,
};
pub use marker::{
    announcement_marker, breach_marker, escalation_marker, issue_incident, issue_marker,
    lifted_marker, marker, ours, parse_markers, range_cut_marker, recovered_marker, reply_marker,
    rerun_marker, revert_failed_marker, revert_hard_block_marker, revert_notice_marker,
    tide_leak_marker,
};
pub use notice::{
    announcement, breach, lift_notice, lifted_marker_of, reblock_marker, reblock_notice, recovered,
    tide_leak,
};
pub use reply::{approver_unknown, reply, reply_part, status, unauthorised};
