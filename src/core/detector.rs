//! Pure core: the green → red detector, exactly as SIG Scalability's rules say.
//!
//! Only `success` is green and only `failure` is red; `aborted` and `error` runs are
//! neither and are skipped. Runs are judged in *start order* ([`Run::order_key`]), never
//! in arrival order. The detector compares the state of the job's history before and
//! after the new run is placed where it belongs:
//!
//! - the *tail* of a history is its trailing streak of red runs (after skipping neutral
//!   ones) and the green run just before that streak, if any;
//! - the tail is **confirmed** when the streak holds at least `failures_to_confirm` reds
//!   and a green precedes it; **pending** when it holds fewer; **green** when the last
//!   counted run is green; **never green** when no green run precedes the streak (or the
//!   history is empty).
//!
//! A **regression** is the tail becoming confirmed because of the new run (it was not
//! confirmed before). It names the streak's first red run and the green run before it.
//! A **recovery** is the tail going from confirmed to green: the first green run, in start
//! order after the confirmed streak, that becomes the latest counted run.
//!
//! Consequences the table tests pin down: a job that was never green never regresses; an
//! already-confirmed job gets nothing new from more reds; a late red that sits before the
//! latest green changes nothing; a duplicate build (already in history) is nothing; and a
//! run delivered by the start-up backfill ([`Channel::Gcs`]) is history, not news: it
//! never makes a transition, so a job already red at install does not block.

use crate::model::{Channel, Run, RunRef};

/// What the new run means for the job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing changes.
    None,
    /// The job went green → red, confirmed by `failures_to_confirm` consecutive reds.
    Regression {
        first_red: RunRef,
        last_green: RunRef,
    },
    /// The job is green again after a confirmed regression.
    Recovery { green: RunRef },
}

/// The state of a history's tail (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tail<'a> {
    NeverGreen,
    Green,
    Pending,
    Confirmed {
        first_red: &'a Run,
        last_green: &'a Run,
    },
}

/// Judges `new` against `history`, the job's runs recorded before it (any order; they are
/// sorted here by start order). `failures_to_confirm` below 1 counts as 1.
pub fn detect(history: &[Run], new: &Run, failures_to_confirm: u32) -> Outcome {
    if new.channel == Channel::Gcs {
        return Outcome::None;
    }
    if history.iter().any(|r| r.build_id == new.build_id) {
        return Outcome::None;
    }
    if !new.result.is_green() && !new.result.is_red() {
        return Outcome::None;
    }
    let needed = failures_to_confirm.max(1) as usize;
    let mut before: Vec<&Run> = history.iter().filter(|r| r.job == new.job).collect();
    before.sort_by_key(|r| r.order_key());
    let mut after = before.clone();
    let at = after.partition_point(|r| r.order_key() <= new.order_key());
    after.insert(at, new);

    match (tail(&before, needed), tail(&after, needed)) {
        (Tail::Confirmed { .. }, Tail::Confirmed { .. }) => Outcome::None,
        (
            _,
            Tail::Confirmed {
                first_red,
                last_green,
            },
        ) => Outcome::Regression {
            first_red: first_red.into(),
            last_green: last_green.into(),
        },
        (Tail::Confirmed { .. }, Tail::Green) if new.result.is_green() => {
            Outcome::Recovery { green: new.into() }
        }
        _ => Outcome::None,
    }
}

