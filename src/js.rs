//! wasm-bindgen exports for the npm package in `pkg-js/` (feature `js`).
//!
//! Every export is wrapped once in `pkg-js/api.js`, which both package entries (Node and
//! edge) re-export. Values cross the boundary as JSON text: one `JSON.parse` on the JS side
//! is cheaper and simpler than converting object graphs field by field, and it keeps this
//! module free of JS object plumbing. Names follow CONTRACT.md section 4.

use std::cell::RefCell;

use serde_json::{json, Map, Value};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::config::DEFAULT_CLOCK_SKEW_MS;
use crate::keys::{self, VerifyingKey};
use crate::token::{self, ClaimRules, KeySource, TokenError, Verification};
use crate::verified_cache::VerifiedTokenCache;
use crate::webhook::{self, WebhookHeaders};

/// The crate version, as the package reports it (`version()` in JavaScript).
#[wasm_bindgen(js_name = version)]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_owned()
}

thread_local! {
    /// The last `jwtKey` parsed: apps pass the same PEM on every call, and parsing it
    /// (base64 + DER) would otherwise cost more than the rest of a cached verification.
    static PEM_KEY: RefCell<Option<(String, VerifyingKey)>> = const { RefCell::new(None) };
}

fn pem_key(pem: &str) -> VerifyingKey {
    if let Some(key) = PEM_KEY.with(|k| {
        k.borrow()
            .as_ref()
            .filter(|(cached, _)| cached == pem)
            .map(|(_, key)| key.clone())
    }) {
        return key;
    }
    // `@clerk/backend` only finds a bad PEM when WebCrypto refuses to import it, i.e. after
    // decoding the token: an unusable key reproduces that order.
    let key = keys::parse_pem(pem).unwrap_or_else(VerifyingKey::unusable);
    PEM_KEY.with(|k| *k.borrow_mut() = Some((pem.to_owned(), key.clone())));
    key
}

/// `verifySessionToken` core: `options_json` is the options object of CONTRACT.md section 4
/// as JSON (`jwtKey`, `jwks`, `authorizedParties`, `clockSkewInMs`) and `now_ms` the clock.
/// Returns the result object as JSON.
#[wasm_bindgen(js_name = verifySessionTokenJson)]
pub fn verify_session_token_json(token: &str, options_json: &str, now_ms: f64) -> String {
    let options: Value = serde_json::from_str(options_json).unwrap_or(Value::Null);
    let parties: Vec<String> = options
        .get("authorizedParties")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    // As `@clerk/backend`: a finite number is used as given, anything else is the default.
    let clock_skew_ms = options
        .get("clockSkewInMs")
        .and_then(Value::as_f64)
        .filter(|v| v.is_finite())
        .map_or(DEFAULT_CLOCK_SKEW_MS, |v| v as i64);
    let rules = ClaimRules {
        authorized_parties: &parties,
        clock_skew_ms,
        now_ms: now_ms as i64,
    };
    let outcome = verify_with_options(token, &options, &rules);
    outcome.to_string()
}

thread_local! {
    /// Tokens already verified in this isolate (see [`crate::verified_cache`]).
    static TOKENS: RefCell<VerifiedTokenCache> = RefCell::new(VerifiedTokenCache::default());
}

fn verify_with_options(token: &str, options: &Value, rules: &ClaimRules<'_>) -> Value {
    let pem = options
        .get("jwtKey")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let jwks = options
        .get("jwks")
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array);
    // The key material is the cache's setting; `azp` and times are re-checked on every hit.
    let settings = match (pem, jwks) {
        (Some(pem), _) => format!("pem:{pem}"),
        (None, Some(keys)) => format!("jwks:{}", Value::from(keys.clone())),
        (None, None) => return signed_out(TokenError::JwkFailedToResolve),
    };
    TOKENS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let settings = cache.settings_id(&settings);
        if let Some(hit) = cache.get(token, settings, rules.now_ms) {
            let hit = hit.clone();
            return outcome_json(token::cached_outcome(&hit, rules));
        }
        let key = match (pem, jwks) {
            (Some(pem), _) => pem_key(pem),
            (None, Some(keys)) => {
                let wanted = token::decode(token)
                    .ok()
                    .and_then(|d| d.kid().map(str::to_owned));
                match keys.iter().find(|jwk| {
                    wanted.is_some() && jwk.get("kid").and_then(Value::as_str) == wanted.as_deref()
                }) {
                    Some(jwk) => keys::parse_jwk(jwk),
                    None => {
                        // Decode errors come before key resolution, as in @clerk/backend.
                        return match token::decode(token) {
                            Err(e) => signed_out(e),
                            Ok(_) => signed_out(TokenError::KidMismatch),
                        };
                    }
                }
            }
            (None, None) => return signed_out(TokenError::JwkFailedToResolve),
        };
        let verification = token::verify_cached(
            &mut cache,
            settings,
            token,
            KeySource::Pem(&key),
            rules,
            rules.clock_skew_ms,
        );
        match cache.get(token, settings, rules.now_ms) {
            // The claims come from the cached payload: no second decode.
            Some(hit) => outcome_json(token::cached_outcome(&hit.clone(), rules)),
            None => outcome_json((verification, None)),
        }
    })
}

fn outcome_json((verification, payload): (Verification, Option<std::rc::Rc<Value>>)) -> Value {
    match (verification, payload) {
        (Verification::Verified(_), Some(payload)) => {
            json!({ "status": "signed-in", "claims": *payload })
        }
        (Verification::Rejected { error, .. }, _) => signed_out(error),
        _ => signed_out(TokenError::Invalid),
    }
}

fn signed_out(error: TokenError) -> Value {
    json!({ "status": "signed-out", "reason": error.code() })
}

/// `verifyWebhook` core: `headers_json` maps lower-case header names to values.
#[wasm_bindgen(js_name = verifyWebhookJson)]
pub fn verify_webhook_json(headers_json: &str, body: &str, secret: &str, now_ms: f64) -> String {
    let headers: Map<String, Value> = serde_json::from_str(headers_json).unwrap_or_default();
    let lookup = WebhookHeaders::from_lookup(|name| headers.get(name).and_then(Value::as_str));
    let result = webhook::parse_secrets(secret).and_then(|secrets| {
        let now_secs = (now_ms / 1000.0).floor() as i64;
        webhook::verify_webhook(&lookup, body.as_bytes(), &secrets, now_secs)
    });
    match result {
        Ok(verified) => json!({ "ok": true, "event": verified.payload }),
        Err(e) => json!({ "ok": false, "reason": e.code() }),
    }
    .to_string()
}
