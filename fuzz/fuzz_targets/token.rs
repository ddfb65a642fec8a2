//! The session token: decode and verify (`verify_session_token`), directly and through the
//! verified-token cache, with Clerk's real fixture key, so that the seed corpus of real
//! tokens makes valid signatures reachable.
//!
//! Input: `token \0 now_seconds \0 choices` (choices: key source, skew, authorized parties).
//! Asserts: a token is never accepted (nor kept as "validly signed, only a time claim
//! failed") unless its RS signature verifies against the fixture key with the `rsa` crate;
//! the identity is the payload's own `sub`/`sid`; every refusal reason is the contract's;
//! the cached path answers exactly as the direct one, on a miss and on a hit.
#![no_main]

use clerk_edge_guard::auth::keys::{parse_jwks, parse_pem};
use clerk_edge_guard::auth::token::{
    decode, verify_cached, verify_session_token, ClaimRules, KeySource, Verification,
};
use clerk_edge_guard::auth::verified_cache::VerifiedTokenCache;
use libfuzzer_sys::fuzz_target;
use oracles::{fixture_pem, signature_verifies, token_payload, vectors, Fields, AUTH_REASONS};
use serde_json::Value;

/// The vectors' `mockJwt` is valid at its `iat`.
const DEFAULT_NOW_S: i64 = 1_666_648_250;

fuzz_target!(|data: &[u8]| {
    let fields = Fields::new(data);
    let token = fields.text(0);
    let now_ms = fields.int(1, DEFAULT_NOW_S).saturating_mul(1000);
    let mut choices = fields.choices(2);
    let use_jwks: bool = choices.arbitrary().unwrap_or(false);
    let skew_ms = i64::from(choices.int_in_range(0..=60_000u32).unwrap_or(5000));
    let parties: Vec<String> = match choices.int_in_range(0..=2u8).unwrap_or(0) {
        0 => Vec::new(),
        1 => vec!["https://accounts.inspired.puma-74.lcl.dev".to_owned()],
        _ => vec!["https://example.com".to_owned()],
    };

    let Ok(pem_key) = parse_pem(fixture_pem()) else {
        panic!("the fixture PEM must parse");
    };
    let jwks_text = vectors()["keys"]["jwks"].to_string();
    let jwks = parse_jwks(jwks_text.as_bytes()).unwrap_or_default();
    let kid = decode(&token).ok().and_then(|d| d.kid().map(str::to_owned));
    let keys = if use_jwks {
        KeySource::Jwks(
            jwks.iter()
                .find(|k| k.kid().is_some() && k.kid() == kid.as_deref()),
        )
    } else {
        KeySource::Pem(&pem_key)
    };
    let rules = ClaimRules {
        authorized_parties: &parties,
        clock_skew_ms: skew_ms,
        now_ms,
    };

    let direct = verify_session_token(&token, keys, &rules);
    check(&token, &direct, &parties);

    let mut cache = VerifiedTokenCache::with_capacity(64);
    let settings = cache.settings_id("fuzz");
    let miss = verify_cached(&mut cache, settings, &token, keys, &rules, 0);
    let hit = verify_cached(&mut cache, settings, &token, keys, &rules, 0);
    assert_eq!(
        miss, direct,
        "the cache (miss) differs from the direct check"
    );
    assert_eq!(hit, direct, "the cache (hit) differs from the direct check");
});

fn check(token: &str, verification: &Verification, parties: &[String]) {
    match verification {
        Verification::NoToken => panic!("a token string was read as no token"),
        Verification::Rejected { error, signed } => {
            assert!(
                AUTH_REASONS.contains(&error.code()),
                "refusal reason {} is not in the contract",
                error.code()
            );
            if let Some(claims) = signed {
                assert!(
                    signature_verifies(token),
                    "a token kept as validly signed ({}) does not verify: {token}",
                    error.code()
                );
                check_identity(token, &claims.user_id, claims.session_id.as_deref());
            }
        }
        Verification::Verified(claims) => {
            assert!(
                signature_verifies(token),
                "signed in without a signature that verifies: {token}"
            );
            check_identity(token, &claims.user_id, claims.session_id.as_deref());
            if !parties.is_empty() {
                let azp = token_payload(token)
                    .and_then(|p| p.get("azp").and_then(Value::as_str).map(str::to_owned));
                assert!(
                    azp.is_some_and(|azp| parties.contains(&azp)),
                    "signed in with an azp outside CLERK_AUTHORIZED_PARTIES"
                );
            }
        }
    }
}

fn check_identity(token: &str, user_id: &str, session_id: Option<&str>) {
    let payload = token_payload(token).unwrap_or(Value::Null);
    assert_eq!(
        payload.get("sub").and_then(Value::as_str),
        Some(user_id),
        "the identity is not the token's sub"
    );
    assert_eq!(
        payload.get("sid").and_then(Value::as_str),
        session_id,
        "the session is not the token's sid"
    );
}
