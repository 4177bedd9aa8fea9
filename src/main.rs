//! Thin entry point: parse the command line, hand over to `app::run`.

use std::process::ExitCode;

use clap::Parser;
use confluence_connector::app::{self, cli::Cli};

fn main() -> ExitCode {
    app::run(Cli::parse())
}
