// The npm package as users get it: `npm pack` of pkg-js, into a temporary directory outside
// the checkout (removed when the process exits). Packed once per process; every test that
// installs the package (the pack test, the example Next.js apps, the types test) installs
// this tarball, never the pkg-js directory itself.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const pkgDir = join(repoRoot, "pkg-js");

const run = promisify(execFile);

/** npm without update checks, audit or colour. */
export function npmEnvironment(extra = {}) {
  return {
    ...process.env,
    NO_UPDATE_NOTIFIER: "1",
    npm_config_update_notifier: "false",
    npm_config_audit: "false",
    npm_config_fund: "false",
    FORCE_COLOR: "0",
    NO_COLOR: "1",
    ...extra,
  };
}

/** Runs npm; resolves with its stdout, rejects with both streams in the message. */
export async function npm(args, { cwd, timeoutMs = 300_000 } = {}) {
  try {
    const { stdout } = await run("npm", args, {
      cwd,
      env: npmEnvironment(),
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    throw new Error(`npm ${args.join(" ")} failed in ${cwd}:\n${error.stdout ?? ""}\n${error.stderr ?? error.message}`);
  }
}

let packed;
/**
 * `npm pack` of pkg-js (needs `npm --prefix pkg-js run build` first).
 * @returns {Promise<{ tarball: string, info: { filename: string, size: number,
 *   unpackedSize: number, files: { path: string, size: number, mode: number }[] } }>}
 */
export function packPackage() {
  packed ??= (async () => {
    if (!existsSync(join(pkgDir, "dist", "clerk_edge_guard_bg.wasm"))) {
      throw new Error("pkg-js/dist is missing: run npm --prefix pkg-js run build first (scripts/test.sh does)");
    }
    const dir = mkdtempSync(join(tmpdir(), "ceg-pack-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const stdout = await npm(["pack", "--json", "--pack-destination", dir, "--loglevel=error"], { cwd: pkgDir });
    const [info] = JSON.parse(stdout);
    return { tarball: join(dir, info.filename), info };
  })();
  return packed;
}
