//! What `@clerk/backend`'s `AuthenticateContext` reads from a request before deciding: the URL
//! as Clerk sees it, which cookie set (plain or suffixed) is in use, the session token,
//! `__client_uat`, the dev browser token, the handshake nonce or token coming back, and the
//! loop counter. Values are read exactly as JavaScript reads them (`parseInt`, `Number`,
//! `||` on empty strings), because the decision compares them the same way.

use crate::auth::token::{uses_suffixed_cookies, Cookies};
use crate::config::Config;

use super::url::{parse_query, WebUrl};

/// `__session`.
pub const COOKIE_SESSION: &str = "__session";
/// `__client_uat`.
pub const COOKIE_CLIENT_UAT: &str = "__client_uat";
/// `__clerk_db_jwt`: the development browser token (cookie and query parameter).
pub const DEV_BROWSER: &str = "__clerk_db_jwt";
/// `__clerk_handshake`: the handshake JWT (cookie and query parameter).
pub const HANDSHAKE_TOKEN: &str = "__clerk_handshake";
/// `__clerk_handshake_nonce`: the handshake nonce (cookie and query parameter).
pub const HANDSHAKE_NONCE: &str = "__clerk_handshake_nonce";
/// `__clerk_redirect_count`: how many handshakes in a row (cookie, Max-Age 2).
pub const COOKIE_REDIRECT_COUNT: &str = "__clerk_redirect_count";

/// The request as the adapter sees it: header values untouched.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestParts<'a> {
    /// HTTP method, as sent.
    pub method: &'a str,
    /// The request URL the runtime gives (absolute).
    pub url: &'a str,
    /// `Host`.
    pub host: Option<&'a str>,
    /// `X-Forwarded-Host`.
    pub forwarded_host: Option<&'a str>,
    /// `X-Forwarded-Proto`.
    pub forwarded_proto: Option<&'a str>,
    /// `Cookie`.
    pub cookie: Option<&'a str>,
    /// `Sec-Fetch-Dest`.
    pub sec_fetch_dest: Option<&'a str>,
    /// `Accept`.
    pub accept: Option<&'a str>,
    /// `Referer`.
    pub referer: Option<&'a str>,
}

/// Everything the handshake decision reads from one request.
#[derive(Debug, Clone, PartialEq)]
pub struct HandshakeContext {
    /// `pk_live_`: production (the return leg forwards instead of redirecting).
    pub production: bool,
    /// The URL Clerk works with (forwarded headers applied).
    pub clerk_url: WebUrl,
    /// Where handshakes go: the proxy URL, else `https://<frontend api>`.
    pub frontend_api_base: String,
    /// HTTP method.
    pub method: String,
    /// `Sec-Fetch-Dest`, when not empty.
    pub sec_fetch_dest: Option<String>,
    /// `Accept`, when not empty.
    pub accept: Option<String>,
    /// `Referer`, when not empty.
    pub referer: Option<String>,
    /// Whether the suffixed cookie set (`__session_<suffix>`…) is the one in use.
    pub suffixed: bool,
    /// The session token from the cookie in use, when not empty.
    pub session_token: Option<String>,
    /// `parseInt(__client_uat) || 0`.
    pub client_uat: f64,
    /// Whether the query has `__clerk_db_jwt` (even empty): a development instance syncs it.
    pub dev_browser_in_query: bool,
    /// The dev browser token (query first, then cookie), when not empty.
    pub dev_browser: Option<String>,
    /// The handshake JWT (query first, then cookie), when not empty.
    pub handshake_token: Option<String>,
    /// The handshake nonce (query first, then cookie), when not empty.
    pub handshake_nonce: Option<String>,
    /// `Number(__clerk_redirect_count) || 0`.
    pub redirect_count: f64,
}

