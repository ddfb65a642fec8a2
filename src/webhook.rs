//! Svix webhook verification and the Clerk webhook events built on it.
//!
//! Clerk delivers its webhooks through Svix. [`verify_webhook`] checks a delivery exactly as
//! the Svix libraries do (same headers, same signed content, same tolerance, same check order),
//! so a delivery that Svix's own verifier accepts is accepted here and one it refuses is refused
//! with the same kind of reason. Where Svix's JavaScript and Rust libraries differ, this
//! follows the stricter Rust one: the timestamp header must be a plain integer (JavaScript's
//! `parseInt` reads `123abc` as 123) and `v1,<sig>,x` is not `v1,<sig>`. One addition of our
//! own: the body must be a JSON object of at most [`MAX_BODY_BYTES`].
//!
//! Design choices:
//! - **No clock, no I/O.** The current time comes in as `now_secs`, so the tolerance rule is
//!   tested at its exact boundaries and the same code runs natively, in the Worker and in wasm.
//! - **Raw bytes.** The signature covers the body exactly as received; the body is parsed only
//!   after the signature passed, so nothing an unauthenticated sender wrote is ever interpreted.
//! - **Several secrets.** During a rotation `CLERK_WEBHOOK_SIGNING_SECRET` holds the old and
//!   the new secret; a delivery signed with either passes ([`parse_secrets`]).
//! - **Stable reason codes.** Every failure is a [`WebhookError`] whose [`WebhookError::code`]
//!   is one of CONTRACT.md's webhook reasons, and whose `Display` tells an on-call engineer
//!   what to do. Neither ever contains a secret, a header value or the body.
//!
//! The second half turns a verified payload into a [`ClerkEvent`] and the event into a list of
//! [`WebhookEffect`]s: a plan, not an action. The Worker adapter carries the plan out against
//! D1 and KV, so storage never enters this module.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::audit::{AuditEvent, Level};

/// Svix's message id header: the delivery's de-duplication key.
pub const SVIX_ID_HEADER: &str = "svix-id";
/// Svix's timestamp header: Unix seconds at which this delivery attempt was signed.
pub const SVIX_TIMESTAMP_HEADER: &str = "svix-timestamp";
/// Svix's signature header: space-separated `v1,<base64>` entries.
pub const SVIX_SIGNATURE_HEADER: &str = "svix-signature";
/// Standard Webhooks alias of [`SVIX_ID_HEADER`], used when the `svix-` form is absent.
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// Standard Webhooks alias of [`SVIX_TIMESTAMP_HEADER`].
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// Standard Webhooks alias of [`SVIX_SIGNATURE_HEADER`].
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

/// How far (seconds, either way) the signed timestamp may be from `now_secs`: Svix's
/// five minutes. It bounds how long a captured delivery can be replayed.
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// The largest body accepted, in bytes (256 KiB). Clerk's events are a few kilobytes; the
/// limit keeps an unauthenticated sender from making us hash megabytes per request.
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// Optional prefix of a Svix signing secret as the Clerk Dashboard shows it.
const SECRET_PREFIX: &str = "whsec_";
/// The only signature scheme Svix defines; entries of other versions are skipped.
const SIGNATURE_VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// Why a webhook delivery (or the signing secret) was refused.
///
/// [`code`](Self::code) is the stable reason of CONTRACT.md section 3 (the HTTP answer and
/// the audit line carry it); `Display` is the explanation for a human.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is absent or empty; carries the `svix-` name of the header.
    MissingHeader(&'static str),
    /// The timestamp header is not a non-negative integer of seconds.
    InvalidTimestamp,
    /// The signed timestamp is more than [`TOLERANCE_SECS`] before `now`.
    TimestampTooOld {
        /// The timestamp of the delivery, Unix seconds.
        timestamp: i64,
        /// The `now_secs` it was checked against.
        now: i64,
    },
    /// The signed timestamp is more than [`TOLERANCE_SECS`] after `now`.
    TimestampTooNew {
        /// The timestamp of the delivery, Unix seconds.
        timestamp: i64,
        /// The `now_secs` it was checked against.
        now: i64,
    },
    /// No `v1` signature in the header matches any configured secret.
    InvalidSignature,
    /// The configured signing secret cannot be used.
    InvalidSecret(SecretProblem),
    /// The body is too large, is not a JSON object, or lacks a field a Clerk event needs.
    InvalidPayload(PayloadProblem),
}

/// What is wrong with a signing secret. Never carries the secret itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretProblem {
    /// No secret at all (empty variable, or `whsec_` with nothing after it).
    Empty,
    /// The part after `whsec_` is not standard, padded base64.
    NotBase64,
}

/// What is wrong with a body that passed (or, for size, was not worth) the signature check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PayloadProblem {
    /// Larger than [`MAX_BODY_BYTES`]; refused before any hashing.
    TooLarge {
        /// The body's length in bytes.
        len: usize,
    },
    /// Not valid JSON (or not UTF-8).
    NotJson,
    /// Valid JSON, but not an object.
    NotObject,
    /// A field a known Clerk event needs is absent or `null`; carries its path, e.g. `data.id`.
    MissingField(&'static str),
    /// A field has the wrong JSON type.
    WrongType {
        /// The field's path, e.g. `data.updated_at`.
        field: &'static str,
        /// What it should have been, e.g. `an integer`.
        expected: &'static str,
    },
}

impl WebhookError {
    /// The stable reason code of CONTRACT.md section 3.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHeader(_) => "missing-header",
            Self::InvalidTimestamp => "invalid-timestamp",
            Self::TimestampTooOld { .. } => "timestamp-too-old",
            Self::TimestampTooNew { .. } => "timestamp-too-new",
            Self::InvalidSignature => "invalid-signature",
            Self::InvalidSecret(_) => "invalid-secret",
            Self::InvalidPayload(_) => "invalid-payload",
        }
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingHeader(name) => write!(
                f,
                "no {name} header (nor its webhook-* alias): is this request from Svix? \
                 point Clerk's webhook endpoint at /__clerk/webhooks, and check that no proxy \
                 in front strips svix-* headers"
            ),
            Self::InvalidTimestamp => write!(
                f,
                "{SVIX_TIMESTAMP_HEADER} is not a non-negative integer of Unix seconds: \
                 the request was not sent by Svix, or was altered on the way"
            ),
            Self::TimestampTooOld { timestamp, now } => write!(
                f,
                "{SVIX_TIMESTAMP_HEADER} {timestamp} is {} s before now ({now}), beyond the \
                 {TOLERANCE_SECS} s tolerance: a replayed or long-delayed delivery; if every \
                 delivery fails this way, this server's clock is ahead",
                now.saturating_sub(*timestamp)
            ),
            Self::TimestampTooNew { timestamp, now } => write!(
                f,
                "{SVIX_TIMESTAMP_HEADER} {timestamp} is {} s after now ({now}), beyond the \
                 {TOLERANCE_SECS} s tolerance: this server's clock is behind (check its time \
                 source), or the timestamp was forged",
                timestamp.saturating_sub(*now)
            ),
            Self::InvalidSignature => write!(
                f,
                "no v1 signature in {SVIX_SIGNATURE_HEADER} matches a configured secret: \
                 CLERK_WEBHOOK_SIGNING_SECRET is probably not this endpoint's signing secret \
                 (copy it from the Clerk Dashboard, Webhooks, this endpoint, Signing Secret), \
                 or the body was changed before verification (verify the raw bytes)"
            ),
            Self::InvalidSecret(SecretProblem::Empty) => write!(
                f,
                "no webhook signing secret: set CLERK_WEBHOOK_SIGNING_SECRET to the endpoint's \
                 whsec_... signing secret from the Clerk Dashboard"
            ),
            Self::InvalidSecret(SecretProblem::NotBase64) => write!(
                f,
                "CLERK_WEBHOOK_SIGNING_SECRET is not whsec_ followed by standard base64: copy \
                 the signing secret again from the Clerk Dashboard (several secrets are \
                 separated by spaces)"
            ),
            Self::InvalidPayload(problem) => write!(f, "{problem}"),
        }
    }
}

