// The post-incident report over everything the e2e suite's Workers printed in one run of
// scripts/test.sh (tests/e2e/support/worker.mjs appends each wrangler line to $CEG_E2E_LOG):
// hundreds of real audit lines of every kind the Worker writes (refusals, bypasses, handshakes
// and their loops, key refresh failures, webhook pauses and failures, admin revokes, resyncs),
// mixed with wrangler's own output. The report's counts must equal an independent tally of the
// same file, its timeline must hold the run's incidents, and nothing secret may come out.
//
// Run by scripts/test.sh after the e2e files; on its own it skips (there is no run to read).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const bin = fileURLToPath(new URL("../../pkg-js/bin/clerk-edge-guard.mjs", import.meta.url));
const logPath = process.env.CEG_E2E_LOG;

/** The audit lines of the log, found the plain way: the JSON object from a line's first `{`. */
function tally(text) {
  const lines = [];
  for (const raw of text.split("\n")) {
    const start = raw.indexOf("{");
    if (start < 0) continue;
    let value;
    try {
      value = JSON.parse(raw.slice(start));
    } catch {
      continue;
    }
    if (value && typeof value.ts === "string" && typeof value.event === "string" && typeof value.level === "string") {
      lines.push(value);
    }
  }
  return lines;
}

const countBy = (items, key) => {
  const out = {};
  for (const item of items) {
    const k = key(item);
    if (k !== undefined && k !== null) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};

const sorted = (counts) => Object.fromEntries(Object.entries(counts).sort(([a], [b]) => a.localeCompare(b)));

test("the report over the e2e run's Worker log counts what the Workers wrote", { skip: !logPath && "run by scripts/test.sh after the e2e suite" }, () => {
  assert.ok(existsSync(logPath), `${logPath} is missing: did the e2e files run first?`);
  const text = readFileSync(logPath, "utf8");
  const lines = tally(text);
  assert.ok(lines.length >= 200, `only ${lines.length} audit lines in the run's log`);

  const run = spawnSync(process.execPath, [bin, "report", logPath, "--json"], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(run.status, 0, run.stderr);
  const report = JSON.parse(run.stdout);

  assert.equal(report.input.audit_lines, lines.length, "every audit line read, none invented");
  assert.equal(report.input.malformed, 0);
  assert.deepEqual(sorted(report.events), sorted(countBy(lines, (l) => l.event)));
  const requests = lines.filter((l) => ["auth.allowed", "auth.bypassed", "auth.denied", "auth.handshake"].includes(l.event));
  assert.deepEqual(sorted(report.impact.by_outcome), sorted(countBy(requests, (l) => l.auth_status)));
  const refused = requests.filter((l) => l.event === "auth.denied");
  assert.deepEqual(sorted(report.impact.refused.by_reason), sorted(countBy(refused, (l) => l.reason)));
  assert.deepEqual(
    sorted(report.impact.refused.by_status),
    sorted(countBy(refused, (l) => String(l.status))),
    "status is a number on every refusal",
  );
  for (const line of requests) {
    assert.ok(line.status === undefined || typeof line.status === "number", `${line.event} status ${line.status}`);
    assert.ok(["signed-in", "bypassed", "signed-out", "handshake"].includes(line.auth_status), `${line.event} auth_status ${line.auth_status}`);
  }
  assert.equal(
    report.impact.refused.distinct_users,
    new Set(refused.filter((l) => l.user_id).map((l) => l.user_id)).size,
  );

  // The run's incidents are in the timeline: its bypasses (with their reasons), the key
  // refresh failures of "Clerk down", the paused webhooks, the handshake loops, the revokes.
  const kinds = new Set(report.timeline.map((e) => e.kind));
  for (const kind of ["bypass", "key_refresh_failed", "webhook_paused", "webhook_failed", "handshake_loop", "admin.revoke", "admin.resync"]) {
    assert.ok(kinds.has(kind), `no ${kind} in the timeline: ${[...kinds].join(", ")}`);
  }
  const bypassReasons = new Set(lines.filter((l) => l.event === "auth.bypassed" && l.bypass_reason).map((l) => l.bypass_reason));
  const episodeReasons = new Set(report.episodes.filter((e) => e.kind === "bypass").map((e) => e.bypass_reason));
  for (const reason of bypassReasons) {
    if (!/sk_|whsec_|eyJ|Bearer/.test(reason)) assert.ok(episodeReasons.has(reason), `bypass "${reason}" has no episode`);
  }
  assert.equal(
    report.admin_actions.length,
    lines.filter((l) => ["admin.revoke", "admin.restore", "admin.resync", "admin.verify_sync"].includes(l.event)).length,
  );

  // Nothing secret: no token, key or secret the tests used, whatever the lines carried.
  const markdown = spawnSync(process.execPath, [bin, "report", logPath], { encoding: "utf8", maxBuffer: 64 << 20 });
  assert.equal(markdown.status, 0, markdown.stderr);
  for (const output of [run.stdout, markdown.stdout]) {
    for (const secret of [/eyJ[\w-]{10,}/, /sk_(test|live)_\w{6,}/, /whsec_\w{6,}/, /Bearer [\w.-]{8,}/]) {
      assert.doesNotMatch(output, secret);
    }
  }
  assert.match(markdown.stdout, /^# Post-incident report/);
});
