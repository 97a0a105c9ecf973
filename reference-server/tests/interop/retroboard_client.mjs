// A third-party client for the `retroboard` profile (PROFILES.md section 4), written from the
// RetroBoard seed's JavaScript client (`io(url, {...})`, `socket.emit('request_state')` on
// every connect, `fetch` for the REST commands): the official npm `socket.io-client` 4.x
// (Socket.IO v5 over Engine.IO v4, path /socket.io/, namespace "/") on Node 20, run by
// scripts/interop against the real server to prove interop beyond our own Rust client.
//
//     node retroboard_client.mjs BASE_URL [--transport websocket|polling|default|all]
//     node retroboard_client.mjs http://127.0.0.1:5000 --transport default
//
// Transports: `websocket` is transports: ['websocket'] (a direct WebSocket), `polling` is
// transports: ['polling'] (long-polling only, never upgrades), `default` leaves the client's
// default (polling first, then the upgrade to WebSocket). `all`, the default, runs the three
// in turn. Each run is a fresh Manager (forceNew) with the seed's options that apply to a v4
// client: reconnection on, reconnectionDelay 1000, reconnectionDelayMax 5000,
// reconnectionAttempts Infinity, timeout 20000 (the seed's pingTimeout / pingInterval do
// nothing in v4: the client takes them from the open packet, so they are not passed).
//
// Checks, for each run:
// 1. `connect` within 5 s (the last connect_error is reported if not); the connect handler
//    emits `request_state`, as the seed's does. Every one of apps_list, current_app, settings
//    and carousel_config must then arrive twice within 5 s (once as the state the server sends
//    on connect, once as the answer to request_state), each with the decided shape:
//    apps_list.apps a non-empty list of strings that contains apps_list.current;
//    current_app.app a string, config an object or null; settings.brightness an int 0..100;
//    carousel_config.enabled a bool, .apps a list of {app: string, duration: int >= 1},
//    .current_index an int >= 0.
// 2. The transport: `socket.io.engine.transport.name` is "websocket" or "polling" as asked; for
//    `default` it must become "websocket" (the upgrade) within 5 s of the connect.
// 3. POST /api/settings {"brightness": X}, X unlike the current brightness, with the seed's
//    `fetch` (a JSON string body and no Content-Type header, so text/plain, exactly as the
//    seed's best-practice snippet sends it): 200 {"success": true, ...}, then a `settings`
//    event with brightness X within 5 s of sending the POST.
// 4. POST /api/switch {"app": A}, A an app of apps_list other than the current one (the
//    current one if it is the only app): 200 {"success": true, ...}, then a `current_app`
//    event with app A within 5 s.
// 5. No `disconnect` during the run; then socket.disconnect().
// The server's state is changed (brightness, current app): run one such client at a time per
// server. Prints one summary line per run. Exit status: 0 if every check passes, 1 if a check
// fails (what was expected and what arrived, on stderr), 2 on a usage error, when
// socket.io-client cannot be found (npm install --prefix .tools/node socket.io-client@4.8.x),
// or when nothing listens at BASE_URL. A watchdog ends the process if anything ever hangs.

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import net from "node:net";
import path from "node:path";

const STATE_EVENTS = ["apps_list", "current_app", "settings", "carousel_config"];
const CONNECT_TIMEOUT_MS = 5000;
const STATE_TIMEOUT_MS = 5000;
const UPGRADE_TIMEOUT_MS = 5000;
const EVENT_TIMEOUT_MS = 5000;
const HTTP_TIMEOUT_MS = 5000;
const WATCHDOG_PER_RUN_MS = 30000;
const USAGE = "usage: node retroboard_client.mjs BASE_URL [--transport websocket|polling|default|all]\n" +
  "(needs socket.io-client 4.x in .tools/node, next to this file, or on NODE_PATH)\n";

// socket.io-client from .tools/node, else from wherever Node would find it for this file
// (node_modules up the tree, NODE_PATH).
function loadClient() {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repo = path.resolve(here, "..", "..", "..");
  for (const base of [path.join(repo, ".tools", "node", "x.js"), fileURLToPath(import.meta.url)]) {
    try {
      const req = createRequire(base);
      const mod = req("socket.io-client");
      let version = "?";
      try {
        version = req("socket.io-client/package.json").version;
      } catch {
        // "exports" may hide package.json; the version is only for the summary line.
      }
      return { io: mod.io, version };
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND") throw e;
    }
  }
  return null;
}

