//! Random DNS message ids.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// Unpredictable query ids: a counter hashed with SipHash under the random
/// keys of a [`RandomState`] (seeded from the operating system), so an
/// off-path sender cannot guess the id of the next query. No extra crate.
#[derive(Debug)]
pub struct QueryIds {
    keys: RandomState,
    counter: AtomicU64,
}

impl Default for QueryIds {
    fn default() -> Self {
        QueryIds::new()
    }
}

impl QueryIds {
    /// A new source with fresh random keys.
    pub fn new() -> QueryIds {
        QueryIds { keys: RandomState::new(), counter: AtomicU64::new(0) }
    }

    /// The next id.
    pub fn next_id(&self) -> u16 {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // The top 16 bits of the 64-bit hash.
        (self.keys.hash_one(n) >> 48) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_spread_and_differ_between_sources() {
        let a = QueryIds::new();
        let ids: Vec<u16> = (0..1000).map(|_| a.next_id()).collect();
        let distinct: std::collections::HashSet<u16> = ids.iter().copied().collect();
        // 1000 draws from 65536 values: a handful of repeats at most.
        assert!(distinct.len() > 980, "{} distinct ids of 1000", distinct.len());
        // Not a counter: consecutive ids are not a fixed step apart.
        let steps: std::collections::HashSet<u16> = ids.windows(2).map(|w| w[1].wrapping_sub(w[0])).collect();
        assert!(steps.len() > 900);
        let b = QueryIds::new();
        let other: Vec<u16> = (0..1000).map(|_| b.next_id()).collect();
        assert_ne!(ids, other, "two sources draw different sequences");
    }
}
