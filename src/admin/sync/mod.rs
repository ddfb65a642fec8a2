//! Recovering the edge's copy of the users after a webhook outage: the resync job, the
//! integrity check and the export, as sans-IO plans.
//!
//! The runbook's procedure is pause, export, resync, verify, resume. This module owns every
//! rule of the middle two; the adapters only move data:
//!
//! - `POST /__clerk/admin/resync` starts a [`Job`] of kind [`JobKind::Resync`]: it walks
//!   every Clerk user with `GET /v1/users` and the `starting_after` cursor (oldest first, pages
//!   of up to 500) and applies each to the `users` table with the webhook route's rules (a
//!   stored row newer than the user is kept; a tombstoned id is never brought back).
//! - `POST /__clerk/admin/verify-sync` starts a job of kind [`JobKind::Verify`]: the same
//!   walk compares instead of writing, then a sweep over the table finds rows whose user no
//!   longer exists in Clerk.
//!
//! A job is a value ([`Job`]) that the adapter stores after every step, together with that
//! step's writes, in one transaction: a crash between two steps loses nothing and repeats
//! nothing. The adapter asks [`Job::next_action`] what to do, performs it (one Backend API
//! attempt, one read of stored rows, one clean-up), feeds the result back
//! ([`Job::on_api_outcome`], [`Job::apply_page`], [`Job::apply_sweep`], [`Job::on_cleared`])
//! and commits. Nothing here reads a clock or does I/O, so every path, failures included, is a
//! plain unit test.

mod job;
mod page;
mod request;
mod stored;

pub use job::{
    CallResult, Counts, DifferenceClass, Job, JobAction, JobKind, JobState, Phase, RetryState,
    VerifyTally, API_ATTEMPT_TIMEOUT_MS, CLEAR_CHUNK_ROWS, DEFAULT_PAGE_SIZE,
    MAX_CONSECUTIVE_FAILURES, MAX_CONSECUTIVE_RATE_LIMITS, MAX_SAMPLE_IDS, RECENT_CHANGE_MARGIN_MS,
    SWEEP_CHUNK_ROWS,
};
pub use page::{differing_fields, PageWrites, SweepRow, SweepWrites};
pub use request::{
    parse_cancel_body, parse_start_body, CancelRequest, StartRequest, SyncError, SyncRoute,
    EXPORT_PATH, RESYNC_CANCEL_PATH, RESYNC_PATH, VERIFY_CANCEL_PATH, VERIFY_PATH,
};
