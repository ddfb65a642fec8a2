// createRouteMatcher, as `@clerk/nextjs`'s: patterns in path-to-regexp 6's syntax (the
// syntax Clerk's matcher and Next's `config.matcher` use: `/dashboard(.*)`, `/org/:slug`,
// `/api/:path*`), RegExps, or a function of the request. A path is percent-decoded with
// `decodeURI` (so `%2F` stays a delimiter) and its repeated slashes collapsed before it is
// matched, as Clerk does; a path with malformed percent-encoding throws, and the middleware
// answers it 400 (never a match that could leave a route unprotected).
//
// The pattern compiler below follows path-to-regexp 6.x (what Clerk vendors): the same tokens,
// the same default segment pattern, case-insensitive, an optional trailing slash, anchored at
// both ends. tests/js/route-matcher.test.mjs compares it with Clerk's own on many patterns.

const DELIMITERS = "/#?";
const PREFIXES = "./";
const escape = (text) => text.replace(/([.+*?=^!:${}()[\]|/\\])/g, "\\$1");
const NAME_CHAR = /[A-Za-z0-9_]/;

/** The pattern's tokens: `[type, value]` with type MODIFIER, ESCAPED, OPEN, CLOSE, NAME, PATTERN, CHAR, END. */
function lex(pattern) {
  const tokens = [];
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i];
    if (c === "*" || c === "+" || c === "?") tokens.push(["MODIFIER", pattern[i++]]);
    else if (c === "\\") {
      tokens.push(["ESCAPED", pattern[i + 1]]);
      i += 2;
    } else if (c === "{") tokens.push(["OPEN", pattern[i++]]);
    else if (c === "}") tokens.push(["CLOSE", pattern[i++]]);
    else if (c === ":") {
      let j = i + 1;
      while (j < pattern.length && NAME_CHAR.test(pattern[j])) j++;
      if (j === i + 1) throw new TypeError(`missing parameter name at ${i}`);
      tokens.push(["NAME", pattern.slice(i + 1, j)]);
      i = j;
    } else if (c === "(") {
      let depth = 1;
      let j = i + 1;
      let body = "";
      if (pattern[j] === "?") throw new TypeError(`pattern cannot start with "?" at ${j}`);
      while (j < pattern.length) {
        if (pattern[j] === "\\") {
          body += pattern[j++] + pattern[j++];
          continue;
        }
        if (pattern[j] === ")") {
          depth--;
          if (depth === 0) {
            j++;
            break;
          }
        } else if (pattern[j] === "(") {
          depth++;
          if (pattern[j + 1] !== "?") throw new TypeError(`capturing groups are not allowed at ${j}`);
        }
        body += pattern[j++];
      }
      if (depth) throw new TypeError(`unbalanced pattern at ${i}`);
      if (!body) throw new TypeError(`missing pattern at ${i}`);
      tokens.push(["PATTERN", body]);
      i = j;
    } else tokens.push(["CHAR", pattern[i++]]);
  }
  tokens.push(["END", ""]);
  return tokens;
}

/** The pattern's parts: literal strings and `{ prefix, suffix, pattern, modifier }` parameters. */
function parse(pattern) {
  const tokens = lex(pattern);
  const parts = [];
  let at = 0;
  let path = "";
  const take = (type) => (tokens[at]?.[0] === type ? tokens[at++][1] : undefined);
  const must = (type) => {
    const value = take(type);
    if (value === undefined) throw new TypeError(`unexpected ${tokens[at][0]}, expected ${type}`);
    return value;
  };
  const text = () => {
    let out = "";
    for (let v; (v = take("CHAR") ?? take("ESCAPED")) !== undefined; ) out += v;
    return out;
  };
  const flush = () => {
    if (path) parts.push(path);
    path = "";
  };
  // A named parameter's own pattern: one segment, and not running into the text before it.
  const segment = (prefix) => {
    const previous = parts[parts.length - 1];
    const before = prefix || (typeof previous === "string" ? previous : "");
    if (previous && !before) throw new TypeError("must have text between two parameters");
    const anyChar = `[^${escape(DELIMITERS)}]`;
    if (!before || [...DELIMITERS].some((d) => before.includes(d))) return `${anyChar}+?`;
    return `(?:(?!${escape(before)})${anyChar})+?`;
  };
  while (at < tokens.length) {
    const char = take("CHAR");
    const name = take("NAME");
    const own = take("PATTERN");
    if (name !== undefined || own !== undefined) {
      let prefix = char ?? "";
      if (!PREFIXES.includes(prefix)) {
        path += prefix;
        prefix = "";
      }
      flush();
      parts.push({ prefix, suffix: "", pattern: own ?? segment(prefix), modifier: take("MODIFIER") ?? "" });
      continue;
    }
    const literal = char ?? take("ESCAPED");
    if (literal !== undefined) {
      path += literal;
      continue;
    }
    flush();
    if (take("OPEN") !== undefined) {
      const prefix = text();
      const groupName = take("NAME") ?? "";
      const groupPattern = take("PATTERN") ?? "";
      const suffix = text();
      must("CLOSE");
      parts.push({
        prefix,
        suffix,
        pattern: groupName && !groupPattern ? segment(prefix) : groupPattern,
        modifier: take("MODIFIER") ?? "",
      });
      continue;
    }
    must("END");
  }
  return parts;
}