impl fmt::Display for PayloadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLarge { len } => write!(
                f,
                "webhook body is {len} bytes, over the {MAX_BODY_BYTES}-byte limit: Clerk's \
                 events are far smaller, so this is not a Clerk delivery"
            ),
            Self::NotJson => write!(
                f,
                "the signed webhook body is not JSON: the sender holds the signing secret but is \
                 not Clerk; rotate CLERK_WEBHOOK_SIGNING_SECRET if that is unexpected"
            ),
            Self::NotObject => write!(
                f,
                "the signed webhook body is JSON but not an object: Clerk always sends \
                 {{\"type\":...,\"data\":{{...}}}}; rotate CLERK_WEBHOOK_SIGNING_SECRET if \
                 another sender holds it"
            ),
            Self::MissingField(field) => write!(
                f,
                "the signed Clerk event has no {field}: has Clerk changed the event's shape? \
                 the delivery stays in Svix's log for replay once this is fixed"
            ),
            Self::WrongType { field, expected } => write!(
                f,
                "in the signed Clerk event, {field} is not {expected}: has Clerk changed the \
                 event's shape? the delivery stays in Svix's log for replay once this is fixed"
            ),
        }
    }
}

impl std::error::Error for WebhookError {}

/// A Svix signing secret, ready to sign and verify.
///
/// Holds the keyed HMAC state rather than the text: the key is decoded once per isolate, and
/// `Debug` shows nothing of it, so a secret cannot leak through a `{:?}` in a log line.
#[derive(Clone)]
pub struct WebhookSecret {
    mac: HmacSha256,
}

/// The base64 of a secret as the svix libraries read it: padding optional, non-zero
/// trailing bits tolerated. A secret they accept must not fail every delivery here.
const SECRET_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

impl WebhookSecret {
    /// Parses one secret: an optional `whsec_` prefix, then the base64 of the key.
    ///
    /// No trimming: [`parse_secrets`] splits the variable on whitespace, and a secret with
    /// blanks inside is a copy-paste accident that should be reported, not repaired.
    pub fn parse(value: &str) -> Result<Self, WebhookError> {
        let encoded = value.strip_prefix(SECRET_PREFIX).unwrap_or(value);
        if encoded.is_empty() {
            return Err(WebhookError::InvalidSecret(SecretProblem::Empty));
        }
        let key = SECRET_BASE64
            .decode(encoded)
            .map_err(|_| WebhookError::InvalidSecret(SecretProblem::NotBase64))?;
        // HMAC takes a key of any length, so this only refuses what Svix refuses too: a key
        // of zero bytes (not reachable from non-empty base64, kept as a guard).
        if key.is_empty() {
            return Err(WebhookError::InvalidSecret(SecretProblem::Empty));
        }
        let mac = HmacSha256::new_from_slice(&key)
            .map_err(|_| WebhookError::InvalidSecret(SecretProblem::Empty))?;
        Ok(Self { mac })
    }

