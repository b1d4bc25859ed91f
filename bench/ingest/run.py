#!/usr/bin/env python3
"""Ingest benchmark: greenmon's MQTT -> PostgreSQL throughput against the two ceilings of the
same run, its peak RSS, end-to-end lag, and its RSS while the database is down under load.

Phases, per run (alternated, --runs times):
  broker   a persistent `mosquitto_sub` session drains the queued load and only counts it
  drain    greenmon drains the same queued load (persistent session; the publisher ran while it
           was stopped), timed from its first stored reading to its last
  copy     psql `\\copy` of the same rows into an identical table (primary key included)
Then once:
  live     greenmon consumes while the publisher publishes; throughput from first publish to
           last commit, lag percentiles from reading time to commit
  outage   the database refuses connections for 10 s under load: greenmon's RSS is sampled

Needs: PostgreSQL on 127.0.0.1:5432 (user postgres), mosquitto and mosquitto_sub, psql, a
release build (the script runs `cargo build --release`). It starts its own Mosquitto from
config/mosquitto.conf on a free port.

Usage: python3 bench/ingest/run.py [--readings 1000000] [--runs 3] [--base REV]

With --base REV, the drain phase also runs the binary built from git revision REV (in a worktree
of its own under /var/tmp, with its own target directory), alternating with the current one run by
run, so both are measured in the same session on the same machine: the before/after comparison.
Each binary migrates its own fresh database; the publisher is always the current binary.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")
BIN = os.path.join(TARGET, "release", "greenmon")
DB = "greenmon_bench"
PREFIX = "greenmon/v1"
FILTER = f"{PREFIX}/parks/+/points/+/readings"
PER_MESSAGE = 6  # the simulator sends cod, nh3n, tp, tn, ph, flow


def psql(sql, db=DB, capture=True):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql],
        check=True, capture_output=capture, text=True)
    return out.stdout.strip() if capture else ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


class Broker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="gm-bench-mosq-")
        self.port = free_port()
        conf = []
        for line in open(os.path.join(ROOT, "config/mosquitto.conf")):
            if line.startswith("listener "):
                line = f"listener {self.port} 127.0.0.1\n"
            elif line.startswith("persistence_location "):
                line = f"persistence_location {self.dir}/\n"
            conf.append(line)
        # Run as root, mosquitto would switch to its own user, which cannot write here.
        conf.append("\nuser root\n")
        path = os.path.join(self.dir, "mosquitto.conf")
        open(path, "w").writelines(conf)
        self.proc = subprocess.Popen(["mosquitto", "-c", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


class Service:
    def __init__(self, broker, http_port, client_id="greenmon-bench", bin=BIN):
        env = dict(os.environ,
                   GREENMON__DATABASE__DBNAME=DB,
                   GREENMON__MQTT__PORT=str(broker.port),
                   GREENMON__MQTT__CLIENT_ID=client_id,
                   GREENMON__HTTP__LISTEN=f"127.0.0.1:{http_port}",
                   RUST_LOG="warn")
        self.http_port = http_port
        self.proc = subprocess.Popen([bin, "serve"], env=env, stdout=subprocess.DEVNULL)
        wait_port(http_port, 30)

    def metric(self, name):
        try:
            body = urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=2).read().decode()
        except OSError:
            return None
        for line in body.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return 0.0

    def status(self, field):
        """A field of /proc/PID/status in kB (VmRSS, VmHWM)."""
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith(field + ":"):
                return int(line.split()[1])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=60)
        if code != 0:
            raise RuntimeError(f"greenmon exited {code} on SIGTERM")


def simulate(broker, messages, rate=0, seed=1):
    env = dict(os.environ, GREENMON__MQTT__PORT=str(broker.port), RUST_LOG="warn")
    args = [BIN, "simulate", "--rate", str(rate), "--count", str(messages), "--seed", str(seed),
            "--no-energy", "--gap-rate", "0", "--invalid-rate", "0", "--exceedance-rate", "0.01",
            "--flag-rate", "0.01", "--client-id", f"bench-pub-{seed}"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)


def reset_db(bin=BIN):
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    env = dict(os.environ, GREENMON__DATABASE__DBNAME=DB, RUST_LOG="warn")
    subprocess.run([bin, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    subprocess.run([bin, "registry", "import", "config/demo-registry.toml"], env=env, check=True,
                   stdout=subprocess.DEVNULL, cwd=ROOT)


def build_base(rev):
    """Builds greenmon at `rev` in a worktree of its own; returns the binary's path."""
    tree = "/var/tmp/greenmon-bench-base"
    target = "/var/tmp/greenmon-bench-base-target"
    subprocess.run(["git", "worktree", "remove", "--force", tree], cwd=ROOT, capture_output=True)
    subprocess.run(["git", "worktree", "add", "--detach", tree, rev], cwd=ROOT, check=True,
                   capture_output=True)
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "greenmon"], cwd=tree, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=target))
    return os.path.join(target, "release", "greenmon")


