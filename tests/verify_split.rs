//! The split verification of the WebCrypto paths ([`begin_cached`] -> RSA somewhere else ->
//! [`complete_cached`]): junk is decided before any RSA work, the split gives the answers of
//! the one-piece verification, and a check that outlives a cache clear is not recorded.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_edge_guard::auth::keys::{self, VerifyingKey};
use clerk_edge_guard::auth::token::{
    begin_cached, complete_cached, payload_text, verify_cached, verify_session_token, ClaimRules,
    KeySource, PendingSignature, Step, TokenError, Verification, MAX_TOKEN_BYTES,
};
use clerk_edge_guard::auth::verified_cache::VerifiedTokenCache;
use jwt_compact::alg::Rsa;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

#[path = "support/demo_key.rs"]
mod demo_key;
use demo_key::{demo_key_pair, sign};

const NOW_S: i64 = 1_760_000_000;
const NOW_MS: i64 = NOW_S * 1000;

fn demo_key() -> (RsaPrivateKey, VerifyingKey) {
    let (private, public) = demo_key_pair();
    (private, keys::parse_pem(&public).expect("demo public key"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn claims() -> Value {
    json!({"sub": "user_1", "sid": "sess_1", "iat": NOW_S - 10, "exp": NOW_S + 60})
}

fn rules() -> ClaimRules<'static> {
    ClaimRules {
        authorized_parties: &[],
        clock_skew_ms: 5000,
        now_ms: NOW_MS,
    }
}

fn begin(cache: &mut VerifiedTokenCache, token: &str, keys: KeySource<'_>) -> Step {
    let settings = cache.settings_id("test");
    begin_cached(cache, settings, token, keys, &rules())
}

/// The answer of a step that needed no RSA.
fn decided(step: Step, what: &str) -> Verification {
    match step {
        Step::Done(verification) => verification,
        Step::NeedSignature(_) => panic!("{what}: asked for an RSA check"),
    }
}

/// The RSA check a step asks for.
fn needs_rsa(step: Step, what: &str) -> PendingSignature {
    match step {
        Step::NeedSignature(pending) => pending,
        Step::Done(verification) => panic!("{what}: decided without RSA: {verification:?}"),
    }
}

fn refused(error: TokenError) -> Verification {
    Verification::Rejected {
        error,
        signed: None,
    }
}

/// Every kind of junk is decided by `begin_cached` alone: no RSA operation is ever asked for.
#[test]
fn junk_is_refused_before_any_rsa() {
    let (private, key) = demo_key();
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "k"});
    let valid = sign(&private, Rsa::rs256(), &header, &claims());
    let (h, p) = {
        let mut parts = valid.split('.');
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    };
    let with_alg = |alg: &str| {
        format!(
            "{}.{p}.c2ln",
            b64(json!({"alg": alg, "typ": "JWT"}).to_string().as_bytes())
        )
    };
    let jwk_rs384_only = {
        let mut jwk = json!({"kty": "RSA", "kid": "k", "alg": "RS384"});
        let (n, e) = key.components().expect("usable key");
        jwk["n"] = Value::from(b64(&n));
        jwk["e"] = Value::from(b64(&e));
        keys::parse_jwk(&jwk)
    };
    let pem = KeySource::Pem(&key);
    let cases: Vec<(&str, String, KeySource<'_>, TokenError)> = vec![
        ("empty", String::new(), pem, TokenError::Invalid),
        (
            "oversized",
            format!("{valid}{}", "A".repeat(MAX_TOKEN_BYTES)),
            pem,
            TokenError::Invalid,
        ),
        ("one segment", h.to_owned(), pem, TokenError::Invalid),
        ("two segments", format!("{h}.{p}"), pem, TokenError::Invalid),
        (
            "four segments",
            format!("{valid}.x"),
            pem,
            TokenError::Invalid,
        ),
        (
            "garbage",
            "%%%.***.!!!".to_owned(),
            pem,
            TokenError::Invalid,
        ),
        (
            "header not JSON",
            format!("{}.{p}.c2ln", b64(b"not json")),
            pem,
            TokenError::Invalid,
        ),
        (
            "payload not JSON",
            format!("{h}.{}.c2ln", b64(b"{")),
            pem,
            TokenError::Invalid,
        ),
        (
            "alg none",
            with_alg("none"),
            pem,
            TokenError::InvalidAlgorithm,
        ),
        (
            "alg HS256",
            with_alg("HS256"),
            pem,
            TokenError::InvalidAlgorithm,
        ),
        (
            "alg ES256",
            with_alg("ES256"),
            pem,
            TokenError::InvalidAlgorithm,
        ),
        (
            "alg the key cannot verify",
            with_alg("RS512"),
            pem,
            TokenError::VerificationFailed,
        ),
        (
            "JWK alg differs from the token's",
            valid.clone(),
            KeySource::Jwks(Some(&jwk_rs384_only)),
            TokenError::VerificationFailed,
        ),
        (
            "kid not in the JWKS",
            valid.clone(),
            KeySource::Jwks(None),
            TokenError::KidMismatch,
        ),
    ];
    for (name, token, keys, error) in cases {
        let mut cache = VerifiedTokenCache::default();
        let first = decided(begin(&mut cache, &token, keys), name);
        assert_eq!(first, refused(error), "{name}");
        // Asked again (a remembered refusal, or the same checks): still no RSA.
        let again = decided(begin(&mut cache, &token, keys), name);
        assert_eq!(again, refused(error), "{name}, asked again");
    }
    let mut cache = VerifiedTokenCache::default();
    needs_rsa(begin(&mut cache, &valid, pem), "a real token");
}

