//! `greenmon simulate`: a demo and load generator that publishes sewage readings and monthly
//! energy reports for the parks of a registry file, as the parks' data loggers would.
//!
//! Input: the registry (`config/demo-registry.toml` by default), the broker settings and the
//! flags of [`SimulateArgs`]. Output: QoS 1 messages on `{prefix}/parks/{park}/points/{point}/readings`
//! and `{prefix}/parks/{park}/energy`; the command returns only once the broker has acknowledged
//! every message it sent (or a bounded wait has passed after Ctrl-C).
//!
//! With `--hj212-tcp HOST:PORT` it is instead a fleet of HJ 212 data loggers connected over TCP
//! (one per registry point with an MN), each uploading real-time data every `--every` seconds and
//! waiting for its answers as real loggers do.
//!
//! Submodules: `values` (the pure reading model and payloads), `energy` (the pure energy
//! trajectory), `pacing` (schedules and unique timestamps), `publisher` (MQTT and PUBACK
//! counting), `runner` (the publishing loops), `logger` (one HJ 212 logger, pure), `tcp` (the
//! loggers over TCP).

mod energy;
mod logger;
mod pacing;
mod publisher;
mod runner;
mod tcp;
mod values;

pub use tcp::Failure;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::domain::registry::{Park, Registry, RegistryFile};
use publisher::Publisher;
use runner::{Runner, SimPoint};
use values::{PointModel, Rates};

/// Outstanding QoS 1 publishes the client allows before it waits for PUBACKs.
const INFLIGHT: u16 = 1000;
/// Requests queued in front of the MQTT eventloop.
const CHANNEL_CAPACITY: usize = 1000;
/// Energy seed when `--seed` is not given, so restarts republish the same history. Chosen so
/// that three of the eleven demo parks (circular-chem, luquan-edz, gaocheng-edz) are off track.
const DEFAULT_ENERGY_SEED: u64 = 3;

/// Longest replay: a week of history.
const MAX_REPLAY_HOURS: f64 = 168.0;
/// Fastest replay: one simulated hour per wall second.
const MAX_SPEED: f64 = 3600.0;

/// Flags of `greenmon simulate`.
#[derive(clap::Args, Debug, Clone)]
pub struct SimulateArgs {
    /// Registry file with the parks and monitoring points to simulate.
    #[arg(long, value_name = "FILE", default_value = "config/demo-registry.toml")]
    pub registry: PathBuf,

    /// Only these parks (comma-separated ids). Default: every park in the registry.
    #[arg(long, value_name = "PARK,...", value_delimiter = ',')]
    pub parks: Vec<String>,

    /// Reading messages per second across all points, round-robin; 0 = as fast as possible.
    /// Without it, every point publishes at its own `interval_secs`.
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,

    /// Stop after N reading messages, wait for their PUBACKs and print a summary. Energy
    /// reports are not published in such a run.
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,

    /// Seed of the random generator, for reproducible runs (default: random; logged). The
    /// energy history uses this seed too, or a fixed one without it.
    #[arg(long)]
    pub seed: Option<u64>,

    /// MQTT client id (default `greenmon-sim-<pid>`).
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// Fraction of messages in which one pollutant is pushed outside its registry limit.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01)]
    pub exceedance_rate: f64,

    /// Fraction of reporting slots skipped (no message), as when a logger misses a slot.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01)]
    pub gap_rate: f64,

    /// Fraction of messages in which one pollutant carries a non-N flag (M, C, D, F, B or T).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.01)]
    pub flag_rate: f64,

    /// Fraction of messages deliberately malformed (broken JSON, "NaN" values, an unknown
    /// pollutant code or a bad timestamp), to fill the quarantine.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    pub invalid_rate: f64,

    /// Do not publish energy reports.
    #[arg(long, conflicts_with = "energy_only")]
    pub no_energy: bool,

    /// Publish only the energy report history (up to the last complete month), then exit.
    #[arg(long, conflicts_with_all = ["count", "rate"])]
    pub energy_only: bool,

    /// Base annual cut of energy intensity (fraction); varied per park, and much smaller for
    /// a few parks so that they are off track.
    #[arg(long, value_name = "FRACTION", default_value_t = 0.045)]
    pub energy_annual_cut: f64,

