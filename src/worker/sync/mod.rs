//! `/__clerk/admin/resync`, `/verify-sync` (each with `/cancel`) and `/export`: the I/O half
//! of [`crate::admin::sync`]. The routes start, cancel and show jobs stored in D1; the
//! [`runner`] Durable Object takes their steps in the background, so the operator's request
//! returns at once.
//!
//! Checks, in the order of the other admin routes: the route exists only with
//! `CLERK_ADMIN_TOKEN` (else 404), an invalid admin token disables it (500), then the method
//! (405 with `Allow`), the bearer token (401), and for a `POST` the content type (415) and the
//! size (413) before the body is parsed. Each job start, resume, cancel and end leaves one
//! `admin.resync` / `admin.verify_sync` line with the operator's reason.

mod export;
pub mod runner;
mod store;

use ::worker::{Env, Request, Response, Result};
use serde_json::{json, Value};

use crate::admin::revocation::{AdminError, MAX_BODY_BYTES};
use crate::admin::sync::{parse_cancel_body, parse_start_body, Job, JobKind, SyncError, SyncRoute};
use crate::audit::RequestContext;

use super::d1::D1_BINDING;
use super::isolate::IsolateState;
use super::{body, emit, json_response};

/// How many times a cancel re-reads a job that a step moved on meanwhile.
const CANCEL_ATTEMPTS: u32 = 3;

/// Handles a sync route.
pub async fn handle(
    route: SyncRoute,
    req: Request,
    env: &Env,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    let body = match admit(route, &req, state, request, now).await? {
        Admission::Body(body) => body,
        Admission::Answer(response) => return Ok(response),
    };
    let Ok(db) = env.d1(D1_BINDING) else {
        return sync_error(&SyncError::Misconfigured {
            detail: "the D1 binding CLERK_DB is missing: add [[d1_databases]] binding = \
                     \"CLERK_DB\" to wrangler.toml and apply the migrations",
        });
    };
    let outcome = match (route, body) {
        (SyncRoute::Export, _) => return export::respond(db, now),
        (SyncRoute::Job(kind), None) => status(&db, env, kind, now).await,
        (SyncRoute::Job(kind), Some(body)) => start(&db, env, kind, &body, request, now).await,
        (SyncRoute::Cancel(kind), body) => {
            cancel(&db, kind, body.as_deref().unwrap_or_default(), request, now).await
        }
    };
    match outcome {
        Ok(response) => Ok(response),
        Err(Refusal::Sync(error)) => sync_error(&error),
        Err(Refusal::Invalid(kind, error)) => invalid_request(kind, &error, request, now),
    }
}

enum Refusal {
    Sync(SyncError),
    Invalid(JobKind, AdminError),
}

impl From<SyncError> for Refusal {
    fn from(error: SyncError) -> Self {
        Refusal::Sync(error)
    }
}

/// `GET`: the last job of `kind`; a running one is kicked, so that a runner that lost its
/// alarm (a local restart) picks it up again.
async fn status(
    db: &::worker::D1Database,
    env: &Env,
    kind: JobKind,
    now: i64,
) -> std::result::Result<Response, Refusal> {
    let stored = store::load(db, kind).await.map_err(|_| storage("d1"))?;
    let Some(stored) = stored else {
        return json_response(
            200,
            &json!({
                "job": Value::Null,
                "message": format!("no {} has run yet: start one with POST {}", kind.noun(), kind.path()),
            }),
        )
        .map_err(|_| storage("response"));
    };
    if stored.job.state == crate::admin::sync::JobState::Running {
        // Best effort: the answer still shows the job if the kick fails.
        let _ = runner::kick(env).await;
    }
    json_response(200, &stored.job.status_json(now)).map_err(|_| storage("response"))
}

