// The seed's React client for the `handler` profile (websockethandler-library.md, "React.js
// Web Application Example": the `useWebSocket` hook and the `Dashboard` component), headless on
// Node `ws`, as an interop test client for a handler server.
//
//     node handler_client.mjs URL [TOKEN]
//     node handler_client.mjs ws://127.0.0.1:8080/ your-auth-token
//
// `useWebSocket` keeps the seed's logic: `connect` (onopen / onmessage / onclose with a 5 s
// reconnect / onerror), `handleMessage` (welcome → handshake, then auth if `authRequired` and
// a token was given, or authenticated at once if auth is not required; auth_response success →
// authenticated), `sendMessage`, `sendData` (dataType 'application' and an ISO timestamp),
// `subscribe` and `publish`. `Dashboard` keeps the seed's effects and handlers: once
// authenticated, subscribe to sensor_updates and system_alerts; a publish on those topics goes
// into sensorData / alerts; `handleSendTestData` and `handleSendAlert`. What differs, and why:
// - React state (`useState`, `useRef`, `useCallback`, `useEffect`) becomes plain fields, and
//   the effects run when their inputs change. The seed's messages effect reads only the
//   latest message of a render (React may batch several into one); here it runs for every
//   message, so none is skipped.
// - The seed's `sendMessage` closes over `socket` state, and `ws.onmessage` is bound in the first
//   render's closure, where `socket` is still null. So in a browser the handshake sent from
//   `welcome` can be silently dropped. Here `sendMessage` uses the current socket. This is a
//   fix, not a test of the server.
// - `ws` instead of the browser's WebSocket (`event.data` is a string or Buffer, so it goes
//   through `String()` before `JSON.parse`).
// - `close()` stops the reconnect, so that the run ends. An unexpected close is a failure.
// - The seed's hook has no request, RPC or heartbeat function. The test sends those through
//   the hook's exported `sendMessage` with the seed's own messages (`get_weather` for New York,
//   `calculateAverage` of [10, 20, 30, 40, 50], `{type: 'heartbeat'}`). The heartbeat is the
//   barrier: its heartbeat_response comes after the replies to everything sent before it.
//
// Two dashboards (A and B) connect. Checks: a welcome with a clientId, different on the two
// connections; a handshake_response with the same clientId (when it has one); authenticated
// (auth_response success when authRequired, which needs TOKEN); handleSendTestData → a
// data_response with success and an integer insertId ≥ 1; get_weather → a response with the
// same requestId and {temperature: 22, condition: 'sunny'}; calculateAverage → rpc_response
// 30 with the same requestId; A's handleSendAlert → B's Dashboard gets the alert with data
// deep-equal to what was sent, and A does not get its own publish back; no error message.
// Everything is bounded by a 15 s deadline. Prints one line. Exit status: 0 if every check
// passes, 1 if one fails (reason on stderr), 2 on a usage error, when `ws` cannot be found
// (npm install --prefix .tools/node ws), or when the server cannot be reached.

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
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
const [url, authTokenArg] = process.argv.slice(2);
if (!WebSocket || !url || !/^wss?:\/\//.test(url) || process.argv.length > 4) {
  process.stderr.write("usage: node handler_client.mjs URL [TOKEN] (needs ws in .tools/node)\n");
  process.exit(2);
}
const DEADLINE_MS = 15000;

// ---- the seed's useWebSocket hook, without React ------------------------------------------

class UseWebSocket {
  constructor(url, authToken = null, name = "client") {
    this.url = url;
    this.authToken = authToken;
    this.name = name;
    // useState
    this.socket = null;
    this.isConnected = false;
    this.isAuthenticated = false;
    this.messages = [];
    this.clientId = null;
    // useRef
    this.reconnectTimeoutRef = { current: null };
    // headless additions: effect listeners, a log of sent messages, the connection's fate
    this.listeners = [];
    this.sent = [];
    this.closing = false;
    this.unexpectedClose = null;
    this.connectError = null;
  }

  setState(changes) {
    Object.assign(this, changes);
    for (const listener of this.listeners) listener(changes);
  }

