#!/usr/bin/env python3
"""A third-party client for the `ecg` profile, written from the seed (Flask-Sock ECG stream):
Python `websockets` 15 (asyncio API) instead of the seed's browser JavaScript. Run by
scripts/interop against the real server binary to prove interop beyond our own Rust client.

    ecg_client.py [--no-start-stream] URL_BASE TOKEN FRAMES INTERVAL_MS
    ecg_client.py ws://127.0.0.1:5000 ecg-demo-token 10 160

1. Connects to URL_BASE/ws/ecg/stream?token=TOKEN (the token travels in the query, as
   `request.args.get('token')` reads it). It sends {"type":"start_stream","user_id":"123"} as
   the seed's front end does "if needed" (skipped with --no-start-stream), then reads FRAMES
   frames. Every frame must be a text JSON object with `points`, a non-empty list of numbers,
   and `timestamp`, RFC 3339 UTC with microseconds ending in Z. The timestamps must strictly
   increase, each step must equal INTERVAL_MS within 1 ms (they are scheduled times, not send
   times), and all frames must have the same number of points.
2. Connects with a wrong token. The upgrade must succeed, and then the server must close with
   code 1000 within 2 s, without sending any message (the seed's bare `ws.close()`).

Prints a one-line summary. Exit status: 0 if every check passes, 1 if a check fails (with the
reason on stderr), 2 for a usage error or when the server cannot be reached.
"""
import asyncio
import json
import math
import re
import sys
from datetime import datetime, timezone
from urllib.parse import quote

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus, InvalidURI

USAGE = "usage: ecg_client.py [--no-start-stream] URL_BASE TOKEN FRAMES INTERVAL_MS"
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
TOLERANCE_US = 1000
BAD_TOKEN_CLOSE_S = 2.0


class CheckFailed(Exception):
    pass


class Unreachable(Exception):
    pass


def stream_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}/ws/ecg/stream?token={quote(token, safe='')}"


async def open_connection(url: str):
    """Connect. Errors before the upgrade completes mean the server cannot be reached (exit 2),
    except an HTTP status other than 101, which the caller decides about."""
    try:
        return await connect(url, open_timeout=5, ping_interval=None)
    except InvalidStatus:
        raise
    except (OSError, asyncio.TimeoutError, InvalidURI) as e:
        raise Unreachable(f"cannot connect to {url}: {type(e).__name__}: {e}") from e
    except Exception as e:  # other handshake failures (InvalidHandshake, ...)
        raise Unreachable(f"handshake with {url} failed: {type(e).__name__}: {e}") from e


def parse_frame(index: int, message) -> tuple[int, datetime]:
    """Validate one frame; return (number of points, timestamp)."""
    where = f"frame {index}"
    if not isinstance(message, str):
        raise CheckFailed(f"{where}: binary message ({len(message)} bytes), expected JSON text")
    try:
        frame = json.loads(message)
    except json.JSONDecodeError as e:
        raise CheckFailed(f"{where}: not JSON ({e}): {message[:200]!r}") from e
    if not isinstance(frame, dict):
        raise CheckFailed(f"{where}: not a JSON object: {message[:200]!r}")
    points = frame.get("points")
    if not isinstance(points, list) or not points:
        raise CheckFailed(f"{where}: `points` is not a non-empty list: {message[:200]!r}")
    for i, p in enumerate(points):
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not math.isfinite(p):
            raise CheckFailed(f"{where}: points[{i}] is not a number: {p!r}")
    ts = frame.get("timestamp")
    if not isinstance(ts, str) or not TIMESTAMP.match(ts):
        raise CheckFailed(f"{where}: `timestamp` is not RFC 3339 UTC with microseconds and Z: {ts!r}")
    try:
        when = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    except ValueError as e:
        raise CheckFailed(f"{where}: `timestamp` {ts!r} is not a valid date-time: {e}") from e
    return len(points), when


