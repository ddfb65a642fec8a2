// Differential test of the handshake: thousands of seeded requests (cookies in every state,
// handshake return legs by nonce and by token, development and production keys, with and
// without a proxy URL, forwarded headers, awkward query strings) answered by @clerk/backend's
// authenticateRequest and by our pkg-js clerkEdgeMiddleware, both configured with the same PEM
// key (no JWKS fetch) and the same local fake Backend API for the nonce exchange
// (support/handshake-payload-api.mjs). Every request must get the same outcome (signed-in /
// signed-out / handshake / error), the same reason, the same `location` (origin, path,
// ordered query parameters, then the exact string), the same Set-Cookie list (exact strings,
// in order) and, where Clerk sets them, the same `cache-control` and
// `access-control-allow-*` headers, except the deliberate differences of KNOWN_DIFFERENCES.
// Our audit lines are checked too: a failed nonce exchange and a refused handshake token are
// logged, and no line carries a token, a nonce, a dev browser value or the secret key.
//
//   node --test tests/js/handshake-differential.test.mjs
//   CEG_HS_DIFF_N=500 CEG_HS_DIFF_SEED=7 node --test tests/js/handshake-differential.test.mjs
//   CEG_HS_DIFF_CLERK_ONLY=1 ...   Clerk's side alone (the generator's distribution)
//   CEG_HS_DIFF_DUMP=20 ...        also print the first 20 requests with both answers
//
// The summary table (counts by scenario family and Clerk's outcome, Clerk's reasons,
// disagreements by kind with the least busy example of each) is printed with console.log.
// Tokens never appear in it: every token, nonce and dev browser value is shown by the label
// of the state it was minted in.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { createClerkClient } from "@clerk/backend";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { startHandshakePayloadApi } from "./support/handshake-payload-api.mjs";
import { seeded } from "./support/prng.mjs";

const N = Number(process.env.CEG_HS_DIFF_N ?? 3000);
const SEED = Number(process.env.CEG_HS_DIFF_SEED ?? 20261201);
const CLERK_ONLY = process.env.CEG_HS_DIFF_CLERK_ONLY === "1";
const DUMP = Number(process.env.CEG_HS_DIFF_DUMP ?? 0); // print the first DUMP cases and answers
const NOW = Math.floor(Date.now() / 1000);

// Deliberate differences from @clerk/backend 3.25.0, each argued in the README ("Where we
// differ from @clerk/backend, on purpose"): a disagreement is forgiven only when one of these
// matches it.
const KNOWN_DIFFERENCES = [
  {
    id: "redirect-count-above-3",
    // README, "Where we differ from @clerk/backend, on purpose".
    argument:
      "The handshake loop guard stops at `__clerk_redirect_count` >= 3; Clerk compares `=== 3`, so " +
      "a forged counter of 4 would restart its loop.",
    // Clerk reads the counter as `Number(cookie) || 0`.
    matches: (c, clerk, ours) =>
      c.redirectCount > 3 &&
      clerk.outcome === "handshake" &&
      ours.outcome === "signed-out" &&
      ours.reason === clerk.reason,
  },
  // Not generated, so no entry: the `__refresh_<suffix>` refresh-token exchange (README: "is
  // not built"; Clerk only tries it when that cookie is present). A failed nonce exchange is
  // logged by us (`handshake.nonce_failed`, checked below) and swallowed by Clerk: both answer
  // `session-token-missing`, so no difference in outcome.
];

// ---------------------------------------------------------------------------------------------
// Seeded PRNG (support/prng.mjs, shared with differential.test.mjs) and helpers.

const { rand, chance, pick } = seeded(SEED);
/** `pickW([[value, weight], ...])` */
function pickW(entries) {
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let r = rand() * total;
  for (const [value, w] of entries) {
    r -= w;
    if (r < 0) return value;
  }
  return entries[entries.length - 1][0];
}
const randId = () => Math.floor(rand() * 2 ** 32).toString(36);

