// The README's deploy works from a clone: `wrangler deploy --dry-run --outdir <dir>` on the
// repository's own wrangler.toml (its [build] command included, as a real deploy runs it)
// builds and bundles the Worker, reports the upload size, and ships the built wasm with the
// production bindings only: no demo value of [env.demo] reaches the production bundle or its
// bindings. [env.demo] is for local `wrangler dev` only; its dry run is the control that the
// bindings check sees variables when there are some. Needs scripts/build-worker.sh first
// (scripts/test.sh does it; the [build] command then finds build/ up to date).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { promisify } from "node:util";

import { nodeBin, repoRoot, wranglerEnvironment, wranglerJs } from "./support/worker.mjs";

let production;
let demo;

/** `wrangler deploy --dry-run` of `env` ("" = the top level, production) into a fresh directory. */
async function dryRun(env) {
  const outdir = mkdtempSync(join(tmpdir(), "ceg-deploy-dry-run-"));
  // On exit, not in after(): a run whose name pattern skips every test skips after() too.
  process.on("exit", () => rmSync(outdir, { recursive: true, force: true }));
  const started = Date.now();
  try {
    const { stdout, stderr } = await promisify(execFile)(
      nodeBin,
      [wranglerJs, "deploy", "--dry-run", "--outdir", outdir, `--env=${env}`],
      { cwd: repoRoot, env: wranglerEnvironment(), timeout: 600_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const output = stdout + stderr;
    const files = readdirSync(outdir).sort();
    const bindings = [...output.matchAll(/^env\.(\w+) \(/gm)].map((m) => m[1]).sort();
    console.log(`# wrangler deploy --dry-run --env=${JSON.stringify(env)}: ${Date.now() - started} ms, ${files.join(", ")}`);
    return { outdir, output, files, bindings };
  } catch (error) {
    assert.fail(`wrangler deploy --dry-run --env=${JSON.stringify(env)} failed:\n${error.stdout}${error.stderr}`);
  }
}

/** [env.demo]'s secret-looking values, by name, as wrangler reads them. */
function demoSecrets() {
  const { experimental_readRawConfig: readRawConfig } = createRequire(join(repoRoot, "package.json"))("wrangler");
  const { rawConfig } = readRawConfig({ config: join(repoRoot, "wrangler.toml") });
  const secrets = Object.entries(rawConfig.env.demo.vars).filter(([name]) => /SECRET|TOKEN|_KEY$/.test(name));
  assert.ok(secrets.length >= 4, `only ${secrets.length} demo secrets found`);
  // A multi-line value (the PEM key) by its longest line: its first line is any PEM's.
  return secrets.map(([name, value]) => [name, value.split("\n").reduce((a, b) => (b.length > a.length ? b : a))]);
}

before(async () => {
  production = await dryRun("");
  demo = await dryRun("demo");
});

test("the production dry run bundles the Worker script and the built wasm, and reports the upload size", () => {
  const wasm = production.files.filter((f) => f.endsWith(".wasm"));
  assert.ok(production.files.includes("index.js"), production.files.join(", "));
  assert.equal(wasm.length, 1, production.files.join(", "));
  assert.ok(
    readFileSync(join(production.outdir, wasm[0])).equals(readFileSync(join(repoRoot, "build", "index_bg.wasm"))),
    "the bundle ships build/index_bg.wasm (scripts/build-worker.sh's optimised wasm)",
  );
  const size = production.output.match(/Total Upload: ([\d.]+) KiB \/ gzip: ([\d.]+) KiB/);
  assert.ok(size, `no upload size in:\n${production.output}`);
  console.log(`# production bundle: ${size[1]} KiB, ${size[2]} KiB gzip`);
  // Cloudflare's limit for a Worker on the free plan: 3 MB after compression.
  assert.ok(Number(size[2]) < 3 * 1024, `${size[2]} KiB gzip is over the free plan's 3 MB`);
});

test("production binds the deny-list KV, the D1 database and the sync Durable Object, and no variable", () => {
  assert.deepEqual(production.bindings, ["CLERK_DB", "CLERK_EDGE", "CLERK_SYNC"], production.output);
  // The control: the same reading finds the demo's variables in its own dry run.
  for (const [name] of demoSecrets()) assert.ok(demo.bindings.includes(name), `${name} missing from the demo's bindings`);
});

test("no demo secret of [env.demo] is in the production bundle", () => {
  const secrets = demoSecrets();
  for (const file of production.files) {
    const bytes = readFileSync(join(production.outdir, file));
    for (const [name, value] of secrets) {
      assert.ok(!bytes.includes(value), `${file} holds the demo's ${name}`);
    }
  }
  assert.ok(!secrets.some(([, value]) => production.output.includes(value)), "a demo secret in the production dry run's output");
});