def create_sessions(broker, http_port, bin=BIN):
    """Persistent sessions for greenmon and the counting subscriber, then both go away."""
    svc = Service(broker, http_port, bin=bin)
    end = time.time() + 20
    while svc.metric("greenmon_mqtt_connected") != 1.0:
        if time.time() > end:
            raise RuntimeError("greenmon did not connect")
        time.sleep(0.1)
    time.sleep(0.5)  # SUBACK
    svc.stop()
    subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-c", "-i", "bench-count",
                    "-q", "1", "-t", FILTER, "-E"], check=True)


def wait_readings(svc, target, timeout=600):
    """Polls the stored-readings counter; returns (time of first row, time of last row)."""
    first = None
    end = time.time() + timeout
    while True:
        n = svc.metric("greenmon_readings_stored_total") or 0
        now = time.time()
        if n > 0 and first is None:
            first = now
        if n >= target:
            return first, now
        if now > end:
            raise RuntimeError(f"only {n} of {target} readings stored")
        time.sleep(0.02)


def run_once(messages, http_port, csv_path, bin=BIN):
    readings = messages * PER_MESSAGE
    reset_db(bin)
    broker = Broker()
    try:
        create_sessions(broker, http_port, bin)
        t0 = time.time()
        pub = simulate(broker, messages)
        pub_out, _ = pub.communicate()
        if pub.returncode != 0:
            raise RuntimeError("publisher failed")
        publish_secs = time.time() - t0

        # Broker ceiling: drain the same queued messages with a subscriber that only counts.
        t0 = time.time()
        subprocess.run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(broker.port), "-c", "-i", "bench-count",
                        "-q", "1", "-t", FILTER, "-C", str(messages)], check=True, stdout=subprocess.DEVNULL)
        broker_rps = readings / (time.time() - t0)

        # greenmon draining the backlog.
        svc = Service(broker, http_port, bin=bin)
        first, last = wait_readings(svc, readings)
        drain_rps = readings / max(last - first, 1e-6)
        hwm_mb = svc.status("VmHWM") / 1024
        diag = {m: svc.metric(m) for m in ("greenmon_mqtt_connections_total", "greenmon_mqtt_messages_acked_total",
                                           "greenmon_mqtt_stale_acks_dropped_total", "greenmon_mqtt_messages_received_total",
                                           "greenmon_batch_commit_seconds_sum", "greenmon_batch_commit_seconds_count")}
        print(f"  diagnostics: {diag}", flush=True)
        svc.stop()
        stored = int(psql("SELECT count(*) FROM readings"))
        if stored != readings:
            raise RuntimeError(f"stored {stored} readings, expected {readings}")
    finally:
        broker.stop()

    # Database ceiling: \copy of the same rows into an identical table.
    psql(f"\\copy (SELECT time, point_id, pollutant, value, flag FROM readings) TO '{csv_path}' WITH (FORMAT csv)")
    psql("DROP TABLE IF EXISTS readings_copy; CREATE TABLE readings_copy (LIKE readings INCLUDING ALL)")
    t0 = time.time()
    psql(f"\\copy readings_copy (time, point_id, pollutant, value, flag) FROM '{csv_path}' WITH (FORMAT csv)")
    copy_rps = readings / (time.time() - t0)
    psql("DROP TABLE readings_copy")
    return dict(broker=broker_rps, drain=drain_rps, copy=copy_rps, rss=hwm_mb, publish=publish_secs)


def live(messages, http_port):
    readings = messages * PER_MESSAGE
    reset_db()
    broker = Broker()
    try:
        svc = Service(broker, http_port)
        while svc.metric("greenmon_mqtt_connected") != 1.0:
            time.sleep(0.1)
        time.sleep(0.5)
        t0 = time.time()
        pub = simulate(broker, messages, seed=2)
        _, last = wait_readings(svc, readings)
        pub.wait()
        rps = readings / (last - t0)
        hwm_mb = svc.status("VmHWM") / 1024
        svc.stop()
        lag = psql("SELECT round(1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)))::int,"
                   " round(1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM received_at - time)))::int"
                   " FROM readings").split("|")
    finally:
        broker.stop()
    return dict(rps=rps, rss=hwm_mb, p50_ms=int(lag[0]), p99_ms=int(lag[1]))


