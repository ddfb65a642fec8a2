//! The protected-request decision, table-driven: bypass mode x path scope x expiry x
//! never-bypass x token state (x `CLERK_AUDIT_ALLOWED`), each cell checked for the decision,
//! the forwarded or refusal headers and the audit event; then misconfiguration, sign-in
//! redirects, routing and identity-header stripping.
//!
//! The expected answers are computed by a small model of CONTRACT.md written here, not read
//! from the code under test.

use clerk_edge_guard::admin::sync::{JobKind, SyncRoute};
use clerk_edge_guard::auth::token::{SessionClaims, TokenError, Verification};
use clerk_edge_guard::config::Config;
use clerk_edge_guard::policy::bypass::BypassMode;
use clerk_edge_guard::policy::decision::{
    decide, is_identity_header, needs_verification, route, AuthStatus, Decision, DenyListHit,
    Outcome, RequestFacts, Route,
};
use clerk_edge_guard::policy::paths::decode_path;
use serde_json::{json, Value};

/// 2023-11-14T22:13:20Z.
const NOW_MS: i64 = 1_700_000_000_000;
const NOW_S: i64 = NOW_MS / 1000;
const FUTURE: &str = "2030-01-01T00:00:00Z";
const FUTURE_FORMATTED: &str = "2030-01-01T00:00:00.000Z";
const PAST: &str = "2020-01-01T00:00:00Z";
const REASON: &str = "INC-7 Clerk outage";

fn pem() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/reference/vectors/clerk_session_jwt_vectors.json"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["keys"]["public_key_pem"].as_str().unwrap().to_owned()
}

/// A JSON API request: refusals are 401, never redirects.
fn api(path: &str) -> RequestFacts<'_> {
    RequestFacts {
        method: "GET",
        path,
        url: "https://app.example.com/api",
        sec_fetch_dest: None,
        accept: Some("application/json"),
    }
}

fn identity(exp: i64) -> SessionClaims {
    SessionClaims {
        user_id: "user_1".into(),
        session_id: Some("sess_1".into()),
        org_id: Some("org_1".into()),
        org_role: Some("org:admin".into()),
        expires_at: exp,
        ..SessionClaims::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    None,
    Valid,
    /// Expired 10 minutes ago (default grace: 1 hour).
    ExpiredWithinGrace,
    /// Expired 2 hours ago.
    ExpiredBeyondGrace,
    BadSignature,
    /// Validly signed, `nbf` in the future: grace does not forgive it.
    NotActiveYet,
    DenyListedSession,
    DenyListedUser,
}

const STATES: [TokenState; 8] = [
    TokenState::None,
    TokenState::Valid,
    TokenState::ExpiredWithinGrace,
    TokenState::ExpiredBeyondGrace,
    TokenState::BadSignature,
    TokenState::NotActiveYet,
    TokenState::DenyListedSession,
    TokenState::DenyListedUser,
];

fn facts_of(state: TokenState) -> (Verification, Option<DenyListHit>) {
    let rejected = |error, signed| Verification::Rejected { error, signed };
    match state {
        TokenState::None => (Verification::NoToken, None),
        TokenState::Valid => (Verification::Verified(identity(NOW_S + 60)), None),
        TokenState::ExpiredWithinGrace => (
            rejected(TokenError::Expired, Some(identity(NOW_S - 600))),
            None,
        ),
        TokenState::ExpiredBeyondGrace => (
            rejected(TokenError::Expired, Some(identity(NOW_S - 7200))),
            None,
        ),
        TokenState::BadSignature => (rejected(TokenError::InvalidSignature, None), None),
        TokenState::NotActiveYet => (
            rejected(TokenError::NotActiveYet, Some(identity(NOW_S + 60))),
            None,
        ),
        TokenState::DenyListedSession => (
            Verification::Verified(identity(NOW_S + 60)),
            Some(DenyListHit::Session),
        ),
        TokenState::DenyListedUser => (
            Verification::Verified(identity(NOW_S + 60)),
            Some(DenyListHit::User),
        ),
    }
}

/// What the contract says should happen.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    SignedIn,
    Bypassed {
        mode: &'static str,
        identified: bool,
    },
    SignedOut {
        reason: &'static str,
        identified: bool,
    },
    Misconfigured,
}

fn identity_headers(status: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-clerk-auth-status", status.to_owned()),
        ("x-clerk-user-id", "user_1".to_owned()),
        ("x-clerk-session-id", "sess_1".to_owned()),
        ("x-clerk-org-id", "org_1".to_owned()),
        ("x-clerk-org-role", "org:admin".to_owned()),
    ]
}

fn audit_json(outcome: &Outcome) -> Option<Value> {
    outcome.audit.as_ref().map(|event| {
        let line = event.to_line(NOW_MS);
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"))
    })
}

