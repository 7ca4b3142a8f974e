//! The webhook inbox: command-bearing webhooks answered 200 but not yet applied.
//!
//! Prow's hook does not deliver a webhook again once it was answered 200, and the
//! consumer's queue lives in memory: a process killed between the answer and the
//! consumer's decision would lose the event. For most events the reconciler's resync
//! repairs that; a command (`/scalability-block`, `/scalability-revert #N`, …) is a
//! person's intent that no resync can recover. So the ingress writes each webhook that
//! carries a command here, and flushes, before it answers 200; the consumer removes the
//! entry once the decision about it is durable; at start-up what is left is queued again,
//! in arrival order (see [`crate::prow::webhook::replay_inbox`]).
//!
//! - `inbox`: keyed by a monotonic id (big-endian, so sled's order is arrival order),
//!   each a versioned record of the delivery id, the `X-GitHub-Event` name and the raw
//!   body exactly as verified, so a replay decodes it exactly as the first time. The body
//!   is kept LZ4-compressed (`body_lz4`, base64; lossless): a webhook is ~10 KB of JSON,
//!   and sled copies a whole tree node (up to 16 entries) on every insert and writes nodes
//!   over 128 KB as separate blob files, so uncompressed bodies made each kept command
//!   cost a ~200 KB copy and, every few, a blob file (docs/performance.md). Entries written
//!   before this (`body`, base64 of the raw body) still read.
//!   Its signature is not checked again on replay: only verified bodies are written.
//!
//! Bounded: [`Store::inbox_put`] refuses past the capacity it is given (the ingress gives
//! the queue's), so the inbox never holds more than the queue could.

use anyhow::Context;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::Store;

const TREE_INBOX: &str = "inbox";

/// Where an inbox entry is: the consumer removes it by this key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InboxKey(pub u64);

/// A webhook kept until its decision is durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxEntry {
    /// `X-GitHub-Delivery`.
    pub delivery: String,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The body exactly as its signature was verified.
    pub body: Vec<u8>,
    /// When it was kept (Unix seconds); 0 for an entry written before this was recorded.
    pub kept_at: i64,
}

/// The stored form of an [`InboxEntry`].
#[derive(Serialize, Deserialize)]
struct Stored {
    delivery: String,
    event: String,
    /// The raw body, base64 (standard alphabet, padded): entries written before
    /// `body_lz4`; empty in newer ones.
    #[serde(default)]
    body: String,
    /// The raw body LZ4-compressed (block format, its length first as 4 bytes little
    /// endian), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_lz4: Option<String>,
    #[serde(default)]
    kept_at: i64,
}

/// The largest body an entry may expand to (GitHub's largest webhook payload): a damaged
/// record cannot make the replay allocate more.
const MAX_BODY: usize = 25 * 1024 * 1024;

impl Stored {
    /// The raw body, from whichever form the record holds.
    fn raw_body(&self) -> anyhow::Result<Vec<u8>> {
        let base64 = base64::engine::general_purpose::STANDARD;
        let Some(compressed) = &self.body_lz4 else {
            return base64
                .decode(self.body.as_bytes())
                .context("decoding the inbox entry's body");
        };
        let compressed = base64
            .decode(compressed.as_bytes())
            .context("decoding the inbox entry's compressed body")?;
        let (size, block) = compressed
            .split_first_chunk::<4>()
            .context("the inbox entry's compressed body has no length")?;
        let size = u32::from_le_bytes(*size) as usize;
        anyhow::ensure!(
            size <= MAX_BODY,
            "the inbox entry's body would be {size} bytes, more than {MAX_BODY}"
        );
        lz4_flex::block::decompress(block, size).context("decompressing the inbox entry's body")
    }
}

/// Why an entry could not be written.
#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    /// The inbox holds as many entries as it may.
    #[error("the inbox is full ({0} entries)")]
    Full(usize),
    /// sled failed.
    #[error("writing the inbox failed: {0:#}")]
    Store(#[from] anyhow::Error),
}

