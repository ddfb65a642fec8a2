//! The fuzz targets' oracles: what each target asserts beyond "no panic", computed
//! independently of the crate under test where that is possible (the RS256 signature with
//! the `rsa` crate against Clerk's fixture key, the Svix HMAC with `hmac`/`sha2`), plus the
//! contract's lists of reason codes and the input framing the seed corpora use.
//!
//! Input framing: a target's input is a list of fields separated by NUL bytes (`fields`).
//! It keeps every field directly mutable by libFuzzer (a length prefix would shift every
//! later field when one byte of it changes) and lets `seeds/make-seeds.mjs` write seeds
//! from the reference vectors with no knowledge of Rust. Small choices (which key, which
//! clock, flags) come from a trailing field read with `arbitrary::Unstructured`.

use std::sync::OnceLock;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use serde_json::Value;
use sha2::{Digest, Sha256, Sha384, Sha512};

/// Clerk's session JWT vectors (the fixture key pair, tokens, publishable keys).
const JWT_VECTORS: &str =
    include_str!("../../tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json");

/// The reason codes a protected request may be refused with, copied from the README
/// ("Routes and headers": "Reason codes are `@clerk/backend`'s …", and "Returning visitors:
/// Clerk's handshake": the cookie path's reasons). A refusal with any other reason is a
/// finding: either the code or the contract is wrong.
pub const AUTH_REASONS: &[&str] = &[
    // README "Routes and headers", `@clerk/backend`'s verifyToken reasons.
    "token-invalid",
    "token-invalid-algorithm",
    "token-invalid-signature",
    "token-verification-failed",
    "token-expired",
    "token-not-active-yet",
    "token-iat-in-the-future",
    "token-invalid-authorized-parties",
    "jwk-kid-mismatch",
    "jwk-failed-to-resolve",
    "jwk-remote-failed-to-load",
    "jwk-remote-invalid",
    "session-token-and-uat-missing",
    // The edge's own.
    "session-revoked",
    "user-revoked",
    // README "Returning visitors: Clerk's handshake".
    "session-token-expired-refresh-non-eligible-non-get",
    "session-token-expired-refresh-non-eligible-no-refresh-cookie",
    "session-token-nbf",
    "session-token-iat-in-the-future",
    "session-token-but-no-client-uat",
    "client-uat-but-no-session-token",
    "session-token-iat-before-client-uat",
    "dev-browser-missing",
    "dev-browser-sync",
    "primary-domain-cross-origin-sync",
    "session-token-missing",
    "token-type-mismatch",
    "handshake-token-refused",
    // README "Configuration": "protected requests answer 500 `misconfigured`".
    "misconfigured",
];

/// The webhook refusal reasons of CONTRACT section 3 (README "Webhooks": "with a reason of
/// CONTRACT section 3").
pub const WEBHOOK_REASONS: &[&str] = &[
    "missing-header",
    "invalid-timestamp",
    "timestamp-too-old",
    "timestamp-too-new",
    "invalid-signature",
    "invalid-secret",
    "invalid-payload",
];

/// The admin routes' error codes: README runbook 3 (`admin-token-missing`,
/// `admin-token-invalid`) and 4 (the 4xx of a bad body), as the routes document them.
pub const ADMIN_CODES: &[&str] = &[
    "not-found",
    "method-not-allowed",
    "admin-token-missing",
    "admin-token-invalid",
    "unsupported-media-type",
    "body-too-large",
    "body-unreadable",
    "invalid-json",
    "body-not-object",
    "unknown-field",
    "duplicate-field",
    "invalid-field",
    "target-missing",
    "target-ambiguous",
    "invalid-id",
];

/// The variables whose values are secrets (README "Configuration"): never in an error, a
/// health body or a `Debug` rendering.
pub const SECRET_VARIABLES: &[&str] = &[
    "CLERK_SECRET_KEY",
    "CLERK_ADMIN_TOKEN",
    "CLERK_WEBHOOK_SIGNING_SECRET",
];

/// The parsed JWT vectors.
pub fn vectors() -> &'static Value {
    static VECTORS: OnceLock<Value> = OnceLock::new();
    VECTORS.get_or_init(|| serde_json::from_str(JWT_VECTORS).unwrap_or(Value::Null))
}

