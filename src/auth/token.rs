//! Session tokens: where they are found in a request, how they are verified, and the
//! normalised claims handed to the origin.
//!
//! Verification follows `@clerk/backend`'s `verifyToken` step for step (its
//! `tokens/verify.ts`, `jwt/verifyJwt.ts` and `jwt/assertions.ts`), because users compare
//! our reason codes with Clerk's and must see the same answer for the same token:
//!
//! 1. decode: three dot-separated parts, lenient base64url, JSON header and payload
//!    (`token-invalid`); a machine-token `cat` is refused (`token-invalid`);
//! 2. key resolution by `kid` ([`crate::auth::keys`]; `jwk-kid-mismatch` and friends);
//! 3. header: `typ` absent or `"JWT"` (`token-invalid`), `alg` in RS256/RS384/RS512
//!    (`token-invalid-algorithm`);
//! 4. signature (`token-verification-failed` when the key cannot be used for `alg`,
//!    `token-invalid-signature` when it does not match);
//! 5. claims: `sub` a string, `azp` when authorized parties are configured, then `exp`,
//!    `nbf`, `iat` against the clock skew, with JavaScript's `Date` arithmetic.
//!
//! Steps are separate functions so that an adapter can run step 4 on WebCrypto while the
//! rest stays here; [`verify_session_token`] runs them all with the pure-Rust RSA.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

use crate::auth::keys::VerifyingKey;
use crate::auth::rsa::Hash;
use crate::auth::verified_cache::{SignatureCheck, VerifiedTokenCache};

/// Tokens longer than this are refused before any parsing. Clerk session tokens are about
/// 1 KB; browsers cap a cookie at 4 KB. An edge addition: `@clerk/backend` has no limit.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The `cat` header of Clerk machine-to-machine tokens, which are not session tokens.
const M2M_TOKEN_CATEGORY: &str = "cl_B7d4PD333AAA";

/// Why a token was refused, with the reason codes of `@clerk/backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenError {
    /// Not a decodable JWT, or a `typ` other than `JWT`, or a machine token.
    Invalid,
    /// `alg` is not RS256, RS384 or RS512.
    InvalidAlgorithm,
    /// The signature does not match the key.
    InvalidSignature,
    /// A claim has the wrong type, `sub` is missing, or the key cannot verify this `alg`.
    VerificationFailed,
    /// `exp` has passed (beyond the clock skew).
    Expired,
    /// `nbf` is in the future (beyond the clock skew).
    NotActiveYet,
    /// `iat` is in the future (beyond the clock skew).
    IatInTheFuture,
    /// `azp` is missing or not one of `CLERK_AUTHORIZED_PARTIES`.
    InvalidAuthorizedParties,
    /// No key in the JWKS has the token's `kid`.
    KidMismatch,
    /// Neither a PEM key nor a way to fetch the JWKS is configured.
    JwkFailedToResolve,
    /// The JWKS could not be fetched and no keys are cached.
    JwkRemoteFailedToLoad,
    /// The JWKS was fetched but is not a usable key set.
    JwkRemoteInvalid,
}

