//! Fuzzes the command parser (`core::command::parse`) with arbitrary comment bodies.
//!
//! Properties, besides never panicking:
//! - at most one result per line;
//! - every parsed command, written back as its canonical line, parses to itself alone
//!   (parse → render → parse);
//! - the same body quoted (`> ` before every line) or indented as code holds no command:
//!   quoting someone's command never runs it again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use scalability_gate::core::command::{Command, parse};

/// The canonical line of a command, as `/help` documents it.
fn render(command: &Command) -> String {
    let name = command.name();
    match command {
        Command::Unblock { reason } | Command::Exempt { reason } if reason.is_empty() => {
            format!("/{name}")
        }
        Command::Unblock { reason } | Command::Exempt { reason } => format!("/{name} {reason}"),
        Command::UnblockFinal { reason } if reason.is_empty() => format!("/{name} --final"),
        Command::UnblockFinal { reason } => format!("/{name} --final {reason}"),
        Command::ExemptCancel => format!("/{name} cancel"),
        Command::Block { job, reason } if reason.is_empty() => format!("/{name} {job}"),
        Command::Block { job, reason } => format!("/{name} {job} {reason}"),
        Command::Revert { pr } => format!("/{name} #{pr}"),
        Command::Culprit {
            pr,
            mitigation,
            note,
        } if note.is_empty() => format!("/{name} #{pr} {}", mitigation.as_str()),
        Command::Culprit {
            pr,
            mitigation,
            note,
        } => format!("/{name} #{pr} {} {note}", mitigation.as_str()),
        Command::Rerun | Command::Status => format!("/{name}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let parsed = parse(&body);
    assert!(
        parsed.len() <= body.lines().count(),
        "more commands than lines"
    );

    for command in parsed.iter().flatten() {
        let line = render(command);
        let again = parse(&line);
        assert_eq!(
            again,
            vec![Ok(command.clone())],
            "{command:?} rendered as {line:?} does not parse back"
        );
    }

    for prefix in ["> ", ">", "    ", "\t"] {
        let quoted: String = body.lines().map(|l| format!("{prefix}{l}\n")).collect();
        assert!(
            parse(&quoted).is_empty(),
            "a command ran from a line prefixed with {prefix:?}: {quoted:?}"
        );
    }
});
