//! Clerk's handshake at the edge: the cookie-path decision of `@clerk/backend`'s
//! `authenticateRequest` (3.25.0), so that a returning visitor whose 60-second session token
//! has expired is sent through the Frontend API for fresh cookies instead of being refused.
//!
//! Who does what, as for [`crate::policy::decision`]:
//! - the adapter reads the request into a [`HandshakeContext`] ([`context`]);
//! - when the request is a return leg ([`return_leg`]) the adapter exchanges the nonce (an
//!   [`crate::clerk_api::ApiRequest`] it sends) or checks the handshake token, then verifies
//!   the session token among the directives as any other;
//! - [`authenticate`] decides, step for step as Clerk (the table of `handshake.md`, C1-C15),
//!   and returns a [`ClerkState`] plus the audit lines that must be written whatever the
//!   outcome (a redirect loop, a failed nonce exchange, a refused handshake token);
//! - [`crate::policy::decision::decide`] combines that state with the bypass and the deny-list.
//!
//! Out of scope, refused at configuration time rather than half-built: satellite domains.
//! Not built: the refresh-token exchange (`__refresh_<suffix>`), which Clerk treats as an
//! optional shortcut; an expired token then always takes the handshake.

pub mod context;
pub mod return_leg;
pub mod url;

use crate::audit::{AuditEvent, Level};
use crate::auth::token::{
    check_claims, decode_jwt, ClaimRules, SessionClaims, TokenError, Verification,
};

pub use context::{HandshakeContext, RequestParts};
pub use return_leg::{DirectiveSession, ReturnLegSource};

/// The Backend API version the handshake asks for (`__clerk_api_version`), as 3.25.0.
pub const HANDSHAKE_API_VERSION: &str = crate::clerk_api::CLERK_API_VERSION;

/// At this many handshakes in a row (`__clerk_redirect_count`), the edge stops redirecting.
/// Clerk compares `=== 3`; `>= 3` also stops a forged larger counter from restarting the loop.
pub const MAX_HANDSHAKE_REDIRECTS: f64 = 3.0;

/// Clock skew Clerk allows a development instance when re-checking a handshake's session
/// token that failed a time check (one day).
const DEV_HANDSHAKE_SKEW_MS: i64 = 86_400_000;

/// Query parameters removed from the URL a development return leg redirects to.
const RETURN_LEG_PARAMS: [&str; 4] = [
    context::HANDSHAKE_TOKEN,
    "__clerk_help",
    context::DEV_BROWSER,
    context::HANDSHAKE_NONCE,
];

/// Clerk's reason strings for the cookie path (`AuthErrorReason`), beside the token error
/// codes of [`TokenError::code`].
pub mod reason {
    /// `__client_uat` > 0 but no session cookie.
    pub const CLIENT_UAT_WITHOUT_SESSION: &str = "client-uat-but-no-session-token";
    /// Development: no dev browser token.
    pub const DEV_BROWSER_MISSING: &str = "dev-browser-missing";
    /// Development: a dev browser token in the query.
    pub const DEV_BROWSER_SYNC: &str = "dev-browser-sync";
    /// A valid session arriving from another origin's page.
    pub const CROSS_ORIGIN_SYNC: &str = "primary-domain-cross-origin-sync";
    /// Neither a session cookie nor `__client_uat`.
    pub const SESSION_AND_UAT_MISSING: &str = "session-token-and-uat-missing";
    /// A return leg whose directives set no session.
    pub const SESSION_MISSING: &str = "session-token-missing";
    /// Expired, non-GET request.
    pub const EXPIRED_NON_GET: &str = "session-token-expired-refresh-non-eligible-non-get";
    /// Expired, GET request (no refresh-token exchange).
    pub const EXPIRED_NO_REFRESH: &str =
        "session-token-expired-refresh-non-eligible-no-refresh-cookie";
    /// The token was issued before the client's last update.
    pub const IAT_BEFORE_CLIENT_UAT: &str = "session-token-iat-before-client-uat";
    /// `nbf` in the future.
    pub const NBF: &str = "session-token-nbf";
    /// `iat` in the future.
    pub const IAT_IN_THE_FUTURE: &str = "session-token-iat-in-the-future";
    /// A session cookie without `__client_uat`.
    pub const SESSION_WITHOUT_CLIENT_UAT: &str = "session-token-but-no-client-uat";
    /// A machine token or a non-session JWT in the session cookie.
    pub const TOKEN_TYPE_MISMATCH: &str = "token-type-mismatch";
    /// Anything Clerk did not foresee.
    pub const UNEXPECTED: &str = "unexpected-error";
}

