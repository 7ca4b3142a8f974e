//! Fitting text into GitHub: Markdown pieces that cannot break a table or inject a
//! marker, and bodies cut to the most characters GitHub takes.

use crate::model::{PrNumber, RunRef};

/// The most characters GitHub takes in an issue's or a comment's body.
pub const GITHUB_BODY_CHARS: usize = 65_536;

/// `body` as GitHub takes it: at most [`GITHUB_BODY_CHARS`] characters. A longer body is
/// cut, with a note saying so, before its trailing hidden marker, which is kept whole
/// (the reconciler finds its issues and comments by it).
pub fn fit_for_github(body: String) -> String {
    if body.chars().count() <= GITHUB_BODY_CHARS {
        return body;
    }
    let tail_at = body
        .rfind("<!-- scalability-gate:")
        .filter(|at| body[*at..].chars().count() < GITHUB_BODY_CHARS / 2)
        .unwrap_or(body.len());
    let tail = &body[tail_at..];
    let note = "\n\n*(Cut here: GitHub takes 65,536 characters at most. The dashboard shows \
                everything.)*\n\n";
    let room = GITHUB_BODY_CHARS - tail.chars().count() - note.chars().count();
    let cut = body
        .char_indices()
        .nth(room)
        .map_or(tail_at, |(at, _)| at.min(tail_at));
    format!("{}{note}{tail}", &body[..cut])
}

/// Text safe inside a Markdown table cell (no row or cell breaks, no HTML or markers).
pub(super) fn cell(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Items as a comma-separated list of inline code.
pub(super) fn code_list<S: AsRef<str>>(items: impl Iterator<Item = S>) -> String {
    items
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A PR reference as seen from `repo`: `#N` there, `org/repo#N` elsewhere.
pub(super) fn pr_ref(
    repo: &crate::model::RepoName,
    on: &crate::model::RepoName,
    pr: PrNumber,
) -> String {
    if repo == on {
        format!("#{}", pr.0)
    } else {
        format!("{repo}#{}", pr.0)
    }
}

/// A score as written in the table: whole numbers without a fraction.
pub(super) fn score(score: f64) -> String {
    if score.fract() == 0.0 {
        format!("{score:.0}")
    } else {
        format!("{score:.1}")
    }
}

/// The first 12 characters of a sha (one from a `started.json` may be any text).
pub(super) fn short(sha: &str) -> &str {
    sha.char_indices().nth(12).map_or(sha, |(at, _)| &sha[..at])
}

/// A run as a link to its Prow page, or its build id in code when it has no URL.
pub(super) fn run_link(run: &RunRef) -> String {
    if run.url.is_empty() {
        format!("`{}`", run.build_id)
    } else {
        format!("[{}]({})", run.build_id, run.url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::marker::issue_marker;
    use crate::model::IncidentId;

    #[test]
    fn a_body_over_githubs_limit_is_cut_before_its_marker() {
        let marker = issue_marker(&IncidentId::new("ci-job-100"), "master");
        let short = format!("short\n\n{marker}");
        assert_eq!(fit_for_github(short.clone()), short);
        let long = format!("{}\n\n{marker}", "é".repeat(100_000));
        let fitted = fit_for_github(long);
        assert!(
            fitted.chars().count() <= GITHUB_BODY_CHARS,
            "{}",
            fitted.len()
        );
        assert!(fitted.ends_with(&marker));
        assert!(fitted.contains("Cut here"));
        let exact = "x".repeat(GITHUB_BODY_CHARS);
        assert_eq!(fit_for_github(exact.clone()), exact);
        let no_marker = fit_for_github("y".repeat(GITHUB_BODY_CHARS + 1));
        assert!(no_marker.chars().count() <= GITHUB_BODY_CHARS);
    }
}
