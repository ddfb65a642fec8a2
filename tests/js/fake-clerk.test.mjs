// Checks the fake Clerk Backend API (tests/support/fake-clerk.mjs) against Clerk's OpenAPI
// description, and its own behaviour (auth, pagination, state changes, fault injection).
// Run: node --test tests/js/fake-clerk.test.mjs
//
// The spec is read from tests/fixtures/reference/clerk-backend-api.yml (copied into the repository)
// (override with CLERK_BAPI_SPEC). No YAML library is installed, so a small reader below
// walks the file by indentation: enough for the block-style OpenAPI file it is pointed at.

import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import {
  API_PREFIX,
  GLOBAL_STATUSES,
  LIMIT,
  MAX_FILTER_VALUES,
  ROUTES,
  SESSION_STATUS_FILTERS,
  UNSUPPORTED_USER_FILTERS,
  USER_ORDER_FIELDS,
  startFakeClerk,
} from "../support/fake-clerk.mjs";

const SPEC_PATH =
  process.env.CLERK_BAPI_SPEC ??
  fileURLToPath(new URL("../fixtures/reference/clerk-backend-api.yml", import.meta.url));

// ---------- a minimal, indentation-based reader for the spec ----------

function readSpec(path) {
  let text;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(
      `cannot read the Backend API spec at ${path} (${error.code}): set CLERK_BAPI_SPEC`,
    );
  }
  return text
    .split("\n")
    .map((raw) => ({ indent: raw.search(/\S/), text: raw.trim() }))
    .filter((line) => line.indent >= 0 && !line.text.startsWith("#"));
}

/** The key of a `key: value` / `'key':` line, without quotes; null for other lines. */
function keyOf(line) {
  const match = /^(?:'([^']*)'|"([^"]*)"|([^'"\s-][^:]*?)):(?:\s|$)/.exec(line.text);
  return match ? (match[1] ?? match[2] ?? match[3]) : null;
}

function baseIndent(lines) {
  return Math.min(...lines.map((line) => line.indent));
}

/** The lines nested under `key` at the block's own level, or null when absent. */
function child(lines, key) {
  if (!lines || lines.length === 0) return null;
  const base = baseIndent(lines);
  const start = lines.findIndex((line) => line.indent === base && keyOf(line) === key);
  if (start < 0) return null;
  const out = [];
  for (let i = start + 1; i < lines.length && lines[i].indent > base; i++) out.push(lines[i]);
  return out;
}

/** The value written on the same line as `key`, or undefined. */
function scalar(lines, key) {
  if (!lines || lines.length === 0) return undefined;
  const base = baseIndent(lines);
  const line = lines.find((candidate) => candidate.indent === base && keyOf(candidate) === key);
  if (!line) return undefined;
  const value = line.text.slice(line.text.indexOf(":") + 1).trim();
  return value.replace(/^'(.*)'$/, "$1").replace(/^"(.*)"$/, "$1");
}

function at(lines, ...keys) {
  return keys.reduce((block, key) => child(block, key), lines);
}

function keysOf(lines) {
  if (!lines || lines.length === 0) return [];
  const base = baseIndent(lines);
  return lines.filter((line) => line.indent === base).map(keyOf).filter((key) => key !== null);
}

function listItems(lines) {
  if (!lines || lines.length === 0) return [];
  const base = baseIndent(lines);
  return lines
    .filter((line) => line.indent === base && line.text.startsWith("- "))
    .map((line) => line.text.slice(2).trim().replace(/^'(.*)'$/, "$1"));
}

const spec = readSpec(SPEC_PATH);

/** Follows a `$ref: '#/components/...'` found directly in `lines`. */
function deref(lines) {
  const ref = scalar(lines, "$ref");
  if (!ref) return lines;
  assert.ok(ref.startsWith("#/"), `only local refs expected, got ${ref}`);
  return deref(at(spec, ...ref.slice(2).split("/")));
}

function schema(name) {
  const lines = at(spec, "components", "schemas", name);
  assert.ok(lines, `components.schemas.${name} is in the spec`);
  return lines;
}

function required(name) {
  return listItems(child(schema(name), "required"));
}

