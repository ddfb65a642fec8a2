//! The protected-request decision: request facts + configuration + verification outcome +
//! deny-list state + the current time -> what to do, and the audit event that says so.
//!
//! The adapters gather the facts (which need I/O: JWKS, KV) and carry out the decision
//! (which needs a runtime: fetch, responses); every rule of who gets in lives here.

use serde_json::{json, Value};

use crate::admin::sync::SyncRoute;
use crate::audit::{AuditEvent, Level};
use crate::auth::handshake::{ClerkState, Directives};
use crate::auth::token::{SessionClaims, TokenError, Verification};
use crate::config::{Config, Impact};
use crate::policy::bypass::BypassMode;
use crate::policy::paths::{has_dot_segments, PathPatterns};

/// `x-clerk-auth-status`: `signed-in`, `bypassed`, `signed-out` or `handshake`.
pub const HEADER_AUTH_STATUS: &str = "x-clerk-auth-status";
/// `x-clerk-auth-reason`: the reason code of a signed-out answer.
pub const HEADER_AUTH_REASON: &str = "x-clerk-auth-reason";
/// `x-clerk-user-id`.
pub const HEADER_USER_ID: &str = "x-clerk-user-id";
/// `x-clerk-session-id`.
pub const HEADER_SESSION_ID: &str = "x-clerk-session-id";
/// `x-clerk-org-id`.
pub const HEADER_ORG_ID: &str = "x-clerk-org-id";
/// `x-clerk-org-role`.
pub const HEADER_ORG_ROLE: &str = "x-clerk-org-role";
/// `x-clerk-org-slug`.
pub const HEADER_ORG_SLUG: &str = "x-clerk-org-slug";
/// `x-clerk-org-permissions`: the active organization's permissions, comma-separated.
pub const HEADER_ORG_PERMISSIONS: &str = "x-clerk-org-permissions";
/// A route asked for an organization role the user does not have.
pub const REASON_ROLE_REQUIRED: &str = "role-required";
/// A route asked for an organization permission the user does not have.
pub const REASON_PERMISSION_REQUIRED: &str = "permission-required";
/// A route's own check (`auth.protect(has => …)`) said no.
pub const REASON_AUTHORIZATION_REQUIRED: &str = "authorization-required";
/// `x-clerk-auth-reason` of a request forwarded unchecked because its path is public.
pub const REASON_PUBLIC_PATH: &str = "public-path";

/// The reason when a request carries no token at all (as `@clerk/backend`).
pub const REASON_NO_TOKEN: &str = "session-token-and-uat-missing";
/// The reason of a 500 answer while the configuration is broken.
pub const REASON_MISCONFIGURED: &str = "misconfigured";

/// Whether an incoming header is one of ours and must be removed before forwarding, so a
/// client can never claim an identity. `x_clerk_*` spellings count too: CGI-style origins
/// (Rack, WSGI, PHP) read `x_clerk_user_id` and `x-clerk-user-id` as the same
/// `HTTP_X_CLERK_USER_ID`.
pub fn is_identity_header(name: &str) -> bool {
    let Some([x, first, clerk @ .., last]) = name.as_bytes().get(..8) else {
        return false;
    };
    let separator = |b: &u8| *b == b'-' || *b == b'_';
    x.eq_ignore_ascii_case(&b'x')
        && separator(first)
        && clerk.eq_ignore_ascii_case(b"clerk")
        && separator(last)
}

/// Which handler a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /__clerk/health`.
    Health,
    /// `POST /__clerk/webhooks`.
    Webhooks,
    /// `POST /__clerk/admin/revoke`.
    AdminRevoke,
    /// `POST /__clerk/admin/restore`.
    AdminRestore,
    /// `GET /__clerk/admin/diagnose`.
    AdminDiagnose,
    /// The resync, integrity-check and export routes (`/__clerk/admin/resync`, …).
    AdminSync(SyncRoute),
    /// Any other `/__clerk/*` path: 404, never forwarded, never public, never bypassed.
    ClerkNotFound,
    /// `CLERK_PUBLIC_PATHS`: forwarded without a check.
    Public,
    /// Everything else.
    Protected,
}

