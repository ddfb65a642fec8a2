//! Native benchmarks of the core's hot paths (`bash scripts/bench.sh` runs them with the
//! rest; alone: `cargo bench --bench core`).
//!
//! - `token/fresh`: a token never seen before, pure-Rust RSA (what a cache miss costs where
//!   no WebCrypto is available; on the edge the RSA runs on WebCrypto instead);
//! - `token/cached`: the same token again (verified-token cache hit, claims re-checked);
//! - `token/junk/*`: tokens refused before any RSA, first sight (an empty cache each time);
//! - `webhook/verify`: a Svix-signed 1 KB Clerk event, HMAC and JSON parse;
//! - `cookie_path/*`: Clerk's cookie-path decision on top of a cached verification (the
//!   request's context read from its URL and cookies, then `authenticate`): `signed_in` (a
//!   valid `__session` and `__client_uat`), `handshake` (an expired one on a document GET:
//!   the redirect URL built).
//!
//! Tokens are signed with the demo key of `wrangler dev --env demo` (public on purpose).

use std::hint::black_box;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_edge_guard::auth::handshake::{authenticate, ClerkState, HandshakeContext, RequestParts};
use clerk_edge_guard::auth::keys::{self, VerifyingKey};
use clerk_edge_guard::auth::token::{verify_cached, ClaimRules, KeySource, MAX_TOKEN_BYTES};
use clerk_edge_guard::auth::verified_cache::VerifiedTokenCache;
use clerk_edge_guard::config::Config;
use clerk_edge_guard::webhook::{self, WebhookHeaders};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use jwt_compact::alg::Rsa;
use serde_json::json;

#[path = "../tests/support/demo_key.rs"]
mod demo_key;
use demo_key::{demo_key_pair, sign};

const NOW_S: i64 = 1_760_000_000;
const NOW_MS: i64 = NOW_S * 1000;
const SKEW_MS: i64 = 5000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The demo key pair, and a Clerk-shaped session token signed with it.
fn demo_token() -> (VerifyingKey, String) {
    let (private, public) = demo_key_pair();
    let key = keys::parse_pem(&public).expect("the demo public key");
    let header = json!({"alg": "RS256", "kid": "ins_demo", "typ": "JWT"});
    let claims = json!({
        "azp": "https://app.example.com", "exp": NOW_S + 60, "iat": NOW_S - 10,
        "iss": "https://clerk.example.com", "nbf": NOW_S - 20, "sid": "sess_2abc",
        "sub": "user_2abcdefghijklmnopqrstuvwxyz", "v": 2,
        "o": {"id": "org_2abc", "rol": "admin", "slg": "acme"},
    });
    (key, sign(&private, Rsa::rs256(), &header, &claims))
}

fn rules() -> ClaimRules<'static> {
    ClaimRules {
        authorized_parties: &[],
        clock_skew_ms: SKEW_MS,
        now_ms: NOW_MS,
    }
}

fn verify(cache: &mut VerifiedTokenCache, keys: KeySource<'_>, token: &str) -> bool {
    let settings = cache.settings_id("pem");
    let outcome = verify_cached(cache, settings, token, keys, &rules(), SKEW_MS);
    outcome.identity().is_some()
}