    /// The base64 HMAC-SHA256 of `{msg_id}.{timestamp}.{body}`, without the version tag.
    ///
    /// The timestamp is formatted from the parsed integer, as Svix does, so the signed content
    /// is the same whoever formats it.
    fn signature(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = self.mac.clone();
        mac.update(msg_id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSecret")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// Parses `CLERK_WEBHOOK_SIGNING_SECRET`: one or more secrets separated by whitespace.
///
/// During a rotation both the old and the new secret are listed and either one verifies. One
/// bad entry fails the whole variable rather than being skipped: a half-working config would
/// only show up as `invalid-signature` later, far from its cause. An empty value is an error
/// too, because with no secret nothing can ever verify.
pub fn parse_secrets(value: &str) -> Result<Vec<WebhookSecret>, WebhookError> {
    let secrets = value
        .split_whitespace()
        .map(WebhookSecret::parse)
        .collect::<Result<Vec<_>, _>>()?;
    if secrets.is_empty() {
        return Err(WebhookError::InvalidSecret(SecretProblem::Empty));
    }
    Ok(secrets)
}

/// Signs a delivery the way Svix does: `v1,<base64 HMAC-SHA256 of {msg_id}.{timestamp}.{body}>`.
///
/// For tests and the project's own tooling (sending a test delivery); verification never
/// needs it.
pub fn sign(secret: &WebhookSecret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    format!(
        "{SIGNATURE_VERSION},{}",
        secret.signature(msg_id, timestamp, body)
    )
}

/// The three Svix headers of a delivery, as found in the request.
///
/// Header names are case-insensitive in HTTP; looking them up that way is the caller's job
/// (the Worker's and the Fetch API's `Headers` already do). `None` means absent; an empty
/// value counts as absent too when verifying.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WebhookHeaders<'a> {
    /// `svix-id` (or `webhook-id`).
    pub id: Option<&'a str>,
    /// `svix-timestamp` (or `webhook-timestamp`).
    pub timestamp: Option<&'a str>,
    /// `svix-signature` (or `webhook-signature`).
    pub signature: Option<&'a str>,
}

impl<'a> WebhookHeaders<'a> {
    /// Collects the headers through `get` (a case-insensitive lookup by lower-case name).
    ///
    /// Each header is taken from its `svix-` name when present, else from its `webhook-`
    /// alias: the same rule, header by header, as Svix's libraries. A present `svix-` header
    /// wins even when empty, so an empty value is reported rather than silently replaced.
    pub fn from_lookup(get: impl Fn(&str) -> Option<&'a str>) -> Self {
        let pick = |svix: &str, alias: &str| get(svix).or_else(|| get(alias));
        Self {
            id: pick(SVIX_ID_HEADER, WEBHOOK_ID_HEADER),
            timestamp: pick(SVIX_TIMESTAMP_HEADER, WEBHOOK_TIMESTAMP_HEADER),
            signature: pick(SVIX_SIGNATURE_HEADER, WEBHOOK_SIGNATURE_HEADER),
        }
    }
}

/// A delivery whose signature, timestamp and shape have been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedWebhook {
    /// The Svix message id: the same across redeliveries of one event, so it is the
    /// de-duplication key.
    pub id: String,
    /// The payload's `type` when it is a string (`user.created`, ...), for the audit line.
    pub event_type: Option<String>,
    /// The whole payload; always a JSON object.
    pub payload: Value,
}

/// Verifies a Svix delivery and parses its body.
///
/// Checks run in Svix's order, so the reason matches what Svix's libraries would report:
/// a secret is configured -> headers present (`id`, `signature`, `timestamp`) -> timestamp is an
/// integer >= 0 -> within [`TOLERANCE_SECS`] of `now_secs` -> body within [`MAX_BODY_BYTES`]
/// (before hashing it) -> some `v1` signature matches some secret (constant-time) -> the body is
/// a JSON object. `now_secs` is Unix seconds; this function never reads a clock.
pub fn verify_webhook(
    headers: &WebhookHeaders<'_>,
    body: &[u8],
    secrets: &[WebhookSecret],
    now_secs: i64,
) -> Result<VerifiedWebhook, WebhookError> {
    if secrets.is_empty() {
        return Err(WebhookError::InvalidSecret(SecretProblem::Empty));
    }
    let id = required_header(headers.id, SVIX_ID_HEADER)?;
    let signature = required_header(headers.signature, SVIX_SIGNATURE_HEADER)?;
    let timestamp = required_header(headers.timestamp, SVIX_TIMESTAMP_HEADER)?;
    // Rust's integer parse, like Svix's Rust library: "123abc" and " 123" are refused.
    let timestamp: i64 = timestamp
        .parse()
        .ok()
        .filter(|ts| *ts >= 0)
        .ok_or(WebhookError::InvalidTimestamp)?;
    check_tolerance(timestamp, now_secs)?;
    if body.len() > MAX_BODY_BYTES {
        return Err(WebhookError::InvalidPayload(PayloadProblem::TooLarge {
            len: body.len(),
        }));
    }

    // Svix splits on single spaces and on the first comma; entries without a comma or of
    // another version are skipped, not errors, so future schemes can be added side by side.
    let candidates: Vec<&[u8]> = signature
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .map(|(_, sig)| sig.as_bytes())
        .collect();
    let signed = secrets.iter().any(|secret| {
        let expected = secret.signature(id, timestamp, body);
        candidates
            .iter()
            .any(|candidate| bool::from(candidate.ct_eq(expected.as_bytes())))
    });
    if !signed {
        return Err(WebhookError::InvalidSignature);
    }

    let payload: Value = serde_json::from_slice(body)
        .map_err(|_| WebhookError::InvalidPayload(PayloadProblem::NotJson))?;
    let Value::Object(fields) = &payload else {
        return Err(WebhookError::InvalidPayload(PayloadProblem::NotObject));
    };
    let event_type = fields
        .get("type")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Ok(VerifiedWebhook {
        id: id.to_owned(),
        event_type,
        payload,
    })
}

/// Svix treats an empty header like an absent one (its JavaScript library tests `!value`).
fn required_header<'a>(
    value: Option<&'a str>,
    name: &'static str,
) -> Result<&'a str, WebhookError> {
    value
        .filter(|v| !v.is_empty())
        .ok_or(WebhookError::MissingHeader(name))
}

/// Both bounds are inclusive (`now - 300` and `now + 300` pass), as in Svix; saturating
/// arithmetic because both numbers come from outside and must not overflow into a panic.
fn check_tolerance(timestamp: i64, now: i64) -> Result<(), WebhookError> {
    if timestamp.saturating_add(TOLERANCE_SECS) < now {
        Err(WebhookError::TimestampTooOld { timestamp, now })
    } else if timestamp > now.saturating_add(TOLERANCE_SECS) {
        Err(WebhookError::TimestampTooNew { timestamp, now })
    } else {
        Ok(())
    }
}

/// A Clerk user as the edge keeps it (the `users` table), taken from `user.created` and
/// `user.updated`.
///
/// Only the columns of that table; `updated_at` is there so that deliveries arriving out of
/// order (Svix retries do not keep order) can be resolved by the adapter: it writes a record
/// only when its `updated_at` is not older than the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// `data.id`, e.g. `user_2g7np7...`.
    pub id: String,
    /// The address of the `data.email_addresses` entry whose id is
    /// `data.primary_email_address_id`; `None` when there is no such entry.
    pub primary_email: Option<String>,
    /// `data.first_name`.
    pub first_name: Option<String>,
    /// `data.last_name`.
    pub last_name: Option<String>,
    /// `data.banned`. Carried as data, not turned into a deny-list entry here: lifting such an
    /// entry on unban would also lift one an operator set by hand, and Clerk revokes a banned
    /// user's sessions itself.
    pub banned: bool,
    /// `data.updated_at`, Unix milliseconds: the ordering key for out-of-order deliveries.
    pub updated_at: i64,
}

/// Which of the session-ending events arrived. All three end the session for good, so the
/// edge treats them alike; the kind is kept for the audit line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEndKind {
    /// `session.revoked`: revoked through the Backend API or the Dashboard (also what a ban
    /// does to every session of the user).
    Revoked,
    /// `session.removed`: removed from its client.
    Removed,
    /// `session.ended`: ended by signing out.
    Ended,
}

impl SessionEndKind {
    /// The Clerk event type this kind comes from.
    pub fn event_type(self) -> &'static str {
        match self {
            Self::Revoked => "session.revoked",
            Self::Removed => "session.removed",
            Self::Ended => "session.ended",
        }
    }

    fn from_event_type(event_type: &str) -> Option<Self> {
        [Self::Revoked, Self::Removed, Self::Ended]
            .into_iter()
            .find(|kind| kind.event_type() == event_type)
    }
}

/// A Clerk webhook event, reduced to what the edge acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClerkEvent {
    /// `user.created`.
    UserCreated(UserRecord),
    /// `user.updated`.
    UserUpdated(UserRecord),
    /// `user.deleted`: only the id is sent.
    UserDeleted {
        /// `data.id`.
        user_id: String,
    },
    /// `session.revoked`, `session.removed` or `session.ended`.
    SessionEnded {
        /// Which of the three.
        kind: SessionEndKind,
        /// `data.id`, e.g. `sess_...`.
        session_id: String,
        /// `data.user_id`.
        user_id: String,
    },
    /// Any other type (`session.created`, `organization.*`, ...): accepted and audited, so
    /// subscribing to more events in the Dashboard never makes deliveries fail.
    Other {
        /// The payload's `type`.
        event_type: String,
    },
}

