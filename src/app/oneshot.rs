//! `sync` and `plan` (PROTOCOL §2.4): one pass over the tenants, then exit.
//!
//! Both load the configuration exactly as `serve` does, build each tenant's
//! cycle over the real adapters and run the tenants one after the other
//! (sequential is the default the protocol names; tenants share nothing, so
//! one tenant's failure never stops the next). The summary goes to stdout,
//! logs to stderr.

use std::{
    fmt::Write as _,
    io::{self, Write},
    process::ExitCode,
    time::Duration,
};

use super::{
    cli::{GlobalArgs, PlanArgs, TenantArgs},
    exit, load_config, runtime,
    sync::{CycleReport, CycleResult, NoObserver, PlanReport, PurgeOutcome, PurgeReport},
    tenants::{Retries, build_cycle_with},
};
use crate::{
    adapters::http::transport::HttpClients,
    config::{LoadedConfig, TenantConfig, TenantStatus},
};

/// What one tenant's pass did.
#[derive(Debug)]
pub enum TenantOutcome {
    /// An active tenant ran a sync cycle (boxed: a report is far larger than
    /// the other variants).
    Synced(Box<CycleReport>),
    /// A deleted tenant ran its purge.
    Purged(PurgeReport),
    /// The tenant's cycle could not even be built.
    NotBuilt { tenant: String, error: String },
}

impl TenantOutcome {
    /// Whether this outcome makes `sync` exit with status 1 (§2.4: any
    /// `failure`; a skipped purge is fine).
    pub fn failed(&self) -> bool {
        match self {
            TenantOutcome::Synced(report) => matches!(report.result, CycleResult::Failure(_)),
            TenantOutcome::Purged(report) => matches!(report.outcome, PurgeOutcome::Failure { .. }),
            TenantOutcome::NotBuilt { .. } => true,
        }
    }

    /// Items of a completed cycle that failed (exit status 3 when no tenant
    /// failed outright, ours §2.4).
    pub fn failed_items(&self) -> usize {
        match self {
            TenantOutcome::Synced(report) => report.failed(),
            TenantOutcome::Purged(_) | TenantOutcome::NotBuilt { .. } => 0,
        }
    }
}

/// The exit status of `sync` for these outcomes (ours §2.4): 1 if any
/// tenant failed, else 3 if any item failed, else 0.
pub fn sync_exit_code(outcomes: &[TenantOutcome]) -> u8 {
    if outcomes.iter().any(TenantOutcome::failed) {
        exit::FAILURE
    } else if outcomes.iter().any(|outcome| outcome.failed_items() > 0) {
        exit::PARTIAL
    } else {
        exit::OK
    }
}

/// `--tenant NAME` named no tenant that runs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantSelectionError {
    #[error(
        "unknown tenant `{0}`: no tenant file yields that name (names are file names minus `-tenant-config.yaml`)"
    )]
    Unknown(String),
    #[error(
        "tenant `{0}` has `status: inactive` and is never run; set `status: active` in its file to sync it"
    )]
    Inactive(String),
}

/// The tenants a command runs: all that run, or the one named.
///
/// # Errors
/// `only` names no tenant, or an inactive one.
pub fn select_tenants<'a>(
    config: &'a LoadedConfig,
    only: Option<&str>,
) -> Result<Vec<&'a TenantConfig>, TenantSelectionError> {
    let Some(name) = only else {
        return Ok(config.tenants.iter().collect());
    };
    if let Some(tenant) = config.tenant(name) {
        return Ok(vec![tenant]);
    }
    if config.inactive.iter().any(|t| t.name.as_str() == name) {
        return Err(TenantSelectionError::Inactive(name.to_owned()));
    }
    Err(TenantSelectionError::Unknown(name.to_owned()))
}

/// Runs one cycle (active) or purge (deleted) of each tenant, in order.
pub async fn sync_tenants(
    config: &LoadedConfig,
    tenants: &[&TenantConfig],
    clients: &HttpClients,
    retries: &Retries,
) -> Vec<TenantOutcome> {
    let mut outcomes = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let cycle = match build_cycle_with(tenant, clients, &config.process, retries) {
            Ok(cycle) => cycle,
            Err(err) => {
                outcomes.push(TenantOutcome::NotBuilt {
                    tenant: tenant.name.to_string(),
                    error: err.to_string(),
                });
                continue;
            }
        };
        let outcome = match tenant.status {
            TenantStatus::Deleted => TenantOutcome::Purged(cycle.purge().await),
            // `inactive` tenants never reach the running list.
            TenantStatus::Active | TenantStatus::Inactive => {
                TenantOutcome::Synced(Box::new(cycle.run(&NoObserver).await))
            }
        };
        outcomes.push(outcome);
    }
    outcomes
}

