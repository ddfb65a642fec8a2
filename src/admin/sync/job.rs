//! The resync and integrity-check job: a value the adapter stores after every step.
//!
//! Phases, in order: `clear` (empty the job's "seen" ids left by an earlier run; only for
//! jobs that sweep), `count` (`GET /v1/users/count`, for the ETA), `walk` (`GET /v1/users`
//! page by page with the cursor), `sweep` (the table in id order: rows the walk did not see),
//! `cleanup` (empty the "seen" ids again), then the job is `done`.
//!
//! Backend API faults: a 429 waits for `Retry-After` (or a backoff) and is timed in
//! `rate_limited_ms`; 5xx, timeouts and network errors back off exponentially from 1 s to
//! 60 s; after [`MAX_CONSECUTIVE_FAILURES`] failures (or [`MAX_CONSECUTIVE_RATE_LIMITS`] rate
//! limits) in a row, or any other refusal, the job ends `failed` with the reason, and a
//! resume continues from the last committed page.

use std::collections::{BTreeMap, HashSet};

use serde_json::{json, Value};

use crate::audit::{AuditEvent, Level};
use crate::clerk_api::{
    parse_retry_after_seconds, parse_total_count, parse_user_page, ApiOutcome, ApiRequest,
    ClerkApiError,
};
use crate::rfc3339;
use crate::webhook::UserRecord;

use super::page::{
    classify_for_resync, compare_for_verify, PageWrites, ResyncOutcome, SweepRow, SweepWrites,
    VerifyOutcome,
};
use super::request::{
    StartRequest, SyncError, RESYNC_CANCEL_PATH, RESYNC_PATH, VERIFY_CANCEL_PATH, VERIFY_PATH,
};

/// Users per page unless the operator asks otherwise: Clerk's largest page.
pub const DEFAULT_PAGE_SIZE: u32 = 500;
/// Timeout of one `GET /v1/users` attempt: a page of 500 full user objects is larger than the
/// admin routes' small answers, so it gets more than their 1.2 s.
pub const API_ATTEMPT_TIMEOUT_MS: u64 = 15_000;
/// 5xx, timeouts and network errors in a row before the job ends `failed` (about 4 minutes of
/// backoff in all).
pub const MAX_CONSECUTIVE_FAILURES: u32 = 8;
/// 429 answers in a row before the job ends `failed`.
pub const MAX_CONSECUTIVE_RATE_LIMITS: u32 = 30;
/// First backoff after a failure; doubled each time, up to [`MAX_BACKOFF_MS`].
pub const FIRST_BACKOFF_MS: u64 = 1_000;
/// Longest backoff after a failure.
pub const MAX_BACKOFF_MS: u64 = 60_000;
/// Longest `Retry-After` honoured as asked; longer asks wait this long and ask again.
pub const MAX_RETRY_AFTER_MS: u64 = 10 * 60_000;
/// Rows the sweep reads per step.
pub const SWEEP_CHUNK_ROWS: u32 = 2_000;
/// "Seen" ids deleted per clean-up step.
pub const CLEAR_CHUNK_ROWS: u32 = 20_000;
/// Ids kept per class of difference in a report.
pub const MAX_SAMPLE_IDS: usize = 100;
/// A row changed less than this long before the job started (or since) is not judged by the
/// sweep: a user created in Clerk after the walk passed its place, and delivered by webhook,
/// is not "deleted in Clerk". Covers clock skew between Clerk and the edge too.
pub const RECENT_CHANGE_MARGIN_MS: i64 = 5 * 60_000;

/// Longest error text kept in a job.
const MAX_ERROR_CHARS: usize = 400;

/// Which job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// `POST /__clerk/admin/resync`.
    Resync,
    /// `POST /__clerk/admin/verify-sync`.
    Verify,
}

impl JobKind {
    /// `resync` or `verify`: the key of the job in storage.
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Resync => "resync",
            JobKind::Verify => "verify",
        }
    }

    /// What messages call it.
    pub fn noun(self) -> &'static str {
        match self {
            JobKind::Resync => "resync",
            JobKind::Verify => "integrity check",
        }
    }

    /// The status and start route.
    pub fn path(self) -> &'static str {
        match self {
            JobKind::Resync => RESYNC_PATH,
            JobKind::Verify => VERIFY_PATH,
        }
    }

    /// The cancel route.
    pub fn cancel_path(self) -> &'static str {
        match self {
            JobKind::Resync => RESYNC_CANCEL_PATH,
            JobKind::Verify => VERIFY_CANCEL_PATH,
        }
    }

    /// The audit event of the job's lines.
    pub fn audit_event(self) -> &'static str {
        match self {
            JobKind::Resync => "admin.resync",
            JobKind::Verify => "admin.verify_sync",
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Steps are being taken (or waited for).
    Running,
    /// Every user was walked (and the table swept).
    Done,
    /// It stopped on an error (`last_error`); a resume continues it.
    Failed,
    /// An operator stopped it; a resume continues it.
    Cancelled,
}

