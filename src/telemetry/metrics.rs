//! The Prometheus metrics of PROTOCOL §11.3, defined once: names, help
//! texts, label names, buckets, and the functions that turn raw values
//! (URL paths, HTTP statuses) into bounded label values.
//!
//! Everything that records a metric goes through [`Metrics`]; nothing else
//! in the crate names a metric. The exposition is the Prometheus text
//! format 0.0.4 (see `ADR/0005-prometheus-metrics-exporter.md` for the crate
//! choice). Label values are bounded by construction: tenant names come
//! from the configuration, Confluence endpoints are route templates
//! ([`confluence_endpoint`]), Unique operations are operation names or REST
//! templates ([`unique_rest_operation`]), statuses are classes
//! ([`status_class`]).

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use prometheus::{
    Counter, Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// The exposed metric names (§11.3, §14.6, §14.8). Dashboards and alerts
/// select on these; renaming one breaks them.
pub mod names {
    pub const SYNC_DURATION: &str = "cfc_sync_duration_seconds";
    pub const SCAN_DURATION: &str = "cfc_scan_duration_seconds";
    pub const ATTACHMENT_UPLOAD_DURATION: &str = "cfc_attachment_upload_duration_seconds";
    pub const PAGES_PROCESSED: &str = "cfc_pages_processed_total";
    pub const ATTACHMENTS_PROCESSED: &str = "cfc_attachments_processed_total";
    pub const CONTENT_DELETED: &str = "cfc_content_deleted_total";
    pub const FILE_DIFF_EVENTS: &str = "cfc_file_diff_events_total";
    pub const CONFLUENCE_REQUEST_DURATION: &str = "cfc_confluence_api_request_duration_seconds";
    pub const CONFLUENCE_THROTTLE_EVENTS: &str = "cfc_confluence_api_throttle_events_total";
    pub const CONFLUENCE_LOCAL_THROTTLE: &str = "cfc_confluence_api_local_throttle_total";
    pub const CONFLUENCE_ERRORS: &str = "cfc_confluence_api_errors_total";
    pub const CLEANUP_DURATION: &str = "cfc_cleanup_duration_seconds";
    pub const CLEANUP_CONTENT_DELETED: &str = "cfc_cleanup_content_deleted_total";
    pub const CLEANUP_SCOPES_DELETED: &str = "cfc_cleanup_scopes_deleted_total";
    pub const ORPHANED_SCOPES_CLEANED: &str = "cfc_orphaned_scopes_cleaned_total";
    pub const ORPHANED_FILES_CLEANED: &str = "cfc_orphaned_files_cleaned_total";
    pub const SYNC_PHASE: &str = "cfc_sync_phase";
    pub const SYNC_PAGES: &str = "cfc_sync_pages_total";
    pub const SYNC_ATTACHMENTS: &str = "cfc_sync_attachments_total";
    pub const DELETIONS_HELD: &str = "cfc_deletions_held";
    /// Ours: schedule ticks skipped because the tenant's cycle still ran (§9.1).
    pub const SYNC_SKIPPED: &str = "cfc_sync_skipped_total";
    /// Ours: 1 while the tenant's cycle runs longer than
    /// `SYNC_CYCLE_STUCK_AFTER_SECONDS`, else 0.
    pub const SYNC_CYCLE_STUCK: &str = "cfc_sync_cycle_stuck";
    pub const UNIQUE_REQUESTS: &str = "confluence_connector_unique_api_requests_total";
    pub const UNIQUE_ERRORS: &str = "confluence_connector_unique_api_errors_total";
    pub const UNIQUE_REQUEST_DURATION: &str = "confluence_connector_unique_api_request_duration_ms";
    pub const UNIQUE_SLOW_REQUESTS: &str = "confluence_connector_unique_api_slow_requests_total";
    pub const UNIQUE_TOKEN_REFRESH: &str =
        "confluence_connector_unique_api_auth_token_refresh_total";
    pub const PROCESS_MEMORY_USAGE: &str = "process_memory_usage";
    pub const PROCESS_CPU_UTILIZATION: &str = "process_cpu_utilization";
    pub const PROCESS_RESIDENT_MEMORY: &str = "process_resident_memory_bytes";
    pub const PROCESS_CPU_SECONDS: &str = "process_cpu_seconds_total";

    /// Every name above, for tests and documentation.
    pub const ALL: [&str; 31] = [
        SYNC_DURATION,
        SCAN_DURATION,
        ATTACHMENT_UPLOAD_DURATION,
        PAGES_PROCESSED,
        ATTACHMENTS_PROCESSED,
        CONTENT_DELETED,
        FILE_DIFF_EVENTS,
        CONFLUENCE_REQUEST_DURATION,
        CONFLUENCE_THROTTLE_EVENTS,
        CONFLUENCE_LOCAL_THROTTLE,
        CONFLUENCE_ERRORS,
        CLEANUP_DURATION,
        CLEANUP_CONTENT_DELETED,
        CLEANUP_SCOPES_DELETED,
        ORPHANED_SCOPES_CLEANED,
        ORPHANED_FILES_CLEANED,
        SYNC_PHASE,
        SYNC_PAGES,
        SYNC_ATTACHMENTS,
        DELETIONS_HELD,
        SYNC_SKIPPED,
        SYNC_CYCLE_STUCK,
        UNIQUE_REQUESTS,
        UNIQUE_ERRORS,
        UNIQUE_REQUEST_DURATION,
        UNIQUE_SLOW_REQUESTS,
        UNIQUE_TOKEN_REFRESH,
        PROCESS_MEMORY_USAGE,
        PROCESS_CPU_UTILIZATION,
        PROCESS_RESIDENT_MEMORY,
        PROCESS_CPU_SECONDS,
    ];
}

/// Ours (§11.3): cycle and purge durations in seconds.
const CYCLE_BUCKETS: [f64; 10] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
];
/// Ours (§11.3): the discovery phase.
const SCAN_BUCKETS: [f64; 9] = [0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];
/// §11.3: download + PUT of one attachment.
const UPLOAD_BUCKETS: [f64; 11] = [0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 60.0];
/// §11.3: one logical Confluence request.
const CONFLUENCE_BUCKETS: [f64; 8] = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// OpenTelemetry's default boundaries (compat, §11.3), in milliseconds.
const OTEL_DEFAULT_BUCKETS: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// The seven phases of `cfc_sync_phase`, in PROTOCOL order.
pub const PHASES: [&str; 7] = [
    "idle",
    "scanning",
    "diffing",
    "ingesting_pages",
    "ingesting_attachments",
    "deleting",
    "cleaning_up",
];

