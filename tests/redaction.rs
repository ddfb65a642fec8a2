//! Redaction of the core's audit lines (CONTRACT.md section 5: "Never in a log line: a
//! token, a cookie, an `Authorization` value, a secret, a webhook body, a query string").
//!
//! Requests and configurations are loaded with distinctive secrets; every event the core
//! produces for them — `decide()` for each token state, and `config.invalid` for each rejected
//! variable — goes through `AuditEvent::to_line`, and each line must be one line of valid
//! JSON that starts with `ts`, `level`, `event` and contains none of the secrets. The
//! adapter-level check (real Worker logs) lives with the workerd end-to-end tests.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clerk_edge_guard::audit::{AuditEvent, Level, RequestContext};
use clerk_edge_guard::auth::keys::{self, VerifyingKey};
use clerk_edge_guard::auth::token::{
    find_session_token, verify_session_token, ClaimRules, KeySource, SessionClaims, Verification,
};
use clerk_edge_guard::config::Config;
use clerk_edge_guard::policy::decision::{decide, DenyListHit, Outcome, RequestFacts};
use serde_json::Value;

/// The fixture token's iat (2022-10-24T21:50:50Z).
const IAT_MS: i64 = 1_666_648_250_000;

const SECRET_KEY: &str = "sk_test_SECRETKEYVALUE0123456789";
const ADMIN_TOKEN: &str = "ADMINTOKENSECRET-0123456789abcdef0123456789";
/// `whsec_` + base64("webhook-signing-key-WHSECRETBYTES").
const WEBHOOK_SECRET: &str = "whsec_d2ViaG9vay1zaWduaW5nLWtleS1XSFNFQ1JFVEJZVEVT";
const COOKIE_SECRET: &str = "COOKIESECRET42";
const QUERY_SECRET: &str = "SECRET123";
const QUERY_SESSION_SECRET: &str = "QSESSIONSECRET";
const BASIC_SECRET: &str = "QkFTSUNTRUNSRVQ6cGFzcw";

/// Rejected values that carry secrets: the problem text must name the variable, not these.
const BAD_VALUES: &[(&str, &str)] = &[
    ("CLERK_SECRET_KEY", "pk_BADSKSECRET_0123"),
    ("CLERK_ADMIN_TOKEN", "BADADMINSECRET"),
    ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_%%%BADWHSECRET"),
    ("CLERK_JWT_KEY", "BADJWTKEYSECRET"),
    ("CLERK_PUBLISHABLE_KEY", "pk_test_BADPKSECRET"),
    ("CLERK_API_URL", "api.example.com/APIURLSECRET"),
    ("ORIGIN_URL", "ftp://user:ORIGINPASSWORD@origin.example"),
    ("CLERK_SIGN_IN_URL", "//SIGNINSECRET.example"),
    ("CLERK_EMERGENCY_BYPASS_UNTIL", "UNTILSECRET"),
    ("CLERK_AUTHORIZED_PARTIES", "PARTYSECRET"),
    ("CLERK_CLOCK_SKEW_MS", "SKEWSECRET"),
    ("CLERK_PUBLIC_PATHS", "PATHSECRET"),
    ("CLERK_NEVER_BYPASS_PATHS", "NEVERSECRET"),
    ("CLERK_EMERGENCY_BYPASS_PATHS", "SCOPESECRET"),
    ("CLERK_EMERGENCY_GRACE_SECONDS", "GRACESECRET"),
    ("CLERK_EMERGENCY_BYPASS", "MODESECRET"),
    ("CLERK_WEBHOOKS_PAUSED", "PAUSEDSECRET"),
    ("CLERK_AUDIT_ALLOWED", "AUDITSECRET"),
];

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn token(v: &Value, name: &str) -> String {
    v["tokens"][name]["jwt"].as_str().unwrap().to_owned()
}