/// Routes a request by its percent-decoded path. Methods are checked by the handlers so
/// that a wrong one gets a 405 naming the right one.
pub fn route(config: &Config, path: &str) -> Route {
    match path {
        "/__clerk/health" => Route::Health,
        "/__clerk/webhooks" => Route::Webhooks,
        "/__clerk/admin/revoke" => Route::AdminRevoke,
        "/__clerk/admin/restore" => Route::AdminRestore,
        crate::diagnose::report::DIAGNOSE_PATH => Route::AdminDiagnose,
        // Only `/__clerk/*` paths pay for the look-up of the sync routes.
        _ if PathPatterns::clerk_routes().matches(path) => {
            SyncRoute::from_path(path).map_or(Route::ClerkNotFound, Route::AdminSync)
        }
        // `/public/..%2Fapp` decodes to a path the origin may resolve to `/app`.
        _ if config.public_paths.matches(path) && !has_dot_segments(path) => Route::Public,
        _ => Route::Protected,
    }
}

/// Whether the adapter should verify the token. Always while token checking is sound. While
/// it is misconfigured, only where a bypass applies and the keys themselves are usable: the
/// bypass still needs the identity (deny-list, identity headers, grace), and everything else
/// is answered 500 without looking at the token.
pub fn needs_verification(config: &Config, path: &str, now_ms: i64) -> bool {
    !config.has_problems(Impact::Auth)
        || (config.keys_usable() && config.bypass.mode_for(path, now_ms) != BypassMode::Off)
}

/// A deny-list entry that matched the token's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyListHit {
    /// The session was revoked (`session-revoked`).
    Session,
    /// The user was revoked or locked out (`user-revoked`).
    User,
}

impl DenyListHit {
    /// The reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Session => "session-revoked",
            Self::User => "user-revoked",
        }
    }
}

/// The facts of the request the decision needs.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Percent-decoded path (see [`crate::policy::paths::decode_path`]).
    pub path: &'a str,
    /// The full original URL, used only as the sign-in redirect target.
    pub url: &'a str,
    /// `Sec-Fetch-Dest`.
    pub sec_fetch_dest: Option<&'a str>,
    /// `Accept`.
    pub accept: Option<&'a str>,
}

impl RequestFacts<'_> {
    /// A browser navigation, which gets a redirect rather than a JSON 401.
    fn is_document_request(&self) -> bool {
        self.method.eq_ignore_ascii_case("GET")
            && (self
                .sec_fetch_dest
                .is_some_and(|d| d.eq_ignore_ascii_case("document"))
                || self.accept.is_some_and(|a| a.contains("text/html")))
    }
}

/// How a forwarded request is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStatus {
    /// A valid token.
    SignedIn,
    /// Let through by the emergency bypass in this mode.
    Bypassed(BypassMode),
}

/// What to do with a protected request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Forward to the origin with these identity headers.
    Forward {
        /// `signed-in` or `bypassed`.
        status: AuthStatus,
        /// The identity, when a token established it.
        identity: Option<SessionClaims>,
    },
    /// Refuse: 401 JSON, or 307 to the sign-in page for a document request.
    SignedOut {
        /// The reason code.
        reason: &'static str,
        /// `CLERK_SIGN_IN_URL?redirect_url=<original URL>` for document requests.
        redirect_to: Option<String>,
    },
    /// 307 to the Frontend API for fresh cookies (Clerk's handshake).
    Handshake {
        /// Clerk's reason (`__clerk_hs_reason`).
        reason: &'static str,
        /// `<frontend api>/v1/client/handshake?…`.
        location: String,
        /// The next `__clerk_redirect_count`.
        redirect_count: String,
    },
    /// 307 back to the page without the handshake parameters (a development instance's
    /// return leg), signed in or out, with the directives as cookies.
    ReturnLegRedirect {
        /// The cleaned URL.
        location: String,
        /// `None`: signed in; else the signed-out reason.
        signed_out_reason: Option<&'static str>,
    },
    /// 500: a development instance received a handshake token it cannot verify.
    HandshakeTokenRefused {
        /// What to do (Clerk's words).
        message: String,
    },
    /// 404: signed in, but without the role or permission a route asks for (pkg-js's
    /// `auth.protect({ role, permission })`), answered as Clerk's `protect()` does.
    Forbidden {
        /// [`REASON_ROLE_REQUIRED`], [`REASON_PERMISSION_REQUIRED`] or
        /// [`REASON_AUTHORIZATION_REQUIRED`].
        reason: &'static str,
    },
    /// 500: token checking is misconfigured.
    Misconfigured {
        /// The variables at fault (names only).
        variables: Vec<&'static str>,
    },
}