/// `result` of items and cycles.
pub const SUCCESS: &str = "success";
pub const FAILURE: &str = "failure";
pub const SKIPPED: &str = "skipped";

/// The process's metrics registry. Cheap to share behind an `Arc`.
pub struct Metrics {
    registry: Registry,
    sync_duration: HistogramVec,
    scan_duration: HistogramVec,
    attachment_upload_duration: HistogramVec,
    pages_processed: IntCounterVec,
    attachments_processed: IntCounterVec,
    content_deleted: IntCounterVec,
    file_diff_events: IntCounterVec,
    confluence_request_duration: HistogramVec,
    confluence_throttle_events: IntCounterVec,
    confluence_local_throttle: IntCounterVec,
    confluence_errors: IntCounterVec,
    cleanup_duration: HistogramVec,
    cleanup_content_deleted: IntCounterVec,
    cleanup_scopes_deleted: IntCounterVec,
    orphaned_scopes_cleaned: IntCounterVec,
    orphaned_files_cleaned: IntCounterVec,
    sync_phase: IntGaugeVec,
    sync_pages: IntGaugeVec,
    sync_attachments: IntGaugeVec,
    deletions_held: IntGaugeVec,
    sync_skipped: IntCounterVec,
    sync_cycle_stuck: IntGaugeVec,
    unique_requests: IntCounterVec,
    unique_errors: IntCounterVec,
    unique_request_duration: HistogramVec,
    unique_slow_requests: IntCounterVec,
    unique_token_refresh: IntCounter,
    process_memory_usage: Gauge,
    process_cpu_utilization: Gauge,
    process_resident_memory: Gauge,
    process_cpu_seconds: Counter,
    cpu: Mutex<CpuSample>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The CPU time seen at the previous scrape, so that utilisation is the
/// share of the interval between two scrapes (what a gauge can express).
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    cpu_seconds: f64,
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> HistogramVec {
    let metric = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
    .expect("metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are registered once");
    metric
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric =
        IntCounterVec::new(Opts::new(name, help), labels).expect("metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are registered once");
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric =
        IntGaugeVec::new(Opts::new(name, help), labels).expect("metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are registered once");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> Gauge {
    let metric = Gauge::new(name, help).expect("metric definitions are valid");
    registry
        .register(Box::new(metric.clone()))
        .expect("metric names are registered once");
    metric
}

const UNIQUE_LABELS: [&str; 3] = ["operation", "target", "tenant"];

impl Metrics {
    pub fn new() -> Self {
        use names::*;
        let r = Registry::new();
        let initial_cpu = proc_self::cpu_seconds().unwrap_or(0.0);
        let token_refresh = IntCounter::new(
            UNIQUE_TOKEN_REFRESH,
            "Successful Zitadel token acquisitions",
        )
        .expect("metric definitions are valid");
        r.register(Box::new(token_refresh.clone()))
            .expect("metric names are registered once");
        Metrics {
            sync_duration: histogram(
                &r,
                SYNC_DURATION,
                "Duration of a whole sync cycle",
                &CYCLE_BUCKETS,
                &["tenant", "result"],
            ),
            scan_duration: histogram(
                &r,
                SCAN_DURATION,
                "Duration of the discovery phase",
                &SCAN_BUCKETS,
                &["tenant"],
            ),
            attachment_upload_duration: histogram(
                &r,
                ATTACHMENT_UPLOAD_DURATION,
                "Download and upload of one attachment",
                &UPLOAD_BUCKETS,
                &["tenant"],
            ),
            pages_processed: counter(
                &r,
                PAGES_PROCESSED,
                "Pages processed by result",
                &["tenant", "result"],
            ),
            attachments_processed: counter(
                &r,
                ATTACHMENTS_PROCESSED,
                "Attachments processed by result",
                &["tenant", "result"],
            ),
            content_deleted: counter(
                &r,
                CONTENT_DELETED,
                "Content deleted because the file-diff reported it gone",
                &["tenant", "result"],
            ),
            file_diff_events: counter(
                &r,
                FILE_DIFF_EVENTS,
                "File-diff results by type",
                &["tenant", "diff_result_type"],
            ),
            confluence_request_duration: histogram(
                &r,
                CONFLUENCE_REQUEST_DURATION,
                "Logical Confluence request including retries",
                &CONFLUENCE_BUCKETS,
                &["tenant", "endpoint", "result"],
            ),
            confluence_throttle_events: counter(
                &r,
                CONFLUENCE_THROTTLE_EVENTS,
                "HTTP 429 answers received from Confluence",
                &["tenant"],
            ),
            confluence_local_throttle: counter(
                &r,
                CONFLUENCE_LOCAL_THROTTLE,
                "Confluence requests that waited for the tenant's own rate limiter",
                &["tenant"],
            ),
            confluence_errors: counter(
                &r,
                CONFLUENCE_ERRORS,
                "Failed logical Confluence requests",
                &["tenant", "http_status_class"],
            ),
            cleanup_duration: histogram(
                &r,
                CLEANUP_DURATION,
                "Duration of a deleted tenant's purge",
                &CYCLE_BUCKETS,
                &["tenant", "result"],
            ),
            cleanup_content_deleted: counter(
                &r,
                CLEANUP_CONTENT_DELETED,
                "Content deleted by purges",
                &["tenant", "result"],
            ),
            cleanup_scopes_deleted: counter(
                &r,
                CLEANUP_SCOPES_DELETED,
                "Scopes deleted by purges",
                &["tenant", "result"],
            ),
            orphaned_scopes_cleaned: counter(
                &r,
                ORPHANED_SCOPES_CLEANED,
                "Orphaned space scopes removed",
                &["tenant", "result"],
            ),
            orphaned_files_cleaned: counter(
                &r,
                ORPHANED_FILES_CLEANED,
                "Content removed with orphaned space scopes",
                &["tenant"],
            ),
            sync_phase: gauge_vec(
                &r,
                SYNC_PHASE,
                "1 for the tenant's current phase, 0 for the others",
                &["tenant", "phase"],
            ),
            sync_pages: gauge_vec(
                &r,
                SYNC_PAGES,
                "Pages selected in the last cycle that had work",
                &["tenant"],
            ),
            sync_attachments: gauge_vec(
                &r,
                SYNC_ATTACHMENTS,
                "Attachments selected in the last cycle that had work",
                &["tenant"],
            ),
            deletions_held: gauge_vec(
                &r,
                DELETIONS_HELD,
                "Deletions (content items, and space scopes counted by their items) the last cycle held for confirmation by the next one",
                &["tenant"],
            ),
            sync_skipped: counter(
                &r,
                SYNC_SKIPPED,
                "Schedule ticks skipped because the tenant's cycle was still running",
                &["tenant"],
            ),
            sync_cycle_stuck: gauge_vec(
                &r,
                SYNC_CYCLE_STUCK,
                "1 while the tenant's cycle has run longer than SYNC_CYCLE_STUCK_AFTER_SECONDS",
                &["tenant"],
            ),
            unique_requests: counter(
                &r,
                UNIQUE_REQUESTS,
                "Unique GraphQL and REST calls",
                &[
                    UNIQUE_LABELS[0],
                    UNIQUE_LABELS[1],
                    UNIQUE_LABELS[2],
                    "result",
                ],
            ),
            unique_errors: counter(
                &r,
                UNIQUE_ERRORS,
                "Failed Unique calls",
                &[
                    UNIQUE_LABELS[0],
                    UNIQUE_LABELS[1],
                    UNIQUE_LABELS[2],
                    "status_code_class",
                ],
            ),
            unique_request_duration: histogram(
                &r,
                UNIQUE_REQUEST_DURATION,
                "Latency of Unique calls in milliseconds",
                &OTEL_DEFAULT_BUCKETS,
                &[
                    UNIQUE_LABELS[0],
                    UNIQUE_LABELS[1],
                    UNIQUE_LABELS[2],
                    "result",
                    "status_code_class",
                ],
            ),
            unique_slow_requests: counter(
                &r,
                UNIQUE_SLOW_REQUESTS,
                "Unique calls slower than one second, by the largest bucket they exceed",
                &[
                    UNIQUE_LABELS[0],
                    UNIQUE_LABELS[1],
                    UNIQUE_LABELS[2],
                    "duration_bucket",
                ],
            ),
            unique_token_refresh: token_refresh,
            process_memory_usage: gauge(
                &r,
                PROCESS_MEMORY_USAGE,
                "Resident memory of the process in bytes",
            ),
            process_cpu_utilization: gauge(
                &r,
                PROCESS_CPU_UTILIZATION,
                "Share of the available CPUs the process used since the previous scrape (0 to 1)",
            ),
            process_resident_memory: gauge(
                &r,
                PROCESS_RESIDENT_MEMORY,
                "Resident memory size in bytes",
            ),
            process_cpu_seconds: {
                let metric = Counter::new(
                    PROCESS_CPU_SECONDS,
                    "Total user and system CPU time spent in seconds",
                )
                .expect("metric definitions are valid");
                r.register(Box::new(metric.clone()))
                    .expect("metric names are registered once");
                // Since process start, like the standard collector.
                metric.inc_by(initial_cpu);
                metric
            },
            cpu: Mutex::new(CpuSample {
                at: Instant::now(),
                cpu_seconds: initial_cpu,
            }),
            registry: r,
        }
    }

    /// Seeds the series of an active tenant with 0, so `increase()` works
    /// from the first cycle (§11.3), and sets its phase to `idle`.
    pub fn register_active_tenant(&self, tenant: &str) {
        for result in [SUCCESS, FAILURE, SKIPPED] {
            self.pages_processed.with_label_values(&[tenant, result]);
        }
        for result in [SUCCESS, FAILURE] {
            self.attachments_processed
                .with_label_values(&[tenant, result]);
            self.content_deleted.with_label_values(&[tenant, result]);
            self.orphaned_scopes_cleaned
                .with_label_values(&[tenant, result]);
        }
        for kind in ["new", "updated", "deleted", "moved"] {
            self.file_diff_events.with_label_values(&[tenant, kind]);
        }
        self.confluence_throttle_events.with_label_values(&[tenant]);
        self.confluence_local_throttle.with_label_values(&[tenant]);
        self.orphaned_files_cleaned.with_label_values(&[tenant]);
        self.sync_skipped.with_label_values(&[tenant]);
        self.sync_cycle_stuck.with_label_values(&[tenant]).set(0);
        self.sync_pages.with_label_values(&[tenant]);
        self.sync_attachments.with_label_values(&[tenant]);
        self.deletions_held.with_label_values(&[tenant]);
        self.phase(tenant, "idle");
    }

    /// Seeds the purge series of a deleted tenant (§11.3).
    pub fn register_deleted_tenant(&self, tenant: &str) {
        for result in [SUCCESS, FAILURE] {
            self.cleanup_content_deleted
                .with_label_values(&[tenant, result]);
            self.cleanup_scopes_deleted
                .with_label_values(&[tenant, result]);
        }
        self.sync_skipped.with_label_values(&[tenant]);
    }

    /// `phase` becomes 1, the six others 0.
    pub fn phase(&self, tenant: &str, phase: &str) {
        for known in PHASES {
            self.sync_phase
                .with_label_values(&[tenant, known])
                .set(i64::from(known == phase));
        }
    }

    pub fn page_done(&self, tenant: &str, result: &str) {
        self.pages_processed
            .with_label_values(&[tenant, result])
            .inc();
    }

    /// `upload` is the download+PUT time of a successful attachment.
    pub fn attachment_done(&self, tenant: &str, result: &str, upload: Option<Duration>) {
        self.attachments_processed
            .with_label_values(&[tenant, result])
            .inc();
        if let Some(upload) = upload {
            self.attachment_upload_duration
                .with_label_values(&[tenant])
                .observe(upload.as_secs_f64());
        }
    }

    pub fn scan_finished(&self, tenant: &str, duration: Duration) {
        self.scan_duration
            .with_label_values(&[tenant])
            .observe(duration.as_secs_f64());
    }

    /// The end of a cycle that ran (`result` is `success` or `failure`).
    pub fn cycle_finished(&self, tenant: &str, result: &str, duration: Duration) {
        self.sync_duration
            .with_label_values(&[tenant, result])
            .observe(duration.as_secs_f64());
    }

    pub fn file_diff_events(&self, tenant: &str, kind: &str, count: usize) {
        self.file_diff_events
            .with_label_values(&[tenant, kind])
            .inc_by(count as u64);
    }

    pub fn content_deleted(&self, tenant: &str, result: &str, count: usize) {
        self.content_deleted
            .with_label_values(&[tenant, result])
            .inc_by(count as u64);
    }

    pub fn orphans_cleaned(
        &self,
        tenant: &str,
        scopes: usize,
        scope_failures: usize,
        files: usize,
    ) {
        self.orphaned_scopes_cleaned
            .with_label_values(&[tenant, SUCCESS])
            .inc_by(scopes as u64);
        self.orphaned_scopes_cleaned
            .with_label_values(&[tenant, FAILURE])
            .inc_by(scope_failures as u64);
        self.orphaned_files_cleaned
            .with_label_values(&[tenant])
            .inc_by(files as u64);
    }

    /// `cfc_deletions_held`: what the last cycle that ran held (0 when it
    /// held nothing).
    pub fn deletions_held(&self, tenant: &str, held: usize) {
        self.deletions_held
            .with_label_values(&[tenant])
            .set(held as i64);
    }

    /// `cfc_sync_pages_total` / `cfc_sync_attachments_total`: set only by a
    /// cycle that had work.
    pub fn selected_work(&self, tenant: &str, pages: usize, attachments: usize) {
        self.sync_pages
            .with_label_values(&[tenant])
            .set(pages as i64);
        self.sync_attachments
            .with_label_values(&[tenant])
            .set(attachments as i64);
    }

    pub fn tick_skipped(&self, tenant: &str) {
        self.sync_skipped.with_label_values(&[tenant]).inc();
    }

    /// Whether the tenant's running cycle has passed the stuck bound.
    pub fn cycle_stuck(&self, tenant: &str, stuck: bool) {
        self.sync_cycle_stuck
            .with_label_values(&[tenant])
            .set(i64::from(stuck));
    }

    /// The end of a purge.
    #[allow(clippy::too_many_arguments)]
    pub fn purge_finished(
        &self,
        tenant: &str,
        result: &str,
        duration: Duration,
        content_deleted: usize,
        content_failures: usize,
        scopes_deleted: usize,
        scope_failures: usize,
    ) {
        self.cleanup_duration
            .with_label_values(&[tenant, result])
            .observe(duration.as_secs_f64());
        let add = |metric: &IntCounterVec, result: &str, count: usize| {
            metric
                .with_label_values(&[tenant, result])
                .inc_by(count as u64);
        };
        add(&self.cleanup_content_deleted, SUCCESS, content_deleted);
        add(&self.cleanup_content_deleted, FAILURE, content_failures);
        add(&self.cleanup_scopes_deleted, SUCCESS, scopes_deleted);
        add(&self.cleanup_scopes_deleted, FAILURE, scope_failures);
    }

    /// One logical Confluence request (retries included) of `tenant`.
    /// `endpoint` must come from [`confluence_endpoint`]; `status` is the
    /// final answer's, `None` when none arrived.
    pub fn confluence_request(
        &self,
        tenant: &str,
        endpoint: &str,
        duration: Duration,
        status: Option<u16>,
    ) {
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        self.confluence_request_duration
            .with_label_values(&[tenant, endpoint, if ok { SUCCESS } else { "error" }])
            .observe(duration.as_secs_f64());
        if !ok {
            self.confluence_errors
                .with_label_values(&[tenant, &status_class(status)])
                .inc();
        }
    }

    /// An HTTP 429 from Confluence (every attempt, §13 #4).
    pub fn confluence_throttled_by_server(&self, tenant: &str) {
        self.confluence_throttle_events
            .with_label_values(&[tenant])
            .inc();
    }

    /// A Confluence request had to wait for the tenant's own limiter.
    pub fn confluence_throttled_locally(&self, tenant: &str) {
        self.confluence_local_throttle
            .with_label_values(&[tenant])
            .inc();
    }

    /// One Unique GraphQL or REST call. `operation` is a bounded label
    /// value (`graphql:{target}:{Name}` or a REST template), `target`
    /// `ingestion` or `scopeManagement`; `status` the HTTP status if an
    /// answer arrived, `ok` whether the call succeeded (a GraphQL error in
    /// a 200 answer is a failure).
    pub fn unique_call(
        &self,
        tenant: &str,
        operation: &str,
        target: &str,
        duration: Duration,
        status: Option<u16>,
        ok: bool,
    ) {
        let (result, class) = if ok {
            (SUCCESS, "2xx".to_owned())
        } else {
            ("error", status_class(status))
        };
        let base = [operation, target, tenant];
        self.unique_requests
            .with_label_values(&[base[0], base[1], base[2], result])
            .inc();
        self.unique_request_duration
            .with_label_values(&[base[0], base[1], base[2], result, &class])
            .observe(duration.as_secs_f64() * 1000.0);
        if !ok {
            self.unique_errors
                .with_label_values(&[base[0], base[1], base[2], &class])
                .inc();
        }
        if let Some(bucket) = slow_bucket(duration) {
            self.unique_slow_requests
                .with_label_values(&[base[0], base[1], base[2], bucket])
                .inc();
        }
    }

    pub fn unique_token_refreshed(&self) {
        self.unique_token_refresh.inc();
    }

    /// The exposition in Prometheus text format 0.0.4, with the process
    /// gauges refreshed first.
    pub fn encode(&self) -> String {
        self.sample_process();
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding into memory does not fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }

    /// The `Content-Type` of [`encode`](Self::encode).
    pub fn content_type(&self) -> &'static str {
        prometheus::TEXT_FORMAT
    }

    fn sample_process(&self) {
        if let Some(rss) = proc_self::resident_bytes() {
            self.process_memory_usage.set(rss as f64);
            self.process_resident_memory.set(rss as f64);
        }
        let Some(cpu_seconds) = proc_self::cpu_seconds() else {
            return;
        };
        let mut last = self.cpu.lock().expect("not poisoned");
        // A counter only grows; the first sample at construction is the base.
        self.process_cpu_seconds
            .inc_by((cpu_seconds - last.cpu_seconds).max(0.0));
        let now = Instant::now();
        let wall = now.duration_since(last.at).as_secs_f64();
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if wall > 0.0 {
            let share = (cpu_seconds - last.cpu_seconds) / (wall * cpus);
            self.process_cpu_utilization.set(share.clamp(0.0, 1.0));
        }
        *last = CpuSample {
            at: now,
            cpu_seconds,
        };
    }
}

fn slow_bucket(duration: Duration) -> Option<&'static str> {
    let secs = duration.as_secs_f64();
    [(10.0, ">10s"), (5.0, ">5s"), (2.0, ">2s"), (1.0, ">1s")]
        .into_iter()
        .find(|(limit, _)| secs > *limit)
        .map(|(_, bucket)| bucket)
}