function properties(name) {
  return keysOf(child(schema(name), "properties"));
}

function operation(route) {
  return at(spec, "paths", route.path, route.method.toLowerCase());
}

function documentedStatuses(route) {
  return keysOf(child(operation(route), "responses")).map(Number);
}

function responseSchema(route, status) {
  const response = deref(at(operation(route), "responses", String(status)));
  return deref(at(response, "content", "application/json", "schema"));
}

// ---------- driving the fake ----------

const SECRET = "sk_test_spec_check_0123456789";

async function call(clerk, method, path, { auth = `Bearer ${SECRET}`, signal } = {}) {
  const headers = { "Clerk-API-Version": "2026-05-12" };
  if (auth) headers.Authorization = auth;
  const response = await fetch(clerk.url + API_PREFIX + path, { method, headers, signal });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: JSON.parse(text) };
}

function seed(clerk) {
  clerk.addUser({ id: "user_1" });
  clerk.addUser({ id: "user_2" });
  clerk.addSession({ id: "sess_a", user_id: "user_1", created_at: 1_000 });
  clerk.addSession({ id: "sess_b", user_id: "user_1", created_at: 2_000 });
  clerk.addSession({ id: "sess_c", user_id: "user_1", created_at: 3_000 });
  clerk.addSession({ id: "sess_old", user_id: "user_1", status: "ended", created_at: 500 });
  clerk.addSession({ id: "sess_x", user_id: "user_2", created_at: 4_000 });
}

/** Every request the spec checks make, to collect each route's statuses and bodies. */
const EXERCISE = [
  ["jwks", "GET", "/jwks"],
  ["jwks", "GET", "/jwks", { auth: null }],
  ["listSessions", "GET", "/sessions?user_id=user_1&status=active&limit=2&offset=0"],
  ["listSessions", "GET", "/sessions?status=active"],
  ["listSessions", "GET", "/sessions?user_id=user_1&limit=0"],
  ["listSessions", "GET", "/sessions?user_id=user_1", { auth: "Bearer sk_test_wrong" }],
  ["revokeSession", "POST", "/sessions/sess_a/revoke"],
  ["revokeSession", "POST", "/sessions/sess_nope/revoke"],
  ["banUser", "POST", "/users/user_2/ban"],
  ["banUser", "POST", "/users/user_nope/ban"],
  ["unbanUser", "POST", "/users/user_2/unban"],
  ["unbanUser", "POST", "/users/user_nope/unban"],
  ["listUsers", "GET", "/users?limit=500&order_by=%2Bcreated_at"],
  ["listUsers", "GET", "/users?limit=2&starting_after=user_1"],
  ["listUsers", "GET", "/users?limit=0"],
  ["listUsers", "GET", "/users?starting_after=user_nope"],
  ["countUsers", "GET", "/users/count"],
  [
    "countUsers",
    "GET",
    `/users/count?${Array.from({ length: MAX_FILTER_VALUES + 1 }, (_, i) => `user_id=user_${i}`).join("&")}`,
  ],
];

