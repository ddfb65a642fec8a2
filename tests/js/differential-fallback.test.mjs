// The other RSA paths of verifySessionToken held to @clerk/backend like Node's: WebCrypto
// (edge runtimes, where node:crypto is not there) and the wasm's own RSA (runtimes with no
// crypto at all): differential.test.mjs run again in a child process with DIFFERENTIAL_RSA,
// over a few hundred tokens each.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

for (const [path, name] of [["webcrypto", "WebCrypto RSA"], ["rust", "pure-Rust RSA"]]) {
  test(`the ${name} path agrees with @clerk/backend too`, () => {
    const differential = fileURLToPath(new URL("./differential.test.mjs", import.meta.url));
    // Without NODE_TEST_CONTEXT, which would make the child think it runs under this runner.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const child = spawnSync(process.execPath, ["--test", "--test-reporter=tap", differential], {
      env: {
        ...env,
        DIFFERENTIAL_RSA: path,
        DIFFERENTIAL_CASES: process.env.DIFFERENTIAL_FALLBACK_CASES ?? "400",
      },
      encoding: "utf8",
      timeout: 240_000,
    });
    const output = `${child.stdout}\n${child.stderr}`;
    assert.equal(child.status, 0, `the ${name} differential failed:\n${output}`);
    assert.match(output, new RegExp(name), `the child must have run on the ${name} path`);
    assert.match(output, /^# fail 0$/m, output);
    assert.doesNotMatch(output, /^# pass 0$/m, output);
  });
}
