//! Admin revoke/restore routes, edge deny-list entries and the revoke plan, as pure logic.
//!
//! `POST /__clerk/admin/revoke` shuts a user or a session out; `POST /__clerk/admin/restore`
//! lets it back in (CONTRACT.md section 2). The adapter checks the request head with
//! [`check_admin_head`] before reading the body, parses the body with [`parse_revoke_body`]
//! or [`parse_restore_body`], then drives a [`RevokePlan`] or [`RestorePlan`]: it performs
//! each [`AdminStep`] (a KV write, a KV delete, a Backend API call after a wait), feeds the
//! [`StepOutcome`] back, and answers with the plan's status and JSON report when the step is
//! [`AdminStep::Done`].
//!
//! Order matters: the edge deny-list entry is written first, so that a compromised account is
//! shut out at the edge even while Clerk is down; Clerk is then asked to revoke the sessions
//! (and ban), and the report says exactly which of those calls failed.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::audit::{clean_text, AuditEvent, Level, MAX_TEXT_CHARS};
use crate::config::{MAX_CLOCK_SKEW_MS, MAX_GRACE_SECONDS};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::clerk_api::{
    parse_session_list, ApiCall, ApiOutcome, ApiRequest, BadResponse, CallError, CallProgress,
    ATTEMPT_TIMEOUT_MS,
};

/// Path of the revoke route.
pub const REVOKE_PATH: &str = "/__clerk/admin/revoke";

/// Path of the restore route.
pub const RESTORE_PATH: &str = "/__clerk/admin/restore";

/// Largest accepted request body: the fields fit in a few hundred bytes, and the limit keeps
/// a hostile client from making the isolate buffer and parse megabytes.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// Longest `reason`, in characters: enough for an incident id and a sentence, short enough
/// for a log line.
pub const MAX_REASON_CHARS: usize = 500;

/// Longest accepted `user_id` / `session_id` (Clerk ids are about 30 characters).
pub const MAX_ID_LEN: usize = 64;

/// KV key prefix of user deny-list entries: `deny:user:<user_id>`.
pub const DENY_USER_PREFIX: &str = "deny:user:";

/// KV key prefix of session deny-list entries: `deny:session:<session_id>`.
pub const DENY_SESSION_PREFIX: &str = "deny:session:";

/// The session-token lifetime a session deny-list entry must outlive. Clerk's default is
/// 60 s, but an instance may configure a longer one and nothing in a webhook or an admin
/// request says so: an entry that lives too long costs a few bytes of KV, one that lives too
/// short lets a token of the revoked session back in (in `grace` mode, for the grace window
/// after its `exp`). Used by every route that writes session entries.
pub const ASSUMED_MAX_TOKEN_LIFETIME_SECONDS: u64 = 3600;

/// Extra life given to session entries, for KV propagation between locations and for a
/// request that read its token just before the entry landed.
pub const DENY_TTL_MARGIN_SECONDS: u64 = 60;

/// Shortest `expirationTtl` Workers KV accepts.
pub const KV_MIN_EXPIRATION_TTL_SECONDS: u64 = 60;

/// Sessions asked for per `GET /v1/sessions` page.
pub const LIST_PAGE_LIMIT: u32 = 100;

/// Pages listed at most per revoke: bounds the Worker's subrequests and time. A user with
/// more active sessions than this covers is reported (the edge entry still shuts them all
/// out) and the call can be repeated.
pub const MAX_LIST_PAGES: u32 = 10;

/// Which admin route a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRoute {
    /// `POST /__clerk/admin/revoke`
    Revoke,
    /// `POST /__clerk/admin/restore`
    Restore,
}

impl AdminRoute {
    /// The route for `path`, if it is one of the admin routes.
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            REVOKE_PATH => Some(AdminRoute::Revoke),
            RESTORE_PATH => Some(AdminRoute::Restore),
            _ => None,
        }
    }

    /// The route's path.
    pub fn path(self) -> &'static str {
        match self {
            AdminRoute::Revoke => REVOKE_PATH,
            AdminRoute::Restore => RESTORE_PATH,
        }
    }

    /// The audit event of a request to this route (CONTRACT.md section 5).
    pub fn audit_event(self) -> &'static str {
        match self {
            AdminRoute::Revoke => "admin.revoke",
            AdminRoute::Restore => "admin.restore",
        }
    }

    fn fields(self) -> &'static [&'static str] {
        match self {
            AdminRoute::Revoke => &["user_id", "session_id", "ban", "dry_run", "reason"],
            AdminRoute::Restore => &["user_id", "session_id", "unban", "dry_run", "reason"],
        }
    }

    /// [`Self::fields`] as one line of text, for [`AdminError::UnknownField`].
    fn accepted_fields(self) -> &'static str {
        match self {
            AdminRoute::Revoke => "user_id, session_id, ban, dry_run, reason",
            AdminRoute::Restore => "user_id, session_id, unban, dry_run, reason",
        }
    }

    fn user_flag(self) -> &'static str {
        match self {
            AdminRoute::Revoke => "ban",
            AdminRoute::Restore => "unban",
        }
    }
}

/// Everything wrong with an admin request, each with its HTTP status and stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AdminError {
    /// `CLERK_ADMIN_TOKEN` is not set: the admin routes do not exist.
    NotConfigured,
    /// Not a `POST`.
    MethodNotAllowed,
    /// No `Authorization: Bearer …` header.
    MissingToken,
    /// A bearer token that is not the admin token.
    WrongToken,
    /// Not `Content-Type: application/json` (UTF-8).
    UnsupportedMediaType,
    /// Body (or declared `Content-Length`) over [`MAX_BODY_BYTES`].
    BodyTooLarge,
    /// The body stream failed before its end (the client went away, the runtime refused).
    BodyUnreadable,
    /// The body is not JSON.
    InvalidJson {
        /// The parser's complaint (position, not content).
        detail: String,
    },
    /// The body is JSON but not an object.
    NotAnObject,
    /// A field this route does not know.
    UnknownField {
        /// The field's name (cut to [`MAX_ID_LEN`] characters).
        field: String,
        /// The fields the route accepts, for the message (`user_id, session_id, …`).
        accepted: &'static str,
    },
    /// A field given twice.
    DuplicateField {
        /// The field's name (cut to [`MAX_ID_LEN`] characters).
        field: String,
    },
    /// A known field with a wrong type or value.
    InvalidField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// Neither `user_id` nor `session_id`.
    TargetMissing,
    /// Both `user_id` and `session_id`.
    TargetAmbiguous,
    /// An id that is not a Clerk id of the expected kind.
    InvalidId {
        /// `user_id` or `session_id`.
        field: &'static str,
        /// `user_` or `sess_`.
        prefix: &'static str,
    },
}

impl AdminError {
    /// HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            AdminError::NotConfigured => 404,
            AdminError::MethodNotAllowed => 405,
            AdminError::MissingToken => 401,
            // 401 for a wrong token too (the issue's rule): the route does not tell a
            // prober whether a token was present and wrong or absent.
            AdminError::WrongToken => 401,
            AdminError::UnsupportedMediaType => 415,
            AdminError::BodyTooLarge => 413,
            AdminError::BodyUnreadable | AdminError::InvalidJson { .. } => 400,
            AdminError::NotAnObject
            | AdminError::UnknownField { .. }
            | AdminError::DuplicateField { .. }
            | AdminError::InvalidField { .. }
            | AdminError::TargetMissing
            | AdminError::TargetAmbiguous
            | AdminError::InvalidId { .. } => 422,
        }
    }

    /// Stable error code, the `error` of the JSON body and of audit lines.
    pub fn code(&self) -> &'static str {
        match self {
            AdminError::NotConfigured => "not-found",
            AdminError::MethodNotAllowed => "method-not-allowed",
            AdminError::MissingToken => "admin-token-missing",
            AdminError::WrongToken => "admin-token-invalid",
            AdminError::UnsupportedMediaType => "unsupported-media-type",
            AdminError::BodyTooLarge => "body-too-large",
            AdminError::BodyUnreadable => "body-unreadable",
            AdminError::InvalidJson { .. } => "invalid-json",
            AdminError::NotAnObject => "body-not-object",
            AdminError::UnknownField { .. } => "unknown-field",
            AdminError::DuplicateField { .. } => "duplicate-field",
            AdminError::InvalidField { .. } => "invalid-field",
            AdminError::TargetMissing => "target-missing",
            AdminError::TargetAmbiguous => "target-ambiguous",
            AdminError::InvalidId { .. } => "invalid-id",
        }
    }

    /// Headers the answer must carry besides the JSON body (RFC 9110 requires `Allow` on
    /// 405 and `WWW-Authenticate` on 401).
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        match self {
            AdminError::MethodNotAllowed => &[("Allow", "POST")],
            AdminError::MissingToken | AdminError::WrongToken => &[("WWW-Authenticate", "Bearer")],
            _ => &[],
        }
    }

    /// The JSON body: `{"error": code, "message": …}`.
    pub fn to_json_body(&self) -> String {
        serde_json::json!({ "error": self.code(), "message": self.to_string() }).to_string()
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::NotConfigured => write!(f, "not found"),
            AdminError::MethodNotAllowed => {
                write!(f, "admin routes accept POST only: send the request as POST")
            }
            AdminError::MissingToken => write!(
                f,
                "missing admin credentials: send Authorization: Bearer <CLERK_ADMIN_TOKEN>"
            ),
            AdminError::WrongToken => write!(
                f,
                "the bearer token is not the admin token: use the current CLERK_ADMIN_TOKEN"
            ),
            AdminError::UnsupportedMediaType => write!(
                f,
                "the body must be JSON: send Content-Type: application/json (UTF-8)"
            ),
            AdminError::BodyTooLarge => write!(
                f,
                "the body is larger than {MAX_BODY_BYTES} bytes: send only the documented fields"
            ),
            AdminError::BodyUnreadable => {
                write!(f, "the request body could not be read: send it again")
            }
            AdminError::InvalidJson { detail } => {
                write!(
                    f,
                    "the body is not valid JSON ({detail}): send a JSON object"
                )
            }
            AdminError::NotAnObject => write!(
                f,
                "the body must be a JSON object such as {{\"user_id\":\"user_…\"}}"
            ),
            AdminError::UnknownField { field, accepted } => write!(
                f,
                "unknown field `{field}`: remove it (this route accepts {accepted})"
            ),
            AdminError::DuplicateField { field } => {
                write!(f, "field `{field}` appears twice: send it once")
            }
            AdminError::InvalidField { field, problem } => write!(f, "`{field}` {problem}"),
            AdminError::TargetMissing => {
                write!(
                    f,
                    "name the target: send exactly one of user_id or session_id"
                )
            }
            AdminError::TargetAmbiguous => write!(
                f,
                "both user_id and session_id given: send exactly one (user_id covers all \
                 of the user's sessions)"
            ),
            AdminError::InvalidId { field, prefix } => write!(
                f,
                "`{field}` must be {prefix} followed by letters, digits or _, at most \
                 {MAX_ID_LEN} characters: copy the id from the Clerk Dashboard"
            ),
        }
    }
}

impl std::error::Error for AdminError {}

