#!/usr/bin/env bash
# Two builds measured at the same moment, so that the VM's drift (it moved the floor's CPU per
# frame by a third between runs hours apart) falls on both alike.
#   bench/ab.sh servers    A B [CLIENTS_EACH] [ROUNDS] [SECONDS]   two reference-server binaries
#   bench/ab.sh generators A B [CLIENTS_EACH] [ROUNDS] [SECONDS]   two loadgen binaries
# servers: A and B run side by side, each under its own release loadgen (target/release) with
# CLIENTS_EACH clients; the figure is server CPU per delivered frame (from /proc, connects
# included) and the run's p99. generators: A and B each run CLIENTS_EACH clients against one
# release reference-server; the figure is CPU per message once every client is up
# (`cpu_us_per_message_steady`). Defaults: 1,000 clients each, 3 rounds, 10 s. Each round
# prints both rows; the last line counts the rounds where B was cheaper. Build the binaries
# first, and copy A aside before building B (e.g. cp target/release/reference-server /tmp/a).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
source bench/lib.sh
usage() { sed -n 2,12p "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 3 ] || usage
mode=$1 a=$2 b=$3 each=${4:-1000} rounds=${5:-3} seconds=${6:-10}
case $mode in servers | generators) ;; *) echo "ab.sh: unknown mode '$mode' (servers or generators)" >&2; usage ;; esac
for bin in "$a" "$b"; do
    [ -x "$bin" ] || { echo "ab.sh: $bin is not an executable file; build it first" >&2; exit 2; }
done
[ "$(readlink -f "$a")" != "$(readlink -f "$b")" ] || { echo "ab.sh: A and B are the same file" >&2; exit 2; }
ulimit -n 65536 2>/dev/null || true
out=reports/bench/ab
mkdir -p "$out"

start_server() { # BINARY PORT -> pid
    "$1" --http-port 0 --socket-port "$2" --data-dir "$(mktemp -d)" --log warn >/dev/null 2>&1 &
    echo $!
}
loadgen() { # BINARY PORT REPORT_DIR
    "$1" run --ws "ws://127.0.0.1:$2/" --clients "$each" --ramp 1000 --duration "${seconds}s" --report "$3" >/dev/null 2>&1 || true
}
row() { # LABEL REPORT_DIR SERVER_CPU_TICKS ("" for generators)
    python3 - "$@" <<'PY'
import json, sys
label, rep, ticks = sys.argv[1], sys.argv[2], sys.argv[3]
try:
    d = json.load(open(f"{rep}/report.json"))
except (OSError, ValueError):
    print(f"{label}\tfailed: no report in {rep}")
    sys.exit()
n, lat, gen = d["counters"]["received"], d["latency"], d["generators"][0]
figure = (int(ticks) / 100 * 1e6 / n) if ticks else gen["cpu_us_per_message_steady"]
what = "server µs/frame" if ticks else "generator µs/msg (steady)"
print(f"{label}\t{figure:.2f}\t{what}\tp99 {lat['p99_ms']:.2f} ms\tlost {d['counters']['lost']}\ttrustworthy {d['trustworthy']}")
PY
}

wins=0
for round in $(seq "$rounds"); do
    rows=()
    if [ "$mode" = servers ]; then
        pa=$(free_port); pb=$(free_port)
        sa=$(start_server "$a" "$pa"); sb=$(start_server "$b" "$pb")
        wait_listening "$pa"; wait_listening "$pb"
        ta=$(cpu_ticks "$sa"); tb=$(cpu_ticks "$sb")
        loadgen target/release/loadgen "$pa" "$out/a-$round" &
        loadgen target/release/loadgen "$pb" "$out/b-$round" &
        wait
        ta=$(($(cpu_ticks "$sa") - ta)); tb=$(($(cpu_ticks "$sb") - tb))
        stop_server "$sa"; stop_server "$sb"
    else
        port=$(free_port)
        server=$(start_server target/release/reference-server "$port")
        wait_listening "$port"
        loadgen "$a" "$port" "$out/a-$round" &
        loadgen "$b" "$port" "$out/b-$round" &
        wait
        stop_server "$server"
        ta="" tb=""
    fi
    ra=$(row "round $round A" "$out/a-$round" "$ta"); rb=$(row "round $round B" "$out/b-$round" "$tb")
    printf '%s\n%s\n' "$ra" "$rb"
    fa=$(cut -f2 <<<"$ra"); fb=$(cut -f2 <<<"$rb")
    if python3 -c "import sys; sys.exit(0 if float('$fb') < float('$fa') else 1)" 2>/dev/null; then wins=$((wins + 1)); fi
done
echo "B cheaper than A in $wins of $rounds rounds (A: $a, B: $b)"
