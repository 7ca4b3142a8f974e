//! The words of an announcement, in Slack's mrkdwn: the same facts as the blocker issue
//! (job, blocked scopes, the red run, the suspects count, who lifted and why). Every text
//! from outside (reasons, logins, run links, build ids) is escaped or dropped: `&`, `<`
//! and `>` become entities, so nothing can form a link or a mention.

use crate::core::announce::{Announcement, Transition};
use crate::model::{Cause, Incident, RunRef, Scope};

/// Longest piece of outside text (a reason) shown, in characters.
pub const MAX_FIELD_CHARS: usize = 300;

/// Longest message, in characters (Slack shows about 4,000 before cutting).
pub const MAX_TEXT_CHARS: usize = 3_000;

/// `text` escaped for mrkdwn (`&`, `<`, `>`), cut at [`MAX_FIELD_CHARS`] characters, with
/// line breaks and backticks made plain so it stays on its line and in its span.
pub fn escape(text: &str) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == MAX_FIELD_CHARS {
            out.push('…');
            break;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '`' => out.push('\''),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A link to `run` (`<url|build>`) when its URL is a plain http(s) URL, else its build
/// id alone.
fn run_link(run: &RunRef) -> String {
    let url = run.url.as_str();
    let plain = (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2_000
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '|' | '&'));
    let build = escape(run.build_id.as_str());
    if plain {
        format!("<{url}|{build}>")
    } else {
        build
    }
}

