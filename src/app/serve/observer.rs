//! Wires what the cycle and the adapters observe into [`Metrics`] and the
//! health window: a [`CycleObserver`] per cycle run, and one recorder per
//! tenant for the Confluence hooks and the Unique transport.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tracing::Span;

use crate::{
    adapters::{confluence::RequestRecorder, unique::CallRecorder},
    app::sync::{
        CycleObserver, CycleReport, CycleResult, ItemResult, Phase, PurgeOutcome, PurgeReport,
    },
    telemetry::metrics::{self, Metrics},
};

/// Observes one cycle run: phases and items into metrics, the phase into
/// the run's log span.
#[derive(Debug)]
pub struct CycleMetrics {
    metrics: Arc<Metrics>,
    scan_started: Mutex<Option<Instant>>,
    span: Span,
}

impl CycleMetrics {
    /// `span` must declare a `phase` field; it is kept up to date.
    pub fn new(metrics: Arc<Metrics>, span: Span) -> Self {
        CycleMetrics {
            metrics,
            scan_started: Mutex::new(None),
            span,
        }
    }
}

impl CycleObserver for CycleMetrics {
    fn phase(&self, tenant: &str, phase: Phase) {
        self.metrics.phase(tenant, phase.as_str());
        self.span.record("phase", phase.as_str());
        let mut scan = self.scan_started.lock().expect("not poisoned");
        match phase {
            Phase::Scanning => *scan = Some(Instant::now()),
            // Discovery (with the initialisation before it) ends where the
            // diff starts.
            Phase::Diffing => {
                if let Some(started) = scan.take() {
                    self.metrics.scan_finished(tenant, started.elapsed());
                }
            }
            _ => {}
        }
    }

    /// `cfc_sync_pages_total` / `cfc_sync_attachments_total`: only cycles
    /// that have work report it, so the gauges keep the last such cycle's.
    fn work_selected(&self, tenant: &str, pages: usize, attachments: usize) {
        self.metrics.selected_work(tenant, pages, attachments);
    }

    fn page_done(&self, tenant: &str, result: ItemResult) {
        self.metrics.page_done(tenant, label(result));
    }

    fn attachment_done(&self, tenant: &str, result: ItemResult, upload: Option<Duration>) {
        match result {
            ItemResult::Skipped(_) => {}
            other => self.metrics.attachment_done(tenant, label(other), upload),
        }
    }
}

fn label(result: ItemResult) -> &'static str {
    match result {
        ItemResult::Success => metrics::SUCCESS,
        ItemResult::Failure => metrics::FAILURE,
        ItemResult::Skipped(_) => metrics::SKIPPED,
    }
}

/// The counters that come from a finished cycle's report.
pub fn record_cycle(metrics: &Metrics, report: &CycleReport) {
    let tenant = report.tenant.as_str();
    let result = match &report.result {
        CycleResult::Success => metrics::SUCCESS,
        CycleResult::Failure(_) => metrics::FAILURE,
        CycleResult::Skipped(_) => {
            metrics.tick_skipped(tenant);
            return;
        }
    };
    metrics.cycle_finished(tenant, result, report.duration);
    // A failed cycle may have stopped before its deletion step, so only a
    // successful one says what is held now.
    if report.result == CycleResult::Success {
        metrics.deletions_held(tenant, report.held);
    }
    metrics.file_diff_events(tenant, "new", report.new);
    metrics.file_diff_events(tenant, "updated", report.updated);
    metrics.file_diff_events(tenant, "moved", report.moved);
    let diff_deleted = report.spaces.iter().map(|space| space.deleted).sum();
    metrics.file_diff_events(tenant, "deleted", diff_deleted);
    metrics.content_deleted(tenant, metrics::SUCCESS, report.deleted);
    metrics.content_deleted(tenant, metrics::FAILURE, report.delete_failures);
    metrics.orphans_cleaned(
        tenant,
        report.orphan_scopes_removed,
        report.orphan_scope_failures,
        report.orphan_files_removed,
    );
}

/// The counters of a finished purge; a purge skipped because the tenant's
/// previous run still ran counts as a skipped tick.
pub fn record_purge(metrics: &Metrics, report: &PurgeReport) {
    let result = match &report.outcome {
        PurgeOutcome::Success => metrics::SUCCESS,
        PurgeOutcome::Failure { .. } => metrics::FAILURE,
        PurgeOutcome::Skipped("scan_in_progress") => {
            metrics.tick_skipped(&report.tenant);
            return;
        }
        // Nothing to purge (already cleaned up, no root, foreign owner).
        PurgeOutcome::Skipped(_) => return,
    };
    metrics.purge_finished(
        &report.tenant,
        result,
        report.duration,
        report.content_deleted,
        report.content_failures,
        report.scopes_deleted,
        report.scope_failures,
    );
}

/// The Confluence and Unique recorder of one tenant.
#[derive(Debug)]
pub struct TenantRecorder {
    pub tenant: String,
    pub metrics: Arc<Metrics>,
}

impl RequestRecorder for TenantRecorder {
    fn request(
        &self,
        operation: &'static str,
        path: &str,
        duration: Duration,
        status: Option<u16>,
    ) {
        // §11.5: a bounded template for downloads whatever their URL shape.
        let endpoint = if operation.contains("download") {
            "download".to_owned()
        } else {
            metrics::confluence_endpoint(path)
        };
        self.metrics
            .confluence_request(&self.tenant, &endpoint, duration, status);
    }

    fn throttled_by_server(&self) {
        self.metrics.confluence_throttled_by_server(&self.tenant);
    }

    fn throttled_locally(&self) {
        self.metrics.confluence_throttled_locally(&self.tenant);
    }
}

impl CallRecorder for TenantRecorder {
    fn call(
        &self,
        operation: &str,
        target: &'static str,
        duration: Duration,
        status: Option<u16>,
        ok: bool,
    ) {
        self.metrics
            .unique_call(&self.tenant, operation, target, duration, status, ok);
    }

    fn token_refreshed(&self) {
        self.metrics.unique_token_refreshed();
    }
}
