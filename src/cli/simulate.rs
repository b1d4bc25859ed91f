//! `greenmon demo`: the service with demo data flowing. (`greenmon simulate` itself is
//! [`crate::simulate::run`].)
//!
//! So that the demo shows life within seconds, the simulator replays the last hours at speed
//! (one simulated minute every 5 s by default) beside the live readings: dashboards and
//! `/metrics` move at once, the history fills, and no reading is ever time-stamped ahead of the
//! clock (ingest would quarantine it). A restarted demo replays only the time since the newest
//! stored reading.

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
    /// Hours of history to replay at `--speed` (capped at the time since the newest stored
    /// reading, so a restart fills only the gap); 0 = live readings only.
    #[arg(long, value_name = "H", default_value_t = 3.0)]
    replay_hours: f64,
    /// How much faster than the clock the replay runs: 12 = one simulated minute every 5 s.
    #[arg(long, value_name = "X", default_value_t = 12.0)]
    speed: f64,
}

/// Migrates, imports the demo registry, then runs the service and the simulator side by side
/// until Ctrl-C.
pub(super) async fn demo(args: DemoArgs, settings: Settings) -> anyhow::Result<()> {
    let registry = args.registry;
    store::ensure_database(&settings.database).await?;
    let pool = store::pool(&settings.database);
    let backend = store::migrate(&pool).await?;
    let reg = load_registry(&registry)?;
    let summary = store::registry::import(&pool, &reg, settings.timezone()).await?;
    let running = app::start(settings.clone()).await?;
    println!(
        "greenmon demo: {} parks, {} points on {backend} database {:?}; metrics at http://{}/metrics, readiness at http://{}/readyz. Ctrl-C to stop.",
        summary.parks, summary.points, settings.database.dbname, running.http_addr, running.http_addr
    );
    let token = running.shutdown_token();
    let latest = store::latest_reading_time(&pool)
        .await
        .context("reading the newest stored reading time")?;
    let replay_hours = replay_hours(args.replay_hours, latest, chrono::Utc::now());
    tracing::info!(
        speed = args.speed,
        replay_hours,
        "{}",
        replay_sentence(replay_hours, args.speed)
    );
    // The simulator with its defaults, plus a few malformed messages so the quarantine has
    // something to show, and the replay.
    let registry = registry.to_string_lossy().into_owned();
    let (replay_hours, speed) = (replay_hours.to_string(), args.speed.to_string());
    let args = DemoSimulate::try_parse_from([
        "simulate",
        "--registry",
        &registry,
        "--invalid-rate",
        "0.002",
        "--replay-hours",
        &replay_hours,
        "--speed",
        &speed,
    ])?
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

/// The hours to replay: `wanted`, but no further back than the newest stored reading (`latest`),
/// so a restarted demo fills the gap instead of doubling the history.
fn replay_hours(
    wanted: f64,
    latest: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> f64 {
    let wanted = if wanted.is_finite() {
        wanted.max(0.0)
    } else {
        0.0
    };
    let gap = latest.map_or(f64::INFINITY, |t| {
        (now - t).num_milliseconds().max(0) as f64 / 3_600_000.0
    });
    // Whole seconds, so the flag's text is short.
    (wanted.min(gap) * 3600.0).floor() / 3600.0
}

/// The demo's log line saying what its clock does.
fn replay_sentence(hours: f64, speed: f64) -> String {
    if hours <= 0.0 {
        return "Demo: nothing to replay (recent readings are stored); live readings in real time."
            .to_string();
    }
    let every = 60.0 / speed;
    let wall_minutes = hours * 60.0 / speed;
    format!(
        "Demo: simulated time runs {speed}× faster (one simulated minute every {every:.1} s), \
         replaying the last {hours:.2} h in {wall_minutes:.1} min beside live readings in real \
         time. The replay stops where the live readings began, so no reading is ever ahead of \
         the clock, and every point stays online meanwhile."
    )
}

/// Parses simulator arguments for the demo, so it uses the same defaults as `greenmon simulate`.
#[derive(Parser)]
struct DemoSimulate {
    #[command(flatten)]
    args: simulate::SimulateArgs,
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, Utc};

    use super::*;

    #[test]
    fn a_restart_replays_only_the_gap() {
        let now = Utc::now();
        assert_eq!(replay_hours(3.0, None, now), 3.0);
        assert_eq!(
            replay_hours(3.0, Some(now - TimeDelta::hours(10)), now),
            3.0
        );
        assert_eq!(
            replay_hours(3.0, Some(now - TimeDelta::minutes(30)), now),
            0.5
        );
        assert_eq!(
            replay_hours(3.0, Some(now + TimeDelta::minutes(1)), now),
            0.0
        );
        assert_eq!(replay_hours(-1.0, None, now), 0.0);
        assert_eq!(replay_hours(f64::NAN, None, now), 0.0);
    }

    #[test]
    fn the_log_says_what_the_clock_does() {
        let s = replay_sentence(3.0, 12.0);
        assert!(
            s.starts_with(
                "Demo: simulated time runs 12× faster (one simulated minute every 5.0 s)"
            ),
            "{s}"
        );
        assert!(s.contains("the last 3.00 h in 15.0 min"), "{s}");
        assert!(replay_sentence(0.0, 12.0).contains("live readings"));
    }
}
