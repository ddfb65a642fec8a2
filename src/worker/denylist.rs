//! The edge deny-list in KV (`CLERK_EDGE`), read on every signed-in request through a short
//! per-isolate cache, so KV is not read on every request.
//!
//! A write from this isolate (webhook or admin route) updates the cache at once, so the next
//! request here is refused immediately (even when a read of the same entry was in flight:
//! [`crate::policy::deny_cache`]); other isolates see it within its TTL (5 s) plus KV's own
//! propagation (up to about 60 s across locations).

use std::time::Duration;

use ::worker::{Delay, Env, Result};
use futures_util::future::{select, Either};

use crate::admin::revocation::{DENY_SESSION_PREFIX, DENY_USER_PREFIX};
use crate::auth::token::SessionClaims;
use crate::policy::decision::DenyListHit;
pub use crate::policy::deny_cache::DenyCache;

use super::isolate::IsolateState;

/// The KV binding of the deny-list.
pub const KV_BINDING: &str = "CLERK_EDGE";
/// How long a request waits for one deny-list read. The binding has no deadline of its own
/// that the edge can rely on, and every signed-in request waits on this read: past it the
/// request fails closed instead of hanging until the client gives up.
pub const READ_DEADLINE_MS: u64 = 2_000;

/// Why the deny-list could not be read: the request fails closed (500) and its
/// `worker.error` line says which.
#[derive(Debug)]
pub enum ReadFailure {
    /// The binding is missing or the read failed.
    Failed,
    /// No answer within [`READ_DEADLINE_MS`].
    TimedOut,
}

impl ReadFailure {
    /// The `problem` of the audit line (no key, no error text: they could name a user).
    pub fn problem(&self) -> String {
        match self {
            Self::Failed => format!("KV {KV_BINDING} read failed"),
            Self::TimedOut => {
                format!("KV {KV_BINDING} read: no answer within {READ_DEADLINE_MS} ms")
            }
        }
    }
}

/// The KV key of a user's deny-list entry (the same as the admin plan's
/// [`crate::admin::revocation::Target::deny_key`]).
pub fn user_key(user_id: &str) -> String {
    format!("{DENY_USER_PREFIX}{user_id}")
}

/// The KV key of a session's deny-list entry (the same as the admin plan's
/// [`crate::admin::revocation::Target::deny_key`]).
pub fn session_key(session_id: &str) -> String {
    format!("{DENY_SESSION_PREFIX}{session_id}")
}

/// Whether the session or the user of a token is deny-listed. The session is checked first
/// because its entry is the more specific answer.
pub async fn check(
    env: &Env,
    state: &IsolateState,
    identity: &SessionClaims,
    now: i64,
) -> std::result::Result<Option<DenyListHit>, ReadFailure> {
    if let Some(sid) = &identity.session_id {
        if is_listed(env, state, session_key(sid), now).await? {
            return Ok(Some(DenyListHit::Session));
        }
    }
    if is_listed(env, state, user_key(&identity.user_id), now).await? {
        return Ok(Some(DenyListHit::User));
    }
    Ok(None)
}

async fn is_listed(
    env: &Env,
    state: &IsolateState,
    key: String,
    now: i64,
) -> std::result::Result<bool, ReadFailure> {
    if let Some(present) = state.deny.borrow().get(&key, now) {
        return Ok(present);
    }
    let ticket = state.deny.borrow().read_started();
    // A KV failure propagates: the request fails closed rather than skipping the check.
    let kv = env.kv(KV_BINDING).map_err(|_| ReadFailure::Failed)?;
    let read = Box::pin(kv.get(&key).text());
    let deadline = Delay::from(Duration::from_millis(READ_DEADLINE_MS));
    let present = match select(read, deadline).await {
        Either::Left((answer, _)) => answer.map_err(|_| ReadFailure::Failed)?.is_some(),
        Either::Right(_) => return Err(ReadFailure::TimedOut),
    };
    state
        .deny
        .borrow_mut()
        .record_read(ticket, key, present, now);
    Ok(present)
}

/// Writes an entry (JSON value) with an optional TTL in seconds.
pub async fn put(
    env: &Env,
    state: &IsolateState,
    key: String,
    value: &str,
    ttl_seconds: Option<u64>,
    now: i64,
) -> Result<()> {
    let mut put = env.kv(KV_BINDING)?.put(&key, value)?;
    if let Some(ttl) = ttl_seconds {
        // KV refuses TTLs under 60 s.
        put = put.expiration_ttl(ttl.max(60));
    }
    put.execute().await?;
    state.deny.borrow_mut().record_write(key, true, now);
    Ok(())
}

/// Removes an entry.
pub async fn delete(env: &Env, state: &IsolateState, key: String, now: i64) -> Result<()> {
    env.kv(KV_BINDING)?.delete(&key).await?;
    state.deny.borrow_mut().record_write(key, false, now);
    Ok(())
}
