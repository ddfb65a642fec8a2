// The pure-Rust RSA fallback of verifySessionToken (runtimes without `crypto.subtle`) held to
// @clerk/backend like the WebCrypto path: differential.test.mjs run again in a child process
// with DIFFERENTIAL_NO_WEBCRYPTO=1, over a few hundred tokens (a miss costs ~1 ms there).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

test("the pure-Rust fallback agrees with @clerk/backend too", () => {
  const differential = fileURLToPath(new URL("./differential.test.mjs", import.meta.url));
  // Without NODE_TEST_CONTEXT, which would make the child think it runs under this runner.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const child = spawnSync(process.execPath, ["--test", "--test-reporter=tap", differential], {
    env: {
      ...env,
      DIFFERENTIAL_NO_WEBCRYPTO: "1",
      DIFFERENTIAL_CASES: process.env.DIFFERENTIAL_FALLBACK_CASES ?? "400",
    },
    encoding: "utf8",
    timeout: 240_000,
  });
  const output = `${child.stdout}\n${child.stderr}`;
  assert.equal(child.status, 0, `the fallback differential failed:\n${output}`);
  assert.match(output, /pure-Rust RSA/, "the child must have run in fallback mode");
  assert.match(output, /^# fail 0$/m, output);
  assert.doesNotMatch(output, /^# pass 0$/m, output);
});