impl JobState {
    /// The state as the status and the audit lines write it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
}

/// The step a running job is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Emptying the "seen" ids of an earlier run.
    Clear,
    /// Asking Clerk how many users there are.
    Count,
    /// Walking Clerk's users.
    Walk,
    /// Walking the table for rows the walk did not see.
    Sweep,
    /// Emptying the "seen" ids of this run.
    Cleanup,
    /// Nothing left.
    Finished,
}

/// What happened to the users of a job so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    /// Users read from Clerk.
    pub users_seen: u64,
    /// Resync: users with no row (inserted, or would be in a dry run).
    pub inserted: u64,
    /// Resync: rows that were older or different (overwritten, or would be).
    pub updated: u64,
    /// Resync: rows that already said exactly this.
    pub unchanged: u64,
    /// Resync: rows newer than Clerk's answer, kept.
    pub kept_newer: u64,
    /// Resync: tombstoned ids Clerk still lists, never brought back.
    pub conflicts: u64,
    /// Resync with `remove_deleted`: rows whose user is gone from Clerk, deleted and
    /// tombstoned (or would be in a dry run).
    pub removed: u64,
    /// Rows the table actually changed (inserted + updated + removed, as the database
    /// reported them): lower than planned only when a webhook wrote the same user between
    /// the read and the write, which [`Counts::raced`] counts.
    pub written: u64,
    /// Planned writes the table refused because a webhook got there first (a newer row, or
    /// a deletion): the webhook's version was kept.
    pub raced: u64,
    /// Failed attempts (Backend API 5xx, timeouts, network errors; storage failures), retried
    /// or not.
    pub errors: u64,
}

/// One class of difference found by an integrity check.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DifferenceClass {
    /// How many.
    pub count: u64,
    /// The first [`MAX_SAMPLE_IDS`] user ids.
    pub sample: Vec<String>,
}

impl DifferenceClass {
    fn add(&mut self, id: &str) {
        self.count += 1;
        if self.sample.len() < MAX_SAMPLE_IDS {
            self.sample.push(id.to_owned());
        }
    }
}

/// What an integrity check found so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyTally {
    /// Rows the sweep read.
    pub edge_rows: u64,
    /// Users whose row says what Clerk says.
    pub matching: u64,
    /// Live Clerk users with no row.
    pub missing_in_edge: DifferenceClass,
    /// Rows whose user no longer exists in Clerk.
    pub missing_in_clerk: DifferenceClass,
    /// Rows whose e-mail, names or banned flag differ from Clerk.
    pub differ: DifferenceClass,
    /// How many rows differ in each column.
    pub differ_by_field: BTreeMap<String, u64>,
    /// Clerk users the edge has a tombstone for.
    pub tombstoned: DifferenceClass,
    /// Rows not judged: changed within [`RECENT_CHANGE_MARGIN_MS`] of the start, or during
    /// the check.
    pub changed_during_check: u64,
}

impl VerifyTally {
    /// All differences.
    pub fn differences(&self) -> u64 {
        self.missing_in_edge.count
            + self.missing_in_clerk.count
            + self.differ.count
            + self.tombstoned.count
    }
}

/// The retry state of the current Backend API call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryState {
    /// 5xx, timeouts and network errors in a row.
    pub failures: u32,
    /// 429 answers in a row.
    pub rate_limits: u32,
    /// No attempt before this time (Unix ms); 0 when not waiting.
    pub not_before: i64,
}

