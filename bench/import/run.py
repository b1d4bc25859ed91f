#!/usr/bin/env python3
"""History-import benchmark: `greenmon import readings FILE` against the database ceiling of the
same run.

Per run (--runs times): a fresh database greenmon_bench_import (migrated, demo registry
imported), then
  import   `greenmon import readings FILE` on a release build, timed from start to exit
  copy     psql `\\copy` of the same rows (the same file) into an identical table (primary key
           included), as bench/ingest/run.py measures the database ceiling
The file is a CSV of --readings readings (default 1,000,000) for every point of
config/demo-registry.toml: six pollutants a minute, valid values, flag N.

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres), psql, and a release build (the script runs
`cargo build --release`; CARGO_TARGET_DIR is honoured).

Usage: python3 bench/import/run.py [--readings 1000000] [--runs 3] [--parallel N] [--batch-rows N]
"""

import argparse
import datetime
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")
BIN = os.path.join(TARGET, "release", "greenmon")
DB = "greenmon_bench_import"
# HJ 212 code, low, high: the simulator's pollutants, inside every plausibility range.
POLLUTANTS = [("w01018", 20, 60), ("w21003", 0.5, 5), ("w21011", 0.1, 1), ("w21001", 5, 15),
              ("w01001", 6.5, 8.5), ("w00000", 100, 500)]


def psql(sql, db=DB):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def reset_db():
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    env = dict(os.environ, GREENMON__DATABASE__DBNAME=DB, RUST_LOG="warn")
    subprocess.run([BIN, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    subprocess.run([BIN, "registry", "import", "config/demo-registry.toml"], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)


def generate(path, readings):
    registry = tomllib.load(open(os.path.join(ROOT, "config/demo-registry.toml"), "rb"))
    points = [p["id"] for park in registry["parks"] for p in park.get("points", [])]
    rng = random.Random(1)
    start = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
    n = 0
    minute = 0
    with open(path, "w") as f:
        f.write("time,point,pollutant,value,flag\n")
        while n < readings:
            t = (start + datetime.timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ")
            for point in points:
                for code, lo, hi in POLLUTANTS:
                    if n == readings:
                        break
                    f.write(f"{t},{point},{code},{rng.uniform(lo, hi):.3f},N\n")
                    n += 1
            minute += 1
    return len(points)


def one_run(path, readings, args):
    reset_db()
    env = dict(os.environ, GREENMON__DATABASE__DBNAME=DB, RUST_LOG="warn")
    cmd = [BIN, "import", "readings", path, "--batch-rows", str(args.batch_rows)]
    if args.parallel:
        cmd += ["--parallel", str(args.parallel)]
    t0 = time.time()
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, cwd=ROOT)
    import_secs = time.time() - t0
    stored = int(psql("SELECT count(*) FROM readings"))
    if stored != readings:
        raise RuntimeError(f"{stored} readings stored, expected {readings}: {out.stdout}{out.stderr}")
    # Database ceiling: \copy of the same rows into an identical table.
    psql("DROP TABLE IF EXISTS readings_copy; CREATE TABLE readings_copy (LIKE readings INCLUDING ALL)")
    t0 = time.time()
    psql(f"\\copy readings_copy (time, point_id, pollutant, value, flag) FROM '{path}' WITH (FORMAT csv, HEADER true)")
    copy_secs = time.time() - t0
    psql("DROP TABLE readings_copy")
    return dict(imp=readings / import_secs, copy=readings / copy_secs, summary=out.stdout.strip())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=0, help="batches committing at once (default: ingest.parallel_commits)")
    ap.add_argument("--batch-rows", type=int, default=10_000)
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory(prefix="gm-bench-import-") as tmp:
        path = os.path.join(tmp, "history.csv")
        points = generate(path, args.readings)
        os.chmod(tmp, 0o755)
        os.chmod(path, 0o644)
        print(f"{args.readings:,} readings, {points} points, {os.path.getsize(path) / 1e6:.0f} MB CSV", flush=True)
        runs = []
        for i in range(args.runs):
            r = one_run(path, args.readings, args)
            runs.append(r)
            print(f"run {i + 1}: import {r['imp']:,.0f} readings/s | database ceiling {r['copy']:,.0f} rows/s | "
                  f"{r['imp'] / r['copy']:.0%} of the ceiling\n  {r['summary']}", flush=True)

    def summary(key, fmt="{:,.0f}"):
        xs = [r[key] for r in runs]
        return f"median {fmt.format(statistics.median(xs))} (min {fmt.format(min(xs))}, max {fmt.format(max(xs))})"

    ratios = [r["imp"] / r["copy"] for r in runs]
    print(f"import readings/s:         {summary('imp')}")
    print(f"database ceiling rows/s:   {summary('copy')}")
    print(f"import / ceiling:          median {statistics.median(ratios):.0%} (min {min(ratios):.0%}, max {max(ratios):.0%})")
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    return 0


if __name__ == "__main__":
    sys.exit(main())
