// Independent latency probe on Node `ws`: N clients authenticate, then every data frame's
// one-way latency (arrival wall time - frame timestamp) is recorded for D seconds.
// Used to measure what the conformance proxy adds (direct vs proxied, same run) and to
// cross-check loadgen's figures with a client of a different implementation.
//
//   node bench/latency-clients.mjs ws://127.0.0.1:30415/ CLIENTS SECONDS [PASSWORD]
//
// `ws` is resolved from .tools/node (installed by scripts/check-api-docs). Prints one JSON line.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", ".tools", "node", "package.json"));
const WebSocket = require("ws");

const [url, clientsArg, secondsArg, password = "31415"] = process.argv.slice(2);
if (!url || !clientsArg || !secondsArg) {
  console.error("usage: latency-clients.mjs URL CLIENTS SECONDS [PASSWORD]");
  process.exit(2);
}
const clients = Number(clientsArg);
const seconds = Number(secondsArg);
const latenciesUs = [];
let frames = 0;
let lost = 0;
let connected = 0;

// Microsecond timestamps: Date gives ms only, so anchor performance.now() to the epoch once.
const epochOffsetMs = Date.now() - performance.now();
const nowUs = () => (epochOffsetMs + performance.now()) * 1000;
const parseUs = (ts) => {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?Z$/.exec(ts);
  if (!m) return NaN;
  const frac = (m[2] || "").padEnd(6, "0").slice(0, 6);
  return Date.parse(m[1] + "Z") * 1000 + Number(frac);
};

let measuring = false;
const sockets = [];
for (let i = 0; i < clients; i++) {
  const ws = new WebSocket(url);
  let last = null;
  ws.on("open", () => ws.send(JSON.stringify({ type: "auth", password })));
  ws.on("message", (data) => {
    const arrived = nowUs();
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (m.type === "auth_response" && m.success) connected++;
    if (m.type !== "data" || !measuring) return;
    frames++;
    if (last !== null && m.frame_count > last + 1) lost += m.frame_count - last - 1;
    last = m.frame_count;
    latenciesUs.push(arrived - parseUs(m.timestamp));
  });
  ws.on("error", () => {});
  sockets.push(ws);
}

setTimeout(() => { measuring = true; }, 1000); // let every client connect first
setTimeout(() => {
  measuring = false;
  latenciesUs.sort((a, b) => a - b);
  const q = (p) => latenciesUs.length ? Math.round(latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(p * latenciesUs.length))]) : null;
  console.log(JSON.stringify({ url, clients, connected, seconds, frames, lost, p50_us: q(0.5), p99_us: q(0.99), p999_us: q(0.999), max_us: q(1) }));
  for (const ws of sockets) ws.terminate();
  process.exit(0);
}, 1000 + seconds * 1000);