/** path-to-regexp 6's `pathToRegexp(pattern)` with its defaults. */
export function patternToRegExp(pattern) {
  let source = "^";
  for (const part of parse(pattern)) {
    if (typeof part === "string") {
      source += escape(part);
      continue;
    }
    const prefix = escape(part.prefix);
    const suffix = escape(part.suffix);
    if (!part.pattern) source += `(?:${prefix}${suffix})${part.modifier}`;
    else if (prefix || suffix) {
      if (part.modifier === "+" || part.modifier === "*") {
        const optional = part.modifier === "*" ? "?" : "";
        source += `(?:${prefix}((?:${part.pattern})(?:${suffix}${prefix}(?:${part.pattern}))*)${suffix})${optional}`;
      } else source += `(?:${prefix}(${part.pattern})${suffix})${part.modifier}`;
    } else {
      if (part.modifier === "+" || part.modifier === "*") throw new TypeError("cannot repeat a parameter without a prefix and suffix");
      source += `(${part.pattern})${part.modifier}`;
    }
  }
  return new RegExp(`${source}[${escape(DELIMITERS)}]?$`, "i");
}

/** A path whose percent-encoding is malformed: the middleware answers 400. */
export class MalformedPathError extends Error {
  constructor(path) {
    super(`malformed percent-encoding in the URL path ${JSON.stringify(path.slice(0, 200))}`);
    this.name = "MalformedPathError";
    this.status = 400;
  }
}

function normalizePath(pathname) {
  let decoded;
  try {
    decoded = decodeURI(pathname);
  } catch {
    throw new MalformedPathError(pathname);
  }
  return decoded.replace(/\/\/+/g, "/");
}

function pathnameOf(req) {
  if (typeof req === "string") return req;
  if (req?.nextUrl?.pathname !== undefined) return req.nextUrl.pathname;
  return new URL(req.url).pathname;
}

/**
 * `createRouteMatcher(patterns)`: a function `(req) => boolean` telling whether the request's
 * path matches any of `patterns` (a string, a RegExp, or an array of them; or one function
 * `(req) => boolean`, returned as it is). A pattern that does not compile throws here, when
 * the middleware module loads, with the pattern in the message.
 */
export function createRouteMatcher(patterns) {
  if (typeof patterns === "function") return (req) => patterns(req);
  const matchers = [patterns || ""]
    .flat()
    .filter(Boolean)
    .map((pattern) => {
      if (pattern instanceof RegExp) return pattern;
      if (typeof pattern !== "string") throw new TypeError(`clerk-edge-guard: createRouteMatcher: ${String(pattern)} is not a string or RegExp`);
      try {
        return patternToRegExp(pattern);
      } catch (error) {
        throw new TypeError(`clerk-edge-guard: createRouteMatcher: invalid pattern ${JSON.stringify(pattern)}: ${error.message} (path-to-regexp 6 syntax, as Clerk's)`);
      }
    });
  return (req) => {
    const path = normalizePath(pathnameOf(req));
    return matchers.some((matcher) => matcher.test(path));
  };
}
