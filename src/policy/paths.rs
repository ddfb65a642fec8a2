//! Path patterns of `CLERK_PUBLIC_PATHS`, `CLERK_EMERGENCY_BYPASS_PATHS` and
//! `CLERK_NEVER_BYPASS_PATHS`: a comma-separated list of `/exact` and `/prefix/*`.
//!
//! Matching is done on the percent-decoded path, because that is the path the origin acts
//! on: `/%61dmin` must not slip past a never-bypass rule for `/admin/*`.

use std::fmt;
use std::sync::OnceLock;

/// One pattern: an exact path, or a prefix written `/prefix/*`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PathPattern {
    Exact(String),
    /// Stored without the trailing `/*`; matches the prefix itself and everything below it.
    Prefix(String),
}

impl PathPattern {
    /// The pattern in [`loose_form`], for matching loose forms of paths.
    fn loose(&self) -> Self {
        match self {
            PathPattern::Exact(exact) => PathPattern::Exact(loose_form(exact)),
            PathPattern::Prefix(prefix) => {
                PathPattern::Prefix(loose_form(prefix).trim_end_matches('/').to_owned())
            }
        }
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathPattern::Exact(exact) => path == exact,
            PathPattern::Prefix(prefix) => match path.strip_prefix(prefix.as_str()) {
                // `/admin/*` covers `/admin` and `/admin/x`, but not `/administrator`.
                Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.is_empty(),
                None => false,
            },
        }
    }
}

/// A parsed, validated list of path patterns. The empty list matches nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathPatterns {
    patterns: Vec<PathPattern>,
    /// The same patterns in loose form, made once at parse time rather than per request.
    loose: Vec<PathPattern>,
}

/// Why a pattern list was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPatternError {
    /// 1-based position of the offending pattern in the list.
    pub position: usize,
    /// What is wrong with it.
    pub problem: &'static str,
}

impl fmt::Display for PathPatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pattern #{} {}; use comma-separated `/exact` or `/prefix/*` patterns",
            self.position, self.problem
        )
    }
}

impl std::error::Error for PathPatternError {}

impl PathPatterns {
    /// Parses a comma-separated list; blanks around commas and empty items are ignored.
    pub fn parse(list: &str) -> Result<Self, PathPatternError> {
        let mut patterns = Vec::new();
        for (i, raw) in list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let fail = |problem| PathPatternError {
                position: i + 1,
                problem,
            };
            if !raw.starts_with('/') {
                return Err(fail("does not start with '/'"));
            }
            if raw
                .chars()
                .any(|c| c.is_whitespace() || c == '?' || c == '#')
            {
                return Err(fail("contains a space, '?' or '#'"));
            }
            let (body, is_prefix) = match raw.strip_suffix("/*") {
                Some(prefix) => (prefix, true),
                None => (raw, false),
            };
            if body.contains('*') {
                return Err(fail("has a '*' that is not a trailing '/*'"));
            }
            patterns.push(if is_prefix {
                PathPattern::Prefix(body.to_owned())
            } else {
                PathPattern::Exact(body.to_owned())
            });
        }
        Ok(Self::new(patterns))
    }

    fn new(patterns: Vec<PathPattern>) -> Self {
        let loose = patterns.iter().map(PathPattern::loose).collect();
        Self { patterns, loose }
    }

    /// The built-in rule that `/__clerk/*` routes are never bypassed nor public (built once:
    /// every request is routed through it).
    pub fn clerk_routes() -> &'static Self {
        static CLERK_ROUTES: OnceLock<PathPatterns> = OnceLock::new();
        CLERK_ROUTES.get_or_init(|| Self::new(vec![PathPattern::Prefix("/__clerk".to_owned())]))
    }

    /// True when no pattern is configured.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// [`Self::matches`] for deny-lists (`CLERK_NEVER_BYPASS_PATHS`): also true when any
    /// other spelling of `path` that an origin may treat as the same path matches
    /// (`//admin`, `/ADMIN`, `/admin;x`, `/%61dmin/%ff`, `/billing/` for `/billing`).
    pub fn matches_any_spelling(&self, path: &str) -> bool {
        if self.is_empty() {
            return false;
        }
        if self.matches(path) {
            return true;
        }
        let path = loose_form(path);
        self.loose.iter().any(|p| p.matches(&path))
    }

    /// Whether `path` (already percent-decoded, see [`decode_path`]) matches any pattern.
    pub fn matches(&self, path: &str) -> bool {
        self.patterns.iter().any(|p| p.matches(path))
    }
}

/// Whether a percent-decoded path still has a `.` or `..` segment (separated by `/` or `\`).
///
/// The runtime's URL parser resolves literal and `%2E` dot segments before the Worker sees
/// the path, so one that appears only after decoding came with an encoded slash, as in
/// `/public/..%2Fadmin`. An origin that decodes and resolves it (nginx does) acts on another
/// path than the one matched here, so such a path is never public and never bypassed: it
/// gets the full check, whatever the origin makes of it.
pub fn has_dot_segments(path: &str) -> bool {
    path.split(['/', '\\'])
        .any(|segment| segment == "." || segment == "..")
}

