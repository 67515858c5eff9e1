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

/// The rows of a period report, from events in chain order. Events at or
/// after `to` are not read.
pub fn period(events: &[&EventRow], from: i64, to: i64) -> Vec<ReportRow> {
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
    rows.into_values().collect()
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
