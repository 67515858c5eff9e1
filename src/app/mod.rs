//! The application layer: the shared state every use case needs (the
//! store, the keys, the clock, the limits and their limiters, metrics, the
//! integrity gate) and the use cases themselves. The JSON API (`http`) and
//! the web desk (`web`) are adapters over it: they extract a request, call
//! a use case here and render its answer or its [`AppError`]. The
//! integrity task and the sweeper take their state from here too, so none
//! of them imports another, and nothing here imports an adapter.
//!
//! One file per area: [`balances`] (what a structure may still issue),
//! [`issue`], [`vouchers`] (list, read, void, the view with its code),
//! [`redeem`] (the operator's gate, check, redeem and the follow-ups),
//! [`statement`] (the operator's redemptions over a period),
//! [`token_cache`] (recent token lookups).

use std::num::NonZeroU32;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

pub mod accounts;
pub mod associations;
pub mod audit;
pub mod balances;
pub mod dashboard;
pub mod donor_report;
pub mod error;
pub mod grants;
pub mod issue;
pub mod journal;
pub mod known_devices;
pub mod lines;
pub mod lots;
pub mod needs;
pub mod operators;
pub mod redeem;
pub mod statement;
pub mod structures;
pub mod token_cache;
pub mod tokens;
pub mod vouchers;

pub use error::{AppError, AppResult};

use crate::clock::Clock;
use crate::config::Limits;
use crate::keyring::Keys;
use crate::metrics::Metrics;
use crate::storage::Store;
use token_cache::TokenCache;

/// Everything a request handler may use.
pub struct Inner {
    pub store: Store,
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    /// Codes issued per structure (governor, in memory: per process).
    pub issue_limiter: DefaultKeyedRateLimiter<i64>,
    /// Redemption-path requests per operator token (per process).
    pub operator_limiter: DefaultKeyedRateLimiter<i64>,
    /// Typos per operator token (per process).
    pub typo_limiter: DefaultKeyedRateLimiter<i64>,
    /// Desk sign-in attempts per client network (per process).
    pub desk_sign_in_limiter: DefaultKeyedRateLimiter<std::net::IpAddr>,
    pub metrics: Metrics,
    /// Closed while an integrity alarm is open ([`crate::integrity`]).
    pub integrity: Gate,
    /// Recent token lookups ([`token_cache`]).
    pub tokens: TokenCache,
    /// Places for heavy audit work (reports, reconciliations, checks).
    pub audits: Arc<tokio::sync::Semaphore>,
    /// Password hashes running now (each holds 19 MiB): see
    /// `Limits::max_concurrent_password_hashes`.
    pub password_hashes: Arc<tokio::sync::Semaphore>,
}

/// A structure acting through one of its tokens (the JSON API) or a desk
/// session opened with one: who acts, and for which structure.
#[derive(Debug, Clone)]
pub struct StructureCaller {
    pub principal: crate::domain::Principal,
    pub structure_id: i64,
}

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(store: Store, keys: Keys, clock: Arc<dyn Clock>, limits: Limits) -> Self {
        let issue_limiter = RateLimiter::keyed(issue_quota(&limits));
        let operator_limiter = RateLimiter::keyed(operator_quota(
            limits.operator_rate_per_sec,
            limits.operator_burst,
        ));
        let typo_limiter = RateLimiter::keyed(typo_quota(limits.typos_per_min));
        let desk_sign_in_limiter = RateLimiter::keyed(desk_sign_in_quota(
            limits.desk.desk_sign_in_attempts_per_min,
        ));
        let tokens = TokenCache::new(limits.token_cache_secs, limits.token_cache_entries);
        let audits = Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(limits.max_concurrent_audits).unwrap_or(1),
        ));
        let password_hashes = Arc::new(tokio::sync::Semaphore::new(
            usize::try_from(limits.max_concurrent_password_hashes).unwrap_or(1),
        ));
        Self(Arc::new(Inner {
            store,
            keys,
            clock,
            limits,
            issue_limiter,
            operator_limiter,
            typo_limiter,
            desk_sign_in_limiter,
            metrics: Metrics::new(),
            integrity: Gate::default(),
            tokens,
            audits,
            password_hashes,
        }))
    }

    /// Refuses writes that move value while an integrity alarm is open.
    pub fn ensure_integrity(&self) -> AppResult<()> {
        if self.integrity.is_halted() {
            Err(AppError::IntegrityHold)
        } else {
            Ok(())
        }
    }

    /// Unix seconds, from the service's clock.
    pub fn now(&self) -> i64 {
        self.clock.now_secs()
    }
}

