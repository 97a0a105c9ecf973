#!/usr/bin/env python3
"""An independent `retroboard` server (PROFILES.md section 4) on Flask + Flask-SocketIO
(`async_mode="threading"`), written from the RetroBoard seed
(`seeds/retroboard-websocket.md`: its `api.py` and `manager.py` snippets, its event tables
and its REST list) and from the decisions in PROFILES.md §4, and not from our Rust server.
It gives the Rust conformance suite (`conformance server --profile retroboard`) a server its
authors did not write. It runs on the very stack the seed names (Flask-SocketIO over
python-socketio / python-engineio / simple-websocket), so what the suite sees is what the
real system sends. The good mode must pass every case. Each `--fault` breaks exactly one
decided behaviour, so the suite can show that the expected case catches it.

    python retroboard_server.py [--port 5000] [--bind 127.0.0.1]
                                [--ping-interval 25] [--ping-timeout 60]
                                [--max-payload 1000000] [--cors-origins '*']
                                [--apps clock,scroll_text,stars] [--carousel-enabled]
                                [--fault NAME]... [--upstream-ping-timeout]
                                [--tcp-nodelay] [--verbose]

Install the pinned stack from `retroboard_requirements.txt` (next to this file) into any
Python >= 3.9 venv, for example

    python3.11 -m venv /tmp/rb-venv
    /tmp/rb-venv/bin/pip install -r conformance/tests/peers/retroboard_requirements.txt
    /tmp/rb-venv/bin/python conformance/tests/peers/retroboard_server.py --port 0

`--port 0` picks a free port. Once the socket is listening, the first and only stdout line is
`LISTENING <port>` (flushed); logs go to stderr (`--verbose` adds the Werkzeug request log
and the python-socketio / python-engineio logs). SIGTERM or SIGINT sends an Engine.IO close
packet to every open connection and exits 0. Exit status 1 when it cannot listen, 2 on bad
usage (including an unknown fault name). `retroboard_smoke.py` next to this file checks it.

Good mode (`--fault` not given, or `--fault none`):

  * Socket.IO on `/socket.io/`, namespace `/` only (any other namespace gets
    `44/nsp,"Unable to connect"`), Engine.IO v4 only (EIO=3 gets HTTP 400), transports
    polling and websocket, upgrades allowed, `cors_allowed_origins` from `--cors-origins`.
    Open packet: `pingInterval` 25000, `pingTimeout` 60000, `maxPayload` 1000000 (from
    the flags).
  * On connect the server emits, to the connecting client only and in this order,
    `apps_list {apps, current}`, `current_app {app, config}`, `settings {brightness}`,
    `carousel_config {enabled, apps, current_index}`. `request_state` (with or without
    extra arguments) emits the same four, in the same order, to the requester only. Any
    other client event is ignored and the connection stays open. No acks.
  * Initial state: apps `clock, scroll_text, stars`, current `clock`; clock config
    `{"font": "tom-thumb", "color": [255, 0, 0]}`, the other apps `{}`; brightness 100;
    carousel `{"enabled": false, "apps": [{"app": "clock", "duration": 10},
    {"app": "scroll_text", "duration": 15}], "current_index": 0}` (`--carousel-enabled`
    starts it enabled, showing apps[0]).
  * REST (bodies are JSON whatever the Content-Type; a body that is not JSON, or not a JSON
    object, is 400):
      POST /api/switch   {"app": str}                 -> 200 {"success", "app"};
                          broadcast current_app, even when the app is already current
      POST /api/config   {"app"?: str, "config": {}}  -> 200 {"success", "app", "config"};
                          shallow merge (keys pass through untouched); broadcast
                          current_app when the app is the current one
      POST /api/carousel {"enabled"?: bool, "apps"?: [{"app", "duration" int >= 1}]}
                          (at least one of the two keys; `apps` non-empty)
                          -> 200 {"success", "enabled", "apps", "current_index"};
                          a new list resets current_index to 0; enabling (false -> true)
                          resets it too and switches to apps[0]; a new list while enabled
                          also switches to apps[0]. Broadcast carousel_config, then
                          current_app if the current app changed
      POST /api/settings {"brightness": int 0..100}   -> 200 {"success", "brightness"};
                          broadcast settings
      GET  /api/current  -> 200 {"app", "config"}
      GET  /api/health   -> 200 {"status": "ok"}
    Errors are {"success": false, "error": "<message>"}: 400 malformed or out of range
    (booleans are not integers, 50.0 is not an integer, NaN/Infinity are not JSON),
    404 unknown app (in switch, config or a carousel entry) or unknown path, 405 wrong
    method (with an Allow header). A request that fails changes nothing and broadcasts
    nothing.
  * Carousel rotation: while enabled, every apps[current_index].duration seconds (timed
    from when the carousel was enabled or its list replaced) the index advances mod len,
    the app switches to that entry's app, and current_app then carousel_config are
    broadcast. A manual /api/switch does not disable the carousel or move its timer.

Where Flask-SocketIO necessarily differs from how another server might do it (all allowed
by PROFILES.md §4):

  * The connect handler runs before python-socketio sends the CONNECT ack (the default
    `always_connect=False`), so the four initial-state events reach the wire *before*
    `40{"sid":...}`. Both orders are conformant.
  * CONNECT_ERROR for an unknown namespace carries a plain string,
    `44/nope,"Unable to connect"`, not an object `{message}`.
  * After a polling -> websocket upgrade python-engineio sends a NOOP `6` on the new
    WebSocket (and ends the pending poll with one).
  * Missing pongs: python-engineio alone notices them in its service task, which visits
    each socket once per pingTimeout / (number of sockets) seconds, so with one client the
    close comes between pingTimeout and about 2 x pingTimeout after the unanswered ping
    (`eio.ping_timeout` wants pingTimeout + 2 s). This peer therefore also checks each
    socket once, pingTimeout + 50 ms after its ping (PeerSocket._send_ping); measured: the
    Close frame (1000, no Engine.IO `1` packet before it: python-engineio's own close path
    drops it) comes pingTimeout + 0.05 s after the ping. `--upstream-ping-timeout` turns
    the check off. The TCP connection may stay open well after the Close frame until the
    client answers it (Werkzeug / simple-websocket), so time the Close frame.
  * Werkzeug does not set TCP_NODELAY: when the server writes several small frames in a
    row (the four initial-state events, carousel_config + current_app), the second can
    wait ~40 ms for the client's delayed ACK (Nagle). That is the real stack's behaviour;
    `--tcp-nodelay` removes it.
  * python-engineio writes `pingInterval` as int(seconds) * 1000, so a fractional
    `--ping-interval` would be announced truncated; this peer writes the open packet's
    `pingInterval` / `pingTimeout` as round(seconds * 1000) itself (see PeerSocket), which
    also lets the `no-pings` / `never-timeout` faults announce the decided values.
  * PeerSocket.close never waits for the packet queue to drain (python-engineio's
    close(wait=True) deadlocks on polling sockets: an oversize polling POST, over
    maxPayload, otherwise never gets its 400 answer). A pending poll still gets the close.
  * Flask's own `request.get_json()` answers 415 to a text/plain body; this peer parses
    `request.get_data()` with json.loads as decided (the `text-plain-415` fault restores
    the Flask behaviour).

Fault modes: see FAULTS below; each entry's comment says what it breaks and which case must
catch it. `--fault` may be given more than once.
"""
from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import os
import signal
import socket
import sys
import threading
import time