impl HandshakeContext {
    /// Reads the context of a request on the cookie path. `None` when no publishable key is
    /// configured (the handshake needs the Frontend API it names) or the URL is unusable.
    pub fn read(config: &Config, parts: &RequestParts<'_>, now_ms: i64) -> Option<Self> {
        let pk = config.publishable_key.as_ref()?;
        let clerk_url = WebUrl::derive_from_headers(
            parts.url,
            parts.host,
            parts.forwarded_host,
            parts.forwarded_proto,
        )?;
        let cookies = Cookies::parse(parts.cookie.unwrap_or(""));
        let cookie_context = config.cookie_context(now_ms);
        let suffixed = uses_suffixed_cookies(&cookies, &cookie_context);
        let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
        let plain = |name: &str| non_empty(cookies.get(name).map(|v| v.into_owned()));
        let chosen = |name: &str| match (suffixed, cookie_context.suffix) {
            (true, Some(suffix)) => plain(&format!("{name}_{suffix}")),
            (true, None) => None,
            (false, _) => plain(name),
        };
        // One parse of the query for the three parameters Clerk reads from it.
        let params = clerk_url
            .query
            .as_deref()
            .map(parse_query)
            .unwrap_or_default();
        let param = |name: &str| params.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let query = |name: &str| non_empty(param(name).cloned());
        let header = |v: Option<&str>| v.filter(|v| !v.is_empty()).map(str::to_owned);
        let frontend_api_base = match &config.proxy_url {
            Some(proxy) if proxy.starts_with('/') => format!("{}{proxy}", clerk_url.origin()),
            Some(proxy) => proxy.clone(),
            None => pk.frontend_api.clone(),
        };
        Some(HandshakeContext {
            production: pk.production,
            frontend_api_base,
            method: parts.method.to_owned(),
            sec_fetch_dest: header(parts.sec_fetch_dest),
            accept: header(parts.accept),
            referer: header(parts.referer),
            suffixed,
            session_token: chosen(COOKIE_SESSION),
            client_uat: chosen(COOKIE_CLIENT_UAT).map_or(0.0, |v| js_parse_int(&v)),
            dev_browser_in_query: param(DEV_BROWSER).is_some(),
            dev_browser: query(DEV_BROWSER).or_else(|| chosen(DEV_BROWSER)),
            handshake_token: query(HANDSHAKE_TOKEN).or_else(|| plain(HANDSHAKE_TOKEN)),
            handshake_nonce: query(HANDSHAKE_NONCE).or_else(|| plain(HANDSHAKE_NONCE)),
            redirect_count: plain(COOKIE_REDIRECT_COUNT).map_or(0.0, |v| js_number(&v)),
            clerk_url,
        })
    }

    /// `isRequestEligibleForHandshake`: a GET for a document or an iframe (or, without
    /// `Sec-Fetch-Dest`, one that accepts HTML first). Only those can follow a redirect to
    /// the Frontend API and back; a `fetch` or a form POST cannot.
    pub fn eligible_for_handshake(&self) -> bool {
        if self.method != "GET" {
            return false;
        }
        match self.sec_fetch_dest.as_deref() {
            Some("document" | "iframe") => true,
            Some(_) => false,
            None => self
                .accept
                .as_deref()
                .is_some_and(|a| a.starts_with("text/html")),
        }
    }

    /// `isCrossOriginReferrer`: a `Referer` whose origin differs from the request's.
    pub fn cross_origin_referrer(&self) -> bool {
        self.referer_url()
            .is_some_and(|r| r.origin() != self.clerk_url.origin())
    }

    /// `isKnownClerkReferrer`: the Frontend API, a development Account Portal, or the
    /// instance's Account Portal (`accounts.` beside the Frontend API's `clerk.`).
    pub fn known_clerk_referrer(&self) -> bool {
        let Some(referer) = self.referer_url() else {
            return false;
        };
        let host = referer.hostname();
        let fapi_host = if self.frontend_api_base.starts_with("http") {
            match WebUrl::parse(&self.frontend_api_base) {
                Some(u) => u.hostname().to_owned(),
                None => return false,
            }
        } else {
            self.frontend_api_base.clone()
        };
        if host == fapi_host {
            return true;
        }
        if !self.production && is_dev_account_portal(host) {
            return true;
        }
        accounts_origin(&self.frontend_api_base).is_some_and(|o| o == referer.origin())
    }

    fn referer_url(&self) -> Option<WebUrl> {
        WebUrl::parse(self.referer.as_deref()?)
    }
}

/// `isLegacyDevAccountPortalOrigin` / `isCurrentDevAccountPortalOrigin` of `@clerk/shared`.
fn is_dev_account_portal(host: &str) -> bool {
    const LEGACY: [&str; 3] = [".lcl.dev", ".lclstage.dev", ".lclclerk.com"];
    const CURRENT: [&str; 3] = [
        ".accounts.dev",
        ".accountsstage.dev",
        ".accounts.lclclerk.com",
    ];
    let legacy = host.starts_with("accounts.") && LEGACY.iter().any(|s| host.ends_with(s));
    let current = CURRENT
        .iter()
        .any(|s| host.ends_with(s) && !host.ends_with(&format!(".clerk{s}")));
    legacy || current
}

/// `buildAccountsBaseUrl` of `@clerk/shared`: the first `clerk.accountsstage.` becomes
/// `accountsstage.`, then the first `clerk.accounts.` or `clerk.` becomes `accounts.`; the
/// origin of `https://` + that. `None` when it is not an origin.
fn accounts_origin(frontend_api: &str) -> Option<String> {
    let accounts = if frontend_api.contains("clerk.accountsstage.") {
        frontend_api.replacen("clerk.accountsstage.", "accountsstage.", 1)
    } else {
        frontend_api.to_owned()
    };
    let first = |pat: &str| accounts.find(pat).map(|i| (i, pat.len()));
    let accounts = match (first("clerk.accounts."), first("clerk.")) {
        (Some((a, la)), Some((b, _))) if a <= b => {
            format!("{}accounts.{}", &accounts[..a], &accounts[a + la..])
        }
        (_, Some((b, lb))) => format!("{}accounts.{}", &accounts[..b], &accounts[b + lb..]),
        (Some((a, la)), None) => format!("{}accounts.{}", &accounts[..a], &accounts[a + la..]),
        (None, None) => accounts,
    };
    WebUrl::parse(&format!("https://{accounts}")).map(|u| u.origin())
}

