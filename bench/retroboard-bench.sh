#!/usr/bin/env bash
# The retroboard profile under loadgen, on loopback, in one session: our server
# (`reference-server retroboard`, socketioxide) and the independent Flask-SocketIO server
# (conformance/tests/peers/retroboard_server.py, threading mode, --tcp-nodelay) in the same run.
#   bench/retroboard-bench.sh [SECONDS] [CLIENTS] [ROUNDS]
# (release builds of reference-server and loadgen; the peer from .tools/venv, as
# scripts/check-api-docs installs it)
#   - command → event fan-out: CLIENTS Socket.IO clients on the WebSocket transport, loadgen's
#     tagged REST commands (POST /api/config with _seq/_sent_us) at 20/s; latency from each
#     command's scheduled send to its current_app broadcast at each client, loss by tag (a
#     command confirmed ≥ 1 s before the end that a client never saw counts lost);
#   - reconnect storm (ours): the server is killed 10 s into the run and restarted at once on
#     the same port; `recovery` is each client's drop → holding the state again, its max the
#     storm's length (the clients back off as socket.io-client does: 1 s ±50% first).
# Server CPU from /proc/PID/stat over the run. Reports land in reports/bench/retroboard-*/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=${1:-20}
clients=${2:-1000}
rounds=${3:-2}
ulimit -n 65536 2>/dev/null || true
source "$repo/bench/lib.sh"
wait_port() { for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }

start_server() { # SERVER PORT: starts it in the background; $! is its pid
    case $1 in
        ours) target/release/reference-server retroboard --port "$2" --log warn >/dev/null 2>&1 & ;;
        flask) .tools/venv/bin/python conformance/tests/peers/retroboard_server.py --port "$2" --tcp-nodelay >/dev/null 2>&1 & ;;
    esac
}

echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(date -u +%Y-%m-%d)"
echo
echo "| server | scenario | round | clients | p50 ms | p99 ms | max ms | lost | commands answered p99 ms | reconnect: max ms | server CPU µs/event | generator µs/event | trustworthy |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
run() { # SERVER SCENARIO ROUND
    local server=$1 scenario=$2 round=$3 port pid dir ticks=0 before loadgen
    port=$(free_port)
    start_server "$server" "$port"
    pid=$!
    wait_port "$port"
    dir="reports/bench/retroboard-$server-$scenario-$clients-r$round"
    before=$(cpu_ticks "$pid")
    target/release/loadgen run --profile retroboard --ws "ws://127.0.0.1:$port" --clients "$clients" \
        --ramp 1000 --duration "${seconds}s" --report "$dir" >/dev/null 2>&1 &
    loadgen=$!
    if [[ $scenario == storm ]]; then
        sleep 10
        ticks=$(($(cpu_ticks "$pid") - before))
        kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        start_server "$server" "$port"
        pid=$!
        before=$(cpu_ticks "$pid")
    fi
    wait "$loadgen" || true
    ticks=$((ticks + $(cpu_ticks "$pid") - before))
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    python3 - "$dir/report.json" "$server" "$scenario" "$round" "$clients" "$ticks" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
server, scenario, round_, clients, ticks = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]), int(sys.argv[6])
l, f, g = r["latency"], r["frames"], r["generators"][0]
per_event = ticks * 10_000 / max(f["received"], 1)   # 100 ticks/s -> µs
storm = f"{r['recovery']['max_ms']:.0f} ({r['recovery']['count']} clients)" if (r.get("recovery") or {}).get("count") else "-"
print(f"| {server} | {scenario} | {round_} | {clients} | {l['p50_ms']:.2f} | {l['p99_ms']:.2f} | {l['max_ms']:.2f} | "
      f"{f['lost']} of {f['expected']} | {r['rtt']['p99_ms']:.2f} | {storm} | {per_event:.1f} | {g['cpu_us_per_message']:.1f} | "
      f"{'yes' if r['trustworthy'] else 'no'} |")
PY
}
for round in $(seq "$rounds"); do
    run ours fan-out "$round"
    run flask fan-out "$round"
    run ours storm "$round"
done