try:
    import engineio
    import engineio.packet
    import engineio.socket
    from flask import Flask, Response, request
    from flask_socketio import SocketIO, disconnect, emit
    from werkzeug.exceptions import HTTPException, MethodNotAllowed
    from werkzeug.serving import ThreadedWSGIServer
except ImportError as e:  # pragma: no cover
    sys.stderr.write(f"cannot import the Flask-SocketIO stack ({e}); install "
                     "conformance/tests/peers/retroboard_requirements.txt into a venv\n")
    sys.exit(2)

# ---------------------------------------------------------------------------------------
# Fault modes. Each breaks exactly one decided behaviour (PROFILES.md §4); the case that
# must catch it is after the arrow. Everything not named behaves as in the good mode.
# ---------------------------------------------------------------------------------------
FAULTS: dict[str, str] = {
    "none": "good mode",
    # The connect handler emits nothing: no apps_list/current_app/settings/carousel_config
    # after connecting (request_state still answers).
    #   -> retroboard.state.initial (fail); state.resync also fails, since it reads the
    #      initial state after the reconnect
    "no-initial-state": "connect emits no initial state",
    # request_state's four answers are broadcast to every connected client
    # (socketio.emit) instead of `emit` to the requester only.
    #   -> retroboard.state.request_state (fail: the second client receives them)
    "state-to-all": "request_state answers are broadcast to everyone",
    # POST /api/switch changes the app and answers 200 {"success": true, "app"}, but
    # broadcasts nothing.           -> retroboard.rest.switch (fail)
    "no-broadcast-switch": "switch returns 200 but broadcasts nothing",
    # POST /api/config merges and answers with the new config, but the current_app it
    # broadcasts carries the config as it was before the merge.
    #                               -> retroboard.rest.config (fail)
    "stale-config": "config broadcast carries the old config",
    # POST /api/settings with brightness outside 0..100 clamps it (101 -> 100, -5 -> 0),
    # answers 200 and broadcasts settings (still a valid payload, so no other case is
    # disturbed). Wrong types are still 400.
    #                               -> retroboard.rest.invalid (fail)
    "wrong-brightness-status": "out-of-range brightness returns 200 and broadcasts",
    # A body that is not valid JSON answers 200 {"success": true} (nothing changes and
    # nothing is broadcast). Valid JSON that is not an object is still 400.
    #                               -> retroboard.rest.invalid (fail)
    "accept-bad-json": "malformed JSON body returns 200",
    # The open packet still says pingInterval 25000 (the flag), but the server pings
    # every 3600 s, i.e. never during a test.
    #                               -> retroboard.eio.ping (fail)
    "no-pings": "ping interval 3600 s while announcing the flag's value",
    # python-engineio's default pingTimeout, 20 s, as if the seed's server had been run
    # without `ping_timeout=60`: announced (pingTimeout 20000) and enforced, whatever
    # --ping-timeout says.
    #   -> retroboard.eio.open.polling and .websocket (non-strict: pingTimeout != 60000)
    "short-ping-timeout": "ping timeout 20 s (python-engineio default)",
    # Every REST-triggered broadcast (switch, config, carousel, settings) is emitted 1.5 s
    # after the change instead of at once (the HTTP answer is not delayed; carousel
    # rotation is not delayed).
    #   -> retroboard.rest.switch, .settings, .carousel, .config (fail: > 500 ms)
    "slow-broadcast": "REST broadcasts arrive 1.5 s late",
    # A client event other than request_state makes the server disconnect that client
    # (Socket.IO `41`, then the transport closes).
    #                               -> retroboard.sio.unknown_event (fail)
    "unknown-event-disconnects": "an unknown event disconnects the client",
    # The initial state on connect comes as carousel_config, settings, current_app,
    # apps_list (request_state keeps the decided order).
    #   -> retroboard.state.initial (non-strict: the mutual order differs)
    "wrong-order": "initial-state events in reverse order",
    # request_state does nothing (the connect-time state is still sent).
    #                               -> retroboard.state.request_state (fail)
    "no-resync": "request_state does nothing",
    # --- further faults, from the conformance case list of PROFILES.md §4 ---
    # request_state answers in reverse order (carousel_config ... apps_list); the
    # connect-time state keeps the decided order.
    #                               -> retroboard.state.request_state (fail)
    "request-state-wrong-order": "request_state answers in reverse order",
    # The state sent on connect is the state at startup, not the current one (a cached
    # snapshot); request_state and every broadcast are current.
    #                               -> retroboard.state.resync (fail)
    "stale-initial-state": "connect sends the startup state",
    # The open packet announces pingTimeout 60000 (the flag) and pings go on, but a client
    # that stops answering them is never closed (the real timeout is 3600 s).
    #   -> retroboard.eio.ping_timeout (fail when run; informational for other servers)
    "never-timeout": "silent clients are never closed",
    # Polling open packets still announce "upgrades": ["websocket"], but the upgrade
    # request (GET ...&transport=websocket&sid=...) is answered HTTP 400.
    #                               -> retroboard.eio.upgrade (fail)
    "broken-upgrade": "announces the websocket upgrade but refuses it",
    # A CONNECT to any namespace is accepted (python-socketio namespaces="*"), so
    # `40/nope,` gets `40/nope,{"sid":...}` instead of `44`.
    #                               -> retroboard.sio.bad_namespace (fail)
    "accept-bad-namespace": "every namespace is accepted",
    # Flask's plain `request.get_json()`: a body whose Content-Type is not
    # application/json (e.g. the seed's fetch, text/plain) gets 415.
    #   -> retroboard.rest.text_plain_body (informational)
    "text-plain-415": "a non-JSON Content-Type is answered 415",
    # The seed's literal `def handle_request_state():` (no parameters): request_state with
    # an extra argument (`42["request_state",{}]`) raises TypeError in the handler and
    # nothing is sent; without arguments it still works.
    #   -> retroboard.state.request_state if it sends an argument (informational)
    "request-state-no-args": "request_state with an argument answers nothing",
    # /api/switch to the app that is already current answers 200 but broadcasts nothing
    # (a switch to another app still broadcasts).
    #   -> retroboard.rest.switch, if it switches to the current app
    "no-broadcast-same-app": "a switch to the current app broadcasts nothing",
    # /api/config replaces the app's config instead of merging into it (keys that the
    # body does not name are lost); the broadcast carries the replaced config.
    #   -> retroboard.rest.config, if it checks the shallow merge
    "config-replace": "config is replaced, not merged",
    # The carousel can be enabled and its list set (and the broadcasts are right), but it
    # never rotates. No §4 case covers rotation yet; this is for a future one.
    "no-rotation": "an enabled carousel never rotates",
}
FAULT_PING_INTERVAL_S = 3600  # no-pings
FAULT_PING_TIMEOUT_S = 3600  # never-timeout
ENGINEIO_DEFAULT_PING_TIMEOUT_S = 20  # short-ping-timeout
SLOW_BROADCAST_S = 1.5  # slow-broadcast
LISTEN_BACKLOG = 1024  # Werkzeug's default is 128; the connect-storm load scenario needs more

