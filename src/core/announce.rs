//! The transitions of an incident worth announcing (`notify`): it blocked, it was
//! lifted, it blocked again, it resolved. Each has a key that is stable for the life of
//! the incident, so the announcer records per incident and key what it has sent.

use crate::model::{Incident, IncidentState, ResolvedHow, Timestamp};

/// What happened to an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It opened (merges blocked).
    Block,
    /// Its lift number `n` (0-based, in [`Incident::lifts`]).
    Lift(usize),
    /// Its re-block number `n` (0-based, in [`Incident::reblocks`]).
    Reblock(usize),
    /// The first green run after a provisional lift resolved it. Other resolutions are a
    /// lift already (`--final`, auto-recovery), announced as such.
    Resolved,
}

/// One transition of one incident, with when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub transition: Transition,
    pub at: Timestamp,
}

impl Announcement {
    /// Stable key of the transition within its incident: `block`, `lift-N`,
    /// `reblock-N`, `resolved`.
    pub fn key(&self) -> String {
        match self.transition {
            Transition::Block => "block".into(),
            Transition::Lift(n) => format!("lift-{n}"),
            Transition::Reblock(n) => format!("reblock-{n}"),
            Transition::Resolved => "resolved".into(),
        }
    }
}

/// Every transition of `incident`, in the order it happened (the opening first; lifts
/// and re-blocks by time; a re-block before a lift of the same second, since the lift a
/// re-block follows is always earlier: its red run started after it).
pub fn announcements(incident: &Incident) -> Vec<Announcement> {
    let mut out = vec![Announcement {
        transition: Transition::Block,
        at: incident.opened_at,
    }];
    let mut later: Vec<(Timestamp, u8, Announcement)> = Vec::new();
    for (n, lift) in incident.lifts.iter().enumerate() {
        later.push((
            lift.at,
            1,
            Announcement {
                transition: Transition::Lift(n),
                at: lift.at,
            },
        ));
    }
    for (n, reblock) in incident.reblocks.iter().enumerate() {
        later.push((
            reblock.at,
            0,
            Announcement {
                transition: Transition::Reblock(n),
                at: reblock.at,
            },
        ));
    }
    if let IncidentState::Resolved {
        how: ResolvedHow::GreenAfterLift,
        at,
    } = incident.state
    {
        later.push((
            at,
            2,
            Announcement {
                transition: Transition::Resolved,
                at,
            },
        ));
    }
    // Stable: equal times keep the order of each history.
    later.sort_by_key(|(at, rank, _)| (*at, *rank));
    out.extend(later.into_iter().map(|(_, _, a)| a));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BuildId, Cause, IncidentId, JobName, Lift, Login, Reblock, RunRef};

    fn incident() -> Incident {
        Incident::new(
            IncidentId::new("job-1"),
            JobName::new("job"),
            Timestamp(100),
            Cause::Manual {
                by: Login::new("alice"),
                reason: String::new(),
            },
            Vec::new(),
        )
    }

    fn lift(at: i64, final_lift: bool) -> Lift {
        Lift {
            by: "alice".into(),
            reason: "fixed".into(),
            at: Timestamp(at),
            final_lift,
        }
    }

    fn reblock(at: i64) -> Reblock {
        Reblock {
            run: RunRef {
                build_id: BuildId::new("9"),
                url: String::new(),
                started_at: None,
                finished_at: None,
                commits: Default::default(),
            },
            lift_by: "alice".into(),
            lift_at: Timestamp(at - 1),
            at: Timestamp(at),
        }
    }

    fn keys(incident: &Incident) -> Vec<String> {
        announcements(incident).iter().map(|a| a.key()).collect()
    }

    #[test]
    fn transitions_table() {
        let active = incident();
        let mut lifted = incident();
        lifted.lifts.push(lift(200, false));
        lifted.state = IncidentState::Lifted {
            by: "alice".into(),
            reason: "fixed".into(),
            at: Timestamp(200),
        };
        let mut reblocked = lifted.clone();
        reblocked.reblocks.push(reblock(300));
        reblocked.state = IncidentState::Active;
        let mut relifted = reblocked.clone();
        relifted.lifts.push(lift(300, false));
        let mut green = lifted.clone();
        green.state = IncidentState::Resolved {
            how: ResolvedHow::GreenAfterLift,
            at: Timestamp(400),
        };
        let mut final_lift = incident();
        final_lift.lifts.push(lift(200, true));
        final_lift.state = IncidentState::Resolved {
            how: ResolvedHow::Final,
            at: Timestamp(200),
        };
        let cases: Vec<(&str, &Incident, Vec<&str>)> = vec![
            ("active", &active, vec!["block"]),
            ("lifted", &lifted, vec!["block", "lift-0"]),
            (
                "re-blocked",
                &reblocked,
                vec!["block", "lift-0", "reblock-0"],
            ),
            (
                "lifted again in the re-block's second",
                &relifted,
                vec!["block", "lift-0", "reblock-0", "lift-1"],
            ),
            (
                "green after lift",
                &green,
                vec!["block", "lift-0", "resolved"],
            ),
            (
                "final lift: the lift says it",
                &final_lift,
                vec!["block", "lift-0"],
            ),
        ];
        for (what, incident, want) in cases {
            assert_eq!(keys(incident), want, "{what}");
        }
        assert_eq!(announcements(&green)[2].at, Timestamp(400));
    }
}
