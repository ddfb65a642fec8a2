#!/usr/bin/env node
// DEMO ONLY: a returning visitor, step by step. Puts an expired demo session (and
// `__client_uat`) in a cookie jar, opens a protected page of the demo Worker as a browser
// would (a GET document request), follows every redirect by hand and prints each hop: the
// 307 to the Frontend API, its 307 back with the nonce cookie, and the page, served signed in
// with the fresh cookies. Needs `bash scripts/dev.sh` running.
//
//   node demo/handshake.mjs [--worker http://127.0.0.1:8787] [--path /hello]
import { parseArgs } from "node:util";
import { execFileSync } from "node:child_process";

import { CookieJar, DOCUMENT_HEADERS, HttpClient, formatTrace } from "../tests/e2e/support/cookie-jar.mjs";

const { values: opts } = parseArgs({
  options: {
    worker: { type: "string", default: "http://127.0.0.1:8787" },
    path: { type: "string", default: "/hello" },
  },
});

const expired = execFileSync(process.execPath, [
  new URL("../scripts/mint-demo-token.mjs", import.meta.url).pathname,
  "--exp-in=-120",
]).toString().trim();
const jar = new CookieJar();
const page = new URL(opts.path, opts.worker);
const uat = Math.floor(Date.now() / 1000) - 3600;
jar.set(page, `__session=${expired}; Path=/`);
jar.set(page, `__client_uat=${uat}; Path=/`);

let result;
try {
  result = await new HttpClient({ jar, maxHops: 6 }).get(page, { headers: DOCUMENT_HEADERS });
} catch (error) {
  console.error(`cannot reach the demo Worker at ${opts.worker}: start it with bash scripts/dev.sh (${error.cause?.code ?? error.message})`);
  process.exit(1);
}
console.log("A returning visitor (expired __session, __client_uat > 0) opens", page.href);
console.log(formatTrace(result.trace));
console.log(`\nanswer ${result.status}, ${result.trace.length - 1} redirect(s); the origin saw:`);
console.log(result.text.trim());
process.exit(result.status === 200 ? 0 : 1);