/// Checks one outcome against the expectation, the configured reason/until and
/// `CLERK_AUDIT_ALLOWED`; returns a description of the first mismatch.
fn check(
    outcome: &Outcome,
    expect: &Expect,
    until: Option<&str>,
    audit_allowed: bool,
) -> Result<(), String> {
    let d = &outcome.decision;
    // Without a secret key nothing is signed (the signature has its own tests below).
    let unsigned = Config::from_pairs(&[]);
    let forward_headers = || d.forward_headers(&unsigned, NOW_MS);
    let audit = audit_json(outcome);
    let ensure = |ok: bool, what: &str| {
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{what}: decision {d:?}, audit {audit:?}, expected {expect:?}"
            ))
        }
    };
    let has_identity = |a: &Value| a["user_id"] == "user_1" && a["session_id"] == "sess_1";
    let no_identity = |a: &Value| a.get("user_id").is_none() && a.get("session_id").is_none();
    match expect {
        Expect::SignedIn => {
            ensure(
                matches!(
                    d,
                    Decision::Forward {
                        status: AuthStatus::SignedIn,
                        identity: Some(_)
                    }
                ),
                "decision",
            )?;
            ensure(d.status().is_none() && d.refusal().is_none(), "forwarded")?;
            ensure(
                forward_headers() == identity_headers("signed-in"),
                "headers",
            )?;
            match (&audit, audit_allowed) {
                (None, false) => Ok(()),
                (Some(a), true) => ensure(
                    a["event"] == "auth.allowed"
                        && a["level"] == "info"
                        && a["auth_status"] == "signed-in"
                        && a.get("status").is_none()
                        && has_identity(a),
                    "auth.allowed",
                ),
                _ => ensure(false, "auth.allowed only with CLERK_AUDIT_ALLOWED=true"),
            }
        }
        Expect::Bypassed { mode, identified } => {
            let want_mode = if *mode == "open" {
                BypassMode::Open
            } else {
                BypassMode::Grace
            };
            ensure(
                matches!(d, Decision::Forward { status: AuthStatus::Bypassed(m), identity }
                    if *m == want_mode && identity.is_some() == *identified),
                "decision",
            )?;
            ensure(d.status().is_none() && d.refusal().is_none(), "forwarded")?;
            let headers = if *identified {
                identity_headers("bypassed")
            } else {
                vec![("x-clerk-auth-status", "bypassed".to_owned())]
            };
            ensure(forward_headers() == headers, "headers")?;
            let a = audit
                .as_ref()
                .ok_or_else(|| "no auth.bypassed event".to_owned())?;
            ensure(
                a["event"] == "auth.bypassed"
                    && a["level"] == "warn"
                    && a["mode"] == *mode
                    && a["bypass_reason"] == REASON
                    && a["until"] == until.map_or(Value::Null, |u| json!(u))
                    && a["auth_status"] == "bypassed"
                    && a.get("status").is_none(),
                "auth.bypassed fields",
            )?;
            ensure(
                if *identified {
                    has_identity(a)
                } else {
                    no_identity(a)
                },
                "auth.bypassed identity",
            )
        }
        Expect::SignedOut { reason, identified } => {
            ensure(
                *d == Decision::SignedOut {
                    reason,
                    redirect_to: None,
                },
                "decision",
            )?;
            ensure(d.status() == Some(401), "status")?;
            ensure(forward_headers().is_empty(), "no forward headers")?;
            let r = d.refusal().ok_or_else(|| "no refusal".to_owned())?;
            ensure(
                r.status == 401
                    && r.headers
                        == vec![
                            ("x-clerk-auth-status", "signed-out".to_owned()),
                            ("x-clerk-auth-reason", (*reason).to_owned()),
                        ]
                    && r.body == json!({"error": "unauthenticated", "reason": reason}),
                "refusal",
            )?;
            let a = audit
                .as_ref()
                .ok_or_else(|| "no auth.denied event".to_owned())?;
            ensure(
                a["event"] == "auth.denied"
                    && a["level"] == "warn"
                    && a["reason"] == *reason
                    && a["status"] == 401
                    && a["auth_status"] == "signed-out",
                "auth.denied fields",
            )?;
            ensure(
                if *identified {
                    has_identity(a)
                } else {
                    no_identity(a)
                },
                "auth.denied identity",
            )
        }
        Expect::Misconfigured => {
            ensure(matches!(d, Decision::Misconfigured { .. }), "decision")?;
            ensure(d.status() == Some(500), "status")?;
            let r = d.refusal().ok_or_else(|| "no refusal".to_owned())?;
            ensure(
                r.status == 500
                    && r.headers
                        == vec![
                            ("x-clerk-auth-status", "signed-out".to_owned()),
                            ("x-clerk-auth-reason", "misconfigured".to_owned()),
                        ]
                    && r.body["error"] == "misconfigured"
                    && r.body["reason"] == "misconfigured",
                "refusal",
            )?;
            let a = audit
                .as_ref()
                .ok_or_else(|| "no auth.denied event".to_owned())?;
            ensure(
                a["event"] == "auth.denied"
                    && a["reason"] == "misconfigured"
                    && a["status"] == 500
                    && a["auth_status"] == "signed-out",
                "auth.denied fields",
            )
        }
    }
}

