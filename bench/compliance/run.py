#!/usr/bin/env python3
"""Compliance benchmark: the bureau summary, one park's 30-day report and the hourly-rollup
maintenance, on a database the size of the bureau's (issue `bench/compliance`).

Phases:
  seed     fresh database `greenmon_bench_compliance` (dropped WITH (FORCE) first), `greenmon
           migrate`, 50 parks x 20 points x 6 pollutants; hourly rollups written straight into
           readings_hourly and readings_hourly_point for the 90 days before the raw window (~13
           million rows); raw readings at one a minute for the last ~2 days (~17 million rows,
           through the rollup trigger, each hour's statement followed by a fold);
           point_last_seen; monthly energy reports 2015-01..last month; VACUUM ANALYZE.
           Rows are written in time order, hour by hour, as ingest writes them, so the heap and
           index layout is the one a live system has (a day's rollups are contiguous).
  catchup  readings for the minutes between the end of the seed and now (same model), so the
           timed queries see points that are online right now.
  queries  examples/compliance_bench.rs: N repetitions of service::bureau_summary and of one
           park's 30-day report (rates + exceedances + energy), real clock, in-process.
  explain  EXPLAIN (ANALYZE, BUFFERS) of the engine's SQL (custom and generic plans).
  rollup   the cost of keeping the hourly rollups: psql `\\copy` of --copy-rows readings in
           COPYs of --batch-rows rows, each committed (greenmon's ingest.batch_max_rows), into
           readings with
             old        the trigger of migrations 3 and 6 (upserts both rollup tables per commit)
             new        the pending trigger (migration 20261128000100), folded every
                        --fold-every commits and at the end, each fold followed by the VACUUM the
                        rollup worker runs
             new-1fold  the pending trigger, folded once at the end
             none       no rollup trigger at all
           for two workloads: fresh (1,000 points x 6 pollutants at one a minute, time order) and
           backlog (--backlog-points points uploading the minutes of an outage 200 days ago,
           one logger after the other). Wall time and CPU time of the server backend
           (/proc/PID/stat) are taken separately for the ingest and for the folds, --copy-runs
           runs alternating. The rows are deleted afterwards (then VACUUM).

Data model (deterministic per point-hour, from hashint8): 1.5% of point-hours in maintenance
(flag M for all six pollutants), 1% of limited point-hours with COD above 50, 0.5% with pH above
9, 0.5% of point-hours missing; isolated single-minute spikes above the limit (0.2%); points
idx % 97 = 0 silent for the last 3 h (offline), idx % 89 = 0 flagged M for the last 30 min
(invalid), idx % 53 = 0 (when limited) with COD above 50 for the last 3 h (open exceedance),
idx % 250 = 0 never reported. Point 20 of each park is `other` and not required. Limits (COD
upper 50, pH 6-9) on points 3-19 (outlets).

Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust), psql, cargo.
Usage: python3 bench/compliance/run.py [--reps 50] [--skip-seed] [--copy-rows 1000000]
                                       [--batch-rows 10000] [--copy-runs 3] [--no-rollup]
                                       [--fold-every 10] [--backlog-points 100]
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", "/var/tmp/greenmon-target")
BIN = os.path.join(TARGET, "release", "greenmon")
EXAMPLE = os.path.join(TARGET, "release", "examples", "compliance_bench")
DB = "greenmon_bench_compliance"
TZ = "Asia/Shanghai"  # ingest.timezone default; the example reads it from the settings
PARKS, POINTS_PER_PARK = 50, 20
CODES = ["w00000", "w01001", "w01018", "w21001", "w21003", "w21011"]
CODES_SQL = "(VALUES " + ", ".join(f"('{c}', {i})" for i, c in enumerate(CODES)) + ") c(code, ord)"
SEED_SETTINGS = "SET synchronous_commit = off; SET work_mem = '256MB'; SET jit = off; "
COLS = "(time, point_id, pollutant, value, flag, received_at)"


def env():
    e = dict(os.environ)
    e["GREENMON__DATABASE__DBNAME"] = DB
    e["CARGO_TARGET_DIR"] = TARGET
    return e


def psql(sql, db=DB, capture=True):
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v", "ON_ERROR_STOP=1",
         "-c", sql],
        check=True, capture_output=capture, text=True)
    return out.stdout.strip() if capture else ""


def psql_file(path, db=DB):
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", db, "-qtAX", "-v",
                    "ON_ERROR_STOP=1", "-f", path], check=True, stdout=subprocess.DEVNULL)


def log(msg):
    print(msg, flush=True)


def lit(ts):
    return f"'{ts}'::timestamptz"


# --- the reading model --------------------------------------------------------------------------

def hour_hash(idx, t):
    """Per point-hour event number in 0..999 (hashint8 is int4 and may be negative)."""
    return f"((hashint8({idx}::bigint * 1000003 + extract(epoch FROM {t})::bigint / 3600) % 1000 + 1000) % 1000)"


def raw_insert(frm, to, anchor, order=True):
    """Readings at one a minute for every point in [frm, to] (timestamps, inclusive)."""
    h = hour_hash("b.idx", "g.t")
    return f"""
