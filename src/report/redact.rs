//! What of an audit line may reach the report, and in which form.
//!
//! The report never echoes a line: it is built from named fields only. The few free-text
//! fields it shows (operator and bypass reasons, problems, variable names) pass through
//! [`scrub`]: cleaned and capped with [`crate::audit::clean_text`], then every part shaped
//! like a credential is replaced by [`REDACTED`]: JWT-like `eyJ…` strings, Clerk and Svix keys
//! (`sk_live_…`, `sk_test_…`, `pk_live_…`, `pk_test_…`, `whsec_…`), `Bearer …` values, Clerk
//! cookies (`__session=…`, `__client_uat=…`, `__clerk_…=…`), `token=`/`secret=`/`password=`
//! values, query strings, and any long unbroken run of base64-like characters. Identifiers and
//! reason codes are kept only when they have the shape of one ([`id`], [`code`]).

use crate::audit::clean_text;

/// What replaces a secret-shaped part of a text.
pub const REDACTED: &str = "[redacted]";

/// Longest free text the report shows.
pub const MAX_REPORT_TEXT_CHARS: usize = 200;

/// An unbroken run of base64-like characters at least this long is taken for a secret.
const LONG_RUN_CHARS: usize = 48;

/// Key prefixes whose whole word is a secret or a key.
const KEY_PREFIXES: [&str; 6] = [
    "sk_live_", "sk_test_", "pk_live_", "pk_test_", "whsec_", "eyJ",
];

/// Names whose `=value` (or `: value`) is a secret: cookies and query parameters.
const SECRET_NAMES: [&str; 8] = [
    "__session",
    "__client_uat",
    "__clerk",
    "__client",
    "token",
    "secret",
    "password",
    "authorization",
];

/// Characters of a key, token or cookie value: a "word" for the rules above.
fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '+' | '/' | '=' | '%' | '~' | '$')
}

/// The free text `text`, cleaned, with every secret-shaped part redacted, then capped at
/// [`MAX_REPORT_TEXT_CHARS`] (after redaction, so a cut cannot hide a key's prefix).
pub fn scrub(text: &str) -> String {
    let mut out = redact_words(&clean_text(text, 8 * MAX_REPORT_TEXT_CHARS));
    if let Some((cut, _)) = out.char_indices().nth(MAX_REPORT_TEXT_CHARS) {
        out.truncate(cut);
    }
    out
}