/// A resync or an integrity check: everything needed to continue it after a restart.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Which job.
    pub kind: JobKind,
    /// `resync_<started_at>` / `verify_<started_at>`.
    pub id: String,
    /// Running, done, failed or cancelled.
    pub state: JobState,
    /// The step a running job is at.
    pub phase: Phase,
    /// The operator's reason given at the start.
    pub reason: String,
    /// Count, write nothing.
    pub dry_run: bool,
    /// Also delete rows whose user is gone from Clerk.
    pub remove_deleted: bool,
    /// Users per page.
    pub page_size: u32,
    /// Unix ms.
    pub started_at: i64,
    /// Last commit, Unix ms.
    pub updated_at: i64,
    /// When it ended (done, failed, cancelled), Unix ms.
    pub finished_at: Option<i64>,
    /// Start of the current run (the start, or the last resume), for the rate.
    pub run_started_at: i64,
    /// `users_seen` at the start of the current run.
    pub seen_at_run_start: u64,
    /// `starting_after` for the next page: the id of the last user committed.
    pub cursor: Option<String>,
    /// The sweep's position: the last id committed.
    pub sweep_after: Option<String>,
    /// `GET /v1/users/count` at the start.
    pub total_users: Option<u64>,
    /// Pages committed.
    pub pages: u64,
    /// Backend API attempts made.
    pub api_calls: u64,
    /// What happened to the users.
    pub counts: Counts,
    /// Time spent waiting on 429 answers.
    pub rate_limited_ms: u64,
    /// The current call's retry state.
    pub retry: RetryState,
    /// The last error, kept after a resume.
    pub last_error: Option<String>,
    /// How many times it was resumed.
    pub resumes: u32,
    /// The reason given to the last cancel or resume.
    pub last_operator_reason: Option<String>,
    /// What an integrity check found (absent for a resync).
    pub verify: Option<VerifyTally>,
}

/// What the adapter should do next for a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAction {
    /// The job is not running: nothing to do.
    Stop,
    /// Nothing before this time (a rate limit or a backoff): come back then.
    WaitUntil(i64),
    /// Send one attempt of this request (timeout [`API_ATTEMPT_TIMEOUT_MS`]), then feed the
    /// outcome to [`Job::on_api_outcome`].
    Call(ApiRequest),
    /// Read up to `limit` rows of the table with ids after `after` (in id order), each with
    /// whether this job's walk saw it, then feed them to [`Job::apply_sweep`].
    Sweep {
        /// The last id already swept.
        after: Option<String>,
        /// Rows to read.
        limit: u32,
    },
    /// Delete up to `limit` of this job kind's "seen" ids, then feed the number deleted to
    /// [`Job::on_cleared`].
    ClearSeen {
        /// Rows to delete.
        limit: u32,
    },
}

/// What an attempt's outcome means for the job.
#[derive(Debug, Clone, PartialEq)]
pub enum CallResult {
    /// Commit the job and ask for the next action (the count arrived).
    Continue,
    /// A page of users: read their rows and tombstones, then [`Job::apply_page`].
    Page(Vec<UserRecord>),
    /// Commit the job; the next action is a wait.
    Retry,
    /// The job ended `failed`: commit it and leave its audit line.
    Failed,
}

impl Job {
    /// A new running job.
    pub fn new(kind: JobKind, request: &StartRequest, now: i64) -> Self {
        let verify = kind == JobKind::Verify;
        let mut job = Job {
            kind,
            id: format!("{}_{now}", kind.as_str()),
            state: JobState::Running,
            phase: Phase::Count,
            reason: request.reason.clone(),
            dry_run: request.dry_run && !verify,
            remove_deleted: request.remove_deleted && !verify,
            page_size: request.page_size,
            started_at: now,
            updated_at: now,
            finished_at: None,
            run_started_at: now,
            seen_at_run_start: 0,
            cursor: None,
            sweep_after: None,
            total_users: None,
            pages: 0,
            api_calls: 0,
            counts: Counts::default(),
            rate_limited_ms: 0,
            retry: RetryState::default(),
            last_error: None,
            resumes: 0,
            last_operator_reason: None,
            verify: verify.then(VerifyTally::default),
        };
        if job.sweeps() {
            job.phase = Phase::Clear;
        }
        job
    }

    /// True when the job walks the table after Clerk (an integrity check, or a resync that
    /// removes rows of deleted users).
    pub fn sweeps(&self) -> bool {
        self.kind == JobKind::Verify || self.remove_deleted
    }

