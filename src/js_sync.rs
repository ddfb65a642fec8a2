//! wasm-bindgen exports of the resync and integrity-check job ([`crate::admin::sync`]) for
//! `pkg-js/sync.js` (feature `js`): `resyncUsers` and `verifySync` in Node and edge runtimes.
//!
//! Stateless: every export takes the job in its stored form ([`Job::to_json`], the JSON text
//! the package hands out as an opaque `cursor`) and answers the job after the step, so the
//! JavaScript side only moves data, as the Worker's Durable Object does (see
//! `tests/sync_job.rs` for the loop). Everything crosses the boundary as JSON text; every
//! answer is a JSON object, `{"error": code, "message": text}` when an input is refused
//! (the core's codes for a start body: `invalid-json`, `invalid-field`, `unknown-field`,
//! `job-running`, `nothing-to-resume`, …; `invalid-job` for a job that is not readable,
//! `invalid-input` for users, rows or ids that are not what the step expects).
//!
//! Users and stored rows cross as `{"id", "primary_email", "first_name", "last_name",
//! "banned", "updated_at"}` (the columns of the `users` table; `banned` may be a boolean or
//! SQLite's 0/1; `updated_at` is Unix ms). Nothing answered here holds the secret key except
//! the `headers` of a `call` action, which go to `fetch` only.

use serde_json::{json, Map, Value};
use wasm_bindgen::prelude::wasm_bindgen;

use crate::admin::sync::{
    parse_start_body, CallResult, Job, JobAction, JobKind, JobState, SweepRow,
    API_ATTEMPT_TIMEOUT_MS,
};
use crate::clerk_api::{request_url, ApiOutcome, DEFAULT_API_URL};
use crate::webhook::{row_id, row_millis, UserRecord};

/// Longest storage error text kept in a job (the core keeps 400 characters of any error).
const MAX_STORAGE_DETAIL_CHARS: usize = 300;

fn now_ms(now: f64) -> i64 {
    if now.is_finite() {
        now as i64
    } else {
        0
    }
}

fn count(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value as u64
    } else {
        0
    }
}

fn error(code: &str, message: impl Into<String>) -> String {
    json!({ "error": code, "message": message.into() }).to_string()
}

fn kind_of(kind: &str) -> Result<JobKind, String> {
    JobKind::parse(kind).ok_or_else(|| {
        error(
            "invalid-kind",
            "the job kind must be \"resync\" or \"verify\"",
        )
    })
}

fn load(job_json: &str) -> Result<Job, String> {
    Job::from_json(job_json).map_err(|problem| error("invalid-job", problem.detail))
}

/// `{"job": <stored form>}` plus `extra`'s fields.
fn answer(job: &Job, extra: Value) -> String {
    let mut map = Map::new();
    map.insert("job".into(), Value::String(job.to_json()));
    if let Value::Object(fields) = extra {
        map.extend(fields);
    }
    Value::Object(map).to_string()
}

/// A JSON array, each entry read by `read` (`what` names the list in messages).
fn list_of<T>(
    text: &str,
    what: &str,
    read: impl Fn(&Value, &str) -> Result<T, String>,
) -> Result<Vec<T>, String> {
    let refused = |message: String| error("invalid-input", message);
    let value: Value = serde_json::from_str(text)
        .map_err(|problem| refused(format!("{what}: not JSON ({problem})")))?;
    let Value::Array(entries) = value else {
        return Err(refused(format!("{what}: expected an array")));
    };
    entries
        .iter()
        .enumerate()
        .map(|(index, entry)| read(entry, &format!("{what}[{index}]")).map_err(refused))
        .collect()
}

fn records(text: &str, what: &str) -> Result<Vec<UserRecord>, String> {
    list_of(text, what, |value, what| {
        UserRecord::from_row(value).map_err(|problem| format!("{what}: {problem}"))
    })
}

fn ids(text: &str, what: &str) -> Result<Vec<String>, String> {
    list_of(text, what, |value, what| match value {
        Value::String(id) => Ok(id.clone()),
        _ => Err(format!("{what} is not a string id")),
    })
}