/// A string of the vectors by JSON pointer ("" when absent: the targets then find nothing
/// valid, and the seed check in scripts/fuzz.sh would show it).
pub fn vector_text(pointer: &str) -> &'static str {
    vectors()
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The fixture's public key (SPKI PEM), as `CLERK_JWT_KEY` would hold it.
pub fn fixture_pem() -> &'static str {
    vector_text("/keys/public_key_pem")
}

/// The fixture's key id.
pub fn fixture_kid() -> &'static str {
    vector_text("/keys/jwks/keys/0/kid")
}

/// The fixture's public key, read by the `rsa` crate itself (not by the crate under test).
fn oracle_key() -> Option<&'static RsaPublicKey> {
    static KEY: OnceLock<Option<RsaPublicKey>> = OnceLock::new();
    KEY.get_or_init(|| RsaPublicKey::from_public_key_pem(fixture_pem()).ok())
        .as_ref()
}

/// Base64url as a JWT decoder may read it: padding optional.
const B64URL_LOOSE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The independent oracle of "signed in": `token` has three parts, its header names an RS
/// algorithm, and the signature over `header.payload` verifies against the fixture key with
/// the `rsa` crate (PKCS#1 v1.5). Whatever the crate under test decides, a token it lets in
/// must pass this.
pub fn signature_verifies(token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(header), Some(_payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Some(key) = oracle_key() else {
        return false;
    };
    let Some(signature) = B64URL_LOOSE.decode(signature.trim_end_matches('=')).ok() else {
        return false;
    };
    let signing_input = &token[..token.rfind('.').unwrap_or(0)];
    let header = json_part(header);
    let alg = header
        .as_ref()
        .and_then(|h| h.get("alg"))
        .and_then(Value::as_str);
    let input = signing_input.as_bytes();
    match alg {
        Some("RS256") => pkcs1v15_verifies::<Sha256>(key, input, &signature),
        Some("RS384") => pkcs1v15_verifies::<Sha384>(key, input, &signature),
        Some("RS512") => pkcs1v15_verifies::<Sha512>(key, input, &signature),
        _ => false,
    }
}

/// RSASSA-PKCS1-v1_5 with the hash `D`, by the `rsa` crate.
fn pkcs1v15_verifies<D: Digest + rsa::pkcs8::AssociatedOid>(
    key: &RsaPublicKey,
    input: &[u8],
    signature: &[u8],
) -> bool {
    key.verify(Pkcs1v15Sign::new::<D>(), &D::digest(input), signature)
        .is_ok()
}

/// A JWT part as JSON: base64url (padding optional), invalid UTF-8 replaced, a BOM dropped.
fn json_part(part: &str) -> Option<Value> {
    let bytes = B64URL_LOOSE.decode(part.trim_end_matches('=')).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    serde_json::from_str(text.strip_prefix('\u{feff}').unwrap_or(&text)).ok()
}

/// The JSON payload of a token, decoded independently (for identity comparisons).
pub fn token_payload(token: &str) -> Option<Value> {
    json_part(token.split('.').nth(1)?)
}

/// The Svix oracle: whether some `v1,<sig>` entry of `signature_header` is the standard
/// base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under one of `secrets` (each `whsec_`
/// + base64, padding optional, as the svix libraries read them).
pub fn svix_signed(
    id: &str,
    timestamp: i64,
    body: &[u8],
    secrets: &str,
    signature_header: &str,
) -> bool {
    const SECRET_B64: GeneralPurpose = GeneralPurpose::new(
        &alphabet::STANDARD,
        GeneralPurposeConfig::new()
            .with_decode_padding_mode(DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    secrets.split_whitespace().any(|secret| {
        let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
        let Ok(key) = SECRET_B64.decode(encoded) else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&key) else {
            return false;
        };
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        let expected =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        signature_header
            .split(' ')
            .any(|entry| entry == format!("v1,{expected}"))
    })
}

/// Whether `output` leaks `secret`: it contains the secret, which is long enough to mean
/// something (12 characters; shorter values are refused as secrets anyway and would match
/// ordinary words), and `reference` (the same output made without any secret) does not.
/// The reference keeps the check honest when a fuzzed secret happens to spell text the
/// product writes anyway (a variable name, a message).
pub fn leaks(output: &str, secret: &str, reference: &str) -> bool {
    let secret = secret.trim();
    secret.chars().count() >= 12 && output.contains(secret) && !reference.contains(secret)
}

/// `value` with each ASCII letter and digit after its `sk_…_`/`whsec_` prefix moved one
/// place on in its class (`a`->`b`, `z`->`a`, `9`->`0`): a secret of the same shape, refused
/// or accepted alike. The outputs made with it are the reference of [`leaks`]: text in both
/// is the product's own, not the secret.
pub fn rotate(value: &str) -> String {
    let lead = value.len() - value.trim_start().len();
    let prefix_len = ["sk_test_", "sk_live_", "whsec_"]
        .iter()
        .find(|p| value[lead..].starts_with(*p))
        .map_or(0, |p| lead + p.len());
    let (prefix, rest) = value.split_at(prefix_len);
    let turn = |c: char, first: u8, n: u8| char::from(first + (c as u8 - first + 1) % n);
    let rest: String = rest
        .chars()
        .map(|c| match c {
            'a'..='z' => turn(c, b'a', 26),
            'A'..='Z' => turn(c, b'A', 26),
            '0'..='9' => turn(c, b'0', 10),
            _ => c,
        })
        .collect();
    format!("{prefix}{rest}")
}

/// Splits an input into its NUL-separated fields; absent fields read as empty.
pub struct Fields<'a> {
    parts: Vec<&'a [u8]>,
}

impl<'a> Fields<'a> {
    /// The fields of `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self {
            parts: data.split(|&b| b == 0).collect(),
        }
    }

    /// Field `i` as bytes.
    pub fn bytes(&self, i: usize) -> &'a [u8] {
        self.parts.get(i).copied().unwrap_or(&[])
    }

    /// Field `i` as text (invalid UTF-8 replaced: header values arrive as strings).
    pub fn text(&self, i: usize) -> String {
        String::from_utf8_lossy(self.bytes(i)).into_owned()
    }

    /// Field `i` as optional text: `None` when the field is absent or is the single byte
    /// `\x01` (an absent header, as opposed to an empty one).
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.parts.get(i) {
            None => None,
            Some(&[1]) => None,
            Some(_) => Some(self.text(i)),
        }
    }

    /// Field `i` as a decimal integer, `default` when it is not one.
    pub fn int(&self, i: usize, default: i64) -> i64 {
        std::str::from_utf8(self.bytes(i))
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(default)
    }

    /// Everything after the `n`-th NUL, NULs included (a body).
    pub fn rest(data: &'a [u8], n: usize) -> &'a [u8] {
        let mut rest = data;
        for _ in 0..n {
            rest = rest
                .iter()
                .position(|&b| b == 0)
                .map_or(&[][..], |i| &rest[i + 1..]);
        }
        rest
    }

    /// The small choices of field `i`, read with `arbitrary`.
    pub fn choices(&self, i: usize) -> arbitrary::Unstructured<'a> {
        arbitrary::Unstructured::new(self.bytes(i))
    }
}