    /// Starts a job, given the last one of its kind: a new one, or the last one resumed.
    pub fn start(
        kind: JobKind,
        request: &StartRequest,
        last: Option<Job>,
        now: i64,
    ) -> Result<Job, SyncError> {
        if let Some(last) = &last {
            if last.state == JobState::Running {
                return Err(SyncError::AlreadyRunning {
                    kind,
                    status: last.status_json(now),
                });
            }
        }
        if !request.resume {
            return Ok(Job::new(kind, request, now));
        }
        match last {
            Some(mut job) if matches!(job.state, JobState::Failed | JobState::Cancelled) => {
                job.state = JobState::Running;
                job.finished_at = None;
                job.resumes += 1;
                job.retry = RetryState::default();
                job.run_started_at = now;
                job.seen_at_run_start = job.counts.users_seen;
                job.last_operator_reason = Some(request.reason.clone());
                job.updated_at = now;
                Ok(job)
            }
            Some(job) => Err(SyncError::NothingToResume {
                kind,
                last_state: Some(job.state.as_str()),
            }),
            None => Err(SyncError::NothingToResume {
                kind,
                last_state: None,
            }),
        }
    }

    /// Cancels a running job; its cursor is kept, so a resume continues it.
    pub fn cancel(&mut self, reason: &str, now: i64) -> Result<(), SyncError> {
        if self.state != JobState::Running {
            return Err(SyncError::NothingToCancel { kind: self.kind });
        }
        self.state = JobState::Cancelled;
        self.finished_at = Some(now);
        self.updated_at = now;
        self.last_operator_reason = Some(reason.to_owned());
        Ok(())
    }

    /// What to do next.
    pub fn next_action(&self, now: i64) -> JobAction {
        if self.state != JobState::Running {
            return JobAction::Stop;
        }
        if self.retry.not_before > now {
            return JobAction::WaitUntil(self.retry.not_before);
        }
        match self.phase {
            Phase::Clear | Phase::Cleanup => JobAction::ClearSeen {
                limit: CLEAR_CHUNK_ROWS,
            },
            Phase::Count => JobAction::Call(ApiRequest::count_users()),
            Phase::Walk => JobAction::Call(ApiRequest::list_users(
                self.page_size,
                self.cursor.as_deref(),
            )),
            Phase::Sweep => JobAction::Sweep {
                after: self.sweep_after.clone(),
                limit: SWEEP_CHUNK_ROWS,
            },
            Phase::Finished => JobAction::Stop,
        }
    }

    /// Feeds the outcome of the attempt [`JobAction::Call`] asked for.
    pub fn on_api_outcome(&mut self, outcome: ApiOutcome, now: i64) -> CallResult {
        self.api_calls += 1;
        self.updated_at = now;
        let what = match self.phase {
            Phase::Count => "GET /v1/users/count",
            _ => "GET /v1/users",
        };
        match outcome {
            ApiOutcome::Response { status, body, .. } if (200..=299).contains(&status) => {
                self.retry = RetryState::default();
                match self.phase {
                    Phase::Count => match parse_total_count(&body) {
                        Ok(total) => {
                            self.total_users = Some(total);
                            self.phase = Phase::Walk;
                            CallResult::Continue
                        }
                        Err(error) => self.fail(&error.to_string(), now),
                    },
                    Phase::Walk => match parse_user_page(&body) {
                        Ok(users) => CallResult::Page(users),
                        Err(error) => self.fail(&error.to_string(), now),
                    },
                    // An answer for a phase that makes no call: nothing to apply.
                    _ => CallResult::Continue,
                }
            }
            ApiOutcome::Response {
                status: 429,
                body,
                retry_after,
            } => {
                self.retry.rate_limits += 1;
                if self.retry.rate_limits > MAX_CONSECUTIVE_RATE_LIMITS {
                    let error = ClerkApiError::from_response(429, &body);
                    let message = format!(
                        "{what}: Clerk kept rate-limiting this key ({} answers in a row; last: \
                         {error}): other traffic on this secret key is using the quota; resume \
                         when it is quieter",
                        self.retry.rate_limits
                    );
                    return self.fail(&message, now);
                }
                let asked = retry_after
                    .as_deref()
                    .and_then(parse_retry_after_seconds)
                    .map(|seconds| seconds.saturating_mul(1_000).min(MAX_RETRY_AFTER_MS));
                let wait = asked.unwrap_or_else(|| backoff_ms(self.retry.rate_limits));
                self.rate_limited_ms = self.rate_limited_ms.saturating_add(wait);
                self.wait(wait, now)
            }
            ApiOutcome::Response { status, body, .. } if status >= 500 => {
                let error = ClerkApiError::from_response(status, &body);
                self.transient_failure(what, &error.to_string(), now)
            }
            ApiOutcome::Response { status, body, .. } => {
                let error = ClerkApiError::from_response(status, &body);
                let hint = match status {
                    401 | 403 => {
                        "check CLERK_SECRET_KEY: it must be the instance's current sk_ key; \
                         then resume"
                    }
                    422 if self.cursor.is_some() => {
                        "Clerk refused the page cursor; start a new job (the webhook rules \
                         make re-applying what was done harmless)"
                    }
                    _ => "this is not retried; fix the cause, then resume",
                };
                self.fail(&format!("{what}: {error}: {hint}"), now)
            }
            ApiOutcome::Timeout => self.transient_failure(
                what,
                &format!("no answer within {API_ATTEMPT_TIMEOUT_MS} ms"),
                now,
            ),
            ApiOutcome::NetworkError(detail) => {
                self.transient_failure(what, &format!("network error: {detail}"), now)
            }
        }
    }

