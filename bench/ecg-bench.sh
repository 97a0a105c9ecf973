#!/usr/bin/env bash
# Same-run comparison of ECG stream servers under loadgen, on loopback.
#   bench/ecg-bench.sh [SECONDS]     (release builds of reference-server and loadgen)
# Servers: ours (`reference-server ecg`) and the independent Python websockets server
# (conformance/tests/peers/ecg_server.py). Each row is one bounded run at 160 ms per
# connection: one-way latency, interval jitter (|arrival interval - 160 ms|), gaps (frames
# missing by timestamp steps), connect -> first frame, server CPU per delivered frame
# (/proc/PID/stat) and the generator's own cost. `ours-stalled` adds 1% clients that stop
# reading for 5 s after every frame. Reports land in reports/bench/ecg-<server>-<clients>/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=${1:-20}
ulimit -n 65536 2>/dev/null || true
source "$repo/bench/lib.sh"

start_server() { # NAME PORT -> pid on stdout
    case $1 in
        ours | ours-stalled) target/release/reference-server ecg --port "$2" --log warn >/dev/null 2>&1 & ;;
        python) .tools/venv/bin/python conformance/tests/peers/ecg_server.py --port "$2" >/dev/null 2>&1 & ;;
    esac
    echo $!
}

echo "| server | clients | latency p50 ms | latency p99 ms | jitter p99 ms | gaps (frames lost) | first frame p99 ms | server CPU µs/frame | generator µs/msg | trustworthy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # NAME CLIENTS
    local name=$1 clients=$2 port pid before after dir extra=()
    port=$(free_port)
    pid=$(start_server "$name" "$port")
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    [[ $name == ours-stalled ]] && extra=(--scenario slow-consumers --slow-fraction 0.01 --slow-delay 5s)
    dir="reports/bench/ecg-$name-$clients"
    before=$(cpu_ticks "$pid")
    target/release/loadgen run --profile ecg --ws "ws://127.0.0.1:$port" --clients "$clients" \
        --ramp 1000 --duration "${seconds}s" "${extra[@]}" --report "$dir" >/dev/null 2>&1 || true
    after=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$dir/report.json" "$name" "$clients" "$((after - before))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); name, clients, ticks = sys.argv[2], sys.argv[3], int(sys.argv[4])
l, j, a, f, g = r["latency"], r["jitter"], r["auth"], r["frames"], r["generators"][0]
per_frame = ticks * 10_000 / max(f["received"], 1)   # 100 ticks/s -> µs
print(f"| {name} | {clients} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {j['p99_ms']:.2f} | {f['lost']} | {a['p99_ms']:.1f} | {per_frame:.2f} | {g['cpu_us_per_message']:.2f} | {'yes' if r['trustworthy'] else 'NO'} |")
PY
}

for spec in ${BENCH_RUNS:-ours:1000 python:1000 ours:2000 python:2000 ours-stalled:1000}; do
    run "${spec%%:*}" "${spec##*:}"
done