/// An audit line's own invariants: one line, a JSON object, `ts`/`level`/`event` first.
pub fn check_audit_line(line: &str) {
    assert!(
        !line.contains(['\n', '\r', '\u{2028}', '\u{2029}']),
        "an audit line spans lines: {line:?}"
    );
    let value: Value = serde_json::from_str(line).unwrap_or(Value::Null);
    assert!(
        value.is_object(),
        "an audit line is not a JSON object: {line:?}"
    );
    assert!(
        line.starts_with("{\"ts\":"),
        "an audit line does not start with ts: {line:?}"
    );
}

/// A request as the adapters read it (header values untouched).
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// The absolute URL.
    pub url: String,
    /// `Authorization`.
    pub authorization: Option<String>,
    /// `Cookie`.
    pub cookie: Option<String>,
    /// `Sec-Fetch-Dest`.
    pub sec_fetch_dest: Option<String>,
    /// `Accept`.
    pub accept: Option<String>,
    /// `Referer`.
    pub referer: Option<String>,
    /// `X-Forwarded-Host`.
    pub forwarded_host: Option<String>,
}

/// What [`protect`] decided, and what it was decided on.
pub struct Protected {
    /// The decision and its audit line.
    pub outcome: clerk_edge_guard::policy::decision::Outcome,
    /// The cookie path's always-written lines.
    pub events: Vec<clerk_edge_guard::audit::AuditEvent>,
    /// Every token whose verification fed the decision (the request's, a return leg's).
    pub verified_tokens: Vec<String>,
}