/// The model: which bypass applies, then CONTRACT.md's rules.
fn expected(mode: &str, bypass_applies: bool, state: TokenState, misconfigured: bool) -> Expect {
    // `mode` is the CLERK_EMERGENCY_BYPASS value; the model speaks in mode names.
    let mode = match mode {
        "true" if bypass_applies => "open",
        "grace" if bypass_applies => "grace",
        _ => "off",
    };
    // Broken token checking: 500, except for what a bypass in force lets through.
    if misconfigured && mode == "off" {
        return Expect::Misconfigured;
    }
    let signed_out = |reason, identified| Expect::SignedOut { reason, identified };
    match (state, mode) {
        (TokenState::DenyListedSession, _) => signed_out("session-revoked", true),
        (TokenState::DenyListedUser, _) => signed_out("user-revoked", true),
        (TokenState::Valid, _) if misconfigured => Expect::Bypassed {
            mode,
            identified: true,
        },
        (TokenState::Valid, _) => Expect::SignedIn,
        (TokenState::ExpiredWithinGrace, "grace") => Expect::Bypassed {
            mode: "grace",
            identified: true,
        },
        (_, "open") => Expect::Bypassed {
            mode: "open",
            identified: false,
        },
        _ if misconfigured => Expect::Misconfigured,
        (TokenState::None, _) => signed_out("session-token-and-uat-missing", false),
        (TokenState::ExpiredWithinGrace | TokenState::ExpiredBeyondGrace, _) => {
            signed_out("token-expired", true)
        }
        (TokenState::NotActiveYet, _) => signed_out("token-not-active-yet", true),
        (TokenState::BadSignature, _) => signed_out("token-invalid-signature", false),
    }
}