/** First 8 chars of base64(SHA-1(pk)), `+`→`-`, `/`→`_` (Clerk's cookie suffix). */
function cookieSuffix(pk) {
  return createHash("sha1").update(pk).digest("base64").slice(0, 8).replace(/\+/g, "-").replace(/\//g, "_");
}
// Clerk's own vectors (authenticateContext tests).
assert.equal(cookieSuffix("pk_live_Y2xlcmsuY2xlcmsuZGV2JA"), "1Z8AzTQD");
assert.equal(cookieSuffix("pk_test_Y2xlcmsuY2xlcmsuZGV2JA"), "QvfNY2dr");

// Hosts whose `<host>$` is a multiple of 3 bytes: the key's base64 needs no padding.
const APP_HOST = "app.hsdiff.example";
function instance(kind, fapi, secretKey) {
  assert.equal((fapi.length + 1) % 3, 0);
  const pk = `${kind === "production" ? "pk_live_" : "pk_test_"}${Buffer.from(`${fapi}$`).toString("base64")}`;
  return { kind, name: kind, prod: kind === "production", fapi, pk, secretKey, suffix: cookieSuffix(pk), proxyUrl: null };
}
const PROD = instance("production", "clerk.hsdiff.example", "sk_live_hsdiff_prod_secret_0123456789");
const DEV = instance("development", "quiet-otter-7.clerk.accounts.dev", "sk_test_hsdiff_dev_secret_0123456789");
// The same instances behind Clerk's proxy (CLERK_PROXY_URL / Clerk's `proxyUrl`): absolute
// with a trailing slash, and a path resolved against the request's public origin.
const PROD_PROXY = { ...PROD, name: "production+proxy", proxyUrl: `https://${APP_HOST}/__clerk/` };
const DEV_PROXY = { ...DEV, name: "development+relative-proxy", proxyUrl: "/__clerk" };
const INSTANCES = [PROD, DEV, PROD_PROXY, DEV_PROXY];
const OTHER_ISS = "https://clerk.other-app.example";

// ---------------------------------------------------------------------------------------------
// Tokens: a small pool per (instance, state), labelled; every token's label and iat is known
// so that reports can name it and client_uat values can be placed around its iat.

const tokenInfo = new Map(); // token -> { label, iat }
const labelOf = (value) => tokenInfo.get(value)?.label ?? null;

let key;
let otherKey;
let pem;
const KID = "ins_hsdiff";

async function sign(claims, header, signer = key) {
  return new SignJWT(claims).setProtectedHeader({ alg: "RS256", typ: "JWT", kid: KID, ...header }).sign(signer.privateKey);
}

const SESSION_STATES = [
  "valid",
  "valid-cat-session",
  "expired",
  "nbf-future",
  "iat-future",
  "bad-signature",
  "machine-cat",
  "template-cat",
  "machine-sub",
  "oauth-typ",
  "other-iss",
  "no-iss",
];
const GARBAGE = [
  ["garbage", "garbage-token"],
  ["garbage-3-parts", "a.b.c"],
  ["garbage-json", `${Buffer.from('{"alg":"RS256"}').toString("base64url")}.${Buffer.from("not json").toString("base64url")}.c2ln`],
  ["garbage-percent", "not%20a%20jwt"],
  ["garbage-bad-percent", "abc%E0%A4%Axyz"],
];
const pools = new Map(); // `${inst.kind}/${state}` -> [token]

async function mintSession(inst, state, k) {
  const id = `${inst.kind.slice(0, 4)}_${state}_${k}`;
  let iat = NOW - 20 - k * 37;
  let nbf = iat - 10;
  let exp = NOW + 3600;
  let header = {};
  let signer = key;
  const claims = { iss: `https://${inst.fapi}`, sub: `user_${id}`, sid: `sess_${id}`, azp: `https://${APP_HOST}` };
  switch (state) {
    case "valid-cat-session":
      header = { cat: "cl_B7d4PD111AAA" };
      break;
    case "expired":
      iat = NOW - 7200 - k * 37;
      nbf = iat - 10;
      exp = NOW - 3600;
      break;
    case "nbf-future":
      nbf = NOW + 3600;
      exp = NOW + 7200;
      break;
    case "iat-future":
      iat = NOW + 3600 + k * 37;
      nbf = NOW - 10;
      exp = NOW + 7200;
      break;
    case "bad-signature":
      signer = otherKey;
      break;
    case "machine-cat":
      header = { cat: "cl_B7d4PD333AAA" };
      break;
    case "template-cat":
      header = { cat: "cl_B7d4PD222AAA" };
      break;
    case "machine-sub":
      claims.sub = `mch_${id}`;
      break;
    case "oauth-typ":
      header = { typ: "at+jwt" };
      break;
    case "other-iss":
      claims.iss = OTHER_ISS;
      break;
    case "no-iss":
      delete claims.iss;
      break;
  }
  const token = await sign({ ...claims, iat, nbf, exp }, header, signer);
  tokenInfo.set(token, { label: `${state}[${k}]`, iat });
  return token;
}

async function buildPools() {
  for (const inst of [PROD, DEV]) {
    for (const state of SESSION_STATES) {
      const list = [];
      for (let k = 0; k < 4; k++) list.push(await mintSession(inst, state, k));
      pools.set(`${inst.kind}/${state}`, list);
    }
  }
  for (const [label, value] of GARBAGE) tokenInfo.set(value, { label, iat: null });
}
const poolToken = (inst, state) => pick(pools.get(`${inst.kind}/${state}`));

// ---------------------------------------------------------------------------------------------
// The generator.

const COOKIE_ATTRS = "; Path=/; SameSite=Lax; Secure";
const UAT_ATTRS = "; Path=/; SameSite=Lax; Max-Age=315360000; Secure";

/** Directives (Set-Cookie strings) of a handshake payload, and the label of the set. */
function directives(inst, kind) {
  if (kind === "last-wins") return directivesLastWins(inst);
  const sfx = inst.suffix;
  const dom = inst.prod ? "; Domain=hsdiff.example" : "";
  const state = { session: "valid", "expired-session": "expired", "bad-session": "bad-signature" }[kind];
  if (state) {
    const token = poolToken(inst, state);
    const iat = tokenInfo.get(token).iat;
    const shape = pick(["plain", "suffixed+plain", "bare"]);
    if (shape === "plain") return [`__session=${token}${COOKIE_ATTRS}`, `__client_uat=${iat}${dom}${UAT_ATTRS}`];
    if (shape === "bare") return [`__client_uat=${iat}`, `__session=${token}`];
    const list = [
      `__session_${sfx}=${token}${COOKIE_ATTRS}`,
      `__session=${token}${COOKIE_ATTRS}`,
      `__client_uat_${sfx}=${iat}${dom}${UAT_ATTRS}`,
      `__client_uat=${iat}${dom}${UAT_ATTRS}`,
    ];
    if (inst.prod) list.push("__clerk_handshake_nonce=; Path=/; Max-Age=0");
    else list.push(`__clerk_db_jwt=dvb-${randId()}; Path=/; Max-Age=31536000`);
    return list;
  }
  // No session: signed out, or a session cleared by the last __session* directive.
  return pick([
    () => [`__client_uat=0${dom}${UAT_ATTRS}`, "__session=; Path=/; Max-Age=0"],
    () => [`__client_uat=0${UAT_ATTRS}`],
    () => [`__session_${sfx}=${poolToken(inst, "valid")}${COOKIE_ATTRS}`, "__session=; Path=/; Max-Age=0"],
    () => [],
  ])();
}

/** A session set by the last `__session*` directive after a cleared one. */
function directivesLastWins(inst) {
  const token = poolToken(inst, "valid");
  return ["__session=; Path=/; Max-Age=0", `__session_${inst.suffix}=${token}${COOKIE_ATTRS}`, `__client_uat=${tokenInfo.get(token).iat}${UAT_ATTRS}`];
}

const DIRECTIVE_KINDS = [
  ["session", 50],
  ["last-wins", 5],
  ["no-session", 25],
  ["expired-session", 12],
  ["bad-session", 8],
];

const PATHS = ["/", "/dashboard", "/dash board/x", "/caf%C3%A9/menu", "/search", "/a/b/c.html"];
const QUERIES = [
  ["none", ""],
  ["none", ""],
  ["none", ""],
  ["plus", "?q=a+b"],
  ["pct20", "?q=a%20b"],
  ["space", "?q=a b"],
  ["unicode", "?q=café&r=✓"],
  ["pct-utf8", "?q=caf%C3%A9"],
  ["repeat", "?x=1&x=2"],
  ["reserved", "?q=%2B%26%3D"],
  ["url-param", "?redirect_url=https%3A%2F%2Fevil.example%2F"],
  ["empty-values", "?a=&b"],
  ["clerk-help", "?__clerk_help=1&keep=1"],
  ["legacy-dev-session", "?__dev_session=x&keep=1"],
];
const REDIRECT_COUNTS = [
  [null, 60],
  ["0", 6],
  ["1", 7],
  ["2", 7],
  ["3", 8],
  ["4", 2],
  ["7", 1],
  ["abc", 2],
  ["", 1],
  ["-1", 1],
  ["3.0", 1],
  ["2.5", 1],
  ["0x3", 1],
  ["3e0", 1],
];

/** client_uat value relative to a token's iat. */
function uatValue(refIat) {
  const base = refIat ?? NOW - 100;
  return pickW([
    [["absent", null], 18],
    [["0", "0"], 14],
    [["below-iat", String(base - 1 - Math.floor(rand() * 500))], 22],
    [["equal-iat", String(base)], 16],
    [["above-iat", String(base + 1 + Math.floor(rand() * 500))], 16],
    [["non-numeric", pick(["abc", "", "12x", "NaN"])], 5],
    // parseInt reads these as numbers: 16, 5, 1, -5.
    [["parseInt-quirk", pick(["0x10", "+5", "1e10", "-5"])], 3],
  ]);
}

function sessionCookieValue(inst) {
  const state = pickW([
    ["valid", 32],
    ["valid-percent-encoded", 2],
    ["valid-cat-session", 4],
    ["expired", 12],
    ["nbf-future", 4],
    ["iat-future", 4],
    ["bad-signature", 6],
    ["machine-cat", 4],
    ["template-cat", 4],
    ["machine-sub", 2],
    ["oauth-typ", 2],
    ["other-iss", 6],
    ["no-iss", 2],
    ["garbage", 5],
    ["empty", 3],
  ]);
  if (state === "empty") return ["empty", ""];
  if (state === "valid-percent-encoded") {
    const token = poolToken(inst, "valid");
    return [`percent-encoded:${labelOf(token)}`, token.replaceAll(".", "%2E")];
  }
  if (state === "garbage") {
    const [label, value] = pick(GARBAGE);
    return [label, value];
  }
  const token = poolToken(inst, state);
  return [labelOf(token), token];
}

const nonces = []; // filled during generation: { nonce, kind }
let api;

/** The signed variants of a handshake token: the JWT header fields, and whether the other key signs. */
const HS_SIGNED_VARIANTS = {
  valid: { header: {} },
  "valid-cat-session": { header: { cat: "cl_B7d4PD111AAA" } },
  "valid-cat-ignore": { header: { cat: "cl_I7d4PD111III" } },
  "bad-signature": { header: {}, otherKey: true },
  "template-cat": { header: { cat: "cl_B7d4PD222AAA" } },
  "machine-cat": { header: { cat: "cl_B7d4PD333AAA" } },
  "typ-not-jwt": { header: { typ: "at+jwt" } },
};

async function mintHandshakeToken(inst, variant, dirKind) {
  const payload = { handshake: directives(inst, dirKind), iat: NOW - 1 };
  const label = `hs:${variant}/${dirKind}`;
  const signed = HS_SIGNED_VARIANTS[variant];
  let token;
  if (signed) {
    token = await sign(payload, signed.header, signed.otherKey ? otherKey : key);
  } else if (variant === "payload-not-array") {
    token = await sign({ handshake: payload.handshake.join(", "), iat: payload.iat }, {});
  } else if (variant === "empty") {
    return { token: "", label };
  } else {
    token = "garbage.handshake.token";
  }
  tokenInfo.set(token, { label, iat: null });
  return { token, label };
}

/**
 * One request case: `inst`, `family`, `method`, `url`, `headers` (array of pairs, cookie last),
 * `labels` (what is shown in reports), `features` (how busy the case is, for the minimal
 * example), `redirectCount` (as Clerk reads it), `nonceKind`, `hsVariant`.
 */
async function genCase(i) {
  const inst = pickW([[PROD, 46], [DEV, 40], [PROD_PROXY, 7], [DEV_PROXY, 7]]);
  const family = pickW([
    ["cookies", 56],
    ["nonce", 19],
    ["handshake-token", 14],
    ["nonce+token", 3],
    ["db-jwt-query", 8],
  ]);
  const labels = { inst: inst.name, family };
  let features = 0;
  const headers = [];
  const cookies = []; // [name, value, label]
  const queryExtra = []; // [name, value, label]

  // Method, fetch metadata, accept.
  const method = pickW([["GET", 80], ["POST", 10], ["HEAD", 6], ["PUT", 2], ["OPTIONS", 2]]);
  if (method !== "GET") features++;
  const dest = pickW([["document", 40], ["iframe", 8], ["empty", 20], ["Document", 2], [null, 30]]);
  const accept = pickW([
    ["text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", 45],
    ["*/*", 20],
    ["application/json", 13],
    ["TEXT/HTML", 2],
    [null, 20],
  ]);
  labels.method = method;
  if (dest !== null) headers.push(["sec-fetch-dest", dest]);
  if (accept !== null) headers.push(["accept", accept]);
  labels["sec-fetch-dest"] = dest ?? "absent";
  labels.accept = accept === null ? "absent" : accept.split(",")[0];

  // Where the request arrives, and the public origin Clerk derives from it.
  const routing = pickW([["direct", 68], ["proxied", 16], ["proxied-list", 5], ["proxied-port-upper", 5], ["proto-only", 6]]);
  let base;
  let publicOrigin;
  switch (routing) {
    case "direct":
      base = `https://${APP_HOST}`;
      publicOrigin = base;
      headers.push(["host", APP_HOST]);
      break;
    case "proxied":
      base = "http://localhost:3000";
      publicOrigin = `https://${APP_HOST}`;
      headers.push(["host", "localhost:3000"], ["x-forwarded-host", APP_HOST], ["x-forwarded-proto", "https"]);
      features++;
      break;
    case "proxied-list":
      base = "http://localhost:3000";
      publicOrigin = `https://${APP_HOST}`;
      headers.push(["host", "localhost:3000"], ["x-forwarded-host", `${APP_HOST}, lb.internal`], ["x-forwarded-proto", "https,http"]);
      features++;
      break;
    case "proxied-port-upper":
      base = "http://localhost:3000";
      publicOrigin = `https://${APP_HOST}:8443`;
      headers.push(["host", "localhost:3000"], ["x-forwarded-host", `${APP_HOST.toUpperCase()}:8443`], ["x-forwarded-proto", "https"]);
      features++;
      break;
    default:
      base = `http://${APP_HOST}:8080`;
      publicOrigin = `https://${APP_HOST}:8080`;
      headers.push(["host", `${APP_HOST}:8080`], ["x-forwarded-proto", "https"]);
      features++;
  }
  labels.routing = routing;

  // Referer.
  const referer = pickW([
    ["absent", 50],
    ["same-origin", 18],
    ["other-origin", 18],
    ["fapi", 5],
    ["accounts-portal", 5],
    ["not-a-url", 4],
    ["internal-origin", base === publicOrigin ? 0 : 4],
  ]);
  labels.referer = referer;
  if (referer !== "absent") {
    features++;
    const accounts = inst.prod ? "https://accounts.hsdiff.example" : "https://quiet-otter-7.accounts.dev";
    headers.push([
      "referer",
      {
        "same-origin": `${publicOrigin}/previous?x=1`,
        "other-origin": "https://satellite.example.net/page",
        fapi: `https://${inst.fapi}/v1/client/handshake`,
        "accounts-portal": `${accounts}/sign-in`,
        "not-a-url": "not a url",
        "internal-origin": `${base}/previous`,
      }[referer],
    ]);
  }

  // Session and client_uat cookies, plain and suffixed: a third of the time as a signed-in
  // browser keeps them (a valid session, client_uat at or before its iat), otherwise anyhow.
  const sfx = inst.suffix;
  let plainIat = null;
  let suffixedIat = null;
  const coherent = chance(0.3);
  const layout = coherent ? pickW([["plain", 60], ["suffixed", 15], ["both", 25]]) : pickW([["plain", 48], ["suffixed", 14], ["both", 26], ["none", 12]]);
  labels.layout = coherent ? `${layout} (signed-in browser)` : layout;
  if (coherent) {
    const token = poolToken(inst, chance(0.8) ? "valid" : "valid-cat-session");
    const { iat } = tokenInfo.get(token);
    const uat = String(iat - pick([0, 0, 1, 30]));
    const uatLabel = uat === String(iat) ? "equal-iat" : "below-iat";
    for (const suffix of layout === "both" ? ["", `_${sfx}`] : layout === "suffixed" ? [`_${sfx}`] : [""]) {
      cookies.push([`__session${suffix}`, token, labelOf(token)], [`__client_uat${suffix}`, uat, uatLabel]);
    }
  } else if (layout === "plain" || layout === "both") {
    if (chance(0.85)) {
      const [label, value] = sessionCookieValue(inst);
      cookies.push(["__session", value, label]);
      plainIat = tokenInfo.get(value.replaceAll("%2E", "."))?.iat ?? null;
    }
    const [label, value] = uatValue(plainIat);
    if (value !== null) cookies.push(["__client_uat", value, label]);
  }
  if (!coherent && (layout === "suffixed" || layout === "both")) {
    if (chance(0.8)) {
      const [label, value] = sessionCookieValue(inst);
      cookies.push([`__session_${sfx}`, value, label]);
      suffixedIat = tokenInfo.get(value.replaceAll("%2E", "."))?.iat ?? null;
    }
    const [label, value] = uatValue(suffixedIat ?? plainIat);
    if (value !== null) cookies.push([`__client_uat_${sfx}`, value, label]);
  }
  // Now and then a repeated name (the first one wins).
  if (cookies.length > 0 && chance(0.03)) {
    const [name] = pick(cookies);
    const [label, value] = name.startsWith("__session") ? sessionCookieValue(inst) : uatValue(plainIat);
    if (value !== null) cookies.push([name, value, `dup:${label}`]);
  }

  // Dev browser token: mostly present on development, rarely on production.
  if (chance(inst.prod ? 0.05 : 0.8)) {
    const name = chance(0.8) ? "__clerk_db_jwt" : `__clerk_db_jwt_${sfx}`;
    cookies.push([name, `dvb-${randId()}`, "dev-browser"]);
  }
  if (family === "db-jwt-query") {
    if (chance(0.15)) queryExtra.push(["__clerk_db_jwt", "", "empty"]);
    else queryExtra.push(["__clerk_db_jwt", `dvb-${randId()}`, "dev-browser"]);
  }
  // Now and then a value in double quotes (the cookie package keeps the quotes).
  if (cookies.length > 0 && chance(0.04)) {
    const k = Math.floor(rand() * cookies.length);
    const [name, value, label] = cookies[k];
    if (value !== "") cookies[k] = [name, `"${value}"`, `quoted:${label}`];
  }

  // Handshake return legs.
  let nonceKind = null;
  let hsVariant = null;
  if (family === "nonce" || family === "nonce+token") {
    nonceKind = pickW([["session", 42], ["last-wins", 4], ["no-session", 20], ["expired-session", 8], ["bad-session", 7], ["unknown", 19]]);
    const nonce = `hsn-${SEED}-${i}-${randId()}`;
    if (nonceKind !== "unknown") api.setNonce(nonce, directives(inst, nonceKind));
    tokenInfo.set(nonce, { label: `nonce:${nonceKind}`, iat: null });
    let where = inst.prod ? pickW([["cookie", 80], ["query", 20]]) : pickW([["cookie", 20], ["query", 80]]);
    if (chance(0.08)) where = pick(["query+other-in-cookie", "empty-query+cookie", "empty-cookie+query"]);
    const other = `hsn-${SEED}-${i}-other-${randId()}`;
    api.setNonce(other, directives(inst, "session"));
    tokenInfo.set(other, { label: "nonce:session(other)", iat: null });
    const label = `nonce:${nonceKind}`;
    if (where === "cookie") cookies.push(["__clerk_handshake_nonce", nonce, label]);
    else if (where === "query") queryExtra.push(["__clerk_handshake_nonce", nonce, label]);
    else if (where === "query+other-in-cookie") {
      queryExtra.push(["__clerk_handshake_nonce", nonce, label]);
      cookies.push(["__clerk_handshake_nonce", other, "nonce:session(other)"]);
    } else if (where === "empty-query+cookie") {
      queryExtra.push(["__clerk_handshake_nonce", "", "empty"]);
      cookies.push(["__clerk_handshake_nonce", nonce, label]);
    } else {
      cookies.push(["__clerk_handshake_nonce", "", "empty"]);
      queryExtra.push(["__clerk_handshake_nonce", nonce, label]);
    }
    labels.nonce = `${nonceKind} in ${where}`;
  }
  if (family === "handshake-token" || family === "nonce+token") {
    hsVariant = pickW([
      ["valid", 40],
      ["valid-cat-session", 10],
      ["valid-cat-ignore", 5],
      ["bad-signature", 17],
      ["template-cat", 10],
      ["machine-cat", 6],
      ["typ-not-jwt", 4],
      ["payload-not-array", 4],
      ["garbage", 10],
      ["empty", 3],
    ]);
    const { token, label } = await mintHandshakeToken(inst, hsVariant, pickW(DIRECTIVE_KINDS));
    const where = inst.prod ? pickW([["cookie", 75], ["query", 25]]) : pickW([["cookie", 15], ["query", 85]]);
    if (where === "cookie") cookies.push(["__clerk_handshake", token, label]);
    else queryExtra.push(["__clerk_handshake", token, label]);
    labels.handshake = `${label} in ${where}`;
  }

  // Loop counter.
  const count = pickW(REDIRECT_COUNTS);
  if (count !== null) cookies.push(["__clerk_redirect_count", count, `count=${count === "" ? "(empty)" : count}`]);
  const firstCount = cookies.find(([n]) => n === "__clerk_redirect_count");
  const redirectCount = Number(firstCount?.[1]) || 0;

  // URL: path, query, handshake parameters after the app's own.
  const path = pick(PATHS);
  const [queryLabel, query] = pick(QUERIES);
  let url = `${base}${path}${query}`;
  for (const [name, value] of queryExtra) url += `${url.includes("?") ? "&" : "?"}${name}=${encodeURIComponent(value)}`;
  labels.path = path;
  labels.query = queryLabel;
  if (queryLabel !== "none") features++;

  // Cookie header, in a shuffled order (a repeated name keeps its values' order).
  if (cookies.length > 0) headers.push(["cookie", shuffleKeepingRepeats(cookies).map(([n, v]) => `${n}=${v}`).join("; ")]);
  labels.cookies = Object.fromEntries(cookies.map(([n, , l], k) => [cookies.findIndex(([m]) => m === n) === k ? n : `${n}(2nd)`, l]));
  if (queryExtra.length) labels.queryParams = Object.fromEntries(queryExtra.map(([n, , l]) => [n, l]));
  features += cookies.length + queryExtra.length;

  return { i, inst, family, method, url, headers, labels, features, redirectCount, nonceKind, hsVariant };
}

/** The cookies in a random order, values of a repeated name kept in their order. */
function shuffleKeepingRepeats(list) {
  const order = list.map((_, k) => k);
  for (let k = order.length - 1; k > 0; k--) {
    const j = Math.floor(rand() * (k + 1));
    [order[k], order[j]] = [order[j], order[k]];
  }
  const byName = new Map();
  for (const entry of list) byName.set(entry[0], [...(byName.get(entry[0]) ?? []), entry]);
  const used = new Map();
  return order.map((k) => {
    const name = list[k][0];
    const n = used.get(name) ?? 0;
    used.set(name, n + 1);
    return byName.get(name)[n];
  });
}

const requestOf = (c) => new Request(c.url, { method: c.method, headers: c.headers });

// ---------------------------------------------------------------------------------------------
// Running both sides, each with console output captured.

async function captured(fn) {
  const lines = [];
  const saved = { log: console.log, warn: console.warn, error: console.error, info: console.info };
  const sink = (...args) => lines.push(args.map((a) => (typeof a === "string" ? a : a instanceof Error ? a.message : JSON.stringify(a))).join(" "));
  console.log = console.warn = console.error = console.info = sink;
  try {
    return [await fn(), lines];
  } finally {
    Object.assign(console, saved);
  }
}

function clerkView(state) {
  const h = state.headers ?? new Headers();
  return {
    outcome: state.status,
    reason: state.status === "signed-in" ? null : state.reason ?? null,
    location: h.get("location"),
    setCookie: h.getSetCookie(),
    cacheControl: h.get("cache-control"),
    acao: h.get("access-control-allow-origin"),
    acac: h.get("access-control-allow-credentials"),
  };
}

async function runClerk(c) {
  const client = c.inst.clerk;
  const [view, lines] = await captured(async () => {
    try {
      return clerkView(await client.authenticateRequest(requestOf(c)));
    } catch (error) {
      return { outcome: "error", reason: null, location: null, setCookie: [], message: String(error?.message ?? error).slice(0, 120) };
    }
  });
  view.lines = lines;
  return view;
}

function ourView(res) {
  const h = res.headers;
  const status = h.get("x-clerk-auth-status");
  let outcome;
  if (res.status >= 500) outcome = "error";
  else if (h.get("x-middleware-next") === "1")
    outcome = h.get("x-middleware-request-x-clerk-auth-status") === "signed-in" ? "signed-in" : "forward-without-signed-in";
  else if (status === "handshake" && res.status === 307) outcome = "handshake";
  else if (status === "signed-out" && (res.status === 401 || (res.status === 307 && h.get("location")))) outcome = "signed-out";
  else if (status === "signed-in" && res.status === 307) outcome = "signed-in";
  else outcome = `other(${res.status},${status ?? "-"})`;
  return {
    outcome,
    reason: outcome === "signed-in" ? null : h.get("x-clerk-auth-reason"),
    location: h.get("location"),
    setCookie: h.getSetCookie(),
    cacheControl: h.get("cache-control"),
    acao: h.get("access-control-allow-origin"),
    acac: h.get("access-control-allow-credentials"),
    httpStatus: res.status,
  };
}

async function runOurs(c) {
  const middleware = c.inst.ours;
  const [view, lines] = await captured(async () => {
    try {
      return ourView(await middleware(requestOf(c)));
    } catch (error) {
      return { outcome: "threw", reason: null, location: null, setCookie: [], message: String(error?.message ?? error).slice(0, 120) };
    }
  });
  view.lines = lines;
  return view;
}

// ---------------------------------------------------------------------------------------------
// Comparison.

function parseLocation(value) {
  if (value == null) return null;
  try {
    const u = new URL(value);
    return { origin: u.origin, path: u.pathname, params: [...u.searchParams] };
  } catch {
    return { unparsable: value };
  }
}

const cookieName = (directive) => directive.split(";")[0].split("=")[0];

/** The disagreements of one case: [{ kind, detail }]. */
function compare(c, clerk, ours) {
  const out = [];
  const tag = `${clerk.outcome}${clerk.reason ? `/${clerk.reason}` : ""}`;
  if (clerk.outcome !== ours.outcome) {
    out.push({ kind: `outcome: clerk ${tag} vs ours ${ours.outcome}${ours.reason ? `/${ours.reason}` : ""}` });
    return out; // the rest follows from the outcome
  }
  // Clerk throws (no state, so no reason) where we answer 500 with a reason of our own.
  if (clerk.outcome === "error") return out;
  if ((clerk.reason ?? null) !== (ours.reason ?? null)) out.push({ kind: `reason (${clerk.outcome}): clerk ${clerk.reason} vs ours ${ours.reason}` });

  const a = parseLocation(clerk.location);
  const b = parseLocation(ours.location);
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    let what;
    if (!a || !b) what = a ? "missing on ours" : "extra on ours";
    else if (a.unparsable || b.unparsable) what = "unparsable";
    else if (a.origin !== b.origin) what = "origin";
    else if (a.path !== b.path) what = "path";
    else {
      const an = a.params.map(([n]) => n).join(",");
      const bn = b.params.map(([n]) => n).join(",");
      if (an !== bn) what = `param names [${an}] vs [${bn}]`;
      else {
        const k = a.params.findIndex(([, v], j) => v !== b.params[j][1]);
        what = `param ${a.params[k][0]}`;
      }
    }
    out.push({ kind: `location (${tag}): ${what}` });
  } else if (clerk.location !== ours.location) {
    // Same URL once parsed, written differently (percent-encoding, `+` for a space).
    out.push({ kind: `location (${tag}): same parameters, other encoding` });
  }

  if (JSON.stringify(clerk.setCookie) !== JSON.stringify(ours.setCookie)) {
    let what;
    const an = clerk.setCookie.map(cookieName).join(",");
    const bn = ours.setCookie.map(cookieName).join(",");
    if (an !== bn) what = `names [${an}] vs [${bn}]`;
    else {
      const k = clerk.setCookie.findIndex((v, j) => v !== ours.setCookie[j]);
      what = `value of ${cookieName(clerk.setCookie[k])}`;
    }
    out.push({ kind: `set-cookie (${tag}): ${what}` });
  }

  // Headers Clerk puts on redirects and on resolved return legs: ours must carry the same.
  for (const [field, name] of [["cacheControl", "cache-control"], ["acao", "access-control-allow-origin"], ["acac", "access-control-allow-credentials"]]) {
    if (clerk[field] != null && clerk[field] !== ours[field]) out.push({ kind: `header ${name} (${tag}): clerk ${clerk[field]} vs ours ${ours[field]}` });
  }
  return out;
}

