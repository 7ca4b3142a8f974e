//! The one wait of the tests: [`eventually`] asks again until the answer is there or the
//! harness's [`TIMEOUT`] has passed, in tokio time (virtual under `start_paused`).

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

/// How long any single wait in a test may take before the test fails.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// How long [`eventually`] waits between two looks.
const STEP: Duration = Duration::from_millis(20);

/// What one look observed: the value waited for, or what was seen instead (said in the
/// failure message when the time is up).
pub trait Outcome {
    /// What [`eventually`] returns once the look succeeds.
    type Value;
    /// The value, or a description of what was observed instead.
    fn settled(self) -> Result<Self::Value, String>;
}

impl Outcome for bool {
    type Value = ();
    fn settled(self) -> Result<(), String> {
        if self { Ok(()) } else { Err("false".into()) }
    }
}

impl<T> Outcome for Option<T> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.ok_or_else(|| "None".into())
    }
}

/// `Err(observed)`: not yet, and `observed` is what the failure message shows.
impl<T, E: Debug> Outcome for Result<T, E> {
    type Value = T;
    fn settled(self) -> Result<T, String> {
        self.map_err(|observed| format!("{observed:#?}"))
    }
}

/// Marks a look that answers at once (a plain closure).
pub struct Now;
/// Marks a look that awaits (an async closure, or a closure returning a future).
pub struct Later;

/// One look: a closure that answers at once or one that awaits; `M` tells them apart.
pub trait Probe<M> {
    /// What the look observes.
    type Observed: Outcome;
    /// Looks once.
    fn look(&mut self) -> impl Future<Output = Self::Observed>;
}

impl<F: FnMut() -> O, O: Outcome> Probe<Now> for F {
    type Observed = O;
    fn look(&mut self) -> impl Future<Output = O> {
        std::future::ready(self())
    }
}

impl<F: AsyncFnMut() -> O, O: Outcome> Probe<Later> for F {
    type Observed = O;
    fn look(&mut self) -> impl Future<Output = O> {
        self()
    }
}

/// Looks with `probe` until it yields `true`, `Some(value)` or `Ok(value)`, and returns
/// the value. Fails after [`TIMEOUT`] with `what` and the last observation (`Err(observed)`
/// shows `observed`). Waits in tokio time, so a `start_paused` test never sleeps for real.
///
/// ```ignore
/// eventually("the ready PRs labelled", || world.has_label(1) && world.has_label(2)).await;
/// let issue = eventually("one blocker issue", || world.open_blockers().pop()).await;
/// let body = eventually("the incident active", async || {
///     let incident = incident(&plugin).await;
///     if incident["state"] == "active" { Ok(incident) } else { Err(incident) }
/// }).await;
/// ```
pub async fn eventually<M, P: Probe<M>>(
    what: &str,
    mut probe: P,
) -> <P::Observed as Outcome>::Value {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let observed = match probe.look().await.settled() {
            Ok(value) => return value,
            Err(observed) => observed,
        };
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {TIMEOUT:?} waiting for: {what}; last observed: {observed}");
        }
        tokio::time::sleep(STEP).await;
    }
}
