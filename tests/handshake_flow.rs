//! Clerk's cookie path and handshake, step by step (`handshake.md`, C1-C15), asserted on what
//! the client gets: the state, the redirect, the cookies and the audit lines. The differential
//! test (tests/js/handshake-differential.test.mjs) checks the same against `@clerk/backend`
//! itself on thousands of generated requests; this file pins each branch natively.

use clerk_edge_guard::auth::handshake::return_leg::verify_handshake_token;
use clerk_edge_guard::auth::handshake::url::{parse_query, WebUrl};
use clerk_edge_guard::auth::handshake::{
    authenticate, reason, ClerkState, HandshakeContext, LegDirectives, RequestParts, ReturnLeg,
};
use clerk_edge_guard::auth::keys::VerifyingKey;
use clerk_edge_guard::auth::token::{
    verify_session_token, ClaimRules, KeySource, TokenError, Verification,
};
use clerk_edge_guard::config::Config;
use clerk_edge_guard::policy::decision::{decide_with, handshake_applies, Decision, RequestFacts};
use jwt_compact::alg::Rsa;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

#[path = "support/demo_key.rs"]
mod demo_key;
use demo_key::demo_key_pair;

const NOW_S: i64 = 1_760_000_000;
const NOW_MS: i64 = NOW_S * 1000;
/// `pk_live_` + base64("clerk.example.com$").
const PK_LIVE: &str = "pk_live_Y2xlcmsuZXhhbXBsZS5jb20k";
/// `pk_test_` + base64("foo-bar-13.clerk.accounts.dev$").
const PK_TEST: &str = "pk_test_Zm9vLWJhci0xMy5jbGVyay5hY2NvdW50cy5kZXYk";
const ISS_LIVE: &str = "https://clerk.example.com";
const ISS_TEST: &str = "https://foo-bar-13.clerk.accounts.dev";
const PAGE: &str = "https://app.example.com/dashboard?tab=a%20b";

struct Keys {
    private: RsaPrivateKey,
    pem: String,
}

fn keys() -> Keys {
    let (private, pem) = demo_key_pair();
    Keys { private, pem }
}

fn sign(keys: &Keys, header: Value, payload: Value) -> String {
    demo_key::sign(&keys.private, Rsa::rs256(), &header, &payload)
}

fn session(keys: &Keys, iss: &str, iat: i64, exp: i64) -> String {
    sign(
        keys,
        json!({"alg": "RS256", "typ": "JWT", "kid": "ins_1"}),
        json!({"iss": iss, "sub": "user_1", "sid": "sess_1", "iat": iat, "nbf": iat - 10, "exp": exp}),
    )
}

fn fresh(keys: &Keys) -> String {
    session(keys, ISS_LIVE, NOW_S - 5, NOW_S + 55)
}

fn expired(keys: &Keys) -> String {
    session(keys, ISS_LIVE, NOW_S - 600, NOW_S - 540)
}

fn config(keys: &Keys, pk: &str, extra: &[(&str, &str)]) -> Config {
    let mut vars = vec![
        ("CLERK_JWT_KEY", keys.pem.as_str()),
        ("CLERK_SECRET_KEY", "sk_test_handshake"),
        ("CLERK_PUBLISHABLE_KEY", pk),
        ("CLERK_AUDIT_ALLOWED", "true"),
    ];
    vars.extend_from_slice(extra);
    Config::from_pairs(&vars)
}

/// A request: a document GET of [`PAGE`] unless the headers say otherwise.
#[derive(Clone)]
struct Req {
    method: &'static str,
    url: String,
    cookie: String,
    dest: Option<&'static str>,
    accept: Option<&'static str>,
    referer: Option<String>,
    forwarded_host: Option<&'static str>,
}

fn document(cookie: &str) -> Req {
    Req {
        method: "GET",
        url: PAGE.to_owned(),
        cookie: cookie.to_owned(),
        dest: Some("document"),
        accept: Some("text/html,application/xhtml+xml"),
        referer: None,
        forwarded_host: None,
    }
}

