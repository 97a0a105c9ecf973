// An independent `handler` (WebSocketHandler) server on Node `ws` 8. It implements
// PROFILES.md section 1 and the team's handler working spec. It was written from the seed
// (seeds/websockethandler-library.md) and from PROFILES.md's account of the upstream Node
// library, not from our Rust server. It gives the Rust conformance suite
// (`conformance server --profile handler`) a server that the suite's authors did not write.
// The good mode must pass every case. Each `--fault` breaks exactly one rule, so the suite can
// show that the expected case catches it and that no other case does (the table below;
// README.md in this directory summarises it).
//
//   node handler_server.mjs [--port 8080] [--bind 127.0.0.1] [--token T]
//        [--heartbeat-interval-ms 30000] [--max-connections 100] [--max-payload 10485760]
//        [--required-fields a,b] [--disable rpc,streaming] [--store memory|none]
//        [--fault NAME] [--verbose]
//
// `--port 0` picks a free port. The first stdout line is always `listening on PORT` (flushed),
// and nothing else goes to stdout. Logs go to stderr. On SIGTERM or SIGINT every connection
// gets Close 1001 and the process exits 0 (connections that do not answer the close are
// dropped after 1 s). Exit status: 1 when it cannot listen, 2 on bad usage (including an
// unknown fault name).
//
// `ws` is resolved from .tools/node (npm install --prefix .tools/node ws), or from
// wherever Node would find it next to this file.
//
// Good mode, in short (PROFILES.md has the decisions):
//   * Any path is upgraded. `welcome {clientId, authRequired, serverCapabilities,
//     supportedClientTypes, timestamp}` is sent first. clientId is `client_<ms>_<9 base36>`.
//   * `--token` set ⇒ auth is enabled. A good token gets auth_response success:true. A bad one
//     gets success:false "Invalid authentication token", then Close 1008 "Authentication failed"
//     1000 ms later, and messages in that second are ignored. Without `--token`, every auth gets
//     success:true "Authentication not required". While auth is enabled and not yet done,
//     everything except handshake/auth/heartbeat/ping gets error AUTH_REQUIRED.
//   * data/sensor_data → data_response, with an in-memory insertId that is strictly increasing
//     over the process and requestId echoed. `--required-fields` entries must be present,
//     non-null and non-blank, or the reply is success:false "Data validation failed".
//   * request: get_weather / echo / anything else → "Unknown endpoint: <e>".
//   * rpc_call: calculateAverage, echo, server.info, server.stats, pubsub.topics, streams.list,
//     streams.start (server stream on absolute deadlines), anything else → "Method <m> not found".
//   * subscribe / unsubscribe / publish: exact topics, no self-echo, cleanup on close.
//   * stream_start / stream_data / stream_end from the client (an unknown stream id in
//     stream_data → error UNKNOWN_STREAM).
//   * heartbeat → heartbeat_response; ping → pong.
//   * RFC 6455 ping every heartbeat interval (`--heartbeat-interval-ms 0` turns heartbeat
//     off). A client that has shown no sign of life (pong frame or heartbeat message; the
//     connect counts as one) for more than 2 intervals is closed 1000 "Heartbeat timeout". This
//     is checked four times an interval, so a silent client is closed after 2.0–2.25 intervals.
//   * Connection N+1 over `--max-connections` is closed 1013 "Server overloaded" with no welcome.
//     A message over `--max-payload` is closed 1009 by `ws` itself.
//   * Invalid JSON → error INVALID_JSON; unknown type → UNKNOWN_MESSAGE_TYPE; a malformed known
//     message → VALIDATION_ERROR. The connection stays open. Binary frames are ignored.
//
// Fault modes (each breaks one rule; the case named on the right must catch it):
//   no-welcome                 handshake_response sent on connect instead of welcome  -> handler.ws.welcome
//   same-client-id             every connection gets the same clientId                -> handler.ws.welcome
//   handshake-wrong-id         handshake_response carries another clientId           -> handler.ws.handshake
//   reject-good-token          a good auth (or any auth when auth is off) is answered
//                              success:false, but the session is authenticated and
//                              stays open                                            -> handler.ws.auth.good_token
//   bad-token-no-close         a bad token gets success:false and no close           -> handler.ws.auth.bad_token
//   data-before-auth-accepted  the auth gate lets data/sensor_data through, and they
//                              are stored (success:true, no required-field check)   -> handler.ws.auth.data_before_auth
//   no-request-id-echo         data_response omits requestId                         -> handler.ws.data
//   insert-id-repeats          insertId = ceil(n/2): 1, 1, 2, 2, …                   -> handler.ws.data.insert_id
//   ignore-required-fields     --required-fields is not checked                      -> handler.ws.data.required_fields
//   wrong-request-id           `response` carries requestId + "_x" (rpc untouched)   -> handler.ws.request
//   average-wrong              calculateAverage divides by n + 1 ([10..50] → 25)     -> handler.ws.rpc
//   publish-mangles-data       delivered data gets an extra member (or is wrapped)   -> handler.ws.pubsub.delivery
//   echo-to-publisher          a subscribed publisher gets its own publish           -> handler.ws.pubsub.no_self_echo
//   ignore-unsubscribe         unsubscribe answered success:true but not applied     -> handler.ws.pubsub.unsubscribe
//   keep-dead-subscribers      closed connections stay subscribed (pubsub.topics
//                              keeps listing their topics)                           -> handler.ws.pubsub.cleanup
//   no-stream-ack              no stream_start_response / stream_end_response for
//                              client streams                                        -> handler.ws.streams.ack
//   stream-gap                 streams.start skips sequenceNumber 2 (0, 1, 3, 4, …)  -> handler.ws.streams.server
//   no-heartbeat-response      heartbeat gets no reply                               -> handler.ws.heartbeat
//   no-pings                   no RFC 6455 pings; liveness is then any inbound
//                              message, so a silent client is still closed at
//                              2.0–2.25× (an idle one that sends nothing, too)       -> handler.ws.heartbeat.pings
//   never-timeout              pings go on, but nobody is ever closed for silence   -> handler.ws.heartbeat.timeout
//   no-connection-limit        --max-connections is not enforced                     -> handler.ws.limits.connections
//   no-payload-limit           --max-payload is not enforced (ws maxPayload 0)       -> handler.ws.limits.payload
//   close-on-bad-json          invalid JSON: the error, then Close 1007              -> handler.ws.bad_input
//   extra-field-in-pong        heartbeat_response and pong carry an extra member
//                              `"server": "handler_server.mjs"` (closed schemas)      -> handler.ws.schema

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createHash, randomInt, timingSafeEqual } from "node:crypto";
import { performance } from "node:perf_hooks";
import path from "node:path";

