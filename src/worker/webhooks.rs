//! `POST /__clerk/webhooks`: Clerk's events, delivered by Svix, applied to D1 and the KV
//! deny-list.
//!
//! Svix delivers at least once and in no particular order, and retries every answer that is
//! not 2xx. So the route answers 2xx only once an event is durably applied, and applying is
//! safe to repeat:
//! - **De-duplication in D1** (`webhook_deliveries`, keyed by `svix-id`): D1 is strongly
//!   consistent, KV is not, so a redelivery is recognised even right after the first one.
//!   The id is recorded only after the effects, in the same D1 batch (one transaction) as
//!   the D1 effects, never before: a crash in between means a redelivery applies the event
//!   again, not that it is lost.
//! - **Idempotent effects**: KV deny-list puts (written first, so the edge shuts a user or
//!   session out even if D1 then fails), upserts guarded by `updated_at` (a late, older
//!   `user.updated` never overwrites a newer one), deletes that leave a tombstone in
//!   `deleted_users` (a late `user.updated` never resurrects a deleted user).
//! - **Pause**: with `CLERK_WEBHOOKS_PAUSED=true` every delivery is answered 503 with
//!   `Retry-After` before anything is read, so Svix keeps it and redelivers later.
//!
//! The checks themselves (signature, timestamp, event shape) are the pure core's
//! ([`crate::webhook`]); this module reads the request, performs the storage writes and maps
//! each outcome to one answer and one audit line. No line carries the body, a header other
//! than `svix-id`, or a secret.

use ::worker::{D1Database, D1PreparedStatement, D1Result, Env, Method, Request, Response, Result};
use serde_json::{json, Value};
use wasm_bindgen::JsValue;

use crate::admin::revocation::{session_deny_ttl_seconds, DenyEntry, DenySource, DenyTtlInputs};
use crate::audit::{AuditEvent, Level, RequestContext};
use crate::config::Impact;
use crate::webhook::{
    effects, verify_webhook, ClerkEvent, PayloadProblem, UserRecord, WebhookEffect, WebhookError,
    WebhookHeaders, WebhookRefusal, MAX_BODY_BYTES, SVIX_ID_HEADER, SVIX_SIGNATURE_HEADER,
    SVIX_TIMESTAMP_HEADER, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};

use super::d1::{integer, D1_BINDING};
use super::isolate::IsolateState;
use super::{body, denylist, emit, json_response};

/// The headers the Svix verifier may look at.
const WEBHOOK_HEADERS: [&str; 6] = [
    SVIX_ID_HEADER,
    SVIX_TIMESTAMP_HEADER,
    SVIX_SIGNATURE_HEADER,
    WEBHOOK_ID_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
];

/// Inserts or updates a user unless a tombstone exists or the stored row is newer. SQLite
/// needs the `WHERE` on the `SELECT` to parse an upsert of an `INSERT ... SELECT`.
const UPSERT_USER_SQL: &str = "\
    INSERT INTO users (id, primary_email, first_name, last_name, banned, updated_at) \
    SELECT ?1, ?2, ?3, ?4, ?5, ?6 \
    WHERE NOT EXISTS (SELECT 1 FROM deleted_users WHERE id = ?1) \
    ON CONFLICT(id) DO UPDATE SET \
      primary_email = excluded.primary_email, \
      first_name = excluded.first_name, \
      last_name = excluded.last_name, \
      banned = excluded.banned, \
      updated_at = excluded.updated_at \
    WHERE excluded.updated_at >= users.updated_at";
const DELETE_USER_SQL: &str = "DELETE FROM users WHERE id = ?1";
const TOMBSTONE_USER_SQL: &str =
    "INSERT INTO deleted_users (id, deleted_at) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING";
const SEEN_DELIVERY_SQL: &str = "SELECT 1 AS seen FROM webhook_deliveries WHERE svix_id = ?1";
/// Two concurrent deliveries of one id both apply (harmlessly); the second record is a no-op
/// rather than a failure that would make Svix retry an event that was applied.
const RECORD_DELIVERY_SQL: &str = "\
    INSERT INTO webhook_deliveries (svix_id, event_type, received_at) VALUES (?1, ?2, ?3) \
    ON CONFLICT(svix_id) DO NOTHING";

