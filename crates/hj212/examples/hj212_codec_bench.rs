//! HJ 212 codec throughput on one thread, on a typical CN=2051 wastewater minute packet
//! (6 pollutants with Min/Avg/Max/Cou/Flag, 594 bytes), N times, in two modes:
//!
//! - `parse`: `split_frames` + `parse_packet` (CRC check included): the codec's public API,
//!   the figure recorded before issue 3;
//! - `ingest`: `ingest::decode::decode_hj212`, exactly what ingest runs on every HJ 212 payload
//!   (framing, CRC, header, CP, DataTime in the configured zone, values as `f64`, the upload for
//!   the store, the raw bytes kept for quarantine and the header kept for the answers).
//!
//! Usage: `cargo run --release --example hj212_codec_bench [iterations] [parse|ingest|both]`
//! (default 1,000,000, both). Prints one line per mode: `mode=<m> packets=<n> seconds=<s>
//! ns_per_packet=<x> cpu_seconds=<s> packets_per_cpu_sec=<n> packets_per_sec=<n>`:
//! `packets_per_sec` uses wall time; `packets_per_cpu_sec` uses the thread's on-CPU time (Linux
//! only), which stays meaningful on a machine shared with other work. Instructions per packet:
//! run it under `valgrind --tool=callgrind` with two iteration counts and divide the difference
//! of the totals by 1.1 × the difference of the counts (each run warms up with a tenth).
//!
//! The file uses only APIs that existed before issue 3, so the same source builds against the
//! older commits for side-by-side baselines.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use greenmon::hj212::{parse_packet, split_frames, PacketBuilder, PacketFlag};
use greenmon::ingest::decode::{decode_hj212, Hj212Item};

/// A realistic 2051 upload, as a data logger on a wastewater outlet sends it.
fn sample_frame() -> Vec<u8> {
    let items = [
        ("w00000", "10.52", "16.40", "17.53", "20.10", true),
        ("w01001", "", "7.10", "7.52", "7.80", false),
        ("w01018", "0.421", "38.20", "40.10", "42.70", true),
        ("w21003", "0.012", "1.103", "1.254", "1.420", true),
        ("w21011", "0.003", "0.281", "0.302", "0.330", true),
        ("w21001", "0.105", "9.870", "10.02", "10.31", true),
    ];
    let mut cp = String::from("DataTime=20240801084000");
    for (code, cou, min, avg, max, has_cou) in items {
        cp.push(';');
        if has_cou {
            cp.push_str(&format!("{code}-Cou={cou},"));
        }
        cp.push_str(&format!(
            "{code}-Min={min},{code}-Avg={avg},{code}-Max={max},{code}-Flag=N"
        ));
    }
    PacketBuilder {
        qn: Some("20240801085000123".into()),
        st: "32".into(),
        cn: "2051".into(),
        pw: Some("123456".into()),
        mn: "010000A8900016F000169DC0".into(),
        flag: Some(PacketFlag::from_parts(1, false, true)),
        cp,
        ..PacketBuilder::default()
    }
    .encode()
}

/// Nanoseconds this thread has run on a CPU (Linux `/proc/thread-self/schedstat`), which
/// unlike wall time excludes time spent waiting for a CPU on a busy machine.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .or_else(|_| std::fs::read_to_string("/proc/self/schedstat"))
        .ok()?;
    let ns = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// `split_frames` + `parse_packet`, `iterations` times; returns the packets with a good CRC.
#[inline(never)]
fn bench_parse(frame: &[u8], iterations: usize) -> usize {
    let mut packets = 0;
    for _ in 0..iterations {
        for raw in split_frames(black_box(frame)).iter().flatten() {
            if let Ok(p) = parse_packet(raw) {
                packets += usize::from(p.crc.matched.is_some());
                black_box(&p);
            }
        }
    }
    packets
}

/// `decode_hj212` as ingest calls it, `iterations` times; returns the packets that became an
/// upload of 6 values.
#[inline(never)]
fn bench_ingest(frame: &[u8], iterations: usize) -> usize {
    let tz = chrono_tz::Asia::Shanghai;
    let now = Utc::now();
    let mut packets = 0;
    for _ in 0..iterations {
        for p in decode_hj212(black_box(frame), tz, 300, now) {
            if let Ok(Hj212Item::Upload(u)) = &p.result {
                packets += usize::from(u.values.len() == 6);
            }
            black_box(&p);
        }
    }
    packets
}

fn run(mode: &str, frame: &[u8], iterations: usize) {
    let bench = match mode {
        "parse" => bench_parse,
        _ => bench_ingest,
    };
    bench(frame, iterations / 10); // warm-up
    let cpu_before = cpu_time();
    let start = Instant::now();
    let packets = bench(frame, iterations);
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_before
        .zip(cpu_time())
        .map(|(a, b)| (b - a).as_secs_f64());
    assert_eq!(packets, iterations, "every packet must decode completely");
    let on_cpu = cpu.map_or(String::new(), |c| {
        format!(
            " cpu_seconds={c:.3} packets_per_cpu_sec={:.0}",
            packets as f64 / c
        )
    });
    println!(
        "mode={mode} packets={packets} seconds={secs:.3} ns_per_packet={:.0}{on_cpu} packets_per_sec={:.0}",
        secs * 1e9 / packets as f64,
        packets as f64 / secs
    );
}

fn main() {
    let mut args = std::env::args().skip(1);
    let iterations = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let modes: &[&str] = match args.next().as_deref() {
        Some("parse") => &["parse"],
        Some("ingest") => &["ingest"],
        _ => &["parse", "ingest"],
    };
    let frame = sample_frame();
    eprintln!("frame: {} bytes", frame.len());
    for mode in modes {
        run(mode, &frame, iterations);
    }
}
