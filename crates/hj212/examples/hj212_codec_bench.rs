//! HJ 212 codec throughput on one thread, on a typical CN=2051 wastewater minute packet
//! (6 pollutants with Min/Avg/Max/Cou/Flag, 594 bytes), N times: `split_frames` +
//! `parse_packet` (CRC check included), the codec's owned public API (mode `parse`, the figure
//! recorded before issue 3). Depends on the `hj212` crate alone. What ingest runs on top of it
//! (mode `ingest`) is greenmon's `examples/hj212_ingest_bench.rs`, on the same packet.
//!
//! Usage: `cargo run --release -p hj212 --example hj212_codec_bench [iterations] [parse]`
//! (default 1,000,000). Prints one line: `mode=parse packets=<n> seconds=<s>
//! ns_per_packet=<x> cpu_seconds=<s> packets_per_cpu_sec=<n> packets_per_sec=<n>`:
//! `packets_per_sec` uses wall time; `packets_per_cpu_sec` uses the thread's on-CPU time (Linux
//! only), which stays meaningful on a machine shared with other work. Instructions per packet:
//! run it under `valgrind --tool=callgrind` with two iteration counts and divide the difference
//! of the totals by 1.1 × the difference of the counts (each run warms up with a tenth).

use std::hint::black_box;

use hj212::{parse_packet, split_frames};

mod bench_support;

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

fn main() {
    let iterations = bench_support::args("parse");
    let frame = bench_support::sample_frame();
    eprintln!("frame: {} bytes", frame.len());
    bench_support::run("parse", &frame, iterations, bench_parse);
}
