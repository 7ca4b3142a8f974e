//! Group commit for the consumer's decisions: the inputs already waiting are applied one
//! after another (in order, each seeing the writes of those before it), then one flush
//! makes all their writes durable, and only then is anything acknowledged or acted on.
//!
//! One flush takes a few milliseconds whatever it carries, so flushing after each decision
//! capped the consumer at a few hundred decisions a second, and command-bearing webhooks
//! backed up in the inbox until the ingress refused them. A [`Batch`] holds what a
//! decision's durability unlocks (an inbox entry to remove, a waiting source to answer, a
//! decision to act on) until the batch's flush has ended. A batch holds at most
//! [`MAX_BATCH`] inputs, so the wait it adds is bounded and nothing queues without bound.

use tokio::sync::{mpsc, oneshot};

use crate::bus::Input;
use crate::core::gate::Decision;
use crate::store::InboxKey;

/// Inputs applied before one flush makes them all durable, at most.
pub const MAX_BATCH: usize = 256;

/// What waits for the batch's flush, in the order the inputs were applied.
#[derive(Debug)]
pub(super) enum AfterFlush {
    /// The ingress's copy of a command whose decision is now durable.
    InboxDone(InboxKey),
    /// A decision to hand to the reconciler and the rerun executor.
    Act(Decision),
    /// An admin call, answered with its decision.
    Admin(oneshot::Sender<anyhow::Result<Decision>>, Decision),
    /// A finding's sender, told it is written.
    Finding(oneshot::Sender<anyhow::Result<()>>),
    /// A source waiting to acknowledge a run (a Pub/Sub push).
    Run(oneshot::Sender<()>),
}

/// The writes of the inputs applied so far that still wait for a flush, and what their
/// durability unlocks.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Something was written that must be on disk before `after` runs.
    dirty: bool,
    after: Vec<AfterFlush>,
}

impl Batch {
    /// Notes that `decision` was written: the batch ends with a flush if it wrote anything.
    pub(super) fn wrote(&mut self, decision: &Decision) {
        if !decision.is_empty() {
            self.dirty = true;
        }
    }

    /// Notes a write that must be flushed whatever it was (a run a source waits on).
    pub(super) fn must_flush(&mut self) {
        self.dirty = true;
    }

    /// Queues `step` until the batch is durable.
    pub(super) fn then(&mut self, step: AfterFlush) {
        self.after.push(step);
    }

    /// Whether the batch must flush before its steps run.
    pub(super) fn dirty(&self) -> bool {
        self.dirty
    }

    /// The steps, in order, once the batch is durable.
    pub(super) fn into_steps(self) -> Vec<AfterFlush> {
        self.after
    }
}

/// `first` and every input already waiting behind it, at most [`MAX_BATCH`]; never waits.
pub(super) fn waiting(first: Input, rx: &mut mpsc::Receiver<Input>) -> Vec<Input> {
    let mut inputs = vec![first];
    while inputs.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(input) => inputs.push(input),
            Err(_) => break,
        }
    }
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_input(build: &str) -> Input {
        Input::Run(Box::new(crate::model::Run {
            job: crate::model::JobName::new("job"),
            build_id: crate::model::BuildId::new(build),
            result: crate::model::RunResult::Success,
            started_at: None,
            finished_at: None,
            url: String::new(),
            gcs_path: String::new(),
            commits: Default::default(),
            channel: crate::model::Channel::Manual,
        }))
    }

    #[test]
    fn takes_what_waits_and_never_more_than_the_bound() {
        let (tx, mut rx) = mpsc::channel(MAX_BATCH * 2);
        for n in 0..MAX_BATCH + 10 {
            tx.try_send(run_input(&n.to_string())).unwrap();
        }
        let first = rx.try_recv().unwrap();
        let batch = waiting(first, &mut rx);
        assert_eq!(batch.len(), MAX_BATCH);
        let Input::Run(run) = &batch[MAX_BATCH - 1] else {
            panic!("a run");
        };
        assert_eq!(
            run.build_id.as_str(),
            (MAX_BATCH - 1).to_string(),
            "in order"
        );
        let first = rx.try_recv().unwrap();
        assert_eq!(
            waiting(first, &mut rx).len(),
            10,
            "the rest, without waiting"
        );
    }

    #[test]
    fn an_empty_decision_needs_no_flush_and_a_run_acknowledged_does() {
        let mut batch = Batch::default();
        batch.wrote(&Decision::default());
        assert!(!batch.dirty());
        batch.must_flush();
        assert!(batch.dirty());
    }
}
