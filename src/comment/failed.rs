//! The blocker issue's "What failed" and "Culprit" sections: the failed testcases of the
//! first red run (read and stored by the reconciler; only formatted here), the links to
//! the red run, the last green run and the suspect range, and the culprit an approver
//! recorded with its history. Test names and notes are untrusted text (they come from
//! GCS): each is shown in a code span, cut by characters, with no line break, marker or
//! mention able to get out.

use std::fmt::Write as _;

use super::fit::{pr_ref, run_link};
use crate::model::{Cause, Culprit, Incident, RunRef, Scope};

/// Failed tests named in the body at most (the rest are counted).
pub const FAILED_TEST_ROWS: usize = 20;

/// Characters of one test name shown at most.
pub const TEST_NAME_CHARS: usize = 300;

/// Characters of a note (why the list is incomplete, an approver's note) shown at most.
const NOTE_CHARS: usize = 300;

/// Notes shown at most.
const NOTES_SHOWN: usize = 5;

/// `text` as inline code that nothing can break out of: control characters and line
/// breaks become spaces, it is cut to `max` characters (with `…`), the fence is longer than
/// any run of backticks in it, and `<!--` is broken so no hidden marker can be forged.
/// In a code span GitHub renders no Markdown, no HTML and no `@` mention.
pub fn code_span(text: &str, max: usize) -> String {
    let mut clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        clean.push('…');
    }
    let clean = clean.trim().replace("<!--", "<!\u{200B}--");
    if clean.is_empty() {
        return "` `".into();
    }
    let mut longest = 0;
    let mut run = 0;
    for c in clean.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    // A space inside the fence when the text starts or ends with a backtick (CommonMark
    // strips one from each side).
    let pad = if clean.starts_with('`') || clean.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{clean}{pad}{fence}")
}

/// A sha from a `started.json` usable in a URL: 7 to 40 hex digits.
fn plain_sha(sha: &str) -> Option<&str> {
    (sha.len() >= 7 && sha.len() <= 40 && sha.bytes().all(|b| b.is_ascii_hexdigit())).then_some(sha)
}

/// The compare link of the suspect range on `scope`'s repo, when both runs' tested
/// commits are known (GitHub's `compare/GREEN...RED`).
pub fn compare_link(scope: &Scope, last_green: &RunRef, first_red: &RunRef) -> Option<String> {
    let green = plain_sha(last_green.commits.get(&scope.repo)?.as_str())?;
    let red = plain_sha(first_red.commits.get(&scope.repo)?.as_str())?;
    Some(format!(
        "https://github.com/{}/compare/{green}...{red}",
        scope.repo
    ))
}

/// "What failed" of a regression incident on `scope` (nothing for one opened by hand);
/// `reading`: the failed tests are read from GCS, so until recorded they are being read.
pub fn what_failed_section(incident: &Incident, scope: &Scope, reading: bool) -> String {
    let Cause::Regression {
        first_red,
        last_green,
    } = &incident.cause
    else {
        return String::new();
    };
    let mut out = String::from("\n\n### What failed\n\n");
    match &incident.failed_tests {
        None if reading => {
            let _ = writeln!(
                out,
                "Failed tests: being read from the JUnit files of run {} in GCS; this \
                 issue is edited to name them once they are read.",
                run_link(first_red)
            );
        }
        None => out.push_str("Failed tests: unavailable (no GCS source is configured).\n"),
        Some(f) if f.files_read == 0 => {
            let why = if f.notes.is_empty() {
                "no junit files were read".to_string()
            } else {
                notes(&f.notes)
            };
            let _ = writeln!(out, "Failed tests: unavailable ({why}).");
        }
        Some(f) if f.names.is_empty() => {
            let _ = writeln!(
                out,
                "The {} JUnit file(s) of run {} name no failed testcase (the run may have \
                 failed outside its tests: setup, teardown or a timeout).",
                f.files_read,
                run_link(first_red)
            );
        }
        Some(f) => {
            let _ = writeln!(
                out,
                "{} failed testcase(s) in the JUnit files of run {}:\n",
                f.total.max(f.names.len()),
                run_link(first_red)
            );
            for name in f.names.iter().take(FAILED_TEST_ROWS) {
                let _ = writeln!(out, "- {}", code_span(name, TEST_NAME_CHARS));
            }
            let shown = f.names.len().min(FAILED_TEST_ROWS);
            let more = f.total.max(f.names.len()).saturating_sub(shown);
            if more > 0 {
                let _ = writeln!(out, "- and {more} more");
            }
            if !f.notes.is_empty() {
                let _ = writeln!(out, "\nThe list may be incomplete: {}.", notes(&f.notes));
            }
        }
    }
    let range = match compare_link(scope, last_green, first_red) {
        Some(url) => format!("[suspect range]({url})"),
        None => "suspect range: unknown (a tested commit is unknown)".to_string(),
    };
    let _ = write!(
        out,
        "\nFirst red run: {}; last green run: {}; {range}.",
        run_link(first_red),
        run_link(last_green),
    );
    out
}

