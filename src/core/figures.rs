//! The gate's own figures (DESIGN.md "Incident lifecycle"): whether a job has gone
//! silent (stale), and per job the incidents, re-blocks, false blocks, time to block and
//! time blocked, computed from the incidents alone. Pure: time is a parameter.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::{Cause, Incident, IncidentState, JobName, Timestamp};

/// The window `GET /api/v1/summary` covers: the last 30 days.
pub const SUMMARY_WINDOW_SECONDS: i64 = 30 * 24 * 3600;

/// How long a job has been silent, and whether that makes it stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Silence {
    /// Seconds since the last finished run known in the store, or, with no run ever
    /// seen, since the plugin started.
    pub silent_seconds: i64,
    /// `silent_seconds` reached the job's `max_silence` (never when that is off).
    pub stale: bool,
}

/// The silence of a job whose last finished run (of any result) is `last_finished`, for a
/// plugin that started at `plugin_started`, with `max_silence_seconds` (`None` = off).
pub fn silence(
    last_finished: Option<Timestamp>,
    plugin_started: Timestamp,
    max_silence_seconds: Option<i64>,
    now: Timestamp,
) -> Silence {
    let since = last_finished.unwrap_or(plugin_started);
    let silent_seconds = since.seconds_until(now);
    Silence {
        silent_seconds,
        stale: max_silence_seconds.is_some_and(|max| silent_seconds >= max),
    }
}

/// Whether an incident counts as a false block: resolved with no culprit recorded, or
/// with culprit mitigation `flake`.
pub fn is_false_block(resolved: bool, culprit_mitigation: Option<&str>) -> bool {
    resolved && culprit_mitigation.is_none_or(|m| m == "flake")
}

/// The mitigation of the culprit recorded on `incident` (`revert`, `fix`, `flake`, ...).
fn culprit_mitigation(incident: &Incident) -> Option<&str> {
    incident.culprit.as_ref().map(|c| c.mitigation.as_str())
}

/// Seconds from the first red run's finish to the first blocker issue's opening; `None`
/// for a manual block, an unknown finish, or no issue opened (dry-run, blocker issues
/// off).
pub fn time_to_block_seconds(incident: &Incident) -> Option<i64> {
    let Cause::Regression { first_red, .. } = &incident.cause else {
        return None;
    };
    Some(
        first_red
            .finished_at?
            .seconds_until(incident.issue_opened_at?),
    )
}

/// Seconds the incident blocked: each active period (from the opening, and from each
/// re-block) to the lift that ended it, the resolution, or `now` while still active.
pub fn blocked_seconds(incident: &Incident, now: Timestamp) -> i64 {
    let starts: Vec<Timestamp> = std::iter::once(incident.opened_at)
        .chain(incident.reblocks.iter().map(|r| r.at))
        .collect();
    let last = starts.len() - 1;
    starts
        .iter()
        .enumerate()
        .map(|(k, start)| {
            let end = if k == last {
                match incident.state {
                    IncidentState::Active => now,
                    _ => incident
                        .lifts
                        .get(k)
                        .map(|l| l.at)
                        .or(incident.ended_at())
                        .unwrap_or(now),
                }
            } else {
                // A period before a re-block ends at its lift (a record without one, at
                // the re-block).
                incident.lifts.get(k).map_or(starts[k + 1], |l| l.at)
            };
            start.seconds_until(end)
        })
        .fold(0i64, i64::saturating_add)
}

/// The figures of a set of incidents, before they are summarised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub incidents: u64,
    /// Active now.
    pub active: u64,
    pub reblocks: u64,
    pub false_blocks: u64,
    /// One time to block per incident that has one, in seconds.
    pub time_to_block: Vec<i64>,
    /// Seconds blocked, summed.
    pub blocked_seconds: i64,
}

impl Tally {
    fn add(&mut self, incident: &Incident, now: Timestamp) {
        self.incidents += 1;
        self.active += u64::from(incident.is_active());
        self.reblocks += incident.reblocks.len() as u64;
        let resolved = matches!(incident.state, IncidentState::Resolved { .. });
        self.false_blocks += u64::from(is_false_block(resolved, culprit_mitigation(incident)));
        self.time_to_block.extend(time_to_block_seconds(incident));
        self.blocked_seconds = self
            .blocked_seconds
            .saturating_add(blocked_seconds(incident, now));
    }