describe("the fake follows the Backend API spec", () => {
  let clerk;
  const seen = new Map(ROUTES.map((route) => [route.name, []]));

  before(async () => {
    clerk = await startFakeClerk({ secretKey: SECRET, jwks: { keys: [{ kid: "k1" }] } });
    seed(clerk);
    clerk.addUsers(3, { seed: "spec" }); // users with email addresses, for the shape checks
    clerk.updateUser("user_2", { email: "two@example.com", first_name: "Two" });
    for (const [name, method, path, options] of EXERCISE) {
      seen.get(name).push(await call(clerk, method, path, options));
    }
    // Injected faults answer on every route too.
    for (const fault of [
      { kind: "rate-limit", retryAfter: 1, times: ROUTES.length },
      { kind: "error", status: 503, times: ROUTES.length },
    ]) {
      clerk.setFault("*", fault);
      for (const route of ROUTES) {
        const [, method, path] = EXERCISE.find((row) => row[0] === route.name);
        seen.get(route.name).push(await call(clerk, method, path));
      }
    }
    clerk.clearFaults();
    // And each route's spec-documented refusals, when a test asks for them.
    for (const route of ROUTES) {
      for (const status of route.rejects ?? []) {
        clerk.setFault(route.name, { kind: "reject", status, times: 1 });
        const [, method, path] = EXERCISE.find((row) => row[0] === route.name);
        seen.get(route.name).push(await call(clerk, method, path));
      }
    }
  });

  after(() => clerk.close());

  test("the spec file is the expected version", () => {
    assert.equal(scalar(child(spec, "info"), "version"), "2026-05-12");
    assert.equal(scalar(spec, "openapi"), "3.0.3");
  });

  test("the server URL ends with the fake's path prefix", () => {
    const servers = listItems(child(spec, "servers"));
    assert.ok(
      servers.some((item) => item === `url: https://api.clerk.com${API_PREFIX}`),
      `servers: ${servers}`,
    );
  });

  for (const route of ROUTES) {
    test(`${route.method} ${route.path} exists in paths: with its operation`, () => {
      assert.ok(at(spec, "paths", route.path), `paths has ${route.path}`);
      const op = operation(route);
      assert.ok(op, `${route.path} has ${route.method.toLowerCase()}`);
      assert.ok(scalar(op, "operationId"), "operationId present");
      assert.ok(documentedStatuses(route).includes(200), "200 documented");
    });

    test(`${route.method} ${route.path}: every status the fake answers is accounted for`, () => {
      const documented = documentedStatuses(route);
      const answered = new Set(seen.get(route.name).map((response) => response.status));
      for (const status of answered) {
        const accounted =
          documented.includes(status) ||
          String(status) in GLOBAL_STATUSES ||
          (status >= 500 && status <= 599 && "5xx" in GLOBAL_STATUSES) ||
          String(status) in route.undocumented;
        assert.ok(accounted, `${route.name} answered ${status}, not in spec ${documented}`);
        const injectedOrGlobal = status === 401 || status === 429 || status >= 500;
        assert.ok(
          injectedOrGlobal || route.statuses.includes(status) || (route.rejects ?? []).includes(status),
          `${route.name} answered ${status}: add it to ROUTES.statuses`,
        );
      }
      for (const status of (route.rejects ?? []).filter((code) => !documented.includes(code))) {
        assert.fail(`${route.name} rejects with ${status}, which the spec does not document`);
      }
      for (const status of route.statuses) {
        assert.ok(
          answered.has(status),
          `the spec check exercises ${route.name}'s declared status ${status}`,
        );
        assert.ok(
          documented.includes(status) || String(status) in route.undocumented,
          `${route.name} declares ${status}: documented in the spec or explained`,
        );
      }
      for (const status of Object.keys(route.undocumented)) {
        assert.ok(
          !documented.includes(Number(status)),
          `the spec now documents ${status} for ${route.path}: drop the undocumented note`,
        );
      }
    });

    test(`${route.method} ${route.path}: every error answer has the ClerkErrors shape`, () => {
      const errorRequired = required("ClerkError");
      assert.deepEqual(required("ClerkErrors"), ["errors"]);
      const errors = seen.get(route.name).filter((response) => response.status >= 400);
      assert.ok(errors.length > 0);
      for (const { status, body } of errors) {
        assert.ok(Array.isArray(body.errors) && body.errors.length > 0, `${status} errors[]`);
        for (const field of errorRequired) {
          assert.equal(typeof body.errors[0][field], "string", `${status} errors[0].${field}`);
        }
        assert.equal(typeof body.clerk_trace_id, "string");
      }
    });
  }

  test("401 and 429 are backed by the spec's global security and responses", () => {
    const security = listItems(child(spec, "security"));
    assert.ok(security.some((item) => item.startsWith("bearerAuth")), `security: ${security}`);
    const scheme = at(spec, "components", "securitySchemes", "bearerAuth");
    assert.equal(scalar(scheme, "scheme"), "bearer");
    for (const name of ["AuthenticationInvalid", "TooManyRequests"]) {
      const response = at(spec, "components", "responses", name);
      assert.ok(response, `components.responses.${name}`);
      assert.equal(
        scalar(at(response, "content", "application/json", "schema"), "$ref"),
        "#/components/schemas/ClerkErrors",
      );
    }
    const rateLimited = seen.get("jwks").find((response) => response.status === 429);
    assert.equal(rateLimited.headers.get("retry-after"), "1");
  });

  test("session objects carry the spec's required Session fields, and no others", () => {
    const sessionRequired = required("Session");
    const sessionProperties = properties("Session");
    const statusEnum = listItems(at(schema("Session"), "properties", "status", "enum"));
    assert.ok(sessionRequired.length >= 10, `Session.required read: ${sessionRequired}`);
    const objects = [
      ...seen.get("listSessions").filter((r) => r.status === 200).flatMap((r) => r.body),
      ...seen.get("revokeSession").filter((r) => r.status === 200).map((r) => r.body),
    ];
    assert.ok(objects.length >= 3);
    for (const session of objects) {
      for (const field of sessionRequired) assert.ok(field in session, `session.${field}`);
      for (const field of Object.keys(session)) {
        assert.ok(sessionProperties.includes(field), `session.${field} is a Session property`);
      }
      assert.equal(session.object, "session");
      assert.ok(statusEnum.includes(session.status), session.status);
    }
  });

  test("user objects carry the spec's required User fields, and no others", () => {
    const userRequired = required("User");
    const userProperties = properties("User");
    assert.ok(userRequired.length >= 30, `User.required read: ${userRequired}`);
    const users = ["banUser", "unbanUser"].flatMap((name) =>
      seen.get(name).filter((response) => response.status === 200),
    );
    assert.equal(users.length, 2);
    for (const { body: user } of users) {
      for (const field of userRequired) assert.ok(field in user, `user.${field}`);
      for (const field of Object.keys(user)) {
        assert.ok(userProperties.includes(field), `user.${field} is a User property`);
      }
    }
    assert.equal(users[0].body.banned, true);
    assert.equal(users[1].body.banned, false);
  });

  test("GET /sessions answers the spec's form by default (Session.List)", () => {
    const route = ROUTES.find((candidate) => candidate.name === "listSessions");
    const listSchema = responseSchema(route, 200);
    assert.equal(scalar(listSchema, "type"), "array", "the spec documents a plain array");
    assert.equal(scalar(child(listSchema, "items"), "$ref"), "#/components/schemas/Session");
    const ok = seen.get("listSessions").find((response) => response.status === 200);
    assert.ok(Array.isArray(ok.body));
  });

  test("GET /sessions parameters match the spec", () => {
    const route = ROUTES.find((candidate) => candidate.name === "listSessions");
    const parameters = child(operation(route), "parameters");
    const text = parameters.map((line) => line.text).join("\n");
    for (const name of ["client_id", "user_id", "status"]) {
      assert.match(text, new RegExp(`name: ${name}\\b`));
    }
    for (const ref of ["Paginated", "LimitParameter", "OffsetParameter"]) {
      assert.ok(text.includes(`#/components/parameters/${ref}`), ref);
    }
    // The `status` parameter's enum: the list right after the first `enum:` following it.
    const statusAt = parameters.findIndex((line) => line.text === "- name: status");
    const enumAt = parameters.findIndex((line, i) => i > statusAt && line.text === "enum:");
    assert.ok(statusAt >= 0 && enumAt > statusAt, "status parameter with an enum");
    const statusEnum = [];
    for (const line of parameters.slice(enumAt + 1)) {
      if (!line.text.startsWith("- ") || line.indent <= parameters[enumAt].indent) break;
      statusEnum.push(line.text.slice(2).trim());
    }
    assert.deepEqual([...statusEnum].sort(), [...SESSION_STATUS_FILTERS].sort());
    const limit = at(spec, "components", "parameters", "LimitParameter", "schema");
    assert.equal(Number(scalar(limit, "default")), LIMIT.default);
    assert.equal(Number(scalar(limit, "minimum")), LIMIT.minimum);
    assert.equal(Number(scalar(limit, "maximum")), LIMIT.maximum);
    const offset = at(spec, "components", "parameters", "OffsetParameter", "schema");
    assert.equal(Number(scalar(offset, "minimum")), 0);
    const paginated = at(spec, "components", "parameters", "Paginated");
    assert.equal(scalar(paginated, "name"), "paginated");
  });

  test("GET /users answers User.List: users and their email addresses as the spec has them", () => {
    const route = ROUTES.find((candidate) => candidate.name === "listUsers");
    const listSchema = responseSchema(route, 200);
    assert.equal(scalar(listSchema, "type"), "array", "the spec documents a plain array");
    assert.equal(scalar(child(listSchema, "items"), "$ref"), "#/components/schemas/User");
    const [ok] = seen.get("listUsers");
    assert.equal(ok.status, 200);
    assert.ok(Array.isArray(ok.body));
    assert.equal(ok.body.length, 5, "user_1, user_2 and 3 generated");
    const userRequired = required("User");
    const userProperties = properties("User");
    const addressRequired = required("EmailAddress");
    const addressProperties = properties("EmailAddress");
    const verificationRequired = required("verification_admin");
    const verificationProperties = properties("verification_admin");
    let addresses = 0;
    for (const user of ok.body) {
      assert.equal(user.object, "user");
      for (const field of userRequired) assert.ok(field in user, `user.${field}`);
      for (const field of Object.keys(user)) {
        assert.ok(userProperties.includes(field), `user.${field} is a User property`);
      }
      for (const address of user.email_addresses) {
        addresses += 1;
        assert.equal(address.object, "email_address");
        for (const field of addressRequired) assert.ok(field in address, `email.${field}`);
        for (const field of Object.keys(address)) {
          assert.ok(addressProperties.includes(field), `email.${field} is an EmailAddress property`);
        }
        for (const field of verificationRequired) assert.ok(field in address.verification, field);
        for (const field of Object.keys(address.verification)) {
          assert.ok(verificationProperties.includes(field), `verification.${field}`);
        }
      }
      if (user.primary_email_address_id !== null) {
        assert.ok(user.email_addresses.some((address) => address.id === user.primary_email_address_id));
      }
    }
    assert.equal(addresses, 4, "3 generated addresses and user_2's");
  });

  test("GET /users/count answers the spec's TotalCount", () => {
    const route = ROUTES.find((candidate) => candidate.name === "countUsers");
    assert.equal(
      scalar(at(operation(route), "responses", "200"), "$ref"),
      "#/components/responses/User.Count",
    );
    const count = responseSchema(route, 200);
    assert.deepEqual(keysOf(child(count, "properties")), ["object", "total_count"]);
    assert.deepEqual(required("TotalCount"), ["object", "total_count"]);
    const [ok] = seen.get("countUsers");
    assert.deepEqual(ok.body, { object: "total_count", total_count: 5 });
  });

  /** The names of an operation's parameters, `$ref`s followed. */
  function parameterNames(route) {
    const parameters = child(operation(route), "parameters");
    const base = baseIndent(parameters);
    const names = [];
    for (const line of parameters.filter((candidate) => candidate.indent === base)) {
      const item = line.text.slice(2);
      const ref = /^\$ref: '#\/(.*)'$/.exec(item);
      if (ref) names.push(scalar(at(spec, ...ref[1].split("/")), "name"));
      else names.push(/^name: (\S+)$/.exec(item)[1]);
    }
    return names;
  }

  test("GET /users and /users/count parameters: each one implemented or refused as unsupported", () => {
    const implemented = {
      listUsers: ["limit", "offset", "starting_after", "order_by", "user_id", "banned"],
      countUsers: ["user_id", "banned"],
    };
    for (const name of ["listUsers", "countUsers"]) {
      const route = ROUTES.find((candidate) => candidate.name === name);
      assert.deepEqual(
        [...parameterNames(route)].sort(),
        [...implemented[name], ...UNSUPPORTED_USER_FILTERS].sort(),
        `${route.path}: the spec's parameters are the fake's implemented and unsupported ones`,
      );
    }
  });

  test("GET /users order_by: the spec's fields and default; starting_after is documented", () => {
    const route = ROUTES.find((candidate) => candidate.name === "listUsers");
    const parameters = child(operation(route), "parameters");
    const orderAt = parameters.findIndex((line) => line.text === "- name: order_by");
    assert.ok(orderAt >= 0, "order_by parameter");
    const block = [];
    for (const line of parameters.slice(orderAt + 1)) {
      if (line.indent <= parameters[orderAt].indent) break;
      block.push(line);
    }
    const text = block.map((line) => line.text).join("\n");
    const fieldsLine = /order the returned users by their (.*)\./.exec(text);
    assert.ok(fieldsLine, "order_by lists its fields");
    const fields = [...fieldsLine[1].matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1]);
    assert.deepEqual([...fields].sort(), Object.keys(USER_ORDER_FIELDS).sort());
    assert.equal(scalar(at(block, "schema"), "default"), "-created_at");
    const all = parameters.map((line) => line.text).join("\n");
    assert.match(all, /- name: starting_after/);
    assert.match(all, /Cannot be combined with a non-zero `offset`, which is also a 422/);
    assert.match(all, /Any other `order_by` value is rejected with a 422/);
    assert.match(all, /Accepts up to 100 user IDs/);
    assert.equal(MAX_FILTER_VALUES, 100);
  });

  test("GET /jwks answers the spec's JWKS object", () => {
    const route = ROUTES.find((candidate) => candidate.name === "jwks");
    const jwks = responseSchema(route, 200);
    assert.deepEqual(keysOf(child(jwks, "properties")), ["keys"]);
    const ok = seen.get("jwks").find((response) => response.status === 200);
    assert.deepEqual(Object.keys(ok.body), ["keys"]);
  });
});