  connect() {
    try {
      const ws = new WebSocket(this.url);

      ws.onopen = () => {
        this.log("WebSocket connected");
        this.setState({ isConnected: true, socket: ws });
      };

      ws.onmessage = (event) => {
        const data = JSON.parse(String(event.data));
        this.handleMessage(data);
      };

      ws.onclose = (event) => {
        this.log("WebSocket disconnected");
        this.setState({ isConnected: false, isAuthenticated: false, socket: null });
        if (this.closing) return; // headless: our own close ends the run
        this.unexpectedClose ??= `closed by the server: ${event.code} ${JSON.stringify(event.reason)}`;

        // Attempt reconnection after 5 seconds
        this.reconnectTimeoutRef.current = setTimeout(() => {
          this.connect();
        }, 5000);
      };

      ws.onerror = (error) => {
        this.log(`WebSocket error: ${error.message}`);
        this.connectError ??= error.message;
      };
    } catch (error) {
      this.log(`Connection failed: ${error}`);
      this.connectError ??= String(error);
    }
  }

  handleMessage(data) {
    this.setState({ messages: [...this.messages, data] });

    switch (data.type) {
      case "welcome":
        this.setState({ clientId: data.clientId });

        // Send handshake
        this.sendMessage({
          type: "handshake",
          clientType: "application",
          capabilities: ["real_time_display", "user_interface"],
          version: "1.0.0",
        });

        // Authenticate if required
        if (data.authRequired && this.authToken) {
          this.sendMessage({
            type: "auth",
            token: this.authToken,
          });
        } else if (!data.authRequired) {
          this.setState({ isAuthenticated: true });
        }
        break;

      case "auth_response":
        if (data.success) {
          this.setState({ isAuthenticated: true });
        }
        break;

      default:
        break;
    }
  }

  sendMessage(message) {
    const socket = this.socket;
    if (socket && socket.readyState === WebSocket.OPEN) {
      this.sent.push(message);
      socket.send(JSON.stringify(message));
    }
  }

  sendData(data, dataType = "application") {
    this.sendMessage({
      type: "data",
      dataType,
      data,
      timestamp: new Date().toISOString(),
    });
  }

  subscribe(topic) {
    this.sendMessage({
      type: "subscribe",
      topic,
    });
  }

  publish(topic, data) {
    this.sendMessage({
      type: "publish",
      topic,
      data,
    });
  }

  // the effect's cleanup
  close() {
    this.closing = true;
    if (this.reconnectTimeoutRef.current) {
      clearTimeout(this.reconnectTimeoutRef.current);
    }
    if (this.socket) {
      this.socket.close();
    }
  }

  log(text) {
    if (process.env.HANDLER_CLIENT_VERBOSE) process.stderr.write(`[${this.name}] ${text}\n`);
  }
}

// ---- the seed's Dashboard, without the JSX ---------------------------------------------------

class Dashboard {
  constructor(url, authToken, name) {
    this.hook = new UseWebSocket(url, authToken, name);
    this.sensorData = [];
    this.alerts = [];
    let subscribed = false;
    this.hook.listeners.push((changes) => {
      // useEffect(() => { if (isAuthenticated) { subscribe(...) } }, [isAuthenticated, subscribe])
      if ("isAuthenticated" in changes && this.hook.isAuthenticated && !subscribed) {
        subscribed = true;
        // Subscribe to sensor data and alerts
        this.hook.subscribe("sensor_updates");
        this.hook.subscribe("system_alerts");
      }
      // useEffect(() => { const latestMessage = messages[messages.length - 1]; … }, [messages])
      if ("messages" in changes) {
        const latestMessage = this.hook.messages[this.hook.messages.length - 1];
        if (!latestMessage) return;

        if (latestMessage.type === "publish") {
          if (latestMessage.topic === "sensor_updates") {
            this.sensorData = [...this.sensorData.slice(-99), latestMessage.data];
          } else if (latestMessage.topic === "system_alerts") {
            this.alerts = [
              ...this.alerts.slice(-19),
              {
                ...latestMessage.data,
                timestamp: new Date().toISOString(),
              },
            ];
          }
        }
      }
    });
  }