/// Percent-decodes a URL path for matching. Invalid escapes and non-UTF-8 results keep the
/// raw path: allow-lists (public paths, bypass scope) then fail closed; deny-lists use
/// [`PathPatterns::matches_any_spelling`], which does not depend on this.
pub fn decode_path(raw: &str) -> String {
    if !raw.contains('%') {
        return raw.to_owned();
    }
    String::from_utf8(percent_decode(raw)).unwrap_or_else(|_| raw.to_owned())
}

fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            // Two hex digits exactly (RFC 3986): `u8::from_str_radix` would also take a sign,
            // reading `%+8` as byte 8 where an origin sees the text `%+8`.
            let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    out
}

/// The spelling-insensitive form of a path, for deny-lists: every origin normalises some of
/// these away (percent escapes, even inside invalid UTF-8 or encoded twice; `\` for `/`;
/// `;params`; repeated slashes; case; a trailing slash), so a never-bypass rule must see
/// through all of them.
fn loose_form(path: &str) -> String {
    let mut decoded = path.to_owned();
    // Bounded: each round only shortens the text or leaves it as it was.
    for _ in 0..3 {
        if !decoded.contains('%') {
            break;
        }
        decoded = String::from_utf8_lossy(&percent_decode(&decoded)).into_owned();
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.replace('\\', "/").split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        if !segment.is_empty() {
            out.push('/');
            out.push_str(&segment.to_ascii_lowercase());
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_prefix_patterns() {
        let p = PathPatterns::parse(" /health , /public/*,,/a/b/* ").unwrap();
        assert!(p.matches("/health"));
        assert!(!p.matches("/health/x"));
        assert!(!p.matches("/healthz"));
        assert!(p.matches("/public"));
        assert!(p.matches("/public/"));
        assert!(p.matches("/public/x/y"));
        assert!(!p.matches("/publicity"));
        assert!(p.matches("/a/b/c"));
        assert!(!p.matches("/a"));
    }

    #[test]
    fn deny_lists_see_through_every_spelling_an_origin_may_normalise() {
        let never = PathPatterns::parse("/admin/*,/billing").unwrap();
        for path in [
            "/admin",
            "/admin/x",
            "//admin/x",
            "/ADMIN/x",
            "/Billing",
            "/billing/",
            "/billing//",
            "/admin;jsessionid=1/x",
            "/%61dmin/x%ff",
            "/%2561dmin/x",
            "/%2Fadmin/x",
            "/%5Cadmin/x",
            "\\admin\\x",
        ] {
            let decoded = decode_path(path);
            assert!(never.matches_any_spelling(&decoded), "{path:?}");
        }
        for path in [
            "/administrator",
            "/app/admin",
            "/billing-info",
            "/",
            "",
            "/%ff",
        ] {
            assert!(!never.matches_any_spelling(&decode_path(path)), "{path:?}");
        }
        assert!(!PathPatterns::default().matches_any_spelling("/admin"));
        assert!(PathPatterns::parse("/*")
            .unwrap()
            .matches_any_spelling("//x"));
    }

    #[test]
    fn root_prefix_matches_everything() {
        let p = PathPatterns::parse("/*").unwrap();
        assert!(p.matches("/"));
        assert!(p.matches("/anything/at/all"));
    }

    #[test]
    fn empty_list_matches_nothing() {
        let p = PathPatterns::parse(" , ").unwrap();
        assert!(p.is_empty());
        assert!(!p.matches("/"));
    }

    #[test]
    fn refuses_malformed_patterns() {
        for (list, pos) in [
            ("public", 1),
            ("/ok,/a*b", 2),
            ("/ok,/x/*/y", 2),
            ("/a b", 1),
            ("/a?x=1", 1),
            ("/*/x", 1),
        ] {
            let err = PathPatterns::parse(list).unwrap_err();
            assert_eq!(err.position, pos, "{list}");
        }
    }

    #[test]
    fn finds_dot_segments_left_by_encoded_slashes() {
        for path in [
            "/public/..%2Fadmin",
            "/public/x%2F..%2F..%2Fadmin",
            "/public/.%2Fx",
            "/public/..%5Cadmin",
            "/public/..",
        ] {
            assert!(has_dot_segments(&decode_path(path)), "{path}");
        }
        for path in [
            "/",
            "/public/x",
            "/public/..x",
            "/public/x..",
            "/.well-known/a",
            "/a.b/c",
        ] {
            assert!(!has_dot_segments(&decode_path(path)), "{path}");
        }
    }

    #[test]
    fn decodes_percent_escapes_before_matching() {
        let never = PathPatterns::parse("/admin/*").unwrap();
        assert!(never.matches(&decode_path("/%61dmin/users")));
        assert_eq!(decode_path("/a%2Fb"), "/a/b");
        assert_eq!(decode_path("/bad%zz"), "/bad%zz");
        assert_eq!(decode_path("/trunc%4"), "/trunc%4");
        assert_eq!(decode_path("/bin%ff"), "/bin%ff");
    }

    #[test]
    fn an_escape_is_two_hex_digits_never_a_signed_number() {
        // Found by fuzzing (fuzz/fuzz_targets/paths.rs): `%+8` was read as byte 8, so
        // `/admin%+0` decoded to `/admin\0`, a path no origin sees.
        assert_eq!(decode_path("/admin%+0"), "/admin%+0");
        assert_eq!(decode_path("/a%+8b%41"), "/a%+8bA");
        assert_eq!(decode_path("/a%-1b"), "/a%-1b");
        assert_eq!(decode_path("/a%41%2f"), "/aA/");
    }
}