/// Handles a webhook delivery.
pub async fn handle(
    req: Request,
    env: &Env,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    if req.method() != Method::Post {
        let mut response = json_response(
            405,
            &json!({
                "error": "method-not-allowed",
                "message": "Svix delivers webhooks with POST",
            }),
        )?;
        response.headers_mut().set("allow", "POST")?;
        return Ok(response);
    }
    let config = &state.config;
    if config.webhooks_paused {
        return refuse(WebhookRefusal::Paused, request, now);
    }
    if config.webhook_secrets.is_empty() || config.has_problems(Impact::Webhooks) {
        return refuse(WebhookRefusal::Misconfigured, request, now);
    }

    let body = match body::read_limited(&req, MAX_BODY_BYTES).await {
        Ok(body::Body::Complete(body)) => body,
        Ok(body::Body::TooLarge(len)) => {
            let error = WebhookError::InvalidPayload(PayloadProblem::TooLarge { len });
            return refuse(
                WebhookRefusal::Rejected {
                    error: &error,
                    svix_id: None,
                },
                request,
                now,
            );
        }
        Err(_) => {
            let failure = Failure {
                step: "read-body",
                svix_id: None,
                event_type: None,
            };
            return not_processed(&failure, request, now);
        }
    };
    let found = webhook_headers(&req);
    let headers = WebhookHeaders::from_lookup(|name| {
        found
            .iter()
            .find(|(found_name, _)| *found_name == name)
            .map(|(_, value)| value.as_str())
    });
    let verified = match verify_webhook(
        &headers,
        &body,
        &config.webhook_secrets,
        now.div_euclid(1000),
    ) {
        Ok(verified) => verified,
        Err(WebhookError::InvalidSecret(_)) => {
            return refuse(WebhookRefusal::Misconfigured, request, now)
        }
        Err(error) => {
            return refuse(
                WebhookRefusal::Rejected {
                    error: &error,
                    svix_id: headers.id,
                },
                request,
                now,
            )
        }
    };
    let event = match ClerkEvent::from_payload(&verified.payload) {
        Ok(event) => event,
        Err(error) => {
            return refuse(
                WebhookRefusal::Rejected {
                    error: &error,
                    svix_id: Some(&verified.id),
                },
                request,
                now,
            )
        }
    };
    let delivery = Delivery {
        svix_id: &verified.id,
        event_type: verified.event_type.as_deref().unwrap_or_default(),
    };

    match process(env, state, &event, &delivery, now).await {
        Ok(Processed::Duplicate) => {
            emit(
                &delivery
                    .audit(Level::Info, "webhook.duplicate")
                    .value("status", 200.into()),
                Some(request),
                now,
            );
            json_response(
                200,
                &json!({
                    "ok": true,
                    "duplicate": true,
                    "svix_id": delivery.svix_id,
                    "type": delivery.event_type,
                }),
            )
        }
        Ok(Processed::Applied(applied)) => {
            let mut line = delivery
                .audit(Level::Info, "webhook.accepted")
                .value("status", 200.into())
                .value("effects", applied.iter().map(effect_name).collect());
            if let Some((user_id, session_id)) = subject(&event) {
                line = line
                    .text("user_id", user_id)
                    .opt_text("session_id", session_id);
            }
            emit(&line, Some(request), now);
            json_response(
                200,
                &json!({
                    "ok": true,
                    "svix_id": delivery.svix_id,
                    "type": delivery.event_type,
                }),
            )
        }
        Err(step) => {
            let failure = Failure {
                step,
                svix_id: Some(delivery.svix_id),
                event_type: Some(delivery.event_type),
            };
            not_processed(&failure, request, now)
        }
    }
}

/// The Svix headers present in the request (workers' `Headers` match names
/// case-insensitively); nothing else of the request is read.
fn webhook_headers(req: &Request) -> Vec<(&'static str, String)> {
    WEBHOOK_HEADERS
        .iter()
        .filter_map(|name| {
            let value = req.headers().get(name).ok().flatten()?;
            Some((*name, value))
        })
        .collect()
}

/// The verified delivery's identity: what the audit lines and the delivery log carry.
struct Delivery<'a> {
    svix_id: &'a str,
    event_type: &'a str,
}

impl Delivery<'_> {
    fn audit(&self, level: Level, name: &'static str) -> AuditEvent {
        AuditEvent::new(level, name)
            .text("svix_id", self.svix_id)
            .text("type", self.event_type)
    }
}

/// What processing did with a verified event.
enum Processed {
    /// The `svix-id` was already recorded: nothing was written.
    Duplicate,
    /// The effects were applied and the delivery recorded.
    Applied(Vec<WebhookEffect>),
}

/// Why a delivery was not (or not completely) processed: the step that failed (`read-body`,
/// `kv`, `d1`), which is all the audit line says (an error's text could quote data).
struct Failure<'a> {
    step: &'static str,
    svix_id: Option<&'a str>,
    event_type: Option<&'a str>,
}

/// De-duplicates, applies the effects (KV first, then one D1 batch ending with the delivery
/// record) and reports which step failed, if one did.
async fn process(
    env: &Env,
    state: &IsolateState,
    event: &ClerkEvent,
    delivery: &Delivery<'_>,
    now: i64,
) -> std::result::Result<Processed, &'static str> {
    let db = env.d1(D1_BINDING).map_err(|_| "d1")?;
    if already_delivered(&db, delivery.svix_id)
        .await
        .map_err(|_| "d1")?
    {
        return Ok(Processed::Duplicate);
    }
    let planned = effects(event);
    let mut statements = Vec::new();
    for effect in &planned {
        match effect {
            WebhookEffect::DenyUser { user_id } => {
                let value = deny_value(delivery.event_type, now);
                denylist::put(env, state, denylist::user_key(user_id), &value, None, now)
                    .await
                    .map_err(|_| "kv")?;
            }
            WebhookEffect::DenySession { session_id, .. } => {
                let value = deny_value(delivery.event_type, now);
                let ttl = Some(session_deny_ttl_seconds(DenyTtlInputs::WORST_CASE));
                denylist::put(
                    env,
                    state,
                    denylist::session_key(session_id),
                    &value,
                    ttl,
                    now,
                )
                .await
                .map_err(|_| "kv")?;
            }
            WebhookEffect::UpsertUser(user) => {
                statements.push(upsert_user(&db, user).map_err(|_| "d1")?);
            }
            WebhookEffect::DeleteUser { user_id } => {
                statements.extend(delete_user(&db, user_id, now).map_err(|_| "d1")?);
            }
        }
    }
    statements.push(record_delivery(&db, delivery, now).map_err(|_| "d1")?);
    let results = db.batch(statements).await.map_err(|_| "d1")?;
    if results.iter().all(D1Result::success) {
        Ok(Processed::Applied(planned))
    } else {
        Err("d1")
    }
}