/// The `cat` of Clerk session tokens, and of tokens Clerk's checks ignore.
const SESSION_CATEGORIES: [&str; 2] = ["cl_B7d4PD111AAA", "cl_I7d4PD111III"];

/// `!isNonSessionJwtCategory(header.cat)`: no `cat`, or a session category. Anything else (a
/// JWT template, a machine token) is not a session, nor may it carry a handshake: a template
/// can hold an author-controlled `handshake` claim that would become `Set-Cookie` headers.
pub(crate) fn is_session_category(header: &serde_json::Value) -> bool {
    match header.get("cat") {
        None => true,
        Some(serde_json::Value::String(cat)) => SESSION_CATEGORIES.contains(&cat.as_str()),
        Some(_) => false,
    }
}

/// Cookies a resolved return leg sets, with the two CORS headers Clerk adds to that answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directives {
    /// Each a `Set-Cookie` value, verbatim, in order.
    pub set_cookies: Vec<String>,
}

impl Directives {
    /// The response headers: `Access-Control-Allow-Origin: null`,
    /// `Access-Control-Allow-Credentials: true`, then one `Set-Cookie` per directive.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("access-control-allow-origin", "null".to_owned()),
            ("access-control-allow-credentials", "true".to_owned()),
        ];
        headers.extend(self.set_cookies.iter().map(|c| ("set-cookie", c.clone())));
        headers
    }
}

/// What Clerk's cookie path decides.
#[derive(Debug, Clone, PartialEq)]
pub enum ClerkState {
    /// Signed in. After a return leg: its directives, and on development instances the
    /// cleaned URL to redirect to (the answer is that redirect, not the page).
    SignedIn {
        /// The identity.
        claims: SessionClaims,
        /// Set by a resolved return leg.
        directives: Option<Directives>,
        /// Development return leg: the URL without the handshake parameters.
        redirect_to: Option<String>,
    },
    /// Signed out with Clerk's reason.
    SignedOut {
        /// Clerk's reason string.
        reason: &'static str,
        /// The identity of a validly signed token refused for a time claim (for the audit
        /// line and the deny-list), if any.
        identity: Option<SessionClaims>,
        /// Set by a resolved return leg without a session.
        directives: Option<Directives>,
        /// Development return leg: the URL without the handshake parameters.
        redirect_to: Option<String>,
    },
    /// Send the browser to the Frontend API.
    Handshake {
        /// Clerk's reason string (`__clerk_hs_reason`, `x-clerk-auth-reason`).
        reason: &'static str,
        /// `<frontend api>/v1/client/handshake?…`.
        location: String,
        /// The next value of `__clerk_redirect_count`.
        redirect_count: String,
        /// The identity of the token being renewed, if validly signed (audit only).
        identity: Option<SessionClaims>,
    },
    /// Development instance, handshake token refused: Clerk answers 500 so that a developer
    /// who switched keys is told to clear cookies rather than looping.
    DevHandshakeTokenRefused {
        /// What to do.
        message: String,
    },
}

impl ClerkState {
    /// The identity whose deny-list entries must be checked.
    pub fn identity(&self) -> Option<&SessionClaims> {
        match self {
            Self::SignedIn { claims, .. } => Some(claims),
            Self::SignedOut { identity, .. } | Self::Handshake { identity, .. } => {
                identity.as_ref()
            }
            Self::DevHandshakeTokenRefused { .. } => None,
        }
    }
}

/// How the return leg went, as the adapter observed it.
#[derive(Debug, Clone, PartialEq)]
pub enum ReturnLeg {
    /// The nonce exchange failed: what failed (no secret, no token in it). Clerk carries on
    /// with no directives; the edge does the same and says why in a log line.
    NonceFailed(String),
    /// The handshake token was refused.
    TokenRefused(TokenError),
    /// Directives obtained, with the verification of their session token when they hold
    /// one ([`DirectiveSession::Token`]; `Unreadable` counts as `token-invalid`).
    Directives {
        /// The `Set-Cookie` directives.
        directives: Vec<String>,
        /// The session token among them, and its verification by the adapter.
        session: Option<(String, Verification)>,
    },
}

/// The problem logged when a nonce arrives without a secret key to exchange it with.
pub const NONCE_WITHOUT_SECRET: &str =
    "CLERK_SECRET_KEY is not set: the handshake nonce cannot be exchanged for cookies (set it; \
     CLERK_JWT_KEY alone cannot complete a production handshake)";

