// Writes the committed seed corpora of the fuzz targets (fuzz/seeds/<target>/) from the
// reference vectors in tests/fixtures/reference/vectors/: Clerk's session JWTs (signed with
// the fixture's public test key pair), publishable keys and cookie suffixes, Svix's webhook
// vectors and Clerk's example events. Deterministic: running it again rewrites the same
// files. Fields of an input are separated by NUL bytes (fuzz/src/lib.rs, `Fields`).
//
//   node fuzz/seeds/make-seeds.mjs
import { createSign } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const vectors = join(here, "../../tests/fixtures/reference/vectors");
const jwt = JSON.parse(readFileSync(join(vectors, "clerk_session_jwt_vectors.json"), "utf8"));
const svix = JSON.parse(readFileSync(join(vectors, "svix_webhook_vectors.json"), "utf8"));
const events = JSON.parse(readFileSync(join(vectors, "clerk_webhook_event_examples.json"), "utf8"));

const NUL = "\0";
const ABSENT = "\x01";
const tok = (name) => jwt.tokens[name].jwt;
const b64url = (v) => Buffer.from(JSON.stringify(v)).toString("base64url");
// A token signed with the fixture's TEST-ONLY private key (Clerk's public test fixture).
function sign(header, payload) {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const s = createSign("RSA-SHA256");
  s.update(input);
  return `${input}.${s.sign(jwt.keys.private_key_pem_pkcs8_TEST_ONLY).toString("base64url")}`;
}
const kid = jwt.keys.jwks.keys[0].kid;
const NOW = 1666648250;
const iss = "https://clerk.inspired.puma-74.lcl.dev";
const session = (extra = {}) =>
  sign({ alg: "RS256", typ: "JWT", kid }, { iss, sub: "user_2GIoQhbUpy0hX7B2cVkuTMinXoD", sid: "sess_2GbDB4enNdCa5vS1zpC3Xzg9tK9", iat: NOW, nbf: NOW - 10, exp: NOW + 60, ...extra });
const fresh = session();
const v2 = session({ v: 2, o: { id: "org_1", rol: "admin" } });
const suffix = jwt.cookie_suffix.cases[0].suffix;

const seeds = {};
const add = (target, name, ...fields) => {
  (seeds[target] ??= {})[name] = fields.join(NUL);
};

// token: token \0 now \0 choices
for (const o of jwt.expected_outcomes_default_skew_5000ms) {
  const t = jwt.tokens[o.token]?.jwt ?? o.token;
  const parties = (o.authorizedParties ?? []).length === 0 ? 0 : o.authorizedParties.includes("https://example.com") ? 2 : 1;
  const jwks = o.key === "jwks" ? 1 : 0;
  add("token", `${o.token}-${o.now}-${o.key}-${parties}`, t, String(o.now), String.fromCharCode(jwks, 0x08, 0x13, parties));
}
add("token", "signed-v2-org", v2, String(NOW), "");
add("token", "signed-rs384-header", sign({ alg: "RS384", kid }, { sub: "user_1", exp: NOW + 60 }), String(NOW), "");

// request_headers: authorization \0 cookie \0 method \0 path \0 dest \0 accept \0 now \0 choices
add("request_headers", "bearer-valid", `Bearer ${tok("mockJwt")}`, ABSENT, "GET", "/app", ABSENT, ABSENT, String(NOW), "\0\0\0\0");
add("request_headers", "bearer-expired-grace", `Bearer ${tok("mockExpiredJwt")}`, ABSENT, "GET", "/app", ABSENT, ABSENT, String(NOW), "\0\x01\0\0");
add("request_headers", "cookie-valid", ABSENT, `__session=${fresh}; __client_uat=${NOW - 100}`, "GET", "/dashboard", "document", "text/html", String(NOW), "\x02\0\0\x01");
add("request_headers", "cookie-suffixed", ABSENT, `__session=${tok("mockExpiredJwt")}; __session_${suffix}=${fresh}; __client_uat_${suffix}=${NOW - 100}; __client_uat=0`, "GET", "/", "document", "text/html", String(NOW), "\x01\0\0\0");
add("request_headers", "cookie-expired-handshake", ABSENT, `__session=${tok("mockExpiredJwt")}; __client_uat=${NOW - 100}`, "GET", "/page?x=1", "document", "text/html", String(NOW), "\x01\0\0\0");
add("request_headers", "tampered-azp", `Bearer ${tok("mockInvalidSignatureJwt")}`, ABSENT, "POST", "/api", ABSENT, "application/json", String(NOW), "\0\0\x01\0");
add("request_headers", "no-token-doc", ABSENT, ABSENT, "GET", "/public/../admin", "document", ABSENT, String(NOW), "\0\x02\0\0");

