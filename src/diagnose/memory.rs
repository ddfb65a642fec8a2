//! What an isolate holds in memory, for the `state` check of the diagnosis: its wasm linear
//! memory and how full each per-isolate cache is against its caps.
//!
//! Wasm memory only ever grows (`memory.grow`; nothing gives pages back), so an isolate that
//! keeps growing under steady traffic is a leak, and one whose caches sit at their caps while
//! its memory stays flat is bounded. The adapters gather the figures (only they see their
//! runtime's caches; [`wasm_pages`] reads the module's own memory for both); this module
//! says what they mean.

use serde_json::{json, Map, Value};

use crate::auth::keys::JwksCache;
use crate::auth::verified_cache::{VerifiedTokenCache, MAX_BYTES};
use crate::diagnose::live::{LiveStats, MAX_REASONS, WINDOW};

/// Bytes in a wasm page (`memory.size` counts pages).
pub const WASM_PAGE_BYTES: u64 = 64 * 1024;

/// Pages of this module's linear memory now (`memory.size`: no I/O, no clock).
#[cfg(target_arch = "wasm32")]
pub fn wasm_pages() -> Option<u64> {
    u64::try_from(core::arch::wasm32::memory_size(0)).ok()
}

/// Off wasm (native builds and tests) there is no linear memory to read.
#[cfg(not(target_arch = "wasm32"))]
pub fn wasm_pages() -> Option<u64> {
    None
}

/// One per-isolate cache, as full as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheFill {
    /// Its stable name in the JSON answer: `verified_tokens`, `jwks_keys`, ...
    pub name: &'static str,
    /// Entries held now.
    pub entries: usize,
    /// Most entries it keeps; `None` when the count is not the cache's to bound (the JWKS:
    /// replaced whole by each fetch, as many keys as Clerk serves).
    pub max_entries: Option<usize>,
    /// Bytes held and the byte cap, for a cache bounded by weight as well as by count.
    pub bytes: Option<(usize, usize)>,
    /// Entries dropped so far to make room (expired first, then the oldest, or a clear).
    pub evicted: u64,
}

impl CacheFill {
    /// A cache bounded by count only, with nothing evicted counted.
    pub fn counted(name: &'static str, entries: usize, max_entries: usize) -> Self {
        Self {
            name,
            entries,
            max_entries: Some(max_entries),
            bytes: None,
            evicted: 0,
        }
    }

    /// Whether it holds more than a cap allows: never, unless a bound is broken.
    pub fn over_cap(&self) -> bool {
        self.max_entries.is_some_and(|max| self.entries > max)
            || self.bytes.is_some_and(|(held, max)| held > max)
    }

    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("entries".into(), self.entries.into());
        out.insert("max_entries".into(), self.max_entries.into());
        if let Some((held, max)) = self.bytes {
            out.insert("bytes".into(), held.into());
            out.insert("max_bytes".into(), max.into());
        }
        out.insert("evicted".into(), self.evicted.into());
        Value::Object(out)
    }

    /// `verified_tokens 4096/4096`, or `jwks_keys 2` for a cache without a count cap.
    fn summary(&self) -> String {
        match self.max_entries {
            Some(max) => format!("{} {}/{max}", self.name, self.entries),
            None => format!("{} {}", self.name, self.entries),
        }
    }
}

/// The isolate's memory, as the adapter read it when the diagnosis ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IsolateMemory {
    /// Pages of wasm linear memory; `None` off wasm (native tests).
    pub wasm_pages: Option<u64>,
    /// Every cache of the isolate that grows with traffic.
    pub caches: Vec<CacheFill>,
}

impl IsolateMemory {
    /// The caches every adapter keeps (verified tokens, JWKS keys, the live record), plus
    /// the adapter's own `more`.
    pub fn of(
        wasm_pages: Option<u64>,
        tokens: &VerifiedTokenCache,
        jwks: &JwksCache,
        live: &LiveStats,
        more: impl IntoIterator<Item = CacheFill>,
    ) -> Self {
        let (decisions, reasons) = live.held();
        let mut caches = vec![
            CacheFill {
                name: "verified_tokens",
                entries: tokens.len(),
                max_entries: Some(tokens.capacity()),
                bytes: Some((tokens.bytes(), MAX_BYTES)),
                evicted: tokens.evicted(),
            },
            CacheFill {
                name: "jwks_keys",
                entries: jwks.key_count(),
                max_entries: None,
                bytes: None,
                evicted: 0,
            },
        ];
        caches.extend(more);
        caches.push(CacheFill::counted("live_decisions", decisions, WINDOW));
        caches.push(CacheFill::counted("live_reasons", reasons, MAX_REASONS));
        Self { wasm_pages, caches }
    }