/// What the return leg's I/O produced, before the session among the directives is verified.
#[derive(Debug, Clone, PartialEq)]
pub enum LegDirectives {
    /// The directives (from the nonce exchange or a verified handshake token).
    Directives(Vec<String>),
    /// The nonce exchange failed: what failed.
    NonceFailed(String),
    /// The handshake token was refused.
    TokenRefused(TokenError),
}

impl LegDirectives {
    /// The end of the exchange of `nonce` ([`crate::clerk_api::ApiCall`]): its 2xx body, or
    /// why it failed after its retries. The nonce never reaches the problem text (an error
    /// body could quote it): it is a bearer credential for the session it stands for.
    pub fn from_payload_call(
        result: Result<String, crate::clerk_api::CallError>,
        nonce: &str,
    ) -> Self {
        let problem = match result {
            Ok(body) => match return_leg::directives_from_payload(&body) {
                Ok(directives) => return Self::Directives(directives),
                Err(problem) => format!("GET /v1/clients/handshake_payload: {problem}"),
            },
            Err(error) => format!("GET /v1/clients/handshake_payload failed: {error}"),
        };
        Self::NonceFailed(if nonce.is_empty() {
            problem
        } else {
            problem.replace(nonce, "<nonce>")
        })
    }

    /// The result of [`return_leg::verify_handshake_token`].
    pub fn from_token_check(result: Result<Vec<String>, TokenError>) -> Self {
        match result {
            Ok(directives) => Self::Directives(directives),
            Err(error) => Self::TokenRefused(error),
        }
    }

    /// The session token among the directives that the adapter must verify, if any.
    pub fn session_to_verify(&self) -> Option<String> {
        match self {
            Self::Directives(directives) => match return_leg::session_in_directives(directives) {
                DirectiveSession::Token(token) => Some(token),
                DirectiveSession::Missing | DirectiveSession::Unreadable => None,
            },
            Self::NonceFailed(_) | Self::TokenRefused(_) => None,
        }
    }

    /// The return leg, given the verification of [`Self::session_to_verify`]'s token.
    pub fn into_return_leg(self, session: Option<(String, Verification)>) -> ReturnLeg {
        match self {
            Self::Directives(directives) => {
                let session = match return_leg::session_in_directives(&directives) {
                    DirectiveSession::Missing => None,
                    // Clerk verifies `undefined`, which is refused as `token-invalid`.
                    DirectiveSession::Unreadable => Some((
                        String::new(),
                        Verification::Rejected {
                            error: TokenError::Invalid,
                            signed: None,
                        },
                    )),
                    DirectiveSession::Token(_) => session,
                };
                ReturnLeg::Directives {
                    directives,
                    session,
                }
            }
            Self::NonceFailed(problem) => ReturnLeg::NonceFailed(problem),
            Self::TokenRefused(error) => ReturnLeg::TokenRefused(error),
        }
    }
}

/// A decision and the audit lines it must leave whatever happens next.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// What Clerk decides.
    pub state: ClerkState,
    /// `auth.handshake_loop`, `handshake.nonce_failed`, `handshake.token_refused`,
    /// `handshake.session_refused`: always written.
    pub events: Vec<AuditEvent>,
}

/// Decides the cookie path of a request. `cookie` is the verification of
/// `ctx.session_token` (ignored when there is none); `return_leg` what came of a nonce or
/// handshake token the request carried.
pub fn authenticate(
    ctx: &HandshakeContext,
    cookie: &Verification,
    return_leg: Option<&ReturnLeg>,
    rules: &ClaimRules<'_>,
) -> Authenticated {
    let mut events = Vec::new();
    if let Some(leg) = return_leg {
        if let Some(state) = resolve(ctx, leg, rules, &mut events) {
            return Authenticated { state, events };
        }
    }
    let state = cookie_path(ctx, cookie, &mut events);
    Authenticated { state, events }
}