impl ClerkEvent {
    /// Reads a verified payload (`{"type":..., "data":{...}, ...}`).
    ///
    /// A known type whose required field is missing or ill-typed is an `invalid-payload`
    /// error naming the field, rather than a guess: a user record with a made-up `banned` or
    /// `updated_at` would be worse than none. Unknown types need nothing but `type`.
    pub fn from_payload(payload: &Value) -> Result<Self, WebhookError> {
        let envelope = payload
            .as_object()
            .ok_or(WebhookError::InvalidPayload(PayloadProblem::NotObject))?;
        let event_type = required(envelope, "type", "a string", Value::as_str)?;
        let data = || required(envelope, "data", "an object", Value::as_object);
        Ok(match event_type {
            "user.created" => Self::UserCreated(UserRecord::from_data(data()?)?),
            "user.updated" => Self::UserUpdated(UserRecord::from_data(data()?)?),
            "user.deleted" => Self::UserDeleted {
                user_id: required(data()?, "data.id", "a string", Value::as_str)?.to_owned(),
            },
            other => match SessionEndKind::from_event_type(other) {
                Some(kind) => {
                    let data = data()?;
                    Self::SessionEnded {
                        kind,
                        session_id: required(data, "data.id", "a string", Value::as_str)?
                            .to_owned(),
                        user_id: required(data, "data.user_id", "a string", Value::as_str)?
                            .to_owned(),
                    }
                }
                None => Self::Other {
                    event_type: other.to_owned(),
                },
            },
        })
    }
}

impl UserRecord {
    /// Reads a Clerk `User` object (a webhook's `data`, or an entry of `GET /v1/users`).
    /// Errors name the field as a webhook's `data.…` path.
    pub fn from_user_object(data: &Map<String, Value>) -> Result<Self, WebhookError> {
        Self::from_data(data)
    }

    /// Reads a row of the `users` table as JSON ([`UserRecord::to_json`]'s shape): from D1's
    /// `json_object`, or from an application's store through pkg-js. `banned` may be a
    /// boolean or SQLite's 0/1; `updated_at` must be whole Unix milliseconds. The error names
    /// the field.
    pub fn from_row(row: &Value) -> Result<Self, String> {
        let object = row.as_object().ok_or("not an object")?;
        let text = |field: &str| match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(format!("{field} must be a string or null")),
        };
        let banned = match object.get("banned") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(banned)) => *banned,
            Some(value) if value.as_f64() == Some(0.0) => false,
            Some(value) if value.as_f64() == Some(1.0) => true,
            Some(_) => return Err("banned must be true, false, 0 or 1".to_owned()),
        };
        Ok(UserRecord {
            id: row_id(object)?,
            primary_email: text("primary_email")?,
            first_name: text("first_name")?,
            last_name: text("last_name")?,
            banned,
            updated_at: row_millis(object)?,
        })
    }

    /// The record as the `users` table's columns, in JSON (the resync's page writes, the
    /// JavaScript adapters).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "primary_email": self.primary_email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "banned": self.banned,
            "updated_at": self.updated_at,
        })
    }

    fn from_data(data: &Map<String, Value>) -> Result<Self, WebhookError> {
        let text =
            |path| optional(data, path, "a string", Value::as_str).map(|v| v.map(str::to_owned));
        Ok(Self {
            id: required(data, "data.id", "a string", Value::as_str)?.to_owned(),
            primary_email: primary_email(data)?,
            first_name: text("data.first_name")?,
            last_name: text("data.last_name")?,
            banned: required(data, "data.banned", "a boolean", Value::as_bool)?,
            updated_at: required(data, "data.updated_at", "an integer", Value::as_i64)?,
        })
    }
}

/// A table row's `id`: a non-empty string.
pub fn row_id(object: &Map<String, Value>) -> Result<String, String> {
    match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => Ok(id.clone()),
        _ => Err("id must be a non-empty string".to_owned()),
    }
}

/// A table row's `updated_at`: whole Unix milliseconds (a JavaScript number or an integer).
pub fn row_millis(object: &Map<String, Value>) -> Result<i64, String> {
    let value = object.get("updated_at");
    value
        .and_then(Value::as_i64)
        .or_else(|| {
            value
                .and_then(Value::as_f64)
                .filter(|ms| ms.is_finite() && ms.fract() == 0.0 && ms.abs() < 9.0e15)
                .map(|ms| ms as i64)
        })
        .ok_or_else(|| "updated_at must be a whole number of Unix milliseconds".to_owned())
}

/// Clerk sends the primary address by id plus the list of addresses; the entry may be
/// missing (Clerk's own examples have an id and an empty list), which is `None`, not an error.
fn primary_email(data: &Map<String, Value>) -> Result<Option<String>, WebhookError> {
    let Some(primary_id) = optional(
        data,
        "data.primary_email_address_id",
        "a string",
        Value::as_str,
    )?
    else {
        return Ok(None);
    };
    let addresses = optional(data, "data.email_addresses", "an array", Value::as_array)?
        .map(Vec::as_slice)
        .unwrap_or_default();
    let primary = addresses
        .iter()
        .filter_map(Value::as_object)
        .find(|entry| entry.get("id").and_then(Value::as_str) == Some(primary_id));
    match primary {
        Some(entry) => optional(
            entry,
            "data.email_addresses[].email_address",
            "a string",
            Value::as_str,
        )
        .map(|address| address.map(str::to_owned)),
        None => Ok(None),
    }
}

/// Reads the field named by the last segment of `path` (the whole path names it in errors).
/// Absent and `null` are both `None`: Clerk sends `null` for fields it has no value for.
fn optional<'v, T>(
    object: &'v Map<String, Value>,
    path: &'static str,
    expected: &'static str,
    cast: impl FnOnce(&'v Value) -> Option<T>,
) -> Result<Option<T>, WebhookError> {
    let key = path.rsplit('.').next().unwrap_or(path);
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => {
            cast(value)
                .map(Some)
                .ok_or(WebhookError::InvalidPayload(PayloadProblem::WrongType {
                    field: path,
                    expected,
                }))
        }
    }
}

/// [`optional`], but absence is an error naming the field.
fn required<'v, T>(
    object: &'v Map<String, Value>,
    path: &'static str,
    expected: &'static str,
    cast: impl FnOnce(&'v Value) -> Option<T>,
) -> Result<T, WebhookError> {
    optional(object, path, expected, cast)?.ok_or(WebhookError::InvalidPayload(
        PayloadProblem::MissingField(path),
    ))
}

/// One change the edge's storage should make for an event. The Worker adapter carries these
/// out in order against D1 (`users`) and KV (the deny-list); all are idempotent, because Svix
/// may deliver an event more than once and the de-duplication row is written after them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WebhookEffect {
    /// Insert or update the user row, unless the stored row has a newer `updated_at`
    /// (an older delivery arriving late must not undo a newer one).
    UpsertUser(UserRecord),
    /// Delete the user row. The adapter should keep a tombstone (or compare with the deletion
    /// time) so that a late `user.updated` does not bring the user back.
    DeleteUser {
        /// The deleted user.
        user_id: String,
    },
    /// Deny-list the user at the edge: their session tokens stay cryptographically valid for
    /// up to their lifetime (60 s by default), and the deny-list closes that window.
    DenyUser {
        /// The user to refuse.
        user_id: String,
    },
    /// Deny-list one session at the edge, for the same reason as [`WebhookEffect::DenyUser`].
    DenySession {
        /// The session to refuse.
        session_id: String,
        /// Its user, for the audit line and for restoring by user.
        user_id: String,
    },
}