describe("the fake's behaviour", () => {
  let clerk;

  before(async () => {
    clerk = await startFakeClerk({ secretKey: SECRET });
  });

  after(() => clerk.close());

  function reset() {
    clerk.state.users.clear();
    clerk.state.sessions.clear();
    clerk.clearFaults();
    clerk.setSessionListForm("array");
    clerk.requests.length = 0;
    seed(clerk);
  }

  test("listens on 127.0.0.1 on an ephemeral port", () => {
    assert.match(clerk.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(clerk.port > 0);
  });

  test("every route needs the secret key; the log never holds it", async () => {
    reset();
    for (const auth of [null, "Bearer sk_test_wrong", SECRET, `Basic ${SECRET}`]) {
      const response = await call(clerk, "GET", "/jwks", { auth });
      assert.equal(response.status, 401, String(auth));
      assert.equal(response.body.errors[0].code, "authentication_invalid");
    }
    assert.equal((await call(clerk, "GET", "/jwks")).status, 200);
    assert.deepEqual(
      clerk.requests.map((entry) => [entry.auth, entry.authorized]),
      [
        ["absent", false],
        ["present", false],
        ["present", false],
        ["present", false],
        ["present", true],
      ],
    );
    assert.equal(clerk.requests[4].apiVersion, "2026-05-12");
    assert.ok(!JSON.stringify(clerk.requests).includes(SECRET));
  });

  test("log lines name method, path, auth and status, never the secret", async () => {
    const lines = [];
    const logged = await startFakeClerk({ secretKey: SECRET, log: (line) => lines.push(line) });
    try {
      await call(logged, "GET", "/jwks");
      await call(logged, "GET", "/jwks", { auth: null });
    } finally {
      await logged.close();
    }
    assert.deepEqual(lines, [
      "fake-clerk GET /v1/jwks auth=present -> 200",
      "fake-clerk GET /v1/jwks auth=absent -> 401",
    ]);
  });

  test("JWKS keys can be rotated at runtime", async () => {
    reset();
    clerk.setJwks({ keys: [{ kid: "old" }] });
    assert.deepEqual((await call(clerk, "GET", "/jwks")).body, { keys: [{ kid: "old" }] });
    clerk.setJwks({ keys: [{ kid: "new" }, { kid: "old" }] });
    assert.deepEqual(
      (await call(clerk, "GET", "/jwks")).body.keys.map((key) => key.kid),
      ["new", "old"],
    );
    assert.throws(() => clerk.setJwks({}), TypeError);
  });

  test("sessions are listed newest first, filtered and paginated (plain array)", async () => {
    reset();
    const page = async (query) =>
      (await call(clerk, "GET", `/sessions?${query}`)).body.map((session) => session.id);
    assert.deepEqual(await page("user_id=user_1&status=active&limit=2"), ["sess_c", "sess_b"]);
    assert.deepEqual(await page("user_id=user_1&status=active&limit=2&offset=2"), ["sess_a"]);
    assert.deepEqual(await page("user_id=user_1&status=active&limit=2&offset=4"), []);
    assert.deepEqual(await page("user_id=user_1"), ["sess_c", "sess_b", "sess_a", "sess_old"]);
    assert.deepEqual(await page("user_id=user_1&status=ended"), ["sess_old"]);
    assert.deepEqual(await page("user_id=user_2"), ["sess_x"]);
    assert.deepEqual(await page("user_id=user_none"), []);
    for (const bad of ["limit=0", "limit=501", "limit=x", "offset=-1", "status=pending"]) {
      const response = await call(clerk, "GET", `/sessions?user_id=user_1&${bad}`);
      assert.equal(response.status, 422, bad);
    }
    assert.equal((await call(clerk, "GET", "/sessions?limit=500&user_id=user_1")).status, 200);
    assert.equal((await call(clerk, "GET", "/sessions")).status, 400);
  });

  test("the default limit is the spec's 10", async () => {
    reset();
    for (let i = 0; i < 12; i++) clerk.addSession({ user_id: "user_3", created_at: i });
    assert.equal((await call(clerk, "GET", "/sessions?user_id=user_3")).body.length, 10);
  });

  test("the {data, total_count} form can be switched on", async () => {
    reset();
    clerk.setSessionListForm("paginated");
    const response = await call(clerk, "GET", "/sessions?user_id=user_1&status=active&limit=2");
    assert.deepEqual(response.body.data.map((session) => session.id), ["sess_c", "sess_b"]);
    assert.equal(response.body.total_count, 3);

    clerk.setSessionListForm("auto");
    const plain = await call(clerk, "GET", "/sessions?user_id=user_1");
    assert.ok(Array.isArray(plain.body));
    const asked = await call(clerk, "GET", "/sessions?user_id=user_1&paginated=true");
    assert.equal(asked.body.total_count, 4);
    assert.throws(() => clerk.setSessionListForm("object"), TypeError);
  });

  test("revoking a session marks it revoked; unknown ids are 404", async () => {
    reset();
    const revoked = await call(clerk, "POST", "/sessions/sess_b/revoke");
    assert.equal(revoked.status, 200);
    assert.equal(revoked.body.status, "revoked");
    assert.equal(clerk.state.sessions.get("sess_b").status, "revoked");
    const active = await call(clerk, "GET", "/sessions?user_id=user_1&status=active");
    assert.deepEqual(active.body.map((session) => session.id), ["sess_c", "sess_a"]);
    const missing = await call(clerk, "POST", "/sessions/sess_nope/revoke");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.errors[0].code, "resource_not_found");
    assert.equal((await call(clerk, "GET", "/sessions/sess_b/revoke")).status, 405);
    assert.equal((await call(clerk, "GET", "/nowhere")).status, 404);
  });

  test("path parameters are percent-decoded", async () => {
    reset();
    clerk.addSession({ id: "sess odd/id", user_id: "user_1" });
    const response = await call(clerk, "POST", "/sessions/sess%20odd%2Fid/revoke");
    assert.equal(response.status, 200);
    assert.equal(response.body.id, "sess odd/id");
  });

  test("ban revokes every active session of the user; unban lifts the ban", async () => {
    reset();
    const banned = await call(clerk, "POST", "/users/user_1/ban");
    assert.equal(banned.status, 200);
    assert.equal(banned.body.banned, true);
    const statuses = [...clerk.state.sessions.values()]
      .filter((session) => session.user_id === "user_1")
      .map((session) => [session.id, session.status]);
    assert.deepEqual(statuses, [
      ["sess_a", "revoked"],
      ["sess_b", "revoked"],
      ["sess_c", "revoked"],
      ["sess_old", "ended"],
    ]);
    assert.equal(clerk.state.sessions.get("sess_x").status, "active");
    const unbanned = await call(clerk, "POST", "/users/user_1/unban");
    assert.equal(unbanned.body.banned, false);
    assert.equal((await call(clerk, "POST", "/users/user_nope/ban")).status, 404);
  });

  test("rate limits: 429 with Retry-After for the next K calls, then normal", async () => {
    reset();
    clerk.setFault("revokeSession", { kind: "rate-limit", retryAfter: 3, times: 2 });
    const first = await call(clerk, "POST", "/sessions/sess_a/revoke");
    assert.equal(first.status, 429);
    assert.equal(first.headers.get("retry-after"), "3");
    assert.equal(first.body.errors[0].code, "too_many_requests");
    assert.equal((await call(clerk, "GET", "/jwks")).status, 200, "other routes unaffected");
    assert.equal((await call(clerk, "POST", "/sessions/sess_a/revoke")).status, 429);
    assert.equal((await call(clerk, "POST", "/sessions/sess_a/revoke")).status, 200);
    assert.deepEqual(
      clerk.requests.map((entry) => [entry.route, entry.status, entry.fault]),
      [
        ["revokeSession", 429, "rate-limit"],
        ["jwks", 200, null],
        ["revokeSession", 429, "rate-limit"],
        ["revokeSession", 200, null],
      ],
    );
  });

  test("5xx faults, per route and global; the route's own fault wins", async () => {
    reset();
    clerk.setFault("*", { kind: "error", status: 503 });
    clerk.setFault("jwks", { kind: "error", status: 500, times: 1 });
    assert.equal((await call(clerk, "GET", "/jwks")).status, 500);
    assert.equal((await call(clerk, "GET", "/jwks")).status, 503);
    assert.equal((await call(clerk, "POST", "/users/user_1/ban")).status, 503);
    clerk.setFault("*", null);
    assert.equal((await call(clerk, "POST", "/users/user_1/ban")).status, 200);
    assert.throws(() => clerk.setFault("nope", { kind: "hang" }), TypeError);
    assert.throws(() => clerk.setFault("*", { kind: "error", status: 404 }), TypeError);
    assert.throws(() => clerk.setFault("*", { kind: "explode" }), TypeError);
  });

  test("slow answers arrive after the delay", async () => {
    reset();
    clerk.setFault("jwks", { kind: "delay", ms: 150, times: 1 });
    const started = performance.now();
    const response = await call(clerk, "GET", "/jwks");
    assert.equal(response.status, 200);
    assert.ok(performance.now() - started >= 140, "delayed");
  });

  test("a hanging route never answers, and close() still returns", async () => {
    const hanging = await startFakeClerk({ secretKey: SECRET });
    hanging.setFault("*", { kind: "hang" });
    await assert.rejects(
      call(hanging, "GET", "/jwks", { signal: AbortSignal.timeout(200) }),
      (error) => error.name === "TimeoutError",
    );
    const pending = call(hanging, "GET", "/jwks").catch((error) => error);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = performance.now();
    await hanging.close();
    assert.ok(performance.now() - started < 1_000, "close() does not wait for hung requests");
    assert.ok((await pending) instanceof Error, "the hung request fails when the fake closes");
    assert.equal(hanging.requests.length, 2);
    assert.equal(hanging.requests[0].fault, "hang");
    assert.equal(hanging.requests[0].status, null);
  });

  test("seeded objects are completed from partial fields", async () => {
    const seeded = await startFakeClerk({
      secretKey: SECRET,
      sessions: [{ id: "sess_s", user_id: "user_s" }],
      sessionListForm: "paginated",
    });
    try {
      assert.ok(seeded.state.users.has("user_s"), "the session's user is created");
      const response = await call(seeded, "GET", "/sessions?user_id=user_s");
      assert.equal(response.body.total_count, 1);
      assert.equal(response.body.data[0].client_id.startsWith("client_"), true);
    } finally {
      await seeded.close();
    }
  });
});
