// Redaction end to end (CONTRACT.md section 5): "never in a log line: a token, a cookie, an
// Authorization value, a secret, a webhook body, a query string", and a rejected variable's
// value never either. Many requests go through every route carrying distinctive values; then
// no line of wrangler's whole stdout and stderr may contain any of them, and every audit line
// must be one JSON object.
//
// The webhook and admin routes may still be placeholders (501): the assertions hold either way.
//
// Worker starts: a working configuration (JWKS from a fake Clerk, grace bypass on /grace/*,
// allowed requests audited), and one whose variables are broken with distinctive values.
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, describe, test } from "node:test";

import { Webhook } from "svix";

import { startFakeClerk } from "../support/fake-clerk.mjs";
import { startOrigin, startWorker } from "./support/index.mjs";
import {
  createSigningKey,
  jwksOf,
  mintExpiredToken,
  mintToken,
  sessionClaims,
  unsignedToken,
} from "./support/tokens.mjs";

const SECRET_KEY = "sk_test_REDACTsecretKEYa91f0c7e3b5d";
const ADMIN_TOKEN = "REDACTadminTOKEN-4e8b1c9d7a2f6e0b3c5d8a1f";
const WEBHOOK_SECRET_BYTES = Buffer.from("REDACT webhook signing secret 24");
const WEBHOOK_SECRET = `whsec_${WEBHOOK_SECRET_BYTES.toString("base64")}`;

/** Waits until wrangler's output stops growing (the last lines of the last requests). */
async function settle(worker, quietMs = 500, maxMs = 10_000) {
  const deadline = Date.now() + maxMs;
  let count = -1;
  while (count !== worker.lines.length && Date.now() < deadline) {
    count = worker.lines.length;
    await sleep(quietMs);
  }
}

/** Asserts no output line contains any of `needles`; lists every leak it finds. */
function assertNoLeak(worker, needles) {
  const leaks = [];
  for (const { stream, text } of worker.lines) {
    for (const [label, needle] of needles) {
      if (text.includes(needle)) leaks.push(`${label} in [${stream}] ${text.slice(0, 300)}`);
    }
  }
  assert.deepEqual(leaks, [], `secrets leaked into wrangler's output:\n${leaks.join("\n")}`);
}

/** Every line that looks like an audit line parses, whole, as one JSON object with an event. */
function assertAuditLinesAreJson(worker) {
  let audit = 0;
  for (const { text } of worker.lines) {
    const trimmed = text.trim();
    if (!trimmed.startsWith("{") && !/"event"\s*:/.test(trimmed)) continue;
    let parsed;
    assert.doesNotThrow(() => (parsed = JSON.parse(trimmed)), `not one JSON object: ${trimmed.slice(0, 300)}`);
    assert.equal(typeof parsed, "object", trimmed);
    assert.equal(typeof parsed.event, "string", `an audit line has an event: ${trimmed.slice(0, 300)}`);
    assert.equal(typeof parsed.ts, "string", trimmed);
    assert.ok(["info", "warn", "error"].includes(parsed.level), trimmed);
    audit += 1;
  }
  return audit;
}

/** Sends a request and drains the answer; returns the status. */
async function send(worker, path, init) {
  const res = await worker.fetch(path, init);
  await res.arrayBuffer();
  return res.status;
}

