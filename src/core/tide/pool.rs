//! The live check: is Tide's pool (Deck's `/tide.js`) for a blocked scope held?

use serde::Serialize;

use crate::model::Scope;

/// One of Tide's pools as Deck's `/tide.js` shows it, reduced to what the live check needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TidePool {
    pub org: String,
    pub repo: String,
    pub branch: String,
    /// Tide's last action on the pool: `BLOCKED` when a blocker issue holds it.
    pub action: String,
    /// Numbers of the blocker issues Tide honours on this pool.
    pub blockers: Vec<u64>,
    /// Numbers of every PR in the pool (success, pending, missing, batch): PRs Tide may merge.
    pub prs: Vec<u64>,
}

/// Whether Tide's live pool for a blocked scope holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PoolVerdict {
    /// Tide reports the pool `BLOCKED` (a blocker issue holds it).
    Blocked { blockers: Vec<u64> },
    /// The pool holds no PR that is not exempt (or Tide has no pool there).
    Held,
    /// Tide could still merge these PRs (in its pool, not exempt).
    WouldMerge { prs: Vec<u64> },
}

impl PoolVerdict {
    /// Whether the block holds on the pool.
    pub fn holds(&self) -> bool {
        !matches!(self, PoolVerdict::WouldMerge { .. })
    }
}

/// Judges Tide's live pools for `scope` during an incident: `exempt` PRs may merge.
pub fn judge_pool(pools: &[TidePool], scope: &Scope, exempt: &[u64]) -> PoolVerdict {
    let mut prs: Vec<u64> = Vec::new();
    for pool in pools.iter().filter(|p| {
        p.org.eq_ignore_ascii_case(&scope.repo.org)
            && p.repo.eq_ignore_ascii_case(&scope.repo.repo)
            && p.branch == scope.branch
    }) {
        if pool.action.eq_ignore_ascii_case("BLOCKED") {
            return PoolVerdict::Blocked {
                blockers: pool.blockers.clone(),
            };
        }
        prs.extend(pool.prs.iter().filter(|n| !exempt.contains(n)));
    }
    prs.sort_unstable();
    prs.dedup();
    if prs.is_empty() {
        PoolVerdict::Held
    } else {
        PoolVerdict::WouldMerge { prs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::tide::testing::scope;

    #[test]
    fn live_pools_are_judged_per_scope() {
        let pool = |branch: &str, action: &str, blockers: &[u64], prs: &[u64]| TidePool {
            org: "kubernetes".into(),
            repo: "kubernetes".into(),
            branch: branch.into(),
            action: action.into(),
            blockers: blockers.to_vec(),
            prs: prs.to_vec(),
        };
        let master = scope("kubernetes/kubernetes@master");
        let cases: &[(&str, Vec<TidePool>, &[u64], PoolVerdict)] = &[
            ("no pool at all", vec![], &[], PoolVerdict::Held),
            (
                "another branch's pool does not count",
                vec![pool("release-1.36", "MERGE", &[], &[7])],
                &[],
                PoolVerdict::Held,
            ),
            (
                "an empty pool",
                vec![pool("master", "WAIT", &[], &[])],
                &[],
                PoolVerdict::Held,
            ),
            (
                "blocked by a blocker issue, PRs or not",
                vec![pool("master", "BLOCKED", &[42], &[1, 2])],
                &[],
                PoolVerdict::Blocked { blockers: vec![42] },
            ),
            (
                "unlabelled PRs still in the pool",
                vec![pool("master", "TRIGGER", &[], &[5, 3, 5])],
                &[],
                PoolVerdict::WouldMerge { prs: vec![3, 5] },
            ),
            (
                "only exempt PRs in the pool",
                vec![pool("master", "MERGE", &[], &[9])],
                &[9],
                PoolVerdict::Held,
            ),
        ];
        for (name, pools, exempt, want) in cases {
            let got = judge_pool(pools, &master, exempt);
            assert_eq!(&got, want, "{name}");
            assert_eq!(got.holds(), !matches!(want, PoolVerdict::WouldMerge { .. }));
        }
    }
}
