//! The sync routes, their request bodies and their refusals.

use std::fmt;

use serde_json::{Map, Value};

use crate::admin::revocation::{
    bool_field, parse_body_object, string_field, AdminError, MAX_REASON_CHARS,
};
use crate::clerk_api::MAX_PAGE_LIMIT;

use super::job::{JobKind, DEFAULT_PAGE_SIZE};

/// `GET` (status) and `POST` (start or resume) of the resync job.
pub const RESYNC_PATH: &str = "/__clerk/admin/resync";
/// `POST`: stop the running resync after its current page.
pub const RESYNC_CANCEL_PATH: &str = "/__clerk/admin/resync/cancel";
/// `GET` (status) and `POST` (start or resume) of the integrity check.
pub const VERIFY_PATH: &str = "/__clerk/admin/verify-sync";
/// `POST`: stop the running integrity check.
pub const VERIFY_CANCEL_PATH: &str = "/__clerk/admin/verify-sync/cancel";
/// `GET`: the users table and the tombstones as NDJSON.
pub const EXPORT_PATH: &str = "/__clerk/admin/export";

/// Which sync route a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncRoute {
    /// `GET` status / `POST` start of a job.
    Job(JobKind),
    /// `POST` cancel of a job.
    Cancel(JobKind),
    /// `GET` export.
    Export,
}

impl SyncRoute {
    /// The route for `path`, if it is a sync route.
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
            RESYNC_PATH => Some(SyncRoute::Job(JobKind::Resync)),
            RESYNC_CANCEL_PATH => Some(SyncRoute::Cancel(JobKind::Resync)),
            VERIFY_PATH => Some(SyncRoute::Job(JobKind::Verify)),
            VERIFY_CANCEL_PATH => Some(SyncRoute::Cancel(JobKind::Verify)),
            EXPORT_PATH => Some(SyncRoute::Export),
            _ => None,
        }
    }

    /// The methods the route answers, as the `Allow` header lists them.
    pub fn allow(self) -> &'static str {
        match self {
            SyncRoute::Job(_) => "GET, POST",
            SyncRoute::Cancel(_) => "POST",
            SyncRoute::Export => "GET",
        }
    }

    /// True when `method` is one the route answers.
    pub fn allows(self, method: &str) -> bool {
        match self {
            SyncRoute::Job(_) => method == "GET" || method == "POST",
            SyncRoute::Cancel(_) => method == "POST",
            SyncRoute::Export => method == "GET",
        }
    }
}

/// A validated start body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRequest {
    /// Operator's reason (an incident id), required: it is the `operator_reason` of every
    /// audit line of the job.
    pub reason: String,
    /// Count what would change; write nothing.
    pub dry_run: bool,
    /// Users per Backend API page, 1..=500.
    pub page_size: u32,
    /// Continue the last failed or cancelled job from its cursor instead of starting anew.
    pub resume: bool,
    /// Resync only: also delete (and tombstone) rows whose user no longer exists in Clerk.
    pub remove_deleted: bool,
}

/// A validated cancel body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelRequest {
    /// Operator's reason.
    pub reason: String,
}

const RESYNC_FIELDS: &[&str] = &["reason", "dry_run", "page_size", "resume", "remove_deleted"];
const VERIFY_FIELDS: &[&str] = &["reason", "page_size", "resume"];
const CANCEL_FIELDS: &[&str] = &["reason"];

/// Validates a start body: a JSON object with `reason` and, for a resync, optional `dry_run`,
/// `page_size`, `remove_deleted`, `resume`; for the integrity check `page_size` and
/// `resume`. A resume keeps the job's settings, so it takes only `reason`.
pub fn parse_start_body(kind: JobKind, body: &[u8]) -> Result<StartRequest, AdminError> {
    let (fields, accepted) = match kind {
        JobKind::Resync => (
            RESYNC_FIELDS,
            "reason, dry_run, page_size, remove_deleted, resume",
        ),
        JobKind::Verify => (VERIFY_FIELDS, "reason, page_size, resume"),
    };
    let object = parse_body_object(body, fields, accepted)?;
    let reason = required_reason(&object)?;
    let resume = bool_field(&object, "resume")?;
    if resume {
        if let Some(field) = ["dry_run", "page_size", "remove_deleted"]
            .into_iter()
            .find(|field| object.contains_key(*field))
        {
            return Err(AdminError::InvalidField {
                field,
                problem: "cannot be changed on resume: a resumed job keeps its settings \
                          (start a new job to change them)",
            });
        }
    }
    let page_size = match object.get("page_size") {
        None => DEFAULT_PAGE_SIZE,
        Some(value) => value
            .as_u64()
            .filter(|size| (1..=u64::from(MAX_PAGE_LIMIT)).contains(size))
            .and_then(|size| u32::try_from(size).ok())
            .ok_or(AdminError::InvalidField {
                field: "page_size",
                problem: "must be a whole number from 1 to 500 (Clerk's largest page)",
            })?,
    };
    Ok(StartRequest {
        reason,
        dry_run: bool_field(&object, "dry_run")?,
        page_size,
        resume,
        remove_deleted: bool_field(&object, "remove_deleted")?,
    })
}