/// C1: a return leg. `None` when Clerk's `resolveHandshake` throws and the decision goes on
/// with the request's own cookies.
fn resolve(
    ctx: &HandshakeContext,
    leg: &ReturnLeg,
    rules: &ClaimRules<'_>,
    events: &mut Vec<AuditEvent>,
) -> Option<ClerkState> {
    let (directives, session) = match leg {
        ReturnLeg::NonceFailed(problem) => {
            events.push(
                AuditEvent::new(Level::Error, "handshake.nonce_failed")
                    .text("problem", problem)
                    .text(
                        "action",
                        "check CLERK_SECRET_KEY and CLERK_API_URL, and that the Backend API is \
                         reachable from the edge; the user is signed out until it works",
                    ),
            );
            (Vec::new(), None)
        }
        ReturnLeg::TokenRefused(error) => {
            events.push(
                AuditEvent::new(Level::Error, "handshake.token_refused")
                    .text("reason", error.code())
                    .text("problem", &error.to_string()),
            );
            if ctx.production {
                return None;
            }
            let message = if *error == TokenError::InvalidSignature {
                "Clerk: Handshake token verification failed due to an invalid signature. If you \
                 have switched Clerk keys locally, clear your cookies and try again."
                    .to_owned()
            } else {
                format!("Clerk: Handshake token verification failed: {error}.")
            };
            return Some(ClerkState::DevHandshakeTokenRefused { message });
        }
        ReturnLeg::Directives {
            directives,
            session,
        } => (directives.clone(), session.as_ref()),
    };
    let directives = Some(Directives {
        set_cookies: directives,
    });
    let redirect_to =
        (!ctx.production).then(|| ctx.clerk_url.without_params(&RETURN_LEG_PARAMS).href());
    let Some((token, verification)) = session else {
        return Some(ClerkState::SignedOut {
            reason: reason::SESSION_MISSING,
            identity: None,
            directives,
            redirect_to,
        });
    };
    let claims = match verification {
        Verification::Verified(claims) => Some(claims.clone()),
        Verification::Rejected {
            error: TokenError::Expired | TokenError::NotActiveYet | TokenError::IatInTheFuture,
            signed: Some(claims),
        } if !ctx.production => {
            // Development retries with a day of skew (a developer's laptop clock).
            let relaxed = ClaimRules {
                clock_skew_ms: DEV_HANDSHAKE_SKEW_MS,
                ..*rules
            };
            decode_jwt(token)
                .ok()
                .filter(|d| check_claims(d.payload(), &relaxed).is_ok())
                .map(|_| claims.clone())
        }
        _ => None,
    };
    match claims {
        Some(claims) => Some(ClerkState::SignedIn {
            claims,
            directives,
            redirect_to,
        }),
        None => {
            let code = match verification {
                Verification::Rejected { error, .. } => error.code(),
                _ => TokenError::Invalid.code(),
            };
            events.push(
                AuditEvent::new(Level::Error, "handshake.session_refused")
                    .text("reason", code)
                    .text(
                        "problem",
                        "the session token the handshake set failed verification; the \
                         request is decided on its own cookies",
                    ),
            );
            None
        }
    }
}

/// C3-C15 on the request's own cookies.
fn cookie_path(
    ctx: &HandshakeContext,
    cookie: &Verification,
    events: &mut Vec<AuditEvent>,
) -> ClerkState {
    let development = !ctx.production;
    if development && ctx.dev_browser_in_query {
        return maybe_handshake(ctx, reason::DEV_BROWSER_SYNC, None, events);
    }
    if development && ctx.dev_browser.is_none() {
        return maybe_handshake(ctx, reason::DEV_BROWSER_MISSING, None, events);
    }
    let active_client = ctx.client_uat != 0.0;
    let Some(session) = ctx.session_token.as_deref() else {
        return if active_client {
            maybe_handshake(ctx, reason::CLIENT_UAT_WITHOUT_SESSION, None, events)
        } else {
            signed_out(reason::SESSION_AND_UAT_MISSING, None)
        };
    };
    if !active_client {
        return maybe_handshake(ctx, reason::SESSION_WITHOUT_CLIENT_UAT, None, events);
    }
    let Ok(decoded) = decode_jwt(session) else {
        return signed_out(TokenError::Invalid.code(), None);
    };
    if is_machine_jwt(session, decoded.header(), decoded.payload())
        || !is_session_category(decoded.header())
    {
        return signed_out(reason::TOKEN_TYPE_MISMATCH, None);
    }
    let iat = decoded.payload().get("iat").map_or(f64::NAN, js_to_number);
    if iat < ctx.client_uat {
        return maybe_handshake(
            ctx,
            reason::IAT_BEFORE_CLIENT_UAT,
            cookie.identity(),
            events,
        );
    }
    match cookie {
        Verification::Verified(claims) => {
            let cross_origin_document = ctx.method == "GET"
                && ctx.sec_fetch_dest.as_deref() == Some("document")
                && ctx.cross_origin_referrer()
                && !ctx.known_clerk_referrer()
                && ctx.redirect_count == 0.0;
            if cross_origin_document {
                return maybe_handshake(ctx, reason::CROSS_ORIGIN_SYNC, Some(claims), events);
            }
            ClerkState::SignedIn {
                claims: claims.clone(),
                directives: None,
                redirect_to: None,
            }
        }
        Verification::Rejected { error, signed } => {
            let handshake_reason = match error {
                TokenError::Expired if ctx.method != "GET" => Some(reason::EXPIRED_NON_GET),
                TokenError::Expired => Some(reason::EXPIRED_NO_REFRESH),
                TokenError::NotActiveYet => Some(reason::NBF),
                TokenError::IatInTheFuture => Some(reason::IAT_IN_THE_FUTURE),
                _ => None,
            };
            match handshake_reason {
                Some(r) => maybe_handshake(ctx, r, signed.as_ref(), events),
                None => signed_out(error.code(), None),
            }
        }
        // The adapter verifies the cookie this context read; never reached.
        Verification::NoToken => signed_out(reason::UNEXPECTED, None),
    }
}