impl TokenError {
    /// The stable reason code of CONTRACT.md section 3.
    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "token-invalid",
            Self::InvalidAlgorithm => "token-invalid-algorithm",
            Self::InvalidSignature => "token-invalid-signature",
            Self::VerificationFailed => "token-verification-failed",
            Self::Expired => "token-expired",
            Self::NotActiveYet => "token-not-active-yet",
            Self::IatInTheFuture => "token-iat-in-the-future",
            Self::InvalidAuthorizedParties => "token-invalid-authorized-parties",
            Self::KidMismatch => "jwk-kid-mismatch",
            Self::JwkFailedToResolve => "jwk-failed-to-resolve",
            Self::JwkRemoteFailedToLoad => "jwk-remote-failed-to-load",
            Self::JwkRemoteInvalid => "jwk-remote-invalid",
        }
    }
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let advice = match self {
            Self::Invalid => "the session token is not a well-formed Clerk session JWT",
            Self::InvalidAlgorithm => "the token's alg is not RS256, RS384 or RS512",
            Self::InvalidSignature => {
                "the signature does not match: a forged token, or CLERK_JWT_KEY / \
                 CLERK_SECRET_KEY belong to another Clerk instance"
            }
            Self::VerificationFailed => {
                "the token's claims are malformed or the key cannot verify its alg"
            }
            Self::Expired => "the token has expired; the client must refresh it",
            Self::NotActiveYet => "the token's nbf is in the future; check clock skew",
            Self::IatInTheFuture => "the token's iat is in the future; check clock skew",
            Self::InvalidAuthorizedParties => "the token's azp is not in CLERK_AUTHORIZED_PARTIES",
            Self::KidMismatch => "no key in the JWKS has the token's kid",
            Self::JwkFailedToResolve => "set CLERK_JWT_KEY or CLERK_SECRET_KEY",
            Self::JwkRemoteFailedToLoad => {
                "the JWKS could not be loaded from the Backend API: check CLERK_SECRET_KEY \
                 and CLERK_API_URL, or set CLERK_JWT_KEY to verify without network"
            }
            Self::JwkRemoteInvalid => "the Backend API answered a JWKS that is not usable",
        };
        write!(f, "{}: {advice}", self.code())
    }
}

impl std::error::Error for TokenError {}

/// A signing algorithm accepted by `@clerk/backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (what Clerk issues).
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
}

impl Alg {
    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    /// The digest it signs.
    pub fn hash(self) -> Hash {
        match self {
            Self::Rs256 => Hash::Sha256,
            Self::Rs384 => Hash::Sha384,
            Self::Rs512 => Hash::Sha512,
        }
    }
}

/// A token split and decoded, not yet trusted.
#[derive(Debug, Clone)]
pub struct DecodedToken<'a> {
    header: Value,
    payload: Value,
    signature: Vec<u8>,
    /// `header.payload`, the bytes the signature covers.
    signing_input: &'a str,
}

/// Decodes base64url the lenient way of `@clerk/backend` (`loose: true`): trailing `=` are
/// ignored, but a length that cannot be base64 or non-zero leftover bits are refused.
fn decode_base64url(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()
}

/// The text of a token part as `TextDecoder` gives it to `JSON.parse`: bad UTF-8 replaced,
/// a leading BOM dropped.
fn json_text(part: &str) -> Option<String> {
    let bytes = decode_base64url(part)?;
    let mut text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    };
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Some(text)
}

/// JSON from a token part: `TextDecoder`, then `JSON.parse`. Any JSON value is accepted
/// here; shapes are checked later, as Clerk does.
fn decode_json(part: &str) -> Option<Value> {
    serde_json::from_str(&json_text(part)?).ok()
}

/// The payload of `token` (or of its signing input) as the JSON text its claims were
/// decoded from: what `@clerk/backend` hands to `JSON.parse`. Adapters that return the
/// claims to JavaScript pass it on as is instead of serialising the decoded value again.
pub fn payload_text(token: &str) -> Option<String> {
    json_text(token.split('.').nth(1)?)
}

/// Step 1: splits and decodes a token (`token-invalid` when it is not a JWT).
pub fn decode(token: &str) -> Result<DecodedToken<'_>, TokenError> {
    let decoded = decode_jwt(token)?;
    // `@clerk/backend` throws a TypeError on a `null` header (it reads `header.kid`); a
    // refusal is the only sensible answer.
    if decoded.header.is_null()
        || decoded.header.get("cat").and_then(Value::as_str) == Some(M2M_TOKEN_CATEGORY)
    {
        return Err(TokenError::Invalid);
    }
    Ok(decoded)
}

