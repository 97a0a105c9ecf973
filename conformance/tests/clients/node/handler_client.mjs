// A third-party client of the `handler` profile (WebSocketHandler) for the conformance probe
// (`client --profile handler`), on Node `ws`, in a well-behaved mode and in misbehaving ones
// whose verdicts are known in advance (scripts/client-probe checks them).
//
//     node handler_client.mjs URL --mode MODE --duration SECONDS [--token T] [--heartbeat-ms MS]
//
// `good` behaves as the seed's clients (its React hook, Python client and ESP32 sketch):
//   - on `welcome` it sends `handshake {clientType:"application", capabilities, version:"1.0.0"}`
//     at once and, only when `authRequired`, `auth {token}` right after it, without waiting for
//     `handshake_response`;
//   - it sends application `data` only once authenticated: after a successful `auth_response`,
//     or at once when the welcome did not require auth;
//   - it sends `heartbeat` every --heartbeat-ms (default 30000, the seed's), on one timer per
//     connection started at the welcome and stopped at the close. Heartbeats are not gated on
//     auth (the server accepts them before auth);
//   - it answers a server `request` with a `response` carrying the same `requestId`:
//     `get_status` gets success:true with some data, any other endpoint success:false and
//     error "Unknown endpoint: <e>" (the seed's wording);
//   - it logs and ignores `data`, `broadcast`, `publish`, `error` and any type it does not know;
//   - after a close, whoever closed, it reconnects once, after the seed's fixed 5 s.
// The other modes break one rule each:
//   no-auth            never sends auth
//   wrong-request-id   answers requests with a requestId of its own making
//   no-heartbeat       never sends heartbeat
//   hot-reconnect      reconnects 50 ms after each close
//   crash-on-unknown   drops its socket (no close frame, as a crashing process would) when a
//                      message of a type it does not know arrives; it reconnects after 5 s
// Output: one JSON line per event on stdout (the token is never printed).
// Exit status: 0 after SECONDS; 2 on a usage error or when `ws` cannot be found
// (npm install --prefix .tools/node ws).

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const MODES = ["good", "no-auth", "wrong-request-id", "no-heartbeat", "hot-reconnect", "crash-on-unknown"];
const RECONNECT_MS = 5000;
const HOT_RECONNECT_MS = 50;
/// The types this client knows (it handles or deliberately ignores them).
const KNOWN = new Set([
  "welcome",
  "handshake_response",
  "auth_response",
  "data_response",
  "heartbeat_response",
  "pong",
  "request",
  "response",
  "data",
  "broadcast",
  "publish",
  "subscribe_response",
  "unsubscribe_response",
  "publish_response",
  "rpc_response",
  "stream_start",
  "stream_data",
  "stream_end",
  "stream_start_response",
  "stream_end_response",
  "error",
]);

