//! The per-isolate verified-token cache: a token whose signature was checked once is not
//! checked again while it can still pass.
//!
//! What is cached is only what cannot change for the same token under the same settings:
//! the header checks and the signature check (valid, or refused with its reason). Key
//! resolution (JWKS rotation), the claims (`sub`, `azp`) and the time checks run again on
//! every hit against the current clock, and the deny-list and bypass rules are applied by the
//! caller on every request as before. Entries are keyed by the whole token string and an
//! interned settings id compared by full text, so no other token and no other configuration
//! can ever hit an entry; a hash collision only costs a comparison.

use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use serde_json::Value;

use crate::auth::token::TokenError;

/// Default number of entries (about 1-2 KB each: the token and its payload).
pub const DEFAULT_CAPACITY: usize = 4096;
/// Most bytes the entries may weigh (see `entry_weight`). Refused entries need no valid
/// signature, so without this a stream of distinct 16 KB junk tokens would hold 64 MB in
/// an isolate whose wasm memory never shrinks.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// How long a refused signature is remembered: repeats of one forged token then cost a
/// lookup instead of an RSA operation.
pub const REFUSAL_TTL_MS: i64 = 60_000;
/// Most distinct settings interned; beyond it the cache starts over (configurations are few;
/// this only bounds memory when a JS caller passes ever-new options).
const MAX_SETTINGS: usize = 64;

/// What the signature step established for a token.
#[derive(Debug, Clone, PartialEq)]
pub enum SignatureCheck {
    /// Header and signature valid; the decoded payload, for the claim checks.
    Valid(Rc<Value>),
    /// Refused before the claims, with this reason.
    Refused(TokenError),
}

#[derive(Debug)]
struct Entry {
    check: SignatureCheck,
    keep_until_ms: i64,
}

/// The cache. Bounded: when full, expired entries go first, then the oldest.
#[derive(Debug)]
pub struct VerifiedTokenCache {
    /// settings id -> token -> entry; two levels so a lookup borrows the token, no copy.
    entries: HashMap<u32, HashMap<Rc<str>, Entry>>,
    /// Insertion order, for evicting the oldest.
    order: VecDeque<(u32, Rc<str>)>,
    len: usize,
    /// Sum of [`entry_weight`] over the entries.
    bytes: usize,
    settings: Vec<String>,
    capacity: usize,
    /// Bumped by [`Self::clear`]: a signature check started before a clear must not be
    /// recorded after it (its key may be gone, its settings id reassigned).
    generation: u64,
    /// Entries dropped to make room so far (the diagnosis shows it: a cache at its cap that
    /// evicts is bounded, one that never does has not filled yet).
    evicted: u64,
}