/// `http_status_class` / `status_code_class` (§11.3): `2xx`, `3xx`, `5xx`,
/// the exact code for 4xx, `unknown` without an answer.
pub fn status_class(status: Option<u16>) -> String {
    match status {
        Some(code @ 400..=499) => code.to_string(),
        Some(code @ 100..=599) => format!("{}xx", code / 100),
        _ => "unknown".to_owned(),
    }
}

/// The `endpoint` label of a Confluence request (§11.3, §11.5): the path
/// from `/rest/api/` or `/api/v2/` on (whole otherwise), id-like segments
/// replaced by `{id}`; downloads are the single template `download`.
///
/// An id-like segment starts with 8 or more hex digits or dashes (cloud
/// ids, UUIDs) or with 4 or more digits, optionally after `att`. The whole
/// segment is replaced, which keeps the label set bounded even for
/// segments the reference's regex would only cut in part.
pub fn confluence_endpoint(path: &str) -> String {
    if path.is_empty() || !path.starts_with('/') {
        return "unknown".to_owned();
    }
    let path = path.split(['?', '#']).next().unwrap_or_default();
    if path.contains("/download/") || path.ends_with("/download") {
        return "download".to_owned();
    }
    let start = ["/rest/api/", "/api/v2/"]
        .iter()
        .filter_map(|prefix| path.find(prefix))
        .min()
        .unwrap_or(0);
    let templated: Vec<&str> = path[start..]
        .split('/')
        .map(|segment| {
            if is_id_segment(segment) {
                "{id}"
            } else {
                segment
            }
        })
        .collect();
    templated.join("/")
}

