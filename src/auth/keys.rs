//! Verification keys: `CLERK_JWT_KEY` (PEM, no network) or a JWKS from the Backend API, and
//! the per-isolate JWKS cache policy.
//!
//! Keys are imported the way WebCrypto imports them for `@clerk/backend`, so that the same
//! tokens pass and fail for the same reasons: a JWK whose `alg` names another algorithm than
//! the token's fails to import (`token-verification-failed`), and a PEM key behaves like the
//! `alg: "RS256"` JWK that `@clerk/backend` builds from it. One deliberate difference: keys
//! other than 2048, 3072 or 4096 bits are refused ([`RsaKey`]), where WebCrypto would
//! accept them.
//!
//! The cache never fetches by itself: [`JwksCache::needs_fetch`] tells the adapter when a
//! fetch is due, and the adapter reports back with [`JwksCache::record_success`] or
//! [`JwksCache::record_failure`]. So the policy (TTL, kid-miss rate limit, keep last good
//! keys) is tested natively with a fake clock.

use std::fmt;
use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;

use crate::auth::rsa::{RsaKey, RsaKeyError};
use crate::auth::token::TokenError;

/// How long fetched keys are trusted before a refresh, as `@clerk/backend` (5 minutes).
pub const JWKS_TTL_MS: i64 = 5 * 60 * 1000;
/// Minimum time between two fetches. A flood of tokens with random `kid`s must not become a
/// flood of Backend API calls, and a failing Clerk must not be hammered.
pub const MIN_FETCH_INTERVAL_MS: i64 = 5 * 1000;

/// An RSA public key ready to verify signatures, with the JWK metadata WebCrypto checks.
#[derive(Clone)]
pub struct VerifyingKey {
    kid: Option<String>,
    /// The JWK `alg`: when present, only tokens with exactly this `alg` verify.
    alg: Option<String>,
    /// `Err` when the key cannot be imported (WebCrypto would throw on `importKey`).
    key: Result<Arc<RsaKey>, KeyError>,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("usable", &self.key.is_ok())
            .finish()
    }
}

/// Why a key could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyError {
    /// Not a PEM public key (SPKI `BEGIN PUBLIC KEY` or PKCS#1 `BEGIN RSA PUBLIC KEY`).
    InvalidPem,
    /// A JWK that WebCrypto would refuse to import (wrong `kty`, `use`, `key_ops`, bad numbers).
    InvalidJwk(&'static str),
    /// The RSA modulus is shorter than 2048 bits (or not 2048/3072/4096).
    WeakKey { bits: usize },
    /// The JWKS document is not JSON of the form `{"keys":[...]}`.
    InvalidJwks(&'static str),
    /// The JWKS document has no keys at all.
    EmptyJwks,
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidPem => f.write_str(
                "not a PEM RSA public key: paste the PEM public key from the Clerk dashboard \
                 (API keys > Show JWT public key > PEM), newlines included or written as \\n",
            ),
            Self::InvalidJwk(why) => write!(f, "JWK cannot be imported: {why}"),
            Self::WeakKey { bits } => write!(
                f,
                "RSA key has {bits} bits; 2048, 3072 or 4096 are required (Clerk keys are 2048)"
            ),
            Self::InvalidJwks(why) => write!(f, "JWKS response is not usable: {why}"),
            Self::EmptyJwks => f.write_str("JWKS response contains no signing keys"),
        }
    }
}

impl std::error::Error for KeyError {}

impl KeyError {
    /// The reason code of a JWKS answer refused for this error, as `@clerk/backend`: a key
    /// set with no keys "failed to load"; one it cannot use is invalid.
    pub fn jwks_reason(&self) -> TokenError {
        match self {
            Self::EmptyJwks => TokenError::JwkRemoteFailedToLoad,
            _ => TokenError::JwkRemoteInvalid,
        }
    }
}

impl VerifyingKey {
    /// The key id, when the key came from a JWKS.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The key for a token signed with `alg`, or why WebCrypto would fail to import it.
    pub fn for_algorithm(&self, alg: &str) -> Result<&RsaKey, KeyError> {
        if let Some(expected) = &self.alg {
            if expected != alg {
                return Err(KeyError::InvalidJwk(
                    "the JWK alg differs from the token alg",
                ));
            }
        }
        self.key.as_deref().map_err(Clone::clone)
    }