/// The storage changes an event calls for; none for [`ClerkEvent::Other`].
///
/// `user.deleted` both deletes the row and deny-lists the user, because a deleted user's
/// still-unexpired tokens would otherwise keep passing at the edge.
pub fn effects(event: &ClerkEvent) -> Vec<WebhookEffect> {
    match event {
        ClerkEvent::UserCreated(user) | ClerkEvent::UserUpdated(user) => {
            vec![WebhookEffect::UpsertUser(user.clone())]
        }
        ClerkEvent::UserDeleted { user_id } => vec![
            WebhookEffect::DeleteUser {
                user_id: user_id.clone(),
            },
            WebhookEffect::DenyUser {
                user_id: user_id.clone(),
            },
        ],
        ClerkEvent::SessionEnded {
            session_id,
            user_id,
            ..
        } => vec![WebhookEffect::DenySession {
            session_id: session_id.clone(),
            user_id: user_id.clone(),
        }],
        ClerkEvent::Other { .. } => Vec::new(),
    }
}

/// `Retry-After` of a paused answer, in seconds. Svix follows its own retry schedule (up to
/// about a day and a half in all); the header tells other senders and people what to expect.
pub const PAUSED_RETRY_AFTER_SECONDS: u32 = 300;

/// A refusal of `POST /__clerk/webhooks` before anything is applied: the same status, headers,
/// body and audit event in the Worker and in the JS route handler.
#[derive(Debug, Clone, Copy)]
pub enum WebhookRefusal<'a> {
    /// `CLERK_WEBHOOKS_PAUSED=true`: 503 before anything is read; Svix redelivers later.
    Paused,
    /// No usable signing secret: 500, so Svix retries once the configuration is fixed.
    Misconfigured,
    /// Not a valid, signed Clerk event: 400, nothing written.
    Rejected {
        /// Why.
        error: &'a WebhookError,
        /// The (unauthenticated) `svix-id`, for the audit line.
        svix_id: Option<&'a str>,
    },
}

