//! Property tests: text from GitHub, Prow and GCS is hostile, and the pure functions that
//! read it or embed it (command parsing, revert and reference detection, ranking, the
//! gate's decisions, Tide query matching, the Markdown renderers) never panic on it.
//! Besides "no panic", each property checks something a reader relies on.
//!
//! The generator mixes arbitrary Unicode with the pieces that broke or could break byte
//! arithmetic: multi-byte whitespace (U+00A0, U+2003, U+3000), NUL, RTL override U+202E,
//! zero-width U+200B, emoji, `#`, `/`, backticks, `>` quotes and `\r\n`.

use std::collections::BTreeSet;

use proptest::prelude::*;
use scalability_gate::comment::{self, GITHUB_BODY_CHARS};
use scalability_gate::core::command::{self, Command};
use scalability_gate::core::culprit::{self, Signals, SuspectFacts};
use scalability_gate::core::gate::{
    self, Approval, ApproverList, CommentInput, Ctx, GateJob, Input, LabelMode, Policy, PrChange,
    PrInput, Reply, ReplyPart, State,
};
use scalability_gate::core::tide::TideQuery;
use scalability_gate::model::{
    Cause, CommitSha, Incident, IncidentId, JobName, Login, PrNumber, RepoName, RunRef, Scope,
    Suspect, SuspectRange, SuspectSearch, Timestamp,
};

/// The pieces hostile text is made of, besides arbitrary chars.
const PIECES: &[&str] = &[
    "\u{a0}",
    "\u{2003}",
    "\u{3000}",
    "\0",
    "\u{202e}",
    "\u{200b}",
    "😀",
    "👩‍👩‍👧",
    "#",
    "#1",
    "#99999999999999999999",
    "/",
    "k/k#",
    "(#",
    ")",
    "`",
    "```",
    "~~~",
    "> ",
    ">",
    "\r\n",
    "\n",
    " ",
    "\t",
    "    ",
    "Reverts ",
    "Revert \"",
    "/scalability-",
    "/scalability-revert ",
    "/scalability-unblock",
    "/scalability-block ",
    "/scalability-status",
    "<!-- ",
    "<!-- scalability-gate:",
    " -->",
    ":",
    "|",
    "é",
    "Merge pull request #",
];

/// Text biased to the pieces above, up to about `max` pieces long.
fn hostile(max: usize) -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(PIECES).prop_map(str::to_string),
        2 => any::<char>().prop_map(String::from),
        1 => "[a-z0-9]{1,6}",
    ];
    proptest::collection::vec(piece, 0..max).prop_map(|v| v.concat())
}

/// Whether `text` writes PR `n` as `#N` (leading zeros allowed, as the readers allow).
fn writes(text: &str, n: u64) -> bool {
    text.split('#').skip(1).any(|after| {
        let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
        digits.trim_start_matches('0') == n.to_string()
    })
}

fn k8s() -> RepoName {
    RepoName::new("kubernetes", "kubernetes")
}

fn master() -> Scope {
    Scope {
        repo: k8s(),
        branch: "master".into(),
    }
}

fn facts(
    pr: u64,
    title: String,
    body: String,
    labels: Vec<String>,
    files: Vec<String>,
) -> SuspectFacts {
    SuspectFacts {
        repo: k8s(),
        pr: PrNumber(pr),
        title,
        body,
        author: Login::new(format!("dev{pr}")),
        merged_at: Some(Timestamp(pr as i64)),
        merge_commit: Some(CommitSha::new(format!("sha{pr}"))),
        labels,
        files,
        additions: pr.wrapping_mul(7919),
        deletions: u64::MAX - pr,
    }
}

fn run(build: &str) -> RunRef {
    RunRef {
        build_id: scalability_gate::model::BuildId::new(build),
        url: format!("https://prow.example/view/{build}"),
        started_at: Some(Timestamp(100)),
        commits: Default::default(),
        finished_at: None,
    }
}

