// A deterministic incident log for the post-incident report's tests and benchmark
// (tests/js/report-cli.test.mjs, bench/incident-report.mjs): exactly `lines` lines (default
// 100,000) of audit lines in every form the report reads, mixed with noise and three
// malformed lines, one of which carries a fake JWT and an `sk_live_` key.
//
//   const { text, expected } = incidentLog();            // seed 20261125
//
// The scenario, on 2026-11-25 (UTC), per minute:
//   14:00-15:59  normal: 120 allowed, 2 refused (token-expired with a user; 307
//                session-token-and-uat-missing, anonymous). Lines before 15:00 use the old
//                format (a string `status`, no `auth_status`).
//   16:00-16:29  keys.refresh_failed twice a minute (at :10 and :40).
//   16:00-16:01  normal traffic; 16:02-16:19 the refusal spike: 60 allowed, 60 refused
//                jwk-remote-failed-to-load (anonymous), 30 refused token-expired (with a user).
//   16:20-16:59  grace bypass "INC-2026-001 Clerk outage" until 18:00: 20 allowed,
//                100 bypassed, 3 refused (anonymous, session-token-and-uat-missing).
//   16:30-16:49  one webhook.paused a minute (at :30).
//   16:44:10     admin.revoke dry run of user_mallory (the reason carries a Bearer token);
//   16:45:30     admin.revoke of user_mallory with a ban, "INC-2026-002 account takeover".
//   17:00-17:59  recovery: normal traffic again.
// Users and IPs come from disjoint pools, so the distinct counts are sums (see `expected`).
// Forms, by the event's index in time order, modulo 20: 0 wrangler tail (pretty-printed
// over many lines), 1-3 Logpush, 4-6 Vercel drain, 7 prefixed (docker-style time), else bare.
// Noise lines fill the rest, spread evenly. The seed only varies the request ids and paths.
import { seeded } from "../js/support/prng.mjs";

const DAY = Date.parse("2026-11-25T00:00:00Z");
const MINUTE = 60_000;
const at = (hh, mm) => DAY + (hh * 60 + mm) * MINUTE;

export const FAKE_JWT =
  "eyJhbGciOiJSUzI1NiIsImtpZCI6Imluc18yIn0.eyJzdWIiOiJ1c2VyX21hbGxvcnkiLCJzaWQiOiJzZXNzXzEifQ.c2lnbmF0dXJlLW9mLWEtZmFrZS10b2tlbg";
export const FAKE_SECRET_KEY = "sk_live_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0";
export const FAKE_WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
export const BYPASS_REASON = "INC-2026-001 Clerk outage";
export const BYPASS_UNTIL = "2026-11-25T18:00:00.000Z";
export const KEY_PROBLEM = "JWKS fetch failed: the Clerk API answered 503";

const NOISE = [
  "[wrangler:info] GET /app/orders 200 OK (14ms)",
  "Successfully created tail, expires at 2026-11-25T22:00:00Z",
  "Connected to clerk-edge-guard, waiting for logs...",
  " ✓ Compiled /middleware in 212ms",
  " GET /dashboard 200 in 31ms",
  '{"level":30,"time":1795622400000,"msg":"request completed","responseTime":12}',
  '{"level":"info","event":"page_view","ts":"2026-11-25T16:02:11.342Z"}',
  "▲ Next.js 16.0.0 - Local: http://localhost:3000",
  "(log) cache warm-up done in 5 ms",
  "[stderr] npm WARN config production Use `--omit=dev` instead.",
];

const PATHS = ["/app/orders", "/app/settings", "/app", "/api/cart", "/app/invoices/42"];

/** The audit line of `e` (the product's key order: ts, level, event, request fields, the rest). */
function auditLine(e) {
  const { ts, level, event, request, ...fields } = e;
  return JSON.stringify({ ts: new Date(ts).toISOString(), level, event, ...request, ...fields });
}

