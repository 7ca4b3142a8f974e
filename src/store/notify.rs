//! What the announcer (`notify`) has sent: one record per incident and transition key,
//! and the time announcements started from (transitions before it are never sent, so
//! turning Slack on does not replay the history).

use anyhow::Context;

use super::Store;
use crate::model::{IncidentId, Timestamp};

const TREE_NOTIFY: &str = "notify_sent";
const SINCE_KEY: &str = "\u{0}since";

fn key(incident: &IncidentId, transition: &str) -> String {
    format!("{incident}|{transition}")
}

impl Store {
    /// The time announcements start from: `now` the first time it is asked (kept), the
    /// kept time after.
    pub fn announce_since(&self, now: Timestamp) -> anyhow::Result<Timestamp> {
        let tree = self.tree(TREE_NOTIFY)?;
        if let Some(bytes) = tree.get(SINCE_KEY)? {
            return Self::decode(&bytes).context("announcements' start");
        }
        tree.insert(SINCE_KEY, Self::encode(&now)?)?;
        Ok(now)
    }

    /// Whether transition `transition` of `incident` was announced (or given up on).
    pub fn announced(&self, incident: &IncidentId, transition: &str) -> anyhow::Result<bool> {
        Ok(self
            .tree(TREE_NOTIFY)?
            .contains_key(key(incident, transition))?)
    }

    /// Records that transition `transition` of `incident` is done with: sent, or given up.
    pub fn mark_announced(
        &self,
        incident: &IncidentId,
        transition: &str,
        at: Timestamp,
    ) -> anyhow::Result<()> {
        self.tree(TREE_NOTIFY)?
            .insert(key(incident, transition), Self::encode(&at)?)?;
        Ok(())
    }

    /// Forgets the records of incidents `keep` rejects (incidents pruned from the store).
    pub fn forget_announced(&self, keep: impl Fn(&IncidentId) -> bool) -> anyhow::Result<usize> {
        let tree = self.tree(TREE_NOTIFY)?;
        let mut forgotten = 0;
        for k in tree.iter().keys() {
            let k = k?;
            let text = String::from_utf8_lossy(&k);
            let Some((incident, _)) = text.rsplit_once('|') else {
                continue;
            };
            if !keep(&IncidentId::new(incident)) {
                tree.remove(&k)?;
                forgotten += 1;
            }
        }
        Ok(forgotten)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_reopen_and_the_start_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let id = IncidentId::new("job-1");
        {
            let store = Store::open(dir.path()).unwrap();
            assert_eq!(store.announce_since(Timestamp(10)).unwrap(), Timestamp(10));
            assert!(!store.announced(&id, "block").unwrap());
            store.mark_announced(&id, "block", Timestamp(11)).unwrap();
            store
                .mark_announced(&IncidentId::new("gone"), "block", Timestamp(11))
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.announce_since(Timestamp(99)).unwrap(), Timestamp(10));
        assert!(store.announced(&id, "block").unwrap());
        assert!(!store.announced(&id, "lift-0").unwrap());
        assert_eq!(store.forget_announced(|i| i == &id).unwrap(), 1);
        assert!(store.announced(&id, "block").unwrap());
        assert!(!store.announced(&IncidentId::new("gone"), "block").unwrap());
        assert_eq!(store.announce_since(Timestamp(99)).unwrap(), Timestamp(10));
    }
}
