//! Clerk's handshake: the return leg's nonce and the Backend API's payload for it (the
//! `Set-Cookie` directives), the development handshake token (checked with the fixture
//! key), the loop counter and the rest of the cookie path, then the decision.
//!
//! Input: `cookie \0 path?query \0 payload body \0 method \0 sec-fetch-dest \0 referer \0
//! x-forwarded-host \0 now_seconds \0 choices` (choices: pk_test or pk_live, deny-list hit).
//! Asserts: a handshake token is accepted only when its signature verifies with the `rsa`
//! crate; a failed nonce exchange never quotes the nonce; the request is never signed in
//! without a session token (the request's or the directives') that verifies; refusal
//! reasons are the contract's; audit lines carry no credential.
#![no_main]

use clerk_edge_guard::auth::handshake::return_leg::{
    directives_from_payload, session_in_directives,
};
use clerk_edge_guard::auth::handshake::DirectiveSession;
use clerk_edge_guard::config::Config;
use clerk_edge_guard::policy::decision::{Decision, DenyListHit};
use libfuzzer_sys::fuzz_target;
use oracles::{check_protected, fixture_pem, protect, vector_text, Fields, Request};

const DEFAULT_NOW_S: i64 = 1_666_648_250;
const SECRET_KEY: &str = "sk_live_fuzzing_secret_key_value";

fuzz_target!(|data: &[u8]| {
    let fields = Fields::new(data);
    let mut choices = fields.choices(8);
    let pk = if choices.arbitrary().unwrap_or(false) {
        vector_text("/publishable_keys/pk_test")
    } else {
        vector_text("/publishable_keys/pk_live")
    };
    let deny = match choices.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some(DenyListHit::Session),
        _ => Some(DenyListHit::User),
    };
    let config = Config::from_pairs(&[
        ("CLERK_JWT_KEY", fixture_pem()),
        ("CLERK_SECRET_KEY", SECRET_KEY),
        ("CLERK_PUBLISHABLE_KEY", pk),
        ("CLERK_AUDIT_ALLOWED", "true"),
    ]);
    let now_ms = fields.int(7, DEFAULT_NOW_S).saturating_mul(1000);
    let payload = fields.text(2);

    // The payload's directives, and the session among them, read on their own.
    if let Ok(directives) = directives_from_payload(&payload) {
        if let DirectiveSession::Token(token) = session_in_directives(&directives) {
            assert!(
                directives.iter().any(|d| d.contains(&token)),
                "the session token is not one of the directives' values"
            );
        }
    }

    let path = fields.text(1);
    let req = Request {
        cookie: fields.opt_text(0),
        url: format!("https://app.example.com/{}", path.trim_start_matches('/')),
        method: fields.opt_text(3).unwrap_or_else(|| "GET".to_owned()),
        sec_fetch_dest: fields.opt_text(4),
        accept: Some("text/html".to_owned()),
        referer: fields.opt_text(5),
        forwarded_host: fields.opt_text(6),
        authorization: None,
    };
    let Some(protected) = protect(&config, &req, now_ms, deny, &payload) else {
        return;
    };
    if let Decision::Handshake { location, .. } = &protected.outcome.decision {
        assert!(
            !location.contains(SECRET_KEY),
            "a handshake redirect carries the secret key"
        );
    }
    let mut credentials = vec![SECRET_KEY];
    credentials.extend(req.cookie.as_deref());
    check_protected(&protected, &credentials, now_ms);
});
