// SQL against the local D1 of a `wrangler dev --persist-to <dir>`, for tests that check what
// the Worker stored.
import { join } from "node:path";

import { spawnGroup } from "./process-groups.mjs";
import { repoRoot } from "./worker.mjs";

/**
 * Runs SQL against a local D1 of a `wrangler dev --persist-to <persistDir>` and returns one
 * array of rows per statement. Reads the repository's wrangler.toml: `d1 execute` needs only
 * the binding, which is the same in the config startWorker generates from it.
 */
export async function queryD1(persistDir, sql) {
  const args = [
    join(repoRoot, "node_modules", "wrangler", "bin", "wrangler.js"),
    "d1", "execute", "CLERK_DB", "--local", "--persist-to", persistDir,
    "--config", join(repoRoot, "wrangler.toml"), "--json", "--command", sql,
  ];
  const { child, exited } = spawnGroup(process.execPath, args, {
    cwd: repoRoot,
    env: {
      ...process.env,
      WRANGLER_SEND_METRICS: "false",
      WRANGLER_SEND_ERROR_REPORTS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const { code } = await exited;
  if (code !== 0) throw new Error(`wrangler d1 execute failed (exit ${code}):\n${stdout}\n${stderr}`);
  return JSON.parse(stdout).map((statement) => statement.results);
}

