//! The auditor's period report: per structure and resource, what the
//! events say happened between `from` and `to`, and whether it adds up.

use std::collections::BTreeMap;

use serde::Serialize;

use super::replay::{Effect, QuotaKey, Replay};
use super::snapshot::EventRow;

/// One structure's resource over the period. Amounts are in the resource's
/// unit; `redeemed` and `reversed` are the amounts of the codes concerned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ReportRow {
    pub structure_id: i64,
    /// The network the quota is for.
    pub operator_id: i64,
    pub resource: String,
    /// Available quota at `from`.
    pub opening: i64,
    pub granted: i64,
    pub lapsed: i64,
    pub issued: i64,
    pub voided: i64,
    pub expired: i64,
    pub redeemed: i64,
    pub redeemed_count: i64,
    pub reversed: i64,
    /// Arrived from the tree: allocations from its association, claw-backs
    /// from its members.
    pub received: i64,
    /// Left for the tree.
    pub sent: i64,
    /// Available quota at `to`.
    pub closing: i64,
}

impl ReportRow {
    fn add(&mut self, e: &Effect) {
        self.granted += e.granted;
        self.lapsed += e.lapsed;
        self.issued += e.issued;
        self.voided += e.voided;
        self.expired += e.expired;
        self.redeemed += e.redeemed;
        self.redeemed_count += i64::from(e.redeemed > 0);
        self.reversed += e.reversed;
        self.received += e.received;
        self.sent += e.sent;
    }

    /// opening + granted + received − sent − lapsed − issued + voided +
    /// expired = closing.
    pub fn balances(&self) -> bool {
        self.opening + self.granted + self.received - self.sent - self.lapsed - self.issued
            + self.voided
            + self.expired
            == self.closing
    }
}

/// A period report: a row per structure and resource, and a roll-up per
/// association (its own row and its members', added up, under the
/// association's id).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodRows {
    pub rows: Vec<ReportRow>,
    pub associations: Vec<ReportRow>,
}

impl ReportRow {
    fn merge(&mut self, o: &ReportRow) {
        self.opening += o.opening;
        self.granted += o.granted;
        self.lapsed += o.lapsed;
        self.issued += o.issued;
        self.voided += o.voided;
        self.expired += o.expired;
        self.redeemed += o.redeemed;
        self.redeemed_count += o.redeemed_count;
        self.reversed += o.reversed;
        self.received += o.received;
        self.sent += o.sent;
        self.closing += o.closing;
    }
}

/// The rows of a period report and their roll-up per association, from
/// events in chain order; the tree is as it stands at `to`.
pub fn period_with_associations(events: &[&EventRow], from: i64, to: i64) -> PeriodRows {
    let (rows, replay) = period_replay(events, from, to);
    let associations = replay.associations();
    let mut rolled: BTreeMap<QuotaKey, ReportRow> = BTreeMap::new();
    for r in &rows {
        let top = replay.association_of(r.structure_id);
        if !associations.contains(&top) {
            continue;
        }
        rolled
            .entry((top, r.operator_id, r.resource.clone()))
            .or_insert_with(|| ReportRow {
                structure_id: top,
                operator_id: r.operator_id,
                resource: r.resource.clone(),
                ..ReportRow::default()
            })
            .merge(r);
    }
    PeriodRows {
        rows,
        associations: rolled.into_values().collect(),
    }
}

/// The rows of a period report, from events in chain order. Events at or
/// after `to` are not read.
pub fn period(events: &[&EventRow], from: i64, to: i64) -> Vec<ReportRow> {
    period_replay(events, from, to).0
}

fn period_replay(events: &[&EventRow], from: i64, to: i64) -> (Vec<ReportRow>, Replay) {
    let mut replay = Replay::default();
    let mut rows: BTreeMap<QuotaKey, ReportRow> = BTreeMap::new();
    let mut opened = false;
    for e in events {
        if e.at >= to {
            break;
        }
        if e.at >= from && !opened {
            open(&replay, &mut rows);
            opened = true;
        }
        let effect = replay.apply(e);
        for side in effect
            .iter()
            .filter(|_| e.at >= from)
            .flat_map(Effect::sides)
        {
            let key = (side.structure_id, side.operator_id, side.resource.clone());
            rows.entry(key)
                .or_insert_with(|| ReportRow {
                    structure_id: side.structure_id,
                    operator_id: side.operator_id,
                    resource: side.resource.clone(),
                    ..ReportRow::default()
                })
                .add(side);
        }
    }
    if !opened {
        open(&replay, &mut rows);
    }
    for (key, row) in &mut rows {
        row.closing = replay.totals.get(key).map_or(0, |t| t.available());
    }
    (rows.into_values().collect(), replay)
}

/// Starts a row, with its opening balance, for every structure's resource
/// known at `from`.
fn open(replay: &Replay, rows: &mut BTreeMap<QuotaKey, ReportRow>) {
    for (key, totals) in &replay.totals {
        rows.insert(
            key.clone(),
            ReportRow {
                structure_id: key.0,
                operator_id: key.1,
                resource: key.2.clone(),
                opening: totals.available(),
                ..ReportRow::default()
            },
        );
    }
}
