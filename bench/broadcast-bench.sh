#!/usr/bin/env bash
# Same-run comparison of 60 FPS broadcast servers under loadgen, on loopback.
#   bench/broadcast-bench.sh [SECONDS]      (release builds of reference-server, raw-broadcast, loadgen, raw-reader)
# For each server and client count: one bounded loadgen run; prints a Markdown table row with
# latency percentiles, loss, server CPU per delivered frame (from /proc/PID/stat) and the
# generator's own cost. Reports land in reports/bench/<server>-<clients>/.
# `ours-tls` is our server with --tls-cert/--tls-key (a throwaway openssl certificate) measured
# over wss://: set BENCH_RUNS="ours:1000 ours-tls:1000" for TLS's cost per frame. (CA:FALSE:
# webpki refuses a CA certificate used as the server's own.)
# BENCH_PIN=1 pins the server to CPU 0 and loadgen to CPU 1 (taskset); BENCH_JSONL=FILE appends
# one JSON object per run (every figure of the row, plus pinning and the server's RSS at the
# end) for bench/broadcast-matrix.sh to summarise.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=${1:-10}
ulimit -n 65536 2>/dev/null || true
source "$repo/bench/lib.sh"

tls_dir=$(mktemp -d)
trap 'rm -rf "$tls_dir"' EXIT
tls_ready() {
    [ -s "$tls_dir/cert.pem" ] || openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$tls_dir/key.pem" -out "$tls_dir/cert.pem" -days 1 -subj /CN=localhost \
        -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -addext basicConstraints=critical,CA:FALSE >/dev/null 2>&1
}

# With BENCH_PIN=1 the server runs on CPU 0 and loadgen on CPU 1.
server_cpu=()
loadgen_cpu=()
if [ "${BENCH_PIN:-0}" = 1 ]; then server_cpu=(taskset -c 0); loadgen_cpu=(taskset -c 1); fi

start_server() { # NAME PORT -> pid on stdout
    local name=$1 port=$2 data
    case $name in
        ours) data=$(mktemp -d); "${server_cpu[@]}" target/release/reference-server --http-port 0 --socket-port "$port" --data-dir "$data" --log warn >/dev/null 2>&1 & ;;
        # Issue 13's connection test: 10,000 clients at 6 frames/s, the same 60k frames/s.
        ours-6fps) data=$(mktemp -d); "${server_cpu[@]}" target/release/reference-server --http-port 0 --socket-port "$port" --data-dir "$data" --log warn \
            --fps 6 --max-connections 11000 >/dev/null 2>&1 & ;;
        # Ours without keepalive pings (the raw floor sends none): what the pings cost.
        ours-noping) data=$(mktemp -d); "${server_cpu[@]}" target/release/reference-server --http-port 0 --socket-port "$port" --data-dir "$data" --log warn \
            --ws-ping-interval-ms 0 >/dev/null 2>&1 & ;;
        ours-tls) data=$(mktemp -d); "${server_cpu[@]}" target/release/reference-server --http-port 0 --socket-port "$port" --data-dir "$data" --log warn \
            --tls-cert "$tls_dir/cert.pem" --tls-key "$tls_dir/key.pem" >/dev/null 2>&1 & ;;
        raw) "${server_cpu[@]}" target/release/raw-broadcast "$port" 60 >/dev/null 2>&1 & ;;
        node) "${server_cpu[@]}" node bench/peer-node.mjs --port "$port" >/dev/null 2>&1 & ;;
        python) "${server_cpu[@]}" .tools/venv/bin/python bench/peer-python.py --port "$port" >/dev/null 2>&1 & ;;
    esac
    echo $!
}

echo "| server | clients | p50 ms | p99 ms | p99.9 ms | loss % | server CPU µs/frame | generator µs/msg | generator trustworthy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # NAME CLIENTS
    local name=$1 clients=$2 port pid before after dir url=ws tls=()
    if [ "$name" = ours-tls ]; then tls_ready; url=wss; tls=(--ca-cert "$tls_dir/cert.pem"); fi
    port=$(free_port)
    pid=$(start_server "$name" "$port")
    wait_listening "$port"
    dir="reports/bench/$name-$clients"
    before=$(cpu_ticks "$pid")
    "${loadgen_cpu[@]}" target/release/loadgen run "${tls[@]}" --ws "$url://127.0.0.1:$port/" --clients "$clients" --ramp 1000 --duration "${seconds}s" --report "$dir" >/dev/null 2>&1 || true
    after=$(cpu_ticks "$pid")
    rss_kib=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    stop_server "$pid"
    python3 - "$dir/report.json" "$name" "$clients" "$((after - before))" "${rss_kib:-0}" "${BENCH_PIN:-0}" "${BENCH_JSONL:-}" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); name, clients, ticks = sys.argv[2], sys.argv[3], int(sys.argv[4])
