//! The fast path of `verifySessionToken` for `pkg-js` (feature `js`): the RSA check on the
//! runtime's own crypto.
//!
//! RSA in wasm costs ~320 µs under V8 (`crates/rsa`), while the runtime's own check with the
//! key imported once costs ~20-30 µs (node:crypto) or ~40-80 µs (`crypto.subtle.verify`).
//! So `pkg-js/api.js` verifies a token in three steps:
//!
//! 1. [`verify_begin_json`] (`verifyBeginJson`): everything but the RSA operation, exactly as
//!    `verifySessionTokenJson` does it (cache lookup, decode, key resolution, header and
//!    key/alg checks). Answers `{"done": result}` when no signature check is needed (a cache
//!    hit, or a token refused before RSA), otherwise `{"pending": id, "alg", "keyId", "n",
//!    "e", "data", "sig"}`: the key's components and a stable id to cache its `CryptoKey`
//!    under, the signed bytes and the signature.
//! 2. JavaScript runs the check: node:crypto's `verify` under Node, else
//!    `crypto.subtle.verify("RSASSA-PKCS1-v1_5", key, sig, data)` (`pkg-js/webcrypto.js`).
//! 3. [`verify_complete_json`] (`verifyCompleteJson`): records the check in the
//!    verified-token cache and checks the claims against the clock.
//!
//! A signed-in result carries the claims as the token's own payload text, i.e. exactly the
//! object `@clerk/backend` returns, and costs no JSON serialisation on a cache hit.
//!
//! Final answers come as `{"done": result, "until": ms}`: `until`, when present, is the
//! moment (Unix ms, exclusive) before which the answer cannot change as the clock moves
//! forward, for the same token and options (a signed-in token until `exp` plus the skew; a
//! refusal that no later clock can lift, for ever). `pkg-js/api.js` keeps such answers in a
//! small memo, so a token seen again costs a lookup there and no call into the wasm.
//!
//! Both paths share the verified-token cache and the PEM key cache of `src/js.rs`, so a
//! token is verified once whichever path saw it first, and only the RSA operation differs:
//! the same decisions either way (`tests/js/differential.test.mjs` holds both to
//! `@clerk/backend`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use wasm_bindgen::prelude::wasm_bindgen;

use crate::auth::keys::{self, VerifyingKey};
use crate::auth::token::{
    self, Alg, ClaimRules, KeySource, PendingSignature, Step, TokenError, Verification,
};
use crate::auth::verified_cache::SignatureCheck;
use crate::config::DEFAULT_CLOCK_SKEW_MS;
use crate::js::{pem_key, TOKENS};

/// Most signature checks in flight at once. Beyond it the oldest is dropped; completing a
/// dropped check answers `{"retry": true}` and the caller verifies again on the slow path.
const MAX_PENDING: usize = 1024;

/// Most distinct keys given an id at once (an app has one PEM key, or a few JWKS keys).
const MAX_KEY_IDS: usize = 16;

/// The options of `verifySessionToken` that matter here (CONTRACT.md section 4).
struct Options {
    jwt_key: Option<String>,
    jwks: Option<Vec<Value>>,
    authorized_parties: Vec<String>,
    clock_skew_ms: i64,
    /// The verified-token cache setting: the key material, as `verifySessionTokenJson`
    /// writes it (`azp` and times are re-checked on every hit). `None`: no key configured.
    settings: Option<String>,
}

/// `authorizedParties` as `@clerk/backend` applies it. Falsy values and `[]` turn the check
/// off. In an array, an entry that is not a string (`[process.env.UNSET]`) can never equal
/// an `azp` but still makes the check required. A lone string is one party (Clerk would
/// match substrings of it; exact is the safe reading). Anything else (a `Set`, an object)
/// makes Clerk throw, so it matches no `azp` at all.
fn authorized_parties(value: &Value) -> Vec<String> {
    // Never an `azp`: Clerk sets `azp` to an origin.
    const MATCHES_NOTHING: &str = "{}";
    match value {
        Value::Null | Value::Bool(false) => Vec::new(),
        Value::Number(n) if n.as_f64() == Some(0.0) => Vec::new(),
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .map(|item| item.as_str().unwrap_or(MATCHES_NOTHING).to_owned())
            .collect(),
        _ => vec![MATCHES_NOTHING.to_owned()],
    }
}

