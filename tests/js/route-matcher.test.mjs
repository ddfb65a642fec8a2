// createRouteMatcher against Clerk's own (`@clerk/shared`'s createPathMatcher, what
// `@clerk/nextjs`'s createRouteMatcher runs): the patterns of Clerk's documentation and
// generated ones, on fixed and generated paths, must match the same paths; a pattern Clerk
// refuses, ours refuses too.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createPathMatcher } from "@clerk/shared/pathMatcher";

import { createRouteMatcher } from "../../pkg-js/index.js";
import { seeded } from "./support/prng.mjs";

const PATTERNS = [
  "/",
  "/dashboard(.*)",
  "/sign-in(.*)",
  "/api/webhooks(.*)",
  "/org/:slug",
  "/org/:slug/settings",
  "/org/:slug?",
  "/api/:path*",
  "/api/:path+",
  "/files/:name.:ext",
  "/blog/:year(\\d+)/:title",
  "/admin{/:section}?",
  "/shop{-:id}?",
  "/(.*)",
  "/Docs/:page*",
  "/a/b/",
  "/caf\u00e9",
  "/:lang(en|fr)/about",
  "/users/:id/posts/:post?",
  "\\(escaped\\)",
];
const PATHS = [
  "/", "/dashboard", "/dashboard/", "/dashboard/x/y", "/DASHBOARD/a", "/dashboards", "/sign-in", "/sign-in/factor-one",
  "/api/webhooks/clerk", "/org/acme", "/org/acme/", "/org/acme/settings", "/org", "/org/", "/api", "/api/",
  "/api/a", "/api/a/b/c", "/files/report.pdf", "/files/report", "/blog/2024/hello", "/blog/x/hello",
  "/admin", "/admin/users", "/admin/users/x", "/shop", "/shop-12", "/docs/a/b", "/a/b", "/a/b/", "/caf%C3%A9",
  "/café", "/en/about", "/de/about", "/users/1/posts", "/users/1/posts/2", "/(escaped)", "//dashboard//x",
  "/dashboard%2Fx", "/org/a%20b", "/%64ashboard",
];

function agree(pattern, path) {
  let theirs;
  let ours;
  try {
    theirs = createPathMatcher(pattern)(path);
  } catch (error) {
    theirs = `throws`;
  }
  try {
    ours = createRouteMatcher(pattern)(path);
  } catch (error) {
    ours = `throws`;
  }
  assert.equal(ours, theirs, `pattern ${JSON.stringify(pattern)} on ${JSON.stringify(path)}`);
  return theirs;
}

test("the documented patterns match the same paths as Clerk's matcher", () => {
  let matched = 0;
  for (const pattern of PATTERNS) for (const path of PATHS) if (agree(pattern, path) === true) matched++;
  assert.ok(matched > 60, `only ${matched} matches: the table exercises too little`);
});

test("generated patterns and paths agree with Clerk's matcher, refusals included", () => {
  const { rand, pick, chance } = seeded(20261202);
  const atoms = ["/", "a", "b", "-", ".", ":id", ":x?", ":p*", ":q+", "(\\d+)", "(.*)", "{/:s}?", "{-:t}", "\\:", "?", "*", "(", ")", "{", "}"];
  const segments = ["a", "b", "1", "22", "a.b", "-", "x-y", "%41", "%2F", ""];
  let compared = 0;
  let theirThrows = 0;
  for (let i = 0; i < 3000; i++) {
    let pattern = "/";
    const n = 1 + Math.floor(rand() * 5);
    for (let j = 0; j < n; j++) pattern += pick(atoms);
    let path = "";
    const m = Math.floor(rand() * 4);
    for (let j = 0; j < m; j++) path += `/${pick(segments)}`;
    if (path === "" || chance(0.1)) path += "/";
    if (agree(pattern, path) === "throws") theirThrows++;
    compared++;
  }
  assert.equal(compared, 3000);
  assert.ok(theirThrows > 50 && theirThrows < 2900, `${theirThrows} refused patterns`);
});

test("a RegExp, an array, a function, and a request object", () => {
  const isAdmin = createRouteMatcher([/^\/admin/, "/staff(.*)"]);
  assert.equal(isAdmin(new Request("https://x.test/admin/users?q=1")), true);
  assert.equal(isAdmin(new Request("https://x.test/staff/list")), true);
  assert.equal(isAdmin(new Request("https://x.test/public")), false);
  // Next's NextRequest has nextUrl; its pathname is what is matched.
  assert.equal(isAdmin({ nextUrl: { pathname: "/staff" }, url: "https://x.test/other" }), true);
  const byMethod = createRouteMatcher((req) => req.method === "POST");
  assert.equal(byMethod(new Request("https://x.test/", { method: "POST" })), true);
  assert.throws(() => createRouteMatcher(["/ok", "/bad(?x)"]), /invalid pattern "\/bad\(\?x\)"/);
  assert.throws(() => createRouteMatcher([42]), /is not a string or RegExp/);
  // Malformed percent-encoding never matches quietly: it throws (the middleware answers 400).
  assert.throws(() => isAdmin(new Request("https://x.test/admin%E0%A4%A")), /malformed percent-encoding/);
});