/// `decodeJwt` of `@clerk/backend`: three parts, JSON header and payload, a base64url
/// signature; nothing about what the token is (machine tokens and odd headers included).
pub fn decode_jwt(token: &str) -> Result<DecodedToken<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TokenError::Invalid);
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Invalid);
    };
    let decoded = DecodedToken {
        header: decode_json(header).ok_or(TokenError::Invalid)?,
        payload: decode_json(payload).ok_or(TokenError::Invalid)?,
        signature: decode_base64url(signature).ok_or(TokenError::Invalid)?,
        signing_input: token.get(..header.len() + 1 + payload.len()).unwrap_or(""),
    };
    Ok(decoded)
}

impl<'a> DecodedToken<'a> {
    /// The `kid` header, used to pick the key.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }

    /// The bytes the signature covers (`header.payload` as sent).
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    /// The raw signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The decoded header (untrusted until the signature is checked).
    pub fn header(&self) -> &Value {
        &self.header
    }

    /// The decoded payload (untrusted until the signature is checked).
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// Step 3: `typ` and `alg`.
    pub fn check_header(&self) -> Result<Alg, TokenError> {
        match self.header.get("typ") {
            None => {}
            Some(Value::String(typ)) if typ == "JWT" => {}
            Some(_) => return Err(TokenError::Invalid),
        }
        match self.header.get("alg").and_then(Value::as_str) {
            Some("RS256") => Ok(Alg::Rs256),
            Some("RS384") => Ok(Alg::Rs384),
            Some("RS512") => Ok(Alg::Rs512),
            _ => Err(TokenError::InvalidAlgorithm),
        }
    }
}

/// Step 4 with the RSA of [`crate::auth::rsa`].
pub fn check_signature(
    token: &DecodedToken<'_>,
    alg: Alg,
    key: &VerifyingKey,
) -> Result<(), TokenError> {
    let key = key
        .for_algorithm(alg.name())
        .map_err(|_| TokenError::VerificationFailed)?;
    if key.verify_pkcs1v15(alg.hash(), token.signing_input.as_bytes(), &token.signature) {
        Ok(())
    } else {
        Err(TokenError::InvalidSignature)
    }
}

/// Settings of the claim checks.
#[derive(Debug, Clone, Copy)]
pub struct ClaimRules<'a> {
    /// `CLERK_AUTHORIZED_PARTIES`; empty: `azp` is not checked.
    pub authorized_parties: &'a [String],
    /// `CLERK_CLOCK_SKEW_MS`.
    pub clock_skew_ms: i64,
    /// The current time in Unix milliseconds.
    pub now_ms: i64,
}

/// A JWT time claim as JavaScript's `new Date(0).setUTCSeconds(x).getTime()` computes it:
/// whole seconds (truncated) in ms, or `None` where `Date` gives `NaN` (beyond ±8.64e15 ms),
/// in which case every comparison is false and the check passes, as in `@clerk/backend`.
fn js_date_ms(seconds: f64) -> Option<f64> {
    let ms = seconds.trunc() * 1000.0;
    (ms.abs() <= 8.64e15).then_some(ms)
}

/// A time claim: absent, a number, or something else (`token-verification-failed`).
fn time_claim(payload: &Value, name: &str) -> Result<Option<f64>, TokenError> {
    match payload.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_f64().map(Some).ok_or(TokenError::VerificationFailed),
        Some(_) => Err(TokenError::VerificationFailed),
    }
}

/// Step 5: the claim checks, in `@clerk/backend`'s order.
pub fn check_claims(payload: &Value, rules: &ClaimRules<'_>) -> Result<(), TokenError> {
    if !payload.get("sub").is_some_and(Value::is_string) {
        return Err(TokenError::VerificationFailed);
    }
    if !rules.authorized_parties.is_empty() {
        let azp = payload.get("azp").and_then(Value::as_str).unwrap_or("");
        if azp.is_empty() || !rules.authorized_parties.iter().any(|p| p == azp) {
            return Err(TokenError::InvalidAuthorizedParties);
        }
    }
    let now = rules.now_ms as f64;
    let skew = rules.clock_skew_ms as f64;
    let exp = time_claim(payload, "exp")?.ok_or(TokenError::VerificationFailed)?;
    if js_date_ms(exp).is_some_and(|exp| exp <= now - skew) {
        return Err(TokenError::Expired);
    }
    if let Some(nbf) = time_claim(payload, "nbf")? {
        if js_date_ms(nbf).is_some_and(|nbf| nbf > now + skew) {
            return Err(TokenError::NotActiveYet);
        }
    }
    if let Some(iat) = time_claim(payload, "iat")? {
        if js_date_ms(iat).is_some_and(|iat| iat > now + skew) {
            return Err(TokenError::IatInTheFuture);
        }
    }
    Ok(())
}

