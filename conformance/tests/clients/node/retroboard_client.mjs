// A third-party RetroBoard client on the official socket.io-client (4.x: Socket.IO v5 over
// Engine.IO v4), with a well-behaved mode and misbehaving modes, for testing the conformance
// tool's `client --profile retroboard` probe (PROFILES.md section 4, "Client probe") in CI.
//
//     node retroboard_client.mjs URL --mode MODE --duration SECONDS
//
// URL is the server's base, http://HOST:PORT (path /socket.io/ and namespace / are implied).
// Where socket.io-client comes from. The repo has no package.json; scripts/check-api-docs
// installs the pinned client into the tools prefix:
//
//     npm install --prefix .tools/node --no-audit --no-fund --ignore-scripts socket.io-client@4.8.4
//
// The library is found by client_common.mjs (requireFor): $RETROBOARD_NODE_PREFIX (an npm --prefix
// directory), then <repo>/.tools/node, then ordinary resolution (NODE_PATH). Node 20 or later.
//
// Modes (each other mode is `good` with exactly one deviation):
//   good                 the seed's client: default transports (polling, then the upgrade to
//                        WebSocket), EIO=4; emits `request_state` (no arguments) on every
//                        `connect`, the first and every reconnect; prints apps_list,
//                        current_app, settings and carousel_config; automatic reconnection on
//                        with the seed's settings (reconnectionDelay 1000, reconnectionDelayMax
//                        5000, randomizationFactor 0.5, reconnectionAttempts Infinity, timeout
//                        20000); answers pings (the library does); never calls REST. After
//                        `disconnect` with reason "io server disconnect" (a Socket.IO `41`),
//                        which the library never follows with a reconnect of its own, it calls
//                        socket.connect() by hand 1 s later (the seed's snippet; if that
//                        attempt fails, the Manager's back-off takes over).
//   no-resync            emits request_state after the first connect only, not after reconnects
//   no-request-state     never emits request_state
//   hammer               reconnectionDelay 50, reconnectionDelayMax 50, randomizationFactor 0:
//                        a reconnect attempt every ~50 ms
//   no-reconnect         reconnection: false, and no manual reconnect after a `41` either
//   poll-rest            as good, plus GET URL/api/current every 500 ms (the seed's "bad:
//                        polling" example, with fetch; errors are printed and ignored)
//   no-pong              as good, but never answers the server's Engine.IO pings: on every new
//                        engine.io-client Socket (socket.io.engine, one per (re)connection) the
//                        instance's _sendPacket is wrapped to drop type "pong". engine.io-client
//                        6.6 answers a ping in Socket._onPacket, case "ping":
//                        this._sendPacket("pong") (then emits "ping" and resets its own
//                        pingInterval + pingTimeout timer, which our override leaves alone).
//   no-manual-reconnect  as good, but no manual reconnect after a `41` (automatic reconnection
//                        after transport drops stays on)
//
// Output: one JSON object per line on stdout, each with `event` and `t` (seconds since start):
// start; connect (n, id, transport); emit (request_state); recv (name, data) for every event;
// upgrade (transport); ping (answered); disconnect (reason, description, then: auto / manual /
// none); connect_error; reconnect_attempt (attempt, ms since the previous attempt or the
// disconnect); reconnect_error; reconnect; manual_reconnect; poll (status or error); stopping;
// exit. The process exits 0 after SECONDS, disconnecting cleanly (2 on bad usage or a missing
// library).

import { createRequire } from "node:module";
import { commandLine, errorText, log, now, requireFor, short, versionOf } from "./client_common.mjs";

const MODES = [
  "good",
  "no-resync",
  "no-request-state",
  "hammer",
  "no-reconnect",
  "poll-rest",
  "no-pong",
  "no-manual-reconnect",
];
const STATE_EVENTS = ["apps_list", "current_app", "settings", "carousel_config"];
const MANUAL_RECONNECT_AFTER_MS = 1000;
const POLL_EVERY_MS = 500;
const HTTP_TIMEOUT_MS = 2000;
const CLOSE_GRACE_MS = 500;

function loadClient() {
  const req = requireFor("socket.io-client", "RETROBOARD_NODE_PREFIX");
  if (req === null) return null;
  const { io } = req("socket.io-client");
  // engine.io-client as socket.io-client itself resolves it
  let engineVersion = "?";
  try {
    engineVersion = versionOf(createRequire(req.resolve("socket.io-client")), "engine.io-client");
  } catch {
    // its "exports" may hide it
  }
  return { io, versions: { "socket.io-client": versionOf(req, "socket.io-client"), "engine.io-client": engineVersion } };
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node retroboard_client.mjs URL --mode {${MODES.join(",")}} --duration SECONDS\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const args = commandLine(argv, {
    modes: MODES,
    schemes: ["http:", "https:"],
    help: "RetroBoard test client (Node socket.io-client)",
    usage,
  });
  args.url = args.url.replace(/\/+$/, "");
  return args;
}

