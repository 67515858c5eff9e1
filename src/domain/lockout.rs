//! The brute-force defence's rules: failed attempts are counted per source
//! (an operator token) and for the whole deployment, in fixed windows; a
//! source that fails too often, or that fails while the deployment's budget
//! is spent, is locked out, each time for twice as long.

/// Thresholds and durations, all configurable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Length of a counting window, in seconds.
    pub window_secs: i64,
    /// Failures one source may have per window.
    pub per_source: i64,
    /// Failures the whole deployment may have per window.
    pub global: i64,
    /// First lock-out, in seconds; each further one doubles it.
    pub base_lockout_secs: i64,
    /// Longest lock-out, in seconds.
    pub max_lockout_secs: i64,
    /// A source that has not been locked out for this long starts again
    /// from the first lock-out duration.
    pub forgive_after_secs: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        Self {
            window_secs: 60,
            per_source: 20,
            global: 500,
            base_lockout_secs: 60,
            max_lockout_secs: 3600,
            forgive_after_secs: 86_400,
        }
    }
}

/// A failure counter as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Counter {
    pub window_start: i64,
    pub failures: i64,
    pub lockouts: i64,
    pub locked_until: i64,
}

impl Counter {
    /// The counter after one more failure at `now`, in its current window.
    pub fn count_failure(self, now: i64, policy: &LockoutPolicy) -> Self {
        let in_window = now < self.window_start + policy.window_secs;
        let lockouts = if now >= self.locked_until + policy.forgive_after_secs {
            0
        } else {
            self.lockouts
        };
        Self {
            window_start: if in_window { self.window_start } else { now },
            failures: if in_window { self.failures + 1 } else { 1 },
            lockouts,
            locked_until: self.locked_until,
        }
    }

    /// Locks the source out, for twice as long as last time (capped).
    pub fn lock(self, now: i64, policy: &LockoutPolicy) -> Self {
        let doublings = u32::try_from(self.lockouts.clamp(0, 30)).unwrap_or(30);
        let secs = policy
            .base_lockout_secs
            .saturating_mul(1i64 << doublings)
            .min(policy.max_lockout_secs);
        Self {
            window_start: now,
            failures: 0,
            lockouts: self.lockouts + 1,
            locked_until: now + secs,
        }
    }

    /// Seconds until the lock-out ends, if locked at `now`.
    pub fn locked_for(&self, now: i64) -> Option<i64> {
        (self.locked_until > now).then(|| self.locked_until - now)
    }
}

/// What one more failure does: the source's and the deployment's counters
/// after it, and whether the source is now locked out.
pub fn on_failure(
    source: Counter,
    global: Counter,
    now: i64,
    policy: &LockoutPolicy,
) -> (Counter, Counter) {
    let source = source.count_failure(now, policy);
    let global = global.count_failure(now, policy);
    let over = source.failures >= policy.per_source || global.failures > policy.global;
    let source = if over {
        source.lock(now, policy)
    } else {
        source
    };
    (source, global)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail_n(n: i64, now: i64, policy: &LockoutPolicy) -> Counter {
        let mut c = Counter::default();
        let mut g = Counter::default();
        for _ in 0..n {
            (c, g) = on_failure(c, g, now, policy);
        }
        c
    }

    #[test]
    fn locks_after_the_per_source_budget() {
        let p = LockoutPolicy::default();
        assert_eq!(fail_n(19, 1000, &p).locked_for(1000), None);
        assert_eq!(fail_n(20, 1000, &p).locked_for(1000), Some(60));
    }

    #[test]
    fn lockouts_escalate_and_cap() {
        let p = LockoutPolicy::default();
        let mut c = Counter::default();
        let mut durations = Vec::new();
        for i in 0..8 {
            let now = 10_000 * (i + 1);
            c = c.lock(now, &p);
            durations.push(c.locked_until - now);
        }
        assert_eq!(durations, vec![60, 120, 240, 480, 960, 1920, 3600, 3600]);
    }

    #[test]
    fn global_budget_locks_any_failing_source() {
        let p = LockoutPolicy {
            global: 3,
            ..LockoutPolicy::default()
        };
        let g = Counter {
            window_start: 1000,
            failures: 3,
            ..Counter::default()
        };
        let (c, g) = on_failure(Counter::default(), g, 1001, &p);
        assert_eq!(g.failures, 4);
        assert!(c.locked_for(1001).is_some());
    }

    #[test]
    fn windows_reset_and_old_lockouts_are_forgiven() {
        let p = LockoutPolicy::default();
        let c = Counter {
            window_start: 0,
            failures: 19,
            lockouts: 3,
            locked_until: 100,
        };
        let later = c.count_failure(100 + p.forgive_after_secs, &p);
        assert_eq!((later.failures, later.lockouts), (1, 0));
    }
}