/// The URL's path (before `?`/`#`), as the runtime hands it to the adapter.
fn raw_path(url: &str) -> &str {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path_start = after_scheme.find('/').unwrap_or(after_scheme.len());
    let path = &after_scheme[path_start..];
    path.split(['?', '#']).next().unwrap_or("")
}

/// A protected request decided as the adapters decide it (`src/js.rs` `gather` and
/// `decide`, without the cache and the I/O): the token Clerk's rules pick, its
/// verification with the configured PEM key, the return leg (the nonce's payload is
/// `nonce_answer`, as the Backend API would send it; a handshake token is checked with the
/// key), Clerk's cookie path, then the decision. `None` for routes that are not protected.
pub fn protect(
    config: &clerk_edge_guard::config::Config,
    req: &Request,
    now_ms: i64,
    deny: Option<clerk_edge_guard::policy::decision::DenyListHit>,
    nonce_answer: &str,
) -> Option<Protected> {
    use clerk_edge_guard::auth::handshake::return_leg::verify_handshake_token;
    use clerk_edge_guard::auth::handshake::{
        authenticate, HandshakeContext, LegDirectives, RequestParts, ReturnLegSource,
        NONCE_WITHOUT_SECRET,
    };
    use clerk_edge_guard::auth::token::{
        find_session_token, token_from_authorization, verify_session_token, ClaimRules, KeySource,
        Verification,
    };
    use clerk_edge_guard::config::KeyConfig;
    use clerk_edge_guard::policy::decision::{
        decide_with, handshake_applies, needs_verification, route, RequestFacts, Route,
    };
    use clerk_edge_guard::policy::paths::decode_path;

    let path = decode_path(raw_path(&req.url));
    if route(config, &path) != Route::Protected {
        return None;
    }
    let rules = ClaimRules {
        authorized_parties: &config.authorized_parties,
        clock_skew_ms: config.clock_skew_ms,
        now_ms,
    };
    let KeyConfig::Pem(key) = &config.keys else {
        return None;
    };
    let keys = KeySource::Pem(key);
    let has_bearer = req
        .authorization
        .as_deref()
        .and_then(token_from_authorization)
        .is_some();
    let host = req
        .url
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""));
    let parts = RequestParts {
        method: &req.method,
        url: &req.url,
        host,
        forwarded_host: req.forwarded_host.as_deref(),
        forwarded_proto: None,
        cookie: req.cookie.as_deref(),
        sec_fetch_dest: req.sec_fetch_dest.as_deref(),
        accept: req.accept.as_deref(),
        referer: req.referer.as_deref(),
    };
    let ctx = handshake_applies(config, &path, has_bearer, now_ms)
        .then(|| HandshakeContext::read(config, &parts, now_ms))
        .flatten();
    let token = match &ctx {
        Some(ctx) => ctx.session_token.clone(),
        None if needs_verification(config, &path, now_ms) => find_session_token(
            req.authorization.as_deref(),
            req.cookie.as_deref(),
            &config.cookie_context(now_ms),
        )
        .map(|(token, _)| token.into_owned()),
        None => None,
    };
    let mut verified_tokens = Vec::new();
    let verification = match &token {
        Some(token) => {
            verified_tokens.push(token.clone());
            verify_session_token(token, keys, &rules)
        }
        None => Verification::NoToken,
    };
    let mut events = Vec::new();
    let clerk = ctx.as_ref().map(|ctx| {
        let leg = ctx.return_leg().map(|source| {
            let directives = match source {
                ReturnLegSource::Nonce(nonce) => {
                    let leg = match &config.secret_key {
                        None => LegDirectives::NonceFailed(NONCE_WITHOUT_SECRET.to_owned()),
                        Some(_) => {
                            LegDirectives::from_payload_call(Ok(nonce_answer.to_owned()), nonce)
                        }
                    };
                    if let LegDirectives::NonceFailed(problem) = &leg {
                        assert!(
                            !leaks(problem, nonce, ""),
                            "a failed nonce exchange's problem quotes the nonce: {problem:?}"
                        );
                    }
                    leg
                }
                ReturnLegSource::Token(token) => {
                    let checked = verify_handshake_token(token, keys);
                    assert!(
                        checked.is_err() || signature_verifies(token),
                        "a handshake token was accepted without a signature that verifies"
                    );
                    LegDirectives::from_token_check(checked)
                }
            };
            let session = directives.session_to_verify().map(|token| {
                verified_tokens.push(token.clone());
                let verification = verify_session_token(&token, keys, &rules);
                (token, verification)
            });
            directives.into_return_leg(session)
        });
        let authenticated = authenticate(ctx, &verification, leg.as_ref(), &rules);
        events = authenticated.events;
        authenticated.state
    });
    let identity = clerk
        .as_ref()
        .and_then(|state| state.identity())
        .or(verification.identity());
    let deny = deny.filter(|_| identity.is_some());
    let facts = RequestFacts {
        method: &req.method,
        path: &path,
        url: &req.url,
        sec_fetch_dest: req.sec_fetch_dest.as_deref(),
        accept: req.accept.as_deref(),
    };
    let outcome = decide_with(config, &facts, &verification, clerk.as_ref(), deny, now_ms);
    Some(Protected {
        outcome,
        events,
        verified_tokens,
    })
}

