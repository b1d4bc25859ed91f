//! Alert latency benchmark, against the real `greenmon serve` (a child process), the real
//! PostgreSQL and Mosquitto, and a webhook receiver in this process.
//!
//! Setup: a fresh database `greenmon_bench_alerts` with `--points` points (20 per park), each
//! with a COD upper limit of 50, reporting every 5 s (a keep-alive publisher sends one normal
//! reading per point every 5 s all along, so the service ingests `--points / 5` messages/s
//! throughout); `point_offline.for_secs = --for-secs`, allowed gap 10 s; every other setting at
//! its default (evaluation every 5 s).
//!
//! - **Exceedance**: `--trials` times, one point at a time (each a different point), publish a
//!   reading of COD 2000 and time until the webhook receives that point's `firing`
//!   notification of `discharge_exceedance`.
//! - **Offline**: `--offline` points stop reporting at the start; for each, the time from its
//!   last reading + `for_secs` until the webhook receives its `point_offline` firing (the
//!   overhead beyond the rule's own `for`).
//!
//! Usage: `cargo run --release --example alerts_bench -- --bin target/release/greenmon
//! [--points 1000] [--trials 200] [--offline 20] [--for-secs 30]`
//!
//! Prints `key=value` lines; exits 1 if a notification never arrives.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use rumqttc::{AsyncClient, MqttOptions, QoS};
use sqlx::Connection;

const DB: &str = "greenmon_bench_alerts";
const SECRET: &str = "bench-secret-0123456789";

struct Args {
    bin: String,
    points: usize,
    trials: usize,
    offline: usize,
    for_secs: u64,
}

fn args() -> Args {
    let mut a = Args {
        bin: String::new(),
        points: 1000,
        trials: 200,
        offline: 20,
        for_secs: 30,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = || {
            value
                .parse()
                .unwrap_or_else(|_| usage(&format!("bad {flag}")))
        };
        match flag.as_str() {
            "--bin" => a.bin = value.clone(),
            "--points" => a.points = num(),
            "--trials" => a.trials = num(),
            "--offline" => a.offline = num(),
            "--for-secs" => a.for_secs = num() as u64,
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    if a.bin.is_empty() || a.trials + a.offline > a.points {
        usage("--bin is required, and --trials + --offline must not exceed --points");
    }
    a
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: alerts_bench --bin PATH [--points 1000] [--trials 200] [--offline 20] [--for-secs 30]"
    );
    std::process::exit(2);
}

/// (point, rule) → when its firing notification arrived.
type Arrivals = Arc<Mutex<HashMap<(String, String), (Instant, DateTime<Utc>)>>>;

async fn receive(
    axum::extract::State(arrivals): axum::extract::State<Arrivals>,
    body: axum::body::Bytes,
) -> &'static str {
    let (now, wall) = (Instant::now(), Utc::now());
    if let Ok(j) = serde_json::from_slice::<serde_json::Value>(&body) {
        if j["event"] == "firing" {
            let key = (
                j["alert"]["point_id"].as_str().unwrap_or("").to_string(),
                j["alert"]["rule"].as_str().unwrap_or("").to_string(),
            );
            arrivals.lock().unwrap().entry(key).or_insert((now, wall));
        }
    }
    "ok"
}

fn point_id(i: usize) -> String {
    format!("bp{:02}-{:02}", i / 20, i % 20)
}

fn topic_of(prefix: &str, i: usize) -> String {
    format!(
        "{prefix}/parks/bp{:02}/points/{}/readings",
        i / 20,
        point_id(i)
    )
}

