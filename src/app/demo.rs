//! `demo` (PROTOCOL §2.4): both simulators in-process on 127.0.0.1, a
//! generated workload, a temporary tenant file, one full sync with
//! progress, a per-space summary table, then a second cycle that must find
//! nothing to do. Exits 0 only when the Unique state matches what the
//! workload says a correct sync leaves, and the second cycle wrote nothing.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write as _,
    io::IsTerminal,
    process::ExitCode,
};

use super::{
    cli::{DemoArgs, GlobalArgs},
    exit,
    progress::Progress,
    quiet_logging, runtime,
    sync::{CycleReport, CycleResult, NoObserver},
    tenants::build_cycle,
};
use crate::{
    adapters::http::transport::HttpClients,
    config::{self, Overrides},
    sim::{
        confluence::{ConfluenceSim, Flavor, SimSettings},
        tenant::{self, SECRET_ENV},
        unique::{Operation, SeedScope, UniqueSim, UniqueSimSettings, UniqueSnapshot},
        workload::{self, Workload, WorkloadSpec},
    },
};

const ROOT_SCOPE: &str = "demo-root";

pub fn run(global: &GlobalArgs, args: &DemoArgs) -> ExitCode {
    // The demo's own output is the table; logs only say what went wrong.
    quiet_logging(global);
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(demo(args)) {
        Ok(true) => ExitCode::from(exit::OK),
        Ok(false) => ExitCode::from(exit::FAILURE),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// Runs the demo; `Ok(false)` when the outcome does not match the workload.
async fn demo(args: &DemoArgs) -> Result<bool, String> {
    let flavor = Flavor::from(args.flavor);
    let spec = WorkloadSpec {
        spaces: args.spaces,
        pages: args.pages,
        attachments: args.attachments,
        seed: args.seed,
        big_attachment_mb: 0,
    };
    let workload = workload::generate(&spec);
    let confluence =
        ConfluenceSim::start(SimSettings::for_flavor(flavor), workload.dataset.clone())
            .await
            .map_err(|e| format!("cannot start the Confluence simulator: {e}"))?;
    let unique = UniqueSim::start(UniqueSimSettings::cluster_local())
        .await
        .map_err(|e| format!("cannot start the Unique simulator: {e}"))?;
    unique.seed_scope(SeedScope::new(ROOT_SCOPE, "Confluence"));
    println!(
        "demo: {} Confluence simulator at {}, Unique simulator at {}",
        match flavor {
            Flavor::Cloud => "Cloud",
            Flavor::DataCenter => "Data Center",
        },
        confluence.api_base(),
        unique.origin()
    );

    let dir =
        tempfile::tempdir().map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let mut file = tenant::tenant_file(&confluence, &unique, ROOT_SCOPE);
    tenant::merge(&mut file, workload::tenant_patch());
    let path = dir.path().join("demo-tenant-config.yaml");
    let yaml = serde_yaml::to_string(&file).map_err(|e| e.to_string())?;
    std::fs::write(&path, yaml).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let pattern = format!("{}/*-tenant-config.yaml", dir.path().display());
    // The demo's simulators live as long as the process: so does its state.
    let state = dir.path().join("state").display().to_string();
    let lookup = |name: &str| match name {
        "TENANT_CONFIG_PATH_PATTERN" => Some(pattern.clone()),
        "CONFLUENCE_CONNECTOR_STATE_DIR" => Some(state.clone()),
        "OTEL_METRICS_EXPORTER" => Some("none".to_owned()),
        _ => SECRET_ENV
            .iter()
            .find(|(secret, _)| *secret == name)
            .map(|(_, value)| (*value).to_owned()),
    };
    let config = config::load(lookup, &Overrides::default()).map_err(|e| e.to_string())?;
    let cycle = build_cycle(
        &config.tenants[0],
        &HttpClients::loopback(),
        &config.process,
    )
    .map_err(|e| e.to_string())?;

    let progress = Progress::new(std::io::stderr().is_terminal());
    let first = cycle.run(&progress).await;
    progress.finish();
    let snapshot = unique.snapshot();
    println!("\nfirst cycle: {}", summary_line(&first));
    print!("{}", table(&workload, &first, &snapshot));
    let matches = matches_workload(&workload, &snapshot);

    unique.reset_counters();
    let second = cycle.run(&NoObserver).await;
    let counters = unique.counters();
    let writes: u64 = Operation::WRITES.iter().map(|op| counters.calls(*op)).sum();
    let unchanged = second.result == CycleResult::Success
        && second.new + second.updated + second.deleted == 0
        && writes == 0;
    println!(
        "\nsecond cycle: {} ({} new, {} updated, {} deleted, {writes} Unique writes){}",
        second.result.as_str(),
        second.new,
        second.updated,
        second.deleted,
        if unchanged { ": nothing changed" } else { "" }
    );
    let ok = first.result == CycleResult::Success && matches && unchanged;
    println!(
        "\ndemo {}",
        if ok {
            "passed: Unique holds exactly what the dataset says"
        } else {
            "FAILED: see above"
        }
    );
    confluence.shutdown().await;
    unique.shutdown().await;
    Ok(ok)
}

fn summary_line(report: &CycleReport) -> String {
    format!(
        "{} in {:.2}s: {} pages and {} attachments discovered, {} new, {} failed",
        report.result,
        report.duration.as_secs_f64(),
        report.discovered_pages,
        report.discovered_attachments,
        report.new,
        report.failed()
    )
}

/// Per space: discovered (expected) pages, ingested pages and attachments,
/// bytes stored, skipped items with their reason, and failures (expected
/// items missing from Unique).
fn table(workload: &Workload, report: &CycleReport, snapshot: &UniqueSnapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<6} {:>10} {:>8} {:>11} {:>12}  {:<64} {:>8}",
        "space", "discovered", "pages", "attachments", "bytes", "skipped", "failures"
    );
    for (key, expected) in &workload.expected {
        let discovered = report
            .spaces
            .iter()
            .find(|space| &space.space_key == key)
            .map_or(0, |space| space.discovered);
        let path = format!("/Confluence/{key}");
        let stored: Vec<_> = snapshot
            .contents
            .iter()
            .filter(|c| c.owner_path.as_deref() == Some(path.as_str()) && c.finalized)
            .collect();
        let pages = stored.iter().filter(|c| !c.key.contains("::")).count();
        let attachments = stored.len() - pages;
        let bytes: u64 = stored
            .iter()
            .filter_map(|c| c.blob.as_ref().map(|b| b.size))
            .sum();
        let skipped: Vec<String> = expected
            .skipped
            .iter()
            .map(|(reason, n)| format!("{} {n}", reason.as_str()))
            .collect();
        let failures =
            (expected.pages.len() + expected.attachments.len()).saturating_sub(stored.len());
        let _ = writeln!(
            out,
            "{key:<6} {discovered:>10} {pages:>8} {attachments:>11} {bytes:>12}  {:<64} {failures:>8}",
            skipped.join(", ")
        );
    }
    out
}

/// Whether Unique holds exactly the expected keys, each finalized.
fn matches_workload(workload: &Workload, snapshot: &UniqueSnapshot) -> bool {
    let mut expected = BTreeSet::new();
    for (key, space) in &workload.expected {
        let prefix = format!("demo/{}_{key}", space.space_id);
        expected.extend(space.pages.iter().map(|page| format!("{prefix}/{page}")));
        expected.extend(
            space
                .attachments
                .iter()
                .map(|(page, att)| format!("{prefix}/{page}::{att}")),
        );
    }
    let stored: BTreeMap<&str, bool> = snapshot
        .contents
        .iter()
        .map(|c| (c.key.as_str(), c.finalized && c.blob.is_some()))
        .collect();
    let complete = stored.values().all(|finalized| *finalized);
    let same = stored
        .keys()
        .copied()
        .eq(expected.iter().map(String::as_str));
    if !same {
        let missing = expected
            .iter()
            .filter(|key| !stored.contains_key(key.as_str()))
            .count();
        let unexpected = stored
            .keys()
            .filter(|key| !expected.contains(**key))
            .count();
        eprintln!("demo: {missing} expected item(s) missing, {unexpected} unexpected");
    }
    same && complete
}