function loadWs() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repo = path.resolve(here, "..", "..", "..");
  for (const base of [path.join(repo, ".tools", "node", "x.js"), fileURLToPath(import.meta.url)]) {
    try {
      return createRequire(base)("ws");
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return null;
}

const FAULTS = [
  "none",
  "no-welcome",
  "same-client-id",
  "handshake-wrong-id",
  "reject-good-token",
  "bad-token-no-close",
  "data-before-auth-accepted",
  "no-request-id-echo",
  "insert-id-repeats",
  "ignore-required-fields",
  "wrong-request-id",
  "average-wrong",
  "publish-mangles-data",
  "echo-to-publisher",
  "ignore-unsubscribe",
  "keep-dead-subscribers",
  "no-stream-ack",
  "stream-gap",
  "no-heartbeat-response",
  "no-pings",
  "never-timeout",
  "no-connection-limit",
  "no-payload-limit",
  "close-on-bad-json",
  "extra-field-in-pong",
];
const FEATURES = ["request", "pubsub", "rpc", "streaming"];
const FEATURE_MESSAGE = {
  request: "Request-response not enabled",
  pubsub: "Pub-Sub not enabled",
  rpc: "RPC not enabled",
  streaming: "Streaming not enabled",
};
const SERVER_VERSION = "2.0.0";
const CLIENT_TYPES = ["microcontroller", "application", "service"];
const AUTH_CLOSE_DELAY_MS = 1000;
const SHUTDOWN_GRACE_MS = 1000;

function usage(message) {
  process.stderr.write(
    `handler_server.mjs: ${message}\n` +
      "usage: node handler_server.mjs [--port P] [--bind ADDR] [--token T] [--heartbeat-interval-ms N]\n" +
      "       [--max-connections N] [--max-payload BYTES] [--required-fields a,b] [--disable rpc,streaming]\n" +
      `       [--store memory|none] [--fault NAME] [--verbose]\n       faults: ${FAULTS.join(", ")}\n`,
  );
  process.exit(2);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      port: { type: "string", default: "8080" },
      bind: { type: "string", default: "127.0.0.1" },
      token: { type: "string" },
      "heartbeat-interval-ms": { type: "string", default: "30000" },
      "max-connections": { type: "string", default: "100" },
      "max-payload": { type: "string", default: "10485760" },
      "required-fields": { type: "string", default: "" },
      disable: { type: "string", default: "" },
      store: { type: "string", default: "memory" },
      fault: { type: "string", default: "none" },
      verbose: { type: "boolean", default: false },
    },
  }));
} catch (e) {
  usage(e.message);
}

