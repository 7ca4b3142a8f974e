//! Scope inference (`jobs[].infer_scopes`): which of a job's scopes a regression blocks,
//! from the commit each run tested per repo (`started.json` `repos`). A scope whose repo
//! tested the same commit in the last green and the first red run is left open; an
//! unknown commit on either side blocks it (fail closed).

use std::collections::BTreeMap;

use crate::model::{CommitSha, RepoName, Scope};

/// The longest commit id taken from a run's metadata (a SHA-256 object id is 64 hex
/// digits); anything longer is junk.
pub const MAX_COMMIT_LEN: usize = 64;

/// Whether `text` looks like a commit id: 1 to [`MAX_COMMIT_LEN`] ASCII hex digits.
pub fn is_commit(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_COMMIT_LEN && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The tested commit in one value of `started.json` `repos`: `branch:sha`, or Prow's
/// `branch:sha,PR:sha,...` form (the base ref's, first). A value without a colon, with an
/// empty, over-long or non-hex commit is unknown (`None`), never a panic.
pub fn tested_commit(value: &str) -> Option<CommitSha> {
    let base = value.split(',').next()?;
    let (_, sha) = base.split_once(':')?;
    let sha = sha.trim_matches(|c: char| c.is_ascii_whitespace());
    is_commit(sha).then(|| CommitSha::new(sha))
}

/// How a job's scopes are split by [`infer`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Inferred {
    /// The scopes the regression blocks.
    pub blocked: Vec<Scope>,
    /// The scopes left open: their repo is unchanged since the last green run.
    pub left_open: Vec<Scope>,
}

/// Splits `scopes` by whether their repo changed between `last_green` and `first_red`
/// (the commit each run tested per repo). A scope is left open only when both commits
/// are known and equal. When that would leave nothing blocked (no gated repo changed,
/// so the cause is outside them), every scope is blocked: the gate never stays silent
/// on a regression it cannot place.
pub fn infer(
    scopes: &[Scope],
    last_green: &BTreeMap<RepoName, CommitSha>,
    first_red: &BTreeMap<RepoName, CommitSha>,
) -> Inferred {
    let unchanged = |scope: &Scope| {
        matches!(
            (last_green.get(&scope.repo), first_red.get(&scope.repo)),
            (Some(green), Some(red)) if green == red
        )
    };
    let (left_open, blocked): (Vec<Scope>, Vec<Scope>) =
        scopes.iter().cloned().partition(|s| unchanged(s));
    if blocked.is_empty() {
        return Inferred {
            blocked: scopes.to_vec(),
            left_open: Vec::new(),
        };
    }
    Inferred { blocked, left_open }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(repo: &str) -> Scope {
        Scope {
            repo: RepoName::parse(repo).unwrap(),
            branch: "master".into(),
        }
    }

    fn commits(pairs: &[(&str, &str)]) -> BTreeMap<RepoName, CommitSha> {
        pairs
            .iter()
            .map(|(r, s)| (RepoName::parse(r).unwrap(), CommitSha::new(*s)))
            .collect()
    }

    #[test]
    fn tested_commit_table() {
        let huge = format!("master:{}", "a".repeat(65));
        let longest = format!("master:{}", "a".repeat(64));
        let cases: Vec<(&str, Option<&str>)> = vec![
            ("master:abc123", Some("abc123")),
            ("master:abc123,12345:def456", Some("abc123")),
            ("release-1.34: ABCDEF ,1:2", Some("ABCDEF")),
            ("master", None),
            ("", None),
            (":", None),
            ("master:", None),
            ("master:,1:abc", None),
            (",master:abc", None),
            ("master:xyz", None),
            ("master:abcé", None),
            ("master:ａｂｃ", None),
            ("master:\u{a0}abc", None),
            ("master:ab cd", None),
            (&huge, None),
            (&longest, Some(&longest[7..])),
        ];
        for (value, want) in cases {
            assert_eq!(tested_commit(value), want.map(CommitSha::new), "{value:?}");
        }
    }

    #[test]
    fn infer_table() {
        let k = "kubernetes/kubernetes";
        let p = "kubernetes/perf-tests";
        let both = [scope(k), scope(p)];
        // (what, last green, first red, blocked, left open)
        type Commits<'a> = Vec<(&'a str, &'a str)>;
        type Case<'a> = (
            &'a str,
            Commits<'a>,
            Commits<'a>,
            Vec<&'a str>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "only k changed",
                vec![(k, "a1"), (p, "b1")],
                vec![(k, "a2"), (p, "b1")],
                vec![k],
                vec![p],
            ),
            (
                "only p changed",
                vec![(k, "a1"), (p, "b1")],
                vec![(k, "a1"), (p, "b2")],
                vec![p],
                vec![k],
            ),
            (
                "both changed",
                vec![(k, "a1"), (p, "b1")],
                vec![(k, "a2"), (p, "b2")],
                vec![k, p],
                vec![],
            ),
            (
                "red commit of p unknown: blocked",
                vec![(k, "a1"), (p, "b1")],
                vec![(k, "a1")],
                vec![p],
                vec![k],
            ),
            (
                "green commit of p unknown: blocked",
                vec![(k, "a1")],
                vec![(k, "a1"), (p, "b1")],
                vec![p],
                vec![k],
            ),
            (
                "nothing known: all blocked",
                vec![],
                vec![],
                vec![k, p],
                vec![],
            ),
            (
                "nothing changed: all blocked (fail closed)",
                vec![(k, "a1"), (p, "b1")],
                vec![(k, "a1"), (p, "b1")],
                vec![k, p],
                vec![],
            ),
        ];
        for (what, green, red, blocked, open) in cases {
            let got = infer(&both, &commits(&green), &commits(&red));
            let names = |s: &[Scope]| s.iter().map(|s| s.repo.to_string()).collect::<Vec<_>>();
            assert_eq!(names(&got.blocked), blocked, "{what}: blocked");
            assert_eq!(names(&got.left_open), open, "{what}: left open");
        }
    }

    #[test]
    fn two_branches_of_one_repo_go_together() {
        let k = "kubernetes/kubernetes";
        let p = "kubernetes/perf-tests";
        let release = Scope {
            repo: RepoName::parse(k).unwrap(),
            branch: "release-1.34".into(),
        };
        let scopes = [scope(k), release.clone(), scope(p)];
        let got = infer(
            &scopes,
            &commits(&[(k, "a1"), (p, "b1")]),
            &commits(&[(k, "a1"), (p, "b2")]),
        );
        assert_eq!(got.blocked, vec![scope(p)]);
        assert_eq!(got.left_open, vec![scope(k), release]);
    }
}