// handshake: cookie \0 path \0 payload \0 method \0 dest \0 referer \0 fwd-host \0 now \0 choices
const payload = JSON.stringify({ directives: [`__session=${fresh}; Path=/; SameSite=Lax`, `__client_uat=${NOW}; Path=/`] });
add("handshake", "prod-nonce", "__client_uat=0", "/page?__clerk_handshake_nonce=nonce_fuzz_abcdefgh12345", payload, "GET", "document", ABSENT, ABSENT, String(NOW), "\0\0");
add("handshake", "prod-nonce-cookie", `__clerk_handshake_nonce=nonce_fuzz_abcdefgh12345; __session=${tok("mockExpiredJwt")}; __client_uat=${NOW - 100}`, "/", payload, "GET", "document", ABSENT, ABSENT, String(NOW), "\0\x01");
const hsToken = sign({ alg: "RS256", kid }, { handshake: [`__session=${fresh}; Path=/`, `__client_uat=${NOW}; Path=/`] });
add("handshake", "dev-token", "__clerk_db_jwt=dvb_1", `/page?__clerk_handshake=${hsToken}`, "", "GET", "document", ABSENT, ABSENT, String(NOW), "\x01\0");
add("handshake", "expired-redirect", `__session=${tok("mockExpiredJwt")}; __client_uat=${NOW - 100}; __clerk_redirect_count=2`, "/page", "", "GET", "document", "https://accounts.inspired.puma-74.lcl.dev/", "app.example.com", String(NOW), "\0\0");
add("handshake", "dev-browser-missing", `__session=${fresh}; __client_uat=${NOW - 100}`, "/", "", "GET", "document", ABSENT, ABSENT, String(NOW), "\x01\0");

// webhook: id \0 timestamp \0 signature \0 secrets \0 now \0 choices \0 body
for (const v of svix.positive) {
  add("webhook", v.name, v.msg_id, String(v.timestamp), v.expected_signature, v.secret, String(v.timestamp), "\0\0", v.payload);
  add("webhook", `${v.name}-alias-appended`, v.msg_id, String(v.timestamp), "", v.secret, String(v.timestamp + 299), "\x01\x01", v.payload);
}
const base = svix.positive.find((v) => v.name === svix.multi_signature.base_vector) ?? svix.positive[0];
svix.multi_signature.cases.forEach((c, i) => add("webhook", `multi-${i}`, base.msg_id, String(base.timestamp), c.header ?? c.signature_header ?? "", base.secret, String(base.timestamp), "\0\0", base.payload));
const event = JSON.stringify(events.events["user.created"]);
add("webhook", "clerk-user-created-rotation", "msg_fuzz_1", String(NOW), "", `whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ${base.secret}`, String(NOW), "\0\x01", event);

// webhook_event: the payload
for (const [type, body] of Object.entries(events.events)) add("webhook_event", type, JSON.stringify(body));

