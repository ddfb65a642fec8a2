// The example app (tests/next-app, or a variant of it: support/built-app.mjs) in a real
// Next.js production server, for end-to-end tests: installs its dependencies with the package
// from `npm pack`'s tarball (as a user installs it from the registry), builds it, then runs
// `next start` on loopback with whatever environment a test needs (the middleware reads its
// configuration at request time). Every server runs in its own process group, killed when the
// test process ends.
import { rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { runGroup, spawnGroup } from "../../e2e/support/process-groups.mjs";
import { freePort } from "../../e2e/support/worker.mjs";
import { packPackage } from "../../support/pkg-tarball.mjs";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
/** The app: tests/next-app, or a copy named by CEG_NEXT_APP_DIR. */
export const appDir = process.env.CEG_NEXT_APP_DIR
  ? resolve(process.env.CEG_NEXT_APP_DIR)
  : join(repoRoot, "tests", "next-app");
const nextBin = (dir) => join(dir, "node_modules", "next", "dist", "bin", "next");

/** Next and npm without telemetry, update checks or colour. */
function environment(extra = {}) {
  const env = { ...process.env };
  // The test runner's own configuration must not leak into the app's.
  for (const name of Object.keys(env)) {
    if (name.startsWith("CLERK_") || name.startsWith("UPSTASH_") || name === "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY") {
      delete env[name];
    }
  }
  return {
    ...env,
    NEXT_TELEMETRY_DISABLED: "1",
    NO_UPDATE_NOTIFIER: "1",
    npm_config_update_notifier: "false",
    FORCE_COLOR: "0",
    NO_COLOR: "1",
    ...extra,
  };
}


/**
 * `npm install` in `dir` with the package from `npm pack`'s tarball (needs `npm --prefix pkg-js
 * run build` first) and any `extra` specs (e.g. another `next`). `--no-save`: the app's
 * package.json and package-lock.json stay as committed.
 */
export async function installApp(dir = appDir, extra = []) {
  const { tarball } = await packPackage();
  // A copy of the same version from an earlier tarball can count as installed: replace it.
  rmSync(join(dir, "node_modules", "clerk-edge-guard"), { recursive: true, force: true });
  await runGroup(
    "npm",
    ["install", "--no-save", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", tarball, ...extra],
    { cwd: dir, env: environment() },
    300_000,
  );
}

/** `next build` in `dir` with `env` (the build must not capture any of it). Returns its output. */
export async function buildApp(env = {}, dir = appDir) {
  rmSync(join(dir, ".next"), { recursive: true, force: true });
  return runGroup(process.execPath, [nextBin(dir), "build"], { cwd: dir, env: environment(env) }, 300_000);
}

/**
 * `next start` on a free loopback port with `env`; resolves once the server answers.
 * @returns {Promise<{ url: string, lines: string[], output(): string, auditEvents(): object[],
 *   waitForAudit(match: (e: object) => boolean, ms?: number): Promise<object>, stop(): Promise<void> }>}
 */
export async function startApp(env = {}, { timeoutMs = 30_000, dir = appDir } = {}) {
  const port = await freePort();
  const { child, exited, stopGroup } = spawnGroup(
    process.execPath,
    [nextBin(dir), "start", "-p", String(port), "-H", "127.0.0.1"],
    { cwd: dir, env: environment(env) },
  );
  const lines = [];
  createInterface({ input: child.stdout }).on("line", (text) => lines.push(text));
  createInterface({ input: child.stderr }).on("line", (text) => lines.push(`[stderr] ${text}`));
  const output = () => lines.join("\n");
  const url = `http://127.0.0.1:${port}`;

  let stopped = false;
  exited.then(() => (stopped = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (stopped) throw new Error(`next start exited early:\n${output()}`);
    try {
      const response = await fetch(`${url}/__clerk/health`);
      await response.arrayBuffer();
      break;
    } catch {
      if (Date.now() > deadline) {
        await stopGroup();
        throw new Error(`next start did not answer within ${timeoutMs} ms:\n${output()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Lines of stdout that are JSON objects with an `event`: the audit lines. */
  const auditEvents = () =>
    lines.flatMap((text) => {
      if (!text.startsWith("{")) return [];
      try {
        const parsed = JSON.parse(text);
        return parsed && typeof parsed === "object" && "event" in parsed ? [parsed] : [];
      } catch {
        return [];
      }
    });
  const waitForAudit = async (match, waitMs = 5_000) => {
    const until = Date.now() + waitMs;
    for (;;) {
      const found = auditEvents().find(match);
      if (found) return found;
      if (Date.now() > until) throw new Error(`no matching audit line within ${waitMs} ms:\n${output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { url, lines, output, auditEvents, waitForAudit, stop: () => stopGroup() };
}
