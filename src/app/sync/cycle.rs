//! One sync cycle of an active tenant (PROTOCOL §9.2–§9.11).

use std::{collections::HashMap, fmt, time::Instant};

use tracing::{Instrument, error, info, info_span, warn};

use super::{
    CycleObserver, Phase, SyncCycle,
    cleanup::SpaceView,
    report::{CycleReport, CycleResult, SkipReason, SpaceSummary},
};
use crate::{
    domain::{
        attachment::AttachmentSkip,
        discovery::{self, AttachmentItem, Discovery, DiscoverySkip, PageItem, SpaceGroup},
        guards::{GuardInput, GuardVerdict},
        inline_images::{self, ImageIndex},
        keys::{ItemKey, KeyFormat, PartialKey, SpaceScopeId},
        plan::{DiffAnswer, Ingest, SpacePlanner},
        repair::Journal,
        urls,
    },
    ports::{
        ConfluenceSource, KnowledgeBase, PortError,
        knowledge_base::{FileDiff, FileDiffItem, FileDiffRequest, Scope},
    },
};

/// Why a cycle-level step failed; becomes [`CycleResult::Failure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CycleError(String);

impl CycleError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        CycleError(message.into())
    }

    /// Maps a port error of the named step.
    pub(crate) fn step(step: &'static str) -> impl Fn(PortError) -> CycleError {
        move |err| CycleError(format!("{step} failed: {err}"))
    }
}

impl fmt::Display for CycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The file-diff of one space with what it needs later.
#[derive(Debug)]
pub(super) struct SpaceDiff<'a> {
    pub group: SpaceGroup<'a>,
    pub partial_key: PartialKey,
    pub diff: FileDiff,
}

/// One item to ingest: the item, its space's partial key, and whether its
/// key is new in Unique (a failed new item's registration is removed, an
/// updated item's previous version is kept — ours, §9.8).
#[derive(Debug, Clone, Copy)]
pub(super) struct WorkItem<'a, T> {
    pub item: &'a T,
    pub partial_key: &'a PartialKey,
    pub is_new: bool,
}

/// What the ingestion phases work on.
#[derive(Debug)]
pub(super) struct Work<'a> {
    pub pages: Vec<WorkItem<'a, PageItem>>,
    pub attachments: Vec<WorkItem<'a, AttachmentItem>>,
    /// How many of them the diff called current and the repair journal
    /// selected (ADR 0007).
    pub repairs: usize,
}