/// begin -> pure-Rust RSA -> complete answers as the one-piece verification, and records the
/// answer: the second time, the token is a cache hit.
#[test]
fn split_verification_answers_as_the_whole() {
    let (private, key) = demo_key();
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let good = sign(&private, Rsa::rs256(), &header, &claims());
    let expired = sign(
        &private,
        Rsa::rs256(),
        &header,
        &json!({"sub": "user_2", "exp": NOW_S - 60}),
    );
    let forged = {
        let other = sign(
            &private,
            Rsa::rs256(),
            &header,
            &json!({"sub": "user_admin", "exp": NOW_S + 60}),
        );
        let signature = other.rsplit('.').next().unwrap_or("");
        let (input, _) = good.rsplit_once('.').unwrap_or_default();
        format!("{input}.{signature}")
    };
    for token in [&good, &expired, &forged] {
        let whole = verify_session_token(token, KeySource::Pem(&key), &rules());
        let mut cache = VerifiedTokenCache::default();
        let pending = needs_rsa(begin(&mut cache, token, KeySource::Pem(&key)), token);
        let valid = pending.verify_in_rust();
        // Kept two minutes past `exp` (a grace window), so the expired token is recorded too.
        let split = complete_cached(&mut cache, pending, valid, &rules(), 120_000);
        assert_eq!(split, whole, "{token}");
        let again = decided(
            begin(&mut cache, token, KeySource::Pem(&key)),
            "a cache hit",
        );
        assert_eq!(again, whole, "cache hit for {token}");
        let mut fresh = VerifiedTokenCache::default();
        let settings = fresh.settings_id("test");
        let cached = verify_cached(
            &mut fresh,
            settings,
            token,
            KeySource::Pem(&key),
            &rules(),
            5000,
        );
        assert_eq!(cached, whole, "verify_cached for {token}");
    }
}

/// A WebCrypto check is asynchronous: if the cache is cleared meanwhile (a JWKS refresh, or
/// settings ids reassigned), its answer serves its own request but is not recorded.
#[test]
fn a_check_that_outlives_a_clear_is_not_recorded() {
    let (private, key) = demo_key();
    let token = sign(&private, Rsa::rs256(), &json!({"alg": "RS256"}), &claims());
    let mut cache = VerifiedTokenCache::default();
    let pending = needs_rsa(begin(&mut cache, &token, KeySource::Pem(&key)), "fresh");
    cache.clear();
    let settings = cache.settings_id("test");
    let answer = complete_cached(&mut cache, pending, true, &rules(), 5000);
    assert!(matches!(answer, Verification::Verified(_)), "{answer:?}");
    assert!(
        cache.get(&token, settings, NOW_MS).is_none(),
        "not recorded"
    );
    assert!(cache.is_empty());

    // A refused signature is not recorded either.
    let pending = needs_rsa(begin(&mut cache, &token, KeySource::Pem(&key)), "fresh");
    cache.clear();
    let answer = complete_cached(&mut cache, pending, false, &rules(), 5000);
    assert_eq!(answer, refused(TokenError::InvalidSignature));
    assert!(cache.is_empty());
}

/// The payload text handed to JavaScript is what `@clerk/backend` parses: the decoded bytes,
/// bad UTF-8 replaced and a leading BOM dropped, lenient about `=` padding.
#[test]
fn payload_text_is_what_clerk_parses() {
    let part = |bytes: &[u8]| b64(bytes);
    let token = |payload: &str| format!("{}.{payload}.c2ln", part(b"{}"));
    assert_eq!(
        payload_text(&token(&part(br#"{"sub":"u","n":1e3}"#))).as_deref(),
        Some(r#"{"sub":"u","n":1e3}"#),
        "as sent: key order and number spelling kept"
    );
    assert_eq!(
        payload_text(&token(&part("\u{feff}{}".as_bytes()))).as_deref(),
        Some("{}")
    );
    assert_eq!(
        payload_text(&token(&part(b"{\"a\":\"\xff\"}"))).as_deref(),
        Some("{\"a\":\"\u{fffd}\"}")
    );
    assert_eq!(
        payload_text(&format!(
            "{}==",
            token(&part(b"{}")).trim_end_matches(".c2ln")
        ))
        .as_deref(),
        Some("{}"),
        "the signing input works too"
    );
    assert_eq!(payload_text("only-one-part"), None);
    assert_eq!(payload_text(&token("%%%")), None);
}

/// A stale `__session` cookie is sent with every request until the browser refreshes it: its
/// signature is checked once, then every repeat is a lookup that still answers
/// `token-expired` against the current clock.
#[test]
fn an_expired_token_is_checked_once_and_stays_expired() {
    let (private, key) = demo_key();
    let mut payload = claims();
    payload["exp"] = json!(NOW_S - 600);
    let token = sign(&private, Rsa::rs256(), &json!({"alg": "RS256"}), &payload);
    let mut cache = VerifiedTokenCache::default();
    let pending = needs_rsa(begin(&mut cache, &token, KeySource::Pem(&key)), "first");
    let valid = pending.verify_in_rust();
    let first = complete_cached(&mut cache, pending, valid, &rules(), 5000);
    assert!(matches!(
        first,
        Verification::Rejected {
            error: TokenError::Expired,
            signed: Some(_)
        }
    ));
    for _ in 0..3 {
        let again = decided(begin(&mut cache, &token, KeySource::Pem(&key)), "repeat");
        assert_eq!(again, first);
    }
}