fn context(config: &Config, req: &Req) -> HandshakeContext {
    let parts = RequestParts {
        method: req.method,
        url: &req.url,
        host: Some("app.example.com"),
        forwarded_host: req.forwarded_host,
        forwarded_proto: None,
        cookie: Some(&req.cookie),
        sec_fetch_dest: req.dest,
        accept: req.accept,
        referer: req.referer.as_deref(),
    };
    HandshakeContext::read(config, &parts, NOW_MS).expect("a publishable key is configured")
}

fn rules(config: &Config) -> ClaimRules<'_> {
    ClaimRules {
        authorized_parties: &config.authorized_parties,
        clock_skew_ms: config.clock_skew_ms,
        now_ms: NOW_MS,
    }
}

fn pem_key(config: &Config) -> &VerifyingKey {
    match &config.keys {
        clerk_edge_guard::config::KeyConfig::Pem(key) => key,
        _ => panic!("the tests configure CLERK_JWT_KEY"),
    }
}

fn verify(config: &Config, token: &str) -> Verification {
    verify_session_token(token, KeySource::Pem(pem_key(config)), &rules(config))
}

/// The state and the always-written audit events for `req`, with an optional return leg.
fn decide(config: &Config, req: &Req, leg: Option<LegDirectives>) -> (ClerkState, Vec<String>) {
    let ctx = context(config, req);
    let cookie = ctx
        .session_token
        .as_deref()
        .map_or(Verification::NoToken, |t| verify(config, t));
    let leg: Option<ReturnLeg> = leg.map(|directives| {
        let session = directives
            .session_to_verify()
            .map(|t| (t.clone(), verify(config, &t)));
        directives.into_return_leg(session)
    });
    let auth = authenticate(&ctx, &cookie, leg.as_ref(), &rules(config));
    let events = auth.events.iter().map(|e| e.name().to_owned()).collect();
    (auth.state, events)
}

fn reason_of(state: &ClerkState) -> (&'static str, &'static str) {
    match state {
        ClerkState::SignedIn { .. } => ("signed-in", ""),
        ClerkState::SignedOut { reason, .. } => ("signed-out", reason),
        ClerkState::Handshake { reason, .. } => ("handshake", reason),
        ClerkState::DevHandshakeTokenRefused { .. } => ("error", ""),
    }
}

fn location_params(state: &ClerkState) -> Vec<(String, String)> {
    let ClerkState::Handshake { location, .. } = state else {
        panic!("not a handshake: {state:?}");
    };
    let url = WebUrl::parse(location).expect("an absolute location");
    parse_query(url.query.as_deref().unwrap_or(""))
}

#[test]
fn the_cookie_path_decides_as_clerk_step_by_step() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let (exp, ok) = (expired(&k), fresh(&k));
    let uat = NOW_S - 3600;
    let post = |cookie: &str| Req {
        method: "POST",
        ..document(cookie)
    };
    let fetch = |cookie: &str| Req {
        dest: Some("empty"),
        accept: Some("*/*"),
        ..document(cookie)
    };
    let cases: Vec<(&str, Req, (&str, &str))> = vec![
        (
            "C6 nothing",
            document(""),
            ("signed-out", reason::SESSION_AND_UAT_MISSING),
        ),
        (
            "C7 session, no uat",
            document(&format!("__session={ok}")),
            ("handshake", reason::SESSION_WITHOUT_CLIENT_UAT),
        ),
        (
            "C7 uat=0 is no uat",
            document(&format!("__session={ok}; __client_uat=0")),
            ("handshake", reason::SESSION_WITHOUT_CLIENT_UAT),
        ),
        (
            "C8 uat, no session",
            document(&format!("__client_uat={uat}")),
            ("handshake", reason::CLIENT_UAT_WITHOUT_SESSION),
        ),
        (
            "C9 undecodable",
            document(&format!("__session=abc; __client_uat={uat}")),
            ("signed-out", "token-invalid"),
        ),
        (
            "C11 iat before uat",
            document(&format!("__session={ok}; __client_uat={}", NOW_S)),
            ("handshake", reason::IAT_BEFORE_CLIENT_UAT),
        ),
        (
            "C12 expired document",
            document(&format!("__session={exp}; __client_uat={uat}")),
            ("handshake", reason::EXPIRED_NO_REFRESH),
        ),
        (
            "C12 expired fetch",
            fetch(&format!("__session={exp}; __client_uat={uat}")),
            ("signed-out", reason::EXPIRED_NO_REFRESH),
        ),
        (
            "C12 expired POST",
            post(&format!("__session={exp}; __client_uat={uat}")),
            ("signed-out", reason::EXPIRED_NON_GET),
        ),
        (
            "C15 valid",
            document(&format!("__session={ok}; __client_uat={uat}")),
            ("signed-in", ""),
        ),
        (
            "C15 valid, percent-encoded uat",
            document(&format!("__session={ok}; __client_uat=%31%30")),
            ("signed-in", ""),
        ),
    ];
    for (name, req, want) in cases {
        let (state, _) = decide(&c, &req, None);
        assert_eq!(reason_of(&state), want, "{name}");
    }
}

