#!/usr/bin/env python3
"""The seed's Python client for the `monitor` profile (monitor-websocket-api.md, "Python 客户端"),
on `websockets` 15 (asyncio API), run by scripts/interop against the real server binary.

    monitor_client.py [--key KEY] URL SECONDS
    monitor_client.py --key your-api-key ws://127.0.0.1:8080/ws 4

The class keeps the seed's structure and handlers (`handle_message`, `update_performance_display`,
`show_alert`, `subscribe`, `send_ping`) with two deliberate differences:
- with --key it sends the headers of the seed's "认证" section (`Authorization: Bearer KEY`,
  `X-Client-ID`); without it, it connects bare as the seed's example does (the server must then
  allow anonymous access);
- the seed's `connect()` reads messages until the connection ends, so its `subscribe()` would
  never run; here the reader runs as a task and `subscribe()` follows the connect.

It subscribes to alert.cpu and alert.memory (warning and critical), pings once, reads for
SECONDS and then checks what it received: the `connection` greeting (with its client id when
--key is given), system performance samples with cpu_percent, a pong, and alerts only of the
subscribed types and levels. The seed's `show_alert` reads `alert['title']`, which a resolved
alert lacks: the handler raises before the custom handlers run, the error is counted (the seed
prints and carries on), and the client must survive it. Prints a one-line summary. Exit status: 0 if every check passes, 1 if one fails
(reason on stderr), 2 when the server cannot be reached.
"""
import asyncio
import json
import sys

from websockets.asyncio.client import connect


class WebSocketClient:
    def __init__(self, url, headers=None):
        self.url = url
        self.headers = headers
        self.websocket = None
        self.reconnect_attempts = 0
        self.max_reconnect_attempts = 5
        self.event_handlers = {}
        self.handler_errors = []

    async def connect(self):
        while self.reconnect_attempts < self.max_reconnect_attempts:
            try:
                self.websocket = await connect(self.url, additional_headers=self.headers)
                return asyncio.create_task(self.setup_handlers())
            except OSError as e:
                print(f"连接失败: {e}", file=sys.stderr)
                self.reconnect_attempts += 1
                if self.reconnect_attempts < self.max_reconnect_attempts:
                    await asyncio.sleep(2 ** self.reconnect_attempts)
        return None

    async def setup_handlers(self):
        async for message in self.websocket:
            try:
                data = json.loads(message)
                await self.handle_message(data)
            except Exception as e:  # the seed's handler: print and go on
                self.handler_errors.append(repr(e))

    async def handle_message(self, message):
        message_type = message.get('type')
        message_data = message.get('data')

        if message_type == 'performance':
            await self.update_performance_display(message_data)
        elif message_type == 'alert':
            await self.show_alert(message_data)
        elif message_type == 'pong':
            pass  # 心跳响应
        # (the seed prints unknown types; connection, status, config and system land here)

        if message_type in self.event_handlers:
            await self.event_handlers[message_type](message)

    async def subscribe(self, events, filters=None):
        message = {
            "type": "subscribe",
            "data": {"events": events, "filters": filters or {}}
        }
        await self.send_message(message)

    async def send_message(self, message):
        if self.websocket:
            await self.websocket.send(json.dumps(message))

    async def send_ping(self):
        await self.send_message({"type": "ping"})

    def on_event(self, event_type, handler):
        self.event_handlers[event_type] = handler

    async def update_performance_display(self, data):
        if 'cpu_percent' in data:
            self.last_cpu = f"CPU: {data['cpu_percent']:.1f}%"

    async def show_alert(self, alert):
        # The seed's line: a resolved alert has no title, so this raises KeyError for it.
        self.last_alert = f"告警: {alert['title']} - {alert['message']}"

    async def close(self):
        if self.websocket:
            await self.websocket.close()


def fail(reason):
    print(f"monitor_client: FAIL: {reason}", file=sys.stderr)
    sys.exit(1)


async def main(url, seconds, key):
    headers = {"Authorization": f"Bearer {key}", "X-Client-ID": "seed-python"} if key else None
    client = WebSocketClient(url, headers)
    received = {}

    async def keep(message):
        received.setdefault(message["type"], []).append(message)

    for kind in ("connection", "performance", "alert", "pong", "error", "status"):
        client.on_event(kind, keep)
    try:
        reader = await asyncio.wait_for(client.connect(), 5)
    except (asyncio.TimeoutError, OSError) as e:
        print(f"monitor_client: cannot reach {url}: {e}", file=sys.stderr)
        sys.exit(2)
    if reader is None:
        print(f"monitor_client: cannot reach {url}", file=sys.stderr)
        sys.exit(2)
    await client.subscribe(["alert.cpu", "alert.memory"], {"level": ["warning", "critical"]})
    await client.send_ping()
    await asyncio.sleep(seconds)
    if reader.done():
        fail(f"the connection ended early: {reader.exception() or 'closed'}")
    await client.close()
    await reader

    greeting = received.get("connection", [])
    if len(greeting) != 1 or greeting[0]["data"].get("status") != "connected":
        fail(f"expected one connection/connected, got {greeting}")
    client_id = greeting[0]["data"]["client_id"]
    if key and client_id != "seed-python":
        fail(f"client_id {client_id!r} does not echo X-Client-ID")
    system = [m for m in received.get("performance", []) if "cpu_percent" in m["data"]]
    if len(system) < 3:
        fail(f"only {len(system)} system performance samples in {seconds} s")
    if not received.get("pong"):
        fail("no pong for the ping")
    alerts = received.get("alert", [])
    wrong = [a["data"] for a in alerts
             if a["data"]["type"] not in ("cpu", "memory") or a["data"]["level"] not in ("warning", "critical")]
    if wrong:
        fail(f"alerts outside the subscription arrived: {wrong[:2]}")
    # The seed's show_alert raises before the custom handlers run, so resolved alerts reach
    # this script only as handler errors: each must be the missing title, and the client lives.
    if not alerts or not client.handler_errors:
        fail(f"expected raised and resolved alerts in {seconds} s, got {len(alerts)} raised, "
             f"{len(client.handler_errors)} handler errors")
    if any(e != "KeyError('title')" for e in client.handler_errors):
        fail(f"handler errors other than the resolved alerts' missing title: {client.handler_errors[:3]}")
    if any(a["data"]["status"] != "active" for a in alerts):
        fail("a resolved alert reached the handlers past show_alert")
    resolved = client.handler_errors
    ids = [m["id"] for ms in received.values() for m in ms]
    if len(ids) != len(set(ids)):
        fail("a message id repeated")
    print(f"monitor_client: OK: client_id {client_id}, {len(system)} samples, {len(alerts)} alerts "
          f"raised, {len(resolved)} resolved ones broke the seed's show_alert and were survived, "
          f"{len(ids)} unique ids")


if __name__ == "__main__":
    args = sys.argv[1:]
    key = None
    if args[:1] == ["--key"]:
        key, args = args[1], args[2:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(args[0], float(args[1]), key))
