//! Everything a cycle removes, after ingestion: diff deletions (PROTOCOL
//! §9.9), orphan space scopes (§9.10), old-key copies left by a key-format
//! change or a tenant rename (ours, §3.7), and the hold on bulk deletions
//! (ours, §9.5). Apart from recording the held set, errors here are logged
//! and counted, never fatal to the cycle.

use std::collections::{BTreeMap, HashSet};

use tracing::{Instrument, info, info_span, warn};

use super::{CycleObserver, Phase, SyncCycle, cycle::CycleError, report::CycleReport};
use crate::{
    domain::{
        discovery::Discovery,
        holds::{Deletions, HoldDecision, HoldInput, ScopeRemoval},
        keys::{self, KeyFormat, PartialKey, SpaceScopeId},
    },
    ports::{
        ConfluenceSource, KnowledgeBase,
        knowledge_base::{PAGE_SIZE, StoredContent},
    },
};

/// A diffed space as the deletion step sees it.
#[derive(Debug, Clone)]
pub(super) struct SpaceView {
    pub partial_key: PartialKey,
    pub space_id: String,
    pub space_key: String,
    /// Relative keys the file-diff reported deleted.
    pub deleted: Vec<String>,
    /// Relative keys submitted to the file-diff (the discovered items).
    pub submitted: HashSet<String>,
}

/// A space scope orphan cleanup would remove.
#[derive(Debug, Clone)]
pub(super) struct Orphan {
    pub scope_id: String,
    pub space_id: String,
    pub space_key: String,
    pub partial_key: PartialKey,
}

/// What the deletion step found to do, before the hold is applied.
#[derive(Debug, Default)]
pub(super) struct PendingDeletions {
    /// Diff deletions, old-key copies of vanished items, orphan scopes.
    pub wanted: Deletions,
    /// The space key of every key in `wanted`, for the log line per space.
    pub key_spaces: BTreeMap<String, String>,
    /// Old-key copies whose item is stored under its current key too:
    /// duplicates, removed at once (no content is lost by removing them).
    pub replaced: Vec<StoredContent>,
    /// Old-key copies left for now because their item is discovered but
    /// not (yet) stored under the current key.
    pub copies_kept: usize,
    /// Orphan scopes by scope id.
    pub orphans: BTreeMap<String, Orphan>,
    /// Scope ids of the diffed spaces.
    pub live_scopes: Vec<String>,
    /// Content items in the orphan scopes.
    pub orphan_items: u64,
    /// Whether the scopes were searched for old-key copies, and if so
    /// whether every search completed and found none.
    pub searched: Option<bool>,
}

impl PendingDeletions {
    fn note_search(&mut self, clean: bool) {
        self.searched = Some(self.searched.unwrap_or(true) && clean);
    }
}