    /// Also publish the readings of the H hours before the start, replayed at `--speed` beside
    /// the live readings (which keep real time and every point online). Replayed timestamps run
    /// from H hours ago up to the start, never ahead of the clock. Default: no replay.
    #[arg(long, value_name = "H", default_value_t = 0.0, conflicts_with_all = ["rate", "energy_only"])]
    pub replay_hours: f64,

    /// How much faster than the clock `--replay-hours` replays: 12 = one simulated minute every
    /// 5 s.
    #[arg(
        long,
        value_name = "X",
        default_value_t = 12.0,
        requires = "replay_hours"
    )]
    pub speed: f64,

    /// Seconds to wait for outstanding PUBACKs before exiting.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub drain_timeout_secs: u64,

    /// Instead of MQTT: HJ 212 data loggers connected over TCP to this address (greenmon's
    /// `hj212.listen`), one per registry point with an MN. With `--count N`, stop once N
    /// uploads were answered.
    #[arg(long, value_name = "HOST:PORT", conflicts_with_all = ["rate", "energy_only", "replay_hours"])]
    pub hj212_tcp: Option<String>,

    /// With `--hj212-tcp`: only the first N loggers (default: every point with an MN).
    #[arg(long, value_name = "N", requires = "hj212_tcp")]
    pub loggers: Option<usize>,

    /// With `--hj212-tcp`: seconds between two uploads of one logger.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub every: f64,

    /// With `--hj212-tcp`: seconds a logger waits for an answer before sending again
    /// (HJ 212 OverTime).
    #[arg(long, value_name = "SECS", default_value_t = 5.0)]
    pub over_time: f64,

    /// With `--hj212-tcp`: how often a logger sends an unanswered upload again on one
    /// connection (HJ 212 ReCount) before it reconnects and sends it on the new one.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub re_count: u32,

    /// With `--hj212-tcp`: hours of hourly data each logger's history buffer holds, answering
    /// the platform's history requests (CN 2061).
    #[arg(long, value_name = "H", default_value_t = 720)]
    pub history_hours: u32,

    /// With `--hj212-tcp`: how the loggers fail the platform's history requests.
    #[arg(long, value_enum, default_value = "none")]
    pub fail: tcp::Failure,

    /// With `--hj212-tcp`: seconds the loggers' clocks are ahead of the true time (negative:
    /// behind), until the platform sets them (CN 1012).
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub clock_offset: i64,
}

