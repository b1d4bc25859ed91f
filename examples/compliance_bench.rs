//! Compliance query latency, timed in-process with greenmon's own pool and engine calls, against
//! the database seeded by `bench/compliance/run.py`:
//!
//! - `bureau_summary`: `service::bureau_summary(pool, tz, now)` — every park's monitoring rate,
//!   effective transmission rate today and yesterday, open exceedances and energy status.
//! - `park_report_30d`: one park's report over the last 30 local days (today included, so far):
//!   `service::rates` + `service::exceedances` over the same 30 days + `service::energy` for the
//!   year to date, run one after the other and timed together as one report.
//!
//! Each repetition uses the real clock (`Utc::now()`) as `now`. A few warm-up repetitions (pool
//! connections, prepared statements, caches) are run first and not counted. Then, to find the
//! slowest part, each engine call the two reports make is timed alone.
//!
//! Usage: `GREENMON__DATABASE__DBNAME=greenmon_bench_compliance cargo run --release --example
//! compliance_bench -- [--reps 50] [--warmup 3] [--park ID] [--breakdown-reps 20]`
//! (default park: the first by id). Prints min/median/p95/max in ms per report, then one line
//! `JSON {...}` with every figure for scripts.

use std::time::Instant;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use greenmon::compliance::rates::local_day_bounds;
use greenmon::compliance::service;
use greenmon::config::Settings;
use serde_json::json;
use sqlx::PgPool;

struct Args {
    reps: usize,
    warmup: usize,
    breakdown_reps: usize,
    park: Option<String>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        reps: 50,
        warmup: 3,
        breakdown_reps: 20,
        park: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--reps" => args.reps = value()?.parse()?,
            "--warmup" => args.warmup = value()?.parse()?,
            "--breakdown-reps" => args.breakdown_reps = value()?.parse()?,
            "--park" => args.park = Some(value()?),
            "-h" | "--help" => {
                println!(
                    "compliance_bench [--reps 50] [--warmup 3] [--park ID] [--breakdown-reps 20]"
                );
                std::process::exit(0);
            }
            other => anyhow::bail!("unknown argument {other:?}"),
        }
    }
    anyhow::ensure!(args.reps > 0, "--reps must be positive");
    Ok(args)
}

/// min, median, p95 (nearest rank), max, in ms.
#[derive(Debug, Clone, Copy)]
struct Stats {
    min: f64,
    median: f64,
    p95: f64,
    max: f64,
}

fn stats(samples: &[f64]) -> Stats {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let rank = |q: f64| {
        // Nearest-rank percentile: the smallest value with at least q of the samples ≤ it.
        let r = (q * n as f64).ceil() as usize;
        s[r.clamp(1, n) - 1]
    };
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Stats {
        min: s[0],
        median,
        p95: rank(0.95),
        max: s[n - 1],
    }
}