    /// Applies a page of users against their stored rows and tombstones; moves the cursor.
    /// The returned writes and the job are committed together.
    pub fn apply_page(
        &mut self,
        users: &[UserRecord],
        stored: &[UserRecord],
        tombstoned: &[String],
        now: i64,
    ) -> PageWrites {
        let rows: BTreeMap<&str, &UserRecord> =
            stored.iter().map(|row| (row.id.as_str(), row)).collect();
        let tombstones: HashSet<&str> = tombstoned.iter().map(String::as_str).collect();
        let mut writes = PageWrites::default();
        for user in users {
            let row = rows.get(user.id.as_str()).copied();
            let tombstoned = tombstones.contains(user.id.as_str());
            self.counts.users_seen += 1;
            match &mut self.verify {
                Some(tally) => match compare_for_verify(user, row, tombstoned) {
                    VerifyOutcome::Match => tally.matching += 1,
                    VerifyOutcome::MissingInEdge => tally.missing_in_edge.add(&user.id),
                    VerifyOutcome::Tombstoned => tally.tombstoned.add(&user.id),
                    VerifyOutcome::Differs(fields) => {
                        tally.differ.add(&user.id);
                        for field in fields {
                            *tally.differ_by_field.entry(field.to_owned()).or_default() += 1;
                        }
                    }
                },
                None => {
                    let outcome = classify_for_resync(user, row, tombstoned);
                    let counter = match outcome {
                        ResyncOutcome::Insert => &mut self.counts.inserted,
                        ResyncOutcome::Update => &mut self.counts.updated,
                        ResyncOutcome::Unchanged => &mut self.counts.unchanged,
                        ResyncOutcome::KeptNewer => &mut self.counts.kept_newer,
                        ResyncOutcome::Conflict => &mut self.counts.conflicts,
                    };
                    *counter += 1;
                    let write = matches!(outcome, ResyncOutcome::Insert | ResyncOutcome::Update);
                    if write && !self.dry_run {
                        writes.upserts.push(user.clone());
                    }
                }
            }
            if self.sweeps() {
                writes.seen.push(user.id.clone());
            }
        }
        self.pages += 1;
        self.updated_at = now;
        if let Some(last) = users.last() {
            self.cursor = Some(last.id.clone());
        }
        let short = users.len() < usize::try_from(self.page_size).unwrap_or(usize::MAX);
        if short {
            if self.sweeps() {
                self.phase = Phase::Sweep;
            } else {
                self.finish(now);
            }
        }
        writes
    }

    /// Tells the job how many rows the table changed for the page or sweep chunk just
    /// committed (`planned` writes asked for): the difference was raced by a webhook.
    pub fn on_committed(&mut self, planned: u64, written: u64) {
        self.counts.written += written;
        self.counts.raced += planned.saturating_sub(written);
    }

    /// Corrects an [`Job::on_committed`] made before the commit (so that the common case
    /// needs one commit per page) when the table changed fewer rows than planned.
    pub fn on_raced(&mut self, raced: u64) {
        let raced = raced.min(self.counts.written);
        self.counts.written -= raced;
        self.counts.raced += raced;
    }

