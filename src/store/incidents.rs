//! Incidents, the audit log and the reply outbox in the store.
//!
//! - `incidents`: one versioned record per incident, keyed by its id. The gate's decisions
//!   are written here before anything is done on GitHub; the reconciler reads them.
//! - `incidents_active`: the ids of the active incidents (id → nothing), so the per-event
//!   [`Store::active_incidents`] reads those and not every incident ever stored. Written in
//!   the same transaction as every incident write, and rebuilt from `incidents` whenever
//!   the store is opened.
//! - `audit`: keyed by a monotonic id (big-endian, so sled's order is time order): who did
//!   what, when, and why. The newest `history.audit_retention` records are kept.
//! - `outbox`: replies decided but not yet known to be on GitHub. The reconciler posts each
//!   one (it carries a hidden marker, so a reply already posted before a crash is found and
//!   not posted again) and then removes it.
//!
//! [`Store::apply_decision`] writes them all in one sled transaction: a decision is
//! durable as a whole or not at all.
//!
//! Lifted incidents are dropped by [`Store::prune_lifted_incidents`] (the reconciler calls
//! it after each pass), and only once the reconciler has cleaned them up on GitHub.

use std::collections::BTreeSet;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::Store;
use crate::model::{AuditRecord, Incident, IncidentId, IncidentState, PrNumber, RepoName};

const TREE_INCIDENTS: &str = "incidents";
const TREE_ACTIVE: &str = "incidents_active";
const TREE_AUDIT: &str = "audit";
const TREE_OUTBOX: &str = "outbox";

/// A reply to post on an issue or PR, rendered, with its hidden marker in `body`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingReply {
    /// The marker's key (unique per reply); the outbox key.
    pub key: String,
    pub repo: RepoName,
    pub number: PrNumber,
    /// The Markdown to post, marker included.
    pub body: String,
}

/// What one decision writes, all at once.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    pub incidents: Vec<Incident>,
    pub audit: Vec<AuditRecord>,
    pub replies: Vec<PendingReply>,
}

impl Store {
    /// The incident of that id.
    pub fn incident(&self, id: &IncidentId) -> anyhow::Result<Option<Incident>> {
        let tree = self.tree(TREE_INCIDENTS)?;
        tree.get(id.as_str())?
            .map(|bytes| Self::decode(&bytes).with_context(|| format!("incident {id}")))
            .transpose()
    }