/** Every audit event of the scenario, in time order. */
function scenarioEvents(rand) {
  const events = [];
  const counters = { allowed: 0, spikeJwk: 0, spikeExpired: 0, bypassed: 0 };
  const request = (ip = "192.0.2.10") => ({
    request_id: `${Math.floor(rand() * 2 ** 32).toString(16).padStart(8, "0")}-CDG`,
    method: "GET",
    path: PATHS[Math.floor(rand() * PATHS.length)],
    ip,
    user_agent: "Mozilla/5.0 (incident drill)",
  });
  /** `n` events of one kind spread over the minute, `offset` ms apart from other kinds. */
  const spread = (minute, n, offset, make) => {
    for (let k = 0; k < n; k += 1) events.push({ ts: minute + Math.floor((k * MINUTE) / n) + offset, ...make(k) });
  };
  const oldFormat = (minute) => minute < at(15, 0);
  const allowed = (minute, n) =>
    spread(minute, n, 0, () => {
      const user = `user_n${counters.allowed++ % 500}`;
      const base = { level: "info", event: "auth.allowed", request: request("192.0.2.10"), user_id: user, session_id: `sess_${user}` };
      return oldFormat(minute) ? { ...base, status: "signed-in" } : { ...base, auth_status: "signed-in" };
    });
  const normalRefusals = (minute, index) => {
    spread(minute, 1, 13, () => ({
      level: "warn", event: "auth.denied", request: request("192.0.2.20"), status: 401, auth_status: "signed-out",
      reason: "token-expired", user_id: `user_e${index % 40}`,
    }));
    spread(minute, 1, 30_017, () => ({
      level: "warn", event: "auth.denied", request: request(`198.51.100.${index % 50}`), status: 307, auth_status: "signed-out",
      reason: "session-token-and-uat-missing",
    }));
  };
  let index = 0;
  for (let minute = at(14, 0); minute < at(18, 0); minute += MINUTE, index += 1) {
    if (minute < at(16, 2) || minute >= at(17, 0)) {
      allowed(minute, 120);
      normalRefusals(minute, index);
    } else if (minute < at(16, 20)) {
      allowed(minute, 60);
      spread(minute, 60, 13, () => ({
        level: "warn", event: "auth.denied", request: request(`203.0.113.${counters.spikeJwk++ % 200}`), status: 401,
        auth_status: "signed-out", reason: "jwk-remote-failed-to-load",
      }));
      spread(minute, 30, 17, () => ({
        level: "warn", event: "auth.denied", request: request("192.0.2.30"), status: 401, auth_status: "signed-out",
        reason: "token-expired", user_id: `user_s${counters.spikeExpired++ % 300}`,
      }));
    } else {
      allowed(minute, 20);
      spread(minute, 100, 7, () => {
        const user = `user_b${counters.bypassed++ % 800}`;
        return {
          level: "warn", event: "auth.bypassed", request: request("192.0.2.40"), auth_status: "bypassed", mode: "grace",
          bypass_reason: BYPASS_REASON, until: BYPASS_UNTIL, user_id: user, session_id: `sess_${user}`,
        };
      });
      spread(minute, 3, 23, () => ({
        level: "warn", event: "auth.denied", request: request(`198.51.100.${index % 50}`), status: 401,
        auth_status: "signed-out", reason: "session-token-and-uat-missing",
      }));
    }
    if (minute >= at(16, 0) && minute < at(16, 30)) {
      for (const second of [10, 40]) {
        events.push({
          ts: minute + second * 1000, level: "error", event: "keys.refresh_failed", request: request("192.0.2.50"),
          reason: "jwk-remote-failed-to-load", problem: KEY_PROBLEM,
        });
      }
    }
    if (minute >= at(16, 30) && minute < at(16, 50)) {
      events.push({
        ts: minute + 30_000, level: "warn", event: "webhook.paused", request: { ...request("203.0.113.250"), method: "POST", path: "/__clerk/webhooks" },
        status: 503, type: "user.updated", svix_id: `msg_${index}`, reason: "paused",
      });
    }
  }
  const revoke = (ts, dryRun, reason) => ({
    ts, level: "warn", event: "admin.revoke", request: { ...request("192.0.2.99"), method: "POST", path: "/__clerk/admin/revoke" },
    user_id: "user_mallory", revoked_sessions: dryRun ? 0 : 2, failed_sessions: 0, sessions_found: 2, banned: !dryRun,
    ban_requested: true, edge_deny_listed: !dryRun, clerk_reachable: true, dry_run: dryRun, ok: true, status: 200,
    operator_reason: reason, message: dryRun ? "dry run: nothing changed" : "revoked",
  });
  events.push(revoke(at(16, 44) + 10_000, true, `INC-2026-002 dry run, the token was Bearer ${FAKE_JWT}`));
  events.push(revoke(at(16, 45) + 30_000, false, "INC-2026-002 account takeover"));
  events.sort((a, b) => a.ts - b.ts);
  return events;
}

