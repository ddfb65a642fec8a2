// A local fake of the Clerk Backend API, for end-to-end tests of the Worker and the Next.js
// package. It serves only the endpoints clerk-edge-guard calls, shaped after the OpenAPI
// description in tests/fixtures/reference/clerk-backend-api.yml (tests/js/fake-clerk.test.mjs
// fails when the two drift apart), and lets a test rotate keys, seed users and sessions,
// and inject faults (429, 5xx, slow answers, answers that never come).
//
// Node >= 20, ESM, node: built-ins only.
//
//   const clerk = await startFakeClerk({ secretKey: "sk_test_x", jwks });
//   clerk.addSession({ id: "sess_a", user_id: "user_1" });
//   const nonce = clerk.addHandshakePayload(["__session=…; Path=/"]); // redeemable once
//   clerk.setFault("revokeSession", { kind: "rate-limit", retryAfter: 1, times: 2 });
//   clerk.setFault("revokeSession", { kind: "rate-limit", retryAfter: 1, form: "date" });
//
//   // Users for GET /v1/users (cursor or offset pages) and GET /v1/users/count:
//   const users = clerk.addUsers(100_000, { seed: 7 }); // deterministic, under 1 s
//   clerk.updateUser(users[5].id, { first_name: "Ada", email: "ada@example.com" });
//   clerk.deleteUser(users[6].id); // gone from lists and count; still a valid cursor
//   clerk.setFault("listUsers", { kind: "error", status: 503, times: 1 });
//   // GET /v1/users?limit=500&order_by=%2Bcreated_at&starting_after=<last id of the page>
//   ... point CLERK_API_URL at clerk.url ...
//   await clerk.close();

import { randomBytes, randomUUID } from "node:crypto";

import { sendJson, serveLocal } from "./http-fake.mjs";

/** Path prefix of every route: the spec's server is https://api.clerk.com/v1. */
export const API_PREFIX = "/v1";

/** Default secret key; tests that check auth pass their own. */
export const DEFAULT_SECRET_KEY = "sk_test_fake_clerk_secret_key";

/**
 * The routes the fake serves: spec path template (below API_PREFIX), method, and every status
 * the route itself can answer. `undocumented` lists statuses the live API answers but the spec
 * does not document for that operation, each with why; the spec test fails if the spec starts
 * documenting one (so the note gets removed) or if the fake answers anything not accounted for.
 */
export const ROUTES = Object.freeze([
  { name: "jwks", method: "GET", path: "/jwks", statuses: [200], undocumented: {} },
  {
    name: "listSessions",
    method: "GET",
    path: "/sessions",
    statuses: [200, 400, 422],
    undocumented: {},
  },
  {
    name: "revokeSession",
    method: "POST",
    path: "/sessions/{session_id}/revoke",
    statuses: [200, 404],
    rejects: [400],
    undocumented: {},
  },
  {
    name: "banUser",
    method: "POST",
    path: "/users/{user_id}/ban",
    statuses: [200, 404],
    rejects: [402],
    undocumented: { 404: "the live API answers resource_not_found for an unknown user_id" },
  },
  {
    name: "unbanUser",
    method: "POST",
    path: "/users/{user_id}/unban",
    statuses: [200, 404],
    rejects: [402],
    undocumented: { 404: "the live API answers resource_not_found for an unknown user_id" },
  },
  { name: "listUsers", method: "GET", path: "/users", statuses: [200, 422], undocumented: {} },
  {
    name: "countUsers",
    method: "GET",
    path: "/users/count",
    statuses: [200, 422],
    undocumented: {},
  },
]);

/**
 * Routes the fake serves that the spec names without describing: Clerk lists their paths
 * with no operations (`{}`), so the spec test (tests/js/fake-clerk.test.mjs) cannot check
 * them; tests/js/fake-frontend-api.test.mjs checks that the spec still lists each path
 * without operations, and the answers' shape against `@clerk/backend` (the SDK that calls
 * them). `reason` says where the shape comes from.
 */
export const UNDOCUMENTED_ROUTES = Object.freeze([
  {
    name: "handshakePayload",
    method: "GET",
    path: "/clients/handshake_payload",
    statuses: [200, 400, 404],
    reason:
      "the spec lists /clients/handshake_payload with no operations (`{}`): Clerk keeps it " +
      "internal. Shape from @clerk/backend 3.25.0 (ClientAPI.getHandshakePayload and the " +
      "handshake service): GET ?nonce=<n> with the secret key answers " +
      '{"directives":["<Set-Cookie>",…]}; a nonce is redeemable once, an unknown or used ' +
      "one is resource_not_found (404), a missing one form_param_missing (400).",
  },
]);

/**
 * Statuses any route may answer besides its own: 401 for a missing or wrong secret key (the
 * spec's global `security: bearerAuth`), 429 and 5xx only when a test injects them.
 */
export const GLOBAL_STATUSES = Object.freeze({
  401: "global bearerAuth security: AuthenticationInvalid",
  429: "fault injection: TooManyRequests",
  "5xx": "fault injection",
});

/** `status` filter values of GET /sessions (the spec's enum for that parameter). */
export const SESSION_STATUS_FILTERS = Object.freeze([
  "abandoned",
  "active",
  "ended",
  "expired",
  "removed",
  "replaced",
  "revoked",
]);

/** The spec's LimitParameter: default 10, 1..=500; OffsetParameter: >= 0. */
export const LIMIT = Object.freeze({ default: 10, minimum: 1, maximum: 500 });