fn signed_out(reason: &'static str, identity: Option<&SessionClaims>) -> ClerkState {
    ClerkState::SignedOut {
        reason,
        identity: identity.cloned(),
        directives: None,
        redirect_to: None,
    }
}

/// `handleMaybeHandshakeStatus`: a handshake for requests that can follow one and are not in
/// a loop; signed-out with the same reason otherwise.
fn maybe_handshake(
    ctx: &HandshakeContext,
    why: &'static str,
    identity: Option<&SessionClaims>,
    events: &mut Vec<AuditEvent>,
) -> ClerkState {
    if !ctx.eligible_for_handshake() {
        return signed_out(why, identity);
    }
    if ctx.redirect_count >= MAX_HANDSHAKE_REDIRECTS {
        events.push(
            AuditEvent::new(Level::Warn, "auth.handshake_loop")
                .text("reason", why)
                .value("redirect_count", js_number_value(ctx.redirect_count))
                .text(
                    "likely_cause",
                    "the handshake keeps returning without a usable session: the Clerk keys do \
                     not match (CLERK_PUBLISHABLE_KEY, CLERK_SECRET_KEY and CLERK_JWT_KEY must \
                     come from the same instance), or the browser drops Clerk's cookies",
                ),
        );
        return signed_out(why, identity);
    }
    ClerkState::Handshake {
        reason: why,
        location: handshake_url(ctx, why),
        redirect_count: js_number_text(ctx.redirect_count + 1.0),
        identity: identity.cloned(),
    }
}

/// `buildRedirectToHandshake`: `<frontend api>/v1/client/handshake` with Clerk's parameters
/// in Clerk's order.
pub fn handshake_url(ctx: &HandshakeContext, why: &str) -> String {
    let redirect_url = ctx
        .clerk_url
        .without_params(&[context::DEV_BROWSER, "__dev_session"])
        .href();
    let base = if ctx.frontend_api_base.starts_with("http") {
        ctx.frontend_api_base.clone()
    } else {
        format!("https://{}", ctx.frontend_api_base)
    };
    let base = format!("{}/", base.trim_end_matches('/'));
    let endpoint = match url::WebUrl::parse(&base) {
        Some(mut u) => {
            // `new URL("v1/client/handshake", base)`: replaces what follows the last `/`.
            let dir_end = u.path.rfind('/').map_or(0, |i| i + 1);
            u.path = format!("{}v1/client/handshake", &u.path[..dir_end]);
            u.query = None;
            u
        }
        None => url::WebUrl {
            scheme: "https".into(),
            host: base.trim_end_matches('/').into(),
            path: "/v1/client/handshake".into(),
            query: None,
        },
    };
    let suffixed = if ctx.suffixed { "true" } else { "false" };
    let mut params: Vec<(&str, &str)> = vec![
        ("redirect_url", &redirect_url),
        ("__clerk_api_version", HANDSHAKE_API_VERSION),
        ("suffixed_cookies", suffixed),
        ("__clerk_hs_reason", why),
        ("format", "nonce"),
    ];
    if let Some(session) = &ctx.session_token {
        params.push((context::COOKIE_SESSION, session));
    }
    if let (false, Some(dev_browser)) = (ctx.production, &ctx.dev_browser) {
        params.push((context::DEV_BROWSER, dev_browser));
    }
    endpoint.with_appended(&params).href()
}