fn registry(points: usize) -> String {
    let mut s = String::new();
    for park in 0..points.div_ceil(20) {
        s.push_str(&format!(
            "[[parks]]\nid = \"bp{park:02}\"\nname = \"Bench park {park}\"\nbaseline_intensity = 0.8\n"
        ));
        for i in park * 20..((park + 1) * 20).min(points) {
            s.push_str(&format!(
                "[[parks.points]]\nid = \"{}\"\nname = \"Outlet {i}\"\nkind = \"sewage_outlet\"\n\
                 interval_secs = 5\nallowed_gap_secs = 10\n[parks.points.limits]\ncod = {{ upper = 50 }}\n",
                point_id(i)
            ));
        }
    }
    s
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() {
    let a = args();
    // A fresh database with the registry.
    let mut admin = sqlx::PgConnection::connect("postgres://postgres@127.0.0.1:5432/postgres")
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {DB}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let mut settings = greenmon::config::Settings::load(None).unwrap();
    settings.database.dbname = DB.into();
    let pool = greenmon::store::pool(&settings.database);
    greenmon::store::migrate(&pool).await.unwrap();
    let reg = greenmon::domain::registry::RegistryFile::parse(&registry(a.points))
        .unwrap()
        .validate()
        .unwrap();
    greenmon::store::registry::import(&pool, &reg, chrono_tz::Asia::Shanghai)
        .await
        .unwrap();

    // The webhook receiver.
    let arrivals: Arrivals = Arc::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(arrivals.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // The service.
    let dir = std::env::temp_dir().join(format!("greenmon-alerts-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("greenmon.toml");
    std::fs::write(
        &config,
        format!(
            "[alerts]\n[[alerts.webhooks]]\nname = \"bench\"\nurl = \"{hook}\"\nsecret = \"{SECRET}\"\n\
             [alerts.rules.point_offline]\nfor_secs = {}\n",
            a.for_secs
        ),
    )
    .unwrap();
    let prefix = format!("bench/alerts-{}", std::process::id());
    let http_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&a.bin)
        .args(["--config", &config.display().to_string(), "serve"])
        .env("GREENMON__DATABASE__DBNAME", DB)
        .env("GREENMON__MQTT__TOPIC_PREFIX", &prefix)
        .env(
            "GREENMON__MQTT__CLIENT_ID",
            format!("gm-alerts-bench-{}", std::process::id()),
        )
        .env("GREENMON__HTTP__LISTEN", format!("127.0.0.1:{http_port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("greenmon binary");
    let ready = format!("http://127.0.0.1:{http_port}/readyz");
    let started = Instant::now();
    loop {
        if let Ok(r) = reqwest::get(&ready).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "service not ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The publisher.
    let mut opts = MqttOptions::new(
        format!("alerts-bench-pub-{}", std::process::id()),
        "127.0.0.1",
        1883,
    );
    opts.set_keep_alive(Duration::from_secs(30))
        .set_inflight(500);
    let (client, mut eventloop) = AsyncClient::new(opts, 10_000);
    tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    let topic = |i: usize| topic_of(&prefix, i);
    let payload = |cod: f64| {
        format!(
            r#"{{"ts":"{}","values":{{"cod":{cod}}}}}"#,
            Utc::now().to_rfc3339()
        )
        .into_bytes()
    };
    // Give the subscription a moment, then keep every point but the offline ones alive.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let offline: Vec<usize> = (a.points - a.offline..a.points).collect();
    let mut last_reading: HashMap<String, DateTime<Utc>> = HashMap::new();
    for &i in &offline {
        client
            .publish(topic(i), QoS::AtLeastOnce, false, payload(10.0))
            .await
            .unwrap();
        last_reading.insert(point_id(i), Utc::now());
    }
    let keep = client.clone();
    let alive = a.points - a.offline;
    let prefix_k = prefix.clone();
    tokio::spawn(async move {
        loop {
            for i in 0..alive {
                let _ = keep
                    .publish(
                        topic_of(&prefix_k, i),
                        QoS::AtLeastOnce,
                        false,
                        payload(10.0),
                    )
                    .await;
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    // Let the first round land, so the points start online.
    tokio::time::sleep(Duration::from_secs(8)).await;

    // Exceedances, one at a time.
    let mut latencies = Vec::new();
    let mut missing = 0;
    for t in 0..a.trials {
        let point = point_id(t);
        let t0 = Instant::now();
        client
            .publish(topic(t), QoS::AtLeastOnce, false, payload(2000.0))
            .await
            .unwrap();
        let key = (point, "discharge_exceedance".to_string());
        loop {
            if let Some((at, _)) = arrivals.lock().unwrap().get(&key) {
                latencies.push(at.duration_since(t0).as_secs_f64() * 1000.0);
                break;
            }
            if t0.elapsed() > Duration::from_secs(10) {
                missing += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    latencies.sort_by(|x, y| x.total_cmp(y));

    // Offline: wait for every silent point's alert.
    let deadline = Instant::now() + Duration::from_secs(a.for_secs + 60);
    let mut overheads = Vec::new();
    for (point, last) in &last_reading {
        let key = (point.clone(), "point_offline".to_string());
        loop {
            if let Some((_, wall)) = arrivals.lock().unwrap().get(&key) {
                let due = *last + chrono::Duration::seconds(a.for_secs as i64);
                overheads.push((*wall - due).num_milliseconds() as f64 / 1000.0);
                break;
            }
            if Instant::now() > deadline {
                missing += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    overheads.sort_by(|x, y| x.total_cmp(y));
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let _ = child.wait();

    println!(
        "points={} trials={} offline={} for_secs={}",
        a.points, a.trials, a.offline, a.for_secs
    );
    if !latencies.is_empty() {
        println!(
            "exceedance_ms p50={:.1} p90={:.1} p99={:.1} max={:.1} n={}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            percentile(&latencies, 0.99),
            latencies[latencies.len() - 1],
            latencies.len()
        );
    }
    if !overheads.is_empty() {
        println!(
            "offline_overhead_secs min={:.2} p50={:.2} max={:.2} n={}",
            overheads[0],
            percentile(&overheads, 0.5),
            overheads[overheads.len() - 1],
            overheads.len()
        );
    }
    println!("missing={missing}");
    let _ = std::fs::remove_dir_all(&dir);
    if missing > 0 {
        std::process::exit(1);
    }
}
