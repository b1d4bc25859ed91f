//! HJ 212 end-to-end load generator: N data loggers (default 1,000), each on its own TCP
//! connection to greenmon's HJ 212 listener, each sending M minute-data packets (CN=2051,
//! Flag=5 so greenmon answers 9014 once the rows are committed) one at a time: send, wait for
//! the 9014 answer with the same QN, send the next. Every send→answer latency is recorded.
//!
//! Each logger uses its own MN (and PW) from a registry file (the format of
//! `greenmon registry import`, `src/domain/registry.rs`); every packet carries a DataTime unique
//! for its logger (one minute apart, from `--start`), and six pollutants (w01018 w21003 w21011
//! w21001 w01001 w00000) with Min/Avg/Max/Flag (and Cou for the flow w00000): six readings.
//!
//! All loggers connect first; the clock starts when they have all connected and stops at the
//! last answer.
//!
//! Usage:
//! `cargo run --release --example hj212_tcp_bench -- --addr 127.0.0.1:9212 --registry FILE
//!  [--loggers 1000] [--packets 20] [--start 20240801000000] [--timeout-secs 60]`
//!
//! Prints one line of `key=value` pairs: `loggers packets readings answered failed
//! connect_secs elapsed_secs packets_per_sec readings_per_sec p50_ms p90_ms p99_ms max_ms
//! cpu_secs` (the generator's own CPU time), and exits 1 when any packet got no 9014 answer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use greenmon::domain::registry::RegistryFile;
use hj212::{parse_packet, Deframer, PacketBuilder, PacketFlag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

struct Args {
    addr: SocketAddr,
    registry: String,
    loggers: usize,
    packets: usize,
    start: NaiveDateTime,
    timeout: Duration,
}

fn usage(problem: &str) -> ! {
    eprintln!(
        "{problem}\nusage: hj212_tcp_bench --addr HOST:PORT --registry FILE [--loggers 1000] \
         [--packets 20] [--start YYYYMMDDhhmmss] [--timeout-secs 60]"
    );
    std::process::exit(2);
}

fn args() -> Args {
    let mut addr = None;
    let mut registry = None;
    let mut loggers = 1000;
    let mut packets = 20;
    let mut start = "20240801000000".to_string();
    let mut timeout = 60;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .unwrap_or_else(|| usage(&format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--addr" => addr = Some(value()),
            "--registry" => registry = Some(value()),
            "--loggers" => loggers = value().parse().unwrap_or_else(|_| usage("bad --loggers")),
            "--packets" => packets = value().parse().unwrap_or_else(|_| usage("bad --packets")),
            "--start" => start = value(),
            "--timeout-secs" => {
                timeout = value()
                    .parse()
                    .unwrap_or_else(|_| usage("bad --timeout-secs"));
            }
            other => usage(&format!("unknown argument {other}")),
        }
    }
    Args {
        addr: addr
            .unwrap_or_else(|| usage("--addr is required"))
            .parse()
            .unwrap_or_else(|_| usage("bad --addr")),
        registry: registry.unwrap_or_else(|| usage("--registry is required")),
        loggers,
        packets,
        start: NaiveDateTime::parse_from_str(&start, "%Y%m%d%H%M%S")
            .unwrap_or_else(|_| usage("bad --start (YYYYMMDDhhmmss)")),
        timeout: Duration::from_secs(timeout),
    }
}

/// The MN and PW of every point with an MN, in file order.
fn devices(path: &str) -> Vec<(String, Option<String>)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| usage(&format!("cannot read {path}: {e}")));
    let file = RegistryFile::parse(&text).unwrap_or_else(|e| usage(&format!("{path}: {e}")));
    file.parks
        .into_iter()
        .flat_map(|p| p.points)
        .filter_map(|pt| pt.mn.map(|mn| (mn, pt.hj212_password)))
        .collect()
}

/// Packet `k` of logger `logger`: a typical wastewater-outlet minute upload.
fn packet(
    mn: &str,
    pw: Option<&str>,
    data_time: NaiveDateTime,
    logger: usize,
    k: usize,
) -> (String, Vec<u8>) {
    let dt = data_time.format("%Y%m%d%H%M%S").to_string();
    // QN = YYYYMMDDhhmmsszzz; unique per logger because DataTime is.
    let qn = format!("{dt}{:03}", (logger + k) % 1000);
    // Small deterministic variation so values are not all identical.
    let v = ((logger * 31 + k * 7) % 100) as f64 / 100.0;
    let items: [(&str, f64, f64, f64, Option<f64>); 6] = [
        ("w01018", 38.2 + v, 40.1 + v, 42.7 + v, None),
        (
            "w21003",
            1.103 + v / 10.0,
            1.254 + v / 10.0,
            1.42 + v / 10.0,
            None,
        ),
        ("w21011", 0.281, 0.302 + v / 100.0, 0.33, None),
        ("w21001", 9.87, 10.02 + v, 10.31 + v, None),
        ("w01001", 7.1, 7.52, 7.8, None),
        ("w00000", 16.4, 17.53 + v, 20.1 + v, Some(10.52 + v)),
    ];
    let mut cp = format!("DataTime={dt}");
    for (code, min, avg, max, cou) in items {
        cp.push(';');
        if let Some(cou) = cou {
            cp.push_str(&format!("{code}-Cou={cou:.2},"));
        }
        cp.push_str(&format!(
            "{code}-Min={min:.3},{code}-Avg={avg:.3},{code}-Max={max:.3},{code}-Flag=N"
        ));
    }
    let bytes = PacketBuilder {
        qn: Some(qn.clone()),
        st: "32".into(),
        cn: "2051".into(),
        pw: pw.map(str::to_string),
        mn: mn.into(),
        // HJ 212-2017, not split, answer required: Flag=5.
        flag: Some(PacketFlag::from_parts(1, false, true)),
        cp,
        ..PacketBuilder::default()
    }
    .encode();
    (qn, bytes)
}