    /// The tally as `GET /api/v1/summary` shows it.
    pub fn figures(&self) -> Figures {
        let mut sorted = self.time_to_block.clone();
        sorted.sort_unstable();
        Figures {
            incidents: self.incidents,
            active: self.active,
            reblocks: self.reblocks,
            false_blocks: self.false_blocks,
            time_to_block_seconds: Spread {
                // Nearest rank: the lower middle of an even count.
                p50: sorted
                    .len()
                    .div_ceil(2)
                    .checked_sub(1)
                    .and_then(|i| sorted.get(i))
                    .copied(),
                max: sorted.last().copied(),
            },
            blocked_seconds: Total {
                total: self.blocked_seconds,
            },
        }
    }
}

/// Per job, the tally of the incidents opened at or after `since` (all when `None`) or
/// still open. Every job in `jobs` has an entry, with or without incidents.
pub fn tally_per_job(
    incidents: &[Incident],
    jobs: &[JobName],
    since: Option<Timestamp>,
    now: Timestamp,
) -> BTreeMap<JobName, Tally> {
    let mut per_job: BTreeMap<JobName, Tally> =
        jobs.iter().map(|j| (j.clone(), Tally::default())).collect();
    for incident in incidents {
        if since.is_some_and(|s| incident.opened_at < s) && !incident.is_open() {
            continue;
        }
        per_job
            .entry(incident.job.clone())
            .or_default()
            .add(incident, now);
    }
    per_job
}

/// `p50` and `max` of a set of durations (`null` when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Spread {
    pub p50: Option<i64>,
    pub max: Option<i64>,
}

/// A sum of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Total {
    pub total: i64,
}

/// The figures of some incidents, in `GET /api/v1/summary`'s shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub incidents: u64,
    pub active: u64,
    pub reblocks: u64,
    pub false_blocks: u64,
    pub time_to_block_seconds: Spread,
    pub blocked_seconds: Total,
}

/// `GET /api/v1/summary`: the figures over every job, and per job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub all: Figures,
    pub jobs: BTreeMap<String, Figures>,
}

