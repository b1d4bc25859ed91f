#!/usr/bin/env python3
"""Alert latency benchmark: builds the release binary and examples/alerts_bench, then runs it
--runs times. Each run starts `greenmon serve` on a fresh database `greenmon_bench_alerts` with
1,000 points kept alive by a publisher (one reading per point every 5 s), and measures:

  exceedance  publish of a reading beyond its point's limit -> the webhook receives that point's
              discharge_exceedance firing notification (p50/p90/p99/max over --trials points)
  offline     a point's last reading + point_offline.for_secs -> the webhook receives its
              point_offline firing (the overhead beyond the rule's own `for`)

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Mosquitto on 127.0.0.1:1883.
CARGO_TARGET_DIR defaults to /var/tmp/greenmon-target.

Usage: python3 bench/alerts/run.py [--runs 3] [--points 1000] [--trials 200] [--offline 20]
       [--for-secs 30] [--no-build]
"""

import argparse
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--offline", type=int, default=20)
    ap.add_argument("--for-secs", type=int, default=30)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    env = dict(os.environ, CARGO_TARGET_DIR=TARGET)
    if not a.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "--bin", "greenmon", "--example", "alerts_bench"],
            cwd=ROOT, env=env, check=True,
        )
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    print(f"commit={commit} load={os.getloadavg()[0]:.2f}")
    failed = False
    for run in range(1, a.runs + 1):
        out = subprocess.run(
            [os.path.join(TARGET, "release", "examples", "alerts_bench"),
             "--bin", os.path.join(TARGET, "release", "greenmon"),
             "--points", str(a.points), "--trials", str(a.trials),
             "--offline", str(a.offline), "--for-secs", str(a.for_secs)],
            cwd=ROOT, capture_output=True, text=True,
        )
        sys.stderr.write(out.stderr)
        print(f"run {run} (load {os.getloadavg()[0]:.2f})")
        print(out.stdout.rstrip())
        failed |= out.returncode != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