/// Result of checking the admin bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAuth {
    /// No bearer token in the request.
    Missing,
    /// A bearer token that is not the admin token.
    Wrong,
    /// The admin token.
    Ok,
}

/// Compares `Authorization: Bearer <token>` with the configured admin token in constant
/// time. Both sides are hashed first, so neither the content nor the length of the token
/// leaks through timing.
pub fn check_admin_auth(authorization: Option<&str>, admin_token: &str) -> AdminAuth {
    let Some((scheme, token)) = authorization
        .map(str::trim)
        .and_then(|value| value.split_once(char::is_whitespace))
    else {
        return AdminAuth::Missing;
    };
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return AdminAuth::Missing;
    }
    let given = Sha256::digest(token.as_bytes());
    let expected = Sha256::digest(admin_token.as_bytes());
    if bool::from(given.ct_eq(&expected)) {
        AdminAuth::Ok
    } else {
        AdminAuth::Wrong
    }
}

/// The parts of an admin request checked before its body is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct AdminRequestHead<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// `Authorization` header.
    pub authorization: Option<&'a str>,
    /// `Content-Type` header.
    pub content_type: Option<&'a str>,
    /// `Content-Length` header.
    pub content_length: Option<&'a str>,
}

/// Checks an admin request before its body is read, in the order that leaks least: the
/// route's existence (404 without an admin token), method (405), credentials (401),
/// content type (415), declared size (413).
pub fn check_admin_head(
    admin_token: Option<&str>,
    head: &AdminRequestHead<'_>,
) -> Result<(), AdminError> {
    let Some(admin_token) = admin_token else {
        return Err(AdminError::NotConfigured);
    };
    if head.method != "POST" {
        return Err(AdminError::MethodNotAllowed);
    }
    match check_admin_auth(head.authorization, admin_token) {
        AdminAuth::Missing => return Err(AdminError::MissingToken),
        AdminAuth::Wrong => return Err(AdminError::WrongToken),
        AdminAuth::Ok => {}
    }
    if !head.content_type.is_some_and(is_json_content_type) {
        return Err(AdminError::UnsupportedMediaType);
    }
    let declared = head
        .content_length
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(AdminError::BodyTooLarge);
    }
    Ok(())
}

pub(crate) fn is_json_content_type(value: &str) -> bool {
    let mut parts = value.split(';');
    let media_type_ok = parts
        .next()
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    media_type_ok
        && parts.all(|parameter| match parameter.split_once('=') {
            Some((name, value)) if name.trim().eq_ignore_ascii_case("charset") => {
                value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            }
            _ => true,
        })
}

/// Who or what to shut out (or let back in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A user: every session of theirs, present and future.
    User(String),
    /// One session.
    Session(String),
}

impl Target {
    /// The Clerk id.
    pub fn id(&self) -> &str {
        match self {
            Target::User(id) | Target::Session(id) => id,
        }
    }

    /// `user` or `session`.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::User(_) => "user",
            Target::Session(_) => "session",
        }
    }

    /// The KV key of this target's deny-list entry.
    pub fn deny_key(&self) -> String {
        match self {
            Target::User(id) => format!("{DENY_USER_PREFIX}{id}"),
            Target::Session(id) => format!("{DENY_SESSION_PREFIX}{id}"),
        }
    }
}

/// A validated `POST /__clerk/admin/revoke` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeRequest {
    /// The user or session to shut out.
    pub target: Target,
    /// Also ban the user at Clerk (user targets only).
    pub ban: bool,
    /// Report what would be done; write and revoke nothing.
    pub dry_run: bool,
    /// Operator's reason, logged as `operator_reason` and kept in the deny entry.
    pub reason: Option<String>,
}

/// A validated `POST /__clerk/admin/restore` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreRequest {
    /// The user or session to let back in.
    pub target: Target,
    /// Also unban the user at Clerk (user targets only).
    pub unban: bool,
    /// Report what would be done; change nothing.
    pub dry_run: bool,
    /// Operator's reason, logged as `operator_reason`.
    pub reason: Option<String>,
}

/// Validates a revoke body: a JSON object of at most [`MAX_BODY_BYTES`] with exactly one of
/// `user_id` / `session_id` and optional `ban`, `dry_run`, `reason`; anything else refused.
pub fn parse_revoke_body(body: &[u8]) -> Result<RevokeRequest, AdminError> {
    let fields = parse_admin_body(AdminRoute::Revoke, body)?;
    Ok(RevokeRequest {
        target: fields.target,
        ban: fields.user_flag,
        dry_run: fields.dry_run,
        reason: fields.reason,
    })
}

/// Validates a restore body: as [`parse_revoke_body`], with `unban` instead of `ban`.
pub fn parse_restore_body(body: &[u8]) -> Result<RestoreRequest, AdminError> {
    let fields = parse_admin_body(AdminRoute::Restore, body)?;
    Ok(RestoreRequest {
        target: fields.target,
        unban: fields.user_flag,
        dry_run: fields.dry_run,
        reason: fields.reason,
    })
}

struct AdminFields {
    target: Target,
    user_flag: bool,
    dry_run: bool,
    reason: Option<String>,
}

fn parse_admin_body(route: AdminRoute, body: &[u8]) -> Result<AdminFields, AdminError> {
    let object = parse_body_object(body, route.fields(), route.accepted_fields())?;
    let user_id = string_field(&object, "user_id")?;
    let session_id = string_field(&object, "session_id")?;
    let target = match (user_id, session_id) {
        (Some(_), Some(_)) => return Err(AdminError::TargetAmbiguous),
        (None, None) => return Err(AdminError::TargetMissing),
        (Some(id), None) => Target::User(valid_id(id, "user_id", "user_")?),
        (None, Some(id)) => Target::Session(valid_id(id, "session_id", "sess_")?),
    };
    let user_flag_name = route.user_flag();
    let user_flag = bool_field(&object, user_flag_name)?;
    if user_flag && matches!(target, Target::Session(_)) {
        return Err(AdminError::InvalidField {
            field: user_flag_name,
            problem: "applies to a user, not a session: send user_id instead of session_id",
        });
    }
    let reason = string_field(&object, "reason")?.map(str::to_owned);
    if reason
        .as_deref()
        .is_some_and(|text| text.chars().count() > MAX_REASON_CHARS)
    {
        return Err(AdminError::InvalidField {
            field: "reason",
            problem: "is longer than 500 characters: shorten it (an incident id is enough)",
        });
    }
    Ok(AdminFields {
        target,
        user_flag,
        dry_run: bool_field(&object, "dry_run")?,
        reason,
    })
}

/// Reads an admin body as a JSON object of at most [`MAX_BODY_BYTES`] whose keys are all in
/// `fields` (`accepted` lists them for the error), each given once.
pub(crate) fn parse_body_object(
    body: &[u8],
    fields: &[&str],
    accepted: &'static str,
) -> Result<Map<String, Value>, AdminError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(AdminError::BodyTooLarge);
    }
    let value: Value = serde_json::from_slice(body).map_err(|error| AdminError::InvalidJson {
        detail: error.to_string(),
    })?;
    let Value::Object(object) = value else {
        return Err(AdminError::NotAnObject);
    };
    // serde_json keeps the last of repeated keys; a proxy in front may have kept the first,
    // so a repeated key is refused rather than guessed.
    if let Some(field) = first_duplicate_key(body) {
        return Err(AdminError::DuplicateField {
            field: cut_name(&field),
        });
    }
    if let Some(field) = object.keys().find(|key| !fields.contains(&key.as_str())) {
        return Err(AdminError::UnknownField {
            field: cut_name(field),
            accepted,
        });
    }
    Ok(object)
}

pub(crate) fn string_field<'a>(
    object: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, AdminError> {
    match object.get(field) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(AdminError::InvalidField {
            field,
            problem: "must be a string",
        }),
    }
}

pub(crate) fn bool_field(
    object: &Map<String, Value>,
    field: &'static str,
) -> Result<bool, AdminError> {
    match object.get(field) {
        None => Ok(false),
        Some(Value::Bool(flag)) => Ok(*flag),
        Some(_) => Err(AdminError::InvalidField {
            field,
            problem: "must be true or false",
        }),
    }
}

fn valid_id(id: &str, field: &'static str, prefix: &'static str) -> Result<String, AdminError> {
    let well_formed = id.len() <= MAX_ID_LEN
        && id.len() > prefix.len()
        && id.starts_with(prefix)
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if well_formed {
        Ok(id.to_owned())
    } else {
        Err(AdminError::InvalidId { field, prefix })
    }
}

fn cut_name(name: &str) -> String {
    name.chars().take(MAX_ID_LEN).collect()
}

/// The first top-level key that appears twice, if any.
fn first_duplicate_key(body: &[u8]) -> Option<String> {
    struct FirstDuplicate(Option<String>);

    impl<'de> Deserialize<'de> for FirstDuplicate {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct Keys;
            impl<'de> Visitor<'de> for Keys {
                type Value = Option<String>;

                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    write!(f, "a JSON object")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut seen = BTreeSet::new();
                    let mut duplicate = None;
                    // Read to the end even after a hit: serde_json checks the object closes.
                    while let Some(key) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        if duplicate.is_none() && seen.contains(&key) {
                            duplicate = Some(key);
                        } else {
                            seen.insert(key);
                        }
                    }
                    Ok(duplicate)
                }
            }
            deserializer.deserialize_map(Keys).map(FirstDuplicate)
        }
    }

    serde_json::from_slice::<FirstDuplicate>(body)
        .ok()
        .and_then(|found| found.0)
}

/// Who wrote a deny-list entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DenySource {
    /// The admin revoke route.
    Admin,
    /// A Clerk webhook (e.g. `user.deleted`).
    Webhook,
}

/// The value stored under a deny-list key. The key's presence is what denies (a reader must
/// deny even when the value does not parse); the value tells operators why and since when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyEntry {
    /// Who wrote it.
    pub source: DenySource,
    /// The operator's reason or the webhook event type.
    pub reason: Option<String>,
    /// When it was written, milliseconds since the Unix epoch.
    pub created_at: u64,
}

impl DenyEntry {
    /// The JSON stored in KV: `{"source":…,"reason":…,"created_at":…}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "source": self.source,
            "reason": self.reason,
            "created_at": self.created_at,
        })
        .to_string()
    }

    /// Reads a stored value (for operators and tools; see the type's note on denying).
    pub fn from_json(text: &str) -> Result<Self, BadResponse> {
        serde_json::from_str(text).map_err(|_| BadResponse {
            detail: "deny entry is not {source, reason, created_at}".to_owned(),
        })
    }
}

/// What a session entry's lifetime depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DenyTtlInputs {
    /// `CLERK_EMERGENCY_GRACE_SECONDS`: counted even when grace mode is off, because it can
    /// be switched on while the entry lives.
    pub grace_seconds: u64,
    /// Longest session-token lifetime of the instance ([`ASSUMED_MAX_TOKEN_LIFETIME_SECONDS`]).
    pub max_token_lifetime_seconds: u64,
    /// `CLERK_CLOCK_SKEW_MS`.
    pub clock_skew_ms: u64,
}

