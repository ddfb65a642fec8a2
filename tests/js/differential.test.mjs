// Differential test: thousands of tokens, valid and mutated, minted with `jose` (and by hand
// where jose refuses to make something broken), verified by @clerk/backend's verifyToken
// (networkless: jwtKey, clock pinned) and by our verifySessionToken from pkg-js. Every token
// must get the same status and the same reason code from both.
//
// pkg-js checks RSA signatures on the runtime's crypto: under Node, node:crypto's synchronous
// verify (what index.js installs); elsewhere WebCrypto (`crypto.subtle`); with neither, the
// wasm's own RSA. DIFFERENTIAL_RSA picks the path held to @clerk/backend: `node` (default),
// `webcrypto` (the synchronous verifier removed, as on edge runtimes) or `rust` (that too, and
// `globalThis.crypto` hidden during each of our calls; jose and @clerk/backend keep theirs);
// differential-fallback.test.mjs runs the last two. Each mode also proves that its path
// really ran, by counting our calls into each verifier.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, createPublicKey, createSign, generateKeyPairSync, verify as nodeVerify } from "node:crypto";
import { verifyToken } from "@clerk/backend";
import { SignJWT, exportSPKI, generateKeyPair } from "jose";
import { verifySessionToken } from "../../pkg-js/index.js";
import { useSyncRsa } from "../../pkg-js/webcrypto.js";
import { seeded } from "./support/prng.mjs";

const NOW_S = 1_760_000_000;
const NOW_MS = NOW_S * 1000 + 417; // not on a second boundary, as real clocks are not
const CASES = Number(process.env.DIFFERENTIAL_CASES ?? 3000);
const RSA_PATH = process.env.DIFFERENTIAL_RSA ?? "node";
assert.ok(["node", "webcrypto", "rust"].includes(RSA_PATH), `DIFFERENTIAL_RSA=${RSA_PATH}: node, webcrypto or rust`);
const RSA_NAMES = { node: "node:crypto RSA", webcrypto: "WebCrypto RSA", rust: "pure-Rust RSA" };

// Counts the RSA checks made while our verifySessionToken runs (the tests are sequential, so
// none of them is @clerk/backend's), on each path.
let inOurCall = false;
const ourVerifies = { node: 0, webcrypto: 0 };
const subtleVerify = globalThis.crypto.subtle.verify;
globalThis.crypto.subtle.verify = function verify(...args) {
  if (inOurCall) ourVerifies.webcrypto++;
  return subtleVerify.apply(this, args);
};
useSyncRsa(
  RSA_PATH === "node"
    ? {
        importKey: (jwk) => createPublicKey({ key: jwk, format: "jwk" }),
        verify: (hash, data, key, sig) => {
          ourVerifies.node++;
          return nodeVerify(hash, Buffer.from(data), key, Buffer.from(sig, "base64url"));
        },
      }
    : null,
);

const b64url = (buf) => Buffer.from(buf).toString("base64url");
const b64json = (obj) => b64url(Buffer.from(typeof obj === "string" ? obj : JSON.stringify(obj)));

async function clerkOutcome(token, options, now = NOW_MS) {
  const realNow = Date.now;
  Date.now = () => now;
  try {
    // The package's verifyToken returns the payload and throws a TokenVerificationError.
    const payload = await verifyToken(token, options);
    return { status: "signed-in", claims: payload };
  } catch (e) {
    return { status: "signed-out", reason: e?.reason ?? `throw:${e?.name}` };
  } finally {
    Date.now = realNow;
  }
}

async function ourOutcome(token, options, now = NOW_MS) {
  let pending;
  inOurCall = true;
  try {
    if (RSA_PATH === "rust") {
      // verifySessionToken looks for WebCrypto synchronously, and its fallback path is
      // synchronous throughout: hiding `crypto` around the call hides it from us alone.
      const crypto = Object.getOwnPropertyDescriptor(globalThis, "crypto");
      Object.defineProperty(globalThis, "crypto", { value: undefined, configurable: true });
      try {
        pending = verifySessionToken(token, { ...options, now });
      } finally {
        Object.defineProperty(globalThis, "crypto", crypto);
      }
    } else {
      pending = verifySessionToken(token, { ...options, now });
    }
    // The whole result: the claims of a signed-in token must be Clerk's payload, field by field.
    return await pending;
  } finally {
    inOurCall = false;
  }
}

function assertPathUsed() {
  const { node, webcrypto } = ourVerifies;
  if (RSA_PATH === "node") assert.ok(node > 0 && webcrypto === 0, `node:crypto must check the signatures (${node}, ${webcrypto})`);
  if (RSA_PATH === "webcrypto") assert.ok(webcrypto > 0 && node === 0, `crypto.subtle must check the signatures (${node}, ${webcrypto})`);
  if (RSA_PATH === "rust") assert.ok(webcrypto === 0 && node === 0, "the fallback must touch neither node:crypto nor crypto.subtle");
}

