"""Benchmark peer: the NHEM WebSocket broadcast (the subset a load test needs) on Python
`websockets` (asyncio API), so loadgen / latency-clients.mjs can compare it with the Rust
reference server in one run.

    .tools/venv/bin/python bench/peer-python.py [--port 30415] [--fps 60] [--password 31415] [--duration SECONDS]

Protocol subset (docs/protocol-nhem.md): `auth` first (right password: auth_response +
initial status, then every data frame; wrong: auth_response false + close 1008), `ping` ->
`pong`, `get_status` -> status; anything else is ignored.
"""

import argparse
import asyncio
import json
import math
import signal
import time

from websockets.asyncio.server import broadcast, serve

ROI = {"x1": 288, "y1": 208, "x2": 352, "y2": 272}


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def rfc3339(us):
    """RFC 3339 UTC with exactly 6 fractional digits and `Z`, from integer epoch microseconds."""
    secs, frac = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:06d}Z"


class Peer:
    def __init__(self, fps, password):
        self.fps = fps
        self.password = password
        self.clients = set()  # authenticated connections: the broadcast set
        self.frame_count = 0  # last frame sent
        # Wall clock anchored to the monotonic clock once, so timestamps don't jump.
        self.wall_offset = time.time() - time.monotonic()
        self.start = time.monotonic()

    def now_ts(self):
        return rfc3339(round((self.wall_offset + time.monotonic()) * 1e6))

    def status(self, reason):
        elapsed = time.monotonic() - self.start
        return dumps({
            "type": "status",
            "timestamp": self.now_ts(),
            "status": "running",
            "reason": reason,
            "frame_count": self.frame_count,
            "fps": round(self.frame_count / elapsed, 2) if elapsed > 0 else 0,
            "target_fps": round(self.fps),
            "connected_clients": len(self.clients),
            "roi": ROI,
        })

    async def handler(self, ws):
        authed = False
        try:
            async for raw in ws:
                if not isinstance(raw, str):
                    continue
                try:
                    m = json.loads(raw)
                except ValueError:
                    continue
                if not isinstance(m, dict):
                    continue
                if not authed:
                    if m.get("type") != "auth":
                        continue
                    if m.get("password") == self.password:
                        authed = True
                        self.clients.add(ws)  # counted before the initial status
                        await ws.send(dumps({"type": "auth_response", "success": True,
                                             "message": "Authentication successful"}))
                        await ws.send(self.status("initial"))
                    else:
                        await ws.send(dumps({"type": "auth_response", "success": False,
                                             "message": "Authentication failed: wrong password"}))
                        await ws.close(1008, "authentication failed")
                        return
                elif m.get("type") == "ping":
                    pong = {"type": "pong", "timestamp": self.now_ts()}
                    if "id" in m:
                        pong["id"] = m["id"]
                    await ws.send(dumps(pong))
                elif m.get("type") == "get_status":
                    await ws.send(self.status("request"))
        except Exception:
            pass  # connection dropped mid-send; nothing to report
        finally:
            self.clients.discard(ws)

    def frame(self, k, t0_wall):
        phase = k % 50
        pulse = math.exp(-((phase / 3) ** 2))  # a crude peak every 50 frames
        return dumps({
            "type": "data",
            "timestamp": rfc3339(round((t0_wall + k / self.fps) * 1e6)),
            "frame_count": k,
            "current_value": round(120 + 20 * pulse, 2),
            "peak_signal": None if k < 30 else (1 if phase == 0 else 0),
            "baseline": 120.0,
            "status": "running",
        })

    async def produce(self):
        # Frame k is due at t0 + k/fps: absolute deadlines computed from t0 and k, never by
        # adding periods. Its timestamp is that scheduled time on the wall clock.
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 1 / self.fps  # loop.time() is time.monotonic()
        t0_wall = self.wall_offset + t0
        k = 0
        while True:
            due = t0 + k / self.fps
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > 1.0:
                # More than 1 s behind: skip ahead to the current slot instead of bursting.
                k = math.floor((loop.time() - t0) * self.fps)
                continue
            # Serialize once; broadcast() writes the same bytes to every open client
            # synchronously and never awaits, so a slow client cannot block the producer.
            # Note (websockets 15 asyncio): broadcast() applies no backpressure — it skips
            # only connections that aren't OPEN; a slow client's frames pile up in its own
            # write buffer until the keepalive ping times it out. That is the library's
            # idiomatic behaviour and what this peer measures.
            broadcast(self.clients, self.frame(k, t0_wall))
            self.frame_count = k
            k += 1


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=30415)
    ap.add_argument("--fps", type=float, default=60)
    ap.add_argument("--password", default="31415")
    ap.add_argument("--duration", type=float, default=None,
                    help="exit by itself after this many seconds (default: run until killed)")
    args = ap.parse_args()
    if args.fps <= 0:
        ap.error("--fps must be > 0")
    fps = int(args.fps) if args.fps == int(args.fps) else args.fps

    peer = Peer(fps, args.password)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with serve(peer.handler, "127.0.0.1", args.port, compression=None,
                     max_queue=64) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening ws://127.0.0.1:{port}/ fps={fps}", flush=True)
        producer = asyncio.create_task(peer.produce())
        try:
            await asyncio.wait_for(asyncio.shield(stop), args.duration)
        except asyncio.TimeoutError:
            pass
        producer.cancel()
        server.close(close_connections=True)


if __name__ == "__main__":
    asyncio.run(main())