impl SimulateArgs {
    /// Checks the numeric flags; returns every problem.
    fn check(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let fractions = [
            ("--exceedance-rate", self.exceedance_rate),
            ("--flag-rate", self.flag_rate),
            ("--invalid-rate", self.invalid_rate),
        ];
        for (flag, v) in fractions {
            if !(0.0..=1.0).contains(&v) {
                problems.push(format!("{flag} must be between 0 and 1, got {v}"));
            }
        }
        if !(0.0..1.0).contains(&self.gap_rate) {
            problems.push(format!(
                "--gap-rate must be at least 0 and below 1, got {}",
                self.gap_rate
            ));
        }
        if let Some(r) = self.rate {
            if !(r.is_finite() && r >= 0.0) {
                problems.push(format!("--rate must be 0 or a positive number, got {r}"));
            }
        }
        if !(self.replay_hours.is_finite() && (0.0..=MAX_REPLAY_HOURS).contains(&self.replay_hours))
        {
            problems.push(format!(
                "--replay-hours must be between 0 and {MAX_REPLAY_HOURS}, got {}",
                self.replay_hours
            ));
        }
        if !(1.0..=MAX_SPEED).contains(&self.speed) {
            problems.push(format!(
                "--speed must be between 1 and {MAX_SPEED}, got {}",
                self.speed
            ));
        }
        if !(0.0..1.0).contains(&self.energy_annual_cut) {
            problems.push(format!(
                "--energy-annual-cut must be at least 0 and below 1, got {}",
                self.energy_annual_cut
            ));
        }
        if self
            .client_id
            .as_deref()
            .is_some_and(|id| id.trim().is_empty())
        {
            problems.push("--client-id must not be empty".to_string());
        }
        for (flag, v) in [("--every", self.every), ("--over-time", self.over_time)] {
            if !(v.is_finite() && (0.001..=86_400.0).contains(&v)) {
                problems.push(format!(
                    "{flag} must be between 0.001 and 86400 seconds, got {v}"
                ));
            }
        }
        if self.history_hours > 24 * 366 {
            problems.push(format!(
                "--history-hours must be at most {}, got {}",
                24 * 366,
                self.history_hours
            ));
        }
        if self.clock_offset.unsigned_abs() > 366 * 86_400 {
            problems.push(format!(
                "--clock-offset must be within a year, got {}",
                self.clock_offset
            ));
        }
        if self.loggers == Some(0) {
            problems.push("--loggers must be at least 1".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("invalid simulate flags: {}", problems.join("; "))
        }
    }

    /// Whether this run publishes energy reports.
    fn energy_enabled(&self) -> bool {
        self.energy_only || (!self.no_energy && self.count.is_none())
    }
}

/// Runs the simulator until `--count` messages are acknowledged, the energy history is sent
/// (`--energy-only`), or Ctrl-C (then it waits up to `--drain-timeout-secs` for PUBACKs).
/// Prints one summary line to stdout.
///
/// # Errors
/// Bad flags, an unreadable or invalid registry, unknown `--parks`, broker options that cannot
/// be built (TLS CA file), a broker refusing the first connection, or, after `--count`,
/// messages still unacknowledged when the drain timeout passes.
pub async fn run(args: SimulateArgs, settings: &crate::config::Settings) -> anyhow::Result<()> {
    args.check()?;
    let registry = load_registry(&args.registry)?;
    let parks = select_parks(registry, &args.parks)?;
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    tracing::info!(seed, parks = parks.len(), "Simulator starting.");
    if let Some(addr) = &args.hj212_tcp {
        return run_loggers(&args, addr, &parks, seed, settings.timezone()).await;
    }
    let mut rng = StdRng::seed_from_u64(seed);

    let prefix = settings.mqtt.topic_prefix.trim_end_matches('/');
    let mut points = Vec::new();
    for park in &parks {
        for point in &park.points {
            points.push(SimPoint {
                topic: format!("{prefix}/parks/{}/points/{}/readings", park.id, point.id),
                interval_secs: u32::try_from(point.interval_secs).unwrap_or(60),
                model: PointModel::new(point, &mut rng),
                prev_ts: None,
            });
        }
    }
    if points.is_empty() && !args.energy_only {
        bail!("the selected parks have no monitoring points");
    }
    let energy = if args.energy_enabled() {
        let energy_seed = args.seed.unwrap_or(DEFAULT_ENERGY_SEED);
        runner::energy_feeds(&parks, prefix, args.energy_annual_cut, energy_seed)
    } else {
        Vec::new()
    };

    let client_id = args
        .client_id
        .clone()
        .unwrap_or_else(|| format!("greenmon-sim-{}", std::process::id()));
    let mut opts = crate::broker::mqtt_options(&settings.mqtt, &client_id, true)
        .context("building MQTT options")?;
    opts.set_inflight(INFLIGHT)
        .set_request_channel_capacity(CHANNEL_CAPACITY);
    let publisher = Publisher::start(
        opts,
        CHANNEL_CAPACITY,
        Duration::from_millis(settings.mqtt.reconnect_initial_ms.max(1)),
        Duration::from_millis(settings.mqtt.reconnect_max_ms.max(1)),
    );
    tracing::info!(client_id, host = %settings.mqtt.host, port = settings.mqtt.port, "Publishing to the MQTT broker.");

    let rates = Rates {
        exceedance: args.exceedance_rate,
        flag: args.flag_rate,
        invalid: args.invalid_rate,
    };
    // Whole milliseconds: the replay's slots are time-stamped to the millisecond.
    let replay_span = chrono::TimeDelta::milliseconds((args.replay_hours * 3_600_000.0) as i64);
    let runner = Runner::new(publisher, rng, rates, args.gap_rate, points, energy)
        .with_replay(replay_span, args.speed);
    let summary = runner
        .run(
            args.energy_only,
            args.rate,
            args.count,
            Duration::from_secs(args.drain_timeout_secs),
        )
        .await?;
    println!("{summary}");
    Ok(())
}

/// `--hj212-tcp`: the loggers of `parks` over TCP until `--count` answers or Ctrl-C; prints
/// the summary line.
async fn run_loggers(
    args: &SimulateArgs,
    addr: &str,
    parks: &[Park],
    seed: u64,
    tz: chrono_tz::Tz,
) -> anyhow::Result<()> {
    let loggers = logger_identities(parks, args.loggers, seed, tz)?;
    let cfg = tcp::FleetConfig {
        addr: addr.to_string(),
        every: Duration::from_secs_f64(args.every),
        over_time: Duration::from_secs_f64(args.over_time),
        re_count: args.re_count,
        count: args.count,
        seed,
        history_hours: args.history_hours,
        fail: args.fail,
        clock_offset: chrono::TimeDelta::seconds(args.clock_offset),
        offline: offline_commands(),
    };
    let n = loggers.len();
    tracing::info!(
        loggers = n,
        addr,
        every_secs = args.every,
        "HJ 212 loggers connecting."
    );
    let stats = std::sync::Arc::new(tcp::FleetStats::default());
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    let mut requested = runner::spawn_stop_signal();
    let signal = tokio::spawn(async move {
        tokio::select! {
            () = runner::stopped(&mut requested) => on_signal.cancel(),
            () = on_signal.cancelled() => {}
        }
    });
    let started = std::time::Instant::now();
    tcp::run_fleet(loggers, cfg, stats.clone(), stop).await;
    signal.abort();
    println!("{}", stats.summary(n, started.elapsed()));
    Ok(())
}

/// `offline` and `online` lines on standard input take every logger off the line and back.
/// Without a standard input (closed at once), the loggers stay online.
fn offline_commands() -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    // A thread of its own, not the runtime's blocking pool: a read of an open standard input
    // never returns, and the runtime waits for its blocking tasks when it shuts down.
    let spawned = std::thread::Builder::new()
        .name("simulate-commands".into())
        .spawn(move || {
            use std::io::BufRead;
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                match line.trim() {
                    "offline" => {
                        tracing::info!("Loggers going offline.");
                        let _ = tx.send(true);
                    }
                    "online" => {
                        tracing::info!("Loggers back online.");
                        let _ = tx.send(false);
                    }
                    "" => {}
                    other => {
                        tracing::warn!(command = other, "Unknown command; say offline or online.");
                    }
                }
            }
            // The loggers keep watching the last value until the process exits.
            loop {
                std::thread::park();
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "Cannot read commands from standard input; loggers stay online.");
    }
    rx
}