/// Notes as one inline list of code spans, the first few only.
fn notes(notes: &[String]) -> String {
    let mut shown: Vec<String> = notes
        .iter()
        .take(NOTES_SHOWN)
        .map(|n| code_span(n, NOTE_CHARS))
        .collect();
    if notes.len() > NOTES_SHOWN {
        shown.push(format!("and {} more", notes.len() - NOTES_SHOWN));
    }
    shown.join("; ")
}

/// One culprit as a sentence, seen from `scope`'s repo.
fn culprit_line(c: &Culprit, scope: &Scope) -> String {
    let mut s = format!(
        "{} with mitigation `{}`, recorded by `{}` at {}",
        pr_ref(&c.repo, &scope.repo, c.pr),
        c.mitigation.as_str(),
        c.by,
        c.at
    );
    if !c.suspect {
        s.push_str(" (not among the suspects)");
    }
    if let Some(note) = &c.note {
        let _ = write!(s, ": {}", code_span(note, NOTE_CHARS));
    }
    s
}

/// "Culprit": the one recorded last and the earlier ones (nothing when none).
pub fn culprit_section(incident: &Incident, scope: &Scope) -> String {
    let Some(current) = &incident.culprit else {
        return String::new();
    };
    let mut out = format!("\n\n### Culprit\n\n{}.", culprit_line(current, scope));
    if !incident.culprit_history.is_empty() {
        out.push_str("\n\nRecorded before (replaced):");
        for c in incident.culprit_history.iter().rev() {
            let _ = write!(out, "\n- {}", culprit_line(c, scope));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::comment::marker::parse_markers;
    use crate::comment::testing::scope;
    use crate::model::{BuildId, CommitSha, TestFailures, Timestamp};

    #[test]
    fn a_hostile_test_name_stays_inside_its_code_span() {
        let hostile =
            "[sig-x] a `b` @kubernetes/sig-leads <!-- scalability-gate:x:issue/master --> |\n# h";
        let span = code_span(hostile, 1000);
        assert!(span.starts_with("``") && span.ends_with("``"), "{span}");
        assert!(!span.contains('\n'), "{span}");
        assert!(parse_markers(&span).is_empty(), "{span}");
        assert_eq!(code_span("`x`", 10), "`` `x` ``");
        assert_eq!(code_span("\u{0}\n", 10), "` `");
        // Cut by characters, never inside one.
        let cut = code_span(&"é".repeat(500), 300);
        assert_eq!(cut.chars().filter(|c| *c == 'é').count(), 300);
        assert!(cut.contains('…'));
    }

    fn regression(names: usize, total: usize) -> Incident {
        let mut i = crate::comment::testing::incident(0);
        let run = |build: &str, sha: &str| RunRef {
            build_id: BuildId::new(build),
            url: format!("https://prow/{build}"),
            started_at: None,
            finished_at: None,
            commits: [(scope().repo, CommitSha::new(sha))].into(),
        };
        i.cause = Cause::Regression {
            first_red: run("200", "bbbbbbb"),
            last_green: run("199", "aaaaaaa"),
        };
        i.failed_tests = Some(TestFailures {
            build_id: BuildId::new("200"),
            names: (0..names)
                .map(|n| format!("[sig-scalability] test {n}"))
                .collect(),
            total,
            files_read: 1,
            notes: vec![],
            at: Timestamp(1),
        });
        i
    }

    #[test]
    fn what_failed_names_twenty_counts_the_rest_and_links_the_range() {
        let text = what_failed_section(&regression(20, 31), &scope(), true);
        assert_eq!(text.lines().filter(|l| l.starts_with("- `")).count(), 20);
        assert!(text.contains("- and 11 more"), "{text}");
        assert!(
            text.contains(
                "31 failed testcase(s) in the JUnit files of run [200](https://prow/200)"
            )
        );
        assert!(text.contains(
            "[suspect range](https://github.com/kubernetes/kubernetes/compare/aaaaaaa...bbbbbbb)"
        ), "{text}");
        assert!(text.contains("last green run: [199](https://prow/199)"));
        let mut i = regression(0, 0);
        i.failed_tests.as_mut().unwrap().files_read = 0;
        i.failed_tests.as_mut().unwrap().notes = vec!["no junit files".into()];
        let text = what_failed_section(&i, &scope(), true);
        assert!(
            text.contains("Failed tests: unavailable (`no junit files`)."),
            "{text}"
        );
        // A sha that is no sha is not put into a URL.
        if let Cause::Regression { first_red, .. } = &mut i.cause {
            first_red
                .commits
                .insert(scope().repo, CommitSha::new("x) [evil](http://e"));
        }
        let text = what_failed_section(&i, &scope(), true);
        assert!(text.contains("suspect range: unknown"), "{text}");
    }

    #[test]
    fn before_the_read_the_section_says_they_are_being_read_or_why_they_never_will_be() {
        let mut i = regression(0, 0);
        i.failed_tests = None;
        let text = what_failed_section(&i, &scope(), true);
        assert!(
            text.contains("Failed tests: being read from the JUnit files of run [200]"),
            "{text}"
        );
        assert!(!text.contains("unavailable"), "{text}");
        let text = what_failed_section(&i, &scope(), false);
        assert!(
            text.contains("Failed tests: unavailable (no GCS source is configured)."),
            "{text}"
        );
    }
}