impl Options {
    /// Parses the options JSON as `verifySessionTokenJson` does.
    fn parse(options_json: &str) -> Self {
        let mut options: Value = serde_json::from_str(options_json).unwrap_or(Value::Null);
        let jwt_key = options
            .get("jwtKey")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        let jwks = match options.get_mut("jwks").and_then(|j| j.get_mut("keys")) {
            Some(Value::Array(keys)) => Some(std::mem::take(keys)),
            _ => None,
        };
        let authorized_parties = options
            .get("authorizedParties")
            .map(authorized_parties)
            .unwrap_or_default();
        // As `@clerk/backend`: a finite number is used as given, anything else is the default.
        let clock_skew_ms = options
            .get("clockSkewInMs")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
            .map_or(DEFAULT_CLOCK_SKEW_MS, |v| v as i64);
        let settings = match (&jwt_key, &jwks) {
            (Some(pem), _) => Some(format!("pem:{pem}")),
            (None, Some(keys)) => Some(format!("jwks:{}", Value::from(keys.clone()))),
            (None, None) => None,
        };
        Self {
            jwt_key,
            jwks,
            authorized_parties,
            clock_skew_ms,
            settings,
        }
    }

    /// The options of this JSON text: apps pass the same options on every call, so the last
    /// text's parse is kept (compared by the full text, so any change is seen).
    fn cached(options_json: &str) -> Rc<Self> {
        Self::cached_with_id(options_json).0
    }

    /// [`Self::cached`] and the id of that text (a new id for each new text).
    fn cached_with_id(options_json: &str) -> (Rc<Self>, u32) {
        LAST_OPTIONS.with(|last| {
            let mut last = last.borrow_mut();
            match last.as_ref() {
                Some(kept) if kept.text == options_json => (kept.options.clone(), kept.id),
                _ => {
                    let options = Rc::new(Self::parse(options_json));
                    let id = last.as_ref().map_or(1, |kept| kept.id.wrapping_add(1));
                    *last = Some(KeptOptions {
                        text: options_json.to_owned(),
                        options: options.clone(),
                        id,
                    });
                    (options, id)
                }
            }
        })
    }

    /// The kept options, if their id is `id`.
    fn by_id(id: f64) -> Option<Rc<Self>> {
        LAST_OPTIONS.with(|last| {
            last.borrow()
                .as_ref()
                .filter(|kept| f64::from(kept.id) == id)
                .map(|kept| kept.options.clone())
        })
    }

    /// The key for `token`: the PEM key, or the JWK with the token's `kid`. Errors in
    /// `@clerk/backend`'s order: a token that does not decode before an unknown `kid`.
    fn resolve_key(&self, token: &str) -> Result<VerifyingKey, TokenError> {
        match (&self.jwt_key, &self.jwks) {
            (Some(pem), _) => Ok(pem_key(pem)),
            (None, Some(keys)) => {
                let decoded = token::decode(token)?;
                let wanted = decoded.kid().ok_or(TokenError::KidMismatch)?;
                keys.iter()
                    .find(|jwk| jwk.get("kid").and_then(Value::as_str) == Some(wanted))
                    .map(keys::parse_jwk)
                    .ok_or(TokenError::KidMismatch)
            }
            (None, None) => Err(TokenError::JwkFailedToResolve),
        }
    }

    fn rules(&self, now_ms: f64) -> ClaimRules<'_> {
        ClaimRules {
            authorized_parties: &self.authorized_parties,
            clock_skew_ms: self.clock_skew_ms,
            now_ms: now_ms as i64,
        }
    }
}

/// A signature check handed to JavaScript, with the options of its call.
struct InFlight {
    pending: PendingSignature,
    options: Rc<Options>,
}

/// The checks in flight, by id. Ids count up from 1 and are never reused (they stay exact
/// as JavaScript numbers for 2^53 calls), so a late answer can never complete another token.
#[derive(Default)]
struct InFlightTable {
    entries: BTreeMap<u64, InFlight>,
    last_id: u64,
}

impl InFlightTable {
    fn insert(&mut self, check: InFlight) -> u64 {
        if self.entries.len() >= MAX_PENDING {
            self.entries.pop_first();
        }
        self.last_id += 1;
        self.entries.insert(self.last_id, check);
        self.last_id
    }
}

/// Short ids for keys, so JavaScript caches one `CryptoKey` per key and hash. Ids are never
/// reused: a forgotten key comes back under a new id, never another key under an old one.
#[derive(Default)]
struct KeyIds {
    known: Vec<(Alg, Vec<u8>, Vec<u8>, u64)>,
    last_id: u64,
}

impl KeyIds {
    fn id(&mut self, alg: Alg, n: &[u8], e: &[u8]) -> u64 {
        if let Some((.., id)) = self
            .known
            .iter()
            .find(|(a, kn, ke, _)| *a == alg && kn == n && ke == e)
        {
            return *id;
        }
        if self.known.len() >= MAX_KEY_IDS {
            self.known.clear();
        }
        self.last_id += 1;
        self.known.push((alg, n.to_vec(), e.to_vec(), self.last_id));
        self.last_id
    }
}

