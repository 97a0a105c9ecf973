#!/usr/bin/env bash
# Soak benchmark (not run in CI): builds release binaries, then runs bench/soak.py, which
# starts the NHEM reference server on loopback and holds 500 clients with churn, slow readers
# and REST control traffic for 30 minutes (pass e.g. --duration 2m for a quick look).
# Results: reports/soak/soak.md and soak.csv; exit 1 if a check failed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cargo build --release -q -p reference-server -p loadgen
exec python3 bench/soak.py "$@"
