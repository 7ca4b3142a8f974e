//! The one supervisor of every task that runs for the plugin's whole life.
//!
//! Each task runs under a name ([`Supervisor::spawn`]). When it panics, returns an error, or
//! ends before the stop signal, the supervisor logs it with the task's name, counts it in
//! `scalability_gate_task_restarts_total{task}`, marks the task down in [`Health`] (so
//! `/healthz/ready` answers 503) and starts it again from its factory after a backoff
//! (0.5 s doubling to 30 s; back to 0.5 s once an incarnation ran for a minute). Once stop
//! is signalled a task that ends is not restarted, whatever its reason.
//!
//! A factory re-creates the task from handles it keeps (a clone of the app, a shared
//! receiver), so nothing a task owns is lost with one incarnation.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::telemetry::{Metrics, TaskLabels};

/// Resolves once `stop` is true (or its sender is gone).
pub async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// How long to wait before restarting a task that died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first wait after a death.
    pub min: Duration,
    /// The longest wait (the wait doubles on each death in a row).
    pub max: Duration,
    /// An incarnation that ran this long resets the wait to `min` when it dies.
    pub reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            min: Duration::from_millis(500),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(60),
        }
    }
}

/// Which supervised tasks are down right now (between a death and the restart).
/// Cheap to clone; readiness reads it.
#[derive(Clone)]
pub struct Health {
    down: Arc<watch::Sender<BTreeMap<&'static str, usize>>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            down: Arc::new(watch::Sender::new(BTreeMap::new())),
        }
    }
}

impl Health {
    /// True while no supervised task is down.
    pub fn all_up(&self) -> bool {
        self.down.borrow().is_empty()
    }

    /// The names of the tasks down now.
    pub fn down(&self) -> Vec<&'static str> {
        self.down.borrow().keys().copied().collect()
    }

    /// Follows the set of tasks down (tests wait on it instead of sleeping).
    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<&'static str, usize>> {
        self.down.subscribe()
    }

    fn mark_down(&self, task: &'static str) {
        self.down
            .send_modify(|down| *down.entry(task).or_default() += 1);
    }

    fn mark_up(&self, task: &'static str) {
        self.down.send_modify(|down| {
            if let Some(n) = down.get_mut(task) {
                *n -= 1;
                if *n == 0 {
                    down.remove(task);
                }
            }
        });
    }
}

/// Starts named tasks and keeps them running until stop. Cheap to clone.
#[derive(Clone)]
pub struct Supervisor {
    stop: watch::Receiver<bool>,
    restarts: Family<TaskLabels, Counter>,
    health: Health,
    backoff: Backoff,
}

/// Whether a task that returns `Ok` before stop is done or died.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Runs until stop: any end before it is a death.
    Forever,
    /// Runs to completion: `Ok` is done; an error or a panic is restarted.
    Once,
}

impl Supervisor {
    /// A supervisor whose tasks stop once `stop` turns true, counting restarts in `metrics`.
    pub fn new(stop: watch::Receiver<bool>, metrics: &Metrics) -> Self {
        Self {
            stop,
            restarts: metrics.task_restarts.clone(),
            health: Health::default(),
            backoff: Backoff::default(),
        }
    }

    /// The same supervisor with another backoff (tests restart at once).
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The same supervisor (same health, same restart counts) whose tasks stop on `stop`
    /// instead: for a task that must stop after the others (the consumer drains what they
    /// queued).
    pub fn with_stop(&self, stop: watch::Receiver<bool>) -> Self {
        Self {
            stop,
            ..self.clone()
        }
    }

    /// Which tasks are down.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// The stop signal the tasks get.
    pub fn stop(&self) -> watch::Receiver<bool> {
        self.stop.clone()
    }

    /// Runs `factory(stop)` as the task `name` until stop: restarted after a panic, an
    /// error, or an end before stop. The handle resolves once the task ended for good.
    pub fn spawn<F, Fut>(&self, name: &'static str, factory: F) -> JoinHandle<()>
    where
        F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        tokio::spawn(self.clone().supervise(name, Kind::Forever, factory))
    }