    /// Applies a chunk of the sweep; moves its position.
    pub fn apply_sweep(&mut self, rows: &[SweepRow], now: i64) -> SweepWrites {
        let mut writes = SweepWrites::default();
        let recent_from = self.started_at.saturating_sub(RECENT_CHANGE_MARGIN_MS);
        for row in rows {
            if let Some(tally) = &mut self.verify {
                tally.edge_rows += 1;
            }
            if row.seen {
                continue;
            }
            if row.updated_at >= recent_from {
                if let Some(tally) = &mut self.verify {
                    tally.changed_during_check += 1;
                }
                continue;
            }
            match &mut self.verify {
                Some(tally) => tally.missing_in_clerk.add(&row.id),
                None if self.remove_deleted => {
                    self.counts.removed += 1;
                    if !self.dry_run {
                        writes.remove.push(row.id.clone());
                    }
                }
                None => {}
            }
        }
        if let Some(last) = rows.last() {
            self.sweep_after = Some(last.id.clone());
        }
        self.updated_at = now;
        if rows.len() < usize::try_from(SWEEP_CHUNK_ROWS).unwrap_or(usize::MAX) {
            self.phase = Phase::Cleanup;
        }
        writes
    }

    /// Tells the job how many "seen" ids a [`JobAction::ClearSeen`] deleted.
    pub fn on_cleared(&mut self, deleted: u64, now: i64) {
        self.updated_at = now;
        if deleted >= u64::from(CLEAR_CHUNK_ROWS) {
            return;
        }
        match self.phase {
            Phase::Clear => self.phase = Phase::Count,
            Phase::Cleanup => self.finish(now),
            _ => {}
        }
    }

    /// Records a storage failure (the step will be taken again).
    pub fn on_storage_error(&mut self, now: i64) {
        self.counts.errors += 1;
        self.updated_at = now;
    }

    /// The application's store failed during a step (pkg-js: `step` is the callback, `detail`
    /// its error text, which must not hold a secret): the step was not applied, the failure
    /// is counted, and a running job ends `failed` so that a resume takes the step again.
    pub fn fail_on_storage(&mut self, step: &str, detail: &str, now: i64) {
        self.on_storage_error(now);
        if self.state != JobState::Running {
            return;
        }
        let detail = detail.trim();
        let detail = if detail.is_empty() {
            "no error text"
        } else {
            detail
        };
        let message = format!(
            "storage: {step} failed ({detail}): page {} was not applied; fix the cause, then \
             resume",
            self.pages + 1
        );
        self.fail(&message, now);
    }

    fn finish(&mut self, now: i64) {
        self.state = JobState::Done;
        self.phase = Phase::Finished;
        self.finished_at = Some(now);
        self.updated_at = now;
    }

    fn fail(&mut self, message: &str, now: i64) -> CallResult {
        self.state = JobState::Failed;
        self.finished_at = Some(now);
        self.updated_at = now;
        self.last_error = Some(message.chars().take(MAX_ERROR_CHARS).collect());
        CallResult::Failed
    }

    fn transient_failure(&mut self, what: &str, detail: &str, now: i64) -> CallResult {
        self.counts.errors += 1;
        self.retry.failures += 1;
        self.last_error = Some(
            format!("{what}: {detail}")
                .chars()
                .take(MAX_ERROR_CHARS)
                .collect(),
        );
        if self.retry.failures >= MAX_CONSECUTIVE_FAILURES {
            let message = format!(
                "{what} failed {} times in a row (last: {detail}): Clerk's Backend API is \
                 failing; check status.clerk.com, then resume (POST {} {{\"reason\": …, \
                 \"resume\": true}}) to continue from page {}",
                self.retry.failures,
                self.kind.path(),
                self.pages + 1
            );
            return self.fail(&message, now);
        }
        self.wait(backoff_ms(self.retry.failures), now)
    }

    fn wait(&mut self, wait_ms: u64, now: i64) -> CallResult {
        let wait = i64::try_from(wait_ms).unwrap_or(i64::MAX);
        self.retry.not_before = now.saturating_add(wait);
        CallResult::Retry
    }

    /// Users per second over the current run, once there is one to speak of.
    pub fn users_per_second(&self, now: i64) -> Option<f64> {
        let elapsed_ms = now.saturating_sub(self.run_started_at);
        let users = self
            .counts
            .users_seen
            .saturating_sub(self.seen_at_run_start);
        (elapsed_ms > 0 && users > 0).then(|| users as f64 * 1_000.0 / elapsed_ms as f64)
    }