#[test]
fn non_session_tokens_in_the_cookie_are_a_type_mismatch() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let uat = NOW_S - 3600;
    let claims = json!({"iss": ISS_LIVE, "sub": "user_1", "iat": NOW_S - 5, "exp": NOW_S + 55});
    for cat in ["cl_B7d4PD222AAA", "cl_B7d4PD333AAA"] {
        let token = sign(
            &k,
            json!({"alg": "RS256", "kid": "k", "cat": cat}),
            claims.clone(),
        );
        let (state, _) = decide(
            &c,
            &document(&format!("__session={token}; __client_uat={uat}")),
            None,
        );
        assert_eq!(
            reason_of(&state),
            ("signed-out", reason::TOKEN_TYPE_MISMATCH),
            "{cat}"
        );
    }
    let m2m = sign(
        &k,
        json!({"alg": "RS256", "kid": "k"}),
        json!({"iss": ISS_LIVE, "sub": "mch_1", "iat": NOW_S - 5, "exp": NOW_S + 55}),
    );
    let (state, _) = decide(
        &c,
        &document(&format!("__session={m2m}; __client_uat={uat}")),
        None,
    );
    assert_eq!(
        reason_of(&state),
        ("signed-out", reason::TOKEN_TYPE_MISMATCH)
    );
}

#[test]
fn the_redirect_is_built_as_clerk_builds_it() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let exp = expired(&k);
    let mut req = document(&format!(
        "__session={exp}; __client_uat=1; __clerk_redirect_count=1"
    ));
    req.url = "https://app.example.com/dashboard?tab=a%20b&__clerk_db_jwt=x&q".to_owned();
    let (state, _) = decide(&c, &req, None);
    let ClerkState::Handshake {
        location,
        redirect_count,
        ..
    } = &state
    else {
        panic!("{state:?}")
    };
    assert!(location.starts_with("https://clerk.example.com/v1/client/handshake?redirect_url="));
    assert_eq!(redirect_count, "2");
    let params = location_params(&state);
    let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "redirect_url",
            "__clerk_api_version",
            "suffixed_cookies",
            "__clerk_hs_reason",
            "format",
            "__session"
        ]
    );
    // The URL as `URLSearchParams` re-serialises it, the dev browser parameter removed.
    assert_eq!(params[0].1, "https://app.example.com/dashboard?tab=a+b&q=");
    assert_eq!(params[1].1, "2026-05-12");
    assert_eq!(params[2].1, "false");
    assert_eq!(params[3].1, reason::EXPIRED_NO_REFRESH);
    assert_eq!(params[4].1, "nonce");
    assert_eq!(params[5].1, exp);

    // What the client gets: 307, no-store comes with every refusal, the counter cookie.
    let facts = RequestFacts {
        method: "GET",
        path: "/dashboard",
        url: PAGE,
        sec_fetch_dest: Some("document"),
        accept: None,
    };
    let outcome = decide_with(
        &c,
        &facts,
        &Verification::NoToken,
        Some(&state),
        None,
        NOW_MS,
    );
    let refusal = outcome.decision.refusal().expect("a redirect");
    assert_eq!(refusal.status, 307);
    let header = |n: &str| {
        refusal
            .headers
            .iter()
            .find(|(h, _)| *h == n)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("x-clerk-auth-status"), Some("handshake"));
    assert_eq!(
        header("x-clerk-auth-reason"),
        Some(reason::EXPIRED_NO_REFRESH)
    );
    assert_eq!(
        header("set-cookie"),
        Some("__clerk_redirect_count=2; SameSite=Lax; HttpOnly; Max-Age=2")
    );
    assert_eq!(header("location"), Some(location.as_str()));
    let line = outcome
        .audit
        .expect("CLERK_AUDIT_ALLOWED=true")
        .to_line(NOW_MS);
    assert!(line.contains("\"event\":\"auth.handshake\""), "{line}");
    assert!(!line.contains(&exp), "no token in the audit line");
    // Without CLERK_AUDIT_ALLOWED a handshake is normal traffic: no line.
    let quiet = Config::from_pairs(&[
        ("CLERK_JWT_KEY", k.pem.as_str()),
        ("CLERK_PUBLISHABLE_KEY", PK_LIVE),
    ]);
    let outcome = decide_with(
        &quiet,
        &facts,
        &Verification::NoToken,
        Some(&state),
        None,
        NOW_MS,
    );
    assert!(outcome.audit.is_none());
}