    /// As [`Supervisor::spawn`] for a task that finishes: `Ok` ends it; an error or a
    /// panic restarts it.
    pub fn spawn_once<F, Fut>(&self, name: &'static str, factory: F) -> JoinHandle<()>
    where
        F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        tokio::spawn(self.clone().supervise(name, Kind::Once, factory))
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    async fn supervise<F, Fut>(self, name: &'static str, kind: Kind, mut factory: F)
    where
        F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let restarts = self
            .restarts
            .get_or_create(&TaskLabels { task: name.into() })
            .clone();
        let mut wait = self.backoff.min;
        loop {
            let started = tokio::time::Instant::now();
            let ended = tokio::spawn(factory(self.stop.clone())).await;
            // A forever task that returns `Ok` once stop is sent just stopped.
            let ended_ok_on_stop = matches!(ended, Ok(Ok(())));
            let why = match died(ended, kind) {
                Ok(()) => return,
                Err(_) if self.stopped() && ended_ok_on_stop => return,
                Err(why) => why,
            };
            if self.stopped() {
                tracing::warn!(task = name, error = %why, "task ended badly while stopping");
                return;
            }
            if started.elapsed() >= self.backoff.reset_after {
                wait = self.backoff.min;
            }
            restarts.inc();
            self.health.mark_down(name);
            tracing::error!(task = name, error = %why, restart_in = ?wait, "task died; restarting");
            let mut stop = self.stop.clone();
            let stopping = tokio::select! {
                _ = tokio::time::sleep(wait) => false,
                _ = stop.wait_for(|s| *s) => true,
            };
            self.health.mark_up(name);
            if stopping || self.stopped() {
                return;
            }
            wait = (wait * 2).min(self.backoff.max);
            tracing::info!(task = name, "task restarted");
        }
    }
}

/// `Ok` when the incarnation's end is not a death for a task of `kind`, else why it died.
fn died(
    ended: Result<anyhow::Result<()>, tokio::task::JoinError>,
    kind: Kind,
) -> Result<(), String> {
    match ended {
        Ok(Ok(())) if kind == Kind::Once => Ok(()),
        Ok(Ok(())) => Err("ended before stop".into()),
        Ok(Err(error)) => Err(format!("{error:#}")),
        Err(join) if join.is_panic() => {
            let payload = join.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text payload".into());
            Err(format!("panicked: {message}"))
        }
        Err(_) => Err("cancelled".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    fn quick() -> Backoff {
        Backoff {
            min: Duration::from_millis(1),
            max: Duration::from_millis(2),
            reset_after: Duration::from_secs(3600),
        }
    }

    fn restarts(metrics: &Metrics, task: &str) -> u64 {
        metrics
            .task_restarts
            .get_or_create(&TaskLabels { task: task.into() })
            .get()
    }

    /// A task that panics on command is restarted, counted, and readiness is false while
    /// it is down. The factory holds the second incarnation until the test has seen the
    /// task down, so the order of events is fixed without sleeping.
    #[tokio::test]
    async fn a_task_that_panics_is_restarted_counted_and_down_meanwhile() {
        let metrics = Metrics::new();
        let (stop_tx, stop_rx) = watch::channel(false);
        let supervisor = Supervisor::new(stop_rx, &metrics).with_backoff(quick());
        let health = supervisor.health();
        // Each incarnation says it started, then waits for its order: panic or carry on.
        let (started_tx, mut started) = mpsc::unbounded_channel::<usize>();
        let (order_tx, order_rx) = mpsc::unbounded_channel::<bool>();
        let orders = Arc::new(tokio::sync::Mutex::new(order_rx));
        // The factory holds each restart until the test lets it go.
        let (gate_tx, gate_rx) = mpsc::unbounded_channel::<()>();
        let gate = Arc::new(tokio::sync::Mutex::new(gate_rx));
        let mut incarnation = 0;
        let task = supervisor.spawn("flaky", move |mut stop| {
            incarnation += 1;
            let n = incarnation;
            let (started_tx, orders, gate) = (started_tx.clone(), orders.clone(), gate.clone());
            async move {
                if n > 1 {
                    gate.lock().await.recv().await;
                }
                started_tx.send(n).unwrap();
                tokio::select! {
                    order = async { orders.lock().await.recv().await } => {
                        if order == Some(true) {
                            panic!("incarnation {n} panics as ordered");
                        }
                    }
                    _ = stop.wait_for(|s| *s) => {}
                }
                Ok(())
            }
        });
        let mut down = health.subscribe();
        assert_eq!(started.recv().await, Some(1));
        assert!(health.all_up());
        assert_eq!(restarts(&metrics, "flaky"), 0);

        order_tx.send(true).unwrap();
        down.wait_for(|d| d.contains_key("flaky")).await.unwrap();
        assert!(!health.all_up(), "down between the death and the restart");
        assert_eq!(health.down(), vec!["flaky"]);
        assert_eq!(restarts(&metrics, "flaky"), 1);

        gate_tx.send(()).unwrap();
        assert_eq!(started.recv().await, Some(2), "restarted from the factory");
        down.wait_for(|d| d.is_empty()).await.unwrap();
        assert!(health.all_up(), "ready again after the restart");

        // Stop ends it for good: no restart, no count.
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(restarts(&metrics, "flaky"), 1);
        assert!(health.all_up());
        assert!(
            metrics
                .encode()
                .contains(r#"scalability_gate_task_restarts_total{task="flaky"} 1"#)
        );
    }

    /// An error return restarts too; a `Once` task that succeeds is done.
    #[tokio::test]
    async fn an_error_restarts_and_a_finished_once_task_is_done() {
        let metrics = Metrics::new();
        let (_stop_tx, stop_rx) = watch::channel(false);
        let supervisor = Supervisor::new(stop_rx, &metrics).with_backoff(quick());
        let mut tries = 0;
        let task = supervisor.spawn_once("backfill", move |_| {
            tries += 1;
            let n = tries;
            async move {
                anyhow::ensure!(n >= 3, "try {n} fails");
                Ok(())
            }
        });
        task.await.unwrap();
        assert_eq!(restarts(&metrics, "backfill"), 2);
        assert!(supervisor.health().all_up());
    }

    /// A forever task that returns `Ok` before stop died: it is restarted; stop ends it.
    #[tokio::test]
    async fn a_forever_task_that_returns_before_stop_is_restarted() {
        let metrics = Metrics::new();
        let (stop_tx, stop_rx) = watch::channel(false);
        let supervisor = Supervisor::new(stop_rx, &metrics).with_backoff(quick());
        let (started_tx, mut started) = mpsc::unbounded_channel::<usize>();
        let mut incarnation = 0;
        let task = supervisor.spawn("poller", move |mut stop| {
            incarnation += 1;
            let n = incarnation;
            let started_tx = started_tx.clone();
            async move {
                started_tx.send(n).unwrap();
                if n > 1 {
                    let _ = stop.wait_for(|s| *s).await;
                }
                Ok(())
            }
        });
        assert_eq!(started.recv().await, Some(1));
        assert_eq!(started.recv().await, Some(2));
        assert_eq!(restarts(&metrics, "poller"), 1);
        stop_tx.send(true).unwrap();
        task.await.unwrap();
        assert_eq!(restarts(&metrics, "poller"), 1, "ended by stop: no restart");
    }
}
