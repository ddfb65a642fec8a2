// The types users compile against: `tsc --noEmit` on the example Next.js app (its own
// tsconfig, the packed package installed), and on tests/types/usage.ts, the public API used
// and misused (`@ts-expect-error`), resolved through the packed package's `exports` as a
// bundler (Next.js) and as plain Node ESM (NodeNext: extension-less relative imports in a
// .d.ts, fine for a bundler, fail there).
// TypeScript is the example app's. Needs `npm --prefix pkg-js run build` first; installs and
// builds the app itself (shared with tests/next: support/built-app.mjs), so that `.next/types`
// matches its sources.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { before, test } from "node:test";

import { ensureAppBuilt } from "../next/support/built-app.mjs";
import { appDir } from "../next/support/next-app.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const tsc = join(appDir, "node_modules", "typescript", "bin", "tsc");
let project;

before(async () => {
  const { built, ms } = await ensureAppBuilt("edge");
  console.log(`# next-app ${built ? "installed and built" : "build reused"} in ${ms} ms`);
  // tests/types beside the app's node_modules (the packed package, next, typescript), outside
  // the checkout.
  project = mkdtempSync(join(tmpdir(), "ceg-types-"));
  // On exit, not in after(): a run whose name pattern skips every test skips after() too.
  process.on("exit", () => rmSync(project, { recursive: true, force: true }));
  for (const name of readdirSync(here)) {
    if (!name.endsWith(".test.mjs") && name !== "node_modules") cpSync(join(here, name), join(project, name));
  }
  symlinkSync(join(appDir, "node_modules"), join(project, "node_modules"), "dir");
});

/** tsc with `args` (`--listFiles` added); resolves with its file list, fails the test on any error. */
async function typecheck(label, args) {
  const started = Date.now();
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [tsc, "--listFiles", ...args], {
      maxBuffer: 16 * 1024 * 1024,
    });
    console.log(`# tsc, ${label}: ${Date.now() - started} ms`);
    return stdout;
  } catch (error) {
    assert.fail(`tsc ${args.join(" ")} found errors:\n${error.stdout}${error.stderr}`);
  }
}

test("the example app type-checks with its own tsconfig", async () => {
  const files = await typecheck("the example app", ["--noEmit", "--incremental", "false", "-p", appDir]);
  assert.match(files, /node_modules\/clerk-edge-guard\/index\.d\.ts$/m, "the app's types come from the package");
  assert.match(files, /\/middleware\.ts$/m, "middleware.ts is checked");
});

/** Every usage type-checks and every misuse is an error, with the package's types. */
async function checkUsage(label, extraArgs) {
  const files = await typecheck(label, ["-p", project, ...extraArgs]);
  assert.match(files, /node_modules\/clerk-edge-guard\/index\.d\.ts$/m, "clerk-edge-guard resolved to the packed index.d.ts");
  assert.match(files, /\/usage\.ts$/m);
}

test("the public API's types, resolved as a bundler (Next.js) resolves them", () => checkUsage("usage.ts, Bundler", []));

test("the public API's types, resolved as Node ESM resolves them (NodeNext)", () =>
  checkUsage("usage.ts, NodeNext", ["--module", "nodenext", "--moduleResolution", "nodenext"]));