function loadWs() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repo = path.resolve(here, "..", "..", "..", "..");
  for (const base of [path.join(repo, ".tools", "node", "x.js"), fileURLToPath(import.meta.url)]) {
    try {
      return createRequire(base)("ws");
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return null;
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node handler_client.mjs URL --mode {${MODES.join(",")}} --duration SECONDS [--token T] [--heartbeat-ms MS]\n`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const url = args.shift();
const options = { mode: "good", duration: NaN, token: "", "heartbeat-ms": 30000 };
while (args.length) {
  const name = args.shift();
  if (!name.startsWith("--") || !(name.slice(2) in options) || !args.length) usage(`bad argument ${name}`);
  options[name.slice(2)] = args.shift();
}
const mode = options.mode;
const duration = Number(options.duration);
const heartbeatMs = Number(options["heartbeat-ms"]);
if (!url || !url.startsWith("ws") || !MODES.includes(mode) || !(duration > 0) || !(heartbeatMs > 0)) {
  usage("missing or bad arguments");
}
const WebSocket = loadWs();
if (!WebSocket) usage("cannot find the ws package (npm install --prefix .tools/node ws)");

const START = performance.now();
const log = (event, fields = {}) =>
  process.stdout.write(JSON.stringify({ event, t: Math.round(performance.now() - START) / 1000, ...fields }) + "\n");

let stopped = false;
let current = null; // the live connection
let connections = 0;
let ownRequestIds = 0;

// One connection and its own state: nothing carries over to the next one.
function connect() {
  if (stopped) return;
  connections += 1;
  const conn = { n: connections, ws: new WebSocket(url), authed: false, heartbeat: null, ended: false };
  current = conn;
  const { ws } = conn;

  const send = (message) => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  };
  const authenticated = () => {
    if (conn.authed) return;
    conn.authed = true;
    log("authenticated", { conn: conn.n });
    send({
      type: "data",
      dataType: "application",
      data: { client: "handler_client.mjs", mode, connection: conn.n },
      timestamp: new Date().toISOString(),
    });
  };
  const answer = (request) => {
    const requestId =
      mode === "wrong-request-id" ? `req_${Date.now()}_${(ownRequestIds += 1)}` : request.requestId;
    if (request.endpoint === "get_status") {
      send({
        type: "response",
        requestId,
        success: true,
        data: { status: "ok", uptimeMs: Math.round(performance.now() - START), connection: conn.n },
        timestamp: new Date().toISOString(),
      });
    } else {
      send({
        type: "response",
        requestId,
        success: false,
        error: `Unknown endpoint: ${request.endpoint}`,
        timestamp: new Date().toISOString(),
      });
    }
    log("answered", { conn: conn.n, endpoint: request.endpoint, requestId: request.requestId, sentId: requestId });
  };

  ws.on("open", () => log("open", { conn: conn.n }));
  ws.on("message", (raw, isBinary) => {
    if (isBinary || conn.ended) return;
    let message;
    try {
      message = JSON.parse(raw.toString());
    } catch {
      log("not-json", { conn: conn.n });
      return;
    }
    const type = message && typeof message === "object" ? message.type : undefined;
    if (!KNOWN.has(type)) {
      if (mode === "crash-on-unknown") {
        log("crash", { conn: conn.n, type });
        conn.ended = true;
        ws.terminate();
      } else {
        log("ignored-unknown", { conn: conn.n, type });
      }
      return;
    }
    switch (type) {
      case "welcome":
        log("welcome", { conn: conn.n, authRequired: message.authRequired === true });
        send({
          type: "handshake",
          clientType: "application",
          capabilities: ["real_time_display", "user_interface", "request_response"],
          version: "1.0.0",
        });
        if (message.authRequired === true) {
          if (mode !== "no-auth") send({ type: "auth", token: options.token });
        } else {
          authenticated();
        }
        if (mode !== "no-heartbeat" && !conn.heartbeat) {
          conn.heartbeat = setInterval(() => send({ type: "heartbeat", timestamp: new Date().toISOString() }), heartbeatMs);
        }
        break;
      case "auth_response":
        log("auth_response", { conn: conn.n, success: message.success === true });
        if (message.success === true) authenticated();
        break;
      case "request":
        answer(message);
        break;
      case "error":
        log("server-error", { conn: conn.n, message: String(message.message ?? "").slice(0, 120) });
        break;
      case "heartbeat_response":
        break;
      default:
        log("received", { conn: conn.n, type });
    }
  });
  ws.on("error", (error) => log("error", { conn: conn.n, message: String(error.message).slice(0, 120) }));
  // `close` comes once per socket, also after a failed connect or terminate(): one reconnect each.
  ws.on("close", (code) => {
    conn.ended = true;
    clearInterval(conn.heartbeat);
    conn.heartbeat = null;
    log("close", { conn: conn.n, code });
    if (stopped || current !== conn) return;
    setTimeout(connect, mode === "hot-reconnect" ? HOT_RECONNECT_MS : RECONNECT_MS);
  });
}

connect();
setTimeout(() => {
  stopped = true;
  if (current) {
    clearInterval(current.heartbeat);
    current.ws.close(1000);
  }
  setTimeout(() => process.exit(0), 200);
}, duration * 1000);
