//! Pure core: does the block really hold in Tide?
//!
//! Tide merges a PR when it matches *any* of its queries. Our label keeps a PR out of the
//! pool only where *every* query that can merge into the scope lists it in
//! `missingLabels`, and a blocker issue blocks only when Prow's `tide.blocker_label` is the
//! label we put on it. This module decides, for each gated scope, which queries can merge
//! into it (Prow's `TideQuery.ForRepo` plus the branch filters of its search string) and
//! whether each excludes our label; it also says which PRs are *ready* (carry all labels of
//! a matching query), and edits Prow's config text to add the label where it is missing,
//! byte for byte, without re-serializing it.
//!
//! Parsing the YAML into [`ProwTide`] is the shell's job (`prow::tide`); everything here is
//! plain functions over strings and our own types, one concern per file:
//!
//! - `config`: [`TideQuery`] and [`ProwTide`], the parsed subset of Prow's config, and
//!   which queries can merge into a scope;
//! - `check`: [`check()`] and its [`TideReport`], whether every such query excludes our
//!   label and whether Prow honours our blocker issues;
//! - `ready`: [`ReadyRule`], which PRs carry the labels a query of their scope requires;
//! - `pool`: [`judge_pool`], the live check of Tide's pools from Deck's `/tide.js`;
//! - `fix` (over the line scanner `lines`): [`insert_missing_label`], the edit behind
//!   `check-tide --fix`.

mod check;
mod config;
mod fix;
mod lines;
mod pool;
mod ready;
#[cfg(test)]
mod testing;

pub use check::{BlockerCheck, CheckParams, QueryFinding, ScopeCoverage, TideReport, check};
pub use config::{ProwTide, TideQuery};
pub use fix::{FixError, insert_missing_label};
pub use pool::{PoolVerdict, TidePool, judge_pool};
pub use ready::ReadyRule;
