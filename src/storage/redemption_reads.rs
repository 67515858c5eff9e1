//! Redemptions as they are read: a code's facts for check and redeem, a
//! redemption row (and what undoing it needs), operators' statements and
//! the holds due for the sweeper. The general write path
//! (`redemptions.rs`) reads through these too, under its locks.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::redemption_types::RedemptionRecord;
use super::{Result, StorageError, Store};
use crate::domain::VoucherState;
use crate::domain::lifecycle;
use crate::domain::redemption::RedemptionState;
use crate::domain::redemption_decisions::RedemptionAt;

/// What a voucher is, for check and redeem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherFacts {
    pub id: i64,
    pub structure_id: i64,
    /// Its product's network: no other operator may see it.
    pub operator_id: i64,
    pub product: String,
    pub family: String,
    pub resource: String,
    pub amount: i64,
    pub validity_days: i64,
    /// As of now: a timed-out hold reads `issued`, a late code `expired`.
    pub state: VoucherState,
    pub expires_at: i64,
}

pub(super) const FACTS_SQL: &str = "SELECT v.id, v.structure_id, p.operator_id, v.product_id, p.family, v.resource, v.amount, p.validity_days, \
     v.state, v.issued_at, v.expires_at, v.state_changed_at, v.reference, v.attestation, v.issue_entry_id, \
     (SELECT r.hold_expires_at FROM redemptions r WHERE r.voucher_id = v.id AND r.state = 'reserved') AS hold_expires_at \
     FROM vouchers v JOIN products p ON p.id = v.product_id WHERE v.id = $1";

pub(super) fn facts_from_row(row: &AnyRow, now: i64) -> Result<VoucherFacts> {
    let state: String = row.try_get("state")?;
    let stored = VoucherState::parse(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("state {state:?}")))?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let hold: Option<i64> = row.try_get("hold_expires_at")?;

    Ok(VoucherFacts {
        id: row.try_get("id")?,
        structure_id: row.try_get("structure_id")?,
        operator_id: row.try_get("operator_id")?,
        product: row.try_get("product_id")?,
        family: row.try_get("family")?,
        resource: row.try_get("resource")?,
        amount: row.try_get("amount")?,
        validity_days: row.try_get("validity_days")?,
        state: lifecycle::current_state(stored, hold, expires_at, now),
        expires_at,
    })
}

pub(super) const RECORD_SQL: &str = "SELECT r.id, r.state, r.voucher_id, v.product_id, v.resource, v.amount, p.validity_days, \
     r.operator_ref, r.created_at, r.hold_expires_at, r.redeemed_at, r.ended_at, r.msisdn_hash, r.family, r.period, \
     r.counted, r.operator_id, v.state AS voucher_state, v.structure_id, v.expires_at \
     FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id JOIN products p ON p.id = v.product_id";

pub(super) fn record_from_row(row: &AnyRow) -> Result<RedemptionRecord> {
    let state: String = row.try_get("state")?;
    Ok(RedemptionRecord {
        id: row.try_get("id")?,
        state: RedemptionState::parse(&state)
            .ok_or_else(|| StorageError::Corrupt(format!("redemption {state:?}")))?,
        voucher_id: row.try_get("voucher_id")?,
        product: row.try_get("product_id")?,
        resource: row.try_get("resource")?,
        amount: row.try_get("amount")?,
        validity_days: row.try_get("validity_days")?,
        operator_ref: row.try_get("operator_ref")?,
        created_at: row.try_get("created_at")?,
        hold_expires_at: row.try_get("hold_expires_at")?,
        redeemed_at: row.try_get("redeemed_at")?,
        ended_at: row.try_get("ended_at")?,
    })
}

/// The parts of a redemption row that undoing it needs.
pub(super) struct Held {
    pub record: RedemptionRecord,
    pub msisdn_hash: Vec<u8>,
    pub family: String,
    pub period: i64,
    pub counted: bool,
    pub structure_id: i64,
    /// The network it was made for.
    pub operator_id: i64,
}

impl Held {
    /// What the domain decides a follow-up from.
    pub(super) fn at(&self) -> RedemptionAt {
        RedemptionAt {
            state: self.record.state,
            hold_expires_at: self.record.hold_expires_at,
            redeemed_at: self.record.redeemed_at,
        }
    }
}

pub(super) fn held_from_row(row: &AnyRow) -> Result<Held> {
    Ok(Held {
        record: record_from_row(row)?,
        msisdn_hash: row.try_get("msisdn_hash")?,
        family: row.try_get("family")?,
        period: row.try_get("period")?,
        counted: row.try_get::<i64, _>("counted")? == 1,
        structure_id: row.try_get("structure_id")?,
        operator_id: row.try_get("operator_id")?,
    })
}

impl Store {
    /// What a code is, as of `now`, without changing anything.
    pub async fn voucher_facts(&self, voucher_id: i64, now: i64) -> Result<Option<VoucherFacts>> {
        let row = sqlx::query(FACTS_SQL)
            .bind(voucher_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| facts_from_row(&r, now)).transpose()
    }

    /// An operator's statement: redemptions redeemed in `[from, to)`, in id
    /// order, after `after_id`, at most `limit`.
    pub async fn statement(
        &self,
        operator_id: i64,
        from: i64,
        to: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<RedemptionRecord>> {
        let sql = format!(
            "{RECORD_SQL} WHERE r.operator_id = $1 AND r.redeemed_at >= $2 AND r.redeemed_at < $3 \
             AND r.id > $4 ORDER BY r.id LIMIT {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(operator_id)
            .bind(from)
            .bind(to)
            .bind(after_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Reserved redemptions whose hold has run out (for the sweeper).
    /// Each as its id, its token and its operator.
    pub async fn due_holds(&self, now: i64, limit: usize) -> Result<Vec<(i64, i64, i64)>> {
        let sql = format!(
            "SELECT id, operator_token_id, operator_id FROM redemptions WHERE state = 'reserved' AND hold_expires_at <= $1 \
             ORDER BY hold_expires_at LIMIT {limit}"
        );
        let rows = sqlx::query(&sql).bind(now).fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("id")?,
                    r.try_get("operator_token_id")?,
                    r.try_get("operator_id")?,
                ))
            })
            .collect()
    }
}
