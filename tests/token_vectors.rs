//! Session-token verification against Clerk's own fixtures
//! (`tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json`): every expected outcome at
//! its pinned clock, the recorded header, payload and signature validity of every token, the
//! PEM-to-JWK case, the publishable keys and the cookie-name suffixes.
//!
//! The first test fails when the file grows a section this file does not know, and each
//! table test counts its rows, so a new vector cannot be skipped silently.

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_edge_guard::auth::keys::{self, JwksCache, VerifyingKey};
use clerk_edge_guard::auth::token::{
    self, check_signature, cookie_suffix, verify_session_token, ClaimRules, KeySource, TokenError,
    Verification,
};
use clerk_edge_guard::config::Config;
use serde_json::Value;

/// The clock skew the expected outcomes were derived with (`@clerk/backend`'s default).
const SKEW_MS: i64 = 5000;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {value}"))
}

fn keys_of(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect()
}

fn b64url(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The key material of the file, parsed once per test.
struct Keys {
    jwks: JwksCache,
    pem: VerifyingKey,
    unrelated_pem: VerifyingKey,
}

impl Keys {
    fn load(v: &Value) -> Self {
        let body = serde_json::to_vec(&v["keys"]["jwks"]).unwrap();
        let mut jwks = JwksCache::new();
        jwks.record_success(keys::parse_jwks(&body).expect("fixture JWKS parses"), 0);
        Self {
            jwks,
            pem: keys::parse_pem(text(&v["keys"], "public_key_pem")).expect("fixture PEM"),
            unrelated_pem: keys::parse_pem(text(&v["keys"], "unrelated_public_key_pem"))
                .expect("unrelated fixture PEM"),
        }
    }

    /// The key source a row names, resolved as the adapter does (JWKS: by the token's `kid`).
    fn source<'k>(&'k self, kind: &str, token: &str) -> KeySource<'k> {
        match kind {
            "jwks" => {
                let kid = token::decode(token)
                    .ok()
                    .and_then(|d| d.kid().map(str::to_owned));
                KeySource::Jwks(self.jwks.find(kid.as_deref()))
            }
            "public_key_pem" => KeySource::Pem(&self.pem),
            "unrelated_public_key_pem" => KeySource::Pem(&self.unrelated_pem),
            other => panic!("unknown key kind `{other}` in the vectors: teach this test"),
        }
    }
}

fn outcome(v: &Verification) -> String {
    match v {
        Verification::Verified(_) => "ok".to_owned(),
        Verification::Rejected { error, .. } => error.code().to_owned(),
        Verification::NoToken => "no-token".to_owned(),
    }
}

#[test]
fn every_section_of_the_file_is_known() {
    let v = vectors();
    let known: BTreeSet<&str> = [
        "source",
        "note",
        "keys",
        "pem_to_jwk",
        "publishable_keys",
        "tokens",
        "expected_outcomes_default_skew_5000ms",
        "expected_outcomes_note",
        "cookie_suffix",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys_of(&v), known, "a section was added or renamed");
    let key_kinds: BTreeSet<&str> = [
        "jwks",
        "public_key_pem",
        "private_key_pem_pkcs8_TEST_ONLY",
        "unrelated_public_key_pem",
        "note",
    ]
    .into_iter()
    .collect();
    assert_eq!(keys_of(&v["keys"]), key_kinds, "a key kind was added");
}

#[test]
fn expected_outcomes_at_pinned_clocks() {
    let v = vectors();
    let keys = Keys::load(&v);
    let rows = v["expected_outcomes_default_skew_5000ms"]
        .as_array()
        .expect("expected outcomes are a list");
    assert!(!rows.is_empty(), "no expected outcomes in the vectors");
    let mut checked = 0;
    for (i, row) in rows.iter().enumerate() {
        let name = text(row, "token");
        // A row names a token of the `tokens` section, or is itself the raw token text.
        let token = v["tokens"][name]["jwt"].as_str().unwrap_or(name);
        let now_ms = row["now"].as_i64().expect("now in seconds") * 1000;
        let parties: Vec<String> = match &row["authorizedParties"] {
            Value::Null => Vec::new(),
            Value::Array(list) => list
                .iter()
                .map(|p| p.as_str().expect("a party is a string").to_owned())
                .collect(),
            other => panic!("row {i}: authorizedParties is {other}"),
        };
        let rules = ClaimRules {
            authorized_parties: &parties,
            clock_skew_ms: SKEW_MS,
            now_ms,
        };
        let got = verify_session_token(token, keys.source(text(row, "key"), token), &rules);
        assert_eq!(
            outcome(&got),
            text(row, "expect"),
            "row {i}: {name} at {now_ms} with {} and parties {parties:?}",
            text(row, "key")
        );
        // A verified row carries the token's identity.
        if let Verification::Verified(claims) = &got {
            let payload = &v["tokens"][name]["payload"];
            assert_eq!(claims.user_id, text(payload, "sub"), "row {i}");
            assert_eq!(
                claims.session_id.as_deref(),
                payload["sid"].as_str(),
                "row {i}"
            );
            assert_eq!(Some(claims.expires_at), payload["exp"].as_i64(), "row {i}");
        }
        checked += 1;
    }
    assert_eq!(checked, rows.len());
}