INSERT INTO readings {COLS}
SELECT g.t, b.id, c.code,
  CASE c.code
    WHEN 'w01018' THEN CASE WHEN e.cod_ex THEN 55 + 20 * random()
                            WHEN random() < 0.002 THEN 50.5 + 10 * random()
                            ELSE 18 + 16 * random() END
    WHEN 'w01001' THEN CASE WHEN e.ph_ex THEN 9.2 + 0.6 * random()
                            WHEN random() < 0.002 THEN 9.05 + 0.5 * random()
                            ELSE 6.8 + random() END
    WHEN 'w21003' THEN 0.5 + 2 * random()
    WHEN 'w21011' THEN 0.1 + 0.3 * random()
    WHEN 'w21001' THEN 6 + 8 * random()
    ELSE 8 + 10 * random()
  END,
  CASE WHEN e.maint THEN 'M' ELSE 'N' END,
  g.t + interval '2 seconds'
FROM generate_series({lit(frm)}, {lit(to)}, interval '1 minute') g(t)
CROSS JOIN bench_points b
CROSS JOIN {CODES_SQL}
CROSS JOIN LATERAL (SELECT {h} AS h) hh
CROSS JOIN LATERAL (SELECT
    hh.h < 15 OR (b.idx % 89 = 0 AND g.t > {lit(anchor)} - interval '30 minutes') AS maint,
    b.has_limit AND (hh.h BETWEEN 15 AND 24
                     OR (b.idx % 53 = 0 AND g.t > {lit(anchor)} - interval '3 hours')) AS cod_ex,
    b.has_limit AND hh.h BETWEEN 25 AND 29 AS ph_ex) e
WHERE b.idx % 250 <> 0
  AND hh.h NOT BETWEEN 30 AND 34
  AND NOT (b.idx % 97 = 0 AND g.t > {lit(anchor)} - interval '3 hours')
{"ORDER BY g.t, b.id, c.code" if order else ""};"""


def rollup_insert(frm, to):
    """Hourly rollups for hours in [frm, to), as the trigger would have left them (60 a hour)."""
    h = hour_hash("b.idx", "g.hr")
    noise = "((hashint8(b.idx::bigint * 7919 + extract(epoch FROM g.hr)::bigint / 3600 * 31 + c.ord) % 10000 + 10000) % 10000) / 10000.0"
    return f"""
