//! The core running as wasm inside a JavaScript engine (Node, through
//! wasm-bindgen-test-runner): `cargo test --target wasm32-unknown-unknown`. This is the code
//! the Worker and the npm package ship, so Clerk's fixture vectors, the Svix vectors and the
//! cache are checked here again, compiled for wasm32 (where, e.g., RSA and the JSON number
//! handling could differ from native). Natively this file compiles to nothing.
#![cfg(target_arch = "wasm32")]

use clerk_edge_guard::auth::keys::{parse_jwks, parse_pem};
use clerk_edge_guard::auth::token::{
    verify_cached, verify_session_token, ClaimRules, KeySource, TokenError, Verification,
};
use clerk_edge_guard::auth::verified_cache::VerifiedTokenCache;
use clerk_edge_guard::webhook::{parse_secrets, sign, verify_webhook, WebhookHeaders};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

const JWT_VECTORS: &str = include_str!("fixtures/reference/vectors/clerk_session_jwt_vectors.json");
const SVIX_VECTORS: &str = include_str!("fixtures/reference/vectors/svix_webhook_vectors.json");

fn outcome(v: &Verification) -> String {
    match v {
        Verification::Verified(_) => "ok".to_owned(),
        Verification::Rejected { error, .. } => error.code().to_owned(),
        Verification::NoToken => "no-token".to_owned(),
    }
}

#[wasm_bindgen_test]
fn clerk_fixture_outcomes_hold_in_wasm() {
    let v: Value = serde_json::from_str(JWT_VECTORS).unwrap();
    let jwks = parse_jwks(&serde_json::to_vec(&v["keys"]["jwks"]).unwrap()).unwrap();
    let pem = parse_pem(v["keys"]["public_key_pem"].as_str().unwrap()).unwrap();
    let unrelated = parse_pem(v["keys"]["unrelated_public_key_pem"].as_str().unwrap()).unwrap();
    let rows = v["expected_outcomes_default_skew_5000ms"]
        .as_array()
        .unwrap();
    let mut checked = 0;
    for row in rows {
        // A row names a fixture token, or is itself the raw token text (malformed cases).
        let name = row["token"].as_str().unwrap();
        let token = v["tokens"][name]["jwt"].as_str().unwrap_or(name);
        let parties: Vec<String> = row["authorizedParties"]
            .as_array()
            .map(|a| a.iter().map(|p| p.as_str().unwrap().to_owned()).collect())
            .unwrap_or_default();
        let rules = ClaimRules {
            authorized_parties: &parties,
            clock_skew_ms: 5000,
            now_ms: row["now"].as_i64().unwrap() * 1000,
        };
        let kid = clerk_edge_guard::auth::token::decode(token)
            .ok()
            .and_then(|d| d.kid().map(str::to_owned));
        let keys = match row["key"].as_str().unwrap() {
            "jwks" => KeySource::Jwks(jwks.iter().find(|k| k.kid() == kid.as_deref())),
            "public_key_pem" => KeySource::Pem(&pem),
            "unrelated_public_key_pem" => KeySource::Pem(&unrelated),
            other => panic!("unknown key kind {other}"),
        };
        let got = outcome(&verify_session_token(token, keys, &rules));
        assert_eq!(got, row["expect"].as_str().unwrap(), "row {row}");
        checked += 1;
    }
    assert_eq!(checked, rows.len());
    assert!(checked >= 5);
}

#[wasm_bindgen_test]
fn cache_hits_recheck_time_in_wasm() {
    let v: Value = serde_json::from_str(JWT_VECTORS).unwrap();
    let pem = parse_pem(v["keys"]["public_key_pem"].as_str().unwrap()).unwrap();
    let token = v["tokens"]["mockJwt"]["jwt"].as_str().unwrap();
    let exp_ms = v["tokens"]["mockJwt"]["payload"]["exp"].as_i64().unwrap() * 1000;
    let mut cache = VerifiedTokenCache::default();
    let settings = cache.settings_id("pem");
    let at = |now_ms| ClaimRules {
        authorized_parties: &[],
        clock_skew_ms: 5000,
        now_ms,
    };
    let first = verify_cached(
        &mut cache,
        settings,
        token,
        KeySource::Pem(&pem),
        &at(exp_ms - 10_000),
        5000,
    );
    assert_eq!(outcome(&first), "ok");
    assert_eq!(cache.len(), 1);
    // The same token later: served from the cache, but the clock still applies.
    let later = verify_cached(
        &mut cache,
        settings,
        token,
        KeySource::Pem(&pem),
        &at(exp_ms + 5000),
        5000,
    );
    assert!(matches!(
        later,
        Verification::Rejected {
            error: TokenError::Expired,
            ..
        }
    ));
}

#[wasm_bindgen_test]
fn svix_positive_vectors_verify_in_wasm() {
    let v: Value = serde_json::from_str(SVIX_VECTORS).unwrap();
    let mut checked = 0;
    for case in v["positive"].as_array().unwrap() {
        let secrets = parse_secrets(case["secret"].as_str().unwrap()).unwrap();
        let id = case["msg_id"].as_str().unwrap();
        let ts = case["timestamp"].as_i64().unwrap();
        let body = case["payload"].as_str().unwrap();
        let expected = case["expected_signature"].as_str().unwrap();
        assert_eq!(sign(&secrets[0], id, ts, body.as_bytes()), expected);
        let ts_text = ts.to_string();
        let headers = WebhookHeaders {
            id: Some(id),
            timestamp: Some(&ts_text),
            signature: Some(expected),
        };
        assert!(verify_webhook(&headers, body.as_bytes(), &secrets, ts).is_ok());
        let tampered = format!("{body} ");
        assert_eq!(
            verify_webhook(&headers, tampered.as_bytes(), &secrets, ts)
                .unwrap_err()
                .code(),
            "invalid-signature"
        );
        checked += 1;
    }
    assert!(checked >= 2);
}
