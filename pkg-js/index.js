// Node entry (Node >= 20, ESM): compiles the wasm synchronously at import, so the package is
// ready once imported. The API itself lives in api.js, shared with the edge entry.
import { createPublicKey, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { initSync } from "./dist/clerk_edge_guard.js";
import { useSyncRsa } from "./webcrypto.js";

initSync({ module: readFileSync(new URL("./dist/clerk_edge_guard_bg.wasm", import.meta.url)) });
// The resync's own wasm, read and compiled at the first resyncUsers/verifySync.
import "./sync-node.js";
// Node's OpenSSL, synchronously: the RSA check of a fresh token without WebCrypto's round
// trip through the thread pool (the same library, so the same answers).
useSyncRsa({
  importKey: (jwk) => createPublicKey({ key: jwk, format: "jwk" }),
  verify: (hash, data, key, signature) =>
    verify(hash, Buffer.from(data), key, Buffer.from(signature, "base64url")),
});

export * from "./api.js";
// Node only: the post-incident report (its own wasm, compiled at the first report).
export { incidentReport, openIncidentReport } from "./report.js";