INSERT INTO readings_hourly (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
SELECT b.id, c.code, g.hr, v.avg * 60, v.avg * 0.8, v.avg * 1.25, 60,
       CASE WHEN e.maint THEN 0 ELSE 60 END, CASE WHEN e.maint THEN 0 ELSE v.avg * 60 END
FROM generate_series({lit(frm)}, {lit(to)} - interval '1 hour', interval '1 hour') g(hr)
CROSS JOIN bench_points b
CROSS JOIN {CODES_SQL}
CROSS JOIN LATERAL (SELECT {h} AS h, {noise} AS r) hh
CROSS JOIN LATERAL (SELECT hh.h < 15 AS maint,
                           b.has_limit AND hh.h BETWEEN 15 AND 24 AS cod_ex,
                           b.has_limit AND hh.h BETWEEN 25 AND 29 AS ph_ex) e
CROSS JOIN LATERAL (SELECT CASE c.code
    WHEN 'w01018' THEN CASE WHEN e.cod_ex THEN 55 + 20 * hh.r ELSE 24 + 4 * hh.r END
    WHEN 'w01001' THEN CASE WHEN e.ph_ex THEN 9.2 + 0.6 * hh.r ELSE 7.2 + 0.2 * hh.r END
    WHEN 'w21003' THEN 1.3 + 0.4 * hh.r
    WHEN 'w21011' THEN 0.22 + 0.06 * hh.r
    WHEN 'w21001' THEN 9 + 2 * hh.r
    ELSE 11 + 4 * hh.r END AS avg) v
WHERE b.idx % 250 <> 0
  AND hh.h NOT BETWEEN 30 AND 34
ORDER BY g.hr, b.id, c.code;"""


def point_rollup_insert(frm, to):
    """readings_hourly_point for the hours rollup_insert wrote (what the fold would add)."""
    return f"""
INSERT INTO readings_hourly_point (point_id, hour, count, valid_count)
SELECT point_id, hour, sum(count), sum(valid_count) FROM readings_hourly
WHERE hour >= {lit(frm)} AND hour < {lit(to)} GROUP BY 1, 2 ORDER BY 2, 1;"""


# The rollup worker's fold (migration 20261128000100), run after each seeding statement.
FOLD = " SELECT readings_hourly_fold();"


def last_seen_upsert(since):
    return f"""
INSERT INTO point_last_seen (point_id, last_reading, last_valid)
SELECT point_id, max(time), max(time) FILTER (WHERE flag = 'N')
FROM readings WHERE time > {lit(since)} GROUP BY point_id
ON CONFLICT (point_id) DO UPDATE SET
  last_reading = greatest(point_last_seen.last_reading, EXCLUDED.last_reading),
  last_valid = greatest(point_last_seen.last_valid, EXCLUDED.last_valid);"""


REGISTRY = f"""
CREATE TABLE bench_meta (anchor timestamptz NOT NULL, raw_start timestamptz NOT NULL,
                         roll_start timestamptz NOT NULL, filled_to timestamptz NOT NULL);
INSERT INTO bench_meta
SELECT a, date_trunc('hour', a - interval '48 hours'),
       date_trunc('hour', a - interval '48 hours') - interval '90 days', a
FROM (SELECT date_trunc('minute', now()) AS a) s;

INSERT INTO parks (id, name, name_en, baseline_year, baseline_intensity, target_year,
                   target_reduction)
SELECT format('bench-p%s', lpad(i::text, 2, '0')), format('基准园区%s', lpad(i::text, 2, '0')),
       format('Bench park %s', i), 2015, 0.4 + (i % 10) * 0.05, 2020, 0.20
FROM generate_series(1, {PARKS}) i;

-- idx 1..1000; point j of a park: 1-2 treatment inlets, 3-4 treatment outlets, 5-19 sewage
-- outlets, 20 other (not required). Limits on the outlets (3-19).
CREATE TABLE bench_points (idx int PRIMARY KEY, id text NOT NULL UNIQUE, park_idx int NOT NULL,
                           j int NOT NULL, has_limit bool NOT NULL);
INSERT INTO bench_points
SELECT (i - 1) * {POINTS_PER_PARK} + j,
       format('bench-p%s-%s', lpad(i::text, 2, '0'), lpad(j::text, 2, '0')), i, j,
       j BETWEEN 3 AND 19
FROM generate_series(1, {PARKS}) i, generate_series(1, {POINTS_PER_PARK}) j;

INSERT INTO monitoring_points (id, park_id, name, kind, mn, required, interval_secs, registered_at,
                               monitored_since)
SELECT b.id, format('bench-p%s', lpad(b.park_idx::text, 2, '0')), format('监测点 %s', b.idx),
       CASE WHEN b.j <= 2 THEN 'treatment_inlet' WHEN b.j <= 4 THEN 'treatment_outlet'
            WHEN b.j = 20 THEN 'other' ELSE 'sewage_outlet' END,
       'BENCH' || lpad(b.idx::text, 6, '0'), b.j <> 20, 60, m.anchor - interval '100 days',
       m.anchor - interval '100 days'
FROM bench_points b CROSS JOIN bench_meta m;

INSERT INTO discharge_limits (point_id, pollutant, lower, upper)
SELECT id, 'w01018', NULL, 50 FROM bench_points WHERE has_limit
UNION ALL
SELECT id, 'w01001', 6, 9 FROM bench_points WHERE has_limit;

-- Monthly reports 2015-01..last month; intensity falls 2-6 % a year depending on the park
-- (the 2015->2020 path needs 4.4 %), value added grows 6 % a year.
INSERT INTO energy_reports (park_id, period, period_kind, period_start, period_end, energy_tce,
                            value_added_10k_yuan, price_index, source)
SELECT p.id, to_char(m, 'YYYY-MM'), 'month', m::date, (m + interval '1 month')::date,
       x.va * p.baseline_intensity * power(1 - x.cut, x.yrs) * (0.97 + 0.06 * random()),
       x.va, 1, 'api'
FROM parks p
CROSS JOIN generate_series(date '2015-01-01',
                           date_trunc('month', now() AT TIME ZONE '{TZ}') - interval '1 month',
                           interval '1 month') m
CROSS JOIN LATERAL (SELECT extract(year FROM m) - 2015 + (extract(month FROM m) - 1) / 12.0 AS yrs,
                           0.02 + (substr(p.id, 8)::int % 5) * 0.01 AS cut,
                           (20000 + 500 * substr(p.id, 8)::int)
                             * power(1.06, extract(year FROM m) - 2015) / 12 AS va) x
WHERE p.id LIKE 'bench-p%';
"""


def meta():
    row = psql("SELECT anchor, raw_start, roll_start, filled_to FROM bench_meta")
    return dict(zip(["anchor", "raw_start", "roll_start", "filled_to"], row.split("|")))


def counts():
    q = ("SELECT (SELECT count(*) FROM parks), (SELECT count(*) FROM monitoring_points), "
         "(SELECT count(*) FROM discharge_limits), (SELECT count(*) FROM readings), "
         "(SELECT count(*) FROM readings_hourly), (SELECT count(*) FROM point_last_seen), "
         "(SELECT count(*) FROM energy_reports)")
    names = ["parks", "points", "limits", "readings", "readings_hourly", "point_last_seen",
             "energy_reports"]
    return dict(zip(names, map(int, psql(q).split("|"))))


def build():
    log("== build (release): greenmon and examples/compliance_bench")
    subprocess.run(["cargo", "build", "--release", "--bin", "greenmon", "--example",
                    "compliance_bench"], cwd=ROOT, env=env(), check=True)


def seed():
    t0 = time.time()
    log(f"== seed: database {DB}")
    psql(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)", db="postgres")
    subprocess.run([BIN, "migrate"], env=env(), check=True, stdout=subprocess.DEVNULL)
    log("   schema: readings " + psql(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'readings_pkey'")
        + "; backend " + ("timescaledb" if psql(
            "SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'") != "0"
            else "plain PostgreSQL (rollup trigger)"))
    psql(REGISTRY)
    m = meta()
    log(f"   anchor (end of the raw window) {m['anchor']}; raw from {m['raw_start']}; "
        f"rollups from {m['roll_start']}")
    times = {}

    # Rollups, a day per statement, oldest first (time order, like a live system).
    t = time.time()
    days = psql(f"SELECT d FROM generate_series({lit(m['roll_start'])}, "
                f"{lit(m['raw_start'])} - interval '1 day', interval '1 day') d").splitlines()
    for i, d in enumerate(days):
        nxt = psql(f"SELECT {lit(d)} + interval '1 day'")
        psql(SEED_SETTINGS + rollup_insert(d, nxt) + point_rollup_insert(d, nxt))
        if (i + 1) % 15 == 0 or i + 1 == len(days):
            log(f"   rollups: {i + 1}/{len(days)} days, {time.time() - t:.0f} s")
    times["rollups"] = time.time() - t

    # Raw readings, an hour per statement (360,000 rows), through the rollup trigger.
    t = time.time()
    hours = psql(f"SELECT h FROM generate_series({lit(m['raw_start'])}, {lit(m['anchor'])}, "
                 f"interval '1 hour') h").splitlines()
    for i, h in enumerate(hours):
        end = psql(f"SELECT least({lit(h)} + interval '59 minutes', {lit(m['anchor'])})")
        psql(SEED_SETTINGS + raw_insert(h, end, m["anchor"]) + FOLD)
        if (i + 1) % 8 == 0 or i + 1 == len(hours):
            log(f"   raw readings: {i + 1}/{len(hours)} hours, {time.time() - t:.0f} s")
    times["raw"] = time.time() - t

    t = time.time()
    psql(SEED_SETTINGS + last_seen_upsert(
        psql(f"SELECT {lit(m['anchor'])} - interval '1 day'")))
    times["last_seen"] = time.time() - t
    t = time.time()
    psql("VACUUM (ANALYZE) readings")
    psql("VACUUM (ANALYZE) readings_hourly")
    psql("VACUUM (ANALYZE)")  # the small tables
    times["vacuum_analyze"] = time.time() - t
    total = time.time() - t0
    c = counts()
    log(f"   seeded in {total:.0f} s (rollups {times['rollups']:.0f} s, raw {times['raw']:.0f} s,"
        f" last_seen {times['last_seen']:.0f} s, vacuum+analyze {times['vacuum_analyze']:.0f} s)")
    log("   rows: " + ", ".join(f"{k} {v:,}" for k, v in c.items()))
    log("   sizes: " + psql(
        "SELECT string_agg(format('%s %s', r, pg_size_pretty(pg_total_relation_size(r))), ', ') "
        "FROM unnest(array['readings', 'readings_hourly']) r"))
    return {"seconds": total, "phases": times, "counts": c}


def catch_up():
    """Readings from the end of the seed (or the last catch-up) to now, and point_last_seen."""
    m = meta()
    frm = psql(f"SELECT {lit(m['filled_to'])} + interval '1 minute'")
    to = psql("SELECT date_trunc('minute', now())")
    t = time.time()
    n = 0
    if psql(f"SELECT {lit(frm)} <= {lit(to)}") == "t":
        # An hour at most per statement.
        while True:
            end = psql(f"SELECT least({lit(frm)} + interval '59 minutes', {lit(to)})")
            psql(SEED_SETTINGS + raw_insert(frm, end, m["anchor"]) + FOLD)
            n += 1
            if end == to:
                break
            frm = psql(f"SELECT {lit(end)} + interval '1 minute'")
        psql(last_seen_upsert(m["filled_to"]))
        psql(f"UPDATE bench_meta SET filled_to = {lit(to)}")
        psql("ANALYZE readings_hourly; ANALYZE point_last_seen")
    log(f"== catch-up: readings {m['filled_to']} .. {to} ({n} statements, "
        f"{time.time() - t:.1f} s)")


def run_queries(reps, park):
    log(f"== queries: examples/compliance_bench --reps {reps} "
        f"(load average before: {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")
    cmd = [EXAMPLE, "--reps", str(reps)] + (["--park", park] if park else [])
    out = subprocess.run(cmd, env=env(), check=True, capture_output=True, text=True).stdout
    result = None
    for line in out.splitlines():
        if line.startswith("JSON "):
            result = json.loads(line[5:])
        else:
            log("   " + line)
    log(f"   (load average after: {os.getloadavg()[0]:.1f})")
    result["loadavg"] = os.getloadavg()[0]
    return result


# --- EXPLAIN: the engine's SQL, copied from src/store/compliance.rs ------------------------------

SLOTS = """SELECT h.point_id, h.hour, h.count, h.valid_count
         FROM readings_hourly_point h JOIN monitoring_points p ON p.id = h.point_id
         WHERE h.hour >= $2 AND h.hour < $3 AND ($1::text IS NULL OR p.park_id = $1)"""
EXCEEDING = """SELECT p.park_id, h.point_id, h.pollutant, h.hour, h.valid_avg, l.lower, l.upper
         FROM readings_hourly h
         JOIN discharge_limits l ON l.point_id = h.point_id AND l.pollutant = h.pollutant
         JOIN monitoring_points p ON p.id = h.point_id
         WHERE h.hour >= $2 AND h.hour < $3 AND ($1::text IS NULL OR p.park_id = $1)
           AND (h.valid_avg > l.upper OR h.valid_avg < l.lower)
         ORDER BY h.point_id, h.pollutant, h.hour"""
POINTS = """SELECT p.id, p.park_id, p.name, p.kind, p.required, p.interval_secs, p.allowed_gap_secs,
                p.monitored_since, p.retired_at, s.last_reading, s.last_valid
         FROM monitoring_points p LEFT JOIN point_last_seen s ON s.point_id = p.id
         WHERE $1::text IS NULL OR p.park_id = $1
         ORDER BY p.park_id, p.id"""


def explain(park):
    """Plans of the heavy queries with the parameters the two reports use now."""
    b = psql(f"""SELECT d0, d1, d2, h1, n1, d29 FROM (SELECT
        (date_trunc('day', now() AT TIME ZONE '{TZ}') AT TIME ZONE '{TZ}') AS d0,
        ((date_trunc('day', now() AT TIME ZONE '{TZ}') + interval '1 day') AT TIME ZONE '{TZ}') AS d1,
        ((date_trunc('day', now() AT TIME ZONE '{TZ}') - interval '1 day') AT TIME ZONE '{TZ}') AS d2,
        date_trunc('hour', now()) - interval '1 hour' AS h1, now() + interval '1 hour' AS n1,
        ((date_trunc('day', now() AT TIME ZONE '{TZ}') - interval '29 days') AT TIME ZONE '{TZ}') AS d29) s""").split("|")
    d0, d1, d2, h1, n1, d29 = b
    cases = [
        ("summary: slots, all parks, today", SLOTS, "text, timestamptz, timestamptz", f"NULL, '{d0}', '{d1}'"),
        ("summary: slots, all parks, yesterday", SLOTS, "text, timestamptz, timestamptz", f"NULL, '{d2}', '{d0}'"),
        ("summary: open exceedances, all parks, last 2 h", EXCEEDING, "text, timestamptz, timestamptz", f"NULL, '{h1}', '{n1}'"),
        ("summary: points with last seen, all parks", POINTS, "text", "NULL"),
        (f"report: slots, {park}, 30 days", SLOTS, "text, timestamptz, timestamptz", f"'{park}', '{d29}', '{d1}'"),
        (f"report: exceeding hours, {park}, 30 days", EXCEEDING, "text, timestamptz, timestamptz", f"'{park}', '{d29}', '{d1}'"),
    ]
    log("== explain (ANALYZE, BUFFERS): prepared statements as sqlx runs them")
    found = []
    for name, sql, types, args in cases:
        for mode in ["force_custom_plan", "force_generic_plan"]:
            plan = psql(f"SET plan_cache_mode = {mode}; PREPARE q({types}) AS {sql}; "
                        f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE q({args});")
            ms = float(re.search(r"Execution Time: ([\d.]+)", plan).group(1))
            rows = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+)", plan).group(1)
            jit = re.search(r"Timing: .*Total ([\d.]+) ms", plan)
            bufs = re.search(r"Buffers: (shared [^\n]*)", plan)
            found.append((name, mode, ms, rows, plan))
            log(f"   {ms:9.1f} ms  rows {rows:>7}  {mode.split('_')[1]:<7} {name}"
                f"  [{bufs.group(1) if bufs else ''}"
                f"{f'; JIT {float(jit.group(1)):.0f} ms' if jit else ''}]")
    return found


# --- rollup maintenance: ingest with the old trigger, the pending scheme, no rollup; the fold -----

# The trigger of migrations 3 and 6 (upserting both rollup tables in every ingest statement),
# installed under another name so that the old scheme can be measured next to the new one.
OLD_TRIGGER = """
CREATE OR REPLACE FUNCTION bench_old_roll_up() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO readings_hourly AS h
        (point_id, pollutant, hour, sum, min, max, count, valid_count, valid_sum)
    SELECT point_id, pollutant, date_trunc('hour', time, 'UTC'),
           sum(value), min(value), max(value), count(*),
           count(*) FILTER (WHERE flag = 'N'),
           coalesce(sum(value) FILTER (WHERE flag = 'N'), 0)
    FROM new_rows WHERE kind <> 'day'
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (point_id, pollutant, hour) DO UPDATE SET
        sum = h.sum + EXCLUDED.sum, min = LEAST(h.min, EXCLUDED.min),
        max = GREATEST(h.max, EXCLUDED.max), count = h.count + EXCLUDED.count,
        valid_count = h.valid_count + EXCLUDED.valid_count,
        valid_sum = h.valid_sum + EXCLUDED.valid_sum;
    INSERT INTO readings_hourly_point AS p (point_id, hour, count, valid_count)
    SELECT point_id, date_trunc('hour', time, 'UTC'), count(*), count(*) FILTER (WHERE flag = 'N')
    FROM new_rows WHERE kind <> 'day'
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (point_id, hour) DO UPDATE SET
        count = p.count + EXCLUDED.count, valid_count = p.valid_count + EXCLUDED.valid_count;
    RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS bench_old_roll_up ON readings;
CREATE TRIGGER bench_old_roll_up AFTER INSERT ON readings
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION bench_old_roll_up();
ALTER TABLE readings DISABLE TRIGGER bench_old_roll_up;
"""

def set_triggers(variant):
    old, new = {"old": (True, False), "none": (False, False)}.get(variant, (False, True))
    psql(f"ALTER TABLE readings {'ENABLE' if old else 'DISABLE'} TRIGGER bench_old_roll_up; "
         f"ALTER TABLE readings {'ENABLE' if new else 'DISABLE'} TRIGGER readings_roll_up")


def make_csv(path, start, rows, backlog_points=None):
    """`rows` readings from `start`, written to CSV. Fresh data (the default): every point each
    minute, in time order, as a city's loggers deliver it. A late backlog (`backlog_points`):
    that many points each uploading its own minutes since `start` after an outage, one logger's
    backlog after the other, in time order within each."""
    if backlog_points is None:
        minutes = -(-rows // (PARKS * POINTS_PER_PARK * len(CODES)))
        points, order = "bench_points b", "g.t, b.id, c.code"
    else:
        minutes = -(-rows // (backlog_points * len(CODES)))
        points = f"(SELECT * FROM bench_points WHERE idx % 250 <> 0 ORDER BY idx LIMIT {backlog_points}) b"
        order = "b.id, g.t, c.code"
    psql(f"""\\copy (SELECT g.t, b.id, c.code, 20 + 10 * random(),
                CASE WHEN random() < 0.02 THEN 'M' ELSE 'N' END, g.t + interval '2 seconds'
        FROM generate_series({lit(start)}, {lit(start)} + interval '1 minute' * {minutes - 1},
                             interval '1 minute') g(t)
        CROSS JOIN {points} CROSS JOIN {CODES_SQL}
        ORDER BY {order} LIMIT {rows}) TO '{path}' WITH (FORMAT csv)""")
    return minutes


def split_csv(path, batch_rows, outdir):
    files = []
    with open(path) as f:
        lines = f.readlines()
    for i in range(0, len(lines), batch_rows):
        p = os.path.join(outdir, f"batch_{i // batch_rows:05d}.csv")
        with open(p, "w") as g:
            g.writelines(lines[i:i + batch_rows])
        files.append(p)
    return files


def cpu_of(stat_line):
    """utime + stime, in seconds, of a /proc/PID/stat line."""
    fields = stat_line.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_load(variant, files, tmp, fold_every):
    """One psql session running a `\\copy` per file (each its own transaction: greenmon's commit
    shape). With the pending scheme it folds (`readings_hourly_fold()` and the VACUUM the rollup
    worker runs after it) after every `fold_every` files, and once at the end. Each fold is
    bracketed by the wall clock and /proc/PID/stat of the server backend, so the ingest and the
    fold are accounted separately: CPU time of the backend, which the other work on a shared
    machine does not inflate. Returns (ingest wall s, ingest CPU s, fold wall s, fold CPU s,
    readings folded, folds)."""
    marks = os.path.join(tmp, "marks")
    folded = os.path.join(tmp, "folded")
    script = os.path.join(tmp, "load.sql")
    mark = f"\\! echo $(date +%s.%N) $(cat /proc/$GM_PID/stat) >> {marks}\n"
    fold = ("SELECT readings_hourly_fold() AS n \\gset\n\\setenv GM_N :n\n"
            f"\\! echo $GM_N >> {folded}\n"
            "VACUUM readings_hourly_pending;\n")
    for f in (marks, folded):
        if os.path.exists(f):
            os.remove(f)
    with open(script, "w") as s:
        s.write("SELECT pg_backend_pid() AS pid \\gset\n\\setenv GM_PID :pid\n")
        s.write(mark)
        for i, f in enumerate(files):
            s.write(f"\\copy readings {COLS} FROM '{f}' WITH (FORMAT csv)\n")
            last = i + 1 == len(files)
            if variant == "new" and ((i + 1) % fold_every == 0 or last):
                s.write(mark + fold + mark)
        s.write(mark)
    set_triggers(variant)
    psql("CHECKPOINT")
    psql_file(script)
    with open(marks) as f:
        pts = [(float(line.split(" ", 1)[0]), cpu_of(line.split(" ", 1)[1])) for line in f]
    total_wall, total_cpu = pts[-1][0] - pts[0][0], pts[-1][1] - pts[0][1]
    fold_pairs = list(zip(pts[1:-1:2], pts[2:-1:2]))
    fold_wall = sum(b[0] - a[0] for a, b in fold_pairs)
    fold_cpu = sum(b[1] - a[1] for a, b in fold_pairs)
    n = 0
    if os.path.exists(folded):
        with open(folded) as f:
            n = sum(int(x) for x in f.read().split())
    return total_wall - fold_wall, total_cpu - fold_cpu, fold_wall, fold_cpu, n, len(fold_pairs)


def rollup_bench(rows, batch_rows, runs, fold_every, backlog_points):
    """Returns {(workload, variant): [per-run dicts]}."""
    log(f"== rollup maintenance: {rows:,} readings per load in COPYs of {batch_rows:,} "
        f"(each committed), {runs} runs alternating; pending scheme folded every {fold_every} "
        f"commits ({fold_every * batch_rows:,} readings) and once per load")
    psql(OLD_TRIGGER)
    base = psql("SELECT date_trunc('hour', now()) + interval '10 days'")
    late_base = psql("SELECT date_trunc('hour', now()) - interval '200 days'")
    window = {"fresh": 0, "backlog": 0}
    results = {}
    tmp = tempfile.mkdtemp(prefix="gm-bench-compliance-")
    fresh_span = -(-rows // 6000) + 60
    backlog_span = -(-rows // (backlog_points * len(CODES))) + 60

    def next_start(workload):
        b, span = (base, fresh_span) if workload == "fresh" else (late_base, backlog_span)
        s = psql(f"SELECT {lit(b)} + interval '1 minute' * {span * window[workload]}")
        window[workload] += 1
        return s

    # (workload, variant, fold cadence in commits)
    plan = [("fresh", "old", None), ("fresh", "new", fold_every), ("fresh", "new-1fold", None),
            ("fresh", "none", None), ("backlog", "old", None), ("backlog", "new", fold_every),
            ("backlog", "none", None)]
    try:
        for run in range(runs):
            for workload, variant, every in (plan if run % 2 == 0 else plan[::-1]):
                csv = os.path.join(tmp, "load.csv")
                make_csv(csv, next_start(workload), rows,
                         backlog_points if workload == "backlog" else None)
                bdir = os.path.join(tmp, "batches")
                os.makedirs(bdir, exist_ok=True)
                files = split_csv(csv, batch_rows, bdir)
                os.remove(csv)
                kind = "new" if variant.startswith("new") else variant
                wall, cpu, fwall, fcpu, folded, folds = timed_load(
                    kind, files, tmp, every or len(files))
                for f in files:
                    os.remove(f)
                r = {"ingest_rows_per_s": rows / wall, "ingest_rows_per_cpu_s": rows / cpu,
                     "ingest_cpu_s": cpu, "fold_wall_s": fwall, "fold_cpu_s": fcpu,
                     "folded": folded, "folds": folds, "load": os.getloadavg()[0]}
                results.setdefault((workload, variant), []).append(r)
                extra = ""
                if folds:
                    assert folded == rows, f"folded {folded} readings of {rows}"
                    extra = (f" | {folds} folds {fwall:5.2f} s, CPU {fcpu:5.2f} s: "
                             f"{folded / fwall:>9,.0f} readings/s, "
                             f"{folded / fcpu:>9,.0f} readings/CPU-s")
                log(f"   run {run + 1} {workload:<7} {variant:<9} ingest {wall:6.2f} s "
                    f"{rows / wall:>9,.0f} rows/s, CPU {cpu:6.2f} s {rows / cpu:>9,.0f} "
                    f"rows/CPU-s{extra}   load {os.getloadavg()[0]:.1f}")
    finally:
        t = time.time()
        psql("ALTER TABLE readings ENABLE TRIGGER readings_roll_up; "
             "DROP TRIGGER IF EXISTS bench_old_roll_up ON readings; "
             "DROP FUNCTION IF EXISTS bench_old_roll_up()")
        psql("SELECT readings_hourly_fold()")
        end_late = psql(f"SELECT {lit(late_base)} + interval '1 minute' * "
                        f"{backlog_span * window['backlog']}")
        for table, col in [("readings", "time"), ("readings_hourly", "hour"),
                           ("readings_hourly_point", "hour")]:
            psql(f"DELETE FROM {table} WHERE {col} >= {lit(base)} "
                 f"OR ({col} >= {lit(late_base)} AND {col} < {lit(end_late)})")
        for table in ["readings", "readings_hourly", "readings_hourly_point",
                      "readings_hourly_pending"]:
            psql(f"VACUUM (ANALYZE) {table}")
        log(f"   cleanup (delete the benchmark rows, vacuum): {time.time() - t:.0f} s")
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def summarize_rollup(results, rows):
    """Medians (min-max) per workload and variant, and the maintenance cost per 100,000
    readings: the pending trigger's extra ingest CPU over no rollup plus the fold's CPU."""
    med = statistics.median
    out = {}
    for (workload, variant), rs in sorted(results.items()):
        d = {}
        for k in ["ingest_rows_per_s", "ingest_rows_per_cpu_s", "ingest_cpu_s", "fold_cpu_s",
                  "fold_wall_s"]:
            v = [r[k] for r in rs]
            d[k] = {"median": med(v), "min": min(v), "max": max(v)}
        if rs[0]["folds"]:
            for k, num, den in [("fold_readings_per_s", "folded", "fold_wall_s"),
                                ("fold_readings_per_cpu_s", "folded", "fold_cpu_s")]:
                v = [r[num] / r[den] for r in rs]
                d[k] = {"median": med(v), "min": min(v), "max": max(v)}
            d["folds"] = rs[0]["folds"]
        out[f"{workload}/{variant}"] = d
    for workload in ["fresh", "backlog"]:
        none = out.get(f"{workload}/none")
        for variant in ["old", "new", "new-1fold"]:
            v = out.get(f"{workload}/{variant}")
            if not (none and v):
                continue
            extra = v["ingest_cpu_s"]["median"] - none["ingest_cpu_s"]["median"]
            maint = (extra + v["fold_cpu_s"]["median"]) * 100_000 / rows
            v["maintenance_cpu_s_per_100k"] = maint
            v["ingest_vs_none_cpu"] = (v["ingest_rows_per_cpu_s"]["median"]
                                       / none["ingest_rows_per_cpu_s"]["median"])
            v["ingest_vs_none_wall"] = (v["ingest_rows_per_s"]["median"]
                                        / none["ingest_rows_per_s"]["median"])
    return out


def report_rollup(summary):
    for key, d in summary.items():
        line = (f"   {key:<18} ingest {d['ingest_rows_per_s']['median']:>9,.0f} rows/s "
                f"({d['ingest_rows_per_s']['min']:,.0f}-{d['ingest_rows_per_s']['max']:,.0f}), "
                f"{d['ingest_rows_per_cpu_s']['median']:>9,.0f} rows/CPU-s")
        if "fold_readings_per_s" in d:
            line += (f"; fold {d['fold_readings_per_s']['median']:>9,.0f} readings/s, "
                     f"{d['fold_readings_per_cpu_s']['median']:>9,.0f} readings/CPU-s "
                     f"({d['folds']} folds)")
        if "maintenance_cpu_s_per_100k" in d:
            line += (f"; maintenance {d['maintenance_cpu_s_per_100k']:.3f} CPU-s per 100k "
                     f"readings; vs none {d['ingest_vs_none_wall']:.2f} (wall) "
                     f"{d['ingest_vs_none_cpu']:.2f} (CPU)")
        log(line)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=50)
    ap.add_argument("--park", default=None)
    ap.add_argument("--skip-seed", action="store_true", help="reuse the seeded database")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--no-rollup", action="store_true", help="skip the COPY benchmark")
    ap.add_argument("--copy-rows", type=int, default=1_000_000)
    ap.add_argument("--batch-rows", type=int, default=10_000)
    ap.add_argument("--copy-runs", type=int, default=3)
    ap.add_argument("--fold-every", type=int, default=10,
                    help="commits between folds of the pending scheme (10 x 10,000 = 1 s of "
                         "ingest at 100,000 readings/s)")
    ap.add_argument("--backlog-points", type=int, default=100,
                    help="points whose late backlog makes up the backlog load")
    args = ap.parse_args()
    t0 = time.time()
    if not args.no_build:
        build()
    summary = {}
    exists = psql(f"SELECT count(*) FROM pg_database WHERE datname = '{DB}'", db="postgres") == "1"
    if args.skip_seed and exists:
        log(f"== seed: skipped, reusing {DB}; greenmon migrate")
        subprocess.run([BIN, "migrate"], env=env(), check=True, stdout=subprocess.DEVNULL)
    else:
        summary["seed"] = seed()
    catch_up()
    q = run_queries(args.reps, args.park)
    summary["queries"] = q
    plans = explain(q["park"])
    summary["explain"] = [{"query": n, "mode": m, "ms": ms, "rows": r} for n, m, ms, r, _ in plans]
    for prefix, key, target in [("summary", "bureau_summary", 100),
                                ("report", "park_report_30d", 200)]:
        if q[key]["p95_ms"] > target:
            slowest = max((p for p in plans if p[0].startswith(prefix)), key=lambda p: p[2])
            log(f"   {key} p95 {q[key]['p95_ms']:.1f} ms is above {target} ms; "
                f"slowest query: {slowest[0]} ({slowest[1]}):")
            for line in slowest[4].splitlines():
                log("     " + line)
    if not args.no_rollup:
        summary["rollup"] = summarize_rollup(
            rollup_bench(args.copy_rows, args.batch_rows, args.copy_runs, args.fold_every,
                         args.backlog_points), args.copy_rows)
        log("   medians:")
        report_rollup(summary["rollup"])
    log(f"== total {time.time() - t0:.0f} s")
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    sys.exit(main())
