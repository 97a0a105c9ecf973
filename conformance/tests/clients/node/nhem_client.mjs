#!/usr/bin/env node
// A third-party NHEM WebSocket client on the `ws` npm package (8.x), with well-behaved and
// misbehaving modes, for testing the conformance tool's `client` mode (the probe server) in CI.
//
//     node nhem_client.mjs URL --mode MODE --duration SECONDS [--password P]
//
// Where `ws` comes from. The repo has no package.json; `ws` is installed into the tools prefix:
//
//     npm install --prefix .tools/node --no-audit --no-fund ws@8.23.0
//
// The library is found by client_common.mjs (requireFor): $NHEM_NODE_PREFIX (an npm --prefix
// directory), then <repo>/.tools/node, then ordinary resolution (NODE_PATH). Node 20 or later.
//
// Modes (see ../README.md): good, no-auth, hammer, no-read, crash-on-unknown. Every event is one
// JSON line on stdout; `message` events are a once-a-second count summary. The process exits 0
// after SECONDS (3 when crash-on-unknown gives up, 2 on bad usage or a missing `ws`).
//
// no-read: right after sending auth the client calls `ws.pause()`, which pauses the net.Socket.
// A paused socket stops reading from the kernel once Node's own readable buffer holds
// highWaterMark bytes (16 KiB in Node 20): libuv's readStop() is called and nothing drains the
// kernel receive queue again. Node 20 has no API to set SO_RCVBUF on a TCP socket (only on UDP),
// so the buffer is not locked, and Linux receive autotuning keeps growing it while data queues
// (measured: Recv-Q 90 KB after 10 s, 630 KB after 60 s at 60 FPS, rcvbuf following it, up to
// net.ipv4.tcp_rmem[2]). The TCP window of this client therefore closes only after megabytes;
// a server notices it much sooner by a WebSocket Ping that never gets its Pong.

import { commandLine, START, errorText, log, now, requireFor, short, versionOf } from "./client_common.mjs";

const MODES = ["good", "no-auth", "hammer", "no-read", "crash-on-unknown"];
const KNOWN_TYPES = new Set(["auth_response", "data", "status", "pong", "error"]);
const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 3200;
const STABLE_AFTER_MS = 5000;
const PING_EVERY_MS = 2000;
const EXIT_UNKNOWN = 3;
const BAD_LOGS_PER_SECOND = 5;
const CONN_LOGS_PER_SECOND = 5;
const NOTABLE_PER_SUMMARY = 5;
const CLOSE_GRACE_MS = 1500;

function loadWs() {
  const req = requireFor("ws", "NHEM_NODE_PREFIX");
  return req === null ? null : { WebSocket: req("ws"), version: versionOf(req, "ws") };
}