impl WebhookRefusal<'_> {
    /// HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::Paused => 503,
            Self::Misconfigured => 500,
            Self::Rejected { .. } => 400,
        }
    }

    /// Response headers beyond the JSON content type.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match self {
            Self::Paused => vec![("retry-after", PAUSED_RETRY_AFTER_SECONDS.to_string())],
            _ => Vec::new(),
        }
    }

    /// The JSON body: what is wrong and what happens next.
    pub fn body(&self) -> Value {
        match self {
            Self::Paused => json!({
                "error": "paused",
                "message": "webhook processing is paused (CLERK_WEBHOOKS_PAUSED=true); nothing was \
                            read or applied, and Svix will redeliver this event later",
            }),
            Self::Misconfigured => json!({
                "error": "misconfigured",
                "message": "CLERK_WEBHOOK_SIGNING_SECRET (or CLERK_WEBHOOKS_PAUSED) is missing or \
                            invalid, see the config.invalid audit line; nothing was applied and \
                            Svix will retry",
            }),
            Self::Rejected { error, .. } => json!({
                "error": "invalid-webhook",
                "reason": error.code(),
                "message": error.to_string(),
            }),
        }
    }

    /// The audit event (`webhook.paused`, `webhook.failed` or `webhook.rejected`).
    pub fn audit_event(&self) -> AuditEvent {
        let event = match self {
            Self::Paused => AuditEvent::new(Level::Warn, "webhook.paused").text("reason", "paused"),
            Self::Misconfigured => {
                AuditEvent::new(Level::Error, "webhook.failed").text("reason", "misconfigured")
            }
            Self::Rejected { error, svix_id } => AuditEvent::new(Level::Warn, "webhook.rejected")
                .text("reason", error.code())
                .opt_text("svix_id", *svix_id),
        };
        event.value("status", self.status().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_answer_and_audit_the_same_everywhere() {
        let paused = WebhookRefusal::Paused;
        assert_eq!(paused.status(), 503);
        assert_eq!(paused.headers(), vec![("retry-after", "300".to_owned())]);
        assert_eq!(paused.audit_event().name(), "webhook.paused");
        let misconfigured = WebhookRefusal::Misconfigured;
        assert_eq!(misconfigured.status(), 500);
        assert_eq!(misconfigured.audit_event().name(), "webhook.failed");
        let error = WebhookError::InvalidSignature;
        let rejected = WebhookRefusal::Rejected {
            error: &error,
            svix_id: Some("msg_1"),
        };
        assert_eq!(rejected.status(), 400);
        assert_eq!(rejected.body()["reason"], "invalid-signature");
        let line: Value = serde_json::from_str(&rejected.audit_event().to_line(0)).unwrap();
        assert_eq!(line["reason"], "invalid-signature");
        assert_eq!(line["svix_id"], "msg_1");
        assert_eq!(line["status"], 400);
    }
    use serde_json::json;

    // Svix's own test secret and message (javascript/src/webhook.test.ts).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const OTHER_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"type":"user.created","data":{}}"#;

    fn secret(value: &str) -> WebhookSecret {
        WebhookSecret::parse(value).unwrap()
    }

    fn sig(ts: i64, body: &[u8]) -> String {
        sign(&secret(SECRET), ID, ts, body)
    }

    fn verify(headers: WebhookHeaders<'_>, body: &[u8]) -> Result<VerifiedWebhook, WebhookError> {
        verify_webhook(&headers, body, &[secret(SECRET)], TS)
    }

    fn headers<'a>(ts: &'a str, signature: &'a str) -> WebhookHeaders<'a> {
        WebhookHeaders {
            id: Some(ID),
            timestamp: Some(ts),
            signature: Some(signature),
        }
    }

    fn code(result: Result<VerifiedWebhook, WebhookError>) -> &'static str {
        result.err().map_or("ok", |e| e.code())
    }

    #[test]
    fn accepts_a_signed_delivery() {
        let signature = sig(TS, BODY);
        let verified = verify(headers(&TS.to_string(), &signature), BODY).unwrap();
        assert_eq!(verified.id, ID);
        assert_eq!(verified.event_type.as_deref(), Some("user.created"));
        assert_eq!(
            verified.payload,
            json!({"type": "user.created", "data": {}})
        );
    }

    #[test]
    fn each_missing_header_is_named() {
        let signature = sig(TS, BODY);
        let ts = TS.to_string();
        let full = headers(&ts, &signature);
        for (name, partial) in [
            (SVIX_ID_HEADER, WebhookHeaders { id: None, ..full }),
            (
                SVIX_TIMESTAMP_HEADER,
                WebhookHeaders {
                    timestamp: None,
                    ..full
                },
            ),
            (
                SVIX_SIGNATURE_HEADER,
                WebhookHeaders {
                    signature: None,
                    ..full
                },
            ),
            (
                SVIX_ID_HEADER,
                WebhookHeaders {
                    id: Some(""),
                    ..full
                },
            ),
            (
                SVIX_TIMESTAMP_HEADER,
                WebhookHeaders {
                    timestamp: Some(""),
                    ..full
                },
            ),
            (
                SVIX_SIGNATURE_HEADER,
                WebhookHeaders {
                    signature: Some(""),
                    ..full
                },
            ),
        ] {
            let err = verify(partial, BODY).unwrap_err();
            assert_eq!(err, WebhookError::MissingHeader(name));
            assert_eq!(err.code(), "missing-header");
            assert!(err.to_string().contains(name), "{err}");
            assert!(err.to_string().contains("/__clerk/webhooks"), "{err}");
        }
        assert_eq!(
            verify(WebhookHeaders::default(), BODY),
            Err(WebhookError::MissingHeader(SVIX_ID_HEADER))
        );
    }

    #[test]
    fn timestamp_must_be_a_plain_non_negative_integer() {
        let signature = sig(TS, BODY);
        for bad in [
            "abc",
            "1614265330abc", // JavaScript's parseInt would read 1614265330
            " 1614265330",
            "1614265330.0",
            "0x6036",
            "99999999999999999999",
        ] {
            assert_eq!(
                verify(headers(bad, &signature), BODY),
                Err(WebhookError::InvalidTimestamp),
                "{bad:?}"
            );
        }
        // A negative timestamp is refused even when correctly signed and "in tolerance"
        // (Svix's Rust library refuses times before 1970).
        let negative = sign(&secret(SECRET), ID, -1, BODY);
        let result = verify_webhook(&headers("-1", &negative), BODY, &[secret(SECRET)], 0);
        assert_eq!(result, Err(WebhookError::InvalidTimestamp));
        // Integer forms that Svix's libraries also read as the same number are the same number.
        assert_eq!(code(verify(headers("+1614265330", &signature), BODY)), "ok");
        assert_eq!(code(verify(headers("01614265330", &signature), BODY)), "ok");
    }

    #[test]
    fn tolerance_is_inclusive_at_300_seconds() {
        for (offset, expected) in [
            (-301, "timestamp-too-old"),
            (-300, "ok"),
            (0, "ok"),
            (300, "ok"),
            (301, "timestamp-too-new"),
        ] {
            let ts = TS + offset;
            let signature = sig(ts, BODY);
            assert_eq!(
                code(verify(headers(&ts.to_string(), &signature), BODY)),
                expected,
                "offset {offset}"
            );
        }
        let err = check_tolerance(TS - 301, TS).unwrap_err();
        assert_eq!(
            err,
            WebhookError::TimestampTooOld {
                timestamp: TS - 301,
                now: TS
            }
        );
        assert!(err.to_string().contains("301 s before now"), "{err}");
        let err = check_tolerance(TS + 301, TS).unwrap_err();
        assert!(err.to_string().contains("301 s after now"), "{err}");
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        assert!(check_tolerance(i64::MAX, i64::MAX).is_ok());
        assert_eq!(
            check_tolerance(i64::MAX, 0).unwrap_err().code(),
            "timestamp-too-new"
        );
        assert_eq!(
            check_tolerance(0, i64::MAX).unwrap_err().code(),
            "timestamp-too-old"
        );
        assert!(check_tolerance(0, i64::MIN).is_err());
        let err = check_tolerance(0, i64::MIN).unwrap_err();
        assert!(!err.to_string().is_empty());
    }

    #[test]
    fn malformed_signature_headers_are_invalid_signature() {
        let good = sig(TS, BODY);
        let bare = good.trim_start_matches("v1,");
        let ts = TS.to_string();
        for bad in [
            "v1,".to_owned(),
            "v1".to_owned(),
            " ".to_owned(),
            bare.to_owned(),               // no version tag
            format!("v2,{bare}"),          // unknown version
            format!("v1,{bare},extra"),    // Svix's Rust library splits on the first comma
            format!("V1,{bare}"),          // versions are case-sensitive
            format!("v1,{}", &bare[..20]), // truncated
            format!("v1 ,{bare}"),
            sign(&secret(OTHER_SECRET), ID, TS, BODY),
        ] {
            assert_eq!(
                verify(headers(&ts, &bad), BODY),
                Err(WebhookError::InvalidSignature),
                "{bad:?}"
            );
        }
        // Extra spaces only make empty entries, which are skipped.
        let spaced = format!("  v2,xyz   {good}  ");
        assert_eq!(code(verify(headers(&ts, &spaced), BODY)), "ok");
    }

    #[test]
    fn signature_covers_id_timestamp_and_body() {
        let signature = sig(TS, BODY);
        let ts = TS.to_string();
        let other_id = WebhookHeaders {
            id: Some("msg_other"),
            ..headers(&ts, &signature)
        };
        assert_eq!(code(verify(other_id, BODY)), "invalid-signature");
        let next = (TS + 1).to_string();
        assert_eq!(
            code(verify(headers(&next, &signature), BODY)),
            "invalid-signature"
        );
        let mut flipped = BODY.to_vec();
        flipped[10] ^= 1;
        assert_eq!(
            code(verify(headers(&ts, &signature), &flipped)),
            "invalid-signature"
        );
    }

    #[test]
    fn alias_headers_apply_header_by_header() {
        let signature = sig(TS, BODY);
        let ts = TS.to_string();
        let unbranded = |name: &str| match name {
            WEBHOOK_ID_HEADER => Some(ID),
            WEBHOOK_TIMESTAMP_HEADER => Some(ts.as_str()),
            WEBHOOK_SIGNATURE_HEADER => Some(signature.as_str()),
            _ => None,
        };
        let found = WebhookHeaders::from_lookup(unbranded);
        assert_eq!(found, headers(&ts, &signature));
        assert_eq!(code(verify(found, BODY)), "ok");

        // svix-* wins over webhook-*, even over correct webhook-* values.
        let both = |name: &str| match name {
            SVIX_SIGNATURE_HEADER => Some("v1,bogus"),
            other => unbranded(other),
        };
        assert_eq!(
            code(verify(WebhookHeaders::from_lookup(both), BODY)),
            "invalid-signature"
        );

        // A present but empty svix-id is reported, not replaced by webhook-id.
        let empty_svix = |name: &str| match name {
            SVIX_ID_HEADER => Some(""),
            other => unbranded(other),
        };
        assert_eq!(
            verify(WebhookHeaders::from_lookup(empty_svix), BODY),
            Err(WebhookError::MissingHeader(SVIX_ID_HEADER))
        );
        assert_eq!(
            WebhookHeaders::from_lookup(|_| None),
            WebhookHeaders::default()
        );
    }

    #[test]
    fn any_secret_of_a_rotation_verifies() {
        let secrets = parse_secrets(&format!("{OTHER_SECRET} {SECRET}")).unwrap();
        let signature = sig(TS, BODY);
        let ts = TS.to_string();
        assert_eq!(
            code(verify_webhook(
                &headers(&ts, &signature),
                BODY,
                &secrets,
                TS
            )),
            "ok"
        );
        let neither = parse_secrets(OTHER_SECRET).unwrap();
        assert_eq!(
            code(verify_webhook(
                &headers(&ts, &signature),
                BODY,
                &neither,
                TS
            )),
            "invalid-signature"
        );
        assert_eq!(
            verify_webhook(&headers(&ts, &signature), BODY, &[], TS),
            Err(WebhookError::InvalidSecret(SecretProblem::Empty))
        );
    }

    #[test]
    fn secrets_parse_as_the_svix_libraries_read_them() {
        // Unpadded and non-canonical base64 name the same key as the canonical form.
        let canonical = secret("whsec_YWJjZA==");
        for value in ["whsec_YWJjZA", "whsec_YWJjZB==", "YWJjZA"] {
            assert_eq!(
                sign(&secret(value), ID, TS, BODY),
                sign(&canonical, ID, TS, BODY),
                "{value}"
            );
        }
    }

    #[test]
    fn secrets_parse_with_or_without_prefix() {
        let bare = SECRET.trim_start_matches("whsec_");
        assert_eq!(sign(&secret(bare), ID, TS, BODY), sig(TS, BODY));
        for (value, problem) in [
            ("", SecretProblem::Empty),
            ("whsec_", SecretProblem::Empty),
            ("whsec_not base64!", SecretProblem::NotBase64),
            ("sk_test_abc", SecretProblem::NotBase64),
        ] {
            let err = WebhookSecret::parse(value).unwrap_err();
            assert_eq!(err, WebhookError::InvalidSecret(problem), "{value:?}");
            assert_eq!(err.code(), "invalid-secret");
            assert!(err.to_string().contains("CLERK_WEBHOOK_SIGNING_SECRET"));
        }
        assert_eq!(
            parse_secrets(&format!("\n {SECRET}\t {bare} \n"))
                .unwrap()
                .len(),
            2
        );
        for value in ["", "  \n"] {
            assert_eq!(
                parse_secrets(value).unwrap_err(),
                WebhookError::InvalidSecret(SecretProblem::Empty)
            );
        }
        assert_eq!(
            parse_secrets(&format!("{SECRET} whsec_%%%")).unwrap_err(),
            WebhookError::InvalidSecret(SecretProblem::NotBase64)
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let shown = format!("{:?}", parse_secrets(SECRET).unwrap());
        assert_eq!(shown, r#"[WebhookSecret { key: "<redacted>" }]"#);
    }

    #[test]
    fn body_size_limit_is_inclusive_and_checked_before_the_signature() {
        let prefix = br#"{"type":"x","pad":""#;
        let mut body = prefix.to_vec();
        body.resize(MAX_BODY_BYTES - 2, b'a');
        body.extend_from_slice(br#""}"#);
        assert_eq!(body.len(), MAX_BODY_BYTES);
        let ts = TS.to_string();
        let signature = sig(TS, &body);
        assert_eq!(code(verify(headers(&ts, &signature), &body)), "ok");

        body.insert(prefix.len(), b'a');
        let signature = sig(TS, &body);
        assert_eq!(
            verify(headers(&ts, &signature), &body),
            Err(WebhookError::InvalidPayload(PayloadProblem::TooLarge {
                len: MAX_BODY_BYTES + 1
            }))
        );
        // Unsigned and oversized: refused for size without hashing.
        assert_eq!(code(verify(headers(&ts, "v1,x"), &body)), "invalid-payload");
    }

    #[test]
    fn signed_body_must_be_a_json_object() {
        let ts = TS.to_string();
        for (body, problem) in [
            (&b""[..], PayloadProblem::NotJson),
            (b"not json", PayloadProblem::NotJson),
            (b"{\"type\":\"\xff\"}", PayloadProblem::NotJson),
            (b"[1,2]", PayloadProblem::NotObject),
            (b"\"user.created\"", PayloadProblem::NotObject),
            (b"null", PayloadProblem::NotObject),
        ] {
            let signature = sig(TS, body);
            assert_eq!(
                verify(headers(&ts, &signature), body),
                Err(WebhookError::InvalidPayload(problem)),
                "{body:?}"
            );
        }
        // Deeply nested JSON is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        let signature = sig(TS, deep.as_bytes());
        assert_eq!(
            code(verify(headers(&ts, &signature), deep.as_bytes())),
            "invalid-payload"
        );
        // A non-string type is not an error at this layer, just not reported.
        let body = br#"{"type":7}"#;
        let signature = sig(TS, body);
        assert_eq!(
            verify(headers(&ts, &signature), body).unwrap().event_type,
            None
        );
    }

    #[test]
    fn checks_run_in_svix_order() {
        let ts = TS.to_string();
        let old = (TS - 1000).to_string();
        let missing_and_bad = WebhookHeaders {
            id: None,
            timestamp: Some("x"),
            signature: Some("x"),
        };
        assert_eq!(code(verify(missing_and_bad, b"x")), "missing-header");
        assert_eq!(
            code(verify(headers("x", "v1,x"), b"x")),
            "invalid-timestamp"
        );
        assert_eq!(
            code(verify(headers(&old, "v1,x"), b"x")),
            "timestamp-too-old"
        );
        assert_eq!(
            code(verify(headers(&ts, "v1,x"), b"x")),
            "invalid-signature"
        );
        assert_eq!(
            code(verify_webhook(&headers("x", "v1,x"), b"x", &[], TS)),
            "invalid-secret"
        );
    }

    #[test]
    fn every_code_is_a_contract_reason() {
        let contract = [
            "missing-header",
            "invalid-timestamp",
            "timestamp-too-old",
            "timestamp-too-new",
            "invalid-signature",
            "invalid-secret",
            "invalid-payload",
        ];
        let errors = [
            WebhookError::MissingHeader(SVIX_ID_HEADER),
            WebhookError::InvalidTimestamp,
            WebhookError::TimestampTooOld {
                timestamp: 1,
                now: 400,
            },
            WebhookError::TimestampTooNew {
                timestamp: 400,
                now: 1,
            },
            WebhookError::InvalidSignature,
            WebhookError::InvalidSecret(SecretProblem::Empty),
            WebhookError::InvalidSecret(SecretProblem::NotBase64),
            WebhookError::InvalidPayload(PayloadProblem::TooLarge { len: 1 }),
            WebhookError::InvalidPayload(PayloadProblem::NotJson),
            WebhookError::InvalidPayload(PayloadProblem::NotObject),
            WebhookError::InvalidPayload(PayloadProblem::MissingField("data.id")),
            WebhookError::InvalidPayload(PayloadProblem::WrongType {
                field: "data.id",
                expected: "a string",
            }),
        ];
        for err in &errors {
            assert!(contract.contains(&err.code()), "{err:?}");
            assert!(err.to_string().len() > 40, "{err:?}");
        }
        for code in contract {
            assert!(
                errors.iter().any(|e| e.code() == code),
                "{code} never produced"
            );
        }
    }

    fn user_payload(event_type: &str, data: Value) -> Value {
        json!({"type": event_type, "object": "event", "timestamp": 1_716_883_200, "data": data})
    }

    fn user_data() -> Value {
        json!({
            "id": "user_1",
            "primary_email_address_id": "idn_2",
            "email_addresses": [
                {"id": "idn_1", "email_address": "old@example.com"},
                {"id": "idn_2", "email_address": "jane@example.com"}
            ],
            "first_name": "Jane",
            "last_name": null,
            "banned": true,
            "updated_at": 1_716_883_500_000_i64
        })
    }

    fn payload_error(payload: &Value) -> PayloadProblem {
        match ClerkEvent::from_payload(payload) {
            Err(WebhookError::InvalidPayload(problem)) => problem,
            other => panic!("expected invalid-payload, got {other:?}"),
        }
    }

    #[test]
    fn user_events_become_records() {
        let expected = UserRecord {
            id: "user_1".into(),
            primary_email: Some("jane@example.com".into()),
            first_name: Some("Jane".into()),
            last_name: None,
            banned: true,
            updated_at: 1_716_883_500_000,
        };
        let created = ClerkEvent::from_payload(&user_payload("user.created", user_data())).unwrap();
        assert_eq!(created, ClerkEvent::UserCreated(expected.clone()));
        let updated = ClerkEvent::from_payload(&user_payload("user.updated", user_data())).unwrap();
        assert_eq!(updated, ClerkEvent::UserUpdated(expected.clone()));
        assert_eq!(effects(&updated), vec![WebhookEffect::UpsertUser(expected)]);

        let mut data = user_data();
        data["primary_email_address_id"] = Value::Null;
        let event = ClerkEvent::from_payload(&user_payload("user.updated", data)).unwrap();
        assert!(matches!(
            event,
            ClerkEvent::UserUpdated(UserRecord {
                primary_email: None,
                ..
            })
        ));

        let mut data = user_data();
        data.as_object_mut().unwrap().remove("email_addresses");
        data.as_object_mut().unwrap().remove("first_name");
        let event = ClerkEvent::from_payload(&user_payload("user.created", data)).unwrap();
        assert!(matches!(
            event,
            ClerkEvent::UserCreated(UserRecord {
                primary_email: None,
                first_name: None,
                ..
            })
        ));
    }

    #[test]
    fn user_events_name_the_bad_field() {
        let cases: [(&str, Value, PayloadProblem); 9] = [
            ("id", Value::Null, PayloadProblem::MissingField("data.id")),
            (
                "banned",
                Value::Null,
                PayloadProblem::MissingField("data.banned"),
            ),
            (
                "updated_at",
                Value::Null,
                PayloadProblem::MissingField("data.updated_at"),
            ),
            (
                "updated_at",
                json!("1716883500000"),
                PayloadProblem::WrongType {
                    field: "data.updated_at",
                    expected: "an integer",
                },
            ),
            (
                "updated_at",
                json!(1.5),
                PayloadProblem::WrongType {
                    field: "data.updated_at",
                    expected: "an integer",
                },
            ),
            (
                "banned",
                json!("false"),
                PayloadProblem::WrongType {
                    field: "data.banned",
                    expected: "a boolean",
                },
            ),
            (
                "first_name",
                json!(1),
                PayloadProblem::WrongType {
                    field: "data.first_name",
                    expected: "a string",
                },
            ),
            (
                "email_addresses",
                json!({}),
                PayloadProblem::WrongType {
                    field: "data.email_addresses",
                    expected: "an array",
                },
            ),
            (
                "email_addresses",
                json!([{"id": "idn_2", "email_address": 5}]),
                PayloadProblem::WrongType {
                    field: "data.email_addresses[].email_address",
                    expected: "a string",
                },
            ),
        ];
        for (key, value, problem) in cases {
            let mut data = user_data();
            data[key] = value;
            assert_eq!(
                payload_error(&user_payload("user.updated", data)),
                problem,
                "{key}"
            );
        }
        let err = WebhookError::InvalidPayload(PayloadProblem::MissingField("data.banned"));
        assert_eq!(err.code(), "invalid-payload");
        assert!(err.to_string().contains("data.banned"));
    }

    #[test]
    fn envelope_needs_type_and_data_for_known_types() {
        assert_eq!(
            payload_error(&json!({"data": {}})),
            PayloadProblem::MissingField("type")
        );
        assert_eq!(
            payload_error(&json!({"type": 3})),
            PayloadProblem::WrongType {
                field: "type",
                expected: "a string"
            }
        );
        assert_eq!(payload_error(&json!([])), PayloadProblem::NotObject);
        assert_eq!(
            payload_error(&json!({"type": "user.deleted"})),
            PayloadProblem::MissingField("data")
        );
        assert_eq!(
            payload_error(&json!({"type": "session.revoked", "data": []})),
            PayloadProblem::WrongType {
                field: "data",
                expected: "an object"
            }
        );
        // Unknown types need nothing else.
        let other = ClerkEvent::from_payload(&json!({"type": "organization.created"})).unwrap();
        assert_eq!(
            other,
            ClerkEvent::Other {
                event_type: "organization.created".into()
            }
        );
        assert!(effects(&other).is_empty());
    }

    #[test]
    fn user_deleted_deletes_and_denies() {
        let event = ClerkEvent::from_payload(&user_payload(
            "user.deleted",
            json!({"id": "user_1", "deleted": true}),
        ))
        .unwrap();
        assert_eq!(
            event,
            ClerkEvent::UserDeleted {
                user_id: "user_1".into()
            }
        );
        assert_eq!(
            effects(&event),
            vec![
                WebhookEffect::DeleteUser {
                    user_id: "user_1".into()
                },
                WebhookEffect::DenyUser {
                    user_id: "user_1".into()
                },
            ]
        );
        assert_eq!(
            payload_error(&user_payload("user.deleted", json!({"deleted": true}))),
            PayloadProblem::MissingField("data.id")
        );
    }

    #[test]
    fn ending_sessions_deny_them() {
        for kind in [
            SessionEndKind::Revoked,
            SessionEndKind::Removed,
            SessionEndKind::Ended,
        ] {
            let payload = user_payload(
                kind.event_type(),
                json!({"id": "sess_1", "user_id": "user_1"}),
            );
            let event = ClerkEvent::from_payload(&payload).unwrap();
            assert_eq!(
                event,
                ClerkEvent::SessionEnded {
                    kind,
                    session_id: "sess_1".into(),
                    user_id: "user_1".into()
                }
            );
            assert_eq!(
                effects(&event),
                vec![WebhookEffect::DenySession {
                    session_id: "sess_1".into(),
                    user_id: "user_1".into()
                }]
            );
            let no_user = user_payload(kind.event_type(), json!({"id": "sess_1"}));
            assert_eq!(
                payload_error(&no_user),
                PayloadProblem::MissingField("data.user_id")
            );
        }
        for other in ["session.created", "session.pending", "session.expired"] {
            let event = ClerkEvent::from_payload(&user_payload(other, json!({}))).unwrap();
            assert_eq!(
                event,
                ClerkEvent::Other {
                    event_type: other.into()
                }
            );
        }
    }
}
