//! What a cycle reports: its result and the counts the CLI summary, the
//! metrics and the health window are built from.

use std::{collections::BTreeMap, fmt, time::Duration};

/// Result of one cycle (§1 "Cycle").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CycleResult {
    Success,
    /// A cycle-level step failed; the message says which and why.
    Failure(String),
    /// Not run: another cycle of the tenant was still running.
    Skipped(&'static str),
}

impl CycleResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            CycleResult::Success => "success",
            CycleResult::Failure(_) => "failure",
            CycleResult::Skipped(_) => "skipped",
        }
    }
}

/// `success`, `failure: {why}` or `skipped: {why}`, as summaries print it.
impl fmt::Display for CycleResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CycleResult::Success => f.write_str("success"),
            CycleResult::Failure(why) => write!(f, "failure: {why}"),
            CycleResult::Skipped(why) => write!(f, "skipped: {why}"),
        }
    }
}

/// Why an item was not ingested this cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Content type that is never ingested (database, whiteboard, …).
    ContentType,
    /// Attachment type not in `allowedMimeTypes`.
    TypeNotAllowed,
    /// Attachment over `maxFileSizeMb`.
    TooLarge,
    /// Cut by `maxItemsToScan`.
    Capacity,
    /// The page has no storage body.
    EmptyBody,
    /// A zero-byte attachment.
    ZeroBytes,
    /// Deleted in Confluence while the cycle ran.
    NotFound,
    /// Not started because the process is shutting down.
    Shutdown,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::ContentType => "content_type",
            SkipReason::TypeNotAllowed => "type_not_allowed",
            SkipReason::TooLarge => "too_large",
            SkipReason::Capacity => "max_items_to_scan",
            SkipReason::EmptyBody => "empty_body",
            SkipReason::ZeroBytes => "zero_bytes",
            SkipReason::NotFound => "not_found",
            SkipReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Outcome of one page or attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemResult {
    Success,
    Failure,
    Skipped(SkipReason),
}

/// Per-kind item counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ItemCounts {
    pub success: usize,
    pub failure: usize,
    pub skipped: usize,
}

impl ItemCounts {
    pub(super) fn record(&mut self, result: ItemResult) {
        match result {
            ItemResult::Success => self.success += 1,
            ItemResult::Failure => self.failure += 1,
            ItemResult::Skipped(_) => self.skipped += 1,
        }
    }
}

/// What the file-diff of one space found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceSummary {
    pub space_key: String,
    /// Items submitted to the file-diff (pages and tracked attachments).
    pub discovered: usize,
    pub new: usize,
    pub updated: usize,
    pub deleted: usize,
    /// Deletions of this space held for the next cycle (ours, §9.5).
    pub held: usize,
}

/// Everything a cycle did.
#[derive(Debug, Clone)]
pub struct CycleReport {
    pub tenant: String,
    pub result: CycleResult,
    pub discovered_pages: usize,
    pub discovered_attachments: usize,
    /// File-diff categories, summed over spaces.
    pub new: usize,
    pub updated: usize,
    pub moved: usize,
    /// Items the diff called current that the repair journal re-ingested
    /// (ADR 0007).
    pub repaired: usize,
    /// Deletions Unique confirmed, and those it did not.
    pub deleted: usize,
    pub delete_failures: usize,
    pub pages: ItemCounts,
    pub attachments: ItemCounts,
    /// Skips by reason (discovery filters and ingestion skips).
    pub skipped: BTreeMap<SkipReason, usize>,
    pub orphan_scopes_removed: usize,
    pub orphan_scope_failures: usize,
    pub orphan_files_removed: usize,
    /// Deletions held for confirmation by the next cycle (ours, §9.5):
    /// content items, plus each held space scope counted by its items (at
    /// least 1). Nothing of it was deleted.
    pub held: usize,
    /// Space keys of held space-scope removals.
    pub held_scopes: Vec<String>,
    /// Why deletions were held; `None` when nothing was.
    pub hold_reason: Option<String>,
    /// Copies under an old key format or tenant name removed because the
    /// item is stored under its current key (ours, §3.7).
    pub old_copies_removed: usize,
    /// Old-key copies kept because their item is not stored under the
    /// current key yet (its ingestion failed or was skipped).
    pub old_copies_kept: usize,
    /// Per diffed space, in discovery order.
    pub spaces: Vec<SpaceSummary>,
    /// Full content keys of the pages and attachments that failed this
    /// cycle (identifiers only, never titles), in completion order; the
    /// next cycle retries them. `pages.failure + attachments.failure` long.
    pub failed_items: Vec<String>,
    pub duration: Duration,
}

impl CycleReport {
    pub(super) fn new(tenant: &str) -> Self {
        CycleReport {
            tenant: tenant.to_owned(),
            result: CycleResult::Success,
            discovered_pages: 0,
            discovered_attachments: 0,
            new: 0,
            updated: 0,
            moved: 0,
            repaired: 0,
            deleted: 0,
            delete_failures: 0,
            pages: ItemCounts::default(),
            attachments: ItemCounts::default(),
            skipped: BTreeMap::new(),
            orphan_scopes_removed: 0,
            orphan_scope_failures: 0,
            orphan_files_removed: 0,
            held: 0,
            held_scopes: Vec::new(),
            hold_reason: None,
            old_copies_removed: 0,
            old_copies_kept: 0,
            spaces: Vec::new(),
            failed_items: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    pub(super) fn skip(&mut self, reason: SkipReason, count: usize) {
        if count > 0 {
            *self.skipped.entry(reason).or_default() += count;
        }
    }

    /// Items that failed this cycle (pages and attachments).
    pub fn failed(&self) -> usize {
        self.pages.failure + self.attachments.failure
    }

    /// Why a cycle whose steps all ran is nevertheless a failure: it
    /// attempted writes (item ingestions, deletions) and not one of them
    /// succeeded. Such a cycle changed nothing, usually because Unique
    /// refuses every write (a misrouted upload path, revoked permissions),
    /// and must not look healthy. `None` when something was written or
    /// nothing was attempted.
    pub fn all_writes_failed(&self) -> Option<String> {
        let succeeded = self.pages.success + self.attachments.success + self.deleted;
        let failed = self.failed() + self.delete_failures;
        (succeeded == 0 && failed > 0).then(|| {
            format!(
                "every attempted write failed ({} items failed to ingest, {} deletions not confirmed)",
                self.failed(),
                self.delete_failures
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_whose_every_write_failed_is_a_failure() {
        let mut report = CycleReport::new("acme");
        assert_eq!(report.all_writes_failed(), None, "nothing attempted");
        report.pages.record(ItemResult::Failure);
        report.attachments.record(ItemResult::Failure);
        report
            .pages
            .record(ItemResult::Skipped(SkipReason::NotFound));
        let why = report.all_writes_failed().expect("every write failed");
        assert!(why.contains("every attempted write failed"), "{why}");
        assert!(why.contains("2 items failed"), "{why}");

        let mut partly = report.clone();
        partly.pages.record(ItemResult::Success);
        assert_eq!(partly.all_writes_failed(), None, "one item landed");
        let mut deleted = report.clone();
        deleted.deleted = 1;
        assert_eq!(deleted.all_writes_failed(), None, "a deletion landed");
        let mut deletions_only = CycleReport::new("acme");
        deletions_only.delete_failures = 3;
        assert!(deletions_only.all_writes_failed().is_some());
    }
}
