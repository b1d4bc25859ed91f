#!/usr/bin/env python3
"""API benchmark: requests per second and latency of the park compliance endpoint and of a 30-day
readings query under 32 concurrent clients (wrk), on the compliance benchmark's data.

The database `greenmon_bench_api` is a copy of `greenmon_bench_compliance` (bench/compliance:
50 parks x 20 points x 6 pollutants, ~90 days of hourly rollups, ~2 days of raw readings at one a
minute). This script migrates it with this build's `greenmon migrate` (adding api_tokens), creates
a bureau token, starts `greenmon serve` on it (release build) and runs wrk against:

  compliance  GET /api/v1/parks/{park}/compliance            (monitoring rate, point statuses)
  readings30  GET /api/v1/parks/{park}/points/{point}/readings?pollutant=w01018&from=<now-30d>&to=<now>
              (30 days > http.raw_max_hours, so 720 hourly rollup rows)

Each request picks a random park (and point) with a wrk Lua script, so caches see all 50 parks.
For each run it reports wrk's requests/s and latency percentiles, and the CPU seconds greenmon and
PostgreSQL's backends used (from /proc), i.e. CPU per request, which the shared machine's noise
affects less than wall-clock figures. Runs alternate between the endpoints.

Needs wrk, PostgreSQL on 127.0.0.1:5432, Mosquitto on 127.0.0.1:1883 (serve connects to it), and
`cargo build --release` (CARGO_TARGET_DIR honoured).
Usage: python3 bench/api/run.py [--duration 30] [--connections 32] [--runs 3] [--pool 8]
"""

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")
BIN = os.path.join(TARGET, "release", "greenmon")
DB = "greenmon_bench_api"

LUA = r"""
math.randomseed(os.time())
local parks = {%(parks)s}
local points = {%(points)s}
local mode = "%(mode)s"
local from, to = "%(from)s", "%(to)s"
request = function()
  local i = math.random(#parks)
  local path
  if mode == "compliance" then
    path = "/api/v1/parks/" .. parks[i] .. "/compliance"
  else
    local pts = points[i]
    path = "/api/v1/parks/" .. parks[i] .. "/points/" .. pts[math.random(#pts)] ..
           "/readings?pollutant=w01018&from=" .. from .. "&to=" .. to
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer %(token)s"})
end
response = function(status, headers, body)
  if status ~= 200 then
    io.stderr:write("status " .. status .. ": " .. body .. "\n")
  end
end
"""


def env(extra=None):
    e = dict(os.environ)
    e["GREENMON__DATABASE__DBNAME"] = DB
    e.update(extra or {})
    return e