/// Every string that must never appear in a line.
fn secrets(v: &Value) -> Vec<String> {
    let mut all: Vec<String> = vec![
        SECRET_KEY.into(),
        "SECRETKEYVALUE".into(),
        ADMIN_TOKEN.into(),
        "ADMINTOKENSECRET".into(),
        WEBHOOK_SECRET.into(),
        WEBHOOK_SECRET.trim_start_matches("whsec_").into(),
        COOKIE_SECRET.into(),
        QUERY_SECRET.into(),
        QUERY_SESSION_SECRET.into(),
        BASIC_SECRET.into(),
        "Bearer".into(),
        "__session".into(),
        "token=".into(),
    ];
    for (_, value) in BAD_VALUES {
        all.push((*value).into());
        // The distinctive part alone, in case a problem text quotes a piece of the value.
        let marker: String = value
            .split(|c: char| !c.is_ascii_alphanumeric())
            .filter(|s| s.contains("SECRET") || s.contains("PASSWORD"))
            .collect();
        if !marker.is_empty() {
            all.push(marker);
        }
    }
    for name in [
        "mockJwt",
        "mockExpiredJwt",
        "mockInvalidSignatureJwt",
        "mockMalformedJwt",
    ] {
        let jwt = token(v, name);
        all.extend(jwt.split('.').map(str::to_owned));
        all.push(jwt);
    }
    all
}

/// One line of valid JSON, `ts`, `level`, `event` first, and no secret.
fn check_line(line: &str, secrets: &[String], context: &str) -> Value {
    assert!(
        !line.contains('\n') && !line.contains('\r'),
        "{context}: not one line: {line}"
    );
    assert!(
        !line.contains('\u{2028}') && !line.contains('\u{2029}'),
        "{context}: {line}"
    );
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{context}: {e}: {line}"));
    let obj = v.as_object().unwrap_or_else(|| panic!("{context}: {line}"));
    let ts = obj["ts"].as_str().expect("ts");
    assert_eq!(
        ts.len(),
        "2022-10-24T21:50:50.000Z".len(),
        "{context}: {ts}"
    );
    assert!(
        ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{context}: {ts}"
    );
    let prefix = format!(
        "{{\"ts\":{},\"level\":{},\"event\":{}",
        obj["ts"], obj["level"], obj["event"]
    );
    assert!(
        line.starts_with(&prefix),
        "{context}: ts/level/event not first: {line}"
    );
    assert!(matches!(
        obj["level"].as_str(),
        Some("info" | "warn" | "error")
    ));
    for secret in secrets {
        assert!(
            !line.contains(secret.as_str()),
            "{context}: line contains {secret:?}: {line}"
        );
    }
    v
}

/// A request as the adapter sees it: headers full of secrets, a query string with a token.
struct Request {
    method: &'static str,
    url: String,
    path: &'static str,
    authorization: Option<String>,
    cookie: Option<String>,
    dest: Option<&'static str>,
}

fn requests(v: &Value) -> Vec<Request> {
    let valid = token(v, "mockJwt");
    let query = format!("?token={QUERY_SECRET}&__session={QUERY_SESSION_SECRET}#{QUERY_SECRET}");
    let mut out = Vec::new();
    for (method, dest) in [("GET", Some("document")), ("POST", None)] {
        for (authorization, cookie) in [
            (Some(format!("Bearer {valid}")), None),
            (
                None,
                Some(format!(
                    "__session={valid}; other={COOKIE_SECRET}; __client_uat=1"
                )),
            ),
            (
                Some(format!("Basic {BASIC_SECRET}")),
                Some(format!("theme=dark; __session={COOKIE_SECRET}")),
            ),
            (None, None),
        ] {
            out.push(Request {
                method,
                url: format!("https://app.example.com/dash{query}"),
                path: "/dash",
                authorization: authorization.clone(),
                cookie: cookie.clone(),
                dest,
            });
        }
    }
    out
}

fn context(r: &Request, with_query_in_path: bool) -> RequestContext {
    // A careless adapter might hand over the path with its query: the context drops it.
    let path = if with_query_in_path {
        r.url.trim_start_matches("https://app.example.com")
    } else {
        r.path
    };
    RequestContext::new(
        "8d5f0a1b2c3d4e5f-AMS",
        r.method,
        path,
        "203.0.113.7",
        "Mozilla/5.0",
    )
}

fn pem_key(v: &Value) -> VerifyingKey {
    keys::parse_pem(v["keys"]["public_key_pem"].as_str().unwrap()).unwrap()
}