/// Every token's recorded header and payload decode as recorded, and its signature is valid
/// exactly when the file says so (checked on its own, whatever the claims).
#[test]
fn tokens_decode_as_recorded_and_signatures_match_the_record() {
    let v = vectors();
    let keys = Keys::load(&v);
    let tokens = v["tokens"].as_object().expect("tokens is an object");
    assert!(!tokens.is_empty());
    let mut checked = 0;
    for (name, entry) in tokens {
        let jwt = text(entry, "jwt");
        let decoded = token::decode(jwt).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut parts = jwt.split('.');
        let header: Value = serde_json::from_slice(&b64url(parts.next().unwrap())).unwrap();
        assert_eq!(header, entry["header"], "{name}: header");
        assert_eq!(decoded.payload(), &entry["payload"], "{name}: payload");
        assert_eq!(decoded.kid(), header["kid"].as_str(), "{name}: kid");
        let alg = decoded
            .check_header()
            .expect("fixture headers are RS256 JWT");
        let valid = entry["signature_valid"].as_bool().expect("signature_valid");
        for key in [
            &keys.pem,
            keys.jwks.find(decoded.kid()).expect("kid in JWKS"),
        ] {
            assert_eq!(
                check_signature(&decoded, alg, key).is_ok(),
                valid,
                "{name}: signature validity"
            );
        }
        if valid {
            assert_eq!(
                check_signature(&decoded, alg, &keys.unrelated_pem),
                Err(TokenError::InvalidSignature),
                "{name}: verifies with an unrelated key"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, tokens.len());
}

#[test]
fn pem_and_jwks_of_the_fixture_are_the_same_key() {
    let v = vectors();
    let keys = Keys::load(&v);
    let jwk = &v["keys"]["jwks"]["keys"][0];
    let from_jwks = keys.jwks.find(jwk["kid"].as_str()).expect("kid");
    assert_eq!(from_jwks.components(), keys.pem.components());
    let (n, e) = keys.pem.components().expect("usable key");
    assert_eq!(n, b64url(text(jwk, "n")));
    assert_eq!(e, b64url(text(jwk, "e")));
    assert_ne!(keys.unrelated_pem.components(), keys.pem.components());
}

#[test]
fn pem_to_jwk_yields_the_expected_modulus() {
    let v = vectors();
    let case = &v["pem_to_jwk"];
    let expected = &case["expected_jwk_for_kid_test-kid"];
    let n = b64url(text(expected, "n"));
    let e = b64url(text(expected, "e"));
    let mut checked = 0;
    for pem in [text(case, "pem"), text(case, "pem_single_line_body")] {
        let key = keys::parse_pem(pem).unwrap_or_else(|e| panic!("{e}: {pem}"));
        assert_eq!(key.components(), Some((n.clone(), e.clone())), "{pem}");
        // As `@clerk/backend`'s PEM-derived JWK says `alg: RS256`, other algs cannot use it.
        assert!(key.for_algorithm("RS256").is_ok());
        assert!(key.for_algorithm("RS384").is_err());
        assert!(key.for_algorithm("RS512").is_err());
        checked += 1;
    }
    // The expected JWK itself imports to the same key.
    let jwk = keys::parse_jwk(expected);
    assert_eq!(jwk.kid(), Some("local-test-kid"));
    assert_eq!(jwk.components(), Some((n, e)));
    assert_eq!(checked, 2);
}

fn config_with_publishable_key(pk: &str) -> Config {
    let pem = text(&vectors()["keys"], "public_key_pem").to_owned();
    Config::from_env(&move |name: &str| match name {
        "CLERK_JWT_KEY" => Some(pem.clone()),
        "CLERK_PUBLISHABLE_KEY" => Some(pk.to_owned()),
        _ => None,
    })
}

#[test]
fn publishable_keys_decode_to_the_frontend_api() {
    let v = vectors();
    let pks = &v["publishable_keys"];
    let frontend_api = text(pks, "decoded_frontend_api");
    let mut checked = 0;
    for (kind, production) in [("pk_test", false), ("pk_live", true)] {
        let pk = text(pks, kind);
        let config = config_with_publishable_key(pk);
        assert!(config.problems.is_empty(), "{kind}: {:?}", config.problems);
        let parsed = config.publishable_key.expect("publishable key parsed");
        assert_eq!(parsed.frontend_api, frontend_api, "{kind}");
        assert_eq!(parsed.production, production, "{kind}");
        assert_eq!(parsed.cookie_suffix, cookie_suffix(pk), "{kind}");
        checked += 1;
    }
    assert_eq!(checked, 2);
}

#[test]
fn cookie_suffix_cases() {
    let v = vectors();
    let cases = v["cookie_suffix"]["cases"].as_array().expect("cases");
    assert!(!cases.is_empty());
    let mut checked = 0;
    for case in cases {
        let pk = text(case, "publishable_key");
        let suffix = text(case, "suffix");
        assert_eq!(cookie_suffix(pk), suffix, "{pk}");
        // The configuration derives the same suffix from the same key.
        let config = config_with_publishable_key(pk);
        let parsed = config.publishable_key.expect("publishable key parsed");
        assert_eq!(parsed.cookie_suffix, suffix, "{pk}");
        checked += 1;
    }
    assert_eq!(checked, cases.len());
}