/** Audit lines: the return-leg failures are logged, and no secret value is ever printed. */
const auditChecks = { "handshake.nonce_failed": 0, "handshake.token_refused": 0, lines: 0 };

function auditProblems(c, ours) {
  const out = [];
  const events = [];
  auditChecks.lines += ours.lines.length;
  for (const line of ours.lines) {
    if (/eyJ|hsn-|dvb-|sk_(live|test)_/.test(line)) out.push({ kind: "audit: a token, nonce, dev browser value or secret key in a log line" });
    try {
      const v = JSON.parse(line);
      if (v && typeof v.event === "string") events.push(v.event);
    } catch {
      // not an audit line
    }
  }
  if (c.nonceKind === "unknown") {
    auditChecks["handshake.nonce_failed"]++;
    if (!events.includes("handshake.nonce_failed")) out.push({ kind: "audit: unknown nonce (404) without a handshake.nonce_failed line" });
  }
  const refused = ["bad-signature", "template-cat", "machine-cat", "typ-not-jwt", "garbage"];
  if (c.hsVariant && !c.nonceKind && refused.includes(c.hsVariant)) {
    auditChecks["handshake.token_refused"]++;
    if (!events.includes("handshake.token_refused")) out.push({ kind: "audit: refused handshake token without a handshake.token_refused line" });
  }
  ours.events = events;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Reporting (no token ever printed: values are replaced by their labels).

function redact(text) {
  if (text == null) return text;
  return String(text)
    .replace(/eyJ[A-Za-z0-9_.%-]*/g, (t) => `<${labelOf(t.replaceAll("%2E", ".")) ?? "jwt"}>`)
    .replace(/hsn-[0-9a-z-]+/g, (t) => `<${labelOf(t) ?? "nonce"}>`)
    .replace(/dvb-[0-9a-z]+/g, "<dev-browser>");
}

function describeView(v) {
  const loc = parseLocation(v.location);
  return {
    outcome: v.outcome,
    reason: v.reason,
    ...(v.httpStatus !== undefined ? { status: v.httpStatus } : {}),
    ...(loc ? { location: loc.unparsable ? redact(loc.unparsable) : { origin: loc.origin, path: loc.path, params: loc.params.map(([n, val]) => [n, redact(val)]) } } : {}),
    ...(v.setCookie?.length ? { setCookie: v.setCookie.map(redact) } : {}),
    ...(v.message ? { message: redact(v.message) } : {}),
    ...(v.events?.length ? { audit: v.events } : {}),
  };
}

function describeCase(c) {
  return { ...c.labels, url: redact(c.url.replace(/(__clerk_handshake(?:_nonce)?|__clerk_db_jwt)=[^&]*/g, "$1=…")) };
}

// ---------------------------------------------------------------------------------------------


after(async () => {
  await api?.close();
});

test(`handshake: our pkg-js middleware agrees with @clerk/backend authenticateRequest on ${N} seeded requests`, async (t) => {
  const started = Date.now();
  key = await generateKeyPair("RS256", { extractable: true });
  otherKey = await generateKeyPair("RS256", { extractable: true });
  pem = await exportSPKI(key.publicKey);
  await buildPools();

  api = await startHandshakePayloadApi({ secretKeys: [PROD.secretKey, DEV.secretKey] });
  const { clerkEdgeMiddleware } = CLERK_ONLY ? {} : await import("../../pkg-js/index.js");
  for (const inst of INSTANCES) {
    inst.clerk = createClerkClient({
      secretKey: inst.secretKey,
      publishableKey: inst.pk,
      jwtKey: pem,
      apiUrl: api.url,
      ...(inst.proxyUrl ? { proxyUrl: inst.proxyUrl } : {}),
      telemetry: { disabled: true },
    });
    if (CLERK_ONLY) continue;
    inst.ours = clerkEdgeMiddleware({
      env: {
        CLERK_JWT_KEY: pem,
        CLERK_SECRET_KEY: inst.secretKey,
        CLERK_PUBLISHABLE_KEY: inst.pk,
        CLERK_API_URL: api.url,
        ...(inst.proxyUrl ? { CLERK_PROXY_URL: inst.proxyUrl } : {}),
      },
      fetch: globalThis.fetch,
    });
  }

  const table = new Map(); // family -> outcome -> count
  const clerkReasons = new Map();
  const outcomes = new Set();
  const kinds = new Map(); // kind -> { count, example }
  const known = new Map(); // id -> count
  let disagreeingCases = 0;

  for (let i = 0; i < N; i++) {
    const c = await genCase(i);
    const clerk = await runClerk(c);
    const row = table.get(c.family) ?? new Map();
    table.set(c.family, row);
    row.set(clerk.outcome, (row.get(clerk.outcome) ?? 0) + 1);
    outcomes.add(clerk.outcome);
    const reasonKey = clerk.reason ?? clerk.outcome;
    clerkReasons.set(reasonKey, (clerkReasons.get(reasonKey) ?? 0) + 1);
    const dump = (ours) => {
      if (i < DUMP) console.log(`case ${i} ${JSON.stringify(describeCase(c))}\n   clerk ${JSON.stringify(describeView(clerk))}${ours ? `\n   ours  ${JSON.stringify(describeView(ours))}` : ""}`);
    };
    if (CLERK_ONLY) {
      dump(null);
      continue;
    }

    const ours = await runOurs(c);
    let problems = compare(c, clerk, ours);
    if (problems.length > 0) {
      const forgiven = KNOWN_DIFFERENCES.find((d) => d.matches(c, clerk, ours));
      if (forgiven) {
        known.set(forgiven.id, (known.get(forgiven.id) ?? 0) + 1);
        problems = [];
      }
    }
    problems.push(...auditProblems(c, ours));
    dump(ours);
    if (problems.length > 0) disagreeingCases++;
    for (const { kind } of problems) {
      const entry = kinds.get(kind) ?? { count: 0, example: null };
      entry.count++;
      if (!entry.example || c.features < entry.example.features) entry.example = { features: c.features, c, clerk, ours };
      kinds.set(kind, entry);
    }
  }

  // The summary table.
  const families = [...table.keys()].sort();
  const allOutcomes = ["signed-in", "signed-out", "handshake", "error"];
  const pad = (s, n) => String(s).padEnd(n);
  const lines = [];
  lines.push(`handshake differential: seed ${SEED}, ${N} requests, ${((Date.now() - started) / 1000).toFixed(1)} s${CLERK_ONLY ? " (Clerk side only)" : ""}`);
  lines.push(`${pad("family (Clerk's outcome)", 26)}${allOutcomes.map((o) => pad(o, 12)).join("")}total`);
  for (const f of families) {
    const row = table.get(f);
    const total = [...row.values()].reduce((s, n) => s + n, 0);
    lines.push(`${pad(f, 26)}${allOutcomes.map((o) => pad(row.get(o) ?? 0, 12)).join("")}${total}`);
  }
  lines.push("Clerk's reasons:");
  for (const [r, n] of [...clerkReasons].sort((x, y) => y[1] - x[1])) lines.push(`  ${pad(n, 6)}${r}`);
  if (!CLERK_ONLY) {
    lines.push(`known differences forgiven: ${known.size ? [...known].map(([id, n]) => `${id} ×${n}`).join(", ") : "none"}`);
    lines.push(
      `audit lines: ${auditChecks.lines} (no token, nonce, dev browser value or secret key in any); ` +
        `handshake.nonce_failed checked on ${auditChecks["handshake.nonce_failed"]} unknown nonces, ` +
        `handshake.token_refused on ${auditChecks["handshake.token_refused"]} refused handshake tokens`,
    );
    lines.push(`disagreeing requests: ${disagreeingCases}; kinds: ${kinds.size}`);
    for (const [kind, { count, example }] of [...kinds].sort((x, y) => y[1].count - x[1].count)) {
      lines.push(`  ×${count}  ${kind}`);
      lines.push(`      request: ${JSON.stringify(describeCase(example.c))}`);
      lines.push(`      clerk:   ${JSON.stringify(describeView(example.clerk))}`);
      lines.push(`      ours:    ${JSON.stringify(describeView(example.ours))}`);
    }
  }
  console.log(lines.join("\n"));

  // The generator is not trivial.
  for (const o of ["signed-in", "signed-out", "handshake"]) assert.ok(outcomes.has(o), `Clerk never answered ${o}`);
  const distinctReasons = [...clerkReasons.keys()].filter((r) => !["signed-in", "error"].includes(r));
  assert.ok(distinctReasons.length >= 12, `only ${distinctReasons.length} distinct Clerk reasons: ${distinctReasons}`);
  if (CLERK_ONLY) return;
  assert.ok(auditChecks["handshake.nonce_failed"] > 0 && auditChecks["handshake.token_refused"] > 0, "the audit checks ran");
  assert.equal(kinds.size, 0, `${disagreeingCases} requests disagree, ${kinds.size} kinds (see the table above)`);
});
