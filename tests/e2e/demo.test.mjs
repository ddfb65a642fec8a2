// The README's run command keeps its promise: the demo configuration ([env.demo] of
// wrangler.toml) with the demo's stand-ins for Clerk (demo/fake-clerk.mjs, as scripts/dev.sh
// starts them) and its echo origin takes a returning visitor through the handshake, and the
// walkthrough the README shows (demo/handshake.mjs) prints it and exits 0.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { freePort, repoRoot, startWorker } from "./support/index.mjs";
import { spawnGroup } from "./support/process-groups.mjs";

const run = promisify(execFile);
let worker;
const helpers = [];

/** Starts a demo script and waits for its first line on stdout. */
async function startScript(script, args) {
  const group = spawnGroup(process.execPath, [script, ...args.map(String)], { cwd: repoRoot });
  helpers.push(group);
  await new Promise((resolve, reject) => {
    group.child.stdout.once("data", resolve);
    group.exited.then(({ code }) => reject(new Error(`${script} exited early (${code})`)));
  });
  // Keep reading so that a chatty script never blocks on a full pipe.
  group.child.stdout.resume();
  group.child.stderr.resume();
}

before(async () => {
  const [origin, fapi, bapi, status] = [await freePort(), await freePort(), await freePort(), await freePort()];
  await startScript("demo/echo-origin.mjs", [origin]);
  await startScript("demo/fake-clerk.mjs", [fapi, bapi, status]);
  worker = await startWorker({
    wranglerEnv: "demo",
    vars: {
      ORIGIN_URL: `http://127.0.0.1:${origin}`,
      CLERK_PROXY_URL: `http://127.0.0.1:${fapi}`,
      CLERK_API_URL: `http://127.0.0.1:${bapi}`,
      CLERK_STATUS_URL: `http://127.0.0.1:${status}/api/v2/status.json`,
    },
  });
});

after(async () => {
  await worker?.stop();
  await Promise.all(helpers.map((group) => group.stopGroup()));
});

test("the demo's health shows the handshake on, through the local Frontend API", async () => {
  const health = await (await worker.fetch("/__clerk/health")).json();
  assert.equal(health.status, "ok", JSON.stringify(health));
  assert.equal(health.handshake.status, "on");
  assert.equal(health.handshake.instance, "production");
});

test("demo/handshake.mjs: 307 to the Frontend API, 307 back, the page signed in as user_demo_1", async () => {
  const { stdout } = await run(process.execPath, ["demo/handshake.mjs", "--worker", worker.url], { cwd: repoRoot });
  assert.match(stdout, /1\. GET .*\/hello -> 307 -> http:\/\/127\.0\.0\.1:\d+\/v1\/client\/handshake\?redirect_url/);
  assert.match(stdout, /2\. GET .*\/v1\/client\/handshake.* -> 307 -> .*\/hello set-cookie: __clerk_handshake_nonce/);
  assert.match(stdout, /3\. GET .*\/hello -> 200 set-cookie: __session,__client_uat/);
  assert.match(stdout, /"x-clerk-user-id":"user_demo_1"/);
  assert.doesNotMatch(stdout, /eyJ/, "no token printed");
});

test("the demo's resync (demo/README.md): 5,000 users from the stand-in Backend API, then in sync", async () => {
  const headers = {
    authorization: "Bearer demo-admin-token-9ff0bcba373113f203aba8cb4b11b66e",
    "content-type": "application/json",
  };
  const poll = async (path) => {
    for (let i = 0; i < 400; i++) {
      const { job } = await (await worker.fetch(path, { headers })).json();
      if (job && job.state !== "running") return job;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${path} did not finish`);
  };
  const started = await worker.fetch("/__clerk/admin/resync", { method: "POST", headers, body: JSON.stringify({ reason: "demo" }) });
  assert.equal(started.status, 202);
  const job = await poll("/__clerk/admin/resync");
  assert.equal(job.state, "done", job.last_error);
  assert.equal(job.inserted, 5_000);
  await worker.fetch("/__clerk/admin/verify-sync", { method: "POST", headers, body: JSON.stringify({ reason: "demo" }) });
  const check = await poll("/__clerk/admin/verify-sync");
  assert.equal(check.in_sync, true, JSON.stringify(check.report));
});

test("the demo's diagnosis (runbook 5): every dependency answers, overall ok, after a signed-in page", async () => {
  const { stdout } = await run(process.execPath, ["scripts/mint-demo-token.mjs"], { cwd: repoRoot });
  const page = await worker.fetch("/hello", { headers: { authorization: `Bearer ${stdout.trim()}` } });
  assert.equal(page.status, 200);
  const headers = { authorization: "Bearer demo-admin-token-9ff0bcba373113f203aba8cb4b11b66e" };
  const answer = await worker.fetch("/__clerk/admin/diagnose", { headers });
  assert.equal(answer.status, 200);
  const diagnosis = await answer.json();
  const verdicts = Object.fromEntries(diagnosis.checks.map((c) => [c.name, c.verdict]));
  assert.deepEqual(verdicts, {
    configuration: "ok",
    keys: "ok",
    backend_api: "ok",
    status_page: "ok",
    deny_list: "ok",
    d1: "ok",
    auth_live: "ok",
    state: "ok",
  }, JSON.stringify(diagnosis.checks.filter((c) => c.verdict !== "ok")));
  assert.equal(diagnosis.overall, "ok");
  const text = await (await worker.fetch("/__clerk/admin/diagnose?format=text", { headers })).text();
  assert.match(text, /diagnose at \S+: ok\n/);
  assert.match(text, /status_page +ok .*All Systems Operational/);
});
