#!/usr/bin/env python3
"""A third-party client for the `retroboard` profile (PROFILES.md section 4), written from the
RetroBoard seed's "Python Client" (`socketio.Client()`, `request_state` on connect): the
official python-socketio client (Socket.IO v5 over Engine.IO v4, path /socket.io/, namespace
"/") and REST commands over urllib. Run by scripts/interop to prove interop beyond our own
Rust client. Pins: retroboard_requirements.txt next to this file.

    retroboard_client.py BASE_URL [--transport websocket|polling|both]
    retroboard_client.py http://127.0.0.1:5000 --transport both

For each transport (`both`, the default, is websocket then polling; `polling` stays on
long-polling, transports=['polling'], and never upgrades), on a fresh client:

1. Connects with that transport only and, from the connect handler, emits `request_state`
   as the seed does. Every one of `apps_list`, `current_app`, `settings` and
   `carousel_config` must then arrive twice within 5 s: once as the state the server sends on
   connect, once as the answer to `request_state`. Each payload must have the decided
   shape: apps_list.apps a list of strings that contains apps_list.current; current_app.app a
   string and config an object (or null); settings.brightness an int 0..100;
   carousel_config.enabled a bool, .apps a list of {app: str, duration: int >= 1},
   .current_index an int >= 0. The transport in use must be the one asked for.
2. POST /api/settings {"brightness": X}, X unlike the current brightness: 200 with
   {"success": true}, and a `settings` event with brightness X within 5 s.
3. POST /api/switch {"app": A}, A an app from apps_list other than the current one (the
   current one if it is the only app): 200 with {"success": true}, and a `current_app` event
   with app A within 5 s.
4. Disconnects (over WebSocket, python-socketio's disconnect can take ~3 s).

python-socketio runs each incoming event's handler in a thread of its own, so handlers may
run out of wire order: they only put what they got on a queue, and no check depends on the
order of different events. The server's state is changed (brightness, current app), so run
one such client at a time per server.

Prints one summary line per transport. Exit status: 0 if every check passes, 1 if a check
fails (what was expected and what arrived, on stderr), 2 for a usage error or when nothing
listens at BASE_URL. Every wait is bounded, and a watchdog ends the run if it ever hangs.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import queue
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

try:
    import socketio
    import socketio.exceptions
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"retroboard_client: cannot import {e.name}; pip install -r "
                     "reference-server/tests/interop/retroboard_requirements.txt\n")
    sys.exit(2)

try:
    SIO_VERSION = importlib.metadata.version("python-socketio")
except importlib.metadata.PackageNotFoundError:  # pragma: no cover
    SIO_VERSION = "?"
STATE_EVENTS = ("apps_list", "current_app", "settings", "carousel_config")
CONNECT_TIMEOUT_S = 5.0
STATE_TIMEOUT_S = 5.0
EVENT_TIMEOUT_S = 5.0
HTTP_TIMEOUT_S = 5.0
DISCONNECT_TIMEOUT_S = 6.0
WATCHDOG_PER_TRANSPORT_S = 40.0


class CheckFailed(Exception):
    pass


class Unreachable(Exception):
    pass


def short(value, limit: int = 300) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[:limit] + "..."


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def shape_error(event: str, data) -> str | None:
    """What is wrong with one state event's payload, or None."""
    if not isinstance(data, dict):
        return f"payload is not an object: {short(data)}"
    if event == "apps_list":
        apps, current = data.get("apps"), data.get("current")
        if not isinstance(apps, list) or not all(isinstance(a, str) for a in apps) or not apps:
            return f"`apps` is not a non-empty list of strings: {short(data)}"
        if not isinstance(current, str) or current not in apps:
            return f"`current` is not one of `apps`: {short(data)}"
    elif event == "current_app":
        if not isinstance(data.get("app"), str):
            return f"`app` is not a string: {short(data)}"
        if "config" in data and data["config"] is not None and not isinstance(data["config"], dict):
            return f"`config` is not an object: {short(data)}"
    elif event == "settings":
        b = data.get("brightness")
        if not is_int(b) or not 0 <= b <= 100:
            return f"`brightness` is not an int 0..100: {short(data)}"
    elif event == "carousel_config":
        if not isinstance(data.get("enabled"), bool):
            return f"`enabled` is not a bool: {short(data)}"
        apps = data.get("apps")
        if not isinstance(apps, list):
            return f"`apps` is not a list: {short(data)}"
        for i, entry in enumerate(apps):
            if (not isinstance(entry, dict) or not isinstance(entry.get("app"), str)
                    or not is_int(entry.get("duration")) or entry["duration"] < 1):
                return f"`apps[{i}]` is not {{app: str, duration: int >= 1}}: {short(data)}"
        ci = data.get("current_index")
        if not is_int(ci) or ci < 0:
            return f"`current_index` is not an int >= 0: {short(data)}"
    return None


