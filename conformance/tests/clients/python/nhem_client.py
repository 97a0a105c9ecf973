#!/usr/bin/env python3
"""A third-party NHEM WebSocket client on the `websockets` library (15.x, asyncio API),
with well-behaved and misbehaving modes, for testing the conformance tool's `client` mode
(the probe server) in CI.

    python nhem_client.py URL --mode MODE --duration SECONDS [--password P]

Run it with the venv that holds `websockets`:

    .tools/venv/bin/python conformance/tests/clients/python/nhem_client.py \
        ws://127.0.0.1:30415/ --mode good --duration 10

Modes (see ../README.md):
  good              auth first, read everything, ping every 2 s, reconnect with back-off
                    200 ms doubling to 3.2 s, reset after an authenticated connection
                    stayed up more than 5 s
  no-auth           never sends auth; reads and prints until closed; same back-off
  hammer            like good, but reconnects at once (no delay at all)
  no-read           connects, sends auth, then never reads again (see `no_read_session`)
  crash-on-unknown  like good, but on the first frame that is not JSON or whose `type` it
                    does not know it closes with 1000 and exits with status 3

Every event is one JSON line on stdout. `message` events are a once-a-second count summary.
The process exits 0 after SECONDS (3 in crash-on-unknown when it gives up, 2 on bad usage).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
from urllib.parse import urlsplit

try:
    import websockets
    from websockets.exceptions import ConnectionClosed
except ImportError:
    sys.stderr.write("cannot import `websockets`; run with .tools/venv/bin/python "
                     "(pip install 'websockets>=15,<16')\n")
    sys.exit(2)

MODES = ("good", "no-auth", "hammer", "no-read", "crash-on-unknown")
KNOWN_TYPES = frozenset({"auth_response", "data", "status", "pong", "error"})
FIRST_DELAY = 0.2
MAX_DELAY = 3.2
STABLE_AFTER = 5.0
PING_EVERY = 2.0
EXIT_UNKNOWN = 3
NO_READ_RCVBUF = 4096
BAD_LOGS_PER_SECOND = 5
CONN_LOGS_PER_SECOND = 5
NOTABLE_PER_SUMMARY = 5

START = time.monotonic()
deadline = float("inf")  # set from --duration; every loop checks it (see amain)
exit_code = 0  # read by the watchdog if the event loop ever fails to stop in time


def log(event: str, **fields) -> None:
    record = {"event": event, "t": round(time.monotonic() - START, 3), **fields}
    try:
        sys.stdout.write(json.dumps(record, default=str) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass  # stdout gone (closed pipe): keep running, just silently


def short(value, limit: int = 200) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class Stats:
    """Counts received frames and prints them as one `message` event per second."""

    def __init__(self) -> None:
        self.conn = 0
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.types: dict[str, int] = {}
        self.bad = 0
        self.notable: list[dict] = []
        self.bad_logged = 0

    def seen(self, kind: str, message: dict | None = None) -> None:
        self.count += 1
        self.types[kind] = self.types.get(kind, 0) + 1
        if message is not None and kind != "data" and len(self.notable) < NOTABLE_PER_SUMMARY:
            self.notable.append(message)

    def bad_message(self, conn: int, reason: str, raw, fatal: bool = False) -> None:
        self.count += 1
        self.bad += 1
        if fatal or self.bad_logged < BAD_LOGS_PER_SECOND:
            self.bad_logged += 1
            log("bad_message", conn=conn, reason=reason, raw=short(raw), fatal=fatal)

    def flush(self) -> None:
        if self.count:
            fields = {"conn": self.conn, "count": self.count, "types": self.types}
            if self.bad:
                fields["bad"] = self.bad
            if self.notable:
                fields["notable"] = self.notable
            log("message", **fields)
        self.reset()


stats = Stats()


class ConnLog:
    """Lifecycle events (connected, auth_ok, auth_failed, closed) are logged for at most
    CONN_LOGS_PER_SECOND connections a second: hammer reconnects thousands of times a second
    and would flood the log. The first line of the next logged connection carries
    `suppressed_before`, the number of connections left out."""

    def __init__(self) -> None:
        self.second = -1
        self.admitted = 0
        self.suppressed = 0

    def admit(self) -> tuple[bool, dict]:
        second = int(time.monotonic() - START)
        if second != self.second:
            self.second, self.admitted = second, 0
        if self.admitted >= CONN_LOGS_PER_SECOND:
            self.suppressed += 1
            return False, {}
        self.admitted += 1
        extra = {"suppressed_before": self.suppressed} if self.suppressed else {}
        self.suppressed = 0
        return True, extra


connlog = ConnLog()


async def summary_loop() -> None:
    while True:
        await asyncio.sleep(1.0)
        stats.flush()


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse_int(text: str):
    # Python refuses ints over 4300 digits (ValueError) although they are valid JSON.
    return int(text) if len(text) <= 4000 else float(text)


def classify(raw) -> tuple[str | None, dict | None, str | None]:
    """(type, message, None) for a known message, (None, message-or-None, reason) otherwise.
    Never raises: deep nesting, huge numbers and NaN all come back as a reason."""
    if not isinstance(raw, str):
        return None, None, "binary frame"
    try:
        message = json.loads(raw, parse_constant=_reject_constant, parse_int=_parse_int)
    except Exception as e:  # ValueError, RecursionError, ...
        return None, None, f"invalid JSON: {short(str(e), 120)}"
    if not isinstance(message, dict):
        return None, None, "not a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return None, message, "missing or non-string type"
    if kind not in KNOWN_TYPES:
        return None, message, f"unknown type {short(kind, 64)!r}"
    return kind, message, None


class Outcome:
    def __init__(self, stable: bool = False, exit: int | None = None) -> None:
        self.stable = stable  # authenticated and up for more than STABLE_AFTER seconds
        self.exit = exit  # set when the process must stop with this status


async def close_quietly(ws, code: int = 1000, reason: str = "") -> None:
    """Close handshake, bounded. Frames still in flight are drained meanwhile: websockets
    stops reading the socket when its queue is full, and then never sees the server's close
    frame (the close would end in a 1 s timeout and 1006)."""
    if ws is None:
        return

    async def drain() -> None:
        try:
            while True:
                await ws.recv()
        except Exception:
            pass

    drainer = asyncio.create_task(drain())
    try:
        async with asyncio.timeout(1.5):
            await ws.close(code, reason)
    except Exception:
        pass
    finally:
        drainer.cancel()
    try:
        ws.transport.abort()
    except Exception:
        pass


async def ping_loop(ws, counter: list[int]) -> None:
    try:
        while True:
            await asyncio.sleep(PING_EVERY)
            counter[0] += 1
            await ws.send(json.dumps({"type": "ping", "id": str(counter[0])}))
    except Exception:
        pass  # the connection is gone; the reader notices and reports it


def close_info(ws) -> dict:
    """The close code and reason the peer sent (1006: none), and the code we sent."""
    info: dict = {}
    try:
        info["code"] = ws.close_code
        info["reason"] = ws.close_reason
        sent = ws.protocol.close_sent
        info["sent_code"] = sent.code if sent is not None else None
        if ws.protocol.close_rcvd_then_sent is not None:
            info["server_closed_first"] = ws.protocol.close_rcvd_then_sent
    except Exception:
        pass
    return info


async def session(conn: int, args, ping_counter: list[int]) -> Outcome:
    """One connection in modes good, no-auth, hammer and crash-on-unknown."""
    verbose, extra = connlog.admit()
    if verbose:
        stats.flush()  # so a summary never mixes two logged connections
    stats.conn = conn

    def clog(event: str, **fields) -> None:
        nonlocal extra
        if verbose:
            log(event, conn=conn, **fields, **extra)
            extra = {}

    ws = None
    opened = None
    authed = False
    crashed = False
    pinger = None
    info: dict = {}
    try:
        ws = await websockets.connect(args.url, open_timeout=5, close_timeout=1, max_size=2**20)
        opened = time.monotonic()
        clog("connected")
        if args.mode != "no-auth":
            await ws.send(json.dumps({"type": "auth", "password": args.password}))
        async for raw in ws:
            kind, message, problem = classify(raw)
            if problem is not None:
                if args.mode == "crash-on-unknown":
                    stats.bad_message(conn, problem, raw, fatal=True)
                    crashed = True
                    info = {"by": "client", "after": "bad_message"}
                    await close_quietly(ws, 1000, "unknown message")
                    break
                stats.bad_message(conn, problem, raw)  # logged and ignored
                continue
            if kind == "auth_response":
                success = message.get("success")
                if success is True:
                    stats.seen(kind)
                    if not authed:
                        authed = True
                        clog("auth_ok", message=message.get("message"))
                        pinger = asyncio.create_task(ping_loop(ws, ping_counter))
                elif success is False:
                    stats.seen(kind)
                    clog("auth_failed", message=message.get("message"))
                    info = {"by": "client", "after": "auth_failed"}
                    break  # a failed connection: close it and back off
                else:
                    stats.bad_message(conn, "auth_response without boolean success", raw)
                continue
            stats.seen(kind, message)
    except ConnectionClosed as e:
        info = {"error": short(str(e))}
    except asyncio.CancelledError:
        info = {"by": "deadline"}
        raise
    except Exception as e:  # refused, handshake rejected, timeout, anything odd
        info = {"error": f"{type(e).__name__}: {short(str(e))}"}
    finally:
        if pinger is not None:
            pinger.cancel()
        if ws is not None:
            await close_quietly(ws)
            info = {**close_info(ws), **info}
        if verbose:
            stats.flush()
        uptime = time.monotonic() - opened if opened is not None else 0.0
        clog("closed", connected=opened is not None, authed=authed,
             uptime_s=round(uptime, 3), **info)
    if crashed:
        return Outcome(exit=EXIT_UNKNOWN)
    return Outcome(stable=authed and uptime > STABLE_AFTER)


async def no_read_session(conn: int, args) -> Outcome:
    """Connect, send auth, then never read again, so the server's frames fill the TCP
    receive window. Three layers make sure nothing drains the socket:
      1. the socket is created by hand with SO_RCVBUF = 4096 *before* connect (the window
         is negotiated at connect time; Linux doubles it to ~8 KiB), and handed to
         websockets with `sock=`;
      2. right after sending auth we call `transport.pause_reading()`, so the asyncio
         transport stops calling recv() on the socket at all;
      3. `max_queue=1` as a backstop: websockets' own flow control pauses the transport
         once more than one frame is queued, and we never call recv() so it never resumes.
    Keepalive pings are off (`ping_interval=None`), otherwise websockets would give up
    on the missing pong after 20 s and close the connection itself."""
    url = urlsplit(args.url)
    host = url.hostname
    port = url.port or (443 if url.scheme == "wss" else 80)
    loop = asyncio.get_running_loop()
    verbose, extra = connlog.admit()
    sock = None
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, type_, proto, _, address = infos[0]
        sock = socket.socket(family, type_, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, NO_READ_RCVBUF)
        sock.setblocking(False)
        async with asyncio.timeout(5):
            await loop.sock_connect(sock, address)
        ws = await websockets.connect(args.url, sock=sock, open_timeout=5, close_timeout=1,
                                      ping_interval=None, max_queue=1, max_size=2**20)
    except Exception as e:
        if sock is not None:
            sock.close()
        if verbose:
            log("closed", conn=conn, connected=False,
                error=f"{type(e).__name__}: {short(str(e))}", **extra)
        return Outcome()
    rcvbuf = ws.transport.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    log("connected", conn=conn, reading=False, so_rcvbuf=rcvbuf, **extra)
    try:
        await ws.send(json.dumps({"type": "auth", "password": args.password}))
        ws.transport.pause_reading()
        await asyncio.sleep(max(0.0, deadline - time.monotonic()))  # never read
        info = {"by": "deadline"}
    except asyncio.CancelledError:
        ws.transport.abort()
        log("closed", conn=conn, by="deadline")
        raise
    except Exception as e:
        info = {"error": f"{type(e).__name__}: {short(str(e))}"}
    ws.transport.abort()  # no close handshake: we would have to read for the reply
    log("closed", conn=conn, **info)
    return Outcome(exit=0)


async def run(args) -> int:
    delay = FIRST_DELAY
    ping_counter = [0]
    conn = 0
    while time.monotonic() < deadline:
        conn += 1
        if args.mode == "no-read":
            outcome = await no_read_session(conn, args)
        else:
            outcome = await session(conn, args, ping_counter)
        if outcome.exit is not None:
            return outcome.exit
        if args.mode == "hammer":
            continue  # no delay at all
        if outcome.stable:
            delay = FIRST_DELAY
        log("reconnect_wait", conn=conn, delay_ms=round(delay * 1000))
        await asyncio.sleep(delay)
        delay = min(delay * 2, MAX_DELAY)
    return 0


async def amain(args) -> int:
    """Runs the client until the deadline. Python 3.11's asyncio.wait_for can lose a
    cancellation that races with an inner await finishing (seen under hammer), so the loops
    also check `deadline` themselves and the cancel is repeated until the task ends."""
    global deadline
    deadline = time.monotonic() + args.duration
    summary = asyncio.create_task(summary_loop())
    task = asyncio.create_task(run(args))
    try:
        await asyncio.wait({task}, timeout=args.duration)
        for _ in range(6):
            if task.done():
                break
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if task.done() and not task.cancelled() and task.exception() is None:
            return task.result()
        if task.done() and not task.cancelled():
            e = task.exception()
            log("internal_error", error=f"{type(e).__name__}: {short(str(e))}")
        return 0
    finally:
        summary.cancel()
        stats.flush()


def parse_args(argv):
    parser = argparse.ArgumentParser(description="NHEM test client (Python websockets)")
    parser.add_argument("url")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--password", default="31415")
    args = parser.parse_args(argv)
    url = urlsplit(args.url)
    if url.scheme not in ("ws", "wss") or not url.hostname:
        parser.error(f"not a ws:// or wss:// URL: {args.url}")
    if not args.duration > 0:
        parser.error("--duration must be > 0")
    return args


def main(argv=None) -> int:
    global exit_code
    args = parse_args(argv)
    log("start", mode=args.mode, url=args.url, duration_s=args.duration,
        client="python-websockets", version=websockets.__version__)
    # Last-resort guard against hangs: whatever happens, the process ends soon after DURATION.
    watchdog = threading.Timer(args.duration + 5, lambda: os._exit(exit_code))
    watchdog.daemon = True
    watchdog.start()
    try:
        exit_code = asyncio.run(amain(args))
    except KeyboardInterrupt:
        exit_code = 130
    except Exception as e:  # should not happen; never leave with a traceback
        log("exit", code=1, error=f"{type(e).__name__}: {short(str(e))}")
        return 1
    log("exit", code=exit_code)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