/** The wrangler tail --format json record of one audit line (pretty-printed, 4 spaces). */
function wranglerTail(e, line) {
  return JSON.stringify(
    {
      wallTime: 4,
      cpuTime: 1,
      truncated: false,
      executionModel: "stateless",
      outcome: "ok",
      scriptName: "clerk-edge-guard",
      diagnosticsChannelEvents: [],
      exceptions: [],
      logs: [{ message: [line], level: e.level === "error" ? "error" : "log", timestamp: e.ts }],
      eventTimestamp: e.ts,
      event: {
        request: { url: `https://app.example.com${e.request.path}?token=${FAKE_JWT}`, method: e.request.method, headers: { "cf-ray": e.request.request_id } },
        response: { status: 200 },
      },
    },
    null,
    4,
  );
}

/** A Logpush Workers trace event (one NDJSON line). */
function logpush(e, line) {
  return JSON.stringify({
    DispatchNamespace: "",
    Entrypoint: "",
    Event: { RayID: e.request.request_id, Request: { Method: e.request.method, URL: `https://app.example.com${e.request.path}?__clerk_db_jwt=${FAKE_JWT}` }, Response: { Status: 200 } },
    EventTimestampMs: e.ts,
    EventType: "fetch",
    Exceptions: [],
    Logs: [{ Level: e.level === "error" ? "error" : "log", Message: [line], TimestampMs: e.ts }],
    Outcome: "ok",
    ScriptName: "clerk-edge-guard",
    ScriptTags: [],
  });
}

/** A Vercel log drain entry (one NDJSON line). */
function vercel(ts, message, id) {
  return JSON.stringify({
    id: `1795622400000${id}`,
    message,
    timestamp: ts,
    type: "stdout",
    source: "edge",
    projectId: "prj_incidentdrill",
    deploymentId: "dpl_incidentdrill",
    host: "app-incident.vercel.app",
    path: "/app/orders",
    level: "info",
  });
}

/**
 * The log: `{ text, lines, expected }`. `expected` is the generator's own bookkeeping (the
 * tests assert literal values, this is for the benchmark and for messages).
 */
export function incidentLog({ seed = 20261125, lines: totalLines = 100_000 } = {}) {
  const { rand } = seeded(seed);
  const events = scenarioEvents(rand);
  const byForm = { bare: 0, prefixed: 0, wrangler_tail: 0, logpush: 0, vercel: 0 };
  const records = events.map((e, i) => {
    const line = auditLine(e);
    switch (i % 20) {
      case 0:
        byForm.wrangler_tail += 1;
        return wranglerTail(e, line);
      case 1:
      case 2:
      case 3:
        byForm.logpush += 1;
        return logpush(e, line);
      case 4:
      case 5:
      case 6:
        byForm.vercel += 1;
        return vercel(e.ts, line, i);
      case 7:
        byForm.prefixed += 1;
        return `${new Date(e.ts).toISOString().replace("Z", "000000Z")} ${line}`;
      default:
        byForm.bare += 1;
        return line;
    }
  });
  // Three malformed audit lines, planted among the spike: a truncated line with a JWT and a
  // secret key, a line whose ts is not RFC 3339, a Vercel entry with a truncated message.
  const malformed = [
    `{"ts":"2026-11-25T16:05:00.000Z","level":"warn","event":"auth.denied","authorization":"Bearer ${FAKE_JWT}","secret":"${FAKE_SECRET_KEY}","reason":"tok`,
    `{"ts":"25/11/2026 16:06","level":"warn","event":"auth.denied","reason":"token-expired","status":401,"user_id":"user_x"}`,
    vercel(at(16, 7), `{"ts":"2026-11-25T16:07:00.000Z","level":"error","event":"webhook.failed","signing_secret":"${FAKE_WEBHOOK_SECRET}`, 0),
  ];
  const spikeAt = records.length >> 1;
  records.splice(spikeAt, 0, ...malformed);
  const used = records.reduce((n, r) => n + r.split("\n").length, 0);
  const noise = totalLines - used;
  if (noise < 0) throw new Error(`incidentLog: ${used} lines of records exceed ${totalLines}`);
  const out = [];
  records.forEach((record, i) => {
    out.push(record);
    const extra = Math.floor(((i + 1) * noise) / records.length) - Math.floor((i * noise) / records.length);
    for (let k = 0; k < extra; k += 1) out.push(NOISE[(i + k) % NOISE.length]);
  });
  const text = `${out.join("\n")}\n`;
  return {
    text,
    lines: totalLines,
    expected: { auditLines: events.length, byForm, malformed: malformed.length, skipped: noise, records: records.length + noise },
  };
}
