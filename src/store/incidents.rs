//! Incidents, the audit log and the reply outbox in the store.
//!
//! - `incidents`: one versioned record per incident, keyed by its id. The gate's decisions
//!   are written here before anything is done on GitHub; the reconciler reads them.
//! - `audit`: append-only, keyed by a monotonic id (big-endian, so sled's order is time
//!   order): who did what, when, and why.
//! - `outbox`: replies decided but not yet known to be on GitHub. The reconciler posts each
//!   one (it carries a hidden marker, so a reply already posted before a crash is found and
//!   not posted again) and then removes it.
//!
//! [`Store::apply_decision`] writes all three in one sled transaction: a decision is
//! durable as a whole or not at all.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::Store;
use crate::model::{AuditRecord, Incident, IncidentId, PrNumber, RepoName};

const TREE_INCIDENTS: &str = "incidents";
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

    /// The incidents that still block, oldest first.
    pub fn active_incidents(&self) -> anyhow::Result<Vec<Incident>> {
        let mut active: Vec<Incident> = self
            .all_incidents()?
            .into_iter()
            .filter(Incident::is_active)
            .collect();
        active.reverse();
        Ok(active)
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
        let tree = self.tree(TREE_INCIDENTS)?;
        let result = tree.transaction(|tx| {
            let current = match tx.get(id.as_str())? {
                Some(bytes) => Some(Self::decode::<Incident>(&bytes).map_err(abort)?),
                None => None,
            };
            let Some(next) = change(current.clone()) else {
                return Ok(current);
            };
            tx.insert(id.as_str(), Self::encode(&next).map_err(abort)?)?;
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

    /// Writes a decision's incidents, audit records and replies in one transaction.
    pub fn apply_decision(&self, changes: &Changes) -> anyhow::Result<()> {
        let incidents = self.tree(TREE_INCIDENTS)?;
        let audit = self.tree(TREE_AUDIT)?;
        let outbox = self.tree(TREE_OUTBOX)?;
        let encoded_incidents = changes
            .incidents
            .iter()
            .map(|i| Ok((i.id.0.clone(), Self::encode(i)?)))
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
        let result = (&incidents, &audit, &outbox).transaction(|(ti, ta, to)| {
            for (id, bytes) in &encoded_incidents {
                ti.insert(id.as_bytes(), bytes.as_slice())?;
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
    }
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
        };
        Incident {
            id: IncidentId::new(id),
            job: JobName::new("j"),
            opened_at: Timestamp(at),
            cause: Cause::Regression {
                first_red: run.clone(),
                last_green: run,
            },
            scopes: vec![Scope {
                repo: RepoName::new("o", "r"),
                branch: "master".into(),
            }],
            state: IncidentState::Active,
            folded_runs: vec![],
            recovered_by: None,
            exemptions: vec![],
            breaches: vec![],
            searches: Vec::new(),
            reverts: Vec::new(),
            reruns: Vec::new(),
            escalations: Vec::new(),
            suspects: vec![],
        }
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