/// The identity in a verified token, v1 and v2 claims normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionClaims {
    /// `sub`: the Clerk user id.
    pub user_id: String,
    /// `sid`: the Clerk session id.
    pub session_id: Option<String>,
    /// Active organization id (`org_id` in v1, `o.id` in v2).
    pub org_id: Option<String>,
    /// Active organization role, `org:`-prefixed (`org_role` in v1, `org:` + `o.rol` in v2).
    pub org_role: Option<String>,
    /// Active organization slug (`org_slug` in v1, `o.slg` in v2).
    pub org_slug: Option<String>,
    /// The active organization's permissions (`org_permissions` in v1, built from `fea`,
    /// `o.per` and `o.fpm` in v2): see [`crate::auth::organization`].
    pub org_permissions: Vec<String>,
    /// `exp` in whole seconds.
    pub expires_at: i64,
}

impl SessionClaims {
    /// Extracts the identity from a payload whose `sub` has been checked.
    pub fn from_payload(payload: &Value) -> Self {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let org = crate::auth::organization::organization(payload);
        Self {
            user_id: text(payload.get("sub")).unwrap_or_default(),
            session_id: text(payload.get("sid")),
            org_id: org.id,
            org_role: org.role,
            org_slug: org.slug,
            org_permissions: org.permissions,
            expires_at: Self::expires_at(payload),
        }
    }

    /// `exp` in whole seconds (truncated, as the time checks read it), 0 when absent.
    pub fn expires_at(payload: &Value) -> i64 {
        payload
            .get("exp")
            .and_then(Value::as_f64)
            .map_or(0, |exp| exp as i64)
    }
}

/// The result of verifying a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// No token in the request.
    NoToken,
    /// Valid: the identity it carries.
    Verified(SessionClaims),
    /// Refused. `signed` is the identity when the signature, header and `azp` were valid and
    /// only a time check failed: `grace` bypass mode lets some of those through.
    Rejected {
        /// Why.
        error: TokenError,
        /// The identity of a validly signed token refused for a time claim.
        signed: Option<SessionClaims>,
    },
}

impl Verification {
    /// The identity whose deny-list entries must be checked, if any.
    pub fn identity(&self) -> Option<&SessionClaims> {
        match self {
            Self::Verified(c) => Some(c),
            Self::Rejected { signed, .. } => signed.as_ref(),
            Self::NoToken => None,
        }
    }
}

/// Steps 3-5 after the key is resolved, with the signature check supplied by the caller
/// (pure Rust here, WebCrypto in the JS adapters).
pub fn finish_verification(
    token: &DecodedToken<'_>,
    signature_ok: impl FnOnce(Alg) -> Result<(), TokenError>,
    rules: &ClaimRules<'_>,
) -> Verification {
    match token.check_header().and_then(signature_ok) {
        Ok(()) => claims_verification(&token.payload, rules),
        Err(error) => Verification::Rejected {
            error,
            signed: None,
        },
    }
}

/// Step 5 on a payload whose signature is valid: the outcome, with the identity kept when
/// only a time check failed (for the `grace` bypass).
pub fn claims_verification(payload: &Value, rules: &ClaimRules<'_>) -> Verification {
    match check_claims(payload, rules) {
        Ok(()) => Verification::Verified(SessionClaims::from_payload(payload)),
        Err(
            error @ (TokenError::Expired | TokenError::NotActiveYet | TokenError::IatInTheFuture),
        ) => Verification::Rejected {
            error,
            signed: Some(SessionClaims::from_payload(payload)),
        },
        Err(error) => Verification::Rejected {
            error,
            signed: None,
        },
    }
}

