//! Inputs the fuzz targets (fuzz/fuzz_targets/) found, replayed in plain `cargo test` so a
//! finding stays fixed without the nightly toolchain. Each file of
//! `tests/fixtures/fuzz-regressions/` is named after its target (`paths-…`, `redaction-…`)
//! and holds the input (minimised where the crash input was larger; the README's Fuzzing
//! section lists each finding). A file of a target this test does not know fails it, so
//! none is skipped silently.

use std::path::Path;

use clerk_edge_guard::policy::paths::decode_path;
use clerk_edge_guard::report::redact::{scrub, REDACTED};

/// RFC 3986 percent-decoding: `%` and exactly two hex digits.
fn strict_percent_decode(raw: &str) -> Vec<u8> {
    let bytes = raw.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = |j: usize| bytes.get(j).and_then(|b| char::from(*b).to_digit(16));
        if bytes[i] == b'%' {
            if let (Some(hi), Some(lo)) = (hex(i + 1), hex(i + 2)) {
                out.push(u8::try_from(hi * 16 + lo).unwrap());
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

/// The path target's oracle: the decoded path is the RFC decoding, or the raw path when
/// that is not UTF-8.
fn replay_paths(input: &[u8]) {
    let raw = String::from_utf8_lossy(input.split(|&b| b == 0).next().unwrap_or(&[]));
    let expected = String::from_utf8(strict_percent_decode(&raw)).unwrap_or(raw.to_string());
    assert_eq!(decode_path(&raw), expected, "decoding {raw:?}");
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-.+/=%~$".contains(c)
}

/// The redaction target's oracle, in short: no 48+ character run and no value after
/// `Bearer` survives scrubbing.
fn replay_redaction(input: &[u8]) {
    let text = String::from_utf8_lossy(input);
    let out = scrub(&text);
    let words: Vec<&str> = out.split(|c: char| !is_word_char(c)).collect();
    for word in &words {
        assert!(
            word.chars().count() < 48,
            "a long run survived: {word:?} in {out:?}"
        );
    }
    let lower = out.to_ascii_lowercase();
    if let Some(at) = lower.find("bearer") {
        let rest = out[at + "bearer".len()..].trim_start_matches([' ', ':', '\t', '?']);
        assert!(
            rest.is_empty() || rest.starts_with(REDACTED) || !rest.starts_with(is_word_char),
            "a Bearer value survived: {out:?}"
        );
    }
}

#[test]
fn every_fuzz_finding_stays_fixed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz-regressions");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let input = std::fs::read(&path).unwrap();
        match name.split('-').next() {
            Some("paths") => replay_paths(&input),
            Some("redaction") => replay_redaction(&input),
            _ => panic!("{name}: no replay for this target; add one to tests/fuzz_regressions.rs"),
        }
        replayed += 1;
    }
    assert_eq!(
        replayed, 6,
        "a regression input was added or lost: update this count"
    );
}
