// Every server a test spawns runs in its own process group (detached), registered here, so
// the whole group (wrangler's node processes and workerd) dies with the test process: on a
// normal exit, a failed assertion, an uncaught error, or SIGINT/SIGTERM from the runner.
import { spawn } from "node:child_process";

const liveGroups = new Set();

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false; // ESRCH: already gone
  }
}

process.on("exit", () => {
  for (const pid of liveGroups) killGroup(pid, "SIGKILL");
});
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.once(signal, () => {
    for (const pid of liveGroups) killGroup(pid, "SIGKILL");
    process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
  });
}

/**
 * Spawns `command` detached (its own process group) with stdout/stderr piped, and returns
 * the child plus `stopGroup()`, which SIGTERMs the group, waits up to `graceMs`, then
 * SIGKILLs whatever is left of it. Safe to call more than once.
 */
export function spawnGroup(command, args, options = {}) {
  const child = spawn(command, args, {
    ...options,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  if (child.pid !== undefined) liveGroups.add(child.pid);

  let stopping;
  const stopGroup = (graceMs = 3000) => {
    stopping ??= (async () => {
      if (child.pid === undefined) return;
      killGroup(child.pid, "SIGTERM");
      const timer = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
      await Promise.race([exited, timer]);
      // The leader may be gone while workerd still runs in its group: always finish it off.
      killGroup(child.pid, "SIGKILL");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 1000).unref())]);
      liveGroups.delete(child.pid);
    })();
    return stopping;
  };
  return { child, exited, stopGroup };
}

/** Runs a command to completion in its own process group; rejects on a non-zero exit. */
export async function runGroup(command, args, options = {}, timeoutMs = 60_000) {
  const { child, exited, stopGroup } = spawnGroup(command, args, options);
  let output = "";
  child.stdout.on("data", (chunk) => (output += chunk));
  child.stderr.on("data", (chunk) => (output += chunk));
  const timer = setTimeout(() => stopGroup(0), timeoutMs);
  const { code, signal } = await exited;
  clearTimeout(timer);
  await stopGroup(0);
  if (code !== 0) {
    throw new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${output}`);
  }
  return output;
}