DEFAULT_APPS = ("clock", "scroll_text", "stars")
DEFAULT_CONFIGS = {"clock": {"font": "tom-thumb", "color": [255, 0, 0]}}
DEFAULT_CAROUSEL = ({"app": "clock", "duration": 10}, {"app": "scroll_text", "duration": 15})
DEFAULT_BRIGHTNESS = 100

log = logging.getLogger("retroboard_server")


def is_int(v: object) -> bool:
    """A JSON integer: Python int but not bool (json.loads gives float for 50.0 and 1e2)."""
    return isinstance(v, int) and not isinstance(v, bool)


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# ---------------------------------------------------------------------------------------
# Engine.IO: the open packet's timing fields are written by us (see the module docstring).
# ---------------------------------------------------------------------------------------
ANNOUNCE = {"pingInterval": 25000, "pingTimeout": 60000}
REFUSE_UPGRADE = False  # broken-upgrade
PRECISE_PING_TIMEOUT = True  # off with --upstream-ping-timeout


class PeerSocket(engineio.socket.Socket):
    def send(self, pkt):
        if pkt.packet_type == engineio.packet.OPEN and isinstance(pkt.data, dict):
            pkt.data = dict(pkt.data, **ANNOUNCE)
        return super().send(pkt)

    def _send_ping(self):
        # python-engineio: sleep pingInterval, then ping (in a thread of its own, started
        # again by each pong). Its service task notices a missing pong only when it next
        # visits this socket, up to pingTimeout later; so this thread also looks once,
        # pingTimeout after its ping, and closes a socket that has not answered it.
        super()._send_ping()
        ping_at = self.last_ping
        if not PRECISE_PING_TIMEOUT or ping_at is None or self.closed or self.closing:
            return
        self.server.sleep(self.server.ping_timeout + 0.05)
        if self.last_ping == ping_at and not self.closed and not self.closing:
            try:
                self.check_ping_timeout()  # closes it: a Close frame / an ended poll
            except Exception:  # noqa: BLE001 - the socket went away meanwhile
                pass

    def close(self, wait=True, abort=False, reason=None):
        # Never wait for the queue to drain. python-engineio's poll() puts the closing None
        # back into the queue, so `queue.join()` never returns once a polling client has
        # collected the close: an oversize polling POST (ContentTooLongError ->
        # Server.disconnect -> close(wait=True)) then hangs its request forever. A pending
        # poll still receives the close packet.
        return super().close(wait=False, abort=abort, reason=reason)

    def _upgrade_websocket(self, environ, start_response):
        # also the path of a direct WebSocket connection (not yet `connected` then)
        if REFUSE_UPGRADE and self.connected:
            return self.server._bad_request("upgrade refused")
        return super()._upgrade_websocket(environ, start_response)