impl Decision {
    /// The HTTP status the client sees when not forwarded (`None` when forwarded).
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Forward { .. } => None,
            Self::SignedOut {
                redirect_to: Some(_),
                ..
            } => Some(307),
            Self::SignedOut { .. } => Some(401),
            Self::Handshake { .. } | Self::ReturnLegRedirect { .. } => Some(307),
            Self::Forbidden { .. } => Some(404),
            Self::Misconfigured { .. } | Self::HandshakeTokenRefused { .. } => Some(500),
        }
    }

    /// The auth outcome: `signed-in`, `bypassed`, `signed-out` or `handshake`, as
    /// `x-clerk-auth-status` says and the audit line's `auth_status` records.
    pub fn auth_status(&self) -> &'static str {
        match self {
            Self::Forward {
                status: AuthStatus::SignedIn,
                ..
            }
            | Self::ReturnLegRedirect {
                signed_out_reason: None,
                ..
            }
            | Self::Forbidden { .. } => "signed-in",
            Self::Forward {
                status: AuthStatus::Bypassed(_),
                ..
            } => "bypassed",
            Self::Handshake { .. } => "handshake",
            Self::SignedOut { .. }
            | Self::ReturnLegRedirect { .. }
            | Self::HandshakeTokenRefused { .. }
            | Self::Misconfigured { .. } => "signed-out",
        }
    }

    /// The reason code of a refusal (signed out, misconfigured, a refused handshake token);
    /// `None` when the request is forwarded, renewed by a handshake or signed in by a
    /// return leg.
    pub fn refusal_reason(&self) -> Option<&'static str> {
        match self {
            Self::SignedOut { reason, .. }
            | Self::ReturnLegRedirect {
                signed_out_reason: Some(reason),
                ..
            } => Some(reason),
            Self::HandshakeTokenRefused { .. } => Some("handshake-token-refused"),
            Self::Forbidden { reason } => Some(reason),
            Self::Misconfigured { .. } => Some(REASON_MISCONFIGURED),
            Self::Forward { .. } | Self::Handshake { .. } | Self::ReturnLegRedirect { .. } => None,
        }
    }

    /// Request headers to set on the forwarded request (after removing every incoming
    /// `x-clerk-*` header), signed when a secret key is configured.
    pub fn forward_headers(&self, config: &Config, now_ms: i64) -> Vec<(&'static str, String)> {
        let Self::Forward { identity, .. } = self else {
            return Vec::new();
        };
        let mut headers = vec![(HEADER_AUTH_STATUS, self.auth_status().to_owned())];
        if let Some(id) = identity {
            headers.push((HEADER_USER_ID, id.user_id.clone()));
            for (name, value) in [
                (HEADER_SESSION_ID, &id.session_id),
                (HEADER_ORG_ID, &id.org_id),
                (HEADER_ORG_ROLE, &id.org_role),
                (HEADER_ORG_SLUG, &id.org_slug),
            ] {
                if let Some(v) = value {
                    headers.push((name, v.clone()));
                }
            }
            // A permission holding the separator could not be told apart: left out, so a
            // check on it fails rather than matches a part of it.
            let permissions: Vec<&str> = id
                .org_permissions
                .iter()
                .map(String::as_str)
                .filter(|p| !p.contains(','))
                .collect();
            if !permissions.is_empty() {
                headers.push((HEADER_ORG_PERMISSIONS, permissions.join(",")));
            }
        }
        signed(config, now_ms, headers)
    }

    /// Response headers and JSON body of a refusal (`None` when forwarded).
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::Forward { .. } => None,
            Self::SignedOut {
                reason,
                redirect_to,
            } => Some(Refusal {
                status: self.status().unwrap_or(401),
                headers: vec![
                    (HEADER_AUTH_STATUS, "signed-out".to_owned()),
                    (HEADER_AUTH_REASON, (*reason).to_owned()),
                ]
                .into_iter()
                .chain(redirect_to.iter().map(|l| ("location", l.clone())))
                .collect(),
                body: json!({ "error": "unauthenticated", "reason": reason }),
            }),
            Self::Handshake {
                reason,
                location,
                redirect_count,
            } => Some(Refusal {
                status: 307,
                headers: vec![
                    ("location", location.clone()),
                    (HEADER_AUTH_STATUS, "handshake".to_owned()),
                    (HEADER_AUTH_REASON, (*reason).to_owned()),
                    (
                        "set-cookie",
                        format!(
                            "{}={redirect_count}; SameSite=Lax; HttpOnly; Max-Age=2",
                            crate::auth::handshake::context::COOKIE_REDIRECT_COUNT
                        ),
                    ),
                ],
                body: json!({ "status": "handshake", "reason": reason }),
            }),
            Self::ReturnLegRedirect {
                location,
                signed_out_reason,
            } => {
                let mut headers = vec![("location", location.clone())];
                match signed_out_reason {
                    None => headers.push((HEADER_AUTH_STATUS, "signed-in".to_owned())),
                    Some(reason) => headers.extend([
                        (HEADER_AUTH_STATUS, "signed-out".to_owned()),
                        (HEADER_AUTH_REASON, (*reason).to_owned()),
                    ]),
                }
                Some(Refusal {
                    status: 307,
                    headers,
                    body: json!({ "status": "handshake-complete" }),
                })
            }
            Self::HandshakeTokenRefused { message } => Some(Refusal {
                status: 500,
                headers: vec![
                    (HEADER_AUTH_STATUS, "signed-out".to_owned()),
                    (HEADER_AUTH_REASON, "handshake-token-refused".to_owned()),
                ],
                body: json!({
                    "error": "handshake-token-refused",
                    "reason": "handshake-token-refused",
                    "message": message,
                }),
            }),
            Self::Forbidden { reason } => Some(Refusal {
                status: 404,
                headers: vec![
                    (HEADER_AUTH_STATUS, "signed-in".to_owned()),
                    (HEADER_AUTH_REASON, (*reason).to_owned()),
                ],
                body: json!({
                    "error": "not-found",
                    "reason": reason,
                    "message": "the signed-in user lacks the role or permission this route \
                        requires; the auth.forbidden audit line with this request's id says which",
                }),
            }),
            Self::Misconfigured { variables } => Some(Refusal {
                status: 500,
                headers: vec![
                    (HEADER_AUTH_STATUS, "signed-out".to_owned()),
                    (HEADER_AUTH_REASON, REASON_MISCONFIGURED.to_owned()),
                ],
                body: json!({
                    "error": REASON_MISCONFIGURED,
                    "reason": REASON_MISCONFIGURED,
                    "variables": variables,
                    "message": "the auth layer refuses requests until its configuration is \
                        fixed: see the config.invalid audit lines and GET /__clerk/health",
                }),
            }),
        }
    }
}