fn incident_with(suspects: Vec<Suspect>, why: String) -> Incident {
    let mut i = Incident::new(
        IncidentId::new("ci-scale-101"),
        JobName::new("ci-scale"),
        Timestamp(1_000),
        Cause::Regression {
            first_red: run("101"),
            last_green: run("100"),
        },
        vec![master()],
    );
    i.suspects = suspects;
    i.searches.push(SuspectSearch {
        scope: master(),
        range: SuspectRange::TimeWindow {
            from: Timestamp(i64::MIN),
            to: Timestamp(i64::MAX),
            why,
        },
        at: Timestamp(1_000),
    });
    i
}

fn policy() -> Policy {
    Policy {
        jobs: vec![GateJob {
            name: JobName::new("ci-scale"),
            scopes: vec![master()],
            auto_unblock_on_recovery: false,
            infer_scopes: false,
        }],
        approvers: ApproverList {
            users: vec!["alice".into()],
            teams: vec!["kubernetes/sig-scalability-leads".into()],
        },
        label: "do-not-merge/scalability-regression".into(),
        label_mode: LabelMode::Ready,
        ready_labels: vec!["lgtm".into(), "approved".into()],
        ready_rules: Default::default(),
        rerun_available: true,
    }
}

proptest! {
    // No regression files in the tree: a failure prints its minimal input to copy into a
    // table test.
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Any body parses without a panic, to at most one result per line; the same body
    /// inside a code fence, or quoted, holds no command at all.
    #[test]
    fn command_parse_never_panics_and_fences_hide_commands(body in hostile(80)) {
        let parsed = command::parse(&body);
        prop_assert!(parsed.len() <= body.lines().count());
        // A fence longer than any run of backticks in the body cannot be closed inside it.
        let fence = "`".repeat(body.chars().filter(|c| *c == '`').count().max(2) + 1);
        let fenced = format!("{fence}\n{body}\n{fence}\n");
        prop_assert_eq!(command::parse(&fenced), vec![]);
        let quoted: String = body.lines().map(|l| format!("> {l}\n")).collect();
        prop_assert_eq!(command::parse(&quoted), vec![]);
    }

    /// A command followed by hostile arguments is still that command (or a typed error).
    #[test]
    fn command_arguments_are_kept_whole(args in hostile(40)) {
        let args = args.replace(['\r', '\n'], " ");
        let parsed = command::parse(&format!("/scalability-unblock {args}"));
        prop_assert_eq!(parsed.len(), 1);
        let is_unblock = matches!(parsed[0], Ok(Command::Unblock { .. }));
        // Issue 17: a first word that looks like a flag is `--final` or a typed error.
        let flag = matches!(
            parsed[0],
            Ok(Command::UnblockFinal { .. }) | Err(command::CommandError::UnknownFlag { .. })
        );
        prop_assert!(is_unblock || flag, "{:?}", parsed);
        let _ = command::parse(&format!("/scalability-revert {args}"));
        let _ = command::parse(&format!("/scalability-block {args}"));
    }

    /// Revert and reference detection never panic; a PR they name is written in the text.
    #[test]
    fn revert_detection_never_panics_and_names_a_written_number(
        title in hostile(12), body in hostile(60),
    ) {
        for title in [title.clone(), format!("Revert \"{title}\"")] {
            if let Some(pr) = culprit::reverted_pr(&title, &body) {
                prop_assert!(pr.0 > 0);
                prop_assert!(writes(&body, pr.0), "#{} not in {:?}", pr.0, body);
            }
        }
        if let Some(pr) = culprit::pr_from_commit_message(&body) {
            let written = writes(&body, pr.0);
            prop_assert!(written, "#{} not in {:?}", pr.0, body);
        }
    }

    /// Multi-byte whitespace (the reported crash) right before `#N` reads as a reference.
    #[test]
    fn a_reference_after_any_whitespace_is_found(
        ws in proptest::sample::select(vec!['\u{a0}', '\u{2003}', '\u{3000}', ' ', '\t', '\n']),
        lead in hostile(8), n in 1u64..1_000_000,
    ) {
        let lead: String = lead.chars().filter(|c| *c != '#').collect();
        let body = format!("{lead}{ws}#{n}");
        prop_assert_eq!(culprit::reverted_pr("Revert \"x\"", &body), Some(PrNumber(n)));
    }

    /// Ranking hostile facts never panics, keeps every suspect, scores are never negative.
    #[test]
    fn ranking_never_panics(
        rows in proptest::collection::vec(
            (hostile(8), hostile(30), proptest::collection::vec(hostile(4), 0..3),
             proptest::collection::vec(hostile(4), 0..3)),
            0..6,
        ),
        hot in hostile(4), label in hostile(4),
    ) {
        let all: Vec<SuspectFacts> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (title, body, labels, files))| facts(i as u64 + 1, title, body, labels, files))
            .collect();
        let signals = Signals { hot_paths: vec![hot], labels: vec![label] };
        let ranked = culprit::rank(&all, &signals, &BTreeSet::new());
        prop_assert_eq!(ranked.len(), all.len());
        prop_assert!(ranked.iter().all(|s| s.score >= 0.0 && !s.reasons.is_empty()));
    }

    /// The issue's suspects section and blocker body take hostile titles, reasons and
    /// authors without a panic; none of it can forge a hidden marker or break a row
    /// out of the table; the whole body fits GitHub.
    #[test]
    fn rendering_hostile_suspects_never_panics_nor_forges_markers(
        rows in proptest::collection::vec((hostile(10), hostile(10), hostile(3)), 1..5),
    ) {
        let suspects: Vec<Suspect> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (title, reason, author))| Suspect {
                repo: k8s(),
                pr: PrNumber(i as u64 + 1),
                title,
                author: Login::new(author),
                merged_at: Some(Timestamp(i64::MAX - i as i64)),
                score: 1.0,
                reasons: vec![reason],
                merge_commit: Some(CommitSha::new("é".repeat(20))),
                reverts: None,
            })
            .collect();
        let n = suspects.len();
        let incident = incident_with(suspects, "the start of the last green run is unknown".into());
        let section = comment::suspects_section(&incident, &master());
        prop_assert_eq!(comment::parse_markers(&section), vec![]);
        let rows = section.lines().filter(|l| l.starts_with("| #")).count();
        prop_assert_eq!(rows, n, "{}", section);
        let ctx = comment::NoticeContext {
            label: "do-not-merge/scalability-regression".into(),
            ready_only: true,
            ready_labels: vec![vec!["lgtm".into()]],
            blocker: true,
            approver_users: vec!["alice".into()],
            approver_teams: vec![],
            reads_failed_tests: true,
        };
        let body = comment::blocker_body(&incident, &master(), &ctx);
        prop_assert!(body.chars().count() <= GITHUB_BODY_CHARS);
        let markers = comment::parse_markers(&body);
        prop_assert!(markers.iter().all(|(id, _)| id == &incident.id), "{:?}", markers);
    }

    /// Cutting to GitHub's limit never splits a char, keeps the limit, and keeps a short
    /// body as it is.
    #[test]
    fn fit_for_github_keeps_the_limit_and_whole_chars(
        piece in hostile(6), times in 0usize..40_000, marker in any::<bool>(),
    ) {
        let mut body = piece.repeat(times.min(GITHUB_BODY_CHARS * 2 / piece.len().max(1)));
        if marker {
            body.push_str(&comment::reply_marker(7));
        }
        let fitted = comment::fit_for_github(body.clone());
        prop_assert!(fitted.chars().count() <= GITHUB_BODY_CHARS);
        if body.chars().count() <= GITHUB_BODY_CHARS {
            prop_assert_eq!(&fitted, &body);
        } else if marker {
            prop_assert!(fitted.ends_with(&comment::reply_marker(7)));
        }
    }

    /// A reply quoting a hostile message fits GitHub and still ends with its own marker.
    #[test]
    fn replies_fit_and_end_with_their_marker(message in hostile(60), times in 1usize..3_000) {
        let reply = Reply {
            repo: k8s(),
            number: PrNumber(1),
            in_reply_to: 9,
            author: Login::new("bob"),
            parts: vec![ReplyPart::Malformed { message: message.repeat(times) }],
        };
        let text = comment::reply(&reply);
        prop_assert!(text.chars().count() <= GITHUB_BODY_CHARS);
        prop_assert!(text.ends_with(&comment::reply_marker(9)));
    }

    /// Marker parsing never panics on hostile text, and finds a real marker in it.
    #[test]
    fn parse_markers_never_panics_and_finds_ours(before in hostile(40), after in hostile(40)) {
        let _ = comment::parse_markers(&before);
        let ours = comment::marker(&IncidentId::new("ci-scale-101"), "issue/master");
        let text = format!("{before}\n{ours}\n{after}");
        let found = comment::parse_markers(&text);
        let ours_found = found
            .iter()
            .any(|(id, kind)| id.as_str() == "ci-scale-101" && kind == "issue/master");
        // A hostile `<!-- scalability-gate:` before ours without its ` -->` swallows it
        // into one unterminated marker; otherwise ours is found.
        if !before.contains("<!-- scalability-gate:") {
            prop_assert!(ours_found, "{:?} in {:?}", found, text);
        }
    }

    /// The gate decides on hostile commands, labels and branch names without a panic, and
    /// answers a comment at most once.
    #[test]
    fn gate_decisions_on_hostile_text_never_panic(
        body in hostile(60), labels in proptest::collection::vec(hostile(4), 0..4),
        branch in hostile(4), approver in any::<bool>(),
    ) {
        let policy = policy();
        let ctx = Ctx { now: Timestamp(1_000), policy: &policy, issue_incident: None };
        let mut state = State::default();
        let opened = gate::decide(&state, &Input::Regression {
            job: JobName::new("ci-scale"),
            first_red: run("101"),
            last_green: run("100"),
        }, &ctx);
        state.incidents = opened.incidents;
        let comment = Input::Comment(CommentInput {
            repo: k8s(),
            number: PrNumber(42),
            is_pr: true,
            base: scalability_gate::core::gate::PrBase::Branch("master".into()),
            author: Login::new("alice"),
            approval: if approver { Approval::Approver } else { Approval::NotApprover },
            comment_id: 7,
            commands: command::parse(&body),
        });
        let d = gate::decide(&state, &comment, &ctx);
        prop_assert!(d.replies.len() <= 1);
        for reply in &d.replies {
            prop_assert!(comment::reply(reply).chars().count() <= GITHUB_BODY_CHARS);
        }
        for change in [PrChange::Opened, PrChange::Labeled(labels.concat()), PrChange::BaseChanged] {
            let pr = Input::PullRequest(PrInput {
                scope: Scope { repo: k8s(), branch: branch.clone() },
                pr: PrNumber(9),
                labels: labels.clone(),
                change,
                sender: Login::new("bob"),
                sender_is_self: false,
            });
            let _ = gate::decide(&state, &pr, &ctx);
        }
        let _ = policy.is_ready(&Scope { repo: k8s(), branch }, &labels);
    }

    /// Tide query matching on hostile branch names and labels never panics.
    #[test]
    fn tide_queries_on_hostile_text_never_panic(
        branch in hostile(6), labels in proptest::collection::vec(hostile(4), 0..4),
    ) {
        // A required entry may list alternatives separated by commas; a PR carrying every
        // entry as a label of its own satisfies the query when no entry has one.
        let labels: Vec<String> = labels.iter().map(|l| l.replace(',', "")).collect();
        let query = TideQuery {
            repos: vec!["kubernetes/kubernetes".into()],
            labels: labels.clone(),
            missing_labels: labels.clone(),
            included_branches: vec![branch.clone()],
            ..TideQuery::default()
        };
        prop_assert!(query.for_branch(&branch));
        prop_assert!(query.has_required_labels(&labels));
        let _ = query.excludes(&branch);
        let _ = query.describe();
    }

    /// Any timestamp (GCS metadata may say anything) is shown and subtracted safely.
    #[test]
    fn any_timestamp_renders(a in any::<i64>(), b in any::<i64>()) {
        let text = Timestamp(a).to_string();
        prop_assert!(text.len() == 20 && text.ends_with('Z'), "{}", text);
        prop_assert!(Timestamp(a).seconds_until(Timestamp(b)) >= 0);
    }
}
