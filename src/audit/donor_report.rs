//! The donor's report: what became of one operator's donation, per month
//! and structure. It is the period report's replay of the event chain,
//! kept to one network and cut by month, so its figures are the audit
//! report's over the same period, by construction (and by test).

use std::collections::BTreeMap;

use serde::Serialize;

use super::replay::{Effect, Replay};
use super::snapshot::EventRow;
use crate::domain::redemption::month_of;

const DAY_SECS: f64 = 86_400.0;

/// What happened to one resource of a network, over some span. Amounts are
/// in the resource's unit (MB of data, days of calls and texts): a
/// network's resources are never added together.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Figures {
    pub granted: i64,
    pub issued: i64,
    /// Codes redeemed, less those reversed.
    pub redeemed_count: i64,
    /// Their amount, less the amount reversed.
    pub redeemed_amount: i64,
    pub voided: i64,
    pub expired: i64,
    pub lapsed: i64,
    /// Seconds from issue to redemption of each redemption made (a later
    /// reversal does not undo how long it took).
    #[serde(skip)]
    delays_secs: Vec<i64>,
}

impl Figures {
    fn add(&mut self, e: &Effect, delay_secs: Option<i64>) {
        self.granted += e.granted;
        self.issued += e.issued;
        self.voided += e.voided;
        self.expired += e.expired;
        self.lapsed += e.lapsed;
        self.redeemed_amount += e.redeemed - e.reversed;
        self.redeemed_count += i64::from(e.redeemed > 0) - i64::from(e.reversed > 0);
        self.delays_secs.extend(delay_secs);
    }

    fn merge(&mut self, other: &Figures) {
        self.granted += other.granted;
        self.issued += other.issued;
        self.voided += other.voided;
        self.expired += other.expired;
        self.lapsed += other.lapsed;
        self.redeemed_amount += other.redeemed_amount;
        self.redeemed_count += other.redeemed_count;
        self.delays_secs.extend(&other.delays_secs);
    }

    /// The amount redeemed over the amount issued, to four places; `None`
    /// when nothing was issued.
    pub fn redemption_rate(&self) -> Option<f64> {
        (self.issued > 0).then(|| round(self.redeemed_amount as f64 / self.issued as f64, 4))
    }

    /// The median delay from issue to redemption, in days to one place;
    /// `None` without a redemption.
    pub fn median_days_to_redemption(&self) -> Option<f64> {
        median(&self.delays_secs).map(|secs| round(secs / DAY_SECS, 1))
    }
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round() / scale
}

/// The median of `values` (the mean of the two middle ones for an even
/// count), or `None` for none.
fn median(values: &[i64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let n = sorted.len();
    let high = *sorted.get(n / 2)?;
    if n % 2 == 1 {
        return Some(high as f64);
    }
    let low = *sorted.get(n / 2 - 1)?;
    Some((low as f64 + high as f64) / 2.0)
}

/// One month (`YYYY-MM`, UTC), structure and resource.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DonorRow {
    pub month: String,
    pub structure_id: i64,
    pub resource: String,
    pub figures: Figures,
}

/// The report: its rows in month, structure and resource order, and a
/// total per resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DonorReport {
    pub rows: Vec<DonorRow>,
    pub totals: BTreeMap<String, Figures>,
    /// Per association (a structure with members) and resource, over the
    /// whole period: its figures and its members', added up.
    pub associations: BTreeMap<(i64, String), Figures>,
    /// Structure names, as the events know them.
    pub structure_names: BTreeMap<i64, String>,
}

fn month_name(at: i64) -> String {
    let month = month_of(at);
    format!("{:04}-{:02}", month / 100, month % 100)
}

/// The report of `operator_id` over `[from, to)`, from events in chain
/// order. Events at or after `to` are not read.
pub fn donor_report(events: &[&EventRow], operator_id: i64, from: i64, to: i64) -> DonorReport {
    let mut replay = Replay::default();
    let mut rows: BTreeMap<(String, i64, String), Figures> = BTreeMap::new();
    for e in events {
        if e.at >= to {
            break;
        }
        let Some(effect) = replay.apply(e) else {
            continue;
        };
        if e.at < from || effect.operator_id != operator_id {
            continue;
        }
        let delay_secs = (effect.redeemed > 0)
            .then(|| e.voucher_id.and_then(|v| replay.vouchers.get(&v)))
            .flatten()
            .map(|v| e.at - v.issued_at);
        let key = (
            month_name(e.at),
            effect.structure_id,
            effect.resource.clone(),
        );
        rows.entry(key).or_default().add(&effect, delay_secs);
    }
    let mut totals: BTreeMap<String, Figures> = BTreeMap::new();
    let mut associations: BTreeMap<(i64, String), Figures> = BTreeMap::new();
    let tops = replay.associations();
    for ((_, structure_id, resource), figures) in &rows {
        totals.entry(resource.clone()).or_default().merge(figures);
        let top = replay.association_of(*structure_id);
        if tops.contains(&top) {
            associations
                .entry((top, resource.clone()))
                .or_default()
                .merge(figures);
        }
    }
    DonorReport {
        rows: rows
            .into_iter()
            .map(|((month, structure_id, resource), figures)| DonorRow {
                month,
                structure_id,
                resource,
                figures,
            })
            .collect(),
        totals,
        associations,
        structure_names: replay
            .structures
            .into_iter()
            .map(|(id, (name, _))| (id, name))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_take_the_middle() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[5]), Some(5.0));
        assert_eq!(median(&[9, 1, 5]), Some(5.0));
        assert_eq!(median(&[4, 2]), Some(3.0));
        assert_eq!(median(&[1, 2, 3, 10]), Some(2.5));
    }

    #[test]
    fn months_are_named_in_utc() {
        // 2031-03-31T23:59:59Z and the second after.
        assert_eq!(month_name(1_932_767_999), "2031-03");
        assert_eq!(month_name(1_932_768_000), "2031-04");
    }

    #[test]
    fn rates_and_medians_round() {
        let mut f = Figures {
            issued: 3,
            redeemed_amount: 2,
            ..Figures::default()
        };
        f.delays_secs = vec![86_400, 3 * 86_400 + 3_600];
        assert_eq!(f.redemption_rate(), Some(0.6667));
        assert_eq!(f.median_days_to_redemption(), Some(2.0));
        assert_eq!(Figures::default().redemption_rate(), None);
        assert_eq!(Figures::default().median_days_to_redemption(), None);
    }
}