/// Space keys with at least one discovered item.
pub(super) fn discovered_space_keys(discovery: &Discovery) -> HashSet<&str> {
    discovery
        .pages
        .iter()
        .map(|page| page.space.key.as_str())
        .chain(
            discovery
                .attachments
                .iter()
                .map(|item| item.space.key.as_str()),
        )
        .collect()
}

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// The key layout old-key copies are searched against: the format and,
    /// for the current format, the tenant name.
    fn key_layout(&self) -> String {
        match self.tenant.key_format {
            KeyFormat::Current => format!("current:{}", self.tenant.name),
            KeyFormat::V1 => "v1".to_owned(),
        }
    }

    /// Finds what this cycle would remove. Read-only (the plan uses it too).
    ///
    /// Orphan scopes and old-key copies are only looked for when something
    /// was discovered: an empty discovery is more likely an outage than an
    /// empty wiki. The diffed spaces' scopes are searched for old-key
    /// copies only when the key layout changed since the last search, or
    /// that search found copies or did not complete.
    pub(super) async fn pending_deletions(
        &self,
        views: &[SpaceView],
        discovered: &HashSet<&str>,
    ) -> PendingDeletions {
        let tenant = self.tenant.name.as_str();
        let search = self.layout.needs_search(&self.key_layout());
        let mut pending = PendingDeletions::default();
        for view in views {
            for rel in &view.deleted {
                let key = format!("{}/{rel}", view.partial_key);
                pending
                    .key_spaces
                    .insert(key.clone(), view.space_key.clone());
                pending.wanted.keys.insert(key);
            }
        }
        if discovered.is_empty() {
            warn!(
                tenant,
                "no space discovered; skipping orphan space-scope cleanup"
            );
            return pending;
        }
        let children = match self
            .knowledge_base
            .child_scopes(&self.tenant.root_scope_id)
            .await
        {
            Ok(children) => children,
            Err(err) => {
                warn!(tenant, error = %err, "could not list space scopes; skipping orphan cleanup");
                return pending;
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
            if let Some(view) = views.iter().find(|view| view.space_key == space.space_key) {
                pending.live_scopes.push(child.id.clone());
                if search {
                    self.find_old_copies(&child.id, view, &mut pending)
                        .instrument(info_span!("space", space = %view.space_key))
                        .await;
                }
                continue;
            }
            if discovered.contains(space.space_key.as_str()) {
                continue;
            }
            // The scope's own content decides the weight of removing it.
            let items = match self.knowledge_base.count_in_scope(&child.id, None).await {
                Ok(items) => items,
                Err(err) => {
                    warn!(tenant, scope_id = %child.id, error = %err, "could not count an orphan scope's content; left for the next cycle");
                    continue;
                }
            };
            pending.orphan_items += items;
            let partial_key = PartialKey::new(
                self.tenant.key_format,
                tenant,
                &space.space_id,
                &space.space_key,
            );
            pending.wanted.add_scope(ScopeRemoval {
                scope_id: child.id.clone(),
                space_key: space.space_key.clone(),
                items,
            });
            pending.orphans.insert(
                child.id.clone(),
                Orphan {
                    scope_id: child.id,
                    space_id: space.space_id,
                    space_key: space.space_key,
                    partial_key,
                },
            );
        }
        if search && pending.searched.is_none() {
            // No diffed space had a scope: nothing to search, nothing found.
            pending.note_search(true);
        }
        pending
    }

    /// Content items in this tenant's space scopes, the base of the hold's
    /// 10 % share; scopes whose count fails are left out (a smaller base
    /// holds more, the safe direction).
    async fn stored_items(&self, pending: &PendingDeletions) -> u64 {
        let mut stored = pending.orphan_items;
        for scope_id in &pending.live_scopes {
            match self.knowledge_base.count_in_scope(scope_id, None).await {
                Ok(count) => stored += count,
                Err(err) => {
                    warn!(tenant = %self.tenant.name, scope_id, error = %err, "could not count a space scope's content for the hold");
                }
            }
        }
        stored
    }

    /// Old-key copies in the scope of a diffed space: content the connector
    /// wrote for this space under another partial key (the other key
    /// format, or the tenant's previous name; ours, §3.7). The file-diff
    /// cannot report them, since it only sees the current partial key.
    ///
    /// Two counts per space and cycle decide whether the scope needs to be
    /// listed at all: it does only when it holds more items than there are
    /// under the current partial key.
    async fn find_old_copies(
        &self,
        scope_id: &str,
        view: &SpaceView,
        pending: &mut PendingDeletions,
    ) {
        let tenant = self.tenant.name.as_str();
        let kb = &self.knowledge_base;
        let prefix = view.partial_key.key_prefix();
        let counts = async {
            let in_scope = kb.count_in_scope(scope_id, None).await?;
            let current = kb.count_with_key_prefix(&prefix).await?;
            Ok::<_, crate::ports::PortError>((in_scope, current))
        };
        let (in_scope, current) = match counts.await {
            Ok(counts) => counts,
            Err(err) => {
                warn!(tenant, scope_id, error = %err, "could not count a space scope's content; old-key copies are looked for next cycle");
                pending.note_search(false);
                return;
            }
        };
        if in_scope <= current {
            pending.note_search(true);
            return;
        }
        let contents = match kb.content_in_scope(scope_id).await {
            Ok(contents) => contents,
            Err(err) => {
                warn!(tenant, scope_id, error = %err, "could not list a space scope's content; old-key copies are looked for next cycle");
                pending.note_search(false);
                return;
            }
        };
        let stored_now: HashSet<&str> = contents
            .iter()
            .filter_map(|content| content.key.strip_prefix(prefix.as_str()))
            .collect();
        let mut replaced = Vec::new();
        let mut kept = 0;
        let mut found = 0;
        for content in &contents {
            let Some(item) = keys::old_copy_item(
                &content.key,
                &view.partial_key,
                &view.space_id,
                &view.space_key,
            ) else {
                continue;
            };
            found += 1;
            let rel = item.to_string();
            if stored_now.contains(rel.as_str()) {
                replaced.push(content.clone());
            } else if view.submitted.contains(&rel) {
                kept += 1;
            } else {
                pending
                    .key_spaces
                    .insert(content.key.clone(), view.space_key.clone());
                pending.wanted.keys.insert(content.key.clone());
            }
        }
        if !replaced.is_empty() || kept > 0 {
            info!(
                tenant,
                partial_key = %view.partial_key,
                duplicates = replaced.len(),
                kept,
                "found copies under an old key format or tenant name"
            );
        }
        pending.copies_kept += kept;
        pending.replaced.extend(replaced);
        // Copies found now are removed (or held) now; the next cycle
        // searches again to confirm that none is left.
        pending.note_search(found == 0);
    }

    /// Applies the hold (§9.5) to what this cycle wants to delete. The
    /// stored items are only counted when the decision depends on them.
    pub(super) async fn hold_decision(
        &self,
        pending: &PendingDeletions,
        listing_complete: bool,
    ) -> HoldDecision {
        let policy = self.tenant.deletion_hold;
        let stored = if policy.needs_stored_count(pending.wanted.items()) {
            self.stored_items(pending).await
        } else {
            0
        };
        HoldInput {
            policy,
            wanted: &pending.wanted,
            held: &self.holds.load(),
            stored,
            listing_complete,
        }
        .decide()
    }

    /// Finds, holds and executes this cycle's deletions.
    ///
    /// # Errors
    /// The held set cannot be recorded: then nothing is deleted, since a
    /// hold that is not remembered would never be confirmed.
    pub(super) async fn settle_deletions(
        &self,
        views: &[SpaceView],
        discovery: &Discovery,
        listing_complete: bool,
        report: &mut CycleReport,
        observer: &dyn CycleObserver,
    ) -> Result<(), CycleError> {
        let tenant = self.tenant.name.as_str();
        observer.phase(tenant, Phase::CleaningUp);
        let pending = self
            .pending_deletions(views, &discovered_space_keys(discovery))
            .await;
        let decision = self.hold_decision(&pending, listing_complete).await;
        self.holds.save(&decision.hold).map_err(|err| {
            CycleError::new(format!(
                "could not record held deletions ({err}); nothing was deleted this cycle: \
                 make the state directory writable (CONFLUENCE_CONNECTOR_STATE_DIR)"
            ))
        })?;
        record_holds(tenant, &pending, &decision, report);

        if !pending.replaced.is_empty() {
            observer.phase(tenant, Phase::Deleting);
            let ids: Vec<String> = pending
                .replaced
                .iter()
                .map(|content| content.id.clone())
                .collect();
            let deletion = self.knowledge_base.delete_content(&ids).await;
            report.old_copies_removed += deletion.confirmed.len();
            report.delete_failures += ids.len() - deletion.confirmed.len().min(ids.len());
            if let Some(err) = deletion.error {
                warn!(tenant, requested = ids.len(), confirmed = deletion.confirmed.len(), error = %err, "removing old-key copies stopped early");
            }
            info!(
                tenant,
                removed = deletion.confirmed.len(),
                "removed copies under an old key format or tenant name"
            );
        }
        let keys: Vec<String> = decision.execute.keys.iter().cloned().collect();
        self.delete_keys(&keys, report, observer).await;
        observer.phase(tenant, Phase::CleaningUp);
        for scope_id in decision.execute.scopes.keys() {
            if let Some(orphan) = pending.orphans.get(scope_id) {
                self.remove_orphan(orphan, report).await;
            }
        }
        if let Some(clean) = pending.searched {
            self.layout.record(&self.key_layout(), clean);
        }
        Ok(())
    }

    /// Deletes the content stored under `keys` (§9.9).
    async fn delete_keys(
        &self,
        keys: &[String],
        report: &mut CycleReport,
        observer: &dyn CycleObserver,
    ) {
        if keys.is_empty() {
            return;
        }
        observer.phase(&self.tenant.name, Phase::Deleting);
        let tenant = self.tenant.name.as_str();
        let stored = match self.knowledge_base.content_by_keys(keys).await {
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

    /// Removes one orphan space scope with its content (§9.10): the content
    /// under its partial key, then any copies under an old key format or
    /// tenant name (ours, §3.7), which would otherwise keep the scope from
    /// being deleted.
    async fn remove_orphan(&self, orphan: &Orphan, report: &mut CycleReport) {
        let tenant = self.tenant.name.as_str();
        let span = info_span!("space", space = %orphan.space_key);
        let files = self
            .delete_by_prefix(&orphan.partial_key.key_prefix())
            .instrument(span.clone())
            .await
            + self.delete_old_copies_in(orphan).instrument(span).await;
        report.orphan_files_removed += files;
        match self
            .knowledge_base
            .delete_scope(&orphan.scope_id, false)
            .await
        {
            Ok(outcome) if outcome.failed.is_empty() => {
                report.orphan_scopes_removed += 1;
                info!(tenant, scope_id = %orphan.scope_id, space_key = %orphan.space_key, files, "removed orphan space scope");
            }
            Ok(outcome) => {
                report.orphan_scope_failures += 1;
                warn!(tenant, scope_id = %orphan.scope_id, reasons = ?outcome.failed, "orphan space scope not deleted");
            }
            Err(err) => {
                report.orphan_scope_failures += 1;
                warn!(tenant, scope_id = %orphan.scope_id, error = %err, "orphan space scope not deleted");
            }
        }
    }

    /// Deletes the old-key copies left in an orphan scope; returns the
    /// confirmed deletions.
    async fn delete_old_copies_in(&self, orphan: &Orphan) -> usize {
        let tenant = self.tenant.name.as_str();
        let kb = &self.knowledge_base;
        let contents = match kb.content_in_scope(&orphan.scope_id).await {
            Ok(contents) => contents,
            Err(err) => {
                warn!(tenant, scope_id = %orphan.scope_id, error = %err, "could not list an orphan scope's remaining content");
                return 0;
            }
        };
        let ids: Vec<String> = contents
            .into_iter()
            .filter(|content| {
                keys::old_copy_item(
                    &content.key,
                    &orphan.partial_key,
                    &orphan.space_id,
                    &orphan.space_key,
                )
                .is_some()
            })
            .map(|content| content.id)
            .collect();
        if ids.is_empty() {
            return 0;
        }
        let deletion = kb.delete_content(&ids).await;
        if let Some(err) = &deletion.error {
            warn!(tenant, scope_id = %orphan.scope_id, error = %err, "removing old-key copies of an orphan scope stopped early");
        }
        deletion.confirmed.len()
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

/// Held deletions per space key: content keys, and scopes by their items.
pub(super) fn held_by_space(
    pending: &PendingDeletions,
    decision: &HoldDecision,
) -> BTreeMap<String, u64> {
    let mut by_space: BTreeMap<String, u64> = BTreeMap::new();
    for key in &decision.hold.keys {
        let space = pending.key_spaces.get(key).cloned().unwrap_or_default();
        *by_space.entry(space).or_default() += 1;
    }
    for scope in decision.hold.scopes.values() {
        *by_space.entry(scope.space_key.clone()).or_default() += scope.items.max(1);
    }
    by_space
}

/// One `warn` line per space with held deletions, and the report fields.
fn record_holds(
    tenant: &str,
    pending: &PendingDeletions,
    decision: &HoldDecision,
    report: &mut CycleReport,
) {
    report.old_copies_kept = pending.copies_kept;
    let Some(reason) = &decision.reason else {
        return;
    };
    report.hold_reason = Some(reason.to_string());
    report.held_scopes = decision
        .hold
        .scopes
        .values()
        .map(|scope| scope.space_key.clone())
        .collect();
    let by_space = held_by_space(pending, decision);
    report.held = by_space.values().sum::<u64>() as usize;
    for (space, held) in by_space {
        let scope = decision
            .hold
            .scopes
            .values()
            .any(|scope| scope.space_key == space);
        warn!(
            tenant,
            space = %space,
            held,
            scope_removal = scope,
            reason = %reason,
            "deletions held until the next cycle confirms them"
        );
        if let Some(summary) = report
            .spaces
            .iter_mut()
            .find(|summary| summary.space_key == space)
        {
            summary.held = held as usize;
        }
    }
}