def post(base: str, path: str, body: dict) -> dict:
    """POST a JSON body; the answer must be 200 with {"success": true}."""
    url = base + path
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT_S) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        raw = e.read()[:300]
        raise CheckFailed(f"POST {path} {short(body)}: HTTP {e.code} {raw!r}, "
                          f"expected 200 {{\"success\": true, ...}}") from e
    except (OSError, urllib.error.URLError) as e:
        raise CheckFailed(f"POST {path} {short(body)}: {type(e).__name__}: {e}") from e
    try:
        answer = json.loads(raw)
    except ValueError as e:
        raise CheckFailed(f"POST {path}: answer is not JSON: {raw[:300]!r}") from e
    if status != 200 or not isinstance(answer, dict) or answer.get("success") is not True:
        raise CheckFailed(f"POST {path} {short(body)}: HTTP {status} {short(answer)}, "
                          f"expected 200 {{\"success\": true, ...}}")
    return answer


class Run:
    """One python-socketio client on one transport."""

    def __init__(self, base: str, transport: str) -> None:
        self.base = base
        self.transport = transport
        self.inbox: queue.Queue = queue.Queue()  # (event, payload), in handler order
        self.seen: list[tuple[str, object]] = []  # everything taken from the inbox so far
        self.connected = threading.Event()
        self.sio = socketio.Client(reconnection=False, request_timeout=HTTP_TIMEOUT_S)

        def recorder(name):
            def handler(*args):
                self.inbox.put((name, args[0] if args else None))
            return handler

        for name in STATE_EVENTS:
            self.sio.on(name, recorder(name))

        @self.sio.on("*")
        def other(event, *args):
            self.inbox.put((event, args[0] if args else None))

        @self.sio.event
        def connect():
            self.connected.set()
            self.sio.emit("request_state")  # the seed's on_connect

        @self.sio.event
        def disconnect(*reason):
            self.inbox.put(("(disconnect)", str(reason[0]) if reason else None))

    def seen_text(self) -> str:
        if not self.seen:
            return "nothing"
        return "; ".join(f"{e} {short(d, 160)}" for e, d in self.seen[-12:])

    def take(self, deadline: float):
        """The next event, or None at the deadline."""
        try:
            item = self.inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None
        self.seen.append(item)
        if item[0] == "(disconnect)":
            raise CheckFailed(f"[{self.transport}] the connection dropped ({item[1]}); "
                              f"events so far: {self.seen_text()}")
        return item

    def connect(self) -> None:
        try:
            self.sio.connect(self.base, transports=[self.transport], wait_timeout=CONNECT_TIMEOUT_S)
        except socketio.exceptions.ConnectionError as e:
            raise CheckFailed(f"[{self.transport}] connect failed: {e}") from e
        if not self.connected.wait(CONNECT_TIMEOUT_S):
            raise CheckFailed(f"[{self.transport}] no connect event within {CONNECT_TIMEOUT_S:g} s")
        if self.sio.transport() != self.transport:
            raise CheckFailed(f"[{self.transport}] the client is on {self.sio.transport()}, "
                              f"expected {self.transport}")

    def state(self) -> dict:
        """Both copies of the four state events (on connect, and for request_state)."""
        counts = {name: 0 for name in STATE_EVENTS}
        last: dict[str, object] = {}
        start = time.monotonic()
        deadline = start + STATE_TIMEOUT_S
        while min(counts.values()) < 2:
            item = self.take(deadline)
            if item is None:
                missing = ", ".join(f"{n} {counts[n]}/2" for n in STATE_EVENTS if counts[n] < 2)
                raise CheckFailed(
                    f"[{self.transport}] expected apps_list, current_app, settings and "
                    f"carousel_config twice each (on connect and for request_state) within "
                    f"{STATE_TIMEOUT_S:g} s; short: {missing}; arrived: {self.seen_text()}")
            event, data = item
            if event in counts:
                problem = shape_error(event, data)
                if problem:
                    raise CheckFailed(f"[{self.transport}] {event}: {problem}")
                counts[event] += 1
                last[event] = data
        self.state_ms = (time.monotonic() - start) * 1000
        return last

    def expect(self, event: str, key: str, value, what: str, start: float) -> float:
        """Wait for `event` whose payload[key] == value, up to EVENT_TIMEOUT_S after `start`
        (when the POST was sent); returns the time from `start` to its arrival in ms."""
        deadline = start + EVENT_TIMEOUT_S
        mark = len(self.seen)
        while True:
            item = self.take(deadline)
            if item is None:
                got = "; ".join(f"{e} {short(d, 160)}" for e, d in self.seen[mark:]) or "nothing"
                raise CheckFailed(f"[{self.transport}] after {what}: expected `{event}` with "
                                  f"{key} {json.dumps(value)} within {EVENT_TIMEOUT_S:g} s; "
                                  f"arrived: {got}")
            got_event, data = item
            if got_event in STATE_EVENTS:
                problem = shape_error(got_event, data)
                if problem:
                    raise CheckFailed(f"[{self.transport}] after {what}: {got_event}: {problem}")
            if got_event == event and isinstance(data, dict) and data.get(key) == value:
                return (time.monotonic() - start) * 1000

    def close(self) -> float:
        start = time.monotonic()
        t = threading.Thread(target=self._disconnect, daemon=True)
        t.start()
        t.join(DISCONNECT_TIMEOUT_S)
        if t.is_alive():
            raise CheckFailed(f"[{self.transport}] disconnect did not finish within "
                              f"{DISCONNECT_TIMEOUT_S:g} s")
        return time.monotonic() - start

    def _disconnect(self) -> None:
        try:
            self.sio.disconnect()
        except Exception:  # noqa: BLE001 (reported by the join timeout, if it matters)
            pass

    def run(self) -> str:
        t0 = time.monotonic()
        self.connect()
        try:
            state = self.state()
            apps = state["apps_list"]["apps"]
            current_app = state["current_app"]["app"]
            old = state["settings"]["brightness"]
            x = 42 if old != 42 else 58
            sent = time.monotonic()
            post(self.base, "/api/settings", {"brightness": x})
            settings_ms = self.expect("settings", "brightness", x,
                                      f"POST /api/settings brightness {x}", sent)
            others = [a for a in apps if a != current_app]
            target = others[0] if others else current_app
            sent = time.monotonic()
            post(self.base, "/api/switch", {"app": target})
            switch_ms = self.expect("current_app", "app", target,
                                    f"POST /api/switch app {target!r}", sent)
        except BaseException:
            self._disconnect_quietly()
            raise
        close_s = self.close()
        total = time.monotonic() - t0
        return (f"python-socketio {SIO_VERSION} retroboard client [{self.transport}]: "
                f"state x2 {self.state_ms:.0f} ms after connect() returned ({len(apps)} apps, current {current_app}); "
                f"settings {old} -> {x}, event {settings_ms:.0f} ms after the POST; "
                f"switch -> {target}, event {switch_ms:.0f} ms after the POST; "
                f"disconnect {close_s:.1f} s; total {total:.1f} s")

    def _disconnect_quietly(self) -> None:
        """After a failure: disconnect without waiting long (the failure is what matters)."""
        t = threading.Thread(target=self._disconnect, daemon=True)
        t.start()
        t.join(1.0)


