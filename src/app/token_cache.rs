//! A short-lived cache of bearer-token lookups, so that a busy operator
//! does not cost a database round trip per request just to say who it is.
//!
//! What it may get wrong, and why that is bounded:
//! - A token revoked through this process is forgotten at once
//!   ([`TokenCache::forget_all`]).
//! - A token revoked through another process, or by the command line, is
//!   still recognised here for at most `token_cache_secs`. Every write a
//!   structure or operator token makes checks the token again inside its
//!   own transaction, so such a token can at most read for that long.
//! - Admin tokens are never cached: their requests are rare and powerful.
//!
//! `token_cache_secs = 0` turns the cache off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::{Principal, Role};

/// Token hash → who it is, and since when we believe it.
pub struct TokenCache {
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
}

impl TokenCache {
    pub fn new(ttl_secs: u64, max_entries: usize) -> Self {
        Self {
            ttl: Duration::from_secs(ttl_secs),
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The principal behind `hash`, if looked up less than the time to live
    /// ago.
    pub fn get(&self, hash: &[u8; 32], now: Instant) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        let (principal, since) = entries.get(hash)?;
        (now.duration_since(*since) < self.ttl).then_some(*principal)
    }

    /// Remembers a lookup (not for admin tokens, nor with a zero time to
    /// live). A full cache first drops what is stale, then everything.
    pub fn put(&self, hash: [u8; 32], principal: Principal, now: Instant) {
        if self.ttl.is_zero() || principal.role == Role::Admin || self.max_entries == 0 {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.max_entries {
            let ttl = self.ttl;
            entries.retain(|_, (_, since)| now.duration_since(*since) < ttl);
            if entries.len() >= self.max_entries {
                entries.clear();
            }
        }
        entries.insert(hash, (principal, now));
    }

    /// Forgets every lookup: a token was revoked.
    pub fn forget_all(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(role: Role) -> Principal {
        Principal::of_token(7, role, None, None)
    }

    #[test]
    fn remembers_for_the_time_to_live_only() {
        let cache = TokenCache::new(2, 10);
        let t0 = Instant::now();
        cache.put([1; 32], who(Role::Operator), t0);
        assert_eq!(
            cache.get(&[1; 32], t0 + Duration::from_millis(1999)),
            Some(who(Role::Operator))
        );
        assert_eq!(cache.get(&[1; 32], t0 + Duration::from_secs(2)), None);
        assert_eq!(cache.get(&[2; 32], t0), None);
    }

    #[test]
    fn never_holds_admin_tokens_or_anything_with_a_zero_ttl() {
        let cache = TokenCache::new(2, 10);
        let t0 = Instant::now();
        cache.put([1; 32], who(Role::Admin), t0);
        assert_eq!(cache.get(&[1; 32], t0), None);
        let off = TokenCache::new(0, 10);
        off.put([1; 32], who(Role::Operator), t0);
        assert_eq!(off.get(&[1; 32], t0), None);
    }

    #[test]
    fn a_revocation_forgets_everything_and_a_full_cache_stays_bounded() {
        let cache = TokenCache::new(60, 3);
        let t0 = Instant::now();
        for i in 0..10u8 {
            cache.put([i; 32], who(Role::Structure), t0);
            assert!(cache.entries.lock().unwrap().len() <= 3);
        }
        assert_eq!(cache.get(&[9; 32], t0), Some(who(Role::Structure)));
        cache.forget_all();
        assert_eq!(cache.get(&[9; 32], t0), None);
    }
}
