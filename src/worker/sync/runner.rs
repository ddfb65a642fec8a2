//! The Durable Object that runs the jobs: `SyncRunner`, one instance (named `sync`).
//!
//! Why a Durable Object with alarms (and not Queues): a job is one sequence of steps whose
//! every step depends on the last (the cursor), so it needs exactly one runner at a time,
//! not a fan-out; an alarm is durable (it survives redeploys and crashes, and the runtime
//! retries a failed alarm handler), wakes the object at a given time (a 429's `Retry-After`
//! is a scheduled alarm, not a sleeping invocation), and needs no queue, consumer or
//! dead-letter configuration. The job itself lives in D1, committed with each step's writes,
//! so the object keeps nothing but its alarm: a lost alarm is re-armed by the next status
//! read (`GET /__clerk/admin/resync` kicks the runner while a job is running).
//!
//! Each alarm takes steps until a budget is spent ([`MAX_SUBREQUESTS_PER_ALARM`] Backend API
//! calls and D1 statements, [`TIME_BUDGET_MS`]), then re-arms itself at once, or at the time
//! a rate limit or backoff asks for.

use ::worker::{durable_object, DurableObject, Env, Request, Response, Result, State};

use crate::admin::sync::{
    CallResult, Job, JobAction, JobKind, JobState, API_ATTEMPT_TIMEOUT_MS, RECENT_CHANGE_MARGIN_MS,
};
use crate::audit::{Level, RequestContext};
use crate::clerk_api::ApiOutcome;
use crate::config::Config;

use super::super::d1::D1_BINDING;
use super::super::isolate;
use super::super::{backend, emit};
use super::store::{self, CommitError, Stored};

/// The Durable Object binding (`wrangler.toml`: `[[durable_objects.bindings]]`).
pub const BINDING: &str = "CLERK_SYNC";
/// The one instance's name.
const INSTANCE: &str = "sync";
/// Subrequests (Backend API attempts and D1 statements) one alarm may make: under the
/// Workers Free plan's 50 per invocation, with room for re-arming.
pub const MAX_SUBREQUESTS_PER_ALARM: u32 = 45;
/// Wall time one alarm spends taking steps (alarms may run up to 15 minutes; shorter runs
/// keep a redeploy's interruption small).
pub const TIME_BUDGET_MS: i64 = 20_000;
/// How long to wait after a D1 failure before trying the step again.
const STORAGE_RETRY_MS: i64 = 5_000;

/// The job runner.
#[durable_object]
pub struct SyncRunner {
    state: State,
    env: Env,
}

impl DurableObject for SyncRunner {
    fn new(state: State, env: Env) -> Self {
        Self { state, env }
    }

    /// Any request is a kick: arm the alarm now unless one is already set (a wait keeps its
    /// time).
    async fn fetch(&self, _req: Request) -> Result<Response> {
        let storage = self.state.storage();
        if storage.get_alarm().await?.is_none() {
            storage.set_alarm(0).await?;
        }
        Response::ok("armed")
    }

    async fn alarm(&self) -> Result<Response> {
        // The isolate's configuration, parsed (and its problems logged) once per isolate, as
        // for requests; the alarm's own line fields say where it came from.
        let alarm = RequestContext::new("sync-runner-alarm", "ALARM", INSTANCE, "", "");
        let state = isolate::state(&self.env, &alarm, isolate::now_ms());
        if let Some(delay) = run_jobs(&self.env, &state.config).await {
            self.state.storage().set_alarm(delay).await?;
        }
        Response::ok("done")
    }
}

/// Asks the runner to take steps (after a start, a resume, or a status read of a running
/// job). Failing to kick is not fatal: the job is stored, and the next kick runs it.
pub async fn kick(env: &Env) -> Result<()> {
    let stub = env
        .durable_object(BINDING)?
        .id_from_name(INSTANCE)?
        .get_stub()?;
    stub.fetch_with_str("https://sync-runner.internal/kick")
        .await
        .map(|_| ())
}

/// When to wake next.
enum Wake {
    /// No running job.
    Never,
    /// Budget spent with work left: at once.
    Now,
    /// A wait: at this time (Unix ms).
    At(i64),
}

/// Steps every running job; returns the delay (ms) of the next alarm, if one is needed.
async fn run_jobs(env: &Env, config: &Config) -> Option<i64> {
    let Ok(db) = env.d1(D1_BINDING) else {
        emit(
            &crate::audit::AuditEvent::new(Level::Error, "admin.resync")
                .text("action", "runner")
                .text("reason", "misconfigured")
                .text("detail", "the D1 binding CLERK_DB is missing"),
            None,
            isolate::now_ms(),
        );
        return None;
    };
    let started = isolate::now_ms();
    let mut budget = Budget {
        subrequests: MAX_SUBREQUESTS_PER_ALARM,
        until: started + TIME_BUDGET_MS,
    };
    let mut next: Option<i64> = None;
    for kind in [JobKind::Resync, JobKind::Verify] {
        let wake = run_job(&db, config, kind, &mut budget).await;
        let at = match wake {
            Wake::Never => continue,
            Wake::Now => isolate::now_ms(),
            Wake::At(at) => at,
        };
        next = Some(next.map_or(at, |earlier: i64| earlier.min(at)));
    }
    next.map(|at| (at - isolate::now_ms()).max(0))
}

