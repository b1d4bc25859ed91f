//! `greenmon registry import`: parks, points and limits from a TOML file into PostgreSQL.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::config::Settings;
use crate::domain::registry::{Registry, RegistryFile};
use crate::store;

/// `greenmon registry …`.
#[derive(clap::Subcommand)]
pub enum RegistryCommand {
    /// Import (or update) parks, points and limits from a TOML file.
    Import { file: PathBuf },
}

/// Runs one registry command.
pub(super) async fn run(command: RegistryCommand, settings: &Settings) -> anyhow::Result<()> {
    let RegistryCommand::Import { file } = command;
    let registry = load_registry(&file)?;
    let summary = store::registry::import(
        &store::pool(&settings.database),
        &registry,
        settings.timezone(),
    )
    .await
    .context("importing the registry")?;
    println!(
        "imported {} parks, {} points, {} limits from {}",
        summary.parks,
        summary.points,
        summary.limits,
        file.display()
    );
    Ok(())
}

/// Reads and validates a registry file; every problem is listed in the error.
pub(super) fn load_registry(file: &Path) -> anyhow::Result<Registry> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading registry {}", file.display()))?;
    RegistryFile::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .validate()
        .map_err(|problems| {
            anyhow::anyhow!(
                "{} is invalid:\n  - {}",
                file.display(),
                problems.join("\n  - ")
            )
        })
}
