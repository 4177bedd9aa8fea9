//! `plan`: the read-only parts of a cycle (PROTOCOL §2.4). Discovery, Unique
//! queries and the file-diff (a read on the Unique side) only: no self-grant,
//! no claim, no scope or content mutation, no upload.

use serde::Serialize;

use super::{
    SyncCycle,
    cleanup::{SpaceView, discovered_space_keys},
    cycle::CycleError,
};
use crate::{
    domain::{
        discovery,
        guards::GuardVerdict,
        keys::{PartialKey, root_mark},
        ownership::{self, Ownership},
        plan::{DiffAnswer, SpacePlanner},
    },
    ports::{ConfluenceSource, KnowledgeBase},
};

/// What a cycle would do in one space.
#[derive(Debug, Clone, Serialize)]
pub struct SpacePlan {
    pub space_key: String,
    pub partial_key: String,
    /// Relative keys that would be ingested for the first time.
    pub new: Vec<String>,
    /// Relative keys that would be re-ingested.
    pub updated: Vec<String>,
    /// Relative keys the diff calls current that would be re-ingested
    /// because the repair journal says their last write did not verifiably
    /// complete, or their page changed after its body was read (ADR 0007).
    pub repair: Vec<String>,
    /// Relative keys whose content would be deleted.
    pub deleted: Vec<String>,
    /// `None` when the guards pass; else why the cycle would abort or warn.
    pub guard: Option<String>,
    /// Relative keys of `deleted` the cycle would hold for confirmation by
    /// the cycle after it instead of deleting them (ours, §9.5).
    pub held: Vec<String>,
}

/// What a cycle of one tenant would do.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub tenant: String,
    /// `verified`, `would_claim` or `mismatch: …`.
    pub ownership: String,
    pub spaces: Vec<SpacePlan>,
    /// Space keys of child scopes orphan cleanup would remove.
    pub orphan_scopes: Vec<String>,
    /// Space keys of `orphan_scopes` whose removal would be held.
    pub held_orphan_scopes: Vec<String>,
    /// Why deletions would be held; `None` when none would be.
    pub hold_reason: Option<String>,
    /// Deletions (content items, and space scopes by their items) held by
    /// the last cycle, waiting for confirmation.
    pub held_by_last_cycle: u64,
    /// Full keys of copies under an old key format or tenant name that the
    /// cycle would remove because their item is stored under its current
    /// key (ours, §3.7).
    pub old_key_copies: Vec<String>,
    /// Whether any guard would abort the cycle.
    pub would_abort: bool,
}

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// Plans one cycle without writing anything.
    ///
    /// # Errors
    /// A read the plan depends on fails; the message says which.
    pub async fn plan(&self) -> Result<PlanReport, String> {
        self.plan_steps().await.map_err(|err| err.to_string())
    }

    async fn plan_steps(&self) -> Result<PlanReport, CycleError> {
        let kb = &self.knowledge_base;
        let root_id = &self.tenant.root_scope_id;
        kb.current_user_id()
            .await
            .map_err(CycleError::step("current user"))?;
        let root = kb
            .scope_by_id(root_id)
            .await
            .map_err(CycleError::step("root scope lookup"))?
            .ok_or_else(|| {
                CycleError::new(format!(
                    "Root scope with ID {root_id} is not readable without the self-grant a cycle performs (or does not exist)"
                ))
            })?;
        let instance_id = self
            .confluence
            .instance_id()
            .await
            .map_err(CycleError::step("Confluence instance id"))?;
        let ownership = match ownership::decide(
            root.external_id.as_deref(),
            &root_mark(self.tenant.instance_type, &instance_id),
        ) {
            Ownership::Verified => "verified".to_owned(),
            Ownership::Claim => "would_claim".to_owned(),
            Ownership::Mismatch { expected, found } => {
                return Err(CycleError::new(format!(
                    "Root scope ownership mismatch: expected {expected}, found {found}"
                )));
            }
        };

        let (discovery, listing_complete) = self.discover_checked().await?;
        let journal = self.journal.read()?;
        let images = self.image_index(&discovery);
        let mut spaces = Vec::new();
        let mut views = Vec::new();
        let mut children = None;
        let mut would_abort = false;
        for group in discovery::group_by_space(&discovery, self.tenant.inline_images) {
            let partial_key = PartialKey::new(
                self.tenant.key_format,
                &self.tenant.name,
                &group.space.id,
                &group.space.key,
            );
            let request = self.file_diff_request(&partial_key, &group, &images);
            let diff = kb
                .file_diff(&request)
                .await
                .map_err(CycleError::step("file-diff"))?;
            self.check_v1_ownership(&partial_key, &group.space.key, &mut children)
                .await?;
            let submitted: Vec<String> = request.items.into_iter().map(|item| item.key).collect();
            views.push(SpaceView {
                partial_key: partial_key.clone(),
                space_id: group.space.id.clone(),
                space_key: group.space.key.clone(),
                deleted: diff.deleted.clone(),
                submitted: submitted.iter().cloned().collect(),
            });
            let guard = match self.guard_verdict(&partial_key, &submitted, &diff).await? {
                GuardVerdict::Pass => None,
                GuardVerdict::FullReplacement => {
                    Some("full replacement by new keys (proceeds with a warning)".to_owned())
                }
                GuardVerdict::Abort(violation) => {
                    would_abort = true;
                    Some(format!("would abort: {violation}"))
                }
            };
            let planner = SpacePlanner::new(DiffAnswer {
                new: &diff.new,
                updated: &diff.updated,
            });
            let repair = group
                .item_versions()
                .map(|(key, version)| (key.to_string(), partial_key.content_key(&key), version))
                .filter(|(relative, full, version)| {
                    !planner.selects(relative) && journal.needs_repair(full, version)
                })
                .map(|(relative, _, _)| relative)
                .collect();
            spaces.push(SpacePlan {
                space_key: group.space.key.clone(),
                partial_key: partial_key.to_string(),
                new: diff.new,
                updated: diff.updated,
                repair,
                deleted: diff.deleted,
                guard,
                held: Vec::new(),
            });
        }

        let pending = self
            .pending_deletions(&views, &discovered_space_keys(&discovery))
            .await;
        let decision = self.hold_decision(&pending, listing_complete).await;
        for space in &mut spaces {
            let prefix = format!("{}/", space.partial_key);
            space.held = space
                .deleted
                .iter()
                .filter(|rel| decision.hold.keys.contains(&format!("{prefix}{rel}")))
                .cloned()
                .collect();
        }
        let orphan_scopes = pending
            .orphans
            .values()
            .map(|orphan| orphan.space_key.clone())
            .collect();
        let held_orphan_scopes = decision
            .hold
            .scopes
            .values()
            .map(|scope| scope.space_key.clone())
            .collect();
        Ok(PlanReport {
            tenant: self.tenant.name.clone(),
            ownership,
            spaces,
            orphan_scopes,
            held_orphan_scopes,
            hold_reason: decision.reason.map(|reason| reason.to_string()),
            held_by_last_cycle: self.holds.load().items(),
            old_key_copies: pending
                .replaced
                .iter()
                .map(|content| content.key.clone())
                .collect(),
            would_abort,
        })
    }
}