impl Default for VerifiedTokenCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl VerifiedTokenCache {
    /// An empty cache holding at most `capacity` tokens.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            len: 0,
            bytes: 0,
            settings: Vec::new(),
            capacity: capacity.max(1),
            generation: 0,
            evicted: 0,
        }
    }

    /// The id of a verification setting (key material, algorithm rules), compared by its
    /// full text. Ids stay valid until [`Self::clear`].
    pub fn settings_id(&mut self, settings: &str) -> u32 {
        if let Some(i) = self.settings.iter().position(|s| s == settings) {
            return u32::try_from(i).unwrap_or(u32::MAX);
        }
        if self.settings.len() >= MAX_SETTINGS {
            self.clear();
        }
        self.settings.push(settings.to_owned());
        u32::try_from(self.settings.len() - 1).unwrap_or(u32::MAX)
    }

    /// The cached signature check of `token` under `settings`, if still kept at `now_ms`.
    pub fn get(&self, token: &str, settings: u32, now_ms: i64) -> Option<&SignatureCheck> {
        self.entries
            .get(&settings)?
            .get(token)
            .filter(|e| now_ms <= e.keep_until_ms)
            .map(|e| &e.check)
    }

    /// Remembers a signature check until `keep_until_ms` (for a valid token: its `exp` plus
    /// every window in which it can still pass, i.e. clock skew and emergency grace).
    pub fn insert(
        &mut self,
        token: &str,
        settings: u32,
        check: SignatureCheck,
        keep_until_ms: i64,
        now_ms: i64,
    ) {
        if keep_until_ms < now_ms {
            return;
        }
        let weight = entry_weight(token);
        if self.len >= self.capacity || self.bytes.saturating_add(weight) > MAX_BYTES {
            self.evict(now_ms, weight);
        }
        let token: Rc<str> = Rc::from(token);
        let entry = Entry {
            check,
            keep_until_ms,
        };
        let by_token = self.entries.entry(settings).or_default();
        if by_token.insert(token.clone(), entry).is_none() {
            self.len += 1;
            self.bytes = self.bytes.saturating_add(weight);
            self.order.push_back((settings, token));
        }
    }

    /// Drops everything (e.g. after a JWKS refresh changed the keys).
    pub fn clear(&mut self) {
        self.entries.clear();
        self.order.clear();
        self.settings.clear();
        self.len = 0;
        self.bytes = 0;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Changes whenever the cache is cleared, i.e. whenever settings ids and cached key
    /// resolutions stop being valid. A caller that checks a signature asynchronously
    /// records it at the start and inserts only if it is unchanged at the end.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most entries kept.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// What the entries weigh (see `entry_weight`), against [`MAX_BYTES`].
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Entries dropped so far to make room for new ones (expired ones first, then the
    /// oldest); [`Self::clear`] does not count.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// Makes room for one entry of `incoming` weight: expired entries first, then the
    /// oldest, a quarter of the capacity (or of the byte budget) at a time so that eviction
    /// cost is amortised.
    fn evict(&mut self, now_ms: i64, incoming: usize) {
        let before = self.len;
        for by_token in self.entries.values_mut() {
            by_token.retain(|_, e| e.keep_until_ms >= now_ms);
        }
        // A live token is shared by its map key and its `order` entry: once the map dropped
        // it, only the `order` entry is left. No rehashing of every token (about 1 KB each).
        self.order.retain(|(_, t)| Rc::strong_count(t) > 1);
        self.bytes = self.order.iter().map(|(_, t)| entry_weight(t)).sum();
        let full = |cache: &Self| {
            cache.order.len() >= cache.capacity || cache.bytes.saturating_add(incoming) > MAX_BYTES
        };
        if full(self) {
            let count_target = self.capacity - (self.capacity / 4).max(1);
            let byte_target = MAX_BYTES - MAX_BYTES / 4;
            while let Some((s, t)) = self.order.pop_front() {
                if let Some(m) = self.entries.get_mut(&s) {
                    m.remove(&t);
                }
                self.bytes = self.bytes.saturating_sub(entry_weight(&t));
                if self.order.len() <= count_target
                    && self.bytes.saturating_add(incoming) <= byte_target
                {
                    break;
                }
            }
        }
        self.len = self.order.len();
        self.evicted = self
            .evicted
            .saturating_add(u64::try_from(before.saturating_sub(self.len)).unwrap_or(u64::MAX));
    }
}

/// What an entry costs in memory, roughly: the token, and for a valid one its payload
/// (at most the size of the token's text; Clerk signs only small payloads).
fn entry_weight(token: &str) -> usize {
    token.len().saturating_mul(2).saturating_add(64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> SignatureCheck {
        SignatureCheck::Valid(Rc::new(serde_json::json!({"sub": "user_1"})))
    }

    #[test]
    fn hits_only_same_token_and_settings_while_kept() {
        let mut c = VerifiedTokenCache::with_capacity(10);
        let a = c.settings_id("pem-a");
        let b = c.settings_id("pem-b");
        assert_ne!(a, b);
        assert_eq!(c.settings_id("pem-a"), a);
        c.insert("tok", a, valid(), 1_000, 0);
        assert_eq!(c.get("tok", a, 1_000), Some(&valid()));
        assert_eq!(c.get("tok", a, 1_001), None);
        assert_eq!(c.get("tok", b, 10), None);
        assert_eq!(c.get("tok2", a, 10), None);
        assert_eq!(c.get("to", a, 10), None);
    }

    #[test]
    fn bounded_with_expired_first_then_oldest() {
        let mut c = VerifiedTokenCache::with_capacity(8);
        let s = c.settings_id("s");
        for i in 0..8 {
            c.insert(
                &format!("t{i}"),
                s,
                valid(),
                if i < 3 { 10 } else { 1_000 },
                0,
            );
        }
        assert_eq!(c.evicted(), 0);
        c.insert("new", s, valid(), 1_000, 100);
        assert_eq!(c.len(), 6, "the three expired entries go first");
        assert_eq!(c.evicted(), 3);
        for i in 0..20 {
            c.insert(&format!("more{i}"), s, valid(), 1_000, 100);
            assert!(c.len() <= c.capacity());
        }
        // 6 + 20 inserted, 8 kept: the rest were evicted, and counted.
        assert_eq!(c.evicted(), 3 + 26 - 8);
        assert!(c.get("more19", s, 100).is_some());
        assert!(c.get("t3", s, 100).is_none(), "oldest evicted");
    }

    #[test]
    fn bounded_in_bytes_against_floods_of_large_junk() {
        let mut c = VerifiedTokenCache::default();
        let refused = || SignatureCheck::Refused(TokenError::InvalidAlgorithm);
        for i in 0..2_000 {
            let token = format!("{i:05}{}", "x".repeat(15_000));
            c.insert(&token, 0, refused(), 60_000, 0);
            assert!(c.bytes() <= MAX_BYTES, "{i}: {}", c.bytes());
        }
        assert_eq!(c.evicted(), 2_000 - c.len() as u64);
        assert!(c.len() >= 200, "{}", c.len());
        // The newest survive, the oldest went first.
        let newest = format!("{:05}{}", 1_999, "x".repeat(15_000));
        assert!(c.get(&newest, 0, 1).is_some());
        assert!(c
            .get(&format!("{:05}{}", 0, "x".repeat(15_000)), 0, 1)
            .is_none());
        // Small tokens fill up to the entry bound, as before.
        c.clear();
        for i in 0..DEFAULT_CAPACITY * 2 {
            c.insert(&format!("t{i}"), 0, valid(), 60_000, 0);
            assert!(c.len() <= DEFAULT_CAPACITY);
        }
    }

    #[test]
    fn clear_changes_the_generation() {
        let mut c = VerifiedTokenCache::with_capacity(8);
        let before = c.generation();
        c.settings_id("s");
        c.insert("tok", 0, valid(), 1_000, 0);
        assert_eq!(c.generation(), before, "inserts do not change it");
        c.clear();
        assert_ne!(c.generation(), before);
    }

    #[test]
    fn settings_are_bounded_too() {
        let mut c = VerifiedTokenCache::with_capacity(8);
        let first = c.settings_id("s0");
        c.insert("tok", first, valid(), 1_000, 0);
        for i in 1..=MAX_SETTINGS {
            c.settings_id(&format!("s{i}"));
        }
        assert!(c.get("tok", first, 0).is_none());
    }
}
