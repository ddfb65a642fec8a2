// The package's public API: the one place that wraps the wasm-bindgen exports of src/js.rs
// (dist/clerk_edge_guard.js). Both entries (index.js for Node, edge.js for edge runtimes)
// initialise the wasm first and then re-export this module, so a new export is added here
// only. Nothing in this module may call into wasm at import time.
import * as wasm from "./dist/clerk_edge_guard.js";

/** @returns {string} the crate version */
export function version() {
  return wasm.version();
}

// The WebCrypto path of verifySessionToken (src/js_fast.rs): the wasm does everything but
// the RSA operation, which runs on the runtime's native `crypto.subtle` with each key imported
// once. `CryptoKey`s are cached by the wasm's key id (never reused for another key or hash).
const RSA_HASHES = { RS256: "SHA-256", RS384: "SHA-384", RS512: "SHA-512" };
const MAX_CRYPTO_KEYS = 16;
const cryptoKeys = new Map();
const utf8 = new TextEncoder();

/** The verifying `CryptoKey` of a pending check (or the promise of its import). */
function verifyingCryptoKey(subtle, check) {
  const cached = cryptoKeys.get(check.keyId);
  if (cached !== undefined) return cached;
  if (cryptoKeys.size >= MAX_CRYPTO_KEYS) cryptoKeys.clear();
  const imported = subtle.importKey(
    "jwk",
    { kty: "RSA", n: check.n, e: check.e, alg: check.alg, ext: true },
    { name: "RSASSA-PKCS1-v1_5", hash: RSA_HASHES[check.alg] },
    false,
    ["verify"],
  );
  cryptoKeys.set(check.keyId, imported);
  const settle = (key) => {
    if (cryptoKeys.get(check.keyId) !== imported) return;
    if (key === undefined) cryptoKeys.delete(check.keyId);
    else cryptoKeys.set(check.keyId, key);
  };
  imported.then(settle, () => settle(undefined));
  return imported;
}

/** Canonical base64url (as the wasm writes it) to bytes, without Node's Buffer. */
function base64urlBytes(text) {
  if (typeof Uint8Array.fromBase64 === "function") {
    return Uint8Array.fromBase64(text, { alphabet: "base64url" });
  }
  const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/**
 * Verifies a Clerk session token as `@clerk/backend`'s `verifyToken` does, with the same
 * reason codes. Async like Clerk's, so that the WebCrypto path can be used.
 */
export async function verifySessionToken(token, options = {}) {
  const now = typeof options.now === "number" ? options.now : Date.now();
  const { jwtKey, jwks, authorizedParties, clockSkewInMs } = options;
  const text = typeof token === "string" ? token : String(token ?? "");
  const optionsJson = JSON.stringify({ jwtKey, jwks, authorizedParties, clockSkewInMs });
  const subtle = globalThis.crypto?.subtle;
  if (subtle == null) {
    // No WebCrypto: the pure-Rust RSA decides (same answers, slower on a cache miss).
    return JSON.parse(wasm.verifySessionTokenJson(text, optionsJson, now));
  }
  const begun = JSON.parse(wasm.verifyBeginJson(text, optionsJson, now));
  if (begun.done !== undefined) return begun.done;
  let valid;
  try {
    const key = await verifyingCryptoKey(subtle, begun);
    const signature = base64urlBytes(begun.sig);
    valid = (await subtle.verify("RSASSA-PKCS1-v1_5", key, signature, utf8.encode(begun.data))) === true;
  } catch {
    valid = undefined; // WebCrypto failed (import or verify): the pure-Rust RSA decides.
  }
  const result = JSON.parse(wasm.verifyCompleteJson(begun.pending, valid, now));
  // The check was dropped from a full in-flight table: verify again on the slow path.
  return result.retry === true ? JSON.parse(wasm.verifySessionTokenJson(text, optionsJson, now)) : result;
}

/** Lower-case header map from a `Headers` object or a plain record. */
function headerRecord(headers) {
  const out = {};
  if (headers && typeof headers.forEach === "function" && typeof headers.get === "function") {
    headers.forEach((value, name) => {
      out[name.toLowerCase()] = value;
    });
  } else if (headers && typeof headers === "object") {
    for (const [name, value] of Object.entries(headers)) {
      if (typeof value === "string") out[name.toLowerCase()] = value;
    }
  }
  return out;
}

/** Verifies a Svix-signed webhook delivery (synchronous). */
export function verifyWebhook(input) {
  const { headers, body, secret, now } = input ?? {};
  const json = wasm.verifyWebhookJson(
    JSON.stringify(headerRecord(headers)),
    typeof body === "string" ? body : "",
    typeof secret === "string" ? secret : "",
    typeof now === "number" ? now : Date.now(),
  );
  return JSON.parse(json);
}

export { clerkEdgeMiddleware } from "./middleware.js";
export { createWebhookHandler, createRevokeHandler, createRestoreHandler } from "./handlers.js";
export { memoryStore, upstashStore } from "./stores.js";
