#!/usr/bin/env bash
# The broadcast benchmark to trust before optimizing (issue 13): every 60 FPS server (ours, the
# raw floor, Node `ws`, Python `websockets`) at several client counts, several rounds, unpinned
# and with server and loadgen pinned to separate cores, in one session; medians and ranges
# spliced into docs/BENCHMARKS.md between the broadcast-matrix markers.
#   bench/broadcast-matrix.sh [SECONDS] [ROUNDS] ["CLIENT COUNTS"] ["SERVERS"]
#   defaults: 10 s, 3 rounds, "500 1000 2000 2500", "raw ours node python"
# Builds what it runs (release reference-server, raw-broadcast, loadgen, raw-reader); Node `ws` and Python
# `websockets` come from .tools (scripts/check-api-docs installs them). Within a round every
# server is run at one client count before the next count, so each comparison is minutes apart
# at most. Rows land in reports/bench/matrix/rows.jsonl; each run's reports in reports/bench/.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=${1:-10}
rounds=${2:-3}
counts=${3:-500 1000 2000 2500}
servers=${4:-raw ours node python}
cargo build --release --locked -q -p reference-server -p raw-broadcast -p loadgen -p raw-reader
out=reports/bench/matrix
mkdir -p "$out"
rows="$out/rows.jsonl"
: >"$rows"
runs=""
for clients in $counts; do
    for server in $servers; do runs+=" $server:$clients"; done
done
# The generator's floor next to loadgen: the cheapest reader against ours at 2,000 clients.
case " $counts " in *" 2000 "*) case " $servers " in *" ours "*)
    runs+=" ours:2000:raw-reader ours:2000:raw-reader-stamps" ;; esac ;; esac
for round in $(seq "$rounds"); do
    for pin in 0 1; do
        echo "== round $round/$rounds, $([ $pin = 1 ] && echo "pinned (server CPU 0, loadgen CPU 1)" || echo unpinned)" >&2
        BENCH_PIN=$pin BENCH_JSONL="$rows" BENCH_RUNS="$runs" bench/broadcast-bench.sh "$seconds" >&2
    done
done
# Connections, not only frames: 10,000 clients at 6 frames/s, once, 30 s (a 10 s ramp).
echo "== 10,000 connections at 6 frames/s" >&2
BENCH_JSONL="$rows" BENCH_RUNS="ours-6fps:10000" bench/broadcast-bench.sh 30 >&2
python3 bench/broadcast_matrix.py "$rows" docs/BENCHMARKS.md \
    "bench/broadcast-matrix.sh $seconds $rounds \"$counts\" \"$servers\""
