// The post-incident report over a real Worker's log: the built Worker in workerd
// (`wrangler dev`) with a grace bypass, CLERK_AUDIT_ALLOWED and the admin routes (the fake Clerk
// Backend API behind them); a small scenario of signed-in, refused and bypassed requests and a
// revoke; then `clerk-edge-guard report` over everything wrangler printed (its own output
// included, each line with the `[stdout] ` prefix the support adds) must count exactly what
// the test did and tell the bypass and the revoke in its timeline, with the operator's
// secret-looking words redacted.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { startOrigin, startWorker } from "./support/index.mjs";
import { GARBAGE_TOKEN, createSigningKey, mintExpiredToken, mintToken, sessionClaims } from "./support/tokens.mjs";

const SECRET_KEY = "sk_test_reportE2eSecretKey8c2f4a6e1b3d5079bb";
const ADMIN_TOKEN = "admin-report-e2e-token-7d1e3f5a9b2c4086-e1a2";
const BYPASS_REASON = "INC-E2E-7 drill";
const LEAKY_OPERATOR_KEY = "sk_live_reportE2eLeakedByTheOperator42";
const bin = fileURLToPath(new URL("../../pkg-js/bin/clerk-edge-guard.mjs", import.meta.url));

describe("clerk-edge-guard report over a Worker's own log", () => {
  let key;
  let origin;
  let clerk;
  let worker;
  let dir;
  const refusedBy = {}; // reason -> count, from the answers' x-clerk-auth-reason
  let allowed = 0;
  let bypassed = 0;

  before(async () => {
    key = await createSigningKey("ins_report_e2e");
    origin = await startOrigin();
    clerk = await startFakeClerk({ secretKey: SECRET_KEY });
    worker = await startWorker({
      vars: {
        ORIGIN_URL: origin.url,
        CLERK_JWT_KEY: key.pem,
        CLERK_SECRET_KEY: SECRET_KEY,
        CLERK_API_URL: clerk.url,
        CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
        CLERK_AUDIT_ALLOWED: "true",
        CLERK_EMERGENCY_BYPASS: "grace",
        CLERK_EMERGENCY_BYPASS_REASON: BYPASS_REASON,
        CLERK_EMERGENCY_BYPASS_UNTIL: "2099-01-01T00:00:00Z",
        CLERK_EMERGENCY_GRACE_SECONDS: "600",
      },
    });
    dir = mkdtempSync(join(tmpdir(), "ceg-report-e2e-"));
  });

  after(async () => {
    await worker?.stop();
    await clerk?.close();
    await origin?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** One protected request; tallies what the answer says happened. */
  async function visit(path, token) {
    const res = await worker.fetch(path, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    await res.arrayBuffer();
    if (res.status === 200) {
      const status = origin.requests.at(-1)?.headers["x-clerk-auth-status"];
      if (status === "bypassed") bypassed += 1;
      else allowed += 1;
      return status;
    }
    const reason = res.headers.get("x-clerk-auth-reason");
    refusedBy[reason] = (refusedBy[reason] ?? 0) + 1;
    return reason;
  }

  test("counts, the bypass episode and the revoke match what the test did", async () => {
    const token = (sub) => mintToken(key, sessionClaims({ sub, sid: `sess_${sub}` }));
    assert.equal(await visit("/app/a", await token("user_rep_a")), "signed-in");
    assert.equal(await visit("/app/b", await token("user_rep_a")), "signed-in");
    assert.equal(await visit("/app/c", await token("user_rep_b")), "signed-in");
    assert.equal(await visit("/app/none-1"), "session-token-and-uat-missing");
    assert.equal(await visit("/app/none-2?__clerk_db_jwt=leak"), "session-token-and-uat-missing");
    assert.equal(await visit("/app/garbage", GARBAGE_TOKEN), "token-invalid");
    assert.equal(await visit("/app/old", await mintExpiredToken(key, 1200, { sub: "user_rep_c", sid: "sess_rep_c" })), "token-expired");
    assert.equal(await visit("/app/grace-d", await mintExpiredToken(key, 120, { sub: "user_rep_d", sid: "sess_rep_d" })), "bypassed");
    await sleep(5); // two bypassed lines at two different times: an episode from one to the other
    assert.equal(await visit("/app/grace-e", await mintExpiredToken(key, 120, { sub: "user_rep_e", sid: "sess_rep_e" })), "bypassed");

    clerk.addSession({ id: "sess_user_rep_b", user_id: "user_rep_b" });
    const revoke = await worker.fetch("/__clerk/admin/revoke", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: JSON.stringify({ user_id: "user_rep_b", reason: `INC-E2E-7 takeover, key ${LEAKY_OPERATOR_KEY} pasted` }),
    });
    assert.equal(revoke.status, 200, await revoke.text());
    assert.equal(await visit("/app/d", await token("user_rep_b")), "user-revoked");
    await worker.waitForAudit((e) => e.event === "auth.denied" && e.reason === "user-revoked");
    await sleep(100);

    const logPath = join(dir, "wrangler.log");
    writeFileSync(logPath, `${worker.output()}\n`);
    const run = spawnSync(process.execPath, [bin, "report", logPath, "--json"], { encoding: "utf8" });
    assert.equal(run.status, 0, run.stderr);
    for (const secret of [LEAKY_OPERATOR_KEY, "sk_live_", ADMIN_TOKEN, SECRET_KEY, "__clerk_db_jwt", "eyJ"]) {
      assert.ok(!run.stdout.includes(secret), `${secret.slice(0, 10)}… in the report`);
    }
    const report = JSON.parse(run.stdout);

    const refused = Object.values(refusedBy).reduce((a, b) => a + b, 0);
    assert.deepEqual({ allowed, bypassed, refused }, { allowed: 3, bypassed: 2, refused: 5 });
    assert.deepEqual(refusedBy, { "session-token-and-uat-missing": 2, "token-invalid": 1, "token-expired": 1, "user-revoked": 1 });
    // 3 allowed + 2 bypassed + 5 refused + 1 admin.revoke, every one a `[stdout] `-prefixed line.
    assert.equal(report.input.audit_lines, 11);
    assert.equal(report.input.by_form.prefixed, 11);
    assert.equal(report.input.malformed, 0);
    assert.deepEqual(report.events, { "admin.revoke": 1, "auth.allowed": 3, "auth.bypassed": 2, "auth.denied": 5 });
    assert.deepEqual(report.impact.by_outcome, { "signed-in": 3, bypassed: 2, "signed-out": 5 });
    assert.deepEqual(report.impact.refused.by_reason, refusedBy);
    assert.deepEqual(report.impact.refused.by_status, { 401: 5 });
    // Refused with an identity: user_rep_c (expired) and user_rep_b (revoked); anonymous: the
    // two without a token and the garbage one, all from 127.0.0.1.
    assert.equal(report.impact.refused.distinct_users, 2);
    assert.equal(report.impact.refused.anonymous_requests, 3);
    assert.equal(report.impact.refused.anonymous_distinct_ips, 1);
    assert.deepEqual(report.impact.bypassed, { requests: 2, distinct_users: 2, anonymous_requests: 0 });
    assert.deepEqual(report.refusal_spikes, []);

    assert.equal(report.episodes.length, 1);
    const [episode] = report.episodes;
    assert.deepEqual(
      { ...episode, first: undefined, last: undefined },
      {
        kind: "bypass", first: undefined, last: undefined, count: 2, reasons: {}, distinct_users: 2,
        mode: "grace", bypass_reason: BYPASS_REASON, until: "2099-01-01T00:00:00.000Z",
      },
    );
    assert.ok(episode.first < episode.last);
    assert.deepEqual(report.anomaly && [report.anomaly.first, report.anomaly.last], [episode.first, episode.last]);

    assert.equal(report.admin_actions.length, 1);
    const [action] = report.admin_actions;
    assert.deepEqual(
      { ...action, ts: undefined },
      {
        ts: undefined, event: "admin.revoke", action: null, user_id: "user_rep_b", session_id: null,
        operator_reason: "INC-E2E-7 takeover, key [redacted] pasted", dry_run: false, status: 200,
        ban_requested: false, counters: {},
      },
    );
    assert.ok(action.ts > episode.last);

    const hhmm = (ts) => ts.slice(11, 16);
    assert.deepEqual(
      report.timeline.map((e) => [e.ts, e.kind, e.summary]),
      [
        [episode.first, "bypass", `Bypass on: mode grace, reason "${BYPASS_REASON}", until 2099-01-01T00:00:00.000Z: 2 requests let through until ${hhmm(episode.last)} (2 users)`],
        [episode.last, "bypass", "Bypass off (grace): last bypassed request"],
        [action.ts, "admin.revoke", 'Revoke of user user_rep_b, answered 200; operator reason "INC-E2E-7 takeover, key [redacted] pasted"'],
      ],
    );

    const markdown = spawnSync(process.execPath, [bin, "report", logPath], { encoding: "utf8" });
    assert.equal(markdown.status, 0, markdown.stderr);
    assert.ok(!markdown.stdout.includes(LEAKY_OPERATOR_KEY));
    assert.ok(
      markdown.stdout.includes(`| ${hhmm(action.ts)} | Revoke of user user_rep_b, answered 200; operator reason "INC-E2E-7 takeover, key \\[redacted\\] pasted" |`),
      markdown.stdout,
    );
  });
});