describe("a working configuration", () => {
  let origin;
  let clerk;
  let worker;
  const needles = []; // [label, distinctive string]
  const statuses = new Map(); // route label -> statuses seen

  before(async () => {
    const key = await createSigningKey("ins_redact");
    clerk = await startFakeClerk({ secretKey: SECRET_KEY, jwks: jwksOf(key) });
    clerk.addSession({ id: "sess_redact_target", user_id: "user_redact_target" });
    origin = await startOrigin();
    worker = await startWorker({
      vars: {
        ORIGIN_URL: origin.url,
        CLERK_SECRET_KEY: SECRET_KEY,
        CLERK_API_URL: clerk.url,
        CLERK_ADMIN_TOKEN: ADMIN_TOKEN,
        CLERK_WEBHOOK_SIGNING_SECRET: WEBHOOK_SECRET,
        CLERK_PUBLIC_PATHS: "/public/*",
        CLERK_AUDIT_ALLOWED: "true",
        CLERK_EMERGENCY_BYPASS: "grace",
        CLERK_EMERGENCY_BYPASS_PATHS: "/grace/*",
        CLERK_EMERGENCY_BYPASS_REASON: "INC-redaction-drill",
        CLERK_SIGN_IN_URL: "https://accounts.edge-guard.test/sign-in",
      },
    });

    const validToken = await mintToken(key, sessionClaims({ sub: "user_redact_1", sid: "sess_redact_1" }));
    const cookieToken = await mintToken(key, sessionClaims({ sub: "user_redact_2", sid: "sess_redact_2" }));
    const graceToken = await mintExpiredToken(key, 120, { sub: "user_redact_3", sid: "sess_redact_3" });
    const otherKey = await createSigningKey("ins_redact");
    const forgedToken = await mintToken(otherKey, sessionClaims({ sub: "user_redact_forged" }));
    const noneToken = unsignedToken(sessionClaims({ sub: "user_redact_none" }));
    const badBearer = "REDACTbadBEARER-0f9e8d7c6b5a";
    const basicCreds = `Basic ${Buffer.from("REDACTuser:REDACTpassw0rd").toString("base64")}`;
    const cookieValue = "REDACTcookieVALUE-77aa";
    const queryToken = "SECRETQ123";
    const queryOther = "REDACTqueryVALUE-5b5b";
    const postBody = "REDACTpostBODY-c0ffee";
    const webhookMarker = "REDACTwebhookBODY-d00d";
    const badWebhookMarker = "REDACTforgedWEBHOOK-beef";
    const wrongAdmin = "REDACTwrongADMIN-00112233445566778899aabb";
    const apiKey = "REDACTapiKEY-1a2b3c";

    const signature = (token) => token.split(".")[2];
    needles.push(
      ["CLERK_SECRET_KEY", SECRET_KEY],
      ["CLERK_ADMIN_TOKEN", ADMIN_TOKEN],
      ["CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET],
      ["webhook secret bytes (base64)", WEBHOOK_SECRET_BYTES.toString("base64")],
      ["valid token", validToken],
      ["valid token signature", signature(validToken)],
      ["cookie token", cookieToken],
      ["cookie token signature", signature(cookieToken)],
      ["grace token", graceToken],
      ["grace token signature", signature(graceToken)],
      ["forged token", forgedToken],
      ["forged token signature", signature(forgedToken)],
      ["alg none token", noneToken],
      ["bad bearer", badBearer],
      ["basic credentials", basicCreds.slice("Basic ".length)],
      ["cookie value", cookieValue],
      ["query token", queryToken],
      ["query value", queryOther],
      ["POST body", postBody],
      ["webhook body", webhookMarker],
      ["forged webhook body", badWebhookMarker],
      ["wrong admin token", wrongAdmin],
      ["x-api-key", apiKey],
    );

    const query = `?token=${queryToken}&api_key=${queryOther}`;
    const cookies = `__session=${cookieToken}; other_cookie=${cookieValue}; __client_uat=1`;
    const requests = [
      ["protected, valid Bearer", "/app/data", { headers: { authorization: `Bearer ${validToken}`, cookie: cookies } }],
      ["protected, cookie", "/app/data", { headers: { cookie: cookies, "x-api-key": apiKey } }],
      ["protected, POST body", "/app/items", { method: "POST", headers: { authorization: `Bearer ${validToken}` }, body: postBody }],
      ["protected, forged token", "/app/data", { headers: { authorization: `Bearer ${forgedToken}` } }],
      ["protected, alg none", "/app/data", { headers: { authorization: `Bearer ${noneToken}` } }],
      ["protected, bad bearer", "/app/data", { headers: { authorization: `Bearer ${badBearer}` } }],
      ["protected, Basic auth", "/app/data", { headers: { authorization: basicCreds, cookie: `other_cookie=${cookieValue}` } }],
      ["protected, navigation", "/app/page", { headers: { accept: "text/html", cookie: `other_cookie=${cookieValue}` } }],
      ["grace bypass", "/grace/page", { headers: { authorization: `Bearer ${graceToken}` } }],
      ["public", "/public/page", { headers: { authorization: `Bearer ${validToken}`, cookie: cookies } }],
      ["health", "/__clerk/health", { headers: { authorization: `Bearer ${validToken}`, cookie: cookies } }],
      ["unknown /__clerk route", "/__clerk/x", { headers: { authorization: `Bearer ${validToken}`, cookie: cookies } }],
      [
        "admin revoke, admin token",
        "/__clerk/admin/revoke",
        {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ session_id: "sess_redact_target", reason: "redaction drill", dry_run: true }),
        },
      ],
      [
        "admin restore, admin token",
        "/__clerk/admin/restore",
        {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
          body: JSON.stringify({ session_id: "sess_redact_target", reason: "redaction drill" }),
        },
      ],
      [
        "admin revoke, wrong token",
        "/__clerk/admin/revoke",
        {
          method: "POST",
          headers: { authorization: `Bearer ${wrongAdmin}`, "content-type": "application/json" },
          body: JSON.stringify({ user_id: "user_redact_target" }),
        },
      ],
    ];

    // Webhooks: one signed delivery with a distinctive body, one forged.
    const wh = new Webhook(WEBHOOK_SECRET);
    const webhookRequests = (round) => {
      const body = JSON.stringify({
        type: "user.updated",
        object: "event",
        data: {
          id: `user_redact_hook_${round}`,
          object: "user",
          first_name: webhookMarker,
          last_name: null,
          email_addresses: [{ id: `idn_redact_${round}`, email_address: `${webhookMarker}@example.test` }],
          primary_email_address_id: `idn_redact_${round}`,
          private_metadata: { note: webhookMarker },
          banned: false,
          updated_at: Date.now(),
        },
        timestamp: Date.now(),
      });
      const id = `msg_redact_${round}`;
      const now = new Date();
      const signed = wh.sign(id, now, body);
      needles.push([`webhook signature ${round}`, signed.split(",")[1]]);
      const headers = { "svix-id": id, "svix-timestamp": String(Math.floor(now.getTime() / 1000)), "content-type": "application/json" };
      return [
        ["webhook, signed", "/__clerk/webhooks", { method: "POST", headers: { ...headers, "svix-signature": signed }, body }],
        [
          "webhook, forged",
          "/__clerk/webhooks",
          {
            method: "POST",
            headers: { ...headers, "svix-id": `${id}_forged`, "svix-signature": signed },
            body: body.replace(webhookMarker, badWebhookMarker),
          },
        ],
      ];
    };

    for (let round = 0; round < 3; round += 1) {
      for (const [label, path, init] of [...requests, ...webhookRequests(round)]) {
        const status = await send(worker, `${path}${query}`, init);
        statuses.set(label, [...(statuses.get(label) ?? []), status]);
      }
    }
    await settle(worker);
  });

  after(async () => {
    await worker?.stop();
    await origin?.close();
    await clerk?.close();
  });

  test("the requests went where expected", (t) => {
    t.diagnostic(JSON.stringify(Object.fromEntries(statuses)));
    const first = (label) => statuses.get(label)[0];
    assert.equal(first("protected, valid Bearer"), 200);
    assert.equal(first("protected, cookie"), 200);
    assert.equal(first("protected, POST body"), 200);
    assert.equal(first("protected, forged token"), 401);
    assert.equal(first("protected, alg none"), 401);
    assert.equal(first("protected, bad bearer"), 401);
    assert.equal(first("protected, Basic auth"), 401);
    assert.equal(first("protected, navigation"), 307);
    assert.equal(first("grace bypass"), 200);
    assert.equal(first("public"), 200);
    assert.equal(first("health"), 200);
    assert.equal(first("unknown /__clerk route"), 404);
    assert.ok(origin.requests.some((r) => r.body === "REDACTpostBODY-c0ffee"), "the origin got the POST body");
    assert.ok(clerk.requests.some((r) => r.route === "jwks" && r.authorized), "the secret key was used");
  });

  test("no line of wrangler's output contains a token, cookie, credential, secret, body or query", () => {
    assertNoLeak(worker, needles);
  });

  test("every audit line is one JSON object", (t) => {
    const count = assertAuditLinesAreJson(worker);
    const events = worker.auditEvents();
    t.diagnostic(`${count} audit lines: ${[...new Set(events.map((e) => e.event))].join(", ")}`);
    assert.ok(events.some((e) => e.event === "auth.allowed"));
    assert.ok(events.some((e) => e.event === "auth.denied"));
    assert.ok(events.some((e) => e.event === "auth.bypassed"));
    for (const e of events.filter((e) => "path" in e)) assert.ok(!e.path.includes("?"), e.path);
  });
});

