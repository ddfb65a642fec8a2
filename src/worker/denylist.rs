//! The edge deny-list in KV (`CLERK_EDGE`), read on every signed-in request through a short
//! per-isolate cache, so KV is not read on every request.
//!
//! A write from this isolate (webhook or admin route) updates the cache at once, so the next
//! request here is refused immediately; other isolates see it within [`CACHE_TTL_MS`] plus
//! KV's own propagation (up to about 60 s across locations).

use std::collections::HashMap;

use ::worker::{Env, Result};

use crate::admin::revocation::{DENY_SESSION_PREFIX, DENY_USER_PREFIX};
use crate::auth::token::SessionClaims;
use crate::diagnose::memory::CacheFill;
use crate::policy::decision::DenyListHit;

use super::isolate::IsolateState;

/// The KV binding of the deny-list.
pub const KV_BINDING: &str = "CLERK_EDGE";
/// How long a read (present or absent) is trusted in this isolate.
pub const CACHE_TTL_MS: i64 = 5_000;
/// Most entries kept; the cache is cleared when full (entries are cheap to re-read).
const CACHE_MAX_ENTRIES: usize = 10_000;

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

/// Recently read entries: key -> (present, read at).
#[derive(Debug, Default)]
pub struct DenyCache {
    entries: HashMap<String, (bool, i64)>,
    /// Entries dropped by clears when full.
    evicted: u64,
}

impl DenyCache {
    /// How full it is, for the diagnosis.
    pub fn fill(&self) -> CacheFill {
        CacheFill {
            evicted: self.evicted,
            ..CacheFill::counted("deny_list", self.entries.len(), CACHE_MAX_ENTRIES)
        }
    }

    fn get(&self, key: &str, now: i64) -> Option<bool> {
        self.entries
            .get(key)
            .filter(|(_, at)| now.saturating_sub(*at) < CACHE_TTL_MS)
            .map(|(present, _)| *present)
    }

    /// Records what KV holds for `key` (after a read or a write from this isolate).
    pub fn set(&mut self, key: String, present: bool, now: i64) {
        if self.entries.len() >= CACHE_MAX_ENTRIES && !self.entries.contains_key(&key) {
            self.evicted = self
                .evicted
                .saturating_add(u64::try_from(self.entries.len()).unwrap_or(u64::MAX));
            self.entries.clear();
        }
        self.entries.insert(key, (present, now));
    }
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
    // A KV failure propagates: the request fails closed rather than skipping the check.
    let present = env.kv(KV_BINDING)?.get(&key).text().await?.is_some();
    state.deny.borrow_mut().set(key, present, now);
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
    state.deny.borrow_mut().set(key, true, now);
    Ok(())
}

/// Removes an entry.
pub async fn delete(env: &Env, state: &IsolateState, key: String, now: i64) -> Result<()> {
    env.kv(KV_BINDING)?.delete(&key).await?;
    state.deny.borrow_mut().set(key, false, now);
    Ok(())
}
