//! The sync cycle of one tenant (PROTOCOL §9), its dry run (`plan`) and the
//! purge of a deleted tenant (§9.12), generic over the two ports.
//!
//! The cycle holds keys and metadata only; page bodies are fetched one batch
//! at a time and attachment bytes stream from Confluence to Unique.

mod cleanup;
mod cycle;
mod holds;
mod ingest;
mod init;
mod inline;
mod journal;
mod plan;
mod purge;
mod report;

use std::{
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::Value;

pub use holds::HELD_DELETIONS_FILE;
pub use plan::{PlanReport, SpacePlan};
pub use purge::{PurgeOutcome, PurgeReport};
pub use report::{CycleReport, CycleResult, ItemCounts, ItemResult, SkipReason, SpaceSummary};

use crate::{
    domain::{discovery::DiscoveryRules, holds::HoldPolicy, keys::KeyFormat, model::InstanceType},
    ports::{ConfluenceSource, KnowledgeBase},
    telemetry::DiagnosticsPolicy,
};

/// Phases of a cycle, as `cfc_sync_phase` reports them (§11.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    Idle,
    Scanning,
    Diffing,
    IngestingPages,
    IngestingAttachments,
    Deleting,
    CleaningUp,
}

impl Phase {
    pub const ALL: [Phase; 7] = [
        Phase::Idle,
        Phase::Scanning,
        Phase::Diffing,
        Phase::IngestingPages,
        Phase::IngestingAttachments,
        Phase::Deleting,
        Phase::CleaningUp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Idle => "idle",
            Phase::Scanning => "scanning",
            Phase::Diffing => "diffing",
            Phase::IngestingPages => "ingesting_pages",
            Phase::IngestingAttachments => "ingesting_attachments",
            Phase::Deleting => "deleting",
            Phase::CleaningUp => "cleaning_up",
        }
    }
}

/// Receives what a cycle observes while it runs (phases, per-item results),
/// for metrics and progress displays. The default implementations ignore
/// everything.
pub trait CycleObserver: Send + Sync {
    fn phase(&self, _tenant: &str, _phase: Phase) {}
    /// How many pages and attachments the cycle is about to ingest (§9.6
    /// step 1); not called when there is nothing to ingest.
    fn work_selected(&self, _tenant: &str, _pages: usize, _attachments: usize) {}
    fn page_done(&self, _tenant: &str, _result: report::ItemResult) {}
    fn attachment_done(
        &self,
        _tenant: &str,
        _result: report::ItemResult,
        _upload: Option<Duration>,
    ) {
    }
}

/// An observer that ignores everything.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl CycleObserver for NoObserver {}

/// The tenant settings a cycle needs, derived from its configuration.
#[derive(Debug, Clone)]
pub struct TenantContext {
    pub name: String,
    pub instance_type: InstanceType,
    /// Cloud only (the purge checks the root mark against it).
    pub cloud_id: Option<String>,
    /// `confluence.baseUrl`: web URLs, `sourceName`, `baseUrl`.
    pub base_url: String,
    pub root_scope_id: String,
    pub key_format: KeyFormat,
    /// `ingestion.deletionHold` (ours, §9.5): bulk deletions wait for the
    /// next cycle to confirm them.
    pub deletion_hold: HoldPolicy,
    pub ingest_single_label: String,
    pub discovery: DiscoveryRules,
    /// `processing.concurrency`, at least 1.
    pub concurrency: usize,
    pub store_internally: bool,
    pub page_ingestion_config: Option<Value>,
    pub image_ocr: bool,
    pub inline_images: bool,
    pub diagnostics: DiagnosticsPolicy,
    /// This tenant's own directory for state that must survive a restart
    /// (created on first use). `None` keeps that state in memory only
    /// (unit tests).
    pub state_dir: Option<PathBuf>,
}

/// One tenant's cycle: the ports, the settings and the re-entrancy flag.
#[derive(Debug)]
pub struct SyncCycle<C, K> {
    tenant: TenantContext,
    confluence: C,
    knowledge_base: K,
    running: AtomicBool,
    /// Which content keys may hold an incomplete write (ADR 0007): kept in
    /// the tenant's state directory, so restarts and one-shot `sync` runs
    /// repair them too.
    journal: journal::JournalStore,
    /// When the cycle (or purge) now running started; `None` when idle.
    /// For the stuck-cycle bound (`SYNC_CYCLE_STUCK_AFTER_SECONDS`).
    running_since: Mutex<Option<Instant>>,
    /// Set at shutdown: running cycles finish the items in flight, start no
    /// new ones and skip deletions and cleanup (§9.1, ours).
    stopping: AtomicBool,
    /// Deletions held for confirmation by the next cycle (ours, §9.5),
    /// kept in the tenant's state directory.
    holds: holds::HoldStore,
    /// Whether old-key copies must be searched for (ours, §3.7), kept
    /// there too.
    layout: holds::LayoutStore,
}

/// Clears the re-entrancy flag when the cycle ends, however it ends.
struct RunningGuard<'a> {
    running: &'a AtomicBool,
    since: &'a Mutex<Option<Instant>>,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        *self.since.lock().expect("not poisoned") = None;
        self.running.store(false, Ordering::Release);
    }
}

impl<C: ConfluenceSource, K: KnowledgeBase> SyncCycle<C, K> {
    pub fn new(tenant: TenantContext, confluence: C, knowledge_base: K) -> Self {
        let journal = journal::JournalStore::new(tenant.state_dir.clone());
        SyncCycle {
            journal,
            holds: holds::HoldStore::new(tenant.state_dir.as_deref()),
            layout: holds::LayoutStore::new(tenant.state_dir.as_deref()),
            tenant,
            confluence,
            knowledge_base,
            running: AtomicBool::new(false),
            running_since: Mutex::new(None),
            stopping: AtomicBool::new(false),
        }
    }

    pub fn tenant(&self) -> &TenantContext {
        &self.tenant
    }

    pub fn confluence(&self) -> &C {
        &self.confluence
    }

    pub fn knowledge_base(&self) -> &K {
        &self.knowledge_base
    }

    /// Shutdown: a running cycle finishes the items in flight and starts
    /// no new item; later cycles of this instance do no work. Items left
    /// out were never registered, so nothing is half-written.
    pub fn stop_new_work(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sets the re-entrancy flag, or `None` when a cycle (or purge) of this
    /// tenant is already running (§9.1).
    fn try_start(&self) -> Option<RunningGuard<'_>> {
        self.running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .ok()?;
        *self.running_since.lock().expect("not poisoned") = Some(Instant::now());
        Some(RunningGuard {
            running: &self.running,
            since: &self.running_since,
        })
    }

    /// How long the cycle (or purge) now running has been running; `None`
    /// when none is.
    pub fn running_for(&self) -> Option<Duration> {
        self.running_since
            .lock()
            .expect("not poisoned")
            .map(|since| since.elapsed())
    }
}

/// Shared handle used by the scheduler and the CLI.
pub type SharedCycle<C, K> = Arc<SyncCycle<C, K>>;

#[cfg(test)]
mod tests;