fn is_id_segment(segment: &str) -> bool {
    let hex = segment
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .count();
    let digits_after = |rest: &str| rest.chars().take_while(char::is_ascii_digit).count();
    let lower = segment.to_ascii_lowercase();
    hex >= 8
        || digits_after(&lower) >= 4
        || lower
            .strip_prefix("att")
            .is_some_and(|rest| digits_after(rest) >= 4)
}

/// The `operation` label of a Unique REST call (§11.3): `{METHOD}:{path}`
/// with segments outside the known vocabulary replaced by
/// `{<previous segment without trailing s>Id}`, or `[unknown]` at the start.
pub fn unique_rest_operation(method: &str, path: &str) -> String {
    const KNOWN: [&str; 7] = [
        "v2",
        "content",
        "file-diff",
        "scoped",
        "upload",
        "ingestion",
        "ingestion-gen2",
    ];
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        if KNOWN.contains(&segment) {
            out.push(segment.to_owned());
        } else {
            out.push(match previous {
                Some(prev) => format!("{{{}Id}}", prev.strip_suffix('s').unwrap_or(prev)),
                None => "[unknown]".to_owned(),
            });
        }
        previous = Some(segment);
    }
    format!("{method}:/{}", out.join("/"))
}

/// `graphql:{target}:{OperationName}` (§11.3).
pub fn unique_graphql_operation(target: &str, operation: &str) -> String {
    format!("graphql:{target}:{operation}")
}