def reachable(base: str) -> None:
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=HTTP_TIMEOUT_S).close()
    except OSError as e:
        raise Unreachable(f"nothing listens at {parts.hostname}:{port} ({e})") from e


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="retroboard_client.py",
                                     description="python-socketio interop client for retroboard")
    parser.add_argument("base_url", help="http://HOST:PORT")
    parser.add_argument("--transport", choices=("websocket", "polling", "both"), default="both")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    base = args.base_url.rstrip("/")
    if not base.startswith(("http://", "https://")) or not urlsplit(base).hostname:
        print("retroboard_client: BASE_URL is http://HOST:PORT or https://HOST:PORT", file=sys.stderr)
        return 2
    transports = ["websocket", "polling"] if args.transport == "both" else [args.transport]

    def watchdog() -> None:
        sys.stderr.write(f"retroboard_client: FAILED: still running after "
                         f"{WATCHDOG_PER_TRANSPORT_S * len(transports):g} s\n")
        sys.stderr.flush()
        os._exit(1)
    timer = threading.Timer(WATCHDOG_PER_TRANSPORT_S * len(transports), watchdog)
    timer.daemon = True
    timer.start()

    try:
        reachable(base)
        for transport in transports:
            print(Run(base, transport).run(), flush=True)
    except Unreachable as e:
        print(f"retroboard_client: {e}", file=sys.stderr)
        return 2
    except CheckFailed as e:
        print(f"retroboard_client: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        timer.cancel()
    return 0


if __name__ == "__main__":
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # python-socketio / python-engineio may leave non-daemon threads behind after a failed run.
    os._exit(code)
