//! Redaction: the audit line's text fields (`clean_text`, `AuditEvent::to_line`) and the
//! post-incident report's scrubbing of free text (`report::redact::scrub`, `id`, `code`).
//!
//! Input: free text (as an operator's reason, a bypass reason or a problem would carry it).
//! Asserts, on the outputs only: an audit line is one line of JSON whose text field is at
//! most 500 characters; the scrubbed text holds no token- or secret-shaped word (`eyJ…`,
//! `sk_live_…`, `sk_test_…`, `pk_…`, `whsec_…`, a 48+ character base64-like run), no value
//! after `Bearer`/`Basic`, no `__session=`/`token=`/`secret=`… value and no query string
//! after a path, and is at most 200 characters; `id` and `code` keep only their shapes.
#![no_main]

use clerk_edge_guard::audit::{AuditEvent, Level, MAX_TEXT_CHARS};
use clerk_edge_guard::report::redact::{code, id, scrub, MAX_REPORT_TEXT_CHARS, REDACTED};
use libfuzzer_sys::fuzz_target;
use oracles::check_audit_line;
use serde_json::Value;

/// The characters a key, token or cookie value is made of (a "word").
fn word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.+/=%~$".contains(c)
}

fn words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, word_char(c) && i < text.len()) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    out.into_iter()
}

fn check_scrubbed(input: &str, out: &str) {
    assert!(
        out.chars().count() <= MAX_REPORT_TEXT_CHARS,
        "scrubbed text over its cap"
    );
    assert!(
        !out.contains(['\n', '\r', '\u{2028}', '\u{2029}']),
        "scrubbed text spans lines"
    );
    for (at, word) in words(out) {
        for prefix in [
            "eyJ", "sk_live_", "sk_test_", "pk_live_", "pk_test_", "whsec_",
        ] {
            assert!(
                !(word.starts_with(prefix) && word.len() > 6),
                "a {prefix} word survived scrubbing: {word:?} in {out:?} (from {input:?})"
            );
        }
        assert!(
            word.chars().count() < 48,
            "a long base64-like run survived: {word:?}"
        );
        let lower = word.to_ascii_lowercase();
        if let Some((name, value)) = lower.split_once('=') {
            for secret in [
                "__session",
                "__client",
                "__clerk",
                "token",
                "secret",
                "password",
                "authorization",
            ] {
                assert!(
                    !(name.starts_with(secret) && !value.is_empty()),
                    "a {secret}= value survived: {word:?} in {out:?} (from {input:?})"
                );
            }
        }
        if lower == "bearer" || lower == "basic" {
            let rest = &out[at + word.len()..];
            let value = rest.trim_start_matches([' ', ':', '\t', '?']);
            let next: String = value.chars().take_while(|&c| word_char(c)).collect();
            assert!(
                next.is_empty() || value.starts_with(REDACTED) || rest == value,
                "a {word} value survived: {next:?} in {out:?} (from {input:?})"
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);

    let line = AuditEvent::new(Level::Warn, "admin.revoke")
        .text("operator_reason", &text)
        .to_line(1_766_000_000_000);
    check_audit_line(&line);
    let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
    let kept = value["operator_reason"].as_str().unwrap_or("");
    assert!(
        kept.chars().count() <= MAX_TEXT_CHARS,
        "an audit text field over its cap"
    );
    assert!(
        text.chars().take(MAX_TEXT_CHARS).count() == kept.chars().count(),
        "an audit text field lost or gained characters"
    );

    let out = scrub(&text);
    check_scrubbed(&text, &out);

    if let Some(kept) = id(&text) {
        // An id may be a long run (64 characters), but never a key.
        assert!(
            kept.len() <= 64
                && kept
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        );
        for prefix in [
            "eyJ", "sk_live_", "sk_test_", "pk_live_", "pk_test_", "whsec_",
        ] {
            assert!(!kept.starts_with(prefix), "a key kept as an id: {kept:?}");
        }
    }
    let c = code(&text);
    assert!(
        c == "(unrecognised)"
            || (c.len() <= 64
                && c.chars().all(|ch| ch.is_ascii_lowercase()
                    || ch.is_ascii_digit()
                    || "-_.:".contains(ch)))
    );
});