/// Readings of `/proc/self` (Linux); `None` elsewhere or when unreadable.
mod proc_self {
    /// `VmRSS` of `/proc/self/status`, in bytes.
    pub(super) fn resident_bytes() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// User plus system CPU time of `/proc/self/stat`, in seconds. The
    /// kernel reports it in USER_HZ, which is 100 on every Linux ABI.
    pub(super) fn cpu_seconds() -> Option<f64> {
        const USER_HZ: f64 = 100.0;
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name may contain spaces; the fields after it are fixed.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / USER_HZ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_route_templates() {
        assert_eq!(
            confluence_endpoint(
                "/ex/confluence/0f1e2d3c-4b5a-6978/wiki/rest/api/content/search?cql=x"
            ),
            "/rest/api/content/search"
        );
        assert_eq!(
            confluence_endpoint("/wiki/api/v2/pages/123456/attachments"),
            "/api/v2/pages/{id}/attachments"
        );
        assert_eq!(
            confluence_endpoint("/confluence/rest/api/content/att98765/child/attachment"),
            "/rest/api/content/{id}/child/attachment"
        );
        assert_eq!(
            confluence_endpoint("/download/attachments/110001/file.png"),
            "download"
        );
        assert_eq!(
            confluence_endpoint("/rest/applinks/1.0/manifest"),
            "/rest/applinks/1.0/manifest"
        );
        assert_eq!(confluence_endpoint("not a path"), "unknown");
    }

    #[test]
    fn status_classes_keep_exact_4xx_codes() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(302)), "3xx");
        assert_eq!(status_class(Some(404)), "404");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(None), "unknown");
    }

    #[test]
    fn unique_rest_operations_keep_gateway_prefixes_and_template_ids() {
        assert_eq!(
            unique_rest_operation("POST", "/ingestion/v2/content/file-diff"),
            "POST:/ingestion/v2/content/file-diff"
        );
        assert_eq!(
            unique_rest_operation("POST", "/api/v2/content/file-diff"),
            "POST:/[unknown]/v2/content/file-diff"
        );
        assert_eq!(
            unique_rest_operation("GET", "/v2/content/abc123"),
            "GET:/v2/content/{contentId}"
        );
    }

    #[test]
    fn slow_requests_take_the_largest_bucket_they_exceed() {
        assert_eq!(slow_bucket(Duration::from_millis(900)), None);
        assert_eq!(slow_bucket(Duration::from_millis(1500)), Some(">1s"));
        assert_eq!(slow_bucket(Duration::from_secs(6)), Some(">5s"));
        assert_eq!(slow_bucket(Duration::from_secs(11)), Some(">10s"));
    }

    #[test]
    fn registration_seeds_counters_with_zero() {
        let metrics = Metrics::new();
        metrics.register_active_tenant("acme");
        let text = metrics.encode();
        for series in [
            "cfc_pages_processed_total{result=\"skipped\",tenant=\"acme\"} 0",
            "cfc_file_diff_events_total{diff_result_type=\"moved\",tenant=\"acme\"} 0",
            "cfc_confluence_api_throttle_events_total{tenant=\"acme\"} 0",
            "cfc_sync_phase{phase=\"idle\",tenant=\"acme\"} 1",
            "cfc_sync_phase{phase=\"scanning\",tenant=\"acme\"} 0",
            "confluence_connector_unique_api_auth_token_refresh_total 0",
        ] {
            assert!(text.contains(series), "missing `{series}` in\n{text}");
        }
        assert!(!text.contains("cfc_cleanup_content_deleted_total{"));
        metrics.register_deleted_tenant("gone");
        assert!(
            metrics
                .encode()
                .contains("cfc_cleanup_scopes_deleted_total{result=\"failure\",tenant=\"gone\"} 0")
        );
    }

    #[test]
    fn process_gauges_are_read_from_proc() {
        let metrics = Metrics::new();
        let text = metrics.encode();
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_memory_usage "))
            .expect("process_memory_usage present");
        assert!(rss.parse::<f64>().unwrap() > 1_000_000.0, "{rss}");
    }

    #[test]
    fn all_names_are_distinct() {
        let mut names = names::ALL.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), names::ALL.len());
    }
}