const intArg = (name, min, max) => {
  const text = opts[name];
  const n = Number(text);
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) {
    usage(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`);
  }
  return n;
};
const port = intArg("port", 0, 65535);
const heartbeatIntervalMs = intArg("heartbeat-interval-ms", 0, 3_600_000);
const maxConnections = intArg("max-connections", 1, 1_000_000);
const maxPayload = intArg("max-payload", 1, 2 ** 31 - 1);
const fault = opts.fault;
if (!FAULTS.includes(fault)) usage(`unknown fault ${JSON.stringify(fault)}`);
if (opts.token === "") usage("--token must not be empty (leave it out to disable auth)");
const authToken = opts.token ?? null;
const requiredFields = opts["required-fields"].split(",").map((f) => f.trim()).filter(Boolean);
const disabled = new Set(opts.disable.split(",").map((f) => f.trim()).filter(Boolean));
for (const f of disabled) if (!FEATURES.includes(f)) usage(`--disable: unknown feature ${f} (${FEATURES.join(", ")})`);
if (!["memory", "none"].includes(opts.store)) usage("--store must be memory or none");
const storeInsertIds = opts.store === "memory";
const enabled = (feature) => !disabled.has(feature);

const wsLib = loadWs();
if (!wsLib) usage("cannot find the ws package (npm install --prefix .tools/node ws)");
const { WebSocketServer, WebSocket } = wsLib;

const log = (...parts) => process.stderr.write(`handler_server: ${parts.join(" ")}\n`);
const debug = opts.verbose ? log : () => {};
const now = () => new Date().toISOString();

// ---- process-wide state ----------------------------------------------------------------

const startedAt = Date.now();
const clients = new Map(); // connection serial -> Client (welcomed, not yet closed)
const topics = new Map(); // topic -> Set<Client>
let insertCount = 0; // data stored so far
let totalConnections = 0;
let rejectedConnections = 0;
let messagesReceived = 0;
let messagesSent = 0;

function randomBase36(n) {
  let s = "";
  for (let i = 0; i < n; i++) s += randomInt(36).toString(36);
  return s;
}
const newClientId = () => `client_${Date.now()}_${randomBase36(9)}`;
const sharedClientId = newClientId(); // same-client-id

function tokenMatches(token) {
  const a = createHash("sha256").update(String(token)).digest();
  const b = createHash("sha256").update(authToken).digest();
  return timingSafeEqual(a, b);
}

function nextInsertId() {
  insertCount += 1;
  return fault === "insert-id-repeats" ? Math.ceil(insertCount / 2) : insertCount;
}

// ---- validation helpers (a light version of the c2s schemas) -------------------------------

const isObject = (v) => typeof v === "object" && v !== null && !Array.isArray(v);
const isName = (v) => typeof v === "string" && v.length >= 1 && v.length <= 256;
const isLabel = (v) => typeof v === "string" && v.length >= 1 && v.length <= 64;
const isClientTimestamp = (v) =>
  v === undefined || (typeof v === "string" && v.length <= 64) || (typeof v === "number" && Number.isFinite(v));
const isBlank = (v) => v === undefined || v === null || (typeof v === "string" && v.trim() === "");

// Returns true when the message has the required members with the right types.
function valid(msg) {
  if (!isClientTimestamp(msg.timestamp)) return false;
  switch (msg.type) {
    case "handshake":
      return (
        typeof msg.clientType === "string" &&
        (msg.capabilities === undefined ||
          (Array.isArray(msg.capabilities) &&
            msg.capabilities.length <= 64 &&
            msg.capabilities.every((c) => typeof c === "string" && c.length >= 1 && c.length <= 128))) &&
        (msg.version === undefined || isLabel(msg.version))
      );
    case "auth":
      return typeof msg.token === "string" && msg.token.length <= 4096;
    case "data":
      return (
        isObject(msg.data) &&
        (msg.dataType === undefined || isLabel(msg.dataType)) &&
        (msg.requestId === undefined || isName(msg.requestId))
      );
    case "sensor_data":
      return msg.requestId === undefined || isName(msg.requestId);
    case "request":
      return isName(msg.requestId) && isName(msg.endpoint);
    case "response":
      return (
        isName(msg.requestId) &&
        typeof msg.success === "boolean" &&
        (msg.error === undefined || msg.error === null || typeof msg.error === "string")
      );
    case "subscribe":
    case "unsubscribe":
      return isName(msg.topic);
    case "publish":
      return isName(msg.topic) && "data" in msg;
    case "rpc_call":
      return isName(msg.requestId) && isName(msg.method);
    case "stream_start":
      return isName(msg.streamId) && isLabel(msg.streamType) && (msg.metadata === undefined || isObject(msg.metadata));
    case "stream_data":
      return isName(msg.streamId) && "data" in msg && Number.isSafeInteger(msg.sequenceNumber) && msg.sequenceNumber >= 0;
    case "stream_end":
      return isName(msg.streamId);
    case "heartbeat":
    case "ping":
      return true;
    default:
      return false;
  }
}

const HANDLERS = {
  handshake: onHandshake,
  auth: onAuth,
  data: onData,
  sensor_data: onData,
  request: onRequest,
  response: onResponse,
  subscribe: onSubscribe,
  unsubscribe: onUnsubscribe,
  publish: onPublish,
  rpc_call: onRpcCall,
  stream_start: onStreamStart,
  stream_data: onStreamData,
  stream_end: onStreamEnd,
  heartbeat: onHeartbeat,
  ping: onPing,
};
const UNGATED = new Set(["handshake", "auth", "heartbeat", "ping"]);
const FEATURE_OF = {
  request: "request",
  subscribe: "pubsub",
  unsubscribe: "pubsub",
  publish: "pubsub",
  rpc_call: "rpc",
  stream_start: "streaming",
  stream_data: "streaming",
  stream_end: "streaming",
};

// ---- one connection --------------------------------------------------------------------

class Client {
  constructor(ws, id, key) {
    this.ws = ws;
    this.id = id;
    this.key = key; // connection serial (clientIds collide under same-client-id)
    this.clientType = "unknown";
    this.capabilities = [];
    this.authenticated = authToken === null;
    this.closing = false; // a bad token was seen: close pending, messages ignored
    this.subscriptions = new Set();
    this.clientStreams = new Map(); // streamId -> {streamType, metadata, startedAt, chunks}
    this.serverStreams = new Map(); // streamId -> server stream state
    this.connectedAt = Date.now();
    this.lastSeen = performance.now(); // last sign of life: pong frame or heartbeat message
    this.pingTimer = null;
    this.checkTimer = null;
    this.authTimer = null;
  }

  send(message) {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    messagesSent += 1;
    this.ws.send(JSON.stringify(message));
  }

  error(code, message) {
    this.send({ type: "error", code, message, timestamp: now() });
  }
}

function startHeartbeat(c) {
  if (heartbeatIntervalMs === 0) return;
  if (fault !== "no-pings") {
    c.pingTimer = setInterval(() => {
      if (c.ws.readyState === WebSocket.OPEN && !c.closing) c.ws.ping();
    }, heartbeatIntervalMs);
  }
  if (fault === "never-timeout") return;
  // Checked four times an interval, so a client silent from the start is closed 2.0–2.25
  // intervals after it connected (upstream checks once an interval and closes at about 2.0).
  c.checkTimer = setInterval(() => {
    if (c.ws.readyState !== WebSocket.OPEN || c.closing) return;
    if (performance.now() - c.lastSeen > 2 * heartbeatIntervalMs) {
      debug(`${c.id}: heartbeat timeout`);
      clearInterval(c.checkTimer);
      c.ws.close(1000, "Heartbeat timeout");
    }
  }, Math.max(1, Math.floor(heartbeatIntervalMs / 4)));
}

function cleanup(c) {
  clearInterval(c.pingTimer);
  clearInterval(c.checkTimer);
  clearTimeout(c.authTimer);
  for (const s of c.serverStreams.values()) clearTimeout(s.timer);
  c.serverStreams.clear();
  c.clientStreams.clear();
  if (fault !== "keep-dead-subscribers") {
    for (const topic of c.subscriptions) unsubscribeFrom(c, topic);
  }
  clients.delete(c.key);
}

function onMessage(c, raw, isBinary) {
  messagesReceived += 1;
  // no-pings: with no pings there are no pongs, so any message is a sign of life.
  if (fault === "no-pings") c.lastSeen = performance.now();
  if (c.closing) return; // the second between a bad token and Close 1008
  if (isBinary) return; // binary frames are accepted silently
  let msg;
  try {
    msg = JSON.parse(raw.toString("utf8"));
  } catch {
    c.error("INVALID_JSON", "Invalid message format");
    if (fault === "close-on-bad-json") c.ws.close(1007, "Invalid JSON");
    return;
  }
  if (!isObject(msg)) {
    c.error("VALIDATION_ERROR", "Invalid message format");
    return;
  }
  const handler = typeof msg.type === "string" && Object.hasOwn(HANDLERS, msg.type) ? HANDLERS[msg.type] : null;
  if (!handler) {
    c.error("UNKNOWN_MESSAGE_TYPE", `Unknown message type: ${String(msg.type).slice(0, 256)}`);
    return;
  }
  let preAuth = false;
  if (!c.authenticated && !UNGATED.has(msg.type)) {
    preAuth = fault === "data-before-auth-accepted" && (msg.type === "data" || msg.type === "sensor_data");
    if (!preAuth) {
      c.error("AUTH_REQUIRED", "Authentication required");
      return;
    }
  }
  const feature = FEATURE_OF[msg.type];
  if (feature && !enabled(feature)) {
    c.error("FEATURE_DISABLED", FEATURE_MESSAGE[feature]);
    return;
  }
  if (!valid(msg)) {
    c.error("VALIDATION_ERROR", "Invalid message format");
    return;
  }
  handler(c, msg, preAuth);
}

// ---- session -----------------------------------------------------------------------------

function onHandshake(c, msg) {
  c.clientType = CLIENT_TYPES.includes(msg.clientType) ? msg.clientType : "unknown";
  c.capabilities = msg.capabilities ?? [];
  c.version = msg.version;
  c.send({
    type: "handshake_response",
    success: true,
    clientId: fault === "handshake-wrong-id" ? newClientId() : c.id,
    serverVersion: SERVER_VERSION,
    timestamp: now(),
  });
}

function onAuth(c, msg) {
  if (authToken === null) {
    if (fault === "reject-good-token") {
      c.send({ type: "auth_response", success: false, message: "Invalid authentication token", timestamp: now() });
    } else {
      c.send({ type: "auth_response", success: true, message: "Authentication not required", timestamp: now() });
    }
    return;
  }
  if (tokenMatches(msg.token)) {
    c.authenticated = true;
    if (fault === "reject-good-token") {
      c.send({ type: "auth_response", success: false, message: "Invalid authentication token", timestamp: now() });
    } else {
      c.send({ type: "auth_response", success: true, message: "Authentication successful", timestamp: now() });
    }
    return;
  }
  c.authenticated = false;
  c.send({ type: "auth_response", success: false, message: "Invalid authentication token", timestamp: now() });
  if (fault === "bad-token-no-close") return;
  c.closing = true;
  c.authTimer = setTimeout(() => c.ws.close(1008, "Authentication failed"), AUTH_CLOSE_DELAY_MS);
}

// ---- data --------------------------------------------------------------------------------

// preAuth: data let through the auth gate by data-before-auth-accepted. It is accepted
// outright (no required-field check), or a probe that lacks a required field would get
// success:false and the fault would go unseen.
function onData(c, msg, preAuth) {
  // sensor_data is the legacy form: the whole message is the data, with dataType "sensor".
  const data = msg.type === "sensor_data" ? msg : msg.data;
  const reply = { type: "data_response", success: true, timestamp: now() };
  const check = fault !== "ignore-required-fields" && !preAuth;
  const missing = check ? requiredFields.filter((f) => isBlank(data[f])) : [];
  if (missing.length) {
    reply.success = false;
    reply.message = "Data validation failed";
    debug(`${c.id}: data missing ${missing.join(",")}`);
  } else if (storeInsertIds) {
    reply.insertId = nextInsertId();
  }
  if (msg.requestId !== undefined && fault !== "no-request-id-echo") reply.requestId = msg.requestId;
  c.send(reply);
}

// ---- request / response ------------------------------------------------------------------

function onRequest(c, msg) {
  const data = msg.data;
  let reply;
  if (msg.endpoint === "get_weather") {
    if (isObject(data) && typeof data.city === "string" && data.city.trim() !== "") {
      reply = { success: true, data: { temperature: 22, condition: "sunny" }, error: null };
    } else {
      reply = { success: false, data: null, error: "Missing data.city" };
    }
  } else if (msg.endpoint === "echo") {
    reply = { success: true, data: data === undefined ? null : data, error: null };
  } else {
    reply = { success: false, data: null, error: `Unknown endpoint: ${msg.endpoint}` };
  }
  const requestId = fault === "wrong-request-id" ? `${msg.requestId}_x` : msg.requestId;
  c.send({ type: "response", requestId, ...reply, timestamp: now() });
}

function onResponse() {
  // The server never sends a request, so every response is to an unknown requestId: ignored.
}

// ---- pub/sub -----------------------------------------------------------------------------

function unsubscribeFrom(c, topic) {
  c.subscriptions.delete(topic);
  const set = topics.get(topic);
  if (!set) return;
  set.delete(c);
  if (set.size === 0) topics.delete(topic);
}

function onSubscribe(c, msg) {
  if (!topics.has(msg.topic)) topics.set(msg.topic, new Set());
  topics.get(msg.topic).add(c);
  c.subscriptions.add(msg.topic);
  c.send({ type: "subscribe_response", success: true, topic: msg.topic, timestamp: now() });
}

function onUnsubscribe(c, msg) {
  if (fault !== "ignore-unsubscribe") unsubscribeFrom(c, msg.topic);
  c.send({ type: "unsubscribe_response", success: true, topic: msg.topic, timestamp: now() });
}

function mangle(data) {
  return isObject(data) ? { ...data, _mangled: true } : { value: data };
}

function onPublish(c, msg) {
  const data = fault === "publish-mangles-data" ? mangle(msg.data) : msg.data;
  const out = { type: "publish", topic: msg.topic, data, timestamp: now() };
  for (const s of topics.get(msg.topic) ?? []) {
    if (s === c && fault !== "echo-to-publisher") continue;
    s.send(out);
  }
  c.send({ type: "publish_response", success: true, topic: msg.topic, timestamp: now() });
}

function activeTopics() {
  const names = [];
  for (const [topic, set] of topics) {
    // A connection whose Close frame has arrived is CLOSING before its 'close' event: it no
    // longer counts (keep-dead-subscribers keeps it on purpose).
    const live = fault === "keep-dead-subscribers" ? set.size : [...set].filter((s) => s.ws.readyState === WebSocket.OPEN).length;
    if (live > 0) names.push(topic);
  }
  return names.sort();
}

// ---- RPC ---------------------------------------------------------------------------------

function rpcCalculateAverage(params) {
  const values = isObject(params) ? params.values : undefined;
  if (!Array.isArray(values) || values.length === 0 || !values.every((v) => typeof v === "number" && Number.isFinite(v))) {
    throw new Error("params.values must be a non-empty array of numbers");
  }
  const sum = values.reduce((a, b) => a + b, 0);
  return sum / (fault === "average-wrong" ? values.length + 1 : values.length);
}

function streamList() {
  const list = [];
  for (const c of clients.values()) {
    for (const [streamId, s] of c.clientStreams) {
      list.push({ streamId, streamType: s.streamType, clientId: c.id, direction: "client", startedAt: s.startedAt });
    }
    for (const [streamId, s] of c.serverStreams) {
      list.push({ streamId, streamType: s.streamType, clientId: c.id, direction: "server", startedAt: s.startedAt });
    }
  }
  return list;
}

function serverInfo() {
  return {
    name: "handler_server.mjs (independent peer)",
    serverVersion: SERVER_VERSION,
    uptime: Date.now() - startedAt,
    authRequired: authToken !== null,
    features: Object.fromEntries(FEATURES.map((f) => [f, enabled(f)])),
    supportedClientTypes: CLIENT_TYPES,
    maxConnections,
    maxPayloadSize: maxPayload,
    heartbeatInterval: heartbeatIntervalMs,
    rpcMethods: Object.keys(RPC_METHODS),
  };
}

function serverStats() {
  let streams = 0;
  for (const c of clients.values()) streams += c.clientStreams.size + c.serverStreams.size;
  return {
    connectionCount: clients.size,
    totalConnections,
    rejectedConnections,
    messagesReceived,
    messagesSent,
    dataInserted: insertCount,
    topics: activeTopics().length,
    activeStreams: streams,
    uptime: Date.now() - startedAt,
  };
}

function intParam(params, name, dflt, min, max) {
  const v = params[name];
  if (v === undefined) return dflt;
  if (!Number.isSafeInteger(v) || v < min || v > max) throw new Error(`params.${name} must be an integer in ${min}..${max}`);
  return v;
}

// streams.start: returns {streamId}; the stream itself starts right after the rpc_response.
function rpcStreamsStart(params, c) {
  if (!enabled("streaming")) throw new Error(FEATURE_MESSAGE.streaming);
  if (params === undefined || params === null) params = {};
  if (!isObject(params)) throw new Error("params must be an object");
  const streamType = params.streamType ?? "sensor_data";
  if (!isLabel(streamType)) throw new Error("params.streamType must be a string of 1..64 characters");
  const intervalMs = intParam(params, "intervalMs", 1000, 1, 60000);
  const durationMs = intParam(params, "durationMs", 60000, 0, 3600000);
  const streamId = params.streamId ?? `stream_${Date.now()}_${randomBase36(9)}`;
  if (!isName(streamId)) throw new Error("params.streamId must be a string of 1..256 characters");
  return { result: { streamId }, after: () => startServerStream(c, streamId, streamType, intervalMs, durationMs) };
}

const RPC_METHODS = {
  calculateAverage: (params) => rpcCalculateAverage(params),
  echo: (params) => (params === undefined ? null : params),
  "server.info": () => serverInfo(),
  "server.stats": () => serverStats(),
  "pubsub.topics": () => activeTopics(),
  "streams.list": () => streamList(),
  "streams.start": rpcStreamsStart,
};

function onRpcCall(c, msg) {
  const method = Object.hasOwn(RPC_METHODS, msg.method) ? RPC_METHODS[msg.method] : null;
  if (!method) {
    c.send({ type: "rpc_response", requestId: msg.requestId, success: false, error: `Method ${msg.method} not found`, timestamp: now() });
    return;
  }
  let result;
  let after = null;
  try {
    result = method(msg.params, c);
    if (msg.method === "streams.start") ({ result, after } = result);
  } catch (e) {
    c.send({ type: "rpc_response", requestId: msg.requestId, success: false, error: String(e.message).slice(0, 1024), timestamp: now() });
    return;
  }
  c.send({ type: "rpc_response", requestId: msg.requestId, success: true, data: result, timestamp: now() });
  if (after) after();
}

// ---- streams -----------------------------------------------------------------------------

function stopServerStream(c, streamId) {
  const s = c.serverStreams.get(streamId);
  if (!s) return false;
  clearTimeout(s.timer);
  c.serverStreams.delete(streamId);
  return true;
}

// The seed's startStream / sendStreamData / endStream over the wire: stream_start, then
// stream_data k = 0, 1, 2 … at t0 + (k + 1) · interval (absolute deadlines, no drift; a late
// tick is caught up, never skipped), while (k + 1) · interval ≤ duration, then stream_end at
// t0 + duration.
function startServerStream(c, streamId, streamType, intervalMs, durationMs) {
  stopServerStream(c, streamId);
  const s = { streamType, startedAt: now(), t0: performance.now(), k: 0, seq: 0, timer: null };
  c.serverStreams.set(streamId, s);
  c.send({ type: "stream_start", streamId, streamType, timestamp: now() });
  const schedule = () => {
    const nextData = (s.k + 1) * intervalMs;
    const due = nextData <= durationMs ? nextData : durationMs;
    s.timer = setTimeout(tick, Math.max(0, s.t0 + due - performance.now()));
  };
  const tick = () => {
    if (c.serverStreams.get(streamId) !== s) return;
    while ((s.k + 1) * intervalMs <= durationMs && s.t0 + (s.k + 1) * intervalMs <= performance.now() + 0.5) {
      if (fault === "stream-gap" && s.seq === 2) s.seq = 3;
      c.send({
        type: "stream_data",
        streamId,
        data: { timestamp: now(), value: Math.round(Math.random() * 10000) / 100 },
        sequenceNumber: s.seq,
        timestamp: now(),
      });
      s.seq += 1;
      s.k += 1;
    }
    if ((s.k + 1) * intervalMs > durationMs && s.t0 + durationMs <= performance.now() + 0.5) {
      c.serverStreams.delete(streamId);
      c.send({ type: "stream_end", streamId, timestamp: now() });
      return;
    }
    schedule();
  };
  schedule();
}

function onStreamStart(c, msg) {
  // The same id again replaces the stream (upstream).
  c.clientStreams.set(msg.streamId, { streamType: msg.streamType, metadata: msg.metadata ?? {}, startedAt: now(), chunks: 0 });
  if (fault !== "no-stream-ack") c.send({ type: "stream_start_response", success: true, streamId: msg.streamId, timestamp: now() });
}

function onStreamData(c, msg) {
  const s = c.clientStreams.get(msg.streamId);
  if (!s) {
    c.error("UNKNOWN_STREAM", `Unknown stream: ${msg.streamId}`);
    return;
  }
  s.chunks += 1;
  s.lastSequenceNumber = msg.sequenceNumber;
}

function onStreamEnd(c, msg) {
  c.clientStreams.delete(msg.streamId);
  const wasServerStream = stopServerStream(c, msg.streamId);
  // Acknowledged also for an unknown id (upstream). no-stream-ack drops the acks of client
  // streams only, so stopping a streams.start stream early is still acknowledged.
  if (fault === "no-stream-ack" && !wasServerStream) return;
  c.send({ type: "stream_end_response", success: true, streamId: msg.streamId, timestamp: now() });
}

// ---- keepalive ---------------------------------------------------------------------------

function onHeartbeat(c) {
  c.lastSeen = performance.now();
  if (fault === "no-heartbeat-response") return;
  const reply = { type: "heartbeat_response", timestamp: now() };
  if (fault === "extra-field-in-pong") reply.server = "handler_server.mjs";
  c.send(reply);
}

function onPing(c) {
  const reply = { type: "pong", timestamp: now() };
  if (fault === "extra-field-in-pong") reply.server = "handler_server.mjs";
  c.send(reply);
}

// ---- server ------------------------------------------------------------------------------

const wss = new WebSocketServer({
  host: opts.bind,
  port,
  maxPayload: fault === "no-payload-limit" ? 0 : maxPayload, // 0 = no limit in ws
  perMessageDeflate: false,
  clientTracking: true,
});

wss.on("connection", (ws, req) => {
  ws.on("error", (e) => debug(`socket error: ${e.message}`));
  if (fault !== "no-connection-limit" && clients.size >= maxConnections) {
    rejectedConnections += 1;
    debug(`rejecting ${req.socket.remoteAddress}:${req.socket.remotePort}: ${clients.size} connections`);
    ws.close(1013, "Server overloaded");
    return;
  }
  totalConnections += 1;
  const id = fault === "same-client-id" ? sharedClientId : newClientId();
  const c = new Client(ws, id, totalConnections);
  clients.set(c.key, c);
  debug(`${id}: connected from ${req.socket.remoteAddress}:${req.socket.remotePort} path ${req.url}`);
  ws.on("message", (raw, isBinary) => onMessage(c, raw, isBinary));
  ws.on("pong", () => {
    c.lastSeen = performance.now();
  });
  ws.on("close", (code) => {
    debug(`${id}: closed ${code}`);
    cleanup(c);
  });
  if (fault === "no-welcome") {
    c.send({ type: "handshake_response", success: true, clientId: id, serverVersion: SERVER_VERSION, timestamp: now() });
  } else {
    c.send({
      type: "welcome",
      clientId: id,
      authRequired: authToken !== null,
      serverCapabilities: {
        requestResponse: enabled("request"),
        pubSub: enabled("pubsub"),
        rpc: enabled("rpc"),
        streaming: enabled("streaming"),
        binaryData: true,
        compression: false,
      },
      supportedClientTypes: CLIENT_TYPES,
      timestamp: now(),
    });
  }
  startHeartbeat(c);
});

wss.on("error", (e) => {
  log(`cannot listen on ${opts.bind}:${port}: ${e.message}`);
  process.exit(1);
});

wss.on("listening", () => {
  process.stdout.write(`listening on ${wss.address().port}\n`);
  log(
    `listening on ${opts.bind}:${wss.address().port} fault=${fault} auth=${authToken !== null} ` +
      `heartbeat=${heartbeatIntervalMs}ms maxConnections=${maxConnections} maxPayload=${maxPayload} ` +
      `requiredFields=${requiredFields.join(",") || "-"}${disabled.size ? ` disabled=${[...disabled].join(",")}` : ""}`,
  );
});

let stopping = false;
function shutdown(signal) {
  if (stopping) return;
  stopping = true;
  debug(`${signal}: closing ${wss.clients.size} connections`);
  for (const ws of wss.clients) ws.close(1001, "Server shutting down");
  const done = () => process.exit(0);
  const force = setTimeout(() => {
    for (const ws of wss.clients) ws.terminate();
    done();
  }, SHUTDOWN_GRACE_MS);
  force.unref();
  wss.close(() => done());
}
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("SIGINT", () => shutdown("SIGINT"));
