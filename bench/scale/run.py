#!/usr/bin/env python3
"""Scale-out benchmark: the same MQTT backlog drained by 1, 2 and 3 greenmon instances of one
share group (`mqtt.share_group`), against the database ceiling measured in the same run.

Per run and instance count (the order of the counts alternates run by run):
  1. a fresh database; a Mosquitto of its own (config/mosquitto.conf);
  2. the N instances start once, so that their persistent sessions hold the shared subscription,
     and stop;
  3. the simulator publishes the load while they are away: Mosquitto deals the backlog out in
     turn to the N sessions;
  4. the N instances start together; the drain is timed from the first stored reading (summed
     over their /metrics) to the last.
Then, per run, the database ceiling: psql `\\copy` of the same rows into an identical table
(primary key included), once on one connection and once split over two at the same time (greenmon
commits on two, `ingest.parallel_commits`).

Needs what bench/ingest/run.py needs (PostgreSQL on 127.0.0.1:5432, mosquitto, psql, a release
build, which the script makes in $CARGO_TARGET_DIR).

Usage: python3 bench/scale/run.py [--readings 600000] [--runs 3] [--instances 1,2,3]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ingest"))
import run as ingest  # noqa: E402  (bench/ingest/run.py: broker, database and simulator helpers)

# A database of its own: other benchmarks (bench/ingest and others) use greenmon_bench, and two
# runs on one machine must not drop or fill each other's.
ingest.DB = "greenmon_bench_scale"

GROUP = "bench"


class Member(ingest.Service):
    """One instance of the share group, with its own client id and HTTP port."""

    def __init__(self, broker, i):
        os.environ["GREENMON__MQTT__SHARE_GROUP"] = GROUP
        try:
            super().__init__(broker, ingest.free_port(), client_id=f"greenmon-bench-{i}")
        finally:
            del os.environ["GREENMON__MQTT__SHARE_GROUP"]


def stored(members):
    return sum(m.metric("greenmon_readings_stored_total") or 0 for m in members)


def drain(n, messages, csv_path, copy):
    readings = messages * ingest.PER_MESSAGE
    ingest.reset_db()
    broker = ingest.Broker()
    try:
        # Persistent sessions with the shared subscription, then away.
        members = [Member(broker, i) for i in range(n)]
        end = time.time() + 20
        while any(m.metric("greenmon_mqtt_connected") != 1.0 for m in members):
            if time.time() > end:
                raise RuntimeError("an instance did not connect")
            time.sleep(0.1)
        time.sleep(0.5)  # SUBACK
        for m in members:
            m.stop()
        pub = ingest.simulate(broker, messages)
        pub.communicate()
        if pub.returncode != 0:
            raise RuntimeError("publisher failed")

        members = [Member(broker, i) for i in range(n)]
        first = None
        deadline = time.time() + 600
        while True:
            done = stored(members)
            now = time.time()
            if done > 0 and first is None:
                first = now
            if done >= readings:
                last = now
                break
            if now > deadline:
                raise RuntimeError(f"only {done} of {readings} readings stored")
            time.sleep(0.02)
        shares = [m.metric("greenmon_mqtt_messages_received_total") for m in members]
        rss = [m.status("VmHWM") / 1024 for m in members]
        for m in members:
            m.stop()
        count = int(ingest.psql("SELECT count(*) FROM readings", db=ingest.DB))
        if count != readings:
            raise RuntimeError(f"stored {count} readings, expected {readings}")
    finally:
        broker.stop()
    result = dict(rps=readings / max(last - first, 1e-6), shares=shares, rss=rss)
    if copy:
        ingest.psql(f"\\copy (SELECT time, point_id, pollutant, value, flag FROM readings) TO '{csv_path}' WITH (FORMAT csv)", db=ingest.DB)
        ingest.psql("DROP TABLE IF EXISTS readings_copy; CREATE TABLE readings_copy (LIKE readings INCLUDING ALL)", db=ingest.DB)
        t0 = time.time()
        ingest.psql(f"\\copy readings_copy (time, point_id, pollutant, value, flag) FROM '{csv_path}' WITH (FORMAT csv)", db=ingest.DB)
        result["copy"] = readings / (time.time() - t0)
        # Two at once, half the rows each: greenmon commits on two connections
        # (ingest.parallel_commits), and so do two or three instances.
        ingest.psql("TRUNCATE readings_copy", db=ingest.DB)
        subprocess.run(["split", "-n", "l/2", "-d", csv_path, csv_path + "."], check=True)
        t0 = time.time()
        halves = [subprocess.Popen(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", ingest.DB, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c",
             f"\\copy readings_copy (time, point_id, pollutant, value, flag) FROM '{csv_path}.{k:02}' WITH (FORMAT csv)"])
            for k in range(2)]
        if any(h.wait() != 0 for h in halves):
            raise RuntimeError("a parallel \\copy failed")
        result["copy2"] = readings / (time.time() - t0)
        ingest.psql("DROP TABLE readings_copy", db=ingest.DB)
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--readings", type=int, default=600_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--instances", default="1,2,3")
    a = ap.parse_args()
    counts = [int(x) for x in a.instances.split(",")]
    messages = a.readings // ingest.PER_MESSAGE
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "greenmon"], cwd=ingest.ROOT, check=True)
    csv_path = os.path.join(tempfile.mkdtemp(prefix="gm-bench-scale-"), "readings.csv")
    print(f"scale-out benchmark: {messages} messages x {ingest.PER_MESSAGE} readings = {messages * ingest.PER_MESSAGE} "
          f"readings, instances {counts}, {a.runs} runs, {os.cpu_count()} cpus", flush=True)
    drains = {n: [] for n in counts}
    ceilings = []
    for run in range(a.runs):
        order = counts if run % 2 == 0 else list(reversed(counts))
        for j, n in enumerate(order):
            # The ceiling once per run, after the first drain of the run (same rows, same disk).
            r = drain(n, messages, csv_path, copy=(j == 0))
            drains[n].append(r["rps"])
            if "copy" in r:
                ceilings.append(max(r["copy"], r["copy2"]))
                print(f"run {run + 1}: database ceiling (\\copy, primary key): one connection {r['copy']:,.0f} rows/s, "
                      f"two {r['copy2']:,.0f} rows/s", flush=True)
            total = sum(r["shares"]) or 1
            print(f"run {run + 1}: {n} instance(s) drained {r['rps']:,.0f} readings/s; messages per instance "
                  f"{', '.join(f'{s / total:.0%}' for s in r['shares'])}; peak RSS "
                  f"{', '.join(f'{x:.0f}' for x in r['rss'])} MB", flush=True)

    ceiling = statistics.median(ceilings)
    print(f"database ceiling rows/s (the better of one and two connections): median {ceiling:,.0f} "
          f"(min {min(ceilings):,.0f}, max {max(ceilings):,.0f})")
    for n in counts:
        v = drains[n]
        print(f"{n} instance(s) readings/s: median {statistics.median(v):,.0f} (min {min(v):,.0f}, max {max(v):,.0f}) "
              f"= {statistics.median(v) / ceiling:.0%} of the database ceiling; "
              f"{statistics.median(v) / statistics.median(drains[counts[0]]):.2f}x {counts[0]} instance(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
