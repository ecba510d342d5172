// Starts the real `lingxi serve --demo` binary for a browser test: a fresh data directory and a
// free port, the channel keys parsed from what it prints, and a stop() that ends the process and
// removes the directory. The binary is ../target/release/lingxi unless LINGXI_BIN names another.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
export const BIN = process.env.LINGXI_BIN ? resolve(process.env.LINGXI_BIN) : resolve(here, "../target/release/lingxi");

export const DEMO_PASSWORD = "lingxi-demo";
export const AGENT_EMAIL = "agent@demo.lingxi.dev";
export const SUPERVISOR_EMAIL = "supervisor@demo.lingxi.dev";

/** A port nobody listens on right now. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns the server and resolves once /readyz answers. `opts.dataDir` and `opts.port` reuse a
 * previous run's (to test a restart); otherwise both are fresh. `opts.bot` turns the AI first
 * line on (off by default: the console tests drive conversations by hand); `opts.env` adds
 * environment variables (e.g. LINGXI_AGENT_CHAT_CAPACITY).
 */
export async function startServer(opts = {}) {
  if (!existsSync(BIN)) throw new Error(`no server binary at ${BIN}: run \`cargo build --release -p lingxi-server\` or set LINGXI_BIN`);
  const ownDir = !opts.dataDir;
  const dataDir = opts.dataDir || mkdtempSync(join(tmpdir(), "lingxi-e2e-"));
  const port = opts.port || (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  const child = spawn(BIN, ["serve", "--demo", "--data-dir", dataDir, "--listen", `127.0.0.1:${port}`], {
    stdio: ["ignore", "pipe", "pipe"],
    // These tests drive the console shell by hand (take, reply, resolve); the AI first line
    // would answer and hand over on its own, so it is off here (tested in tests/api.rs).
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn", LINGXI_LOG: process.env.LINGXI_LOG || "warn", LINGXI_BOT: opts.bot ? "1" : "0", ...(opts.env || {}) },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b) => { stdout += b; });
  child.stderr.on("data", (b) => { stderr += b; if (process.env.E2E_VERBOSE) process.stderr.write(b); });
  let exited = null;
  const exitPromise = new Promise((r) => child.on("exit", (code, signal) => { exited = { code, signal }; r(exited); }));

  const deadline = Date.now() + 20000;
  for (;;) {
    if (exited) throw new Error(`lingxi exited early (${JSON.stringify(exited)}):\n${stdout}\n${stderr}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`lingxi did not become ready:\n${stdout}\n${stderr}`);
    }
    try {
      const res = await fetch(baseUrl + "/readyz");
      if (res.ok) break;
    } catch (e) { /* not listening yet */ }
    await sleep(100);
  }

  // "    wechat_official      chn_…  lxk_…" — one line per channel kind.
  const keys = {};
  const channels = {};
  for (const m of stdout.matchAll(/^\s+([a-z_]+)\s+(\S+)\s+(lxk_[0-9a-f]+)\s*$/gm)) { keys[m[1]] = m[3]; channels[m[1]] = m[2]; }
  if (!keys.wechat_official || !keys.mobile_app) throw new Error(`channel keys not found in the server output:\n${stdout}`);

  return {
    baseUrl, port, dataDir, keys, channels,
    output: () => stdout + stderr,
    /** Ends the process (SIGTERM, then SIGKILL after 5 s); removes the data dir unless `keepData`. */
    async stop({ keepData = false } = {}) {
      if (!exited) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => { if (!exited) child.kill("SIGKILL"); }, 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      if (ownDir && !keepData) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Posts a customer message as a channel would; returns the parsed answer. */
export async function postInbound(server, channelKind, body) {
  const res = await fetch(server.baseUrl + "/api/v1/inbound/messages", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${server.keys[channelKind]}` },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status !== 201 && res.status !== 200) throw new Error(`inbound ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  // A page fulfilled by a route (E2E_CONSOLE_DIR) counts as public: let it reach 127.0.0.1.
  ...(process.env.E2E_CONSOLE_DIR ? ["--disable-features=LocalNetworkAccessChecks"] : []),
];
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** Opens the console in a fresh browser context and logs in as `email`; resolves when the live
 * stream is connected. Page errors and console errors (other than failed loads) go to `errors`. */
export async function openConsole(browser, server, email, errors, { locale = "en-US" } = {}) {
  const context = await browser.newContext({ locale, viewport: { width: 1440, height: 900 } });
  if (process.env.E2E_CONSOLE_DIR) await serveConsoleFrom(context, server, process.env.E2E_CONSOLE_DIR);
  const page = await context.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource|WebSocket connection to/.test(m.text())) errors.push(m.text());
  });
  await page.goto(server.baseUrl + "/");
  await page.getByTestId("login-email").fill(email);
  await page.getByTestId("login-password").fill(DEMO_PASSWORD);
  await page.getByTestId("login-submit").click();
  await page.locator('[data-testid=connection-status][data-status="live"]').waitFor({ timeout: 5000 });
  return page;
}

/** E2E_CONSOLE_DIR=../crates/lingxi-server/console: the page and its scripts come from that
 * directory instead of the binary (which embeds them at compile time), so console changes can
 * be tried without rebuilding the server. A final run without it tests what ships. */
export async function serveConsoleFrom(context, server, dir) {
  const types = { ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8" };
  await context.route((url) => url.origin === server.baseUrl && (url.pathname === "/" || url.pathname.startsWith("/console/")), (route) => {
    const name = new URL(route.request().url()).pathname.replace(/^\/(console\/)?/, "") || "index.html";
    const file = resolve(dir, name);
    if (!existsSync(file)) return route.fulfill({ status: 404, body: "" });
    return route.fulfill({ status: 200, contentType: types[file.slice(file.lastIndexOf("."))] || "text/plain", body: readFileSync(file) });
  });
}