/// A refusal ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// 401, 307 or 500.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body.
    pub body: Value,
}

/// A decision and the audit event it leaves (if any); the adapter adds the request context.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What to do.
    pub decision: Decision,
    /// What to log.
    pub audit: Option<AuditEvent>,
    /// Headers for the response the client gets, whether the origin's (forwarded) or the
    /// refusal: a handshake's `Set-Cookie` directives. Append, never replace: several
    /// `set-cookie` headers are the point.
    pub response_headers: Vec<(&'static str, String)>,
}

/// Whether Clerk's cookie path (and so the handshake) decides this request: a publishable
/// key names the Frontend API, the request carries no `Authorization` token (a redirect
/// cannot renew a header), token checking is sound, and no emergency bypass is in force
/// for the path (the Frontend API may be what is down; the bypass decides as before).
pub fn handshake_applies(config: &Config, path: &str, has_bearer: bool, now_ms: i64) -> bool {
    config.publishable_key.is_some()
        && !has_bearer
        && !config.has_problems(Impact::Auth)
        && config.bypass.mode_for(path, now_ms) == BypassMode::Off
}

/// Decides a protected request on `verifyToken`'s answer alone (no publishable key, a
/// Bearer token, or a bypass in force).
pub fn decide(
    config: &Config,
    facts: &RequestFacts<'_>,
    verification: &Verification,
    deny_hit: Option<DenyListHit>,
    now_ms: i64,
) -> Outcome {
    decide_with(config, facts, verification, None, deny_hit, now_ms)
}

