#!/usr/bin/env node
// Prints a demo Clerk session token (RS256) signed with demo/demo-private-key.pem, which
// `wrangler dev --env demo` accepts (its CLERK_JWT_KEY is the public half). DEMO ONLY.
//
//   node scripts/mint-demo-token.mjs [--sub user_demo_1] [--sid sess_demo_1]
//        [--exp-in 600] [--nbf-in 0] [--azp http://localhost:3000] [--org-id org_demo_1]
//        [--org-role org:admin] [--kid ins_demo] [--iss URL] [--key path/to/pkcs8.pem]
//   Times are seconds from now; a negative one needs `=`: --exp-in=-60 (an expired token).
//
//   curl -H "Authorization: Bearer $(node scripts/mint-demo-token.mjs)" http://127.0.0.1:8787/
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SignJWT, importPKCS8 } from "jose";

const { values: opts } = parseArgs({
  options: {
    sub: { type: "string", default: "user_demo_1" },
    sid: { type: "string", default: "sess_demo_1" },
    "exp-in": { type: "string", default: "600" },
    "nbf-in": { type: "string", default: "0" },
    azp: { type: "string" },
    "org-id": { type: "string" },
    "org-role": { type: "string" },
    kid: { type: "string", default: "ins_demo" },
    iss: { type: "string", default: "https://demo.clerk.accounts.dev" },
    key: { type: "string", default: new URL("../demo/demo-private-key.pem", import.meta.url).pathname },
    help: { type: "boolean", short: "h" },
  },
});

if (opts.help) {
  console.log(readFileSync(new URL(import.meta.url), "utf8").split("\n").slice(1, 10).join("\n"));
  process.exit(0);
}

const seconds = (name) => {
  const n = Number(opts[name]);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer number of seconds`);
  return n;
};

// The demo key file starts with a warning paragraph; jose wants the PEM block alone.
const pemText = readFileSync(opts.key, "utf8");
const pem = pemText.slice(pemText.indexOf("-----BEGIN PRIVATE KEY-----"));
const key = await importPKCS8(pem, "RS256");

const now = Math.floor(Date.now() / 1000);
const claims = { sid: opts.sid };
if (opts.azp) claims.azp = opts.azp;
if (opts["org-id"]) {
  claims.org_id = opts["org-id"];
  claims.org_role = opts["org-role"] ?? "org:member";
}

const token = await new SignJWT(claims)
  .setProtectedHeader({ alg: "RS256", kid: opts.kid, typ: "JWT" })
  .setSubject(opts.sub)
  .setIssuer(opts.iss)
  .setIssuedAt(now)
  .setNotBefore(now + seconds("nbf-in"))
  .setExpirationTime(now + seconds("exp-in"))
  .sign(key);

console.log(token);
