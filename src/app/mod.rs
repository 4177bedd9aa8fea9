//! Application layer: the CLI and the composition root. This is the only
//! module that names concrete adapters.

pub mod check_config;
pub mod cli;
pub mod demo;
pub mod oneshot;
pub mod progress;
pub mod schemas;
pub mod serve;
pub mod simulate;
pub mod sync;
pub mod tenants;

use std::process::ExitCode;

use cli::{Cli, Command, GlobalArgs};

use crate::{
    config::{self, LoadedConfig, Overrides},
    telemetry,
};

/// Exit codes of PROTOCOL §2.4.
pub mod exit {
    /// Everything succeeded.
    pub const OK: u8 = 0;
    /// A tenant failed, or a fatal error other than configuration.
    pub const FAILURE: u8 = 1;
    /// Configuration error, unknown tenant, or bad arguments.
    pub const CONFIG: u8 = 2;
    /// `sync` (ours): every cycle completed but some items failed; the
    /// summary names them and the next cycle retries them (rsync's
    /// "partial transfer" convention: retry later, nothing is broken).
    pub const PARTIAL: u8 = 3;
}

/// Runs the parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Some(Command::CheckConfig(args)) => check_config::run(&cli.global, &args),
        None | Some(Command::Serve) => serve::run(&cli.global),
        Some(Command::Sync(args)) => oneshot::sync(&cli.global, &args),
        Some(Command::Plan(args)) => oneshot::plan(&cli.global, &args),
        Some(Command::Demo(args)) => demo::run(&cli.global, &args),
        Some(Command::Schemas(args)) => schemas::run(&args),
        Some(Command::Simulate(args)) => simulate::run(&cli.global, &args),
    }
}

/// The multi-threaded runtime a subcommand runs on; a failure to start it
/// is printed and becomes exit status 1.
pub fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| {
            eprintln!("error: cannot start the async runtime: {err}");
            ExitCode::from(exit::FAILURE)
        })
}

/// Logging for the commands whose own output is the point (`demo`,
/// `simulate`): readable lines on stderr, warnings and errors only unless
/// `--log-level` asks for more.
pub fn quiet_logging(global: &GlobalArgs) {
    let level = global
        .log_level
        .as_deref()
        .and_then(|level| level.parse::<telemetry::LogLevel>().ok())
        .unwrap_or(telemetry::LogLevel::Warn);
    telemetry::init(level, telemetry::LogFormat::Pretty);
}

/// Sets up logging (stderr) from the environment and the global flags, then
/// loads the configuration as every subcommand does; on errors prints each
/// of them and returns exit status 2.
pub fn load_config(global: &GlobalArgs) -> Result<LoadedConfig, ExitCode> {
    let lookup = |name: &str| std::env::var(name).ok();
    let overrides = Overrides {
        config_glob: global.config_glob.clone(),
        log_level: global.log_level.clone(),
    };
    // Before loading, so that load warnings are logged.
    let (level, format) = config::log_settings(lookup, &overrides);
    telemetry::init(level, format);
    config::load(lookup, &overrides).map_err(|errors| {
        for error in &errors {
            eprintln!("error: {error}");
        }
        eprintln!("{} configuration error(s) found", errors.len());
        ExitCode::from(exit::CONFIG)
    })
}