fn sweep_rows(text: &str) -> Result<Vec<SweepRow>, String> {
    list_of(text, "rows", |value, what| {
        let object = value
            .as_object()
            .ok_or_else(|| format!("{what} is not an object"))?;
        let field = |problem: String| format!("{what}: {problem}");
        Ok(SweepRow {
            id: row_id(object).map_err(field)?,
            updated_at: row_millis(object).map_err(field)?,
            seen: object.get("seen").and_then(Value::as_bool).unwrap_or(false),
        })
    })
}

/// `{"status", "body", "retry_after"}` | `{"timeout": true}` | `{"network_error": text}` (the
/// shapes of src/js.rs), or `{"secret_key_missing": true}`: no key was given, answered as
/// Clerk answers a missing key (401, not retried), so the job fails naming the variable.
fn api_outcome(text: &str) -> ApiOutcome {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    if value.get("secret_key_missing").and_then(Value::as_bool) == Some(true) {
        return ApiOutcome::secret_key_missing();
    }
    ApiOutcome::from_json(&value)
}

/// Starts a job (`kind`: `resync` or `verify`) from a start body as the Worker's routes take
/// it (`{"reason", "dry_run", "page_size", "resume"}`), given the last job of the kind (`""`:
/// none). Answers `{"job"}` or the core's refusal `{"error", "message"}`.
#[wasm_bindgen(js_name = syncJobStart)]
pub fn sync_job_start(kind: &str, start_json: &str, last_job_json: &str, now: f64) -> String {
    let kind = match kind_of(kind) {
        Ok(kind) => kind,
        Err(refused) => return refused,
    };
    let request = match parse_start_body(kind, start_json.as_bytes()) {
        Ok(request) => request,
        Err(refused) => return error(refused.code(), refused.to_string()),
    };
    let last = if last_job_json.trim().is_empty() {
        None
    } else {
        match load(last_job_json) {
            Ok(job) => Some(job),
            Err(refused) => return refused,
        }
    };
    match Job::start(kind, &request, last, now_ms(now)) {
        Ok(job) => answer(&job, json!({ "resumed": request.resume })),
        Err(refused) => refused.to_json().to_string(),
    }
}

/// Continues the job of a cursor (`kind` must match): a failed or cancelled job is resumed
/// as the core resumes it (`reason` is the operator's reason of the resume); a job stored
/// while running (the process stopped mid-way) continues as it is. A job that is done has
/// nothing to resume (`nothing-to-resume`). A cursor that is not a job: `invalid-cursor`.
#[wasm_bindgen(js_name = syncJobContinue)]
pub fn sync_job_continue(kind: &str, cursor: &str, reason: &str, now: f64) -> String {
    let kind = match kind_of(kind) {
        Ok(kind) => kind,
        Err(refused) => return refused,
    };
    let job = match Job::from_json(cursor) {
        Ok(job) if job.kind == kind => job,
        Ok(job) => {
            return error(
                "invalid-cursor",
                format!(
                    "the cursor is of a {} job, not of a {}",
                    job.kind.noun(),
                    kind.noun()
                ),
            )
        }
        Err(_) => {
            return error(
                "invalid-cursor",
                "the cursor is not one this package returned: pass the cursor of an earlier \
                 run unchanged, or start a new run without one",
            )
        }
    };
    // The reason is checked as a resume body's (required, at most 500 characters).
    let body = json!({ "reason": reason, "resume": true }).to_string();
    let request = match parse_start_body(kind, body.as_bytes()) {
        Ok(request) => request,
        Err(refused) => return error(refused.code(), refused.to_string()),
    };
    if job.state == JobState::Running {
        return answer(&job, json!({ "resumed": false }));
    }
    match Job::start(kind, &request, Some(job), now_ms(now)) {
        Ok(job) => answer(&job, json!({ "resumed": true })),
        Err(refused) => refused.to_json().to_string(),
    }
}

