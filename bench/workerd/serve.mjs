// One Worker in its own `workerd serve` process (the workerd binary wrangler depends on),
// with a generated config, no wrangler and no dev proxy in front: the socket on 127.0.0.1
// goes straight to the Worker. One process per Worker, so each process's CPU time is that
// Worker's alone (cpuSeconds). Outbound fetches may reach loopback only (the echo origin): a
// call to Clerk or anywhere else fails, so a figure can never include the network.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import { runGroup, spawnGroup } from "../../tests/e2e/support/process-groups.mjs";
import { freePort, nodeBin, repoRoot, wranglerEnvironment, wranglerJs } from "../../tests/e2e/support/worker.mjs";

const here = dirname(fileURLToPath(import.meta.url));
export const workerdBin = join(repoRoot, "node_modules", "workerd", "bin", "workerd");
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }));

/** `workerd --version`'s version ("2026-11-17"). */
export const workerdVersion = () => execFileSync(workerdBin, ["--version"], { encoding: "utf8" }).trim().split(/\s+/).pop();

/** The compatibility date of a wrangler.toml, so workerd runs the Worker as wrangler would. */
export function compatibilityDate(wranglerToml) {
  const date = readFileSync(wranglerToml, "utf8").match(/^compatibility_date\s*=\s*"([\d-]+)"/m)?.[1];
  if (!date) throw new Error(`${wranglerToml}: no compatibility_date`);
  return date;
}

/**
 * `wrangler deploy --dry-run` of a Worker script under `wranglerToml`: exactly the bundle a
 * deploy would upload (esbuild with the workerd conditions), into `outdir`. Returns its path.
 */
export async function bundle(wranglerToml, script, outdir) {
  await runGroup(
    nodeBin,
    [wranglerJs, "deploy", script, "--dry-run", "--outdir", outdir, "--config", wranglerToml],
    { cwd: dirname(wranglerToml), env: wranglerEnvironment() },
    120_000,
  );
  return join(outdir, `${basename(script).replace(/\.m?js$/, "")}.js`);
}

/** A Cap'n Proto text literal (PEM keys are multi-line). */
function capnpString(value) {
  if (/[\0-\x09\x0b-\x1f\x7f]/.test(value)) throw new Error("a binding value holds a control character");
  return `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** The config: the Worker on `port`, its text bindings, KV namespaces served by fake-kv.mjs. */
function configText({ modules, vars, kvNamespaces, date, port }) {
  const bindings = [
    ...Object.entries(vars).map(([name, value]) => `(name = ${capnpString(name)}, text = ${capnpString(value)})`),
    ...kvNamespaces.map((name) => `(name = ${capnpString(name)}, kvNamespace = "kv")`),
  ];
  const kv = kvNamespaces.length > 0;
  return `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "worker", worker = .worker),
    ${kv ? `(name = "kv", worker = .kv),` : ""}
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "worker")],
);

const worker :Workerd.Worker = (
  modules = [${modules.map((m) => `(name = ${capnpString(m.name)}, ${m.type} = embed ${capnpString(m.name)})`).join(", ")}],
  compatibilityDate = "${date}",
  bindings = [${bindings.join(", ")}],
  globalOutbound = "loopback",
);
${kv ? `
const kv :Workerd.Worker = (
  modules = [(name = "fake-kv.mjs", esModule = embed "fake-kv.mjs")],
  compatibilityDate = "${date}",
);` : ""}
`;
}

/** Resolves once `url` answers HTTP at all; rejects when `exited` settles first or after `ms`. */
async function waitForHttp(url, exited, ms, output) {
  const deadline = Date.now() + ms;
  let gone = false;
  exited.then(() => (gone = true));
  while (Date.now() < deadline) {
    if (gone) throw new Error(`workerd exited early:\n${output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error(`workerd did not answer on ${url} within ${ms} ms:\n${output()}`);
}

/**
 * Starts `workerd serve` for one Worker on a free loopback port.
 *
 * @param {object} options
 * @param {{ path: string, name: string, type: "esModule"|"wasm" }[]} options.modules the
 *   Worker's files, the main module first; `name` is how the modules import each other.
 * @param {Record<string, string>} options.vars text bindings (the Worker's variables).
 * @param {string[]} [options.kvNamespaces] KV bindings, each served by the in-memory fake-kv.mjs.
 * @param {string} options.date the compatibility date.
 * @param {(line: string) => void} options.onLine every line workerd prints (the Worker's
 *   console included); nothing else keeps them, but the last 40 for an error message.
 * @returns {Promise<{ url: string, pid: number, cpuSeconds(): number, stop(): Promise<void> }>}
 */
export async function startWorkerd({ modules, vars, kvNamespaces = [], date, onLine }, attempt = 1) {
  const dir = mkdtempSync(join(tmpdir(), "ceg-bench-workerd-"));
  // embed paths are relative to the config: the modules are copied next to it.
  for (const m of modules) copyFileSync(m.path, join(dir, m.name));
  if (kvNamespaces.length) copyFileSync(join(here, "fake-kv.mjs"), join(dir, "fake-kv.mjs"));
  const port = await freePort();
  writeFileSync(join(dir, "config.capnp"), configText({ modules, vars, kvNamespaces, date, port }));

  const { child, exited, stopGroup } = spawnGroup(workerdBin, ["serve", "config.capnp"], { cwd: dir });
  const last = [];
  const line = (text) => {
    last.push(text);
    if (last.length > 40) last.shift();
    onLine(text);
  };
  createInterface({ input: child.stdout }).on("line", line);
  createInterface({ input: child.stderr }).on("line", line);
  const stop = async () => {
    await stopGroup();
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitForHttp(`${url}/`, exited, 30_000, () => last.join("\n"));
  } catch (error) {
    await stop();
    // The port was taken between freePort() and workerd's bind: again on another port.
    if (attempt < 3 && last.some((l) => /Address already in use/i.test(l))) {
      return startWorkerd({ modules, vars, kvNamespaces, date, onLine }, attempt + 1);
    }
    throw error;
  }
  return { url, pid: child.pid, cpuSeconds: () => cpuSeconds(child.pid), stop };
}

/** User + system CPU time of process `pid` (all its threads) so far, in seconds. */
export function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}
