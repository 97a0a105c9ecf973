#!/usr/bin/env python3
"""Soak the NHEM reference server: hours-long use compressed into one bounded run.

500 clients for 30 minutes by default, in three loadgen processes (churn: connect, read 2-5 s,
leave; slow consumers: a quarter pause 25 ms after every frame, fall behind and are closed,
then reconnect; steady readers), plus REST control traffic (pause/resume, config and ROI
writes, status reads) once a second. The server's RSS, open file descriptors, threads and
runtime tasks are sampled every 10 s. The verdict: after the clients leave, descriptors and
tasks are back at their idle baseline, RSS is back near it, and nothing failed (no connect
error, no non-2xx control answer, no WARN/ERROR line from the server).

A benchmark, not a test: run by `bench/soak.sh`, never in CI. Loopback only; stops by itself.
"""

import argparse
import csv
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_duration(text: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not match:
        sys.exit(f"soak: bad duration {text!r}; use e.g. 90s, 30m or 1h")
    value, unit = float(match[1]), match[2]
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def http(method: str, url: str, form: dict | None = None) -> tuple[int, str]:
    data = urllib.parse.urlencode(form).encode() if form else None
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:
        return 0, str(e)


def metric(text: str, name: str) -> float | None:
    match = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else None


class Sampler:
    """Reads the server's resources from /proc and its /metrics."""

    FIELDS = ["t_s", "rss_mib", "fds", "threads", "tasks", "ws_clients", "slow_closed", "reply_overflows"]

    def __init__(self, pid: int, http_base: str):
        self.pid, self.http_base = pid, http_base

    def sample(self, t0: float) -> dict:
        status = Path(f"/proc/{self.pid}/status").read_text()
        rss_kib = int(re.search(r"^VmRSS:\s+(\d+)", status, re.MULTILINE)[1])
        threads = int(re.search(r"^Threads:\s+(\d+)", status, re.MULTILINE)[1])
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        _, text = http("GET", f"{self.http_base}/metrics")
        return {
            "t_s": round(time.monotonic() - t0, 1),
            "rss_mib": round(rss_kib / 1024, 1),
            "fds": fds,
            "threads": threads,
            "tasks": metric(text, "nhem_runtime_alive_tasks"),
            "ws_clients": metric(text, "nhem_ws_clients"),
            "slow_closed": metric(text, "nhem_slow_client_disconnects_total"),
            "reply_overflows": metric(text, "nhem_reply_overflows_total"),
        }


def control_traffic(http_base: str, password: str, stop: threading.Event, tally: dict):
    """One REST call a second, cycling through every write route and a read."""
    calls = [
        ("POST", "/control", {"command": "pause_detection"}),
        ("GET", "/status", None),
        ("POST", "/control", {"command": "resume_detection"}),
        ("POST", "/config", {"key": "detection.threshold", "value": "9"}),
        ("POST", "/roi", {"x1": "100", "y1": "100", "x2": "180", "y2": "170"}),
        ("POST", "/config", {"key": "detection.threshold", "value": "8"}),
        ("GET", "/data/realtime?count=50", None),
    ]
    i = 0
    while not stop.wait(1.0):
        method, path, form = calls[i % len(calls)]
        i += 1
        if form is not None:
            form = {**form, "password": password}
        status, body = http(method, http_base + path, form)
        key = "ok" if 200 <= status < 300 else "failed"
        tally[key] = tally.get(key, 0) + 1
        if key == "failed":
            tally.setdefault("failures", []).append(f"{method} {path}: {status} {body[:200]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", default="30m", help="length of the load (default 30m; loadgen's limit is 1h)")
    parser.add_argument("--clients", type=int, default=500, help="clients in all (default 500)")
    parser.add_argument("--sample-every", default="10s", help="resource sampling period (default 10s)")
    parser.add_argument("--out", default="reports/soak", help="directory for soak.csv, soak.md and the loadgen reports")
    parser.add_argument("--bin", default="target/release", help="directory of reference-server and loadgen")
    args = parser.parse_args()
    duration, every = parse_duration(args.duration), parse_duration(args.sample_every)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    binaries = Path(args.bin)
    for name in ["reference-server", "loadgen"]:
        if not (binaries / name).exists():
            sys.exit(f"soak: {binaries / name} not found; build with `cargo build --release` or pass --bin")

    http_port, ws_port, password = free_port(), free_port(), "31415"
    data_dir = out / "data"
    data_dir.mkdir(exist_ok=True)
    server_log = open(out / "server.log", "w")
    server = subprocess.Popen(
        [binaries / "reference-server", "--http-port", str(http_port), "--socket-port", str(ws_port),
         "--data-dir", str(data_dir), "--log", "warn"],
        stdout=server_log, stderr=subprocess.STDOUT,
    )
    http_base, ws_url = f"http://127.0.0.1:{http_port}", f"ws://127.0.0.1:{ws_port}/"
    for _ in range(100):
        if http("GET", http_base + "/health")[0] == 200:
            break
        time.sleep(0.1)
    else:
        server.kill()
        sys.exit("soak: the server did not answer /health within 10 s")

    sampler, t0 = Sampler(server.pid, http_base), time.monotonic()
    time.sleep(3)
    baseline = sampler.sample(t0)
    samples = [baseline]
    print(f"soak: baseline {baseline}", flush=True)

    churn = args.clients // 2
    slow = args.clients * 2 // 5
    steady = args.clients - churn - slow
    groups = [("churn", churn, ["--scenario", "churn"]),
              ("slow-consumers", slow, ["--scenario", "slow-consumers", "--slow-fraction", "0.25", "--slow-delay", "25ms"]),
              ("steady", steady, ["--scenario", "broadcast"])]
    loadgens = []
    for name, clients, extra in groups:
        loadgens.append((name, subprocess.Popen(
            [binaries / "loadgen", "run", "--ws", ws_url, "--http", http_base, "--password", password,
             "--clients", str(clients), "--ramp", "100", "--duration", f"{int(duration)}s",
             "--report", str(out / name), *extra],
            stdout=subprocess.DEVNULL, stderr=open(out / f"{name}.log", "w"),
        )))

    stop, tally = threading.Event(), {}
    control = threading.Thread(target=control_traffic, args=(http_base, password, stop, tally), daemon=True)
    control.start()
    while any(p.poll() is None for _, p in loadgens):
        time.sleep(every)
        samples.append(sampler.sample(t0))
        s = samples[-1]
        print(f"soak: t={s['t_s']:.0f}s rss={s['rss_mib']} MiB fds={s['fds']} tasks={s['tasks']} clients={s['ws_clients']}", flush=True)
    stop.set()
    control.join()

    # Idle again: wait until every connection is gone, then a little for timers to end.
    for _ in range(60):
        s = sampler.sample(t0)
        if s["ws_clients"] == 0 and s["fds"] <= baseline["fds"]:
            break
        time.sleep(0.5)
    # Tokio's blocking threads (configuration saves) exit after 10 s idle.
    time.sleep(12)
    final = sampler.sample(t0)
    samples.append(final)
    server.terminate()
    server.wait(timeout=10)
    server_log.close()

    with open(out / "soak.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=Sampler.FIELDS)
        writer.writeheader()
        writer.writerows(samples)

    reports = {name: json.loads((out / name / "report.json").read_text()) for name, _ in loadgens}
    counters = {name: r["counters"] for name, r in reports.items()}
    log_problems = [line for line in (out / "server.log").read_text().splitlines() if re.search(r"\b(WARN|ERROR)\b", line)]
    peak = max(samples, key=lambda s: s["rss_mib"])
    checks = {
        "open descriptors back at baseline": final["fds"] <= baseline["fds"],
        "runtime tasks back at baseline": final["tasks"] is not None and final["tasks"] <= baseline["tasks"],
        "threads back at baseline": final["threads"] <= baseline["threads"],
        "RSS back within 2x of baseline + 16 MiB": final["rss_mib"] <= 2 * baseline["rss_mib"] + 16,
        "no connect errors": all(c["connect_errors"] == 0 for c in counters.values()),
        "no auth failures": all(c["auth_failures"] == 0 for c in counters.values()),
        "every control call answered 2xx": tally.get("failed", 0) == 0,
        "no WARN/ERROR line from the server": not log_problems,
    }
    connects = sum(c["connects"] for c in counters.values())
    per_group = ", ".join(f"{name}: {c['connects']}" for name, c in counters.items())
    lines = [
        f"# Soak: {args.clients} clients for {args.duration}",
        "",
        f"Command: `bench/soak.sh --duration {args.duration} --clients {args.clients}`; "
        f"{os.cpu_count()} cores; loopback; reference-server with default flags (`--log warn`).",
        "",
        "| | RSS MiB | open fds | threads | runtime tasks | WebSocket clients |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| idle, before | {baseline['rss_mib']} | {baseline['fds']} | {baseline['threads']} | {baseline['tasks']:.0f} | {baseline['ws_clients']:.0f} |",
        f"| peak RSS (t = {peak['t_s']:.0f} s) | {peak['rss_mib']} | {peak['fds']} | {peak['threads']} | {peak['tasks']:.0f} | {peak['ws_clients']:.0f} |",
        f"| idle, after | {final['rss_mib']} | {final['fds']} | {final['threads']} | {final['tasks']:.0f} | {final['ws_clients']:.0f} |",
        "",
        f"Connections made: {connects} ({per_group}); "
        f"reconnects {sum(c['reconnects'] for c in counters.values())}; slow clients closed by the server: "
        f"{final['slow_closed']:.0f}; reply overflows: {final['reply_overflows']:.0f}; control calls: "
        f"{tally.get('ok', 0)} ok, {tally.get('failed', 0)} failed.",
        "",
        *[f"- {'PASS' if ok else 'FAIL'}: {name}" for name, ok in checks.items()],
    ]
    if log_problems:
        lines += ["", "Server WARN/ERROR lines (first 10):", *[f"    {line}" for line in log_problems[:10]]]
    if tally.get("failures"):
        lines += ["", "Failed control calls (first 10):", *[f"    {f}" for f in tally["failures"][:10]]]
    (out / "soak.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