/// One logger per point with an MN, in registry order; the first `limit` of them.
fn logger_identities(
    parks: &[Park],
    limit: Option<usize>,
    seed: u64,
    tz: chrono_tz::Tz,
) -> anyhow::Result<Vec<logger::LoggerIdentity>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut loggers = Vec::new();
    for point in parks.iter().flat_map(|p| &p.points) {
        if let Some(mn) = &point.mn {
            loggers.push(logger::LoggerIdentity::new(
                mn.as_str().to_string(),
                point.hj212_password.clone(),
                PointModel::new(point, &mut rng),
                tz,
            ));
        }
    }
    if loggers.is_empty() {
        bail!("the selected parks have no points with an HJ 212 MN");
    }
    if let Some(n) = limit {
        if n > loggers.len() {
            bail!(
                "--loggers {n}: the selected parks have only {} points with an HJ 212 MN",
                loggers.len()
            );
        }
        loggers.truncate(n);
    }
    Ok(loggers)
}

/// Reads and validates the registry file.
fn load_registry(path: &Path) -> anyhow::Result<Registry> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the registry file {}", path.display()))?;
    let file = RegistryFile::parse(&text)
        .map_err(|e| anyhow!("parsing the registry file {}: {e}", path.display()))?;
    file.validate().map_err(|problems| {
        anyhow!(
            "the registry file {} is invalid:\n  {}",
            path.display(),
            problems.join("\n  ")
        )
    })
}

/// The parks named in `--parks` (all when empty), in registry order.
fn select_parks(registry: Registry, wanted: &[String]) -> anyhow::Result<Vec<Park>> {
    let wanted: Vec<&str> = wanted
        .iter()
        .map(|w| w.trim())
        .filter(|w| !w.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(registry.parks);
    }
    let unknown: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|w| !registry.parks.iter().any(|p| p.id.as_str() == *w))
        .collect();
    if !unknown.is_empty() {
        let known: Vec<&str> = registry.parks.iter().map(|p| p.id.as_str()).collect();
        bail!(
            "unknown park(s) {} (the registry has: {})",
            unknown.join(", "),
            known.join(", ")
        );
    }
    Ok(registry
        .parks
        .into_iter()
        .filter(|p| wanted.contains(&p.id.as_str()))
        .collect())
}