#[test]
fn bypass_policy_table() {
    let key = pem();
    let mut checked = 0;
    let mut failures = Vec::new();
    for mode in ["false", "true", "grace"] {
        for scope in [None, Some("/app/*")] {
            for until in [None, Some(FUTURE), Some(PAST)] {
                for audit_allowed in [false, true] {
                    let mut vars = vec![
                        ("CLERK_JWT_KEY", key.as_str()),
                        ("CLERK_EMERGENCY_BYPASS", mode),
                        ("CLERK_EMERGENCY_BYPASS_REASON", REASON),
                        ("CLERK_NEVER_BYPASS_PATHS", "/admin/*"),
                        (
                            "CLERK_AUDIT_ALLOWED",
                            if audit_allowed { "true" } else { "false" },
                        ),
                    ];
                    if let Some(s) = scope {
                        vars.push(("CLERK_EMERGENCY_BYPASS_PATHS", s));
                    }
                    if let Some(u) = until {
                        vars.push(("CLERK_EMERGENCY_BYPASS_UNTIL", u));
                    }
                    let config = Config::from_pairs(&vars);
                    assert!(config.problems.is_empty(), "{:?}", config.problems);
                    assert!(needs_verification(&config, "/x", NOW_MS));
                    let until_formatted = until.map(|_| FUTURE_FORMATTED);
                    for path in ["/app/x", "/other", "/admin/panel", "/%61dmin/panel"] {
                        let decoded = decode_path(path);
                        let in_scope = scope.is_none() || decoded.starts_with("/app/");
                        let never = decoded.starts_with("/admin/");
                        let live = until != Some(PAST);
                        let applies = mode != "false" && in_scope && !never && live;
                        for state in STATES {
                            let (verification, deny) = facts_of(state);
                            let outcome =
                                decide(&config, &api(&decoded), &verification, deny, NOW_MS);
                            let expect = if state == TokenState::Valid && applies && mode == "true"
                            {
                                // See `a_valid_token_under_open_bypass_keeps_its_identity`.
                                Expect::Bypassed {
                                    mode: "open",
                                    identified: true,
                                }
                            } else {
                                expected(mode, applies, state, false)
                            };
                            if let Err(e) = check(&outcome, &expect, until_formatted, audit_allowed)
                            {
                                failures.push(format!(
                                    "mode={mode} scope={scope:?} until={until:?} \
                                     audit_allowed={audit_allowed} path={path} \
                                     state={state:?}: {e}"
                                ));
                            }
                            checked += 1;
                        }
                    }
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 3 * 2 * 3 * 2 * 4 * STATES.len());
    assert!(checked > 500);
}

/// The emergency-bypass issue: "`true` (open): every protected request passes with
/// `x-clerk-auth-status: bypassed`; a request that does carry a valid token still gets its
/// identity headers". So during an open bypass the origin can always tell that auth is not
/// being enforced, and the audit log accounts for every request that passed while it was on.
#[test]
fn a_valid_token_under_open_bypass_keeps_its_identity() {
    let key = pem();
    for audit_allowed in ["false", "true"] {
        let config = Config::from_pairs(&[
            ("CLERK_JWT_KEY", &key),
            ("CLERK_EMERGENCY_BYPASS", "true"),
            ("CLERK_EMERGENCY_BYPASS_REASON", REASON),
            ("CLERK_AUDIT_ALLOWED", audit_allowed),
        ]);
        let (verification, deny) = facts_of(TokenState::Valid);
        let outcome = decide(&config, &api("/app"), &verification, deny, NOW_MS);
        check(
            &outcome,
            &Expect::Bypassed {
                mode: "open",
                identified: true,
            },
            None,
            audit_allowed == "true",
        )
        .unwrap();
    }
}

#[test]
fn grace_window_edges_and_other_time_refusals() {
    let key = pem();
    let config = Config::from_pairs(&[
        ("CLERK_JWT_KEY", &key),
        ("CLERK_EMERGENCY_BYPASS", "Grace"),
        ("CLERK_EMERGENCY_BYPASS_REASON", REASON),
        ("CLERK_EMERGENCY_GRACE_SECONDS", "60"),
    ]);
    let exp = NOW_S - 60;
    let expired = |exp| Verification::Rejected {
        error: TokenError::Expired,
        signed: Some(identity(exp)),
    };
    // Inclusive: exactly exp + grace still passes; one millisecond later it does not.
    let at_edge = decide(&config, &api("/x"), &expired(exp), None, NOW_MS);
    check(
        &at_edge,
        &Expect::Bypassed {
            mode: "grace",
            identified: true,
        },
        None,
        false,
    )
    .unwrap();
    let past_edge = decide(&config, &api("/x"), &expired(exp), None, NOW_MS + 1);
    assert_eq!(past_edge.decision.status(), Some(401));
    assert_eq!(
        audit_json(&past_edge).unwrap()["reason"],
        json!("token-expired")
    );
    // Grace forgives expiry only: an identity refused for iat, or a deny-listed one, is not
    // let through.
    for (verification, deny, reason) in [
        (
            Verification::Rejected {
                error: TokenError::IatInTheFuture,
                signed: Some(identity(NOW_S + 60)),
            },
            None,
            "token-iat-in-the-future",
        ),
        (expired(exp), Some(DenyListHit::Session), "session-revoked"),
        (expired(exp), Some(DenyListHit::User), "user-revoked"),
        (
            Verification::Rejected {
                error: TokenError::InvalidAuthorizedParties,
                signed: None,
            },
            None,
            "token-invalid-authorized-parties",
        ),
        (
            Verification::Rejected {
                error: TokenError::Expired,
                signed: None,
            },
            None,
            "token-expired",
        ),
    ] {
        let out = decide(&config, &api("/x"), &verification, deny, NOW_MS);
        assert_eq!(
            out.decision,
            Decision::SignedOut {
                reason,
                redirect_to: None
            }
        );
    }
}

#[test]
fn bypass_expiry_is_exclusive_and_broken_bypass_variables_keep_it_off() {
    let key = pem();
    let at = |until: &str, now: i64| {
        let config = Config::from_pairs(&[
            ("CLERK_JWT_KEY", &key),
            ("CLERK_EMERGENCY_BYPASS", "true"),
            ("CLERK_EMERGENCY_BYPASS_UNTIL", until),
        ]);
        decide(&config, &api("/x"), &Verification::NoToken, None, now)
    };
    // 2023-11-14T22:13:20Z is NOW_MS.
    assert!(matches!(
        at("2023-11-14T22:13:20.001Z", NOW_MS).decision,
        Decision::Forward { .. }
    ));
    assert_eq!(
        at("2023-11-14T22:13:20Z", NOW_MS).decision.status(),
        Some(401)
    );
    assert_eq!(
        at("2023-11-14T22:13:20Z", NOW_MS + 1).decision.status(),
        Some(401)
    );

    // Any broken bypass variable leaves the bypass off, without failing auth closed.
    for (name, value) in [
        ("CLERK_EMERGENCY_BYPASS_UNTIL", "tomorrow"),
        ("CLERK_EMERGENCY_BYPASS_PATHS", "app/*"),
        ("CLERK_NEVER_BYPASS_PATHS", "admin"),
        ("CLERK_EMERGENCY_GRACE_SECONDS", "forever"),
    ] {
        let config = Config::from_pairs(&[
            ("CLERK_JWT_KEY", &key),
            ("CLERK_EMERGENCY_BYPASS", "true"),
            (name, value),
        ]);
        assert_eq!(config.bypass.mode, BypassMode::Off, "{name}");
        assert!(needs_verification(&config, "/x", NOW_MS), "{name}");
        let out = decide(&config, &api("/x"), &Verification::NoToken, None, NOW_MS);
        assert_eq!(
            out.decision,
            Decision::SignedOut {
                reason: "session-token-and-uat-missing",
                redirect_to: None
            },
            "{name}"
        );
    }
    // A typo in the mode itself: off.
    for typo in ["yes", "1", "on", "open", ""] {
        let config =
            Config::from_pairs(&[("CLERK_JWT_KEY", &key), ("CLERK_EMERGENCY_BYPASS", typo)]);
        assert_eq!(config.bypass.mode, BypassMode::Off, "{typo:?}");
        let out = decide(&config, &api("/x"), &Verification::NoToken, None, NOW_MS);
        assert_eq!(out.decision.status(), Some(401), "{typo:?}");
    }
    for (value, mode) in [
        (" TRUE ", BypassMode::Open),
        ("True", BypassMode::Open),
        ("GRACE", BypassMode::Grace),
        ("False", BypassMode::Off),
    ] {
        let config =
            Config::from_pairs(&[("CLERK_JWT_KEY", &key), ("CLERK_EMERGENCY_BYPASS", value)]);
        assert_eq!(config.bypass.mode, mode, "{value:?}");
        assert!(config.problems.is_empty(), "{value:?}");
    }
}

/// Misconfigured token checking fails closed (500) unless an open bypass applies.
#[test]
fn misconfiguration_table() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for mode in ["false", "true", "grace"] {
        for scope in [None, Some("/app/*")] {
            for until in [None, Some(FUTURE), Some(PAST)] {
                let mut vars = vec![
                    ("CLERK_EMERGENCY_BYPASS", mode),
                    ("CLERK_EMERGENCY_BYPASS_REASON", REASON),
                    ("CLERK_NEVER_BYPASS_PATHS", "/admin/*"),
                ];
                if let Some(s) = scope {
                    vars.push(("CLERK_EMERGENCY_BYPASS_PATHS", s));
                }
                if let Some(u) = until {
                    vars.push(("CLERK_EMERGENCY_BYPASS_UNTIL", u));
                }
                // No key at all.
                let config = Config::from_pairs(&vars);
                assert!(!needs_verification(&config, "/app/x", NOW_MS));
                for path in ["/app/x", "/other", "/admin/panel"] {
                    let in_scope = scope.is_none() || path.starts_with("/app/");
                    let applies = mode != "false"
                        && in_scope
                        && !path.starts_with("/admin/")
                        && until != Some(PAST);
                    // The adapter does not verify while misconfigured: no token state.
                    let out = decide(&config, &api(path), &Verification::NoToken, None, NOW_MS);
                    let expect = expected(mode, applies, TokenState::None, true);
                    if let Err(e) = check(&out, &expect, until.map(|_| FUTURE_FORMATTED), false) {
                        failures.push(format!(
                            "mode={mode} scope={scope:?} until={until:?} path={path}: {e}"
                        ));
                    }
                    if expect == Expect::Misconfigured {
                        assert_eq!(
                            out.decision,
                            Decision::Misconfigured {
                                variables: vec!["CLERK_JWT_KEY"]
                            }
                        );
                        let body = out.decision.refusal().unwrap().body;
                        assert_eq!(body["variables"], json!(["CLERK_JWT_KEY"]));
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, 3 * 2 * 3 * 3);
}

/// A bypass in force keeps working while another token-checking variable is broken, with
/// everything the keys still allow: identity headers, the deny-list and grace. What the
/// bypass does not let through fails closed.
#[test]
fn bypass_with_broken_token_checking_keeps_identity_and_deny_list() {
    let key = pem();
    let mut checked = 0;
    let mut failures = Vec::new();
    for broken in [
        ("CLERK_CLOCK_SKEW_MS", "lots"),
        ("CLERK_AUDIT_ALLOWED", "yes"),
        ("ORIGIN_URL", "origin.internal"),
    ] {
        for mode in ["false", "true", "grace"] {
            let config = Config::from_pairs(&[
                ("CLERK_JWT_KEY", &key),
                ("CLERK_EMERGENCY_BYPASS", mode),
                ("CLERK_EMERGENCY_BYPASS_REASON", REASON),
                ("CLERK_NEVER_BYPASS_PATHS", "/admin/*"),
                broken,
            ]);
            assert_eq!(
                config
                    .auth_problems()
                    .map(|p| p.variable)
                    .collect::<Vec<_>>(),
                vec![broken.0]
            );
            for path in ["/app/x", "/admin/panel"] {
                let applies = mode != "false" && path == "/app/x";
                assert_eq!(needs_verification(&config, path, NOW_MS), applies);
                for state in STATES {
                    let (verification, deny_hit) = facts_of(state);
                    let out = decide(&config, &api(path), &verification, deny_hit, NOW_MS);
                    let expect = expected(mode, applies, state, true);
                    if let Err(e) = check(&out, &expect, None, false) {
                        failures.push(format!("{broken:?} mode={mode} {path} {state:?}: {e}"));
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, 3 * 3 * 2 * STATES.len());

    // A broken skew is replaced by the strictest one, never by a guess that widens it.
    let config = Config::from_pairs(&[("CLERK_JWT_KEY", &key), ("CLERK_CLOCK_SKEW_MS", "lots")]);
    assert_eq!(config.clock_skew_ms, 0);
    // Keys that cannot be used: nothing to verify, so grace fails closed and open passes
    // without identity.
    for (name, value) in [
        ("CLERK_SECRET_KEY", "pk_test_wrong"),
        ("CLERK_API_URL", "nope"),
    ] {
        // The first pair of a name wins.
        let config = Config::from_pairs(&[
            (name, value),
            ("CLERK_SECRET_KEY", "sk_test_x"),
            ("CLERK_EMERGENCY_BYPASS", "grace"),
            ("CLERK_AUDIT_ALLOWED", "yes"),
        ]);
        assert!(!config.keys_usable(), "{name}");
        assert!(!needs_verification(&config, "/app/x", NOW_MS), "{name}");
    }
}

#[test]
fn which_variables_fail_closed() {
    let key = pem();
    let request = |vars: &[(&str, &str)]| {
        let config = Config::from_pairs(vars);
        decide(&config, &api("/x"), &Verification::NoToken, None, NOW_MS).decision
    };
    // A broken token-checking variable: 500 naming it (and only it).
    assert_eq!(
        request(&[("CLERK_JWT_KEY", &key), ("CLERK_CLOCK_SKEW_MS", "lots")]),
        Decision::Misconfigured {
            variables: vec!["CLERK_CLOCK_SKEW_MS"]
        }
    );
    assert_eq!(
        request(&[(
            "CLERK_JWT_KEY",
            "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"
        )]),
        Decision::Misconfigured {
            variables: vec!["CLERK_JWT_KEY"]
        }
    );
    assert_eq!(
        request(&[("CLERK_SECRET_KEY", "pk_test_wrong")]),
        Decision::Misconfigured {
            variables: vec!["CLERK_SECRET_KEY"]
        }
    );
    // Webhook, admin and bypass variables do not break token checking.
    for (name, value) in [
        ("CLERK_WEBHOOK_SIGNING_SECRET", "whsec_%%%"),
        ("CLERK_WEBHOOKS_PAUSED", "maybe"),
        ("CLERK_ADMIN_TOKEN", "short"),
        ("CLERK_EMERGENCY_BYPASS", "yes"),
    ] {
        assert_eq!(
            request(&[("CLERK_JWT_KEY", &key), (name, value)]),
            Decision::SignedOut {
                reason: "session-token-and-uat-missing",
                redirect_to: None
            },
            "{name}"
        );
    }
    // A JWKS configuration (secret key only) is not a problem.
    assert_eq!(
        request(&[("CLERK_SECRET_KEY", "sk_test_abc")]).status(),
        Some(401)
    );
}

// ---------------------------------------------------------------------------------------
// Sign-in redirects

struct Req {
    method: &'static str,
    path: &'static str,
    url: &'static str,
    dest: Option<&'static str>,
    accept: Option<&'static str>,
}

fn req(method: &'static str, dest: Option<&'static str>, accept: Option<&'static str>) -> Req {
    Req {
        method,
        path: "/dash",
        url: "https://app.example.com/dash?tab=1&next=/x",
        dest,
        accept,
    }
}

fn decide_req(config: &Config, r: &Req, verification: &Verification) -> Outcome {
    let facts = RequestFacts {
        method: r.method,
        path: r.path,
        url: r.url,
        sec_fetch_dest: r.dest,
        accept: r.accept,
    };
    decide(config, &facts, verification, None, NOW_MS)
}

const ENCODED_URL: &str = "https%3A%2F%2Fapp.example.com%2Fdash%3Ftab%3D1%26next%3D%2Fx";

#[test]
fn document_requests_are_redirected_to_sign_in() {
    let key = pem();
    let config = Config::from_pairs(&[
        ("CLERK_JWT_KEY", &key),
        ("CLERK_SIGN_IN_URL", "https://accounts.example.com/sign-in"),
    ]);
    let location = format!("https://accounts.example.com/sign-in?redirect_url={ENCODED_URL}");
    let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";
    let mut checked = 0;
    for (r, redirect) in [
        (req("GET", Some("document"), None), true),
        (req("GET", Some("DOCUMENT"), Some("*/*")), true),
        (req("get", Some("document"), None), true),
        (req("GET", None, Some(html)), true),
        (req("GET", Some("empty"), Some(html)), true),
        (req("POST", Some("document"), Some(html)), false),
        (req("PUT", None, Some(html)), false),
        (req("HEAD", Some("document"), None), false),
        (req("GET", None, Some("application/json")), false),
        (req("GET", Some("empty"), Some("*/*")), false),
        (req("GET", Some("iframe"), None), false),
        (req("GET", None, None), false),
    ] {
        let label = format!("{} dest={:?} accept={:?}", r.method, r.dest, r.accept);
        for (verification, reason) in [
            (Verification::NoToken, "session-token-and-uat-missing"),
            (
                Verification::Rejected {
                    error: TokenError::Expired,
                    signed: Some(identity(NOW_S - 7200)),
                },
                "token-expired",
            ),
        ] {
            let out = decide_req(&config, &r, &verification);
            let want = redirect.then(|| location.clone());
            assert_eq!(
                out.decision,
                Decision::SignedOut {
                    reason,
                    redirect_to: want.clone()
                },
                "{label}"
            );
            let status = if redirect { 307 } else { 401 };
            assert_eq!(out.decision.status(), Some(status), "{label}");
            let refusal = out.decision.refusal().unwrap();
            assert_eq!(refusal.status, status, "{label}");
            let mut headers = vec![
                ("x-clerk-auth-status", "signed-out".to_owned()),
                ("x-clerk-auth-reason", reason.to_owned()),
            ];
            if let Some(l) = &want {
                headers.push(("location", l.clone()));
            }
            assert_eq!(refusal.headers, headers, "{label}");
            assert_eq!(
                refusal.body,
                json!({"error": "unauthenticated", "reason": reason})
            );
            let audit = audit_json(&out).unwrap();
            assert_eq!(audit["event"], "auth.denied");
            assert_eq!(audit["status"], status, "{label}");
            assert_eq!(audit["auth_status"], "signed-out", "{label}");
            assert_eq!(audit["reason"], reason);
            checked += 1;
        }
    }
    assert_eq!(checked, 24);
}

#[test]
fn redirect_target_forms() {
    let key = pem();
    let doc = req("GET", Some("document"), None);
    let redirect_for = |sign_in: &str, r: &Req| {
        let config = Config::from_pairs(&[("CLERK_JWT_KEY", &key), ("CLERK_SIGN_IN_URL", sign_in)]);
        assert!(config.problems.is_empty(), "{sign_in}");
        match decide_req(&config, r, &Verification::NoToken).decision {
            Decision::SignedOut { redirect_to, .. } => redirect_to,
            other => panic!("{other:?}"),
        }
    };
    // A sign-in URL with its own query gets `&`.
    assert_eq!(
        redirect_for("https://accounts.example.com/sign-in?lang=en", &doc),
        Some(format!(
            "https://accounts.example.com/sign-in?lang=en&redirect_url={ENCODED_URL}"
        ))
    );
    // A relative sign-in page.
    assert_eq!(
        redirect_for("/sign-in", &doc),
        Some(format!("/sign-in?redirect_url={ENCODED_URL}"))
    );
    // The sign-in page itself is never redirected to itself.
    let on_sign_in = Req {
        path: "/sign-in",
        url: "https://app.example.com/sign-in",
        ..req("GET", Some("document"), None)
    };
    assert_eq!(redirect_for("/sign-in", &on_sign_in), None);
    // Hostile characters in the original URL are percent-encoded.
    let hostile = Req {
        url: "https://app.example.com/a b?x=\"<script>\"&y=%41#frag\r\nSet-Cookie: z",
        ..req("GET", Some("document"), None)
    };
    let target = redirect_for("https://accounts.example.com/sign-in", &hostile).unwrap();
    let encoded = target
        .strip_prefix("https://accounts.example.com/sign-in?redirect_url=")
        .unwrap();
    assert!(
        encoded
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b)),
        "{encoded}"
    );
    assert_eq!(decode_path(encoded), hostile.url);
    // Without CLERK_SIGN_IN_URL every refusal is a 401.
    let config = Config::from_pairs(&[("CLERK_JWT_KEY", &key)]);
    assert_eq!(
        decide_req(&config, &doc, &Verification::NoToken)
            .decision
            .status(),
        Some(401)
    );
    // Misconfiguration is a 500 even for a document request; a bypass forwards.
    let broken = config_with_sign_in(&[("CLERK_CLOCK_SKEW_MS", "x")]);
    assert_eq!(
        decide_req(&broken, &doc, &Verification::NoToken)
            .decision
            .status(),
        Some(500)
    );
    let open = config_with_sign_in(&[("CLERK_JWT_KEY", &key), ("CLERK_EMERGENCY_BYPASS", "true")]);
    assert!(matches!(
        decide_req(&open, &doc, &Verification::NoToken).decision,
        Decision::Forward { .. }
    ));
    // A deny-listed identity is redirected like any signed-out document request.
    let config = config_with_sign_in(&[("CLERK_JWT_KEY", &key)]);
    let facts = RequestFacts {
        method: "GET",
        path: doc.path,
        url: doc.url,
        sec_fetch_dest: doc.dest,
        accept: None,
    };
    let out = decide(
        &config,
        &facts,
        &Verification::Verified(identity(NOW_S + 60)),
        Some(DenyListHit::Session),
        NOW_MS,
    );
    assert_eq!(out.decision.status(), Some(307));
    assert_eq!(audit_json(&out).unwrap()["reason"], "session-revoked");
}

fn config_with_sign_in(vars: &[(&str, &str)]) -> Config {
    let mut all = vars.to_vec();
    all.push(("CLERK_SIGN_IN_URL", "https://accounts.example.com/sign-in"));
    Config::from_pairs(&all)
}

// ---------------------------------------------------------------------------------------
// Routing and identity headers

#[test]
fn clerk_routes_are_never_public() {
    let key = pem();
    let everything_public =
        Config::from_pairs(&[("CLERK_JWT_KEY", &key), ("CLERK_PUBLIC_PATHS", "/*")]);
    let some_public = Config::from_pairs(&[
        ("CLERK_JWT_KEY", &key),
        (
            "CLERK_PUBLIC_PATHS",
            "/health, /docs/*, /__clerk/*, /__clerk/health",
        ),
    ]);
    assert!(some_public.problems.is_empty());
    let none_public = Config::from_pairs(&[("CLERK_JWT_KEY", &key)]);
    let mut checked = 0;
    for (path, all, some, none) in [
        (
            "/__clerk/health",
            Route::Health,
            Route::Health,
            Route::Health,
        ),
        (
            "/__clerk/webhooks",
            Route::Webhooks,
            Route::Webhooks,
            Route::Webhooks,
        ),
        (
            "/__clerk/admin/revoke",
            Route::AdminRevoke,
            Route::AdminRevoke,
            Route::AdminRevoke,
        ),
        (
            "/__clerk/admin/restore",
            Route::AdminRestore,
            Route::AdminRestore,
            Route::AdminRestore,
        ),
        (
            "/__clerk/admin/resync",
            Route::AdminSync(SyncRoute::Job(JobKind::Resync)),
            Route::AdminSync(SyncRoute::Job(JobKind::Resync)),
            Route::AdminSync(SyncRoute::Job(JobKind::Resync)),
        ),
        (
            "/__clerk/admin/verify-sync/cancel",
            Route::AdminSync(SyncRoute::Cancel(JobKind::Verify)),
            Route::AdminSync(SyncRoute::Cancel(JobKind::Verify)),
            Route::AdminSync(SyncRoute::Cancel(JobKind::Verify)),
        ),
        (
            "/__clerk/admin/export",
            Route::AdminSync(SyncRoute::Export),
            Route::AdminSync(SyncRoute::Export),
            Route::AdminSync(SyncRoute::Export),
        ),
        (
            "/__clerk/admin/resync/other",
            Route::ClerkNotFound,
            Route::ClerkNotFound,
            Route::ClerkNotFound,
        ),
        (
            "/__clerk",
            Route::ClerkNotFound,
            Route::ClerkNotFound,
            Route::ClerkNotFound,
        ),
        (
            "/__clerk/",
            Route::ClerkNotFound,
            Route::ClerkNotFound,
            Route::ClerkNotFound,
        ),
        (
            "/__clerk/anything/else",
            Route::ClerkNotFound,
            Route::ClerkNotFound,
            Route::ClerkNotFound,
        ),
        (
            "/__clerk/health/x",
            Route::ClerkNotFound,
            Route::ClerkNotFound,
            Route::ClerkNotFound,
        ),
        (
            "/__clerk/admin",
            Route::ClerkNotFound,
            Route::ClerkNotFound,
            Route::ClerkNotFound,
        ),
        (
            "/__clerkish",
            Route::Public,
            Route::Protected,
            Route::Protected,
        ),
        ("/", Route::Public, Route::Protected, Route::Protected),
        ("/health", Route::Public, Route::Public, Route::Protected),
        (
            "/healthz",
            Route::Public,
            Route::Protected,
            Route::Protected,
        ),
        ("/docs", Route::Public, Route::Public, Route::Protected),
        ("/docs/a/b", Route::Public, Route::Public, Route::Protected),
        ("/app", Route::Public, Route::Protected, Route::Protected),
    ] {
        assert_eq!(route(&everything_public, path), all, "/* {path}");
        assert_eq!(route(&some_public, path), some, "some {path}");
        assert_eq!(route(&none_public, path), none, "none {path}");
        checked += 1;
    }
    assert_eq!(checked, 20);
    // Routing is on the percent-decoded path: an encoded /__clerk is still ours.
    assert_eq!(
        route(&everything_public, &decode_path("/%5F%5Fclerk/admin/x")),
        Route::ClerkNotFound
    );
    assert_eq!(
        route(
            &everything_public,
            &decode_path("/__clerk%2Fadmin%2Frevoke")
        ),
        Route::AdminRevoke
    );
    // /__clerk/* is never bypassed either.
    let open = Config::from_pairs(&[("CLERK_JWT_KEY", &key), ("CLERK_EMERGENCY_BYPASS", "true")]);
    assert_eq!(
        open.bypass.mode_for("/__clerk/admin/revoke", NOW_MS),
        BypassMode::Off
    );
    assert_eq!(open.bypass.mode_for("/app", NOW_MS), BypassMode::Open);
}

#[test]
fn identity_headers_are_recognised_in_any_case() {
    let mut checked = 0;
    for (name, ours) in [
        ("x-clerk-user-id", true),
        ("X-Clerk-User-Id", true),
        ("X-CLERK-AUTH-STATUS", true),
        ("x-clerk-org-role", true),
        ("x-clerk-session-id", true),
        ("x-clerk-anything-new", true),
        ("x-clerk-", true),
        ("x-clerk", false),
        ("x-clerkx-user-id", false),
        ("x-clerk_user_id", true),
        ("x_clerk_user_id", true),
        ("X_Clerk-Org-Role", true),
        ("x_clerk", false),
        ("x.clerk-user-id", false),
        ("clerk-user-id", false),
        ("authorization", false),
        ("cookie", false),
        ("", false),
        ("x", false),
    ] {
        assert_eq!(is_identity_header(name), ours, "{name:?}");
        checked += 1;
    }
    assert_eq!(checked, 19);
    // Every header the guard sets is one the guard strips.
    let d = Decision::Forward {
        status: AuthStatus::SignedIn,
        identity: Some(identity(NOW_S)),
    };
    for (name, _) in d.forward_headers(
        &Config::from_pairs(&[("CLERK_SECRET_KEY", "sk_test_x")]),
        NOW_MS,
    ) {
        assert!(is_identity_header(name), "{name}");
    }
}

/// Header names come from the runtime, which only yields valid (ASCII) names, but the
/// function is public and must not panic (a panic aborts the isolate).
#[test]
fn identity_header_check_never_panics() {
    for name in [
        "x-clerk\u{e9}",
        "x-cler\u{20ac}k-id",
        "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
    ] {
        assert!(!is_identity_header(name), "{name:?}");
    }
}