function usage(message) {
  process.stderr.write(
    `${message}\nusage: node nhem_client.mjs URL --mode {${MODES.join(",")}} --duration SECONDS [--password P]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  return commandLine(argv, {
    modes: MODES,
    schemes: ["ws:", "wss:"],
    extra: { password: "31415" },
    help: "NHEM test client (Node ws)",
    usage,
  });
}

// Received frames, printed as one `message` event a second.
const stats = {
  conn: 0,
  reset() {
    this.count = 0;
    this.types = {};
    this.bad = 0;
    this.notable = [];
    this.badLogged = 0;
  },
  seen(kind, message) {
    this.count++;
    this.types[kind] = (this.types[kind] || 0) + 1;
    if (message && kind !== "data" && this.notable.length < NOTABLE_PER_SUMMARY) this.notable.push(message);
  },
  badMessage(conn, reason, raw, fatal = false) {
    this.count++;
    this.bad++;
    if (fatal || this.badLogged < BAD_LOGS_PER_SECOND) {
      this.badLogged++;
      log("bad_message", { conn, reason, raw: short(raw), fatal });
    }
  },
  flush() {
    if (this.count) {
      const fields = { conn: this.conn, count: this.count, types: this.types };
      if (this.bad) fields.bad = this.bad;
      if (this.notable.length) fields.notable = this.notable;
      log("message", fields);
    }
    this.reset();
  },
};
stats.reset();

// Lifecycle events are logged for at most CONN_LOGS_PER_SECOND connections a second (hammer
// reconnects thousands of times a second); the next logged one carries `suppressed_before`.
const connlog = {
  second: -1,
  admitted: 0,
  suppressed: 0,
  admit() {
    const second = Math.floor((now() - START) / 1000);
    if (second !== this.second) [this.second, this.admitted] = [second, 0];
    if (this.admitted >= CONN_LOGS_PER_SECOND) {
      this.suppressed++;
      return [false, {}];
    }
    this.admitted++;
    const extra = this.suppressed ? { suppressed_before: this.suppressed } : {};
    this.suppressed = 0;
    return [true, extra];
  },
};

// Returns [type, message, null] for a known message, [null, message|null, reason] otherwise.
function classify(data, isBinary) {
  if (isBinary) return [null, null, "binary frame"];
  let message;
  try {
    message = JSON.parse(data.toString("utf8"));
  } catch (e) {
    return [null, null, `invalid JSON: ${short(e.message, 120)}`];
  }
  if (message === null || typeof message !== "object" || Array.isArray(message)) {
    return [null, null, "not a JSON object"];
  }
  const kind = message.type;
  if (typeof kind !== "string") return [null, message, "missing or non-string type"];
  if (!KNOWN_TYPES.has(kind)) return [null, message, `unknown type ${JSON.stringify(short(kind, 64))}`];
  return [kind, message, null];
}

const args = parseArgs(process.argv.slice(2));
const loaded = loadWs();
if (!loaded) {
  process.stderr.write("cannot find the `ws` package: npm install --prefix .tools/node ws@8\n");
  process.exit(2);
}
const { WebSocket, version: wsVersion } = loaded;

let stopping = false; // set at the deadline
let exitCode = 0;
let current = null; // the live connection: { ws, stop() }
let wakeSleep = null;
let pingCounter = 0;

function sleep(ms) {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      wakeSleep = null;
      resolve();
    }
    wakeSleep = done;
  });
}

// One connection. Resolves with { stable, exit } once it is closed, whatever happened.
function session(conn) {
  return new Promise((resolve) => {
    let [verbose, extra] = connlog.admit();
    const clog = (event, fields = {}) => {
      if (!verbose) return;
      log(event, { conn, ...fields, ...extra });
      extra = {};
    };
    if (verbose) stats.flush();
    stats.conn = conn;

    let ws;
    let opened = null;
    let authed = false;
    let crashed = false;
    let closing = false;
    let pinger = null;
    let killer = null;
    let settled = false;
    const info = {};

    const finish = (closeFields) => {
      if (settled) return;
      settled = true;
      clearInterval(pinger);
      clearTimeout(killer);
      if (current && current.ws === ws) current = null;
      if (verbose) stats.flush();
      const uptime = opened === null ? 0 : now() - opened;
      clog("closed", {
        connected: opened !== null,
        authed,
        uptime_s: Math.round(uptime) / 1000,
        ...closeFields,
        ...info,
      });
      resolve(
        crashed
          ? { exit: EXIT_UNKNOWN }
          : { connected: opened !== null, stable: authed && uptime > STABLE_AFTER_MS },
      );
    };

    // Close with a handshake, but never wait for it more than CLOSE_GRACE_MS (ws's own close
    // timer is 30 s); no-read skips the handshake, which would need reading.
    const shut = (code, reason) => {
      if (closing) return;
      closing = true;
      clearInterval(pinger);
      try {
        if (args.mode === "no-read") ws.terminate();
        else ws.close(code, reason);
      } catch (e) {
        info.error ??= errorText(e);
      }
      killer = setTimeout(() => {
        try {
          ws.terminate();
        } catch {}
        // terminate() emits 'close' on the next tick; make sure we finish even if not
        setTimeout(() => finish({ code: 1006 }), 100);
      }, CLOSE_GRACE_MS);
    };

    try {
      ws = new WebSocket(args.url, {
        handshakeTimeout: 5000,
        maxPayload: 1 << 20,
        perMessageDeflate: false,
      });
    } catch (e) {
      info.error = errorText(e);
      finish({});
      return;
    }
    current = { ws, stop: () => shut(1000, "") };
    if (stopping) shut(1000, "");

    ws.on("open", () => {
      opened = now();
      clog("connected", args.mode === "no-read" ? { reading: false } : {});
      if (args.mode !== "no-auth") {
        ws.send(JSON.stringify({ type: "auth", password: args.password }), (e) => {
          if (e) info.error ??= errorText(e);
        });
      }
      if (args.mode === "no-read") {
        // never read again (see the top of the file); ws.pause() exists in ws 8.23, the
        // underlying net.Socket is the fallback for older 8.x
        if (typeof ws.pause === "function") ws.pause();
        else ws._socket.pause();
      }
    });

    ws.on("message", (data, isBinary) => {
      if (closing || args.mode === "no-read") return;
      const [kind, message, problem] = classify(data, isBinary);
      if (problem !== null) {
        if (args.mode === "crash-on-unknown") {
          stats.badMessage(conn, problem, data, true);
          crashed = true;
          exitCode = EXIT_UNKNOWN;
          info.by = "client";
          info.after = "bad_message";
          shut(1000, "unknown message");
        } else {
          stats.badMessage(conn, problem, data); // logged and ignored
        }
        return;
      }
      if (kind === "auth_response") {
        if (message.success === true) {
          stats.seen(kind);
          if (!authed) {
            authed = true;
            clog("auth_ok", { message: message.message });
            pinger = setInterval(() => {
              pingCounter++;
              try {
                ws.send(JSON.stringify({ type: "ping", id: String(pingCounter) }), () => {});
              } catch {}
            }, PING_EVERY_MS);
          }
        } else if (message.success === false) {
          stats.seen(kind);
          clog("auth_failed", { message: message.message });
          info.by = "client";
          info.after = "auth_failed";
          shut(1000, ""); // a failed connection: close it and back off
        } else {
          stats.badMessage(conn, "auth_response without boolean success", data);
        }
        return;
      }
      stats.seen(kind, message);
    });

    ws.on("error", (e) => {
      info.error ??= errorText(e);
    });

    ws.on("close", (code, reason) => {
      const fields = { code, reason: reason.toString("utf8") };
      if (closing && !info.by) fields.by = stopping ? "deadline" : "client";
      finish(fields);
    });
  });
}

async function run() {
  let delay = FIRST_DELAY_MS;
  let conn = 0;
  while (!stopping) {
    conn++;
    const outcome = await session(conn);
    if (outcome.exit !== undefined) return outcome.exit;
    if (args.mode === "no-read" && outcome.connected) {
      // one connection is the whole test; like the Python client, do not reconnect
      await sleep(Math.max(0, deadline - now()));
      return 0;
    }
    if (stopping) break;
    if (args.mode === "hammer") {
      // no delay at all; just let pending I/O callbacks run between attempts
      await new Promise((r) => setImmediate(r));
      continue;
    }
    if (outcome.stable) delay = FIRST_DELAY_MS;
    log("reconnect_wait", { conn, delay_ms: delay });
    await sleep(delay);
    delay = Math.min(delay * 2, MAX_DELAY_MS);
  }
  return 0;
}

function finishProcess(code) {
  stats.flush();
  log("exit", { code });
  process.exit(code);
}

log("start", {
  mode: args.mode,
  url: args.url,
  duration_s: args.duration,
  client: "node-ws",
  version: wsVersion,
  node: process.version,
});
const summary = setInterval(() => stats.flush(), 1000);
const durationMs = args.duration * 1000;
const deadline = now() + durationMs;

setTimeout(() => {
  stopping = true;
  if (wakeSleep) wakeSleep();
  if (current) current.stop();
  // Last resort: whatever is still pending, leave soon after the deadline.
  setTimeout(() => finishProcess(exitCode), CLOSE_GRACE_MS + 500).unref();
}, durationMs);

run().then(
  (code) => {
    clearInterval(summary);
    finishProcess(code);
  },
  (e) => {
    log("internal_error", { error: errorText(e) });
    finishProcess(exitCode);
  },
);
