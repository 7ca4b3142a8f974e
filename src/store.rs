//! The one `Store` over sled. Every record is a versioned serde value
//! (`{"v": N, "data": ...}`), so a newer binary can still read what an older one wrote.
//! Methods are named by intent; only this module (and its children) talks to sled.
//! Every flush goes through one thread, a group commit ([`flusher`]).

mod flusher;
mod history;
mod inbox;
mod incidents;
mod notify;
mod reconcile;

pub use history::RecordOutcome;
pub use inbox::{InboxEntry, InboxError, InboxKey};
pub use incidents::{Changes, PendingReply};

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// How many webhook delivery ids are remembered for de-duplication.
pub const DELIVERIES_KEPT: usize = 10_000;

/// How many audit records are kept unless configured (`history.audit_retention`).
pub const AUDIT_KEPT: usize = 10_000;

/// How many lifted incidents are kept unless configured (`history.incident_retention`).
pub const LIFTED_INCIDENTS_KEPT: usize = 1_000;

/// How long [`Store::open`] waits for a lock a previous handle is still releasing.
pub const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// The current version of every record this binary writes.
pub const RECORD_VERSION: u32 = 2;

const TREE_DELIVERIES: &str = "deliveries";
const TREE_DELIVERY_ORDER: &str = "delivery_order";

/// The plugin's durable state.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    /// How many ids `delivery_order` holds (writer: [`Store::remember_delivery`]).
    deliveries: EntryCount,
    /// How many records the `audit` tree holds (writer: [`Store::apply_decision`]).
    audit: EntryCount,
    /// Audit records kept; the oldest go first ([`Store::with_audit_retention`]).
    audit_kept: usize,
    /// How many entries the webhook inbox holds (writers: [`Store::inbox_put`] and
    /// [`Store::inbox_remove`]).
    inbox: EntryCount,
    /// The one path to disk, shared by every handle; its thread ends with the last.
    flusher: Arc<flusher::Flusher>,
}

/// How many entries a bounded tree holds: counted once per handle (sled's `Tree::len` is a
/// full scan, which once per webhook made the consumer the bottleneck under load; see
/// docs/performance.md), then kept by the tree's writers, one at a time under this lock.
#[derive(Clone, Default)]
struct EntryCount(Arc<Mutex<Option<usize>>>);

impl EntryCount {
    /// One writer of `tree`: `write` gets the number of entries before it writes (counted
    /// now if not known) and returns the number after. A `write` that fails leaves the count
    /// unknown, to be counted again by the next writer.
    fn write<T>(
        &self,
        tree: &sled::Tree,
        write: impl FnOnce(usize) -> anyhow::Result<(usize, T)>,
    ) -> anyhow::Result<T> {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let before = match known.take() {
            Some(n) => n,
            None => tree.len(),
        };
        let (after, value) = write(before)?;
        *known = Some(after);
        Ok(value)
    }
}

/// Version 1 → 2 of an incident record (`id`, `job`, `cause` and `state` tell one): a
/// `lifted` state becomes `resolved`, with the lift kept in its history.
fn migrate_v1_incident(data: &mut serde_json::Value) {
    use serde_json::{Value, json};
    let Some(record) = data.as_object_mut() else {
        return;
    };
    if !(record.contains_key("id") && record.contains_key("job") && record.contains_key("cause")) {
        return;
    }
    let Some(state) = record.get("state").and_then(Value::as_object) else {
        return;
    };
    if state.get("state").and_then(Value::as_str) != Some("lifted") {
        return;
    }
    let by = state
        .get("by")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let reason = state
        .get("reason")
        .cloned()
        .unwrap_or(Value::String(String::new()));
    let at = state.get("at").cloned().unwrap_or(json!(0));
    let how = if by.as_str() == Some(crate::core::gate::AUTOMATIC_ACTOR) {
        "auto-recovery"
    } else {
        "final"
    };
    record.insert(
        "state".into(),
        json!({"state": "resolved", "how": how, "at": at.clone()}),
    );
    if !record.contains_key("lifts") {
        record.insert(
            "lifts".into(),
            json!([{"by": by, "reason": reason, "at": at, "final_lift": true}]),
        );
    }
}

#[derive(Serialize, Deserialize)]
struct Envelope<T> {
    v: u32,
    data: T,
}