class CheckFailed extends Error {}
class Unreachable extends Error {}

function short(value, limit = 300) {
  let text;
  try {
    text = typeof value === "string" ? value.trim() : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length <= limit ? text : text.slice(0, limit) + "...";
}

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

/** What is wrong with one state event's payload, or null. */
function shapeError(event, data) {
  if (!isObject(data)) return `payload is not an object: ${short(data)}`;
  if (event === "apps_list") {
    if (!Array.isArray(data.apps) || data.apps.length === 0 || !data.apps.every((a) => typeof a === "string")) {
      return `\`apps\` is not a non-empty list of strings: ${short(data)}`;
    }
    if (typeof data.current !== "string" || !data.apps.includes(data.current)) {
      return `\`current\` is not one of \`apps\`: ${short(data)}`;
    }
  } else if (event === "current_app") {
    if (typeof data.app !== "string") return `\`app\` is not a string: ${short(data)}`;
    if (data.config !== undefined && data.config !== null && !isObject(data.config)) {
      return `\`config\` is not an object: ${short(data)}`;
    }
  } else if (event === "settings") {
    const b = data.brightness;
    if (!Number.isInteger(b) || b < 0 || b > 100) return `\`brightness\` is not an int 0..100: ${short(data)}`;
  } else if (event === "carousel_config") {
    if (typeof data.enabled !== "boolean") return `\`enabled\` is not a bool: ${short(data)}`;
    if (!Array.isArray(data.apps)) return `\`apps\` is not a list: ${short(data)}`;
    for (const [i, entry] of data.apps.entries()) {
      if (!isObject(entry) || typeof entry.app !== "string" || !Number.isInteger(entry.duration) || entry.duration < 1) {
        return `\`apps[${i}]\` is not {app: string, duration: int >= 1}: ${short(data)}`;
      }
    }
    if (!Number.isInteger(data.current_index) || data.current_index < 0) {
      return `\`current_index\` is not an int >= 0: ${short(data)}`;
    }
  }
  return null;
}

/** The seed's `fetch('/api/...', {method: 'POST', body: JSON.stringify(...)})`; the answer
 * must be 200 with {"success": true}. */
async function post(base, route, body) {
  let res, text;
  try {
    res = await fetch(base + route, {
      method: "POST",
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    text = await res.text();
  } catch (e) {
    throw new CheckFailed(`POST ${route} ${short(body)}: ${e.name}: ${e.message}${e.cause ? ` (${e.cause.message ?? e.cause})` : ""}`);
  }
  let answer;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (res.status !== 200 || !isObject(answer) || answer.success !== true) {
    throw new CheckFailed(`POST ${route} ${short(body)} (no Content-Type, as the seed's fetch): ` +
      `HTTP ${res.status} ${short(text)}, expected 200 {"success": true, ...}`);
  }
  return answer;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

class Run {
  constructor(io, base, mode) {
    this.io = io;
    this.base = base;
    this.mode = mode;
    this.seen = []; // [event, payload], in arrival order
    this.waiter = null; // () => void, poked on every arrival
    this.connectError = null;
    this.upgradeError = null;
    this.dropped = null;
  }

  record(event, payload) {
    this.seen.push([event, payload]);
    if (this.waiter) this.waiter();
  }

  seenText(from = 0) {
    const items = this.seen.slice(from).slice(-12);
    return items.length ? items.map(([e, d]) => `${e} ${short(d, 160)}`).join("; ") : "nothing";
  }

  fail(message) {
    return new CheckFailed(`[${this.mode}] ${message}`);
  }

  /** Resolves when test() is true (test is re-run on every arrival and every 50 ms); throws
   * onTimeout() at the deadline, or at once when the connection dropped. */
  async until(test, deadline, onTimeout) {
    for (;;) {
      if (this.dropped) {
        throw this.fail(`the connection dropped (${this.dropped}); events so far: ${this.seenText()}`);
      }
      if (test()) return;
      const left = deadline - Date.now();
      if (left <= 0) throw this.fail(onTimeout());
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = null;
    }
  }

  async run() {
    const t0 = Date.now();
    const options = {
      forceNew: true,
      reconnection: true,
      reconnectionDelay: 1000,
      reconnectionDelayMax: 5000,
      reconnectionAttempts: Infinity,
      timeout: 20000,
    };
    if (this.mode !== "default") options.transports = [this.mode];
    const socket = this.io(this.base, options);
    this.socket = socket;
    let connects = 0;
    socket.on("connect", () => {
      connects += 1;
      this.connectedAt ??= Date.now();
      socket.emit("request_state"); // the seed's handler, on every connect
      this.record("(connect)", socket.id);
    });
    socket.on("disconnect", (reason) => {
      this.dropped = reason;
      this.record("(disconnect)", reason);
    });
    socket.on("connect_error", (err) => {
      this.connectError = `${err.message}${err.description ? ` (${short(err.description?.message ?? err.description, 160)})` : ""}`;
    });
    socket.onAny((event, ...args) => this.record(event, args[0]));
    // The upgrade starts as soon as the polling transport opens, so listen from the start
    // (and on every new engine, should the Manager reconnect).
    const watchEngine = () => {
      const engine = socket.io.engine;
      if (!engine || engine.__retroboardWatched) return;
      engine.__retroboardWatched = true;
      engine.on("upgrade", () => {
        this.upgradedAt = Date.now();
      });
      engine.on("upgradeError", (err) => {
        this.upgradeError = `${err.message}${err.description ? ` (${short(err.description?.message ?? err.description, 160)})` : ""}`;
      });
    };
    watchEngine();
    socket.io.on("open", watchEngine);
    try {
      return await this.checks(socket, t0, () => connects);
    } finally {
      socket.disconnect();
    }
  }

  async checks(socket, t0, connects) {
    // 1. connect, and the state twice.
    await this.until(() => connects() > 0, t0 + CONNECT_TIMEOUT_MS,
      () => `no connect within ${CONNECT_TIMEOUT_MS / 1000} s (last connect_error: ${this.connectError ?? "none"})`);
    const connectedAt = this.connectedAt;
    const counts = Object.fromEntries(STATE_EVENTS.map((e) => [e, 0]));
    const last = {};
    let scanned = 0;
    const scanState = () => {
      for (; scanned < this.seen.length; scanned++) {
        const [event, data] = this.seen[scanned];
        if (!(event in counts)) continue;
        const problem = shapeError(event, data);
        if (problem) throw this.fail(`${event}: ${problem}`);
        counts[event] += 1;
        last[event] = data;
      }
      return STATE_EVENTS.every((e) => counts[e] >= 2);
    };
    await this.until(scanState, connectedAt + STATE_TIMEOUT_MS, () => {
      const missing = STATE_EVENTS.filter((e) => counts[e] < 2).map((e) => `${e} ${counts[e]}/2`).join(", ");
      return `expected apps_list, current_app, settings and carousel_config twice each (on connect ` +
        `and for request_state) within ${STATE_TIMEOUT_MS / 1000} s; short: ${missing}; arrived: ${this.seenText()}`;
    });
    const stateMs = Date.now() - connectedAt;

    // 2. the transport.
    const engine = socket.io.engine;
    let upgradeMs = null;
    if (this.mode === "default") {
      await this.until(() => engine.transport.name === "websocket", connectedAt + UPGRADE_TIMEOUT_MS,
        () => `expected socket.io.engine.transport.name to become "websocket" (the upgrade) within ` +
          `${UPGRADE_TIMEOUT_MS / 1000} s of the connect; it is "${engine.transport.name}" ` +
          `(upgradeError: ${this.upgradeError ?? "none"})`);
      upgradeMs = (this.upgradedAt ?? Date.now()) - t0;
    } else if (engine.transport.name !== this.mode) {
      throw this.fail(`the client is on ${engine.transport.name}, expected ${this.mode}`);
    }

    // 3. settings.
    const apps = last.apps_list.apps;
    const currentApp = last.current_app.app;
    const old = last.settings.brightness;
    const x = old !== 42 ? 42 : 58;
    const settingsMs = await this.command("/api/settings", { brightness: x }, "settings", "brightness", x);

    // 4. switch.
    const target = apps.find((a) => a !== currentApp) ?? currentApp;
    const switchMs = await this.command("/api/switch", { app: target }, "current_app", "app", target);

    // 5. still on the same connection, and the same transport.
    if (connects() !== 1) throw this.fail(`connected ${connects()} times, expected once`);
    const transport = engine.transport.name;
    const wanted = this.mode === "default" ? "websocket" : this.mode;
    if (transport !== wanted) throw this.fail(`the client ended on ${transport}, expected ${wanted}`);
    return `[${this.mode}] connected in ${connectedAt - t0} ms, state x2 ${stateMs} ms later (${apps.length} apps, current ${currentApp}); ` +
      (upgradeMs !== null ? `upgraded to websocket ${upgradeMs} ms after the start; ` : "") +
      `settings ${old} -> ${x}, event ${settingsMs} ms after the POST; ` +
      `switch -> ${target}, event ${switchMs} ms after the POST; total ${((Date.now() - t0) / 1000).toFixed(1)} s`;
  }

  /** POST a command; the event `event` with payload[key] === value must follow within
   * EVENT_TIMEOUT_MS of sending it. Returns the time from sending to the event, in ms. */
  async command(route, body, event, key, value) {
    const sent = Date.now();
    const mark = this.seen.length;
    await post(this.base, route, body);
    let scanned = mark;
    const found = () => {
      for (; scanned < this.seen.length; scanned++) {
        const [e, d] = this.seen[scanned];
        if (STATE_EVENTS.includes(e)) {
          const problem = shapeError(e, d);
          if (problem) throw this.fail(`after POST ${route} ${short(body)}: ${e}: ${problem}`);
        }
        if (e === event && isObject(d) && d[key] === value) return true;
      }
      return false;
    };
    await this.until(found, sent + EVENT_TIMEOUT_MS,
      () => `after POST ${route} ${short(body)}: expected \`${event}\` with ${key} ${JSON.stringify(value)} ` +
        `within ${EVENT_TIMEOUT_MS / 1000} s; arrived: ${this.seenText(mark)}`);
    return Date.now() - sent;
  }
}

function reachable(base) {
  const u = new URL(base);
  const port = Number(u.port) || (u.protocol === "https:" ? 443 : 80);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Unreachable(`nothing answers at ${host}:${port} within ${HTTP_TIMEOUT_MS / 1000} s`));
    }, HTTP_TIMEOUT_MS);
    s.once("connect", () => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(new Unreachable(`nothing listens at ${host}:${port} (${e.code ?? e.message})`));
    });
  });
}