def outage(http_port, seconds=10):
    """Publishes at 5,000 msg/s; the database refuses connections for `seconds`; RSS sampled."""
    reset_db()
    broker = Broker()
    try:
        svc = Service(broker, http_port)
        while svc.metric("greenmon_mqtt_connected") != 1.0:
            time.sleep(0.1)
        messages = 5000 * (seconds + 10)
        pub = simulate(broker, messages, rate=5000, seed=3)
        time.sleep(3)
        before = svc.status("VmRSS") / 1024
        psql(f"ALTER DATABASE {DB} ALLOW_CONNECTIONS false", db="postgres")
        psql(f"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{DB}'", db="postgres")
        samples = []
        acked_start = svc.metric("greenmon_mqtt_messages_acked_total")
        for _ in range(seconds * 2):
            time.sleep(0.5)
            samples.append(svc.status("VmRSS") / 1024)
        acked_end = svc.metric("greenmon_mqtt_messages_acked_total")
        unacked = svc.metric("greenmon_unacked_messages")
        psql(f"ALTER DATABASE {DB} ALLOW_CONNECTIONS true", db="postgres")
        wait_readings(svc, messages * PER_MESSAGE, timeout=300)
        pub.wait()
        svc.stop()
    finally:
        psql(f"ALTER DATABASE {DB} ALLOW_CONNECTIONS true", db="postgres")
        broker.stop()
    return dict(before=before, min=min(samples), max=max(samples), acked_during=acked_end - acked_start,
                unacked=unacked)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--skip-outage", action="store_true")
    ap.add_argument("--base", help="git revision to compare the drain against, in the same runs")
    a = ap.parse_args()
    messages = a.readings // PER_MESSAGE
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "greenmon"], cwd=ROOT, check=True)
    base_bin = build_base(a.base) if a.base else None
    http_port = free_port()
    csv_path = os.path.join(tempfile.mkdtemp(prefix="gm-bench-"), "readings.csv")

    print(f"ingest benchmark: {messages} messages x {PER_MESSAGE} readings = {messages * PER_MESSAGE} readings, "
          f"{a.runs} runs, {os.cpu_count()} cpus", flush=True)
    runs = []
    base_runs = []
    for i in range(a.runs):
        # Alternate which binary goes first, so a drift of the machine favours neither.
        if base_bin and i % 2 == 0:
            base_runs.append(run_once(messages, http_port, csv_path, base_bin))
        r = run_once(messages, http_port, csv_path)
        runs.append(r)
        if base_bin and i % 2 == 1:
            base_runs.append(run_once(messages, http_port, csv_path, base_bin))
        if base_bin:
            b = base_runs[-1]
            print(f"run {i + 1} base {a.base}: greenmon drain {b['drain']:,.0f} readings/s | "
                  f"database ceiling {b['copy']:,.0f} rows/s | peak RSS {b['rss']:.0f} MB", flush=True)
        print(f"run {i + 1}: broker ceiling {r['broker']:,.0f} readings/s | database ceiling {r['copy']:,.0f} rows/s | "
              f"greenmon drain {r['drain']:,.0f} readings/s = {r['drain'] / min(r['broker'], r['copy']):.0%} of the lower ceiling | "
              f"peak RSS {r['rss']:.0f} MB | publish took {r['publish']:.1f} s", flush=True)

    def summary(key):
        vals = [r[key] for r in runs]
        return f"median {statistics.median(vals):,.0f} (min {min(vals):,.0f}, max {max(vals):,.0f})"

    ratios = [r["drain"] / min(r["broker"], r["copy"]) for r in runs]
    print(f"broker ceiling   readings/s: {summary('broker')}")
    print(f"database ceiling rows/s:     {summary('copy')}")
    print(f"greenmon drain   readings/s: {summary('drain')}")
    print(f"greenmon / lower ceiling:    median {statistics.median(ratios):.0%} (min {min(ratios):.0%}, max {max(ratios):.0%})")
    print(f"greenmon peak RSS MB:        {summary('rss')}")
    if base_bin:
        base = [r["drain"] for r in base_runs]
        new = [r["drain"] for r in runs]
        print(f"base {a.base} drain readings/s: median {statistics.median(base):,.0f} "
              f"(min {min(base):,.0f}, max {max(base):,.0f})")
        print(f"current / base drain:        median {statistics.median(new) / statistics.median(base):.2f}; "
              f"per run {', '.join(f'{n / b:.2f}' for n, b in zip(new, base))}")
    if not a.skip_live:
        l = live(messages, http_port)
        print(f"live (publisher running): {l['rps']:,.0f} readings/s first publish to last commit; "
              f"lag p50 {l['p50_ms']} ms, p99 {l['p99_ms']} ms; peak RSS {l['rss']:.0f} MB", flush=True)
    if not a.skip_outage:
        o = outage(http_port)
        print(f"database down 10 s under 5,000 msg/s: RSS {o['before']:.0f} MB before, {o['min']:.0f}-{o['max']:.0f} MB during; "
              f"acks during outage {o['acked_during']:.0f}; unacked held {o['unacked']:.0f}; all readings stored after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