#[test]
fn a_proxy_url_and_forwarded_headers_shape_the_redirect() {
    let k = keys();
    let exp = expired(&k);
    let cookie = format!("__session={exp}; __client_uat=1");
    let relative = config(&k, PK_LIVE, &[("CLERK_PROXY_URL", "/__clerk/")]);
    let (state, _) = decide(&relative, &document(&cookie), None);
    let ClerkState::Handshake { location, .. } = &state else {
        panic!()
    };
    assert!(
        location.starts_with("https://app.example.com/__clerk/v1/client/handshake?"),
        "{location}"
    );
    let absolute = config(&k, PK_LIVE, &[("CLERK_PROXY_URL", "http://127.0.0.1:9999")]);
    let (state, _) = decide(&absolute, &document(&cookie), None);
    let ClerkState::Handshake { location, .. } = &state else {
        panic!()
    };
    assert!(
        location.starts_with("http://127.0.0.1:9999/v1/client/handshake?"),
        "{location}"
    );

    // Behind a gateway the page is on the public host (clerk/javascript#8103).
    let c = config(&k, PK_LIVE, &[]);
    let mut req = document(&cookie);
    req.url = "http://10.0.0.7:8787/dashboard".to_owned();
    req.forwarded_host = Some("app.example.com");
    let (state, _) = decide(&c, &req, None);
    assert_eq!(
        location_params(&state)[0].1,
        "http://app.example.com/dashboard"
    );
}

#[test]
fn the_loop_guard_stops_at_three() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let exp = expired(&k);
    for (count, want, loop_line) in [
        ("2", "handshake", false),
        ("3", "signed-out", true),
        ("7", "signed-out", true),
        ("junk", "handshake", false),
    ] {
        let req = document(&format!(
            "__session={exp}; __client_uat=1; __clerk_redirect_count={count}"
        ));
        let (state, events) = decide(&c, &req, None);
        assert_eq!(reason_of(&state).0, want, "count {count}");
        assert_eq!(
            events.contains(&"auth.handshake_loop".to_owned()),
            loop_line,
            "count {count}"
        );
    }
}

