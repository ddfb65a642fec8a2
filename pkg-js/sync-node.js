// `clerk-edge-guard/sync` under Node: the same resyncUsers and verifySync as the package's main
// entry (index.js), whose resync wasm is read and compiled at the first call.
import { readFileSync } from "node:fs";
import { useSyncWasm } from "./sync.js";

useSyncWasm(() => readFileSync(new URL("./dist/clerk_edge_guard_sync_bg.wasm", import.meta.url)));

export { SyncError, resyncUsers, verifySync } from "./sync.js";
