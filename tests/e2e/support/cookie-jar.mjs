// A small browser stand-in for node tests: a cookie jar and a client that follows redirects
// one hop at a time (fetch with `redirect: "manual"`), so a test sees every hop of a
// handshake and what each hop set.
//
// Cookies are kept per host name, ignoring the port (as browsers do: RFC 6265 section 8.5),
// so a cookie set by a server on 127.0.0.1:B is sent to 127.0.0.1:A. Honoured: Path (and the
// default path), Max-Age (0 or less deletes; a positive one expires), Expires. Domain is
// taken as host-only (tests run on one host), Secure cookies are kept and sent on loopback
// (browsers treat it as a secure context), HttpOnly and SameSite change nothing here.
//
//   const jar = new CookieJar();
//   jar.set("http://127.0.0.1:8787/", "__session=…; Path=/");
//   const client = new HttpClient({ jar, maxHops: 10 });
//   const { response, trace, text } = await client.get(url, { headers: DOCUMENT_HEADERS });
//   formatTrace(trace)  // one line per hop, query names only

/** Headers of a browser navigation (a document GET). */
export const DOCUMENT_HEADERS = Object.freeze({
  accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
  "sec-fetch-dest": "document",
  "sec-fetch-mode": "navigate",
  "sec-fetch-site": "none",
});

/** Headers of a `fetch()` from a page. */
export const FETCH_HEADERS = Object.freeze({
  accept: "*/*",
  "sec-fetch-dest": "empty",
  "sec-fetch-mode": "cors",
  "sec-fetch-site": "same-origin",
});

/** RFC 6265 default-path of a request path. */
function defaultPath(pathname) {
  if (!pathname.startsWith("/")) return "/";
  const last = pathname.lastIndexOf("/");
  return last <= 0 ? "/" : pathname.slice(0, last);
}

/** RFC 6265 path-match. */
function pathMatches(requestPath, cookiePath) {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith("/") || requestPath[cookiePath.length] === "/";
}

/**
 * Parses one Set-Cookie header value.
 * @returns {{ name: string, value: string, attributes: Record<string, string|true> } | null}
 */
export function parseSetCookie(header) {
  const [pair, ...rest] = header.split(";");
  const at = pair.indexOf("=");
  if (at < 0) return null;
  const name = pair.slice(0, at).trim();
  if (!name) return null;
  const value = pair.slice(at + 1).trim();
  const attributes = {};
  for (const part of rest) {
    const eq = part.indexOf("=");
    const key = (eq < 0 ? part : part.slice(0, eq)).trim().toLowerCase();
    if (!key) continue;
    attributes[key] = eq < 0 ? true : part.slice(eq + 1).trim();
  }
  return { name, value, attributes };
}

export class CookieJar {
  /** @param {{ now?: () => number }} [options] clock in ms (default Date.now). */
  constructor({ now = () => Date.now() } = {}) {
    this.now = now;
    /** host -> Map(`${path}\n${name}` -> { name, value, path, expiresAt, secure, httpOnly }) */
    this.hosts = new Map();
  }

  #bucket(host) {
    if (!this.hosts.has(host)) this.hosts.set(host, new Map());
    return this.hosts.get(host);
  }

  /** Stores one Set-Cookie header received from `url` (a URL or string). */
  set(url, header) {
    const { hostname, pathname } = new URL(url);
    const parsed = parseSetCookie(header);
    if (!parsed) return;
    const { name, value, attributes } = parsed;
    const path =
      typeof attributes.path === "string" && attributes.path.startsWith("/") ? attributes.path : defaultPath(pathname);
    let expiresAt = null;
    if (typeof attributes["max-age"] === "string" && /^-?\d+$/.test(attributes["max-age"])) {
      const seconds = Number(attributes["max-age"]);
      expiresAt = seconds <= 0 ? -Infinity : this.now() + seconds * 1000;
    } else if (typeof attributes.expires === "string") {
      const at = Date.parse(attributes.expires);
      if (!Number.isNaN(at)) expiresAt = at;
    }
    const bucket = this.#bucket(hostname);
    const id = `${path}\n${name}`;
    if (expiresAt !== null && expiresAt <= this.now()) {
      bucket.delete(id);
      return;
    }
    bucket.set(id, {
      name,
      value,
      path,
      expiresAt,
      secure: attributes.secure === true,
      httpOnly: attributes.httponly === true,
    });
  }

  /** Stores every Set-Cookie header of a response to `url`. */
  setFromResponse(url, response) {
    for (const header of response.headers.getSetCookie()) this.set(url, header);
  }

  /** The live cookies that a request to `url` sends, most specific path first. */
  cookiesFor(url) {
    const { hostname, pathname } = new URL(url);
    const bucket = this.hosts.get(hostname);
    if (!bucket) return [];
    const now = this.now();
    const out = [];
    for (const [id, cookie] of bucket) {
      if (cookie.expiresAt !== null && cookie.expiresAt <= now) {
        bucket.delete(id);
        continue;
      }
      if (pathMatches(pathname || "/", cookie.path)) out.push(cookie);
    }
    return out.sort((a, b) => b.path.length - a.path.length);
  }

  /** The Cookie header for a request to `url`, or null when there is none. */
  header(url) {
    const cookies = this.cookiesFor(url);
    return cookies.length ? cookies.map((c) => `${c.name}=${c.value}`).join("; ") : null;
  }

  /** The value of cookie `name` a request to `url` would send, or undefined. */
  get(url, name) {
    return this.cookiesFor(url).find((cookie) => cookie.name === name)?.value;
  }

  /** Names of the cookies a request to `url` would send. */
  names(url) {
    return this.cookiesFor(url).map((cookie) => cookie.name);
  }

  /** Removes every cookie of `url`'s host (all paths), or only `name`. */
  clear(url, name) {
    if (url === undefined) return this.hosts.clear();
    const bucket = this.hosts.get(new URL(url).hostname);
    if (!bucket) return;
    for (const [id, cookie] of bucket) if (name === undefined || cookie.name === name) bucket.delete(id);
  }
}

