//! `greenmon grafana-role create`: a PostgreSQL login role that reads one park's rows only
//! (row-level security), for a park manager's Grafana.

use anyhow::Context;

use crate::config::Settings;
use crate::store::{self, grafana_roles};

/// `greenmon grafana-role …`.
#[derive(clap::Subcommand)]
pub enum GrafanaRoleCommand {
    /// Create a login role that reads only PARK's rows; prints its name and password once.
    Create {
        #[arg(long)]
        park: String,
        /// Role name (default: grafana_ and the park id with - as _).
        #[arg(long)]
        role_name: Option<String>,
    },
}

/// Runs one grafana-role command.
pub(super) async fn run(command: GrafanaRoleCommand, settings: &Settings) -> anyhow::Result<()> {
    let GrafanaRoleCommand::Create { park, role_name } = command;
    let name = role_name.unwrap_or_else(|| grafana_roles::default_name(&park));
    let password = grafana_roles::create(&store::pool(&settings.database), &park, &name)
        .await
        .context("creating the Grafana role")?;
    println!("role: {name}\npassword: {password}\n(shown once; it reads only park {park:?})");
    Ok(())
}
