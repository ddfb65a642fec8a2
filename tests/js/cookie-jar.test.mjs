// Checks the cookie jar and the redirect-by-hand client of tests/e2e/support/cookie-jar.mjs
// (what the handshake end-to-end tests use as a browser).
// Run: node --test tests/js/cookie-jar.test.mjs
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";

import { CookieJar, HttpClient, formatTrace, parseSetCookie, redactUrl } from "../e2e/support/cookie-jar.mjs";

describe("CookieJar", () => {
  test("cookies belong to the host name, whatever the port", () => {
    const jar = new CookieJar();
    jar.set("http://127.0.0.1:4000/a", "n=1; Path=/");
    assert.equal(jar.header("http://127.0.0.1:5000/"), "n=1");
    assert.equal(jar.header("http://localhost:4000/"), null);
  });

  test("Max-Age=0 (or less) and a past Expires delete; a later set replaces", () => {
    const jar = new CookieJar();
    jar.set("http://h/", "a=1; Path=/");
    jar.set("http://h/", "b=1; Path=/");
    jar.set("http://h/", "c=1; Path=/");
    jar.set("http://h/", "a=2; Path=/");
    assert.equal(jar.get("http://h/", "a"), "2");
    jar.set("http://h/", "a=; Path=/; Max-Age=0");
    jar.set("http://h/", "b=x; Path=/; Max-Age=-1");
    jar.set("http://h/", "c=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    assert.equal(jar.header("http://h/"), null);
  });

  test("a positive Max-Age expires with the clock", () => {
    let now = 1_000_000;
    const jar = new CookieJar({ now: () => now });
    jar.set("http://h/", "count=1; Max-Age=2; Path=/");
    assert.equal(jar.get("http://h/", "count"), "1");
    now += 1999;
    assert.equal(jar.get("http://h/", "count"), "1");
    now += 1;
    assert.equal(jar.get("http://h/", "count"), undefined);
  });

  test("Path is honoured (explicit and default), most specific first; a deletion needs the same path", () => {
    const jar = new CookieJar();
    jar.set("http://h/", "x=root; Path=/");
    jar.set("http://h/", "x=app; Path=/app");
    jar.set("http://h/docs/page", "d=1"); // default path /docs
    assert.equal(jar.header("http://h/app/x"), "x=app; x=root");
    assert.equal(jar.header("http://h/application"), "x=root");
    assert.equal(jar.header("http://h/docs"), "d=1; x=root");
    assert.equal(jar.header("http://h/docs/more"), "d=1; x=root");
    assert.equal(jar.header("http://h/other"), "x=root");
    jar.set("http://h/", "x=; Path=/; Max-Age=0");
    assert.equal(jar.header("http://h/app"), "x=app");
  });

  test("parseSetCookie reads name, value and attributes", () => {
    assert.deepEqual(parseSetCookie("__session=a.b.c; Path=/; SameSite=Lax; HttpOnly; Max-Age=0"), {
      name: "__session",
      value: "a.b.c",
      attributes: { path: "/", samesite: "Lax", httponly: true, "max-age": "0" },
    });
    assert.equal(parseSetCookie("novalue"), null);
  });

  test("redactUrl keeps origin, path and query names only", () => {
    assert.equal(redactUrl("http://h:1/p?token=secret&a=1&a=2"), "http://h:1/p?token&a");
    assert.equal(redactUrl("/x?y=1", "http://h:2/"), "http://h:2/x?y");
  });
});

describe("HttpClient", () => {
  let server;
  let base;
  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url, "http://x");
      const hop = Number(url.searchParams.get("hop") ?? 0);
      if (url.pathname === "/loop") {
        res.writeHead(307, { location: `/loop?hop=${hop + 1}&secret=s3cr3t`, "set-cookie": `hop=${hop + 1}; Path=/` });
        return res.end();
      }
      if (url.pathname === "/see-other") {
        res.writeHead(303, { location: "/echo" });
        return res.end();
      }
      if (url.pathname === "/set") {
        res.writeHead(302, { location: "/echo", "set-cookie": ["a=1; Path=/", "gone=; Path=/; Max-Age=0"] });
        return res.end();
      }
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ method: req.method, cookie: req.headers.cookie ?? null, body }));
      });
    });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${server.address().port}`;
  });
  after(() => new Promise((resolve) => server.close(resolve)));

  test("follows redirects by hand, storing and sending cookies, with a trace", async () => {
    const client = new HttpClient();
    client.jar.set(base, "gone=1; Path=/");
    const result = await client.get(`${base}/set?x=1`);
    assert.equal(result.status, 200);
    assert.deepEqual(JSON.parse(result.text), { method: "GET", cookie: "a=1", body: "" });
    assert.equal(result.trace.length, 2);
    assert.deepEqual(
      result.trace.map(({ method, url, status, location, setCookies }) => ({ method, url, status, location, setCookies })),
      [
        { method: "GET", url: `${base}/set?x`, status: 302, location: `${base}/echo`, setCookies: ["a", "gone(deleted)"] },
        { method: "GET", url: `${base}/echo`, status: 200, location: null, setCookies: [] },
      ],
    );
    assert.match(formatTrace(result.trace), /^1\. GET .*\/set\?x -> 302 -> .*\/echo set-cookie: a,gone\(deleted\)\n2\. GET .*\/echo -> 200$/);
  });

  test("stops after maxHops requests and says so; the trace never holds query values", async () => {
    const result = await new HttpClient({ maxHops: 3 }).get(`${base}/loop`);
    assert.equal(result.status, 307);
    assert.equal(result.hops, 3);
    assert.equal(result.stoppedEarly, true);
    assert.ok(!formatTrace(result.trace).includes("s3cr3t"));
    assert.equal(result.trace[2].rawLocation, `${base}/loop?hop=3&secret=s3cr3t`);
  });

  test("a 303 turns a POST into a GET without body; a 307 would keep it", async () => {
    const result = await new HttpClient().request(`${base}/see-other`, { method: "POST", body: "x=1" });
    assert.deepEqual(JSON.parse(result.text), { method: "GET", cookie: null, body: "" });
    const direct = await new HttpClient().request(`${base}/echo`, { method: "POST", body: "x=1" });
    assert.equal(JSON.parse(direct.text).body, "x=1");
  });
});
