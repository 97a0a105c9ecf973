// Benchmark peer: the NHEM WebSocket broadcast (the subset a load test needs) on Node `ws`,
// so loadgen / latency-clients.mjs can compare it with the Rust reference server in one run.
//
//   node bench/peer-node.mjs [--port 30415] [--fps 60] [--password 31415] [--duration SECONDS]
//
// Protocol subset (docs/protocol-nhem.md): `auth` first (right password: auth_response +
// initial status, then every data frame; wrong: auth_response false + close 1008), `ping` ->
// `pong`, `get_status` -> status; anything else is ignored. `ws` is resolved from .tools/node.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { parseArgs } from "node:util";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", ".tools", "node", "package.json"));
const { WebSocketServer, WebSocket } = require("ws");

const { values: opts } = parseArgs({
  options: {
    port: { type: "string", default: "30415" },
    fps: { type: "string", default: "60" },
    password: { type: "string", default: "31415" },
    duration: { type: "string" },
  },
});
const port = Number(opts.port);
const fps = Number(opts.fps);
const password = opts.password;
const duration = opts.duration === undefined ? null : Number(opts.duration);
if (!Number.isInteger(port) || port < 0 || port > 65535 || !(fps > 0) || (duration !== null && !(duration >= 0))) {
  console.error("usage: peer-node.mjs [--port P] [--fps F] [--password PW] [--duration SECONDS]");
  process.exit(2);
}
const ROI = { x1: 288, y1: 208, x2: 352, y2: 272 };

// Wall clock in µs: Date has ms only, so anchor the monotonic clock to the epoch once.
const epochOffsetMs = Date.now() - performance.now();
const pad = (n, w) => String(n).padStart(w, "0");
// RFC 3339 UTC, exactly 6 fractional digits and `Z`.
const rfc3339 = (us) => {
  const secs = Math.floor(us / 1e6);
  return new Date(secs * 1000).toISOString().slice(0, 19) + "." + pad(us - secs * 1e6, 6) + "Z";
};
const nowTs = () => rfc3339(Math.round((epochOffsetMs + performance.now()) * 1000));

const authed = new Set(); // authenticated sockets: the broadcast set
let frameCount = 0; // last frame sent
const startMono = performance.now();

const statusMessage = (reason) => {
  const elapsed = (performance.now() - startMono) / 1000;
  return JSON.stringify({
    type: "status",
    timestamp: nowTs(),
    status: "running",
    reason,
    frame_count: frameCount,
    fps: elapsed > 0 ? Math.round((frameCount / elapsed) * 100) / 100 : 0,
    target_fps: Math.round(fps),
    connected_clients: authed.size,
    roi: ROI,
  });
};

const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false });
wss.on("connection", (ws) => {
  let isAuthed = false;
  ws.on("message", (data, isBinary) => {
    if (isBinary) return;
    let m;
    try { m = JSON.parse(data); } catch { return; }
    if (!m || typeof m !== "object") return;
    if (!isAuthed) {
      if (m.type !== "auth") return;
      if (m.password === password) {
        isAuthed = true;
        authed.add(ws); // counted before the initial status, like the reference server
        ws.send(JSON.stringify({ type: "auth_response", success: true, message: "Authentication successful" }));
        ws.send(statusMessage("initial"));
      } else {
        ws.send(JSON.stringify({ type: "auth_response", success: false, message: "Authentication failed: wrong password" }));
        ws.close(1008, "authentication failed");
      }
      return;
    }
    if (m.type === "ping") {
      const pong = { type: "pong", timestamp: nowTs() };
      if (m.id !== undefined) pong.id = m.id;
      ws.send(JSON.stringify(pong));
    } else if (m.type === "get_status") {
      ws.send(statusMessage("request"));
    }
  });
  ws.on("close", () => authed.delete(ws));
  ws.on("error", () => authed.delete(ws));
});

// Producer: frame k is due at t0 + k/fps (absolute deadlines, computed from t0 and k).
// Its timestamp is that scheduled time on the wall clock, not the send time.
const t0Mono = performance.now() + 1000 / fps; // ms, monotonic
const t0WallUs = (epochOffsetMs + t0Mono) * 1000;
let k = 0;
let timer = null;
const frameJson = (k) => {
  const phase = k % 50;
  const pulse = Math.exp(-((phase / 3) ** 2)); // a crude peak every 50 frames
  return JSON.stringify({
    type: "data",
    timestamp: rfc3339(Math.round(t0WallUs + (k * 1e6) / fps)),
    frame_count: k,
    current_value: Math.round((120 + 20 * pulse) * 100) / 100,
    peak_signal: k < 30 ? null : phase === 0 ? 1 : 0,
    baseline: 120.0,
    status: "running",
  });
};
const tick = () => {
  const now = performance.now();
  let due = t0Mono + (k * 1000) / fps;
  if (now - due > 1000) {
    // More than 1 s behind: skip ahead to the current slot instead of bursting.
    k = Math.floor(((now - t0Mono) * fps) / 1000);
    due = t0Mono + (k * 1000) / fps;
  }
  if (now >= due) {
    // Serialize once, send the same string to every authenticated client. ws.send never
    // blocks: a slow client's frames pile up in its own buffer (bufferedAmount), so it
    // cannot stall the producer or the other clients.
    const s = frameJson(k);
    for (const ws of authed) if (ws.readyState === WebSocket.OPEN) ws.send(s);
    frameCount = k;
    k += 1;
    due = t0Mono + (k * 1000) / fps;
  }
  timer = setTimeout(tick, Math.max(0, due - performance.now()));
};
timer = setTimeout(tick, Math.max(0, t0Mono - performance.now()));

let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  clearTimeout(timer);
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on("SIGINT", shutdown);
process.on("SIGTERM", shutdown);
if (duration !== null) setTimeout(shutdown, duration * 1000);

wss.on("listening", () => console.log(`listening ws://127.0.0.1:${wss.address().port}/ fps=${fps}`));
wss.on("error", (e) => { console.error(`peer-node: ${e.message}`); process.exit(1); });