/// What to do next: `{"action": "stop"}`, `{"action": "wait", "until", "wait_ms"}`,
/// `{"action": "call", "method", "url", "headers": [[name, value]…], "timeout_ms"}` (one
/// attempt; feed its outcome to `syncJobFeed`), `{"action": "sweep", "after", "limit"}` or
/// `{"action": "clear", "limit"}`. `api_url` empty: Clerk's default. Only the call's
/// `headers` hold `secret_key`.
#[wasm_bindgen(js_name = syncJobNext)]
pub fn sync_job_next(job_json: &str, api_url: &str, secret_key: &str, now: f64) -> String {
    let job = match load(job_json) {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    let now = now_ms(now);
    match job.next_action(now) {
        JobAction::Stop => json!({ "action": "stop" }),
        JobAction::WaitUntil(until) => json!({
            "action": "wait",
            "until": until,
            "wait_ms": until.saturating_sub(now).max(0),
        }),
        JobAction::Call(request) => {
            let base = if api_url.trim().is_empty() {
                DEFAULT_API_URL
            } else {
                api_url.trim()
            };
            json!({
                "action": "call",
                "method": request.method.as_str(),
                "url": request_url(base, &request),
                "headers": request
                    .headers(secret_key)
                    .into_iter()
                    .map(|(name, value)| json!([name, value]))
                    .collect::<Vec<_>>(),
                "timeout_ms": API_ATTEMPT_TIMEOUT_MS,
            })
        }
        JobAction::Sweep { after, limit } => {
            json!({ "action": "sweep", "after": after, "limit": limit })
        }
        JobAction::ClearSeen { limit } => json!({ "action": "clear", "limit": limit }),
    }
    .to_string()
}

/// Feeds the outcome of a `call` (src/js.rs's shapes, or `{"secret_key_missing": true}`).
/// Answers `{"job", "result"}`: `continue`, `retry` (the next action is a wait), `failed`
/// (the job ended; `last_error` says why), or `page` with `"users"`: read their rows, then
/// `syncJobApplyPage`.
#[wasm_bindgen(js_name = syncJobFeed)]
pub fn sync_job_feed(job_json: &str, outcome_json: &str, now: f64) -> String {
    let mut job = match load(job_json) {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    match job.on_api_outcome(api_outcome(outcome_json), now_ms(now)) {
        CallResult::Continue => answer(&job, json!({ "result": "continue" })),
        CallResult::Retry => answer(&job, json!({ "result": "retry" })),
        CallResult::Failed => answer(&job, json!({ "result": "failed" })),
        CallResult::Page(users) => answer(
            &job,
            json!({
                "result": "page",
                "users": users.iter().map(UserRecord::to_json).collect::<Vec<_>>(),
            }),
        ),
    }
}

/// Applies a page (`users_json`: the page's users as `syncJobFeed` gave them) against the
/// stored rows of those ids (`rows_json`) and their tombstones (`tombstoned_json`: ids).
/// Answers `{"job", "upserts": [user…], "seen": [id…]}`: write the upserts with the webhook
/// route's guarded statement, then `syncJobCommitted`.
#[wasm_bindgen(js_name = syncJobApplyPage)]
pub fn sync_job_apply_page(
    job_json: &str,
    users_json: &str,
    rows_json: &str,
    tombstoned_json: &str,
    now: f64,
) -> String {
    let inputs = load(job_json).and_then(|job| {
        Ok((
            job,
            records(users_json, "users")?,
            records(rows_json, "rows")?,
            ids(tombstoned_json, "tombstones")?,
        ))
    });
    let (mut job, users, rows, tombstoned) = match inputs {
        Ok(inputs) => inputs,
        Err(refused) => return refused,
    };
    let writes = job.apply_page(&users, &rows, &tombstoned, now_ms(now));
    answer(
        &job,
        json!({
            "upserts": writes.upserts.iter().map(UserRecord::to_json).collect::<Vec<_>>(),
            "seen": writes.seen,
        }),
    )
}

/// Tells the job how many of the `planned` writes the table took (`written`): the rest were
/// raced by a webhook. Answers `{"job"}`.
#[wasm_bindgen(js_name = syncJobCommitted)]
pub fn sync_job_committed(job_json: &str, planned: f64, written: f64) -> String {
    match load(job_json) {
        Ok(mut job) => {
            job.on_committed(count(planned), count(written));
            answer(&job, json!({}))
        }
        Err(refused) => refused,
    }
}

/// Applies a sweep chunk: `rows_json` is `[{"id", "updated_at", "seen"}…]` in id order, after
/// the action's `after`. Answers `{"job", "remove": [id…]}`.
#[wasm_bindgen(js_name = syncJobApplySweep)]
pub fn sync_job_apply_sweep(job_json: &str, rows_json: &str, now: f64) -> String {
    let inputs = load(job_json).and_then(|job| Ok((job, sweep_rows(rows_json)?)));
    let (mut job, rows) = match inputs {
        Ok(inputs) => inputs,
        Err(refused) => return refused,
    };
    let writes = job.apply_sweep(&rows, now_ms(now));
    answer(&job, json!({ "remove": writes.remove }))
}

/// Tells the job how many "seen" ids a `clear` action deleted. Answers `{"job"}`.
#[wasm_bindgen(js_name = syncJobCleared)]
pub fn sync_job_cleared(job_json: &str, deleted: f64, now: f64) -> String {
    match load(job_json) {
        Ok(mut job) => {
            job.on_cleared(count(deleted), now_ms(now));
            answer(&job, json!({}))
        }
        Err(refused) => refused,
    }
}

/// Cancels a running job (its cursor is kept: a resume continues it). Answers `{"job"}` or
/// `nothing-to-cancel`.
#[wasm_bindgen(js_name = syncJobCancel)]
pub fn sync_job_cancel(job_json: &str, reason: &str, now: f64) -> String {
    let mut job = match load(job_json) {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    match job.cancel(reason, now_ms(now)) {
        Ok(()) => answer(&job, json!({})),
        Err(refused) => refused.to_json().to_string(),
    }
}

/// The application's storage failed during a step (`step`: which callback, `detail`: its
/// error text, which must not hold a secret): the step was not committed, the failure is
/// counted, and the job ends `failed` with that reason, so that a resume takes the step
/// again. Answers `{"job"}`.
#[wasm_bindgen(js_name = syncJobStorageFailed)]
pub fn sync_job_storage_failed(job_json: &str, step: &str, detail: &str, now: f64) -> String {
    let mut job = match load(job_json) {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    let detail: String = detail.chars().take(MAX_STORAGE_DETAIL_CHARS).collect();
    job.fail_on_storage(step, &detail, now_ms(now));
    answer(&job, json!({}))
}

/// The body of the status route: `{"job": {...}}` with the counters (resync) or the report
/// (integrity check).
#[wasm_bindgen(js_name = syncJobStatus)]
pub fn sync_job_status(job_json: &str, now: f64) -> String {
    match load(job_json) {
        Ok(job) => job.status_json(now_ms(now)).to_string(),
        Err(refused) => refused,
    }
}

/// The job's audit line for `action` (`start`, `resume`, `done`, `failed`, `cancel`), as
/// `{"line"}`: one JSON line, as the Worker prints it.
#[wasm_bindgen(js_name = syncJobAudit)]
pub fn sync_job_audit(job_json: &str, action: &str, operator_reason: &str, now: f64) -> String {
    let job = match load(job_json) {
        Ok(job) => job,
        Err(refused) => return refused,
    };
    let action = match action {
        "start" => "start",
        "resume" => "resume",
        "done" => "done",
        "failed" => "failed",
        "cancel" => "cancel",
        _ => {
            return error(
                "invalid-input",
                "the action must be start, resume, done, failed or cancel",
            )
        }
    };
    let line = job
        .audit_event(action, operator_reason)
        .to_line(now_ms(now));
    json!({ "line": line }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: f64 = 1_800_000_000_000.0;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn job_of(answer: &str) -> String {
        parse(answer)["job"].as_str().unwrap().to_owned()
    }

    fn clerk_user(index: usize) -> Value {
        json!({
            "object": "user",
            "id": format!("user_{index:03}"),
            "first_name": format!("First{index}"),
            "last_name": null,
            "banned": false,
            "primary_email_address_id": format!("idn_{index}"),
            "email_addresses": [{"id": format!("idn_{index}"), "email_address": format!("u{index}@example.com")}],
            "created_at": 1,
            "updated_at": 1_000 + index,
        })
    }

    fn ok(body: Value) -> String {
        json!({ "status": 200, "body": body.to_string() }).to_string()
    }

    #[test]
    fn a_resync_walks_pages_and_plans_the_webhook_writes() {
        let job = job_of(&sync_job_start(
            "resync",
            r#"{"reason":"INC-1","page_size":2}"#,
            "",
            T0,
        ));
        let next = parse(&sync_job_next(&job, "", "sk_test_secret", T0));
        assert_eq!(next["action"], "call");
        assert_eq!(next["url"], "https://api.clerk.com/v1/users/count");
        assert_eq!(next["timeout_ms"], 15_000);
        let headers = next["headers"].to_string();
        assert!(headers.contains("Bearer sk_test_secret"), "{headers}");
        let fed = parse(&sync_job_feed(
            &job,
            &ok(json!({"object": "total_count", "total_count": 3})),
            T0,
        ));
        assert_eq!(fed["result"], "continue");
        let job = fed["job"].as_str().unwrap().to_owned();
        assert!(!job.contains("sk_test_secret"));
        let next = parse(&sync_job_next(&job, "http://127.0.0.1:9/", "sk", T0));
        assert_eq!(
            next["url"],
            "http://127.0.0.1:9/v1/users?order_by=%2Bcreated_at&limit=2"
        );

        let fed = parse(&sync_job_feed(
            &job,
            &ok(json!([clerk_user(0), clerk_user(1)])),
            T0,
        ));
        assert_eq!(fed["result"], "page");
        let users = fed["users"].to_string();
        assert_eq!(fed["users"][0]["primary_email"], "u0@example.com");
        // A newer stored row for user 1 is kept; user 0 is inserted.
        let rows = json!([{"id": "user_001", "primary_email": null, "first_name": null,
            "last_name": null, "banned": 0, "updated_at": 5_000}])
        .to_string();
        let applied = parse(&sync_job_apply_page(
            fed["job"].as_str().unwrap(),
            &users,
            &rows,
            "[]",
            T0,
        ));
        assert_eq!(applied["upserts"].as_array().unwrap().len(), 1);
        assert_eq!(applied["upserts"][0]["id"], "user_000");
        assert_eq!(applied["seen"], json!([]));
        let job = job_of(&sync_job_committed(
            applied["job"].as_str().unwrap(),
            1.0,
            1.0,
        ));
        let status = parse(&sync_job_status(&job, T0 + 10.0));
        assert_eq!(status["job"]["inserted"], 1);
        assert_eq!(status["job"]["kept_newer"], 1);
        assert_eq!(status["job"]["written"], 1);
        assert_eq!(status["job"]["state"], "running");
        let next = parse(&sync_job_next(&job, "", "sk", T0));
        assert!(next["url"]
            .as_str()
            .unwrap()
            .ends_with("&starting_after=user_001"));

        // The short last page ends the job.
        let fed = parse(&sync_job_feed(&job, &ok(json!([clerk_user(2)])), T0));
        let applied = parse(&sync_job_apply_page(
            fed["job"].as_str().unwrap(),
            &fed["users"].to_string(),
            "[]",
            r#"["user_002"]"#,
            T0,
        ));
        assert_eq!(applied["upserts"], json!([]));
        let job = job_of(&sync_job_committed(
            applied["job"].as_str().unwrap(),
            0.0,
            0.0,
        ));
        assert_eq!(parse(&sync_job_next(&job, "", "sk", T0))["action"], "stop");
        let status = parse(&sync_job_status(&job, T0));
        assert_eq!(status["job"]["state"], "done");
        assert_eq!(status["job"]["conflicts"], 1);
        let audit = parse(&sync_job_audit(&job, "done", "INC-1", T0));
        let line = parse(audit["line"].as_str().unwrap());
        assert_eq!(line["event"], "admin.resync");
        assert_eq!(line["inserted"], 1);
    }

    #[test]
    fn rate_limits_wait_and_failures_are_resumable() {
        let job = job_of(&sync_job_start("resync", r#"{"reason":"r"}"#, "", T0));
        let limited = json!({"status": 429, "body": "", "retry_after": "3"}).to_string();
        let fed = parse(&sync_job_feed(&job, &limited, T0));
        assert_eq!(fed["result"], "retry");
        let job = fed["job"].as_str().unwrap().to_owned();
        let next = parse(&sync_job_next(&job, "", "sk", T0 + 1_000.0));
        assert_eq!(next["action"], "wait");
        assert_eq!(next["wait_ms"], 2_000);

        let fed = parse(&sync_job_feed(
            &job,
            r#"{"secret_key_missing":true}"#,
            T0 + 3_000.0,
        ));
        assert_eq!(fed["result"], "failed");
        let failed = fed["job"].as_str().unwrap().to_owned();
        let status = parse(&sync_job_status(&failed, T0));
        assert!(status["job"]["last_error"]
            .as_str()
            .unwrap()
            .contains("CLERK_SECRET_KEY"));
        // Resumed from the cursor; a second resume of a running one continues it as is.
        let resumed = parse(&sync_job_continue("resync", &failed, "retry", T0 + 4_000.0));
        assert_eq!(resumed["resumed"], true);
        let running = resumed["job"].as_str().unwrap().to_owned();
        let again = parse(&sync_job_continue("resync", &running, "r", T0));
        assert_eq!(again["resumed"], false);
        assert_eq!(again["job"].as_str().unwrap(), running);
        assert_eq!(
            parse(&sync_job_continue("verify", &running, "r", T0))["error"],
            "invalid-cursor"
        );
        assert_eq!(
            parse(&sync_job_continue("resync", "nope", "r", T0))["error"],
            "invalid-cursor"
        );
        assert_eq!(
            parse(&sync_job_continue("resync", &running, " ", T0))["error"],
            "invalid-field"
        );
        // A start while the last job runs is the core's refusal.
        let refused = parse(&sync_job_start("resync", r#"{"reason":"r"}"#, &running, T0));
        assert_eq!(refused["error"], "job-running");
    }

    #[test]
    fn cancel_sweep_and_clear_follow_the_core() {
        let job = job_of(&sync_job_start("verify", r#"{"reason":"check"}"#, "", T0));
        assert_eq!(
            parse(&sync_job_next(&job, "", "sk", T0)),
            json!({"action": "clear", "limit": 20_000})
        );
        let job = job_of(&sync_job_cleared(&job, 0.0, T0));
        let fed = parse(&sync_job_feed(
            &job,
            &ok(json!({"object": "total_count", "total_count": 1})),
            T0,
        ));
        let fed = parse(&sync_job_feed(
            fed["job"].as_str().unwrap(),
            &ok(json!([clerk_user(0)])),
            T0,
        ));
        let applied = parse(&sync_job_apply_page(
            fed["job"].as_str().unwrap(),
            &fed["users"].to_string(),
            "[]",
            "[]",
            T0,
        ));
        assert_eq!(applied["seen"], json!(["user_000"]));
        let job = applied["job"].as_str().unwrap().to_owned();
        assert_eq!(
            parse(&sync_job_next(&job, "", "sk", T0)),
            json!({"action": "sweep", "after": null, "limit": 2_000})
        );
        let rows = json!([{"id": "user_gone", "updated_at": 1, "seen": false}]).to_string();
        let swept = parse(&sync_job_apply_sweep(&job, &rows, T0));
        assert_eq!(swept["remove"], json!([]));
        let job = swept["job"].as_str().unwrap().to_owned();
        let job = job_of(&sync_job_cleared(&job, 1.0, T0));
        let status = parse(&sync_job_status(&job, T0));
        assert_eq!(status["job"]["state"], "done");
        assert_eq!(status["job"]["in_sync"], false);
        assert_eq!(
            status["job"]["report"]["missing_in_edge"]["sample"],
            json!(["user_000"])
        );
        assert_eq!(
            status["job"]["report"]["missing_in_clerk"]["sample"],
            json!(["user_gone"])
        );
        assert_eq!(
            parse(&sync_job_cancel(&job, "r", T0))["error"],
            "nothing-to-cancel"
        );

        let running = job_of(&sync_job_start("resync", r#"{"reason":"r"}"#, "", T0));
        let cancelled = job_of(&sync_job_cancel(&running, "stop", T0));
        assert_eq!(
            parse(&sync_job_status(&cancelled, T0))["job"]["state"],
            "cancelled"
        );
        let failed = job_of(&sync_job_storage_failed(
            &running,
            "upsertUser",
            "disk full",
            T0,
        ));
        let status = parse(&sync_job_status(&failed, T0));
        assert_eq!(status["job"]["state"], "failed");
        assert_eq!(status["job"]["errors"], 1);
        let message = status["job"]["last_error"].as_str().unwrap();
        assert!(
            message.contains("upsertUser failed (disk full)"),
            "{message}"
        );
    }

    #[test]
    fn bad_inputs_are_refused_with_a_code_never_a_panic() {
        for (answer, code) in [
            (sync_job_start("nope", "{}", "", T0), "invalid-kind"),
            (sync_job_start("resync", "{", "", T0), "invalid-json"),
            (sync_job_start("resync", "{}", "", T0), "invalid-field"),
            (
                sync_job_start("verify", r#"{"reason":"r","dry_run":true}"#, "", T0),
                "unknown-field",
            ),
            (
                sync_job_start("resync", r#"{"reason":"r","resume":true}"#, "", T0),
                "nothing-to-resume",
            ),
            (
                sync_job_start("resync", r#"{"reason":"r"}"#, "[", T0),
                "invalid-job",
            ),
            (sync_job_next("", "", "sk", T0), "invalid-job"),
            (sync_job_feed("{}", "{}", T0), "invalid-job"),
            (sync_job_status("null", T0), "invalid-job"),
            (sync_job_committed("x", 1.0, 1.0), "invalid-job"),
            (sync_job_cleared("x", 1.0, T0), "invalid-job"),
            (sync_job_cancel("x", "r", T0), "invalid-job"),
            (sync_job_storage_failed("x", "s", "d", T0), "invalid-job"),
            (sync_job_audit("x", "done", "r", T0), "invalid-job"),
        ] {
            assert_eq!(parse(&answer)["error"], code, "{answer}");
            assert!(parse(&answer)["message"].is_string(), "{answer}");
        }
        let job = job_of(&sync_job_start("resync", r#"{"reason":"r"}"#, "", T0));
        for (users, rows, tombstones, problem) in [
            ("{", "[]", "[]", "users: not JSON"),
            ("{}", "[]", "[]", "users: expected an array"),
            (r#"[{"id":""}]"#, "[]", "[]", "users[0]: id"),
            (
                r#"[{"id":"u","updated_at":"x"}]"#,
                "[]",
                "[]",
                "users[0]: updated_at",
            ),
            (
                "[]",
                r#"[{"id":"u","updated_at":1,"banned":"yes"}]"#,
                "[]",
                "rows[0]: banned",
            ),
            (
                "[]",
                r#"[{"id":"u","updated_at":1,"first_name":3}]"#,
                "[]",
                "rows[0]: first_name",
            ),
            ("[]", "[]", "[1]", "tombstones[0]"),
        ] {
            let answer = parse(&sync_job_apply_page(&job, users, rows, tombstones, T0));
            assert_eq!(answer["error"], "invalid-input");
            let message = answer["message"].as_str().unwrap();
            assert!(message.contains(problem), "{message}");
        }
        let answer = parse(&sync_job_apply_sweep(&job, r#"[{"updated_at":1}]"#, T0));
        assert_eq!(answer["error"], "invalid-input");
        assert_eq!(
            parse(&sync_job_audit(&job, "explode", "r", T0))["error"],
            "invalid-input"
        );
        // Garbage outcomes are network errors; non-finite clocks and counts are harmless.
        let fed = parse(&sync_job_feed(&job, "not json", f64::NAN));
        assert_eq!(fed["result"], "retry");
        assert!(parse(&sync_job_committed(&job, f64::INFINITY, -1.0))["job"].is_string());
    }
}
