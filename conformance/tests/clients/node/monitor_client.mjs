// A third-party client of the `monitor` profile for the conformance probe (`client --profile
// monitor`), on Node `ws`, in a well-behaved mode and in misbehaving ones whose verdicts are
// known in advance (scripts/client-probe checks them).
//
//     node monitor_client.mjs URL --mode MODE --duration SECONDS [--key KEY] [--ping-ms MS]
//
// `good` follows the seed's JavaScript client, scaled down and with its faults fixed: the
// Bearer key and X-Client-ID on the upgrade, a ping on open and every --ping-ms (default 1000;
// one timer, not one more per reconnect), the seed's subscription on every connection, back-off
// doubling from 200 ms across failed attempts (reset on open), and at least `retry_after` after
// an error that carries one. The other modes break one rule each:
//   no-key             no Authorization header
//   hammer             reconnects at once, whatever happened
//   ignore-retry       ignores retry_after
//   crash-on-resolved  reads alert.title.length, as code written for active alerts does, and
//                      dies on the first resolved alert (which has no title)
// Exit status: 0 after SECONDS; 3 when crash-on-resolved dies; 2 on a usage error or when `ws`
// cannot be found (npm install --prefix .tools/node ws).

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const MODES = ["good", "no-key", "hammer", "ignore-retry", "crash-on-resolved"];
const FIRST_DELAY_MS = 200;

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
    `${message}\nusage: node monitor_client.mjs URL --mode {${MODES.join(",")}} --duration SECONDS [--key KEY] [--ping-ms MS]\n`,
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const url = args.shift();
const options = { mode: "good", duration: NaN, key: "your-api-key", "ping-ms": 1000 };
while (args.length) {
  const name = args.shift();
  if (!name.startsWith("--") || !(name.slice(2) in options) || !args.length) usage(`bad argument ${name}`);
  options[name.slice(2)] = args.shift();
}
const mode = options.mode;
const duration = Number(options.duration);
const pingMs = Number(options["ping-ms"]);
if (!url || !MODES.includes(mode) || !(duration > 0) || !(pingMs > 0)) usage("missing or bad arguments");
const WebSocket = loadWs();
if (!WebSocket) usage("cannot find the ws package (npm install --prefix .tools/node ws)");

const START = performance.now();
const log = (event, fields = {}) =>
  process.stdout.write(JSON.stringify({ event, t: Math.round(performance.now() - START) / 1000, ...fields }) + "\n");

let ws = null;
let attempts = 0;
let retryAfterMs = 0;
let pingTimer = null;
let stopped = false;

function send(message) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
}

function ping() {
  send({ type: "ping" });
}

function connect() {
  const headers = mode === "no-key" ? {} : { Authorization: `Bearer ${options.key}`, "X-Client-ID": `probe-${mode}` };
  ws = new WebSocket(url, { headers });
  ws.on("open", () => {
    log("open");
    attempts = 0;
    ping();
    send({ type: "subscribe", data: { events: ["alert.cpu", "alert.memory"], filters: { level: ["warning", "critical"] } } });
  });
  ws.on("message", (raw) => {
    const message = JSON.parse(raw.toString());
    if (message.type === "error" && Number.isInteger(message.data?.retry_after)) {
      retryAfterMs = message.data.retry_after;
      log("retry_after", { ms: retryAfterMs });
    }
    if (message.type === "alert") {
      if (mode === "crash-on-resolved" && message.data.title.length === 0) log("never");
      log("alert", { status: message.data.status });
    }
  });
  ws.on("error", (error) => log("error", { message: String(error.message).slice(0, 120) }));
  ws.on("close", (code) => {
    log("close", { code });
    if (stopped) return;
    attempts += 1;
    let delay = mode === "hammer" ? 0 : FIRST_DELAY_MS * 2 ** (attempts - 1);
    if (mode !== "ignore-retry" && mode !== "hammer") delay = Math.max(delay, retryAfterMs);
    retryAfterMs = 0;
    setTimeout(connect, delay);
  });
}

process.on("uncaughtException", (error) => {
  log("crash", { message: String(error.message) });
  process.exit(3);
});

pingTimer = setInterval(ping, pingMs);
connect();
setTimeout(() => {
  stopped = true;
  clearInterval(pingTimer);
  if (ws) ws.close();
  setTimeout(() => process.exit(0), 200);
}, duration * 1000);