async fn already_delivered(db: &D1Database, svix_id: &str) -> Result<bool> {
    // Raw rows, not `first::<T>()`: only their presence matters, and serde_wasm_bindgen would
    // add ~4 KB gzip to the Worker for it.
    let rows = db
        .prepare(SEEN_DELIVERY_SQL)
        .bind(&[JsValue::from_str(svix_id)])?
        .raw_js_value()
        .await?;
    Ok(!rows.is_empty())
}

fn upsert_user(db: &D1Database, user: &UserRecord) -> Result<D1PreparedStatement> {
    db.prepare(UPSERT_USER_SQL).bind(&[
        JsValue::from_str(&user.id),
        optional_text(user.primary_email.as_deref()),
        optional_text(user.first_name.as_deref()),
        optional_text(user.last_name.as_deref()),
        JsValue::from_f64(if user.banned { 1.0 } else { 0.0 }),
        integer(user.updated_at),
    ])
}

fn delete_user(db: &D1Database, user_id: &str, now: i64) -> Result<[D1PreparedStatement; 2]> {
    Ok([
        db.prepare(DELETE_USER_SQL)
            .bind(&[JsValue::from_str(user_id)])?,
        db.prepare(TOMBSTONE_USER_SQL)
            .bind(&[JsValue::from_str(user_id), integer(now)])?,
    ])
}

fn record_delivery(
    db: &D1Database,
    delivery: &Delivery<'_>,
    now: i64,
) -> Result<D1PreparedStatement> {
    db.prepare(RECORD_DELIVERY_SQL).bind(&[
        JsValue::from_str(delivery.svix_id),
        JsValue::from_str(delivery.event_type),
        integer(now),
    ])
}

fn optional_text(value: Option<&str>) -> JsValue {
    value.map_or(JsValue::NULL, JsValue::from_str)
}

/// The KV value of a deny-list entry written by a webhook: why (the event type) and when.
fn deny_value(event_type: &str, now: i64) -> String {
    DenyEntry {
        source: DenySource::Webhook,
        reason: Some(event_type.to_owned()),
        created_at: u64::try_from(now).unwrap_or(0),
    }
    .to_json()
}

/// The user (and session) an event is about, for the audit line.
fn subject(event: &ClerkEvent) -> Option<(&str, Option<&str>)> {
    match event {
        ClerkEvent::UserCreated(user) | ClerkEvent::UserUpdated(user) => Some((&user.id, None)),
        ClerkEvent::UserDeleted { user_id } => Some((user_id, None)),
        ClerkEvent::SessionEnded {
            session_id,
            user_id,
            ..
        } => Some((user_id, Some(session_id))),
        ClerkEvent::Other { .. } => None,
    }
}

fn effect_name(effect: &WebhookEffect) -> Value {
    Value::from(match effect {
        WebhookEffect::UpsertUser(_) => "upsert_user",
        WebhookEffect::DeleteUser { .. } => "delete_user",
        WebhookEffect::DenyUser { .. } => "deny_user",
        WebhookEffect::DenySession { .. } => "deny_session",
    })
}

/// Answers a refusal and leaves its audit line.
fn refuse(refusal: WebhookRefusal<'_>, request: &RequestContext, now: i64) -> Result<Response> {
    emit(&refusal.audit_event(), Some(request), now);
    let mut response = json_response(refusal.status(), &refusal.body())?;
    for (name, value) in refusal.headers() {
        response.headers_mut().set(name, &value)?;
    }
    Ok(response)
}

/// 500 for a verified event that was not durably applied: Svix retries, and the effects
/// are safe to apply again.
fn not_processed(failure: &Failure<'_>, request: &RequestContext, now: i64) -> Result<Response> {
    emit(
        &AuditEvent::new(Level::Error, "webhook.failed")
            .text("reason", "not-processed")
            .text("step", failure.step)
            .opt_text("svix_id", failure.svix_id)
            .opt_text("type", failure.event_type)
            .value("status", 500.into()),
        Some(request),
        now,
    );
    json_response(
        500,
        &json!({
            "error": "not-processed",
            "message": format!(
                "the event was not durably processed ({} failed); nothing is lost: Svix \
                 will redeliver it, and applying it again is safe",
                failure.step
            ),
        }),
    )
}