    /// Seconds until the walk ends, from the count and the current rate.
    pub fn eta_seconds(&self, now: i64) -> Option<u64> {
        if self.state != JobState::Running || self.phase != Phase::Walk {
            return None;
        }
        let remaining = self.total_users?.saturating_sub(self.counts.users_seen);
        let rate = self.users_per_second(now)?;
        Some((remaining as f64 / rate).ceil() as u64)
    }

    /// The body of the status route (`GET`) and of the start answer.
    pub fn status_json(&self, now: i64) -> Value {
        let time = |ms: i64| Value::from(rfc3339::format_millis(ms));
        let mut job = json!({
            "id": self.id,
            "kind": self.kind.as_str(),
            "state": self.state.as_str(),
            "phase": self.phase.as_str(),
            "reason": self.reason,
            "dry_run": self.dry_run,
            "page_size": self.page_size,
            "started_at": time(self.started_at),
            "updated_at": time(self.updated_at),
            "finished_at": self.finished_at.map(time),
            "pages": self.pages,
            "users_seen": self.counts.users_seen,
            "total_users": self.total_users,
            "api_calls": self.api_calls,
            "errors": self.counts.errors,
            "rate_limited_seconds": self.rate_limited_ms as f64 / 1_000.0,
            "users_per_second": self.users_per_second(now).map(|rate| (rate * 10.0).round() / 10.0),
            "eta_seconds": self.eta_seconds(now),
            "waiting_until": (self.state == JobState::Running && self.retry.not_before > now)
                .then(|| time(self.retry.not_before)),
            "last_error": self.last_error,
            "resumes": self.resumes,
            "last_operator_reason": self.last_operator_reason,
        });
        if let Value::Object(map) = &mut job {
            match &self.verify {
                Some(tally) => {
                    map.insert("differences".into(), tally.differences().into());
                    map.insert(
                        "in_sync".into(),
                        (self.state == JobState::Done && tally.differences() == 0).into(),
                    );
                    map.insert("report".into(), tally.to_value());
                }
                None => {
                    let counts = &self.counts;
                    for (name, value) in [
                        ("inserted", counts.inserted),
                        ("updated", counts.updated),
                        ("unchanged", counts.unchanged),
                        ("kept_newer", counts.kept_newer),
                        ("conflicts", counts.conflicts),
                        ("removed", counts.removed),
                        ("written", counts.written),
                        ("raced", counts.raced),
                    ] {
                        map.insert(name.into(), value.into());
                    }
                    map.insert("remove_deleted".into(), self.remove_deleted.into());
                }
            }
        }
        json!({ "job": job })
    }

    /// The job's audit line for `action` (`start`, `resume`, `done`, `failed`, `cancel`),
    /// with the operator's reason and the counters.
    pub fn audit_event(&self, action: &'static str, operator_reason: &str) -> AuditEvent {
        let level = match self.state {
            JobState::Failed => Level::Error,
            JobState::Cancelled => Level::Warn,
            _ => Level::Info,
        };
        let mut event = AuditEvent::new(level, self.kind.audit_event())
            .text("action", action)
            .text("job_id", &self.id)
            .text("state", self.state.as_str())
            .text("operator_reason", operator_reason)
            .value("dry_run", self.dry_run.into())
            .value("pages", self.pages.into())
            .value("users_seen", self.counts.users_seen.into())
            .value("errors", self.counts.errors.into())
            .value("rate_limited_ms", self.rate_limited_ms.into())
            .opt_text("last_error", self.last_error.as_deref());
        match &self.verify {
            Some(tally) => {
                event = event
                    .value("differences", tally.differences().into())
                    .value("missing_in_edge", tally.missing_in_edge.count.into())
                    .value("missing_in_clerk", tally.missing_in_clerk.count.into())
                    .value("differ", tally.differ.count.into())
                    .value("tombstoned", tally.tombstoned.count.into());
            }
            None => {
                let counts = &self.counts;
                event = event
                    .value("inserted", counts.inserted.into())
                    .value("updated", counts.updated.into())
                    .value("unchanged", counts.unchanged.into())
                    .value("kept_newer", counts.kept_newer.into())
                    .value("conflicts", counts.conflicts.into())
                    .value("removed", counts.removed.into())
                    .value("written", counts.written.into());
            }
        }
        event
    }
}

fn backoff_ms(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(16);
    FIRST_BACKOFF_MS
        .saturating_mul(1u64 << doublings)
        .min(MAX_BACKOFF_MS)
}
