//! `greenmon demo`: the service with demo data flowing. (`greenmon simulate` itself is
//! [`crate::simulate::run`].)

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

use super::registry::load_registry;
use super::serve::shutdown_signal;
use crate::config::Settings;
use crate::{app, simulate, store};

/// Flags of `greenmon demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Registry to import and simulate.
    #[arg(long, default_value = "config/demo-registry.toml")]
    registry: PathBuf,
}

/// Migrates, imports the demo registry, then runs the service and the simulator side by side
/// until Ctrl-C.
pub(super) async fn demo(args: DemoArgs, settings: Settings) -> anyhow::Result<()> {
    let registry = args.registry;
    store::ensure_database(&settings.database).await?;
    let pool = store::pool(&settings.database);
    let backend = store::migrate(&pool).await?;
    let reg = load_registry(&registry)?;
    let summary = store::registry::import(&pool, &reg).await?;
    let running = app::start(settings.clone()).await?;
    println!(
        "greenmon demo: {} parks, {} points on {backend} database {:?}; metrics at http://{}/metrics, readiness at http://{}/readyz. Ctrl-C to stop.",
        summary.parks, summary.points, settings.database.dbname, running.http_addr, running.http_addr
    );
    let token = running.shutdown_token();
    // The simulator with its defaults, plus a few malformed messages so the quarantine has
    // something to show.
    let registry = registry.to_string_lossy().into_owned();
    let args = DemoSimulate::parse_from([
        "simulate",
        "--registry",
        &registry,
        "--invalid-rate",
        "0.002",
    ])
    .args;
    let sim_settings = settings.clone();
    let mut sim = tokio::spawn(async move { simulate::run(args, &sim_settings).await });
    let sim_failed = tokio::select! {
        () = shutdown_signal() => None,
        () = token.cancelled() => None,
        r = &mut sim => Some(r),
    };
    // The demo publisher needs no drain: whatever it had in flight is simply not sent.
    sim.abort();
    token.cancel();
    running.wait().await?;
    match sim_failed {
        None => Ok(()),
        Some(Ok(r)) => r.context("simulator stopped"),
        Some(Err(e)) => Err(anyhow::anyhow!("simulator task failed: {e}")),
    }
}

/// Parses simulator arguments for the demo, so it uses the same defaults as `greenmon simulate`.
#[derive(Parser)]
struct DemoSimulate {
    #[command(flatten)]
    args: simulate::SimulateArgs,
}
