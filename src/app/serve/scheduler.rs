//! Per-tenant scheduling (PROTOCOL §9.1): one cycle at start, then one per
//! cron fire time (UTC). Each tenant has its own task; each cycle runs in a
//! task of its own, so a panic or a stuck cycle of one tenant touches no
//! other. A fire time that finds the tenant's previous cycle still running
//! is skipped and counted (the cycle's own re-entrancy flag decides).

use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::{Instrument, error, info_span, warn};

use super::{
    health::SyncHistory,
    observer::{CycleMetrics, record_cycle, record_purge},
};
use crate::{
    app::{
        sync::{CycleResult, PurgeOutcome},
        tenants::TenantCycle,
    },
    telemetry::metrics::Metrics,
};

/// Active tenants sync, deleted ones purge (§9.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantKind {
    Active,
    Deleted,
}

/// One scheduled tenant.
#[derive(Debug)]
pub struct ScheduledTenant {
    pub name: String,
    pub kind: TenantKind,
    pub cron: croner::Cron,
    pub cycle: Arc<TenantCycle>,
}

/// What the tenant tasks share.
#[derive(Debug)]
pub struct Scheduler {
    pub metrics: Arc<Metrics>,
    pub health: Arc<super::health::Health>,
    /// Stops scheduling (first step of shutdown).
    pub stop_scheduling: CancellationToken,
    /// Abandons cycles still running when the drain time is up.
    pub abandon: CancellationToken,
    /// Every cycle task, so shutdown can wait for them.
    pub cycles: TaskTracker,
    /// Tenants whose cycle was abandoned at shutdown.
    pub abandoned: Mutex<Vec<String>>,
}

impl Scheduler {
    fn history(&self) -> &SyncHistory {
        &self.health.history
    }

    /// The task of one tenant: a cycle now, then one per fire time.
    pub async fn run_tenant(self: Arc<Self>, tenant: Arc<ScheduledTenant>) {
        self.start_cycle(&tenant, "start");
        let mut previous: DateTime<Utc> = Utc::now();
        loop {
            // Never before the previous fire time: the wall clock and the
            // timer's monotonic clock may disagree by a little, and the same
            // fire time must not be taken twice.
            let from = Utc::now().max(previous);
            let next = match tenant.cron.find_next_occurrence(&from, false) {
                Ok(next) => next,
                Err(err) => {
                    error!(tenant = %tenant.name, error = %err, "the schedule has no next fire time; no further cycles");
                    return;
                }
            };
            let wait = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::select! {
                () = self.stop_scheduling.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            previous = next;
            if self.stop_scheduling.is_cancelled() {
                return;
            }
            self.start_cycle(&tenant, "schedule");
        }
    }

    /// Spawns one cycle (or purge) of `tenant`, tracked for the drain.
    fn start_cycle(self: &Arc<Self>, tenant: &Arc<ScheduledTenant>, trigger: &'static str) {
        let scheduler = Arc::clone(self);
        let tenant = Arc::clone(tenant);
        self.cycles.spawn(async move {
            let name = tenant.name.clone();
            // The run itself is a task of its own: a panic ends it, not the
            // tenant's schedule, and is recorded as a failure (§9.14).
            let run = tokio::spawn(Arc::clone(&scheduler).run_once(Arc::clone(&tenant), trigger));
            let abort = run.abort_handle();
            tokio::select! {
                joined = run => {
                    if let Err(err) = joined
                        && err.is_panic()
                    {
                        error!(tenant = %name, "the cycle panicked; recorded as failure");
                        if tenant.kind == TenantKind::Active {
                            scheduler.history().record(&name, true, None);
                        }
                        scheduler.metrics.phase(&name, "idle");
                    }
                }
                () = scheduler.abandon.cancelled() => {
                    abort.abort();
                    // §9.1: an interrupted cycle is a failure in the logs only.
                    error!(tenant = %name, result = "failure", "cycle interrupted by shutdown before it finished");
                    scheduler.abandoned.lock().expect("not poisoned").push(name);
                }
            }
        });
    }

    /// Runs `run` (the tenant's cycle) and, once it has run longer than
    /// `SYNC_CYCLE_STUCK_AFTER_SECONDS`, warns once and raises
    /// `cfc_sync_cycle_stuck` until it ends (`/health` reads the cycle's
    /// running time itself). A run skipped by the re-entrancy flag returns
    /// at once and never trips the bound.
    async fn watch_for_stuck<T>(
        &self,
        tenant: &ScheduledTenant,
        span: &tracing::Span,
        run: impl Future<Output = T>,
    ) -> T {
        let bound = self.health.stuck_after;
        tokio::pin!(run);
        tokio::select! {
            done = &mut run => return done,
            () = tokio::time::sleep(bound) => {}
        }
        let running_for = tenant.cycle.running_for().unwrap_or(bound);
        {
            let _entered = span.enter();
            warn!(
                tenant = %tenant.name,
                running_for_s = running_for.as_secs(),
                stuck_after_s = bound.as_secs(),
                "sync cycle is stuck: still running after SYNC_CYCLE_STUCK_AFTER_SECONDS; the tenant reports unhealthy until it ends"
            );
        }
        /// Lowers the gauge however the run ends (also when it is aborted).
        struct Lower<'a>(&'a Metrics, &'a str);
        impl Drop for Lower<'_> {
            fn drop(&mut self) {
                self.0.cycle_stuck(self.1, false);
            }
        }
        self.metrics.cycle_stuck(&tenant.name, true);
        let _lower = Lower(&self.metrics, &tenant.name);
        run.await
    }

    async fn run_once(self: Arc<Self>, tenant: Arc<ScheduledTenant>, trigger: &'static str) {
        let name = tenant.name.as_str();
        let span = info_span!(
            "tenant_run",
            tenantName = %name,
            trigger,
            phase = tracing::field::Empty
        );
        match tenant.kind {
            TenantKind::Active => {
                let observer = CycleMetrics::new(Arc::clone(&self.metrics), span.clone());
                let cycle = Arc::clone(&tenant.cycle);
                let run = cycle.run(&observer).instrument(span.clone());
                let report = self.watch_for_stuck(&tenant, &span, run).await;
                record_cycle(&self.metrics, &report);
                let _entered = span.enter();
                match &report.result {
                    CycleResult::Success => self.history().record(name, false, Some(report.held)),
                    CycleResult::Failure(_) => self.history().record(name, true, None),
                    CycleResult::Skipped(reason) => {
                        warn!(tenant = %name, reason, "fire time skipped: the previous cycle is still running");
                    }
                }
            }
            TenantKind::Deleted => {
                let cycle = Arc::clone(&tenant.cycle);
                let report = cycle.purge().instrument(span.clone()).await;
                record_purge(&self.metrics, &report);
                if let PurgeOutcome::Skipped(reason @ "scan_in_progress") = report.outcome {
                    let _entered = span.enter();
                    warn!(tenant = %name, reason, "fire time skipped: the previous purge is still running");
                }
            }
        }
    }
}
