#!/usr/bin/env python3
"""An independent `ecg` stream server (PROFILES.md section 3) on the `websockets` library
(15.x, asyncio API), written from the Flask-Sock seed (`seeds/ecg-stream-flask-sock.md`)
and not from our Rust code. It gives the Rust conformance suite (`conformance server
--profile ecg`) a server it did not write: the good mode must pass every case, and each fault
mode breaks exactly one rule so the suite can show that the expected case catches it.

    python ecg_server.py [--port 5000] [--bind 127.0.0.1] [--token ecg-demo-token]
                         [--interval-ms 160] [--fault NAME]

Run it with a Python that has `websockets` 15 (`.tools/venv/bin/python`, or any venv with
`pip install websockets==15.0.1`). `--port 0` picks a free port. The first line on stdout is
always `listening on PORT` (flushed); nothing else is written to stdout. SIGTERM or SIGINT
stops the server: open connections get a Close 1001, and any connection whose reader has
stalled is dropped after at most 3 s. Exit status is 0 after a signal, 1 when it cannot
listen, 2 on bad usage.

Good mode (`--fault none`), as the seed's handler but with the profile's decisions:

  * `ws://HOST:PORT/ws/ecg/stream?token=TOKEN`. Any other path gets HTTP 404. A GET on the
    path without a WebSocket upgrade gets HTTP 400.
  * Bad, missing or empty token (`if not token or not validate_token(token): ws.close()`):
    the upgrade completes (101), then the server sends Close 1000 with an empty reason and
    sends no message. The token is compared in constant time.
  * One stream per connection, on absolute deadlines t0 + k*interval (k = 1, 2, ...; t0 is
    when the handler starts, so the first frame comes one interval after the upgrade):
    `{"points": [40 numbers], "timestamp": "2025-11-26T10:30:00.160000Z"}`. The points are
    mV rounded to 3 decimals from a synthetic PQRST beat at 72 bpm sampled at 250 Hz
    (40 samples = 160 ms), starting at sample 0 on every connection. `timestamp` is the
    *scheduled* time t0 + k*interval in RFC 3339 UTC with microseconds, not the send time.
  * Client messages (text, invalid JSON, binary) are read and dropped; nothing is sent back.
    A message over 64 KiB makes `websockets` close the connection with 1009 itself.
  * Each connection is its own asyncio task, so no connection can delay another. If a send
    has been blocked for 2 s (the client stopped reading and the TCP buffers are full) the
    connection is closed with 1008 `slow consumer` (the Close frame cannot get past the full
    buffers, so after 2 s more the TCP connection is dropped); frames whose deadline passed
    while a send was blocked are skipped rather than sent in a burst. Linux grows the
    server's send buffer to megabytes, so at 160 ms this takes hours; it is a backstop.
  * No application heartbeat and no server pings (flask-sock's `ping_interval=None`); the
    library answers client pings. No subprotocol.

Fault modes. Each breaks exactly one rule; the suite case that must catch it is on the right
(see README.md in this directory):

  frame-extra-field   every frame also carries `"seq": k`; the frame schema is closed
                      (`additionalProperties: false`)             -> ecg.ws.stream.schema
  no-timestamp        frames have no `timestamp`, like the seed's
                      `ws.send(json.dumps({"points": data}))`      -> ecg.ws.stream.timestamp
                                                                      (non-strict)
  timestamp-repeats   every 5th frame (k = 5, 10, ...) carries the previous frame's
                      timestamp, so timestamps are not strictly
                      increasing                                   -> ecg.ws.stream.timestamp
                                                                      (fail)
  sleep-drift         the seed's loop: `await asyncio.sleep(...)`, then build and send,
                      with timestamp = send time. A bare sleep(0.16) drifts too little to
                      see (about 1 ms a frame), so the sleep is interval * 1.15: mean
                      about 184 ms, in the (168, 200] ms band       -> ecg.ws.stream.cadence
                                                                      (non-strict)
  slow-cadence        absolute deadlines as in good mode, but every interval * 1.5
                      (240 ms for 160)                              -> ecg.ws.stream.cadence
                                                                      (fail)
  accept-bad-token    `validate_token` accepts any non-empty token, so a wrong token
                      gets the stream. Missing and empty tokens are still closed with
                      1000                                          -> ecg.ws.auth.bad_token
  error-on-bad-token  sends the text frame `{"error":"unauthorized"}` before the Close 1000
                      (missing, empty or wrong token)               -> ecg.ws.auth.bad_token,
                                                                      .missing_token and
                                                                      .empty_token
  reply-to-client     answers every client message (text or binary) with
                      `{"ack": true}`                               -> ecg.ws.client_message_ignored
  close-on-garbage    closes the connection with 1003 when a client message is not
                      valid JSON (binary or undecodable text counts as not JSON)
                                                                    -> ecg.ws.client_message_ignored
  shared-blocking     one loop feeds every connection: it takes the connection with the
                      earliest deadline (the same per-connection deadlines, frames and
                      timestamps as good mode) and does `await ws.send(frame)` before
                      moving on, like the seed without Eventlet. `write_limit` is 1024
                      bytes, the kernel send buffer of each connection is made small
                      (SO_SNDBUF 4096) and compression is off, so once a reader stalls
                      and its TCP window closes, that send blocks, and every other
                      connection stops getting frames. There is no slow-consumer close in
                      this mode                                     -> ecg.ws.isolation

How soon `shared-blocking` blocks depends on how much the stalled client's kernel accepts
before its TCP window closes. Measured at 160 ms: with `SO_RCVBUF` 4096 set on the stalled
socket before connect, the other connections stop getting frames 7 s after the stall starts;
with Linux default buffers the stalled socket absorbed all 90 s of frames (179 kB) and
nothing blocked. README.md has the numbers.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import heapq
import itertools
import json
import math
import signal
import socket
import sys
import time
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

try:
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
except ImportError:
    sys.stderr.write("cannot import `websockets`; run with .tools/venv/bin/python "
                     "(pip install websockets==15.0.1)\n")
    sys.exit(2)

PATH = "/ws/ecg/stream"
FAULTS = (
    "none",
    "frame-extra-field",
    "no-timestamp",
    "timestamp-repeats",
    "sleep-drift",
    "slow-cadence",
    "accept-bad-token",
    "error-on-bad-token",
    "reply-to-client",
    "close-on-garbage",
    "shared-blocking",
)
SAMPLE_RATE = 250  # Hz
POINTS_PER_FRAME = 40  # 160 ms at 250 Hz
HEART_RATE_BPM = 72
MAX_MESSAGE = 64 * 1024
SLOW_CONSUMER_AFTER = 2.0  # s a single send may stay blocked (good mode)
CLOSE_TIMEOUT = 2.0  # s for a closing handshake
SHUTDOWN_GRACE = 3.0  # s after a signal before stalled connections are dropped
SHARED_WRITE_LIMIT = 1024  # bytes, shared-blocking only
SHARED_SNDBUF = 4096  # bytes, shared-blocking only (Linux doubles it)
DRIFT_FACTOR = 1.15  # sleep-drift
SLOW_FACTOR = 1.5  # slow-cadence
REPEAT_EVERY = 5  # timestamp-repeats
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# (centre relative to the R peak in s, amplitude in mV, width in s) of each wave.
PQRST = (
    (-0.200, 0.15, 0.025),  # P
    (-0.035, -0.12, 0.010),  # Q
    (0.000, 1.20, 0.012),  # R
    (0.035, -0.25, 0.010),  # S
    (0.280, 0.30, 0.040),  # T
)


def ecg_sample(n: int) -> float:
    """Sample n (0-based, at SAMPLE_RATE) of a periodic synthetic PQRST trace, in mV to 3
    decimals. The R peak sits 0.35 s into each beat; the sum of Gaussians is taken over
    the neighbouring beats too, so the trace is continuous across beat boundaries."""
    period = 60.0 / HEART_RATE_BPM
    t = (n / SAMPLE_RATE) % period - 0.35
    value = 0.0
    for shift in (-period, 0.0, period):
        for centre, amplitude, width in PQRST:
            d = t - centre - shift
            value += amplitude * math.exp(-0.5 * (d / width) ** 2)
    return round(value, 3) + 0.0  # + 0.0 turns -0.0 into 0.0


def frame_points(k: int) -> list[float]:
    """The points of frame k (k >= 1): samples (k-1)*40 .. k*40-1, so the frame's
    timestamp is the time of its last sample."""
    start = (k - 1) * POINTS_PER_FRAME
    return [ecg_sample(n) for n in range(start, start + POINTS_PER_FRAME)]


def rfc3339_us(epoch_us: int) -> str:
    return (EPOCH + timedelta(microseconds=epoch_us)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def log(*parts: object) -> None:
    print(*parts, file=sys.stderr, flush=True)


class Stream:
    """The per-connection schedule: t0 on the monotonic clock and the matching wall clock."""

    def __init__(self, ws: ServerConnection, interval_s: float) -> None:
        self.ws = ws
        self.interval_s = interval_s
        self.interval_us = round(interval_s * 1_000_000)
        self.t0 = asyncio.get_running_loop().time()
        self.wall0_us = time.time_ns() // 1000

    def deadline(self, k: int) -> float:
        return self.t0 + k * self.interval_s

    def scheduled_timestamp(self, k: int) -> str:
        return rfc3339_us(self.wall0_us + k * self.interval_us)


class EcgServer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.token = args.token
        self.fault = args.fault
        self.interval_s = args.interval_ms / 1000.0
        self.connections: set[ServerConnection] = set()
        # shared-blocking: one scheduler for every connection
        self.heap: list[tuple[float, int, int, Stream]] = []
        self.heap_seq = itertools.count()
        self.heap_changed = asyncio.Event()

    # --- HTTP before the upgrade -------------------------------------------------------

    def process_request(self, connection: ServerConnection, request):
        path = urlsplit(request.path).path
        if path != PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "Not Found\n")
        if request.headers.get("Upgrade", "").lower() != "websocket":
            return connection.respond(HTTPStatus.BAD_REQUEST, "WebSocket upgrade expected\n")
        return None

    # --- the handler -------------------------------------------------------------------

    def token_ok(self, token: str | None) -> bool:
        if not token:
            return False
        if self.fault == "accept-bad-token":
            return True  # validate_token() that accepts anything
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                   self.token.encode("utf-8", "surrogatepass"))

    async def handler(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        try:
            query = parse_qs(urlsplit(ws.request.path).query, keep_blank_values=True)
            token = query.get("token", [None])[0]  # request.args.get('token')
            if not self.token_ok(token):
                if self.fault == "error-on-bad-token":
                    await ws.send(json.dumps({"error": "unauthorized"}))
                await ws.close(1000)  # simple-websocket close(): NORMAL_CLOSURE, no reason
                return
            stream = Stream(ws, self.interval_s)
            reader = asyncio.create_task(self.read_loop(ws))
            if self.fault == "shared-blocking":
                self.make_send_buffer_small(ws)
                self.schedule(stream, 1)
                await reader  # the shared loop does the sending
                return
            writer = asyncio.create_task(self.stream_loop(stream))
            done, pending = await asyncio.wait({reader, writer},
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            for task in done:
                if not task.cancelled() and task.exception() is not None and \
                        not isinstance(task.exception(), ConnectionClosed):
                    log("connection task failed:", repr(task.exception()))
        except ConnectionClosed:
            pass
        finally:
            self.connections.discard(ws)

    async def read_loop(self, ws: ServerConnection) -> None:
        """Read every client message (the library needs someone to read, or it stops
        reading the socket after max_queue messages) and drop it, except in the faults
        that react to client messages."""
        try:
            async for message in ws:
                if self.fault == "reply-to-client":
                    await ws.send(json.dumps({"ack": True}))
                elif self.fault == "close-on-garbage" and not is_json(message):
                    await ws.close(1003, "invalid JSON")
                    return
        except ConnectionClosed:
            pass

    # --- per-connection streams (every mode except shared-blocking) --------------------

    def frame(self, stream: Stream, k: int) -> str:
        body: dict[str, object] = {"points": frame_points(k)}
        if self.fault == "frame-extra-field":
            body["seq"] = k
        if self.fault == "timestamp-repeats" and k % REPEAT_EVERY == 0:
            body["timestamp"] = stream.scheduled_timestamp(k - 1)
        elif self.fault != "no-timestamp":
            body["timestamp"] = stream.scheduled_timestamp(k)
        return json.dumps(body)

    async def stream_loop(self, stream: Stream) -> None:
        if self.fault == "sleep-drift":
            await self.drift_loop(stream)
            return
        if self.fault == "slow-cadence":
            stream.interval_s *= SLOW_FACTOR
            stream.interval_us = round(stream.interval_us * SLOW_FACTOR)
        loop = asyncio.get_running_loop()
        ws = stream.ws
        k = 1
        skipped = 0
        while True:
            await asyncio.sleep(max(0.0, stream.deadline(k) - loop.time()))
            late = loop.time() - stream.deadline(k)
            if late >= stream.interval_s:  # a blocked send made us miss deadlines
                missed = int(late // stream.interval_s)
                skipped += missed
                k += missed
            try:
                await asyncio.wait_for(ws.send(self.frame(stream, k)), SLOW_CONSUMER_AFTER)
            except asyncio.TimeoutError:
                log(f"slow consumer: send blocked {SLOW_CONSUMER_AFTER:.0f} s, "
                    f"{skipped} frames skipped; closing 1008")
                await close_bounded(ws, 1008, "slow consumer")
                return
            k += 1

    async def drift_loop(self, stream: Stream) -> None:
        """The seed's `while True: time.sleep(0.16); ws.send(...)`, with the sleep made 15%
        longer so that the drift is large enough to measure; timestamp = send time."""
        ws = stream.ws
        k = 1
        while True:
            await asyncio.sleep(self.interval_s * DRIFT_FACTOR)
            body = {"points": frame_points(k), "timestamp": rfc3339_us(time.time_ns() // 1000)}
            await ws.send(json.dumps(body))
            k += 1

    # --- shared-blocking: one loop for all connections ---------------------------------

    def make_send_buffer_small(self, ws: ServerConnection) -> None:
        sock = ws.transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SHARED_SNDBUF)
            except OSError as exc:
                log("cannot set SO_SNDBUF:", exc)

    def schedule(self, stream: Stream, k: int) -> None:
        heapq.heappush(self.heap, (stream.deadline(k), next(self.heap_seq), k, stream))
        self.heap_changed.set()

    async def shared_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.heap:
                self.heap_changed.clear()
                await self.heap_changed.wait()
                continue
            deadline = self.heap[0][0]
            wait = deadline - loop.time()
            if wait > 0:
                self.heap_changed.clear()
                try:
                    await asyncio.wait_for(self.heap_changed.wait(), wait)
                except asyncio.TimeoutError:
                    pass
                continue
            _, _, k, stream = heapq.heappop(self.heap)
            try:
                await stream.ws.send(self.frame(stream, k))  # blocks on a stalled reader
            except ConnectionClosed:
                continue  # dropped from the schedule
            self.schedule(stream, k + 1)
            # A send that did not block never suspends: while catching up on frames already
            # due, the loop would starve the handshakes of new connections (the suite's
            # concurrent_connect then failed at random). The fault is the blocking send, not that.
            await asyncio.sleep(0)

    # --- lifecycle ---------------------------------------------------------------------

    async def run(self, bind: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        shared = self.fault == "shared-blocking"
        server = await serve(
            self.handler, bind, port,
            process_request=self.process_request,
            max_size=MAX_MESSAGE,
            ping_interval=None,
            close_timeout=CLOSE_TIMEOUT,
            write_limit=SHARED_WRITE_LIMIT if shared else 32768,
            compression=None if shared else "deflate",
        )
        actual = next(iter(server.sockets)).getsockname()[1]
        print(f"listening on {actual}", flush=True)
        log(f"ecg peer: ws://{bind}:{actual}{PATH}?token=... fault={self.fault} "
            f"interval={self.interval_s * 1000:g} ms")
        shared_task = loop.create_task(self.shared_loop()) if shared else None
        await stop
        log("signal: shutting down")
        if shared_task is not None:
            shared_task.cancel()
        server.close()
        try:
            await asyncio.wait_for(server.wait_closed(), SHUTDOWN_GRACE)
        except asyncio.TimeoutError:
            for ws in list(self.connections):
                ws.transport.abort()  # a stalled reader: its close never drains
            try:
                await asyncio.wait_for(server.wait_closed(), 1.0)
            except asyncio.TimeoutError:
                pass


async def close_bounded(ws: ServerConnection, code: int, reason: str) -> None:
    """close() waits for its Close frame to drain, which never happens for a reader that
    has stopped; drop the TCP connection in that case."""
    try:
        await asyncio.wait_for(ws.close(code, reason), CLOSE_TIMEOUT)
    except asyncio.TimeoutError:
        ws.transport.abort()


def is_json(message: str | bytes) -> bool:
    if isinstance(message, bytes):
        return False
    try:
        json.loads(message)
    except ValueError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description="independent ecg stream server (peer)")
    parser.add_argument("--port", type=int, default=5000, help="0 picks a free port")
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--token", default="ecg-demo-token")
    parser.add_argument("--interval-ms", type=float, default=160.0)
    parser.add_argument("--fault", default="none", choices=FAULTS)
    args = parser.parse_args()
    if not 0 <= args.port <= 65535:
        parser.error("--port must be 0..65535")
    if not args.interval_ms > 0:
        parser.error("--interval-ms must be > 0")
    if not args.token:
        parser.error("--token must not be empty")
    try:
        asyncio.run(EcgServer(args).run(args.bind, args.port))
    except OSError as exc:  # address in use, cannot bind
        log(f"cannot listen on {args.bind}:{args.port}: {exc.strerror or exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