fn scopes(list: &[Scope]) -> String {
    list.iter()
        .map(|s| {
            format!(
                "`{}` branch `{}`",
                escape(&s.repo.to_string()),
                escape(&s.branch)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What `incident` is about: job, scopes, the red run, suspects.
fn facts(incident: &Incident) -> String {
    let mut out = format!(
        "Job `{}`, incident `{}`. Blocks {}.",
        escape(incident.job.as_str()),
        escape(incident.id.as_str()),
        scopes(&incident.scopes)
    );
    if !incident.scopes_left_open.is_empty() {
        out.push_str(&format!(
            " Left open, unchanged since the last green run: {}.",
            scopes(&incident.scopes_left_open)
        ));
    }
    match &incident.cause {
        Cause::Regression {
            first_red,
            last_green,
        } => out.push_str(&format!(
            " First red run {}, last green run {}.",
            run_link(first_red),
            run_link(last_green)
        )),
        Cause::Manual { by, reason } => {
            out.push_str(&format!(" Blocked by hand by {}", escape(by.as_str())));
            if !reason.is_empty() {
                out.push_str(&format!(": {}", escape(reason)));
            }
            out.push('.');
        }
    }
    out.push_str(&format!(" Suspects: {}.", incident.suspects.len()));
    out
}

/// The message announcing `what` of `incident`; `dry_run` says nothing changes on GitHub.
pub fn message(incident: &Incident, what: &Announcement, dry_run: bool) -> String {
    let head = match what.transition {
        Transition::Block => ":no_entry: *Merges blocked*: a scalability regression.".to_string(),
        Transition::Lift(n) => match incident.lifts.get(n) {
            Some(lift) => {
                let kind = if lift.final_lift {
                    "for good"
                } else {
                    "provisionally: the first red run started after the lift blocks again"
                };
                let mut head = format!(
                    ":large_green_circle: *Merges unblocked* {kind}. Lifted by {}",
                    escape(&lift.by)
                );
                if !lift.reason.is_empty() {
                    head.push_str(&format!(": {}", escape(&lift.reason)));
                }
                head.push('.');
                head
            }
            None => ":large_green_circle: *Merges unblocked*.".to_string(),
        },
        Transition::Reblock(n) => match incident.reblocks.get(n) {
            Some(reblock) => format!(
                ":no_entry: *Merges blocked again*: run {} failed after the lift by {}.",
                run_link(&reblock.run),
                escape(&reblock.lift_by)
            ),
            None => ":no_entry: *Merges blocked again*.".to_string(),
        },
        Transition::Resolved => {
            let green = incident
                .recovered_by
                .as_ref()
                .map(|r| format!(": run {} is green", run_link(r)))
                .unwrap_or_default();
            format!(":white_check_mark: *Resolved*{green}.")
        }
    };
    let dry = if dry_run {
        " _(dry-run: nothing is changed on GitHub)_"
    } else {
        ""
    };
    let text = format!("{head}{dry}\n{}", facts(incident));
    if text.chars().count() <= MAX_TEXT_CHARS {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_TEXT_CHARS - 1).collect();
    // Never end inside an entity or a link: drop a half-written one.
    if let Some(at) = cut.rfind(['&', '<'])
        && !cut[at..].contains([';', '>'])
    {
        cut.truncate(at);
    }
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        BuildId, IncidentId, JobName, Lift, Login, PrNumber, RepoName, Suspect, Timestamp,
    };

    fn run(build: &str, url: &str) -> RunRef {
        RunRef {
            build_id: BuildId::new(build),
            url: url.into(),
            started_at: None,
            finished_at: None,
            commits: Default::default(),
        }
    }

    fn incident() -> Incident {
        let scope = Scope {
            repo: RepoName::new("kubernetes", "kubernetes"),
            branch: "master".into(),
        };
        let mut i = Incident::new(
            IncidentId::new("ci-job-2"),
            JobName::new("ci-job"),
            Timestamp(100),
            Cause::Regression {
                first_red: run("2", "https://prow.example/view/2"),
                last_green: run("1", "https://prow.example/view/1"),
            },
            vec![scope],
        );
        i.suspects.push(Suspect {
            repo: RepoName::new("kubernetes", "kubernetes"),
            pr: PrNumber(7),
            title: "t".into(),
            author: Login::new("dev"),
            merged_at: None,
            score: 1.0,
            reasons: vec![],
            merge_commit: None,
            reverts: None,
        });
        i
    }

    #[test]
    fn escape_table() {
        let long = "x".repeat(MAX_FIELD_CHARS + 5);
        let cases: Vec<(&str, String)> = vec![
            ("plain", "plain".into()),
            (
                "<!channel> & <@U1|x>",
                "&lt;!channel&gt; &amp; &lt;@U1|x&gt;".into(),
            ),
            ("a\nb\r\u{0}c", "a b  c".into()),
            ("`code`", "'code'".into()),
            ("é\u{a0}😀", "é\u{a0}😀".into()),
            (&long, format!("{}…", "x".repeat(MAX_FIELD_CHARS))),
        ];
        for (input, want) in cases {
            assert_eq!(escape(input), want, "{input:?}");
        }
    }

    #[test]
    fn block_and_lift_carry_the_issue_facts() {
        let mut i = incident();
        let block = message(
            &i,
            &Announcement {
                transition: Transition::Block,
                at: Timestamp(100),
            },
            false,
        );
        assert!(block.contains("*Merges blocked*"), "{block}");
        assert!(block.contains("`ci-job`"), "{block}");
        assert!(
            block.contains("`kubernetes/kubernetes` branch `master`"),
            "{block}"
        );
        assert!(block.contains("<https://prow.example/view/2|2>"), "{block}");
        assert!(block.contains("Suspects: 1."), "{block}");
        assert!(!block.contains("dry-run"), "{block}");
        i.lifts.push(Lift {
            by: "alice".into(),
            reason: "reverted <!here> #7 & more".into(),
            at: Timestamp(200),
            final_lift: false,
        });
        let lift = message(
            &i,
            &Announcement {
                transition: Transition::Lift(0),
                at: Timestamp(200),
            },
            true,
        );
        assert!(
            lift.contains("Lifted by alice: reverted &lt;!here&gt; #7 &amp; more."),
            "{lift}"
        );
        assert!(lift.contains("provisionally"), "{lift}");
        assert!(lift.contains("dry-run"), "{lift}");
    }

    #[test]
    fn hostile_run_links_and_huge_text_stay_inert_and_bounded() {
        let mut i = incident();
        i.cause = Cause::Regression {
            first_red: run("2>", "https://x.example/a|<!channel>"),
            last_green: run("1", "javascript:alert(1)"),
        };
        i.lifts.push(Lift {
            by: "&".repeat(10_000),
            reason: "<".repeat(10_000),
            at: Timestamp(200),
            final_lift: true,
        });
        let text = message(
            &i,
            &Announcement {
                transition: Transition::Lift(0),
                at: Timestamp(200),
            },
            false,
        );
        assert!(!text.contains("<!"), "{text}");
        assert!(!text.contains("<https://x.example"), "{text}");
        assert!(!text.contains("javascript:alert(1)|"), "{text}");
        assert!(text.contains("First red run 2&gt;,"), "{text}");
        assert!(text.chars().count() <= MAX_TEXT_CHARS, "{}", text.len());
        // A lift the incident does not hold (a stale key) still says something.
        let other = message(
            &i,
            &Announcement {
                transition: Transition::Reblock(5),
                at: Timestamp(300),
            },
            false,
        );
        assert!(other.contains("blocked again"), "{other}");
    }
}