impl Store {
    /// Opens (or creates) the store in `path`.
    ///
    /// sled releases its file lock from a background thread shortly after the last handle
    /// of a previous open is dropped (a restart in the same process, a test reopening the
    /// store); a lock still held is waited for up to [`LOCK_WAIT`], then it is an error.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let started = std::time::Instant::now();
        loop {
            match sled::Config::new().path(path).open() {
                Ok(db) => return Self::new(db),
                Err(sled::Error::Io(e))
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.to_string().contains("could not acquire lock") =>
                {
                    if started.elapsed() >= LOCK_WAIT {
                        return Err(e).with_context(|| {
                            format!(
                                "opening store at {}: another process holds it",
                                path.display()
                            )
                        });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(sled::Error::Io(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    // Not a lock: this user may not create or write the directory.
                    return Err(e).with_context(|| {
                        format!(
                            "opening store at {}: permission denied (not a lock held by \
                             another process): the directory must be writable by this user",
                            path.display()
                        )
                    });
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("opening store at {}", path.display()));
                }
            }
        }
    }

    /// A handle on `db`, with the index of active incidents rebuilt from the incidents
    /// (one scan at start-up: a store written by an older binary, without the index, works,
    /// and the index can never drift from what the incidents say).
    fn new(db: sled::Db) -> anyhow::Result<Self> {
        let on_disk = db.clone();
        let flusher = flusher::Flusher::spawn(move || {
            on_disk.flush().context("flushing store")?;
            Ok(())
        })?;
        let store = Self {
            db,
            flusher: Arc::new(flusher),
            deliveries: EntryCount::default(),
            audit: EntryCount::default(),
            audit_kept: AUDIT_KEPT,
            inbox: EntryCount::default(),
        };
        store.rebuild_active_index()?;
        Ok(store)
    }

    /// Keeps at most `kept` audit records (at least one); the oldest are dropped as new
    /// ones are appended.
    pub fn with_audit_retention(mut self, kept: usize) -> Self {
        self.audit_kept = kept.max(1);
        self
    }

    /// A store in a temporary directory that disappears on drop (tests, simulate).
    pub fn temporary() -> anyhow::Result<Self> {
        let db = sled::Config::new()
            .temporary(true)
            .open()
            .context("opening temporary store")?;
        Self::new(db)
    }

    /// The sled tree of that name.
    pub(crate) fn tree(&self, name: &str) -> anyhow::Result<sled::Tree> {
        self.db
            .open_tree(name)
            .with_context(|| format!("opening tree {name}"))
    }

    /// Encodes a record in its versioned envelope.
    pub(crate) fn encode<T: Serialize>(value: &T) -> anyhow::Result<Vec<u8>> {
        serde_json::to_vec(&Envelope {
            v: RECORD_VERSION,
            data: value,
        })
        .context("encoding record")
    }

    /// Decodes a versioned record, migrating an older version's as it was meant:
    /// version 1 knew no provisional lift, so a version 1 incident that is `lifted` reads
    /// as `resolved` (`final`, or `auto-recovery` when the plugin lifted it) and never
    /// re-blocks after an upgrade. Every other version 1 record reads unchanged.
    pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> anyhow::Result<T> {
        let envelope: Envelope<serde_json::Value> =
            serde_json::from_slice(bytes).context("decoding record envelope")?;
        match envelope.v {
            1 => {
                let mut data = envelope.data;
                migrate_v1_incident(&mut data);
                serde_json::from_value(data).context("decoding record")
            }
            2 => serde_json::from_value(envelope.data).context("decoding record"),
            v => anyhow::bail!("record version {v} is newer than this binary knows"),
        }
    }

    /// Whether a webhook delivery id was remembered before.
    pub fn seen_delivery(&self, delivery: &str) -> anyhow::Result<bool> {
        Ok(self.tree(TREE_DELIVERIES)?.contains_key(delivery)?)
    }

    /// Records a webhook delivery id; true when it was not seen before. The oldest
    /// ids are forgotten past [`DELIVERIES_KEPT`].
    pub fn remember_delivery(&self, delivery: &str) -> anyhow::Result<bool> {
        self.remember_delivery_within(delivery, DELIVERIES_KEPT)
    }

    /// [`Store::remember_delivery`] keeping at most `kept` ids.
    fn remember_delivery_within(&self, delivery: &str, kept: usize) -> anyhow::Result<bool> {
        let ids = self.tree(TREE_DELIVERIES)?;
        let order = self.tree(TREE_DELIVERY_ORDER)?;
        self.deliveries.write(&order, |held| {
            if let Some(seen) = ids.get(delivery)? {
                let seq: u64 = Self::decode(&seen)?;
                tracing::debug!(delivery, seq, "delivery seen before");
                return Ok((held, false));
            }
            let seq = self.db.generate_id()?;
            ids.insert(delivery, Self::encode(&seq)?)?;
            order.insert(seq.to_be_bytes(), delivery.as_bytes())?;
            // A fresh sequence number is a new key: one more id than before.
            let mut held = held + 1;
            while held > kept {
                let Some((_, id)) = order.pop_min()? else {
                    break;
                };
                ids.remove(id)?;
                held -= 1;
            }
            Ok((held, true))
        })
    }

    /// Waits until everything written before this call is on disk. Concurrent callers
    /// share flushes: one blocking flush on the flusher thread answers every caller queued
    /// before it began (sled's `flush_async` deadlocks under concurrency and is never used).
    pub async fn flush(&self) -> anyhow::Result<()> {
        self.flusher.flush().await
    }

    /// Bytes on disk, for metrics.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_are_remembered_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            assert!(!store.seen_delivery("a").unwrap());
            assert!(store.remember_delivery("a").unwrap());
            assert!(store.seen_delivery("a").unwrap());
            assert!(!store.remember_delivery("a").unwrap());
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(!store.remember_delivery("a").unwrap());
        assert!(store.remember_delivery("b").unwrap());
    }

