//! The per-isolate cache of deny-list reads: key -> (present, read at), trusted for
//! [`CACHE_TTL_MS`], so the store (Workers KV) is not read on every signed-in request.
//!
//! A write from this isolate (a revoke, a restore, a webhook) updates the cache at once, so
//! the next request here is answered by it. A read that was already in flight when the write
//! happened must not undo that: its answer may predate the write (the store need not order
//! a read before a later write), so a read is only cached when no write landed since it
//! started ([`DenyCache::read_started`] then [`DenyCache::record_read`]).

use std::collections::HashMap;

use crate::diagnose::memory::CacheFill;

/// How long a read (present or absent) is trusted in this isolate.
pub const CACHE_TTL_MS: i64 = 5_000;
/// Most entries kept; the cache is cleared when full (entries are cheap to re-read).
pub const CACHE_MAX_ENTRIES: usize = 10_000;

/// Where a read began: the count of writes this cache had seen then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadTicket(u64);

/// Recently read or written entries.
#[derive(Debug, Default)]
pub struct DenyCache {
    entries: HashMap<String, (bool, i64)>,
    /// Writes recorded so far (any key): a read that saw this change is not cached.
    writes: u64,
    /// Entries dropped by clears when full.
    evicted: u64,
}

impl DenyCache {
    /// Whether `key` is deny-listed, if a read or write of it is recent enough at `now`.
    pub fn get(&self, key: &str, now: i64) -> Option<bool> {
        self.entries
            .get(key)
            .filter(|(_, at)| now.saturating_sub(*at) < CACHE_TTL_MS)
            .map(|(present, _)| *present)
    }

    /// Call before reading the store; hand the ticket to [`Self::record_read`].
    pub fn read_started(&self) -> ReadTicket {
        ReadTicket(self.writes)
    }

    /// Caches what a read found, unless a write of this isolate landed while it was in
    /// flight (the read's answer may be older than that write: the write wins).
    pub fn record_read(&mut self, ticket: ReadTicket, key: String, present: bool, now: i64) {
        if ticket.0 == self.writes {
            self.insert(key, present, now);
        }
    }

    /// Records a write of this isolate to the store (after it succeeded).
    pub fn record_write(&mut self, key: String, present: bool, now: i64) {
        self.writes = self.writes.wrapping_add(1);
        self.insert(key, present, now);
    }

    fn insert(&mut self, key: String, present: bool, now: i64) {
        if self.entries.len() >= CACHE_MAX_ENTRIES && !self.entries.contains_key(&key) {
            self.evicted = self
                .evicted
                .saturating_add(u64::try_from(self.entries.len()).unwrap_or(u64::MAX));
            self.entries.clear();
        }
        self.entries.insert(key, (present, now));
    }

    /// How full it is, for the diagnosis.
    pub fn fill(&self) -> CacheFill {
        CacheFill {
            evicted: self.evicted,
            ..CacheFill::counted("deny_list", self.entries.len(), CACHE_MAX_ENTRIES)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_a_write_does_not_undo_it() {
        let mut cache = DenyCache::default();
        // A request misses and starts reading the store...
        assert_eq!(cache.get("deny:user:u", 0), None);
        let ticket = cache.read_started();
        // ...a revoke writes the entry meanwhile...
        cache.record_write("deny:user:u".into(), true, 10);
        // ...and the read comes back with what the store held before the write.
        cache.record_read(ticket, "deny:user:u".into(), false, 0);
        assert_eq!(cache.get("deny:user:u", 20), Some(true), "the write wins");
        // A read that started after the write is cached as usual.
        let later = cache.read_started();
        cache.record_read(later, "deny:user:v".into(), false, 20);
        assert_eq!(cache.get("deny:user:v", 21), Some(false));
    }

    #[test]
    fn entries_last_the_ttl() {
        let mut cache = DenyCache::default();
        let ticket = cache.read_started();
        cache.record_read(ticket, "k".into(), true, 1_000);
        assert_eq!(cache.get("k", 1_000 + CACHE_TTL_MS - 1), Some(true));
        assert_eq!(cache.get("k", 1_000 + CACHE_TTL_MS), None);
    }

    #[test]
    fn bounded_cleared_when_full_and_counted() {
        let mut cache = DenyCache::default();
        for i in 0..CACHE_MAX_ENTRIES {
            cache.record_write(format!("k{i}"), false, 0);
        }
        assert_eq!(cache.fill().entries, CACHE_MAX_ENTRIES);
        // Rewriting a key it holds does not clear it.
        cache.record_write("k0".into(), true, 1);
        assert_eq!(cache.fill().entries, CACHE_MAX_ENTRIES);
        assert_eq!(cache.fill().evicted, 0);
        cache.record_write("new".into(), true, 1);
        let fill = cache.fill();
        assert_eq!((fill.entries, fill.evicted), (1, CACHE_MAX_ENTRIES as u64));
        assert!(!fill.over_cap());
    }
}