/// Decides a protected request. `clerk` is the state of Clerk's cookie path when
/// [`handshake_applies`]; `deny_hit` is what the deny-list holds for its identity (or for
/// the verification's when there is no state).
pub fn decide_with(
    config: &Config,
    facts: &RequestFacts<'_>,
    verification: &Verification,
    clerk: Option<&ClerkState>,
    deny_hit: Option<DenyListHit>,
    now_ms: i64,
) -> Outcome {
    let bypass = config.bypass.mode_for(facts.path, now_ms);
    if let Some(state) =
        clerk.filter(|_| bypass == BypassMode::Off && !config.has_problems(Impact::Auth))
    {
        return decide_clerk_state(config, facts, state, deny_hit);
    }
    let identity = verification.identity();
    // Broken token checking fails closed, except for what a bypass in force lets through:
    // that is when the bypass is needed.
    let misconfigured = config.has_problems(Impact::Auth);
    let fail_closed = || {
        let variables = config.auth_problems().map(|p| p.variable).collect();
        refuse(Decision::Misconfigured { variables }, identity)
    };

    if misconfigured && bypass == BypassMode::Off {
        return fail_closed();
    }
    if let Some(hit) = deny_hit {
        // Deny-listed identities are refused in every mode, bypass included: revoking a
        // compromised session must hold during an incident too.
        return signed_out(config, facts, hit.code(), identity);
    }
    match (verification, bypass) {
        (Verification::Verified(claims), BypassMode::Open) => {
            bypassed(config, BypassMode::Open, Some(claims.clone()))
        }
        // Not `signed-in`: with the configuration broken only the bypass lets it through.
        (Verification::Verified(claims), BypassMode::Grace) if misconfigured => {
            bypassed(config, BypassMode::Grace, Some(claims.clone()))
        }
        (Verification::Verified(claims), _) => {
            let audit = config.audit_allowed.then(|| {
                with_identity(AuditEvent::new(Level::Info, "auth.allowed"), Some(claims))
                    .text("auth_status", "signed-in")
            });
            Outcome {
                decision: Decision::Forward {
                    status: AuthStatus::SignedIn,
                    identity: Some(claims.clone()),
                },
                audit,
                response_headers: Vec::new(),
            }
        }
        (
            Verification::Rejected {
                error: TokenError::Expired,
                signed: Some(claims),
            },
            BypassMode::Grace,
        ) if config.bypass.within_grace(claims.expires_at, now_ms) => {
            bypassed(config, BypassMode::Grace, Some(claims.clone()))
        }
        (_, BypassMode::Open) => bypassed(config, BypassMode::Open, None),
        _ if misconfigured => fail_closed(),
        (Verification::NoToken, _) => signed_out(config, facts, REASON_NO_TOKEN, None),
        (Verification::Rejected { error, signed }, _) => {
            signed_out(config, facts, error.code(), signed.as_ref())
        }
    }
}