/// The summary of the last [`SUMMARY_WINDOW_SECONDS`]: incidents opened in it, and those
/// still open whenever they opened.
pub fn summary(incidents: &[Incident], jobs: &[JobName], now: Timestamp) -> Summary {
    let since = Timestamp(now.0.saturating_sub(SUMMARY_WINDOW_SECONDS));
    let per_job = tally_per_job(incidents, jobs, Some(since), now);
    let mut all = Tally::default();
    for tally in per_job.values() {
        all.incidents += tally.incidents;
        all.active += tally.active;
        all.reblocks += tally.reblocks;
        all.false_blocks += tally.false_blocks;
        all.time_to_block.extend(&tally.time_to_block);
        all.blocked_seconds = all.blocked_seconds.saturating_add(tally.blocked_seconds);
    }
    Summary {
        all: all.figures(),
        jobs: per_job
            .iter()
            .map(|(job, tally)| (job.to_string(), tally.figures()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        BuildId, IncidentId, Lift, Login, Reblock, RepoName, ResolvedHow, RunRef, Scope,
    };

    fn run(build: &str, finished: Option<i64>) -> RunRef {
        RunRef {
            build_id: BuildId::new(build),
            url: String::new(),
            started_at: finished.map(|f| Timestamp(f - 100)),
            commits: Default::default(),
            finished_at: finished.map(Timestamp),
        }
    }

    fn regression(job: &str, opened: i64, red_finished: Option<i64>) -> Incident {
        Incident::new(
            IncidentId::new(format!("{job}-{opened}")),
            JobName::new(job),
            Timestamp(opened),
            Cause::Regression {
                first_red: run("2", red_finished),
                last_green: run("1", Some(0)),
            },
            vec![Scope {
                repo: RepoName::new("o", "r"),
                branch: "master".into(),
            }],
        )
    }

    fn lift(at: i64, final_lift: bool) -> Lift {
        Lift {
            by: "alice".into(),
            reason: String::new(),
            at: Timestamp(at),
            final_lift,
        }
    }

    fn reblock(at: i64, lift_at: i64) -> Reblock {
        Reblock {
            run: run("9", Some(at)),
            lift_by: "alice".into(),
            lift_at: Timestamp(lift_at),
            at: Timestamp(at),
        }
    }

    #[test]
    fn silence_counts_from_the_last_finished_run_else_from_the_start() {
        let cases = [
            // (last finished, started, max, now) -> (silent, stale)
            (Some(1000), 0, Some(500), 1400, (400, false)),
            (Some(1000), 0, Some(500), 1500, (500, true)),
            (Some(1000), 0, None, 99_999, (98_999, false)),
            (None, 2000, Some(60), 2059, (59, false)),
            (None, 2000, Some(60), 2060, (60, true)),
            // A run reported as finishing in the future is not silence.
            (Some(5000), 0, Some(60), 4000, (0, false)),
        ];
        for (last, started, max, now, (silent, stale)) in cases {
            let got = silence(last.map(Timestamp), Timestamp(started), max, Timestamp(now));
            assert_eq!(
                got,
                Silence {
                    silent_seconds: silent,
                    stale
                },
                "{last:?} {started} {max:?} {now}"
            );
        }
    }

    #[test]
    fn false_blocks_are_resolved_without_a_culprit_or_with_a_flake() {
        let cases = [
            (true, None, true),
            (true, Some("flake"), true),
            (true, Some("revert"), false),
            (true, Some("fix"), false),
            (false, None, false),
            (false, Some("flake"), false),
        ];
        for (resolved, mitigation, want) in cases {
            assert_eq!(
                is_false_block(resolved, mitigation),
                want,
                "{resolved} {mitigation:?}"
            );
        }
    }

    #[test]
    fn time_to_block_runs_from_the_red_finish_to_the_issue() {
        let mut i = regression("j", 1100, Some(1000));
        assert_eq!(time_to_block_seconds(&i), None, "no issue yet");
        i.issue_opened_at = Some(Timestamp(1090));
        assert_eq!(time_to_block_seconds(&i), Some(90));
        let unknown = Incident {
            issue_opened_at: Some(Timestamp(1090)),
            ..regression("j", 1100, None)
        };
        assert_eq!(time_to_block_seconds(&unknown), None, "finish unknown");
        let manual = Incident {
            cause: Cause::Manual {
                by: Login::new("alice"),
                reason: String::new(),
            },
            ..i
        };
        assert_eq!(time_to_block_seconds(&manual), None, "no red run");
    }

    #[test]
    fn blocked_seconds_sum_the_active_periods() {
        let now = Timestamp(10_000);
        // Active since 1000.
        let active = regression("j", 1000, Some(900));
        assert_eq!(blocked_seconds(&active, now), 9000);
        // Lifted at 1500, re-blocked at 2000, resolved --final at 2600.
        let mut twice = regression("j", 1000, Some(900));
        twice.lifts = vec![lift(1500, false), lift(2600, true)];
        twice.reblocks = vec![reblock(2000, 1500)];
        twice.state = IncidentState::Resolved {
            how: ResolvedHow::Final,
            at: Timestamp(2600),
        };
        assert_eq!(blocked_seconds(&twice, now), 500 + 600);
        // Lifted at 1500, re-blocked at 2000, active now.
        let mut again = twice.clone();
        again.lifts.truncate(1);
        again.state = IncidentState::Active;
        assert_eq!(blocked_seconds(&again, now), 500 + 8000);
        // Lifted at 1500, resolved by a green run at 3000: blocked until the lift.
        let mut green = regression("j", 1000, Some(900));
        green.lifts = vec![lift(1500, false)];
        green.state = IncidentState::Resolved {
            how: ResolvedHow::GreenAfterLift,
            at: Timestamp(3000),
        };
        assert_eq!(blocked_seconds(&green, now), 500);
        // Auto-recovery with no lift, and an old record lifted without a lift history.
        let mut auto = regression("j", 1000, Some(900));
        auto.state = IncidentState::Resolved {
            how: ResolvedHow::AutoRecovery,
            at: Timestamp(4000),
        };
        assert_eq!(blocked_seconds(&auto, now), 3000);
        let mut old = regression("j", 1000, Some(900));
        old.state = IncidentState::Lifted {
            by: "alice".into(),
            reason: String::new(),
            at: Timestamp(1200),
        };
        assert_eq!(blocked_seconds(&old, now), 200);
    }

    #[test]
    fn summary_per_job_over_thirty_days() {
        let now = Timestamp(100 * 24 * 3600);
        let day = 24 * 3600;
        let resolved = IncidentState::Resolved {
            how: ResolvedHow::Final,
            at: Timestamp(now.0 - 5 * day + 600),
        };
        let mut a1 = regression("a", now.0 - 5 * day, Some(now.0 - 5 * day - 60));
        a1.issue_opened_at = Some(Timestamp(now.0 - 5 * day + 30));
        a1.lifts = vec![lift(now.0 - 5 * day + 600, true)];
        a1.state = resolved.clone();
        let mut a2 = regression("a", now.0 - day, Some(now.0 - day - 10));
        a2.issue_opened_at = Some(Timestamp(now.0 - day + 20));
        a2.lifts = vec![lift(now.0 - day + 100, false)];
        a2.reblocks = vec![reblock(now.0 - day + 200, now.0 - day + 100)];
        // Opened 40 days ago and resolved: outside the window.
        let mut old = regression("a", now.0 - 40 * day, Some(now.0 - 40 * day));
        old.state = resolved;
        // Opened 40 days ago and still lifted: counted.
        let mut lingering = regression("b", now.0 - 40 * day, None);
        lingering.lifts = vec![lift(now.0 - 40 * day + 50, false)];
        lingering.state = IncidentState::Lifted {
            by: "alice".into(),
            reason: String::new(),
            at: Timestamp(now.0 - 40 * day + 50),
        };
        let jobs = [JobName::new("a"), JobName::new("b"), JobName::new("quiet")];
        let s = summary(&[a1, a2, old, lingering], &jobs, now);

        let a = &s.jobs["a"];
        assert_eq!((a.incidents, a.active, a.reblocks), (2, 1, 1));
        assert_eq!(a.false_blocks, 1, "a1 resolved with no culprit");
        assert_eq!(a.time_to_block_seconds.p50, Some(30));
        assert_eq!(a.time_to_block_seconds.max, Some(90));
        assert_eq!(a.blocked_seconds.total, 600 + 100 + (day - 200));
        let b = &s.jobs["b"];
        assert_eq!((b.incidents, b.active, b.false_blocks), (1, 0, 0));
        assert_eq!(b.time_to_block_seconds.p50, None);
        assert_eq!(b.blocked_seconds.total, 50);
        assert_eq!(s.jobs["quiet"].incidents, 0);
        assert_eq!((s.all.incidents, s.all.active, s.all.reblocks), (3, 1, 1));
        assert_eq!(s.all.time_to_block_seconds.max, Some(90));
        assert_eq!(
            s.all.blocked_seconds.total,
            a.blocked_seconds.total + b.blocked_seconds.total
        );

        let json = serde_json::to_value(&s).unwrap();
        for key in [
            "incidents",
            "active",
            "reblocks",
            "false_blocks",
            "time_to_block_seconds",
            "blocked_seconds",
            "jobs",
        ] {
            assert!(json.get(key).is_some(), "{key} in {json}");
        }
        assert_eq!(json["time_to_block_seconds"]["p50"], 30);
        assert_eq!(
            json["jobs"]["a"]["blocked_seconds"]["total"],
            600 + 100 + day - 200
        );
        assert!(json["jobs"]["b"]["time_to_block_seconds"]["max"].is_null());
    }

    #[test]
    fn p50_takes_the_nearest_rank() {
        let tally = |v: Vec<i64>| Tally {
            time_to_block: v,
            ..Tally::default()
        };
        let cases = [
            (vec![], None),
            (vec![7], Some(7)),
            (vec![9, 1], Some(1)),
            (vec![3, 1, 2], Some(2)),
            (vec![4, 1, 3, 2], Some(2)),
        ];
        for (samples, want) in cases {
            assert_eq!(
                tally(samples.clone()).figures().time_to_block_seconds.p50,
                want,
                "{samples:?}"
            );
        }
    }
}