impl Store {
    /// Writes a verified webhook to the inbox (not flushed: the caller flushes before it
    /// answers), refusing when the inbox already holds `capacity` entries.
    pub fn inbox_put(&self, entry: &InboxEntry, capacity: usize) -> Result<InboxKey, InboxError> {
        let record = Self::encode(&Stored {
            delivery: entry.delivery.clone(),
            event: entry.event.clone(),
            body: String::new(),
            body_lz4: Some(
                base64::engine::general_purpose::STANDARD
                    .encode(lz4_flex::block::compress_prepend_size(&entry.body)),
            ),
            kept_at: entry.kept_at,
        })?;
        let tree = self.tree(TREE_INBOX)?;
        // One writer at a time, so the bound holds under concurrent webhooks.
        self.inbox.write(&tree, |held| {
            if held >= capacity {
                return Ok((held, Err(InboxError::Full(held))));
            }
            let key = self.db.generate_id().context("inbox id")?;
            tree.insert(key.to_be_bytes(), record)
                .context("writing the inbox entry")?;
            Ok((held + 1, Ok(InboxKey(key))))
        })?
    }

    /// Removes an entry; removing one already gone is not an error.
    pub fn inbox_remove(&self, key: InboxKey) -> anyhow::Result<()> {
        let tree = self.tree(TREE_INBOX)?;
        self.inbox.write(&tree, |held| {
            let removed = tree
                .remove(key.0.to_be_bytes())
                .context("removing the inbox entry")?;
            Ok((held.saturating_sub(usize::from(removed.is_some())), ()))
        })
    }

    /// Every entry in arrival order; one that does not decode (damaged, or written by a
    /// newer binary) comes as its error, for the caller to log and remove.
    pub fn inbox_pending(&self) -> anyhow::Result<Vec<(InboxKey, anyhow::Result<InboxEntry>)>> {
        let tree = self.tree(TREE_INBOX)?;
        let mut pending = Vec::new();
        for item in tree.iter() {
            let (key, bytes) = item.context("reading the inbox")?;
            let key = match <[u8; 8]>::try_from(key.as_ref()) {
                Ok(raw) => InboxKey(u64::from_be_bytes(raw)),
                Err(_) => {
                    // Not ours: leave it alone rather than fail the whole start-up.
                    tracing::error!(key = ?key, "inbox key is not an id; skipped");
                    continue;
                }
            };
            let entry = Self::decode::<Stored>(&bytes).and_then(|stored| {
                let body = stored.raw_body()?;
                Ok(InboxEntry {
                    delivery: stored.delivery,
                    event: stored.event,
                    kept_at: stored.kept_at,
                    body,
                })
            });
            pending.push((key, entry));
        }
        Ok(pending)
    }

    /// How many entries the inbox holds (a scan: for tests and start-up).
    pub fn inbox_len(&self) -> anyhow::Result<usize> {
        Ok(self.tree(TREE_INBOX)?.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(delivery: &str) -> InboxEntry {
        InboxEntry {
            delivery: delivery.into(),
            event: "issue_comment".into(),
            // Not UTF-8 on purpose: the body comes back byte for byte.
            body: vec![b'{', 0xff, 0x00, b'}'],
            kept_at: 1_764_000_000,
        }
    }

    fn deliveries(store: &Store) -> Vec<String> {
        store
            .inbox_pending()
            .unwrap()
            .into_iter()
            .map(|(_, e)| e.unwrap().delivery)
            .collect()
    }

    #[test]
    fn entries_come_back_in_arrival_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let keys: Vec<InboxKey>;
        {
            let store = Store::open(dir.path()).unwrap();
            keys = ["a", "b", "c", "d"]
                .iter()
                .map(|d| store.inbox_put(&entry(d), 10).unwrap())
                .collect();
            assert!(keys.windows(2).all(|w| w[0] < w[1]));
            store.inbox_remove(keys[1]).unwrap();
            // Removing again, or a key never written, is fine.
            store.inbox_remove(keys[1]).unwrap();
            store.inbox_remove(InboxKey(u64::MAX)).unwrap();
            assert_eq!(deliveries(&store), ["a", "c", "d"]);
            let pending = store.inbox_pending().unwrap();
            assert_eq!(pending[0].0, keys[0]);
            assert_eq!(pending[0].1.as_ref().unwrap(), &entry("a"));
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(deliveries(&store), ["a", "c", "d"]);
        // Written after the reopen: still after the older ones.
        let e = store.inbox_put(&entry("e"), 10).unwrap();
        assert!(e > keys[3]);
        store.inbox_remove(keys[0]).unwrap();
        assert_eq!(deliveries(&store), ["c", "d", "e"]);
        assert_eq!(store.inbox_len().unwrap(), 3);
    }

    #[test]
    fn a_full_inbox_refuses_until_an_entry_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let first = store.inbox_put(&entry("a"), 2).unwrap();
            store.inbox_put(&entry("b"), 2).unwrap();
            let full = store.inbox_put(&entry("c"), 2).unwrap_err();
            assert!(matches!(full, InboxError::Full(2)), "{full}");
            store.inbox_remove(first).unwrap();
            store.inbox_put(&entry("c"), 2).unwrap();
            assert!(matches!(
                store.inbox_put(&entry("d"), 2),
                Err(InboxError::Full(2))
            ));
        }
        // A new handle counts what the inbox holds, and keeps the bound.
        let store = Store::open(dir.path()).unwrap();
        assert!(matches!(
            store.inbox_put(&entry("d"), 2),
            Err(InboxError::Full(2))
        ));
        assert_eq!(deliveries(&store), ["b", "c"]);
    }

