// What the Node third-party test clients in this folder share: their output (one JSON object
// per line on stdout, each with `event` and `t`, seconds since start), never dying on a stray
// exception or rejection (it is logged as `internal_error` and the client goes on), and finding
// their library (ws, socket.io-client) although the repo has no package.json.

import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { parseArgs } from "node:util";

export const START = performance.now();
export const now = () => performance.now();

process.stdout.on("error", () => {}); // a closed pipe must not kill the client

export function log(event, fields = {}) {
  const record = { event, t: Math.round(now() - START) / 1000, ...fields };
  try {
    process.stdout.write(JSON.stringify(record) + "\n");
  } catch {
    // stdout gone: keep running silently
  }
}

/** `value` as text (JSON for non-strings), cut to `limit` characters. */
export function short(value, limit = 200) {
  let text;
  try {
    text = typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length <= limit ? text : text.slice(0, limit) + "...";
}

export function errorText(e) {
  if (e === null || e === undefined) return "unknown error";
  const name = e.code || e.name || "Error";
  const cause = e.cause ? ` (${e.cause.code ?? ""} ${short(e.cause.message ?? e.cause, 120)})` : "";
  return `${name}: ${short(e.message ?? String(e))}${cause}`;
}

process.on("uncaughtException", (e) => log("internal_error", { error: errorText(e) }));
process.on("unhandledRejection", (e) => log("internal_error", { error: errorText(e) }));

/**
 * A `require` that finds `pkg`, trying in order: $`prefixEnv` (an npm --prefix directory), then
 * <repo>/.tools/node (from this file's own path, so the working directory does not matter),
 * then ordinary resolution from this folder, which also honours NODE_PATH (NODE_PATH alone
 * does not apply to ESM `import`). `null` when none has it.
 */
export function requireFor(pkg, prefixEnv) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const repo = path.resolve(here, "..", "..", "..", "..");
  const bases = [];
  if (process.env[prefixEnv]) bases.push(path.join(process.env[prefixEnv], "x.js"));
  bases.push(path.join(repo, ".tools", "node", "x.js"));
  bases.push(fileURLToPath(import.meta.url));
  for (const base of bases) {
    const req = createRequire(base);
    try {
      req.resolve(pkg);
      return req;
    } catch (e) {
      if (e.code !== "MODULE_NOT_FOUND" && e.code !== "ERR_PACKAGE_PATH_NOT_EXPORTED") throw e;
    }
  }
  return null;
}

/** `pkg`'s version as `req` finds it, or "?" where its "exports" hide package.json. */
export function versionOf(req, pkg) {
  try {
    return req(`${pkg}/package.json`).version;
  } catch {
    return "?";
  }
}

/**
 * The clients' command line, on Node's own parser: one URL (its scheme one of `schemes`),
 * --mode (one of `modes`), --duration SECONDS (> 0) and the `extra` string options with their
 * defaults; `usage(message)`, which exits, on anything else and on -h/--help (with `help`).
 */
export function commandLine(argv, { modes, schemes, extra = {}, help, usage }) {
  const options = { mode: { type: "string" }, duration: { type: "string" }, help: { type: "boolean", short: "h" } };
  for (const name of Object.keys(extra)) options[name] = { type: "string" };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true });
  } catch (e) {
    usage(e.message);
  }
  const { values, positionals } = parsed;
  if (values.help) usage(help);
  if (positionals.length !== 1) usage("exactly one URL is needed");
  let url;
  try {
    url = new URL(positionals[0]);
  } catch {
    usage(`not a URL: ${positionals[0]}`);
  }
  if (!schemes.includes(url.protocol) || !url.hostname) {
    usage(`the URL must be ${schemes.map((s) => `${s}//`).join(" or ")}: ${positionals[0]}`);
  }
  if (!modes.includes(values.mode)) usage(`--mode must be one of ${modes.join(", ")}`);
  const duration = Number(values.duration);
  if (!(duration > 0)) usage("--duration must be a number > 0");
  const { help: _help, ...given } = values;
  return { ...extra, ...given, url: positionals[0], duration };
}
