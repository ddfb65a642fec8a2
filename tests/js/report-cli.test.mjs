// `clerk-edge-guard report` end to end, as a user runs it: the package's bin over the
// generated 100,000-line incident log (tests/support/incident-log.mjs: every input form, noise,
// malformed lines carrying a JWT and secret keys), in JSON and Markdown, with a time window,
// from stdin and from a .gz file; its error cases; and the JS API over the same text.
// The expected values are literal: they follow from the scenario described at the top of
// the generator, not from its bookkeeping.
// Needs `npm --prefix pkg-js run build` first (scripts/test.sh does it).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

import { incidentReport } from "../../pkg-js/index.js";
import { FAKE_JWT, FAKE_SECRET_KEY, FAKE_WEBHOOK_SECRET, incidentLog } from "../support/incident-log.mjs";

const bin = fileURLToPath(new URL("../../pkg-js/bin/clerk-edge-guard.mjs", import.meta.url));

/** Runs the bin; `{ status, stdout, stderr }`. */
function cli(args, { input } = {}) {
  const run = spawnSync(process.execPath, [bin, ...args], { input, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Fails if any part of a planted secret reached `text`. */
function assertNoSecret(text) {
  for (const secret of [FAKE_JWT, FAKE_SECRET_KEY, FAKE_WEBHOOK_SECRET, "eyJ", "sk_live_", "whsec_", "__clerk_db_jwt", "?token="]) {
    assert.ok(!text.includes(secret), `the report must not contain ${secret.slice(0, 12)}…`);
  }
}

const TIMELINE = [
  ["2026-11-25T16:00:10.000Z", "16:00", "key_refresh_failed", 'Key refresh failures begin (jwk-remote-failed-to-load (60)): 60 failures until 16:29; problem: "JWKS fetch failed: the Clerk API answered 503"'],
  ["2026-11-25T16:02:00.000Z", "16:02", "refusal_spike", "Refusal spike begins: 1,620 refusals until 16:20, peak 90/min at 16:02 (baseline 2/min); top reasons: jwk-remote-failed-to-load (1,080), token-expired (540)"],
  ["2026-11-25T16:20:00.000Z", "16:20", "refusal_spike", "Refusals back under 10/min"],
  ["2026-11-25T16:20:00.007Z", "16:20", "bypass", 'Bypass on: mode grace, reason "INC-2026-001 Clerk outage", until 2026-11-25T18:00:00.000Z: 4,000 requests let through until 16:59 (800 users)'],
  ["2026-11-25T16:29:40.000Z", "16:29", "key_refresh_failed", "Last key refresh failure"],
  ["2026-11-25T16:30:30.000Z", "16:30", "webhook_paused", "Webhook processing paused: 20 deliveries answered 503 for Svix to redeliver until 16:49"],
  ["2026-11-25T16:44:10.000Z", "16:44", "admin.revoke", 'Revoke of user user_mallory with ban (dry run), answered 200; operator reason "INC-2026-002 dry run, the token was Bearer [redacted]"'],
  ["2026-11-25T16:45:30.000Z", "16:45", "admin.revoke", 'Revoke of user user_mallory with ban, answered 200; operator reason "INC-2026-002 account takeover"'],
  ["2026-11-25T16:49:30.000Z", "16:49", "webhook_paused", "Last paused webhook delivery"],
  ["2026-11-25T16:59:59.407Z", "16:59", "bypass", "Bypass off (grace): last bypassed request"],
];

describe("clerk-edge-guard report over the generated incident log", () => {
  let dir;
  let logPath;
  let log;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ceg-report-"));
    log = incidentLog();
    logPath = join(dir, "incident.log");
    writeFileSync(logPath, log.text);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("--json: every count, spike, episode, admin action and timeline entry", () => {
    const run = cli(["report", logPath, "--json"]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stderr, "");
    assertNoSecret(run.stdout);
    const report = JSON.parse(run.stdout);
    assert.deepEqual(Object.keys(report).slice(0, 4), ["report", "version", "anomaly", "impact"]);
    assert.deepEqual(report.input, {
      lines: 100_000,
      records: 53_624,
      audit_lines: 29_906,
      by_form: { bare: 17_940, logpush: 4_488, prefixed: 1_495, vercel: 4_487, wrangler_tail: 1_496 },
      skipped: 23_715,
      malformed: 3,
      outside_range: 0,
      analysed: 29_906,
    });
    // The generator's own bookkeeping agrees.
    assert.deepEqual(report.input.by_form, log.expected.byForm);
    assert.equal(report.input.skipped, log.expected.skipped);
    assert.deepEqual(report.period, { first: "2026-11-25T14:00:00.000Z", last: "2026-11-25T17:59:59.500Z" });
    assert.deepEqual(report.anomaly, {
      date: "2026-11-25",
      duration: "59 min",
      duration_ms: 3_589_407,
      first: "2026-11-25T16:00:10.000Z",
      last: "2026-11-25T16:59:59.407Z",
    });
    assert.deepEqual(report.impact, {
      requests: 29_824,
      by_outcome: { "signed-in": 23_720, bypassed: 4_000, "signed-out": 2_104 },
      refused: {
        requests: 2_104,
        distinct_users: 340,
        anonymous_requests: 1_382,
        anonymous_distinct_ips: 250,
        by_reason: { "jwk-remote-failed-to-load": 1_080, "token-expired": 722, "session-token-and-uat-missing": 302 },
        by_status: { 401: 1_922, 307: 182 },
      },
      bypassed: { requests: 4_000, distinct_users: 800, anonymous_requests: 0 },
      handshakes_by_reason: {},
    });
    assert.deepEqual(report.events, {
      "admin.revoke": 2,
      "auth.allowed": 23_720,
      "auth.bypassed": 4_000,
      "auth.denied": 2_104,
      "keys.refresh_failed": 60,
      "webhook.paused": 20,
    });
    assert.deepEqual(report.refusal_spikes, [
      {
        start: "2026-11-25T16:02:00.000Z",
        end: "2026-11-25T16:20:00.000Z",
        open: false,
        baseline_per_minute: 2,
        peak_per_minute: 90,
        peak_at: "2026-11-25T16:02:00.000Z",
        refusals: 1_620,
        top_reasons: { "jwk-remote-failed-to-load": 1_080, "token-expired": 540 },
      },
    ]);
    assert.deepEqual(report.episodes, [
      {
        kind: "key_refresh_failed",
        first: "2026-11-25T16:00:10.000Z",
        last: "2026-11-25T16:29:40.000Z",
        count: 60,
        reasons: { "jwk-remote-failed-to-load": 60 },
        problem: "JWKS fetch failed: the Clerk API answered 503",
      },
      {
        kind: "bypass",
        first: "2026-11-25T16:20:00.007Z",
        last: "2026-11-25T16:59:59.407Z",
        count: 4_000,
        reasons: {},
        distinct_users: 800,
        mode: "grace",
        bypass_reason: "INC-2026-001 Clerk outage",
        until: "2026-11-25T18:00:00.000Z",
      },
      { kind: "webhook_paused", first: "2026-11-25T16:30:30.000Z", last: "2026-11-25T16:49:30.000Z", count: 20, reasons: {} },
    ]);
    const revoke = { event: "admin.revoke", action: null, user_id: "user_mallory", session_id: null, status: 200, ban_requested: true, counters: {} };
    assert.deepEqual(report.admin_actions, [
      { ...revoke, ts: "2026-11-25T16:44:10.000Z", dry_run: true, operator_reason: "INC-2026-002 dry run, the token was Bearer [redacted]" },
      { ...revoke, ts: "2026-11-25T16:45:30.000Z", dry_run: false, operator_reason: "INC-2026-002 account takeover" },
    ]);
    assert.deepEqual(
      report.timeline.map((e) => [e.ts, e.time, e.kind, e.summary]),
      TIMELINE,
    );
    assert.deepEqual(report.webhooks_rejected, {});
  });

  test("Markdown: the runbook's template filled from the facts, blanks left for people", () => {
    const run = cli(["report", logPath]);
    assert.equal(run.status, 0, run.stderr);
    const md = run.stdout;
    assertNoSecret(md);
    const lines = md.split("\n");
    assert.equal(lines[0], "# Post-incident report: 2026-11-25");
    for (const expected of [
      "- **Date**: 2026-11-25",
      "- **Duration**: 59 min (2026-11-25 16:00 UTC to 2026-11-25 16:59 UTC, first to last anomaly)",
      "- **Impact**: 2,104 requests refused (340 distinct users, 1,382 anonymous requests from 250 IPs); 4,000 requests let through by a bypass (800 distinct users, 0 anonymous)",
      "- **Refusal spike**: 16:02 to 16:20, 1,620 refusals, peak 90/min (baseline 2/min); jwk-remote-failed-to-load (1,080), token-expired (540)",
      "| jwk-remote-failed-to-load | 1,080 |",
      "| token-expired | 722 |",
      "| session-token-and-uat-missing | 302 |",
      "100,000 lines read (53,624 records): 29,906 audit lines (17,940 bare, 1,495 prefixed, 1,496 wrangler_tail, 4,488 logpush, 4,487 vercel), 23,715 skipped (not audit lines), 3 malformed, 0 outside the time window.",
    ]) {
      assert.ok(lines.includes(expected), `missing line: ${expected}\n${md}`);
    }
    const table = lines.slice(lines.indexOf("| time | what happened |") + 2, lines.indexOf("## Root cause") - 1);
    const escape = (text) => text.replace(/[[\]]/g, (c) => `\\${c}`);
    assert.deepEqual(table, TIMELINE.map(([, time, , summary]) => `| ${time} | ${escape(summary)} |`));
    for (const section of ["Root cause", "Resolution", "Prevention", "Lessons learned"]) {
      assert.ok(md.includes(`## ${section}\n\n_To be written._\n`), section);
    }
  });

  test("--from/--to keep the window's lines only; --out writes a file", () => {
    const out = join(dir, "window.json");
    const run = cli(["report", logPath, "--from", "2026-11-25 16:00", "--to=2026-11-25T17:00:00Z", "--json", "--out", out]);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, "");
    const report = JSON.parse(readFileSync(out, "utf8"));
    assert.equal(report.input.analysed, 7_946);
    assert.equal(report.input.outside_range, 21_960);
    assert.deepEqual(report.filter, { from: "2026-11-25T16:00:00.000Z", to: "2026-11-25T17:00:00.000Z" });
    assert.deepEqual(report.impact.refused.by_reason, { "jwk-remote-failed-to-load": 1_080, "token-expired": 542, "session-token-and-uat-missing": 122 });
    assert.deepEqual(report.timeline.map((e) => e.summary), TIMELINE.map(([, , , summary]) => summary));
  });

  test("stdin, '-' and .gz give the same report as the plain file", () => {
    const plain = cli(["report", logPath, "--json"]).stdout;
    const gz = join(dir, "incident.log.gz");
    writeFileSync(gz, gzipSync(log.text));
    assert.equal(cli(["report", gz, "--json"]).stdout, plain);
    assert.equal(cli(["report", "--json"], { input: log.text }).stdout, plain);
    assert.equal(cli(["report", "-", "--json"], { input: log.text }).stdout, plain);
  });

  test("the JS API gives the same facts, with bytes split anywhere", async () => {
    const cliJson = JSON.parse(cli(["report", logPath, "--json"]).stdout);
    const bytes = Buffer.from(log.text);
    async function* chunks() {
      for (let at = 0; at < bytes.length; at += 65_531) yield bytes.subarray(at, at + 65_531);
    }
    const streamed = await incidentReport(chunks());
    assert.deepEqual(streamed.json, cliJson);
    const whole = await incidentReport(log.text);
    assert.deepEqual(whole.json, cliJson);
    assert.equal(whole.markdown, cli(["report", logPath]).stdout);
  });
});

describe("clerk-edge-guard usage errors: one line, exit 2", () => {
  let dir;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "ceg-report-errors-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const cases = [
    [["report", "--since", "x"], "clerk-edge-guard: unknown option '--since'; the options are --from, --to, --json, --out (see --help)"],
    [["report", "no-such-file.log"], "clerk-edge-guard: cannot read 'no-such-file.log': no such file; check the path (or pass - to read stdin)"],
    [["report", "--from", "yesterday"], 'clerk-edge-guard: --from: not a time; use RFC 3339 (2026-11-25T16:00:00Z) or YYYY-MM-DD HH:MM (UTC), e.g. --from "2026-11-25 16:00"'],
    [["report", "--to", "2026-11-25 25:00"], 'clerk-edge-guard: --to: not a time; use RFC 3339 (2026-11-25T16:00:00Z) or YYYY-MM-DD HH:MM (UTC), e.g. --to "2026-11-25 16:00"'],
    [["report", "--from", "2026-11-25 17:00", "--to", "2026-11-25 16:00"], "clerk-edge-guard: --from must be before --to (--to is exclusive)"],
    [["report", "--from"], 'clerk-edge-guard: --from needs a value (e.g. --from "2026-11-25 16:00")'],
    [["report", "--out"], "clerk-edge-guard: --out needs a value (a file name)"],
    [[], "clerk-edge-guard: no command; run: clerk-edge-guard report <file> (or --help)"],
    [["summary"], "clerk-edge-guard: unknown command 'summary'; the command is: clerk-edge-guard report <file> (see --help)"],
  ];
  for (const [args, message] of cases) {
    test(`${args.join(" ") || "(no arguments)"}`, () => {
      const run = cli(args, { input: "" });
      assert.equal(run.status, 2);
      assert.equal(run.stdout, "");
      assert.equal(run.stderr, `${message}\n`);
    });
  }

  test("a directory is refused the same way", () => {
    const run = cli(["report", dir]);
    assert.equal(run.status, 2);
    assert.equal(run.stderr, `clerk-edge-guard: '${dir}' is not a file; pass a log file (or - to read stdin)\n`);
  });

  test("an unwritable --out and a broken .gz: one line each", () => {
    const out = cli(["report", "--out", dir], { input: "" });
    assert.equal(out.status, 2);
    assert.equal(out.stderr, `clerk-edge-guard: cannot write '${dir}' (EISDIR); pass a writable file path to --out\n`);
    const fake = join(dir, "not-gzip.log.gz");
    writeFileSync(fake, "plain text, not gzip\n");
    const gz = cli(["report", fake]);
    assert.equal(gz.status, 1);
    assert.equal(gz.stderr, `clerk-edge-guard: cannot read '${fake}': not a gzip file\n`);
  });

  test("--help prints the usage and exits 0", () => {
    for (const args of [["--help"], ["report", "--help"], ["report", "-h"]]) {
      const run = cli(args);
      assert.equal(run.status, 0);
      assert.match(run.stdout, /^Usage: clerk-edge-guard report \[files\.\.\.\] \[--from T\] \[--to T\] \[--json\] \[--out F\]\n/);
    }
  });

  test("no audit line: a report that says so, a note on stderr, exit 0", () => {
    const path = join(dir, "other.log");
    writeFileSync(path, `GET / 200\n{"level":30,"msg":"ready"}\n{"event":"auth.denied","token":"${FAKE_JWT}`);
    const run = cli(["report", path]);
    assert.equal(run.status, 0);
    assert.match(run.stdout, /^# Post-incident report: no anomaly found\n/);
    assert.ok(run.stdout.includes("- **No anomaly found** in 0 audit lines."), run.stdout);
    assert.ok(run.stdout.includes("3 lines read (3 records): 0 audit lines (none), 2 skipped (not audit lines), 1 malformed"), run.stdout);
    assert.equal(run.stderr, "clerk-edge-guard: no audit line found in 3 lines (1 malformed); is this the Worker's or the middleware's log?\n");
    assertNoSecret(run.stdout + run.stderr);
  });
});
