// `clerk-edge-guard/sync`: the user resync and integrity check, with the resync's own wasm.
// Under Node the package's main entry exports the same functions; edge code imports them from
// here (the middleware's bundle does not carry the resync).
export { SyncError, resyncUsers, verifySync } from "./index.js";
export type * from "./index.js";