/// The cookie path's state, turned into what the client gets.
fn decide_clerk_state(
    config: &Config,
    facts: &RequestFacts<'_>,
    state: &ClerkState,
    deny_hit: Option<DenyListHit>,
) -> Outcome {
    let directive_headers =
        |d: &Option<Directives>| d.as_ref().map(Directives::headers).unwrap_or_default();
    if let Some(hit) = deny_hit {
        // A revoked session renewed by a handshake is still revoked.
        let mut out = signed_out(config, facts, hit.code(), state.identity());
        if let ClerkState::SignedIn { directives, .. } = state {
            out.response_headers = directive_headers(directives);
        }
        return out;
    }
    match state {
        ClerkState::SignedIn {
            claims,
            directives,
            redirect_to: Some(location),
        } => Outcome {
            // Signed in, but the answer is the redirect to the clean URL (development).
            decision: Decision::ReturnLegRedirect {
                location: location.clone(),
                signed_out_reason: None,
            },
            audit: config.audit_allowed.then(|| {
                with_identity(AuditEvent::new(Level::Info, "auth.handshake"), Some(claims))
                    .value("status", Value::from(307))
                    .text("auth_status", "signed-in")
                    .text("step", "return-leg")
            }),
            response_headers: directive_headers(directives),
        },
        ClerkState::SignedIn {
            claims,
            directives,
            redirect_to: None,
        } => Outcome {
            decision: Decision::Forward {
                status: AuthStatus::SignedIn,
                identity: Some(claims.clone()),
            },
            audit: config.audit_allowed.then(|| {
                let event =
                    with_identity(AuditEvent::new(Level::Info, "auth.allowed"), Some(claims))
                        .text("auth_status", "signed-in");
                match directives {
                    Some(_) => event.text("handshake", "return-leg"),
                    None => event,
                }
            }),
            response_headers: directive_headers(directives),
        },
        ClerkState::SignedOut {
            reason,
            identity,
            directives,
            redirect_to,
        } => {
            let mut out = match redirect_to {
                Some(location) => refuse(
                    Decision::ReturnLegRedirect {
                        location: location.clone(),
                        signed_out_reason: Some(reason),
                    },
                    identity.as_ref(),
                ),
                None => signed_out(config, facts, reason, identity.as_ref()),
            };
            out.response_headers = directive_headers(directives);
            out
        }
        ClerkState::Handshake {
            reason,
            location,
            redirect_count,
            identity,
        } => Outcome {
            decision: Decision::Handshake {
                reason,
                location: location.clone(),
                redirect_count: redirect_count.clone(),
            },
            // Normal traffic: every returning visitor takes one.
            audit: config.audit_allowed.then(|| {
                with_identity(
                    AuditEvent::new(Level::Info, "auth.handshake"),
                    identity.as_ref(),
                )
                .text("reason", reason)
                .value(
                    "redirect_count",
                    redirect_count
                        .parse::<i64>()
                        .map_or(Value::Null, Value::from),
                )
                .value("status", Value::from(307))
                .text("auth_status", "handshake")
            }),
            response_headers: Vec::new(),
        },
        ClerkState::DevHandshakeTokenRefused { message } => refuse(
            Decision::HandshakeTokenRefused {
                message: message.clone(),
            },
            None,
        ),
    }
}

/// The headers of a request forwarded signed out, with `reason`: a public path
/// ([`REASON_PUBLIC_PATH`], never checked), or a pkg-js middleware callback that let a
/// signed-out request through. Signed when a secret key is configured.
pub fn signed_out_forward_headers(
    config: &Config,
    reason: &str,
    now_ms: i64,
) -> Vec<(&'static str, String)> {
    let headers = vec![
        (HEADER_AUTH_STATUS, "signed-out".to_owned()),
        (HEADER_AUTH_REASON, reason.to_owned()),
    ];
    signed(config, now_ms, headers)
}

fn signed(
    config: &Config,
    now_ms: i64,
    mut headers: Vec<(&'static str, String)>,
) -> Vec<(&'static str, String)> {
    if let Some(key) = &config.secret_key {
        let signature = crate::policy::signature::sign(key.expose(), now_ms, &headers);
        headers.push((crate::policy::signature::HEADER_SIGNATURE, signature));
    }
    headers
}

/// What a route asked of a signed-in user and did not get.
#[derive(Debug, Clone, Copy, Default)]
pub struct Unmet<'a> {
    /// The role asked for, when asked.
    pub role: Option<&'a str>,
    /// The permission asked for, when asked.
    pub permission: Option<&'a str>,
}

/// The 404 of a signed-in request refused for lack of a role or permission, and its
/// `auth.forbidden` line (what was asked; the user's own roles stay out of the log).
pub fn forbidden(identity: Option<&SessionClaims>, unmet: Unmet<'_>) -> Outcome {
    let reason = match unmet {
        Unmet { role: Some(_), .. } => REASON_ROLE_REQUIRED,
        Unmet {
            permission: Some(_),
            ..
        } => REASON_PERMISSION_REQUIRED,
        Unmet { .. } => REASON_AUTHORIZATION_REQUIRED,
    };
    let decision = Decision::Forbidden { reason };
    let mut audit = with_identity(AuditEvent::new(Level::Warn, "auth.forbidden"), identity)
        .text("reason", reason)
        .value("status", Value::from(404))
        .text("auth_status", "signed-in");
    if let Some(role) = unmet.role {
        audit = audit.text("required_role", role);
    }
    if let Some(permission) = unmet.permission {
        audit = audit.text("required_permission", permission);
    }
    Outcome {
        decision,
        audit: Some(audit),
        response_headers: Vec::new(),
    }
}