#[test]
fn a_valid_session_from_another_site_is_synced_once() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let ok = fresh(&k);
    let cookie = format!("__session={ok}; __client_uat=1");
    let from = |referer: &str, count: &str| Req {
        referer: Some(referer.to_owned()),
        cookie: format!("{cookie}; __clerk_redirect_count={count}"),
        ..document("")
    };
    let cases = [
        (
            from("https://news.example.org/a", "0"),
            ("handshake", reason::CROSS_ORIGIN_SYNC),
        ),
        (from("https://news.example.org/a", "1"), ("signed-in", "")),
        (
            from("https://app.example.com/other", "0"),
            ("signed-in", ""),
        ),
        (
            from("https://accounts.example.com/sign-in", "0"),
            ("signed-in", ""),
        ),
        (
            from("https://clerk.example.com/v1/x", "0"),
            ("signed-in", ""),
        ),
    ];
    for (req, want) in cases {
        let (state, _) = decide(&c, &req, None);
        assert_eq!(reason_of(&state), want, "{:?}", req.referer);
    }
}

#[test]
fn development_instances_need_the_dev_browser() {
    let k = keys();
    let c = config(&k, PK_TEST, &[]);
    let ok = session(&k, ISS_TEST, NOW_S - 5, NOW_S + 55);
    let (state, _) = decide(
        &c,
        &document(&format!("__session={ok}; __client_uat=1")),
        None,
    );
    assert_eq!(
        reason_of(&state),
        ("handshake", reason::DEV_BROWSER_MISSING)
    );
    let mut sync = document(&format!(
        "__session={ok}; __client_uat=1; __clerk_db_jwt=dvb_1"
    ));
    sync.url = format!("{PAGE}&__clerk_db_jwt=dvb_2");
    let (state, _) = decide(&c, &sync, None);
    assert_eq!(reason_of(&state), ("handshake", reason::DEV_BROWSER_SYNC));
    // The query's dev browser wins and rides along; it is removed from redirect_url.
    let params = location_params(&state);
    assert_eq!(
        params.last().map(|(n, v)| (n.as_str(), v.as_str())),
        Some(("__clerk_db_jwt", "dvb_2"))
    );
    assert_eq!(params[0].1, "https://app.example.com/dashboard?tab=a+b");
    let (state, _) = decide(
        &c,
        &document(&format!(
            "__session={ok}; __client_uat=1; __clerk_db_jwt=dvb_1"
        )),
        None,
    );
    assert_eq!(reason_of(&state), ("signed-in", ""));
}

#[test]
fn a_production_return_leg_forwards_signed_in_with_the_cookies() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let (exp, ok) = (expired(&k), fresh(&k));
    let directives = vec![
        format!("__session={ok}; Path=/; SameSite=Lax"),
        format!("__client_uat={NOW_S}; Path=/; Max-Age=315360000"),
        "__clerk_handshake_nonce=; Path=/; Max-Age=0".to_owned(),
    ];
    let req = document(&format!(
        "__session={exp}; __client_uat=1; __clerk_handshake_nonce=n1"
    ));
    let (state, events) = decide(
        &c,
        &req,
        Some(LegDirectives::Directives(directives.clone())),
    );
    assert!(events.is_empty());
    let ClerkState::SignedIn {
        claims,
        directives: Some(set),
        redirect_to: None,
    } = &state
    else {
        panic!("{state:?}")
    };
    assert_eq!(claims.user_id, "user_1");
    assert_eq!(set.set_cookies, directives);
    let facts = RequestFacts {
        method: "GET",
        path: "/dashboard",
        url: PAGE,
        sec_fetch_dest: Some("document"),
        accept: None,
    };
    let outcome = decide_with(
        &c,
        &facts,
        &Verification::NoToken,
        Some(&state),
        None,
        NOW_MS,
    );
    assert!(matches!(outcome.decision, Decision::Forward { .. }));
    let cookies: Vec<&str> = outcome
        .response_headers
        .iter()
        .filter(|(n, _)| *n == "set-cookie")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(
        cookies,
        directives.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(outcome
        .response_headers
        .contains(&("access-control-allow-origin", "null".to_owned())));
    // A revoked session stays revoked after a handshake renews it.
    let denied = decide_with(
        &c,
        &facts,
        &Verification::NoToken,
        Some(&state),
        Some(clerk_edge_guard::policy::decision::DenyListHit::Session),
        NOW_MS,
    );
    assert_eq!(denied.decision.status(), Some(401));
}