impl Work<'_> {
    /// Full content keys of every selected item.
    fn keys(&self) -> impl Iterator<Item = String> + '_ {
        let pages = self
            .pages
            .iter()
            .map(|work| work.partial_key.content_key(&ItemKey::page(&work.item.id)));
        let attachments = self.attachments.iter().map(|work| {
            work.partial_key
                .content_key(&ItemKey::attachment(&work.item.page_id, &work.item.meta.id))
        });
        pages.chain(attachments)
    }
}

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    /// Runs one cycle. Never panics on remote errors: every failure ends up
    /// in the report's result.
    pub async fn run(&self, observer: &dyn CycleObserver) -> CycleReport {
        let mut report = CycleReport::new(&self.tenant.name);
        let Some(_running) = self.try_start() else {
            report.result = CycleResult::Skipped("sync_in_progress");
            return report;
        };
        let started = Instant::now();
        let span = info_span!("cycle", tenant = %self.tenant.name, cycle_id = %cycle_id());
        let result = self.run_steps(&mut report, observer).instrument(span).await;
        observer.phase(&self.tenant.name, Phase::Idle);
        report.duration = started.elapsed();
        // Ours (§9.8): steps that all ran but wrote nothing of what they
        // tried is a failed cycle, for `/health` and the exit code alike.
        let result = result.and_then(|()| match report.all_writes_failed() {
            Some(why) => Err(CycleError::new(why)),
            None => Ok(()),
        });
        report.result = match result {
            Ok(()) => CycleResult::Success,
            Err(err) => {
                error!(tenant = %self.tenant.name, error = %err, "sync cycle failed");
                CycleResult::Failure(err.to_string())
            }
        };
        report
    }

    async fn run_steps(
        &self,
        report: &mut CycleReport,
        observer: &dyn CycleObserver,
    ) -> Result<(), CycleError> {
        let tenant = &self.tenant.name;
        observer.phase(tenant, Phase::Scanning);
        let root_path = self.initialize().await?;
        let (discovery, listing_complete) = self.discover_checked().await?;
        report.discovered_pages = discovery.pages.len();
        report.discovered_attachments = discovery.attachments.len();
        record_discovery_skips(report, &discovery);

        observer.phase(tenant, Phase::Diffing);
        let images = self.image_index(&discovery);
        let spaces = self.diff_spaces(&discovery, &images).await?;
        for space in &spaces {
            report.new += space.diff.new.len();
            report.updated += space.diff.updated.len();
            report.moved += space.diff.moved.len();
            report.spaces.push(SpaceSummary {
                space_key: space.group.space.key.clone(),
                discovered: space.group.pages.len() + space.group.attachments.len(),
                new: space.diff.new.len(),
                updated: space.diff.updated.len(),
                deleted: space.diff.deleted.len(),
                held: 0,
            });
        }

        // One writer per tenant from here on, where content writes start
        // (the self-grants and the claim before are idempotent). Opened after
        // discovery, so the journal's entries are not held through it.
        let journal = self.journal.open(tenant)?;
        let work = select_work(&spaces, &journal.previous);
        report.repaired = work.repairs;
        if work.repairs > 0 {
            warn!(
                tenant = %tenant,
                items = work.repairs,
                "re-ingesting items whose last write did not verifiably complete, or whose page changed after its body was read"
            );
        }
        if !work.pages.is_empty() || !work.attachments.is_empty() {
            observer.work_selected(tenant, work.pages.len(), work.attachments.len());
            let scopes = self.ensure_space_scopes(&root_path, &work).await?;
            journal.begin(work.keys())?;
            self.ingest(&work, &scopes, &images, report, observer, &journal)
                .await;
        }
        let discovered = discovered_versions(&spaces, &journal.previous);
        // The lock stays held until the cycle ends: deletions and the
        // clean-up below are writes too.
        let (committed, _lock) = journal.commit(discovered, listing_complete);
        if self.stopping() {
            return Err(CycleError::new(
                "interrupted by shutdown after the items in flight; deletions and cleanup are left to the next cycle",
            ));
        }
        if let Err(err) = committed {
            // The appended journal stays and the next cycle folds it the
            // same way: nothing is lost, so the cycle goes on.
            warn!(tenant = %tenant, error = %err, "could not compact the repair journal");
        }

        self.settle_deletions(
            &space_views(&spaces),
            &discovery,
            listing_complete,
            report,
            observer,
        )
        .await?;
        info!(
            tenant = %tenant,
            discovered_pages = report.discovered_pages,
            new = report.new,
            updated = report.updated,
            deleted = report.deleted,
            held = report.held,
            failed = report.failed(),
            "sync cycle finished"
        );
        Ok(())
    }

    /// [`discover`](Self::discover), and whether it saw every item it asked
    /// for: no listing ended at an empty page that still pointed to a next
    /// one, and nothing was cut by `maxItemsToScan` (ours, §9.3 step 7).
    /// Deletions derived from an incomplete discovery are held (§9.5).
    pub(super) async fn discover_checked(&self) -> Result<(Discovery, bool), CycleError> {
        let ended_early_before = self.confluence.listings_ended_early();
        let discovery = self.discover().await?;
        let ended_early = self.confluence.listings_ended_early() != ended_early_before;
        if ended_early {
            warn!(
                tenant = %self.tenant.name,
                "a Confluence listing ended at an empty page that still pointed to a next page; deletions from this cycle are held"
            );
        }
        let complete = !ended_early && discovery.cut_by_capacity == 0;
        Ok((discovery, complete))
    }

    /// §9.3: labelled content, descendants of ingest-all roots, cuts.
    pub(super) async fn discover(&self) -> Result<Discovery, CycleError> {
        let labeled = self
            .confluence
            .labeled_content()
            .await
            .map_err(CycleError::step("discovery of labelled content"))?;
        let roots = discovery::ingest_all_roots(&labeled, &self.tenant.discovery.ingest_all_label);
        let descendants = if roots.is_empty() {
            Vec::new()
        } else {
            self.confluence
                .descendants(&roots)
                .await
                .map_err(CycleError::step("discovery of descendants"))?
        };
        Ok(discovery::select(
            labeled,
            descendants,
            &self.tenant.discovery,
        ))
    }

    /// §9.6 step 3: each page's image attachments, when they are inlined
    /// (empty otherwise, so nothing is inlined and no version is folded).
    pub(super) fn image_index<'a>(&self, discovery: &'a Discovery) -> ImageIndex<'a> {
        if self.tenant.inline_images {
            inline_images::images_by_page(discovery)
        } else {
            ImageIndex::new()
        }
    }

    /// §9.4–§9.5: one file-diff per space, each followed by its guards.
    pub(super) async fn diff_spaces<'a>(
        &self,
        discovery: &'a Discovery,
        images: &ImageIndex<'_>,
    ) -> Result<Vec<SpaceDiff<'a>>, CycleError> {
        let mut spaces = Vec::new();
        let mut children = None;
        for group in discovery::group_by_space(discovery, self.tenant.inline_images) {
            let partial_key = PartialKey::new(
                self.tenant.key_format,
                &self.tenant.name,
                &group.space.id,
                &group.space.key,
            );
            let request = self.file_diff_request(&partial_key, &group, images);
            // Log lines of this space's diff and guards carry `space`.
            let span = info_span!("space", space = %group.space.key);
            let diff = async {
                let diff = self
                    .knowledge_base
                    .file_diff(&request)
                    .await
                    .map_err(CycleError::step("file-diff"))?;
                self.check_v1_ownership(&partial_key, &group.space.key, &mut children)
                    .await?;
                let submitted: Vec<String> =
                    request.items.iter().map(|item| item.key.clone()).collect();
                self.check_guards(&partial_key, &submitted, &diff).await?;
                info!(
                    partial_key = %partial_key,
                    submitted = submitted.len(),
                    new = diff.new.len(),
                    updated = diff.updated.len(),
                    deleted = diff.deleted.len(),
                    "space diffed"
                );
                Ok::<_, CycleError>(diff)
            }
            .instrument(span)
            .await?;
            spaces.push(SpaceDiff {
                group,
                partial_key,
                diff,
            });
        }
        Ok(spaces)
    }

    pub(super) fn file_diff_request(
        &self,
        partial_key: &PartialKey,
        group: &SpaceGroup<'_>,
        images: &ImageIndex<'_>,
    ) -> FileDiffRequest {
        let tenant = &self.tenant;
        let pages = group.pages.iter().map(|page| FileDiffItem {
            key: ItemKey::page(&page.id).to_string(),
            url: urls::page_url(
                tenant.instance_type,
                &tenant.base_url,
                &page.id,
                &page.web_ui,
            ),
            // Ours (§5.7): an inlined image is part of its page, so a newer
            // image makes the page newer. The index is empty when inlining
            // is off, which leaves the page's own version. Images of other
            // pages (C6) are only known once the body is read, after the
            // diff, and do not count.
            updated_at: inline_images::page_updated_at(
                &page.version_when,
                images.get(page.id.as_str()).map_or(&[], Vec::as_slice),
            )
            .to_owned(),
        });
        let attachments = group.attachments.iter().map(|item| FileDiffItem {
            key: ItemKey::attachment(&item.page_id, &item.meta.id).to_string(),
            url: attachment_url(tenant.instance_type, &tenant.base_url, item),
            updated_at: item.version_when.clone(),
        });
        FileDiffRequest {
            partial_key: partial_key.to_string(),
            source_kind: tenant.instance_type.source_kind().to_owned(),
            source_name: tenant.base_url.clone(),
            items: pages.chain(attachments).collect(),
        }
    }

    /// Ours (§3.1, §8.1): v1 keys (`{spaceId}_{spaceKey}/…`) carry no
    /// tenant name, so another tenant using them for a space with the same
    /// id (another instance, or a deleted tenant of this one) writes the
    /// very same keys, and this tenant's diff would update or delete that
    /// tenant's content. Before anything is ingested or deleted, every item
    /// under a v1 partial key must lie in this tenant's scope of the space
    /// (the root's child named after the space key, where ingestion puts
    /// it); otherwise the cycle refuses, naming the partial key.
    /// `children` caches the root's children for the cycle. A no-op with
    /// the current key format, whose keys start with the tenant name.
    pub(super) async fn check_v1_ownership(
        &self,
        partial_key: &PartialKey,
        space_key: &str,
        children: &mut Option<Vec<Scope>>,
    ) -> Result<(), CycleError> {
        if self.tenant.key_format != KeyFormat::V1 {
            return Ok(());
        }
        let kb = &self.knowledge_base;
        let prefix = partial_key.key_prefix();
        let total = kb
            .count_with_key_prefix(&prefix)
            .await
            .map_err(CycleError::step(
                "stored-content count for the v1 key check",
            ))?;
        if total == 0 {
            return Ok(());
        }
        if children.is_none() {
            *children = Some(
                kb.child_scopes(&self.tenant.root_scope_id)
                    .await
                    .map_err(CycleError::step("listing space scopes"))?,
            );
        }
        let scope = children
            .iter()
            .flatten()
            .find(|scope| scope.name == space_key);
        let ours = match scope {
            Some(scope) => {
                kb.count_in_scope(&scope.id, Some(prefix))
                    .await
                    .map_err(CycleError::step(
                        "stored-content count for the v1 key check",
                    ))?
            }
            None => 0,
        };
        if ours >= total {
            return Ok(());
        }
        Err(CycleError::new(format!(
            "{} of {total} item(s) under the v1 partial key `{partial_key}` lie outside this tenant's \
             space scope {space_key}: another tenant with `useV1KeyFormat: enabled` writes the same keys \
             for a space with this id; nothing was ingested or deleted; set `useV1KeyFormat: disabled` \
             on one of the two tenants (docs/migration.md)",
            total - ours
        )))
    }

    /// Runs G1/G2 for one space; the count query is only sent when needed.
    pub(super) async fn guard_verdict(
        &self,
        partial_key: &PartialKey,
        submitted: &[String],
        diff: &FileDiff,
    ) -> Result<GuardVerdict, CycleError> {
        let input = GuardInput {
            partial_key: partial_key.as_str(),
            submitted,
            new: &diff.new,
            deleted: &diff.deleted,
        };
        let count = if input.needs_stored_count() {
            Some(
                self.knowledge_base
                    .count_with_key_prefix(&partial_key.key_prefix())
                    .await
                    .map_err(CycleError::step(
                        "stored-content count for the deletion guard",
                    ))?,
            )
        } else {
            None
        };
        Ok(input.verdict(count))
    }

    async fn check_guards(
        &self,
        partial_key: &PartialKey,
        submitted: &[String],
        diff: &FileDiff,
    ) -> Result<(), CycleError> {
        match self.guard_verdict(partial_key, submitted, diff).await? {
            GuardVerdict::Pass => Ok(()),
            GuardVerdict::FullReplacement => {
                warn!(
                    tenant = %self.tenant.name,
                    partial_key = %partial_key,
                    deleted = diff.deleted.len(),
                    new = diff.new.len(),
                    "every stored item of the space is replaced by new keys; proceeding"
                );
                Ok(())
            }
            GuardVerdict::Abort(violation) => Err(CycleError::new(violation.to_string())),
        }
    }

    /// §9.6 step 2 and §7.4: the scopes of spaces with work, with their
    /// external ids set. Returns space key → scope id.
    async fn ensure_space_scopes(
        &self,
        root_path: &str,
        work: &Work<'_>,
    ) -> Result<HashMap<String, String>, CycleError> {
        let mut spaces = Vec::new();
        let pages = work.pages.iter().map(|page| &page.item.space);
        let attachments = work
            .attachments
            .iter()
            .map(|attachment| &attachment.item.space);
        for space in pages.chain(attachments) {
            if !spaces
                .iter()
                .any(|known: &&crate::domain::model::Space| known.key == space.key)
            {
                spaces.push(space);
            }
        }
        let paths: Vec<String> = spaces
            .iter()
            .map(|space| format!("{root_path}/{}", space.key))
            .collect();
        let scopes = self
            .knowledge_base
            .ensure_scope_paths(&paths)
            .await
            .map_err(CycleError::step("creating space scopes"))?;
        let mut by_key = HashMap::new();
        for (space, scope) in spaces.into_iter().zip(scopes) {
            let expected = SpaceScopeId {
                tenant: self.tenant.name.clone(),
                space_id: space.id.clone(),
                space_key: space.key.clone(),
            }
            .to_string();
            if scope.external_id.as_deref() != Some(expected.as_str()) {
                self.knowledge_base
                    .set_scope_external_id(&scope.id, Some(expected))
                    .await
                    .map_err(CycleError::step("marking a space scope"))?;
            }
            by_key.insert(space.key.clone(), scope.id);
        }
        Ok(by_key)
    }
}