    #[test]
    fn the_oldest_deliveries_are_forgotten_past_the_bound_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for i in 0..7 {
                assert!(store.remember_delivery_within(&format!("d{i}"), 5).unwrap());
            }
            assert!(!store.remember_delivery_within("d6", 5).unwrap());
            for i in 0..2 {
                assert!(!store.seen_delivery(&format!("d{i}")).unwrap(), "d{i}");
            }
            for i in 2..7 {
                assert!(store.seen_delivery(&format!("d{i}")).unwrap(), "d{i}");
            }
        }
        // A new handle counts what the store holds once, then keeps the same bound.
        let store = Store::open(dir.path()).unwrap();
        assert!(store.remember_delivery_within("d7", 5).unwrap());
        assert!(!store.seen_delivery("d2").unwrap());
        for i in 3..8 {
            assert!(store.seen_delivery(&format!("d{i}")).unwrap(), "d{i}");
        }
    }

    #[test]
    fn reopening_right_after_drop_waits_for_the_lock() {
        // sled's lock outlives the dropped handle for a moment; without the wait in
        // `open` this loop failed now and then with "could not acquire lock".
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            let store = Store::open(dir.path()).unwrap();
            assert!(store.remember_delivery(&format!("d{i}")).unwrap());
            drop(store);
        }
        let store = Store::open(dir.path()).unwrap();
        assert!(store.seen_delivery("d19").unwrap());
    }

    /// Generous: only a deadlock ever reaches it.
    const HANG: std::time::Duration = std::time::Duration::from_secs(60);

    #[test]
    fn many_concurrent_flushes_all_complete() {
        // sled's flush_async hung here (spacejam/sled#1308): 256 writers each flushing
        // what they wrote, as concurrent webhooks and the consumer do. That hang blocked
        // the runtime's workers, so the writers get a runtime of their own and this thread
        // only waits for their answer, bounded.
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let writers = store.clone();
        let (done_tx, done) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(4)
                .enable_all()
                .build()
                .unwrap();
            let flushed = runtime.block_on(async move {
                let mut tasks = tokio::task::JoinSet::new();
                for i in 0..256 {
                    let store = writers.clone();
                    tasks.spawn(async move {
                        assert!(store.remember_delivery(&format!("d{i}")).unwrap());
                        store.flush().await
                    });
                }
                let mut results = Vec::new();
                while let Some(flushed) = tasks.join_next().await {
                    results.push(flushed.map_err(anyhow::Error::from).and_then(|r| r));
                }
                results
            });
            done_tx.send(flushed).ok();
        });
        let results = done
            .recv_timeout(HANG)
            .expect("concurrent flushes deadlocked");
        assert_eq!(results.len(), 256);
        for result in results {
            result.unwrap();
        }
        for i in 0..256 {
            assert!(store.seen_delivery(&format!("d{i}")).unwrap(), "d{i}");
        }
    }

    /// Copies a store's files as they are on disk now: what a process killed at this
    /// instant would leave behind.
    fn copy_as_on_disk(from: &Path, to: &Path) {
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            let target = to.join(entry.file_name());
            if entry.file_type().unwrap().is_dir() {
                std::fs::create_dir_all(&target).unwrap();
                copy_as_on_disk(&entry.path(), &target);
            } else {
                std::fs::copy(entry.path(), &target).unwrap();
            }
        }
    }

    #[tokio::test]
    async fn what_was_written_before_a_flush_survives_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        // No background flush: only `Store::flush` puts anything on disk.
        let db = sled::Config::new()
            .path(dir.path())
            .flush_every_ms(None)
            .open()
            .unwrap();
        let store = Store::new(db).unwrap();
        store.remember_delivery("kept").unwrap();
        tokio::time::timeout(HANG, store.flush())
            .await
            .unwrap()
            .unwrap();
        // The store stays open (no clean close); its files are copied as they are.
        let crashed = tempfile::tempdir().unwrap();
        copy_as_on_disk(dir.path(), crashed.path());
        let reopened = Store::open(crashed.path()).unwrap();
        assert!(reopened.seen_delivery("kept").unwrap());
        drop(store);
    }

    #[tokio::test]
    async fn a_flush_after_every_handle_but_one_is_dropped_still_works() {
        let store = Store::temporary().unwrap();
        let clone = store.clone();
        drop(store);
        clone.remember_delivery("a").unwrap();
        tokio::time::timeout(HANG, clone.flush())
            .await
            .unwrap()
            .unwrap();
    }

    #[test]
    fn old_format_envelope_still_decodes_and_newer_is_refused() {
        let bytes = br#"{"v":1,"data":{"x":3}}"#;
        let v: serde_json::Value = Store::decode(bytes).unwrap();
        assert_eq!(v["x"], 3);
        let again: serde_json::Value = Store::decode(&Store::encode(&v).unwrap()).unwrap();
        assert_eq!(again, v);
        assert!(Store::decode::<serde_json::Value>(br#"{"v":9,"data":{}}"#).is_err());
    }
}