/**
 * Forms of the GET /sessions answer: "array" (the spec's Session.List, the default),
 * "paginated" (always `{data, total_count}`), "auto" (`{data, total_count}` only when the
 * request says `paginated=true`, as @clerk/backend's paginated calls expect).
 */
export const SESSION_LIST_FORMS = Object.freeze(["array", "paginated", "auto"]);

/**
 * `order_by` fields of GET /users (the spec's list), each with how the fake reads it from a
 * user. A `+` (or nothing) sorts ascending, `-` descending; the default is `-created_at`.
 * Only the created_at orderings take `starting_after`; the others page with `offset` only.
 */
export const USER_ORDER_FIELDS = Object.freeze({
  created_at: (user) => user.created_at,
  updated_at: (user) => user.updated_at,
  email_address: (user) =>
    primaryOf(user.email_addresses, user.primary_email_address_id)?.email_address,
  web3wallet: (user) => primaryOf(user.web3_wallets, user.primary_web3_wallet_id)?.web3_wallet,
  first_name: (user) => user.first_name,
  last_name: (user) => user.last_name,
  phone_number: (user) => primaryOf(user.phone_numbers, user.primary_phone_number_id)?.phone_number,
  username: (user) => user.username,
  last_active_at: (user) => user.last_active_at,
  last_sign_in_at: (user) => user.last_sign_in_at,
});

/** The spec's cap on an array filter of GET /users and /users/count (`user_id`, …). */
export const MAX_FILTER_VALUES = 100;

/**
 * Filters of GET /users and /users/count the spec documents but the fake does not implement:
 * a request using one answers 422 `unsupported_by_fake` instead of a silently unfiltered list.
 * (`user_id` and `banned` are implemented.)
 */
export const UNSUPPORTED_USER_FILTERS = Object.freeze([
  "email_address",
  "phone_number",
  "external_id",
  "username",
  "web3_wallet",
  "organization_id",
  "query",
  "email_address_query",
  "phone_number_query",
  "username_query",
  "name_query",
  "last_active_at_before",
  "last_active_at_after",
  "last_active_at_since",
  "created_at_before",
  "created_at_after",
  "last_sign_in_at_before",
  "last_sign_in_at_after",
  "provider",
  "provider_user_id",
]);

/** addUsers' default first created_at (2023-11-14T22:13:20Z): fixed, so runs repeat. */
export const DEFAULT_CREATED_FROM = 1_700_000_000_000;

const DAY_MS = 24 * 60 * 60 * 1000;

const compiledRoutes = [...ROUTES, ...UNDOCUMENTED_ROUTES].map((route) => ({
  ...route,
  pattern: new RegExp(
    "^" +
      API_PREFIX +
      route.path.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{[a-z_]+\}/g, "([^/]+)") +
      "$",
  ),
  params: [...route.path.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]),
}));