/// The outcome of a cache hit, with the payload for callers that return the claims.
pub fn cached_outcome(
    hit: &SignatureCheck,
    rules: &ClaimRules<'_>,
) -> (Verification, Option<std::rc::Rc<Value>>) {
    match hit {
        SignatureCheck::Valid(payload) => {
            (claims_verification(payload, rules), Some(payload.clone()))
        }
        SignatureCheck::Refused(error) => (
            Verification::Rejected {
                error: *error,
                signed: None,
            },
            None,
        ),
    }
}

/// [`verify_session_token`] through the verified-token cache: a token seen before under the
/// same settings skips decoding, key resolution and the signature; the claims and times are
/// checked again every time. The caller must [`VerifiedTokenCache::clear`] the cache when its
/// keys change (a JWKS refresh), since the key resolution is part of what a hit skips.
///
/// `keep_after_exp_ms` is how long after `exp` a valid token can still matter (clock skew
/// plus the emergency grace window).
pub fn verify_cached(
    cache: &mut VerifiedTokenCache,
    settings: u32,
    token: &str,
    keys: KeySource<'_>,
    rules: &ClaimRules<'_>,
    keep_after_exp_ms: i64,
) -> Verification {
    match begin_cached(cache, settings, token, keys, rules) {
        Step::Done(verification) => verification,
        Step::NeedSignature(pending) => {
            let valid = pending.verify_in_rust();
            complete_cached(cache, pending, valid, rules, keep_after_exp_ms)
        }
    }
}

/// The first half of [`verify_cached`]: everything but the RSA operation.
pub enum Step {
    /// Decided without a signature check (a cache hit, or refused before the signature).
    Done(Verification),
    /// The signature must be checked (by [`PendingSignature::verify_in_rust`] or WebCrypto),
    /// then handed to [`complete_cached`].
    NeedSignature(PendingSignature),
}

/// A token whose header and key are valid, waiting for its signature check.
#[derive(Debug, Clone)]
pub struct PendingSignature {
    token: String,
    settings: u32,
    alg: Alg,
    key: VerifyingKey,
    signing_input_len: usize,
    signature: Vec<u8>,
    /// [`VerifiedTokenCache::generation`] at the start: an asynchronous check that outlives
    /// a cache clear (a JWKS refresh) answers its own request but is not recorded.
    generation: u64,
}

impl PendingSignature {
    /// The algorithm to verify with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The key (its components import into WebCrypto).
    pub fn key(&self) -> &VerifyingKey {
        &self.key
    }

    /// The signed bytes: `header.payload` as sent.
    pub fn signing_input(&self) -> &str {
        self.token.get(..self.signing_input_len).unwrap_or("")
    }

    /// The signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Checks the signature in Rust ([`crate::auth::rsa`]).
    pub fn verify_in_rust(&self) -> bool {
        let Ok(key) = self.key.for_algorithm(self.alg.name()) else {
            return false;
        };
        key.verify_pkcs1v15(
            self.alg.hash(),
            self.signing_input().as_bytes(),
            &self.signature,
        )
    }
}