#[test]
fn a_development_return_leg_redirects_to_the_clean_url() {
    let k = keys();
    let c = config(&k, PK_TEST, &[]);
    let ok = session(&k, ISS_TEST, NOW_S - 5, NOW_S + 55);
    let mut req = document("__clerk_db_jwt=dvb_1");
    req.url = format!("{PAGE}&__clerk_handshake_nonce=n1&__clerk_help=1&keep=1");
    let (state, _) = decide(
        &c,
        &req,
        Some(LegDirectives::Directives(vec![format!("__session={ok}")])),
    );
    let ClerkState::SignedIn { redirect_to, .. } = &state else {
        panic!("{state:?}")
    };
    assert_eq!(
        redirect_to.as_deref(),
        Some("https://app.example.com/dashboard?tab=a+b&keep=1")
    );
    // Clerk re-checks a development token with a day of skew (a laptop's clock).
    let stale = session(&k, ISS_TEST, NOW_S - 7200, NOW_S - 7140);
    let (state, _) = decide(
        &c,
        &req,
        Some(LegDirectives::Directives(vec![format!(
            "__session={stale}"
        )])),
    );
    assert_eq!(reason_of(&state).0, "signed-in");
}

#[test]
fn a_return_leg_without_a_session_sets_its_cookies_and_signs_out() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let req = document("__clerk_handshake_nonce=n1");
    let sign_out = vec![
        "__session=; Max-Age=0".to_owned(),
        "__client_uat=0".to_owned(),
    ];
    let (state, _) = decide(&c, &req, Some(LegDirectives::Directives(sign_out)));
    let ClerkState::SignedOut {
        reason: why,
        directives: Some(d),
        ..
    } = &state
    else {
        panic!("{state:?}")
    };
    assert_eq!(*why, reason::SESSION_MISSING);
    assert_eq!(d.set_cookies.len(), 2);

    // A failed exchange is Clerk's empty list, and says what failed.
    let (state, events) = decide(
        &c,
        &req,
        Some(LegDirectives::NonceFailed(
            "GET /v1/clients/handshake_payload failed: HTTP 503".into(),
        )),
    );
    assert_eq!(reason_of(&state), ("signed-out", reason::SESSION_MISSING));
    assert_eq!(events, ["handshake.nonce_failed"]);
}

#[test]
fn a_return_leg_whose_session_fails_verification_is_logged_and_decided_on_the_cookies() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    let exp = expired(&k);
    let ok = fresh(&k);
    let forged = format!("{}x", &ok[..ok.len() - 4]);
    let req = document(&format!(
        "__session={exp}; __client_uat=1; __clerk_handshake_nonce=n1"
    ));
    let (state, events) = decide(
        &c,
        &req,
        Some(LegDirectives::Directives(vec![format!(
            "__session={forged}"
        )])),
    );
    // Clerk throws, logs, and carries on with the request's own expired cookie: a handshake.
    assert_eq!(reason_of(&state), ("handshake", reason::EXPIRED_NO_REFRESH));
    assert_eq!(events, ["handshake.session_refused"]);
    // A directive `__session` without `=` is Clerk's `undefined`: refused the same way.
    let (_, events) = decide(
        &c,
        &req,
        Some(LegDirectives::Directives(vec![
            "__session; Path=/".to_owned()
        ])),
    );
    assert_eq!(events, ["handshake.session_refused"]);
}

