//! The purge cycle of a tenant with `status: deleted` (PROTOCOL §9.12):
//! delete every space scope below the root with its content, then clear the
//! root's mark as the "done" marker. No Confluence traffic.
//!
//! Ours: only what carries this tenant's own marks is removed, so a purge
//! can never take another tenant's content with it. A space scope must be
//! marked `confc:{tenant}:…`, and within it only content under this
//! tenant's own partial key is deleted; the scope itself is deleted only
//! when nothing else is left in it. Everything left alone is logged and
//! counted in the report.

use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::SyncCycle;
use crate::{
    domain::{
        keys::{PartialKey, SpaceScopeId},
        ownership,
    },
    ports::{ConfluenceSource, KnowledgeBase},
};

/// How a purge ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeOutcome {
    Success,
    /// `failures` deletions or steps did not succeed; the mark stays set so
    /// the next run resumes.
    Failure {
        failures: usize,
    },
    /// Nothing done: `root_scope_not_found`, `already_cleaned_up`,
    /// `foreign_owner` or `scan_in_progress`.
    Skipped(&'static str),
}

impl PurgeOutcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            PurgeOutcome::Success => "success",
            PurgeOutcome::Failure { .. } => "failure",
            PurgeOutcome::Skipped(_) => "skipped",
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone)]
pub struct PurgeReport {
    pub tenant: String,
    pub outcome: PurgeOutcome,
    pub content_deleted: usize,
    pub content_failures: usize,
    pub scopes_deleted: usize,
    pub scope_failures: usize,
    /// Child scopes left alone: not marked for this tenant, or still
    /// holding content that is not under this tenant's keys.
    pub scopes_left: usize,
    /// Content items left alone in this tenant's scopes because their key
    /// is not under this tenant's partial key.
    pub content_left: usize,
    pub duration: Duration,
}

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// Runs one purge of this (deleted) tenant.
    pub async fn purge(&self) -> PurgeReport {
        let mut report = PurgeReport {
            tenant: self.tenant.name.clone(),
            outcome: PurgeOutcome::Success,
            content_deleted: 0,
            content_failures: 0,
            scopes_deleted: 0,
            scope_failures: 0,
            scopes_left: 0,
            content_left: 0,
            duration: Duration::ZERO,
        };
        let Some(_running) = self.try_start() else {
            report.outcome = PurgeOutcome::Skipped("scan_in_progress");
            return report;
        };
        let started = Instant::now();
        report.outcome = self.purge_steps(&mut report).await;
        report.duration = started.elapsed();
        info!(tenant = %self.tenant.name, outcome = report.outcome.as_str(), content_deleted = report.content_deleted, scopes_deleted = report.scopes_deleted, scopes_left = report.scopes_left, content_left = report.content_left, "tenant purge finished");
        report
    }

    async fn purge_steps(&self, report: &mut PurgeReport) -> PurgeOutcome {
        let tenant = self.tenant.name.as_str();
        let kb = &self.knowledge_base;
        let root_id = &self.tenant.root_scope_id;
        let root = match kb.scope_by_id(root_id).await {
            Ok(Some(root)) => root,
            Ok(None) => return PurgeOutcome::Skipped("root_scope_not_found"),
            Err(err) => {
                error!(tenant, error = %err, "purge: root scope lookup failed");
                return PurgeOutcome::Failure { failures: 1 };
            }
        };
        let Some(mark) = root.external_id else {
            return PurgeOutcome::Skipped("already_cleaned_up");
        };
        if !ownership::purge_permitted(
            &mark,
            self.tenant.instance_type,
            self.tenant.cloud_id.as_deref(),
        ) {
            error!(tenant, root_scope_id = %root_id, mark = %mark, "purge refused: the root scope is marked by another instance");
            return PurgeOutcome::Skipped("foreign_owner");
        }
        let children = match kb.child_scopes(root_id).await {
            Ok(children) => children,
            Err(err) => {
                error!(tenant, error = %err, "purge: listing space scopes failed");
                return PurgeOutcome::Failure { failures: 1 };
            }
        };
        let mut failures = 0;
        let mut emptied = Vec::new();
        for child in &children {
            let Some(space) = child
                .external_id
                .as_deref()
                .and_then(SpaceScopeId::parse)
                .filter(|space| space.tenant == tenant)
            else {
                warn!(tenant, scope_id = %child.id, mark = child.external_id.as_deref().unwrap_or(""), "purge: child scope not marked for this tenant; left alone");
                report.scopes_left += 1;
                continue;
            };
            let own_prefix = PartialKey::new(
                self.tenant.key_format,
                tenant,
                &space.space_id,
                &space.space_key,
            )
            .key_prefix();
            let contents = match kb.content_in_scope(&child.id).await {
                Ok(contents) => contents,
                Err(err) => {
                    warn!(tenant, scope_id = %child.id, error = %err, "purge: listing content failed");
                    report.content_failures += 1;
                    failures += 1;
                    continue;
                }
            };
            let (own, foreign): (Vec<_>, Vec<_>) = contents
                .into_iter()
                .partition(|content| content.key.starts_with(&own_prefix));
            if !own.is_empty() {
                let ids: Vec<String> = own.into_iter().map(|content| content.id).collect();
                let deletion = kb.delete_content(&ids).await;
                let missing = ids.len() - deletion.confirmed.len().min(ids.len());
                report.content_deleted += deletion.confirmed.len();
                report.content_failures += missing;
                failures += missing;
            }
            if foreign.is_empty() {
                emptied.push(child);
            } else {
                warn!(tenant, scope_id = %child.id, left = foreign.len(), own_prefix = %own_prefix, "purge: content not under this tenant's keys left alone, and its scope with it");
                report.content_left += foreign.len();
                report.scopes_left += 1;
            }
        }
        for child in emptied {
            match kb.delete_scope(&child.id, true).await {
                Ok(outcome) => {
                    report.scopes_deleted += outcome.deleted.len();
                    report.scope_failures += outcome.failed.len();
                    failures += outcome.failed.len();
                }
                Err(err) => {
                    warn!(tenant, scope_id = %child.id, error = %err, "purge: deleting a space scope failed");
                    report.scope_failures += 1;
                    failures += 1;
                }
            }
        }
        if failures == 0
            && let Err(err) = kb.set_scope_external_id(root_id, None).await
        {
            warn!(tenant, error = %err, "purge: clearing the root mark failed");
            failures += 1;
        }
        if failures == 0 {
            PurgeOutcome::Success
        } else {
            PurgeOutcome::Failure { failures }
        }
    }
}
