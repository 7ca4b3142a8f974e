//! Pure core: the command parser (comment body → typed commands).
//!
//! A command is a line of a comment that starts (after at most three spaces, as Markdown
//! allows) with `/scalability-<name>`; the command word is case-insensitive, its
//! arguments keep their case. Lines inside fenced code blocks (```` ``` ```` or `~~~`),
//! indented code (four spaces or a tab) and `>` quotes are text, not commands, so quoting
//! someone's command never runs it again. Other slash commands (`/lgtm`) belong to other
//! plugins and are skipped; a `/scalability-…` word this plugin does not know is an error,
//! so a typo gets an answer instead of silence.

use crate::model::Mitigation;

/// Every command prefix starts with this.
pub const PREFIX: &str = "/scalability-";

/// A command an approver (or anyone, for `status`) wrote in a comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `/scalability-unblock [reason]`: lift the incident(s) where it is said
    /// (provisionally while the job is red).
    Unblock { reason: String },
    /// `/scalability-unblock --final [reason]`: resolve the incident(s) where it is said.
    UnblockFinal { reason: String },
    /// `/scalability-block <job> [reason]`: open an incident by hand.
    Block { job: String, reason: String },
    /// `/scalability-exempt [reason]`: exempt this PR from the active incident.
    Exempt { reason: String },
    /// `/scalability-exempt cancel`: withdraw this PR's exemption.
    ExemptCancel,
    /// `/scalability-revert #N`: open a revert PR of suspect `#N`.
    Revert { pr: u64 },
    /// `/scalability-rerun`: re-run the incident's job to rule out a flake.
    Rerun,
    /// `/scalability-culprit #N <mitigation> [note]`: record the culprit of the incident(s)
    /// where it is said and how it is mitigated.
    Culprit {
        pr: u64,
        mitigation: Mitigation,
        note: String,
    },
    /// `/scalability-status`: reply with the current state of this repo.
    Status,
}

/// Who may use a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Who {
    /// The configured approvers only.
    Approvers,
    /// Anyone who can comment.
    Anyone,
}

/// What `/help` and replies say about one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandSpec {
    /// The command word without the slash, e.g. `scalability-unblock`.
    pub name: &'static str,
    /// `/scalability-block <job> [reason]`.
    pub usage: &'static str,
    /// One sentence on what it does.
    pub description: &'static str,
    /// Complete example lines.
    pub examples: &'static [&'static str],
    pub who: Who,
}

/// Every command, in the order `/help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        name: "scalability-unblock",
        usage: "/scalability-unblock [--final] [reason]",
        description: "Lifts the incident(s) where it is said (on a blocker issue: that incident; on a pull request: the active incidents of its repository and base branch): the do-not-merge label is removed and the Tide blocker issue closed. While the job is still red the lift is provisional: the first red run that started after it blocks again. `--final` resolves for good.",
        examples: &[
            "/scalability-unblock",
            "/scalability-unblock fixed by the revert in #123",
            "/scalability-unblock --final the test itself was broken",
        ],
        who: Who::Approvers,
    },
    CommandSpec {
        name: "scalability-block",
        usage: "/scalability-block <job> [reason]",
        description: "Opens an incident by hand for a gated job, blocking merges to its scopes until it is unblocked.",
        examples: &[
            "/scalability-block ci-kubernetes-e2e-gce-scale-performance-100 API latency doubled",
        ],
        who: Who::Approvers,
    },
    CommandSpec {
        name: "scalability-exempt",
        usage: "/scalability-exempt [reason] | /scalability-exempt cancel",
        description: "On a pull request: exempts it from the active incident(s) of its repository and base branch, so it may merge during the block; `cancel` withdraws the exemption (the PR is labelled again while an incident covers it).",
        examples: &[
            "/scalability-exempt fixes the regression",
            "/scalability-exempt cancel",
        ],
        who: Who::Approvers,
    },
    CommandSpec {
        name: "scalability-revert",
        usage: "/scalability-revert #N",
        description: "Opens a revert pull request of suspect #N, exempt from the block.",
        examples: &["/scalability-revert #12345"],
        who: Who::Approvers,
    },
    CommandSpec {
        name: "scalability-culprit",
        usage: "/scalability-culprit #N <revert|fix|feature-off|flake|other> [note]",
        description: "Records PR #N as the culprit of the incident(s) where it is said (on a blocker issue: that incident; on a pull request: the open incidents of its repository and base branch), with how it is mitigated; a later one replaces it (the earlier ones are kept). A PR outside the suspects is recorded too, and said so.",
        examples: &[
            "/scalability-culprit #12345 revert",
            "/scalability-culprit #12345 feature-off gated behind WatchListClient",
        ],
        who: Who::Approvers,
    },
    CommandSpec {
        name: "scalability-rerun",
        usage: "/scalability-rerun",
        description: "Re-runs the incident's job through Gangway to rule out a flake.",
        examples: &["/scalability-rerun"],
        who: Who::Approvers,
    },
    CommandSpec {
        name: "scalability-status",
        usage: "/scalability-status",
        description: "Replies with the current state of this repository: active incidents, their jobs, scopes and suspects.",
        examples: &["/scalability-status"],
        who: Who::Anyone,
    },
];

