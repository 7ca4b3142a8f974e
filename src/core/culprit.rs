//! Pure core: finding the culprit. Given what the shell learnt from GitHub about the PRs
//! merged in a suspect range ([`SuspectFacts`]), [`rank`] scores each one and says why,
//! from the job's configured signals ([`Signals`]); [`bisection`] plans the runs that would
//! narrow the suspects down; [`escalations_due`] says which escalation steps are due.
//! Helpers read PR numbers out of merge-commit messages and revert PRs.
//!
//! No I/O and no clock: time is a parameter.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::model::{CommitSha, Incident, Login, PrNumber, RepoName, RunRef, Suspect, Timestamp};

/// Points for each configured hot path a suspect touches.
pub const HOT_PATH_POINTS: f64 = 3.0;
/// Points for each configured label a suspect carries.
pub const LABEL_POINTS: f64 = 2.0;
/// Points for a PR merged while an earlier incident blocked merges (a breach).
pub const BREACH_POINTS: f64 = 3.0;
/// Points for a large change ([`LARGE_CHANGE`] lines or more).
pub const LARGE_POINTS: f64 = 2.0;
/// Points for a medium change ([`MEDIUM_CHANGE`] lines or more).
pub const MEDIUM_POINTS: f64 = 1.0;
/// Lines changed (added + deleted) from which a change counts as large.
pub const LARGE_CHANGE: u64 = 1_000;
/// Lines changed from which a change counts as medium.
pub const MEDIUM_CHANGE: u64 = 200;
/// Points taken from a PR that is itself a revert: it removes code rather than adds it.
pub const REVERT_PENALTY: f64 = 1.0;

/// What the shell learnt about one PR merged in a suspect range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuspectFacts {
    pub repo: RepoName,
    pub pr: PrNumber,
    pub title: String,
    pub body: String,
    pub author: Login,
    pub merged_at: Option<Timestamp>,
    pub merge_commit: Option<CommitSha>,
    pub labels: Vec<String>,
    /// Paths of the files the PR changed.
    pub files: Vec<String>,
    pub additions: u64,
    pub deletions: u64,
}

/// A job's ranking signals (config `jobs[].suspects`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Signals {
    /// Path prefixes whose changes are likely to move this job's numbers.
    pub hot_paths: Vec<String>,
    /// Labels (`sig/*`, `area/*`) that mark PRs likely to matter to this job.
    pub labels: Vec<String>,
}

/// Scores and explains each suspect; best first, ties in merge order. `breached` holds
/// the PRs merged during an earlier incident without an exemption. Reasons are sentences a
/// reader can check against the PR.
pub fn rank(
    facts: &[SuspectFacts],
    signals: &Signals,
    breached: &BTreeSet<(RepoName, PrNumber)>,
) -> Vec<Suspect> {
    let mut order: Vec<(usize, &SuspectFacts)> = facts.iter().enumerate().collect();
    // Merge order: merge time (unknown last), then the order the shell found them in.
    order.sort_by_key(|(i, f)| (f.merged_at.is_none(), f.merged_at, *i));
    let mut ranked: Vec<Suspect> = order
        .into_iter()
        .map(|(_, f)| score(f, signals, breached))
        .collect();
    // Stable: equal scores keep merge order.
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score));
    ranked
}

