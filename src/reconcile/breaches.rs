//! The breach resync: merges into a blocked scope that no webhook told of (a delivery
//! lost, or the plugin down when it came). At start-up and on every periodic resync, one
//! search per blocked scope, `is:pr is:merged repo:R base:B merged:>=<block>`, from the
//! earliest start of the current block among the active incidents covering it; each PR
//! found that an incident does not know yet is read (when and by whom it was merged) and
//! reported to the gate as [`Finding::Breach`], which records it once, exactly as the
//! webhook path does (an exempt PR, or a breach already recorded, changes nothing).

use std::collections::BTreeMap;

use super::{Reconciler, Report};
use crate::core::gate::Finding;
use crate::model::{Incident, Login, PrNumber, Scope, Timestamp};

/// When an incident's current block began: its last re-block, else its opening. Merges
/// while it was lifted were allowed.
fn blocked_since(incident: &Incident) -> Timestamp {
    incident
        .reblocks
        .last()
        .map_or(incident.opened_at, |r| r.at)
}

/// The search for merges into `scope` at or after `since`.
pub fn merged_since_query(scope: &Scope, since: Timestamp) -> String {
    format!(
        "is:pr is:merged repo:{} base:{} merged:>={}",
        scope.repo,
        scope.branch,
        since.to_rfc3339()
    )
}

impl Reconciler {
    /// One breach resync over the active incidents; failures go to `report` (the next
    /// resync searches again).
    pub async fn breach_resync(&self, report: &mut Report) {
        if self.findings.is_none() {
            return;
        }
        let incidents = match self.store.active_incidents() {
            Ok(incidents) => incidents,
            Err(e) => return report.fail("reading incidents for the breach resync", e),
        };
        let mut since: BTreeMap<&Scope, Timestamp> = BTreeMap::new();
        for incident in &incidents {
            let start = blocked_since(incident);
            for scope in &incident.scopes {
                since
                    .entry(scope)
                    .and_modify(|t| *t = (*t).min(start))
                    .or_insert(start);
            }
        }
        for (scope, from) in since {
            if let Err(e) = self.breaches_on(scope, from, &incidents).await {
                report.fail(format!("breach resync of {scope}"), e);
            }
        }
    }

    /// Searches `scope` for merges since `from` and reports those not recorded yet.
    async fn breaches_on(
        &self,
        scope: &Scope,
        from: Timestamp,
        incidents: &[Incident],
    ) -> anyhow::Result<()> {
        let found = self.client.search(&merged_since_query(scope, from)).await?;
        if found.incomplete {
            tracing::warn!(scope = %scope, "breach search incomplete; the next resync searches again");
        }
        let covering: Vec<&Incident> = incidents
            .iter()
            .filter(|i| i.scopes.contains(scope))
            .collect();
        for item in found.items.iter().filter(|i| i.is_pull_request()) {
            let pr = PrNumber(item.number);
            let unknown: Vec<&&Incident> = covering
                .iter()
                .filter(|i| !i.is_exempt(&scope.repo, pr))
                .filter(|i| !i.breaches.iter().any(|b| &b.scope == scope && b.pr == pr))
                .collect();
            if unknown.is_empty() {
                continue;
            }
            // The search says merged since the day; the PR says when, and by whom.
            let Some(detail) = self.client.get_pull_detail(&scope.repo, pr).await? else {
                continue;
            };
            let Some(merged_at) = detail.merged() else {
                continue;
            };
            if detail.pull.base.branch != scope.branch {
                continue;
            }
            let merged_by = detail.merged_by.as_ref().map(|u| Login::new(&u.login));
            for incident in unknown
                .into_iter()
                .filter(|i| merged_at >= blocked_since(i))
            {
                tracing::warn!(incident = %incident.id, scope = %scope, pr = pr.0,
                    "merge into a blocked scope found by the resync");
                self.record(Finding::Breach {
                    incident: incident.id.clone(),
                    scope: scope.clone(),
                    pr,
                    merged_by: merged_by.clone(),
                    at: merged_at,
                })
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RepoName;

    #[test]
    fn the_search_names_the_scope_and_the_block_time() {
        let scope = Scope {
            repo: RepoName::new("kubernetes", "kubernetes"),
            branch: "release-1.34".into(),
        };
        assert_eq!(
            merged_since_query(&scope, Timestamp(1_790_000_000)),
            "is:pr is:merged repo:kubernetes/kubernetes base:release-1.34 merged:>=2026-09-21T14:13:20Z"
        );
    }
}
