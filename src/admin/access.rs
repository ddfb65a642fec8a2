//! Who may call an admin route: the checks every admin route makes before it reads a body,
//! in one order, with the refusal's answer and its `admin.denied` line, for both adapters.
//!
//! The order: the route exists only with `CLERK_ADMIN_TOKEN` set (else 404 and no line, as
//! for any unknown `/__clerk` path); an invalid admin token disables it (500 naming the
//! problem, never the value); then the method (405 naming the allowed ones); then the bearer
//! token, compared in constant time (401). Every refusal but the 404 leaves one
//! `admin.denied` line. Revoke and restore go on to their own body checks
//! ([`super::revocation::check_admin_head`]).

use serde_json::{json, Value};

use crate::audit::{AuditEvent, Level};
use crate::config::{Config, Impact};

use super::revocation::{check_admin_auth, AdminAuth, AdminError};

/// Why an admin request was refused before its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessRefusal {
    /// `CLERK_ADMIN_TOKEN` is not set: the route does not exist.
    NotConfigured,
    /// `CLERK_ADMIN_TOKEN` is invalid: the message names the problems.
    Misconfigured(String),
    /// A method the route does not answer; `allow` names those it does (`GET`, `GET, POST`).
    MethodNotAllowed {
        /// The `Allow` header's value.
        allow: &'static str,
    },
    /// A missing or wrong bearer token ([`AdminError::MissingToken`] or
    /// [`AdminError::WrongToken`]).
    Credentials(AdminError),
}

/// The checks of an admin route up to its body: `method_allowed` is whether the route answers
/// the request's method (`allow` names the methods it does), `authorization` the request's
/// `Authorization` header. The value is compared, never kept.
pub fn check_access(
    config: &Config,
    method_allowed: bool,
    allow: &'static str,
    authorization: Option<&str>,
) -> Result<(), AccessRefusal> {
    let Some(admin_token) = config.admin_token.as_ref() else {
        return Err(AccessRefusal::NotConfigured);
    };
    if config.has_problems(Impact::Admin) {
        return Err(AccessRefusal::Misconfigured(
            config.admin_misconfigured_message(),
        ));
    }
    if !method_allowed {
        return Err(AccessRefusal::MethodNotAllowed { allow });
    }
    match check_admin_auth(authorization, admin_token.expose()) {
        AdminAuth::Ok => Ok(()),
        AdminAuth::Missing => Err(AccessRefusal::Credentials(AdminError::MissingToken)),
        AdminAuth::Wrong => Err(AccessRefusal::Credentials(AdminError::WrongToken)),
    }
}

/// The `admin.denied` line of a request refused before it was authenticated (or while the
/// admin configuration is broken): `reason` is the refusal's code.
pub fn denied_event(reason: &str, status: u16) -> AuditEvent {
    AuditEvent::new(Level::Warn, "admin.denied")
        .text("reason", reason)
        .value("status", json!(status))
        .value("ok", json!(false))
}

impl AccessRefusal {
    /// The HTTP status: 404, 500, 405 or 401.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotConfigured => AdminError::NotConfigured.status(),
            Self::Misconfigured(_) => 500,
            Self::MethodNotAllowed { .. } => 405,
            Self::Credentials(error) => error.status(),
        }
    }

    /// The JSON body: `{"error": code, "message": …}`.
    pub fn body(&self) -> Value {
        match self {
            Self::NotConfigured => error_body(&AdminError::NotConfigured),
            Self::Misconfigured(message) => json!({"error": "misconfigured", "message": message}),
            Self::MethodNotAllowed { allow } => {
                let what = if allow.contains(',') {
                    "one of them".to_owned()
                } else {
                    format!("a {allow}")
                };
                json!({
                    "error": "method-not-allowed",
                    "message": format!("this route accepts {allow} only: send {what}"),
                })
            }
            Self::Credentials(error) => error_body(error),
        }
    }

    /// Headers the answer carries besides the JSON body (`Allow` on 405,
    /// `WWW-Authenticate` on 401).
    pub fn headers(&self) -> Vec<(&'static str, &'static str)> {
        match self {
            Self::MethodNotAllowed { allow } => vec![("allow", allow)],
            Self::Credentials(error) => error.response_headers().to_vec(),
            Self::NotConfigured | Self::Misconfigured(_) => Vec::new(),
        }
    }

    /// The `admin.denied` line, `None` for a route that does not exist.
    pub fn audit_event(&self) -> Option<AuditEvent> {
        let reason = match self {
            Self::NotConfigured => return None,
            Self::Misconfigured(_) => "misconfigured",
            Self::MethodNotAllowed { .. } => "method-not-allowed",
            Self::Credentials(error) => error.code(),
        };
        Some(denied_event(reason, self.status()))
    }
}

