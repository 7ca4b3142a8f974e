//! Per-job run history in sled.
//!
//! Runs are keyed `job \0 start \0 build` so a prefix scan yields a job's runs in start
//! order (never arrival order): `start` is [`Run::order_key`]'s time as 8 big-endian bytes
//! with the sign bit flipped, then the build id's numeric value as 16 big-endian bytes,
//! then the build id's text. A second tree indexes `job \0 build` → primary key, so a run
//! is recorded once whatever channel delivers it. A later arrival of a known build may fill
//! in what the first one lacked (times, URL, GCS path, commits) but never changes its
//! recorded result. At most `retention` runs are kept per job; the oldest go first.

use std::collections::btree_map::Entry;

use anyhow::Context;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::Store;
use crate::model::{JobName, Run};

const TREE_RUNS: &str = "history_runs";
const TREE_BY_BUILD: &str = "history_by_build";

/// What recording a run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordOutcome {
    /// A build not seen before.
    New,
    /// A known build; the new arrival filled in missing fields.
    Updated,
    /// A known build; nothing new.
    Duplicate,
}

fn job_prefix(job: &JobName) -> Vec<u8> {
    let mut key = job.as_str().as_bytes().to_vec();
    key.push(0);
    key
}

fn run_key(run: &Run) -> Vec<u8> {
    let (time, numeric, text) = run.order_key();
    let mut key = job_prefix(&run.job);
    key.extend_from_slice(&((time.0 as u64) ^ (1 << 63)).to_be_bytes());
    key.extend_from_slice(&numeric.to_be_bytes());
    key.extend_from_slice(text.as_bytes());
    key
}

fn build_key(run: &Run) -> Vec<u8> {
    let mut key = job_prefix(&run.job);
    key.extend_from_slice(run.build_id.as_str().as_bytes());
    key
}

/// Fills what `known` lacks from `later`; the result is never changed. True when
/// anything was filled in.
fn merge(known: &mut Run, later: &Run) -> bool {
    let mut changed = false;
    if known.started_at.is_none() && later.started_at.is_some() {
        known.started_at = later.started_at;
        changed = true;
    }
    if known.finished_at.is_none() && later.finished_at.is_some() {
        known.finished_at = later.finished_at;
        changed = true;
    }
    if known.url.is_empty() && !later.url.is_empty() {
        known.url = later.url.clone();
        changed = true;
    }
    if known.gcs_path.is_empty() && !later.gcs_path.is_empty() {
        known.gcs_path = later.gcs_path.clone();
        changed = true;
    }
    for (repo, sha) in &later.commits {
        if let Entry::Vacant(e) = known.commits.entry(repo.clone()) {
            e.insert(sha.clone());
            changed = true;
        }
    }
    changed
}

impl Store {
    /// Records `run` in its job's history, idempotent by build id, and drops the oldest
    /// runs beyond `retention`.
    pub fn record_run(&self, run: &Run, retention: usize) -> anyhow::Result<RecordOutcome> {
        let runs = self.tree(TREE_RUNS)?;
        let by_build = self.tree(TREE_BY_BUILD)?;
        let index_key = build_key(run);
        let outcome = (&runs, &by_build)
            .transaction(|(runs, by_build)| {
                let abort = |e: anyhow::Error| ConflictableTransactionError::Abort(e);
                let Some(old_key) = by_build.get(&index_key)? else {
                    let key = run_key(run);
                    runs.insert(key.clone(), Store::encode(run).map_err(abort)?)?;
                    by_build.insert(index_key.clone(), key)?;
                    return Ok(RecordOutcome::New);
                };
                let Some(bytes) = runs.get(&old_key)? else {
                    // A dangling index entry (the run was dropped by retention mid-way):
                    // record the run afresh.
                    let key = run_key(run);
                    runs.insert(key.clone(), Store::encode(run).map_err(abort)?)?;
                    by_build.insert(index_key.clone(), key)?;
                    return Ok(RecordOutcome::New);
                };
                let mut known: Run = Store::decode(&bytes).map_err(abort)?;
                if !merge(&mut known, run) {
                    return Ok(RecordOutcome::Duplicate);
                }
                let key = run_key(&known);
                if key != old_key.as_ref() {
                    runs.remove(old_key)?;
                    by_build.insert(index_key.clone(), key.clone())?;
                }
                runs.insert(key, Store::encode(&known).map_err(abort)?)?;
                Ok(RecordOutcome::Updated)
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Abort(e) => e,
                sled::transaction::TransactionError::Storage(e) => {
                    anyhow::Error::new(e).context("recording a run")
                }
            })
            .with_context(|| format!("recording run {} of {}", run.build_id, run.job))?;
        if outcome == RecordOutcome::New {
            self.enforce_retention(&run.job, retention.max(1))?;
        }
        Ok(outcome)
    }