async def check_stream(base: str, token: str, frames: int, interval_ms: int, start_stream: bool) -> str:
    url = stream_url(base, token)
    try:
        ws = await open_connection(url)
    except InvalidStatus as e:
        raise CheckFailed(f"good token: upgrade refused with HTTP {e.response.status_code}") from e
    # The first frame comes one interval after the upgrade; allow generous slack for CI.
    recv_timeout = max(2.0, 5 * interval_ms / 1000)
    counts: set[int] = set()
    first_count = None
    previous = None
    steps_us: list[int] = []
    async with ws:
        if start_stream:
            await ws.send(json.dumps({"type": "start_stream", "user_id": "123"}))
        for index in range(frames):
            try:
                message = await asyncio.wait_for(ws.recv(), timeout=recv_timeout)
            except asyncio.TimeoutError as e:
                raise CheckFailed(f"frame {index}: nothing received within {recv_timeout:g} s") from e
            except ConnectionClosed as e:
                raise CheckFailed(f"frame {index}: connection closed by the server ({e})") from e
            count, when = parse_frame(index, message)
            if first_count is None:
                first_count = count
            counts.add(count)
            if count != first_count:
                raise CheckFailed(f"frame {index}: {count} points, but frame 0 had {first_count}")
            if previous is not None:
                step = when - previous
                step_us = (step.days * 86400 + step.seconds) * 1_000_000 + step.microseconds
                if step_us <= 0:
                    raise CheckFailed(f"frame {index}: timestamp {when.isoformat()} is not after {previous.isoformat()}")
                if abs(step_us - interval_ms * 1000) > TOLERANCE_US:
                    raise CheckFailed(f"frame {index}: timestamp step {step_us / 1000:.3f} ms, "
                                      f"expected {interval_ms} ms +- {TOLERANCE_US / 1000:g} ms")
                steps_us.append(step_us)
            previous = when
    worst = max((abs(s - interval_ms * 1000) for s in steps_us), default=0)
    return (f"{frames} frames of {first_count} points, timestamp steps {interval_ms} ms "
            f"(worst deviation {worst / 1000:.3f} ms)")


async def check_bad_token(base: str, token: str) -> str:
    url = stream_url(base, f"not-{token}")
    try:
        ws = await open_connection(url)
    except InvalidStatus as e:
        raise CheckFailed(f"wrong token: upgrade refused with HTTP {e.response.status_code}; "
                          f"expected 101 then a close with 1000") from e
    async with ws:
        try:
            message = await asyncio.wait_for(ws.recv(), timeout=BAD_TOKEN_CLOSE_S)
        except asyncio.TimeoutError as e:
            raise CheckFailed(f"wrong token: connection still open after {BAD_TOKEN_CLOSE_S:g} s") from e
        except ConnectionClosedOK as e:
            if e.rcvd is None or e.rcvd.code != 1000:
                raise CheckFailed(f"wrong token: closed with {e.rcvd}, expected code 1000") from e
            return f"wrong token closed with 1000 (reason {e.rcvd.reason!r})"
        except ConnectionClosed as e:
            raise CheckFailed(f"wrong token: closed abnormally ({e}), expected code 1000") from e
        raise CheckFailed(f"wrong token: got a message instead of a close: {str(message)[:200]!r}")


async def main(argv: list[str]) -> int:
    start_stream = True
    if argv and argv[0] == "--no-start-stream":
        start_stream = False
        argv = argv[1:]
    if len(argv) != 4:
        print(USAGE, file=sys.stderr)
        return 2
    base, token = argv[0], argv[1]
    try:
        frames, interval_ms = int(argv[2]), int(argv[3])
    except ValueError:
        print(USAGE, file=sys.stderr)
        return 2
    if not base.startswith(("ws://", "wss://")) or frames < 2 or interval_ms <= 0:
        print(f"{USAGE}\n(URL_BASE is ws:// or wss://, FRAMES >= 2, INTERVAL_MS > 0)", file=sys.stderr)
        return 2
    try:
        stream = await check_stream(base, token, frames, interval_ms, start_stream)
        bad = await check_bad_token(base, token)
    except Unreachable as e:
        print(f"ecg_client: {e}", file=sys.stderr)
        return 2
    except CheckFailed as e:
        print(f"ecg_client: FAILED: {e}", file=sys.stderr)
        return 1
    print(f"python websockets ecg client: {stream}; {bad}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
