#!/usr/bin/env python3
"""HJ 212 fleet benchmark: about 20,000 data loggers (19,800 by default) connected over TCP to one greenmon instance, each
uploading real-time data every 30 s and waiting for its answer, as real loggers do
(`greenmon simulate --hj212-tcp`: OverTime/ReCount re-sends, reconnects with backoff).

Reports the answer latency p50 and p99 (the simulator's, from send to the 9014 answer, so it
includes the commit) over all uploads and over those sent once every logger of the process had
connected (the steady state, without the ramp of 20,000 connects in a few seconds); greenmon's own
share of it (`greenmon_hj212_answer_seconds`: frame read to answer queued); the kernel's TCP
retransmissions and drops over the run; loggers refused at the cap, reconnects, and greenmon's
memory per connection: (RSS with every logger connected - RSS before any) / loggers. Targets
(issue 16): p99 <= 200 ms, <= 16 KB per connection.

Setup: a fresh database `greenmon_bench_fleet` with a registry of 100 parks (the loggers' points, with
MNs), one `greenmon serve` with the HJ 212 listener on a free port, and the fleet as two
`greenmon simulate` processes of half the parks each. The open-file hard limit bounds it all: on
these machines it is 20,000 and cannot be raised, so one process cannot hold 20,000 sockets and
its own files, and neither can greenmon. greenmon raises its soft limit to that hard limit at
start; the bench sets `hj212.max_connections` to the hard limit less 64 (the default keeps 1,024
back), and runs 19,800 loggers by default: the most one instance can hold here, give or take.

Needs: PostgreSQL on 127.0.0.1:5432, psql, a release build (made in $CARGO_TARGET_DIR).

Usage: python3 bench/scale/loggers.py [--loggers 19800] [--every 30] [--rounds 3]
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "ingest"))
import run as ingest  # noqa: E402  (bench/ingest/run.py: database helpers)

# A database of its own: other benchmarks (bench/ingest and others) use greenmon_bench, and two
# runs on one machine must not drop or fill each other's.
ingest.DB = "greenmon_bench_fleet"

PARKS = 100


def registry(n):
    per_park = -(-n // PARKS)
    lines = []
    for p in range(PARKS):
        lines += [f'[[parks]]\nid = "fleet-{p:03}"\nname = "Fleet {p}"\nbaseline_intensity = 0.5\n']
        for i in range(per_park):
            k = p * per_park + i
            if k >= n:
                break
            lines.append(f'[[parks.points]]\nid = "f{p:03}-{i:03}"\nname = "F {k}"\nkind = "sewage_outlet"\n'
                         f'mn = "FLEET{k:019d}"\ninterval_secs = 30\n')
    return "".join(lines)


# Kernel TCP counters read before and after the fleet runs: retransmissions and drops on loopback
# delay an answer by a retransmit timeout (200 ms and up) without greenmon or the simulator
# knowing; they tell the network's part of the tail apart from the processes'.
TCP_COUNTERS = ["TcpRetransSegs", "TcpExtTCPTimeouts", "TcpExtTCPLossProbes", "TcpExtListenOverflows",
                "TcpExtListenDrops", "TcpExtTCPBacklogDrop"]


def tcp_counters():
    out = subprocess.run(["nstat", "-asz"], capture_output=True, text=True).stdout
    got = {line.split()[0]: int(line.split()[1]) for line in out.splitlines() if line and not line.startswith("#")}
    got["softnet_dropped"] = sum(int(line.split()[1], 16) for line in open("/proc/net/softnet_stat"))
    return {k: got.get(k, 0) for k in TCP_COUNTERS + ["softnet_dropped"]}


def histogram_quantiles(body, name, qs):
    """Quantiles of a Prometheus histogram as the upper bound of the bucket they fall in."""
    buckets = []
    for line in body.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    total = buckets[-1][1] if buckets else 0
    out = []
    for q in qs:
        bound = next((le for le, n in buckets if total and n >= q * total), None)
        out.append(bound)
    return total, out


def rss_kb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loggers", type=int, default=19_800)
    ap.add_argument("--every", type=float, default=30.0)
    ap.add_argument("--rounds", type=int, default=3, help="uploads per logger before the fleet stops")
    a = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "greenmon"], cwd=ingest.ROOT, check=True)
    reg = os.path.join(tempfile.mkdtemp(prefix="gm-bench-fleet-"), "registry.toml")
    open(reg, "w").write(registry(a.loggers))
    ingest.psql(f"DROP DATABASE IF EXISTS {ingest.DB} WITH (FORCE)", db="postgres")
    env = dict(os.environ, GREENMON__DATABASE__DBNAME=ingest.DB, RUST_LOG="warn")
    subprocess.run([ingest.BIN, "migrate"], env=env, check=True, stdout=subprocess.DEVNULL, cwd=ingest.ROOT)
    subprocess.run([ingest.BIN, "registry", "import", reg], env=env, check=True, stdout=subprocess.DEVNULL,
                   cwd=ingest.ROOT)

    tcp, http = ingest.free_port(), ingest.free_port()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    cap = hard - 64 if hard != resource.RLIM_INFINITY else a.loggers + 1024
    svc_env = dict(env, GREENMON__HJ212__LISTEN=f"127.0.0.1:{tcp}", GREENMON__HTTP__LISTEN=f"127.0.0.1:{http}",
                   GREENMON__MQTT__CLIENT_ID="greenmon-bench-fleet", GREENMON__ALERTS__ENABLED="false",
                   GREENMON__HJ212__MAX_CONNECTIONS=str(cap))
    svc = subprocess.Popen([ingest.BIN, "serve"], env=svc_env, stdout=subprocess.DEVNULL, cwd=ingest.ROOT)
    ingest.wait_port(tcp, 60)
    ingest.wait_port(http, 60)

    class Probe(ingest.Service):
        def __init__(self):
            self.http_port = http
    probe = Probe()
    cap = probe.metric("greenmon_hj212_connection_cap")
    time.sleep(1)  # settle: the pools connected, the first rollup fold done
    before = rss_kb(svc.pid)
    print(f"HJ 212 fleet benchmark: {a.loggers} loggers every {a.every:g} s, {a.rounds} uploads each; open-file "
          f"hard limit {hard}; greenmon cap {cap:,.0f} connections; RSS before {before / 1024:.1f} MB; "
          f"{os.cpu_count()} cpus", flush=True)

    tcp_before = tcp_counters()
    load_before = os.getloadavg()[0]
    # Two processes of half the parks each: one process cannot open 20,000 sockets here.
    halves = [[f"fleet-{p:03}" for p in range(PARKS) if p % 2 == k] for k in range(2)]
    fleets = [subprocess.Popen(
        [ingest.BIN, "simulate", "--registry", reg, "--parks", ",".join(parks), "--hj212-tcp", f"127.0.0.1:{tcp}",
         "--every", str(a.every), "--count", str(a.loggers // 2 * a.rounds), "--seed", str(16 + k)],
        env=dict(os.environ, RUST_LOG="warn"), stdout=subprocess.PIPE, text=True, cwd=ingest.ROOT)
        for k, parks in enumerate(halves)]
    # Memory with every logger connected: sampled while they are all there.
    full, samples = None, []
    t0 = time.time()
    while any(f.poll() is None for f in fleets):
        n = probe.metric("greenmon_hj212_connections") or 0
        if n >= a.loggers:
            samples.append(rss_kb(svc.pid))
            if full is None:
                full = time.time() - t0
        time.sleep(1)
    outs = [f.communicate()[0].strip() for f in fleets]
    tcp_after = tcp_counters()
    load_after = os.getloadavg()[0]
    body = urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=5).read().decode()
    answered, (p50, p99, p999) = histogram_quantiles(body, "greenmon_hj212_answer_seconds", [0.5, 0.99, 0.999])
    refused = probe.metric("greenmon_hj212_connections_refused_total")
    peak = rss_kb(svc.pid, "VmHWM")
    stored = probe.metric("greenmon_readings_stored_total")
    svc.send_signal(15)
    svc.wait(timeout=60)
    for out in outs:
        print(out)
    if not samples:
        print(f"never {a.loggers} connected at once")
        return 1
    during = max(samples)
    per_conn = (during - before) * 1024 / a.loggers
    print(f"all {a.loggers} connected {full:.1f} s after the start; greenmon RSS with all connected "
          f"{during / 1024:.1f} MB (peak {peak / 1024:.1f} MB) = {per_conn / 1024:.1f} KB per connection; "
          f"refused at the cap {refused:.0f}; readings stored {stored:,.0f}", flush=True)
    print(f"greenmon's own answer latency (frame read to answer queued), bucket upper bounds: p50 <= "
          f"{p50 * 1000:.0f} ms, p99 <= {p99 * 1000:.0f} ms, p99.9 <= {p999 * 1000:.0f} ms over {answered:,.0f} "
          f"answers", flush=True)
    print("kernel TCP during the fleet: " + ", ".join(f"{k} +{tcp_after[k] - tcp_before[k]}" for k in tcp_after)
          + f"; load average {load_before:.1f} -> {load_after:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