/// `isMachineJwt`: an OAuth access token (`typ` `at+jwt`) or an M2M token (`sub` `mch_…`),
/// in JWT form.
fn is_machine_jwt(token: &str, header: &serde_json::Value, payload: &serde_json::Value) -> bool {
    let jwt_form = {
        let parts: Vec<&str> = token.split('.').collect();
        parts.len() == 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    let typ = header.get("typ").and_then(serde_json::Value::as_str);
    let oauth = matches!(typ, Some("at+jwt" | "application/at+jwt"));
    let m2m = payload
        .get("sub")
        .and_then(serde_json::Value::as_str)
        .is_some_and(|s| s.starts_with("mch_"));
    jwt_form && (oauth || m2m)
}

/// JavaScript's `ToNumber` of a JSON value, for `payload.iat < clientUat`.
fn js_to_number(value: &serde_json::Value) -> f64 {
    use serde_json::Value;
    match value {
        Value::Null => 0.0,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                0.0
            } else {
                let n = context::js_number(t);
                // `js_number` maps NaN to 0 (for `|| 0`); here NaN must stay NaN.
                if n == 0.0 && !t.trim_start_matches(['+', '-']).starts_with('0') {
                    f64::NAN
                } else {
                    n
                }
            }
        }
        Value::Array(_) | Value::Object(_) => f64::NAN,
    }
}

/// A JavaScript number as `String(n)` writes it, without the standard library's float
/// formatting (kilobytes of wasm): integers exactly, other numbers to 15 significant digits
/// with trailing zeros dropped, which is what `String` gives for values written with fewer.
fn js_number_text(n: f64) -> String {
    if n.is_nan() {
        return "NaN".to_owned();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let n = n.abs();
    if n >= 1e15 {
        // Beyond what a counter holds; exact integers up to 2^53 are below this.
        return format!("{sign}{}", n as u64);
    }
    let int = n.trunc();
    let int_text = (int as u64).to_string();
    let mut frac = n - int;
    let mut digits = String::new();
    let room = 15usize.saturating_sub(if int == 0.0 { 0 } else { int_text.len() });
    for _ in 0..room {
        frac *= 10.0;
        let d = frac.trunc();
        digits.push(char::from(b'0' + d as u8));
        frac -= d;
    }
    // Round on the next digit, carrying through nines.
    if frac >= 0.5 {
        let mut bytes = digits.into_bytes();
        let mut carry = true;
        for b in bytes.iter_mut().rev() {
            if *b == b'9' {
                *b = b'0';
            } else {
                *b += 1;
                carry = false;
                break;
            }
        }
        digits = String::from_utf8(bytes).unwrap_or_default();
        if carry {
            return js_number_text(if sign.is_empty() {
                int + 1.0
            } else {
                -(int + 1.0)
            });
        }
    }
    let digits = digits.trim_end_matches('0');
    if digits.is_empty() {
        format!("{sign}{int_text}")
    } else {
        format!("{sign}{int_text}.{digits}")
    }
}

/// A JavaScript number as a JSON value: an integer when it is one, else its text.
fn js_number_value(n: f64) -> serde_json::Value {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        serde_json::Value::from(n as i64)
    } else {
        serde_json::Value::from(js_number_text(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_exchange_never_quotes_the_nonce() {
        let error = crate::clerk_api::CallError::Rejected(
            crate::clerk_api::ClerkApiError::from_response(
                404,
                r#"{"errors":[{"code":"resource_not_found","message":"no payload for nonce n0nce_s3cret"}]}"#,
            ),
        );
        let LegDirectives::NonceFailed(problem) =
            LegDirectives::from_payload_call(Err(error), "n0nce_s3cret")
        else {
            panic!("a failure")
        };
        assert!(!problem.contains("n0nce_s3cret"), "{problem}");
        assert!(problem.contains("<nonce>"), "{problem}");
    }

    #[test]
    fn numbers_are_written_as_javascript_writes_them() {
        for (n, text) in [
            (1.0, "1"),
            (4.0, "4"),
            (3.5, "3.5"),
            (1.1, "1.1"),
            (-2.25, "-2.25"),
            (10000000001.0, "10000000001"),
            (0.999_999_999_999_999_9, "1"),
        ] {
            assert_eq!(js_number_text(n), text, "{n}");
        }
        assert_eq!(js_number_value(3.0), serde_json::json!(3));
    }
}
