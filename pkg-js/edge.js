// Edge entry (Next.js edge middleware, Vercel Edge, workerd): the bundler hands over the
// compiled WebAssembly.Module for a `?module` import; no fetch, no fs, no async init.
// The wasm is imported relatively: Turbopack does not follow `?module` through `exports`.
import wasmModule from "./dist/clerk_edge_guard_bg.wasm?module";
import { initSync } from "./dist/clerk_edge_guard.js";

initSync({ module: wasmModule });
// The resync's wasm is not referenced here: bundlers ship every wasm an entry can reach, even
// through a dynamic import, and the middleware never runs the job. Edge code that does
// imports resyncUsers and verifySync from `clerk-edge-guard/sync` (sync-edge.js).

export * from "./api.js";