fn score(
    f: &SuspectFacts,
    signals: &Signals,
    breached: &BTreeSet<(RepoName, PrNumber)>,
) -> Suspect {
    let mut points = 0.0;
    let mut reasons = Vec::new();
    for hot in signals.hot_paths.iter().filter(|h| !h.is_empty()) {
        let touched = f
            .files
            .iter()
            .filter(|file| file.starts_with(hot.as_str()))
            .count();
        if touched > 0 {
            points += HOT_PATH_POINTS;
            reasons.push(format!(
                "touches the hot path `{hot}` ({touched} file{})",
                plural(touched)
            ));
        }
    }
    for wanted in signals.labels.iter().filter(|l| !l.is_empty()) {
        if f.labels.iter().any(|l| l.eq_ignore_ascii_case(wanted)) {
            points += LABEL_POINTS;
            reasons.push(format!("labelled `{wanted}`"));
        }
    }
    let lines = f.additions.saturating_add(f.deletions);
    let files = f.files.len();
    let size = format!(
        "+{} −{} lines in {files} file{}",
        f.additions,
        f.deletions,
        plural(files)
    );
    if lines >= LARGE_CHANGE {
        points += LARGE_POINTS;
        reasons.push(format!("large change: {size}"));
    } else if lines >= MEDIUM_CHANGE {
        points += MEDIUM_POINTS;
        reasons.push(format!("medium-sized change: {size}"));
    }
    if breached.contains(&(f.repo.clone(), f.pr)) {
        points += BREACH_POINTS;
        reasons.push(
            "merged while an earlier incident blocked merges, without an exemption (a breach)"
                .into(),
        );
    }
    let reverts = reverted_pr(&f.title, &f.body);
    if let Some(m) = reverts {
        points = (points - REVERT_PENALTY).max(0.0);
        reasons.push(format!(
            "a revert of #{}: it takes code out rather than adding it",
            m.0
        ));
    }
    if reasons.is_empty() {
        reasons.push("merged in the range; no configured signal matched".into());
    }
    Suspect {
        repo: f.repo.clone(),
        pr: f.pr,
        title: f.title.clone(),
        author: f.author.clone(),
        merged_at: f.merged_at,
        score: points,
        reasons,
        merge_commit: f.merge_commit.clone(),
        reverts,
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The PR a merge commit brought in, from its message: GitHub's merge commits
/// ("Merge pull request #123 from user/branch") and squash merges ("Title (#123)" at the
/// end of the first line). The fallback when `commits/{sha}/pulls` knows no PR.
pub fn pr_from_commit_message(message: &str) -> Option<PrNumber> {
    let first = message.lines().next()?.trim();
    if let Some(rest) = first.strip_prefix("Merge pull request #") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        let after = &rest[digits.len()..];
        if after.is_empty() || after.starts_with(' ') {
            return number(&digits);
        }
        return None;
    }
    let inner = first.strip_suffix(')')?;
    let start = inner.rfind("(#")?;
    number(&inner[start + 2..])
}

fn number(digits: &str) -> Option<PrNumber> {
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n > 0).map(PrNumber)
}

/// The PR a revert undoes: GitHub's revert body "Reverts org/repo#N" (or "Reverts #N"),
/// else, for a title `Revert "…"`, the first `#N` of the body. `None` for other PRs.
pub fn reverted_pr(title: &str, body: &str) -> Option<PrNumber> {
    for line in body.lines() {
        let Some(rest) = line.trim().strip_prefix("Reverts ") else {
            continue;
        };
        let reference = rest.split_whitespace().next().unwrap_or("");
        if let Some((_, n)) = reference.rsplit_once('#')
            && let Some(pr) = number(n.trim_end_matches(['.', ',', ')']))
        {
            return Some(pr);
        }
    }
    let title = title.trim();
    let is_revert = title.starts_with("Revert \"") || title.starts_with("Revert '");
    if !is_revert {
        return None;
    }
    first_reference(body)
}

/// The first `#N` in `text` that stands alone or follows `org/repo` (`abc#1` is not one).
///
/// One pass over the chars: the word before a `#` starts after the last whitespace or `(`,
/// of whatever width (U+00A0 is two bytes, U+3000 three), so every offset is a char
/// boundary of `text`; and a body of many `#`s costs one pass, not one per `#`.
fn first_reference(text: &str) -> Option<PrNumber> {
    // The word since the last boundary: whether it has any char, and a `/`.
    let (mut word_empty, mut word_has_slash) = (true, false);
    for (i, c) in text.char_indices() {
        if c.is_whitespace() || c == '(' {
            (word_empty, word_has_slash) = (true, false);
            continue;
        }
        if c == '#' && (word_empty || word_has_slash) {
            let digits: String = text[i + c.len_utf8()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Some(pr) = number(&digits) {
                return Some(pr);
            }
        }
        word_empty = false;
        word_has_slash |= c == '/';
    }
    None
}

/// Which runs would narrow the suspects down.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BisectionPlan {
    /// Runs needed to single out one of N suspects: ⌈log2 N⌉.
    pub runs: u32,
    /// The suspects whose merge commit to test first: the midpoint, then the quarters (in
    /// merge order). Testing a suspect's merge commit tests it and everything before it.
    pub test_first: Vec<(PrNumber, Option<CommitSha>)>,
}

