//! Path decoding and the path patterns: `CLERK_PUBLIC_PATHS`, `CLERK_EMERGENCY_BYPASS_PATHS`
//! and `CLERK_NEVER_BYPASS_PATHS` against a raw request path.
//!
//! Input: `raw path \0 public patterns \0 bypass patterns \0 never patterns`.
//! Asserts, with the target's own percent-decoding and normalisation: the decoded path is
//! the raw one's decoding (or the raw path when that is not UTF-8); a path with a `.`/`..`
//! segment after decoding is never public nor bypassed; `/__clerk/*` in any spelling an
//! origin may treat as the same (case, `//`, `\`, `;params`, escapes) is never public nor
//! bypassed; neither is a path a never-bypass pattern covers in such a spelling; a public
//! route is one a public pattern matches.
#![no_main]

use clerk_edge_guard::config::Config;
use clerk_edge_guard::policy::bypass::BypassMode;
use clerk_edge_guard::policy::decision::{route, Route};
use clerk_edge_guard::policy::paths::{decode_path, PathPatterns};
use libfuzzer_sys::fuzz_target;
use oracles::Fields;

const NOW_MS: i64 = 1_766_000_000_000;

/// Percent-decoding, written again from RFC 3986: `%` and two hex digits is one byte.
fn percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// What an origin may make of a path: decoded (up to three times), `\` as `/`, `;params`
/// dropped, repeated slashes collapsed, lower case, no trailing slash.
fn origin_form(path: &str) -> String {
    let mut text = path.to_owned();
    for _ in 0..3 {
        text = String::from_utf8_lossy(&percent_decode(&text)).into_owned();
    }
    let text = text.replace('\\', "/").to_ascii_lowercase();
    let mut out = String::new();
    for segment in text.split('/') {
        let segment = segment.split(';').next().unwrap_or("");
        if !segment.is_empty() {
            out.push('/');
            out.push_str(segment);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Whether a pattern list covers `path` in the origin's form (prefix patterns cover the
/// prefix itself and below).
fn covers(patterns: &str, path: &str) -> bool {
    let path = origin_form(path);
    patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| match p.strip_suffix("/*") {
            Some(prefix) => {
                let prefix = origin_form(prefix);
                let prefix = prefix.trim_end_matches('/');
                path == prefix || prefix.is_empty() || path.starts_with(&format!("{prefix}/"))
            }
            None => path == origin_form(p),
        })
}

fn dot_segment(path: &str) -> bool {
    path.split(['/', '\\']).any(|s| s == "." || s == "..")
}

fuzz_target!(|data: &[u8]| {
    let fields = Fields::new(data);
    let raw = fields.text(0);
    let (public, scope, never) = (fields.text(1), fields.text(2), fields.text(3));

    let decoded = decode_path(&raw);
    match String::from_utf8(percent_decode(&raw)) {
        Ok(expected) => assert_eq!(decoded, expected, "decode_path differs from the oracle"),
        Err(_) => assert_eq!(decoded, raw, "an undecodable path is not kept raw"),
    }
    for list in [&public, &scope, &never] {
        if let Ok(patterns) = PathPatterns::parse(list) {
            for p in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let itself = p.strip_suffix("/*").map_or(p, |prefix| prefix);
                let itself = if itself.is_empty() { "/" } else { itself };
                assert!(
                    patterns.matches(itself),
                    "pattern {p:?} does not match its own path"
                );
            }
        }
    }

    let config = Config::from_pairs(&[
        ("CLERK_JWT_KEY", oracles::fixture_pem()),
        ("CLERK_PUBLIC_PATHS", &public),
        ("CLERK_EMERGENCY_BYPASS", "true"),
        ("CLERK_EMERGENCY_BYPASS_PATHS", &scope),
        ("CLERK_NEVER_BYPASS_PATHS", &never),
    ]);
    // The edge's own routes are `/__clerk/*` as written (never public); for the bypass,
    // every spelling of them (README runbook 1: "`/__clerk/*` ... never bypassed").
    let clerk_route = covers("/__clerk/*", &decoded) || covers("/__clerk/*", &raw);
    let r = route(&config, &decoded);
    if r == Route::Public {
        assert!(
            !dot_segment(&decoded),
            "a dot-segment path is public: {decoded:?}"
        );
        assert!(
            decoded != "/__clerk" && !decoded.starts_with("/__clerk/"),
            "a /__clerk/ path is public"
        );
        assert!(
            covers(&public, &decoded),
            "public without a public pattern: {decoded:?}"
        );
    }
    let mode = config.bypass.mode_for(&decoded, NOW_MS);
    if mode != BypassMode::Off {
        assert!(
            !dot_segment(&decoded),
            "a dot-segment path is bypassed: {decoded:?}"
        );
        assert!(!clerk_route, "a /__clerk/ path is bypassed: {decoded:?}");
        let never_ok = config
            .problems
            .iter()
            .all(|p| p.variable != "CLERK_NEVER_BYPASS_PATHS");
        assert!(
            !(never_ok && covers(&never, &decoded)),
            "a never-bypass path is bypassed: {decoded:?} under {never:?}"
        );
    }
});