/// The tail of `runs` (sorted in start order).
fn tail<'a>(runs: &[&'a Run], needed: usize) -> Tail<'a> {
    let mut counted = runs
        .iter()
        .rev()
        .filter(|r| r.result.is_green() || r.result.is_red());
    let mut streak: Vec<&'a Run> = Vec::new();
    for run in counted.by_ref() {
        if run.result.is_red() {
            streak.push(run);
        } else if streak.is_empty() {
            return Tail::Green;
        } else if streak.len() >= needed {
            return Tail::Confirmed {
                first_red: streak.last().expect("streak is not empty"),
                last_green: run,
            };
        } else {
            return Tail::Pending;
        }
    }
    Tail::NeverGreen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BuildId, JobName, RunResult, Timestamp};

    const JOB: &str = "ci-kubernetes-e2e-gce-scale-performance-100";

    /// A run of build `id`, started at `id * 100`.
    fn run(id: u64, result: RunResult) -> Run {
        Run {
            job: JobName::new(JOB),
            build_id: BuildId::new(id.to_string()),
            result,
            started_at: Some(Timestamp(id as i64 * 100)),
            finished_at: Some(Timestamp(id as i64 * 100 + 50)),
            url: format!("https://prow.example/view/{id}"),
            gcs_path: String::new(),
            commits: Default::default(),
            channel: Channel::Deck,
        }
    }

    /// History from a compact spec: `G` green, `R` red, `A` aborted, `E` error; build ids
    /// count from 1 in the order written.
    fn history(spec: &str) -> Vec<Run> {
        spec.chars()
            .enumerate()
            .map(|(i, c)| run(i as u64 + 1, result(c)))
            .collect()
    }

    fn result(c: char) -> RunResult {
        match c {
            'G' => RunResult::Success,
            'R' => RunResult::Failure,
            'A' => RunResult::Aborted,
            'E' => RunResult::Error,
            other => panic!("bad spec {other}"),
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        None,
        /// (first red build, last green build)
        Regression(u64, u64),
        Recovery(u64),
    }

    fn judge(outcome: Outcome) -> Want {
        let n = |r: &RunRef| r.build_id.0.parse::<u64>().unwrap();
        match outcome {
            Outcome::None => Want::None,
            Outcome::Regression {
                first_red,
                last_green,
            } => Want::Regression(n(&first_red), n(&last_green)),
            Outcome::Recovery { green } => Want::Recovery(n(&green)),
        }
    }

    #[test]
    fn table() {
        // (case, history, new build id, new result, failures_to_confirm, want)
        // A new build id larger than the history's starts after it; a smaller one that is
        // not in the history is a late run sitting at that place in start order.
        let cases: &[(&str, &str, u64, char, u32, Want)] = &[
            ("green → red", "GG", 3, 'R', 1, Want::Regression(3, 2)),
            ("red → red: already failing", "GGR", 4, 'R', 1, Want::None),
            ("never green never regresses", "RRR", 4, 'R', 1, Want::None),
            ("empty history: first red", "", 1, 'R', 1, Want::None),
            ("empty history: first green", "", 1, 'G', 1, Want::None),
            ("green → green", "GR G", 0, 'G', 1, Want::None),
            ("aborted after green is nothing", "G", 2, 'A', 1, Want::None),
            ("error after green is nothing", "G", 2, 'E', 1, Want::None),
            (
                "aborted between green and red is skipped",
                "GA",
                3,
                'R',
                1,
                Want::Regression(3, 1),
            ),
            (
                "errors inside the streak are skipped",
                "GRE",
                4,
                'R',
                2,
                Want::Regression(2, 1),
            ),
            ("one red of two needed: pending", "G", 2, 'R', 2, Want::None),
            (
                "two reds of two: confirmed",
                "GR",
                3,
                'R',
                2,
                Want::Regression(2, 1),
            ),
            (
                "third red of two: nothing new",
                "GRR",
                4,
                'R',
                2,
                Want::None,
            ),
            (
                "green breaks a pending streak: no recovery",
                "GR",
                3,
                'G',
                2,
                Want::None,
            ),
            (
                "red after a broken streak restarts it",
                "GRG",
                4,
                'R',
                2,
                Want::None,
            ),
            (
                "recovery after a confirmed streak",
                "GGR",
                4,
                'G',
                1,
                Want::Recovery(4),
            ),
            (
                "recovery after a longer streak",
                "GRRR",
                5,
                'G',
                2,
                Want::Recovery(5),
            ),
            (
                "aborted after a confirmed streak: no recovery",
                "GR",
                3,
                'A',
                1,
                Want::None,
            ),
            (
                "second green after recovery: nothing",
                "GRG",
                4,
                'G',
                1,
                Want::None,
            ),
            (
                "green after never-green reds: not a recovery",
                "RR",
                3,
                'G',
                1,
                Want::None,
            ),
            (
                "regression again after a recovery",
                "GRG",
                4,
                'R',
                1,
                Want::Regression(4, 3),
            ),
            (
                "duplicate red build is nothing",
                "GGR",
                3,
                'R',
                1,
                Want::None,
            ),
            (
                "duplicate build with another result never flips",
                "GG",
                2,
                'R',
                1,
                Want::None,
            ),
        ];
        for (case, spec, id, res, n, want) in cases {
            let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
            let h = history(&spec);
            let new = if *id == 0 {
                run(h.len() as u64 + 1, result(*res))
            } else {
                run(*id, result(*res))
            };
            assert_eq!(&judge(detect(&h, &new, *n)), want, "case: {case}");
        }
    }

    #[test]
    fn late_red_before_the_latest_green_is_not_a_regression() {
        // builds 1 (green) and 3 (green) are known; red build 2 arrives late.
        let h = vec![run(1, RunResult::Success), run(3, RunResult::Success)];
        assert_eq!(
            judge(detect(&h, &run(2, RunResult::Failure), 1)),
            Want::None
        );
    }

    #[test]
    fn late_green_before_a_confirmed_streak_changes_nothing() {
        // green 1, red 3 (confirmed with N=1); green 2 arrives late between them.
        let h = vec![run(1, RunResult::Success), run(3, RunResult::Failure)];
        assert_eq!(
            judge(detect(&h, &run(2, RunResult::Success), 1)),
            Want::None
        );
    }

    #[test]
    fn late_red_that_completes_a_streak_is_a_real_regression() {
        // green 1, red 3 pending with N=2; red 2 arrives late and completes the streak.
        let h = vec![run(1, RunResult::Success), run(3, RunResult::Failure)];
        assert_eq!(
            judge(detect(&h, &run(2, RunResult::Failure), 2)),
            Want::Regression(2, 1)
        );
    }

    #[test]
    fn history_out_of_order_is_sorted_by_start_time() {
        let h = vec![run(2, RunResult::Success), run(1, RunResult::Failure)];
        assert_eq!(
            judge(detect(&h, &run(3, RunResult::Failure), 1)),
            Want::Regression(3, 2)
        );
    }

    #[test]
    fn start_time_beats_build_id_and_arrival() {
        // build 9 started before build 5: red 9 is older than green 5.
        let mut late = run(9, RunResult::Failure);
        late.started_at = Some(Timestamp(10));
        let h = vec![run(1, RunResult::Success), run(5, RunResult::Success)];
        assert_eq!(judge(detect(&h, &late, 1)), Want::None);
    }

    #[test]
    fn backfilled_runs_are_history_not_news() {
        let h = history("GG");
        let mut red = run(3, RunResult::Failure);
        red.channel = Channel::Gcs;
        assert_eq!(judge(detect(&h, &red, 1)), Want::None);
        // The next live red after a backfilled red is "already failing".
        let mut h = h;
        h.push(red);
        assert_eq!(
            judge(detect(&h, &run(4, RunResult::Failure), 1)),
            Want::None
        );
        // And a live green then is a recovery.
        assert_eq!(
            judge(detect(&h, &run(4, RunResult::Success), 1)),
            Want::Recovery(4)
        );
    }

    #[test]
    fn other_jobs_in_history_are_ignored() {
        let mut other = run(2, RunResult::Success);
        other.job = JobName::new("another-job");
        let h = vec![run(1, RunResult::Failure), other];
        assert_eq!(
            judge(detect(&h, &run(3, RunResult::Failure), 1)),
            Want::None
        );
    }

    #[test]
    fn zero_failures_to_confirm_counts_as_one() {
        assert_eq!(
            judge(detect(&history("G"), &run(2, RunResult::Failure), 0)),
            Want::Regression(2, 1)
        );
    }
}
