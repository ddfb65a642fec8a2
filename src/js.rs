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
use crate::token::{self, ClaimRules, TokenError, Verification};
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

fn verify_with_options(token: &str, options: &Value, rules: &ClaimRules<'_>) -> Value {
    let decoded = match token::decode(token) {
        Ok(d) => d,
        Err(e) => return signed_out(e),
    };
    let key = if let Some(pem) = options
        .get("jwtKey")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        pem_key(pem)
    } else if let Some(jwks) = options
        .get("jwks")
        .and_then(|j| j.get("keys"))
        .and_then(Value::as_array)
    {
        let wanted = decoded.kid();
        match jwks
            .iter()
            .find(|jwk| wanted.is_some() && jwk.get("kid").and_then(Value::as_str) == wanted)
        {
            Some(jwk) => keys::parse_jwk(jwk),
            None => return signed_out(TokenError::KidMismatch),
        }
    } else {
        return signed_out(TokenError::JwkFailedToResolve);
    };
    let verification = token::finish_verification(
        &decoded,
        |alg| token::check_signature(&decoded, alg, &key),
        rules,
    );
    match verification {
        Verification::Verified(_) => json!({ "status": "signed-in", "claims": decoded.payload() }),
        Verification::Rejected { error, .. } => signed_out(error),
        Verification::NoToken => signed_out(TokenError::Invalid),
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