struct Budget {
    subrequests: u32,
    until: i64,
}

impl Budget {
    fn spend(&mut self, subrequests: u32) -> bool {
        if self.subrequests < subrequests || isolate::now_ms() >= self.until {
            return false;
        }
        self.subrequests -= subrequests;
        true
    }
}

/// Takes the steps of one job kind within the budget.
async fn run_job(
    db: &::worker::D1Database,
    config: &Config,
    kind: JobKind,
    budget: &mut Budget,
) -> Wake {
    if !budget.spend(1) {
        return Wake::Now;
    }
    let mut stored = match store::load(db, kind).await {
        Ok(Some(stored)) => stored,
        Ok(None) => return Wake::Never,
        Err(_) => return Wake::At(isolate::now_ms() + STORAGE_RETRY_MS),
    };
    loop {
        let now = isolate::now_ms();
        let action = stored.job.next_action(now);
        let cost = match &action {
            JobAction::Stop => return Wake::Never,
            JobAction::WaitUntil(at) => return Wake::At(*at),
            JobAction::Call(_) => 3,
            JobAction::Sweep { .. } | JobAction::ClearSeen { .. } => 2,
        };
        if !budget.spend(cost) {
            return Wake::Now;
        }
        let before = stored.job.state;
        let step = take_step(db, config, &mut stored, action, now).await;
        match step {
            Ok(()) => announce(&stored.job, before),
            Err(CommitError::Moved) => {
                // A cancel (or another commit) moved the job: read it again.
                if !budget.spend(1) {
                    return Wake::Now;
                }
                match store::load(db, kind).await {
                    Ok(Some(fresh)) => stored = fresh,
                    Ok(None) => return Wake::Never,
                    Err(_) => return Wake::At(isolate::now_ms() + STORAGE_RETRY_MS),
                }
            }
            Err(CommitError::Storage) => return Wake::At(isolate::now_ms() + STORAGE_RETRY_MS),
        }
    }
}

/// Performs one action and commits it with the job.
async fn take_step(
    db: &::worker::D1Database,
    config: &Config,
    stored: &mut Stored,
    action: JobAction,
    now: i64,
) -> std::result::Result<(), CommitError> {
    match action {
        JobAction::Stop | JobAction::WaitUntil(_) => Ok(()),
        JobAction::Call(request) => {
            let outcome = backend::send_attempt(config, &request, API_ATTEMPT_TIMEOUT_MS)
                .await
                .unwrap_or_else(ApiOutcome::secret_key_missing);
            match stored.job.on_api_outcome(outcome, isolate::now_ms()) {
                CallResult::Page(users) => {
                    let (rows, tombstoned) = store::read_page(db, &users)
                        .await
                        .map_err(|_| CommitError::Storage)?;
                    let writes =
                        stored
                            .job
                            .apply_page(&users, &rows, &tombstoned, isolate::now_ms());
                    let planned = writes.upserts.len() as u64;
                    stored.job.on_committed(planned, planned);
                    let written = store::commit_page(db, stored, &writes).await?;
                    if written < planned {
                        stored.job.on_raced(planned - written);
                        store::commit_job(db, stored).await?;
                    }
                    Ok(())
                }
                CallResult::Continue | CallResult::Retry | CallResult::Failed => {
                    store::commit_job(db, stored).await
                }
            }
        }
        JobAction::Sweep { after, limit } => {
            let rows = store::read_sweep(db, stored.job.kind, after.as_deref(), limit)
                .await
                .map_err(|_| CommitError::Storage)?;
            let writes = stored.job.apply_sweep(&rows, now);
            let planned = writes.remove.len() as u64;
            stored.job.on_committed(planned, planned);
            let recent_from = stored.job.started_at - RECENT_CHANGE_MARGIN_MS;
            let removed = store::commit_sweep(db, stored, &writes, recent_from, now).await?;
            if removed < planned {
                stored.job.on_raced(planned - removed);
                store::commit_job(db, stored).await?;
            }
            Ok(())
        }
        JobAction::ClearSeen { limit } => {
            let cleared = store::clear_seen(db, stored.job.kind, limit)
                .await
                .map_err(|_| CommitError::Storage)?;
            stored.job.on_cleared(cleared, now);
            store::commit_job(db, stored).await
        }
    }
}

/// The audit line of a job that just ended (done or failed) in a committed step.
fn announce(job: &Job, before: JobState) {
    if before != JobState::Running || job.state == JobState::Running {
        return;
    }
    let action = match job.state {
        JobState::Done => "done",
        JobState::Failed => "failed",
        JobState::Cancelled => "cancel",
        JobState::Running => return,
    };
    emit(
        &job.audit_event(action, &job.reason),
        None,
        isolate::now_ms(),
    );
}
