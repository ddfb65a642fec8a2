//! A catalogue of hostile, malformed and borderline session tokens, signed here with Clerk's
//! TEST-ONLY fixture key (`keys.private_key_pem_pkcs8_TEST_ONLY` of the shared vectors), and
//! the reason code `@clerk/backend`'s `verifyToken` gives for each.
//!
//! Check order mirrored (see `src/auth/token.rs`): decode -> machine-token `cat` -> key by `kid`
//! -> `typ` -> `alg` -> signature -> `sub` -> `azp` -> `exp` -> `nbf` -> `iat`. Edge-only
//! additions: tokens over 16 KiB and RSA keys under 2048 bits are refused.
//!
//! Decisions recorded here where `@clerk/backend` has no clean answer:
//! - a header that is JSON but not an object (`[]`, `"x"`, `1`) reads as an object without
//!   `kid`/`typ`/`alg`, as JavaScript property access does: `token-invalid-algorithm` with a
//!   PEM key, `jwk-kid-mismatch` with a JWKS; a `null` header (a `TypeError` in JavaScript)
//!   is `token-invalid`;
//! - `crit` is ignored, as `@clerk/backend` ignores it (RFC 7515 would refuse unknown
//!   critical parameters; Clerk never issues `crit`, and we must answer as Clerk does);
//! - `jku`, `x5u`, `jwk` and `x5c` headers are ignored: keys come only from configuration.

use std::borrow::Cow;
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_edge_guard::auth::keys::{self, JwksCache, KeyError, VerifyingKey};
use clerk_edge_guard::auth::token::{
    self, find_session_token, verify_session_token, ClaimRules, CookieContext, KeySource,
    SessionClaims, TokenError, TokenLocation, Verification, MAX_TOKEN_BYTES,
};
use clerk_edge_guard::config::{Config, KeyConfig};
use hmac::{Hmac, Mac};
use jwt_compact::alg::Rsa;
use jwt_compact::{Algorithm as _, AlgorithmSignature as _};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

/// A fixed "now" in Unix seconds (2023-11-14T22:13:20Z).
const T: i64 = 1_700_000_000;
const NOW_MS: i64 = T * 1000;
const SKEW_MS: i64 = 5000;
const KID: &str = "ins_2GIoQhbUpy0hX7B2cVkuTMinXoD";
const SUB: &str = "user_2GIpXOEpVyJw51rkZn9Kmnc6Sxr";
const SID: &str = "sess_2GbDB4enNdCa5vS1zpC3Xzg9tK9";
const AZP: &str = "https://app.example.com";
const ISS: &str = "https://clerk.inspired.puma-74.lcl.dev";

// ---------------------------------------------------------------------------------------
// Fixture keys and token minting

struct Fixture {
    private: RsaPrivateKey,
    public_pem: String,
    pem: VerifyingKey,
    unrelated: VerifyingKey,
    /// The fixture JWKS (its key says `alg: RS256`).
    jwks: JwksCache,
    /// The same key as a JWK without `alg` (WebCrypto then accepts RS384/RS512 too).
    jwks_no_alg: JwksCache,
    /// Clerk's own `mockJwt`, for splicing.
    mock_jwt: String,
    /// Clerk's public test-key fixtures as published in the vectors file.
    vectors: Value,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let vectors: Value = serde_json::from_str(&text).unwrap();
        let k = &vectors["keys"];
        let private =
            RsaPrivateKey::from_pkcs8_pem(k["private_key_pem_pkcs8_TEST_ONLY"].as_str().unwrap())
                .expect("TEST-ONLY private key");
        let public_pem = k["public_key_pem"].as_str().unwrap().to_owned();
        let jwk = k["jwks"]["keys"][0].clone();
        let mut jwks = JwksCache::new();
        jwks.record_success(vec![keys::parse_jwk(&jwk)], 0);
        let mut no_alg = jwk.clone();
        no_alg.as_object_mut().unwrap().remove("alg");
        let mut jwks_no_alg = JwksCache::new();
        jwks_no_alg.record_success(vec![keys::parse_jwk(&no_alg)], 0);
        Fixture {
            pem: keys::parse_pem(&public_pem).unwrap(),
            unrelated: keys::parse_pem(k["unrelated_public_key_pem"].as_str().unwrap()).unwrap(),
            private,
            public_pem,
            jwks,
            jwks_no_alg,
            mock_jwt: vectors["tokens"]["mockJwt"]["jwt"]
                .as_str()
                .unwrap()
                .to_owned(),
            vectors,
        }
    })
}

/// A 1024-bit key pair, generated once per run: too weak for the edge.
fn weak_key() -> &'static RsaPrivateKey {
    static WEAK: OnceLock<RsaPrivateKey> = OnceLock::new();
    WEAK.get_or_init(|| {
        RsaPrivateKey::new(&mut rand_core::OsRng, 1024).expect("1024-bit key generation")
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn json_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap()
}

/// Signs `header.payload` (segments as given) with `alg` and `key`.
fn sign_segments_with(h: &str, p: &str, alg: Rsa, key: &RsaPrivateKey) -> String {
    let input = format!("{h}.{p}");
    let signature = alg.sign(key, input.as_bytes());
    format!("{input}.{}", b64(&signature.as_bytes()))
}

fn sign_segments(h: &str, p: &str) -> String {
    sign_segments_with(h, p, Rsa::rs256(), &fixture().private)
}

/// RS256 with the fixture key over arbitrary header and payload bytes.
fn sign_raw(header: &[u8], payload: &[u8]) -> String {
    sign_segments(&b64(header), &b64(payload))
}

fn sign(header: &Value, payload: &Value) -> String {
    sign_raw(&json_bytes(header), &json_bytes(payload))
}

fn sign_alg(alg: Rsa, header: &Value, payload: &Value) -> String {
    sign_segments_with(
        &b64(&json_bytes(header)),
        &b64(&json_bytes(payload)),
        alg,
        &fixture().private,
    )
}

fn header() -> Value {
    json!({"alg": "RS256", "kid": KID, "typ": "JWT"})
}

fn header_with(alg: &str) -> Value {
    json!({"alg": alg, "kid": KID, "typ": "JWT"})
}

fn claims() -> Value {
    json!({
        "azp": AZP, "exp": T + 60, "iat": T - 10, "iss": ISS, "nbf": T - 20,
        "sid": SID, "sub": SUB,
    })
}

/// `value` with `key` set (or removed when `new` is `None`).
fn with(mut value: Value, key: &str, new: Option<Value>) -> Value {
    let map = value.as_object_mut().unwrap();
    match new {
        Some(v) => map.insert(key.to_owned(), v),
        None => map.remove(key),
    };
    value
}

fn valid_token() -> String {
    sign(&header(), &claims())
}

/// The token's three segments.
fn segments(token: &str) -> [String; 3] {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "{token}");
    [parts[0].into(), parts[1].into(), parts[2].into()]
}

