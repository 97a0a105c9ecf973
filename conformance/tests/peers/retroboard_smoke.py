#!/usr/bin/env python3
"""Self-check of retroboard_server.py (the independent Flask-SocketIO `retroboard` peer),
with the python-socketio client (both transports), websocket-client for a raw look at the
Engine.IO packets, and `requests` for REST. It starts the peer with `--port 0` as a
subprocess, reads `LISTENING <port>`, and checks the PROFILES.md §4 decisions the suite will
check: open packet, initial state and its values, request_state to the requester only,
every REST command and its broadcast (within 500 ms, to every client, on both transports),
bad input (4xx, `{"success": false, "error"}`, no event), resync after a reconnect,
unknown events, bad namespace, EIO=3, server pings. Then it runs some of the checks against
faulty peers (`--fault`) and asserts that they notice.

    python3.11 -m venv /tmp/rb-venv
    /tmp/rb-venv/bin/pip install -r conformance/tests/peers/retroboard_requirements.txt
    /tmp/rb-venv/bin/python conformance/tests/peers/retroboard_smoke.py [-v]

It takes about 20 s. Every wait has a timeout, the whole run is capped at 90 s, and every
peer it starts is killed on the way out. The last line is `N passed, N failed`; the exit
status is 0 only when nothing failed.
"""
from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

try:
    import requests
    import socketio
    import websocket  # websocket-client, which python-socketio's client uses
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"cannot import {e.name}; pip install -r retroboard_requirements.txt\n")
    sys.exit(2)

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "retroboard_server.py")
VERBOSE = "-v" in sys.argv[1:]
TOTAL_CAP_S = 90
EVENT_WINDOW_S = 0.5  # rest.*: every client gets the event within 500 ms
QUIET_S = 0.6  # how long "no event" is watched for

INITIAL = [
    ("apps_list", {"apps": ["clock", "scroll_text", "stars"], "current": "clock"}),
    ("current_app", {"app": "clock", "config": {"font": "tom-thumb", "color": [255, 0, 0]}}),
    ("settings", {"brightness": 100}),
    ("carousel_config", {"enabled": False,
                         "apps": [{"app": "clock", "duration": 10},
                                  {"app": "scroll_text", "duration": 15}],
                         "current_index": 0}),
]
STATE_EVENTS = [name for name, _ in INITIAL]


class CheckFailed(AssertionError):
    pass


def check(cond: bool, message: str) -> None:
    if not cond:
        raise CheckFailed(message)


def say(*parts: object) -> None:
    if VERBOSE:
        print("   ", *parts, flush=True)


