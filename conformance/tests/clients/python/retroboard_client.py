#!/usr/bin/env python3
"""A third-party RetroBoard client on the official python-socketio client (sync
`socketio.Client`, Socket.IO v5 over Engine.IO v4), with a well-behaved mode and misbehaving
modes, for testing the conformance tool's `client --profile retroboard` probe (PROFILES.md
section 4, "Client probe") in CI.

    python retroboard_client.py URL --mode MODE --duration SECONDS

URL is the server's base, http://HOST:PORT (the path /socket.io/ and namespace / are
implied). Run it with the venv that holds the pinned stack
(reference-server/tests/interop/retroboard_requirements.txt; scripts/check-api-docs installs
it into .tools/venv):

    .tools/venv/bin/python conformance/tests/clients/python/retroboard_client.py \
        http://127.0.0.1:5000 --mode good --duration 20

Modes (each other mode is `good` with exactly one deviation):
  good                 the seed's client: default transports (polling, then the upgrade to
                       WebSocket), EIO=4; emits `request_state` (no arguments) on every
                       `connect`, the first and every reconnect; prints apps_list,
                       current_app, settings and carousel_config; automatic reconnection on
                       with the seed's settings (reconnection_delay 1, reconnection_delay_max 5,
                       randomization_factor 0.5, infinite attempts); answers pings (the
                       library does); never calls REST. After the server disconnects the
                       namespace (Socket.IO `41`), which python-socketio never follows with a
                       reconnect of its own, it calls connect() again by hand 1 s later, as
                       the seed's `if (reason === 'io server disconnect') socket.connect()`.
  no-resync            emits request_state after the first connect only, not after reconnects
  no-request-state     never emits request_state
  hammer               reconnection_delay 0.05, reconnection_delay_max 0.05,
                       randomization_factor 0: a reconnect attempt every ~50 ms
  no-reconnect         reconnection=False, and no manual reconnect after a `41` either (nor
                       after an Engine.IO close, see below)
  poll-rest            as good, plus GET URL/api/current every 500 ms (the seed's "bad:
                       polling" example; errors are printed and ignored)
  no-pong              as good, but never answers the server's Engine.IO pings: the engineio
                       client's _receive_packet is overridden (subclass) to drop PING packets
                       instead of sending PONG. Every reconnect is just as silent.
  no-manual-reconnect  as good, but no manual reconnect after a server `41` (automatic
                       reconnection after transport drops stays on)

python-socketio 5.18.1 specifics (read from its source):
  * The disconnect reason is "server disconnect" both for a Socket.IO `41` and for an
    Engine.IO close packet `1` ("io server disconnect" is socket.io-client's name); a dropped
    transport (TCP cut, WebSocket closed without `1`, failed poll) is "transport error".
    This client tells a `41` apart by watching for it in the Engine.IO read loop (before
    python-socketio dispatches it to a thread of its own): the `disconnect` line has
    `kind` "sio-41", "eio-close" or "transport".
  * python-socketio reconnects by itself only after "transport error": after an Engine.IO
    close `1` it does not (the engineio state is already "disconnecting" when it decides).
    socket.io-client does reconnect then ("transport close"), so, to behave the same on the
    wire, every mode with reconnection (all but no-reconnect) calls connect() again by hand
    after an Engine.IO close, reconnection_delay later (1 s; 50 ms in hammer), as the library
    would; no-manual-reconnect only skips the one after a `41`. (The peer server
    conformance/tests/peers/retroboard_server.py sends that `1` to everyone on SIGTERM.)
  * connect() refuses until the old Engine.IO session has ended, and after a `41` over
    WebSocket python-socketio closes it waiting up to 3 s (websocket-client's close timeout)
    for the server's Close frame: against Flask-SocketIO (Werkzeug) the manual reconnect
    after a bare `41` came ~3 s after it, not 1 s (`manual_reconnect` has
    since_disconnect_ms).
  * When an Engine.IO close follows a `41` at once, python-socketio runs the disconnect
    handler twice (and logs a RuntimeError from its own thread on stderr): the second call
    is printed as `disconnect_again` and otherwise ignored.
  * Each incoming event's handler runs in a thread of its own, so `recv` lines may be out of
    wire order.
  * sio.disconnect() closes the WebSocket while its `41` may still be queued, so at the end
    this client sends the `41` itself, lets it drain, then closes Engine.IO (`1`); the
    WebSocket close handshake then hangs (see above), so the process leaves 1 s later
    (`close_timeout`) without waiting for it.
  * Manual reconnects use connect(retry=True): if that attempt fails, the library's own
    back-off follows. That back-off is reconnection_delay doubling up to
    reconnection_delay_max, plus randomization_factor * uniform(-1, 1) *seconds* (absolute,
    not relative as in socket.io-client): waits of 1, 2, 4, 5, 5 ... s, each +-0.5 s.

Output: one JSON object per line on stdout, flushed, each with `event` and `t` (seconds since
start): start; connect (n, sid, transport); emit (request_state); recv (name, data) for every
event; disconnect (reason, kind, then: auto / manual / none); connect_error; reconnect_wait
(delay_ms, from the library's back-off); manual_reconnect; ping (answered); poll (status or
error); stopping; sent_disconnect; exit. RETROBOARD_CLIENT_DEBUG=1 also copies the
python-socketio / python-engineio logs to stderr. The process exits 0 about 1 s after
SECONDS, having disconnected (2 on bad usage or a missing library); a watchdog ends it at
most a few seconds after SECONDS whatever happens. SIGTERM ends it early, the same way.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit

try:
    import engineio
    import engineio.packet
    import socketio
    import socketio.exceptions
    import socketio.packet
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"cannot import {e.name}; run with .tools/venv/bin/python (pip install -r "
                     "reference-server/tests/interop/retroboard_requirements.txt)\n")
    sys.exit(2)

MODES = ("good", "no-resync", "no-request-state", "hammer", "no-reconnect", "poll-rest",
         "no-pong", "no-manual-reconnect")
STATE_EVENTS = ("apps_list", "current_app", "settings", "carousel_config")
# The seed's reconnection settings (socket.io-client's defaults, in seconds).
RECONNECT = {"reconnection_delay": 1, "reconnection_delay_max": 5, "randomization_factor": 0.5}
HAMMER = {"reconnection_delay": 0.05, "reconnection_delay_max": 0.05, "randomization_factor": 0}
MANUAL_RECONNECT_AFTER_S = 1.0
POLL_EVERY_S = 0.5
HTTP_TIMEOUT_S = 2.0
CONNECT_WAIT_S = 5.0
CLOSE_GRACE_S = 1.0

DEBUG = bool(os.environ.get("RETROBOARD_CLIENT_DEBUG"))  # library logs to stderr
START = time.monotonic()
_out_lock = threading.Lock()


def versions() -> dict:
    out = {}
    for name in ("python-socketio", "python-engineio"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # pragma: no cover
            out[name] = "?"
    return out


def log(event: str, **fields) -> None:
    record = {"event": event, "t": round(time.monotonic() - START, 3), **fields}
    line = json.dumps(record, default=str) + "\n"
    with _out_lock:
        try:
            sys.stdout.write(line)
            sys.stdout.flush()
        except (OSError, ValueError):
            pass  # stdout gone (closed pipe): keep running, just silently


def short(value, limit: int = 300) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class LibraryLog(logging.Handler):
    """Turns the few python-socketio log records that matter into output lines: the
    reconnect back-off (the library announces each wait) and its end."""

    WAIT = re.compile(r"new attempt in (-?[0-9.]+) seconds")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001
            return
        if DEBUG:
            sys.stderr.write(f"[{time.monotonic() - START:.3f} {record.name}] {text}\n")
        m = self.WAIT.search(text)
        if m:
            log("reconnect_wait", delay_ms=round(float(m.group(1)) * 1000))
        elif "Reconnection successful" in text:
            log("reconnected")
        elif "Maximum reconnection attempts" in text or "Reconnect task aborted" in text:
            log("reconnect_stopped", message=text)


class RetroBoardClient:
    def __init__(self, args) -> None:
        self.args = args
        self.mode = args.mode
        self.url = args.url
        self.stop = threading.Event()
        self.connects = 0
        self.sio_41 = False  # a Socket.IO DISCONNECT arrived on the current session
        self.session_open = False  # between a `connect` and its `disconnect`
        self.manual_lock = threading.Lock()
        self.manual_pending = False
        owner = self

        class EngineIOClient(engineio.Client):
            def _receive_packet(self, pkt):
                if pkt.packet_type == engineio.packet.PING:
                    answered = owner.mode != "no-pong"
                    log("ping", answered=answered)
                    if not answered:
                        return  # no PONG: the server should close us after pingTimeout
                elif (pkt.packet_type == engineio.packet.MESSAGE and isinstance(pkt.data, str)
                      and pkt.data[:1] == "1"):
                    # Socket.IO DISCONNECT ("1" or "1/nsp,"), seen here in wire order, before
                    # an Engine.IO close that may follow it.
                    owner.sio_41 = True
                super()._receive_packet(pkt)

        class SocketIOClient(socketio.Client):
            def _engineio_client_class(self):
                return EngineIOClient

        library_logger = logging.getLogger("retroboard_client.socketio")
        library_logger.setLevel(logging.INFO)
        library_logger.propagate = False
        library_logger.addHandler(LibraryLog())
        if self.mode == "no-reconnect":
            options = {"reconnection": False}
        else:
            options = {"reconnection": True, "reconnection_attempts": 0,  # 0: infinite
                       **(HAMMER if self.mode == "hammer" else RECONNECT)}
        self.options = options
        self.sio = SocketIOClient(logger=library_logger, request_timeout=5,
                                  engineio_logger=library_logger if DEBUG else False, **options)
        self.sio.on("connect", self.on_connect)
        self.sio.on("disconnect", self.on_disconnect)
        self.sio.on("connect_error", self.on_connect_error)
        for name in STATE_EVENTS:
            self.sio.on(name, self.state_handler(name))
        self.sio.on("*", self.on_other)

    # -- handlers (python-socketio runs each in a thread of its own) --

    def transport(self):
        try:
            return self.sio.transport()
        except Exception:  # noqa: BLE001
            return None

    def on_connect(self) -> None:
        self.connects += 1
        self.sio_41 = False
        self.session_open = True
        n = self.connects
        log("connect", n=n, sid=self.sio.get_sid(), transport=self.transport())
        if self.mode == "no-request-state" or (self.mode == "no-resync" and n > 1):
            log("skip_request_state", n=n)
            return
        self.sio.emit("request_state")
        log("emit", name="request_state", n=n)

    def on_disconnect(self, reason=None) -> None:
        reason = str(reason) if reason is not None else None
        if not self.session_open:
            # python-socketio 5.18 calls the handler twice when an Engine.IO close follows a
            # `41` at once (its read loop and the thread handling the `41` race).
            log("disconnect_again", reason=reason)
            return
        self.session_open = False
        if self.sio_41:
            kind = "sio-41"
        elif reason == socketio.Client.reason.SERVER_DISCONNECT:
            kind = "eio-close"
        elif reason == socketio.Client.reason.CLIENT_DISCONNECT:
            kind = "client"
        else:
            kind = "transport"
        reconnecting = self.mode != "no-reconnect" and not self.stop.is_set()
        if kind == "transport":
            then = "auto" if reconnecting else "none"
        elif kind == "sio-41":
            then = "manual" if reconnecting and self.mode != "no-manual-reconnect" else "none"
        elif kind == "eio-close":
            then = "manual" if reconnecting else "none"  # what the library would do, see top
        else:
            then = "none"
        log("disconnect", reason=reason, kind=kind, then=then)
        if then == "manual":
            self.schedule_manual_reconnect(kind)

    def on_connect_error(self, data=None) -> None:
        log("connect_error", error=short(data))

    def state_handler(self, name: str):
        def handler(*args):
            log("recv", name=name, data=args[0] if args else None)
        return handler

    def on_other(self, event, *args) -> None:
        log("recv", name=event, data=args[0] if args else None, known=False)

    # -- reconnects by hand --

    def schedule_manual_reconnect(self, after: str) -> None:
        with self.manual_lock:
            if self.manual_pending:
                return
            self.manual_pending = True
        threading.Thread(target=self.manual_reconnect, args=(after, time.monotonic()),
                         daemon=True).start()

    def manual_reconnect(self, after: str, since: float) -> None:
        try:
            # After a `41`, the seed's manual connect (1 s in every mode); after an Engine.IO
            # close, the library's first reconnect wait (1 s, or 50 ms in hammer).
            wait = (MANUAL_RECONNECT_AFTER_S if after == "sio-41"
                    else self.options.get("reconnection_delay", MANUAL_RECONNECT_AFTER_S))
            if self.stop.wait(wait):
                return
            # python-socketio ends the Engine.IO session after the disconnect handler, and
            # connect() refuses ("Client is not in a disconnected state") until it has: over
            # WebSocket, websocket-client waits up to 3 s for the server's Close frame.
            until = time.monotonic() + 5
            while (self.sio.eio.state != "disconnected" or self.sio.connected) \
                    and time.monotonic() < until and not self.stop.is_set():
                time.sleep(0.02)
            if self.stop.is_set():
                return
            log("manual_reconnect", after=after,
                since_disconnect_ms=round((time.monotonic() - since) * 1000))
            with self.manual_lock:
                self.manual_pending = False
            self.connect(retry=True)
        finally:
            with self.manual_lock:
                self.manual_pending = False

    def connect(self, retry: bool) -> None:
        try:
            self.sio.connect(self.url, wait_timeout=CONNECT_WAIT_S, retry=retry)
        except socketio.exceptions.ConnectionError as e:
            if not self.stop.is_set():
                log("connect_failed", error=short(str(e)))
        except Exception as e:  # noqa: BLE001 (never leave a thread with a traceback)
            if not self.stop.is_set():
                log("connect_failed", error=f"{type(e).__name__}: {short(str(e))}")

    # -- REST polling (poll-rest only) --

    def poll_loop(self) -> None:
        url = self.url + "/api/current"
        while not self.stop.wait(POLL_EVERY_S):
            try:
                with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:
                    resp.read()
                    log("poll", url=url, status=resp.status)
            except urllib.error.HTTPError as e:
                log("poll", url=url, status=e.code)
            except Exception as e:  # noqa: BLE001 (ignored, as the seed's example does)
                log("poll", url=url, error=f"{type(e).__name__}: {short(str(e), 120)}")

    # -- the run --

    def run(self, duration: float) -> int:
        # With reconnection on, a first connect that fails goes into the library's back-off
        # too (retry=True), as socket.io-client does by default.
        runner = threading.Thread(target=self.connect,
                                  kwargs={"retry": self.mode != "no-reconnect"}, daemon=True)
        runner.start()
        if self.mode == "poll-rest":
            threading.Thread(target=self.poll_loop, daemon=True).start()
        self.stop.wait(duration)
        self.stop.set()
        log("stopping", connected=self.sio.connected)
        abort = getattr(self.sio, "_reconnect_abort", None)
        if abort is not None:
            abort.set()  # ends a back-off wait, the library's or a manual connect(retry=True)
        closer = threading.Thread(target=self.close, daemon=True)
        closer.start()
        closer.join(CLOSE_GRACE_S)
        if closer.is_alive():
            log("close_timeout", after_s=CLOSE_GRACE_S)
        return 0

    def close(self) -> None:
        """sio.disconnect() queues the Socket.IO `41` and the Engine.IO `1` and at once closes
        the WebSocket from this thread, racing the write loop: the server often sees only a
        transport close. So the `41` goes first and is given time to reach the wire."""
        try:
            if self.sio.eio.state != "connected":
                return
            namespaces = list(self.sio.namespaces)
            for n in namespaces:
                self.sio._send_packet(self.sio.packet_class(socketio.packet.DISCONNECT,
                                                            namespace=n))
            until = time.monotonic() + 0.5
            while not self.sio.eio.queue.empty() and time.monotonic() < until:
                time.sleep(0.01)
            time.sleep(0.1)
            log("sent_disconnect", namespaces=namespaces)
            self.sio.eio.disconnect()  # Engine.IO `1`; the disconnect handler follows
        except Exception as e:  # noqa: BLE001
            log("close_error", error=f"{type(e).__name__}: {short(str(e))}")


def parse_args(argv):
    parser = argparse.ArgumentParser(description="RetroBoard test client (python-socketio)")
    parser.add_argument("url", help="http://HOST:PORT")
    parser.add_argument("--mode", choices=MODES, required=True)
    parser.add_argument("--duration", type=float, required=True)
    args = parser.parse_args(argv)
    url = urlsplit(args.url)
    if url.scheme not in ("http", "https") or not url.hostname:
        parser.error(f"not an http:// or https:// URL: {args.url}")
    if not args.duration > 0:
        parser.error("--duration must be > 0")
    args.url = args.url.rstrip("/")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    client = RetroBoardClient(args)
    log("start", mode=args.mode, url=args.url, duration_s=args.duration,
        client="python-socketio", versions=versions(), eio=4, options=client.options,
        python=sys.version.split()[0])
    # Last-resort guard against hangs: whatever happens, the process ends soon after DURATION.
    watchdog = threading.Timer(args.duration + CLOSE_GRACE_S + 3, lambda: os._exit(0))
    watchdog.daemon = True
    watchdog.start()
    signal.signal(signal.SIGTERM, lambda *_: client.stop.set())
    try:
        code = client.run(args.duration)
    except KeyboardInterrupt:
        code = 130
    log("exit", code=code)
    # Library threads (a long-poll GET, a reconnect wait) must not hold the process.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
