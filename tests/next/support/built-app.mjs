// The example app installed and built once for the handshake tests (tests/next/handshake*.test.mjs):
// `ensureAppBuilt()` installs the current pkg-js and runs `next build` unless `.next` already
// holds a build of exactly the same inputs (pkg-js/dist and the app's own sources, hashed into
// a stamp file inside `.next`), so the second handshake test file reuses the first one's
// build. A lock directory keeps two test processes from building at once. (The build of
// next-app.test.mjs removes `.next`, stamp included, so it is never mistaken for this one.)
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

import { appDir, buildApp, installApp, repoRoot } from "./next-app.mjs";

const STAMP = join(appDir, ".next", "ceg-handshake-build-inputs");
// Outside the checkout: a crashed run must not leave a file in the working tree.
const LOCK = join(tmpdir(), `ceg-next-build-lock-${createHash("sha256").update(appDir).digest("hex").slice(0, 12)}`);
const LOCK_STALE_MS = 10 * 60 * 1000;

function* files(dir) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

/** A hash of everything the build depends on that a test run may change. */
function inputsHash() {
  const hash = createHash("sha256");
  const inputs = [
    ...files(join(repoRoot, "pkg-js", "dist")),
    // The package's own modules (middleware.js, sync.js, …): the app bundles them too.
    ...[...files(join(repoRoot, "pkg-js"))].filter((path) => /\.(m?js|d\.ts)$/.test(path) && !path.includes("/dist/")),
    join(repoRoot, "pkg-js", "package.json"),
    ...files(join(appDir, "app")),
    ...files(join(appDir, "lib")),
    join(appDir, "middleware.ts"),
    join(appDir, "next.config.mjs"),
    join(appDir, "package.json"),
  ];
  for (const path of inputs) {
    if (!existsSync(path)) continue;
    hash.update(relative(repoRoot, path));
    hash.update("\0");
    hash.update(readFileSync(path));
    hash.update("\0");
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

/**
 * Installs and builds the app unless the current build is of the same inputs.
 * @returns {Promise<{ built: boolean, ms: number }>}
 */
export async function ensureAppBuilt() {
  const started = Date.now();
  return withLock(async () => {
    const wanted = inputsHash();
    const have = existsSync(STAMP) && existsSync(join(appDir, ".next", "BUILD_ID")) ? readFileSync(STAMP, "utf8") : null;
    if (have === wanted) return { built: false, ms: Date.now() - started };
    await installApp();
    await buildApp();
    writeFileSync(STAMP, wanted);
    return { built: true, ms: Date.now() - started };
  });
}