/// Validates a cancel body: `{"reason": "…"}`.
pub fn parse_cancel_body(body: &[u8]) -> Result<CancelRequest, AdminError> {
    let object = parse_body_object(body, CANCEL_FIELDS, "reason")?;
    Ok(CancelRequest {
        reason: required_reason(&object)?,
    })
}

fn required_reason(object: &Map<String, Value>) -> Result<String, AdminError> {
    let reason = string_field(object, "reason")?.map(str::trim).unwrap_or("");
    if reason.is_empty() {
        return Err(AdminError::InvalidField {
            field: "reason",
            problem: "is required: say why (an incident id is enough); it is logged as \
                      operator_reason",
        });
    }
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(AdminError::InvalidField {
            field: "reason",
            problem: "is longer than 500 characters: shorten it (an incident id is enough)",
        });
    }
    Ok(reason.to_owned())
}

/// Why a sync route refused a well-formed request, or could not do its work.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum SyncError {
    /// A job of this kind is running: the answer carries its status.
    AlreadyRunning {
        /// The kind asked for.
        kind: JobKind,
        /// The running job's status (the `GET` body).
        status: Value,
    },
    /// `resume` with no failed or cancelled job to continue.
    NothingToResume {
        /// The kind asked for.
        kind: JobKind,
        /// The last job's state (`done`), or `None` when there never was one.
        last_state: Option<&'static str>,
    },
    /// Cancel with no running job.
    NothingToCancel {
        /// The kind asked for.
        kind: JobKind,
    },
    /// The jobs need the D1 binding (and, in the Worker, the Durable Object binding).
    Misconfigured {
        /// What is missing, naming the binding.
        detail: &'static str,
    },
    /// The job could not be read or stored: nothing was started or changed.
    StorageUnavailable {
        /// Which store (`d1`, `durable-object`).
        step: &'static str,
    },
    /// The job changed while this request was being answered (a step of its own committed):
    /// nothing was changed by this request; sending it again is safe.
    Contended,
}

impl SyncError {
    /// HTTP status of the answer.
    pub fn status(&self) -> u16 {
        match self {
            SyncError::AlreadyRunning { .. }
            | SyncError::NothingToResume { .. }
            | SyncError::NothingToCancel { .. }
            | SyncError::Contended => 409,
            SyncError::Misconfigured { .. } => 500,
            SyncError::StorageUnavailable { .. } => 503,
        }
    }

    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::AlreadyRunning { .. } => "job-running",
            SyncError::NothingToResume { .. } => "nothing-to-resume",
            SyncError::NothingToCancel { .. } => "nothing-to-cancel",
            SyncError::Misconfigured { .. } => "misconfigured",
            SyncError::StorageUnavailable { .. } => "storage-unavailable",
            SyncError::Contended => "job-contended",
        }
    }

    /// The JSON body: `{"error", "message"}`, plus the running job for `job-running`.
    pub fn to_json(&self) -> Value {
        let mut body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        if let (
            SyncError::AlreadyRunning {
                status: Value::Object(status),
                ..
            },
            Value::Object(map),
        ) = (self, &mut body)
        {
            map.extend(status.clone());
        }
        body
    }
}

impl fmt::Display for SyncError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncError::AlreadyRunning { kind, .. } => write!(
                f,
                "a {} is already running (below): watch it with GET {}, or stop it with \
                 POST {} before starting another",
                kind.noun(),
                kind.path(),
                kind.cancel_path()
            ),
            SyncError::NothingToResume { kind, last_state } => match last_state {
                Some(state) => write!(
                    f,
                    "the last {} ended {state}: there is nothing to resume; start a new one \
                     without \"resume\"",
                    kind.noun()
                ),
                None => write!(
                    f,
                    "no {} has run yet: start one without \"resume\"",
                    kind.noun()
                ),
            },
            SyncError::NothingToCancel { kind } => write!(
                f,
                "no {} is running: nothing was cancelled (GET {} shows the last one)",
                kind.noun(),
                kind.path()
            ),
            SyncError::Misconfigured { detail } => write!(f, "{detail}"),
            SyncError::StorageUnavailable { step } => write!(
                f,
                "the job store ({step}) did not answer: nothing was started or changed; try \
                 again in a minute"
            ),
            SyncError::Contended => write!(
                f,
                "the job moved on while this request was answered: nothing was changed by \
                 it; send it again"
            ),
        }
    }
}

