// The fake Clerk Backend API's users (tests/support/fake-clerk.mjs): GET /v1/users (cursor
// and offset pages, order_by, the user_id and banned filters, its 422s), GET /v1/users/count,
// the test-side mutators (addUsers, updateUser, deleteUser, getUser) and fault injection on
// the two routes. The spec checks of their shapes are in tests/js/fake-clerk.test.mjs.
// Run: node --test tests/js/fake-clerk-users.test.mjs

import { test, describe, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";

import {
  API_PREFIX,
  DEFAULT_CREATED_FROM,
  LIMIT,
  MAX_FILTER_VALUES,
  startFakeClerk,
} from "../support/fake-clerk.mjs";

const SECRET = "sk_test_users_0123456789";
const T0 = 1_750_000_000_000;

/** GET `path` with `query` (an object; array values repeat the parameter). */
async function get(clerk, path, query = {}) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const one of [value].flat()) search.append(name, String(one));
  }
  const response = await fetch(`${clerk.url}${API_PREFIX}${path}?${search}`, {
    headers: { Authorization: `Bearer ${SECRET}` },
  });
  return { status: response.status, headers: response.headers, body: await response.json() };
}

/** Walks GET /users with `starting_after` until a short page; every page's ids. */
async function walk(clerk, query) {
  const limit = query.limit ?? LIMIT.default;
  const pages = [];
  let cursor = null;
  for (;;) {
    const response = await get(clerk, "/users", { ...query, ...(cursor ? { starting_after: cursor } : {}) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
    pages.push(response.body.map((user) => user.id));
    if (response.body.length < limit) return pages;
    cursor = response.body.at(-1).id;
  }
}

function byCreation(a, b) {
  return a.created_at - b.created_at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

function assertInvalid(response, param, pattern) {
  assert.equal(response.status, 422, JSON.stringify(response.body));
  assert.equal(typeof response.body.clerk_trace_id, "string");
  assert.equal(response.body.errors.length, 1);
  const [error] = response.body.errors;
  assert.equal(error.code, "form_param_value_invalid");
  assert.equal(error.message, "is invalid");
  assert.equal(error.meta.param_name, param);
  assert.match(error.long_message, pattern);
}

describe("the fake's users", () => {
  let clerk;
  let clock = T0;

  before(async () => {
    clerk = await startFakeClerk({ secretKey: SECRET, now: () => clock });
  });

  after(() => clerk.close());

  beforeEach(() => {
    clerk.state.users.clear();
    clerk.state.sessions.clear();
    clerk.clearFaults();
    clerk.requests.length = 0;
    clock = T0;
  });

  /** 1,234 users, 234 of them sharing created_at with another (ties broken by id). */
  function seed1234() {
    const users = [
      ...clerk.addUsers(1000, { seed: "a", stepMs: 1000 }),
      ...clerk.addUsers(234, { seed: "b", stepMs: 2000 }),
    ];
    assert.equal(new Set(users.map((user) => user.created_at)).size, 1000, "234 ties");
    return users.sort(byCreation).map((user) => user.id);
  }

  test("a +created_at cursor walk returns every user once, oldest first, in 3 pages", async () => {
    const expected = seed1234();
    const pages = await walk(clerk, { limit: 500, order_by: "+created_at" });
    assert.deepEqual(pages.map((page) => page.length), [500, 500, 234], "stops on the short page");
    assert.deepEqual(pages.flat(), expected);
    assert.equal(clerk.requestsTo("listUsers").length, 3);
    // No sign is +, and an unencoded + (decoded as a space) too.
    assert.deepEqual((await walk(clerk, { limit: 500, order_by: "created_at" })).flat(), expected);
    const raw = await fetch(`${clerk.url}${API_PREFIX}/users?limit=3&order_by=+created_at`, {
      headers: { Authorization: `Bearer ${SECRET}` },
    });
    assert.deepEqual((await raw.json()).map((user) => user.id), expected.slice(0, 3));
  });

  test("-created_at (the default) walks newest first", async () => {
    const expected = seed1234().reverse();
    const pages = await walk(clerk, { limit: 500, order_by: "-created_at" });
    assert.deepEqual(pages.map((page) => page.length), [500, 500, 234]);
    assert.deepEqual(pages.flat(), expected);
    assert.deepEqual((await walk(clerk, { limit: 500 })).flat(), expected, "the default order");
    const first = await get(clerk, "/users");
    assert.deepEqual(first.body.map((user) => user.id), expected.slice(0, LIMIT.default));
  });

  test("offset pages in both directions, and starting_after with offset=0", async () => {
    const expected = seed1234();
    const ids = async (query) => (await get(clerk, "/users", query)).body.map((user) => user.id);
    assert.deepEqual(await ids({ limit: 7, offset: 100, order_by: "+created_at" }), expected.slice(100, 107));
    assert.deepEqual(await ids({ limit: 7, offset: 100 }), [...expected].reverse().slice(100, 107));
    assert.deepEqual(await ids({ limit: 7, offset: 1230 }), [...expected].reverse().slice(1230));
    assert.deepEqual(await ids({ limit: 7, offset: 5000 }), []);
    assert.deepEqual(
      await ids({ limit: 2, offset: 0, order_by: "+created_at", starting_after: expected[9] }),
      expected.slice(10, 12),
    );
  });

  test("the 422s: starting_after with offset or another order, limit bounds, unknown cursor", async () => {
    const [first] = seed1234();
    assertInvalid(
      await get(clerk, "/users", { starting_after: first, offset: 1 }),
      "starting_after",
      /cannot be combined with a non-zero offset/,
    );
    for (const order of ["updated_at", "+updated_at", "-first_name", "last_sign_in_at"]) {
      assertInvalid(
        await get(clerk, "/users", { starting_after: first, order_by: order }),
        "starting_after",
        /requires ordering by created_at/,
      );
    }
    for (const limit of [0, 501, -1, "x"]) {
      assertInvalid(await get(clerk, "/users", { limit }), "limit", /limit must be between 1 and 500/);
    }
    assertInvalid(await get(clerk, "/users", { offset: -1 }), "offset", /offset must be >= 0/);
    assertInvalid(
      await get(clerk, "/users", { starting_after: "user_never_existed" }),
      "starting_after",
      /no user user_never_existed exists/,
    );
    assertInvalid(await get(clerk, "/users", { order_by: "password" }), "order_by", /order_by must be one of/);
    const tooMany = Array.from({ length: MAX_FILTER_VALUES + 1 }, (_, i) => `user_${i}`);
    assertInvalid(await get(clerk, "/users", { user_id: tooMany }), "user_id", /up to 100/);
    assertInvalid(await get(clerk, "/users/count", { user_id: tooMany }), "user_id", /up to 100/);
    assertInvalid(await get(clerk, "/users", { banned: "yes" }), "banned", /true or false/);
    // The boundaries themselves are fine.
    assert.equal((await get(clerk, "/users", { limit: 1 })).body.length, 1);
    assert.equal((await get(clerk, "/users", { limit: 500 })).body.length, 500);
    assert.equal((await get(clerk, "/users", { user_id: tooMany.slice(1) })).status, 200);
  });

  test("filters the fake does not implement are refused, not ignored", async () => {
    clerk.addUsers(3);
    for (const path of ["/users", "/users/count"]) {
      const response = await get(clerk, path, { email_address: "a@example.com" });
      assert.equal(response.status, 422);
      assert.equal(response.body.errors[0].code, "unsupported_by_fake");
      assert.match(response.body.errors[0].long_message, /email_address filter/);
    }
  });

  test("a walk continues from a cursor user deleted after the walk began", async () => {
    const expected = seed1234();
    const page1 = (await get(clerk, "/users", { limit: 100, order_by: "+created_at" })).body;
    const cursor = page1.at(-1).id;
    assert.equal(cursor, expected[99]);
    assert.equal(clerk.deleteUser(cursor).id, cursor);
    assert.equal(clerk.deleteUser(expected[100]).id, expected[100], "the next one too");
    assert.equal(clerk.deleteUser(cursor), null, "already gone");
    assert.equal(clerk.getUser(cursor), null);
    const page2 = await get(clerk, "/users", { limit: 100, order_by: "+created_at", starting_after: cursor });
    assert.deepEqual(page2.body.map((user) => user.id), expected.slice(101, 201));
    // Newest first from the same deleted cursor: the users before it.
    const back = await get(clerk, "/users", { limit: 3, starting_after: cursor });
    assert.deepEqual(back.body.map((user) => user.id), [expected[98], expected[97], expected[96]]);
    // The rest of the walk still covers every live user once.
    const rest = await walk(clerk, { limit: 500, order_by: "+created_at" });
    assert.deepEqual(rest.flat(), expected.filter((id) => id !== cursor && id !== expected[100]));
  });

  test("the count follows adds and deletes; the filters narrow it", async () => {
    const count = async (query) => {
      const response = await get(clerk, "/users/count", query);
      assert.equal(response.status, 200);
      assert.equal(response.body.object, "total_count");
      return response.body.total_count;
    };
    assert.equal(await count(), 0);
    const users = clerk.addUsers(50, { seed: 3 });
    assert.equal(await count(), 50);
    clerk.addUser({ id: "user_extra", email: "extra@example.com" });
    assert.equal(await count(), 51);
    clerk.deleteUser(users[0].id);
    clerk.deleteUser("user_extra");
    assert.equal(await count(), 49);
    clerk.addUser({ id: "user_extra" });
    assert.equal(await count(), 50, "an id can come back");
    assert.equal(
      await count({ user_id: [users[0].id, users[1].id, users[2].id, "user_unknown"] }),
      2,
      "deleted and unknown ids are not counted",
    );
    clerk.updateUser(users[1].id, { banned: true });
    clerk.updateUser(users[2].id, { banned: false });
    const banned = [...clerk.state.users.values()].filter((user) => user.banned).length;
    assert.ok(banned >= 1);
    assert.equal(await count({ banned: true }), banned);
    assert.equal(await count({ banned: false }), 50 - banned);
    // The list agrees with the count.
    assert.equal((await walk(clerk, { limit: 500 })).flat().length, 50);
  });

  test("user_id selects (and -user_id excludes) users, in the list's order, cursor included", async () => {
    const expected = seed1234();
    const picked = [expected[900], expected[5], expected[700], expected[10]];
    const ids = async (query) => {
      const response = await get(clerk, "/users", query);
      assert.equal(response.status, 200);
      return response.body.map((user) => user.id);
    };
    assert.deepEqual(await ids({ user_id: picked, order_by: "+created_at" }), [
      expected[5],
      expected[10],
      expected[700],
      expected[900],
    ]);
    assert.deepEqual(await ids({ user_id: picked }), [expected[900], expected[700], expected[10], expected[5]]);
    assert.deepEqual(
      await ids({ user_id: picked, order_by: "+created_at", starting_after: expected[10] }),
      [expected[700], expected[900]],
      "the cursor need not be among the selected users",
    );
    assert.deepEqual(
      await ids({ user_id: picked, order_by: "+created_at", starting_after: expected[6] }),
      [expected[10], expected[700], expected[900]],
    );
    assert.deepEqual(
      await ids({ user_id: [`+${expected[5]}`, `-${expected[5]}`, `+${expected[10]}`] }),
      [expected[10]],
    );
    assert.deepEqual(
      await ids({ user_id: [`-${expected[0]}`, `-${expected[1]}`], order_by: "+created_at", limit: 2 }),
      [expected[2], expected[3]],
    );
  });

  test("a user updated mid-walk shows its new data on the next page", async () => {
    const expected = seed1234();
    const page1 = (await get(clerk, "/users", { limit: 500, order_by: "+created_at" })).body;
    const target = expected[600];
    const before = clerk.getUser(target);
    const oldAddress = before.primary_email_address_id;
    clock = T0 + 5_000;
    const updated = clerk.updateUser(target, {
      first_name: "Grace",
      last_name: "Hopper",
      email: "grace@example.com",
      banned: true,
    });
    assert.equal(updated, clerk.getUser(target), "the same object");
    const page2 = (
      await get(clerk, "/users", { limit: 500, order_by: "+created_at", starting_after: page1.at(-1).id })
    ).body;
    assert.deepEqual(page2.map((user) => user.id), expected.slice(500, 1000), "its place is kept");
    const seen = page2.find((user) => user.id === target);
    assert.equal(seen.first_name, "Grace");
    assert.equal(seen.last_name, "Hopper");
    assert.equal(seen.banned, true);
    assert.equal(seen.updated_at, T0 + 5_000);
    assert.ok(seen.updated_at >= seen.created_at);
    assert.notEqual(seen.primary_email_address_id, oldAddress);
    assert.deepEqual(
      seen.email_addresses.map((address) => [address.id === seen.primary_email_address_id, address.email_address]),
      [[true, "grace@example.com"]],
      "the primary address is replaced",
    );
    // An explicit updated_at, a removed address, and a new created_at that moves the user.
    clerk.updateUser(target, { email: null, updated_at: 42, created_at: DEFAULT_CREATED_FROM - 1 });
    const first = (await get(clerk, "/users", { limit: 1, order_by: "+created_at" })).body[0];
    assert.equal(first.id, target);
    assert.equal(first.updated_at, 42);
    assert.equal(first.primary_email_address_id, null);
    assert.deepEqual(first.email_addresses, []);
    assert.throws(() => clerk.updateUser("user_nope", { first_name: "x" }), TypeError);
    assert.throws(() => clerk.updateUser(target, { id: "user_other" }), TypeError);
  });

  test("ban and unban act on the listed users and bump updated_at", async () => {
    const [user] = clerk.addUsers(1, { seed: "ban" });
    clerk.addSession({ id: "sess_ban", user_id: user.id });
    clock = T0 + 60_000;
    const call = (action) =>
      fetch(`${clerk.url}${API_PREFIX}/users/${user.id}/${action}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${SECRET}` },
      });
    assert.equal((await call("ban")).status, 200);
    let [listed] = (await get(clerk, "/users")).body;
    assert.equal(listed.banned, true);
    assert.equal(listed.updated_at, T0 + 60_000);
    assert.equal(clerk.state.sessions.get("sess_ban").status, "revoked");
    clock = T0 + 120_000;
    assert.equal((await call("unban")).status, 200);
    [listed] = (await get(clerk, "/users")).body;
    assert.equal(listed.banned, false);
    assert.equal(listed.updated_at, T0 + 120_000);
  });

  test("other order_by fields page with offset, ties broken by creation", async () => {
    const users = clerk.addUsers(300, { seed: "order" });
    const ids = async (query) => (await get(clerk, "/users", query)).body.map((user) => user.id);
    const text = (a, b) => (a < b ? -1 : a > b ? 1 : 0);
    const byFirst = [...users].sort((a, b) => text(a.first_name, b.first_name) || byCreation(a, b));
    assert.deepEqual(await ids({ order_by: "first_name", limit: 50, offset: 20 }), byFirst.slice(20, 70).map((u) => u.id));
    const byUpdated = [...users].sort((a, b) => b.updated_at - a.updated_at || byCreation(b, a));
    assert.deepEqual(await ids({ order_by: "-updated_at", limit: 500 }), byUpdated.map((u) => u.id));
    // Nulls last ascending (Postgres' order), first descending.
    const signIns = await get(clerk, "/users", { order_by: "+last_sign_in_at", limit: 500 });
    const values = signIns.body.map((user) => user.last_sign_in_at);
    const firstNull = values.indexOf(null);
    assert.ok(firstNull > 0, "some users never signed in");
    assert.ok(values.slice(firstNull).every((value) => value === null));
  });

  test("addUsers: deterministic Clerk-shaped users; the same seed twice is refused", async () => {
    const users = clerk.addUsers(1000, { seed: 11, createdFrom: 5_000, stepMs: 10 });
    const other = await startFakeClerk({ secretKey: SECRET });
    try {
      const again = other.addUsers(1000, { seed: 11, createdFrom: 5_000, stepMs: 10 });
      assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(users)), "same arguments, same users");
      const reseeded = other.addUsers(1000, { seed: 12, createdFrom: 5_000, stepMs: 10 });
      assert.ok(reseeded.every((user, i) => user.id !== users[i].id));
    } finally {
      await other.close();
    }
    assert.equal(new Set(users.map((user) => user.id)).size, 1000);
    const emails = users.map((user) => user.email_addresses[0].email_address);
    assert.equal(new Set(emails).size, 1000, "unique addresses");
    users.forEach((user, i) => {
      assert.match(user.id, /^user_[0-9A-Za-z]{27}$/);
      assert.equal(user.created_at, 5_000 + i * 10);
      assert.ok(user.updated_at >= user.created_at);
      assert.equal(user.email_addresses.length, 1);
      assert.equal(user.email_addresses[0].id, user.primary_email_address_id);
      assert.match(user.primary_email_address_id, /^idn_[0-9A-Za-z]{27}$/);
      assert.match(user.email_addresses[0].email_address, /^[a-z-]+\.[a-z-]+\.[0-9a-z]{10}@example\.com$/);
      assert.ok(user.first_name && user.last_name);
      assert.equal(clerk.getUser(user.id), user);
    });
    const banned = users.filter((user) => user.banned).length;
    assert.ok(banned > 0 && banned < 60, `some banned, most not (${banned})`);
    assert.throws(() => clerk.addUsers(5, { seed: 11 }), /already taken/);
    assert.equal(clerk.state.users.size, 1000, "a refused batch adds nothing");
    const prefixed = clerk.addUsers(2, { seed: 11, idPrefix: "user_t_" });
    assert.match(prefixed[0].id, /^user_t_[0-9A-Za-z]{27}$/);
  });

  test("state.users stays a Map: clear, delete and set keep the list in step", async () => {
    clerk.addUsers(20);
    clerk.addUser({ id: "user_m", created_at: 1 });
    assert.equal((await get(clerk, "/users", { order_by: "+created_at", limit: 1 })).body[0].id, "user_m");
    clerk.state.users.delete("user_m");
    assert.equal((await get(clerk, "/users/count")).body.total_count, 20);
    clerk.state.users.clear();
    assert.deepEqual((await get(clerk, "/users")).body, []);
    assert.equal((await get(clerk, "/users", { starting_after: "user_m" })).status, 422, "clear forgets cursors");
    assert.throws(() => clerk.state.users.set("user_x", { id: "user_y" }), TypeError);
  });

  test("faults: 429 with Retry-After, then the route recovers; 5xx and delay on count", async () => {
    seed1234();
    clerk.setFault("listUsers", { kind: "rate-limit", retryAfter: 2, times: 2 });
    for (let i = 0; i < 2; i++) {
      const limited = await get(clerk, "/users", { limit: 500 });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers.get("retry-after"), "2");
      assert.equal(limited.body.errors[0].code, "too_many_requests");
    }
    assert.equal((await get(clerk, "/users/count")).status, 200, "other routes unaffected");
    const pages = await walk(clerk, { limit: 500, order_by: "+created_at" });
    assert.equal(pages.flat().length, 1234, "recovered");
    assert.deepEqual(
      clerk.requestsTo("listUsers").map((entry) => [entry.status, entry.fault]),
      [[429, "rate-limit"], [429, "rate-limit"], [200, null], [200, null], [200, null]],
    );

    clerk.setFault("countUsers", { kind: "error", status: 503, times: 1 });
    assert.equal((await get(clerk, "/users/count")).status, 503);
    clerk.setFault("countUsers", { kind: "delay", ms: 120, times: 1 });
    const started = performance.now();
    const delayed = await get(clerk, "/users/count");
    assert.equal(delayed.body.total_count, 1234);
    assert.ok(performance.now() - started >= 110, "delayed");
    assert.equal((await get(clerk, "/users/count")).status, 200);

    clerk.setFault("listUsers", { kind: "hang", times: 1 });
    await assert.rejects(
      fetch(`${clerk.url}${API_PREFIX}/users`, {
        headers: { Authorization: `Bearer ${SECRET}` },
        signal: AbortSignal.timeout(200),
      }),
      (error) => error.name === "TimeoutError",
    );
    assert.equal((await get(clerk, "/users", { limit: 1 })).status, 200, "only once");
  });

  test("100,000 users: generated in under 2 s, walked in 200 pages of 500 quickly", async (t) => {
    let started = performance.now();
    const users = clerk.addUsers(100_000, { seed: "big" });
    const generateMs = performance.now() - started;
    assert.ok(generateMs < 2_000, `generated in ${generateMs.toFixed(0)} ms`);

    clerk.requests.length = 0;
    started = performance.now();
    const pages = await walk(clerk, { limit: 500, order_by: "+created_at" });
    const walkMs = performance.now() - started;
    assert.equal(pages.length, 201, "200 full pages, then the empty one that ends the walk");
    assert.ok(pages.slice(0, 200).every((page) => page.length === 500));
    // addUsers made them in creation order, one stepMs apart.
    const ids = pages.flat();
    assert.equal(ids.length, 100_000);
    assert.ok(ids.every((id, i) => id === users[i].id), "every user once, in created_at order");
    const fakeMs = clerk.requestsTo("listUsers").reduce((sum, entry) => sum + entry.fakeMs, 0);
    assert.ok(fakeMs < 2_000, `the fake spent ${fakeMs.toFixed(0)} ms on 201 pages`);
    // Deep pages cost what the first does: a binary search and a slice, then JSON.
    const deep = await get(clerk, "/users", { limit: 500, starting_after: users[99_000].id, order_by: "+created_at" });
    assert.deepEqual(deep.body.map((user) => user.id), users.slice(99_001, 99_501).map((user) => user.id));
    assert.ok(walkMs < 15_000, `walked in ${walkMs.toFixed(0)} ms`);
    t.diagnostic(`generate ${generateMs.toFixed(0)} ms, walk ${walkMs.toFixed(0)} ms, fake ${fakeMs.toFixed(0)} ms`);
  });
});