fn with_identity(event: AuditEvent, identity: Option<&SessionClaims>) -> AuditEvent {
    match identity {
        Some(c) => event
            .text("user_id", &c.user_id)
            .opt_text("session_id", c.session_id.as_deref()),
        None => event,
    }
}

fn bypassed(config: &Config, mode: BypassMode, identity: Option<SessionClaims>) -> Outcome {
    let audit = with_identity(
        AuditEvent::new(Level::Warn, "auth.bypassed"),
        identity.as_ref(),
    )
    .text("mode", mode.name())
    .value(
        "bypass_reason",
        config.bypass.reason.as_deref().map_or(Value::Null, |r| {
            Value::String(crate::audit::clean_text(r, 500))
        }),
    )
    .value(
        "until",
        config.bypass.until_ms.map_or(Value::Null, |u| {
            Value::String(crate::rfc3339::format_millis(u))
        }),
    )
    .text("auth_status", "bypassed");
    Outcome {
        decision: Decision::Forward {
            status: AuthStatus::Bypassed(mode),
            identity,
        },
        audit: Some(audit),
        response_headers: Vec::new(),
    }
}

fn signed_out(
    config: &Config,
    facts: &RequestFacts<'_>,
    reason: &'static str,
    identity: Option<&SessionClaims>,
) -> Outcome {
    let redirect_to = config
        .sign_in_url
        .as_deref()
        .filter(|_| facts.is_document_request())
        // Never redirect the sign-in page to itself (a loop the browser would give up on).
        .filter(|url| !is_same_page(url, facts))
        .map(|url| {
            let sep = if url.contains('?') { '&' } else { '?' };
            format!(
                "{url}{sep}redirect_url={}",
                crate::clerk_api::encode_component(facts.url)
            )
        });
    refuse(
        Decision::SignedOut {
            reason,
            redirect_to,
        },
        identity,
    )
}

/// Whether `sign_in_url` (a path or an absolute URL) names the page being requested.
fn is_same_page(sign_in_url: &str, facts: &RequestFacts<'_>) -> bool {
    let without_query = |u: &str| u.split(['?', '#']).next().unwrap_or("").to_owned();
    let sign_in = without_query(sign_in_url);
    if sign_in.starts_with('/') {
        sign_in == facts.path
    } else {
        sign_in == without_query(facts.url)
    }
}

fn refuse(decision: Decision, identity: Option<&SessionClaims>) -> Outcome {
    let reason = decision.refusal_reason().unwrap_or(REASON_MISCONFIGURED);
    let audit = with_identity(AuditEvent::new(Level::Warn, "auth.denied"), identity)
        .text("reason", reason)
        .value("status", decision.status().map_or(Value::Null, Value::from))
        .text("auth_status", decision.auth_status());
    Outcome {
        decision,
        audit: Some(audit),
        response_headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(path: &'a str, url: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            method: "GET",
            path,
            url,
            sec_fetch_dest: Some("document"),
            accept: None,
        }
    }

    #[test]
    fn the_sign_in_page_is_never_redirected_to_itself() {
        let here = facts("/sign-in", "https://app.example/sign-in?x=1");
        assert!(is_same_page("/sign-in", &here));
        assert!(is_same_page("/sign-in?from=edge", &here));
        assert!(is_same_page("https://app.example/sign-in", &here));
        assert!(!is_same_page("https://accounts.example/sign-in", &here));
        assert!(!is_same_page("/login", &here));
    }

    #[test]
    fn a_public_prefix_climbed_out_of_with_an_encoded_slash_is_protected() {
        let env = |name: &str| match name {
            "CLERK_PUBLIC_PATHS" => Some("/public/*".to_owned()),
            _ => None,
        };
        let config = Config::from_env(&env);
        let decode = crate::policy::paths::decode_path;
        assert_eq!(route(&config, &decode("/public/x")), Route::Public);
        for raw in [
            "/public/..%2Fapp",
            "/public/x%2F..%2F..%2Fapp",
            "/public/..%5Capp",
        ] {
            assert_eq!(route(&config, &decode(raw)), Route::Protected, "{raw}");
        }
    }
}