impl Command {
    /// The command word without the slash, e.g. `scalability-unblock`.
    pub fn name(&self) -> &'static str {
        self.spec().name
    }

    /// The usage line, e.g. `/scalability-revert #N`.
    pub fn usage(&self) -> &'static str {
        self.spec().usage
    }

    /// Who may use it.
    pub fn who(&self) -> Who {
        self.spec().who
    }

    /// What `/help` says about it.
    pub fn spec(&self) -> &'static CommandSpec {
        let name = match self {
            Command::Unblock { .. } | Command::UnblockFinal { .. } => "scalability-unblock",
            Command::Block { .. } => "scalability-block",
            Command::Exempt { .. } | Command::ExemptCancel => "scalability-exempt",
            Command::Revert { .. } => "scalability-revert",
            Command::Rerun => "scalability-rerun",
            Command::Culprit { .. } => "scalability-culprit",
            Command::Status => "scalability-status",
        };
        spec(name).expect("every command has a spec")
    }
}

/// The spec of the command word `name` (without the slash, any case).
pub fn spec(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|c| c.name.eq_ignore_ascii_case(name))
}

/// A `/scalability-…` line that is not a valid command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// `/scalability-xyz`: no such command.
    #[error("`/{command}` is not a scalability-gate command (known: {known})", known = known_commands())]
    Unknown { command: String },
    /// `/scalability-block` without a job name.
    #[error("`/scalability-block` needs the job to block: `/scalability-block <job> [reason]`")]
    BlockWithoutJob,
    /// `/scalability-revert` without `#N`.
    #[error("`/scalability-revert` needs the pull request to revert: `/scalability-revert #N`")]
    RevertWithoutPr,
    /// `/scalability-revert` with something that is not `#N`.
    #[error(
        "`/scalability-revert {given}`: expected a pull request as `#N`, e.g. `/scalability-revert #123`"
    )]
    RevertMalformedPr { given: String },
    /// `/scalability-unblock --xyz`: a flag that is not `--final` (nothing is lifted).
    #[error(
        "`/scalability-unblock {given}`: unknown flag; the only flag is `--final`: `/scalability-unblock [--final] [reason]`"
    )]
    UnknownFlag { given: String },
    /// `/scalability-culprit` without `#N`.
    #[error(
        "`/scalability-culprit` needs the culprit pull request and the mitigation: `/scalability-culprit #N <revert|fix|feature-off|flake|other> [note]`"
    )]
    CulpritWithoutPr,
    /// `/scalability-culprit` with something that is not `#N`.
    #[error(
        "`/scalability-culprit {given}`: expected a pull request as `#N`, e.g. `/scalability-culprit #123 revert`"
    )]
    CulpritMalformedPr { given: String },
    /// `/scalability-culprit #N` without a mitigation, or with a word that is none.
    #[error(
        "`/scalability-culprit`: the mitigation must be one of `revert`, `fix`, `feature-off`, `flake`, `other`{}",
        given.as_ref().map(|g| format!(" (not `{g}`)")).unwrap_or_default()
    )]
    CulpritMitigation { given: Option<String> },
}

