//! A protected request's headers: `Authorization`, `Cookie` (the `__session` cookie, its
//! suffixed form and Clerk's choice between them), `Sec-Fetch-Dest`, `Accept`, the method and
//! the URL, decided as the adapters decide them (`oracles::protect`) with Clerk's fixture key.
//!
//! Input: `authorization \0 cookie \0 method \0 path?query \0 sec-fetch-dest \0 accept \0
//! now_seconds \0 choices` (a field of the single byte 0x01 is an absent header; choices:
//! publishable key, bypass mode, deny-list hit, audit of allowed requests).
//! Asserts: the token found is taken from the headers and `Authorization` wins; never
//! signed-in (nor bypassed with an identity) without a token whose RS256 signature verifies
//! with the `rsa` crate and whose `sub` is the identity; refusal reasons are the contract's;
//! audit lines are single JSON lines that never carry the headers' credentials.
#![no_main]

use clerk_edge_guard::auth::token::{find_session_token, token_from_authorization, TokenLocation};
use clerk_edge_guard::config::Config;
use clerk_edge_guard::policy::decision::DenyListHit;
use libfuzzer_sys::fuzz_target;
use oracles::{check_protected, fixture_pem, protect, vector_text, Fields, Request};

const DEFAULT_NOW_S: i64 = 1_666_648_250;

fuzz_target!(|data: &[u8]| {
    let fields = Fields::new(data);
    let mut choices = fields.choices(7);
    let pk = match choices.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some(vector_text("/publishable_keys/pk_test")),
        _ => Some(vector_text("/publishable_keys/pk_live")),
    };
    let bypass =
        ["false", "grace", "true"][usize::from(choices.int_in_range(0..=2u8).unwrap_or(0))];
    let deny = match choices.int_in_range(0..=2u8).unwrap_or(0) {
        0 => None,
        1 => Some(DenyListHit::Session),
        _ => Some(DenyListHit::User),
    };
    let audit_allowed = if choices.arbitrary().unwrap_or(false) {
        "true"
    } else {
        "false"
    };
    let mut vars = vec![
        ("CLERK_JWT_KEY", fixture_pem()),
        ("CLERK_SECRET_KEY", "sk_test_fuzzing_secret_key_value"),
        ("CLERK_EMERGENCY_BYPASS", bypass),
        ("CLERK_AUDIT_ALLOWED", audit_allowed),
        ("CLERK_PUBLIC_PATHS", "/public/*"),
    ];
    if let Some(pk) = pk {
        vars.push(("CLERK_PUBLISHABLE_KEY", pk));
    }
    let config = Config::from_pairs(&vars);
    let now_ms = fields.int(6, DEFAULT_NOW_S).saturating_mul(1000);

    let path = fields.text(3);
    let req = Request {
        authorization: fields.opt_text(0),
        cookie: fields.opt_text(1),
        method: fields.opt_text(2).unwrap_or_else(|| "GET".to_owned()),
        url: format!("https://app.example.com/{}", path.trim_start_matches('/')),
        sec_fetch_dest: fields.opt_text(4),
        accept: fields.opt_text(5),
        referer: None,
        forwarded_host: None,
    };

    // Where the token comes from: `Authorization` wins, the cookie otherwise; either way
    // the token is text the client sent.
    let found = find_session_token(
        req.authorization.as_deref(),
        req.cookie.as_deref(),
        &config.cookie_context(now_ms),
    );
    if let Some((token, location)) = &found {
        match location {
            TokenLocation::Header => {
                let auth = req.authorization.as_deref().unwrap_or("");
                assert!(
                    auth.contains(token.as_ref()),
                    "a Bearer token not in the header"
                );
                assert_eq!(token_from_authorization(auth), Some(token.as_ref()));
            }
            TokenLocation::Cookie => {
                assert!(
                    req.authorization
                        .as_deref()
                        .and_then(token_from_authorization)
                        .is_none(),
                    "the cookie was used although Authorization carries a token"
                );
                assert!(!token.is_empty(), "an empty cookie was taken for a token");
                assert!(
                    req.cookie.is_some(),
                    "a cookie token without a Cookie header"
                );
            }
        }
    }

    let Some(protected) = protect(&config, &req, now_ms, deny, "") else {
        return;
    };
    let mut credentials = vec!["sk_test_fuzzing_secret_key_value"];
    credentials.extend(req.authorization.as_deref());
    credentials.extend(req.cookie.as_deref());
    let tokens: Vec<String> = found.iter().map(|(t, _)| t.to_string()).collect();
    credentials.extend(
        tokens
            .iter()
            .map(String::as_str)
            .filter(|t| t.matches('.').count() == 2),
    );
    check_protected(&protected, &credentials, now_ms);
});