/// Plans each tenant; deleted tenants are listed as such (a cycle would
/// purge them, which `plan` does not simulate).
pub async fn plan_tenants(
    config: &LoadedConfig,
    tenants: &[&TenantConfig],
    clients: &HttpClients,
    retries: &Retries,
) -> Vec<(String, Result<Option<PlanReport>, String>)> {
    let mut plans = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let name = tenant.name.to_string();
        if tenant.status == TenantStatus::Deleted {
            plans.push((name, Ok(None)));
            continue;
        }
        let plan = match build_cycle_with(tenant, clients, &config.process, retries) {
            Ok(cycle) => cycle.plan().await.map(Some),
            Err(err) => Err(err.to_string()),
        };
        plans.push((name, plan));
    }
    plans
}

/// `confluence-connector sync [--tenant NAME]`.
pub fn sync(global: &GlobalArgs, args: &TenantArgs) -> ExitCode {
    let (config, clients) = match prepare(global) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let tenants = match selected(&config, args) {
        Ok(tenants) => tenants,
        Err(code) => return code,
    };
    let outcomes = match runtime() {
        Ok(runtime) => runtime.block_on(sync_tenants(
            &config,
            &tenants,
            &clients,
            &Retries::PRODUCTION,
        )),
        Err(code) => return code,
    };
    let text: String = outcomes.iter().map(outcome_text).collect();
    print_stdout(&text, sync_exit_code(&outcomes))
}

/// `confluence-connector plan [--tenant NAME] [--json]`.
pub fn plan(global: &GlobalArgs, args: &PlanArgs) -> ExitCode {
    let (config, clients) = match prepare(global) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    let tenants = match selected(&config, &args.tenant) {
        Ok(tenants) => tenants,
        Err(code) => return code,
    };
    let plans = match runtime() {
        Ok(runtime) => runtime.block_on(plan_tenants(
            &config,
            &tenants,
            &clients,
            &Retries::PRODUCTION,
        )),
        Err(code) => return code,
    };
    let code = if plans.iter().any(|(_, plan)| plan.is_err()) {
        exit::FAILURE
    } else {
        exit::OK
    };
    let output = if args.output.json {
        let json: Vec<_> = plans
            .iter()
            .map(|(tenant, plan)| match plan {
                Ok(Some(plan)) => serde_json::json!({"tenant": tenant, "plan": plan}),
                Ok(None) => serde_json::json!({"tenant": tenant, "status": "deleted"}),
                Err(error) => serde_json::json!({"tenant": tenant, "error": error}),
            })
            .collect();
        format!("{}\n", serde_json::Value::Array(json))
    } else {
        plans
            .iter()
            .map(|(tenant, plan)| plan_text(tenant, plan))
            .collect()
    };
    print_stdout(&output, code)
}

/// Loads the configuration and builds the clients; a failure here is a
/// configuration error (exit 2).
fn prepare(global: &GlobalArgs) -> Result<(LoadedConfig, HttpClients), ExitCode> {
    let config = load_config(global)?;
    let clients = HttpClients::from_config(&config.process).map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(exit::CONFIG)
    })?;
    Ok((config, clients))
}

/// [`select_tenants`] with its error printed as a configuration error.
fn selected<'a>(
    config: &'a LoadedConfig,
    args: &TenantArgs,
) -> Result<Vec<&'a TenantConfig>, ExitCode> {
    select_tenants(config, args.tenant.as_deref()).map_err(|err| {
        eprintln!("error: {err}");
        ExitCode::from(exit::CONFIG)
    })
}