/// The tokens the adapter would find in these requests (with and without a publishable
/// key), plus Clerk's other fixtures and a cookie value that is not a JWT.
fn tokens_in(v: &Value, requests: &[Request], configs: &[(String, Config)]) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    for (_, config) in configs {
        let ctx = config.cookie_context(IAT_MS);
        for r in requests {
            let found = find_session_token(r.authorization.as_deref(), r.cookie.as_deref(), &ctx);
            tokens.extend(found.map(|(t, _)| t.into_owned()));
        }
    }
    tokens.extend(
        [
            "mockJwt",
            "mockExpiredJwt",
            "mockInvalidSignatureJwt",
            "mockMalformedJwt",
        ]
        .map(|n| token(v, n)),
    );
    tokens.push(COOKIE_SECRET.to_owned());
    // mockJwt relabelled RS384: the PEM key cannot verify it (token-verification-failed).
    let jwt = token(v, "mockJwt");
    let (_, rest) = jwt.split_once('.').unwrap();
    let header = r#"{"alg":"RS384","kid":"ins_2GIoQhbUpy0hX7B2cVkuTMinXoD","typ":"JWT"}"#;
    tokens.push(format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header)));
    tokens.sort();
    tokens.dedup();
    tokens
}

/// Every verification state the core produces for these tokens, at several clocks: valid,
/// expired (in and beyond any grace), not yet valid, wrong party, bad signature, malformed,
/// unknown key, no token.
fn verifications(v: &Value, tokens: &[String]) -> Vec<Verification> {
    let key = pem_key(v);
    let mut out = vec![Verification::NoToken];
    for t in tokens {
        for now_ms in [
            IAT_MS,
            IAT_MS + 3_600_000,
            IAT_MS + 30 * 86_400_000,
            IAT_MS - 60_000,
        ] {
            for parties in [vec![], vec!["https://other.example".to_owned()]] {
                let rules = ClaimRules {
                    authorized_parties: &parties,
                    clock_skew_ms: 5000,
                    now_ms,
                };
                out.push(verify_session_token(t, KeySource::Pem(&key), &rules));
                out.push(verify_session_token(t, KeySource::Jwks(None), &rules));
            }
        }
    }
    out.sort_by_key(|v| format!("{v:?}"));
    out.dedup();
    out
}