#[cfg(test)]
mod tests {
    use chrono::SubsecRound;
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SimulateArgs,
    }

    fn parse(argv: &[&str]) -> Result<SimulateArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("simulate").chain(argv.iter().copied())).map(|c| c.args)
    }

    #[test]
    fn defaults_and_flags() {
        let a = parse(&[]).unwrap();
        assert_eq!(a.registry, PathBuf::from("config/demo-registry.toml"));
        assert_eq!(
            (a.exceedance_rate, a.gap_rate, a.flag_rate, a.invalid_rate),
            (0.01, 0.01, 0.01, 0.0)
        );
        assert!(a.energy_enabled());
        a.check().unwrap();

        let a = parse(&[
            "--parks",
            "sjz-hitech,circular-chem",
            "--rate",
            "0",
            "--count",
            "10",
        ])
        .unwrap();
        assert_eq!(a.parks, ["sjz-hitech", "circular-chem"]);
        assert!(!a.energy_enabled());
        assert!(parse(&["--energy-only", "--count", "5"]).is_err());
        assert!(parse(&["--energy-only", "--no-energy"]).is_err());
        assert!(parse(&["--energy-only"]).unwrap().energy_enabled());
        assert!(!parse(&["--no-energy"]).unwrap().energy_enabled());

        // The replay is opt-in; --speed only goes with it, and only in interval mode.
        assert_eq!((a.replay_hours, a.speed), (0.0, 12.0));
        let a = parse(&["--replay-hours", "3", "--speed", "12"]).unwrap();
        assert_eq!((a.replay_hours, a.speed), (3.0, 12.0));
        a.check().unwrap();
        assert!(parse(&["--speed", "12"]).is_err());
        assert!(parse(&["--replay-hours", "1", "--rate", "10"]).is_err());
        assert!(parse(&["--replay-hours", "1", "--energy-only"]).is_err());

        // TCP loggers: their own flags, and nothing of the MQTT modes that makes no sense there.
        let a = parse(&["--hj212-tcp", "127.0.0.1:9212", "--loggers", "5"]).unwrap();
        assert_eq!(
            (
                a.hj212_tcp.as_deref(),
                a.loggers,
                a.every,
                a.over_time,
                a.re_count
            ),
            (Some("127.0.0.1:9212"), Some(5), 30.0, 5.0, 3)
        );
        a.check().unwrap();
        assert!(parse(&["--loggers", "5"]).is_err());
        assert!(parse(&["--hj212-tcp", "h:1", "--rate", "10"]).is_err());
        assert!(parse(&["--hj212-tcp", "h:1", "--replay-hours", "1"]).is_err());
    }

    #[test]
    fn one_logger_per_point_with_an_mn() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo-registry.toml");
        let parks = load_registry(Path::new(path)).unwrap().parks;
        let with_mn = parks
            .iter()
            .flat_map(|p| &p.points)
            .filter(|p| p.mn.is_some())
            .count();
        let tz = chrono_tz::Asia::Shanghai;
        assert_eq!(
            logger_identities(&parks, None, 1, tz).unwrap().len(),
            with_mn
        );
        assert_eq!(logger_identities(&parks, Some(2), 1, tz).unwrap().len(), 2);
        let err = logger_identities(&parks, Some(with_mn + 1), 1, tz)
            .unwrap_err()
            .to_string();
        assert!(err.contains("--loggers"), "{err}");
    }

    #[test]
    fn bad_numbers_are_errors_not_panics() {
        for argv in [
            &["--gap-rate", "1"][..],
            &["--flag-rate=-0.1"],
            &["--exceedance-rate", "NaN"],
            &["--rate", "inf"],
            &["--rate=-1"],
            &["--energy-annual-cut", "1.5"],
            &["--client-id", " "],
            &["--replay-hours=-1"],
            &["--replay-hours", "NaN"],
            &["--replay-hours", "1000"],
            &["--speed", "0.5", "--replay-hours=1"],
            &["--speed", "inf", "--replay-hours=1"],
            &["--every", "0", "--hj212-tcp", "h:1"],
            &["--over-time", "NaN"],
            &["--loggers", "0", "--hj212-tcp", "h:1"],
        ] {
            let err = parse(argv).unwrap().check().unwrap_err().to_string();
            let flag = argv[0].split('=').next().unwrap();
            assert!(err.contains(flag), "{argv:?}: {err}");
        }
    }

    #[test]
    fn registry_errors_have_context() {
        let err = load_registry(Path::new("/nonexistent/registry.toml")).unwrap_err();
        assert!(
            format!("{err:#}").contains("/nonexistent/registry.toml"),
            "{err:#}"
        );
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        std::fs::write(
            &bad,
            "[[parks]]\nid = 'A'\nname = 'x'\nbaseline_intensity = 1\n",
        )
        .unwrap();
        let err = load_registry(&bad).unwrap_err().to_string();
        assert!(err.contains("invalid") && err.contains("\"A\""), "{err}");
        std::fs::write(&bad, "[[parks]\n").unwrap();
        assert!(load_registry(&bad)
            .unwrap_err()
            .to_string()
            .contains("parsing"));
    }

    /// Contract with ingest: what the simulator publishes is what the JSON decoder accepts, and
    /// each malformed message is rejected with the reason it was built for.
    #[test]
    fn simulated_payloads_round_trip_through_the_ingest_decoder() {
        use crate::ingest::decode::{decode_energy, decode_readings, DecodeContext};
        use values::{generate, InvalidKind};

        let ctx = DecodeContext {
            topic_prefix: "greenmon/v1".into(),
            timezone: chrono_tz::Asia::Shanghai,
            max_payload_bytes: 262_144,
            max_future_secs: 300,
            limits: Default::default(),
        };
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo-registry.toml");
        let registry = load_registry(Path::new(path)).unwrap();
        let mut rng = StdRng::seed_from_u64(11);
        let now = chrono::Utc::now();
        let rates = Rates {
            exceedance: 0.2,
            flag: 0.2,
            invalid: 0.2,
        };
        let (mut valid, mut invalid) = (0, 0);
        for park in &registry.parks {
            for point in &park.points {
                let model = PointModel::new(point, &mut rng);
                for _ in 0..40 {
                    let m = generate(&model, now, rates, &mut rng);
                    let decoded = decode_readings(&ctx, &point.id, &m.payload, now);
                    match (m.invalid, decoded) {
                        (None, Ok(readings)) => {
                            assert_eq!(readings.len() as u64, m.readings);
                            assert!(readings.iter().all(|r| r.time == now.trunc_subsecs(3)));
                            valid += 1;
                        }
                        (Some(kind), Err(e)) => {
                            let want = match kind {
                                InvalidKind::BrokenJson => "invalid_json",
                                InvalidKind::NanString => "non_finite_value",
                                InvalidKind::UnknownPollutant => "unknown_pollutant",
                                InvalidKind::BadTimestamp => "invalid_timestamp",
                            };
                            assert_eq!(e.code(), want, "{kind:?}");
                            invalid += 1;
                        }
                        (kind, other) => panic!("{kind:?} decoded as {other:?}"),
                    }
                }
            }
            let pe = energy::ParkEnergy::new(park, 0.045, 11);
            let report = pe.report(
                energy::YearMonth {
                    year: 2018,
                    month: 3,
                },
                11,
            );
            let payload = serde_json::to_vec(&report).unwrap();
            let decoded = decode_energy(park.id.clone(), &payload).unwrap();
            assert_eq!(decoded.energy_tce, report.energy_tce);
            assert_eq!(decoded.price_index, report.price_index);
        }
        assert!(valid > 0 && invalid > 0);
    }

    #[test]
    fn park_selection() {
        let demo = || {
            load_registry(Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/config/demo-registry.toml"
            )))
            .unwrap()
        };
        assert_eq!(select_parks(demo(), &[]).unwrap().len(), demo().parks.len());
        let some = select_parks(demo(), &["circular-chem".into(), " sjz-hitech".into()]).unwrap();
        let ids: Vec<&str> = some.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["sjz-hitech", "circular-chem"]);
        let err = select_parks(demo(), &["nowhere".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nowhere") && err.contains("sjz-hitech"),
            "{err}"
        );
    }
}