fn print_stdout(text: &str, code: u8) -> ExitCode {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Ok(()) => ExitCode::from(code),
        // A reader that stops early (`| head`) changes nothing that was done.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: cannot write the summary: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

/// The per-tenant summary of §2.4 / issue "Sync engine": discovered, new,
/// updated, deleted, skipped with reason, failed, duration.
pub fn outcome_text(outcome: &TenantOutcome) -> String {
    let mut out = String::new();
    match outcome {
        TenantOutcome::Synced(report) => {
            let _ = writeln!(
                out,
                "tenant {}: {} ({})",
                report.tenant,
                report.result,
                seconds(report.duration)
            );
            let _ = writeln!(
                out,
                "  discovered     {} pages, {} attachments",
                report.discovered_pages, report.discovered_attachments
            );
            let _ = writeln!(
                out,
                "  diff           {} new, {} updated, {} moved; {} repaired",
                report.new, report.updated, report.moved, report.repaired
            );
            let _ = writeln!(
                out,
                "  ingested       {} pages, {} attachments",
                report.pages.success, report.attachments.success
            );
            let _ = writeln!(out, "  failed         {}", report.failed());
            // Keys only: they are identifiers, titles never appear (§11.4).
            for key in &report.failed_items {
                let _ = writeln!(out, "    failed item  {key}");
            }
            if report.failed() > 0 {
                let _ = writeln!(out, "    (the next cycle retries failed items)");
            }
            let _ = writeln!(
                out,
                "  deleted        {} ({} not confirmed)",
                report.deleted, report.delete_failures
            );
            let skipped: Vec<String> = report
                .skipped
                .iter()
                .map(|(reason, count)| format!("{reason} {count}"))
                .collect();
            let skipped = if skipped.is_empty() {
                "none".to_owned()
            } else {
                skipped.join(", ")
            };
            let _ = writeln!(out, "  skipped        {skipped}");
            let _ = writeln!(
                out,
                "  orphan scopes  {} removed ({} files), {} failed",
                report.orphan_scopes_removed,
                report.orphan_files_removed,
                report.orphan_scope_failures
            );
            if report.old_copies_removed + report.old_copies_kept > 0 {
                let _ = writeln!(
                    out,
                    "  old-key copies {} removed, {} kept until their item is stored under the current key",
                    report.old_copies_removed, report.old_copies_kept
                );
            }
            if let Some(reason) = &report.hold_reason {
                let _ = writeln!(
                    out,
                    "  held           {} deletion(s) until the next cycle confirms them: {reason}",
                    report.held
                );
            }
        }
        TenantOutcome::Purged(report) => {
            let result = match &report.outcome {
                PurgeOutcome::Success => "success".to_owned(),
                PurgeOutcome::Failure { failures } => format!("failure ({failures} failed steps)"),
                PurgeOutcome::Skipped(why) => format!("skipped: {why}"),
            };
            let _ = writeln!(
                out,
                "tenant {} (deleted, purge): {result} ({})",
                report.tenant,
                seconds(report.duration)
            );
            let _ = writeln!(
                out,
                "  content        {} deleted, {} failed",
                report.content_deleted, report.content_failures
            );
            let _ = writeln!(
                out,
                "  scopes         {} deleted, {} failed",
                report.scopes_deleted, report.scope_failures
            );
            if report.scopes_left + report.content_left > 0 {
                let _ = writeln!(
                    out,
                    "  left alone     {} scopes, {} content items (not marked for this tenant or not under its keys)",
                    report.scopes_left, report.content_left
                );
            }
        }
        TenantOutcome::NotBuilt { tenant, error } => {
            let _ = writeln!(out, "tenant {tenant}: failure: {error}");
        }
    }
    out
}

fn plan_text(tenant: &str, plan: &Result<Option<PlanReport>, String>) -> String {
    let mut out = String::new();
    let plan = match plan {
        Ok(Some(plan)) => plan,
        Ok(None) => {
            let _ = writeln!(
                out,
                "tenant {tenant}: status deleted; a cycle would purge its content (not planned)"
            );
            return out;
        }
        Err(error) => {
            let _ = writeln!(out, "tenant {tenant}: cannot be planned: {error}");
            return out;
        }
    };
    let verdict = if plan.would_abort {
        "a deletion guard WOULD ABORT the cycle"
    } else {
        "guards pass"
    };
    let _ = writeln!(
        out,
        "tenant {tenant}: root scope {}; {verdict}",
        plan.ownership
    );
    for space in &plan.spaces {
        let held = if space.held.is_empty() {
            String::new()
        } else {
            format!(" ({} held)", space.held.len())
        };
        let _ = writeln!(
            out,
            "  space {} ({}): {} new, {} updated, {} to repair, {} deleted{held}{}",
            space.space_key,
            space.partial_key,
            space.new.len(),
            space.updated.len(),
            space.repair.len(),
            space.deleted.len(),
            space
                .guard
                .as_deref()
                .map(|guard| format!("; guard: {guard}"))
                .unwrap_or_default()
        );
        for (label, keys) in [
            ("new", &space.new),
            ("updated", &space.updated),
            ("repair", &space.repair),
            ("deleted", &space.deleted),
        ] {
            for key in keys {
                let label = if label == "deleted" && space.held.contains(key) {
                    "held"
                } else {
                    label
                };
                let _ = writeln!(out, "    {label:<8} {key}");
            }
        }
    }
    if plan.spaces.is_empty() {
        let _ = writeln!(out, "  no labelled content discovered");
    }
    let orphans = if plan.orphan_scopes.is_empty() {
        "none".to_owned()
    } else {
        plan.orphan_scopes.join(", ")
    };
    let _ = writeln!(out, "  orphan space scopes to remove: {orphans}");
    if !plan.held_orphan_scopes.is_empty() {
        let _ = writeln!(
            out,
            "  orphan space scopes held: {}",
            plan.held_orphan_scopes.join(", ")
        );
    }
    if let Some(reason) = &plan.hold_reason {
        let _ = writeln!(
            out,
            "  deletions would be held until the cycle after confirms them: {reason}"
        );
    }
    if plan.held_by_last_cycle > 0 {
        let _ = writeln!(
            out,
            "  held by the last cycle: {} (deleted by the next cycle if it wants them again)",
            plan.held_by_last_cycle
        );
    }
    for key in &plan.old_key_copies {
        let _ = writeln!(out, "  old-key copy to remove: {key}");
    }
    out
}
