// The seed's JavaScript client for the `monitor` profile (monitor-websocket-api.md,
// "JavaScript 客户端"), on Node `ws` instead of the browser's WebSocket, run by scripts/interop
// against the real server binary.
//
//     node monitor_client.mjs URL KEY SECONDS
//     node monitor_client.mjs ws://127.0.0.1:8080/ws your-api-key 4
//
// The class keeps the seed's structure (onopen → sendPing, handleMessage, subscribe, on,
// handleReconnect with 2^n s back-off) with three differences, each because Node is not a
// browser: `ws` takes the seed's "认证" headers (`Authorization: Bearer KEY`, `X-Client-ID`),
// which a browser cannot set; the display methods write to an object instead of the DOM; and the
// seed's `subscribe()` right after `connect()` would run before the socket is open (its `send`
// drops it), so here it runs from `on('connection')`.
//
// After SECONDS it checks what it received: the greeting with its client id, system performance
// samples, a pong for the ping sent on open, and only the subscribed alerts, raised and resolved
// (the seed's `showAlert` reads `alert.message`, which a resolved alert lacks: it must survive
// that). Prints a one-line summary. Exit status: 0 if every check passes, 1 if one fails,
// 2 on a usage error or when `ws` cannot be found (install: npm install --prefix .tools/node ws).

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
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

const WebSocket = loadWs();
const [url, key, seconds] = process.argv.slice(2);
if (!WebSocket || !url || !key || !(Number(seconds) > 0)) {
  process.stderr.write("usage: node monitor_client.mjs URL KEY SECONDS (needs ws in .tools/node)\n");
  process.exit(2);
}

class WebSocketClient {
  constructor(url, headers) {
    this.url = url;
    this.headers = headers;
    this.ws = null;
    this.reconnectAttempts = 0;
    this.maxReconnectAttempts = 5;
    this.eventHandlers = {};
    this.display = { alerts: [], errors: [] };
    this.timers = [];
  }

  connect() {
    try {
      this.ws = new WebSocket(this.url, { headers: this.headers });
      this.setupEventHandlers();
    } catch (error) {
      this.display.errors.push(`WebSocket连接失败: ${error}`);
      this.handleReconnect();
    }
  }

  setupEventHandlers() {
    this.ws.onopen = () => {
      this.reconnectAttempts = 0;
      this.sendPing();
    };
    this.ws.onmessage = (event) => {
      try {
        const message = JSON.parse(event.data);
        this.handleMessage(message);
      } catch (error) {
        this.display.errors.push(`解析消息失败: ${error}`);
      }
    };
    this.ws.onclose = () => {
      if (!this.closing) this.handleReconnect();
    };
    this.ws.onerror = (error) => {
      this.display.errors.push(`WebSocket错误: ${error.message}`);
    };
  }

  handleMessage(message) {
    const { type, data } = message;
    switch (type) {
      case "performance":
        this.updatePerformanceDisplay(data);
        break;
      case "alert":
        this.showAlert(data);
        break;
      case "status":
        this.updateStatusDisplay(data);
        break;
      case "pong":
        break;
      default:
        break; // the seed logs unknown types (connection, config, system)
    }
    if (this.eventHandlers[type]) {
      this.eventHandlers[type](message);
    }
  }

  subscribe(events, filters = {}) {
    this.send({ type: "subscribe", data: { events, filters } });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
    }
  }

  sendPing() {
    this.send({ type: "ping" });
    this.timers.push(setTimeout(() => this.sendPing(), 30000));
  }

  on(eventType, handler) {
    this.eventHandlers[eventType] = handler;
  }

  updatePerformanceDisplay(data) {
    if (data.cpu_percent !== undefined) this.display.cpu = `${data.cpu_percent.toFixed(1)}%`;
    if (data.memory_percent !== undefined) this.display.memory = `${data.memory_percent.toFixed(1)}%`;
  }

  showAlert(alert) {
    // The seed sets textContent = alert.message: undefined for a resolved alert, no crash.
    this.display.alerts.push(`alert-${alert.level}: ${alert.message}`);
  }

  updateStatusDisplay(data) {
    this.display[`${data.component}-status`] = data.status;
  }

  handleReconnect() {
    if (this.reconnectAttempts < this.maxReconnectAttempts) {
      this.reconnectAttempts++;
      const delay = Math.pow(2, this.reconnectAttempts) * 1000;
      this.timers.push(setTimeout(() => this.connect(), delay));
    }
  }

  close() {
    this.closing = true;
    this.timers.forEach(clearTimeout);
    if (this.ws) {
      this.ws.close();
      this.ws = null;
    }
  }
}

function fail(reason) {
  process.stderr.write(`monitor_client.mjs: FAIL: ${reason}\n`);
  process.exit(1);
}

const received = {};
const keep = (message) => (received[message.type] ??= []).push(message);
const client = new WebSocketClient(url, { Authorization: `Bearer ${key}`, "X-Client-ID": "seed-node" });
for (const kind of ["performance", "alert", "pong", "status", "error"]) client.on(kind, keep);
client.on("connection", (message) => {
  keep(message);
  client.subscribe(["alert.cpu", "alert.memory"], { level: ["warning", "critical"] });
});
client.connect();

setTimeout(() => {
  const connections = received.connection ?? [];
  client.close();
  if (connections.length !== 1 || connections[0].data.status !== "connected") {
    fail(`expected one connection/connected, got ${JSON.stringify(connections)}; errors ${client.display.errors}`);
  }
  if (connections[0].data.client_id !== "seed-node") fail(`client_id ${connections[0].data.client_id}`);
  const system = (received.performance ?? []).filter((m) => m.data.cpu_percent !== undefined);
  if (system.length < 3) fail(`only ${system.length} system performance samples`);
  if (!client.display.cpu) fail("the performance display never updated");
  if (!(received.pong ?? []).length) fail("no pong for the ping sent on open");
  const alerts = received.alert ?? [];
  const wrong = alerts.filter(
    (a) => !["cpu", "memory"].includes(a.data.type) || !["warning", "critical"].includes(a.data.level),
  );
  if (wrong.length) fail(`alerts outside the subscription: ${JSON.stringify(wrong[0])}`);
  const resolved = alerts.filter((a) => a.data.status === "resolved");
  if (!alerts.length || !resolved.length) fail(`expected raised and resolved alerts, got ${alerts.length}`);
  if (client.display.alerts.length !== alerts.length) fail("an alert was not displayed");
  const ids = Object.values(received).flat().map((m) => m.id);
  if (new Set(ids).size !== ids.length) fail("a message id repeated");
  console.log(
    `monitor_client.mjs: OK: client_id seed-node, ${system.length} samples, ${alerts.length} alerts ` +
      `(${resolved.length} resolved), ${ids.length} unique ids, status ${client.display["clipboard_monitor-status"] ?? "-"}`,
  );
  process.exit(0);
}, Number(seconds) * 1000);