  handleSendTestData() {
    const data = {
      component: "dashboard",
      action: "test_data",
      value: Math.random() * 100,
      timestamp: new Date().toISOString(),
    };
    this.hook.sendData(data);
    return data;
  }

  handleSendAlert() {
    const alert = {
      level: "info",
      message: "Test alert from dashboard",
      source: "user_interface",
    };
    this.hook.publish("system_alerts", alert);
    return alert;
  }
}

// ---- the test harness ------------------------------------------------------------------------

class Failure extends Error {}
class Unreachable extends Error {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const ofType = (d, type) => d.hook.messages.filter((m) => m.type === type);

async function waitFor(d, predicate, what, timeoutMs = 5000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = d.hook.messages.find(predicate);
    if (found) return found;
    if (d.hook.unexpectedClose) throw new Failure(`${d.hook.name}: waiting for ${what}: ${d.hook.unexpectedClose}`);
    if (Date.now() > end) {
      throw new Failure(
        `${d.hook.name}: no ${what} within ${timeoutMs / 1000} s; received ${JSON.stringify(d.hook.messages.map((m) => m.type))}`,
      );
    }
    await sleep(10);
  }
}

async function barrier(d, what) {
  const before = ofType(d, "heartbeat_response").length;
  d.hook.sendMessage({ type: "heartbeat" });
  await waitFor(d, () => ofType(d, "heartbeat_response").length > before, `heartbeat_response (${what})`);
}

async function start(name) {
  const d = new Dashboard(url, authTokenArg ?? null, name);
  d.hook.connect();
  const end = Date.now() + 5000;
  while (!d.hook.isConnected) {
    if (d.hook.connectError) throw new Unreachable(`cannot reach ${url}: ${d.hook.connectError}`);
    if (Date.now() > end) throw new Unreachable(`cannot reach ${url} within 5 s`);
    await sleep(10);
  }
  const welcome = await waitFor(d, (m) => m.type === "welcome", "welcome", 2000);
  if (d.hook.messages[0] !== welcome) throw new Failure(`${name}: the first message is ${d.hook.messages[0].type}, not welcome`);
  if (typeof welcome.clientId !== "string" || !welcome.clientId) throw new Failure(`${name}: welcome without clientId`);
  if (welcome.authRequired && !authTokenArg) throw new Failure(`${name}: the server requires auth; pass TOKEN`);
  const hs = await waitFor(d, (m) => m.type === "handshake_response", "handshake_response");
  if (hs.success !== true || ("clientId" in hs && hs.clientId !== d.hook.clientId)) {
    throw new Failure(`${name}: handshake_response ${JSON.stringify(hs)} for welcome clientId ${d.hook.clientId}`);
  }
  const authEnd = Date.now() + 5000;
  while (!d.hook.isAuthenticated) {
    if (d.hook.unexpectedClose || Date.now() > authEnd) {
      throw new Failure(`${name}: not authenticated (${d.hook.unexpectedClose ?? "5 s"}): ${JSON.stringify(ofType(d, "auth_response"))}`);
    }
    await sleep(10);
  }
  // The Dashboard's effect has subscribed; the barrier makes sure both subscriptions are in.
  await barrier(d, "after subscribing");
  const subs = ofType(d, "subscribe_response");
  if (subs.some((s) => s.success === false)) throw new Failure(`${name}: subscribe refused: ${JSON.stringify(subs)}`);
  return { d, welcome };
}