// ---------------------------------------------------------------------------------------
// Verification helpers

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// `CLERK_JWT_KEY` = the fixture public PEM.
    Pem,
    /// The fixture JWKS (key `alg: RS256`), resolved by `kid`.
    Jwks,
    /// The fixture key as a JWK without `alg`, resolved by `kid`.
    JwksNoAlg,
    /// An unrelated PEM key.
    Unrelated,
}

fn rules(now_ms: i64, skew: i64, parties: &[String]) -> ClaimRules<'_> {
    ClaimRules {
        authorized_parties: parties,
        clock_skew_ms: skew,
        now_ms,
    }
}

fn default_rules() -> ClaimRules<'static> {
    rules(NOW_MS, SKEW_MS, &[])
}

/// The adapter's part: a JWKS key is looked up by the token's `kid`.
fn resolve(cache: &JwksCache, token: &str) -> Option<VerifyingKey> {
    let kid = token::decode(token)
        .ok()
        .and_then(|d| d.kid().map(str::to_owned));
    cache.find(kid.as_deref()).cloned()
}

fn verify_with(token: &str, key: Key, rules: &ClaimRules<'_>) -> Verification {
    let f = fixture();
    match key {
        Key::Pem => verify_session_token(token, KeySource::Pem(&f.pem), rules),
        Key::Unrelated => verify_session_token(token, KeySource::Pem(&f.unrelated), rules),
        Key::Jwks | Key::JwksNoAlg => {
            let cache = if key == Key::Jwks {
                &f.jwks
            } else {
                &f.jwks_no_alg
            };
            let found = resolve(cache, token);
            verify_session_token(token, KeySource::Jwks(found.as_ref()), rules)
        }
    }
}

fn code(v: &Verification) -> &'static str {
    match v {
        Verification::Verified(_) => "ok",
        Verification::Rejected { error, .. } => error.code(),
        Verification::NoToken => "no-token",
    }
}

fn outcome(token: &str, key: Key) -> &'static str {
    code(&verify_with(token, key, &default_rules()))
}

/// One catalogue entry: a token and the code expected with each key kind listed.
struct Case {
    name: &'static str,
    token: String,
    expect: Vec<(Key, &'static str)>,
}

fn case(name: &'static str, token: String, expect: &[(Key, &'static str)]) -> Case {
    Case {
        name,
        token,
        expect: expect.to_vec(),
    }
}

/// The same code with a PEM key and with the JWKS.
fn both(name: &'static str, token: String, code: &'static str) -> Case {
    case(name, token, &[(Key::Pem, code), (Key::Jwks, code)])
}