# ---------------------------------------------------------------------------------------
class Peer:
    """retroboard_server.py in a subprocess; always killed on exit."""
    live: list["Peer"] = []

    def __init__(self, *args: str) -> None:
        self.args = list(args)

    def __enter__(self) -> "Peer":
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, SERVER, "--port", "0", *self.args],
                                     stdout=subprocess.PIPE, stderr=self.err)
        Peer.live.append(self)
        deadline = time.monotonic() + 10
        line = b""
        while not line.endswith(b"\n"):
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(0.0, left))
            if not r:
                self.kill()
                raise CheckFailed(f"peer {self.args} printed no LISTENING line within 10 s")
            chunk = os.read(self.proc.stdout.fileno(), 1)
            if not chunk:
                self.kill()
                raise CheckFailed(f"peer {self.args} exited: {self.stderr()}")
            line += chunk
        check(line.startswith(b"LISTENING "), f"first stdout line {line!r}")
        self.port = int(line.split()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def stderr(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")[-2000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if self in Peer.live:
            Peer.live.remove(self)

    def __exit__(self, *exc) -> None:
        self.kill()

    def post(self, path: str, body, *, raw: bool = False, content_type: str | None = None):
        data = body if raw else json.dumps(body)
        headers = {"Content-Type": content_type or "application/json"}
        return requests.post(self.url + path, data=data, headers=headers, timeout=5)

    def get(self, path: str):
        return requests.get(self.url + path, timeout=5)


class Client:
    """A python-socketio client that records every event it receives, in order."""

    def __init__(self, peer: Peer, transport: str, namespace: str = "/") -> None:
        self.events: queue.Queue = queue.Queue()
        self.sio = socketio.Client(reconnection=False)
        self.disconnected = False
        # python-engineio's client hands each incoming message to a new thread
        # (`_trigger_event('message', ..., run_async=True)`), so python-socketio handlers
        # can run out of wire order. Run them in the read loop instead, so that the
        # recorded order is the order on the wire (the handler only queues the event). A
        # Socket.IO DISCONNECT (`1...`) stays asynchronous: its handling joins the read loop.
        trigger = self.sio.eio._trigger_event

        def in_order(event, *args, **kwargs):
            if event == "message" and not (isinstance(args[0], str) and args[0][:1] == "1"):
                kwargs["run_async"] = False
            return trigger(event, *args, **kwargs)
        self.sio.eio._trigger_event = in_order

        @self.sio.on("*")
        def any_event(event, *args):
            self.events.put((event, args[0] if args else None))

        @self.sio.event
        def disconnect(*args):
            self.disconnected = True

        self.sio.connect(peer.url, transports=[transport], wait_timeout=5,
                         namespaces=[namespace])
        check(self.sio.transport() == transport,
              f"transport is {self.sio.transport()}, wanted {transport}")

    def take(self, n: int, timeout: float) -> list[tuple[str, object]]:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.events.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                raise CheckFailed(f"got {len(out)} of {n} events within {timeout} s: {out}")
        return out

    def expect(self, want: list[tuple[str, object]], timeout: float = EVENT_WINDOW_S,
               what: str = "") -> None:
        got = self.take(len(want), timeout)
        check(got == want, f"{what}: got {got}, wanted {want}")

    def quiet(self, timeout: float = QUIET_S, what: str = "") -> None:
        try:
            ev = self.events.get(timeout=timeout)
        except queue.Empty:
            return
        raise CheckFailed(f"{what}: unexpected event {ev}")

    def drain_initial(self) -> None:
        """Take the four initial-state events (their order is check_initial's business)."""
        got = self.take(4, 2.0)
        check(sorted(n for n, _ in got) == sorted(STATE_EVENTS), f"initial state {got}")

    def close(self) -> None:
        # python-socketio's disconnect() over websocket-client waits up to 3 s for a Close
        # frame its own read thread has already taken; do not wait for that.
        def bye() -> None:
            try:
                self.sio.disconnect()
            except Exception:  # noqa: BLE001
                pass
        t = threading.Thread(target=bye, daemon=True)
        t.start()
        t.join(0.3)


def ok_body(resp, status: int = 200) -> dict:
    check(resp.status_code == status, f"{resp.request.method} {resp.request.path_url} "
          f"-> {resp.status_code} {resp.text!r}, wanted {status}")
    body = resp.json()
    if status == 200:
        check(body.get("success") is True, f"body {body}")
    return body


# ---------------------------------------------------------------------------------------
# Checks. Each takes a running peer and raises CheckFailed.
def check_open_packet(peer: Peer) -> None:
    r = peer.get("/socket.io/?EIO=4&transport=polling")
    check(r.status_code == 200 and r.text.startswith("0"), f"polling open: {r.status_code} {r.text!r}")
    pkt = json.loads(r.text[1:])
    check(set(pkt) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}, f"{pkt}")
    check(pkt["upgrades"] == ["websocket"], f"polling upgrades {pkt['upgrades']}")
    check((pkt["pingInterval"], pkt["pingTimeout"], pkt["maxPayload"]) == (25000, 60000, 1000000),
          f"polling open timing {pkt}")
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{peer.port}/socket.io/?EIO=4&transport=websocket", timeout=5)
    try:
        first = ws.recv()
        pkt = json.loads(first[1:])
        check(first[0] == "0" and pkt["upgrades"] == [] and pkt["pingInterval"] == 25000
              and pkt["pingTimeout"] == 60000 and pkt["maxPayload"] == 1000000,
              f"websocket open {first!r}")
        ws.send("40")
        frames = [ws.recv() for _ in range(5)]
        say("direct websocket after 40:", frames)
        acks = [f for f in frames if f.startswith("40")]
        events = [json.loads(f[2:])[0] for f in frames if f.startswith("42")]
        check(len(acks) == 1 and "sid" in json.loads(acks[0][2:]), f"CONNECT ack {frames}")
        check(events == STATE_EVENTS, f"initial events {frames}")
        ws.send("40/nope,")
        frame = ws.recv()
        check(frame.startswith("44/nope,"), f"CONNECT to /nope got {frame!r}")
    finally:
        ws.close()
    r = peer.get("/socket.io/?EIO=3&transport=polling")
    check(r.status_code == 400, f"EIO=3 -> {r.status_code}")


def check_upgrade(peer: Peer) -> None:
    """Polling session, then the probe sequence 2probe / 3probe / 5 onto a WebSocket."""
    r = peer.get("/socket.io/?EIO=4&transport=polling")
    sid = json.loads(r.text[1:])["sid"]
    q = f"{peer.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
    r = requests.post(q, data="40", timeout=5)
    check(r.status_code == 200, f"POST 40 -> {r.status_code}")
    r = requests.get(q, timeout=5)
    packets = r.text.split("\x1e")
    check(len(packets) == 5 and sum(p.startswith("40{") for p in packets) == 1,
          f"polling after 40: {packets}")
    pending: dict = {}

    def poll() -> None:
        try:
            pending["r"] = requests.get(q, timeout=5)
        except Exception as e:  # noqa: BLE001
            pending["e"] = e
    t = threading.Thread(target=poll, daemon=True)
    t.start()
    time.sleep(0.2)
    try:
        ws = websocket.create_connection(
            f"ws://127.0.0.1:{peer.port}/socket.io/?EIO=4&transport=websocket&sid={sid}",
            timeout=3)
    except websocket.WebSocketException as e:
        raise CheckFailed(f"upgrade request refused: {e}") from None
    try:
        ws.send("2probe")
        check(ws.recv() == "3probe", "probe answer")
        t.join(3)
        got = pending.get("r")
        check(got is not None and got.status_code == 200 and got.text == "6",
              f"pending poll during the upgrade: {pending}")
        ws.send("5")
        ws.send('42["request_state"]')
        frames = []
        while len(frames) < 4:
            f = ws.recv()
            if f != "6":
                frames.append(f)
        check([json.loads(f[2:])[0] for f in frames] == STATE_EVENTS,
              f"request_state after the upgrade: {frames}")
    finally:
        ws.close()


def check_initial(peer: Peer, transport: str) -> None:
    c = Client(peer, transport)
    try:
        c.expect(INITIAL, timeout=2.0, what=f"initial state over {transport}")
    finally:
        c.close()


def check_initial_ws(peer: Peer) -> None:
    check_initial(peer, "websocket")


def check_request_state(peer: Peer) -> None:
    a = Client(peer, "websocket")
    b = Client(peer, "polling")
    try:
        a.drain_initial()
        b.drain_initial()
        a.sio.emit("request_state")
        a.expect(INITIAL, timeout=2.0, what="request_state answer")
        b.quiet(what="second client after the other's request_state")
        b.sio.emit("request_state", {"extra": 1})  # extra arguments must not break it
        b.expect(INITIAL, timeout=2.0, what="request_state with an argument, over polling")
        a.quiet(what="first client after the other's request_state")
        a.sio.emit("no_such_event", {"x": 1})
        a.quiet(what="unknown event")
        check(a.sio.connected and not a.disconnected, "unknown event closed the connection")
        a.sio.emit("request_state")
        a.expect(INITIAL, timeout=2.0, what="request_state after an unknown event")
    finally:
        a.close()
        b.close()


def check_bad_namespace(peer: Peer) -> None:
    try:
        c = Client(peer, "polling", namespace="/nope")
    except socketio.exceptions.ConnectionError as e:
        say("namespace /nope:", e)
        return
    c.close()
    raise CheckFailed("namespace /nope was accepted")


def check_rest(peer: Peer) -> None:
    clients = [Client(peer, "websocket"), Client(peer, "polling")]

    def everyone(want, what):
        for c in clients:
            c.expect(want, what=f"{what} ({c.sio.transport()})")

    def nobody(what):
        for c in clients:
            c.quiet(0.3, what=what)

    try:
        for c in clients:
            c.drain_initial()
        body = ok_body(peer.post("/api/switch", {"app": "stars"}))
        check(body == {"success": True, "app": "stars"}, f"switch answer {body}")
        everyone([("current_app", {"app": "stars", "config": {}})], "switch")
        ok_body(peer.post("/api/switch", {"app": "stars"}))
        everyone([("current_app", {"app": "stars", "config": {}})], "switch to the current app")
        body = ok_body(peer.post("/api/config", {"config": {"_seq": 1}}))
        check(body == {"success": True, "app": "stars", "config": {"_seq": 1}}, f"config {body}")
        everyone([("current_app", {"app": "stars", "config": {"_seq": 1}})], "config")
        body = ok_body(peer.post("/api/config", {"app": "clock", "config": {"color": [0, 9, 0]}}))
        check(body["config"] == {"font": "tom-thumb", "color": [0, 9, 0]}, f"merge {body}")
        nobody("config of an app that is not current")
        # the seed's fetch: no Content-Type header, i.e. text/plain
        ok_body(peer.post("/api/switch", '{"app": "clock"}', raw=True,
                          content_type="text/plain;charset=UTF-8"))
        everyone([("current_app", {"app": "clock", "config": {"font": "tom-thumb",
                                                              "color": [0, 9, 0]}})],
                 "switch with a text/plain body")
        ok_body(peer.post("/api/config", {"app": "clock", "config": {"_seq": 2}}))
        everyone([("current_app", {"app": "clock", "config": {"font": "tom-thumb",
                                                              "color": [0, 9, 0], "_seq": 2}})],
                 "config merge")
        body = ok_body(peer.post("/api/settings", {"brightness": 75}))
        check(body == {"success": True, "brightness": 75}, f"settings {body}")
        everyone([("settings", {"brightness": 75})], "settings")
        apps = [{"app": "stars", "duration": 1}, {"app": "clock", "duration": 1}]
        ok_body(peer.post("/api/carousel", {"apps": apps}))
        everyone([("carousel_config", {"enabled": False, "apps": apps, "current_index": 0})],
                 "carousel list")
        body = ok_body(peer.post("/api/carousel", {"enabled": True}))
        check(body == {"success": True, "enabled": True, "apps": apps, "current_index": 0},
              f"carousel answer {body}")
        everyone([("carousel_config", {"enabled": True, "apps": apps, "current_index": 0}),
                  ("current_app", {"app": "stars", "config": {"_seq": 1}})], "carousel enable")
        for c in clients:  # rotation 1 s later: index 1, clock
            c.expect([("current_app", {"app": "clock", "config": {"font": "tom-thumb",
                                                                  "color": [0, 9, 0], "_seq": 2}}),
                      ("carousel_config", {"enabled": True, "apps": apps, "current_index": 1})],
                     timeout=1.6, what="carousel rotation")
        ok_body(peer.post("/api/carousel", {"enabled": False}))
        everyone([("carousel_config", {"enabled": False, "apps": apps, "current_index": 1})],
                 "carousel disable")
        nobody("after the carousel was disabled")
        r = peer.get("/api/current")
        check(r.status_code == 200 and r.json() == {"app": "clock", "config": {
            "font": "tom-thumb", "color": [0, 9, 0], "_seq": 2}}, f"current {r.text}")
        r = peer.get("/api/health")
        check(r.status_code == 200 and r.json() == {"status": "ok"}, f"health {r.text}")
    finally:
        for c in clients:
            c.close()


BAD_REQUESTS = [
    ("/api/switch", {"app": "nope"}, 404),
    ("/api/switch", {}, 400),
    ("/api/switch", {"app": 5}, 400),
    ("/api/switch", "{bad", 400),
    ("/api/switch", "", 400),
    ("/api/switch", "[1]", 400),
    ("/api/settings", {"brightness": 101}, 400),
    ("/api/settings", {"brightness": -1}, 400),
    ("/api/settings", {"brightness": "75"}, 400),
    ("/api/settings", {"brightness": True}, 400),
    ("/api/settings", {"brightness": 50.0}, 400),
    ("/api/settings", '{"brightness": NaN}', 400),
    ("/api/settings", "{bad", 400),
    ("/api/config", {"app": "clock"}, 400),
    ("/api/config", {"config": [1]}, 400),
    ("/api/config", {"app": "nope", "config": {}}, 404),
    ("/api/config", "{bad", 400),
    ("/api/carousel", {}, 400),
    ("/api/carousel", {"enabled": "yes"}, 400),
    ("/api/carousel", {"apps": []}, 400),
    ("/api/carousel", {"apps": [{"app": "clock"}]}, 400),
    ("/api/carousel", {"apps": [{"app": "clock", "duration": 0}]}, 400),
    ("/api/carousel", {"apps": [{"app": "clock", "duration": True}]}, 400),
    ("/api/carousel", {"apps": [{"app": "nope", "duration": 5}]}, 404),
    ("/api/carousel", "{bad", 400),
]


def check_invalid(peer: Peer) -> None:
    c = Client(peer, "websocket")
    try:
        c.drain_initial()
        for path, body, status in BAD_REQUESTS:
            r = peer.post(path, body, raw=isinstance(body, str))
            check(r.status_code == status, f"POST {path} {body!r} -> {r.status_code} "
                  f"{r.text!r}, wanted {status}")
            got = r.json()
            check(got.get("success") is False and isinstance(got.get("error"), str)
                  and set(got) == {"success", "error"}, f"error body {got}")
        for method, path, status in (("GET", "/api/switch", 405), ("POST", "/api/health", 405),
                                     ("GET", "/nope", 404)):
            r = requests.request(method, peer.url + path, timeout=5)
            check(r.status_code == status and r.json().get("success") is False,
                  f"{method} {path} -> {r.status_code} {r.text!r}")
        c.quiet(what="after bad requests")
        c.sio.emit("request_state")
        c.expect(INITIAL, timeout=2.0, what="state unchanged by bad requests")
    finally:
        c.close()


def check_resync(peer: Peer) -> None:
    c = Client(peer, "websocket")
    c.drain_initial()
    c.close()
    ok_body(peer.post("/api/settings", {"brightness": 42}))
    c = Client(peer, "polling")
    try:
        got = dict(c.take(4, 2.0))
        check(got.get("settings") == {"brightness": 42}, f"initial state after reconnect {got}")
    finally:
        c.close()


def check_pings(peer: Peer) -> None:
    """Run against a peer with --ping-interval 1 --ping-timeout 2."""
    ws = websocket.create_connection(
        f"ws://127.0.0.1:{peer.port}/socket.io/?EIO=4&transport=websocket", timeout=1.5)
    try:
        first = json.loads(ws.recv()[1:])
        check(first["pingInterval"] == 1000 and first["pingTimeout"] == 2000, f"open {first}")
        t = time.monotonic()
        try:
            frame = ws.recv()
        except websocket.WebSocketTimeoutException:
            raise CheckFailed("no ping within 1.5 s at pingInterval 1000") from None
        took = time.monotonic() - t
        check(frame == "2" and 0.9 <= took <= 1.2, f"ping {frame!r} after {took:.2f} s")
        ws.send("3")
        # now stay silent: closed within pingTimeout + 2 s of the next (unanswered) ping
        check(ws.recv() == "2", "second ping")
        t = time.monotonic()
        ws.settimeout(5)
        try:
            while True:
                op, data = ws.recv_data(control_frame=True)
                if op == websocket.ABNF.OPCODE_CLOSE:
                    break
        except (websocket.WebSocketConnectionClosedException, ConnectionError):
            pass
        except websocket.WebSocketTimeoutException:
            raise CheckFailed("silent client not closed within 5 s of its unanswered ping") from None
        took = time.monotonic() - t
        say(f"silent client closed {took:.2f} s after its unanswered ping")
        check(took <= 2 + 2, f"closed {took:.2f} s after the unanswered ping")
    finally:
        ws.close()
    c = Client(peer, "polling")  # the python-socketio client answers pings: still up at 3 s
    try:
        time.sleep(2.5)
        check(c.sio.connected and not c.disconnected, "answering client was dropped")
    finally:
        c.close()


# ---------------------------------------------------------------------------------------
results = {"passed": 0, "failed": 0}


def run(name: str, fn, *args) -> None:
    t = time.monotonic()
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001
        results["failed"] += 1
        print(f"FAIL  {name}: {e}", flush=True)
        if VERBOSE or not isinstance(e, CheckFailed):
            traceback.print_exc()
        return
    results["passed"] += 1
    print(f"ok    {name} ({time.monotonic() - t:.1f} s)", flush=True)


def expect_caught(fault: str, fn, *extra: str) -> None:
    """The check `fn` must fail against a peer running with `--fault fault`."""
    def body():
        with Peer("--fault", fault, *extra) as peer:
            try:
                fn(peer)
            except CheckFailed as e:
                say(f"{fault}: {e}")
                return
        raise CheckFailed(f"{fn.__name__} did not notice --fault {fault}")
    run(f"fault {fault} caught by {fn.__name__}", body)


def main() -> int:
    def cap(signum, frame):
        raise TimeoutError(f"smoke check over {TOTAL_CAP_S} s")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, cap)
    signal.signal(signal.SIGTERM, stop)  # the finally below still kills the peers
    signal.alarm(TOTAL_CAP_S)
    start = time.monotonic()
    try:
        with Peer() as peer:  # each check leaves the state as it found it, or runs last
            run("open packet (polling, websocket), CONNECT ack, EIO=3", check_open_packet, peer)
            run("upgrade: 2probe, 3probe, 5", check_upgrade, peer)
            run("initial state over websocket", check_initial, peer, "websocket")
            run("initial state over polling", check_initial, peer, "polling")
            run("request_state to the requester only; unknown event", check_request_state, peer)
            run("bad namespace", check_bad_namespace, peer)
            run("bad input: 4xx, no event", check_invalid, peer)
            run("REST commands broadcast to every client", check_rest, peer)
            run("resync after reconnect", check_resync, peer)
        with Peer("--ping-interval", "1", "--ping-timeout", "2") as peer:
            run("server pings; silent client closed; answering client kept", check_pings, peer)
        expect_caught("no-initial-state", check_initial_ws)
        expect_caught("state-to-all", check_request_state)
        expect_caught("no-broadcast-switch", check_rest)
        expect_caught("wrong-brightness-status", check_invalid)
        expect_caught("no-pings", check_pings, "--ping-interval", "1", "--ping-timeout", "2")
    finally:
        signal.alarm(0)
        for p in list(Peer.live):
            p.kill()
    print(f"({time.monotonic() - start:.1f} s)")
    print(f"{results['passed']} passed, {results['failed']} failed")
    return 0 if results["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