/// Plans a bisection over suspects given in merge order.
pub fn bisection(suspects_in_merge_order: &[Suspect]) -> BisectionPlan {
    let n = suspects_in_merge_order.len();
    let runs = if n <= 1 {
        0
    } else {
        usize::BITS - (n - 1).leading_zeros()
    };
    let entry = |i: usize| {
        let s = &suspects_in_merge_order[i];
        (s.pr, s.merge_commit.clone())
    };
    let mut test_first = Vec::new();
    if let Some(mid) = split(0, n) {
        test_first.push(entry(mid));
        let quarters = [split(0, mid + 1), split(mid + 1, n)];
        test_first.extend(quarters.into_iter().flatten().map(entry));
    }
    BisectionPlan { runs, test_first }
}

/// The suspect to test to halve `[from, to)`: a red run there puts the culprit at or
/// before it, a green one after it. `None` when the range holds one suspect or none.
fn split(from: usize, to: usize) -> Option<usize> {
    (to.saturating_sub(from) >= 2).then(|| from + (to - from - 1) / 2)
}

/// The escalation policy (config `escalation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escalation {
    /// Step 1: mention the top suspects' authors and the approver teams.
    pub mention_after: Option<Duration>,
    /// Step 2: suggest reverting the top suspect.
    pub suggest_revert_after: Option<Duration>,
    /// How many suspects step 1 mentions.
    pub top: usize,
}

/// The escalation steps due at `now` for `incident` and not yet taken (each step once per
/// incident). Time runs from `opened_at`. Nothing is due on a lifted incident. Step 2 needs
/// a suspect that is not itself a revert, and is not suggested once a revert was asked for.
pub fn escalations_due(incident: &Incident, now: Timestamp, policy: &Escalation) -> Vec<u8> {
    if !incident.is_active() {
        return Vec::new();
    }
    let taken = |step: u8| incident.escalations.iter().any(|e| e.step == step);
    let elapsed = |after: Option<Duration>| {
        after.is_some_and(|d| {
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            incident.opened_at.seconds_until(now) >= secs && now >= incident.opened_at
        })
    };
    let mut due = Vec::new();
    if !taken(1) && elapsed(policy.mention_after) {
        due.push(1);
    }
    let revert_candidate = top_revertible(incident).is_some();
    if !taken(2)
        && elapsed(policy.suggest_revert_after)
        && revert_candidate
        && incident.reverts.is_empty()
    {
        due.push(2);
    }
    due
}

/// The suspects ranked best first (score, then merge order).
pub fn top_suspects(incident: &Incident, top: usize) -> Vec<&Suspect> {
    let mut all: Vec<&Suspect> = incident.suspects.iter().collect();
    all.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.merged_at.is_none().cmp(&b.merged_at.is_none()))
            .then(a.merged_at.cmp(&b.merged_at))
            .then(a.pr.cmp(&b.pr))
    });
    all.truncate(top);
    all
}

/// The best suspect that may be reverted (not itself a revert).
pub fn top_revertible(incident: &Incident) -> Option<&Suspect> {
    top_suspects(incident, usize::MAX)
        .into_iter()
        .find(|s| s.reverts.is_none())
}

/// The suspects in merge order (merge time, unknown last, then number).
pub fn merge_order(suspects: &[Suspect]) -> Vec<Suspect> {
    let mut all = suspects.to_vec();
    all.sort_by(|a, b| {
        (a.merged_at.is_none(), a.merged_at, &a.repo, a.pr).cmp(&(
            b.merged_at.is_none(),
            b.merged_at,
            &b.repo,
            b.pr,
        ))
    });
    all
}