async function run(dashboards) {
  const { d: a, welcome: wa } = await start("dashboard A");
  dashboards.push(a);
  const { d: b, welcome: wb } = await start("dashboard B");
  dashboards.push(b);
  if (wa.clientId === wb.clientId) throw new Failure(`both connections got clientId ${wa.clientId}`);
  if (wa.authRequired) {
    const auth = ofType(a, "auth_response");
    if (!auth.length || auth.at(-1).success !== true) throw new Failure(`auth_response ${JSON.stringify(auth)}`);
  }

  // "Send Test Data"
  a.handleSendTestData();
  const dr = await waitFor(a, (m) => m.type === "data_response", "data_response");
  if (dr.success !== true) throw new Failure(`data_response ${JSON.stringify(dr)}`);
  if (!Number.isInteger(dr.insertId) || dr.insertId < 1) throw new Failure(`data_response has no insertId >= 1: ${JSON.stringify(dr)}`);

  // The seed's request and RPC examples, through the hook's sendMessage.
  const requestId = `req_${Date.now()}_${Math.floor(Math.random() * 9000 + 1000)}`;
  a.hook.sendMessage({ type: "request", requestId, endpoint: "get_weather", data: { city: "New York" } });
  const rpcId = `rpc_${Date.now()}_${Math.floor(Math.random() * 9000 + 1000)}`;
  a.hook.sendMessage({ type: "rpc_call", requestId: rpcId, method: "calculateAverage", params: { values: [10, 20, 30, 40, 50] } });
  await barrier(a, "after the request and the RPC");
  const responses = ofType(a, "response");
  const resp = responses.find((m) => m.requestId === requestId);
  if (!resp) throw new Failure(`no response with requestId ${requestId}: ${JSON.stringify(responses)}`);
  if (resp.success !== true || !isDeepStrictEqual(resp.data, { temperature: 22, condition: "sunny" })) {
    throw new Failure(`get_weather response ${JSON.stringify(resp)}`);
  }
  const rpcs = ofType(a, "rpc_response");
  const rpc = rpcs.find((m) => m.requestId === rpcId);
  if (!rpc) throw new Failure(`no rpc_response with requestId ${rpcId}: ${JSON.stringify(rpcs)}`);
  if (rpc.success !== true || rpc.data !== 30) throw new Failure(`calculateAverage: ${JSON.stringify(rpc)}`);

  // "Send Test Alert" from A; B's Dashboard shows it, A's does not.
  const alert = a.handleSendAlert();
  const got = await waitFor(b, (m) => m.type === "publish", "publish at dashboard B");
  if (got.topic !== "system_alerts" || !isDeepStrictEqual(got.data, alert)) {
    throw new Failure(`dashboard B got ${JSON.stringify(got)}, sent ${JSON.stringify(alert)}`);
  }
  if (b.alerts.length !== 1 || b.alerts[0].message !== alert.message) {
    throw new Failure(`dashboard B's alerts: ${JSON.stringify(b.alerts)}`);
  }
  await barrier(a, "after the publish");
  const echo = ofType(a, "publish");
  if (echo.length) throw new Failure(`the publisher got its own publish back: ${JSON.stringify(echo[0])}`);
  const pr = ofType(a, "publish_response");
  if (pr.some((m) => m.success === false)) throw new Failure(`publish refused: ${JSON.stringify(pr)}`);
  await barrier(b, "at the end");
  for (const d of [a, b]) {
    const errors = ofType(d, "error");
    if (errors.length) throw new Failure(`${d.hook.name} got error messages: ${JSON.stringify(errors)}`);
    if (d.hook.unexpectedClose) throw new Failure(`${d.hook.name}: ${d.hook.unexpectedClose}`);
  }
  return (
    `clientIds ${a.hook.clientId} / ${b.hook.clientId}, authRequired ${Boolean(wa.authRequired)}, ` +
    `insertId ${dr.insertId}, get_weather ${JSON.stringify(resp.data)}, calculateAverage ${rpc.data}, ` +
    `alert delivered deep-equal to dashboard B, no self-echo`
  );
}

const dashboards = [];
const finish = (code, line) => {
  for (const d of dashboards) d.hook.close();
  (code === 0 ? process.stdout : process.stderr).write(`${line}\n`);
  process.exit(code);
};
const deadline = setTimeout(() => finish(1, `handler_client.mjs: FAIL: not done within ${DEADLINE_MS / 1000} s`), DEADLINE_MS);
run(dashboards).then(
  (summary) => {
    clearTimeout(deadline);
    finish(0, `handler_client.mjs: OK: ${summary}`);
  },
  (e) => {
    clearTimeout(deadline);
    if (e instanceof Unreachable) finish(2, `handler_client.mjs: ${e.message}`);
    if (e instanceof Failure) finish(1, `handler_client.mjs: FAIL: ${e.message}`);
    finish(1, `handler_client.mjs: FAIL: ${e.stack}`);
  },
);
