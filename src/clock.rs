//! Time, handed to the rest of the service so tests can control it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Unix seconds now. Production uses [`SystemClock`]; tests use
/// [`ManualClock`] to make codes expire or holds time out on demand.
pub trait Clock: Send + Sync + 'static {
    fn now_secs(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_secs(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    pub fn new(now_secs: i64) -> Self {
        Self(Arc::new(AtomicI64::new(now_secs)))
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    pub fn set(&self, now_secs: i64) {
        self.0.store(now_secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_secs(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Formats Unix seconds as RFC 3339 UTC (`2026-11-22T18:37:57Z`).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}

/// The calendar month (UTC) a time falls in: its first second, and the
/// first second of the next month.
pub fn month_bounds(secs: i64) -> (i64, i64) {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs) else {
        return (secs, secs.saturating_add(1));
    };
    let first = |year: i32, month: time::Month| {
        time::Date::from_calendar_date(year, month, 1)
            .map(|d| d.midnight().assume_utc().unix_timestamp())
    };
    let (year, month) = (t.year(), t.month());
    let next_year = if month == time::Month::December {
        year.saturating_add(1)
    } else {
        year
    };
    match (first(year, month), first(next_year, month.next())) {
        (Ok(start), Ok(end)) => (start, end),
        _ => (secs, secs.saturating_add(1)),
    }
}

/// Parses an RFC 3339 time into Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}