fn stats_json(s: Stats) -> serde_json::Value {
    json!({"min_ms": s.min, "median_ms": s.median, "p95_ms": s.p95, "max_ms": s.max})
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The 30 local days ending today, and their UTC bounds.
fn last_30_days(
    tz: Tz,
    now: DateTime<Utc>,
) -> (NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>) {
    let to = now.with_timezone(&tz).date_naive();
    let from = to - Duration::days(29);
    (
        from,
        to,
        local_day_bounds(from, tz).0,
        local_day_bounds(to, tz).1,
    )
}

/// What one park's 30-day report returns, summarised.
struct ParkReport {
    points: usize,
    effective: Option<f64>,
    episodes: usize,
    exceedance_hours: u32,
    energy_on_track: Option<bool>,
}

async fn park_report_30d(
    pool: &PgPool,
    tz: Tz,
    park: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<ParkReport> {
    let (from, to, start, end) = last_30_days(tz, now);
    let rates = service::rates(pool, tz, Some(park), from, to, now).await?;
    let exceedances = service::exceedances(pool, Some(park), start, end, now).await?;
    let energy = service::energy(pool, Some(park), to.year(), to).await?;
    let r = rates.first();
    Ok(ParkReport {
        points: r.map_or(0, |r| r.points.len()),
        effective: r.and_then(|r| r.effective),
        episodes: exceedances.len(),
        exceedance_hours: exceedances.iter().map(|e| e.episode.hours).sum(),
        energy_on_track: energy.first().and_then(|e| e.status).map(|s| s.on_track),
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse_args()?;
    let settings = Settings::load(None)?;
    let tz = settings.timezone();
    let pool = greenmon::store::pool(&settings.database);
    let park = match &args.park {
        Some(p) => p.clone(),
        None => greenmon::store::compliance::parks(&pool, None)
            .await?
            .first()
            .map(|p| p.id.clone())
            .ok_or_else(|| anyhow::anyhow!("the database has no parks"))?,
    };
    println!(
        "database={} tz={tz} reps={} warmup={} pool_max_connections={} park={park}",
        settings.database.dbname, args.reps, args.warmup, settings.database.max_connections
    );

    // Warm-up: connections, statement preparation, caches.
    for _ in 0..args.warmup {
        service::bureau_summary(&pool, tz, Utc::now()).await?;
        park_report_30d(&pool, tz, &park, Utc::now()).await?;
    }

    // Alternate the two reports so drift (autovacuum, other load) hits both alike.
    let mut summary_ms = Vec::with_capacity(args.reps);
    let mut report_ms = Vec::with_capacity(args.reps);
    let mut last_summary = Vec::new();
    let mut last_report = None;
    for _ in 0..args.reps {
        let t = Instant::now();
        last_summary = service::bureau_summary(&pool, tz, Utc::now()).await?;
        summary_ms.push(ms(t));
        let t = Instant::now();
        last_report = Some(park_report_30d(&pool, tz, &park, Utc::now()).await?);
        report_ms.push(ms(t));
    }
    let summary = stats(&summary_ms);
    let report = stats(&report_ms);

    // What the last repetitions returned, to show the data is varied (not all green).
    let required: u32 = last_summary.iter().map(|r| r.required_points).sum();
    let online: u32 = last_summary.iter().map(|r| r.online_required_points).sum();
    let full = last_summary
        .iter()
        .filter(|r| r.online_required_points == r.required_points)
        .count();
    let open: usize = last_summary.iter().map(|r| r.open_exceedances).sum();
    let mean = |f: &dyn Fn(&service::BureauRow) -> Option<f64>| {
        let v: Vec<f64> = last_summary.iter().filter_map(f).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    let eff_today = mean(&|r| r.effective_today);
    let eff_yesterday = mean(&|r| r.effective_yesterday);
    let on_track = last_summary
        .iter()
        .filter(|r| r.energy.is_some_and(|e| e.on_track))
        .count();
    let with_energy = last_summary.iter().filter(|r| r.energy.is_some()).count();
    println!(
        "bureau_summary returns: parks={} required_points={required} online={online} \
         parks_at_100%={full} open_exceedances={open} mean_effective_today={eff_today:.4?} \
         mean_effective_yesterday={eff_yesterday:.4?} energy_on_track={on_track}/{with_energy}",
        last_summary.len()
    );
    let rep = last_report.expect("reps > 0");
    let (from, to, _, _) = last_30_days(tz, Utc::now());
    println!(
        "park_report_30d returns: park={park} days={from}..={to} points={} effective={:.4?} \
         exceedance_episodes={} exceedance_hours={} energy_on_track={:?}",
        rep.points, rep.effective, rep.episodes, rep.exceedance_hours, rep.energy_on_track
    );
    println!(
        "bureau_summary  ms: min={:.1} median={:.1} p95={:.1} max={:.1}  (target p95 <= 100)",
        summary.min, summary.median, summary.p95, summary.max
    );
    println!(
        "park_report_30d ms: min={:.1} median={:.1} p95={:.1} max={:.1}  (target <= 200)",
        report.min, report.median, report.p95, report.max
    );

    // Breakdown: each engine call alone, one after the other.
    let n = args.breakdown_reps.max(1);
    let mut parts: Vec<(&str, Stats)> = Vec::new();
    macro_rules! part {
        ($name:expr, |$now:ident| $call:expr) => {{
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                let $now = Utc::now();
                let t = Instant::now();
                $call.await?;
                v.push(ms(t));
            }
            parts.push(($name, stats(&v)));
        }};
    }
    let day =
        |now: DateTime<Utc>, back: i64| now.with_timezone(&tz).date_naive() - Duration::days(back);
    part!("summary.parks_now", |now| service::parks_now(
        &pool, None, now
    ));
    part!("summary.rates_yesterday", |now| service::rates(
        &pool,
        tz,
        None,
        day(now, 1),
        day(now, 1),
        now
    ));
    part!("summary.rates_today", |now| service::rates(
        &pool,
        tz,
        None,
        day(now, 0),
        day(now, 0),
        now
    ));
    part!("summary.exceedances_48h", |now| service::exceedances(
        &pool,
        None,
        now - Duration::hours(48),
        now + Duration::hours(1),
        now
    ));
    part!("summary.energy", |now| service::energy(
        &pool,
        None,
        day(now, 0).year(),
        day(now, 0)
    ));
    part!("report.rates_30d", |now| {
        let (from, to, _, _) = last_30_days(tz, now);
        service::rates(&pool, tz, Some(&park), from, to, now)
    });
    part!("report.exceedances_30d", |now| {
        let (_, _, start, end) = last_30_days(tz, now);
        service::exceedances(&pool, Some(&park), start, end, now)
    });
    part!("report.energy", |now| service::energy(
        &pool,
        Some(&park),
        day(now, 0).year(),
        day(now, 0)
    ));
    println!("breakdown (each call alone, {n} reps):");
    for (name, s) in &parts {
        println!(
            "  {name:<26} ms: min={:.1} median={:.1} p95={:.1} max={:.1}",
            s.min, s.median, s.p95, s.max
        );
    }

    let breakdown: serde_json::Map<String, serde_json::Value> = parts
        .iter()
        .map(|(k, s)| ((*k).to_string(), stats_json(*s)))
        .collect();
    let out = json!({
        "reps": args.reps,
        "park": park,
        "bureau_summary": stats_json(summary),
        "park_report_30d": stats_json(report),
        "bureau_summary_samples_ms": summary_ms,
        "park_report_30d_samples_ms": report_ms,
        "breakdown": breakdown,
        "returns": {
            "parks": last_summary.len(), "required_points": required, "online": online,
            "parks_at_100": full, "open_exceedances": open,
            "mean_effective_today": eff_today, "mean_effective_yesterday": eff_yesterday,
            "energy_on_track": on_track, "parks_with_energy": with_energy,
            "report_points": rep.points, "report_effective": rep.effective,
            "report_episodes": rep.episodes, "report_exceedance_hours": rep.exceedance_hours,
        },
    });
    println!("JSON {out}");
    Ok(())
}
