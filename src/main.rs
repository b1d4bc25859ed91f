//! The greenmon binary: parse the command line, load the configuration, start logging, and hand
//! over to [`greenmon::cli`].

use std::process::ExitCode;

use clap::Parser;
use greenmon::cli::{self, Cli, Command};
use greenmon::config::Settings;
use greenmon::telemetry;

fn main() -> ExitCode {
    let Cli { config, command } = Cli::parse();
    let settings = match Settings::load(config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            // Every configuration problem, then exit 2 (what `check-config` promises).
            eprintln!("greenmon: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig = command {
        return cli::check_config();
    }
    if let Err(e) = telemetry::init_tracing(&settings.telemetry) {
        eprintln!("greenmon: {e:#}");
        return ExitCode::FAILURE;
    }
    cli::run(command, settings)
}
