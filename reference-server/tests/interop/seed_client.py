#!/usr/bin/env python3
"""A third-party client written from the seed's Python `WebSocketClient` example (the
`websockets` library): connect, authenticate, listen. Run by scripts/test against the real
server binary to prove interop beyond our own Rust client.

    seed_client.py ws://127.0.0.1:PORT SECONDS

Exits 1 unless authentication succeeds, a `status` arrives, frames come at 50-70 per second,
frame_count only increases, and a ping is answered with a pong.
"""
import asyncio
import json
import sys
import time

import websockets


async def main(uri: str, seconds: float) -> int:
    async with websockets.connect(uri) as websocket:
        await websocket.send(json.dumps({"type": "auth", "password": "31415"}))
        counts: dict[str, int] = {}
        last_frame = None
        end = time.monotonic() + seconds
        pinged = False
        while time.monotonic() < end:
            message = json.loads(await asyncio.wait_for(websocket.recv(), timeout=2))
            counts[message["type"]] = counts.get(message["type"], 0) + 1
            if message["type"] == "auth_response" and not message["success"]:
                print("authentication failed:", message)
                return 1
            if message["type"] == "data":
                if last_frame is not None and message["frame_count"] <= last_frame:
                    print("frame_count went backwards:", last_frame, message["frame_count"])
                    return 1
                last_frame = message["frame_count"]
                if not pinged:
                    await websocket.send(json.dumps({"type": "ping", "id": "py"}))
                    pinged = True
        fps = counts.get("data", 0) / seconds
        print(f"python websockets client: {counts}, {fps:.1f} frames/s")
        ok = counts.get("auth_response") == 1 and counts.get("status", 0) >= 1 and counts.get("pong") == 1 and 50 <= fps <= 70
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], float(sys.argv[2]))))