    fn enforce_retention(&self, job: &JobName, retention: usize) -> anyhow::Result<()> {
        let runs = self.tree(TREE_RUNS)?;
        let by_build = self.tree(TREE_BY_BUILD)?;
        let prefix = job_prefix(job);
        let count = runs.scan_prefix(&prefix).keys().count();
        if count <= retention {
            return Ok(());
        }
        let oldest: Vec<_> = runs
            .scan_prefix(&prefix)
            .take(count - retention)
            .collect::<Result<_, _>>()?;
        for (key, bytes) in oldest {
            let run: Run = Self::decode(&bytes)?;
            // Index first: a crash in between leaves a run without index, which the next
            // retention pass removes, never an index without a run being trusted.
            by_build.remove(build_key(&run))?;
            runs.remove(key)?;
            tracing::debug!(job = %job, build = %run.build_id, "run dropped by retention");
        }
        Ok(())
    }

    /// Every recorded run of `job`, oldest first (in start order).
    pub fn runs(&self, job: &JobName) -> anyhow::Result<Vec<Run>> {
        self.tree(TREE_RUNS)?
            .scan_prefix(job_prefix(job))
            .values()
            .map(|v| Self::decode(&v?))
            .collect()
    }

    /// The latest `n` runs of `job`, oldest first.
    pub fn last_runs(&self, job: &JobName, n: usize) -> anyhow::Result<Vec<Run>> {
        let mut last = self
            .tree(TREE_RUNS)?
            .scan_prefix(job_prefix(job))
            .values()
            .rev()
            .take(n)
            .map(|v| Self::decode(&v?))
            .collect::<anyhow::Result<Vec<Run>>>()?;
        last.reverse();
        Ok(last)
    }

    /// The recorded run `build` of `job`, if any.
    pub fn run(&self, job: &JobName, build: &str) -> anyhow::Result<Option<Run>> {
        let mut index_key = job_prefix(job);
        index_key.extend_from_slice(build.as_bytes());
        let Some(key) = self.tree(TREE_BY_BUILD)?.get(index_key)? else {
            return Ok(None);
        };
        self.tree(TREE_RUNS)?
            .get(key)?
            .map(|v| Self::decode(&v))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BuildId, Channel, CommitSha, RepoName, RunResult, Timestamp};

    fn run(job: &str, build: u64, started: i64, result: RunResult) -> Run {
        Run {
            job: JobName::new(job),
            build_id: BuildId::new(build.to_string()),
            result,
            started_at: Some(Timestamp(started)),
            finished_at: None,
            url: String::new(),
            gcs_path: String::new(),
            commits: Default::default(),
            channel: Channel::Deck,
        }
    }

    fn builds(runs: &[Run]) -> Vec<&str> {
        runs.iter().map(|r| r.build_id.as_str()).collect()
    }

    #[test]
    fn ordered_by_start_time_not_arrival() {
        let store = Store::temporary().unwrap();
        for (b, t) in [(3, 300), (1, 100), (2, 200), (10, 150)] {
            store
                .record_run(&run("j", b, t, RunResult::Success), 200)
                .unwrap();
        }
        assert_eq!(
            builds(&store.runs(&JobName::new("j")).unwrap()),
            ["1", "10", "2", "3"]
        );
        assert_eq!(
            builds(&store.last_runs(&JobName::new("j"), 2).unwrap()),
            ["2", "3"]
        );
    }

    #[test]
    fn negative_and_missing_times_sort_first() {
        let store = Store::temporary().unwrap();
        let mut none = run("j", 7, 0, RunResult::Success);
        none.started_at = None;
        store
            .record_run(&run("j", 2, 5, RunResult::Success), 9)
            .unwrap();
        store
            .record_run(&run("j", 1, -5, RunResult::Success), 9)
            .unwrap();
        store.record_run(&none, 9).unwrap();
        assert_eq!(
            builds(&store.runs(&JobName::new("j")).unwrap()),
            ["1", "7", "2"]
        );
    }

