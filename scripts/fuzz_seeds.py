#!/usr/bin/env python3
"""Seeds a fuzz corpus from fixtures/: each message as the target expects it (scripts/fuzz)."""

import hashlib
import json
import sys
from pathlib import Path

target, corpus = sys.argv[1], Path(sys.argv[2])
messages = []
for path in sorted(Path("fixtures").glob("*/*/**/*.json")):
    document = json.loads(path.read_text())
    if "/invalid/" in str(path) and isinstance(document, dict) and "message" in document:
        document = document["message"]
    messages.append(json.dumps(document).encode())


def masked_text_frame(payload: bytes) -> bytes:
    mask = b"\x11\x22\x33\x44"
    n = len(payload)
    header = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big"))
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


seeds = []
if target in ("nhem_ws_message", "profile_decoders"):
    seeds = messages
elif target == "ws_frames":
    seeds = [masked_text_frame(m) for m in messages if len(m) < 65536]
    seeds += [masked_text_frame(b'{"type":"ping"}') + bytes([0x89, 0x80]) + b"\0\0\0\0" + bytes([0x88, 0x80]) + b"\0\0\0\0"]
elif target == "socketio_codec":
    seeds = [b'0{"sid":"a","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":60000,"maxPayload":1000000}',
             b"2probe", b"3", b"40", b'40{"sid":"s"}', b'42["settings",{"brightness":75}]', b'42["request_state"]',
             b'44/nope,"Unable to connect"', b'451-/admin,7["up",{"_placeholder":true,"num":0}]', b"31[]",
             b"2\x1e4hello\x1ebAQI="]
    seeds += [b"42" + json.dumps(["current_app", json.loads(m)]).encode() for m in messages[:50]]
elif target == "http_request":
    seeds = [b"\x02" + m for m in messages]
    seeds += [b"\x01password=31415&command=pause_detection", b"\x01key=detection.threshold&value=9&password=x"]
    seeds += [b"\x00GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"]
for seed in seeds:
    (corpus / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