/// Cache lookup, decode, key resolution, header checks and key/alg compatibility.
pub fn begin_cached(
    cache: &mut VerifiedTokenCache,
    settings: u32,
    token: &str,
    keys: KeySource<'_>,
    rules: &ClaimRules<'_>,
) -> Step {
    if let Some(hit) = cache.get(token, settings, rules.now_ms) {
        return Step::Done(cached_outcome(hit, rules).0);
    }
    let rejected = |error| {
        Step::Done(Verification::Rejected {
            error,
            signed: None,
        })
    };
    let decoded = match decode(token) {
        Ok(d) => d,
        Err(error) => return rejected(error),
    };
    let key = match keys {
        KeySource::Pem(key) | KeySource::Jwks(Some(key)) => key,
        KeySource::Jwks(None) => return rejected(TokenError::KidMismatch),
    };
    let refuse_and_remember = |cache: &mut VerifiedTokenCache, error| {
        cache.insert(
            token,
            settings,
            SignatureCheck::Refused(error),
            rules
                .now_ms
                .saturating_add(crate::auth::verified_cache::REFUSAL_TTL_MS),
            rules.now_ms,
        );
        rejected(error)
    };
    let alg = match decoded.check_header() {
        Ok(alg) => alg,
        Err(error) => return refuse_and_remember(cache, error),
    };
    if key.for_algorithm(alg.name()).is_err() {
        return refuse_and_remember(cache, TokenError::VerificationFailed);
    }
    Step::NeedSignature(PendingSignature {
        token: token.to_owned(),
        settings,
        alg,
        key: key.clone(),
        signing_input_len: decoded.signing_input.len(),
        signature: decoded.signature,
        // No payload: it is parsed again once the signature holds, so a flood of forged
        // tokens waiting on WebCrypto keeps only their text (a 16 KB payload can parse to
        // hundreds of KB).
        generation: cache.generation(),
    })
}

/// The second half of [`verify_cached`]: records the signature check and checks the claims.
///
/// The check is recorded only if the cache was not cleared since [`begin_cached`]: a clear
/// means the keys changed or settings ids were reassigned, so the result still answers this
/// request (as if it had finished before the clear) but must not serve later ones.
pub fn complete_cached(
    cache: &mut VerifiedTokenCache,
    pending: PendingSignature,
    signature_valid: bool,
    rules: &ClaimRules<'_>,
    keep_after_exp_ms: i64,
) -> Verification {
    match record_signature(cache, &pending, signature_valid, rules, keep_after_exp_ms) {
        Ok(payload) => claims_verification(&payload, rules),
        Err(error) => Verification::Rejected {
            error,
            signed: None,
        },
    }
}

/// Records a signature check (as [`complete_cached`]) and answers the payload of a validly
/// signed token, for callers that check the claims themselves and need no [`SessionClaims`].
pub fn record_signature(
    cache: &mut VerifiedTokenCache,
    pending: &PendingSignature,
    signature_valid: bool,
    rules: &ClaimRules<'_>,
    keep_after_exp_ms: i64,
) -> Result<std::rc::Rc<Value>, TokenError> {
    let record = cache.generation() == pending.generation;
    if !signature_valid {
        let error = TokenError::InvalidSignature;
        if record {
            cache.insert(
                &pending.token,
                pending.settings,
                SignatureCheck::Refused(error),
                rules
                    .now_ms
                    .saturating_add(crate::auth::verified_cache::REFUSAL_TTL_MS),
                rules.now_ms,
            );
        }
        return Err(error);
    }
    // It decoded in `begin_cached` (only the payload is needed now); Null (refused by the
    // claim checks) cannot happen.
    let payload = payload_text(&pending.token)
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null);
    let exp_ms = payload
        .get("exp")
        .and_then(Value::as_f64)
        .and_then(js_date_ms)
        .map_or(rules.now_ms, |ms| ms as i64);
    let payload = std::rc::Rc::new(payload);
    if record {
        // Kept past the last moment it can pass, and at least as long as a refusal: a stale
        // `__session` cookie sent again and again costs a lookup, not an RSA check (every
        // hit still runs the time checks against the current clock).
        let keep_until_ms = exp_ms.saturating_add(keep_after_exp_ms).max(
            rules
                .now_ms
                .saturating_add(crate::auth::verified_cache::REFUSAL_TTL_MS),
        );
        cache.insert(
            &pending.token,
            pending.settings,
            SignatureCheck::Valid(payload.clone()),
            keep_until_ms,
            rules.now_ms,
        );
    }
    Ok(payload)
}

