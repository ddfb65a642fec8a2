#!/usr/bin/env node
// DEMO ONLY: local stand-ins for Clerk's Frontend API and Backend API, so that the handshake
// can be watched with no Clerk account (`scripts/dev.sh` starts this beside the Worker). The
// Frontend API is "signed in" as user_demo_1 / sess_demo_1 and mints fresh session tokens
// with demo/demo-private-key.pem, whose public half is the demo's CLERK_JWT_KEY; the nonce it
// hands out is redeemed at the Backend API's `GET /v1/clients/handshake_payload`. The same
// fakes serve the end-to-end tests (tests/support/).
//
// And Clerk's status page (healthy), for the diagnosis (`GET /__clerk/admin/diagnose`).
//
//   node demo/fake-clerk.mjs [frontend-api-port] [backend-api-port] [status-page-port]
//   (default 8789 8790 8791)
import { readFileSync } from "node:fs";
import { createPublicKey } from "node:crypto";
import { exportJWK, importPKCS8 } from "jose";

import { startFakeClerk } from "../tests/support/fake-clerk.mjs";
import { startFakeFrontendApi } from "../tests/support/fake-frontend-api.mjs";
import { startFakeStatusPage } from "../tests/support/fake-status-page.mjs";

/** The demo instance's Frontend API (the `iss` of demo tokens, as scripts/mint-demo-token.mjs). */
export const DEMO_ISSUER = "https://demo.clerk.accounts.dev";
/** The demo's secret key (wrangler.toml [env.demo.vars]); it opens nothing but these fakes. */
export const DEMO_SECRET_KEY = "sk_test_demo_local_fake_clerk_only";

const fapiPort = Number(process.argv[2] ?? 8789);
const bapiPort = Number(process.argv[3] ?? 8790);
const statusPort = Number(process.argv[4] ?? 8791);
const pem = readFileSync(new URL("demo-private-key.pem", import.meta.url), "utf8");
const privatePem = pem.slice(pem.indexOf("-----BEGIN"));
const kid = "ins_demo";
const key = {
  kid,
  privateKey: await importPKCS8(privatePem, "RS256"),
  jwk: { ...(await exportJWK(createPublicKey(privatePem))), kid, alg: "RS256", use: "sig" },
};

const clerk = await startFakeClerk({ secretKey: DEMO_SECRET_KEY, jwks: { keys: [key.jwk] }, port: bapiPort });
const fapi = await startFakeFrontendApi({
  clerk,
  key,
  issuer: DEMO_ISSUER,
  port: fapiPort,
  log: (line) => console.log(`[demo frontend api] ${line}`),
});
fapi.signIn({ userId: "user_demo_1", sessionId: "sess_demo_1" });
const statusPage = await startFakeStatusPage({ port: statusPort });
// A population for the resync runbook (README, runbook 4): DEMO_USERS users (default 5,000),
// the same ones on every start (fixed seed).
const demoUsers = Number(process.env.DEMO_USERS ?? 5_000);
if (demoUsers > 0) clerk.addUsers(demoUsers, { seed: 2026 });
console.log(
  `[demo] fake Clerk Frontend API on ${fapi.url} (signed in as user_demo_1), Backend API on ${clerk.url} ` +
    `with ${clerk.state.users.size} users, status page on ${statusPage.statusUrl}`,
);

const stop = async () => {
  await fapi.close();
  await clerk.close();
  await statusPage.close();
  process.exit(0);
};
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, stop);
