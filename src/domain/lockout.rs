//! The brute-force defence's rules: failed attempts are counted per source
//! (an operator token) and for the whole deployment, in fixed windows; a
//! source that fails too often, or that fails while the deployment's budget
//! is spent, is locked out, each time for twice as long. Subscriber lines
//! are sources too, with a policy of their own (5 failures in 24 h bar a
//! line for 24 h, doubling up to 30 days): a gateway serves thousands of
//! lines through one token, and one attacker's line must be barred without
//! locking the gateway out.

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

/// What one more failure from a subscriber line does to the line's
/// counter: barred once it reaches its policy's `per_source`. (The
/// deployment's budget is the operator's policy's business.)
pub fn on_line_failure(line: Counter, now: i64, policy: &LockoutPolicy) -> Counter {
    let line = line.count_failure(now, policy);
    if line.failures >= policy.per_source {
        line.lock(now, policy)
    } else {
        line
    }
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

    /// The defaults of the field: 5 failures in 24 h bar a line for 24 h,
    /// then 48 h, 96 h, … up to 30 days; four failures a day never do.
    #[test]
    fn lines_are_barred_after_five_and_bars_escalate_to_thirty_days() {
        const DAY: i64 = 86_400;
        let p = LockoutPolicy {
            window_secs: DAY,
            per_source: 5,
            global: i64::MAX,
            base_lockout_secs: DAY,
            max_lockout_secs: 30 * DAY,
            forgive_after_secs: 90 * DAY,
        };
        let mut line = Counter::default();
        for day in 0..10 {
            for _ in 0..4 {
                line = on_line_failure(line, day * DAY + 1, &p);
            }
        }
        assert_eq!(line.locked_for(10 * DAY), None, "4 a day never bar");
        let mut line = Counter::default();
        let mut now = 100 * DAY;
        let mut bars = Vec::new();
        for _ in 0..7 {
            for _ in 0..5 {
                assert_eq!(line.locked_for(now), None);
                line = on_line_failure(line, now, &p);
            }
            let secs = line.locked_for(now).unwrap();
            bars.push(secs / DAY);
            now += secs;
        }
        assert_eq!(bars, vec![1, 2, 4, 8, 16, 30, 30]);
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