/// The last options text, parsed, and its id.
struct KeptOptions {
    text: String,
    options: Rc<Options>,
    id: u32,
}

thread_local! {
    static LAST_OPTIONS: RefCell<Option<KeptOptions>> = const { RefCell::new(None) };
    static IN_FLIGHT: RefCell<InFlightTable> = RefCell::new(InFlightTable::default());
    static KEY_IDS: RefCell<KeyIds> = RefCell::new(KeyIds::default());
}

// The answers are written directly rather than through `serde_json::Value`: every piece is
// either a fixed code, base64url, or JSON text that was parsed successfully (the claims, as
// the token carries them, which is also exactly what `@clerk/backend` returns).

fn signed_out(error: TokenError) -> String {
    format!(r#"{{"status":"signed-out","reason":"{}"}}"#, error.code())
}

/// The result for a validly signed token whose claims passed, with its payload as the
/// token carries it.
fn signed_in(token: &str) -> String {
    match token::payload_text(token) {
        Some(claims) => format!(r#"{{"status":"signed-in","claims":{claims}}}"#),
        // Not reachable (the claims were decoded from this text); fail closed all the same.
        None => signed_out(TokenError::Invalid),
    }
}

/// A JSON string literal. The signing input is base64url and dots (decoding checked it), so
/// it needs no escaping; anything else goes through serde_json.
fn json_string(text: &str) -> String {
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='))
    {
        format!("\"{text}\"")
    } else {
        Value::from(text).to_string()
    }
}

/// A final answer and until when it holds (see the module documentation).
struct Final {
    result: String,
    until_ms: Option<i64>,
}

impl Final {
    fn signed_out(error: TokenError) -> Self {
        // A later clock can only lift a refusal for a token not yet valid.
        let lasting = !matches!(error, TokenError::NotActiveYet | TokenError::IatInTheFuture);
        Self {
            result: signed_out(error),
            until_ms: lasting.then_some(i64::MAX),
        }
    }

    /// Signed in, until `exp` (whole seconds, as the checks read it) plus the skew: the
    /// `nbf` and `iat` checks only get easier as the clock moves on.
    fn signed_in(token: &str, expires_at_s: i64, rules: &ClaimRules<'_>) -> Self {
        Self {
            result: signed_in(token),
            until_ms: Some(
                expires_at_s
                    .saturating_mul(1000)
                    .saturating_add(rules.clock_skew_ms),
            ),
        }
    }

    fn from_verification(token: &str, verification: &Verification, rules: &ClaimRules<'_>) -> Self {
        match verification {
            Verification::Verified(claims) => Self::signed_in(token, claims.expires_at, rules),
            Verification::Rejected { error, .. } => Self::signed_out(*error),
            Verification::NoToken => Self::signed_out(TokenError::Invalid),
        }
    }

    /// `{"done": result, "until": ms}`.
    fn done(&self) -> String {
        match self.until_ms {
            Some(until) => format!(r#"{{"done":{},"until":{until}}}"#, self.result),
            None => format!(r#"{{"done":{}}}"#, self.result),
        }
    }
}

/// The result for a token the cache has already checked.
fn cached_result(token: &str, hit: &SignatureCheck, rules: &ClaimRules<'_>) -> Final {
    match hit {
        SignatureCheck::Valid(payload) => match token::check_claims(payload, rules) {
            Ok(()) => {
                let expires_at = token::SessionClaims::expires_at(payload);
                Final::signed_in(token, expires_at, rules)
            }
            Err(error) => Final::signed_out(error),
        },
        SignatureCheck::Refused(error) => Final::signed_out(*error),
    }
}

/// `verifySessionToken` without WebCrypto (runtimes without `crypto.subtle`, and the retry
/// of a dropped check): the same steps, with the pure-Rust RSA in the middle. Returns the
/// result object as JSON.
#[wasm_bindgen(js_name = verifySessionTokenJson)]
pub fn verify_session_token_json(token: &str, options_json: &str, now_ms: f64) -> String {
    let options = Options::cached(options_json);
    let rules = options.rules(now_ms);
    match begin(token, &options, &rules) {
        Ok(pending) => {
            let valid = pending.verify_in_rust();
            complete(pending, valid, &rules).result
        }
        Err(answer) => answer.result,
    }
}

/// Everything before the RSA operation, through the shared cache: `Err` is a final answer,
/// `Ok` a signature to check.
fn begin(
    token: &str,
    options: &Options,
    rules: &ClaimRules<'_>,
) -> Result<PendingSignature, Final> {
    let Some(settings) = options.settings.as_deref() else {
        return Err(Final::signed_out(TokenError::JwkFailedToResolve));
    };
    TOKENS.with(|cache| {
        let mut cache = cache.borrow_mut();
        let settings = cache.settings_id(settings);
        // A hit needs no key (a JWKS key is found by the token's `kid`, which takes decoding
        // it) and no identity beyond the claim checks: look it up first.
        if let Some(hit) = cache.get(token, settings, rules.now_ms) {
            return Err(cached_result(token, hit, rules));
        }
        let key = options.resolve_key(token).map_err(Final::signed_out)?;
        match token::begin_cached(&mut cache, settings, token, KeySource::Pem(&key), rules) {
            Step::Done(verification) => Err(Final::from_verification(token, &verification, rules)),
            Step::NeedSignature(pending) => Ok(pending),
        }
    })
}

/// Keeps the options (JSON, as for `verifySessionTokenJson`) of the next
/// [`verify_begin_json`] calls and answers their id: apps pass the same options, a PEM key
/// among them, with every token, and sending them once per change spares copying and
/// comparing them on every call.
#[wasm_bindgen(js_name = verifyOptions)]
pub fn verify_options(options_json: &str) -> f64 {
    f64::from(Options::cached_with_id(options_json).1)
}

/// First half of `verifySessionToken` on the runtime's RSA: the options of
/// [`verify_options`] by their id, `now_ms` as for `verifySessionTokenJson`. Returns
/// `{"done": result, "until": ms}`, a pending signature check (see the module documentation)
/// to finish with [`verify_complete_json`], or `{"resend": true}` when other options were
/// kept since (send them again).
#[wasm_bindgen(js_name = verifyBeginJson)]
pub fn verify_begin_json(token: &str, options_id: f64, now_ms: f64) -> String {
    let Some(options) = Options::by_id(options_id) else {
        return r#"{"resend":true}"#.to_owned();
    };
    let rules = options.rules(now_ms);
    let pending = match begin(token, &options, &rules) {
        Ok(pending) => pending,
        Err(answer) => return answer.done(),
    };
    let Some((n, e)) = pending.key().components() else {
        // Not reachable (begin_cached checked the key), but never a wrong answer: Rust decides.
        let valid = pending.verify_in_rust();
        return complete(pending, valid, &rules).done();
    };
    let alg = pending.alg();
    let key_id = KEY_IDS.with(|ids| ids.borrow_mut().id(alg, &n, &e));
    let data = json_string(pending.signing_input());
    let sig = URL_SAFE_NO_PAD.encode(pending.signature());
    let id = IN_FLIGHT.with(|table| {
        table.borrow_mut().insert(InFlight {
            pending,
            options: options.clone(),
        })
    });
    format!(
        r#"{{"pending":{id},"alg":"{alg}","keyId":"k{key_id}","n":"{n}","e":"{e}","data":{data},"sig":"{sig}"}}"#,
        alg = alg.name(),
        n = URL_SAFE_NO_PAD.encode(&n),
        e = URL_SAFE_NO_PAD.encode(&e),
    )
}

/// Second half: `valid` is what the runtime's RSA answered for check `id`, or `undefined`
/// when it failed (the wasm's RSA then decides). Returns `{"done": result, "until": ms}`, or
/// `{"retry": true}` when the check is unknown (dropped from a full table): the caller then
/// verifies on the slow path.
#[wasm_bindgen(js_name = verifyCompleteJson)]
pub fn verify_complete_json(id: f64, valid: Option<bool>, now_ms: f64) -> String {
    let check = if id.fract() == 0.0 && id >= 1.0 {
        IN_FLIGHT.with(|table| table.borrow_mut().entries.remove(&(id as u64)))
    } else {
        None
    };
    let Some(InFlight { pending, options }) = check else {
        return r#"{"retry":true}"#.to_owned();
    };
    let valid = valid.unwrap_or_else(|| pending.verify_in_rust());
    complete(pending, valid, &options.rules(now_ms)).done()
}

/// Records a signature check in the shared cache and checks the claims.
fn complete(pending: PendingSignature, valid: bool, rules: &ClaimRules<'_>) -> Final {
    let recorded = TOKENS.with(|cache| {
        token::record_signature(
            &mut cache.borrow_mut(),
            &pending,
            valid,
            rules,
            rules.clock_skew_ms,
        )
    });
    match recorded {
        Ok(payload) => cached_result(
            pending.signing_input(),
            &SignatureCheck::Valid(payload),
            rules,
        ),
        Err(error) => Final::signed_out(error),
    }
}
