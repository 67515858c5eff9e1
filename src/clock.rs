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

/// The deployment's time zone: the one people at the desk live in, so
/// the dates and times they read are theirs, not UTC. The API keeps
/// RFC 3339 UTC; only what a person reads goes through here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Zone(jiff::tz::TimeZone);

/// A moment as read on a wall clock of the zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallTime {
    pub date: time::Date,
    pub hour: u8,
    pub minute: u8,
}

impl Zone {
    /// An IANA zone name (`Europe/Paris`, `America/Cayenne`, `UTC`).
    pub fn named(name: &str) -> Result<Self, String> {
        jiff::tz::TimeZone::get(name)
            .map(Self)
            .map_err(|_| format!("unknown time zone {name:?} (an IANA name such as Europe/Paris)"))
    }

    pub fn utc() -> Self {
        Self(jiff::tz::TimeZone::UTC)
    }

    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }

    /// The wall-clock date and time of Unix seconds here.
    pub fn wall(&self, at_secs: i64) -> Option<WallTime> {
        let local = self
            .0
            .to_datetime(jiff::Timestamp::from_second(at_secs).ok()?);
        let month = time::Month::try_from(u8::try_from(local.month()).ok()?).ok()?;
        let day = u8::try_from(local.day()).ok()?;
        Some(WallTime {
            date: time::Date::from_calendar_date(i32::from(local.year()), month, day).ok()?,
            hour: u8::try_from(local.hour()).ok()?,
            minute: u8::try_from(local.minute()).ok()?,
        })
    }

    /// The first second of a day here (its local midnight, or the first
    /// moment after it when a clock change skips midnight).
    pub fn day_start_secs(&self, date: time::Date) -> Option<i64> {
        let civil = jiff::civil::Date::new(
            i16::try_from(date.year()).ok()?,
            i8::try_from(u8::from(date.month())).ok()?,
            i8::try_from(date.day()).ok()?,
        )
        .ok()?;
        let start = self
            .0
            .to_timestamp(civil.to_datetime(jiff::civil::Time::midnight()));
        start.ok().map(jiff::Timestamp::as_second)
    }
}

impl Default for Zone {
    /// The scheme is French: Paris time unless a deployment says otherwise.
    fn default() -> Self {
        Self::named("Europe/Paris").unwrap_or_else(|_| Self::utc())
    }
}

#[cfg(test)]
mod zone_tests {
    use super::*;

    #[test]
    fn paris_reads_its_own_wall_clock_across_a_clock_change() {
        let paris = Zone::named("Europe/Paris").unwrap();
        // 2026-12-31T23:30Z is already New Year's Day in Paris (UTC+1).
        let wall = paris.wall(1_798_759_800).unwrap();
        assert_eq!(wall.date, time::macros::date!(2027 - 01 - 01));
        assert_eq!((wall.hour, wall.minute), (0, 30));
        // Summer time: 2026-07-14T10:00Z is noon in Paris (UTC+2).
        let wall = paris.wall(1_784_023_200).unwrap();
        assert_eq!((wall.hour, wall.minute), (12, 0));
        // The first second of 14 July 2026 in Paris is 22:00Z the day before.
        assert_eq!(
            paris.day_start_secs(time::macros::date!(2026 - 07 - 14)),
            Some(1_783_980_000)
        );
        assert_eq!(Zone::utc().wall(1_798_759_800).unwrap().hour, 23);
        assert!(Zone::named("Mars/Olympus").is_err());
    }
}