fn base_vars(pem: &str) -> Vec<(&'static str, String)> {
    vec![
        ("CLERK_JWT_KEY", pem.to_owned()),
        ("CLERK_SECRET_KEY", SECRET_KEY.to_owned()),
        ("CLERK_ADMIN_TOKEN", ADMIN_TOKEN.to_owned()),
        ("CLERK_WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET.to_owned()),
        (
            "CLERK_PUBLISHABLE_KEY",
            "pk_test_Y2xlcmsuaW5zcGlyZWQucHVtYS03NC5sY2wuZGV2JA".to_owned(),
        ),
        (
            "CLERK_SIGN_IN_URL",
            "https://accounts.example.com/sign-in".to_owned(),
        ),
        ("CLERK_AUDIT_ALLOWED", "true".to_owned()),
        ("CLERK_EMERGENCY_BYPASS_REASON", "INC-7".to_owned()),
        ("CLERK_EMERGENCY_GRACE_SECONDS", "604800".to_owned()),
    ]
}

fn configs(v: &Value) -> Vec<(String, Config)> {
    let pem = v["keys"]["public_key_pem"].as_str().unwrap();
    let mut out = Vec::new();
    for mode in ["false", "true", "grace"] {
        let mut vars = base_vars(pem);
        vars.push(("CLERK_EMERGENCY_BYPASS", mode.to_owned()));
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let c = Config::from_pairs(&refs);
        assert!(c.problems.is_empty(), "{mode}: {:?}", c.problems);
        out.push((format!("valid, bypass {mode}"), c));
    }
    // Each bad value on its own, then all at once (with and without an open bypass).
    for (name, value) in BAD_VALUES {
        let mut vars: Vec<(&str, String)> = base_vars(pem)
            .into_iter()
            .filter(|(k, _)| k != name)
            .collect();
        vars.push((name, (*value).to_owned()));
        let refs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let c = Config::from_pairs(&refs);
        assert_eq!(
            c.problems.iter().map(|p| p.variable).collect::<Vec<_>>(),
            [*name],
            "{name}"
        );
        out.push((format!("bad {name}"), c));
    }
    for mode in ["true", "false"] {
        let mut vars: Vec<(&str, &str)> = BAD_VALUES
            .iter()
            .filter(|(k, _)| *k != "CLERK_EMERGENCY_BYPASS")
            .copied()
            .collect();
        vars.push(("CLERK_EMERGENCY_BYPASS", mode));
        let c = Config::from_pairs(&vars);
        assert!(c.problems.len() >= BAD_VALUES.len() - 1, "{:?}", c.problems);
        out.push((format!("everything bad, bypass {mode}"), c));
    }
    out
}

#[test]
fn decision_lines_carry_no_secret() {
    let v = vectors();
    let secrets = secrets(&v);
    let configs = configs(&v);
    let requests = requests(&v);
    let verifications = verifications(&v, &tokens_in(&v, &requests, &configs));
    // Every kind of token state is exercised.
    let kinds: std::collections::BTreeSet<String> = verifications
        .iter()
        .map(|v| match v {
            Verification::NoToken => "none".to_owned(),
            Verification::Verified(_) => "ok".to_owned(),
            Verification::Rejected { error, signed } => {
                format!(
                    "{}{}",
                    error.code(),
                    if signed.is_some() { "+signed" } else { "" }
                )
            }
        })
        .collect();
    for kind in [
        "none",
        "ok",
        "token-expired+signed",
        "token-not-active-yet+signed",
        "token-invalid-signature",
        "token-invalid",
        "token-invalid-authorized-parties",
        "token-verification-failed",
        "jwk-kid-mismatch",
    ] {
        assert!(kinds.contains(kind), "{kind} not exercised: {kinds:?}");
    }
    let mut lines = 0;
    let mut events = std::collections::BTreeSet::new();
    for (label, config) in &configs {
        for r in &requests {
            let facts = RequestFacts {
                method: r.method,
                path: r.path,
                url: &r.url,
                sec_fetch_dest: r.dest,
                accept: None,
            };
            for verification in &verifications {
                let identity = verification.identity().is_some();
                let hits: &[Option<DenyListHit>] = if identity {
                    &[None, Some(DenyListHit::Session), Some(DenyListHit::User)]
                } else {
                    &[None]
                };
                for &hit in hits {
                    let Outcome {
                        decision, audit, ..
                    } = decide(config, &facts, verification, hit, IAT_MS);
                    // What the client gets back must not echo secrets either (the redirect
                    // target may carry the original URL: it is the client's own).
                    if let Some(refusal) = decision.refusal() {
                        let body = refusal.body.to_string();
                        for s in &secrets {
                            assert!(!body.contains(s.as_str()), "{label}: body has {s}: {body}");
                        }
                        for (name, value) in &refusal.headers {
                            if *name != "location" {
                                assert!(
                                    !secrets.iter().any(|s| value.contains(s.as_str())),
                                    "{label}: header {name}: {value}"
                                );
                            }
                        }
                    }
                    for (name, value) in decision.forward_headers(config, IAT_MS) {
                        assert!(
                            !secrets.iter().any(|s| value.contains(s.as_str())),
                            "{label}: forwarded {name}: {value}"
                        );
                    }
                    let Some(event) = audit else { continue };
                    for with_query in [false, true] {
                        let line = event
                            .clone()
                            .with_request(&context(r, with_query))
                            .to_line(IAT_MS);
                        let parsed = check_line(&line, &secrets, label);
                        assert_eq!(parsed["path"], "/dash");
                        assert_eq!(parsed["method"], r.method);
                        assert_eq!(parsed["request_id"], "8d5f0a1b2c3d4e5f-AMS");
                        assert_eq!(parsed["ip"], "203.0.113.7");
                        assert_eq!(parsed["user_agent"], "Mozilla/5.0");
                        events.insert(parsed["event"].as_str().unwrap().to_owned());
                        lines += 1;
                    }
                }
            }
        }
    }
    // Every request-path event kind was produced and checked.
    assert_eq!(
        events.into_iter().collect::<Vec<_>>(),
        ["auth.allowed", "auth.bypassed", "auth.denied"]
    );
    assert!(lines > 1000, "{lines}");
}

#[test]
fn config_invalid_lines_name_the_variable_not_the_value() {
    let v = vectors();
    let secrets = secrets(&v);
    let mut lines = 0;
    let mut variables = std::collections::BTreeSet::new();
    for (label, config) in configs(&v) {
        for problem in &config.problems {
            let line = AuditEvent::new(Level::Error, "config.invalid")
                .text("variable", problem.variable)
                .text("problem", &problem.problem)
                .to_line(IAT_MS);
            let parsed = check_line(&line, &secrets, &label);
            assert_eq!(parsed["event"], "config.invalid");
            assert_eq!(parsed["level"], "error");
            assert_eq!(parsed["variable"], problem.variable);
            assert!(!problem.problem.is_empty());
            variables.insert(problem.variable);
            lines += 1;
        }
        // The configuration's Debug form (easy to log by accident) shows no secret
        // variable's value, valid or not.
        let debug = format!("{config:?}");
        for s in [
            SECRET_KEY,
            ADMIN_TOKEN,
            WEBHOOK_SECRET,
            WEBHOOK_SECRET.trim_start_matches("whsec_"),
            "BADSKSECRET",
            "BADADMINSECRET",
            "BADWHSECRET",
        ] {
            assert!(!debug.contains(s), "{label}: Debug shows {s}");
        }
    }
    // Every bad variable produced its line.
    for (name, _) in BAD_VALUES {
        assert!(variables.contains(name), "{name}");
    }
    assert!(lines >= 2 * BAD_VALUES.len(), "{lines}");
}

/// Text that comes from a token (a validly signed one: `sub`, `sid`) or from an operator
/// (the bypass reason) can neither break the line nor forge fields.
#[test]
fn hostile_identity_and_reason_text_stay_inside_one_line() {
    let v = vectors();
    let secrets = secrets(&v);
    let pem = v["keys"]["public_key_pem"].as_str().unwrap();
    let forged =
        "x\n{\"ts\":\"1970\",\"level\":\"info\",\"event\":\"auth.allowed\"}\r\u{2028}\u{1b}[2J";
    let long = "s".repeat(10_000);
    let identity = SessionClaims {
        user_id: forged.to_owned(),
        session_id: Some(long.clone()),
        org_id: None,
        org_role: None,
        expires_at: IAT_MS / 1000 - 10,
        ..SessionClaims::default()
    };
    let reason = format!("{forged}{long}");
    for mode in ["false", "true", "grace"] {
        let config = Config::from_pairs(&[
            ("CLERK_JWT_KEY", pem),
            ("CLERK_EMERGENCY_BYPASS", mode),
            ("CLERK_EMERGENCY_BYPASS_REASON", &reason),
            ("CLERK_AUDIT_ALLOWED", "true"),
        ]);
        let facts = RequestFacts {
            method: "GET",
            path: "/x",
            url: "https://app.example.com/x",
            sec_fetch_dest: None,
            accept: None,
        };
        let ctx = RequestContext::new(forged, forged, forged, forged, &long);
        for verification in [
            Verification::Verified(identity.clone()),
            Verification::Rejected {
                error: clerk_edge_guard::auth::token::TokenError::Expired,
                signed: Some(identity.clone()),
            },
        ] {
            for hit in [None, Some(DenyListHit::User)] {
                let out = decide(&config, &facts, &verification, hit, IAT_MS);
                let Some(event) = out.audit else { continue };
                let line = event.with_request(&ctx).to_line(IAT_MS);
                let parsed = check_line(&line, &secrets, mode);
                assert_ne!(parsed["ts"], "1970");
                assert!(parsed["event"].as_str().unwrap().starts_with("auth."));
                assert!(line.len() < 4096, "{mode}: {} bytes", line.len());
                if let Some(r) = parsed.get("bypass_reason").and_then(Value::as_str) {
                    assert!(r.chars().count() <= 500);
                }
                if let Some(ua) = parsed.get("user_agent").and_then(Value::as_str) {
                    assert!(ua.chars().count() <= 256);
                }
            }
        }
    }
}
