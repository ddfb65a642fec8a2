// End-to-end test support: the built Worker in workerd via `wrangler dev` (loopback only),
// and an echo origin. Every process a test starts is killed when the test process ends.
export { startWorker, startWranglerDev, freePort, repoRoot } from "./worker.mjs";
export { startOrigin } from "./origin.mjs";
export { queryD1 } from "./d1.mjs";
export { svixHeaders } from "./svix.mjs";
