// `clerk-edge-guard/sync` in edge runtimes: resyncUsers and verifySync with the resync's own
// wasm, which the bundler hands over for the `?module` import (as edge.js does for the
// middleware's). Imported on its own so that the middleware's bundle does not carry it.
import syncWasmModule from "./dist/clerk_edge_guard_sync_bg.wasm?module";
import { useSyncWasm } from "./sync.js";

useSyncWasm(() => syncWasmModule);

export { SyncError, resyncUsers, verifySync } from "./sync.js";
