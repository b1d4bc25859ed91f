//! HJ 212 codec throughput on one thread: frames a typical CN=2051 wastewater minute packet
//! (6 pollutants with Min/Avg/Max/Cou/Flag) with `split_frames`, then `parse_packet`
//! (which includes the CRC check), N times.
//!
//! Usage: `cargo run --release --example hj212_codec_bench [iterations]` (default 1,000,000).
//! Prints `packets=<n> seconds=<s> ns_per_packet=<x> cpu_seconds=<s> packets_per_cpu_sec=<n>
//! packets_per_sec=<n>`: `packets_per_sec` uses wall time; `packets_per_cpu_sec` uses the
//! thread's on-CPU time (Linux only), which stays meaningful on a machine shared with other
//! work.

use std::hint::black_box;
use std::time::{Duration, Instant};

use greenmon::hj212::{parse_packet, split_frames, PacketBuilder, PacketFlag};

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

/// Decodes the sample `iterations` times; returns (packets decoded, elapsed).
fn bench_decode(frame: &[u8], iterations: usize) -> (usize, Duration) {
    let start = Instant::now();
    let mut packets = 0;
    for _ in 0..iterations {
        for raw in split_frames(black_box(frame)).iter().flatten() {
            if let Ok(p) = parse_packet(raw) {
                packets += usize::from(p.crc.matched.is_some());
                black_box(&p);
            }
        }
    }
    (packets, start.elapsed())
}

fn main() {
    let iterations = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let frame = sample_frame();
    eprintln!("frame: {} bytes", frame.len());
    bench_decode(&frame, iterations / 10); // warm-up
    let cpu_before = cpu_time();
    let (packets, elapsed) = bench_decode(&frame, iterations);
    let cpu = cpu_before
        .zip(cpu_time())
        .map(|(a, b)| (b - a).as_secs_f64());
    assert_eq!(
        packets, iterations,
        "every packet must decode with a good CRC"
    );
    let secs = elapsed.as_secs_f64();
    let on_cpu = cpu.map_or(String::new(), |c| {
        format!(
            " cpu_seconds={c:.3} packets_per_cpu_sec={:.0}",
            packets as f64 / c
        )
    });
    println!(
        "packets={packets} seconds={secs:.3} ns_per_packet={:.0}{on_cpu} packets_per_sec={:.0}",
        secs * 1e9 / packets as f64,
        packets as f64 / secs
    );
}