describe("variables broken with distinctive values", () => {
  let origin;
  let worker;
  const broken = {
    CLERK_JWT_KEY: "-----BEGIN PUBLIC KEY-----\nREDACTpemGARBAGEvalue\n-----END PUBLIC KEY-----",
    CLERK_CLOCK_SKEW_MS: "REDACTskewVALUE",
    CLERK_EMERGENCY_BYPASS: "REDACTbypassVALUE",
    CLERK_EMERGENCY_BYPASS_UNTIL: "REDACTuntilVALUE",
    CLERK_ADMIN_TOKEN: "REDACTshortADMIN",
    CLERK_WEBHOOK_SIGNING_SECRET: "whsec_REDACT!!notBase64",
    CLERK_SIGN_IN_URL: "REDACTsignInVALUE",
    CLERK_PUBLISHABLE_KEY: "pk_test_REDACTpublishableVALUE",
    CLERK_AUTHORIZED_PARTIES: "REDACTpartyVALUE",
    CLERK_SECRET_KEY: "REDACTsecretWITHOUTprefix",
  };

  before(async () => {
    origin = await startOrigin();
    worker = await startWorker({ vars: { ORIGIN_URL: origin.url, ...broken } });
    for (let round = 0; round < 2; round += 1) {
      for (const [path, init] of [
        ["/app/data?token=SECRETQ123", { headers: { authorization: "Bearer REDACTbearerBROKEN" } }],
        ["/__clerk/health?token=SECRETQ123", {}],
        ["/__clerk/webhooks", { method: "POST", headers: { "svix-id": "msg_1" }, body: "REDACTbrokenHOOKbody" }],
        ["/__clerk/admin/revoke", { method: "POST", headers: { authorization: `Bearer ${broken.CLERK_ADMIN_TOKEN}` }, body: "{}" }],
      ]) {
        await send(worker, path, init);
      }
    }
    await settle(worker);
  });

  after(async () => {
    await worker?.stop();
    await origin?.close();
  });

  test("each broken variable is reported by name, its value never appears", async () => {
    const reported = new Set(worker.auditEvents().filter((e) => e.event === "config.invalid").map((e) => e.variable));
    for (const name of Object.keys(broken)) assert.ok(reported.has(name), `config.invalid for ${name}: ${[...reported]}`);
    const needles = Object.entries(broken).map(([name, value]) => [name, name === "CLERK_JWT_KEY" ? "REDACTpemGARBAGEvalue" : value]);
    needles.push(
      ["webhook secret body", "REDACT!!notBase64"],
      ["query token", "SECRETQ123"],
      ["bearer", "REDACTbearerBROKEN"],
      ["webhook body", "REDACTbrokenHOOKbody"],
    );
    assertNoLeak(worker, needles);
    assertAuditLinesAreJson(worker);
    const health = await worker.fetch("/__clerk/health");
    const text = await health.text();
    assert.equal(JSON.parse(text).status, "misconfigured", text);
    for (const [name, value] of needles) assert.ok(!text.includes(value), `${name} in health`);
  });
});