fn run(cases: Vec<Case>) {
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    let mut checked = 0;
    for c in &cases {
        assert!(!c.expect.is_empty(), "{}: nothing expected", c.name);
        for (key, expected) in &c.expect {
            let got = outcome(&c.token, *key);
            if got != *expected {
                failures.push(format!(
                    "{} with {key:?}: expected {expected}, got {got}",
                    c.name
                ));
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= cases.len());
}

// ---------------------------------------------------------------------------------------
// The catalogue

#[test]
fn a_freshly_signed_token_verifies_with_every_form_of_the_key() {
    let token = valid_token();
    for key in [Key::Pem, Key::Jwks, Key::JwksNoAlg] {
        let v = verify_with(&token, key, &default_rules());
        assert_eq!(
            v,
            Verification::Verified(SessionClaims {
                user_id: SUB.into(),
                session_id: Some(SID.into()),
                org_id: None,
                org_role: None,
                expires_at: T + 60,
                ..SessionClaims::default()
            }),
            "{key:?}"
        );
    }
    assert_eq!(outcome(&token, Key::Unrelated), "token-invalid-signature");
}

#[test]
fn form_and_base64url() {
    let valid = valid_token();
    let [h, p, s] = segments(&valid);
    // A header whose base64url form leaves 4 unused bits in its last character.
    let mut padded_header = json_bytes(&header());
    while padded_header.len() % 3 != 1 {
        padded_header.push(b' ');
    }
    let h2 = b64(&padded_header);
    assert_eq!(h2.len() % 4, 2);
    let dirty_last = |seg: &str| {
        // Sets the lowest unused bit of the last character (4 or 2 bits are unused).
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        assert_ne!(seg.len() % 4, 0, "no unused bits in {seg}");
        let last = seg.as_bytes()[seg.len() - 1];
        let index = ALPHABET.iter().position(|&c| c == last).unwrap();
        let dirty = char::from(ALPHABET[index | 1]);
        assert_ne!(dirty, char::from(last));
        format!("{}{dirty}", &seg[..seg.len() - 1])
    };
    let padded_signed = sign_segments(&h2, &p);
    let [_, _, padded_sig] = segments(&padded_signed);
    assert_eq!(s.len() % 4, 2, "a 2048-bit signature is 342 characters");
    run(vec![
        both("empty string", String::new(), "token-invalid"),
        both("one segment", "abc".into(), "token-invalid"),
        both("one segment, a real header", h.clone(), "token-invalid"),
        both("two segments", format!("{h}.{p}"), "token-invalid"),
        both("four segments", format!("{valid}.{s}"), "token-invalid"),
        both("trailing dot", format!("{valid}."), "token-invalid"),
        both("three empty segments", "..".into(), "token-invalid"),
        both("not-a-jwt", "not-a-jwt".into(), "token-invalid"),
        both("aaa.bbb.ccc", "aaa.bbb.ccc".into(), "token-invalid"),
        both(
            "standard base64 '+' in the header",
            format!("+{}.{p}.{s}", &h[1..]),
            "token-invalid",
        ),
        both(
            "standard base64 '/' in the payload",
            format!("{h}./{}.{s}", &p[1..]),
            "token-invalid",
        ),
        both(
            "'*' in the signature",
            format!("{h}.{p}.*{}", &s[1..]),
            "token-invalid",
        ),
        both(
            "space in the header",
            format!("{} {}.{p}.{s}", &h[..4], &h[4..]),
            "token-invalid",
        ),
        both(
            "'=' inside the payload",
            format!("{h}.{}={}.{s}", &p[..4], &p[4..]),
            "token-invalid",
        ),
        both(
            "percent-encoded header",
            format!("%65{}.{p}.{s}", &h[1..]),
            "token-invalid",
        ),
        // Length 4k+1 cannot be base64: refused at decode, before the signature.
        both(
            "signature one character short (length 4k+1)",
            format!("{h}.{p}.{}", &s[..s.len() - 1]),
            "token-invalid",
        ),
        both(
            "signature with 3 extra characters (length 4k+1)",
            format!("{h}.{p}.{s}AAA"),
            "token-invalid",
        ),
        // Non-zero leftover bits are refused, even where the bytes would be the same.
        both(
            "nonzero padding bits in the signature",
            format!("{h}.{p}.{}", dirty_last(&s)),
            "token-invalid",
        ),
        both(
            "signed header segment with nonzero padding bits",
            {
                let [_, p2, s2] = segments(&padded_signed);
                format!("{}.{p2}.{s2}", dirty_last(&h2))
            },
            "token-invalid",
        ),
        both(
            "the same header with clean padding bits",
            padded_signed.clone(),
            "ok",
        ),
        // Trailing '=' are ignored (lenient base64url), but the signature covers the
        // segments as sent.
        both(
            "signature with '==' padding",
            format!("{h}.{p}.{s}=="),
            "ok",
        ),
        both(
            "signature with a run of '='",
            format!("{h}.{p}.{s}====="),
            "ok",
        ),
        both(
            "header signed with '==' padding",
            sign_segments(&format!("{h2}=="), &p),
            "ok",
        ),
        both(
            "'==' added after signing",
            format!("{h2}==.{p}.{padded_sig}"),
            "token-invalid-signature",
        ),
    ]);
}

#[test]
fn header_and_payload_json() {
    let payload = json_bytes(&claims());
    let mut bom_header = "\u{feff}".as_bytes().to_vec();
    bom_header.extend(json_bytes(&header()));
    let mut bad_utf8 = br#"{"sub":"user_"#.to_vec();
    bad_utf8.push(0xff);
    bad_utf8.extend_from_slice(format!(r#"","exp":{}}}"#, T + 60).as_bytes());
    run(vec![
        both(
            "header not JSON",
            sign_raw(b"not json", &payload),
            "token-invalid",
        ),
        both(
            "header truncated JSON",
            sign_raw(br#"{"alg":"RS256""#, &payload),
            "token-invalid",
        ),
        both(
            "payload not JSON",
            sign_raw(&json_bytes(&header()), b"{sub: user}"),
            "token-invalid",
        ),
        both("header empty", sign_raw(b"", &payload), "token-invalid"),
        both("header null", sign_raw(b"null", &payload), "token-invalid"),
        case(
            "header an array",
            sign_raw(b"[\"RS256\"]", &payload),
            &[
                (Key::Pem, "token-invalid-algorithm"),
                (Key::Jwks, "jwk-kid-mismatch"),
            ],
        ),
        case(
            "header a string",
            sign_raw(b"\"RS256\"", &payload),
            &[
                (Key::Pem, "token-invalid-algorithm"),
                (Key::Jwks, "jwk-kid-mismatch"),
            ],
        ),
        case(
            "header a number",
            sign_raw(b"256", &payload),
            &[
                (Key::Pem, "token-invalid-algorithm"),
                (Key::Jwks, "jwk-kid-mismatch"),
            ],
        ),
        case(
            "header an empty object",
            sign_raw(b"{}", &payload),
            &[
                (Key::Pem, "token-invalid-algorithm"),
                (Key::Jwks, "jwk-kid-mismatch"),
            ],
        ),
        // TextDecoder drops a leading BOM before JSON.parse.
        both(
            "header with a UTF-8 BOM",
            sign_raw(&bom_header, &payload),
            "ok",
        ),
        // TextDecoder replaces invalid UTF-8; the JSON still parses.
        both(
            "payload with invalid UTF-8",
            sign_raw(&json_bytes(&header()), &bad_utf8),
            "ok",
        ),
        // A signed payload that is not an object has no string `sub`.
        both(
            "payload an array",
            sign_raw(&json_bytes(&header()), b"[]"),
            "token-verification-failed",
        ),
        both(
            "payload a string",
            sign_raw(&json_bytes(&header()), b"\"user_1\""),
            "token-verification-failed",
        ),
        both(
            "payload null",
            sign_raw(&json_bytes(&header()), b"null"),
            "token-verification-failed",
        ),
    ]);
    // Invalid UTF-8 becomes U+FFFD in the identity, as in JavaScript.
    let v = verify_with(
        &sign_raw(&json_bytes(&header()), &bad_utf8),
        Key::Pem,
        &default_rules(),
    );
    let Verification::Verified(claims) = v else {
        panic!("{v:?}")
    };
    assert_eq!(claims.user_id, "user_\u{fffd}");
}

#[test]
fn header_typ_cat_and_kid() {
    let c = claims();
    let h = header();
    run(vec![
        both(
            "typ at+jwt",
            sign(&with(h.clone(), "typ", Some(json!("at+jwt"))), &c),
            "token-invalid",
        ),
        both(
            "typ lowercase jwt",
            sign(&with(h.clone(), "typ", Some(json!("jwt"))), &c),
            "token-invalid",
        ),
        both(
            "typ null",
            sign(&with(h.clone(), "typ", Some(Value::Null)), &c),
            "token-invalid",
        ),
        both(
            "typ a number",
            sign(&with(h.clone(), "typ", Some(json!(1))), &c),
            "token-invalid",
        ),
        both("typ absent", sign(&with(h.clone(), "typ", None), &c), "ok"),
        // typ is checked before alg.
        both(
            "typ at+jwt and alg none",
            sign(&json!({"alg": "none", "kid": KID, "typ": "at+jwt"}), &c),
            "token-invalid",
        ),
        both(
            "machine token (cat cl_B7d4PD333AAA)",
            sign(&with(h.clone(), "cat", Some(json!("cl_B7d4PD333AAA"))), &c),
            "token-invalid",
        ),
        // Decode-time refusal: even with a bad signature, even with an unknown kid.
        both(
            "machine token, unknown kid, bad signature",
            {
                let t = sign(
                    &json!({"alg": "RS256", "kid": "ins_unknown", "cat": "cl_B7d4PD333AAA"}),
                    &c,
                );
                let [h1, p1, _] = segments(&t);
                let [_, _, s1] = segments(&fixture().mock_jwt);
                format!("{h1}.{p1}.{s1}")
            },
            "token-invalid",
        ),
        both(
            "another cat value",
            sign(&with(h.clone(), "cat", Some(json!("cl_session"))), &c),
            "ok",
        ),
        case(
            "unknown kid",
            sign(&with(h.clone(), "kid", Some(json!("ins_unknown"))), &c),
            &[
                (Key::Pem, "ok"),
                (Key::Jwks, "jwk-kid-mismatch"),
                (Key::JwksNoAlg, "jwk-kid-mismatch"),
            ],
        ),
        case(
            "kid absent",
            sign(&with(h.clone(), "kid", None), &c),
            &[(Key::Pem, "ok"), (Key::Jwks, "jwk-kid-mismatch")],
        ),
        case(
            "kid a number",
            sign(&with(h.clone(), "kid", Some(json!(1))), &c),
            &[(Key::Pem, "ok"), (Key::Jwks, "jwk-kid-mismatch")],
        ),
        // Key resolution comes before the alg check: an unknown kid wins over a bad alg.
        case(
            "unknown kid and alg none",
            sign(&json!({"alg": "none", "kid": "ins_unknown"}), &c),
            &[
                (Key::Pem, "token-invalid-algorithm"),
                (Key::Jwks, "jwk-kid-mismatch"),
            ],
        ),
        // Remote key hints are never followed: the key is still picked by kid from the
        // configured JWKS (the core has no network at all).
        both(
            "jku and x5u headers",
            sign(
                &with(
                    with(
                        h.clone(),
                        "jku",
                        Some(json!("https://attacker.example/jwks.json")),
                    ),
                    "x5u",
                    Some(json!("https://attacker.example/cert.pem")),
                ),
                &c,
            ),
            "ok",
        ),
        // RFC 7515 says to refuse unknown critical parameters; @clerk/backend ignores crit.
        both(
            "crit header",
            sign(
                &with(
                    with(h.clone(), "crit", Some(json!(["exp", "b64"]))),
                    "b64",
                    Some(json!(false)),
                ),
                &c,
            ),
            "ok",
        ),
    ]);
}

#[test]
fn algorithms_and_confusion_attacks() {
    let f = fixture();
    let c = claims();
    let hs256 = {
        // The classic confusion attack: HMAC keyed with the public key's PEM text.
        let h = b64(&json_bytes(&header_with("HS256")));
        let p = b64(&json_bytes(&c));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(f.public_pem.as_bytes()).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        (h, p, mac.finalize().into_bytes().to_vec())
    };
    let rs256_with_hmac = {
        let h = b64(&json_bytes(&header()));
        let p = b64(&json_bytes(&c));
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(f.public_pem.as_bytes()).unwrap();
        mac.update(format!("{h}.{p}").as_bytes());
        format!("{h}.{p}.{}", b64(&mac.finalize().into_bytes()))
    };
    let rs384_header_rs256_signature = {
        let t = sign(&header(), &c);
        let [_, p, s] = segments(&t);
        let h = b64(&json_bytes(&header_with("RS384")));
        // Signature over another header: must not verify whatever the key.
        format!("{h}.{p}.{s}")
    };
    let rs384_header_signed_as_rs256 = sign_alg(Rsa::rs256(), &header_with("RS384"), &c);
    let unsigned = |alg: Value| format!("{}.{}.", b64(&json_bytes(&alg)), b64(&json_bytes(&c)));
    run(vec![
        both(
            "alg none, empty signature",
            unsigned(json!({"alg": "none", "kid": KID, "typ": "JWT"})),
            "token-invalid-algorithm",
        ),
        both(
            "alg None (other case)",
            unsigned(json!({"alg": "None", "kid": KID})),
            "token-invalid-algorithm",
        ),
        both(
            "alg none with a valid RS256 signature",
            {
                let [_, p, s] = segments(&valid_token());
                format!("{}.{p}.{s}", b64(&json_bytes(&header_with("none"))))
            },
            "token-invalid-algorithm",
        ),
        both(
            "HS256 keyed with the public PEM",
            format!("{}.{}.{}", hs256.0, hs256.1, b64(&hs256.2)),
            "token-invalid-algorithm",
        ),
        both(
            "RS256 header, HMAC signature",
            rs256_with_hmac,
            "token-invalid-signature",
        ),
        both(
            "PS256 with a real PSS signature",
            sign_alg(Rsa::ps256(), &header_with("PS256"), &c),
            "token-invalid-algorithm",
        ),
        both(
            "ES256",
            format!(
                "{}.{}.{}",
                b64(&json_bytes(&header_with("ES256"))),
                b64(&json_bytes(&c)),
                b64(&[7u8; 64])
            ),
            "token-invalid-algorithm",
        ),
        both(
            "alg missing",
            sign(&with(header(), "alg", None), &c),
            "token-invalid-algorithm",
        ),
        both(
            "alg lowercase rs256",
            sign(&header_with("rs256"), &c),
            "token-invalid-algorithm",
        ),
        both(
            "alg a number",
            sign(&with(header(), "alg", Some(json!(256))), &c),
            "token-invalid-algorithm",
        ),
        both(
            "alg an array",
            sign(&with(header(), "alg", Some(json!(["RS256"]))), &c),
            "token-invalid-algorithm",
        ),
        // RS384/RS512 by the right key: only a JWK without alg may verify them; the PEM key
        // (an RS256 JWK in @clerk/backend) and the RS256 JWK fail to import.
        case(
            "RS384 signed by the right key",
            sign_alg(Rsa::rs384(), &header_with("RS384"), &c),
            &[
                (Key::Pem, "token-verification-failed"),
                (Key::Jwks, "token-verification-failed"),
                (Key::JwksNoAlg, "ok"),
                (Key::Unrelated, "token-verification-failed"),
            ],
        ),
        case(
            "RS512 signed by the right key",
            sign_alg(Rsa::rs512(), &header_with("RS512"), &c),
            &[
                (Key::Pem, "token-verification-failed"),
                (Key::Jwks, "token-verification-failed"),
                (Key::JwksNoAlg, "ok"),
            ],
        ),
        case(
            "RS256 with a JWK without alg",
            valid_token(),
            &[(Key::JwksNoAlg, "ok")],
        ),
        case(
            "RS384 header, RS256 signature over it",
            rs384_header_signed_as_rs256,
            &[
                (Key::Pem, "token-verification-failed"),
                (Key::JwksNoAlg, "token-invalid-signature"),
            ],
        ),
        case(
            "RS384 header, spliced RS256 signature",
            rs384_header_rs256_signature,
            &[(Key::JwksNoAlg, "token-invalid-signature")],
        ),
        // The alg check comes before the signature, so even a garbage signature gives the
        // alg answer.
        both(
            "HS512 with an empty signature",
            unsigned(header_with("HS512")),
            "token-invalid-algorithm",
        ),
    ]);
}

#[test]
fn signatures() {
    let f = fixture();
    let valid = valid_token();
    let [h, p, s] = segments(&valid);
    let [_, _, mock_sig] = segments(&f.mock_jwt);
    let other = sign(&header(), &with(claims(), "sub", Some(json!("user_other"))));
    let [_, _, other_sig] = segments(&other);
    let [_, other_p, _] = segments(&other);
    let sig_bytes = URL_SAFE_NO_PAD.decode(&s).unwrap();
    let mut flipped = sig_bytes.clone();
    flipped[100] ^= 0x01;
    let mut longer = sig_bytes.clone();
    longer.push(0);
    run(vec![
        both(
            "truncated signature (last 3 bytes)",
            format!("{h}.{p}.{}", b64(&sig_bytes[..sig_bytes.len() - 3])),
            "token-invalid-signature",
        ),
        both(
            "truncated signature at a 4-character boundary",
            format!("{h}.{p}.{}", &s[..s.len() - s.len() % 4]),
            "token-invalid-signature",
        ),
        // Cut anywhere else, the last character keeps nonzero unused bits: not base64url.
        both(
            "truncated signature (4 characters)",
            format!("{h}.{p}.{}", &s[..s.len() - 4]),
            "token-invalid",
        ),
        both(
            "signature cut in half",
            format!("{h}.{p}.{}", &s[..s.len() / 2 - (s.len() / 2) % 4]),
            "token-invalid-signature",
        ),
        both(
            "empty signature",
            format!("{h}.{p}."),
            "token-invalid-signature",
        ),
        both(
            "signature of Clerk's mockJwt spliced",
            format!("{h}.{p}.{mock_sig}"),
            "token-invalid-signature",
        ),
        both(
            "signature of another token spliced",
            format!("{h}.{p}.{other_sig}"),
            "token-invalid-signature",
        ),
        both(
            "payload of another token spliced",
            format!("{h}.{other_p}.{s}"),
            "token-invalid-signature",
        ),
        both(
            "one bit flipped in the signature",
            format!("{h}.{p}.{}", b64(&flipped)),
            "token-invalid-signature",
        ),
        both(
            "a zero byte appended to the signature",
            format!("{h}.{p}.{}", b64(&longer)),
            "token-invalid-signature",
        ),
        both(
            "all-zero signature",
            format!("{h}.{p}.{}", b64(&[0u8; 256])),
            "token-invalid-signature",
        ),
        both(
            "all-ones signature",
            format!("{h}.{p}.{}", b64(&[0xffu8; 256])),
            "token-invalid-signature",
        ),
        case(
            "valid token, unrelated key",
            valid.clone(),
            &[(Key::Unrelated, "token-invalid-signature")],
        ),
        // Signature before claims: a tampered token with broken claims says so.
        both(
            "tampered payload without sub",
            format!("{h}.{}.{s}", b64(&json_bytes(&with(claims(), "sub", None)))),
            "token-invalid-signature",
        ),
        // An attacker's own key embedded in the header is never used.
        both(
            "embedded jwk header, signed by the attacker's key",
            {
                let pk = weak_key().to_public_key();
                let jwk = json!({
                    "kty": "RSA",
                    "n": b64(&pk.n().to_bytes_be()),
                    "e": b64(&pk.e().to_bytes_be()),
                });
                let hdr = with(header(), "jwk", Some(jwk));
                sign_segments_with(
                    &b64(&json_bytes(&hdr)),
                    &b64(&json_bytes(&claims())),
                    Rsa::rs256(),
                    weak_key(),
                )
            },
            "token-invalid-signature",
        ),
    ]);
}

#[test]
fn weak_rsa_keys_are_refused() {
    let weak = weak_key();
    let public = weak.to_public_key();
    assert_eq!(public.n().bits(), 1024);
    let token = sign_segments_with(
        &b64(&json_bytes(&with(header(), "kid", Some(json!("weak"))))),
        &b64(&json_bytes(&claims())),
        Rsa::rs256(),
        weak,
    );
    let jwk = json!({
        "kty": "RSA", "use": "sig", "kid": "weak", "alg": "RS256",
        "n": b64(&public.n().to_bytes_be()),
        "e": b64(&public.e().to_bytes_be()),
    });
    for jwk in [jwk.clone(), with(jwk, "alg", None)] {
        let key = keys::parse_jwk(&jwk);
        assert!(
            matches!(
                key.for_algorithm("RS256"),
                Err(KeyError::WeakKey { bits: 1024 })
            ),
            "{jwk}"
        );
        let v = verify_session_token(&token, KeySource::Jwks(Some(&key)), &default_rules());
        assert_eq!(code(&v), "token-verification-failed", "{jwk}");
        // Through a JWKS document too.
        let doc = serde_json::to_vec(&json!({ "keys": [jwk] })).unwrap();
        let mut cache = JwksCache::new();
        cache.record_success(keys::parse_jwks(&doc).unwrap(), 0);
        let found = resolve(&cache, &token).expect("kid found");
        let v = verify_session_token(&token, KeySource::Jwks(Some(&found)), &default_rules());
        assert_eq!(code(&v), "token-verification-failed");
    }
    let pem = public.to_public_key_pem(LineEnding::LF).unwrap();
    assert_eq!(
        keys::parse_pem(&pem).unwrap_err(),
        KeyError::WeakKey { bits: 1024 }
    );
    // As CLERK_JWT_KEY: a configuration problem, so requests fail closed.
    let config = Config::from_env(&|name: &str| (name == "CLERK_JWT_KEY").then(|| pem.clone()));
    assert!(matches!(config.keys, KeyConfig::None));
    assert_eq!(
        config
            .problems
            .iter()
            .map(|p| p.variable)
            .collect::<Vec<_>>(),
        ["CLERK_JWT_KEY"]
    );
    assert!(!config.problems[0].problem.contains(&pem));
}

// ---------------------------------------------------------------------------------------
// Claims

fn signed_claims(payload: &Value) -> String {
    sign(&header(), payload)
}

#[test]
fn claim_types_and_order() {
    let c = claims();
    let token = |payload: Value| signed_claims(&payload);
    run(vec![
        both(
            "sub missing",
            token(with(c.clone(), "sub", None)),
            "token-verification-failed",
        ),
        both(
            "sub a number",
            token(with(c.clone(), "sub", Some(json!(42)))),
            "token-verification-failed",
        ),
        both(
            "sub null",
            token(with(c.clone(), "sub", Some(Value::Null))),
            "token-verification-failed",
        ),
        both(
            "sub an object",
            token(with(c.clone(), "sub", Some(json!({"id": SUB})))),
            "token-verification-failed",
        ),
        both(
            "sub an empty string (still a string)",
            token(with(c.clone(), "sub", Some(json!("")))),
            "ok",
        ),
        both(
            "exp a string",
            token(with(c.clone(), "exp", Some(json!((T + 60).to_string())))),
            "token-verification-failed",
        ),
        both(
            "exp missing",
            token(with(c.clone(), "exp", None)),
            "token-verification-failed",
        ),
        both(
            "exp null",
            token(with(c.clone(), "exp", Some(Value::Null))),
            "token-verification-failed",
        ),
        both(
            "exp a boolean",
            token(with(c.clone(), "exp", Some(json!(true)))),
            "token-verification-failed",
        ),
        both(
            "nbf a string",
            token(with(c.clone(), "nbf", Some(json!("0")))),
            "token-verification-failed",
        ),
        both(
            "iat a string",
            token(with(c.clone(), "iat", Some(json!("0")))),
            "token-verification-failed",
        ),
        both(
            "nbf and iat absent",
            token(with(with(c.clone(), "nbf", None), "iat", None)),
            "ok",
        ),
        both(
            "exp fractional",
            token(with(c.clone(), "exp", Some(json!(T as f64 + 60.5)))),
            "ok",
        ),
        // `new Date(0).setUTCSeconds(1e16)` is NaN: every comparison is false, so such a
        // token never expires in @clerk/backend either.
        both(
            "exp beyond JavaScript's Date range",
            token(with(c.clone(), "exp", Some(json!(1e16)))),
            "ok",
        ),
        both(
            "exp in the past",
            token(with(c.clone(), "exp", Some(json!(T - 3600)))),
            "token-expired",
        ),
        both(
            "exp 0",
            token(with(c.clone(), "exp", Some(json!(0)))),
            "token-expired",
        ),
        both(
            "exp negative",
            token(with(c.clone(), "exp", Some(json!(-1)))),
            "token-expired",
        ),
        // Order: sub, then exp, then nbf, then iat.
        both(
            "sub missing and expired",
            token(with(
                with(c.clone(), "sub", None),
                "exp",
                Some(json!(T - 3600)),
            )),
            "token-verification-failed",
        ),
        both(
            "expired and nbf in the future",
            token(with(
                with(c.clone(), "exp", Some(json!(T - 3600))),
                "nbf",
                Some(json!(T + 3600)),
            )),
            "token-expired",
        ),
        both(
            "expired and nbf a string",
            token(with(
                with(c.clone(), "exp", Some(json!(T - 3600))),
                "nbf",
                Some(json!("x")),
            )),
            "token-expired",
        ),
        both(
            "nbf and iat in the future",
            token(with(
                with(c.clone(), "nbf", Some(json!(T + 3600))),
                "iat",
                Some(json!(T + 3600)),
            )),
            "token-not-active-yet",
        ),
        both(
            "iat in the future only",
            token(with(c.clone(), "iat", Some(json!(T + 3600)))),
            "token-iat-in-the-future",
        ),
    ]);
}

/// exp / nbf / iat at -1 s, -1 ms, 0 and +1 s around the skew boundary, with the default
/// 5000 ms skew and with none.
#[test]
fn time_claim_boundaries() {
    let bare = with(with(claims(), "nbf", None), "iat", None);
    let mut checked = 0;
    for skew in [SKEW_MS, 0] {
        // Expired iff exp*1000 <= now - skew.
        let token = signed_claims(&with(bare.clone(), "exp", Some(json!(T))));
        for (delta, expected) in [
            (-1000, "ok"),
            (-1, "ok"),
            (0, "token-expired"),
            (1, "token-expired"),
            (1000, "token-expired"),
        ] {
            let now = T * 1000 + skew + delta;
            let v = verify_with(&token, Key::Pem, &rules(now, skew, &[]));
            assert_eq!(code(&v), expected, "exp: skew {skew}, delta {delta}");
            checked += 1;
        }
        // Not active yet iff nbf*1000 > now + skew; iat likewise.
        for (claim, reason) in [
            ("nbf", "token-not-active-yet"),
            ("iat", "token-iat-in-the-future"),
        ] {
            let token = signed_claims(&with(
                with(bare.clone(), "exp", Some(json!(T + 3600))),
                claim,
                Some(json!(T)),
            ));
            for (delta, expected) in [
                (-1000, reason),
                (-1, reason),
                (0, "ok"),
                (1, "ok"),
                (1000, "ok"),
            ] {
                let now = T * 1000 - skew + delta;
                let v = verify_with(&token, Key::Jwks, &rules(now, skew, &[]));
                assert_eq!(code(&v), expected, "{claim}: skew {skew}, delta {delta}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 3 * 5);

    // Seconds are truncated first, as `setUTCSeconds` does: exp 1000.9 is exp 1000.
    let token = signed_claims(&with(bare.clone(), "exp", Some(json!(T as f64 + 0.9))));
    let v = verify_with(
        &token,
        Key::Pem,
        &rules(T * 1000 + SKEW_MS + 500, SKEW_MS, &[]),
    );
    assert_eq!(code(&v), "token-expired");
    let v = verify_with(
        &token,
        Key::Pem,
        &rules(T * 1000 + SKEW_MS - 1, SKEW_MS, &[]),
    );
    assert_eq!(code(&v), "ok");
}

/// A validly signed token refused only for a time claim keeps its identity (for `grace`);
/// any other refusal carries none.
#[test]
fn time_refusals_keep_the_signed_identity() {
    let parties = vec![AZP.to_owned()];
    let expired = signed_claims(&with(claims(), "exp", Some(json!(T - 10))));
    let v = verify_with(&expired, Key::Pem, &default_rules());
    match &v {
        Verification::Rejected {
            error: TokenError::Expired,
            signed: Some(identity),
        } => {
            assert_eq!(identity.user_id, SUB);
            assert_eq!(identity.session_id.as_deref(), Some(SID));
            assert_eq!(identity.expires_at, T - 10);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(v.identity().map(|c| c.user_id.as_str()), Some(SUB));
    for (payload, error) in [
        (
            with(claims(), "nbf", Some(json!(T + 60))),
            TokenError::NotActiveYet,
        ),
        (
            with(claims(), "iat", Some(json!(T + 60))),
            TokenError::IatInTheFuture,
        ),
    ] {
        let v = verify_with(&signed_claims(&payload), Key::Pem, &default_rules());
        assert!(
            matches!(&v, Verification::Rejected { error: e, signed: Some(_) } if *e == error),
            "{v:?}"
        );
    }
    // azp is checked before exp: an expired token for another party has no identity.
    let other_party = signed_claims(&with(
        with(claims(), "exp", Some(json!(T - 10))),
        "azp",
        Some(json!("https://evil.example")),
    ));
    let v = verify_with(&other_party, Key::Pem, &rules(NOW_MS, SKEW_MS, &parties));
    assert_eq!(
        v,
        Verification::Rejected {
            error: TokenError::InvalidAuthorizedParties,
            signed: None
        }
    );
    // A forged token never carries an identity.
    let [h, p, _] = segments(&expired);
    let [_, _, s] = segments(&fixture().mock_jwt);
    let v = verify_with(&format!("{h}.{p}.{s}"), Key::Pem, &default_rules());
    assert_eq!(
        v,
        Verification::Rejected {
            error: TokenError::InvalidSignature,
            signed: None
        }
    );
    assert!(v.identity().is_none());
    for bad in ["", "x.y.z", "not-a-jwt"] {
        let v = verify_with(bad, Key::Pem, &default_rules());
        assert!(v.identity().is_none(), "{bad}");
    }
}

#[test]
fn authorized_parties() {
    let parties = vec![AZP.to_owned(), "https://other.example.com".to_owned()];
    let mut checked = 0;
    for (azp, with_parties, without_parties) in [
        (Some(json!(AZP)), "ok", "ok"),
        (Some(json!("https://other.example.com")), "ok", "ok"),
        (None, "token-invalid-authorized-parties", "ok"),
        (
            Some(json!("https://evil.example")),
            "token-invalid-authorized-parties",
            "ok",
        ),
        (
            Some(json!(format!("{AZP}/"))),
            "token-invalid-authorized-parties",
            "ok",
        ),
        (
            Some(json!(AZP.to_uppercase())),
            "token-invalid-authorized-parties",
            "ok",
        ),
        (
            Some(json!("https://app.example.com:443")),
            "token-invalid-authorized-parties",
            "ok",
        ),
        (Some(json!("")), "token-invalid-authorized-parties", "ok"),
        (Some(json!(1)), "token-invalid-authorized-parties", "ok"),
        (Some(Value::Null), "token-invalid-authorized-parties", "ok"),
    ] {
        let token = signed_claims(&with(claims(), "azp", azp.clone()));
        let v = verify_with(&token, Key::Jwks, &rules(NOW_MS, SKEW_MS, &parties));
        assert_eq!(code(&v), with_parties, "azp {azp:?} with parties");
        let v = verify_with(&token, Key::Jwks, &default_rules());
        assert_eq!(code(&v), without_parties, "azp {azp:?} without parties");
        checked += 1;
    }
    assert_eq!(checked, 10);
    // A trailing slash in the configured party does not match either.
    let slash = vec![format!("{AZP}/")];
    let v = verify_with(&valid_token(), Key::Pem, &rules(NOW_MS, SKEW_MS, &slash));
    assert_eq!(code(&v), "token-invalid-authorized-parties");
    // sub is checked before azp.
    let token = signed_claims(&with(with(claims(), "sub", None), "azp", None));
    let v = verify_with(&token, Key::Pem, &rules(NOW_MS, SKEW_MS, &parties));
    assert_eq!(code(&v), "token-verification-failed");
}

#[test]
fn oversized_tokens_are_refused_before_parsing() {
    assert_eq!(MAX_TOKEN_BYTES, 16 * 1024);
    // A validly signed token of exactly `len` bytes, grown with a padding claim.
    let signed_of_len = |len: usize| -> String {
        for spaces in 0..4 {
            let mut h = json_bytes(&header());
            h.extend(std::iter::repeat_n(b' ', spaces));
            let h = b64(&h);
            let base = json_bytes(&with(claims(), "pad", Some(json!(""))));
            let fixed = h.len() + 2 + 342;
            for n in 0..len {
                let payload_len = (4 * (base.len() + n)).div_ceil(3);
                if fixed + payload_len == len {
                    let p = json_bytes(&with(claims(), "pad", Some(json!("x".repeat(n)))));
                    let token = sign_segments(&h, &b64(&p));
                    assert_eq!(token.len(), len);
                    return token;
                }
                if fixed + payload_len > len {
                    break;
                }
            }
        }
        panic!("no token of length {len}")
    };
    let at_limit = signed_of_len(MAX_TOKEN_BYTES);
    assert_eq!(outcome(&at_limit, Key::Pem), "ok");
    assert_eq!(outcome(&at_limit, Key::Jwks), "ok");
    let over = signed_of_len(MAX_TOKEN_BYTES + 1);
    assert_eq!(outcome(&over, Key::Pem), "token-invalid");
    assert_eq!(outcome(&over, Key::Jwks), "token-invalid");
    assert_eq!(token::decode(&over).unwrap_err(), TokenError::Invalid);
    let huge = "a".repeat(1 << 20);
    assert_eq!(outcome(&huge, Key::Pem), "token-invalid");
    assert_eq!(
        outcome(&format!("{huge}.{huge}.{huge}"), Key::Jwks),
        "token-invalid"
    );
}

#[test]
fn v1_and_v2_claims_are_normalised() {
    let verified = |payload: Value| -> SessionClaims {
        match verify_with(&signed_claims(&payload), Key::Pem, &default_rules()) {
            Verification::Verified(c) => c,
            other => panic!("{payload}: {other:?}"),
        }
    };
    let base = claims();
    // v1: flat org claims, role already prefixed.
    let v1 = verified(with(
        with(
            with(base.clone(), "org_id", Some(json!("org_1"))),
            "org_role",
            Some(json!("org:admin")),
        ),
        "org_slug",
        Some(json!("acme")),
    ));
    assert_eq!(
        v1,
        SessionClaims {
            user_id: SUB.into(),
            session_id: Some(SID.into()),
            org_id: Some("org_1".into()),
            org_role: Some("org:admin".into()),
            org_slug: Some("acme".into()),
            expires_at: T + 60,
            ..SessionClaims::default()
        }
    );
    // v2: `o` object, role without prefix.
    let v2 = verified(with(
        with(base.clone(), "v", Some(json!(2))),
        "o",
        Some(json!({"id": "org_2", "rol": "admin", "slg": "acme", "per": "read,manage"})),
    ));
    assert_eq!(v2.org_id.as_deref(), Some("org_2"));
    assert_eq!(v2.org_role.as_deref(), Some("org:admin"));
    assert_eq!(v2.user_id, SUB);
    assert_eq!(v2.session_id.as_deref(), Some(SID));
    // v2 custom role keeps one prefix.
    let v2_custom = verified(with(
        with(base.clone(), "v", Some(json!(2))),
        "o",
        Some(json!({"id": "org_3", "rol": "billing_manager"})),
    ));
    assert_eq!(v2_custom.org_role.as_deref(), Some("org:billing_manager"));
    // v2 without an active organization.
    let v2_none = verified(with(base.clone(), "v", Some(json!(2))));
    assert_eq!((v2_none.org_id, v2_none.org_role), (None, None));
    // v1 without organization, no sid.
    let bare = verified(with(base.clone(), "sid", None));
    assert_eq!(bare.session_id, None);
    assert_eq!((bare.org_id, bare.org_role), (None, None));
    // v2 ignores the v1 names, v1 ignores `o`.
    let v2_mixed = verified(with(
        with(
            with(base.clone(), "v", Some(json!(2))),
            "o",
            Some(json!({"id": "org_v2", "rol": "member"})),
        ),
        "org_id",
        Some(json!("org_v1")),
    ));
    assert_eq!(v2_mixed.org_id.as_deref(), Some("org_v2"));
    assert_eq!(v2_mixed.org_role.as_deref(), Some("org:member"));
    let v1_with_o = verified(with(
        base.clone(),
        "o",
        Some(json!({"id": "org_x", "rol": "admin"})),
    ));
    assert_eq!(v1_with_o.org_id, None);
}

// ---------------------------------------------------------------------------------------
// Where the token is found

/// Where a token was found, owned.
type Found = Option<(String, TokenLocation)>;

fn found(authorization: Option<&str>, cookie: Option<&str>, ctx: &CookieContext<'_>) -> Found {
    find_session_token(authorization, cookie, ctx).map(|(t, l)| (Cow::into_owned(t), l))
}

fn header_tok(t: &str) -> Found {
    Some((t.to_owned(), TokenLocation::Header))
}

fn cookie_tok(t: &str) -> Found {
    Some((t.to_owned(), TokenLocation::Cookie))
}

#[test]
fn token_source_without_a_publishable_key() {
    let ctx = CookieContext {
        now_ms: NOW_MS,
        ..CookieContext::default()
    };
    let cases: Vec<(Option<&str>, Option<&str>, Found)> = vec![
        (None, None, None),
        (Some("Bearer HDR"), Some("__session=CK"), header_tok("HDR")),
        (Some("Bearer HDR"), None, header_tok("HDR")),
        (
            Some("Basic dXNlcjpwYXNz"),
            Some("__session=CK"),
            cookie_tok("CK"),
        ),
        (Some("Basic x"), None, None),
        (Some("bearer HDR"), Some("__session=CK"), cookie_tok("CK")),
        (
            Some("RAWTOKEN"),
            Some("__session=CK"),
            header_tok("RAWTOKEN"),
        ),
        (Some("Bearer a b"), None, header_tok("a")),
        (Some(""), Some("__session=CK"), cookie_tok("CK")),
        (
            None,
            Some("__session=first; __session=second"),
            cookie_tok("first"),
        ),
        (None, Some("a=1;__session=tok ; b=2"), cookie_tok("tok")),
        // `cookie` 1.x keeps the quotes (0.x stripped them).
        (None, Some("__session=\"quoted\""), cookie_tok("\"quoted\"")),
        (None, Some("__session=\t tok\t "), cookie_tok("tok")),
        (None, Some("__session=a%zz%41"), cookie_tok("a%zz%41")),
        (None, Some("__session=a%2Eb"), cookie_tok("a.b")),
        (None, Some("__session="), None),
        (None, Some("__Session=x; session=y; __session_abc=z"), None),
        (None, Some("x__session=y"), None),
        // Without a publishable key, suffixed cookies are not consulted.
        (
            None,
            Some("__session_QvfNY2dr=s; __session=u"),
            cookie_tok("u"),
        ),
    ];
    let mut checked = 0;
    for (authorization, cookie, expected) in cases {
        assert_eq!(
            found(authorization, cookie, &ctx),
            expected,
            "authorization {authorization:?}, cookie {cookie:?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 19);
}

/// An unsigned JWT-shaped token: cookie selection only decodes, it never verifies.
fn shaped(payload: Value) -> String {
    format!(
        "{}.{}.c2ln",
        b64(&json_bytes(&header())),
        b64(&json_bytes(&payload))
    )
}

#[test]
fn suffixed_session_cookie_follows_clerks_rules() {
    let f = fixture();
    for (kind, production) in [("pk_test", false), ("pk_live", true)] {
        let pk = f.vectors["publishable_keys"][kind]
            .as_str()
            .unwrap()
            .to_owned();
        let pem = f.public_pem.clone();
        let config = Config::from_env(&move |name: &str| match name {
            "CLERK_JWT_KEY" => Some(pem.clone()),
            "CLERK_PUBLISHABLE_KEY" => Some(pk.clone()),
            _ => None,
        });
        let pk = config.publishable_key.expect("publishable key");
        assert_eq!(pk.production, production);
        let ctx = CookieContext {
            suffix: Some(&pk.cookie_suffix),
            frontend_api: Some(&pk.frontend_api),
            production: pk.production,
            now_ms: NOW_MS,
        };
        let sfx = &pk.cookie_suffix;
        let own = |iat: i64| shaped(json!({"iss": ISS, "iat": iat, "exp": T + 60, "sub": SUB}));
        let own_old = own(T - 100);
        let own_new = own(T - 10);
        let other_instance = shaped(json!({"iss": "https://clerk.other.example", "iat": T}));
        let no_iss = shaped(json!({"iat": T, "sub": SUB}));
        let expired_suffixed =
            shaped(json!({"iss": ISS, "iat": T - 100, "exp": T - 50, "sub": SUB}));
        let s = |name: &str, value: &str| format!("{name}_{sfx}={value}");

        let cases: Vec<(String, String, Found)> = vec![
            (
                "only __session of this instance".into(),
                format!("__session={own_new}"),
                cookie_tok(&own_new),
            ),
            (
                "__session of another instance: suffixed wins".into(),
                format!("__session={other_instance}; {}", s("__session", &own_new)),
                cookie_tok(&own_new),
            ),
            (
                "__session of another instance, no suffixed cookie".into(),
                format!("__session={other_instance}"),
                None,
            ),
            (
                "__session without iss: unsuffixed".into(),
                format!("__session={no_iss}; {}", s("__session", &own_new)),
                cookie_tok(&no_iss),
            ),
            (
                "__session not a JWT: unsuffixed".into(),
                format!("__session=garbage; {}", s("__session", &own_new)),
                cookie_tok("garbage"),
            ),
            (
                "both signed in, suffixed newer".into(),
                format!(
                    "__session={own_old}; {}; {}; __client_uat=1",
                    s("__session", &own_new),
                    s("__client_uat", "1")
                ),
                cookie_tok(&own_new),
            ),
            (
                "both signed in, unsuffixed newer".into(),
                format!(
                    "__session={own_new}; {}; {}; __client_uat=1",
                    s("__session", &own_old),
                    s("__client_uat", "1")
                ),
                cookie_tok(&own_new),
            ),
            (
                "suffixed uat 0, unsuffixed uat set".into(),
                format!(
                    "__session={own_old}; {}; {}; __client_uat=1",
                    s("__session", &own_new),
                    s("__client_uat", "0")
                ),
                cookie_tok(&own_old),
            ),
            (
                "suffixed session without suffixed uat".into(),
                format!("__session={own_old}; {}", s("__session", &own_new)),
                cookie_tok(&own_old),
            ),
            (
                "only suffixed cookies".into(),
                format!("{}; {}", s("__session", &own_new), s("__client_uat", "1")),
                cookie_tok(&own_new),
            ),
            (
                "suffixed uat 0, no unsuffixed uat: unsuffixed".into(),
                format!("__session={own_new}; {}", s("__client_uat", "0")),
                cookie_tok(&own_new),
            ),
            (
                "suffixed uat 1, unsuffixed uat 0, no suffixed session: signed out".into(),
                format!(
                    "__session={own_new}; __client_uat=0; {}",
                    s("__client_uat", "1")
                ),
                None,
            ),
            (
                "suffixed signed in and expired, unsuffixed uat 0".into(),
                format!(
                    "{}; {}; __client_uat=0",
                    s("__session", &expired_suffixed),
                    s("__client_uat", "1")
                ),
                // Development trusts the unsuffixed (absent) cookie; production the suffixed.
                if production {
                    cookie_tok(&expired_suffixed)
                } else {
                    None
                },
            ),
        ];
        for (name, cookie, expected) in cases {
            assert_eq!(
                found(None, Some(&cookie), &ctx),
                expected,
                "{kind}: {name}: {cookie}"
            );
            // The Authorization header still wins.
            assert_eq!(
                found(Some("Bearer HDR"), Some(&cookie), &ctx),
                header_tok("HDR"),
                "{kind}: {name}"
            );
        }
    }
}