rss_kib, pinned, jsonl = int(sys.argv[5]), sys.argv[6] == "1", sys.argv[7]
l, f, g = r["latency"], r["frames"], r["generators"][0]
per_frame = ticks * 10_000 / max(f["received"], 1)   # 100 ticks/s -> µs
print(f"| {name} | {clients} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['p999_ms']:.2f} | {f['loss_percent']:.3f} | {per_frame:.2f} | {g['cpu_us_per_message']:.2f} | {'yes' if r['trustworthy'] else 'NO'} |")
if jsonl:
    with open(jsonl, "a") as out:
        out.write(json.dumps({
            "server": name, "clients": int(clients), "pinned": pinned,
            "p50_ms": l["p50_ms"], "p99_ms": l["p99_ms"], "p999_ms": l["p999_ms"],
            "loss_percent": f["loss_percent"], "fps_per_client": f["delivered_fps_per_client"],
            "server_us_per_frame": per_frame, "server_rss_kib": rss_kib,
            "generator_us_per_msg": g["cpu_us_per_message"], "generator_lag_p99_ms": g["loop_lag_p99_ms"],
            "generator_us_per_msg_steady": g.get("cpu_us_per_message_steady"),
            "generator_kib_per_client": g["rss_kib_per_client"], "trustworthy": r["trustworthy"],
            "generator_read_lag_p99_ms": g.get("read_lag_p99_ms"), "received": f["received"],
            "connects": r["counters"]["connects"], "connect_errors": r["counters"]["connect_errors"],
        }) + "\n")
PY
}

# The generator's floor (issue 13): bench/raw-reader, the cheapest reader there is, in loadgen's
# place against the same server; its CPU per frame is over a window after every client is up.
# GENERATOR is raw-reader (plain reads) or raw-reader-stamps (recvmsg with SO_TIMESTAMPNS, as
# loadgen reads).
run_floor() { # NAME CLIENTS GENERATOR
    local name=$1 clients=$2 generator=$3 port pid dir stamps=()
    [ "$generator" = raw-reader-stamps ] && stamps=(--stamps)
    port=$(free_port)
    pid=$(start_server "$name" "$port")
    wait_listening "$port"
    dir="reports/bench/$name-$clients-$generator"
    mkdir -p "$dir"
    "${loadgen_cpu[@]}" target/release/raw-reader --ws "ws://127.0.0.1:$port/" --clients "$clients" --seconds "$seconds" "${stamps[@]}" \
        >"$dir/raw-reader.json" 2>"$dir/raw-reader.err" || true
    stop_server "$pid"
    python3 - "$dir/raw-reader.json" "$name" "$clients" "$generator" "${BENCH_PIN:-0}" "${BENCH_JSONL:-}" <<'PY'
import json, sys
path, name, clients, generator, pinned, jsonl = sys.argv[1:]
try:
    r = json.load(open(path))
except (OSError, ValueError):
    print(f"| {name} ({generator}) | {clients} | failed: see {path.rsplit('/', 1)[0]}/raw-reader.err |")
    sys.exit(0)
print(f"| {name} ({generator}) | {clients} | – | – | – | – | – | {r['cpu_us_per_frame']:.2f} | – |")
if jsonl:
    with open(jsonl, "a") as out:
        out.write(json.dumps({
            "server": name, "clients": int(clients), "pinned": pinned == "1", "generator": generator,
            "generator_us_per_msg": r["cpu_us_per_frame"], "fps_per_client": r["fps_per_client"],
            "generator_kib_per_client": r["rss_kib_per_client"], "closed_by_server": r["closed_by_server"],
        }) + "\n")
PY
}

# A spec is SERVER:CLIENTS, or SERVER:CLIENTS:GENERATOR for the generator's floor.
for spec in ${BENCH_RUNS:-raw:1000 ours:1000 node:1000 python:1000 raw:2000 ours:2000 node:2000 python:2000 ours:500 ours:1500 ours:2500}; do
    IFS=: read -r name clients generator <<<"$spec"
    if [ -n "$generator" ]; then run_floor "$name" "$clients" "$generator"; else run "$name" "$clients"; fi
done
