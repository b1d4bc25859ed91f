//! HJ 212 ingest decode throughput on one thread: `ingest::decode::decode_hj212`, exactly what
//! ingest runs on every HJ 212 payload (framing, CRC, header, CP, DataTime in the configured
//! zone, values as `f64`, the upload for the store, the raw bytes kept for quarantine and the
//! header kept for the answers), on the packet of the codec benchmark
//! (`crates/hj212/examples/hj212_codec_bench.rs`, mode `parse`), N times (mode `ingest`).
//!
//! Usage: `cargo run --release --example hj212_ingest_bench [iterations] [ingest]` (default
//! 1,000,000). Prints one line in the codec benchmark's format: `mode=ingest packets=<n> …`.

use std::hint::black_box;

use chrono::Utc;
use greenmon::ingest::decode::{decode_hj212, Hj212Item};

#[path = "../crates/hj212/examples/bench_support/mod.rs"]
mod bench_support;

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

fn main() {
    let iterations = bench_support::args("ingest");
    let frame = bench_support::sample_frame();
    eprintln!("frame: {} bytes", frame.len());
    bench_support::run("ingest", &frame, iterations, bench_ingest);
}