const args = parseArgs(process.argv.slice(2));
const loaded = loadClient();
if (!loaded) {
  process.stderr.write(
    "cannot find socket.io-client: npm install --prefix .tools/node --ignore-scripts socket.io-client@4.8.4\n",
  );
  process.exit(2);
}
const { io, versions } = loaded;
const mode = args.mode;

const options = {
  reconnection: mode !== "no-reconnect",
  reconnectionAttempts: Infinity,
  reconnectionDelay: mode === "hammer" ? 50 : 1000,
  reconnectionDelayMax: mode === "hammer" ? 50 : 5000,
  randomizationFactor: mode === "hammer" ? 0 : 0.5,
  timeout: 20000,
};
log("start", {
  mode,
  url: args.url,
  duration_s: args.duration,
  client: "socket.io-client",
  versions,
  node: process.version,
  options: { ...options, reconnectionAttempts: "Infinity" },
});

let stopping = false;
let connects = 0;
let lastMark = null; // when the last disconnect or reconnect attempt happened
let manualTimer = null;
let poller = null;

const socket = io(args.url, options);

// Every (re)connection has an engine.io-client Socket of its own: watch each one once.
function watchEngine() {
  const engine = socket.io.engine;
  if (!engine || engine.__retroboardWatched) return;
  engine.__retroboardWatched = true;
  if (mode === "no-pong") {
    const send = engine._sendPacket;
    if (typeof send !== "function") {
      log("internal_error", { error: "engine.io-client Socket has no _sendPacket: no-pong cannot work" });
    } else {
      engine._sendPacket = function (type, ...rest) {
        if (type === "pong") return; // swallowed: the server should close us after pingTimeout
        return send.call(this, type, ...rest);
      };
    }
  }
  engine.on("ping", () => log("ping", { answered: mode !== "no-pong" }));
  engine.on("upgrade", (transport) => log("upgrade", { transport: transport?.name }));
  engine.on("upgradeError", (e) => log("upgrade_error", { error: errorText(e) }));
}
watchEngine();
socket.io.on("open", watchEngine);

socket.on("connect", () => {
  watchEngine();
  connects++;
  const n = connects;
  log("connect", { n, id: socket.id, transport: socket.io.engine?.transport?.name });
  if (mode === "no-request-state" || (mode === "no-resync" && n > 1)) {
    log("skip_request_state", { n });
    return;
  }
  socket.emit("request_state");
  log("emit", { name: "request_state", n });
});

socket.on("disconnect", (reason, description) => {
  lastMark = now();
  let then;
  if (stopping || reason === "io client disconnect") then = "none";
  else if (reason === "io server disconnect") {
    then = mode === "no-reconnect" || mode === "no-manual-reconnect" ? "none" : "manual";
  } else then = mode === "no-reconnect" ? "none" : "auto";
  const fields = { reason, then };
  if (description !== undefined) fields.description = short(description?.message ?? description?.description ?? description, 200);
  log("disconnect", fields);
  if (then === "manual" && manualTimer === null) {
    manualTimer = setTimeout(() => {
      manualTimer = null;
      if (stopping || socket.connected) return;
      log("manual_reconnect", { after: reason });
      socket.connect();
    }, MANUAL_RECONNECT_AFTER_MS);
  }
});

socket.on("connect_error", (e) => {
  lastMark ??= now(); // a first connect that failed: the back-off starts here
  const fields = { error: errorText(e) };
  if (e?.description !== undefined) fields.description = short(e.description?.message ?? e.description, 200);
  log("connect_error", fields);
});

for (const name of STATE_EVENTS) {
  socket.on(name, (data) => log("recv", { name, data }));
}
socket.onAny((event, ...rest) => {
  if (!STATE_EVENTS.includes(event)) log("recv", { name: event, data: rest[0], known: false });
});

socket.io.on("reconnect_attempt", (attempt) => {
  const since = lastMark === null ? null : Math.round(now() - lastMark);
  lastMark = now();
  log("reconnect_attempt", { attempt, since_ms: since });
});
socket.io.on("reconnect_error", (e) => log("reconnect_error", { error: errorText(e) }));
socket.io.on("reconnect", (attempt) => log("reconnect", { attempt }));
socket.io.on("reconnect_failed", () => log("reconnect_failed"));

if (mode === "poll-rest") {
  const url = args.url + "/api/current";
  poller = setInterval(async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS) });
      await res.text();
      log("poll", { url, status: res.status });
    } catch (e) {
      log("poll", { url, error: errorText(e) }); // ignored, as the seed's example does
    }
  }, POLL_EVERY_MS);
}

function stop(code = 0) {
  if (stopping) return;
  stopping = true;
  clearInterval(poller);
  clearTimeout(manualTimer);
  log("stopping", { connected: socket.connected });
  try {
    socket.disconnect(); // 41 if connected, closes the engine, stops any reconnection
  } catch (e) {
    log("close_error", { error: errorText(e) });
  }
  // Let the 41 and the Engine.IO close reach the wire, then leave.
  setTimeout(() => {
    log("exit", { code });
    process.exit(code);
  }, CLOSE_GRACE_MS);
}

setTimeout(() => stop(0), args.duration * 1000);
process.on("SIGTERM", () => stop(0));
process.on("SIGINT", () => stop(130));