    /// The body is kept compressed and comes back byte for byte; an entry written before
    /// compression (`body`, base64 of the raw body) still reads; a compressed body whose
    /// length claims more than a webhook can carry is an error, not an allocation.
    #[test]
    fn bodies_are_kept_compressed_and_old_entries_still_read() {
        let store = Store::temporary().unwrap();
        let payload = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../shared/fixtures/github-webhooks/issue_comment.created.json"),
        )
        .unwrap();
        let mut big = entry("big");
        big.body = payload.clone();
        let key = store.inbox_put(&big, 10).unwrap();
        let tree = store.tree(TREE_INBOX).unwrap();
        let stored = tree.get(key.0.to_be_bytes()).unwrap().unwrap();
        assert!(
            stored.len() * 2 < payload.len(),
            "kept in {} bytes for a {}-byte body",
            stored.len(),
            payload.len()
        );
        let base64 = base64::engine::general_purpose::STANDARD;
        let old = format!(
            r#"{{"v":2,"data":{{"delivery":"old","event":"issue_comment","body":"{}","kept_at":7}}}}"#,
            base64.encode(&payload)
        );
        tree.insert((key.0 + 1).to_be_bytes(), old.as_bytes())
            .unwrap();
        let mut claim = u32::MAX.to_le_bytes().to_vec();
        claim.extend_from_slice(&lz4_flex::block::compress(b"{}"));
        let lying = format!(
            r#"{{"v":2,"data":{{"delivery":"lying","event":"issue_comment","body_lz4":"{}"}}}}"#,
            base64.encode(&claim)
        );
        tree.insert((key.0 + 2).to_be_bytes(), lying.as_bytes())
            .unwrap();
        let pending = store.inbox_pending().unwrap();
        assert_eq!(pending.len(), 3);
        assert_eq!(pending[0].1.as_ref().unwrap(), &big);
        let old = pending[1].1.as_ref().unwrap();
        assert_eq!((old.delivery.as_str(), old.kept_at), ("old", 7));
        assert_eq!(old.body, payload);
        let error = format!("{:#}", pending[2].1.as_ref().unwrap_err());
        assert!(error.contains("more than"), "{error}");
    }

    #[test]
    fn an_entry_that_does_not_decode_comes_back_as_its_error() {
        let store = Store::temporary().unwrap();
        let good = store.inbox_put(&entry("a"), 10).unwrap();
        let tree = store.tree(TREE_INBOX).unwrap();
        tree.insert((good.0 + 1).to_be_bytes(), &br#"{"v":9,"data":{}}"#[..])
            .unwrap();
        tree.insert((good.0 + 2).to_be_bytes(), &b"not json"[..])
            .unwrap();
        let pending = store.inbox_pending().unwrap();
        assert_eq!(pending.len(), 3);
        assert!(pending[0].1.is_ok());
        let newer = format!("{:#}", pending[1].1.as_ref().unwrap_err());
        assert!(newer.contains("newer than this binary"), "{newer}");
        assert!(pending[2].1.is_err());
    }
}