def psql(sql):
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DB, "-qtAX", "-v", "ON_ERROR_STOP=1",
         "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def cpu_secs(pids):
    """utime + stime of the given processes, in seconds."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except FileNotFoundError:
            pass
    return total / ticks


def postgres_backends():
    out = psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{DB}' AND application_name = 'greenmon'")
    return [int(p) for p in out.split()] if out else []


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse_wrk(text):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    lat = {}
    for p, v, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", text, re.M):
        lat[p] = float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    total = int(re.search(r"(\d+) requests in", text).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return {"rps": rps, "p50_ms": lat.get("50"), "p90_ms": lat.get("90"), "p99_ms": lat.get("99"),
            "requests": total, "non_2xx": int(errors.group(1)) if errors else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=int, default=30)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pool", type=int, default=8, help="database.max_connections")
    args = ap.parse_args()

    subprocess.run([BIN, "migrate"], check=True, env=env())
    token = subprocess.run([BIN, "token", "create", "--role", "bureau", "--name", "bench/api"],
                           check=True, env=env(), capture_output=True, text=True).stdout.strip()
    parks = psql("SELECT string_agg(id, ' ' ORDER BY id) FROM parks").split()
    points = {}
    for line in psql("SELECT park_id || ' ' || string_agg(p.id, ' ' ORDER BY p.id) FROM monitoring_points p "
                     "JOIN discharge_limits l ON l.point_id = p.id AND l.pollutant = 'w01018' "
                     "GROUP BY park_id ORDER BY park_id").splitlines():
        park, *pts = line.split()
        points[park] = pts
    parks = [p for p in parks if p in points]
    now = time.time()
    fmt = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    frm, to = fmt(now - 30 * 86400), fmt(now)
    raw_rows = psql(f"SELECT count(*) FROM readings_hourly WHERE hour >= '{frm}' AND hour < '{to}' "
                    f"AND point_id = '{points[parks[0]][0]}' AND pollutant = 'w01018'")
    print(f"{len(parks)} parks; a 30-day readings answer holds {raw_rows} hourly rows", flush=True)

    port = free_port()
    serve_env = env({
        "GREENMON__HTTP__LISTEN": f"127.0.0.1:{port}",
        "GREENMON__MQTT__CLIENT_ID": f"bench-api-{os.getpid()}",
        "GREENMON__MQTT__TOPIC_PREFIX": f"bench-api/{os.getpid()}",
        "GREENMON__DATABASE__MAX_CONNECTIONS": str(args.pool),
        "GREENMON__TELEMETRY__LOG_LEVEL": "warn",
    })
    server = subprocess.Popen([BIN, "serve"], env=serve_env)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        scripts = {}
        for mode in ("compliance", "readings30"):
            lua = LUA % {
                "parks": ", ".join(f'"{p}"' for p in parks),
                "points": ", ".join("{" + ", ".join(f'"{x}"' for x in points[p]) + "}" for p in parks),
                "mode": mode, "from": frm, "to": to, "token": token,
            }
            f = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
            f.write(lua)
            f.close()
            scripts[mode] = f.name
            # Warm-up: one short run per endpoint.
            subprocess.run(["wrk", "-t1", "-c4", "-d3s", "-s", f.name, base], check=True,
                           capture_output=True)
        results = {m: [] for m in scripts}
        for run in range(args.runs):
            for mode, script in scripts.items():
                load = open("/proc/loadavg").read().split()[0]
                pids = [server.pid]
                pg = postgres_backends()
                c0, p0 = cpu_secs(pids), cpu_secs(pg)
                out = subprocess.run(
                    ["wrk", f"-t{args.threads}", f"-c{args.connections}", f"-d{args.duration}s",
                     "--latency", "-s", script, base], check=True, capture_output=True, text=True)
                r = parse_wrk(out.stdout)
                r["greenmon_cpu_ms_per_req"] = 1000 * (cpu_secs(pids) - c0) / max(r["requests"], 1)
                r["postgres_cpu_ms_per_req"] = 1000 * (cpu_secs(pg) - p0) / max(r["requests"], 1)
                r["loadavg_before"] = float(load)
                results[mode].append(r)
                print(mode, run + 1, json.dumps(r), flush=True)
                if out.stderr.strip():
                    print(out.stderr.strip()[:500], file=sys.stderr)
        print("\nsummary (median, min-max over runs):")
        for mode, rs in results.items():
            def col(k):
                vals = [r[k] for r in rs if r[k] is not None]
                return f"{statistics.median(vals):.1f} ({min(vals):.1f}-{max(vals):.1f})"
            print(f"  {mode}: req/s {col('rps')}, p50 ms {col('p50_ms')}, p99 ms {col('p99_ms')}, "
                  f"greenmon CPU ms/req {col('greenmon_cpu_ms_per_req')}, "
                  f"postgres CPU ms/req {col('postgres_cpu_ms_per_req')}, "
                  f"non-2xx {sum(r['non_2xx'] for r in rs)}")
    finally:
        server.terminate()
        server.wait(timeout=30)
        psql("UPDATE api_tokens SET revoked_at = now() WHERE name = 'bench/api' AND revoked_at IS NULL")


if __name__ == "__main__":
    main()
