#!/usr/bin/env bash
# The handler profile under loadgen, on loopback, in one session, against our server and the
# independent Node `ws` server (conformance/tests/peers/handler_server.mjs) in the same run.
#   bench/handler-bench.sh [SECONDS] [SUBSCRIBERS] [RPC_CLIENTS] [RPC_RATE]
# (release builds of reference-server and loadgen; Node ws from .tools/node)
#   - pub/sub fan-out: SUBSCRIBERS clients on one topic, loadgen's publisher every 50 ms
#     (20 publishes/s → 20 × SUBSCRIBERS deliveries/s); latency from each publish's scheduled
#     send to its arrival at each subscriber, loss by sequence number, publish_response RTT;
#   - RPC round trip: RPC_CLIENTS clients each calling echo/calculateAverage open-loop at
#     RPC_RATE/s; latency from each call's scheduled time (coordinated omission corrected);
#   - data ingest at the same open-loop rate: data_response latency and the insertId check.
# Server CPU from /proc/PID/stat over the run. Reports land in reports/bench/handler-*/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=${1:-20}
subscribers=${2:-1000}
rpc_clients=${3:-100}
rpc_rate=${4:-50}
ulimit -n 65536 2>/dev/null || true
source "$repo/bench/lib.sh"

echo "| server | scenario | clients | offered msg/s | p50 ms | p99 ms | p99.9 ms | max ms | lost | timeouts | publish_response p99 ms | server CPU µs/msg | insertId check | generator µs/msg | trustworthy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # SERVER SCENARIO CLIENTS [RATE or, for streams, INTERVAL_MS]
    local server=$1 scenario=$2 clients=$3 param=${4:-} port pid before after dir rate=$rpc_rate interval=50
    if [[ -n $param && $scenario == streams ]]; then interval=$param; elif [[ -n $param ]]; then rate=$param; fi
    port=$(free_port)
    case $server in
        ours) target/release/reference-server handler --port "$port" --max-connections $((clients + 100)) --log warn >/dev/null 2>&1 & ;;
        node) node conformance/tests/peers/handler_server.mjs --port "$port" --max-connections $((clients + 100)) >/dev/null 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
    dir="reports/bench/handler-$server-$scenario-$clients${param:+-$param}"
    before=$(cpu_ticks "$pid")
    target/release/loadgen run --profile handler --ws "ws://127.0.0.1:$port/" --clients "$clients" \
        --scenario "$scenario" --interval "${interval}ms" --rate "$rate" --ramp 1000 \
        --duration "${seconds}s" --report "$dir" >/dev/null 2>&1 || true
    after=$(cpu_ticks "$pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$dir/report.json" "$server" "$scenario" "$clients" "$((after - before))" "$rate" "$interval" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); server, scenario, clients, ticks, rate, interval = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
l, f, c, g = r["latency"], r["frames"], r["counters"], r["generators"][0]
per_msg = ticks * 10_000 / max(f["received"], 1)   # 100 ticks/s -> µs
offered = clients * 1000 / interval if scenario in ("broadcast", "streams") else clients * rate
rtt = f"{r['rtt']['p99_ms']:.2f}" if scenario == "broadcast" else "-"
ing = r.get("ingest")
check = "-" if not ing else f"{ing['distinct']} distinct, {ing['duplicates']} duplicates, {ing['gaps']} gaps"
name = {"broadcast": "pub/sub fan-out", "streams": f"streams every {interval:g} ms"}.get(scenario, f"{scenario} at {rate:g}/s per client")
print(f"| {server} | {name} | {clients} | {offered:.0f} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['p999_ms']:.2f} | {l['max_ms']:.2f} | {f['lost']} | {c.get('timeouts', 0)} | {rtt} | {per_msg:.2f} | {check} | {g['cpu_us_per_message']:.2f} | {'yes' if r['trustworthy'] else 'NO'} |")
PY
}

# BENCH_ROWS="ours:broadcast node:rpc ours:ingest:400 ours:streams:16 …" picks rows
# (SERVER:SCENARIO[:RATE or streams INTERVAL_MS]; default: every scenario on both servers).
for row in ${BENCH_ROWS:-ours:broadcast ours:rpc ours:ingest node:broadcast node:rpc node:ingest}; do
    IFS=: read -r server scenario param <<<"$row"
    clients=$rpc_clients
    [[ $scenario == broadcast || $scenario == streams ]] && clients=$subscribers
    run "$server" "$scenario" "$clients" "$param"
done