fn known_commands() -> String {
    COMMANDS
        .iter()
        .map(|c| format!("`/{}`", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every `/scalability-…` command of a comment body, in order: parsed, or why not.
pub fn parse(body: &str) -> Vec<Result<Command, CommandError>> {
    let mut out = Vec::new();
    let mut fence: Option<Fence> = None;
    for line in body.lines() {
        let Some(text) = markdown_content(line) else {
            // Indented code: never a command, never a fence.
            continue;
        };
        if let Some(open) = fence {
            if open.closed_by(text) {
                fence = None;
            }
            continue;
        }
        if let Some(open) = Fence::opened_by(text) {
            fence = Some(open);
            continue;
        }
        if text.starts_with('>') {
            continue;
        }
        if let Some(parsed) = parse_line(text) {
            out.push(parsed);
        }
    }
    out
}

/// The line without its up-to-three leading spaces; `None` when it is indented code.
fn markdown_content(line: &str) -> Option<&str> {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    let rest = &line[spaces..];
    if spaces > 3 || rest.starts_with('\t') {
        None
    } else {
        Some(rest)
    }
}

/// An open fenced code block: its character and length.
#[derive(Debug, Clone, Copy)]
struct Fence {
    ch: char,
    len: usize,
}

impl Fence {
    fn opened_by(text: &str) -> Option<Fence> {
        let ch = text.chars().next().filter(|c| *c == '`' || *c == '~')?;
        let len = text.chars().take_while(|c| *c == ch).count();
        (len >= 3).then_some(Fence { ch, len })
    }

    /// A closing fence: at least as many of the same character, then only spaces.
    fn closed_by(self, text: &str) -> bool {
        let len = text.chars().take_while(|c| *c == self.ch).count();
        len >= self.len && text[len * self.ch.len_utf8()..].trim().is_empty()
    }
}

/// One line that starts with `/scalability-`, parsed; `None` for any other line.
fn parse_line(text: &str) -> Option<Result<Command, CommandError>> {
    let (word, args) = match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], text[i..].trim()),
        None => (text, ""),
    };
    let head = word.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let name = word[1..].to_ascii_lowercase();
    let command = match name.as_str() {
        "scalability-unblock" => parse_unblock(args),
        "scalability-block" => match args.split_once(char::is_whitespace) {
            _ if args.is_empty() => Err(CommandError::BlockWithoutJob),
            Some((job, reason)) => Ok(Command::Block {
                job: job.to_string(),
                reason: reason.trim().to_string(),
            }),
            None => Ok(Command::Block {
                job: args.to_string(),
                reason: String::new(),
            }),
        },
        "scalability-exempt" if args.eq_ignore_ascii_case("cancel") => Ok(Command::ExemptCancel),
        "scalability-exempt" => Ok(Command::Exempt {
            reason: args.to_string(),
        }),
        "scalability-revert" => parse_revert(args),
        "scalability-rerun" => Ok(Command::Rerun),
        "scalability-culprit" => parse_culprit(args),
        "scalability-status" => Ok(Command::Status),
        _ => Err(CommandError::Unknown {
            command: word[1..].to_string(),
        }),
    };
    Some(command)
}