// admin_body: method \0 authorization \0 content-type \0 content-length \0 admin token \0 route \0 body
const admin = "demo-admin-token-9ff0bcba373113f203aba8cb4b11b66e";
const heads = ["POST", `Bearer ${admin}`, "application/json; charset=utf-8", "", admin];
add("admin_body", "revoke-user-ban", ...heads, "\0", JSON.stringify({ user_id: "user_2GIoQhbUpy0hX7B2cVkuTMinXoD", ban: true, reason: "INC-2026-002 account takeover" }));
add("admin_body", "restore-session", ...heads, "\x01", JSON.stringify({ session_id: "sess_2Gb", reason: "stolen laptop", dry_run: true }));
add("admin_body", "resync-start", ...heads, "\x02", JSON.stringify({ reason: "INC-2026-003", dry_run: true, page_size: 500, remove_deleted: true }));
add("admin_body", "verify-resume", ...heads, "\x03", JSON.stringify({ reason: "INC-2026-003 check", resume: true }));
add("admin_body", "cancel", "POST", "bearer  wrong-token", "text/plain", "99999", admin, "\x04", JSON.stringify({ reason: "stop" }));

// config_env: NAME=value pairs
add("config_env", "demo", `CLERK_JWT_KEY=${jwt.keys.public_key_pem}`, "CLERK_SECRET_KEY=sk_test_demo_secret_key_0123456789", `CLERK_PUBLISHABLE_KEY=${jwt.publishable_keys.pk_test}`,
  `CLERK_WEBHOOK_SIGNING_SECRET=${base.secret} whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD`, `CLERK_ADMIN_TOKEN=${admin}`, "CLERK_EMERGENCY_BYPASS=grace",
  "CLERK_EMERGENCY_BYPASS_UNTIL=2026-11-25T18:00:00Z", "CLERK_NEVER_BYPASS_PATHS=/admin/*,/billing/*", "CLERK_PUBLIC_PATHS=/public/*,/health");
add("config_env", "broken", "CLERK_JWT_KEY=-----BEGIN PUBLIC KEY-----\\nMIIB\\n-----END PUBLIC KEY-----", "CLERK_SECRET_KEY=pk_live_not_a_secret_key_value", "CLERK_ADMIN_TOKEN=short-admin-token",
  "CLERK_WEBHOOK_SIGNING_SECRET=whsec_not*base64*secret", "CLERK_CLOCK_SKEW_MS=-1", "CLERK_EMERGENCY_BYPASS=maybe", "CLERK_API_URL=ftp://x", "CLERK_IS_SATELLITE=true", "11=/a/*/b");
add("config_env", "jwks-live", `CLERK_SECRET_KEY=sk_live_${"a".repeat(30)}`, `NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY=${jwt.publishable_keys.pk_live}`, "CLERK_PROXY_URL=/__clerk", "CLERK_AUTHORIZED_PARTIES=https://a.example, https://b.example");

// paths: raw path \0 public \0 bypass scope \0 never
add("paths", "dot-escape", "/public/..%2Fadmin", "/public/*", "", "/admin/*");
add("paths", "spellings", "//ADMIN;x/%2561", "/health", "/app/*", "/admin/*,/billing");
add("paths", "clerk-route", "/__CLERK/%68ealth", "/*", "/*", "");
add("paths", "trailing", "/billing/", "/public/*", "", "/billing");

// redaction: free text
add("redaction", "bearer-jwt", `Authorization: Bearer ${tok("mockJwt")}`);
add("redaction", "keys", `rotated sk_live_${"x".repeat(20)} and whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD; pk_test_abc`);
add("redaction", "cookies-query", `__session=${fresh.slice(0, 40)} /app/page?token=abc&x=1 secret: hunter2`);
add("redaction", "reason", "INC-2026-001 Clerk outage\n{\"event\":\"forged\"}\u2028");

for (const [target, files] of Object.entries(seeds)) {
  const dir = join(here, target);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name.replace(/[^A-Za-z0-9_.-]/g, "_")), content, "utf8");
}
console.log(Object.entries(seeds).map(([t, f]) => `${t}: ${Object.keys(f).length}`).join(", "));
