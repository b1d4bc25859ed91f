#!/usr/bin/env python3
"""Gap-recovery benchmark: greenmon asks 100 HJ 212 loggers over TCP for 30 days of hourly data
they hold and it lacks, and stores what they upload through the normal ingest path.

Per run (--runs times): a fresh database greenmon_bench_recovery (migrated) with a registry of
--points required points (one park), each commissioned --days days ago and with no data at all;
then, on a release build:
  serve     `greenmon serve` with the HJ 212 listener on a free port and the requester's scan
            over --days + 1 days (requests of --hours-per-request hours, --spacing seconds apart
            per logger; alerts off, so the figures are the recovery's)
  loggers   `greenmon simulate --hj212-tcp` with one logger per point, whose history buffers hold
            every hour asked for (and which upload real-time data every 30 s meanwhile)
timed from the start of `serve` until every request has its outcome. Reported: the time, the
readings recovered and their rate, the requests and their outcomes, and the load on the
database over the same span: CPU seconds of the PostgreSQL server processes (from /proc),
transactions committed and rows inserted (pg_stat_database), and the database's size growth.

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres, local to this machine, for its CPU time),
Mosquitto on 127.0.0.1:1883 (greenmon serve connects to it), psql, and a release build (the
script runs `cargo build --release`; CARGO_TARGET_DIR is honoured).

Usage: python3 bench/recovery/run.py [--points 100] [--days 30] [--runs 3]
                                     [--hours-per-request 24] [--spacing 1]
"""

import argparse
import datetime
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")
BIN = os.path.join(TARGET, "release", "greenmon")
DB = "greenmon_bench_recovery"
TIMEOUT_SECS = 1800


def psql(sql, db=DB):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def registry(path, points, days):
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=days)).replace(
        minute=0, second=0, microsecond=0)
    with open(path, "w") as f:
        f.write('[[parks]]\nid = "bench"\nname = "Bench park"\nbaseline_intensity = 1.0\n')
        for i in range(points):
            f.write(f'[[parks.points]]\nid = "p{i:03}"\nname = "Outlet {i}"\nkind = "treatment_outlet"\n'
                    f'mn = "BE{i:022X}"\nmonitored_since = "{since.isoformat()}"\n')


def postgres_cpu_secs():
    """User + system CPU seconds of every PostgreSQL server process now running."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() not in ("postgres", "postmaster"):
                    continue
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def db_stats():
    row = psql(f"SELECT xact_commit, tup_inserted, pg_database_size('{DB}') FROM pg_stat_database "
               f"WHERE datname = '{DB}'")
    commits, inserted, size = (int(x) for x in row.split("|"))
    return commits, inserted, size


def one_run(args, tmp):
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    env = dict(os.environ, GREENMON__DATABASE__DBNAME=DB, RUST_LOG="warn")
    reg = os.path.join(tmp, "registry.toml")
    registry(reg, args.points, args.days)
    subprocess.run([BIN, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    subprocess.run([BIN, "registry", "import", reg], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    port = free_port()
    serve_env = dict(
        env,
        GREENMON__HTTP__LISTEN=f"127.0.0.1:{free_port()}",
        GREENMON__HJ212__LISTEN=f"127.0.0.1:{port}",
        GREENMON__HJ212__RECOVERY__SCAN_DAYS=str(args.days + 1),
        GREENMON__HJ212__RECOVERY__SPACING_SECS=str(args.spacing),
        GREENMON__HJ212__RECOVERY__MAX_HOURS_PER_REQUEST=str(args.hours_per_request),
        GREENMON__ALERTS__ENABLED="false",
        GREENMON__MQTT__CLIENT_ID=f"gm-bench-recovery-{os.getpid()}",
        GREENMON__MQTT__TOPIC_PREFIX=f"bench/recovery/{os.getpid()}",
    )
    # The database's load is measured from here: everything after is the recovery's.
    cpu0, (commits0, inserted0, size0) = postgres_cpu_secs(), db_stats()
    t0 = time.time()
    serve = subprocess.Popen([BIN, "serve"], env=serve_env, cwd=ROOT, stdout=subprocess.DEVNULL)
    loggers = subprocess.Popen(
        [BIN, "simulate", "--registry", reg, "--hj212-tcp", f"127.0.0.1:{port}", "--every", "30",
         "--history-hours", str((args.days + 2) * 24), "--seed", "1"],
        env=env, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        while True:
            time.sleep(0.5)
            if time.time() - t0 > TIMEOUT_SECS:
                raise RuntimeError("the recovery did not finish in time")
            if serve.poll() is not None:
                raise RuntimeError(f"greenmon serve exited with {serve.returncode}")
            row = psql("SELECT count(DISTINCT point_id), count(*) FILTER (WHERE status IN ('queued', 'sent')) "
                       "FROM hj212_requests")
            asked, pending = (int(x) for x in row.split("|"))
            if asked == args.points and pending == 0:
                break
        secs = time.time() - t0
        cpu = postgres_cpu_secs() - cpu0
        commits, inserted, size = db_stats()
    finally:
        loggers.terminate()
        loggers.wait()
        serve.terminate()
        serve.wait()
    recovered = int(psql("SELECT coalesce(sum(recovered), 0) FROM hj212_requests"))
    outcomes = psql("SELECT string_agg(status || ' ' || n, ', ' ORDER BY status) FROM "
                    "(SELECT status, count(*) n FROM hj212_requests GROUP BY status) s")
    hours = int(psql("SELECT count(*) FROM (SELECT DISTINCT point_id, time FROM readings WHERE kind = 'hour') h"))
    return dict(secs=secs, recovered=recovered, rate=recovered / secs, hours=hours,
                outcomes=outcomes, cpu=cpu, commits=commits - commits0, inserted=inserted - inserted0,
                growth=(size - size0) / 1e6)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=100)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--hours-per-request", type=int, default=24)
    ap.add_argument("--spacing", type=int, default=1, help="seconds between two requests to one logger")
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    print(f"{args.points} loggers, {args.days} days of hourly data each; requests of "
          f"{args.hours_per_request} h, {args.spacing} s apart per logger", flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="gm-bench-recovery-") as tmp:
        for i in range(args.runs):
            r = one_run(args, tmp)
            runs.append(r)
            print(f"run {i + 1}: {r['secs']:.1f} s, {r['recovered']:,} readings recovered "
                  f"({r['hours']:,} point-hours stored), {r['rate']:,.0f} readings/s; requests: {r['outcomes']}\n"
                  f"  database: {r['cpu']:.1f} CPU s ({r['cpu'] / r['secs']:.0%} of one core), "
                  f"{r['commits']:,} transactions, {r['inserted']:,} rows inserted, +{r['growth']:.0f} MB",
                  flush=True)

    def summary(key, fmt="{:,.1f}"):
        xs = [r[key] for r in runs]
        return f"median {fmt.format(statistics.median(xs))} (min {fmt.format(min(xs))}, max {fmt.format(max(xs))})"

    print(f"time (s):                 {summary('secs')}")
    print(f"readings recovered/s:     {summary('rate', '{:,.0f}')}")
    print(f"database CPU (s):         {summary('cpu')}")
    print(f"database transactions:    {summary('commits', '{:,.0f}')}")
    print(f"rows inserted:            {summary('inserted', '{:,.0f}')}")
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    return 0


if __name__ == "__main__":
    sys.exit(main())