/// Where the key for a token comes from.
#[derive(Debug, Clone, Copy)]
pub enum KeySource<'k> {
    /// `CLERK_JWT_KEY`: used whatever the token's `kid`.
    Pem(&'k VerifyingKey),
    /// The key the JWKS has for the token's `kid`, if any.
    Jwks(Option<&'k VerifyingKey>),
}

/// The whole of `verifyToken`: decode, pick the key, check header, signature and claims.
pub fn verify_session_token(
    token: &str,
    keys: KeySource<'_>,
    rules: &ClaimRules<'_>,
) -> Verification {
    let decoded = match decode(token) {
        Ok(d) => d,
        Err(error) => {
            return Verification::Rejected {
                error,
                signed: None,
            }
        }
    };
    let key = match keys {
        KeySource::Pem(key) | KeySource::Jwks(Some(key)) => key,
        KeySource::Jwks(None) => {
            return Verification::Rejected {
                error: TokenError::KidMismatch,
                signed: None,
            }
        }
    };
    finish_verification(&decoded, |alg| check_signature(&decoded, alg, key), rules)
}

/// Where the session token of a request was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenLocation {
    /// `Authorization: Bearer`.
    Header,
    /// The `__session` cookie (or its suffixed form).
    Cookie,
}

/// What the token finder needs to know about the Clerk instance.
#[derive(Debug, Clone, Copy, Default)]
pub struct CookieContext<'a> {
    /// The cookie-name suffix derived from the publishable key, when one is configured.
    pub suffix: Option<&'a str>,
    /// The Frontend API host from the publishable key (for `iss` comparison).
    pub frontend_api: Option<&'a str>,
    /// Whether the publishable key is `pk_live_`.
    pub production: bool,
    /// The current time in Unix milliseconds.
    pub now_ms: i64,
}

/// Finds the session token the way `@clerk/backend` does: the `Authorization` header wins;
/// otherwise the `__session` cookie, or its suffixed form `__session_<suffix>` when Clerk's
/// multi-instance rules say so. The query string is never looked at.
pub fn find_session_token<'r>(
    authorization: Option<&'r str>,
    cookie_header: Option<&'r str>,
    ctx: &CookieContext<'_>,
) -> Option<(std::borrow::Cow<'r, str>, TokenLocation)> {
    if let Some(token) = authorization.and_then(token_from_authorization) {
        return Some((token.into(), TokenLocation::Header));
    }
    let cookies = Cookies::parse(cookie_header.unwrap_or(""));
    let token = if uses_suffixed_cookies(&cookies, ctx) {
        ctx.suffix
            .and_then(|s| cookies.get(&format!("__session_{s}")))
    } else {
        cookies.get("__session")
    }?;
    (!token.is_empty()).then_some((token, TokenLocation::Cookie))
}

/// `parseAuthorizationHeader`: `Bearer <t>` gives `<t>`, a value without a space is taken as
/// the token itself, any other scheme is ignored (and the cookie is used instead).
pub fn token_from_authorization(value: &str) -> Option<&str> {
    if value.is_empty() {
        return None;
    }
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next().unwrap_or("");
    match parts.next() {
        None | Some("") => Some(scheme),
        Some(token) if scheme == "Bearer" => Some(token),
        Some(_) => None,
    }
}

/// A parsed `Cookie` header; the first occurrence of a name wins, as in the `cookie` package.
pub(crate) struct Cookies<'h>(Vec<(&'h str, &'h str)>);

impl<'h> Cookies<'h> {
    pub(crate) fn parse(header: &'h str) -> Self {
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for item in header.split(';') {
            let Some((name, value)) = item.split_once('=') else {
                continue;
            };
            // `cookie` 1.x (what `@clerk/backend` 3 parses with) trims spaces and tabs only,
            // and keeps double quotes: `"x"` is the value `"x"`, which is no JWT.
            let trim = |t: &'h str| t.trim_matches([' ', '\t']);
            let name = trim(name);
            if name.is_empty() || pairs.iter().any(|(n, _)| *n == name) {
                continue;
            }
            pairs.push((name, trim(value)));
        }
        Self(pairs)
    }

    /// The percent-decoded value of `name`, when present (possibly empty).
    pub(crate) fn get(&self, name: &str) -> Option<std::borrow::Cow<'h, str>> {
        let raw = self.0.iter().find(|(n, _)| *n == name)?.1;
        Some(percent_decode_cookie(raw))
    }
}