class PeerWSGIServer(ThreadedWSGIServer):
    """Werkzeug's threaded server (what `socketio.run` uses for async_mode="threading"),
    with a longer listen backlog and optional TCP_NODELAY on accepted connections."""
    request_queue_size = LISTEN_BACKLOG
    tcp_nodelay = False

    def get_request(self):
        conn, addr = super().get_request()
        if self.tcp_nodelay:
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        return conn, addr


# python-engineio's Server._handle_connect builds `socket.Socket(self, sid)` from the module
# attribute, so this makes every Engine.IO session a PeerSocket.
engineio.socket.Socket = PeerSocket


# ---------------------------------------------------------------------------------------
# The board: the seed's Application Manager, reduced to what the protocol shows.
# ---------------------------------------------------------------------------------------
class Board:
    def __init__(self, apps: list[str], carousel_enabled: bool) -> None:
        self.cond = threading.Condition()  # guards everything below
        self.apps = list(apps)
        self.configs = {a: copy.deepcopy(DEFAULT_CONFIGS.get(a, {})) for a in self.apps}
        self.current = self.apps[0]
        self.brightness = DEFAULT_BRIGHTNESS
        self.carousel_apps = [dict(e) for e in DEFAULT_CAROUSEL if e["app"] in self.apps]
        if not self.carousel_apps:
            self.carousel_apps = [{"app": self.apps[0], "duration": 10}]
        self.carousel_enabled = False
        self.current_index = 0
        self.deadline: float | None = None  # monotonic time of the next rotation
        if carousel_enabled:
            with self.cond:
                self._start_carousel()

    # payloads (deep copies, so that later changes cannot reach a queued event)
    def apps_list(self) -> dict:
        return {"apps": list(self.apps), "current": self.current}

    def current_app(self) -> dict:
        return {"app": self.current, "config": copy.deepcopy(self.configs[self.current])}

    def settings(self) -> dict:
        return {"brightness": self.brightness}

    def carousel_config(self) -> dict:
        return {"enabled": self.carousel_enabled,
                "apps": [dict(e) for e in self.carousel_apps],
                "current_index": self.current_index}

    def state_events(self) -> list[tuple[str, dict]]:
        return [("apps_list", self.apps_list()), ("current_app", self.current_app()),
                ("settings", self.settings()), ("carousel_config", self.carousel_config())]

    def _start_carousel(self) -> None:
        """Index 0, switch to apps[0], and time the next rotation from now."""
        self.carousel_enabled = True
        self.current_index = 0
        self.current = self.carousel_apps[0]["app"]
        self.deadline = time.monotonic() + self.carousel_apps[0]["duration"]
        self.cond.notify_all()


