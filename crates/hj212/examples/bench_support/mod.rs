//! Shared by the codec benchmark (`hj212_codec_bench`, here) and greenmon's ingest benchmark
//! (`examples/hj212_ingest_bench.rs`, which includes this file by path): the packet both decode,
//! the timing loop and the output line, so their figures stay comparable.

use std::time::{Duration, Instant};

use hj212::{PacketBuilder, PacketFlag};

/// A realistic 2051 upload, as a data logger on a wastewater outlet sends it.
pub fn sample_frame() -> Vec<u8> {
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

/// Runs `bench` on `frame` (a tenth of `iterations` to warm up, then `iterations`) and prints
/// `mode=<m> packets=<n> seconds=<s> ns_per_packet=<x> cpu_seconds=<s>
/// packets_per_cpu_sec=<n> packets_per_sec=<n>`. `bench` returns the packets that decoded
/// completely, which must be all of them.
pub fn run(mode: &str, frame: &[u8], iterations: usize, bench: fn(&[u8], usize) -> usize) {
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

/// `[iterations] [mode]` from the command line: iterations default to 1,000,000; the mode, when
/// given, must be `mode` (the benchmark's only one), so a script asking for another fails loudly.
pub fn args(mode: &str) -> usize {
    let mut args = std::env::args().skip(1);
    let iterations = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    if let Some(other) = args.next().filter(|m| m != mode) {
        eprintln!("this benchmark runs mode {mode} only, not {other}");
        std::process::exit(2);
    }
    iterations
}