/** A Session object with every field the spec marks required. */
export function makeSession(fields, now = Date.now()) {
  if (!fields || typeof fields.user_id !== "string") {
    throw new TypeError("makeSession needs a user_id");
  }
  return {
    object: "session",
    id: fields.id ?? `sess_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    user_id: fields.user_id,
    client_id: fields.client_id ?? `client_${randomUUID().replaceAll("-", "").slice(0, 24)}`,
    actor: null,
    status: "active",
    last_active_organization_id: null,
    last_active_at: now,
    expire_at: now + 7 * DAY_MS,
    abandon_at: now + 30 * DAY_MS,
    updated_at: now,
    created_at: now,
    ...fields,
  };
}

/**
 * A User object with every field the spec marks required. `fields.email` (not a User field)
 * is a shorthand: it becomes the primary address in `email_addresses`.
 */
export function makeUser(fields, now = Date.now()) {
  if (!fields || typeof fields.id !== "string") throw new TypeError("makeUser needs an id");
  if ("email" in fields) {
    const { email, ...rest } = fields;
    const user = makeUser(rest, now);
    setPrimaryEmail(user, email, user.created_at);
    return user;
  }
  return { ...blankUser(fields.id, now), ...fields };
}

/** A user with no names, addresses or sign-ins, created and updated at `now`. */
function blankUser(id, now) {
  return {
    id,
    object: "user",
    external_id: null,
    primary_email_address_id: null,
    primary_phone_number_id: null,
    primary_web3_wallet_id: null,
    username: null,
    first_name: null,
    last_name: null,
    image_url: "",
    has_image: false,
    public_metadata: {},
    private_metadata: {},
    unsafe_metadata: {},
    email_addresses: [],
    phone_numbers: [],
    web3_wallets: [],
    passkeys: [],
    password_enabled: false,
    two_factor_enabled: false,
    totp_enabled: false,
    backup_code_enabled: false,
    mfa_enabled_at: null,
    mfa_disabled_at: null,
    external_accounts: [],
    saml_accounts: [],
    enterprise_accounts: [],
    last_sign_in_at: null,
    banned: false,
    locked: false,
    lockout_expires_in_seconds: null,
    verification_attempts_remaining: null,
    updated_at: now,
    created_at: now,
    delete_self_enabled: true,
    create_organization_enabled: true,
    last_active_at: null,
    legal_accepted_at: null,
  };
}

/**
 * An EmailAddress object (the spec's required fields), verified by the admin strategy as the
 * Backend API does for addresses it creates.
 */
export function makeEmailAddress(id, address, at) {
  return {
    id,
    object: "email_address",
    email_address: address,
    reserved: false,
    verification: {
      object: "verification_admin",
      status: "verified",
      strategy: "admin",
      attempts: null,
      expire_at: null,
    },
    linked_to: [],
    matches_sso_connection: false,
    created_at: at,
    updated_at: at,
  };
}

/**
 * Replaces `user`'s primary email address with a new one for `address` (a string), or
 * removes it (null); the other addresses stay.
 */
function setPrimaryEmail(user, address, at, id = `idn_${randomBase62(27)}`) {
  if (address !== null && typeof address !== "string") {
    throw new TypeError("email must be a string (or null: no primary address)");
  }
  const others = user.email_addresses.filter((entry) => entry.id !== user.primary_email_address_id);
  if (address === null) {
    user.email_addresses = others;
    user.primary_email_address_id = null;
  } else {
    user.email_addresses = [makeEmailAddress(id, address, at), ...others];
    user.primary_email_address_id = id;
  }
}

function primaryOf(list, id) {
  return id === null || !Array.isArray(list) ? undefined : list.find((entry) => entry.id === id);
}

/**
 * Clerk's error body: `{"errors":[{message, long_message, code, meta?}], "clerk_trace_id"}`.
 * `meta` (e.g. `{ param_name }`) is left out when not given.
 */
export function clerkErrors(code, message, longMessage = message, meta = undefined) {
  return {
    errors: [{ message, long_message: longMessage, code, ...(meta ? { meta } : {}) }],
    clerk_trace_id: randomUUID().replaceAll("-", ""),
  };
}

function invalidParam(name, longMessage) {
  return [
    422,
    clerkErrors("form_param_value_invalid", "is invalid", longMessage, { param_name: name }),
  ];
}

// ---------- users: ids, generation, and the store ordered by (created_at, id) ----------

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

function randomBase62(length) {
  const bytes = randomBytes(length * 2);
  let out = "";
  // 248 = 4 * 62: bytes >= 248 are skipped, so every character is equally likely.
  for (let i = 0; out.length < length; i++) {
    if (i === bytes.length) return out + randomBase62(length - out.length);
    if (bytes[i] < 248) out += BASE62[bytes[i] % 62];
  }
  return out;
}

/** murmur3's 32-bit finaliser: a bijection on 32-bit integers that mixes every bit. */
function fmix32(h) {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Two independent 32-bit hashes (FNV-1a, different bases) of a seed's text. */
function seedLanes(seed) {
  const text = String(seed);
  let a = 0x811c9dc5;
  let b = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    a = Math.imul(a ^ text.charCodeAt(i), 0x01000193) >>> 0;
    b = Math.imul(b ^ text.charCodeAt(i), 0x5bd1e995) >>> 0;
  }
  return [fmix32(a), fmix32(b ^ 0x9e3779b9)];
}

/**
 * 27 base62 characters from (seed lanes, index, salt): 64 bits of state, each lane a bijection
 * of the index, so two ids (of one seed or two) coincide with odds ~2^-64; addUsers refuses a
 * taken id all the same.
 */
function derivedBase62(laneA, laneB, index, salt) {
  const a = fmix32(laneA ^ fmix32(index + salt));
  const b = fmix32(laneB + Math.imul(index ^ salt, 0x9e3779b9));
  let at = 0;
  for (let word = 0; word < 6; word++) {
    const salted = word + 1;
    let w = (fmix32(a + Math.imul(salted, 0x9e3779b9)) ^ fmix32(b ^ Math.imul(salted, 0x85ebca6b)))
      >>> 0;
    for (let i = 0; i < 5 && at < 27; i++) {
      ID_CODES[at++] = BASE62_CODES[w % 62];
      w = Math.floor(w / 62);
    }
  }
  return String.fromCharCode.apply(null, ID_CODES); // one flat string, not 27 joined pieces
}

const BASE62_CODES = Uint8Array.from(BASE62, (char) => char.charCodeAt(0));
const ID_CODES = new Uint8Array(27);

const FIRST_NAMES = ["Ada", "Alan", "Barbara", "Claude", "Donald", "Edsger", "Frances", "Grace",
  "Hedy", "Ivan", "John", "Katherine", "Leslie", "Margaret", "Niklaus", "Radia", "Shafi",
  "Tim", "Whitfield", "Yukihiro"];
const LAST_NAMES = ["Lovelace", "Turing", "Liskov", "Shannon", "Knuth", "Dijkstra", "Allen",
  "Hopper", "Lamarr", "Sutherland", "McCarthy", "Johnson", "Lamport", "Hamilton", "Wirth",
  "Perlman", "Goldwasser", "Berners-Lee", "Diffie", "Matsumoto"];

/** Fields of the n users addUsers makes, deterministic in (seed, index). */
function generateUsers(n, options = {}) {
  const { seed = 1, createdFrom = DEFAULT_CREATED_FROM, stepMs = 1000 } = options;
  const { idPrefix = "user_" } = options;
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError("addUsers needs a count >= 0");
  if (!Number.isFinite(createdFrom) || !Number.isFinite(stepMs) || stepMs < 0) {
    throw new TypeError("addUsers needs a finite createdFrom and a stepMs >= 0");
  }
  if (typeof idPrefix !== "string") throw new TypeError("idPrefix must be a string");
  const [laneA, laneB] = seedLanes(seed);
  const users = new Array(n);
  for (let index = 0; index < n; index++) {
    const tail = derivedBase62(laneA, laneB, index, 0x75736572); // "user"
    const id = idPrefix + tail;
    const r = fmix32(laneA ^ fmix32(index + 0x6d697363)); // per-user choices
    const first = FIRST_NAMES[r % FIRST_NAMES.length];
    const last = LAST_NAMES[(r >>> 8) % LAST_NAMES.length];
    const createdAt = createdFrom + index * stepMs;
    // A quarter never updated; the rest up to 2^29 ms (~6 days) after creation.
    const updatedAt = (r >>> 16) % 4 === 0 ? createdAt : createdAt + (r >>> 3);
    const signedIn = (r >>> 20) % 5 !== 0;
    const emailId = `idn_${derivedBase62(laneA, laneB, index, 0x656d6169)}`; // "emai"
    const address = `${first}.${last}.${tail.slice(0, 10)}@example.com`.toLowerCase();
    const user = blankUser(id, createdAt);
    user.primary_email_address_id = emailId;
    user.first_name = first;
    user.last_name = last;
    user.email_addresses.push(makeEmailAddress(emailId, address, createdAt));
    user.last_sign_in_at = signedIn ? updatedAt : null;
    user.banned = r % 50 === 7; // 2%
    user.updated_at = updatedAt;
    user.last_active_at = signedIn ? updatedAt - (updatedAt % DAY_MS) : null;
    users[index] = user;
  }
  return users;
}

function compareKeys(a, b) {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** First index whose entry sorts after `key` (upper) or not before it (lower). */
function bound(entries, key, upper) {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const order = compareKeys(entries[mid], key);
    if (order < 0 || (upper && order === 0)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * `state.users`: a Map id -> User (the live users) that also keeps them in a list ordered by
 * (created_at, id), the order of GET /users, so a cursor page is a binary search and a slice.
 * Every Map write (set, delete, clear) keeps the two in step, so tests may use either.
 * A deleted user's (created_at, id) is kept, so its id stays a valid `starting_after`.
 * A user's place is its created_at when it was set: change created_at with updateUser (or
 * set the user again), not by writing the field.
 */
export class UserStore extends Map {
  /** Live entries { created_at, id, user }, ordered by (created_at, id). */
  #ordered = [];
  /** id -> its live entry. */
  #entries = new Map();
  /** id -> { created_at, id } of deleted users: their cursor positions. */
  #gone = new Map();

  set(id, user) {
    if (!user || user.id !== id) {
      throw new TypeError("state.users.set(id, user) needs user.id === id");
    }
    if (this.#entries.has(id)) this.#unlink(id);
    this.#gone.delete(id);
    const entry = { created_at: user.created_at, id, user };
    this.#ordered.splice(bound(this.#ordered, entry, true), 0, entry);
    this.#entries.set(id, entry);
    return super.set(id, user);
  }

  delete(id) {
    if (!this.#entries.has(id)) return false;
    const { created_at } = this.#unlink(id);
    this.#gone.set(id, { created_at, id });
    return super.delete(id);
  }

  clear() {
    this.#ordered = [];
    this.#entries.clear();
    this.#gone.clear();
    super.clear();
  }

  /** Adds many new users at once (one merge, not one insertion each). */
  addMany(users) {
    const batch = new Array(users.length);
    for (let k = 0; k < users.length; k++) {
      const user = users[k];
      const id = user.id;
      if (this.#entries.has(id) || this.#gone.has(id)) {
        for (let undo = 0; undo < k; undo++) this.#entries.delete(batch[undo].id);
        throw new TypeError(
          `user id ${id} is already taken (the same seed twice? use another seed or idPrefix)`,
        );
      }
      batch[k] = { created_at: user.created_at, id, user };
      this.#entries.set(id, batch[k]);
    }
    batch.sort(compareKeys); // linear when already in order
    const old = this.#ordered;
    if (old.length === 0 || batch.length === 0 || compareKeys(old[old.length - 1], batch[0]) < 0) {
      for (const entry of batch) old.push(entry);
    } else {
      const merged = new Array(old.length + batch.length);
      let i = 0;
      let j = 0;
      for (let k = 0; k < merged.length; k++) {
        const fromOld = j >= batch.length || (i < old.length && compareKeys(old[i], batch[j]) < 0);
        merged[k] = fromOld ? old[i++] : batch[j++];
      }
      this.#ordered = merged;
    }
    for (const entry of batch) super.set(entry.id, entry.user);
  }

  /** The live entries in (created_at, id) order; read only. */
  get ordered() {
    return this.#ordered;
  }

  /** The (created_at, id) of a live or deleted user, or null for an id never seen. */
  positionOf(id) {
    const entry = this.#entries.get(id) ?? this.#gone.get(id);
    return entry ? { created_at: entry.created_at, id } : null;
  }

  /** The live entries of `ids` (unknown ones skipped), in (created_at, id) order. */
  entriesOf(ids) {
    return ids.map((id) => this.#entries.get(id)).filter(Boolean).sort(compareKeys);
  }

  #unlink(id) {
    const entry = this.#entries.get(id);
    const at = bound(this.#ordered, entry, false);
    if (this.#ordered[at] !== entry) throw new Error(`fake-clerk: the user order lost ${id}`);
    this.#ordered.splice(at, 1);
    this.#entries.delete(id);
    return entry;
  }
}

const FAULT_KINDS = new Set(["rate-limit", "error", "reject", "delay", "hang"]);

/** Spec-documented refusals a route can be told to answer (`rejects` of ROUTES). */
const REJECT_CODES = Object.freeze({
  400: ["bad_request", "Bad request"],
  402: ["payment_required", "This feature requires a paid plan"],
});

function checkFault(fault, scope) {
  if (fault === null) return null;
  if (!fault || !FAULT_KINDS.has(fault.kind)) {
    throw new TypeError(`fault.kind must be one of ${[...FAULT_KINDS].join(", ")}`);
  }
  const times = fault.times ?? Infinity;
  if (!(times > 0)) throw new TypeError("fault.times must be > 0 (or omitted: until cleared)");
  if (fault.kind === "error" && !(fault.status >= 500 && fault.status <= 599)) {
    throw new TypeError("an error fault needs a 5xx status");
  }
  if (fault.kind === "reject") {
    const route = ROUTES.find((r) => r.name === scope);
    if (!route?.rejects?.includes(fault.status)) {
      throw new TypeError(`a reject fault needs a route and one of its spec statuses (${route?.rejects ?? "none"})`);
    }
  }
  if (fault.kind === "delay" && !(fault.ms >= 0)) throw new TypeError("a delay fault needs ms");
  return { retryAfter: 1, ...fault, times };
}

/**
 * Starts the fake on 127.0.0.1, on an ephemeral port unless `options.port` is given.
 *
 * options: secretKey (default DEFAULT_SECRET_KEY), jwks ({keys: [...]}), users and sessions
 * (partial objects, completed by makeUser/makeSession), sessionListForm (SESSION_LIST_FORMS),
 * now (() => ms), log (a function given one line per request; never the secret),
 * rateLimit ({ limit, windowSeconds = 10 }: every answer then carries `X-RateLimit-Limit`,
 * `X-RateLimit-Remaining` (limit minus the requests of the current window) and
 * `X-RateLimit-Reset` (seconds left in it); Clerk documents only `Retry-After`, so these are
 * off unless asked for).
 *
 * Returns { url, port, close(), state, setFault(scope, fault), clearFaults(), requests,
 * requestsTo(routeName), addUser(fields), addUsers(n, options), updateUser(id, fields),
 * deleteUser(id), getUser(id), addSession(fields), addHandshakePayload(directives, nonce?)
 * -> nonce, setJwks(jwks), setSessionListForm(form) }.
 * state: { users: UserStore (a Map id -> User, live users, kept in (created_at, id) order),
 * sessions: Map, jwks, sessionListForm, faults: Map, handshakePayloads: Map nonce ->
 * { directives, redeemed } } (live, mutable).
 * requests: the log, one entry per request: { method, path, query, route, auth: "present" |
 * "absent", authorized, apiVersion, status, fault, fakeMs }; fakeMs is the time the fake
 * spent computing and serialising the answer (null when a rate-limit, error or reject fault
 * answered, or the request hangs).
 * requestsTo(name) is the log's entries for one route.
 *
 * Users (GET /users and /users/count answer the live ones, as the objects are when asked):
 * - addUser(fields) -> User: makeUser(fields) at now() (fields.email: its primary address);
 *   replaces a user with the same id.
 * - addUsers(n, { seed = 1, createdFrom = DEFAULT_CREATED_FROM, stepMs = 1000, idPrefix =
 *   "user_" }) -> User[]: n users, the same for the same arguments: id idPrefix + 27 base62
 *   characters from (seed, index), a verified primary email, first and last names, about 2%
 *   banned, created_at createdFrom + index * stepMs, updated_at >= created_at. Throws when an
 *   id is taken (the same seed twice). 100,000 take under a second.
 * - updateUser(id, fields) -> User: merges fields into the user (email: string | null
 *   replaces the primary address; created_at moves it in the order; id cannot change) and
 *   sets updated_at to fields.updated_at ?? now(). Throws for an unknown id. Sessions are
 *   left alone (banned: true here does not revoke them, unlike POST /users/{id}/ban).
 * - deleteUser(id) -> the removed User, or null when no live user has that id. It leaves
 *   lists and count, its sessions stay; its id remains a valid `starting_after`.
 * - getUser(id) -> the live User, or null.
 * GET /users: limit (1..=500, default 10), offset (>= 0), order_by (USER_ORDER_FIELDS with an
 * optional +/-, default -created_at; ties by id), starting_after (the id of a live or deleted
 * user: the users after its (created_at, id) in that order; created_at orderings only, offset
 * 0 only), user_id (repeatable, up to 100; "-id" excludes), banned; a bare array of Users.
 * GET /users/count: the same filters -> { object: "total_count", total_count }. An invalid
 * parameter is 422 form_param_value_invalid (meta.param_name); a filter in
 * UNSUPPORTED_USER_FILTERS is 422 unsupported_by_fake.
 * A fault is { kind: "rate-limit", retryAfter?: seconds (1), form?: "seconds" | "date", times? } | { kind: "error",
 * status: 5xx, times? } | { kind: "reject", status: one of the route's spec `rejects` (400,
 * 402), times? } | { kind: "delay", ms, times? } | { kind: "hang", times? }; times
 * (default: until cleared) counts the requests it answers. scope is a route name of ROUTES
 * or UNDOCUMENTED_ROUTES, or "*" (every route); a route's own fault wins over "*".
 * setFault(scope, null) clears it.
 */
export async function startFakeClerk(options = {}) {
  const secretKey = options.secretKey ?? DEFAULT_SECRET_KEY;
  const now = options.now ?? (() => Date.now());
  const log = options.log ?? null;
  const state = {
    users: new UserStore(),
    sessions: new Map(),
    jwks: options.jwks ?? { keys: [] },
    sessionListForm: "array",
    faults: new Map(),
    handshakePayloads: new Map(),
  };
  const requests = [];
  const timers = new Set();
  const rateWindow = { start: 0, used: 0 };

  function addUser(fields) {
    const user = makeUser(fields, now());
    state.users.set(user.id, user);
    return user;
  }

  function addUsers(n, options = {}) {
    const users = generateUsers(n, options);
    state.users.addMany(users);
    return users;
  }

  function getUser(id) {
    return state.users.get(id) ?? null;
  }

  function updateUser(id, fields = {}) {
    const user = state.users.get(id);
    if (!user) throw new TypeError(`updateUser: no live user ${id}`);
    if ("id" in fields && fields.id !== id) throw new TypeError("updateUser cannot change an id");
    const { email, updated_at: updatedAt, ...rest } = fields;
    const at = updatedAt ?? now();
    const moved = "created_at" in rest && rest.created_at !== user.created_at;
    Object.assign(user, rest);
    if (email !== undefined) setPrimaryEmail(user, email, at);
    user.updated_at = at;
    if (moved) state.users.set(id, user);
    return user;
  }

  function deleteUser(id) {
    const user = state.users.get(id);
    if (!user) return null;
    state.users.delete(id);
    return user;
  }

  function addSession(fields) {
    const session = makeSession(fields, now());
    if (!state.users.has(session.user_id)) addUser({ id: session.user_id });
    state.sessions.set(session.id, session);
    return session;
  }

  function setSessionListForm(form) {
    if (!SESSION_LIST_FORMS.includes(form)) {
      throw new TypeError(`sessionListForm must be one of ${SESSION_LIST_FORMS.join(", ")}`);
    }
    state.sessionListForm = form;
  }

  function setJwks(jwks) {
    if (!jwks || !Array.isArray(jwks.keys)) throw new TypeError("jwks must be { keys: [...] }");
    state.jwks = jwks;
  }

  function setFault(scope, fault) {
    if (scope !== "*" && !compiledRoutes.some((route) => route.name === scope)) {
      throw new TypeError(`unknown fault scope ${scope}: use "*" or a name of ROUTES or UNDOCUMENTED_ROUTES`);
    }
    const checked = checkFault(fault, scope);
    if (checked) state.faults.set(scope, checked);
    else state.faults.delete(scope);
  }

  /**
   * Stores handshake directives (Set-Cookie strings) under a fresh nonce (or `nonce`) and
   * returns the nonce: `GET /v1/clients/handshake_payload?nonce=` answers them once.
   */
  function addHandshakePayload(directives, nonce = randomBytes(24).toString("base64url")) {
    if (!Array.isArray(directives) || !directives.every((d) => typeof d === "string")) {
      throw new TypeError("directives must be an array of Set-Cookie strings");
    }
    if (typeof nonce !== "string" || nonce === "" || state.handshakePayloads.has(nonce)) {
      throw new TypeError("the nonce must be a new, non-empty string");
    }
    state.handshakePayloads.set(nonce, { directives: [...directives], redeemed: false });
    return nonce;
  }

  for (const user of options.users ?? []) addUser(user);
  for (const session of options.sessions ?? []) addSession(session);
  setSessionListForm(options.sessionListForm ?? "array");

  function takeFault(routeName) {
    for (const scope of [routeName, "*"]) {
      const fault = state.faults.get(scope);
      if (!fault) continue;
      fault.times -= 1;
      if (fault.times <= 0) state.faults.delete(scope);
      return fault;
    }
    return null;
  }

  const handlers = {
    jwks: () => [200, state.jwks],

    listSessions: (_params, query) => {
      const userId = query.get("user_id");
      const clientId = query.get("client_id");
      if (!userId && !clientId) {
        return [
          400,
          clerkErrors(
            "form_param_missing",
            "missing query parameter",
            "At least one of user_id or client_id is required",
          ),
        ];
      }
      const status = query.get("status");
      if (status !== null && !SESSION_STATUS_FILTERS.includes(status)) {
        return [422, clerkErrors("form_param_value_invalid", "is invalid", `status is invalid`)];
      }
      const paging = pageParams(query);
      if (paging.error) return paging.error;
      const { limit, offset } = paging;
      const matching = [...state.sessions.values()]
        .map((session, index) => ({ session, index }))
        .filter(({ session }) => (!userId || session.user_id === userId))
        .filter(({ session }) => (!clientId || session.client_id === clientId))
        .filter(({ session }) => (!status || session.status === status))
        // Newest first, as the spec says; later insertion first on equal times.
        .sort((a, b) => b.session.created_at - a.session.created_at || b.index - a.index)
        .map(({ session }) => session);
      const page = matching.slice(offset, offset + limit);
      const paginated =
        state.sessionListForm === "paginated" ||
        (state.sessionListForm === "auto" && query.get("paginated") === "true");
      return [200, paginated ? { data: page, total_count: matching.length } : page];
    },

    revokeSession: ({ session_id }) => {
      const session = state.sessions.get(session_id);
      if (!session) return notFound();
      session.status = "revoked";
      session.updated_at = now();
      return [200, session];
    },

    banUser: ({ user_id }) => {
      const user = state.users.get(user_id);
      if (!user) return notFound();
      user.banned = true;
      user.updated_at = now();
      // The spec: "all their sessions are revoked" (pending ones too, not just active).
      for (const session of state.sessions.values()) {
        if (session.user_id === user_id && ["active", "pending"].includes(session.status)) {
          session.status = "revoked";
          session.updated_at = now();
        }
      }
      return [200, user];
    },

    handshakePayload: (_params, query) => {
      const nonce = query.get("nonce");
      if (!nonce) {
        return [
          400,
          clerkErrors("form_param_missing", "missing query parameter", "nonce is required"),
        ];
      }
      const payload = state.handshakePayloads.get(nonce);
      if (!payload || payload.redeemed) return notFound();
      payload.redeemed = true;
      return [200, { directives: payload.directives }];
    },

    unbanUser: ({ user_id }) => {
      const user = state.users.get(user_id);
      if (!user) return notFound();
      user.banned = false;
      user.updated_at = now();
      return [200, user];
    },

    listUsers: (_params, query) => {
      const paging = pageParams(query);
      if (paging.error) return paging.error;
      const { limit, offset } = paging;
      const order = orderParam(query);
      if (order.error) return order.error;
      const cursor = query.get("starting_after");
      if (cursor !== null) {
        if (order.field !== "created_at") {
          return invalidParam(
            "starting_after",
            "starting_after requires ordering by created_at (order_by omitted, created_at, " +
              `+created_at or -created_at), not order_by=${order.raw}`,
          );
        }
        if (offset !== 0) {
          return invalidParam(
            "starting_after",
            "starting_after cannot be combined with a non-zero offset",
          );
        }
      }
      const view = userView(query);
      if (view.error) return view.error;
      const entries = view.entries;

      let page;
      if (order.field !== "created_at") {
        // Offset paging over another field: sorted per request (the live API is slow here too).
        const read = USER_ORDER_FIELDS[order.field];
        const sign = order.descending ? -1 : 1;
        page = entries
          .map((entry) => ({ entry, value: read(entry.user) ?? null }))
          .sort(
            (a, b) => sign * (compareNullsLast(a.value, b.value) || compareKeys(a.entry, b.entry)),
          )
          .slice(offset, offset + limit)
          .map(({ entry }) => entry);
      } else if (cursor !== null) {
        const position = state.users.positionOf(cursor);
        if (!position) {
          return invalidParam(
            "starting_after",
            `starting_after must be the id of a user on an earlier page; no user ${cursor} exists`,
          );
        }
        if (order.descending) {
          const end = bound(entries, position, false);
          page = entries.slice(Math.max(0, end - limit), end).reverse();
        } else {
          const start = bound(entries, position, true);
          page = entries.slice(start, start + limit);
        }
      } else if (order.descending) {
        const end = Math.max(0, entries.length - offset);
        page = entries.slice(Math.max(0, end - limit), end).reverse();
      } else {
        page = entries.slice(offset, offset + limit);
      }
      return [200, page.map((entry) => entry.user)];
    },

    countUsers: (_params, query) => {
      const view = userView(query);
      if (view.error) return view.error;
      return [200, { object: "total_count", total_count: view.entries.length }];
    },
  };

  /**
   * The live users a GET /users or /users/count request selects (`user_id`, `banned`), in
   * (created_at, id) order, or { error } for a filter that is invalid or not implemented.
   */
  function userView(query) {
    const unsupported = UNSUPPORTED_USER_FILTERS.find((name) => query.has(name));
    if (unsupported) {
      return {
        error: [
          422,
          clerkErrors(
            "unsupported_by_fake",
            "not supported by the fake",
            `the fake Clerk Backend API does not implement the ${unsupported} filter ` +
              "(tests/support/fake-clerk.mjs): it would answer an unfiltered list",
            { param_name: unsupported },
          ),
        ],
      };
    }
    let entries = state.users.ordered;
    const userIds = query.getAll("user_id");
    if (userIds.length > MAX_FILTER_VALUES) {
      return {
        error: invalidParam("user_id", `user_id accepts up to ${MAX_FILTER_VALUES} values`),
      };
    }
    if (userIds.length > 0) {
      // "+id" (or " id": an unencoded + in a query string) includes, "-id" excludes.
      const include = new Set();
      const exclude = new Set();
      for (const raw of userIds) {
        if (raw.startsWith("-")) exclude.add(raw.slice(1));
        else include.add(raw.replace(/^[+ ]/, ""));
      }
      entries = include.size > 0 ? state.users.entriesOf([...include]) : entries;
      if (exclude.size > 0) entries = entries.filter((entry) => !exclude.has(entry.id));
    }
    const banned = query.get("banned");
    if (banned !== null) {
      if (banned !== "true" && banned !== "false") {
        return { error: invalidParam("banned", "banned must be true or false") };
      }
      const wanted = banned === "true";
      entries = entries.filter((entry) => entry.user.banned === wanted);
    }
    return { entries };
  }

  function rateLimitHeaders() {
    if (!options.rateLimit) return {};
    const { limit, windowSeconds = 10 } = options.rateLimit;
    const windowMs = windowSeconds * 1000;
    const at = now();
    const windowStart = at - (at % windowMs);
    if (rateWindow.start !== windowStart) Object.assign(rateWindow, { start: windowStart, used: 0 });
    rateWindow.used += 1;
    return {
      "x-ratelimit-limit": String(limit),
      "x-ratelimit-remaining": String(Math.max(0, limit - rateWindow.used)),
      "x-ratelimit-reset": String(Math.ceil((windowStart + windowMs - at) / 1000)),
    };
  }

  function send(res, entry, status, body, headers = {}) {
    headers = { ...rateLimitHeaders(), ...headers };
    entry.status = status;
    if (log) {
      log(
        `fake-clerk ${entry.method} ${entry.path} auth=${entry.auth}` +
          `${entry.fault ? ` fault=${entry.fault}` : ""} -> ${status}`,
      );
    }
    sendJson(res, status, body, headers);
  }

  function later(ms, fn) {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  }

  function handle(req, res) {
    const url = new URL(req.url, "http://fake-clerk.invalid");
    const authorization = req.headers.authorization;
    const entry = {
      method: req.method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      route: null,
      auth: authorization ? "present" : "absent",
      authorized: authorization === `Bearer ${secretKey}`,
      apiVersion: req.headers["clerk-api-version"] ?? null,
      status: null,
      fault: null,
      fakeMs: null,
    };
    requests.push(entry);

    const onPath = compiledRoutes.filter((route) => route.pattern.test(url.pathname));
    const route = onPath.find((candidate) => candidate.method === req.method);
    if (!route) {
      if (onPath.length > 0) {
        return send(
          res,
          entry,
          405,
          clerkErrors("method_not_allowed", "method not allowed"),
          { allow: onPath.map((candidate) => candidate.method).join(", ") },
        );
      }
      return send(res, entry, 404, notFound()[1]);
    }
    entry.route = route.name;

    const answer = () => {
      const started = performance.now();
      try {
        respond();
      } finally {
        entry.fakeMs = performance.now() - started;
      }
    };

    const respond = () => {
      if (!entry.authorized) {
        return send(
          res,
          entry,
          401,
          clerkErrors(
            "authentication_invalid",
            "Invalid authentication",
            "Unable to authenticate the request, you need to supply an active API key",
          ),
        );
      }
      const match = route.pattern.exec(url.pathname);
      const params = Object.fromEntries(
        route.params.map((name, index) => [name, decodeURIComponent(match[index + 1])]),
      );
      const [status, body] = handlers[route.name](params, url.searchParams);
      send(res, entry, status, body);
    };

    const fault = takeFault(route.name);
    if (!fault) return answer();
    entry.fault = fault.kind;
    switch (fault.kind) {
      case "rate-limit":
        return send(
          res,
          entry,
          429,
          clerkErrors("too_many_requests", "Too many requests", "Too many requests, retry later"),
          {
            // `form: "date"`: the HTTP-date form RFC 9110 also allows (Node adds `Date`).
            "retry-after":
              fault.form === "date"
                ? new Date(Date.now() + fault.retryAfter * 1000).toUTCString()
                : String(fault.retryAfter),
          },
        );
      case "error":
        return send(
          res,
          entry,
          fault.status,
          clerkErrors("internal_clerk_error", "Oops, an unexpected error occurred"),
        );
      case "reject":
        return send(res, entry, fault.status, clerkErrors(...REJECT_CODES[fault.status]));
      case "delay":
        return later(fault.ms, answer);
      case "hang":
        return undefined; // close() destroys the socket
    }
  }

  const { url, port, close } = await serveLocal(handle, {
    port: options.port,
    errorBody: (error) => clerkErrors("fake_clerk_bug", String(error?.message)),
    onClose: () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
  });

  return {
    url,
    port,
    close,
    state,
    setFault,
    clearFaults: () => state.faults.clear(),
    requests,
    requestsTo: (routeName) => requests.filter((entry) => entry.route === routeName),
    addUser,
    addUsers,
    updateUser,
    deleteUser,
    getUser,
    addSession,
    addHandshakePayload,
    setJwks,
    setSessionListForm,
  };
}

function notFound() {
  return [404, clerkErrors("resource_not_found", "not found", "Resource not found")];
}

function intParam(query, name, fallback) {
  const raw = query.get(name);
  if (raw === null) return fallback;
  return /^-?\d{1,9}$/.test(raw) ? Number(raw) : null;
}

/** The spec's LimitParameter and OffsetParameter: { limit, offset } or { error }. */
function pageParams(query) {
  const limit = intParam(query, "limit", LIMIT.default);
  const offset = intParam(query, "offset", 0);
  if (limit === null || limit < LIMIT.minimum || limit > LIMIT.maximum) {
    return {
      error: invalidParam("limit", `limit must be between ${LIMIT.minimum} and ${LIMIT.maximum}`),
    };
  }
  if (offset === null || offset < 0) {
    return { error: invalidParam("offset", "offset must be >= 0") };
  }
  return { limit, offset };
}

/**
 * GET /users `order_by` (the first one, as the spec says): { field, descending, raw } or
 * { error }. No sign means `+`; a leading space is an unencoded `+` decoded by the query.
 */
function orderParam(query) {
  const raw = query.get("order_by") ?? "-created_at";
  const match = /^([+ -]?)([a-z0-9_]+)$/.exec(raw);
  if (!match || !Object.hasOwn(USER_ORDER_FIELDS, match[2])) {
    return {
      error: invalidParam(
        "order_by",
        `order_by must be one of ${Object.keys(USER_ORDER_FIELDS).join(", ")}, optionally ` +
          `prefixed with + or -; got ${raw}`,
      ),
    };
  }
  return { field: match[2], descending: match[1] === "-", raw };
}

/** Ascending, nulls after every value (as Postgres orders them). */
function compareNullsLast(a, b) {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}