    #[test]
    fn idempotent_by_build_and_result_never_flips() {
        let store = Store::temporary().unwrap();
        let first = run("j", 1, 100, RunResult::Failure);
        assert_eq!(store.record_run(&first, 200).unwrap(), RecordOutcome::New);
        assert_eq!(
            store.record_run(&first, 200).unwrap(),
            RecordOutcome::Duplicate
        );
        let mut later = first.clone();
        later.result = RunResult::Success;
        later.channel = Channel::PubsubPush;
        later.commits.insert(
            RepoName::new("kubernetes", "kubernetes"),
            CommitSha::new("abc"),
        );
        later.url = "https://prow/view/1".into();
        assert_eq!(
            store.record_run(&later, 200).unwrap(),
            RecordOutcome::Updated
        );
        let runs = store.runs(&JobName::new("j")).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].result, RunResult::Failure);
        assert_eq!(runs[0].channel, Channel::Deck);
        assert_eq!(runs[0].url, "https://prow/view/1");
        assert_eq!(runs[0].commits.len(), 1);
        assert_eq!(
            store.record_run(&later, 200).unwrap(),
            RecordOutcome::Duplicate
        );
    }

    #[test]
    fn a_later_start_time_moves_the_run_into_place() {
        let store = Store::temporary().unwrap();
        let mut unknown = run("j", 5, 0, RunResult::Success);
        unknown.started_at = None;
        store.record_run(&unknown, 200).unwrap();
        store
            .record_run(&run("j", 4, 400, RunResult::Success), 200)
            .unwrap();
        assert_eq!(builds(&store.runs(&JobName::new("j")).unwrap()), ["5", "4"]);
        let known = run("j", 5, 500, RunResult::Failure);
        assert_eq!(
            store.record_run(&known, 200).unwrap(),
            RecordOutcome::Updated
        );
        let runs = store.runs(&JobName::new("j")).unwrap();
        assert_eq!(builds(&runs), ["4", "5"]);
        assert_eq!(runs[1].result, RunResult::Success);
        assert!(store.run(&JobName::new("j"), "5").unwrap().is_some());
    }

    #[test]
    fn retention_keeps_the_newest_per_job() {
        let store = Store::temporary().unwrap();
        for b in 1..=5 {
            store
                .record_run(&run("j", b, b as i64, RunResult::Success), 3)
                .unwrap();
            store
                .record_run(&run("k", b, b as i64, RunResult::Success), 10)
                .unwrap();
        }
        assert_eq!(
            builds(&store.runs(&JobName::new("j")).unwrap()),
            ["3", "4", "5"]
        );
        assert_eq!(store.runs(&JobName::new("k")).unwrap().len(), 5);
        assert!(store.run(&JobName::new("j"), "1").unwrap().is_none());
        // Job names are exact: `j` does not see `jj`'s runs.
        store
            .record_run(&run("jj", 9, 9, RunResult::Success), 3)
            .unwrap();
        assert_eq!(store.runs(&JobName::new("j")).unwrap().len(), 3);
    }

    #[test]
    fn version_1_run_records_still_decode() {
        // A run record exactly as version 1 of this binary writes it; changing the Run
        // format needs a migration in Store::decode, and this test says so.
        let bytes = br#"{"v":1,"data":{"job":"j","build_id":"7","result":"failure",
            "started_at":1764000000,"finished_at":null,"url":"https://prow/view/7",
            "gcs_path":"gs://b/logs/j/7","commits":{"kubernetes/kubernetes":"abc"},
            "channel":"pubsub_push"}}"#;
        let run: Run = Store::decode(bytes).unwrap();
        assert_eq!(run.result, RunResult::Failure);
        assert_eq!(run.channel, Channel::PubsubPush);
        assert_eq!(run.started_at, Some(Timestamp(1_764_000_000)));
        assert_eq!(
            run.commits[&RepoName::new("kubernetes", "kubernetes")].as_str(),
            "abc"
        );
        let again: Run = Store::decode(&Store::encode(&run).unwrap()).unwrap();
        assert_eq!(again, run);
    }

    #[test]
    fn history_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .record_run(&run("j", 1, 1, RunResult::Success), 9)
                .unwrap();
            store
                .record_run(&run("j", 2, 2, RunResult::Failure), 9)
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let runs = store.runs(&JobName::new("j")).unwrap();
        assert_eq!(builds(&runs), ["1", "2"]);
        assert_eq!(runs[1].result, RunResult::Failure);
        assert_eq!(
            store
                .record_run(&run("j", 2, 2, RunResult::Failure), 9)
                .unwrap(),
            RecordOutcome::Duplicate
        );
    }
}