impl std::error::Error for SyncError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(kind: JobKind, body: &str) -> Result<StartRequest, AdminError> {
        parse_start_body(kind, body.as_bytes())
    }

    #[test]
    fn a_start_needs_a_reason_and_takes_defaults() {
        let request = start(JobKind::Resync, r#"{"reason":"INC-42"}"#).unwrap();
        assert_eq!(
            request,
            StartRequest {
                reason: "INC-42".into(),
                dry_run: false,
                page_size: 500,
                resume: false,
                remove_deleted: false,
            }
        );
        for body in [r#"{}"#, r#"{"reason":"  "}"#, r#"{"reason":""}"#] {
            let error = start(JobKind::Resync, body).unwrap_err();
            assert_eq!(error.code(), "invalid-field", "{body}");
            assert!(error.to_string().contains("reason"), "{error}");
        }
        let long = format!(r#"{{"reason":"{}"}}"#, "x".repeat(501));
        assert_eq!(
            start(JobKind::Resync, &long).unwrap_err().code(),
            "invalid-field"
        );
    }

    #[test]
    fn page_size_is_one_to_five_hundred() {
        for (size, ok) in [
            ("1", true),
            ("500", true),
            ("0", false),
            ("501", false),
            ("-1", false),
            ("2.5", false),
            ("\"100\"", false),
            ("null", false),
        ] {
            let body = format!(r#"{{"reason":"r","page_size":{size}}}"#);
            assert_eq!(start(JobKind::Resync, &body).is_ok(), ok, "{size}");
        }
    }

    #[test]
    fn every_bad_body_is_refused_with_its_code() {
        for (body, code) in [
            ("", "invalid-json"),
            ("{", "invalid-json"),
            ("[]", "body-not-object"),
            (r#"{"reason":"r","force":true}"#, "unknown-field"),
            (r#"{"reason":"r","reason":"s"}"#, "duplicate-field"),
            (r#"{"reason":"r","dry_run":"yes"}"#, "invalid-field"),
            (r#"{"reason":"r","resume":1}"#, "invalid-field"),
            (r#"{"reason":7}"#, "invalid-field"),
            (
                r#"{"reason":"r","resume":true,"dry_run":true}"#,
                "invalid-field",
            ),
            (
                r#"{"reason":"r","resume":true,"page_size":10}"#,
                "invalid-field",
            ),
        ] {
            assert_eq!(
                start(JobKind::Resync, body).unwrap_err().code(),
                code,
                "{body}"
            );
        }
        // The integrity check writes nothing: dry_run and remove_deleted are not its fields.
        for body in [
            r#"{"reason":"r","dry_run":true}"#,
            r#"{"reason":"r","remove_deleted":true}"#,
        ] {
            let error = start(JobKind::Verify, body).unwrap_err();
            assert_eq!(error.code(), "unknown-field");
            assert!(
                error.to_string().contains("reason, page_size, resume"),
                "{error}"
            );
        }
        let big = format!(
            r#"{{"reason":"{}"}}"#,
            "x".repeat(crate::admin::revocation::MAX_BODY_BYTES)
        );
        assert_eq!(
            start(JobKind::Resync, &big).unwrap_err().code(),
            "body-too-large"
        );
    }

    #[test]
    fn cancel_takes_a_reason_only() {
        assert_eq!(
            parse_cancel_body(br#"{"reason":"wrong env"}"#)
                .unwrap()
                .reason,
            "wrong env"
        );
        assert_eq!(
            parse_cancel_body(b"{}").unwrap_err().code(),
            "invalid-field"
        );
        assert_eq!(
            parse_cancel_body(br#"{"reason":"r","now":true}"#)
                .unwrap_err()
                .code(),
            "unknown-field"
        );
    }

    #[test]
    fn routes_and_methods() {
        assert_eq!(
            SyncRoute::from_path("/__clerk/admin/resync"),
            Some(SyncRoute::Job(JobKind::Resync))
        );
        assert_eq!(
            SyncRoute::from_path("/__clerk/admin/verify-sync/cancel"),
            Some(SyncRoute::Cancel(JobKind::Verify))
        );
        assert_eq!(SyncRoute::from_path("/__clerk/admin/resync/"), None);
        assert!(SyncRoute::Job(JobKind::Resync).allows("GET"));
        assert!(!SyncRoute::Cancel(JobKind::Resync).allows("GET"));
        assert!(!SyncRoute::Export.allows("POST"));
        assert_eq!(SyncRoute::Export.allow(), "GET");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let running = SyncError::AlreadyRunning {
            kind: JobKind::Resync,
            status: serde_json::json!({"state": "running", "pages": 3}),
        };
        assert_eq!(running.status(), 409);
        let body = running.to_json();
        assert_eq!(body["error"], "job-running");
        assert_eq!(body["pages"], 3);
        assert!(body["message"]
            .as_str()
            .unwrap()
            .contains("POST /__clerk/admin/resync/cancel"));
        let nothing = SyncError::NothingToResume {
            kind: JobKind::Verify,
            last_state: Some("done"),
        };
        assert!(nothing.to_string().contains("ended done"), "{nothing}");
        assert_eq!(
            SyncError::NothingToCancel {
                kind: JobKind::Resync
            }
            .status(),
            409
        );
        assert_eq!(SyncError::StorageUnavailable { step: "d1" }.status(), 503);
    }
}