fn error_body(error: &AdminError) -> Value {
    json!({ "error": error.code(), "message": error.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "an-admin-token-of-at-least-32-characters";

    fn config(admin_token: Option<&str>) -> Config {
        let mut pairs = vec![("CLERK_SECRET_KEY", "sk_test_x")];
        pairs.extend(admin_token.map(|t| ("CLERK_ADMIN_TOKEN", t)));
        Config::from_pairs(&pairs)
    }

    #[test]
    fn the_checks_come_in_their_order() {
        let bearer = format!("Bearer {TOKEN}");
        let ok = config(Some(TOKEN));
        assert_eq!(check_access(&ok, true, "GET", Some(&bearer)), Ok(()));
        // No token configured: 404 whatever else is wrong, and no line.
        let absent = check_access(&config(None), false, "GET", None).unwrap_err();
        assert_eq!((absent.status(), absent.audit_event()), (404, None));
        // A broken token: 500 before the method or the credentials are looked at.
        let broken = check_access(&config(Some("short")), false, "GET", None).unwrap_err();
        assert_eq!(broken.status(), 500);
        assert!(broken.body()["message"]
            .as_str()
            .unwrap()
            .contains("CLERK_ADMIN_TOKEN"));
        assert!(
            !broken.body().to_string().contains("short"),
            "never the value"
        );
        // The method before the credentials.
        let method = check_access(&ok, false, "GET, POST", None).unwrap_err();
        assert_eq!(method.status(), 405);
        assert_eq!(method.headers(), vec![("allow", "GET, POST")]);
        assert_eq!(
            method.body()["message"],
            "this route accepts GET, POST only: send one of them"
        );
        let post = check_access(&ok, false, "POST", None).unwrap_err();
        assert_eq!(
            post.body()["message"],
            "this route accepts POST only: send a POST"
        );
        let missing = check_access(&ok, true, "GET", None).unwrap_err();
        assert_eq!(
            missing,
            AccessRefusal::Credentials(AdminError::MissingToken)
        );
        assert_eq!(missing.headers(), vec![("WWW-Authenticate", "Bearer")]);
        let wrong = check_access(&ok, true, "GET", Some("Bearer not-it")).unwrap_err();
        assert_eq!(wrong, AccessRefusal::Credentials(AdminError::WrongToken));
    }

    #[test]
    fn each_refusal_but_the_404_leaves_one_denied_line() {
        let ok = config(Some(TOKEN));
        let wrong = check_access(&ok, true, "GET", Some("Bearer nope")).unwrap_err();
        let line: Value = serde_json::from_str(&wrong.audit_event().unwrap().to_line(0)).unwrap();
        assert_eq!(line["event"], "admin.denied");
        assert_eq!(line["reason"], AdminError::WrongToken.code());
        assert_eq!(line["status"], 401);
        assert_eq!(line["ok"], false);
        assert!(
            !line.to_string().contains("nope"),
            "the token is never logged"
        );
        let method = check_access(&ok, false, "GET", None).unwrap_err();
        let line: Value = serde_json::from_str(&method.audit_event().unwrap().to_line(0)).unwrap();
        assert_eq!(
            (line["reason"].as_str(), line["status"].as_u64()),
            (Some("method-not-allowed"), Some(405))
        );
    }
}