    /// Modulus and exponent (big-endian), for importing the key into WebCrypto.
    pub fn components(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        let key = self.key.as_ref().ok()?;
        Some((key.modulus().to_vec(), key.exponent().to_vec()))
    }

    /// A key that cannot be used: verifying with it fails as a failed WebCrypto import
    /// does (`token-verification-failed`). Used where `@clerk/backend` would only discover
    /// the problem at import time, e.g. a malformed `jwtKey` option.
    pub fn unusable(error: KeyError) -> Self {
        Self {
            kid: None,
            alg: None,
            key: Err(error),
        }
    }
}

/// Parses `CLERK_JWT_KEY`. Accepts SPKI and PKCS#1 PEM, with real newlines, `\n` escapes (as
/// dashboards and CI secret stores often produce) or the body on one line.
pub fn parse_pem(pem: &str) -> Result<VerifyingKey, KeyError> {
    let unescaped = pem.trim().replace("\\n", "\n").replace("\r\n", "\n");
    let body: String = unescaped
        .lines()
        // Secret stores and YAML often indent the lines.
        .filter(|l| !l.trim_start().starts_with("-----"))
        .flat_map(|l| l.chars().filter(|c| !c.is_whitespace()))
        .collect();
    let der = STANDARD.decode(body).map_err(|_| KeyError::InvalidPem)?;
    let key = RsaKey::from_der(&der).map_err(|error| match error {
        RsaKeyError::Weak { bits } => KeyError::WeakKey { bits },
        RsaKeyError::Malformed => KeyError::InvalidPem,
    })?;
    // `@clerk/backend` turns the PEM into a JWK with alg RS256: mirror it exactly.
    Ok(VerifyingKey {
        kid: None,
        alg: Some("RS256".to_owned()),
        key: Ok(Arc::new(key)),
    })
}

/// Parses one JWK as WebCrypto's `importKey("jwk", ..., ["verify"])` would.
pub fn parse_jwk(jwk: &Value) -> VerifyingKey {
    let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
    let alg = jwk.get("alg").and_then(Value::as_str).map(str::to_owned);
    let key = import_jwk(jwk).map(Arc::new);
    VerifyingKey { kid, alg, key }
}

fn import_jwk(jwk: &Value) -> Result<RsaKey, KeyError> {
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err(KeyError::InvalidJwk("kty is not RSA"));
    }
    if let Some(usage) = jwk.get("use") {
        if usage.as_str() != Some("sig") {
            return Err(KeyError::InvalidJwk("use is not sig"));
        }
    }
    if let Some(ops) = jwk.get("key_ops") {
        let allows_verify = ops
            .as_array()
            .is_some_and(|ops| ops.iter().any(|op| op.as_str() == Some("verify")));
        if !allows_verify {
            return Err(KeyError::InvalidJwk("key_ops does not include verify"));
        }
    }
    if let Some(alg) = jwk.get("alg") {
        if !matches!(alg.as_str(), Some("RS256" | "RS384" | "RS512")) {
            return Err(KeyError::InvalidJwk("alg is not RS256, RS384 or RS512"));
        }
    }
    let number = |name: &'static str| -> Result<Vec<u8>, KeyError> {
        let text = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or(KeyError::InvalidJwk("n or e missing"))?;
        URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| KeyError::InvalidJwk("n or e is not base64url"))
    };
    RsaKey::from_components(&number("n")?, &number("e")?).map_err(|error| match error {
        RsaKeyError::Weak { bits } => KeyError::WeakKey { bits },
        RsaKeyError::Malformed => KeyError::InvalidJwk("n or e out of range"),
    })
}