#[derive(Default)]
struct LoggerResult {
    latencies_us: Vec<u32>,
    failed: usize,
    error: Option<String>,
}

/// Waits for the next answer frame; returns its CN and QN.
async fn next_answer(
    stream: &mut TcpStream,
    deframer: &mut Deframer,
    buf: &mut [u8],
) -> Result<(String, Option<String>), String> {
    loop {
        if let Some(frame) = deframer.next_frame() {
            let frame = frame.map_err(|e| format!("bad answer frame: {}", e.code()))?;
            let p = parse_packet(&frame).map_err(|e| format!("bad answer: {}", e.code()))?;
            return Ok((p.cn, p.qn));
        }
        let n = stream.read(buf).await.map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            return Err("connection closed by greenmon".into());
        }
        deframer.push(&buf[..n]);
    }
}

async fn run_logger(
    args: Arc<Args>,
    index: usize,
    mn: String,
    pw: Option<String>,
    ready: Arc<Barrier>,
) -> LoggerResult {
    let mut result = LoggerResult::default();
    // Every logger reaches the barrier, connected or not, so nobody waits forever.
    let connected = TcpStream::connect(args.addr).await;
    ready.wait().await;
    let mut stream = match connected {
        Ok(s) => s,
        Err(e) => {
            result.failed = args.packets;
            result.error = Some(format!("connect: {e}"));
            return result;
        }
    };
    let _ = stream.set_nodelay(true);
    let mut deframer = Deframer::new(4096);
    let mut buf = vec![0u8; 4096];
    result.latencies_us.reserve(args.packets);
    for k in 0..args.packets {
        let data_time = args.start + chrono::Duration::minutes(k as i64);
        let (qn, bytes) = packet(&mn, pw.as_deref(), data_time, index, k);
        let sent = Instant::now();
        let exchange = async {
            stream
                .write_all(&bytes)
                .await
                .map_err(|e| format!("write: {e}"))?;
            loop {
                let (cn, aqn) = next_answer(&mut stream, &mut deframer, &mut buf).await?;
                if aqn.as_deref() != Some(qn.as_str()) {
                    continue; // not ours (cannot happen with one packet in flight)
                }
                return if cn == "9014" {
                    Ok(())
                } else {
                    Err(format!("answered CN={cn} to QN={qn}"))
                };
            }
        };
        match tokio::time::timeout(args.timeout, exchange).await {
            Ok(Ok(())) => {
                let us = sent.elapsed().as_micros();
                result
                    .latencies_us
                    .push(u32::try_from(us).unwrap_or(u32::MAX));
            }
            Ok(Err(e)) => {
                result.failed = args.packets - k;
                result.error = Some(e);
                return result;
            }
            Err(_) => {
                result.failed = args.packets - k;
                result.error = Some(format!("no answer to QN={qn} within {:?}", args.timeout));
                return result;
            }
        }
    }
    result
}

/// This process's CPU time (user + system), from /proc/self/stat.
fn cpu_secs() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    f64::from(sorted[rank.clamp(1, sorted.len()) - 1]) / 1000.0
}

// One thread: the generator stays off greenmon's and PostgreSQL's second core as far as it can.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Arc::new(args());
    let devices = devices(&args.registry);
    if devices.len() < args.loggers {
        usage(&format!(
            "{} has {} points with an MN; {} loggers need as many",
            args.registry,
            devices.len(),
            args.loggers
        ));
    }
    let cpu_start = cpu_secs();
    let connect_start = Instant::now();
    // The loggers and this task meet at the barrier once every connection is open.
    let ready = Arc::new(Barrier::new(args.loggers + 1));
    let tasks: Vec<_> = devices
        .into_iter()
        .take(args.loggers)
        .enumerate()
        .map(|(i, (mn, pw))| tokio::spawn(run_logger(args.clone(), i, mn, pw, ready.clone())))
        .collect();
    ready.wait().await;
    let connect_secs = connect_start.elapsed().as_secs_f64();
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(args.loggers * args.packets);
    let mut failed = 0;
    let mut errors = Vec::new();
    for t in tasks {
        let r = t.await.expect("logger task panicked");
        latencies.extend(r.latencies_us);
        failed += r.failed;
        if let Some(e) = r.error {
            errors.push(e);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu_start;
    latencies.sort_unstable();
    let answered = latencies.len();
    for e in errors.iter().take(10) {
        eprintln!("logger error: {e}");
    }
    if errors.len() > 10 {
        eprintln!("... and {} more logger errors", errors.len() - 10);
    }
    let readings = answered * 6;
    println!(
        "loggers={} packets={} readings={} answered={} failed={} connect_secs={:.3} \
         elapsed_secs={:.3} packets_per_sec={:.0} readings_per_sec={:.0} p50_ms={:.1} \
         p90_ms={:.1} p99_ms={:.1} max_ms={:.1} cpu_secs={:.2}",
        args.loggers,
        args.loggers * args.packets,
        readings,
        answered,
        failed,
        connect_secs,
        elapsed,
        answered as f64 / elapsed,
        readings as f64 / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies
            .last()
            .map_or(f64::NAN, |&m| f64::from(m) / 1000.0),
        cpu,
    );
    if failed > 0 {
        std::process::exit(1);
    }
}
