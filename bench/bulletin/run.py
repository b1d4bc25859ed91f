#!/usr/bin/env python3
"""Bulletin benchmark: the annual assessment (`greenmon bulletin --year 2018`) and a monthly
bulletin (`--month 2018-12`) for the demo registry (11 parks, 30 points) with a year of hourly
data. Target (issue 15): the year's assessment in under 2 s.

Seed (once): a fresh database greenmon_bench_bulletin (dropped WITH (FORCE) first), migrated,
config/demo-registry.toml imported, every point commissioned on 2017-01-01; a CSV of hourly
readings of COD, NH3-N and pH for every point from 2017-12-01 to 2018-12-31 (local time; about
2% of the hours missing, 1% flagged M, COD above the limit now and then) loaded with
`greenmon import readings` (the live path: validation, rollups, exceedances); monthly energy
reports of every park 2016-01..2018-12; VACUUM ANALYZE.

Timed (--runs times, alternating): a release build of
  annual   greenmon bulletin --year 2018 --no-pdf     (twelve months of every park, and the
                                                      energy years: the figures and the HTML)
  monthly  greenmon bulletin --month 2018-12 --no-pdf (the month and its eleven before)
  pdf      greenmon bulletin --year 2018              (the same with Chromium printing the PDF)
from the process start to its exit. Prints each run and the median with min-max.

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres), psql, chromium (for the pdf line), and a
release build (the script runs `cargo build --release`; CARGO_TARGET_DIR is honoured).

Usage: python3 bench/bulletin/run.py [--runs 5] [--skip-seed]
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
DB = "greenmon_bench_bulletin"
ENV = dict(os.environ, GREENMON__DATABASE__DBNAME=DB, RUST_LOG="warn")
# HJ 212 code, low, high (inside the demo limits), and a value above the COD limit.
POLLUTANTS = [("w01018", 20, 45), ("w21003", 0.5, 4), ("w01001", 6.8, 8.2)]
SHANGHAI = datetime.timezone(datetime.timedelta(hours=8))


def psql(sql, db=DB):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def greenmon(*args, check=True):
    return subprocess.run([BIN, *args], env=ENV, check=check, capture_output=True, text=True, cwd=ROOT)


def points():
    registry = tomllib.load(open(os.path.join(ROOT, "config/demo-registry.toml"), "rb"))
    return [p["id"] for park in registry["parks"] for p in park.get("points", [])], \
        [park["id"] for park in registry["parks"]]


def seed(tmp):
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    greenmon("migrate")
    greenmon("registry", "import", "config/demo-registry.toml")
    psql("UPDATE monitoring_points SET monitored_since = '2016-12-31T16:00:00Z'")
    ids, parks = points()
    rng = random.Random(15)
    path = os.path.join(tmp, "year.csv")
    start = datetime.datetime(2017, 12, 1, tzinfo=SHANGHAI)
    end = datetime.datetime(2019, 1, 1, tzinfo=SHANGHAI)
    n = 0
    with open(path, "w") as f:
        f.write("time,point,pollutant,value,flag\n")
        t = start
        while t < end:
            stamp = t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            for point in ids:
                r = rng.random()
                if r < 0.02:
                    continue
                flag = "M" if r < 0.03 else "N"
                for code, lo, hi in POLLUTANTS:
                    v = rng.uniform(lo, hi)
                    if code == "w01018" and rng.random() < 0.002:
                        v = 80.0
                    f.write(f"{stamp},{point},{code},{v:.3f},{flag}\n")
                    n += 1
            t += datetime.timedelta(hours=1)
    os.chmod(tmp, 0o755)
    t0 = time.time()
    out = greenmon("import", "readings", path)
    print(f"seeded {n:,} hourly readings of {len(ids)} points in {len(parks)} parks "
          f"({time.time() - t0:.1f} s import): {out.stdout.strip()}", flush=True)
    values = []
    for park in parks:
        base = rng.uniform(0.6, 1.2)
        for year in range(2016, 2019):
            for month in range(1, 13):
                cut = (1 - rng.uniform(0.02, 0.07)) ** (year - 2015)
                va = rng.uniform(800, 1200)
                values.append(
                    f"('{park}', '{year}-{month:02d}', 'month', make_date({year}, {month}, 1), "
                    f"(make_date({year}, {month}, 1) + interval '1 month')::date, {base * cut * va:.3f}, {va:.3f})")
    psql("INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end, "
         "energy_tce, value_added_10k_yuan) VALUES " + ", ".join(values))
    psql("VACUUM ANALYZE")


def timed(args):
    with tempfile.TemporaryDirectory(prefix="gm-bench-bulletin-") as out:
        t0 = time.time()
        greenmon("bulletin", *args, "--out", out)
        return time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip-seed", action="store_true", help="reuse the database of a previous run")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if not args.skip_seed:
        with tempfile.TemporaryDirectory(prefix="gm-bench-bulletin-seed-") as tmp:
            seed(tmp)
    rows = int(psql("SELECT count(*) FROM readings"))
    hourly = int(psql("SELECT count(*) FROM readings_hourly_point"))
    print(f"database: {rows:,} readings, {hourly:,} point-hours", flush=True)
    cases = {
        "annual": ["--year", "2018", "--no-pdf"],
        "monthly": ["--month", "2018-12", "--no-pdf"],
        "pdf": ["--year", "2018"],
    }
    times = {k: [] for k in cases}
    timed(cases["annual"])  # warm the caches once
    for i in range(args.runs):
        for name, case in cases.items():
            times[name].append(timed(case))
        print(f"run {i + 1}: " + " | ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    for name, xs in times.items():
        print(f"{name:8} median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f})")
    ok = statistics.median(times["annual"]) < 2.0
    print(f"annual assessment under 2 s: {'yes' if ok else 'NO'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
