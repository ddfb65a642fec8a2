// RSA signature checks on the runtime's native crypto: `crypto.subtle` (~40 to 80 µs with the
// key imported once), or, under Node, node:crypto's synchronous `verify` (~20 µs: the same
// OpenSSL without WebCrypto's hop to the thread pool and back), installed by index.js with
// useSyncRsa. The wasm does everything else and describes each check as
// { alg, keyId, n, e, data, sig } (src/js_fast.rs for verifySessionToken, the Guard of
// src/js.rs for the middleware); keys are cached by `keyId`, which the wasm derives from the
// key, so a key is never reused for another.
const RSA_HASHES = { RS256: "SHA-256", RS384: "SHA-384", RS512: "SHA-512" };
const NODE_HASHES = { RS256: "sha256", RS384: "sha384", RS512: "sha512" };
const MAX_CRYPTO_KEYS = 16;
const cryptoKeys = new Map();
const utf8 = new TextEncoder();

let syncRsa = null;
const syncKeys = new Map();

/**
 * Installs a synchronous verifier: `{ importKey(jwk) -> key, verify(hash, data, key, sig)
 * -> boolean }`, with `data` the signed text and `sig` base64url (index.js wraps node:crypto's
 * createPublicKey and verify), or `null` to remove it.
 */
export function useSyncRsa(verifier) {
  syncRsa = verifier;
  syncKeys.clear();
}

/**
 * Runs one check synchronously: `true` or `false`, or `undefined` when there is no
 * synchronous verifier or it failed (then verifyRsaCheck, or the wasm's RSA, decides).
 */
export function verifyRsaCheckSync(check) {
  if (syncRsa === null) return undefined;
  try {
    let key = syncKeys.get(check.keyId);
    if (key === undefined) {
      if (syncKeys.size >= MAX_CRYPTO_KEYS) syncKeys.clear();
      key = syncRsa.importKey({ kty: "RSA", n: check.n, e: check.e });
      syncKeys.set(check.keyId, key);
    }
    return syncRsa.verify(NODE_HASHES[check.alg], check.data, key, check.sig) === true;
  } catch {
    return undefined;
  }
}

/** The runtime's SubtleCrypto, if it has one. */
export function subtleCrypto() {
  return globalThis.crypto?.subtle ?? null;
}

/** The verifying `CryptoKey` of a check (or the promise of its import). */
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
 * Runs one check: `true` or `false` as WebCrypto answered, `undefined` when WebCrypto is
 * missing or failed (import or verify), in which case the wasm's pure-Rust RSA decides.
 */
export async function verifyRsaCheck(check, subtle = subtleCrypto()) {
  if (subtle == null) return undefined;
  try {
    const key = await verifyingCryptoKey(subtle, check);
    const signature = base64urlBytes(check.sig);
    return (await subtle.verify("RSASSA-PKCS1-v1_5", key, signature, utf8.encode(check.data))) === true;
  } catch {
    return undefined;
  }
}
