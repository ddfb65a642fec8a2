// Node entry (Node >= 20, ESM): compiles the wasm synchronously at import, so the package is
// ready once imported. The API itself lives in api.js, shared with the edge entry.
import { readFileSync } from "node:fs";
import { initSync } from "./dist/clerk_edge_guard.js";

initSync({ module: readFileSync(new URL("./dist/clerk_edge_guard_bg.wasm", import.meta.url)) });

export * from "./api.js";
// Node only: the post-incident report (its own wasm, compiled at the first report).
export { incidentReport, openIncidentReport } from "./report.js";
