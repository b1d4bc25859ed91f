//! The command line: the `greenmon` commands (clap derive) and their dispatch, one file per
//! command group. `main.rs` parses [`Cli`], loads the settings, starts logging and calls [`run`].
//!
//! Input: the parsed command and the validated [`Settings`]. Output: what each command prints,
//! and the process exit code. `anyhow` is the error type here: these are one-shot commands at
//! the edge of the program.

mod alerts;
mod bulletin;
mod grafana_role;
mod hj212;
mod import;
mod registry;
mod report;
mod review;
mod serve;
mod simulate;
mod token;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Settings;

pub use serve::check_config;

/// `greenmon` and its global flags.
#[derive(Parser)]
#[command(
    name = "greenmon",
    version,
    about = "Green-development compliance monitor for industrial parks"
)]
pub struct Cli {
    /// Configuration file layered over the built-in defaults (see config/default.toml).
    #[arg(long, global = true, env = "GREENMON_CONFIG")]
    pub config: Option<PathBuf>,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Run the service: migrate, ingest from MQTT, serve HTTP.
    Serve,
    /// Create the database if missing and apply migrations.
    Migrate,
    /// Check the configuration; print every problem and exit non-zero if there is one.
    CheckConfig,
    /// Manage the registry of parks, points and limits.
    Registry {
        #[command(subcommand)]
        command: registry::RegistryCommand,
    },
    /// Publish realistic readings and energy reports for a registry.
    Simulate(crate::simulate::SimulateArgs),
    /// Print a month's compliance per park: data rates, points below the validity threshold,
    /// discharge exceedances, energy intensity against the path.
    Report(report::ReportArgs),
    /// Write the monthly bulletin (--month) or the annual assessment (--year): self-contained
    /// HTML, its PDF (headless Chromium) and the JSON of the same figures.
    Bulletin(bulletin::BulletinArgs),
    /// HJ 212 tools: decode packets as an engineer needs to see them, or build packets.
    Hj212 {
        #[command(subcommand)]
        command: hj212::Hj212Command,
    },
    /// Import history: readings from a CSV file or an HJ 212 capture, validated and quarantined
    /// as live data.
    Import {
        #[command(subcommand)]
        command: import::ImportCommand,
    },
    /// List and acknowledge alerts.
    Alerts {
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// Validity review marks: maintenance, calibration, fault or invalid over a time range;
    /// add, list, withdraw (every change kept).
    Review {
        #[command(subcommand)]
        command: review::ReviewCommand,
    },
    /// API tokens: create (printed once), list, revoke.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// PostgreSQL login roles for park managers' Grafana, confined to one park by row-level
    /// security.
    GrafanaRole {
        #[command(subcommand)]
        command: grafana_role::GrafanaRoleCommand,
    },
    /// The main job with demo data: migrate, import the demo registry, serve, and simulate.
    Demo(simulate::DemoArgs),
}

/// Runs `command` on a new async runtime. Failures are logged and printed to stderr, and give
/// exit code 1. `check-config` needs no runtime: `main` answers it with [`check_config`] before
/// logging starts.
pub fn run(command: Command, settings: Settings) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("greenmon: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "Command failed.");
            eprintln!("greenmon: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::serve(settings).await,
        Command::Migrate => serve::migrate(&settings).await,
        Command::CheckConfig => {
            check_config();
            Ok(())
        }
        Command::Registry { command } => registry::run(command, &settings).await,
        Command::Simulate(args) => crate::simulate::run(args, &settings).await,
        Command::Report(args) => report::run(args, &settings).await,
        Command::Bulletin(args) => bulletin::run(args, &settings).await,
        Command::Hj212 { command } => hj212::run(command, &settings).await,
        Command::Import { command } => import::run(command, &settings).await,
        Command::Alerts { command } => {
            alerts::run(command, &crate::store::pool(&settings.database)).await
        }
        Command::Review { command } => {
            review::run(command, &crate::store::pool(&settings.database)).await
        }
        Command::Token { command } => token::run(command, &settings).await,
        Command::GrafanaRole { command } => grafana_role::run(command, &settings).await,
        Command::Demo(args) => simulate::demo(args, settings).await,
    }
}