/// Parses a JWKS document (`{"keys":[...]}`) as returned by `GET /v1/jwks`.
pub fn parse_jwks(body: &[u8]) -> Result<Vec<VerifyingKey>, KeyError> {
    let doc: Value = serde_json::from_slice(body).map_err(|_| KeyError::InvalidJwks("not JSON"))?;
    let keys = match doc.get("keys") {
        Some(Value::Array(keys)) => keys,
        Some(_) => return Err(KeyError::InvalidJwks("`keys` is not an array")),
        None => return Err(KeyError::EmptyJwks),
    };
    if keys.is_empty() {
        return Err(KeyError::EmptyJwks);
    }
    Ok(keys.iter().map(parse_jwk).collect())
}

/// What the adapter should do before verifying a token with a given `kid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchDecision {
    /// Use the cached keys as they are.
    UseCache,
    /// Fetch the JWKS first (then look the key up again).
    Fetch,
}

/// The per-isolate JWKS cache and its refresh policy.
#[derive(Debug, Default)]
pub struct JwksCache {
    keys: Vec<VerifyingKey>,
    fetched_at_ms: Option<i64>,
    last_attempt_ms: Option<i64>,
    last_failure: Option<String>,
    /// A fetch was started and has not been recorded as done.
    in_flight: bool,
}

