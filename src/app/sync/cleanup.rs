//! Deletions (PROTOCOL §9.9) and orphan space-scope cleanup (§9.10). Errors
//! here are logged and counted, never fatal to the cycle.

use std::collections::HashSet;

use tracing::{Instrument, info, info_span, warn};

use super::{CycleObserver, Phase, SyncCycle, cycle::SpaceDiff, report::CycleReport};
use crate::{
    domain::{
        discovery::Discovery,
        keys::{PartialKey, SpaceScopeId},
    },
    ports::{ConfluenceSource, KnowledgeBase, knowledge_base::PAGE_SIZE},
};

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// Deletes the content of every `deletedFiles` key of every space.
    pub(super) async fn delete_vanished(
        &self,
        spaces: &[SpaceDiff<'_>],
        report: &mut CycleReport,
        observer: &dyn CycleObserver,
    ) {
        let keys: Vec<String> = spaces
            .iter()
            .flat_map(|space| {
                space
                    .diff
                    .deleted
                    .iter()
                    .map(move |rel| format!("{}/{rel}", space.partial_key))
            })
            .collect();
        if keys.is_empty() {
            return;
        }
        observer.phase(&self.tenant.name, Phase::Deleting);
        let tenant = self.tenant.name.as_str();
        let stored = match self.knowledge_base.content_by_keys(&keys).await {
            Ok(stored) => stored,
            Err(err) => {
                warn!(tenant, keys = keys.len(), error = %err, "could not look up content to delete");
                return;
            }
        };
        if stored.is_empty() {
            warn!(
                tenant,
                keys = keys.len(),
                "no stored content found for the deleted keys"
            );
            return;
        }
        let ids: Vec<String> = stored.into_iter().map(|content| content.id).collect();
        let deletion = self.knowledge_base.delete_content(&ids).await;
        report.deleted += deletion.confirmed.len();
        report.delete_failures += ids.len() - deletion.confirmed.len().min(ids.len());
        if let Some(err) = deletion.error {
            warn!(tenant, requested = ids.len(), confirmed = deletion.confirmed.len(), error = %err, "deletion stopped early");
        }
        info!(
            tenant,
            deleted = deletion.confirmed.len(),
            "deleted vanished content"
        );
    }

    /// Removes the scopes (and content) of spaces that no longer have any
    /// discovered item. Skipped entirely when nothing was discovered: an
    /// empty discovery is more likely an outage than an empty wiki.
    pub(super) async fn clean_up_orphans(&self, discovery: &Discovery, report: &mut CycleReport) {
        let tenant = self.tenant.name.as_str();
        let discovered: HashSet<&str> = discovery
            .pages
            .iter()
            .map(|page| page.space.key.as_str())
            .chain(
                discovery
                    .attachments
                    .iter()
                    .map(|item| item.space.key.as_str()),
            )
            .collect();
        if discovered.is_empty() {
            warn!(
                tenant,
                "no space discovered; skipping orphan space-scope cleanup"
            );
            return;
        }
        let children = match self
            .knowledge_base
            .child_scopes(&self.tenant.root_scope_id)
            .await
        {
            Ok(children) => children,
            Err(err) => {
                warn!(tenant, error = %err, "could not list space scopes; skipping orphan cleanup");
                return;
            }
        };
        for child in children {
            let Some(space) = child.external_id.as_deref().and_then(SpaceScopeId::parse) else {
                warn!(tenant, scope_id = %child.id, "child scope without a space mark; left alone");
                continue;
            };
            if space.tenant != tenant {
                warn!(tenant, scope_id = %child.id, owner = %space.tenant, "child scope marked by another tenant; left alone");
                continue;
            }
            if discovered.contains(space.space_key.as_str()) {
                continue;
            }
            let partial_key = PartialKey::new(
                self.tenant.key_format,
                tenant,
                &space.space_id,
                &space.space_key,
            );
            let files = self
                .delete_by_prefix(&partial_key.key_prefix())
                .instrument(info_span!("space", space = %space.space_key))
                .await;
            report.orphan_files_removed += files;
            match self.knowledge_base.delete_scope(&child.id, false).await {
                Ok(outcome) if outcome.failed.is_empty() => {
                    report.orphan_scopes_removed += 1;
                    info!(tenant, scope_id = %child.id, space_key = %space.space_key, files, "removed orphan space scope");
                }
                Ok(outcome) => {
                    report.orphan_scope_failures += 1;
                    warn!(tenant, scope_id = %child.id, reasons = ?outcome.failed, "orphan space scope not deleted");
                }
                Err(err) => {
                    report.orphan_scope_failures += 1;
                    warn!(tenant, scope_id = %child.id, error = %err, "orphan space scope not deleted");
                }
            }
        }
    }

    /// Deletes all content under `prefix`, re-reading the first page after
    /// each round. Bounded (ours, §7.4): stops when a round deletes nothing
    /// or after `ceil(count / 100) + 3` rounds. Returns confirmed deletions.
    pub(super) async fn delete_by_prefix(&self, prefix: &str) -> usize {
        let tenant = self.tenant.name.as_str();
        let kb = &self.knowledge_base;
        let initial = match kb.count_with_key_prefix(prefix).await {
            Ok(count) => count as usize,
            Err(err) => {
                warn!(tenant, prefix, error = %err, "could not count content to delete");
                return 0;
            }
        };
        let rounds = initial.div_ceil(PAGE_SIZE) + 3;
        let mut deleted = 0;
        for _ in 0..rounds {
            let page = match kb.content_with_key_prefix(prefix).await {
                Ok(page) if page.is_empty() => break,
                Ok(page) => page,
                Err(err) => {
                    warn!(tenant, prefix, error = %err, "could not list content to delete");
                    break;
                }
            };
            let ids: Vec<String> = page.into_iter().map(|content| content.id).collect();
            let deletion = kb.delete_content(&ids).await;
            deleted += deletion.confirmed.len();
            if let Some(err) = &deletion.error {
                warn!(tenant, prefix, error = %err, "deletion by prefix stopped early");
            }
            if deletion.confirmed.is_empty() {
                break;
            }
        }
        deleted
    }
}
