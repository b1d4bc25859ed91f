#!/usr/bin/env python3
"""HJ 212 codec, two builds side by side: packets/s of on-CPU time (runs alternated, so both
see the same machine load) and instructions per packet counted by callgrind (repeatable on a
noisy machine).

Each argument is a build of a codec benchmark, run in each of --modes (default: parse):
  parse    crates/hj212/examples/hj212_codec_bench (the hj212 crate alone: split_frames +
           parse_packet), built with `cargo build --release -p hj212 --example hj212_codec_bench`
  ingest   examples/hj212_ingest_bench (greenmon's decode_hj212 on the same packet), built with
           `cargo build --release --example hj212_ingest_bench`
A build from before the codec became a crate (examples/hj212_codec_bench.rs, importing
greenmon::hj212) runs both modes. For example, the codec against the baseline of issue 3:

    git archive ac9482b | tar -x -C /var/tmp/gm-hj212-base
    git show fed8871:examples/hj212_codec_bench.rs > /var/tmp/gm-hj212-base/examples/hj212_codec_bench.rs
    (cd /var/tmp/gm-hj212-base && cargo build --release --example hj212_codec_bench)
    cp $CARGO_TARGET_DIR/release/examples/hj212_codec_bench /var/tmp/gm-hj212-base/bin/
    cargo build --release -p hj212 --example hj212_codec_bench
    python3 bench/hj212/codec_ab.py base=/var/tmp/gm-hj212-base/bin/hj212_codec_bench \\
        new=$CARGO_TARGET_DIR/release/examples/hj212_codec_bench

and ingest: build hj212_ingest_bench instead, and pass --modes ingest.

Instructions per packet: callgrind's total for 30,000 iterations minus that for 10,000, divided
by 1.1 x 20,000 (each run warms up with a tenth of its iterations first), which cancels start-up.

Usage: codec_ab.py NAME=BINARY ... [--modes parse,ingest] [--runs 5] [--iterations 1000000] [--no-callgrind]
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

MODES = ("ingest", "parse")  # what the old combined example ran


def timed(binary, iterations, mode):
    out = subprocess.run([binary, str(iterations), mode], check=True, capture_output=True, text=True).stdout
    fields = dict(f.split("=", 1) for f in out.split() if "=" in f)
    return float(fields.get("packets_per_cpu_sec", fields["packets_per_sec"]))


def instructions(binary, iterations, mode, tmp):
    log = os.path.join(tmp, "callgrind.log")
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={os.path.join(tmp, 'cg.out')}",
                    f"--log-file={log}", binary, str(iterations), mode],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(log) as f:
        return int(re.search(r"Collected : (\d+)", f.read()).group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="NAME=BINARY")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=1_000_000)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--modes", default="parse", help="comma-separated, from: " + ", ".join(MODES))
    a = ap.parse_args()
    modes = [m for m in a.modes.split(",") if m]
    if not modes or any(m not in MODES for m in modes):
        ap.error(f"--modes: expected a comma-separated list of {', '.join(MODES)}")
    builds = [b.split("=", 1) for b in a.builds]
    print(f"load average {os.getloadavg()[0]:.2f}; {a.runs} alternated runs of {a.iterations:,} packets per "
          f"build and mode", flush=True)
    pps = {(name, mode): [] for name, _ in builds for mode in modes}
    for run in range(a.runs):
        for mode in modes:
            for name, binary in builds:
                pps[(name, mode)].append(timed(binary, a.iterations, mode))
        print(f"run {run + 1}: " + ", ".join(f"{n} {m} {v[-1]:,.0f}" for (n, m), v in pps.items()), flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")
    for (name, mode), v in pps.items():
        print(f"{name:8} {mode:6} packets/s of CPU time: median {statistics.median(v):,.0f} "
              f"(min {min(v):,.0f}, max {max(v):,.0f})")
    if a.no_callgrind:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, binary in builds:
            for mode in modes:
                low, high = (instructions(binary, n, mode, tmp) for n in (10_000, 30_000))
                print(f"{name:8} {mode:6} instructions per packet (callgrind): {(high - low) / 22_000:,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
