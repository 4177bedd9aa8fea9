//! Command-line interface (PROTOCOL §2.4). Parsing only; `app::run` acts on it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps a Unique knowledge base in sync with labelled Confluence pages.
///
/// Every subcommand reads the same environment variables and tenant files as
/// the daemon (`TENANT_CONFIG_PATH_PATTERN`, `LOG_LEVEL`, …).
#[derive(Debug, Parser)]
#[command(name = "confluence-connector", version, about, long_about = None)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    /// What to do; without a subcommand the daemon runs (`serve`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Flags shared by every subcommand.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Minimum log level; overrides `LOG_LEVEL`.
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Glob of tenant files; overrides `TENANT_CONFIG_PATH_PATTERN`.
    #[arg(long, global = true, value_name = "GLOB")]
    pub config_glob: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon: HTTP health and metrics, one cycle per tenant at start,
    /// then each tenant on its cron schedule.
    Serve,
    /// Run exactly one cycle for every tenant (or one) and exit.
    #[command(after_help = SYNC_EXIT_CODES)]
    Sync(TenantArgs),
    /// Validate the environment and every tenant file; no network I/O.
    CheckConfig(OutputArgs),
    /// Dry run: discovery and file-diff only; prints what a cycle would do.
    #[command(after_help = PLAN_EXIT_CODES)]
    Plan(PlanArgs),
    /// Run one sync against built-in simulators of Confluence and Unique.
    Demo(DemoArgs),
    /// Run the built-in simulators as a standalone process.
    Simulate(SimulateArgs),
    /// Compare or refresh the API subsets in `schemas/` against a published
    /// OpenAPI document.
    Schemas(SchemasArgs),
}

/// Exit statuses of `sync`, for scheduled jobs (see `app::exit`).
const SYNC_EXIT_CODES: &str = "\
Exit status:
  0  every discovered item is in sync, or was skipped for a reason the summary states
  1  a tenant's cycle failed (including a cycle in which every attempted write failed)
  2  configuration error, or --tenant names no tenant that runs
  3  the cycles completed but some items failed; the summary names them and the
     next cycle retries them (like rsync's partial-transfer status: retry later)";

/// Exit statuses of `plan`.
const PLAN_EXIT_CODES: &str = "\
Exit status:
  0  a plan was produced for every tenant (even if a deletion guard would abort)
  1  a tenant could not be planned (network or authentication error)
  2  configuration error, or --tenant names no tenant that runs";

#[derive(Debug, Args)]
pub struct TenantArgs {
    /// Only this tenant (its name is the file name minus `-tenant-config.yaml`).
    #[arg(long, value_name = "NAME")]
    pub tenant: Option<String>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print a machine-readable JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub tenant: TenantArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Flavor {
    Cloud,
    Dc,
}

impl From<Flavor> for crate::sim::confluence::Flavor {
    fn from(flavor: Flavor) -> Self {
        match flavor {
            Flavor::Cloud => crate::sim::confluence::Flavor::Cloud,
            Flavor::Dc => crate::sim::confluence::Flavor::DataCenter,
        }
    }
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Number of spaces in the generated dataset.
    #[arg(long, default_value_t = 3)]
    pub spaces: u32,
    /// Number of pages per space.
    #[arg(long, default_value_t = 20)]
    pub pages: u32,
    /// Number of attachments per space.
    #[arg(long, default_value_t = 10)]
    pub attachments: u32,
    /// Which Confluence flavour to simulate.
    #[arg(long, value_enum, default_value_t = Flavor::Cloud)]
    pub flavor: Flavor,
    /// Seed of the dataset generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Port of the Confluence simulator on 127.0.0.1.
    #[arg(long)]
    pub confluence_port: u16,
    /// Port of the Unique simulator on 127.0.0.1.
    #[arg(long)]
    pub unique_port: u16,
    /// Which Confluence flavour to simulate.
    #[arg(long, value_enum, default_value_t = Flavor::Cloud)]
    pub flavor: Flavor,
    /// Workload description (JSON or YAML: `spaces`, `pages`, `attachments`,
    /// `seed`); without it the `demo` defaults are served.
    #[arg(long, value_name = "FILE")]
    pub dataset: Option<PathBuf>,
    /// Also write a tenant file pointing at the simulators here (its
    /// secrets are `os.environ/` references; the start-up line lists them).
    #[arg(long, value_name = "PATH")]
    pub tenant_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemasArgs {
    #[command(subcommand)]
    pub command: SchemasCommand,
}

#[derive(Debug, Subcommand)]
pub enum SchemasCommand {
    /// Report every operation, parameter and field the subset relies on
    /// that changed or vanished upstream (exit 1 if any did).
    Check(SchemasCheckArgs),
    /// Rewrite the subset from the upstream document for the operations it
    /// lists (see schemas/README.md for what is kept and what is taken).
    Update(SchemasUpdateArgs),
}

#[derive(Debug, Args)]
pub struct SchemasCheckArgs {
    /// The full published OpenAPI 3 document (JSON or YAML).
    #[arg(long, value_name = "FILE")]
    pub upstream: PathBuf,
    /// Our subset to check.
    #[arg(
        long,
        value_name = "FILE",
        default_value = "schemas/confluence-cloud.yaml"
    )]
    pub subset: PathBuf,
    /// Removed from the start of every upstream path before matching
    /// (`/wiki` to check the Data Center subset against Cloud's v1 document).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub strip_prefix: String,
    /// Accepted deliberate differences; default `upstream-deviations.yaml`
    /// beside the subset.
    #[arg(long, value_name = "FILE")]
    pub deviations: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SchemasUpdateArgs {
    /// The full published OpenAPI 3 document (JSON or YAML).
    #[arg(long, value_name = "FILE")]
    pub upstream: PathBuf,
    /// Our subset to rewrite in place.
    #[arg(long, value_name = "FILE")]
    pub subset: PathBuf,
    /// Removed from the start of every upstream path before matching.
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub strip_prefix: String,
    /// Accepted deliberate differences (kept as they are); default
    /// `upstream-deviations.yaml` beside the subset.
    #[arg(long, value_name = "FILE")]
    pub deviations: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sync_help_documents_every_exit_status() {
        let help = Cli::command()
            .find_subcommand_mut("sync")
            .expect("sync subcommand")
            .render_help()
            .to_string();
        for status in ["0  ", "1  ", "2  ", "3  "] {
            assert!(help.contains(status), "{status:?} missing from:\n{help}");
        }
        assert!(help.contains("every attempted write failed"), "{help}");
        assert!(help.contains("next cycle retries them"), "{help}");
    }

    #[test]
    fn no_subcommand_means_serve() {
        let cli = Cli::try_parse_from(["confluence-connector"]).unwrap();
        assert!(cli.command.is_none());
    }

    #[test]
    fn global_flags_are_accepted_after_the_subcommand() {
        let cli = Cli::try_parse_from([
            "confluence-connector",
            "check-config",
            "--config-glob",
            "/x/*-tenant-config.yaml",
            "--log-level",
            "debug",
            "--json",
        ])
        .unwrap();
        assert_eq!(
            cli.global.config_glob.as_deref(),
            Some("/x/*-tenant-config.yaml")
        );
        assert_eq!(cli.global.log_level.as_deref(), Some("debug"));
        assert!(matches!(
            cli.command,
            Some(Command::CheckConfig(OutputArgs { json: true }))
        ));
    }
}