impl JwksCache {
    /// An empty cache: the first token triggers a fetch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a fetch is due for a token with this `kid` at `now_ms`.
    ///
    /// Due when nothing was ever fetched, when the keys are older than [`JWKS_TTL_MS`], or
    /// when the `kid` is unknown (a key rotation) — but never twice within
    /// [`MIN_FETCH_INTERVAL_MS`], whatever the tokens say.
    pub fn needs_fetch(&self, kid: Option<&str>, now_ms: i64) -> FetchDecision {
        if let Some(last) = self.last_attempt_ms {
            if now_ms.saturating_sub(last) < MIN_FETCH_INTERVAL_MS {
                return FetchDecision::UseCache;
            }
        }
        let stale = self
            .fetched_at_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= JWKS_TTL_MS);
        if stale || self.find(kid).is_none() {
            FetchDecision::Fetch
        } else {
            FetchDecision::UseCache
        }
    }

    /// Records that a fetch is starting, so that concurrent requests do not all fetch.
    pub fn record_attempt(&mut self, now_ms: i64) {
        self.last_attempt_ms = Some(now_ms);
        self.in_flight = true;
    }

    /// Whether a fetch started less than `within_ms` ago is still under way. Requests that
    /// need its keys (a cold isolate, a rotation) wait for it rather than answering without
    /// them; `within_ms` bounds the wait should the fetching request be cancelled.
    pub fn fetch_in_flight(&self, now_ms: i64, within_ms: i64) -> bool {
        self.in_flight
            && self
                .last_attempt_ms
                .is_some_and(|at| now_ms.saturating_sub(at) < within_ms)
    }

    /// Replaces the keys with a freshly fetched set.
    pub fn record_success(&mut self, keys: Vec<VerifyingKey>, now_ms: i64) {
        self.keys = keys;
        self.fetched_at_ms = Some(now_ms);
        self.last_attempt_ms = Some(now_ms);
        self.last_failure = None;
        self.in_flight = false;
    }

    /// Records a failed refresh. The last good keys stay in use: a Clerk outage must not
    /// sign everybody out while their tokens are still valid.
    pub fn record_failure(&mut self, problem: String, now_ms: i64) {
        self.last_attempt_ms = Some(now_ms);
        self.last_failure = Some(problem);
        self.in_flight = false;
    }

    /// The key with this `kid`, if cached.
    pub fn find(&self, kid: Option<&str>) -> Option<&VerifyingKey> {
        let kid = kid?;
        self.keys.iter().find(|k| k.kid() == Some(kid))
    }

    /// How many keys the last good fetch gave (replaced whole by each fetch, never grown).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Whether any keys were ever fetched.
    pub fn has_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The last refresh failed (health reports `degraded` until a refresh succeeds).
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vectors() -> Value {
        let text =
            include_str!("../../tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json");
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn parses_clerk_fixture_pem_and_jwks() {
        let v = vectors();
        let pem = v["keys"]["public_key_pem"].as_str().unwrap();
        let key = parse_pem(pem).unwrap();
        assert!(key.for_algorithm("RS256").is_ok());
        // @clerk/backend's PEM-derived JWK says RS256: other RSA algs fail to import.
        assert!(key.for_algorithm("RS384").is_err());

        let jwks = serde_json::to_vec(&v["keys"]["jwks"]).unwrap();
        let keys = parse_jwks(&jwks).unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].kid(), Some("ins_2GIoQhbUpy0hX7B2cVkuTMinXoD"));
        assert_eq!(keys[0].components(), key.components());
    }

    #[test]
    fn pem_with_escaped_newlines_or_one_line_body() {
        let v = vectors();
        let pem = v["keys"]["public_key_pem"].as_str().unwrap();
        assert!(parse_pem(&pem.replace('\n', "\\n")).is_ok());
        let body = v["pem_to_jwk"]["pem_single_line_body"].as_str().unwrap();
        assert!(parse_pem(body).is_ok());
    }

    #[test]
    fn refuses_bad_pem() {
        for bad in [
            "",
            "hello",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        ] {
            assert_eq!(parse_pem(bad).unwrap_err(), KeyError::InvalidPem);
        }
    }

    #[test]
    fn jwk_import_rules_follow_webcrypto() {
        let v = vectors();
        let good = v["keys"]["jwks"]["keys"][0].clone();
        let with = |field: &str, value: Value| {
            let mut jwk = good.clone();
            jwk[field] = value;
            parse_jwk(&jwk)
        };
        assert!(with("use", json!("enc")).for_algorithm("RS256").is_err());
        assert!(with("kty", json!("EC")).for_algorithm("RS256").is_err());
        assert!(with("key_ops", json!(["encrypt"]))
            .for_algorithm("RS256")
            .is_err());
        assert!(with("n", json!("%%%")).for_algorithm("RS256").is_err());
        let no_alg = {
            let mut jwk = good.clone();
            jwk.as_object_mut().unwrap().remove("alg");
            parse_jwk(&jwk)
        };
        assert!(no_alg.for_algorithm("RS512").is_ok());
    }

    #[test]
    fn jwks_documents() {
        assert_eq!(
            parse_jwks(b"nope").unwrap_err(),
            KeyError::InvalidJwks("not JSON")
        );
        assert_eq!(
            parse_jwks(br#"{"keys":[]}"#).unwrap_err(),
            KeyError::EmptyJwks
        );
        assert_eq!(parse_jwks(b"{}").unwrap_err(), KeyError::EmptyJwks);
        assert!(matches!(
            parse_jwks(br#"{"keys":{}}"#),
            Err(KeyError::InvalidJwks(_))
        ));
    }

    #[test]
    fn cache_policy_ttl_kid_miss_and_rate_limit() {
        let v = vectors();
        let jwks = serde_json::to_vec(&v["keys"]["jwks"]).unwrap();
        let kid = Some("ins_2GIoQhbUpy0hX7B2cVkuTMinXoD");
        let mut cache = JwksCache::new();
        assert_eq!(cache.needs_fetch(kid, 0), FetchDecision::Fetch);
        cache.record_success(parse_jwks(&jwks).unwrap(), 0);
        assert_eq!(cache.needs_fetch(kid, 1_000), FetchDecision::UseCache);
        // Unknown kid: fetch, but not twice within the interval.
        assert_eq!(
            cache.needs_fetch(Some("new"), 1_000),
            FetchDecision::UseCache
        );
        assert_eq!(cache.needs_fetch(Some("new"), 5_000), FetchDecision::Fetch);
        cache.record_attempt(5_000);
        assert_eq!(
            cache.needs_fetch(Some("other"), 9_999),
            FetchDecision::UseCache
        );
        // TTL.
        assert_eq!(cache.needs_fetch(kid, JWKS_TTL_MS), FetchDecision::Fetch);
        // A failed refresh keeps the last good keys.
        cache.record_failure("503".into(), JWKS_TTL_MS);
        assert!(cache.find(kid).is_some());
        assert_eq!(cache.last_failure(), Some("503"));
        assert_eq!(
            cache.needs_fetch(kid, JWKS_TTL_MS + 1),
            FetchDecision::UseCache
        );
        cache.record_success(parse_jwks(&jwks).unwrap(), JWKS_TTL_MS + 10_000);
        assert_eq!(cache.last_failure(), None);
    }
}
