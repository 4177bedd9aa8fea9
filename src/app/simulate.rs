//! `simulate` (PROTOCOL §2.4): the simulators as a standalone process on
//! 127.0.0.1, for benchmarks (the connector in its own process) and for
//! exploring with any client. Serves a generated workload until SIGTERM or
//! SIGINT. On SIGUSR1, and once more at shutdown, it prints one JSON line
//! with the request counters of both simulators, so a benchmark can count
//! the requests of each phase.

use std::{io::Write, process::ExitCode};

use serde_json::{Value, json};

use super::{
    cli::{GlobalArgs, SimulateArgs},
    exit, quiet_logging, runtime,
};
use crate::sim::{
    confluence::{ConfluenceSim, Flavor, SimHandle, SimSettings},
    tenant::{self, SECRET_ENV},
    unique::{SeedScope, UniqueSim, UniqueSimHandle, UniqueSimSettings},
    workload::{self, WorkloadSpec},
};

/// The root scope the simulated Unique starts with (named `Confluence`).
pub const ROOT_SCOPE: &str = "root-scope-id";

pub fn run(global: &GlobalArgs, args: &SimulateArgs) -> ExitCode {
    quiet_logging(global);
    let spec = match &args.dataset {
        None => WorkloadSpec::default(),
        Some(path) => match read_spec(path) {
            Ok(spec) => spec,
            Err(err) => {
                eprintln!("error: {err}");
                return ExitCode::from(exit::CONFIG);
            }
        },
    };
    let runtime = match runtime() {
        Ok(runtime) => runtime,
        Err(code) => return code,
    };
    match runtime.block_on(serve(args, &spec)) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// `--dataset FILE`: a [`WorkloadSpec`] as JSON or YAML (YAML is a superset).
fn read_spec(path: &std::path::Path) -> Result<WorkloadSpec, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--dataset {}: cannot read it: {e}", path.display()))?;
    serde_yaml::from_str(&text).map_err(|e| {
        format!(
            "--dataset {}: {e}; expected keys `spaces`, `pages`, `attachments`, `seed` (numbers)",
            path.display()
        )
    })
}

async fn serve(args: &SimulateArgs, spec: &WorkloadSpec) -> Result<(), String> {
    let flavor = Flavor::from(args.flavor);
    let settings = SimSettings::for_flavor(flavor);
    let workload = workload::generate(spec);
    let (pages, attachments) = workload.expected_totals();
    let confluence = ConfluenceSim::start_at(args.confluence_port, settings, workload.dataset)
        .await
        .map_err(|e| {
            format!(
                "cannot bind the Confluence simulator to 127.0.0.1:{}: {e}",
                args.confluence_port
            )
        })?;
    let unique = UniqueSim::start_at(args.unique_port, UniqueSimSettings::cluster_local())
        .await
        .map_err(|e| {
            format!(
                "cannot bind the Unique simulator to 127.0.0.1:{}: {e}",
                args.unique_port
            )
        })?;
    unique.seed_scope(SeedScope::new(ROOT_SCOPE, "Confluence"));
    if let Some(path) = &args.tenant_file {
        let mut file = tenant::tenant_file(&confluence, &unique, ROOT_SCOPE);
        tenant::merge(&mut file, workload::tenant_patch());
        let yaml = serde_yaml::to_string(&file).map_err(|e| e.to_string())?;
        std::fs::write(path, yaml)
            .map_err(|e| format!("--tenant-file {}: cannot write it: {e}", path.display()))?;
    }
    let secrets: Vec<String> = SECRET_ENV
        .iter()
        .map(|(name, value)| format!("{name}={value}"))
        .collect();
    println!(
        "{}",
        json!({
            "confluence": {
                "flavor": match flavor { Flavor::Cloud => "cloud", Flavor::DataCenter => "data-center" },
                "api_base": confluence.api_base(),
                "gateway_url": confluence.gateway_url(),
                "base_url": confluence.base_url(),
                "cloud_id": confluence.settings().cloud_id,
            },
            "unique": {
                "ingestion": unique.ingestion_base_url(),
                "scope_management": unique.scope_management_base_url(),
                "root_scope_id": ROOT_SCOPE,
            },
            "expected": {"pages": pages, "attachments": attachments},
            "env": secrets,
        })
    );
    flush();
    wait_for_signals(&confluence, &unique).await;
    print_counters(&confluence, &unique);
    confluence.shutdown().await;
    unique.shutdown().await;
    Ok(())
}

fn flush() {
    let _ = std::io::stdout().flush();
}

#[cfg(unix)]
async fn wait_for_signals(confluence: &SimHandle, unique: &UniqueSimHandle) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut usr1)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::user_defined1()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return,
            _ = tokio::signal::ctrl_c() => return,
            _ = usr1.recv() => print_counters(confluence, unique),
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signals(_: &SimHandle, _: &UniqueSimHandle) {
    let _ = tokio::signal::ctrl_c().await;
}

/// One JSON line: Confluence API requests by route, Unique calls by
/// operation, executed mutations and uploads.
fn print_counters(confluence: &SimHandle, unique: &UniqueSimHandle) {
    let c = confluence.counters();
    let mut by_route = serde_json::Map::new();
    for ((route, _status), n) in &c.by_route {
        let entry = by_route.entry(route.as_str()).or_insert(json!(0));
        *entry = json!(entry.as_u64().unwrap_or(0) + n);
    }
    let u = unique.counters();
    let calls: serde_json::Map<String, Value> = u
        .calls
        .iter()
        .map(|(op, n)| (op.to_string(), json!(n)))
        .collect();
    println!(
        "{}",
        json!({
            "counters": {
                "confluence": {
                    "api_requests": c.api_requests(),
                    "tokens_issued": c.tokens_issued,
                    "non_get": c.non_get,
                    "by_route": by_route,
                },
                "unique": {
                    "calls": calls,
                    "graphql_calls": u.graphql_calls(),
                    "mutations": u.mutations,
                    "uploads": u.uploads,
                    "upload_bytes": u.upload_bytes,
                },
            }
        })
    );
    flush();
}