/// `decodeURIComponent`, or the value as it is when that throws (a `%` not followed by two
/// hex digits, or bytes that are not UTF-8), as the `cookie` package does.
fn percent_decode_cookie(raw: &str) -> std::borrow::Cow<'_, str> {
    if !raw.contains('%') {
        return raw.into();
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b != b'%' {
            out.push(b);
            i += 1;
            continue;
        }
        let hex = |j: usize| bytes.get(j).and_then(|c| char::from(*c).to_digit(16));
        match (hex(i + 1), hex(i + 2)) {
            (Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(0));
                i += 3;
            }
            _ => return raw.into(),
        }
    }
    String::from_utf8(out).map_or(raw.into(), Into::into)
}

/// `usesSuffixedCookies` of `@clerk/backend`'s authenticate context.
pub(crate) fn uses_suffixed_cookies(cookies: &Cookies<'_>, ctx: &CookieContext<'_>) -> bool {
    let Some(suffix) = ctx.suffix else {
        return false;
    };
    let get = |n: &str| cookies.get(n).filter(|v| !v.is_empty());
    let suffixed_uat = get(&format!("__client_uat_{suffix}"));
    let uat = get("__client_uat");
    let suffixed_session = get(&format!("__session_{suffix}"));
    let session = get("__session");
    // `decodeJwt`: whatever the token's `cat` (a machine token still has an `iss` and `iat`).
    let claims = |t: &Option<std::borrow::Cow<'_, str>>| {
        t.as_deref()
            .and_then(|t| decode_jwt(t).ok())
            .map(|d| d.payload.clone())
    };
    let session_claims = claims(&session);
    if session.is_some() {
        let iss = session_claims.as_ref().and_then(|p| p.get("iss"));
        if !iss.is_some_and(js_truthy) {
            return false;
        }
        let belongs = iss.and_then(Value::as_str).is_some_and(|iss| {
            let host = iss.replacen("https://", "", 1).replacen("http://", "", 1);
            ctx.frontend_api == Some(host.as_str())
        });
        if !belongs {
            return true;
        }
    }
    if suffixed_uat.is_none() && suffixed_session.is_none() {
        return false;
    }
    let iat = |p: &Option<Value>| {
        p.as_ref()
            .and_then(|p| p.get("iat"))
            .and_then(Value::as_f64)
            .unwrap_or(0.0)
    };
    let suffixed_claims = claims(&suffixed_session);
    let is_zero = |v: &Option<std::borrow::Cow<'_, str>>| v.as_deref() == Some("0");
    if !is_zero(&suffixed_uat) && !is_zero(&uat) && iat(&session_claims) > iat(&suffixed_claims) {
        return false;
    }
    if is_zero(&suffixed_uat) && !is_zero(&uat) {
        return false;
    }
    if !ctx.production {
        let expired = suffixed_claims
            .as_ref()
            .and_then(|p| p.get("exp"))
            .and_then(Value::as_f64)
            .is_some_and(|exp| exp <= (ctx.now_ms / 1000) as f64);
        if !is_zero(&suffixed_uat) && is_zero(&uat) && expired {
            return false;
        }
    }
    if suffixed_uat.is_none() && suffixed_session.is_some() {
        return false;
    }
    true
}

/// JavaScript truthiness of a JSON value (`!!value`).
fn js_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|n| n != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(_) | Value::Object(_) => true,
    }
}

/// The cookie-name suffix of a publishable key: the first 8 characters of the URL-safe
/// base64 of its SHA-1 (`getCookieSuffix` in `@clerk/shared`).
pub fn cookie_suffix(publishable_key: &str) -> String {
    use base64::engine::general_purpose::STANDARD;
    use sha1::{Digest, Sha1};
    let digest = Sha1::digest(publishable_key.as_bytes());
    STANDARD
        .encode(digest)
        .replace('+', "-")
        .replace('/', "_")
        .chars()
        .take(8)
        .collect()
}
