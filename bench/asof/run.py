#!/usr/bin/env python3
""""As of" benchmark: the monthly report of every park computed live (from the hourly rollups)
and "as of" a past time (from the raw readings and their revisions), on a month of minute data.

Seed (once, unless --skip-seed): a fresh database greenmon_bench_asof (migrated, demo registry:
11 parks, 30 points), every point commissioned before the month, then one month (2025-03, Asia/
Shanghai) of six pollutants a minute per point written in SQL through the rollup trigger (30 x 6
x 44,640 = 8.0 million readings), one day per statement, folded; then --corrections readings
corrected through `greenmon import readings --correction` (so revisions exist), and the time
between the seed and the corrections is the "as of" time.

Timed (--runs times each, alternated): `greenmon report --all --month 2025-03 --format json`
live, and the same with `--as-of T`; wall time of the process, which includes start-up.

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres), psql, a release build (the script runs
`cargo build --release`; CARGO_TARGET_DIR is honoured).

Usage: python3 bench/asof/run.py [--runs 3] [--corrections 1000] [--skip-seed]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")
BIN = os.path.join(TARGET, "release", "greenmon")
DB = "greenmon_bench_asof"
ENV = dict(os.environ, GREENMON__DATABASE__DBNAME=DB, RUST_LOG="warn")


def psql(sql, db=DB):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def greenmon(*args):
    return subprocess.run([BIN, *args], env=ENV, check=True, capture_output=True, text=True, cwd=ROOT)


def seed(corrections):
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    greenmon("migrate")
    greenmon("registry", "import", "config/demo-registry.toml")
    psql("UPDATE monitoring_points SET monitored_since = '2025-01-01T00:00:00Z'")
    started = time.monotonic()
    for day in range(31):
        psql(f"""
            INSERT INTO readings (time, point_id, pollutant, kind, value, flag)
            SELECT t, p.id, pol, 'rtd',
                   CASE pol WHEN 'w01001' THEN 7 + random() ELSE 20 + 10 * random() END, 'N'
            FROM monitoring_points p,
                 unnest(ARRAY['w01018','w21003','w21011','w21001','w01001','w00000']) AS pol,
                 generate_series(timestamptz '2025-02-28T16:00:00Z' + interval '{day} days',
                                 timestamptz '2025-02-28T16:00:00Z' + interval '{day + 1} days'
                                     - interval '1 minute',
                                 interval '1 minute') AS t""")
        psql("SELECT readings_hourly_fold()")
        print(f"  seeded day {day + 1}/31", file=sys.stderr, end="\r")
    psql("VACUUM ANALYZE")
    readings = int(psql("SELECT count(*) FROM readings"))
    print(f"seeded {readings:,} readings in {time.monotonic() - started:.0f} s", file=sys.stderr)
    as_of = psql("SELECT clock_timestamp()")
    rows = psql(f"""SELECT to_json(time) #>> '{{}}', point_id, pollutant FROM readings
                    WHERE pollutant = 'w01018' ORDER BY hashtext(point_id || time::text)
                    LIMIT {corrections}""").splitlines()
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("time,point,pollutant,value,flag\n")
        for line in rows:
            t, point, pol = line.split("|")
            f.write(f"{t},{point},{pol},99,N\n")
    greenmon("import", "readings", f.name, "--correction", "--by", "bench")
    os.unlink(f.name)
    revisions = psql("SELECT count(*) FROM reading_revisions")
    psql(f"CREATE TABLE IF NOT EXISTS bench_asof (as_of timestamptz); TRUNCATE bench_asof; "
         f"INSERT INTO bench_asof VALUES ('{as_of}')")
    print(f"corrected {revisions} readings; as of {as_of}", file=sys.stderr)


def timed(args):
    started = time.monotonic()
    out = greenmon(*args)
    return time.monotonic() - started, out.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--corrections", type=int, default=1000)
    ap.add_argument("--skip-seed", action="store_true")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], check=True, cwd=ROOT)
    if not a.skip_seed:
        seed(a.corrections)
    as_of = psql("SELECT to_json(as_of) #>> '{}' FROM bench_asof")
    report = ["report", "--all", "--month", "2025-03", "--format", "json"]
    live, past = [], []
    for run in range(a.runs):
        t, live_json = timed(report)
        live.append(t)
        t, past_json = timed(report + ["--as-of", as_of])
        past.append(t)
        print(f"run {run + 1}: live {live[-1]:.2f} s, as of {past[-1]:.2f} s", file=sys.stderr)
    # The corrections (99 mg/L, above the demo limits) add exceedance hours to the live report
    # and none to the report as of before them.
    print(f"live:  median {statistics.median(live):.2f} s ({min(live):.2f}-{max(live):.2f})")
    print(f"as of: median {statistics.median(past):.2f} s ({min(past):.2f}-{max(past):.2f})")
    print(f"live report has the corrections: {live_json != past_json}")


if __name__ == "__main__":
    main()