fn redact_words(cleaned: &str) -> String {
    let chars: Vec<char> = cleaned.chars().collect();
    let mut out = String::with_capacity(cleaned.len());
    let mut last_word = String::new();
    let mut i = 0;
    while i < chars.len() {
        let at_word_start = i == 0 || !is_word_char(chars[i - 1]);
        if at_word_start && is_word_char(chars[i]) {
            let end = word_end(&chars, i);
            let word: String = chars[i..end].iter().collect();
            let (kept, next) = scrub_word(&word);
            out.push_str(&kept);
            i = end;
            // `?` is what `clean_text` made of a control character: `Bearer<TAB>x` is a
            // `Bearer x` too, and so is `Bearer: x`.
            let value_follows = match next {
                Next::Plain => false,
                Next::AfterSpace => matches!(chars.get(i), Some(' ' | '?' | ':')),
                Next::AfterColon => chars.get(i) == Some(&':'),
            };
            // `Bearer <value>` and `name: <value>`: the next word is the secret; after
            // `Authorization: Bearer`, the word after the scheme is too.
            let mut redact_next = value_follows;
            while redact_next {
                redact_next = false;
                while i < chars.len() && matches!(chars[i], ' ' | ':' | '\t' | '?') {
                    out.push(chars[i]);
                    i += 1;
                }
                if i < chars.len() && is_word_char(chars[i]) {
                    let end = word_end(&chars, i);
                    let value: String = chars[i..end].iter().collect();
                    redact_next = matches!(value.to_ascii_lowercase().as_str(), "bearer" | "basic");
                    i = end;
                    out.push_str(REDACTED);
                }
            }
            last_word = word;
            continue;
        }
        if let Some(at) = userinfo_end(&chars, i) {
            // `scheme://user:password@host`: the credentials go, the host stays.
            out.push_str("://");
            out.push_str(REDACTED);
            i = at;
            continue;
        }
        if chars[i] == '?' && chars.get(i + 1).is_some_and(|&c| is_word_char(c)) {
            let next_end = word_end(&chars, i + 1);
            let next_has_eq = chars[i + 1..next_end].contains(&'=');
            if !at_word_start && (last_word.contains('/') || next_has_eq) {
                // A query string after a path or URL: dropped whole, up to the next space.
                while i < chars.len() && !chars[i].is_whitespace() {
                    i += 1;
                }
                out.push_str("?[redacted]");
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// At a URL's `://` whose authority holds credentials (`user:password@`): the index of the
/// `@` that ends them.
fn userinfo_end(chars: &[char], i: usize) -> Option<usize> {
    if chars.get(i..i + 3)? != [':', '/', '/'] {
        return None;
    }
    let authority = &chars[i + 3..];
    let end = authority
        .iter()
        .position(|&c| c.is_whitespace() || matches!(c, '/' | '?' | '#'))
        .unwrap_or(authority.len());
    let at = authority.get(..end)?.iter().rposition(|&c| c == '@')?;
    Some(i + 3 + at)
}

/// The end (exclusive) of the word starting at `start`.
fn word_end(chars: &[char], start: usize) -> usize {
    (start..chars.len())
        .find(|&j| !is_word_char(chars[j]))
        .unwrap_or(chars.len())
}

/// Whether the word after a word is a secret.
enum Next {
    /// No.
    Plain,
    /// Yes when a space follows (`Bearer <token>`).
    AfterSpace,
    /// Yes when a colon follows (`Authorization: <value>`).
    AfterColon,
}

/// One word: what stays of it, and whether the word after it is a secret.
fn scrub_word(word: &str) -> (String, Next) {
    let lower = word.to_ascii_lowercase();
    if lower == "bearer" || lower == "basic" {
        return (word.to_owned(), Next::AfterSpace);
    }
    if KEY_PREFIXES.iter().any(|p| word.starts_with(p)) && word.len() > 6 {
        return (REDACTED.to_owned(), Next::Plain);
    }
    if let Some(eq) = word.find('=') {
        let name = &lower[..eq];
        // A name that, with its `=`, is as long as a secret is one (`__session<token>=`):
        // the whole word goes.
        if SECRET_NAMES.iter().any(|s| name.starts_with(s)) && eq + 1 >= LONG_RUN_CHARS {
            return (REDACTED.to_owned(), Next::Plain);
        }
        if SECRET_NAMES.iter().any(|s| name.starts_with(s)) {
            return (format!("{}={REDACTED}", &word[..eq]), Next::Plain);
        }
    }
    if SECRET_NAMES.iter().any(|s| lower == *s) {
        return (word.to_owned(), Next::AfterColon);
    }
    if word.chars().count() >= LONG_RUN_CHARS {
        return (REDACTED.to_owned(), Next::Plain);
    }
    (word.to_owned(), Next::Plain)
}

/// A user, session or job id as the report may show it: `[A-Za-z0-9_-]`, at most 64
/// characters and not a key; anything else is `None`.
pub fn id(text: &str) -> Option<String> {
    let shaped = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (shaped && !KEY_PREFIXES.iter().any(|p| text.starts_with(p))).then(|| text.to_owned())
}

/// A reason code, event name, mode or webhook type: lower-case ASCII letters, digits and
/// `-_.:`, at most 64 characters; anything else reads `(unrecognised)`.
pub fn code(text: &str) -> String {
    let shaped = !text.is_empty()
        && text.len() <= 64
        && text.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.' | ':')
        });
    if shaped && !KEY_PREFIXES.iter().any(|p| text.starts_with(p)) {
        text.to_owned()
    } else {
        "(unrecognised)".to_owned()
    }
}

/// Text for a Markdown table cell or list item: characters Markdown would read as markup
/// or as a cell border are escaped.
pub fn markdown_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '|' | '`' | '*' | '<' | '>' | '[' | ']' | '#' | '!'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ";

    #[test]
    fn a_long_run_glued_to_a_cookie_name_is_redacted() {
        // Found by fuzzing: `__session<48+ characters>=` kept its "name", a long run.
        let glued = format!("__session{}=", "C".repeat(60));
        let out = scrub(&format!("cookie {glued} end"));
        assert_eq!(out, "cookie [redacted] end");
        assert_eq!(scrub("__session=abc"), "__session=[redacted]");
        // Found by the long run: a 47-character name kept with its `=` made a 48-run.
        let name47 = format!("Authorization{}", "/".repeat(34));
        assert_eq!(scrub(&format!("{name47}=x")), REDACTED);
        let name46 = format!("Authorization{}", "/".repeat(33));
        assert_eq!(
            scrub(&format!("{name46}=x")),
            format!("{name46}={REDACTED}")
        );
    }

    #[test]
    fn a_bearer_value_after_control_characters_is_redacted() {
        // Found by fuzzing (fuzz/fuzz_targets/redaction.rs): a tab or NUL between `Bearer`
        // and the token became `?`, and the token after it was kept.
        for text in [
            "Authorization: Bearer\tdemo0admin0token0abcdef0123456789",
            "Bearer \0\0\0demo0admin0token0abcdef0123456789 end",
            // Found by the long run: `Bearer:` then control characters.
            "reason Bearer: \0\0\0-demo0admin0token0abcdef0123456789 end",
        ] {
            let out = scrub(text);
            assert!(!out.contains("demo0admin"), "{out:?}");
            assert!(out.contains(REDACTED), "{out:?}");
        }
    }

    #[test]
    fn secrets_in_free_text_are_redacted() {
        let text = format!(
            "INC-7 rotated sk_live_abcDEF123 and whsec_c2VjcmV0 after Bearer {JWT}; cookie \
             __session={JWT}; pk_test_Y2xlcms token=abc123 /app?code=xyz Authorization: xyz"
        );
        let out = scrub(&text);
        for secret in [
            "sk_live_", "whsec_", "eyJ", "pk_test_", "abc123", "code=xyz", "xyz",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert_eq!(
            out,
            "INC-7 rotated [redacted] and [redacted] after Bearer [redacted]; cookie \
             __session=[redacted]; [redacted] token=[redacted] /app?[redacted] Authorization: \
             [redacted]"
        );
    }

    #[test]
    fn credentials_in_a_url_are_redacted_and_the_host_kept() {
        assert_eq!(
            scrub("connect redis://admin:hunter2@cache.internal:6379/0 refused"),
            "connect redis://[redacted]@cache.internal:6379/0 refused"
        );
        assert_eq!(
            scrub("https://user@example.com/a and https://example.com/b@c"),
            "https://[redacted]@example.com/a and https://example.com/b@c"
        );
        assert_eq!(scrub("at 10:30://x"), "at 10:30://x");
        assert_eq!(scrub("ends with ://"), "ends with ://");
    }

    #[test]
    fn ordinary_reasons_stay_readable() {
        assert_eq!(
            scrub("INC-2026-001 Clerk outage (grace until 18:00)"),
            "INC-2026-001 Clerk outage (grace until 18:00)"
        );
        assert_eq!(
            scrub("stolen laptop, user asked"),
            "stolen laptop, user asked"
        );
        assert_eq!(scrub("what? the token expired"), "what? the token expired");
        assert_eq!(scrub("why?because"), "why?because");
    }

    #[test]
    fn long_runs_control_characters_and_length_are_handled() {
        let run = "A1b2".repeat(13);
        assert_eq!(scrub(&format!("key {run} end")), "key [redacted] end");
        assert_eq!(scrub("a\nb\u{1b}[31m"), "a?b?[31m");
        assert_eq!(
            scrub(&"x ".repeat(500)).chars().count(),
            MAX_REPORT_TEXT_CHARS
        );
    }

    #[test]
    fn ids_and_codes_keep_only_their_shape() {
        assert_eq!(id("user_2GIabc").as_deref(), Some("user_2GIabc"));
        assert_eq!(id(JWT), None);
        assert_eq!(id("sk_live_abc"), None);
        assert_eq!(id(""), None);
        assert_eq!(
            code("jwk-remote-failed-to-load"),
            "jwk-remote-failed-to-load"
        );
        assert_eq!(code("auth.denied"), "auth.denied");
        assert_eq!(code(JWT), "(unrecognised)");
        assert_eq!(code("sk_live_abc"), "(unrecognised)");
    }

    #[test]
    fn markdown_markup_is_escaped() {
        assert_eq!(
            markdown_text("a|b <img> [x](y) `c` *d*"),
            "a\\|b \\<img\\> \\[x\\](y) \\`c\\` \\*d\\*"
        );
    }
}
