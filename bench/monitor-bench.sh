#!/usr/bin/env bash
# The monitor profile under loadgen, on loopback, in one session.
#   bench/monitor-bench.sh [SECONDS] [CLIENTS]     (release builds of reference-server and loadgen)
# One `reference-server monitor` per row (a 20 s alert cycle, so a critical CPU alert falls in
# the window even at 1 s sampling,
# --max-connections raised above the clients), loadgen `--profile monitor --ping-every 1s`:
#   - the performance fan-out at the seed's 1 s interval and at a 16 ms stress interval;
#   - the same with half the clients holding an alert filter (`--scenario filtered`): the
#     filter check (every client's admitted set equal, no mismatch) and the server CPU per
#     delivered performance frame against the unfiltered row;
#   - ping -> pong round trips under that load, and connect + subscribe time.
# Server CPU from /proc/PID/stat over the run. Reports land in reports/bench/monitor-*/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=${1:-20}
clients=${2:-1000}
ulimit -n 65536 2>/dev/null || true
source "$repo/bench/lib.sh"

echo "| interval | scenario | clients | latency p50 ms | latency p99 ms | lost | rtt p50 ms | rtt p99 ms | session start p99 ms | server CPU µs/frame | filter check | generator µs/msg | trustworthy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # INTERVAL_MS SCENARIO
    local interval=$1 scenario=$2 port pid before after dir
    port=$(free_port)
    target/release/reference-server monitor --port "$port" --performance-interval-ms "$interval" \
        --cycle-s 20 --max-connections $((clients + 100)) --log warn >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    dir="reports/bench/monitor-${interval}ms-$scenario-$clients"
    before=$(cpu_ticks "$pid")
    target/release/loadgen run --profile monitor --ws "ws://127.0.0.1:$port" --clients "$clients" \
        --interval "${interval}ms" --scenario "$scenario" --ping-every 1s --ramp 1000 \
        --duration "${seconds}s" --report "$dir" >/dev/null 2>&1 || true
    after=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$dir/report.json" "$interval" "$scenario" "$clients" "$((after - before))" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); interval, scenario, clients, ticks = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
l, t, a, f, g = r["latency"], r["rtt"], r["auth"], r["frames"], r["generators"][0]
per_frame = ticks * 10_000 / max(f["received"], 1)   # 100 ticks/s -> µs
check = r.get("filter")
filt = "-" if not check else (f"{'exact' if check['exact'] else 'NOT exact'}: {check['admitted_min']}–{check['admitted_max']} per client, "
                              f"{r['counters'].get('filter_mismatches', 0)} mismatches")
print(f"| {interval} ms | {scenario} | {clients} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {f['lost']} | {t['p50_ms']:.2f} | {t['p99_ms']:.2f} | {a['p99_ms']:.1f} | {per_frame:.2f} | {filt} | {g['cpu_us_per_message']:.2f} | {'yes' if r['trustworthy'] else 'NO'} |")
PY
}

for spec in ${BENCH_RUNS:-1000:broadcast 1000:filtered 16:broadcast 16:filtered}; do
    run "${spec%%:*}" "${spec##*:}"
done
