//! The reconciler's cache in the store: which issue GitHub gave each (incident, scope)
//! blocker or tracking issue, and which lifted incidents are cleaned up on GitHub.
//!
//! A cache only: the truth is GitHub's (every issue carries a hidden marker the reconciler
//! looks for before creating anything), so losing this tree duplicates nothing.

use anyhow::Context;

use super::Store;
use crate::model::{IncidentId, PrNumber, RepoName, Scope, Timestamp};

const TREE_ISSUES: &str = "reconcile_issues";
const TREE_CLEANED: &str = "reconcile_cleaned";

fn issue_key(incident: &IncidentId, scope: &Scope) -> String {
    format!("{incident}|{}|{}", scope.repo, scope.branch)
}

impl Store {
    /// The issue number remembered for an incident's scope.
    pub fn issue_of(
        &self,
        incident: &IncidentId,
        scope: &Scope,
    ) -> anyhow::Result<Option<PrNumber>> {
        let tree = self.tree(TREE_ISSUES)?;
        tree.get(issue_key(incident, scope))?
            .map(|bytes| Self::decode(&bytes).context("remembered issue number"))
            .transpose()
    }

    /// Remembers the issue GitHub gave an incident's scope.
    pub fn remember_issue(
        &self,
        incident: &IncidentId,
        scope: &Scope,
        number: PrNumber,
    ) -> anyhow::Result<()> {
        let tree = self.tree(TREE_ISSUES)?;
        tree.insert(issue_key(incident, scope), Self::encode(&number)?)?;
        Ok(())
    }

    /// The incident whose blocker or tracking issue is `repo#number`, if remembered.
    pub fn incident_of_issue(
        &self,
        repo: &RepoName,
        number: PrNumber,
    ) -> anyhow::Result<Option<IncidentId>> {
        let tree = self.tree(TREE_ISSUES)?;
        for entry in tree.iter() {
            let (key, bytes) = entry?;
            let stored: PrNumber = Self::decode(&bytes).context("remembered issue number")?;
            let key = String::from_utf8_lossy(&key);
            let mut parts = key.splitn(3, '|');
            let (Some(id), Some(key_repo)) = (parts.next(), parts.next()) else {
                continue;
            };
            if stored == number && key_repo == repo.to_string() {
                return Ok(Some(IncidentId::new(id)));
            }
        }
        Ok(None)
    }

    /// Records that a lifted incident is cleaned up on GitHub (labels gone, issues closed).
    pub fn mark_cleaned(&self, incident: &IncidentId, at: Timestamp) -> anyhow::Result<()> {
        let tree = self.tree(TREE_CLEANED)?;
        tree.insert(incident.as_str(), Self::encode(&at)?)?;
        Ok(())
    }

    /// Forgets that an incident was cleaned up: it was re-blocked, and its next lift
    /// needs cleaning up again.
    pub fn unmark_cleaned(&self, incident: &IncidentId) -> anyhow::Result<()> {
        self.tree(TREE_CLEANED)?.remove(incident.as_str())?;
        Ok(())
    }

    /// When a lifted incident was (last) cleaned up on GitHub, if it was.
    pub fn cleaned_at(&self, incident: &IncidentId) -> anyhow::Result<Option<Timestamp>> {
        self.tree(TREE_CLEANED)?
            .get(incident.as_str())?
            .map(|bytes| Self::decode(&bytes).context("cleanup time"))
            .transpose()
    }

    /// Whether a lifted incident is cleaned up on GitHub.
    pub fn is_cleaned(&self, incident: &IncidentId) -> anyhow::Result<bool> {
        Ok(self.tree(TREE_CLEANED)?.contains_key(incident.as_str())?)
    }

    /// The two cache trees: issue numbers, cleaned-up incidents.
    pub(super) fn reconcile_trees(&self) -> anyhow::Result<(sled::Tree, sled::Tree)> {
        Ok((self.tree(TREE_ISSUES)?, self.tree(TREE_CLEANED)?))
    }

    /// The keys of the issue numbers remembered for `incident` (any scope).
    pub(super) fn issue_keys_of(&self, incident: &IncidentId) -> anyhow::Result<Vec<sled::IVec>> {
        let prefix = format!("{incident}|");
        self.tree(TREE_ISSUES)?
            .scan_prefix(prefix.as_bytes())
            .keys()
            .map(|key| Ok(key?))
            .collect()
    }

    /// Forgets the whole reconciler cache (what a crash between "created on GitHub" and
    /// "remembered here" looks like; tests use it).
    pub fn forget_reconcile_cache(&self) -> anyhow::Result<()> {
        self.tree(TREE_ISSUES)?.clear()?;
        self.tree(TREE_CLEANED)?.clear()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_issues_per_incident_scope_and_forgets_on_demand() {
        let store = Store::temporary().unwrap();
        let id = IncidentId::new("job-1");
        let scope = Scope {
            repo: RepoName::parse("o/r").unwrap(),
            branch: "master".into(),
        };
        assert_eq!(store.issue_of(&id, &scope).unwrap(), None);
        store.remember_issue(&id, &scope, PrNumber(7)).unwrap();
        assert_eq!(store.issue_of(&id, &scope).unwrap(), Some(PrNumber(7)));
        assert_eq!(
            store.incident_of_issue(&scope.repo, PrNumber(7)).unwrap(),
            Some(id.clone())
        );
        assert_eq!(
            store.incident_of_issue(&scope.repo, PrNumber(8)).unwrap(),
            None
        );
        store.mark_cleaned(&id, Timestamp(1)).unwrap();
        assert!(store.is_cleaned(&id).unwrap());
        assert_eq!(store.cleaned_at(&id).unwrap(), Some(Timestamp(1)));
        store.forget_reconcile_cache().unwrap();
        assert_eq!(store.issue_of(&id, &scope).unwrap(), None);
        assert!(!store.is_cleaned(&id).unwrap());
    }
}
