#!/usr/bin/env bash
# Measures what TimescaleDB compression does to greenmon's demo data, on the PGlite test double
# (figures for docs/timescaledb.md): starts server.mjs, imports the demo registry, runs
# `greenmon serve` and `greenmon simulate --rate 0 --count N --no-energy` against it, compresses
# every chunk and prints the compression statistics.
#
# Usage: tests/timescaledb/measure-compression.sh [COUNT]   (default 20000 messages)
# Needs: npm ci --prefix tests/timescaledb; mosquitto (a broker of its own is started from
# config/mosquitto.conf, whose queue holds the whole burst); psql; a Rust toolchain.
# Storage sizes are PostgreSQL page counts and compare like for like; timings from this WASM
# build say nothing about a real server.
set -euo pipefail
cd "$(dirname "$0")/../.."
count="${1:-20000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --quiet
greenmon="$CARGO_TARGET_DIR/debug/greenmon"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

node tests/timescaledb/server.mjs --port 0 >"$work/server.out" 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 1 600); do
    grep -q 'ready port=' "$work/server.out" 2>/dev/null && break
    sleep 0.2
done
port="$(sed -n 's/.*ready port=//p' "$work/server.out")"
[ -n "$port" ] || { cat "$work/server.err" >&2; echo "server did not start" >&2; exit 1; }
echo "PGlite + TimescaleDB on 127.0.0.1:$port"

# A broker of our own from the shipped configuration, on a free port: the default Mosquitto
# configuration queues only 1000 messages per client and would drop most of the burst.
mqtt_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
sed -e "s|^listener .*|listener $mqtt_port 127.0.0.1|" \
    -e "s|^persistence_location .*|persistence_location $work/|" \
    config/mosquitto.conf >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >/dev/null 2>&1 &
pids+=($!)
sleep 1

export GREENMON__MQTT__PORT="$mqtt_port"
export GREENMON__DATABASE__PORT="$port" GREENMON__DATABASE__MAX_CONNECTIONS=2 GREENMON__INGEST__PARALLEL_COMMITS=1
export GREENMON__MQTT__TOPIC_PREFIX="measure/$$" GREENMON__MQTT__CLIENT_ID="greenmon-measure-$$"
export GREENMON__HTTP__LISTEN=127.0.0.1:0 RUST_LOG=warn
psql_() { PGPASSWORD=x psql -h 127.0.0.1 -p "$port" -U postgres -d greenmon -X -q "$@"; }

"$greenmon" migrate
"$greenmon" registry import config/demo-registry.toml
"$greenmon" serve &
pids+=($!)
sleep 3
"$greenmon" simulate --rate 0 --count "$count" --no-energy --seed 1

# Wait until ingest has caught up (the row count stops moving).
last=-1
while :; do
    sleep 3
    n="$(psql_ -At -c 'SELECT count(*) FROM readings')"
    [ "$n" = "$last" ] && break
    last="$n"
done
echo "readings stored: $n"

psql_ -c "SELECT count(*) AS readings, min(time), max(time) FROM readings" \
    -c "SELECT count(compress_chunk(c)) AS compressed FROM show_chunks('readings') c" \
    -c "SELECT number_compressed_chunks AS chunks,
               pg_size_pretty(before_compression_total_bytes) AS before,
               pg_size_pretty(after_compression_total_bytes) AS after,
               round(before_compression_total_bytes::numeric
                     / after_compression_total_bytes, 1) AS ratio,
               round(before_compression_total_bytes::numeric / $n, 1) AS bytes_per_row_before,
               round(after_compression_total_bytes::numeric / $n, 1) AS bytes_per_row_after
        FROM hypertable_compression_stats('readings')" \
    -c "SELECT chunk_name, before_compression_table_bytes AS table_before,
               before_compression_index_bytes AS index_before,
               after_compression_table_bytes + after_compression_toast_bytes AS data_after,
               after_compression_index_bytes AS index_after
        FROM chunk_compression_stats('readings') ORDER BY chunk_name"
