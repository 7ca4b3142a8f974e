//! What the reconciler's texts say about the deployment: the label and what it does, who
//! may unblock, and SIG Scalability's rules (from the configuration).

/// What the reconciler's texts say about the deployment (from the configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContext {
    /// The label put on PRs.
    pub label: String,
    /// Whether only ready PRs are labelled (else every open PR on the branch).
    pub ready_only: bool,
    /// Tide's required labels, one list per query that can merge (any one makes a PR
    /// ready), named when `ready_only`.
    pub ready_labels: Vec<Vec<String>>,
    /// Whether the issue is a Tide blocker issue (else a tracking issue).
    pub blocker: bool,
    pub approver_users: Vec<String>,
    pub approver_teams: Vec<String>,
    /// Whether a regression's failed tests are read from GCS (a GCS source is set): until
    /// they are recorded, the blocker issue says they are being read.
    pub reads_failed_tests: bool,
}

/// SIG Scalability's rules, in one paragraph.
pub fn rules_paragraph() -> String {
    "SIG Scalability's rules for release-blocking scalability jobs allow blocking merges \
     to the affected repositories and branch as soon as such a job goes from passing to \
     failing; a job that was already failing gives no right to block. While the block \
     holds, SIG Scalability identifies the PR that most likely caused the regression, \
     mitigates it (a revert, switching a feature off, or a fix), and lifts the block as \
     soon as the cause is dealt with, to keep the time merges are blocked short."
        .to_string()
}

/// Who may unblock, in words.
pub fn who_can(ctx: &NoticeContext) -> String {
    let mut who: Vec<String> = ctx
        .approver_teams
        .iter()
        .map(|t| format!("members of `{t}`"))
        .collect();
    who.extend(ctx.approver_users.iter().map(|u| format!("`{u}`")));
    if who.is_empty() {
        "nobody is configured as an approver".into()
    } else {
        who.join(", ")
    }
}

/// What the label does, in words.
pub fn label_sentence(ctx: &NoticeContext) -> String {
    let which = if ctx.ready_only {
        let alternatives: Vec<String> = ctx
            .ready_labels
            .iter()
            .map(|labels| {
                labels
                    .iter()
                    .map(|l| format!("`{l}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        format!(
            "every ready PR on the branch (carrying {}), and each PR the moment it becomes ready,",
            alternatives.join(", or ")
        )
    } else {
        "every open PR on the branch".into()
    };
    format!(
        "The label `{}` is put on {which} so Tide skips it.",
        ctx.label
    )
}