class RetroBoardPeer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.faults = set(args.fault or ["none"]) - {"none"}
        self.board = Board(args.apps, args.carousel_enabled)
        with self.board.cond:
            self.startup_state = self.board.state_events()  # stale-initial-state

        global REFUSE_UPGRADE, PRECISE_PING_TIMEOUT
        REFUSE_UPGRADE = "broken-upgrade" in self.faults
        PRECISE_PING_TIMEOUT = not args.upstream_ping_timeout
        ping_interval = float(args.ping_interval)
        ping_timeout = float(args.ping_timeout)
        if "short-ping-timeout" in self.faults:
            ping_timeout = ENGINEIO_DEFAULT_PING_TIMEOUT_S
        ANNOUNCE["pingInterval"] = round(ping_interval * 1000)
        ANNOUNCE["pingTimeout"] = round(ping_timeout * 1000)
        if "no-pings" in self.faults:
            ping_interval = FAULT_PING_INTERVAL_S
        if "never-timeout" in self.faults:
            ping_timeout = FAULT_PING_TIMEOUT_S

        self.app = Flask("retroboard_server")
        self.app.json.sort_keys = False  # keep payload keys in the seed's order
        cors = args.cors_origins
        cors = "*" if cors == "*" else [o.strip() for o in cors.split(",") if o.strip()]
        options: dict = {}
        if "accept-bad-namespace" in self.faults:
            options["namespaces"] = "*"
        self.socketio = SocketIO(
            self.app,
            async_mode="threading",
            cors_allowed_origins=cors,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            max_http_buffer_size=args.max_payload,
            logger=args.verbose,
            engineio_logger=args.verbose,
            **options,
        )
        self._register_socketio()
        self._register_rest()

    # -- broadcasting ---------------------------------------------------------------------
    def broadcast(self, events: list[tuple[str, dict]], from_rest: bool = True) -> None:
        """Emit to every client on `/`. Called with the board lock held, so that events
        leave in the order of the changes (an emit only queues packets)."""
        if not events:
            return
        if from_rest and "slow-broadcast" in self.faults:
            def later() -> None:
                self.socketio.sleep(SLOW_BROADCAST_S)
                for name, payload in events:
                    self.socketio.emit(name, payload)
            self.socketio.start_background_task(later)
            return
        for name, payload in events:
            self.socketio.emit(name, payload)

    # -- Socket.IO ------------------------------------------------------------------------
    def _register_socketio(self) -> None:
        sio = self.socketio
        faults = self.faults
        board = self.board

        @sio.on("connect")
        def on_connect(auth=None):
            log.info("client connected via WebSocket: %s", request.sid)
            if "no-initial-state" in faults:
                return
            if "stale-initial-state" in faults:
                events = copy.deepcopy(self.startup_state)
            else:
                with board.cond:
                    events = board.state_events()
            if "wrong-order" in faults:
                events.reverse()
            for name, payload in events:
                emit(name, payload)  # inside a handler: to the connecting client only

        @sio.on("disconnect")
        def on_disconnect(reason=None):
            log.info("client disconnected: %s (%s)", request.sid, reason)

        def answer_request_state() -> None:
            if "no-resync" in faults:
                return
            with board.cond:
                events = board.state_events()
            if "request-state-wrong-order" in faults:
                events.reverse()
            for name, payload in events:
                if "state-to-all" in faults:
                    sio.emit(name, payload)  # broadcast
                else:
                    emit(name, payload)  # to the requester only

        if "request-state-no-args" in faults:
            @sio.on("request_state")
            def on_request_state():  # the seed's signature: extra arguments -> TypeError
                answer_request_state()
        else:
            @sio.on("request_state")
            def on_request_state(*args):  # extra arguments are ignored
                answer_request_state()

        if "unknown-event-disconnects" in faults:
            @sio.on("*")
            def on_any(event, *args):  # python-socketio calls it only for unhandled events
                log.info("unknown event %r from %s: disconnecting", event, request.sid)
                disconnect()

        @sio.on_error_default
        def on_error(e):
            log.warning("Socket.IO handler error: %r", e)

    # -- REST -----------------------------------------------------------------------------
    def _json_body(self) -> dict | None:
        """The body as a JSON object, whatever the Content-Type. None means "answer 200
        and do nothing" (accept-bad-json)."""
        if "text-plain-415" in self.faults and request.mimetype != "application/json":
            raise ApiError(415, f"unsupported media type: {request.mimetype or 'none'}")
        raw = request.get_data(cache=False)

        def no_constant(name: str):
            raise ValueError(f"{name} is not JSON")

        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=no_constant)
        except (UnicodeDecodeError, ValueError, RecursionError) as e:
            if "accept-bad-json" in self.faults:
                return None
            raise ApiError(400, f"malformed JSON body: {e}") from None
        if not isinstance(body, dict):
            raise ApiError(400, "the body must be a JSON object")
        return body

    def _known_app(self, name: object, what: str) -> str:
        if not isinstance(name, str):
            raise ApiError(400, f"{what} must be a string")
        if name not in self.board.apps:
            raise ApiError(404, f"unknown app: {name}")
        return name

    def _register_rest(self) -> None:
        app = self.app
        board = self.board
        faults = self.faults

        def ok(**fields) -> Response:
            return app.json.response({"success": True, **fields})

        def error(status: int, message: str, headers=None) -> Response:
            resp = app.json.response({"success": False, "error": message})
            resp.status_code = status
            for k, v in (headers or {}).items():
                resp.headers[k] = v
            return resp

        @app.errorhandler(ApiError)
        def on_bad_request(e: ApiError):
            return error(e.status, e.message)

        @app.errorhandler(HTTPException)
        def on_http_exception(e: HTTPException):
            headers = {}
            if isinstance(e, MethodNotAllowed) and e.valid_methods:
                headers["Allow"] = ", ".join(sorted(e.valid_methods))
            message = {404: "not found", 405: "method not allowed"}.get(
                e.code or 500, (e.name or "error").lower())
            return error(e.code or 500, message, headers)

        @app.post("/api/switch")
        def api_switch():
            body = self._json_body()
            if body is None:
                return ok()
            if "app" not in body:
                raise ApiError(400, "app is required")
            name = self._known_app(body["app"], "app")
            with board.cond:
                same = name == board.current
                board.current = name
                if "no-broadcast-switch" in faults or (same and "no-broadcast-same-app" in faults):
                    events = []
                else:
                    events = [("current_app", board.current_app())]
                self.broadcast(events)
            return ok(app=name)

        @app.post("/api/config")
        def api_config():
            body = self._json_body()
            if body is None:
                return ok()
            if "config" not in body:
                raise ApiError(400, "config is required")
            config = body["config"]
            if not isinstance(config, dict):
                raise ApiError(400, "config must be an object")
            with board.cond:
                name = board.current
                if "app" in body:
                    name = self._known_app(body["app"], "app")
                old = board.current_app()
                if "config-replace" in faults:
                    board.configs[name] = copy.deepcopy(config)
                else:
                    board.configs[name].update(copy.deepcopy(config))
                merged = copy.deepcopy(board.configs[name])
                events = []
                if name == board.current:
                    events = [("current_app", old if "stale-config" in faults
                               else board.current_app())]
                self.broadcast(events)
            return ok(app=name, config=merged)

        @app.post("/api/carousel")
        def api_carousel():
            body = self._json_body()
            if body is None:
                return ok()
            if "enabled" not in body and "apps" not in body:
                raise ApiError(400, "the body must set enabled, apps or both")
            enabled = body.get("enabled")
            if "enabled" in body and not isinstance(enabled, bool):
                raise ApiError(400, "enabled must be a boolean")
            entries = None
            if "apps" in body:
                raw = body["apps"]
                if not isinstance(raw, list) or not raw:
                    raise ApiError(400, "apps must be a non-empty array")
                entries = []
                for i, e in enumerate(raw):
                    if not isinstance(e, dict):
                        raise ApiError(400, f"apps[{i}] must be an object")
                    if "app" not in e:
                        raise ApiError(400, f"apps[{i}].app is required")
                    if "duration" not in e:
                        raise ApiError(400, f"apps[{i}].duration is required")
                    d = e["duration"]
                    if not is_int(d) or d < 1:
                        raise ApiError(400, f"apps[{i}].duration must be an integer >= 1")
                    entries.append({"app": self._known_app(e["app"], f"apps[{i}].app"),
                                    "duration": d})
            with board.cond:
                before = board.current
                was_enabled = board.carousel_enabled
                if entries is not None:
                    board.carousel_apps = entries
                    board.current_index = 0
                if enabled is not None:
                    board.carousel_enabled = enabled
                if board.carousel_enabled and (entries is not None or not was_enabled):
                    board._start_carousel()
                elif not board.carousel_enabled:
                    board.deadline = None
                    board.cond.notify_all()
                events = [("carousel_config", board.carousel_config())]
                if board.current != before:
                    events.append(("current_app", board.current_app()))
                self.broadcast(events)
                answer = board.carousel_config()
            return ok(**answer)

        @app.post("/api/settings")
        def api_settings():
            body = self._json_body()
            if body is None:
                return ok()
            if "brightness" not in body:
                raise ApiError(400, "brightness is required")
            b = body["brightness"]
            if not is_int(b):
                raise ApiError(400, "brightness must be an integer")
            if not 0 <= b <= 100:
                if "wrong-brightness-status" not in faults:
                    raise ApiError(400, "brightness must be between 0 and 100")
                b = min(100, max(0, b))
            with board.cond:
                board.brightness = b
                self.broadcast([("settings", board.settings())])
            return ok(brightness=b)

        @app.get("/api/current")
        def api_current():
            with board.cond:
                return app.json.response(board.current_app())

        @app.get("/api/health")
        def api_health():
            return app.json.response({"status": "ok"})

    # -- carousel rotation ----------------------------------------------------------------
    def rotation_task(self) -> None:
        board = self.board
        with board.cond:
            while True:
                if (not board.carousel_enabled or board.deadline is None
                        or "no-rotation" in self.faults):
                    board.cond.wait()
                    continue
                remaining = board.deadline - time.monotonic()
                if remaining > 0:
                    board.cond.wait(remaining)
                    continue
                board.current_index = (board.current_index + 1) % len(board.carousel_apps)
                entry = board.carousel_apps[board.current_index]
                board.current = entry["app"]
                # next deadline from the previous one, so rotation does not drift; if we are
                # far behind (a stalled process), restart from now
                board.deadline = max(board.deadline + entry["duration"],
                                     time.monotonic() + 0.001)
                self.broadcast([("current_app", board.current_app()),
                                ("carousel_config", board.carousel_config())],
                               from_rest=False)

    # -- serving --------------------------------------------------------------------------
    def serve(self) -> int:
        PeerWSGIServer.tcp_nodelay = self.args.tcp_nodelay
        try:
            server = PeerWSGIServer(self.args.bind, self.args.port, self.app)
        except (OSError, OverflowError) as e:
            log.error("cannot listen on %s:%s: %s", self.args.bind, self.args.port, e)
            return 1
        self.socketio.start_background_task(self.rotation_task)

        def stop(signum, frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"LISTENING {server.server_port}", flush=True)
        log.info("retroboard peer on http://%s:%d/ (faults: %s)", self.args.bind,
                 server.server_port, ", ".join(sorted(self.faults)) or "none")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        # Engine.IO close packet to every session (without waiting for polling clients
        # to collect it), then leave; all the server's threads are daemons.
        eio = self.socketio.server.eio
        for s in list(eio.sockets.values()):
            try:
                s.close(wait=False)
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
        time.sleep(0.2)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=5000, help="0 picks a free port (default 5000)")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--ping-interval", type=float, default=25.0, metavar="S")
    p.add_argument("--ping-timeout", type=float, default=60.0, metavar="S")
    p.add_argument("--max-payload", type=int, default=1_000_000, metavar="BYTES")
    p.add_argument("--cors-origins", default="*", help="'*' or a comma-separated list")
    p.add_argument("--apps", default=",".join(DEFAULT_APPS),
                   help="comma-separated app names; the first is current at startup")
    p.add_argument("--carousel-enabled", action="store_true",
                   help="start with the carousel enabled (default: disabled)")
    p.add_argument("--fault", action="append", metavar="NAME",
                   help="repeatable; one of: " + ", ".join(FAULTS))
    p.add_argument("--upstream-ping-timeout", action="store_true",
                   help="leave missing-pong detection to python-engineio alone (a close "
                        "pingTimeout to ~2 x pingTimeout after the ping)")
    p.add_argument("--tcp-nodelay", action="store_true",
                   help="set TCP_NODELAY on accepted sockets (Werkzeug does not; without it "
                        "a second small frame can wait ~40 ms for the peer's delayed ACK)")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args(argv)
    for f in args.fault or []:
        if f not in FAULTS:
            p.error(f"unknown fault {f!r}; known: {', '.join(FAULTS)}")
    args.apps = [a.strip() for a in args.apps.split(",") if a.strip()]
    if not args.apps or len(set(args.apps)) != len(args.apps):
        p.error("--apps needs at least one app and no duplicates")
    for name, v in (("--ping-interval", args.ping_interval),
                    ("--ping-timeout", args.ping_timeout)):
        if not math.isfinite(v) or v <= 0:
            p.error(f"{name} must be > 0")
    if args.max_payload < 1:
        p.error("--max-payload must be >= 1")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
    return RetroBoardPeer(args).serve()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