/// What the deletion step needs of each diffed space.
pub(super) fn space_views(spaces: &[SpaceDiff<'_>]) -> Vec<SpaceView> {
    spaces
        .iter()
        .map(|space| SpaceView {
            partial_key: space.partial_key.clone(),
            space_id: space.group.space.id.clone(),
            space_key: space.group.space.key.clone(),
            deleted: space.diff.deleted.clone(),
            submitted: space
                .group
                .item_versions()
                .map(|(key, _)| key.to_string())
                .collect(),
        })
        .collect()
}

/// §9.6: the new and updated items of each space, plus the discovered
/// items the repair journal says must be written again (ADR 0007), which
/// count as updated.
pub(super) fn select_work<'a>(spaces: &'a [SpaceDiff<'a>], journal: &Journal) -> Work<'a> {
    let mut work = Work {
        pages: Vec::new(),
        attachments: Vec::new(),
        repairs: 0,
    };
    for space in spaces {
        let planner = SpacePlanner::new(DiffAnswer {
            new: &space.diff.new,
            updated: &space.diff.updated,
        });
        let partial_key = &space.partial_key;
        let mut repairs = 0;
        let mut is_new = |key: &ItemKey, version: &str| {
            let relative = key.to_string();
            // The journal is only consulted for items the diff calls
            // current: an empty journal (the steady state) costs nothing.
            let repair = !planner.selects(&relative)
                && !journal.is_empty()
                && journal.needs_repair(&partial_key.content_key(key), version);
            repairs += usize::from(repair);
            planner
                .ingest(&relative, repair)
                .map(|action| action == Ingest::New)
        };
        for &page in &space.group.pages {
            if let Some(is_new) = is_new(&ItemKey::page(&page.id), &page.version_when) {
                work.pages.push(WorkItem {
                    item: page,
                    partial_key,
                    is_new,
                });
            }
        }
        for &item in &space.group.attachments {
            let key = ItemKey::attachment(&item.page_id, &item.meta.id);
            if let Some(is_new) = is_new(&key, &item.version_when) {
                work.attachments.push(WorkItem {
                    item,
                    partial_key,
                    is_new,
                });
            }
        }
        work.repairs += repairs;
    }
    work
}

/// Every discovered item as (full key, discovered version), for settling
/// the journal; nothing (and no allocation) when the journal is empty.
fn discovered_versions<'a>(
    spaces: &'a [SpaceDiff<'a>],
    journal: &Journal,
) -> impl Iterator<Item = (String, &'a str)> + use<'a> {
    let wanted = !journal.is_empty();
    spaces.iter().filter(move |_| wanted).flat_map(|space| {
        space
            .group
            .item_versions()
            .map(|(key, version)| (space.partial_key.content_key(&key), version))
    })
}

pub(super) fn attachment_url(
    instance: crate::domain::model::InstanceType,
    base_url: &str,
    item: &AttachmentItem,
) -> String {
    urls::attachment_url(
        instance,
        base_url,
        &item.page_id,
        &item.meta.id,
        &item.meta.title,
    )
}

fn record_discovery_skips(report: &mut CycleReport, discovery: &Discovery) {
    report.skip(SkipReason::Capacity, discovery.cut_by_capacity);
    for skip in &discovery.skipped {
        let reason = match skip {
            DiscoverySkip::ContentType { .. } => SkipReason::ContentType,
            DiscoverySkip::Vanished { .. } => SkipReason::NotFound,
            DiscoverySkip::Attachment {
                reason: AttachmentSkip::TooLarge,
                ..
            } => SkipReason::TooLarge,
            DiscoverySkip::Attachment {
                reason: AttachmentSkip::TypeNotAllowed,
                ..
            } => SkipReason::TypeNotAllowed,
            DiscoverySkip::Attachment {
                reason: AttachmentSkip::Empty,
                ..
            } => SkipReason::ZeroBytes,
        };
        report.skip(reason, 1);
    }
}

/// A short random id that ties together the log lines of one cycle.
fn cycle_id() -> String {
    format!("{:08x}", rand::random::<u32>())
}