/// `[--final] [reason]`: any other flag-like first word (`--` or an em dash, as a phone
/// makes of it, then a letter) is an error, so a misspelt `--final` never lifts
/// provisionally; `-->` and the like are reason text.
fn parse_unblock(args: &str) -> Result<Command, CommandError> {
    let (first, rest) = match args.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim()),
        None => (args, ""),
    };
    if first.eq_ignore_ascii_case("--final") {
        return Ok(Command::UnblockFinal {
            reason: rest.to_string(),
        });
    }
    let flag_like = |rest: Option<&str>| {
        rest.and_then(|r| r.chars().next())
            .is_some_and(|c| c.is_ascii_alphabetic())
    };
    if flag_like(first.strip_prefix("--")) || flag_like(first.strip_prefix('\u{2014}')) {
        return Err(CommandError::UnknownFlag {
            given: first.to_string(),
        });
    }
    Ok(Command::Unblock {
        reason: args.to_string(),
    })
}

/// `#N` (anything after it is ignored).
fn parse_revert(args: &str) -> Result<Command, CommandError> {
    let Some(first) = args.split_whitespace().next() else {
        return Err(CommandError::RevertWithoutPr);
    };
    match pr_number(first) {
        Some(pr) => Ok(Command::Revert { pr }),
        None => Err(CommandError::RevertMalformedPr {
            given: first.to_string(),
        }),
    }
}

/// A pull request written `#N` (N > 0, digits only).
fn pr_number(word: &str) -> Option<u64> {
    let digits = word.strip_prefix('#')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|pr| *pr > 0)
}