async function main(argv) {
  let base = null;
  let mode = "all";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--transport" && i + 1 < argv.length) mode = argv[++i];
    else if (a.startsWith("--transport=")) mode = a.slice("--transport=".length);
    else if (!a.startsWith("-") && base === null) base = a;
    else base = undefined;
  }
  const client = loadClient();
  if (!client) {
    process.stderr.write("retroboard_client.mjs: cannot find socket.io-client; install it with " +
      "npm install --prefix .tools/node socket.io-client@4.8.4 (or put it on NODE_PATH)\n");
    return 2;
  }
  if (!base || !/^https?:\/\/[^/]/.test(base) || !["websocket", "polling", "default", "all"].includes(mode)) {
    process.stderr.write(USAGE);
    return 2;
  }
  base = base.replace(/\/+$/, "");
  const modes = mode === "all" ? ["websocket", "polling", "default"] : [mode];
  const watchdog = setTimeout(() => {
    process.stderr.write(`retroboard_client.mjs: FAILED: still running after ${(WATCHDOG_PER_RUN_MS * modes.length) / 1000} s\n`);
    process.exit(1);
  }, WATCHDOG_PER_RUN_MS * modes.length);
  watchdog.unref();
  try {
    await reachable(base);
    for (const m of modes) {
      const run = new Run(client.io, base, m);
      const line = await run.run();
      process.stdout.write(`socket.io-client ${client.version} retroboard client ${line}\n`);
      await sleep(50); // let the disconnect reach the wire before the next run
    }
  } catch (e) {
    if (e instanceof Unreachable) {
      process.stderr.write(`retroboard_client.mjs: ${e.message}\n`);
      return 2;
    }
    if (e instanceof CheckFailed) {
      process.stderr.write(`retroboard_client.mjs: FAILED: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`retroboard_client.mjs: FAILED: unexpected error: ${e?.stack ?? e}\n`);
    process.exit(1);
  },
);
