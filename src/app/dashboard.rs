//! The coordinator's dashboard: the months of the current year (UTC) per
//! network, the quota left, the structures that issued most this month
//! and those that have issued nothing for a while.

use std::collections::BTreeMap;

use super::{AppResult, AppState};
use crate::clock::month_bounds;
use crate::domain::Balance;
use crate::storage::{PeriodCounts, StructureActivity};

/// Days without an issue after which a structure is listed as idle.
pub const IDLE_DAYS: i64 = 60;
/// How many of the busiest structures the dashboard lists.
pub const TOP_STRUCTURES: usize = 10;

#[derive(Debug, Clone)]
pub struct Dashboard {
    /// The first second of each month of the year, January first.
    pub months: Vec<i64>,
    /// Which of them is the current month.
    pub current: usize,
    /// Counts per (month index, network).
    pub counts: BTreeMap<(usize, i64), PeriodCounts>,
    /// Quota of every structure added up, per network and resource.
    pub balances: Vec<Balance>,
    /// This month's busiest structures (that issued anything).
    pub busiest: Vec<StructureActivity>,
    /// Structures older than [`IDLE_DAYS`] with no issue for as long.
    pub idle: Vec<StructureActivity>,
}

impl Dashboard {
    /// The counts of one month (all networks) or of the year to date.
    pub fn total(&self, month: Option<usize>) -> PeriodCounts {
        let mut sum = PeriodCounts::default();
        for ((m, _), c) in &self.counts {
            if month.is_none_or(|wanted| wanted == *m) {
                add(&mut sum, c);
            }
        }
        sum
    }

    /// The year's counts per network.
    pub fn per_network(&self) -> BTreeMap<i64, PeriodCounts> {
        let mut out: BTreeMap<i64, PeriodCounts> = BTreeMap::new();
        for ((_, op), c) in &self.counts {
            add(out.entry(*op).or_default(), c);
        }
        out
    }
}

fn add(sum: &mut PeriodCounts, c: &PeriodCounts) {
    sum.issued += c.issued;
    sum.redeemed += c.redeemed;
    sum.voided += c.voided;
    sum.expired += c.expired;
    for (resource, n) in &c.granted {
        *sum.granted.entry(resource.clone()).or_default() += n;
    }
}

/// The months of `now`'s year: thirteen bounds, from January 1st to the
/// next January 1st.
pub fn year_months(now: i64) -> (Vec<i64>, usize) {
    let (this_month, _) = month_bounds(now);
    let mut starts = vec![this_month];
    // Walk back to January: a month's start minus one second is in the
    // month before.
    while starts.len() < 12 {
        let (previous, _) = month_bounds(starts[0] - 1);
        if year_of(previous) != year_of(this_month) {
            break;
        }
        starts.insert(0, previous);
    }
    let current = starts.len() - 1;
    while starts.len() < 13 {
        let last = starts[starts.len() - 1];
        starts.push(month_bounds(last).1);
    }
    (starts, current)
}

/// The calendar year (UTC) of a time.
pub fn year_of(secs: i64) -> Option<i32> {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(|t| t.year())
}

pub async fn dashboard(state: &AppState) -> AppResult<Dashboard> {
    let now = state.now();
    let (months, current) = year_months(now);
    let counts = state.store.period_counts(&months).await?;
    let balances = state.store.total_balances().await?;
    let activity = state.store.structure_activity(months[current]).await?;
    let idle_since = now - IDLE_DAYS * 86_400;
    let busiest = activity
        .iter()
        .filter(|a| a.issued > 0)
        .take(TOP_STRUCTURES)
        .cloned()
        .collect();
    let idle = activity
        .into_iter()
        .filter(|a| a.created_at <= idle_since && a.last_issued_at.is_none_or(|t| t < idle_since))
        .collect();
    Ok(Dashboard {
        months: months[..12].to_vec(),
        current,
        counts,
        balances,
        busiest,
        idle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::parse_rfc3339;

    #[test]
    fn the_year_is_cut_into_its_twelve_months() {
        let now = parse_rfc3339("2026-12-03T10:00:00Z").unwrap();
        let (months, current) = year_months(now);
        assert_eq!(months.len(), 13);
        assert_eq!(current, 11);
        assert_eq!(months[0], parse_rfc3339("2026-01-01T00:00:00Z").unwrap());
        assert_eq!(months[12], parse_rfc3339("2027-01-01T00:00:00Z").unwrap());
        let march = parse_rfc3339("2026-03-15T00:00:00Z").unwrap();
        let (months, current) = year_months(march);
        assert_eq!((months.len(), current), (13, 2));
        assert_eq!(months[3], parse_rfc3339("2026-04-01T00:00:00Z").unwrap());
    }
}