/// The assertions every protected decision must hold:
/// - signed in (or bypassed with an identity) only with an identity from a token whose
///   signature verifies with the oracle, and whose `sub` is that identity;
/// - a refusal's reason is one of the contract's ([`AUTH_REASONS`]);
/// - its audit lines are well-formed and never carry a credential of `credentials`
///   (the request's `Authorization` and `Cookie` values, tokens, nonces, secrets).
pub fn check_protected(protected: &Protected, credentials: &[&str], now_ms: i64) {
    use clerk_edge_guard::policy::decision::Decision;

    let decision = &protected.outcome.decision;
    let identity = match decision {
        Decision::Forward { identity, .. } => identity.as_ref(),
        _ => None,
    };
    let signed_in = decision.auth_status() == "signed-in";
    if signed_in || identity.is_some() {
        let user = identity.map(|i| i.user_id.as_str());
        let backed = protected.verified_tokens.iter().any(|token| {
            signature_verifies(token)
                && (user.is_none()
                    || token_payload(token)
                        .and_then(|p| p.get("sub").and_then(Value::as_str).map(str::to_owned))
                        .as_deref()
                        == user)
        });
        assert!(
            backed,
            "{} with identity {identity:?} but no token that verifies: {decision:?}",
            decision.auth_status()
        );
    }
    if let Some(reason) = decision.refusal_reason() {
        assert!(
            AUTH_REASONS.contains(&reason),
            "refusal reason {reason:?} is not in the contract"
        );
    }
    let lines = protected
        .outcome
        .audit
        .iter()
        .chain(&protected.events)
        .map(|event| event.to_line(now_ms));
    for line in lines {
        check_audit_line(&line);
        for credential in credentials {
            assert!(
                !leaks(&line, credential, ""),
                "an audit line carries a credential: {line}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The oracles must be able to fail: each is checked on a case it must refuse.

    #[test]
    fn the_signature_oracle_tells_real_tokens_from_tampered_ones() {
        assert!(signature_verifies(vector_text("/tokens/mockJwt/jwt")));
        assert!(!signature_verifies(vector_text(
            "/tokens/mockInvalidSignatureJwt/jwt"
        )));
        assert!(!signature_verifies(vector_text(
            "/tokens/mockMalformedJwt/jwt"
        )));
        assert!(!signature_verifies("not-a-jwt"));
    }

    #[test]
    fn the_svix_oracle_recomputes_the_vectors() {
        let (id, ts, body) = (
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        );
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let sig = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
        assert!(svix_signed(id, ts, body, secret, sig));
        assert!(svix_signed(
            id,
            ts,
            body,
            &format!("whsec_AAAA {secret}"),
            &format!("v1,x {sig}")
        ));
        assert!(!svix_signed(id, ts + 1, body, secret, sig));
        assert!(!svix_signed(id, ts, b"{}", secret, sig));
    }

    #[test]
    fn leaks_tells_an_echo_from_the_products_own_words() {
        let secret = "sk_test_abcdefghijklmnop";
        assert!(leaks(
            &format!("bad key {secret}"),
            secret,
            "bad key sk_test_bcdefghijklmnopq"
        ));
        assert!(!leaks(
            "invalid-secret here",
            "invalid-secret",
            "invalid-secret here"
        ));
        assert!(!leaks("short", "short", ""));
        assert_eq!(rotate("whsec_az9Z+="), "whsec_ba0A+=");
    }
}