#[test]
fn a_refused_handshake_token_never_sets_cookies() {
    let k = keys();
    let exp = expired(&k);
    let live = config(&k, PK_LIVE, &[]);
    let req = document(&format!("__session={exp}; __client_uat=1"));
    // Production: logged, then decided on the request's own cookies.
    let (state, events) = decide(
        &live,
        &req,
        Some(LegDirectives::TokenRefused(TokenError::InvalidSignature)),
    );
    assert_eq!(reason_of(&state), ("handshake", reason::EXPIRED_NO_REFRESH));
    assert_eq!(events, ["handshake.token_refused"]);
    // Development: a 500 that says what to do.
    let dev = config(&k, PK_TEST, &[]);
    let (state, _) = decide(
        &dev,
        &document("__clerk_db_jwt=d"),
        Some(LegDirectives::TokenRefused(TokenError::InvalidSignature)),
    );
    let ClerkState::DevHandshakeTokenRefused { message } = &state else {
        panic!("{state:?}")
    };
    assert!(message.contains("clear your cookies"), "{message}");

    // The token itself: only session categories, only the instance's key.
    let key = pem_key(&live);
    let payload = json!({"handshake": ["__session=x", "__client_uat=1"]});
    let good = sign(&k, json!({"alg": "RS256", "kid": "k"}), payload.clone());
    assert_eq!(
        verify_handshake_token(&good, KeySource::Pem(key)).unwrap(),
        ["__session=x", "__client_uat=1"]
    );
    let template = sign(
        &k,
        json!({"alg": "RS256", "kid": "k", "cat": "cl_B7d4PD222AAA"}),
        payload.clone(),
    );
    assert_eq!(
        verify_handshake_token(&template, KeySource::Pem(key)),
        Err(TokenError::Invalid)
    );
    let forged = format!("{}x", &good[..good.len() - 4]);
    assert!(verify_handshake_token(&forged, KeySource::Pem(key)).is_err());
    assert_eq!(
        verify_handshake_token(&good, KeySource::Jwks(None)),
        Err(TokenError::KidMismatch)
    );
}

#[test]
fn the_handshake_applies_only_where_clerk_would_run_it_and_no_bypass_is_live() {
    let k = keys();
    let c = config(&k, PK_LIVE, &[]);
    assert!(handshake_applies(&c, "/app", false, NOW_MS));
    assert!(
        !handshake_applies(&c, "/app", true, NOW_MS),
        "Bearer tokens keep verifyToken's path"
    );
    let no_pk = Config::from_pairs(&[("CLERK_JWT_KEY", &k.pem)]);
    assert!(!handshake_applies(&no_pk, "/app", false, NOW_MS));
    let bypass = config(
        &k,
        PK_LIVE,
        &[
            ("CLERK_EMERGENCY_BYPASS", "grace"),
            ("CLERK_EMERGENCY_BYPASS_REASON", "INC-9 FAPI down"),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", "2030-01-01T00:00:00Z"),
        ],
    );
    assert!(!handshake_applies(&bypass, "/app", false, NOW_MS));
    let satellite = config(&k, PK_LIVE, &[("CLERK_IS_SATELLITE", "true")]);
    let problem = satellite
        .problems
        .iter()
        .find(|p| p.variable == "CLERK_IS_SATELLITE")
        .expect("a satellite is refused");
    assert!(
        problem.problem.contains("not supported"),
        "{}",
        problem.problem
    );
    let bad_proxy = config(&k, PK_LIVE, &[("CLERK_PROXY_URL", "clerk.example.com")]);
    assert!(bad_proxy
        .problems
        .iter()
        .any(|p| p.variable == "CLERK_PROXY_URL"));
    let next_satellite = config(&k, PK_LIVE, &[("NEXT_PUBLIC_CLERK_IS_SATELLITE", "TRUE")]);
    assert!(next_satellite
        .problems
        .iter()
        .any(|p| p.variable == "NEXT_PUBLIC_CLERK_IS_SATELLITE"));
    let primary = config(&k, PK_LIVE, &[("CLERK_IS_SATELLITE", "false")]);
    assert!(primary.problems.is_empty(), "{:?}", primary.problems);
    // The variable @clerk/nextjs users already have works the same.
    let next_proxy = config(
        &k,
        PK_LIVE,
        &[(
            "NEXT_PUBLIC_CLERK_PROXY_URL",
            "https://app.example.com/__clerk",
        )],
    );
    assert_eq!(
        next_proxy.proxy_url.as_deref(),
        Some("https://app.example.com/__clerk")
    );
}