impl DenyTtlInputs {
    /// The inputs every entry is sized with: the largest grace window and clock skew the
    /// configuration accepts, because either can be raised while the entry lives (an
    /// operator turning on `grace` with a long window mid-incident must not let an ended
    /// session back in), and [`ASSUMED_MAX_TOKEN_LIFETIME_SECONDS`].
    pub const WORST_CASE: Self = DenyTtlInputs {
        grace_seconds: MAX_GRACE_SECONDS,
        max_token_lifetime_seconds: ASSUMED_MAX_TOKEN_LIFETIME_SECONDS,
        clock_skew_ms: MAX_CLOCK_SKEW_MS.unsigned_abs(),
    };
}

/// Expiration TTL of a session deny-list entry once Clerk has revoked the session.
///
/// A revoked session mints no new tokens, so the entry only has to outlive the tokens minted
/// before: the last one expires within the token lifetime, is accepted for the clock skew
/// after that, and in `grace` mode for the grace window after that. Plus
/// [`DENY_TTL_MARGIN_SECONDS`]; never below KV's minimum.
///
/// Used where Clerk itself says the session is revoked (the `session.revoked` webhook). The
/// admin revoke writes its entry before asking Clerk, when the session could still mint
/// tokens, so that entry has no expiry and lives until restored: Workers KV takes one write
/// per second per key, so a second write to add this TTL after Clerk's answer could fail
/// (answered 429) within the same call. Clerk's `session.revoked` webhook for the session
/// later rewrites the entry with this TTL. User entries never expire: a user can sign in
/// again at any time, so only `restore` lifts them.
pub fn session_deny_ttl_seconds(inputs: DenyTtlInputs) -> u64 {
    let skew_seconds = inputs.clock_skew_ms.div_ceil(1_000);
    inputs
        .grace_seconds
        .saturating_add(inputs.max_token_lifetime_seconds)
        .saturating_add(skew_seconds)
        .saturating_add(DENY_TTL_MARGIN_SECONDS)
        .max(KV_MIN_EXPIRATION_TTL_SECONDS)
}

/// What a plan needs from outside the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanContext {
    /// Now, milliseconds since the Unix epoch (the deny entry's `created_at`).
    pub now_ms: u64,
}

impl PlanContext {
    /// The context of a call at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        PlanContext {
            now_ms: u64::try_from(now_ms).unwrap_or(0),
        }
    }
}

/// Validates the body of a call to `route` and returns the plan that carries it out.
pub fn admin_plan(
    route: AdminRoute,
    body: &[u8],
    context: PlanContext,
) -> Result<Box<dyn AdminPlan>, AdminError> {
    Ok(match route {
        AdminRoute::Revoke => Box::new(RevokePlan::new(parse_revoke_body(body)?, context)),
        AdminRoute::Restore => Box::new(RestorePlan::new(parse_restore_body(body)?)),
    })
}

/// The next thing the adapter must do for a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminStep {
    /// Put `value` under `key` in the `CLERK_EDGE` KV namespace, with this expiration TTL
    /// (none: keep until deleted). Feed back [`StepOutcome::Storage`].
    WriteDenyEntry {
        /// KV key.
        key: String,
        /// JSON value ([`DenyEntry::to_json`]).
        value: String,
        /// `expirationTtl` in seconds.
        expiration_ttl_seconds: Option<u64>,
    },
    /// Delete `key` from the `CLERK_EDGE` KV namespace. Feed back [`StepOutcome::Storage`].
    DeleteDenyEntry {
        /// KV key.
        key: String,
    },
    /// Wait `delay_ms`, then send `request` to the Backend API, abandoning it after
    /// `timeout_ms`. Feed back [`StepOutcome::Api`].
    CallApi {
        /// The request (see [`crate::clerk_api::request_url`] and [`ApiRequest::headers`]).
        request: ApiRequest,
        /// Wait before sending (retries).
        delay_ms: u64,
        /// Abandon the attempt after this long and feed [`ApiOutcome::Timeout`].
        timeout_ms: u64,
    },
    /// Finished: answer with the plan's status and JSON body.
    Done,
}

/// What the adapter observed for the last step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Result of a KV write or delete; the error text must hold no secret.
    Storage(Result<(), String>),
    /// Result of a Backend API attempt.
    Api(ApiOutcome),
}

/// A revoke or restore operation driven step by step by the adapter.
pub trait AdminPlan {
    /// The first step. Call once; a second call repeats the pending step.
    fn start(&mut self) -> AdminStep;
    /// Feeds the outcome of the last step and returns the next one.
    fn feed(&mut self, outcome: StepOutcome) -> AdminStep;
    /// HTTP status of the answer (meaningful once [`AdminStep::Done`] was returned).
    fn response_status(&self) -> u16;
    /// JSON body of the answer.
    fn response_body(&self) -> String;
    /// The call's one audit line (`admin.revoke` / `admin.restore`), answered with `status`.
    fn audit_event(&self, status: u16) -> AuditEvent;
}

/// A session that Clerk did not revoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedSession {
    /// `sess_…`
    pub session_id: String,
    /// What went wrong.
    pub error: String,
}

/// Result of a revoke, serialised as the route's JSON answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RevokeReport {
    /// Always `revoke`.
    pub action: &'static str,
    /// The target's id.
    pub target: String,
    /// `user` or `session`.
    pub target_type: &'static str,
    /// Nothing was written or revoked.
    pub dry_run: bool,
    /// The edge deny-list entry was written (the target is shut out at the edge).
    pub edge_deny_listed: bool,
    /// Why the edge write failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_error: Option<String>,
    /// Sessions acted on: the target session, or the user's active sessions at Clerk.
    pub sessions_found: Vec<String>,
    /// Sessions Clerk revoked.
    pub revoked: Vec<String>,
    /// Sessions Clerk did not revoke, and why.
    pub failed: Vec<FailedSession>,
    /// Why listing the user's sessions failed or stopped short.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_error: Option<String>,
    /// `true` banned, `false` asked but failed, `null` not asked (or dry run).
    pub banned: Option<bool>,
    /// Why the ban failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ban_error: Option<String>,
    /// `false` when Clerk could not be reached, `null` when no call was made.
    pub clerk_reachable: Option<bool>,
    /// What happened and what to do next, in one sentence.
    pub message: String,
}

impl RevokeReport {
    /// HTTP status: 500 when the edge write failed, 502 when any Clerk call failed, else 200.
    pub fn status(&self) -> u16 {
        if !self.dry_run && !self.edge_deny_listed {
            500
        } else if !self.failed.is_empty() || self.list_error.is_some() || self.ban_error.is_some() {
            502
        } else {
            200
        }
    }
}

/// Result of a restore, serialised as the route's JSON answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RestoreReport {
    /// Always `restore`.
    pub action: &'static str,
    /// The target's id.
    pub target: String,
    /// `user` or `session`.
    pub target_type: &'static str,
    /// Nothing was changed.
    pub dry_run: bool,
    /// The edge deny-list entry was deleted (or did not exist).
    pub edge_deny_removed: bool,
    /// Why the edge delete failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge_error: Option<String>,
    /// `true` unbanned, `false` asked but failed, `null` not asked (or dry run).
    pub unbanned: Option<bool>,
    /// Why the unban failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unban_error: Option<String>,
    /// `false` when Clerk could not be reached, `null` when no call was made.
    pub clerk_reachable: Option<bool>,
    /// What happened and what to do next.
    pub message: String,
}

impl RestoreReport {
    /// HTTP status: 500 when the edge delete failed, 502 when the unban failed, else 200.
    pub fn status(&self) -> u16 {
        if !self.dry_run && !self.edge_deny_removed {
            500
        } else if self.unban_error.is_some() {
            502
        } else {
            200
        }
    }
}