/// JavaScript's `Number.parseInt(text)` as a number (`NaN` -> 0, as `|| 0` makes it).
pub fn js_parse_int(text: &str) -> f64 {
    let t = text.trim_start_matches(is_js_space);
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (radix, digits) = match t.get(..2) {
        Some("0x" | "0X") => (16, &t[2..]),
        _ => (10, t),
    };
    let mut value = 0.0f64;
    let mut any = false;
    for c in digits.chars() {
        let Some(d) = c.to_digit(radix) else { break };
        value = value * f64::from(radix) + f64::from(d);
        any = true;
    }
    match (any, negative) {
        (false, _) => 0.0,
        (true, true) => -value,
        (true, false) => value,
    }
}

/// JavaScript's `Number(text)` (`NaN` -> 0, as `|| 0` makes it).
pub fn js_number(text: &str) -> f64 {
    let t = text.trim_matches(is_js_space);
    if t.is_empty() {
        return 0.0;
    }
    for (prefix, radix) in [
        ("0x", 16),
        ("0X", 16),
        ("0o", 8),
        ("0O", 8),
        ("0b", 2),
        ("0B", 2),
    ] {
        if let Some(digits) = t.strip_prefix(prefix) {
            let mut value = 0.0f64;
            for c in digits.chars() {
                let Some(d) = c.to_digit(radix) else {
                    return 0.0;
                };
                value = value * f64::from(radix) + f64::from(d);
            }
            return if digits.is_empty() { 0.0 } else { value };
        }
    }
    let unsigned = t.trim_start_matches(['+', '-']);
    if unsigned == "Infinity" && t.len() - unsigned.len() <= 1 {
        return if t.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    decimal_literal(t).unwrap_or(0.0)
}

/// A JavaScript decimal literal (`-1.5e3`, `.5`, `5.`) as a number, by hand: the standard
/// library's float parser costs the Worker kilobytes of wasm for counters that are small
/// integers in practice (the last digits of a 17-digit fraction may differ from `Number`).
fn decimal_literal(t: &str) -> Option<f64> {
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, t.get(1..)?),
        Some(b'+') => (false, t.get(1..)?),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (t.get(..i)?, Some(t.get(i + 1..)?)),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !digits(frac) || (int.is_empty() && frac.is_empty()) {
        return None;
    }
    let mut exp: i32 = match exponent {
        None => 0,
        Some(e) => {
            let (sign, e) = match e.as_bytes().first() {
                Some(b'-') => (-1, e.get(1..)?),
                Some(b'+') => (1, e.get(1..)?),
                _ => (1, e),
            };
            if e.is_empty() || !digits(e) {
                return None;
            }
            sign * e.parse::<i32>().unwrap_or(i32::MAX / 2)
        }
    };
    let mut value = 0.0f64;
    for b in int.bytes().chain(frac.bytes()) {
        value = value * 10.0 + f64::from(b - b'0');
    }
    exp = exp.saturating_sub(i32::try_from(frac.len()).unwrap_or(i32::MAX / 2));
    let scaled = if exp >= 0 {
        value * 10f64.powi(exp)
    } else {
        value / 10f64.powi(-exp)
    };
    Some(if negative { -scaled } else { scaled })
}

fn is_js_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{feff}'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_read_as_javascript_reads_them() {
        assert_eq!(js_parse_int("12abc"), 12.0);
        assert_eq!(js_parse_int(" -5"), -5.0);
        assert_eq!(js_parse_int("0x1A"), 26.0);
        assert_eq!(js_parse_int("abc"), 0.0);
        assert_eq!(js_number(" 3 "), 3.0);
        assert_eq!(js_number("0x3"), 3.0);
        assert_eq!(js_number(""), 0.0);
        assert_eq!(js_number("3.0"), 3.0);
        assert_eq!(js_number("3abc"), 0.0);
        assert_eq!(js_number("inf"), 0.0);
        assert_eq!(js_number("2.5"), 2.5);
        assert_eq!(js_number("1e3"), 1000.0);
        assert_eq!(js_number("-.5"), -0.5);
        assert_eq!(js_number("5."), 5.0);
        assert_eq!(js_number("1e"), 0.0);
        assert_eq!(js_number("."), 0.0);
    }

    #[test]
    fn account_portal_origins() {
        assert_eq!(
            accounts_origin("clerk.example.com").as_deref(),
            Some("https://accounts.example.com")
        );
        assert_eq!(
            accounts_origin("foo-bar-13.clerk.accounts.dev").as_deref(),
            Some("https://foo-bar-13.accounts.dev")
        );
        assert!(is_dev_account_portal("foo-bar-13.accounts.dev"));
        assert!(!is_dev_account_portal("app.example.com"));
    }
}