/// `#N <mitigation> [note]`: the note is the rest of the line, trimmed.
fn parse_culprit(args: &str) -> Result<Command, CommandError> {
    let (first, rest) = match args.split_once(char::is_whitespace) {
        Some((first, rest)) => (first, rest.trim_start()),
        None => (args, ""),
    };
    if first.is_empty() {
        return Err(CommandError::CulpritWithoutPr);
    }
    let pr = pr_number(first).ok_or_else(|| CommandError::CulpritMalformedPr {
        given: first.to_string(),
    })?;
    let (word, note) = match rest.split_once(char::is_whitespace) {
        Some((word, note)) => (word, note.trim()),
        None => (rest, ""),
    };
    if word.is_empty() {
        return Err(CommandError::CulpritMitigation { given: None });
    }
    let mitigation = Mitigation::parse(word).ok_or_else(|| CommandError::CulpritMitigation {
        given: Some(word.chars().take(40).collect()),
    })?;
    Ok(Command::Culprit {
        pr,
        mitigation,
        note: note.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unblock(reason: &str) -> Result<Command, CommandError> {
        Ok(Command::Unblock {
            reason: reason.into(),
        })
    }

    #[test]
    fn unblock_flags_and_exempt_cancel() {
        let cases: Vec<(&str, Result<Command, CommandError>)> = vec![
            (
                "/scalability-unblock --final broken test",
                Ok(Command::UnblockFinal {
                    reason: "broken test".into(),
                }),
            ),
            (
                "/scalability-unblock --FINAL",
                Ok(Command::UnblockFinal {
                    reason: String::new(),
                }),
            ),
            (
                "/scalability-unblock --finale",
                Err(CommandError::UnknownFlag {
                    given: "--finale".into(),
                }),
            ),
            (
                "/scalability-unblock \u{2014}final",
                Err(CommandError::UnknownFlag {
                    given: "\u{2014}final".into(),
                }),
            ),
            (
                "/scalability-unblock fixed in #1 --final",
                unblock("fixed in #1 --final"),
            ),
            ("/scalability-exempt cancel", Ok(Command::ExemptCancel)),
            ("/scalability-exempt Cancel", Ok(Command::ExemptCancel)),
            (
                "/scalability-exempt cancel it",
                Ok(Command::Exempt {
                    reason: "cancel it".into(),
                }),
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse(line), vec![want], "{line}");
        }
        assert_eq!(Command::ExemptCancel.name(), "scalability-exempt");
        assert_eq!(
            Command::UnblockFinal {
                reason: String::new()
            }
            .who(),
            Who::Approvers
        );
    }

    #[test]
    fn table() {
        use CommandError::*;
        let cases: Vec<(&str, Vec<Result<Command, CommandError>>)> = vec![
            ("", vec![]),
            ("no command here", vec![]),
            ("/lgtm", vec![]),
            ("/scalability-unblock", vec![unblock("")]),
            (
                "/scalability-unblock fixed by #12",
                vec![unblock("fixed by #12")],
            ),
            ("/SCALABILITY-Unblock  Fixed ", vec![unblock("Fixed")]),
            (
                "   /scalability-unblock three spaces",
                vec![unblock("three spaces")],
            ),
            ("    /scalability-unblock indented code", vec![]),
            ("\t/scalability-unblock tab", vec![]),
            ("text /scalability-unblock mid-line", vec![]),
            ("/scalability-unblock\r\n", vec![unblock("")]),
            (
                "/scalability-unblockfoo",
                vec![Err(Unknown {
                    command: "scalability-unblockfoo".into(),
                })],
            ),
            (
                "/scalability-xyz now",
                vec![Err(Unknown {
                    command: "scalability-xyz".into(),
                })],
            ),
            (
                "/scalability-",
                vec![Err(Unknown {
                    command: "scalability-".into(),
                })],
            ),
            ("/scalability", vec![]),
            (
                "/scalability-block ci-job-100 API latency doubled",
                vec![Ok(Command::Block {
                    job: "ci-job-100".into(),
                    reason: "API latency doubled".into(),
                })],
            ),
            (
                "/scalability-block Ci-Job",
                vec![Ok(Command::Block {
                    job: "Ci-Job".into(),
                    reason: String::new(),
                })],
            ),
            ("/scalability-block", vec![Err(BlockWithoutJob)]),
            ("/scalability-block   ", vec![Err(BlockWithoutJob)]),
            (
                "/scalability-exempt fixes it",
                vec![Ok(Command::Exempt {
                    reason: "fixes it".into(),
                })],
            ),
            (
                "/scalability-revert #123",
                vec![Ok(Command::Revert { pr: 123 })],
            ),
            (
                "/scalability-revert #123 it broke density",
                vec![Ok(Command::Revert { pr: 123 })],
            ),
            ("/scalability-revert", vec![Err(RevertWithoutPr)]),
            (
                "/scalability-revert 123",
                vec![Err(RevertMalformedPr {
                    given: "123".into(),
                })],
            ),
            (
                "/scalability-revert #abc",
                vec![Err(RevertMalformedPr {
                    given: "#abc".into(),
                })],
            ),
            (
                "/scalability-revert #",
                vec![Err(RevertMalformedPr { given: "#".into() })],
            ),
            (
                "/scalability-revert #0",
                vec![Err(RevertMalformedPr { given: "#0".into() })],
            ),
            (
                "/scalability-revert #99999999999999999999999",
                vec![Err(RevertMalformedPr {
                    given: "#99999999999999999999999".into(),
                })],
            ),
            ("/scalability-rerun", vec![Ok(Command::Rerun)]),
            ("/scalability-rerun please", vec![Ok(Command::Rerun)]),
            ("/scalability-status", vec![Ok(Command::Status)]),
            ("> /scalability-unblock", vec![]),
            (">/scalability-unblock", vec![]),
            ("  > /scalability-unblock", vec![]),
            ("```\n/scalability-unblock\n```", vec![]),
            ("~~~sh\n/scalability-unblock\n~~~", vec![]),
            ("```\n/scalability-unblock", vec![]),
            (
                "````\n```\n/scalability-unblock\n````\n/scalability-status",
                vec![Ok(Command::Status)],
            ),
            (
                "~~~\n```\n/scalability-unblock\n~~~\n/scalability-status",
                vec![Ok(Command::Status)],
            ),
            (
                "```\ncode\n``` not a close\n/scalability-unblock\n```\n/scalability-rerun",
                vec![Ok(Command::Rerun)],
            ),
            (
                "Looks like a flake.\n/scalability-rerun\n\n/scalability-status\n/lgtm",
                vec![Ok(Command::Rerun), Ok(Command::Status)],
            ),
            (
                "/scalability-unblock a\n/scalability-revert",
                vec![unblock("a"), Err(RevertWithoutPr)],
            ),
            (
                "/scalability-unblock ünïcode réason",
                vec![unblock("ünïcode réason")],
            ),
            ("/ßcalability-unblock", vec![]),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body), want, "body: {body:?}");
        }
    }

    #[test]
    fn every_command_has_a_spec_usage_and_example() {
        let commands = [
            Command::Unblock { reason: "r".into() },
            Command::Block {
                job: "j".into(),
                reason: String::new(),
            },
            Command::Exempt {
                reason: String::new(),
            },
            Command::Revert { pr: 1 },
            Command::Culprit {
                pr: 1,
                mitigation: Mitigation::Revert,
                note: String::new(),
            },
            Command::Rerun,
            Command::Status,
        ];
        assert_eq!(commands.len(), COMMANDS.len());
        for command in commands {
            let spec = command.spec();
            assert!(spec.usage.starts_with(&format!("/{}", command.name())));
            for example in spec.examples {
                let parsed = parse(example);
                assert_eq!(parsed.len(), 1, "{example}");
                assert_eq!(parsed[0].as_ref().unwrap().name(), command.name());
            }
        }
        assert_eq!(Command::Status.who(), Who::Anyone);
        assert_eq!(Command::Rerun.who(), Who::Approvers);
        assert_eq!(Command::Revert { pr: 1 }.usage(), "/scalability-revert #N");
    }

    #[test]
    fn culprit_takes_a_pr_a_mitigation_and_a_note() {
        use CommandError::*;
        let culprit = |pr, mitigation, note: &str| {
            vec![Ok(Command::Culprit {
                pr,
                mitigation,
                note: note.into(),
            })]
        };
        let cases: Vec<(&str, Vec<Result<Command, CommandError>>)> = vec![
            (
                "/scalability-culprit #12 revert",
                culprit(12, Mitigation::Revert, ""),
            ),
            (
                "/scalability-culprit #12 Feature-Off  gated behind a flag ",
                culprit(12, Mitigation::FeatureOff, "gated behind a flag"),
            ),
            (
                "/scalability-culprit #7 flake\n/scalability-culprit #8 other see #9",
                vec![
                    culprit(7, Mitigation::Flake, "").remove(0),
                    culprit(8, Mitigation::Other, "see #9").remove(0),
                ],
            ),
            (
                "/scalability-culprit #3 fix",
                culprit(3, Mitigation::Fix, ""),
            ),
            ("/scalability-culprit", vec![Err(CulpritWithoutPr)]),
            (
                "/scalability-culprit 12 revert",
                vec![Err(CulpritMalformedPr { given: "12".into() })],
            ),
            (
                "/scalability-culprit #0 revert",
                vec![Err(CulpritMalformedPr { given: "#0".into() })],
            ),
            (
                "/scalability-culprit #12",
                vec![Err(CulpritMitigation { given: None })],
            ),
            (
                "/scalability-culprit #12 reverted it",
                vec![Err(CulpritMitigation {
                    given: Some("reverted".into()),
                })],
            ),
            ("> /scalability-culprit #12 revert", vec![]),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body), want, "body: {body:?}");
        }
        let text = CulpritMitigation {
            given: Some("oops".into()),
        }
        .to_string();
        assert!(
            text.contains("feature-off") && text.contains("`oops`"),
            "{text}"
        );
    }

    #[test]
    fn errors_say_what_to_write() {
        let text = CommandError::Unknown {
            command: "scalability-xyz".into(),
        }
        .to_string();
        assert!(text.contains("/scalability-unblock"), "{text}");
        assert!(CommandError::RevertWithoutPr.to_string().contains("#N"));
    }

    #[test]
    fn never_panics_on_odd_input() {
        for body in [
            "/scalability-\u{0}",
            "/scalability-revert #\u{1F600}",
            "```",
            "~~~~~~",
            "   ",
            "/SCALABILITY-é",
            "\u{FEFF}/scalability-status",
        ] {
            let _ = parse(body);
        }
    }
}