fn report_json<T: Serialize>(report: &T) -> String {
    serde_json::to_string(report).unwrap_or_else(|_| {
        String::from(r#"{"error":"internal","message":"report could not be serialised"}"#)
    })
}

/// Records what a finished call says about Clerk's reachability.
fn note_reachability(reachable: &mut Option<bool>, result: &Result<String, CallError>) {
    match result {
        Err(error) if error.is_unavailable() => *reachable = Some(false),
        Err(CallError::NotAttempted) => {}
        _ => {
            reachable.get_or_insert(true);
        }
    }
}

fn call_step(call: &ApiCall, delay_ms: u64) -> AdminStep {
    AdminStep::CallApi {
        request: call.request().clone(),
        delay_ms,
        timeout_ms: ATTEMPT_TIMEOUT_MS,
    }
}

fn storage_mismatch() -> String {
    "internal: an API outcome was fed where a storage result was expected".to_owned()
}

fn api_mismatch() -> CallError {
    CallError::BadResponse(BadResponse {
        detail: "internal: a storage result was fed where an API outcome was expected".to_owned(),
    })
}

/// A storage failure's text as the answer and the audit line may show it. The store is the
/// application's in pkg-js (any object with `get`/`put`/`delete`), so its error text could
/// quote a URL, a token or a connection string: secret-shaped parts are redacted and the
/// text is capped ([`crate::report::redact::scrub`], the rule of the post-incident report).
fn storage_problem(text: &str) -> String {
    crate::report::redact::scrub(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RevokePhase {
    NotStarted,
    WriteDeny,
    List { offset: u32, pages: u32 },
    Revoke { index: usize },
    Ban,
    Done,
}

/// The revoke operation: edge deny-list entry first (one write per call: Workers KV takes one
/// write per second per key), then (user) list the sessions that are active or pending,
/// revoke each, ban if asked; (session) revoke it.
#[derive(Debug, Clone)]
pub struct RevokePlan {
    request: RevokeRequest,
    entry: DenyEntry,
    phase: RevokePhase,
    call: Option<ApiCall>,
    last_step: AdminStep,
    halted: bool,
    report: RevokeReport,
}

impl RevokePlan {
    /// A plan for a validated request.
    pub fn new(request: RevokeRequest, context: PlanContext) -> Self {
        let report = RevokeReport {
            action: "revoke",
            target: request.target.id().to_owned(),
            target_type: request.target.kind(),
            dry_run: request.dry_run,
            edge_deny_listed: false,
            edge_error: None,
            sessions_found: Vec::new(),
            revoked: Vec::new(),
            failed: Vec::new(),
            list_error: None,
            banned: None,
            ban_error: None,
            clerk_reachable: None,
            message: String::new(),
        };
        RevokePlan {
            entry: DenyEntry {
                source: DenySource::Admin,
                reason: request.reason.clone(),
                created_at: context.now_ms,
            },
            request,
            phase: RevokePhase::NotStarted,
            call: None,
            last_step: AdminStep::Done,
            halted: false,
            report,
        }
    }

    /// The request being carried out (for the audit line's `operator_reason`).
    pub fn request(&self) -> &RevokeRequest {
        &self.request
    }

    /// The report so far (final once [`AdminStep::Done`] was returned).
    pub fn report(&self) -> &RevokeReport {
        &self.report
    }

    fn emit(&mut self, step: AdminStep) -> AdminStep {
        self.last_step = step.clone();
        step
    }

    /// The plan's one write: no expiry (see [`session_deny_ttl_seconds`] for why).
    fn write_entry(&mut self) -> AdminStep {
        self.emit(AdminStep::WriteDenyEntry {
            key: self.request.target.deny_key(),
            value: self.entry.to_json(),
            expiration_ttl_seconds: None,
        })
    }

    fn begin_call(&mut self, request: ApiRequest) -> AdminStep {
        let call = ApiCall::new(request);
        let step = call_step(&call, 0);
        self.call = Some(call);
        self.emit(step)
    }

    fn after_edge_write(&mut self) -> AdminStep {
        match &self.request.target {
            Target::Session(id) => {
                self.report.sessions_found = vec![id.clone()];
                self.start_revokes()
            }
            Target::User(_) => self.list_page(0, 0),
        }
    }

    fn list_page(&mut self, offset: u32, pages: u32) -> AdminStep {
        self.phase = RevokePhase::List { offset, pages };
        let request = ApiRequest::list_sessions(self.request.target.id(), LIST_PAGE_LIMIT, offset);
        self.begin_call(request)
    }

    fn on_page(&mut self, body: &str, offset: u32, pages: u32) -> AdminStep {
        let page = match parse_session_list(body) {
            Ok(page) => page,
            Err(error) => {
                self.report.list_error = Some(error.to_string());
                return self.start_revokes();
            }
        };
        // A list that ignored the user_id filter must not make us revoke other users.
        if page
            .sessions
            .iter()
            .any(|session| session.user_id != self.request.target.id())
        {
            self.report.list_error = Some(
                "Clerk listed a session of another user: nothing revoked from that list".to_owned(),
            );
            self.report.sessions_found.clear();
            return self.start_revokes();
        }
        // `pending` sessions (a sign-in waiting on a task, e.g. choosing an organization)
        // become active without a new sign-in, so they are revoked too. The list's `status`
        // filter takes one value and has no `pending`, so the list is unfiltered.
        for session in page.sessions.iter().filter(|s| s.is_live()) {
            if !self.report.sessions_found.contains(&session.id) {
                self.report.sessions_found.push(session.id.clone());
            }
        }
        match page.next_offset(LIST_PAGE_LIMIT, offset) {
            None => self.start_revokes(),
            Some(next) if pages.saturating_add(1) < MAX_LIST_PAGES => {
                self.list_page(next, pages.saturating_add(1))
            }
            Some(_) => {
                self.report.list_error = Some(format!(
                    "the user has more than {} sessions at Clerk: only the live ones listed \
                     were revoked; call again to revoke the rest",
                    LIST_PAGE_LIMIT.saturating_mul(MAX_LIST_PAGES)
                ));
                self.start_revokes()
            }
        }
    }

    fn start_revokes(&mut self) -> AdminStep {
        if self.request.dry_run {
            self.finish()
        } else {
            self.revoke_from(0)
        }
    }

    fn revoke_from(&mut self, index: usize) -> AdminStep {
        let Some(session_id) = self.report.sessions_found.get(index).cloned() else {
            return self.after_revokes();
        };
        if self.halted {
            let remaining = self.report.sessions_found.get(index..).unwrap_or_default();
            self.report
                .failed
                .extend(remaining.iter().map(|session_id| FailedSession {
                    session_id: session_id.clone(),
                    error: CallError::NotAttempted.to_string(),
                }));
            return self.after_revokes();
        }
        self.phase = RevokePhase::Revoke { index };
        self.begin_call(ApiRequest::revoke_session(&session_id))
    }

    fn after_revokes(&mut self) -> AdminStep {
        match &self.request.target {
            Target::User(id) if self.request.ban => {
                if self.halted {
                    self.report.banned = Some(false);
                    self.report.ban_error = Some(CallError::NotAttempted.to_string());
                    self.finish()
                } else {
                    self.phase = RevokePhase::Ban;
                    let request = ApiRequest::ban_user(id);
                    self.begin_call(request)
                }
            }
            _ => self.finish(),
        }
    }

    fn on_call_finished(&mut self, result: Result<String, CallError>) -> AdminStep {
        self.call = None;
        note_reachability(&mut self.report.clerk_reachable, &result);
        if result
            .as_ref()
            .err()
            .is_some_and(CallError::halts_further_calls)
        {
            self.halted = true;
        }
        match (self.phase, result) {
            (RevokePhase::List { offset, pages }, Ok(body)) => self.on_page(&body, offset, pages),
            (RevokePhase::List { .. }, Err(error)) => {
                self.report.list_error = Some(error.to_string());
                self.start_revokes()
            }
            (RevokePhase::Revoke { index }, result) => {
                let session_id = self
                    .report
                    .sessions_found
                    .get(index)
                    .cloned()
                    .unwrap_or_default();
                match result {
                    Ok(_) => self.report.revoked.push(session_id),
                    Err(error) => self.report.failed.push(FailedSession {
                        session_id,
                        error: error.to_string(),
                    }),
                }
                self.revoke_from(index.saturating_add(1))
            }
            (RevokePhase::Ban, result) => {
                self.report.banned = Some(result.is_ok());
                self.report.ban_error = result.err().map(|error| error.to_string());
                self.finish()
            }
            _ => self.finish(),
        }
    }

    fn finish(&mut self) -> AdminStep {
        self.phase = RevokePhase::Done;
        self.report.message = revoke_message(&self.report, &self.request);
        self.emit(AdminStep::Done)
    }
}

impl AdminPlan for RevokePlan {
    fn start(&mut self) -> AdminStep {
        if self.phase != RevokePhase::NotStarted {
            return self.last_step.clone();
        }
        if self.request.dry_run {
            self.after_edge_write()
        } else {
            self.phase = RevokePhase::WriteDeny;
            self.write_entry()
        }
    }

    fn feed(&mut self, outcome: StepOutcome) -> AdminStep {
        match self.phase {
            RevokePhase::NotStarted => self.start(),
            RevokePhase::Done => AdminStep::Done,
            RevokePhase::WriteDeny => {
                let result = match outcome {
                    StepOutcome::Storage(result) => result,
                    StepOutcome::Api(_) => Err(storage_mismatch()),
                };
                self.report.edge_deny_listed = result.is_ok();
                self.report.edge_error = result.err().as_deref().map(storage_problem);
                self.after_edge_write()
            }
            RevokePhase::List { .. } | RevokePhase::Revoke { .. } | RevokePhase::Ban => {
                let progress = match (outcome, self.call.as_mut()) {
                    (StepOutcome::Api(outcome), Some(call)) => call.on_outcome(outcome),
                    _ => CallProgress::Finished(Err(api_mismatch())),
                };
                match (progress, self.call.as_ref()) {
                    (CallProgress::RetryAfter(delay_ms), Some(call)) => {
                        let step = call_step(call, delay_ms);
                        self.emit(step)
                    }
                    (CallProgress::Finished(result), _) => self.on_call_finished(result),
                    (CallProgress::RetryAfter(_), None) => {
                        self.on_call_finished(Err(api_mismatch()))
                    }
                }
            }
        }
    }

    fn response_status(&self) -> u16 {
        self.report.status()
    }

    fn response_body(&self) -> String {
        report_json(&self.report)
    }

    fn audit_event(&self, status: u16) -> AuditEvent {
        revoke_audit_event(&self.request, &self.report, status)
    }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 {
        format!("1 {word}")
    } else {
        format!("{count} {word}s")
    }
}

fn revoke_message(report: &RevokeReport, request: &RevokeRequest) -> String {
    let target = &report.target;
    let found = report.sessions_found.len();
    let mut parts = Vec::new();
    if report.dry_run {
        parts.push(format!(
            "dry run, nothing changed: would deny-list {target} at the edge"
        ));
        match &report.list_error {
            Some(error) => parts.push(format!("could not list sessions at Clerk: {error}")),
            None => parts.push(format!(
                "would revoke {} at Clerk",
                plural(found, "active session")
            )),
        }
        if request.ban {
            parts.push("would ban the user at Clerk".to_owned());
        }
        return parts.join("; ");
    }
    match &report.edge_error {
        None => parts.push("edge deny-list written".to_owned()),
        Some(error) => parts.push(format!(
            "edge deny-list write FAILED ({error}): {target} is NOT shut out at the edge — \
             retry the call"
        )),
    }
    let nothing_done_at_clerk = report.clerk_reachable == Some(false)
        && report.revoked.is_empty()
        && report.banned != Some(true);
    if nothing_done_at_clerk {
        let not_done = if request.ban {
            "sessions not revoked and user not banned at Clerk"
        } else {
            "sessions not revoked at Clerk"
        };
        parts.push(format!(
            "Clerk API unreachable: {not_done} — retry the call when Clerk is back"
        ));
        return parts.join("; ");
    }
    if let Some(error) = &report.list_error {
        parts.push(format!("listing sessions at Clerk failed: {error}"));
    }
    if found == 0 && report.list_error.is_none() {
        parts.push("no active sessions at Clerk".to_owned());
    } else if found > 0 {
        parts.push(format!(
            "revoked {} of {} at Clerk",
            report.revoked.len(),
            plural(found, "session")
        ));
    }
    if !report.failed.is_empty() {
        let ids: Vec<&str> = report
            .failed
            .iter()
            .map(|failed| failed.session_id.as_str())
            .collect();
        parts.push(format!(
            "not revoked: {} (see failed) — retry the call",
            ids.join(", ")
        ));
    }
    match (report.banned, &report.ban_error) {
        (Some(true), _) => parts.push("user banned at Clerk".to_owned()),
        (Some(false), Some(error)) => {
            parts.push(format!("ban failed: {error} — retry the call"));
        }
        _ => {}
    }
    parts.join("; ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RestorePhase {
    NotStarted,
    DeleteDeny,
    Unban,
    Done,
}

/// The restore operation: delete the edge deny-list entry, then unban if asked.
#[derive(Debug, Clone)]
pub struct RestorePlan {
    request: RestoreRequest,
    phase: RestorePhase,
    call: Option<ApiCall>,
    last_step: AdminStep,
    report: RestoreReport,
}

impl RestorePlan {
    /// A plan for a validated request.
    pub fn new(request: RestoreRequest) -> Self {
        let report = RestoreReport {
            action: "restore",
            target: request.target.id().to_owned(),
            target_type: request.target.kind(),
            dry_run: request.dry_run,
            edge_deny_removed: false,
            edge_error: None,
            unbanned: None,
            unban_error: None,
            clerk_reachable: None,
            message: String::new(),
        };
        RestorePlan {
            request,
            phase: RestorePhase::NotStarted,
            call: None,
            last_step: AdminStep::Done,
            report,
        }
    }

    /// The request being carried out.
    pub fn request(&self) -> &RestoreRequest {
        &self.request
    }

    /// The report so far (final once [`AdminStep::Done`] was returned).
    pub fn report(&self) -> &RestoreReport {
        &self.report
    }

    fn emit(&mut self, step: AdminStep) -> AdminStep {
        self.last_step = step.clone();
        step
    }

    fn after_edge_delete(&mut self) -> AdminStep {
        match &self.request.target {
            Target::User(id) if self.request.unban && !self.request.dry_run => {
                self.phase = RestorePhase::Unban;
                let call = ApiCall::new(ApiRequest::unban_user(id));
                let step = call_step(&call, 0);
                self.call = Some(call);
                self.emit(step)
            }
            _ => self.finish(),
        }
    }

    fn finish(&mut self) -> AdminStep {
        self.phase = RestorePhase::Done;
        self.report.message = restore_message(&self.report, &self.request);
        self.emit(AdminStep::Done)
    }
}

impl AdminPlan for RestorePlan {
    fn start(&mut self) -> AdminStep {
        if self.phase != RestorePhase::NotStarted {
            return self.last_step.clone();
        }
        if self.request.dry_run {
            self.after_edge_delete()
        } else {
            self.phase = RestorePhase::DeleteDeny;
            self.emit(AdminStep::DeleteDenyEntry {
                key: self.request.target.deny_key(),
            })
        }
    }

    fn feed(&mut self, outcome: StepOutcome) -> AdminStep {
        match self.phase {
            RestorePhase::NotStarted => self.start(),
            RestorePhase::Done => AdminStep::Done,
            RestorePhase::DeleteDeny => {
                let result = match outcome {
                    StepOutcome::Storage(result) => result,
                    StepOutcome::Api(_) => Err(storage_mismatch()),
                };
                self.report.edge_deny_removed = result.is_ok();
                self.report.edge_error = result.err().as_deref().map(storage_problem);
                self.after_edge_delete()
            }
            RestorePhase::Unban => {
                let progress = match (outcome, self.call.as_mut()) {
                    (StepOutcome::Api(outcome), Some(call)) => call.on_outcome(outcome),
                    _ => CallProgress::Finished(Err(api_mismatch())),
                };
                let result = match (progress, self.call.as_ref()) {
                    (CallProgress::RetryAfter(delay_ms), Some(call)) => {
                        let step = call_step(call, delay_ms);
                        return self.emit(step);
                    }
                    (CallProgress::Finished(result), _) => result,
                    (CallProgress::RetryAfter(_), None) => Err(api_mismatch()),
                };
                self.call = None;
                note_reachability(&mut self.report.clerk_reachable, &result);
                self.report.unbanned = Some(result.is_ok());
                self.report.unban_error = result.err().map(|error| error.to_string());
                self.finish()
            }
        }
    }

    fn response_status(&self) -> u16 {
        self.report.status()
    }

    fn response_body(&self) -> String {
        report_json(&self.report)
    }

    fn audit_event(&self, status: u16) -> AuditEvent {
        restore_audit_event(&self.request, &self.report, status)
    }
}

fn restore_message(report: &RestoreReport, request: &RestoreRequest) -> String {
    let target = &report.target;
    let mut parts = Vec::new();
    if report.dry_run {
        parts.push(format!(
            "dry run, nothing changed: would remove the edge deny-list entry of {target}"
        ));
        if request.unban {
            parts.push("would unban the user at Clerk".to_owned());
        }
    } else {
        match &report.edge_error {
            None => parts.push("edge deny-list entry removed".to_owned()),
            Some(error) => parts.push(format!(
                "edge deny-list delete FAILED ({error}): {target} is still shut out at the \
                 edge — retry the call"
            )),
        }
        match (report.unbanned, &report.unban_error) {
            (Some(true), _) => parts.push("user unbanned at Clerk".to_owned()),
            (Some(false), Some(error)) => {
                parts.push(format!("unban failed: {error} — retry the call"));
            }
            _ => {}
        }
    }
    if matches!(request.target, Target::Session(_)) {
        parts.push(
            "a session revoked at Clerk stays revoked (Clerk cannot un-revoke): the user signs \
             in again"
                .to_owned(),
        );
    }
    parts.join("; ")
}

// ----- audit lines -----

/// The target as audit fields (the same for the Worker and the JS handlers): `target` (`user:<id>` / `session:<id>`) and `user_id` or
/// `session_id`, so a search for an id finds the revoke next to the refusals it caused.
pub fn with_target_fields(event: AuditEvent, target: &Target) -> AuditEvent {
    let event = event.text("target", &format!("{}:{}", target.kind(), target.id()));
    match target {
        Target::User(id) => event.text("user_id", id),
        Target::Session(id) => event.text("session_id", id),
    }
}

/// The `admin.revoke` line of a finished plan.
pub fn revoke_audit_event(
    request: &RevokeRequest,
    report: &RevokeReport,
    status: u16,
) -> AuditEvent {
    let event = AuditEvent::new(Level::Warn, "admin.revoke");
    with_target_fields(event, &request.target)
        .value("revoked_sessions", json!(report.revoked.len()))
        .value("failed_sessions", json!(report.failed.len()))
        .value("sessions_found", json!(report.sessions_found.len()))
        .value("banned", json!(report.banned == Some(true)))
        .value("ban_requested", json!(request.ban))
        .value("edge_deny_listed", json!(report.edge_deny_listed))
        .value("clerk_reachable", json!(report.clerk_reachable))
        .value("dry_run", json!(request.dry_run))
        .value("ok", json!(status == 200))
        .value("status", json!(status))
        .value("operator_reason", optional_text(request.reason.as_deref()))
        .text("message", &report.message)
}

/// The `admin.restore` line of a finished plan.
pub fn restore_audit_event(
    request: &RestoreRequest,
    report: &RestoreReport,
    status: u16,
) -> AuditEvent {
    let event = AuditEvent::new(Level::Warn, "admin.restore");
    with_target_fields(event, &request.target)
        .value("edge_deny_removed", json!(report.edge_deny_removed))
        .value("unbanned", json!(report.unbanned == Some(true)))
        .value("unban_requested", json!(request.unban))
        .value("clerk_reachable", json!(report.clerk_reachable))
        .value("dry_run", json!(request.dry_run))
        .value("ok", json!(status == 200))
        .value("status", json!(status))
        .value("operator_reason", optional_text(request.reason.as_deref()))
        .text("message", &report.message)
}

/// The operator's reason as a cleaned, capped string, or `null` when none was given.
fn optional_text(text: Option<&str>) -> Value {
    match text {
        Some(text) => Value::String(clean_text(text, MAX_TEXT_CHARS)),
        None => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADMIN_TOKEN: &str = "0123456789abcdef0123456789abcdef";

    // ----- admin auth and request head -----

    #[test]
    fn admin_auth_cases() {
        let cases = [
            (None, AdminAuth::Missing),
            (Some(""), AdminAuth::Missing),
            (Some("Bearer"), AdminAuth::Missing),
            (Some("Bearer   "), AdminAuth::Missing),
            (Some(&*format!("Basic {ADMIN_TOKEN}")), AdminAuth::Missing),
            (Some(&*format!("Bearer {ADMIN_TOKEN}")), AdminAuth::Ok),
            (Some(&*format!("bearer {ADMIN_TOKEN}")), AdminAuth::Ok),
            (Some(&*format!("  BEARER   {ADMIN_TOKEN} ")), AdminAuth::Ok),
            (Some("Bearer wrong"), AdminAuth::Wrong),
            (
                Some(&*format!("Bearer {}", &ADMIN_TOKEN[..31])),
                AdminAuth::Wrong,
            ),
            (Some(&*format!("Bearer {ADMIN_TOKEN}x")), AdminAuth::Wrong),
        ];
        for (header, expected) in cases {
            assert_eq!(
                check_admin_auth(header, ADMIN_TOKEN),
                expected,
                "{header:?}"
            );
        }
    }

    fn head<'a>(
        method: &'a str,
        auth: Option<&'a str>,
        ct: Option<&'a str>,
    ) -> AdminRequestHead<'a> {
        AdminRequestHead {
            method,
            authorization: auth,
            content_type: ct,
            content_length: None,
        }
    }

    #[test]
    fn request_head_checks_in_order() {
        let good_auth = format!("Bearer {ADMIN_TOKEN}");
        let auth = Some(good_auth.as_str());
        let json = Some("application/json");
        let check = |h: AdminRequestHead<'_>| check_admin_head(Some(ADMIN_TOKEN), &h);

        assert_eq!(
            check_admin_head(None, &head("POST", auth, json)),
            Err(AdminError::NotConfigured)
        );
        assert_eq!(
            check_admin_head(None, &head("GET", None, None)),
            Err(AdminError::NotConfigured)
        );
        for method in ["GET", "PUT", "DELETE", "post"] {
            assert_eq!(
                check(head(method, auth, json)),
                Err(AdminError::MethodNotAllowed)
            );
        }
        assert_eq!(
            check(head("POST", None, json)),
            Err(AdminError::MissingToken)
        );
        assert_eq!(
            check(head("POST", Some("Bearer nope"), json)),
            Err(AdminError::WrongToken)
        );
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("application/jsonx"),
            Some("application/json; charset=latin1"),
        ] {
            assert_eq!(
                check(head("POST", auth, content_type)),
                Err(AdminError::UnsupportedMediaType),
                "{content_type:?}"
            );
        }
        for content_type in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/json;charset=\"UTF-8\"",
        ] {
            assert_eq!(check(head("POST", auth, Some(content_type))), Ok(()));
        }
        let mut big = head("POST", auth, json);
        big.content_length = Some("8193");
        assert_eq!(check(big), Err(AdminError::BodyTooLarge));
        big.content_length = Some("8192");
        assert_eq!(check(big), Ok(()));
    }

    // ----- bodies -----

    fn revoke(body: &str) -> Result<RevokeRequest, AdminError> {
        parse_revoke_body(body.as_bytes())
    }

    fn restore(body: &str) -> Result<RestoreRequest, AdminError> {
        parse_restore_body(body.as_bytes())
    }

    #[test]
    fn valid_bodies_parse() {
        assert_eq!(
            revoke(r#"{"user_id":"user_2abc","ban":true,"reason":"INC-42","dry_run":false}"#),
            Ok(RevokeRequest {
                target: Target::User("user_2abc".to_owned()),
                ban: true,
                dry_run: false,
                reason: Some("INC-42".to_owned()),
            })
        );
        assert_eq!(
            revoke(r#"{"session_id":"sess_2abc","dry_run":true}"#),
            Ok(RevokeRequest {
                target: Target::Session("sess_2abc".to_owned()),
                ban: false,
                dry_run: true,
                reason: None,
            })
        );
        assert_eq!(
            restore(r#"{"user_id":"user_2abc","unban":true}"#),
            Ok(RestoreRequest {
                target: Target::User("user_2abc".to_owned()),
                unban: true,
                dry_run: false,
                reason: None,
            })
        );
        assert!(restore(r#"{"session_id":"sess_1","dry_run":true,"reason":""}"#).is_ok());
    }

    #[test]
    fn oversized_bodies_are_refused() {
        let padding = " ".repeat(MAX_BODY_BYTES);
        let body = format!(r#"{{"user_id":"user_1"}}{padding}"#);
        assert_eq!(revoke(&body), Err(AdminError::BodyTooLarge));
        let object = r#"{"user_id":"user_1"}"#;
        let exactly = format!("{object}{}", " ".repeat(MAX_BODY_BYTES - object.len()));
        assert!(revoke(&exactly).is_ok());
    }

    #[test]
    fn bad_json_and_non_objects_are_refused() {
        for body in [
            "",
            "{",
            "user_id=user_1",
            "{\"user_id\":\"user_1\"} x",
            "\u{0}",
        ] {
            let error = revoke(body).unwrap_err();
            assert_eq!(
                (error.status(), error.code()),
                (400, "invalid-json"),
                "{body}"
            );
        }
        assert!(matches!(
            parse_revoke_body(b"\xff\xfe"),
            Err(AdminError::InvalidJson { .. })
        ));
        for body in [
            "[]",
            "null",
            "\"user_1\"",
            "42",
            r#"[{"user_id":"user_1"}]"#,
        ] {
            assert_eq!(revoke(body), Err(AdminError::NotAnObject), "{body}");
        }
    }

    #[test]
    fn unknown_and_duplicate_fields_are_named() {
        let unknown = |field: &str, accepted| AdminError::UnknownField {
            field: field.to_owned(),
            accepted,
        };
        assert_eq!(
            revoke(r#"{"user_id":"user_1","force":true}"#),
            Err(unknown(
                "force",
                "user_id, session_id, ban, dry_run, reason"
            ))
        );
        assert_eq!(
            revoke(r#"{"user_id":"user_1","unban":true}"#),
            Err(unknown(
                "unban",
                "user_id, session_id, ban, dry_run, reason"
            ))
        );
        assert_eq!(
            restore(r#"{"user_id":"user_1","ban":true}"#),
            Err(unknown(
                "ban",
                "user_id, session_id, unban, dry_run, reason"
            ))
        );
        assert_eq!(
            revoke(r#"{"userId":"user_1"}"#),
            Err(unknown(
                "userId",
                "user_id, session_id, ban, dry_run, reason"
            ))
        );
        let long = "k".repeat(200);
        assert_eq!(
            revoke(&format!(r#"{{"{long}":1}}"#)),
            Err(unknown(
                &"k".repeat(MAX_ID_LEN),
                "user_id, session_id, ban, dry_run, reason"
            ))
        );
        assert_eq!(
            revoke(r#"{"user_id":"user_1","user_id":"user_2"}"#),
            Err(AdminError::DuplicateField {
                field: "user_id".to_owned()
            })
        );
        let error = revoke(r#"{"user_id":"user_1","x":1}"#).unwrap_err();
        assert_eq!((error.status(), error.code()), (422, "unknown-field"));
        assert!(error.to_string().contains("`x`"));
    }

    #[test]
    fn exactly_one_target() {
        assert_eq!(revoke("{}"), Err(AdminError::TargetMissing));
        assert_eq!(revoke(r#"{"ban":true}"#), Err(AdminError::TargetMissing));
        assert_eq!(
            revoke(r#"{"user_id":"user_1","session_id":"sess_1"}"#),
            Err(AdminError::TargetAmbiguous)
        );
        assert_eq!(restore("{}"), Err(AdminError::TargetMissing));
    }

    #[test]
    fn ids_are_validated() {
        let user_error = AdminError::InvalidId {
            field: "user_id",
            prefix: "user_",
        };
        let bad_user = Err(user_error.clone());
        let bad_session = Err(AdminError::InvalidId {
            field: "session_id",
            prefix: "sess_",
        });
        for id in [
            "", "user_", "sess_1", "usr_1", "USER_1", "user_1 ", "user_a-b", "user_a/b", "user_é",
            "user_1\n",
        ] {
            let body = serde_json::json!({ "user_id": id }).to_string();
            assert_eq!(revoke(&body), bad_user, "{id:?}");
        }
        let at_limit = format!("user_{}", "a".repeat(MAX_ID_LEN - 5));
        assert!(revoke(&serde_json::json!({ "user_id": at_limit }).to_string()).is_ok());
        let over = format!("user_{}", "a".repeat(MAX_ID_LEN - 4));
        assert_eq!(
            revoke(&serde_json::json!({ "user_id": over }).to_string()),
            bad_user
        );
        for id in ["user_1", "sess_", "sess_x.y", "sess_%2F"] {
            let body = serde_json::json!({ "session_id": id }).to_string();
            assert_eq!(restore(&body), bad_session, "{id:?}");
        }
        assert_eq!(
            (user_error.status(), user_error.code()),
            (422, "invalid-id")
        );
    }

    #[test]
    fn field_types_and_limits() {
        let invalid =
            |field, problem| Err::<RevokeRequest, _>(AdminError::InvalidField { field, problem });
        assert_eq!(
            revoke(r#"{"user_id":1}"#),
            invalid("user_id", "must be a string")
        );
        assert_eq!(
            revoke(r#"{"session_id":null}"#),
            invalid("session_id", "must be a string")
        );
        assert_eq!(
            revoke(r#"{"user_id":"user_1","ban":"yes"}"#),
            invalid("ban", "must be true or false")
        );
        assert_eq!(
            revoke(r#"{"user_id":"user_1","dry_run":1}"#),
            invalid("dry_run", "must be true or false")
        );
        assert_eq!(
            revoke(r#"{"user_id":"user_1","reason":["a"]}"#),
            invalid("reason", "must be a string")
        );
        let reason_ok = serde_json::json!({ "user_id": "user_1", "reason": "é".repeat(500) });
        assert!(revoke(&reason_ok.to_string()).is_ok());
        let reason_long = serde_json::json!({ "user_id": "user_1", "reason": "a".repeat(501) });
        let error = revoke(&reason_long.to_string()).unwrap_err();
        assert!(matches!(
            error,
            AdminError::InvalidField {
                field: "reason",
                ..
            }
        ));
        let error = revoke(r#"{"session_id":"sess_1","ban":true}"#).unwrap_err();
        assert!(matches!(
            error,
            AdminError::InvalidField { field: "ban", .. }
        ));
        assert!(error.to_string().contains("send user_id"));
        let error = restore(r#"{"session_id":"sess_1","unban":true}"#).unwrap_err();
        assert!(matches!(
            error,
            AdminError::InvalidField { field: "unban", .. }
        ));
        assert!(revoke(r#"{"session_id":"sess_1","ban":false}"#).is_ok());
    }

    #[test]
    fn every_error_has_status_code_message_and_json_body() {
        let all = [
            (AdminError::NotConfigured, 404, "not-found"),
            (AdminError::MethodNotAllowed, 405, "method-not-allowed"),
            (AdminError::MissingToken, 401, "admin-token-missing"),
            (AdminError::WrongToken, 401, "admin-token-invalid"),
            (
                AdminError::UnsupportedMediaType,
                415,
                "unsupported-media-type",
            ),
            (AdminError::BodyTooLarge, 413, "body-too-large"),
            (
                AdminError::InvalidJson {
                    detail: "EOF".to_owned(),
                },
                400,
                "invalid-json",
            ),
            (AdminError::NotAnObject, 422, "body-not-object"),
            (
                AdminError::UnknownField {
                    field: "x".to_owned(),
                    accepted: "a",
                },
                422,
                "unknown-field",
            ),
            (
                AdminError::DuplicateField {
                    field: "x".to_owned(),
                },
                422,
                "duplicate-field",
            ),
            (
                AdminError::InvalidField {
                    field: "ban",
                    problem: "must be true or false",
                },
                422,
                "invalid-field",
            ),
            (AdminError::TargetMissing, 422, "target-missing"),
            (AdminError::TargetAmbiguous, 422, "target-ambiguous"),
            (
                AdminError::InvalidId {
                    field: "user_id",
                    prefix: "user_",
                },
                422,
                "invalid-id",
            ),
        ];
        for (error, status, code) in all {
            assert_eq!((error.status(), error.code()), (status, code));
            let body: Value = serde_json::from_str(&error.to_json_body()).unwrap();
            assert_eq!(body["error"], code);
            assert_eq!(body["message"], error.to_string());
            assert!(!error.to_string().is_empty());
        }
        assert_eq!(
            AdminError::MethodNotAllowed.response_headers(),
            &[("Allow", "POST")]
        );
        assert_eq!(
            AdminError::MissingToken.response_headers(),
            &[("WWW-Authenticate", "Bearer")]
        );
        assert_eq!(
            AdminError::WrongToken.response_headers(),
            &[("WWW-Authenticate", "Bearer")]
        );
        // The 404 must not tell a prober that an admin route exists.
        assert_eq!(AdminError::NotConfigured.to_string(), "not found");
    }

    #[test]
    fn routes_by_path() {
        assert_eq!(AdminRoute::from_path(REVOKE_PATH), Some(AdminRoute::Revoke));
        assert_eq!(
            AdminRoute::from_path("/__clerk/admin/restore"),
            Some(AdminRoute::Restore)
        );
        assert_eq!(AdminRoute::from_path("/__clerk/admin/revoke/"), None);
        assert_eq!(AdminRoute::Revoke.audit_event(), "admin.revoke");
        assert_eq!(AdminRoute::Restore.path(), RESTORE_PATH);
    }

    // ----- deny-list entries -----

    #[test]
    fn deny_keys_and_entries() {
        assert_eq!(Target::User("user_1".into()).deny_key(), "deny:user:user_1");
        assert_eq!(
            Target::Session("sess_1".into()).deny_key(),
            "deny:session:sess_1"
        );
        let entry = DenyEntry {
            source: DenySource::Webhook,
            reason: Some("user.deleted".to_owned()),
            created_at: 1_700_000_000_000,
        };
        assert_eq!(
            entry.to_json(),
            r#"{"created_at":1700000000000,"reason":"user.deleted","source":"webhook"}"#
        );
        assert_eq!(DenyEntry::from_json(&entry.to_json()), Ok(entry));
        let admin = DenyEntry {
            source: DenySource::Admin,
            reason: None,
            created_at: 1,
        };
        assert!(admin.to_json().contains(r#""source":"admin""#));
        assert!(admin.to_json().contains(r#""reason":null"#));
        assert!(DenyEntry::from_json("revoked").is_err());
        assert!(DenyEntry::from_json(r#"{"source":"cron","reason":null,"created_at":1}"#).is_err());
    }

    #[test]
    fn session_ttl_outlives_every_token() {
        let inputs = DenyTtlInputs {
            grace_seconds: 3_600,
            max_token_lifetime_seconds: 60,
            clock_skew_ms: 5_000,
        };
        assert_eq!(session_deny_ttl_seconds(inputs), 3_600 + 60 + 5 + 60);
        let rounding = DenyTtlInputs {
            clock_skew_ms: 1,
            ..inputs
        };
        assert_eq!(session_deny_ttl_seconds(rounding), 3_600 + 60 + 1 + 60);
        let tiny = DenyTtlInputs {
            grace_seconds: 0,
            max_token_lifetime_seconds: 0,
            clock_skew_ms: 0,
        };
        assert_eq!(
            session_deny_ttl_seconds(tiny),
            KV_MIN_EXPIRATION_TTL_SECONDS.max(DENY_TTL_MARGIN_SECONDS)
        );
        let huge = DenyTtlInputs {
            grace_seconds: u64::MAX,
            ..inputs
        };
        assert_eq!(session_deny_ttl_seconds(huge), u64::MAX);
    }

    // ----- plans -----

    const NOW: u64 = 1_700_000_000_000;

    fn context() -> PlanContext {
        PlanContext { now_ms: NOW }
    }

    fn ok(body: &str) -> StepOutcome {
        status(200, body, None)
    }

    fn status(code: u16, body: &str, retry_after: Option<&str>) -> StepOutcome {
        StepOutcome::Api(ApiOutcome::Response {
            status: code,
            body: body.to_owned(),
            retry_after: retry_after.map(str::to_owned),
        })
    }

    fn stored() -> StepOutcome {
        StepOutcome::Storage(Ok(()))
    }

    fn session(id: &str, user: &str) -> Value {
        serde_json::json!({
            "object": "session", "id": id, "user_id": user, "client_id": "client_1",
            "status": "active", "last_active_at": 1, "expire_at": 2, "abandon_at": 3,
            "updated_at": 4, "created_at": 5
        })
    }

    fn sessions(ids: &[&str]) -> String {
        Value::Array(ids.iter().map(|id| session(id, "user_1")).collect()).to_string()
    }

    fn paginated(ids: &[&str], total: u64) -> String {
        serde_json::json!({ "data": serde_json::from_str::<Value>(&sessions(ids)).unwrap(), "total_count": total })
            .to_string()
    }

    /// Runs a plan, answering each step with `answer`; returns the steps taken.
    fn run(
        plan: &mut dyn AdminPlan,
        mut answer: impl FnMut(&AdminStep) -> StepOutcome,
    ) -> Vec<AdminStep> {
        let mut steps = Vec::new();
        let mut step = plan.start();
        while step != AdminStep::Done {
            assert!(steps.len() < 100, "plan does not end");
            let outcome = answer(&step);
            steps.push(step);
            step = plan.feed(outcome);
        }
        steps
    }

    fn path_of(step: &AdminStep) -> String {
        match step {
            AdminStep::CallApi { request, .. } => crate::clerk_api::request_url("", request),
            AdminStep::WriteDenyEntry {
                key,
                expiration_ttl_seconds,
                ..
            } => format!("kv put {key} ttl={expiration_ttl_seconds:?}"),
            AdminStep::DeleteDenyEntry { key } => format!("kv delete {key}"),
            AdminStep::Done => "done".to_owned(),
        }
    }

    fn revoke_plan(body: &str) -> RevokePlan {
        RevokePlan::new(revoke(body).unwrap(), context())
    }

    fn body_of(plan: &dyn AdminPlan) -> Value {
        serde_json::from_str(&plan.response_body()).unwrap()
    }

    #[test]
    fn session_revoke_writes_its_entry_once_first_then_revokes() {
        let mut plan = revoke_plan(r#"{"session_id":"sess_1","reason":"INC-1"}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok(&session("sess_1", "user_1").to_string()),
            _ => stored(),
        });
        let paths: Vec<String> = steps.iter().map(path_of).collect();
        assert_eq!(
            paths,
            [
                "kv put deny:session:sess_1 ttl=None",
                "/v1/sessions/sess_1/revoke",
            ]
        );
        let AdminStep::WriteDenyEntry { value, .. } = &steps[0] else {
            panic!()
        };
        assert_eq!(
            DenyEntry::from_json(value).unwrap(),
            DenyEntry {
                source: DenySource::Admin,
                reason: Some("INC-1".to_owned()),
                created_at: NOW,
            }
        );
        assert!(matches!(
            &steps[1],
            AdminStep::CallApi { delay_ms: 0, timeout_ms: ATTEMPT_TIMEOUT_MS, request }
                if request.method == crate::clerk_api::Method::Post
        ));
        assert_eq!(plan.response_status(), 200);
        let body = body_of(&plan);
        assert_eq!(body["target"], "sess_1");
        assert_eq!(body["target_type"], "session");
        assert_eq!(body["edge_deny_listed"], true);
        assert_eq!(body["revoked"], serde_json::json!(["sess_1"]));
        assert_eq!(body["failed"], serde_json::json!([]));
        assert_eq!(body["banned"], Value::Null);
        assert_eq!(body["clerk_reachable"], true);
        assert_eq!(body["dry_run"], false);
        assert!(body.get("list_error").is_none());
        assert_eq!(
            body["message"],
            "edge deny-list written; revoked 1 of 1 session at Clerk"
        );
    }

    #[test]
    fn session_revoke_not_found_at_clerk_keeps_the_entry_without_ttl() {
        let not_found = r#"{"errors":[{"message":"not found","long_message":"Resource not found","code":"resource_not_found"}]}"#;
        let mut plan = revoke_plan(r#"{"session_id":"sess_gone"}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => status(404, not_found, None),
            _ => stored(),
        });
        assert_eq!(steps.len(), 2, "one write, one call");
        assert_eq!(plan.response_status(), 502);
        let report = plan.report();
        assert_eq!(report.failed[0].session_id, "sess_gone");
        assert!(report.failed[0].error.contains("resource_not_found"));
        assert_eq!(report.clerk_reachable, Some(true));
    }

    #[test]
    fn session_dry_run_does_nothing() {
        let mut plan = revoke_plan(r#"{"session_id":"sess_1","dry_run":true}"#);
        let steps = run(&mut plan, |_| panic!("no step expected"));
        assert!(steps.is_empty());
        assert_eq!(plan.response_status(), 200);
        let report = plan.report();
        assert!(report.dry_run && !report.edge_deny_listed);
        assert_eq!(report.sessions_found, ["sess_1"]);
        assert!(report.revoked.is_empty());
        assert_eq!(report.clerk_reachable, None);
        assert!(report.message.starts_with("dry run, nothing changed"));
    }

    #[test]
    fn user_revoke_pages_revokes_and_bans() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","ban":true}"#);
        let steps = run(&mut plan, |step| {
            let path = path_of(step);
            if path.starts_with("kv") {
                stored()
            } else if path.contains("offset=0") {
                ok(&paginated(&["sess_a", "sess_b"], 3))
            } else if path.contains("offset=2") {
                ok(&paginated(&["sess_c"], 3))
            } else if path.ends_with("/ban") {
                ok(r#"{"id":"user_1","object":"user","banned":true}"#)
            } else {
                ok("{}")
            }
        });
        let paths: Vec<String> = steps.iter().map(path_of).collect();
        assert_eq!(
            paths,
            [
                "kv put deny:user:user_1 ttl=None",
                "/v1/sessions?user_id=user_1&limit=100&offset=0",
                "/v1/sessions?user_id=user_1&limit=100&offset=2",
                "/v1/sessions/sess_a/revoke",
                "/v1/sessions/sess_b/revoke",
                "/v1/sessions/sess_c/revoke",
                "/v1/users/user_1/ban",
            ]
        );
        assert_eq!(plan.response_status(), 200);
        let report = plan.report();
        assert_eq!(report.sessions_found, ["sess_a", "sess_b", "sess_c"]);
        assert_eq!(report.revoked, ["sess_a", "sess_b", "sess_c"]);
        assert_eq!(report.banned, Some(true));
        assert_eq!(
            report.message,
            "edge deny-list written; revoked 3 of 3 sessions at Clerk; user banned at Clerk"
        );
    }

    #[test]
    fn user_revoke_pages_plain_arrays_by_full_pages() {
        let first: Vec<String> = (0..LIST_PAGE_LIMIT).map(|i| format!("sess_{i}")).collect();
        let first: Vec<&str> = first.iter().map(String::as_str).collect();
        let mut plan = revoke_plan(r#"{"user_id":"user_1","dry_run":true}"#);
        let steps = run(&mut plan, |step| {
            let path = path_of(step);
            assert!(
                path.starts_with("/v1/sessions?"),
                "dry run lists only: {path}"
            );
            if path.contains("offset=0") {
                ok(&sessions(&first))
            } else {
                ok(&sessions(&["sess_last"]))
            }
        });
        assert_eq!(steps.len(), 2);
        assert_eq!(plan.report().sessions_found.len(), 101);
        assert_eq!(plan.report().banned, None);
        assert_eq!(plan.response_status(), 200);
    }

    #[test]
    fn user_dry_run_with_ban_lists_but_changes_nothing() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","ban":true,"dry_run":true}"#);
        let steps = run(&mut plan, |_| ok(&sessions(&["sess_a", "sess_b"])));
        assert_eq!(steps.len(), 1);
        let report = plan.report();
        assert!(!report.edge_deny_listed);
        assert!(report.revoked.is_empty());
        assert_eq!(report.banned, None);
        assert_eq!(
            report.message,
            "dry run, nothing changed: would deny-list user_1 at the edge; would revoke 2 \
             active sessions at Clerk; would ban the user at Clerk"
        );
        assert_eq!(plan.response_status(), 200);
    }

    #[test]
    fn rate_limited_list_is_retried_after_retry_after() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1"}"#);
        let mut lists = 0;
        let steps = run(&mut plan, |step| {
            let path = path_of(step);
            if path.starts_with("kv") {
                stored()
            } else if path.starts_with("/v1/sessions?") {
                lists += 1;
                if lists == 1 {
                    status(
                        429,
                        r#"{"errors":[{"message":"slow down","long_message":"Too many requests","code":"too_many_requests"}]}"#,
                        Some("1"),
                    )
                } else {
                    ok(&sessions(&["sess_a"]))
                }
            } else {
                ok("{}")
            }
        });
        let delays: Vec<u64> = steps
            .iter()
            .filter_map(|step| match step {
                AdminStep::CallApi { delay_ms, .. } => Some(*delay_ms),
                _ => None,
            })
            .collect();
        assert_eq!(delays, [0, 1_000, 0]);
        assert_eq!(plan.response_status(), 200);
        assert_eq!(plan.report().revoked, ["sess_a"]);
    }

    #[test]
    fn clerk_down_still_deny_lists_and_says_so() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","ban":true}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => StepOutcome::Api(ApiOutcome::Timeout),
            _ => stored(),
        });
        // Edge write, then the list attempts until the budget ends; no revoke, no ban.
        assert!(matches!(steps[0], AdminStep::WriteDenyEntry { .. }));
        assert!(steps[1..]
            .iter()
            .all(|step| path_of(step).starts_with("/v1/sessions?")));
        assert!(steps.len() - 1 <= crate::clerk_api::MAX_ATTEMPTS as usize);
        assert_eq!(plan.response_status(), 502);
        let body = body_of(&plan);
        assert_eq!(body["edge_deny_listed"], true);
        assert_eq!(body["clerk_reachable"], false);
        assert_eq!(body["banned"], false);
        assert!(body["list_error"].as_str().unwrap().contains("unreachable"));
        assert!(body["ban_error"]
            .as_str()
            .unwrap()
            .contains("not attempted"));
        assert_eq!(
            body["message"],
            "edge deny-list written; Clerk API unreachable: sessions not revoked and user not \
             banned at Clerk — retry the call when Clerk is back"
        );

        let mut plan = revoke_plan(r#"{"session_id":"sess_1"}"#);
        run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => status(503, "", None),
            _ => stored(),
        });
        assert_eq!(plan.response_status(), 502);
        assert_eq!(
            plan.report().message,
            "edge deny-list written; Clerk API unreachable: sessions not revoked at Clerk — \
             retry the call when Clerk is back"
        );
    }

    #[test]
    fn partial_failure_names_each_failed_session() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","ban":true}"#);
        run(&mut plan, |step| {
            let path = path_of(step);
            if path.starts_with("kv") {
                stored()
            } else if path.starts_with("/v1/sessions?") {
                ok(&sessions(&["sess_a", "sess_b", "sess_c"]))
            } else if path.contains("sess_b") {
                status(
                    400,
                    r#"{"errors":[{"message":"cannot","long_message":"Session cannot be revoked","code":"session_not_revocable"}]}"#,
                    None,
                )
            } else {
                ok("{}")
            }
        });
        assert_eq!(plan.response_status(), 502);
        let report = plan.report();
        assert_eq!(report.revoked, ["sess_a", "sess_c"]);
        assert_eq!(report.failed.len(), 1);
        assert_eq!(report.failed[0].session_id, "sess_b");
        assert!(report.failed[0].error.contains("session_not_revocable"));
        assert_eq!(report.banned, Some(true));
        assert_eq!(
            report.message,
            "edge deny-list written; revoked 2 of 3 sessions at Clerk; not revoked: sess_b \
             (see failed) — retry the call; user banned at Clerk"
        );
    }

    #[test]
    fn clerk_failing_midway_skips_the_rest() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","ban":true}"#);
        let steps = run(&mut plan, |step| {
            let path = path_of(step);
            if path.starts_with("kv") {
                stored()
            } else if path.starts_with("/v1/sessions?") {
                ok(&sessions(&["sess_a", "sess_b", "sess_c"]))
            } else if path.contains("sess_a") {
                ok("{}")
            } else {
                status(503, "<html>", None)
            }
        });
        let revokes_of_c = steps
            .iter()
            .filter(|step| path_of(step).contains("sess_c"))
            .count();
        assert_eq!(revokes_of_c, 0, "no call after Clerk gave up");
        let report = plan.report();
        assert_eq!(report.revoked, ["sess_a"]);
        let failed: Vec<&str> = report
            .failed
            .iter()
            .map(|f| f.session_id.as_str())
            .collect();
        assert_eq!(failed, ["sess_b", "sess_c"]);
        assert!(
            report.failed[0].error.contains("HTTP 503") || report.failed[0].error.contains("503")
        );
        assert!(report.failed[1].error.starts_with("not attempted"));
        assert_eq!(report.clerk_reachable, Some(false));
        assert_eq!(report.banned, Some(false));
        assert_eq!(plan.response_status(), 502);
    }

    #[test]
    fn edge_write_failure_is_500_but_clerk_is_still_asked() {
        let mut plan = revoke_plan(r#"{"session_id":"sess_1"}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok("{}"),
            _ => StepOutcome::Storage(Err("KV put failed: 500".to_owned())),
        });
        assert_eq!(steps.len(), 2, "revoke at Clerk, no second write");
        assert_eq!(plan.response_status(), 500);
        let report = plan.report();
        assert!(!report.edge_deny_listed);
        assert_eq!(report.revoked, ["sess_1"]);
        assert!(report
            .message
            .contains("edge deny-list write FAILED (KV put failed: 500)"));
        assert!(report.message.contains("NOT shut out"));
    }

    #[test]
    fn wrong_secret_key_stops_after_the_first_call() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","ban":true}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => status(
                401,
                r#"{"errors":[{"message":"Invalid authentication","long_message":"Unable to authenticate","code":"authentication_invalid"}]}"#,
                None,
            ),
            _ => stored(),
        });
        assert_eq!(steps.len(), 2);
        let report = plan.report();
        assert!(report
            .list_error
            .as_deref()
            .unwrap()
            .contains("CLERK_SECRET_KEY"));
        assert_eq!(report.banned, Some(false));
        assert_eq!(report.clerk_reachable, Some(true));
        assert_eq!(plan.response_status(), 502);
    }

    #[test]
    fn user_revoke_without_ban_revokes_active_and_pending_sessions_only() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1"}"#);
        let with_status = |id: &str, status: &str| {
            let mut s = session(id, "user_1");
            s["status"] = Value::from(status);
            s
        };
        let list = Value::Array(vec![
            with_status("sess_pending", "pending"),
            with_status("sess_active", "active"),
            with_status("sess_ended", "ended"),
            with_status("sess_revoked", "revoked"),
            with_status("sess_expired", "expired"),
        ]);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok(&list.to_string()),
            _ => stored(),
        });
        let paths: Vec<String> = steps.iter().map(path_of).collect();
        assert_eq!(
            paths,
            [
                "kv put deny:user:user_1 ttl=None",
                "/v1/sessions?user_id=user_1&limit=100&offset=0",
                "/v1/sessions/sess_pending/revoke",
                "/v1/sessions/sess_active/revoke",
            ]
        );
        assert_eq!(plan.report().revoked, ["sess_pending", "sess_active"]);
        assert_eq!(plan.response_status(), 200);
    }

    #[test]
    fn a_store_error_is_redacted_and_capped_in_the_answer() {
        let mut plan = revoke_plan(r#"{"session_id":"sess_1"}"#);
        let secret =
            "put failed: https://kv.example/x?token=abc123 Bearer sk_live_0123456789abcdef";
        let long = format!("{secret} {}", "x ".repeat(400));
        run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok("{}"),
            _ => StepOutcome::Storage(Err(long.clone())),
        });
        let error = plan.report().edge_error.clone().unwrap();
        assert!(error.starts_with("put failed: "), "{error}");
        for leaked in ["abc123", "sk_live_0123456789abcdef", "token="] {
            assert!(!error.contains(leaked), "{leaked} in {error}");
        }
        assert!(error.contains("[redacted]"), "{error}");
        assert!(error.chars().count() <= crate::report::redact::MAX_REPORT_TEXT_CHARS);
        let body = body_of(&plan).to_string();
        assert!(!body.contains("sk_live_0123456789abcdef") && !body.contains("abc123"));
    }

    #[test]
    fn a_list_with_another_users_session_revokes_nothing() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1"}"#);
        let mixed = Value::Array(vec![
            session("sess_a", "user_1"),
            session("sess_x", "user_2"),
        ]);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok(&mixed.to_string()),
            _ => stored(),
        });
        assert_eq!(steps.len(), 2);
        assert!(plan.report().revoked.is_empty());
        assert!(plan
            .report()
            .list_error
            .as_deref()
            .unwrap()
            .contains("another user"));
        assert_eq!(plan.response_status(), 502);
    }

    #[test]
    fn unreadable_list_is_reported() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1"}"#);
        run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok("<html>"),
            _ => stored(),
        });
        assert!(plan
            .report()
            .list_error
            .as_deref()
            .unwrap()
            .contains("session list"));
        assert_eq!(plan.response_status(), 502);
    }

    #[test]
    fn user_without_sessions_is_fine() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1"}"#);
        run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok("[]"),
            _ => stored(),
        });
        assert_eq!(plan.response_status(), 200);
        assert_eq!(
            plan.report().message,
            "edge deny-list written; no active sessions at Clerk"
        );
    }

    #[test]
    fn listing_stops_at_the_page_cap() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1","dry_run":true}"#);
        let mut next = 0;
        let steps = run(&mut plan, |_| {
            let ids: Vec<String> = (0..LIST_PAGE_LIMIT)
                .map(|_| {
                    next += 1;
                    format!("sess_{next}")
                })
                .collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            ok(&sessions(&ids))
        });
        assert_eq!(steps.len(), MAX_LIST_PAGES as usize);
        assert!(plan
            .report()
            .list_error
            .as_deref()
            .unwrap()
            .contains("call again"));
        assert_eq!(plan.response_status(), 502);
    }

    #[test]
    fn mismatched_feedback_does_not_panic() {
        let mut plan = revoke_plan(r#"{"user_id":"user_1"}"#);
        assert!(matches!(plan.start(), AdminStep::WriteDenyEntry { .. }));
        assert!(
            matches!(plan.start(), AdminStep::WriteDenyEntry { .. }),
            "start repeats"
        );
        let step = plan.feed(StepOutcome::Api(ApiOutcome::Timeout));
        assert!(matches!(step, AdminStep::CallApi { .. }));
        assert!(!plan.report().edge_deny_listed);
        let step = plan.feed(stored());
        assert_eq!(step, AdminStep::Done);
        assert!(plan
            .report()
            .list_error
            .as_deref()
            .unwrap()
            .contains("internal"));
        assert_eq!(plan.feed(stored()), AdminStep::Done);
        assert_eq!(plan.response_status(), 500);
    }

    fn restore_plan(body: &str) -> RestorePlan {
        RestorePlan::new(restore(body).unwrap())
    }

    #[test]
    fn restore_user_deletes_entry_then_unbans() {
        let mut plan = restore_plan(r#"{"user_id":"user_1","unban":true,"reason":"cleared"}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok(r#"{"id":"user_1","banned":false}"#),
            _ => stored(),
        });
        let paths: Vec<String> = steps.iter().map(path_of).collect();
        assert_eq!(
            paths,
            ["kv delete deny:user:user_1", "/v1/users/user_1/unban"]
        );
        assert_eq!(plan.response_status(), 200);
        let body = body_of(&plan);
        assert_eq!(body["action"], "restore");
        assert_eq!(body["edge_deny_removed"], true);
        assert_eq!(body["unbanned"], true);
        assert_eq!(
            body["message"],
            "edge deny-list entry removed; user unbanned at Clerk"
        );
    }

    #[test]
    fn restore_session_only_deletes_the_entry() {
        let mut plan = restore_plan(r#"{"session_id":"sess_1"}"#);
        let steps = run(&mut plan, |_| stored());
        assert_eq!(steps.len(), 1);
        assert_eq!(plan.response_status(), 200);
        assert_eq!(plan.report().unbanned, None);
        assert_eq!(plan.report().clerk_reachable, None);
        assert!(plan.report().message.contains("stays revoked"));
    }

    #[test]
    fn restore_failures_map_to_500_and_502() {
        let mut plan = restore_plan(r#"{"user_id":"user_1","unban":true}"#);
        run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => ok("{}"),
            _ => StepOutcome::Storage(Err("KV delete failed".to_owned())),
        });
        assert_eq!(plan.response_status(), 500);
        assert!(plan.report().message.contains("still shut out"));

        let mut plan = restore_plan(r#"{"user_id":"user_1","unban":true}"#);
        let steps = run(&mut plan, |step| match step {
            AdminStep::CallApi { .. } => {
                StepOutcome::Api(ApiOutcome::NetworkError("dns".to_owned()))
            }
            _ => stored(),
        });
        assert!(steps.len() <= 1 + crate::clerk_api::MAX_ATTEMPTS as usize);
        assert_eq!(plan.response_status(), 502);
        let report = plan.report();
        assert_eq!(report.unbanned, Some(false));
        assert_eq!(report.clerk_reachable, Some(false));
        assert!(report
            .unban_error
            .as_deref()
            .unwrap()
            .contains("network error: dns"));
    }

    #[test]
    fn restore_dry_run_changes_nothing() {
        let mut plan = restore_plan(r#"{"user_id":"user_1","unban":true,"dry_run":true}"#);
        let steps = run(&mut plan, |_| panic!("no step expected"));
        assert!(steps.is_empty());
        assert_eq!(plan.response_status(), 200);
        assert_eq!(
            plan.report().message,
            "dry run, nothing changed: would remove the edge deny-list entry of user_1; \
             would unban the user at Clerk"
        );
    }
}