    /// Every incident, newest first.
    pub fn all_incidents(&self) -> anyhow::Result<Vec<Incident>> {
        let tree = self.tree(TREE_INCIDENTS)?;
        let mut all = Vec::new();
        for entry in tree.iter() {
            let (key, bytes) = entry?;
            let incident: Incident = Self::decode(&bytes)
                .with_context(|| format!("incident {}", String::from_utf8_lossy(&key)))?;
            all.push(incident);
        }
        all.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(a.id.cmp(&b.id)));
        Ok(all)
    }

    /// The incidents not resolved (active, or lifted provisionally: they may re-block),
    /// oldest first, through the same index as [`Store::active_incidents`].
    pub fn open_incidents(&self) -> anyhow::Result<Vec<Incident>> {
        self.indexed_incidents(Incident::is_open)
    }

    /// The incidents that still block, oldest first. Reads only those, through the index
    /// of active incidents: its cost does not grow with the lifted ones kept.
    pub fn active_incidents(&self) -> anyhow::Result<Vec<Incident>> {
        self.indexed_incidents(Incident::is_active)
    }

    /// The incidents of the index that `keep` accepts, oldest first (the order of
    /// `all_incidents`, newest first then by id, reversed).
    fn indexed_incidents(&self, keep: fn(&Incident) -> bool) -> anyhow::Result<Vec<Incident>> {
        let incidents = self.tree(TREE_INCIDENTS)?;
        let index = self.tree(TREE_ACTIVE)?;
        let mut kept = Vec::new();
        for key in index.iter().keys() {
            let key = key?;
            // Never missing (the index changes with the incident, in one transaction).
            let Some(bytes) = incidents.get(&key)? else {
                continue;
            };
            let incident: Incident = Self::decode(&bytes)
                .with_context(|| format!("incident {}", String::from_utf8_lossy(&key)))?;
            if keep(&incident) {
                kept.push(incident);
            }
        }
        kept.sort_by(|a, b| b.opened_at.cmp(&a.opened_at).then(a.id.cmp(&b.id)));
        kept.reverse();
        Ok(kept)
    }

    /// Makes the index of active incidents say what the incidents say: one scan, when the
    /// store is opened.
    pub(super) fn rebuild_active_index(&self) -> anyhow::Result<()> {
        let incidents = self.tree(TREE_INCIDENTS)?;
        let index = self.tree(TREE_ACTIVE)?;
        let mut active = BTreeSet::new();
        for entry in incidents.iter() {
            let (key, bytes) = entry?;
            let record: StateOnly = Self::decode(&bytes)
                .with_context(|| format!("incident {}", String::from_utf8_lossy(&key)))?;
            if !matches!(record.state, IncidentState::Resolved { .. }) {
                active.insert(key);
            }
        }
        for key in index.iter().keys() {
            let key = key?;
            if !active.contains(&key) {
                index.remove(key)?;
            }
        }
        for key in active {
            index.insert(key, &[])?;
        }
        Ok(())
    }

    /// Writes one incident as it is.
    pub fn put_incident(&self, incident: &Incident) -> anyhow::Result<()> {
        self.apply_decision(&Changes {
            incidents: vec![incident.clone()],
            ..Changes::default()
        })
    }

    /// Read-modify-write of one incident in a transaction: `change` sees the stored
    /// incident (or `None`) and returns what to store (or `None` to leave it). It may run
    /// more than once when another writer races it, so it must be a pure function.
    pub fn update_incident(
        &self,
        id: &IncidentId,
        change: impl Fn(Option<Incident>) -> Option<Incident>,
    ) -> anyhow::Result<Option<Incident>> {
        let incidents = self.tree(TREE_INCIDENTS)?;
        let index = self.tree(TREE_ACTIVE)?;
        let result = (&incidents, &index).transaction(|(tx, tx_index)| {
            let current = match tx.get(id.as_str())? {
                Some(bytes) => Some(Self::decode::<Incident>(&bytes).map_err(abort)?),
                None => None,
            };
            let Some(next) = change(current.clone()) else {
                return Ok(current);
            };
            tx.insert(id.as_str(), Self::encode(&next).map_err(abort)?)?;
            index_incident(tx_index, id.as_str(), next.is_open())?;
            Ok(Some(next))
        });
        unwrap_tx(result).with_context(|| format!("updating incident {id}"))
    }

    /// Appends one record to the audit log.
    pub fn append_audit(&self, record: &AuditRecord) -> anyhow::Result<()> {
        self.apply_decision(&Changes {
            audit: vec![record.clone()],
            ..Changes::default()
        })
    }

    /// The newest `limit` audit records, newest first.
    pub fn audit_log(&self, limit: usize) -> anyhow::Result<Vec<AuditRecord>> {
        let tree = self.tree(TREE_AUDIT)?;
        tree.iter()
            .rev()
            .take(limit)
            .map(|entry| {
                let (_, bytes) = entry?;
                Self::decode(&bytes).context("audit record")
            })
            .collect()
    }

    /// Replies decided but not yet known to be posted, in the order they were decided.
    pub fn pending_replies(&self) -> anyhow::Result<Vec<PendingReply>> {
        let tree = self.tree(TREE_OUTBOX)?;
        let mut pending = Vec::new();
        for entry in tree.iter() {
            let (_, bytes) = entry?;
            pending.push(Self::decode(&bytes).context("pending reply")?);
        }
        Ok(pending)
    }

    /// Forgets a reply once it is on GitHub.
    pub fn reply_posted(&self, reply: &PendingReply) -> anyhow::Result<()> {
        let tree = self.tree(TREE_OUTBOX)?;
        let mut remove = None;
        for entry in tree.iter() {
            let (key, bytes) = entry?;
            let stored: PendingReply = Self::decode(&bytes).context("pending reply")?;
            if stored.key == reply.key {
                remove = Some(key);
                break;
            }
        }
        if let Some(key) = remove {
            tree.remove(key)?;
        }
        Ok(())
    }

    /// Writes a decision's incidents, audit records and replies in one transaction, then
    /// drops the oldest audit records beyond the retention.
    pub fn apply_decision(&self, changes: &Changes) -> anyhow::Result<()> {
        // Writers of audit records go one at a time, so the cached count stays exact.
        let incidents = self.tree(TREE_INCIDENTS)?;
        let index = self.tree(TREE_ACTIVE)?;
        let audit = self.tree(TREE_AUDIT)?;
        let outbox = self.tree(TREE_OUTBOX)?;
        let encoded_incidents = changes
            .incidents
            .iter()
            .map(|i| Ok((i.id.0.clone(), i.is_open(), Self::encode(i)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let encoded_audit = changes
            .audit
            .iter()
            .map(Self::encode)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let encoded_replies = changes
            .replies
            .iter()
            .map(Self::encode)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let commit = || {
            let result = (&incidents, &index, &audit, &outbox).transaction(|(ti, tx, ta, to)| {
                for (id, active, bytes) in &encoded_incidents {
                    ti.insert(id.as_bytes(), bytes.as_slice())?;
                    index_incident(tx, id, *active)?;
                }
                for bytes in &encoded_audit {
                    let seq = ta.generate_id()?;
                    ta.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                }
                for bytes in &encoded_replies {
                    let seq = to.generate_id()?;
                    to.insert(&seq.to_be_bytes(), bytes.as_slice())?;
                }
                Ok::<(), ConflictableTransactionError<anyhow::Error>>(())
            });
            unwrap_tx(result).context("writing a decision")
        };
        if changes.audit.is_empty() {
            return commit();
        }
        // Writers of audit records go one at a time, so the count stays exact.
        self.audit.write(&audit, |before| {
            commit()?;
            // Trimmed after the commit, not in it: a crash in between leaves a few records
            // too many, which the next append (counting afresh in the new process) trims.
            let held = self
                .trim_audit(&audit, before + changes.audit.len())
                .context("dropping the oldest audit records")?;
            Ok((held, ()))
        })
    }

    /// Drops the oldest audit records beyond the retention, from `held`; returns how many
    /// are left.
    fn trim_audit(&self, audit: &sled::Tree, mut held: usize) -> anyhow::Result<usize> {
        while held > self.audit_kept {
            if audit.pop_min()?.is_none() {
                return Ok(0);
            }
            held -= 1;
        }
        Ok(held)
    }

    /// Drops the oldest lifted incidents beyond the newest `kept` lifted ones (by the time
    /// they were lifted), each only once the reconciler has cleaned it up on GitHub
    /// ([`Store::mark_cleaned`]), together with its reconciler cache entries. An active
    /// incident, or a lifted one not yet cleaned up, is never dropped, even past `kept`.
    /// Returns the ids dropped, oldest first.
    pub fn prune_lifted_incidents(&self, kept: usize) -> anyhow::Result<Vec<IncidentId>> {
        let incidents = self.tree(TREE_INCIDENTS)?;
        let mut lifted = Vec::new();
        for entry in incidents.iter() {
            let (key, bytes) = entry?;
            let record: StateOnly = Self::decode(&bytes)
                .with_context(|| format!("incident {}", String::from_utf8_lossy(&key)))?;
            if let IncidentState::Resolved { at, .. } = record.state {
                lifted.push((at, record.opened_at, key));
            }
        }
        if lifted.len() <= kept {
            return Ok(Vec::new());
        }
        // Newest first: the first `kept` stay whatever their state.
        lifted.sort_by(|a, b| b.cmp(a));
        let mut dropped = Vec::new();
        for (_, _, key) in lifted.into_iter().skip(kept).rev() {
            let id = IncidentId::new(String::from_utf8_lossy(&key));
            if self.is_cleaned(&id)? && self.drop_cleaned_incident(&id)? {
                dropped.push(id);
            }
        }
        Ok(dropped)
    }

    /// Removes a lifted, cleaned-up incident and its reconciler cache entries in one
    /// transaction, checking again inside it that it is still both (the gate may have
    /// written it since); false when it was not dropped.
    ///
    /// A decision the gate took on the incident just before (a late finding) may write it
    /// back right after, lifted and not marked cleaned: the next pass cleans it up again,
    /// which finds everything done by its markers and changes nothing on GitHub, and the
    /// pass after drops it again.
    fn drop_cleaned_incident(&self, id: &IncidentId) -> anyhow::Result<bool> {
        let incidents = self.tree(TREE_INCIDENTS)?;
        let index = self.tree(TREE_ACTIVE)?;
        let (issues, cleaned) = self.reconcile_trees()?;
        let issue_keys = self.issue_keys_of(id)?;
        let result =
            (&incidents, &index, &issues, &cleaned).transaction(|(ti, tx, tissues, tcleaned)| {
                let Some(bytes) = ti.get(id.as_str())? else {
                    return Ok(false);
                };
                let record: StateOnly = Self::decode(&bytes).map_err(abort)?;
                if !matches!(record.state, IncidentState::Resolved { .. })
                    || tcleaned.get(id.as_str())?.is_none()
                {
                    return Ok(false);
                }
                ti.remove(id.as_str())?;
                tx.remove(id.as_str())?;
                tcleaned.remove(id.as_str())?;
                for key in &issue_keys {
                    tissues.remove(key)?;
                }
                Ok(true)
            });
        let dropped = unwrap_tx(result).with_context(|| format!("dropping incident {id}"))?;
        if dropped {
            tracing::debug!(incident = %id, "lifted incident dropped by retention");
        }
        Ok(dropped)
    }
}

/// What the index and retention read of an incident record (cheaper than all of it).
#[derive(Deserialize)]
struct StateOnly {
    opened_at: crate::model::Timestamp,
    state: IncidentState,
}

/// Keeps an incident's entry in the index of active incidents in step with its state.
fn index_incident(
    index: &sled::transaction::TransactionalTree,
    id: &str,
    active: bool,
) -> Result<(), sled::transaction::UnabortableTransactionError> {
    if active {
        index.insert(id.as_bytes(), &[])?;
    } else {
        index.remove(id.as_bytes())?;
    }
    Ok(())
}

fn abort(error: anyhow::Error) -> ConflictableTransactionError<anyhow::Error> {
    ConflictableTransactionError::Abort(error)
}

fn unwrap_tx<T>(result: Result<T, TransactionError<anyhow::Error>>) -> anyhow::Result<T> {
    match result {
        Ok(value) => Ok(value),
        Err(TransactionError::Abort(error)) => Err(error),
        Err(TransactionError::Storage(error)) => Err(error.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BuildId, Cause, IncidentState, JobName, RunRef, Scope, Timestamp};

    fn incident(id: &str, at: i64) -> Incident {
        let run = RunRef {
            build_id: BuildId::new("1"),
            url: String::new(),
            started_at: None,
            commits: Default::default(),
            finished_at: None,
        };
        Incident::new(
            IncidentId::new(id),
            JobName::new("j"),
            Timestamp(at),
            Cause::Regression {
                first_red: run.clone(),
                last_green: run,
            },
            vec![Scope {
                repo: RepoName::new("o", "r"),
                branch: "master".into(),
            }],
        )
    }

    fn record(n: i64) -> AuditRecord {
        AuditRecord {
            at: Timestamp(n),
            who: "alice".into(),
            command: "/scalability-status".into(),
            target: "o/r#1".into(),
            outcome: format!("n{n}"),
            reason: String::new(),
        }
    }

    #[test]
    fn incidents_survive_reopen_and_active_ones_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_incident(&incident("a", 1)).unwrap();
            let mut lifted = incident("b", 2);
            lifted.state = IncidentState::Lifted {
                by: "alice".into(),
                reason: "ok".into(),
                at: Timestamp(3),
            };
            store.put_incident(&lifted).unwrap();
            store.put_incident(&incident("c", 4)).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id.0).collect::<Vec<_>>();
        assert_eq!(ids(store.all_incidents().unwrap()), ["c", "b", "a"]);
        assert_eq!(ids(store.active_incidents().unwrap()), ["a", "c"]);
        assert_eq!(
            store
                .incident(&IncidentId::new("b"))
                .unwrap()
                .unwrap()
                .opened_at,
            Timestamp(2)
        );
        assert!(store.incident(&IncidentId::new("x")).unwrap().is_none());
    }

    #[test]
    fn update_is_read_modify_write() {
        let store = Store::temporary().unwrap();
        let id = IncidentId::new("a");
        let none = store.update_incident(&id, |_| None).unwrap();
        assert!(none.is_none());
        store.put_incident(&incident("a", 1)).unwrap();
        let updated = store
            .update_incident(&id, |current| {
                let mut i = current?;
                i.folded_runs.push(RunRef {
                    build_id: BuildId::new("2"),
                    url: String::new(),
                    started_at: None,
                    commits: Default::default(),
                    finished_at: None,
                });
                Some(i)
            })
            .unwrap()
            .unwrap();
        assert_eq!(updated.folded_runs.len(), 1);
        assert_eq!(store.incident(&id).unwrap().unwrap(), updated);
    }

    #[test]
    fn audit_log_is_newest_first_and_limited() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            for n in 0..5 {
                store.append_audit(&record(n)).unwrap();
            }
        }
        let store = Store::open(dir.path()).unwrap();
        store.append_audit(&record(5)).unwrap();
        let log = store.audit_log(3).unwrap();
        let outcomes: Vec<_> = log.iter().map(|r| r.outcome.as_str()).collect();
        assert_eq!(outcomes, ["n5", "n4", "n3"]);
        assert_eq!(store.audit_log(100).unwrap().len(), 6);
    }

    #[test]
    fn a_decision_is_written_whole_and_the_outbox_drains() {
        let store = Store::temporary().unwrap();
        let reply = |k: &str| PendingReply {
            key: k.into(),
            repo: RepoName::new("o", "r"),
            number: PrNumber(1),
            body: format!("hi <!-- {k} -->"),
        };
        store
            .apply_decision(&Changes {
                incidents: vec![incident("a", 1)],
                audit: vec![record(1), record(2)],
                replies: vec![reply("r1"), reply("r2")],
            })
            .unwrap();
        assert_eq!(store.active_incidents().unwrap().len(), 1);
        assert_eq!(store.audit_log(10).unwrap().len(), 2);
        let pending = store.pending_replies().unwrap();
        assert_eq!(pending, vec![reply("r1"), reply("r2")]);
        store.reply_posted(&pending[0]).unwrap();
        assert_eq!(store.pending_replies().unwrap(), vec![reply("r2")]);
    }

    /// An incident that is over: resolved (before provisional lifts existed, a lift).
    fn lifted(id: &str, opened: i64, lifted_at: i64) -> Incident {
        let mut i = incident(id, opened);
        i.state = IncidentState::Resolved {
            how: crate::model::ResolvedHow::Final,
            at: Timestamp(lifted_at),
        };
        i
    }

    /// Version 1 knew no provisional lift: its `lifted` incident reads as resolved
    /// (`final`, or `auto-recovery` when the plugin lifted it), is not indexed as open and
    /// so never re-blocks after an upgrade; its active one stays active.
    #[test]
    fn version_1_incidents_read_as_meant() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = |id: &str, state: &str| {
            format!(
                r#"{{"v":1,"data":{{"id":"{id}","job":"j","opened_at":1,
                "cause":{{"kind":"manual","by":"alice","reason":""}},
                "scopes":[{{"repo":"o/r","branch":"master"}}],"state":{state}}}}}"#
            )
        };
        {
            let store = Store::open(dir.path()).unwrap();
            let tree = store.tree(TREE_INCIDENTS).unwrap();
            let by_hand = r#"{"state":"lifted","by":"alice","reason":"fixed","at":9}"#;
            let auto = r#"{"state":"lifted","by":"scalability-gate","reason":"green","at":8}"#;
            tree.insert("hand", v1("hand", by_hand).as_bytes()).unwrap();
            tree.insert("auto", v1("auto", auto).as_bytes()).unwrap();
            tree.insert("act", v1("act", r#"{"state":"active"}"#).as_bytes())
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let hand = store.incident(&IncidentId::new("hand")).unwrap().unwrap();
        assert_eq!(
            hand.state,
            IncidentState::Resolved {
                how: crate::model::ResolvedHow::Final,
                at: Timestamp(9)
            }
        );
        assert_eq!(hand.lifts.len(), 1);
        assert_eq!(hand.lifts[0].by, "alice");
        assert_eq!(hand.lifts[0].reason, "fixed");
        assert!(hand.reblocks.is_empty());
        let auto = store.incident(&IncidentId::new("auto")).unwrap().unwrap();
        assert_eq!(
            auto.resolved_how(),
            Some(crate::model::ResolvedHow::AutoRecovery)
        );
        assert_eq!(ids(store.open_incidents().unwrap()), ["act"]);
        // Written again, it is version 2 and reads the same.
        store.put_incident(&hand).unwrap();
        assert_eq!(
            store.incident(&IncidentId::new("hand")).unwrap().unwrap(),
            hand
        );
    }

    fn ids(incidents: Vec<Incident>) -> Vec<String> {
        incidents.into_iter().map(|i| i.id.0).collect()
    }

    fn outcomes(store: &Store) -> Vec<String> {
        let log = store.audit_log(usize::MAX).unwrap();
        log.into_iter().map(|r| r.outcome).collect()
    }

    #[test]
    fn the_audit_log_keeps_the_newest_records_within_its_retention_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap().with_audit_retention(3);
            for n in 0..4 {
                store.append_audit(&record(n)).unwrap();
            }
            assert_eq!(outcomes(&store), ["n3", "n2", "n1"]);
            // Several records in one decision, beside an incident.
            store
                .apply_decision(&Changes {
                    incidents: vec![incident("a", 1)],
                    audit: vec![record(4), record(5)],
                    replies: vec![],
                })
                .unwrap();
            assert_eq!(outcomes(&store), ["n5", "n4", "n3"]);
            // A decision without audit records leaves the log alone.
            store.put_incident(&incident("b", 2)).unwrap();
            assert_eq!(outcomes(&store), ["n5", "n4", "n3"]);
        }
        {
            // A new handle counts once, then keeps the same bound.
            let store = Store::open(dir.path()).unwrap().with_audit_retention(3);
            assert_eq!(outcomes(&store), ["n5", "n4", "n3"]);
            store.append_audit(&record(6)).unwrap();
            assert_eq!(outcomes(&store), ["n6", "n5", "n4"]);
        }
        // A smaller retention after a restart: the next append trims down to it.
        let store = Store::open(dir.path()).unwrap().with_audit_retention(2);
        store.append_audit(&record(7)).unwrap();
        assert_eq!(outcomes(&store), ["n7", "n6"]);
        for n in 8..20 {
            store.append_audit(&record(n)).unwrap();
        }
        assert_eq!(outcomes(&store), ["n19", "n18"]);
        assert_eq!(store.tree(TREE_AUDIT).unwrap().len(), 2);
    }

    #[test]
    fn the_active_index_follows_every_incident_write_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            store.put_incident(&incident("a", 1)).unwrap();
            store.put_incident(&incident("b", 2)).unwrap();
            store.put_incident(&incident("c", 3)).unwrap();
            store.put_incident(&lifted("d", 0, 5)).unwrap();
            assert_eq!(ids(store.active_incidents().unwrap()), ["a", "b", "c"]);
            // Lifted through a decision, and through a read-modify-write.
            store.put_incident(&lifted("b", 2, 6)).unwrap();
            store
                .update_incident(&IncidentId::new("a"), |i| {
                    let mut i = i?;
                    i.state = lifted("a", 1, 7).state;
                    Some(i)
                })
                .unwrap();
            assert_eq!(ids(store.active_incidents().unwrap()), ["c"]);
            // Active again through a read-modify-write.
            store
                .update_incident(&IncidentId::new("d"), |i| {
                    let mut i = i?;
                    i.state = IncidentState::Active;
                    Some(i)
                })
                .unwrap();
            assert_eq!(ids(store.active_incidents().unwrap()), ["d", "c"]);
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(ids(store.active_incidents().unwrap()), ["d", "c"]);
        let index: Vec<_> = store
            .tree(TREE_ACTIVE)
            .unwrap()
            .iter()
            .keys()
            .map(|k| String::from_utf8(k.unwrap().to_vec()).unwrap())
            .collect();
        assert_eq!(index, ["c", "d"]);
    }

    #[test]
    fn a_store_without_the_active_index_or_with_a_drifted_one_is_indexed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What an older binary wrote: incidents only, one of them in the old format.
            let db = sled::open(dir.path()).unwrap();
            let tree = db.open_tree(TREE_INCIDENTS).unwrap();
            for i in [incident("a", 1), lifted("b", 2, 3), incident("c", 4)] {
                tree.insert(i.id.as_str(), Store::encode(&i).unwrap())
                    .unwrap();
            }
            let old = br#"{"v":1,"data":{"id":"j-1","job":"j","opened_at":5,
                "cause":{"kind":"manual","by":"alice","reason":"x"},
                "scopes":[{"repo":"o/r","branch":"master"}],"state":{"state":"active"}}}"#;
            tree.insert("j-1", &old[..]).unwrap();
            // And an index that says the wrong thing about two of them.
            let index = db.open_tree(TREE_ACTIVE).unwrap();
            index.insert("b", &[]).unwrap();
            index.insert("gone", &[]).unwrap();
            db.flush().unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(ids(store.active_incidents().unwrap()), ["a", "c", "j-1"]);
        assert!(!store.tree(TREE_ACTIVE).unwrap().contains_key("b").unwrap());
        assert!(
            !store
                .tree(TREE_ACTIVE)
                .unwrap()
                .contains_key("gone")
                .unwrap()
        );
    }

    #[test]
    fn pruning_drops_only_old_lifted_cleaned_incidents_with_their_cache() {
        let store = Store::temporary().unwrap();
        let scope = Scope {
            repo: RepoName::new("o", "r"),
            branch: "master".into(),
        };
        // Oldest lift first: "old" (cleaned), "stuck" (never cleaned), "mid" (cleaned),
        // "new" (cleaned); "act" is active and the oldest of all.
        store.put_incident(&incident("act", 0)).unwrap();
        store.put_incident(&lifted("old", 1, 10)).unwrap();
        store.put_incident(&lifted("stuck", 2, 11)).unwrap();
        store.put_incident(&lifted("mid", 3, 12)).unwrap();
        store.put_incident(&lifted("new", 4, 13)).unwrap();
        // "old2" shares a prefix with "old": its cache entries must stay.
        store.put_incident(&lifted("old2", 5, 14)).unwrap();
        for (n, id) in ["act", "old", "stuck", "mid", "new", "old2"]
            .iter()
            .enumerate()
        {
            let id = IncidentId::new(*id);
            store
                .remember_issue(&id, &scope, PrNumber(n as u64))
                .unwrap();
        }
        for id in ["old", "mid", "new", "old2"] {
            store
                .mark_cleaned(&IncidentId::new(id), Timestamp(20))
                .unwrap();
        }
        // Within the retention: nothing goes.
        assert!(store.prune_lifted_incidents(5).unwrap().is_empty());
        assert_eq!(store.all_incidents().unwrap().len(), 6);

        let dropped = store.prune_lifted_incidents(2).unwrap();
        assert_eq!(
            dropped,
            [IncidentId::new("old"), IncidentId::new("mid")],
            "the oldest cleaned, beyond the newest two lifted"
        );
        assert_eq!(
            ids(store.all_incidents().unwrap()),
            ["old2", "new", "stuck", "act"]
        );
        assert_eq!(ids(store.active_incidents().unwrap()), ["act"]);
        for gone in ["old", "mid"] {
            let id = IncidentId::new(gone);
            assert!(store.incident(&id).unwrap().is_none());
            assert!(!store.is_cleaned(&id).unwrap());
            assert_eq!(store.issue_of(&id, &scope).unwrap(), None);
        }
        for kept in ["act", "stuck", "new", "old2"] {
            let id = IncidentId::new(kept);
            assert!(store.issue_of(&id, &scope).unwrap().is_some(), "{kept}");
        }
        // The uncleaned and the active stay even with a retention of one.
        let dropped = store.prune_lifted_incidents(1).unwrap();
        assert_eq!(dropped, [IncidentId::new("new")]);
        assert_eq!(
            ids(store.all_incidents().unwrap()),
            ["old2", "stuck", "act"]
        );
        // Once cleaned, the stuck one goes too.
        store
            .mark_cleaned(&IncidentId::new("stuck"), Timestamp(30))
            .unwrap();
        assert_eq!(
            store.prune_lifted_incidents(1).unwrap(),
            [IncidentId::new("stuck")]
        );
        assert_eq!(ids(store.all_incidents().unwrap()), ["old2", "act"]);
    }

    #[test]
    fn an_old_format_incident_still_loads() {
        // Version 1 as first written: optional lists absent.
        let store = Store::temporary().unwrap();
        let bytes = br#"{"v":1,"data":{"id":"j-1","job":"j","opened_at":5,
            "cause":{"kind":"manual","by":"alice","reason":"x"},
            "scopes":[{"repo":"o/r","branch":"master"}],"state":{"state":"active"}}}"#;
        store
            .tree(TREE_INCIDENTS)
            .unwrap()
            .insert("j-1", &bytes[..])
            .unwrap();
        let loaded = store.incident(&IncidentId::new("j-1")).unwrap().unwrap();
        assert!(loaded.is_active());
        assert!(loaded.exemptions.is_empty());
    }
}