/// The rerun of `incident` that the finished run `run` of its job answers: the rerun whose
/// execution has that build id, else the oldest rerun still waiting, without a known build,
/// that was asked before the run started. `None` when it answers none.
pub fn rerun_answered_by(incident: &Incident, run: &RunRef) -> Option<u64> {
    let answered = incident.reruns.iter().any(|r| {
        r.result
            .as_ref()
            .is_some_and(|d| d.run.build_id == run.build_id)
    });
    if answered {
        return None;
    }
    let waiting = || incident.reruns.iter().filter(|r| r.awaits_result());
    if let Some(r) = waiting().find(|r| r.build_id.as_ref() == Some(&run.build_id)) {
        return Some(r.id);
    }
    let started = run.started_at?;
    waiting()
        .filter(|r| r.build_id.is_none() && started >= r.at)
        .min_by_key(|r| r.at)
        .map(|r| r.id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Cause, EscalationStep, IncidentId, IncidentState, JobName, Revert};

    fn repo() -> RepoName {
        RepoName::new("kubernetes", "kubernetes")
    }

    fn facts(pr: u64, merged: i64) -> SuspectFacts {
        SuspectFacts {
            repo: repo(),
            pr: PrNumber(pr),
            title: format!("PR {pr}"),
            author: Login::new(format!("dev{pr}")),
            merged_at: Some(Timestamp(merged)),
            merge_commit: Some(CommitSha::new(format!("sha{pr}"))),
            body: String::new(),
            labels: vec![],
            files: vec![],
            additions: 0,
            deletions: 0,
        }
    }

    fn signals() -> Signals {
        Signals {
            hot_paths: vec![
                "pkg/scheduler/".into(),
                "staging/src/k8s.io/apiserver/".into(),
            ],
            labels: vec!["sig/scalability".into(), "area/apiserver".into()],
        }
    }

    #[test]
    fn ranking_table_scores_and_explains() {
        let mut hot = facts(1, 10);
        hot.files = vec![
            "pkg/scheduler/a.go".into(),
            "pkg/scheduler/b.go".into(),
            "README.md".into(),
        ];
        let mut labelled = facts(2, 20);
        labelled.labels = vec!["SIG/Scalability".into(), "kind/bug".into()];
        let mut large = facts(3, 30);
        large.additions = 900;
        large.deletions = 150;
        large.files = vec!["x.go".into()];
        let mut medium = facts(4, 40);
        medium.additions = 200;
        let breach = facts(5, 50);
        let mut revert = facts(6, 60);
        revert.title = "Revert \"Speed up\"".into();
        revert.body = "Reverts kubernetes/kubernetes#1".into();
        revert.files = vec!["pkg/scheduler/a.go".into()];
        let plain = facts(7, 70);
        let breached = BTreeSet::from([(repo(), PrNumber(5))]);
        let all = [hot, labelled, large, medium, breach, revert, plain];
        let ranked = rank(&all, &signals(), &breached);
        // (pr, score, a reason it must give)
        let want: &[(u64, f64, &str)] = &[
            (1, 3.0, "touches the hot path `pkg/scheduler/` (2 files)"),
            (5, 3.0, "(a breach)"),
            (2, 2.0, "labelled `sig/scalability`"),
            (3, 2.0, "large change: +900 −150 lines in 1 file"),
            (6, 2.0, "a revert of #1"),
            (4, 1.0, "medium-sized change: +200 −0 lines in 0 files"),
            (7, 0.0, "no configured signal matched"),
        ];
        assert_eq!(ranked.len(), want.len());
        for (got, (pr, score, reason)) in ranked.iter().zip(want) {
            assert_eq!(got.pr, PrNumber(*pr), "{ranked:#?}");
            assert_eq!(got.score, *score, "#{pr}");
            assert!(
                got.reasons.iter().any(|r| r.contains(reason)),
                "#{pr}: {:?} lacks {reason:?}",
                got.reasons
            );
        }
        let revert = ranked.iter().find(|s| s.pr == PrNumber(6)).unwrap();
        assert_eq!(revert.reverts, Some(PrNumber(1)));
        assert_eq!(ranked[0].merge_commit, Some(CommitSha::new("sha1")));
    }

    #[test]
    fn ties_keep_merge_order_even_when_given_out_of_order() {
        let given = [facts(3, 30), facts(1, 10), facts(2, 20)];
        let ranked = rank(&given, &Signals::default(), &BTreeSet::new());
        let prs: Vec<u64> = ranked.iter().map(|s| s.pr.0).collect();
        assert_eq!(prs, vec![1, 2, 3]);
    }

    #[test]
    fn hot_paths_are_prefixes_and_empty_signals_match_nothing() {
        let mut f = facts(1, 1);
        f.files = vec![
            "pkg/schedulerx/a.go".into(),
            "vendor/pkg/scheduler/a.go".into(),
        ];
        f.labels = vec![String::new()];
        let s = Signals {
            hot_paths: vec!["pkg/scheduler/".into(), String::new()],
            labels: vec![String::new()],
        };
        let ranked = rank(&[f], &s, &BTreeSet::new());
        assert_eq!(ranked[0].score, 0.0);
    }

    #[test]
    fn pr_from_commit_message_table() {
        let cases: &[(&str, Option<u64>)] = &[
            (
                "Merge pull request #123 from user/branch\n\nSpeed up",
                Some(123),
            ),
            ("Merge pull request #7", Some(7)),
            ("Speed up the scheduler (#135000)", Some(135_000)),
            ("Speed up (#12) and more (#13)", Some(13)),
            (
                "Speed up (#12)\n\n* Merge pull request #99 from x",
                Some(12),
            ),
            ("Merge pull request #12x from y", None),
            ("Merge branch 'master' into feature", None),
            ("Fix #12 in the scheduler", None),
            ("Bump (#)", None),
            ("Bump (#0)", None),
            ("", None),
        ];
        for (message, want) in cases {
            assert_eq!(
                pr_from_commit_message(message),
                want.map(PrNumber),
                "{message:?}"
            );
        }
    }

    #[test]
    fn reverted_pr_table() {
        let cases: &[(&str, &str, Option<u64>)] = &[
            (
                "Revert \"Speed up the scheduler\"",
                "Reverts kubernetes/kubernetes#123",
                Some(123),
            ),
            ("anything", "Reverts #45\n\nflaky", Some(45)),
            ("anything", "  Reverts kubernetes/kubernetes#45.", Some(45)),
            (
                "Revert \"Speed up\"",
                "This reverts #77 because it doubled latency",
                Some(77),
            ),
            (
                "Revert \"Speed up\"",
                "This reverts kubernetes/kubernetes#78",
                Some(78),
            ),
            ("Revert \"Speed up\"", "This reverts commit abc#1", None),
            // Multi-byte whitespace right before `#`: the word before it is empty.
            ("Revert \"Speed up\"", "This reverts\u{a0}#79", Some(79)),
            (
                "Revert \"Speed up\"",
                "reverts\u{3000}#80 and\u{2003}#81",
                Some(80),
            ),
            ("Revert \"Speed up\"", "é#1 then k/k\u{a0}é/x#82", Some(82)),
            ("Revert \"x\"", "#99999999999999999999 then #83", Some(83)),
            ("Revert \"x\"", "#\u{a0}#", None),
            ("Revert \"Speed up\"", "no reference", None),
            ("Speed up the scheduler", "Fixes #12", None),
            ("Reverting docs", "see #5", None),
        ];
        for (title, body, want) in cases {
            assert_eq!(
                reverted_pr(title, body),
                want.map(PrNumber),
                "{title:?} / {body:?}"
            );
        }
    }

    fn suspects(n: u64) -> Vec<Suspect> {
        let f: Vec<SuspectFacts> = (1..=n).map(|i| facts(i, i as i64)).collect();
        merge_order(&rank(&f, &Signals::default(), &BTreeSet::new()))
    }

    #[test]
    fn bisection_table() {
        // (suspects, runs, PRs to test first)
        let cases: &[(u64, u32, &[u64])] = &[
            (0, 0, &[]),
            (1, 0, &[]),
            (2, 1, &[1]),
            (3, 2, &[2, 1]),
            (4, 2, &[2, 1, 3]),
            (7, 3, &[4, 2, 6]),
            (8, 3, &[4, 2, 6]),
            (9, 4, &[5, 3, 7]),
        ];
        for (n, runs, first) in cases {
            let plan = bisection(&suspects(*n));
            assert_eq!(plan.runs, *runs, "{n} suspects");
            let prs: Vec<u64> = plan.test_first.iter().map(|(p, _)| p.0).collect();
            assert_eq!(prs, *first, "{n} suspects");
        }
        let plan = bisection(&suspects(7));
        assert_eq!(plan.test_first[0].1, Some(CommitSha::new("sha4")));
    }

    fn incident(suspects: Vec<Suspect>) -> Incident {
        let mut i = Incident::new(
            IncidentId::new("j-1"),
            JobName::new("j"),
            Timestamp(1_000),
            Cause::Manual {
                by: Login::new("alice"),
                reason: String::new(),
            },
            vec![],
        );
        i.suspects = suspects;
        i
    }

    #[test]
    fn escalation_table() {
        let policy = Escalation {
            mention_after: Some(Duration::from_secs(3600)),
            suggest_revert_after: Some(Duration::from_secs(4 * 3600)),
            top: 3,
        };
        let with = incident(suspects(3));
        let mut taken1 = with.clone();
        taken1.escalations.push(EscalationStep {
            step: 1,
            at: Timestamp(4_600),
        });
        let mut both = taken1.clone();
        both.escalations.push(EscalationStep {
            step: 2,
            at: Timestamp(20_000),
        });
        let mut reverted = with.clone();
        reverted.reverts.push(Revert::asked(
            repo(),
            PrNumber(1),
            Login::new("alice"),
            Timestamp(2_000),
            None,
        ));
        let mut only_reverts = incident(suspects(1));
        only_reverts.suspects[0].reverts = Some(PrNumber(9));
        let mut lifted = with.clone();
        lifted.state = IncidentState::Lifted {
            by: "alice".into(),
            reason: String::new(),
            at: Timestamp(2_000),
        };
        let off = Escalation {
            mention_after: None,
            suggest_revert_after: None,
            top: 3,
        };
        // (what, incident, policy, now, due)
        let cases: Vec<(&str, &Incident, Escalation, i64, Vec<u8>)> = vec![
            ("too early", &with, policy, 4_599, vec![]),
            ("T1 reached", &with, policy, 4_600, vec![1]),
            ("T1 taken", &taken1, policy, 5_000, vec![]),
            ("both reached at once", &with, policy, 15_400, vec![1, 2]),
            ("T2 after T1", &taken1, policy, 15_400, vec![2]),
            ("both taken", &both, policy, 99_999, vec![]),
            ("a revert was asked for", &reverted, policy, 15_400, vec![1]),
            (
                "no suspect to revert",
                &only_reverts,
                policy,
                15_400,
                vec![1],
            ),
            ("lifted", &lifted, policy, 99_999, vec![]),
            ("off", &with, off, 99_999, vec![]),
            ("clock before opening", &with, policy, 0, vec![]),
        ];
        for (what, incident, policy, now, due) in cases {
            assert_eq!(
                escalations_due(incident, Timestamp(now), &policy),
                due,
                "{what}"
            );
        }
    }

    #[test]
    fn top_suspects_are_best_first_and_skip_reverts_for_reverting() {
        let mut all = suspects(4);
        all[2].score = 5.0;
        all[2].reverts = Some(PrNumber(1));
        all[3].score = 4.0;
        let i = incident(all);
        let top: Vec<u64> = top_suspects(&i, 2).iter().map(|s| s.pr.0).collect();
        assert_eq!(top, vec![3, 4]);
        assert_eq!(top_revertible(&i).map(|s| s.pr), Some(PrNumber(4)));
    }

    #[test]
    fn which_rerun_a_run_answers() {
        use crate::model::{BuildId, Rerun, RerunResult, RunResult};
        let rerun = |id: u64, at: i64, build: Option<&str>| Rerun {
            id,
            by: Login::new("alice"),
            at: Timestamp(at),
            repo: repo(),
            requested_on: PrNumber(1),
            execution: Some(format!("exec-{id}")),
            build_id: build.map(BuildId::new),
            result: None,
            error: None,
        };
        let run = |build: &str, started: Option<i64>| RunRef {
            build_id: BuildId::new(build),
            url: String::new(),
            started_at: started.map(Timestamp),
            commits: Default::default(),
            finished_at: None,
        };
        let mut i = incident(vec![]);
        i.reruns = vec![rerun(1, 100, None), rerun(2, 200, Some("77"))];
        // (what, run, answers)
        let cases = [
            ("started before any request", run("5", Some(99)), None),
            (
                "started after the first request",
                run("6", Some(150)),
                Some(1),
            ),
            ("the second's own build", run("77", Some(10)), Some(2)),
            ("start unknown", run("8", None), None),
        ];
        for (what, r, want) in cases {
            assert_eq!(rerun_answered_by(&i, &r), want, "{what}");
        }
        i.reruns[0].result = Some(RerunResult {
            run: run("6", Some(150)),
            result: RunResult::Success,
        });
        assert_eq!(
            rerun_answered_by(&i, &run("6", Some(150))),
            None,
            "already tied"
        );
        assert_eq!(
            rerun_answered_by(&i, &run("9", Some(300))),
            None,
            "2 waits for 77"
        );
        i.reruns[1].error = Some("refused".into());
        assert_eq!(
            rerun_answered_by(&i, &run("77", Some(300))),
            None,
            "a failed rerun"
        );
    }
}