fn tokens(c: &mut Criterion) {
    let (key, token) = demo_token();
    let pem = KeySource::Pem(&key);
    let mut group = c.benchmark_group("token");
    group.bench_function("fresh", |b| {
        b.iter_batched_ref(
            VerifiedTokenCache::default,
            |cache| assert!(verify(cache, pem, black_box(&token))),
            BatchSize::SmallInput,
        )
    });
    let mut warm = VerifiedTokenCache::default();
    assert!(verify(&mut warm, pem, &token));
    group.bench_function("cached", |b| {
        b.iter(|| assert!(verify(&mut warm, pem, black_box(&token))))
    });

    let (header, payload) = token.split_once('.').unwrap_or_default();
    let payload = payload.split('.').next().unwrap_or_default();
    let alg_none = format!(
        "{}.{payload}.",
        b64(json!({"alg": "none", "typ": "JWT"}).to_string().as_bytes())
    );
    let rs384 = format!(
        "{}.{payload}.c2ln",
        b64(json!({"alg": "RS384", "typ": "JWT"}).to_string().as_bytes())
    );
    // Every kind is refused before any RSA (tests/verify_split.rs proves it).
    let junk = [
        ("garbage", "not-a-token".to_owned()),
        ("two_segments", format!("{header}.{payload}")),
        ("not_json", format!("{}.{payload}.c2ln", b64(b"{\"alg\":"))),
        ("alg_none", alg_none),
        ("oversized", "A".repeat(MAX_TOKEN_BYTES + 1)),
        ("alg_key_mismatch", rs384),
    ];
    for (name, junk) in &junk {
        group.bench_function(format!("junk/{name}"), |b| {
            b.iter_batched_ref(
                VerifiedTokenCache::default,
                |cache| assert!(!verify(cache, pem, black_box(junk))),
                BatchSize::SmallInput,
            )
        });
    }
    // A JWKS without the token's `kid`: refused once decoded.
    group.bench_function("junk/kid_unknown", |b| {
        b.iter_batched_ref(
            VerifiedTokenCache::default,
            |cache| assert!(!verify(cache, KeySource::Jwks(None), black_box(&token))),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn webhooks(c: &mut Criterion) {
    let secrets = webhook::parse_secrets("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let body = json!({
        "data": {
            "id": "user_29w83sxmDNGwOuEthce5gg56FcC",
            "object": "user",
            "email_addresses": [{"email_address": "example@example.org", "id": "idn_29w83yL7CwVlJXylYLxcslromF1"}],
            "first_name": "Example", "last_name": "Example",
            "created_at": 1654012591514_i64, "updated_at": 1654012591835_i64,
            "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
            "external_accounts": [], "phone_numbers": [], "web3_wallets": [],
            "image_url": "https://img.clerk.com/xxxxxx", "username": null,
        },
        "instance_id": "ins_123", "object": "event", "timestamp": 1654012591835_i64,
        "type": "user.created",
    })
    .to_string();
    let signature = secrets
        .first()
        .map(|secret| webhook::sign(secret, "msg_2abc", NOW_S, body.as_bytes()))
        .expect("one secret");
    let timestamp = NOW_S.to_string();
    let headers = WebhookHeaders {
        id: Some("msg_2abc"),
        timestamp: Some(&timestamp),
        signature: Some(&signature),
    };
    c.bench_function("webhook/verify", |b| {
        b.iter(|| {
            let verified =
                webhook::verify_webhook(&headers, black_box(body.as_bytes()), &secrets, NOW_S);
            assert!(verified.is_ok());
        })
    });
}

fn cookie_path(c: &mut Criterion) {
    let (key, token) = demo_token();
    let pem = KeySource::Pem(&key);
    let public = include_str!("../demo/demo-public-key.pem");
    // pk_live_ + base64("clerk.example.com$"): the demo token's issuer.
    let config = Config::from_pairs(&[
        ("CLERK_JWT_KEY", public),
        ("CLERK_PUBLISHABLE_KEY", "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k"),
    ]);
    let mut cache = VerifiedTokenCache::default();
    let settings = cache.settings_id("pem");
    let mut group = c.benchmark_group("cookie_path");
    for (name, now_ms, expect_handshake) in [
        ("signed_in", NOW_MS, false),
        ("handshake", NOW_MS + 3_600_000, true),
    ] {
        let cookie = format!(
            "__session={token}; __client_uat={}; theme=dark",
            NOW_S - 3600
        );
        let rules = ClaimRules { now_ms, ..rules() };
        group.bench_function(name, |b| {
            b.iter(|| {
                let parts = RequestParts {
                    method: "GET",
                    url: "https://app.example.com/dashboard?tab=orders",
                    host: Some("app.example.com"),
                    cookie: Some(black_box(&cookie)),
                    sec_fetch_dest: Some("document"),
                    accept: Some("text/html"),
                    ..RequestParts::default()
                };
                let ctx = HandshakeContext::read(&config, &parts, now_ms).expect("a context");
                let session = ctx.session_token.as_deref().unwrap_or_default();
                let verified = verify_cached(&mut cache, settings, session, pem, &rules, SKEW_MS);
                let auth = authenticate(&ctx, &verified, None, &rules);
                assert_eq!(
                    matches!(auth.state, ClerkState::Handshake { .. }),
                    expect_handshake
                );
            })
        });
    }
    group.finish();
}

criterion_group!(benches, tokens, webhooks, cookie_path);
criterion_main!(benches);
