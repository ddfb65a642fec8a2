//! The edge deny-list in KV (`CLERK_EDGE`), read on every signed-in request through a short
//! per-isolate cache, so KV is not read on every request.
//!
//! A write from this isolate (webhook or admin route) updates the cache at once, so the next
//! request here is refused immediately (even when a read of the same entry was in flight:
//! [`crate::policy::deny_cache`]); other isolates see it within its TTL (5 s) plus KV's own
//! propagation (up to about 60 s across locations).

use ::worker::{Env, Result};

use crate::admin::revocation::{DENY_SESSION_PREFIX, DENY_USER_PREFIX};
use crate::auth::token::SessionClaims;
use crate::policy::decision::DenyListHit;
pub use crate::policy::deny_cache::DenyCache;

use super::isolate::IsolateState;

/// The KV binding of the deny-list.
pub const KV_BINDING: &str = "CLERK_EDGE";

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
) -> Result<Option<DenyListHit>> {
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

async fn is_listed(env: &Env, state: &IsolateState, key: String, now: i64) -> Result<bool> {
    if let Some(present) = state.deny.borrow().get(&key, now) {
        return Ok(present);
    }
    let ticket = state.deny.borrow().read_started();
    // A KV failure propagates: the request fails closed rather than skipping the check.
    let present = env.kv(KV_BINDING)?.get(&key).text().await?.is_some();
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
