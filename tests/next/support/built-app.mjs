// The example app installed and built once per variant, shared by every test file that runs
// it: `ensureAppBuilt(variant)` installs the package from `npm pack`'s tarball and runs
// `next build` unless the variant's `.next` already holds a build of exactly the same inputs
// (the tarball, the app's sources, the variant, the build environment: hashed into a stamp
// file inside `.next`). A lock directory keeps two test processes from building at once.
//
// Variants (tests/next-app/middleware.ts stays the one source of the middleware):
//   edge    tests/next-app itself: edge `middleware.ts`, Next 16 (Turbopack);
//   proxy   a copy whose middleware.ts is `proxy.ts`, same content: Next 16's Node.js runtime;
//   next15  a copy on next@~15.5 (webpack), edge `middleware.ts`, with the one next.config
//           setting Next 15 needs (tests/next-app/README.md).
// The copies live outside the checkout, in $CEG_NEXT_VARIANTS_DIR (scripts/test.sh points it
// at its own temporary directory, removed when it ends) or else in
// $TMPDIR/ceg-next-variants-<hash>, kept so that a rerun of one test file reuses its build.
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { packPackage } from "../../support/pkg-tarball.mjs";
import { appDir, buildApp, installApp } from "./next-app.mjs";

/** Set at build time only: must appear nowhere in a build, and change nothing at run time. */
export const BUILD_TIME_MARKER = "build-time-only-marker-7f3a";
/** Every build gets a build-time environment that would open the bypass if Next captured it. */
const BUILD_ENV = {
  CLERK_EMERGENCY_BYPASS: "true",
  CLERK_EMERGENCY_BYPASS_REASON: BUILD_TIME_MARKER,
  CLERK_JWT_KEY: BUILD_TIME_MARKER,
};

/** The variants: how each differs from tests/next-app. */
export const VARIANTS = {
  edge: { label: "Next 16, edge middleware.ts", runtime: "edge" },
  proxy: { label: "Next 16, Node proxy.ts", runtime: "nodejs", entry: "proxy.ts" },
  next15: {
    label: "Next 15, edge middleware.ts",
    runtime: "edge",
    next: "~15.5.0",
    // Without it webpack bundles the package into the route handlers and rewrites its wasm URL.
    serverExternalPackages: ["clerk-edge-guard"],
  },
};

const appHash = createHash("sha256").update(appDir).digest("hex").slice(0, 12);
const variantsRoot = process.env.CEG_NEXT_VARIANTS_DIR || join(tmpdir(), `ceg-next-variants-${appHash}`);
// Outside the checkout: a crashed run must not leave a file in the working tree.
const LOCK = join(tmpdir(), `ceg-next-build-lock-${appHash}`);
const LOCK_STALE_MS = 10 * 60 * 1000;

/** Not sources: installed or generated files, and the README. */
const NOT_SOURCES = new Set(["node_modules", ".next", ".data", "next-env.d.ts", "README.md", ".gitignore"]);

/** The app's source files, relative to `dir`, sorted: what a variant copies and what the stamp hashes
 * (bench/nextjs.mjs copies and hashes the same). */
export function sourceFiles(dir = appDir, sub = "") {
  const found = [];
  for (const name of readdirSync(join(dir, sub)).sort()) {
    if (NOT_SOURCES.has(name) || name.endsWith(".tsbuildinfo")) continue;
    const path = join(sub, name);
    if (statSync(join(dir, path)).isDirectory()) found.push(...sourceFiles(dir, path));
    else found.push(path);
  }
  return found;
}

/** A hash of everything a variant's build depends on that a test run may change. */
function inputsHash(name, tarball) {
  const hash = createHash("sha256");
  hash.update(JSON.stringify({ name, variant: VARIANTS[name], BUILD_ENV }));
  hash.update(readFileSync(tarball));
  for (const path of sourceFiles()) {
    hash.update(`\0${path}\0`);
    hash.update(readFileSync(join(appDir, path)));
  }
  return hash.digest("hex");
}

async function withLock(fn) {
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch (error) {
      if (error.code !== "EEXIST") throw error;
      try {
        if (Date.now() - statSync(LOCK).mtimeMs > LOCK_STALE_MS) rmSync(LOCK, { recursive: true, force: true });
      } catch {
        // removed meanwhile
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/** The directory a variant builds in: tests/next-app for `edge`, else its copy. */
const variantDir = (name) => (name === "edge" ? appDir : join(variantsRoot, name));

/** A copy's sources afresh from tests/next-app, changed as the variant says. */
function prepareCopy(name, dir) {
  const variant = VARIANTS[name];
  mkdirSync(dir, { recursive: true });
  // The sources again from scratch (node_modules stays: the install below brings it up to date).
  for (const entry of readdirSync(dir)) {
    if (entry !== "node_modules") rmSync(join(dir, entry), { recursive: true, force: true });
  }
  for (const path of sourceFiles()) cpSync(join(appDir, path), join(dir, path));
  if (variant.entry) renameSync(join(dir, "middleware.ts"), join(dir, variant.entry));
  if (variant.next) rmSync(join(dir, "package-lock.json"), { force: true }); // it pins Next 16
  if (variant.serverExternalPackages) {
    renameSync(join(dir, "next.config.mjs"), join(dir, "next.config.app.mjs"));
    writeFileSync(
      join(dir, "next.config.mjs"),
      "// Written by tests/next/support/built-app.mjs: the app's own config plus this variant's settings.\n" +
        'import app from "./next.config.app.mjs";\n\n' +
        `export default { ...app, serverExternalPackages: ${JSON.stringify(variant.serverExternalPackages)} };\n`,
    );
  }
}

/**
 * Installs and builds the variant unless its current build is of the same inputs.
 * @returns {Promise<{ dir: string, built: boolean, ms: number, label: string }>}
 */
export async function ensureAppBuilt(name = "edge") {
  const variant = VARIANTS[name];
  if (!variant) throw new Error(`unknown Next.js app variant ${name}`);
  const started = Date.now();
  const { tarball } = await packPackage();
  return withLock(async () => {
    const wanted = inputsHash(name, tarball);
    const dir = variantDir(name);
    const stamp = join(dir, ".next", "ceg-build-inputs");
    const have = existsSync(stamp) && existsSync(join(dir, ".next", "BUILD_ID")) ? readFileSync(stamp, "utf8") : null;
    if (have === wanted) return { dir, built: false, ms: Date.now() - started, label: variant.label };
    if (dir !== appDir) prepareCopy(name, dir);
    await installApp(dir, variant.next ? [`next@${variant.next}`] : []);
    await buildApp(BUILD_ENV, dir);
    writeFileSync(stamp, wanted);
    return { dir, built: true, ms: Date.now() - started, label: variant.label };
  });
}

/** The `next` version installed in a built variant. */
export function nextVersion(dir) {
  return JSON.parse(readFileSync(join(dir, "node_modules", "next", "package.json"), "utf8")).version;
}