    /// Wasm linear memory in bytes.
    pub fn wasm_bytes(&self) -> Option<u64> {
        self.wasm_pages
            .map(|pages| pages.saturating_mul(WASM_PAGE_BYTES))
    }

    /// The caches over a cap (a broken bound: memory would grow without limit).
    pub fn over_cap(&self) -> Vec<&'static str> {
        self.caches
            .iter()
            .filter(|cache| cache.over_cap())
            .map(|cache| cache.name)
            .collect()
    }

    /// The `memory` fact of the `state` check.
    pub fn to_json(&self) -> Value {
        let caches: Map<String, Value> = self
            .caches
            .iter()
            .map(|cache| (cache.name.to_owned(), cache.to_json()))
            .collect();
        json!({
            "wasm_memory_bytes": self.wasm_bytes(),
            "caches": caches,
        })
    }

    /// The memory part of the `state` check's one-line summary.
    pub fn summary(&self) -> String {
        let wasm = match self.wasm_bytes() {
            // One decimal of a MiB is what an operator compares between two diagnoses.
            Some(bytes) => format!("wasm memory {:.1} MiB", bytes as f64 / 1_048_576.0),
            None => "wasm memory unknown".to_owned(),
        };
        let caches: Vec<String> = self.caches.iter().map(CacheFill::summary).collect();
        if caches.is_empty() {
            wasm
        } else {
            format!("{wasm}; caches {}", caches.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory() -> IsolateMemory {
        IsolateMemory {
            wasm_pages: Some(48),
            caches: vec![
                CacheFill {
                    name: "verified_tokens",
                    entries: 4096,
                    max_entries: Some(4096),
                    bytes: Some((7_000_000, 8_388_608)),
                    evicted: 1024,
                },
                CacheFill {
                    name: "jwks_keys",
                    entries: 2,
                    max_entries: None,
                    bytes: None,
                    evicted: 0,
                },
                CacheFill::counted("deny_list", 12, 10_000),
            ],
        }
    }

    #[test]
    fn of_reads_the_core_caches_against_their_caps() {
        let mut tokens = VerifiedTokenCache::with_capacity(2);
        let s = tokens.settings_id("s");
        let refused = || {
            crate::auth::verified_cache::SignatureCheck::Refused(
                crate::auth::token::TokenError::InvalidAlgorithm,
            )
        };
        for token in ["a", "b", "c"] {
            tokens.insert(token, s, refused(), 10, 0);
        }
        let m = IsolateMemory::of(
            Some(1),
            &tokens,
            &JwksCache::new(),
            &LiveStats::new(),
            [CacheFill::counted("deny_list", 0, 10)],
        );
        let names: Vec<&str> = m.caches.iter().map(|c| c.name).collect();
        assert_eq!(
            names,
            [
                "verified_tokens",
                "jwks_keys",
                "deny_list",
                "live_decisions",
                "live_reasons"
            ]
        );
        let first = &m.caches[0];
        assert_eq!((first.entries, first.max_entries), (2, Some(2)));
        assert_eq!(first.evicted, 1);
        assert_eq!(first.bytes, Some((2 * (2 + 64), MAX_BYTES)));
        assert_eq!(m.caches[3].max_entries, Some(WINDOW));
        assert!(m.over_cap().is_empty());
    }

    #[test]
    fn json_names_every_cache_with_its_caps() {
        let json = memory().to_json();
        assert_eq!(json["wasm_memory_bytes"], 48 * 65_536);
        let tokens = &json["caches"]["verified_tokens"];
        assert_eq!(tokens["entries"], 4096);
        assert_eq!(tokens["max_entries"], 4096);
        assert_eq!(tokens["bytes"], 7_000_000);
        assert_eq!(tokens["max_bytes"], 8_388_608);
        assert_eq!(tokens["evicted"], 1024);
        assert_eq!(json["caches"]["jwks_keys"]["max_entries"], Value::Null);
        assert!(json["caches"]["deny_list"].get("bytes").is_none());
    }

    #[test]
    fn summary_reads_as_fill_against_cap() {
        assert_eq!(
            memory().summary(),
            "wasm memory 3.0 MiB; caches verified_tokens 4096/4096, jwks_keys 2, deny_list 12/10000"
        );
        assert_eq!(IsolateMemory::default().summary(), "wasm memory unknown");
    }

    #[test]
    fn at_cap_is_fine_over_cap_is_named() {
        let mut m = memory();
        assert!(m.over_cap().is_empty(), "exactly at the caps is bounded");
        m.caches[2].entries = 10_001;
        assert_eq!(m.over_cap(), vec!["deny_list"]);
        m.caches[0].bytes = Some((8_388_609, 8_388_608));
        assert_eq!(m.over_cap(), vec!["verified_tokens", "deny_list"]);
    }
}