fn issue_quota(limits: &Limits) -> Quota {
    let per_hour = NonZeroU32::new(limits.issue_rate_codes_per_hour).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(limits.issue_burst_codes).unwrap_or(NonZeroU32::MIN);
    Quota::per_hour(per_hour).allow_burst(burst)
}

/// Rate of requests per operator token, per process.
pub fn operator_quota(per_sec: u32, burst: u32) -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(per_sec).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

/// A period `[from, to)` given as RFC 3339 times: reports, reconciliations
/// and statements read it the same way. Both bounds left out: the current
/// calendar month (UTC, as of `now`). One left out: the calendar month of
/// the other — `from` alone runs to the start of the next month, `to`
/// alone from the start of the month its last second falls in.
pub fn period(from: Option<&str>, to: Option<&str>, now: i64) -> AppResult<(i64, i64)> {
    let parse = |field: &'static str, text: &str| {
        crate::clock::parse_rfc3339(text)
            .ok_or_else(|| AppError::invalid(field, "an RFC 3339 time"))
    };
    let from = from.map(|t| parse("from", t)).transpose()?;
    let to = to.map(|t| parse("to", t)).transpose()?;
    // A bound left out is the calendar month of the other one (of now when
    // both are), so `to` alone is never answered "before from".
    let (from, to) = match (from, to) {
        (Some(from), Some(to)) => (from, to),
        (Some(from), None) => (from, crate::clock::month_bounds(from).1),
        (None, Some(to)) => (crate::clock::month_bounds(to.saturating_sub(1)).0, to),
        (None, None) => crate::clock::month_bounds(now),
    };
    if to <= from {
        return Err(AppError::invalid("to", "must be after from"));
    }
    Ok((from, to))
}

/// Desk sign-in attempts per client network: `attempts_per_min` at once,
/// then one more every `60 / attempts_per_min` seconds.
pub fn desk_sign_in_quota(attempts_per_min: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(attempts_per_min).unwrap_or(NonZeroU32::MIN))
}

/// Rate of typos per operator token, per process.
pub fn typo_quota(per_min: u32) -> governor::Quota {
    governor::Quota::per_minute(NonZeroU32::new(per_min).unwrap_or(NonZeroU32::MIN))
}

/// Whether issuing and redemption are halted. Cheap to read on every
/// request; set by the checks and by an acknowledgement.
#[derive(Debug, Default)]
pub struct Gate {
    halted: AtomicBool,
}

impl Gate {
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    pub fn set(&self, halted: bool) {
        self.halted.store(halted, Ordering::Release);
    }
}

#[cfg(test)]
mod period_tests {
    use super::period;

    #[test]
    fn a_bound_left_out_is_the_other_ones_month() {
        // Now: 2026-12-07T12:00Z.
        let now = 1_796_644_800;
        let day = |t: &str| crate::clock::parse_rfc3339(t).unwrap();
        assert_eq!(
            period(None, None, now).unwrap(),
            (day("2026-12-01T00:00:00Z"), day("2027-01-01T00:00:00Z"))
        );
        assert_eq!(
            period(None, Some("2026-10-01T00:00:00Z"), now).unwrap(),
            (day("2026-09-01T00:00:00Z"), day("2026-10-01T00:00:00Z"))
        );
        assert_eq!(
            period(Some("2026-03-15T00:00:00Z"), None, now).unwrap(),
            (day("2026-03-15T00:00:00Z"), day("2026-04-01T00:00:00Z"))
        );
        assert!(
            period(
                Some("2026-03-15T00:00:00Z"),
                Some("2026-03-01T00:00:00Z"),
                now
            )
            .is_err()
        );
        assert!(period(Some("hier"), None, now).is_err());
    }
}