/// `POST`: a new job, or the last one resumed. 202: the job runs in the background.
async fn start(
    db: &::worker::D1Database,
    env: &Env,
    kind: JobKind,
    body: &[u8],
    request: &RequestContext,
    now: i64,
) -> std::result::Result<Response, Refusal> {
    if env.durable_object(runner::BINDING).is_err() {
        return Err(SyncError::Misconfigured {
            detail: "the Durable Object binding CLERK_SYNC is missing: add \
                     [[durable_objects.bindings]] name = \"CLERK_SYNC\", class_name = \
                     \"SyncRunner\" (and its migration) to wrangler.toml, as in the README",
        }
        .into());
    }
    let start = parse_start_body(kind, body).map_err(|error| Refusal::Invalid(kind, error))?;
    let last = store::load(db, kind).await.map_err(|_| storage("d1"))?;
    let version = last.as_ref().map_or(0.0, |stored| stored.version);
    let job = Job::start(kind, &start, last.map(|stored| stored.job), now)?;
    if !store::store_started(db, &job, version)
        .await
        .map_err(|_| storage("d1"))?
    {
        // Another start (or the runner) wrote the row since it was read.
        return Err(SyncError::Contended.into());
    }
    let action = if start.resume { "resume" } else { "start" };
    emit(
        &job.audit_event(action, &start.reason)
            .value("status", json!(202)),
        Some(request),
        now,
    );
    let kicked = runner::kick(env).await.is_ok();
    let mut body = job.status_json(now);
    if let Value::Object(map) = &mut body {
        let message = if kicked {
            format!(
                "the {} runs in the background: watch it with GET {}",
                kind.noun(),
                kind.path()
            )
        } else {
            format!(
                "the {} is stored but its runner did not answer yet: GET {} starts it",
                kind.noun(),
                kind.path()
            )
        };
        map.insert("message".into(), message.into());
    }
    json_response(202, &body).map_err(|_| storage("response"))
}

/// `POST …/cancel`: stops the running job after its current step.
async fn cancel(
    db: &::worker::D1Database,
    kind: JobKind,
    body: &[u8],
    request: &RequestContext,
    now: i64,
) -> std::result::Result<Response, Refusal> {
    let cancel = parse_cancel_body(body).map_err(|error| Refusal::Invalid(kind, error))?;
    for _ in 0..CANCEL_ATTEMPTS {
        let Some(mut stored) = store::load(db, kind).await.map_err(|_| storage("d1"))? else {
            return Err(SyncError::NothingToCancel { kind }.into());
        };
        stored.job.cancel(&cancel.reason, now)?;
        match store::commit_job(db, &mut stored).await {
            Ok(()) => {
                emit(
                    &stored
                        .job
                        .audit_event("cancel", &cancel.reason)
                        .value("status", json!(200)),
                    Some(request),
                    now,
                );
                return json_response(200, &stored.job.status_json(now))
                    .map_err(|_| storage("response"));
            }
            Err(store::CommitError::Moved) => continue,
            Err(store::CommitError::Storage) => return Err(storage("d1")),
        }
    }
    Err(SyncError::Contended.into())
}

fn storage(step: &'static str) -> Refusal {
    Refusal::Sync(SyncError::StorageUnavailable { step })
}

/// What the checks before the work decided.
enum Admission {
    /// Go on: the body of a `POST` (`None` for a `GET`).
    Body(Option<Vec<u8>>),
    /// Answered already (with its audit line).
    Answer(Response),
}

async fn admit(
    route: SyncRoute,
    req: &Request,
    state: &IsolateState,
    request: &RequestContext,
    now: i64,
) -> Result<Admission> {
    let method = req.method();
    let method = method.as_ref();
    let allowed = route.allows(method);
    if let Some(answer) =
        super::admin::check_access(req, state, request, now, allowed, route.allow())?
    {
        return Ok(Admission::Answer(answer));
    }
    if method != "POST" {
        return Ok(Admission::Body(None));
    }
    let kind = match route {
        SyncRoute::Job(kind) | SyncRoute::Cancel(kind) => kind,
        SyncRoute::Export => JobKind::Resync,
    };
    let invalid =
        |error: AdminError| invalid_request(kind, &error, request, now).map(Admission::Answer);
    let json_type = req
        .headers()
        .get("content-type")
        .ok()
        .flatten()
        .as_deref()
        .is_some_and(crate::admin::revocation::is_json_content_type);
    if !json_type {
        return invalid(AdminError::UnsupportedMediaType);
    }
    match body::read_limited(req, MAX_BODY_BYTES).await {
        Ok(body::Body::Complete(bytes)) => Ok(Admission::Body(Some(bytes))),
        Ok(body::Body::TooLarge(_)) => invalid(AdminError::BodyTooLarge),
        Err(_) => invalid(AdminError::BodyUnreadable),
    }
}

/// Answers an authenticated request whose body is not acceptable, with its line.
fn invalid_request(
    kind: JobKind,
    error: &AdminError,
    request: &RequestContext,
    now: i64,
) -> Result<Response> {
    super::admin::refuse_invalid(kind.audit_event(), error, request, now)
}

fn sync_error(error: &SyncError) -> Result<Response> {
    json_response(error.status(), &error.to_json())
}