/** `url` as origin + path + the names of its query parameters (no values). */
export function redactUrl(url, base) {
  const parsed = new URL(url, base);
  const names = [...new Set(parsed.searchParams.keys())];
  return `${parsed.origin}${parsed.pathname}${names.length ? `?${names.join("&")}` : ""}`;
}

/** The trace as text, one hop a line: `GET http://…/path?names -> 307 -> http://…/next?names`. */
export function formatTrace(trace) {
  return trace
    .map((hop, index) => {
      const cookies = hop.setCookies.length ? ` set-cookie: ${hop.setCookies.join(",")}` : "";
      return `${index + 1}. ${hop.method} ${hop.url} -> ${hop.status}${hop.location ? ` -> ${hop.location}` : ""}${cookies}`;
    })
    .join("\n");
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

export class HttpClient {
  /**
   * @param {object} [options]
   * @param {CookieJar} [options.jar] shared jar (default: a new one).
   * @param {number} [options.maxHops=10] requests per call, the first included.
   * @param {Record<string,string>} [options.headers] sent on every request.
   */
  constructor({ jar = new CookieJar(), maxHops = 10, headers = {} } = {}) {
    this.jar = jar;
    this.maxHops = maxHops;
    this.headers = headers;
  }

  get(url, init = {}) {
    return this.request(url, { ...init, method: "GET" });
  }

  /**
   * Sends the request and follows redirects itself, up to `maxHops` requests.
   * @returns {Promise<{ response: Response, status: number, text: string, url: string,
   *   trace: { method: string, url: string, status: number, location: string|null,
   *     rawLocation: string|null, setCookies: string[], headers: Headers }[],
   *   hops: number, stoppedEarly: boolean }>}
   *   `trace[i].url` / `.location`: redacted (query names only); `rawLocation`: the real one
   *   (for assertions, never for logs); `setCookies`: the names of the cookies set (a deleted
   *   one as `name(deleted)`). `stoppedEarly`: the last response is a redirect not followed.
   */
  async request(url, { method = "GET", headers = {}, body, maxHops = this.maxHops } = {}) {
    const trace = [];
    let current = new URL(url);
    let currentMethod = method;
    let currentBody = body;
    for (;;) {
      const requestHeaders = { ...this.headers, ...headers };
      const cookie = this.jar.header(current);
      if (cookie) requestHeaders.cookie = cookie;
      const response = await fetch(current, {
        method: currentMethod,
        headers: requestHeaders,
        body: currentBody,
        redirect: "manual",
      });
      this.jar.setFromResponse(current, response);
      const rawLocation = response.headers.get("location");
      trace.push({
        method: currentMethod,
        url: redactUrl(current),
        status: response.status,
        location: rawLocation === null ? null : redactUrl(rawLocation, current),
        rawLocation: rawLocation === null ? null : new URL(rawLocation, current).href,
        setCookies: response.headers.getSetCookie().map((header) => {
          const parsed = parseSetCookie(header);
          const deleted = parsed && (parsed.attributes["max-age"] !== undefined && Number(parsed.attributes["max-age"]) <= 0);
          return parsed ? `${parsed.name}${deleted ? "(deleted)" : ""}` : "?";
        }),
        headers: response.headers,
      });
      const follow = REDIRECTS.has(response.status) && rawLocation !== null;
      if (!follow || trace.length >= maxHops) {
        const text = await response.text();
        return {
          response,
          status: response.status,
          headers: response.headers,
          text,
          url: current.href,
          trace,
          hops: trace.length,
          stoppedEarly: follow,
        };
      }
      await response.arrayBuffer();
      current = new URL(rawLocation, current);
      if (response.status === 303 || ((response.status === 301 || response.status === 302) && currentMethod === "POST")) {
        currentMethod = "GET";
        currentBody = undefined;
      }
    }
  }
}