test("our verifySessionToken agrees with @clerk/backend's verifyToken on every token", async (t) => {
  const { publicKey, privateKey } = await generateKeyPair("RS256", { extractable: true });
  const pem = await exportSPKI(publicKey);
  const other = await generateKeyPair("RS256", { extractable: true });
  const otherPem = await exportSPKI(other.publicKey);
  const ec = await generateKeyPair("ES256");
  const nodeKeys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const nodePem = nodeKeys.publicKey.export({ type: "spki", format: "pem" });

  const seed = Number(process.env.DIFFERENTIAL_SEED ?? 20261125);
  // Seeded (support/prng.mjs) so that a failure can be replayed (seed printed on failure).
  const { rand, pick, chance } = seeded(seed);
  const offset = () => pick([-7200, -3601, -61, -6, -5, -4, -1, 0, 1, 4, 5, 6, 30, 61, 3600]);

  function claims() {
    const c = {
      sub: `user_${Math.floor(rand() * 1e9)}`,
      sid: `sess_${Math.floor(rand() * 1e9)}`,
      iss: "https://clerk.example.com",
      azp: pick(["https://app.example.com", "https://app.example.com/", "https://evil.example", undefined]),
      iat: NOW_S + (chance(0.3) ? offset() : -10),
      nbf: NOW_S + (chance(0.3) ? offset() : -20),
      exp: NOW_S + (chance(0.4) ? offset() : 60),
    };
    if (chance(0.05)) delete c.sub;
    if (chance(0.03)) c.sub = 42;
    if (chance(0.03)) c.sub = "";
    if (chance(0.04)) delete c.exp;
    if (chance(0.03)) c.exp = String(c.exp);
    if (chance(0.03)) c.exp += 0.75;
    if (chance(0.02)) c.exp = 1e300;
    if (chance(0.04)) delete c.nbf;
    if (chance(0.03)) c.nbf = null;
    if (chance(0.04)) delete c.iat;
    if (chance(0.03)) c.iat = "soon";
    if (chance(0.05)) { c.v = 2; c.o = { id: "org_1", rol: "admin", slg: "acme" }; }
    for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
    return c;
  }

  function header() {
    const h = { alg: "RS256", kid: "ins_test", typ: "JWT" };
    if (chance(0.1)) delete h.typ;
    if (chance(0.04)) h.typ = pick(["at+jwt", "jwt", null, 1]);
    if (chance(0.05)) delete h.kid;
    if (chance(0.03)) h.cat = pick(["cl_B7d4PD333AAA", "cl_B7d4PD111AAA", "other"]);
    if (chance(0.03)) h.crit = ["exp"];
    if (chance(0.03)) h.jku = "https://attacker.example/jwks.json";
    return h;
  }

  function rsaSign(alg, input, key = nodeKeys.privateKey) {
    const hash = { RS256: "RSA-SHA256", RS384: "RSA-SHA384", RS512: "RSA-SHA512" }[alg];
    return createSign(hash).update(input).sign(key);
  }

  async function mint() {
    try {
      return await mintOnce();
    } catch {
      // jose refuses to sign some broken claims (e.g. a string exp): mint the next one.
      return mintOnce();
    }
  }

  async function mintOnce() {
    const h = header();
    const c = claims();
    const kind = pick(["rs", "rs", "rs", "rs", "alg", "structure", "jose"]);
    if (kind === "jose") {
      // jose itself as the minting oracle for well-formed tokens.
      return new SignJWT(c).setProtectedHeader({ alg: "RS256", kid: "ins_test", typ: "JWT" }).sign(privateKey);
    }
    if (kind === "alg") {
      const alg = pick(["RS384", "RS512", "none", "HS256", "PS256", "ES256", "", undefined]);
      const hh = { ...h, alg };
      if (alg === undefined) delete hh.alg;
      const input = `${b64json(hh)}.${b64json(c)}`;
      let sig = "";
      if (alg === "RS384" || alg === "RS512") sig = b64url(rsaSign(alg, input));
      else if (alg === "HS256") sig = b64url(createHmac("sha256", nodePem).update(input).digest());
      else if (alg === "ES256") return new SignJWT(c).setProtectedHeader({ ...h, crit: undefined, alg: "ES256" }).sign(ec.privateKey);
      else if (alg === "PS256") sig = b64url(rsaSign("RS256", input));
      return `${input}.${sig}`;
    }
    const input = `${b64json(h)}.${b64json(c)}`;
    const token = `${input}.${b64url(rsaSign("RS256", input))}`;
    if (kind === "rs") return token;
    const [p0, p1, p2] = token.split(".");
    return pick([
      () => "",
      () => p0,
      () => `${p0}.${p1}`,
      () => `${token}.extra`,
      () => `${p0}.${p1}.${p2.slice(0, -4)}`,
      () => `${p0}.${p1}.${p2}==`,
      () => `${p0}==.${p1}.${p2}`,
      () => `${p0}.${p1.slice(0, -1)}.${p2}`,
      () => `${p0}.${p1}x.${p2}`,
      () => `${p0}.${p1.replace(/.$/, (ch) => (ch === "A" ? "B" : "A"))}.${p2}`,
      () => `${p0}.${b64json({ ...c, sub: "user_admin" })}.${p2}`,
      () => `${p0}.${p1}.${p2.replace(/^./, (ch) => (ch === "A" ? "B" : "A"))}`,
      () => `${p0}.${p1}.${p2}+`,
      () => `${b64json("not json")}.${p1}.${p2}`,
      () => `${b64json([1, 2])}.${p1}.${p2}`,
      () => `${b64json(7)}.${p1}.${p2}`,
      () => `${p0}.${b64json("[]")}.${p2}`,
      () => ` ${token}`,
      () => `${p0}.${p1}.`,
    ])();
  }

  const optionSets = [
    { jwtKey: nodePem },
    { jwtKey: nodePem, authorizedParties: ["https://app.example.com"] },
    { jwtKey: nodePem, clockSkewInMs: 0 },
    { jwtKey: nodePem, clockSkewInMs: 60000, authorizedParties: ["https://app.example.com", ""] },
    { jwtKey: otherPem },
    { jwtKey: pem },
  ];

  let mismatches = [];
  const reasons = new Map();
  for (let i = 0; i < CASES; i++) {
    const token = await mint();
    const options = pick(optionSets);
    const theirs = await clerkOutcome(token, options);
    const ours = await ourOutcome(token, options);
    const key = theirs.reason ?? theirs.status;
    reasons.set(key, (reasons.get(key) ?? 0) + 1);
    if (theirs.reason?.startsWith("throw:")) {
      // @clerk/backend throws (a TypeError) on a few shapes instead of answering; a refusal
      // with token-invalid is ours. Still a refusal on both sides.
      assert.equal(ours.status, "signed-out", `case ${i}: Clerk threw, we let it in`);
      continue;
    }
    try {
      assert.deepEqual(ours, theirs);
    } catch {
      mismatches.push({ i, token, options: { ...options, jwtKey: options.jwtKey === nodePem ? "nodePem" : "other" }, theirs, ours });
    }
  }
  t.diagnostic(`seed ${seed}, ${CASES} tokens, ${RSA_NAMES[RSA_PATH]}, outcomes: ${JSON.stringify(Object.fromEntries(reasons))}`);
  assertPathUsed();
  assert.ok(reasons.size >= 8, `the generator must reach many outcomes, got ${[...reasons.keys()]}`);
  assert.ok((reasons.get("signed-in") ?? 0) > CASES / 20, "enough valid tokens");
  assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} mismatches (first 5 shown)`);
});

// The verified-token cache must not change a single answer: the same tokens asked again
// under other claim rules (authorized parties, clock skew) and at other times must still get
// Clerk's answer, though the signature is no longer re-checked.
test("cache hits give the same answers as @clerk/backend", async () => {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwtKey = keys.publicKey.export({ type: "spki", format: "pem" });
  const sign = (input) => b64url(createSign("RSA-SHA256").update(input).sign(keys.privateKey));
  const tokens = [];
  for (let i = 0; i < 60; i++) {
    const claims = { sub: `user_${i}`, sid: `sess_${i}`, iat: NOW_S - 10, exp: NOW_S + (i % 7) * 3 - 6, azp: i % 2 ? "https://app.example.com" : "https://x.example" };
    const input = `${b64json({ alg: "RS256", typ: "JWT", kid: "k" })}.${b64json(claims)}`;
    tokens.push(`${input}.${i % 5 === 0 ? sign("forged") : sign(input)}`);
  }
  const ruleSets = [
    {},
    { authorizedParties: ["https://app.example.com"] },
    { clockSkewInMs: 0 },
    { clockSkewInMs: 20000, authorizedParties: ["https://x.example"] },
  ];
  let compared = 0;
  for (const rules of ruleSets) {
    for (const token of tokens) {
      const options = { jwtKey, ...rules };
      assert.deepEqual(await ourOutcome(token, options), await clerkOutcome(token, options), `rules ${JSON.stringify(rules)}`);
      compared++;
    }
  }
  assert.equal(compared, tokens.length * ruleSets.length);
  assertPathUsed();
});

// Concurrent calls: more checks in flight than the wasm keeps (1024) must still get Clerk's
// answers (the oldest checks are dropped and verified again on the slow path).
test("concurrent calls beyond the in-flight bound agree with @clerk/backend", async () => {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwtKey = keys.publicKey.export({ type: "spki", format: "pem" });
  const sign = (input) => b64url(createSign("RSA-SHA256").update(input).sign(keys.privateKey));
  const tokens = [];
  for (let i = 0; i < 1300; i++) {
    const input = `${b64json({ alg: "RS256", typ: "JWT" })}.${b64json({ sub: `user_c${i}`, iat: NOW_S - 10, exp: NOW_S + 60 })}`;
    tokens.push(`${input}.${i % 10 === 0 ? sign("forged") : sign(input)}`);
  }
  const ours = await Promise.all(tokens.map((token) => ourOutcome(token, { jwtKey })));
  for (const [i, token] of tokens.entries()) {
    assert.deepEqual(ours[i], await clerkOutcome(token, { jwtKey }), `token ${i}`);
  }
});

// Answers seen once are kept in pkg-js (api.js) until the wasm says they could change: a
// signed-in token until `exp` plus the skew, a lasting refusal for ever. The same tokens asked
// again as the clock moves on (across `exp`, `nbf` and `iat`, with and without skew) and as
// it goes back must still get Clerk's answer at each moment.
test("answers kept between calls follow the clock as @clerk/backend does", async () => {
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwtKey = keys.publicKey.export({ type: "spki", format: "pem" });
  const sign = (input) => b64url(createSign("RSA-SHA256").update(input).sign(keys.privateKey));
  const tokens = [];
  for (const [i, claims] of [
    { exp: NOW_S + 2 },
    { exp: NOW_S - 4 },
    { exp: NOW_S + 2.5 },
    { exp: NOW_S + 60, nbf: NOW_S + 3 },
    { exp: NOW_S + 60, iat: NOW_S + 7 },
    { exp: NOW_S + 1e12 },
    { exp: "soon" },
    {},
  ].entries()) {
    const input = `${b64json({ alg: "RS256", typ: "JWT" })}.${b64json({ sub: `user_t${i}`, ...claims })}`;
    tokens.push(`${input}.${sign(input)}`, `${input}.${sign("forged")}`);
  }
  const moments = [0, 500, 1500, 2000, 2583, 3000, 4000, 6000, 8000, 12000, -9000, 1000, 30000];
  const outcomes = new Set();
  let compared = 0;
  for (const rules of [{}, { clockSkewInMs: 0 }, { clockSkewInMs: 3000 }]) {
    for (const moment of moments) {
      for (const token of tokens) {
        const options = { jwtKey, ...rules };
        const now = NOW_MS + moment;
        const theirs = await clerkOutcome(token, options, now);
        assert.deepEqual(await ourOutcome(token, options, now), theirs, `${JSON.stringify(rules)} at +${moment} ms`);
        outcomes.add(theirs.reason ?? theirs.status);
        compared++;
      }
    }
  }
  assert.equal(compared, 3 * moments.length * tokens.length);
  for (const reached of ["signed-in", "token-expired", "token-not-active-yet", "token-iat-in-the-future", "token-invalid-signature"]) {
    assert.ok(outcomes.has(reached), `the clock must reach ${reached}: ${[...outcomes]}`);
  }
});

// verifySessionToken sends its options to the wasm once, under an id; if other options were
// kept since (the slow path's verifySessionTokenJson keeps its own), the wasm must ask for
// them again rather than verify under the wrong ones.
test("the wasm never verifies under options other than the ones named", async () => {
  const wasm = await import("../../pkg-js/dist/clerk_edge_guard.js");
  const keys = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwtKey = keys.publicKey.export({ type: "spki", format: "pem" });
  const input = `${b64json({ alg: "RS256", typ: "JWT" })}.${b64json({ sub: "user_o", iat: NOW_S - 10, exp: NOW_S + 60 })}`;
  const token = `${input}.${b64url(createSign("RSA-SHA256").update(input).sign(keys.privateKey))}`;
  const id = wasm.verifyOptions(JSON.stringify({ jwtKey }));
  assert.notEqual(JSON.parse(wasm.verifyBeginJson(token, id, NOW_MS)).resend, true);
  wasm.verifySessionTokenJson(token, JSON.stringify({ jwtKey, authorizedParties: ["https://x.example"] }), NOW_MS);
  assert.deepEqual(JSON.parse(wasm.verifyBeginJson(token, id, NOW_MS)), { resend: true });
  // And the public call still answers under its own options.
  assert.equal((await ourOutcome(token, { jwtKey })).status, "signed-in");
});
