//! A stored voucher row and the state changes every write path shares:
//! reading a row (its state refined by the clock), the compare-and-set of
//! its state, and expiry with its give-back. Issuing and voiding
//! (`vouchers.rs`) and redemption (`redemptions.rs`) build on it; it
//! imports neither, so neither imports the other for it.

use serde::{Deserialize, Serialize};
use sqlx::{Row, any::AnyRow};

use super::WriteTx;
use super::events::{self, EventInput};
use super::quota as ledger;
use super::{Result, StorageError};
use crate::domain::VoucherState;
use crate::domain::lifecycle::{self, Transition};

/// The columns [`voucher_from_row`] reads: a voucher's own, the hold of
/// its reserved redemption if any (so that a hold that ran out reads as
/// `issued` everywhere, sweeper or not) and its product's network.
pub(crate) const VOUCHER_COLUMNS: &str = "id, structure_id, product_id, resource, amount, state, reference, issued_at, \
     expires_at, state_changed_at, attestation, issue_entry_id, (SELECT r.hold_expires_at FROM redemptions r \
     WHERE r.voucher_id = vouchers.id AND r.state = 'reserved') AS hold_expires_at, \
     (SELECT p.operator_id FROM products p WHERE p.id = vouchers.product_id) AS operator_id";

/// A voucher as stored (without its code, which the key set recomputes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherRow {
    pub id: i64,
    /// The issue request it came from: its issue ledger entry's id. Answers
    /// stored before lots existed read 0.
    #[serde(default)]
    pub lot: i64,
    pub structure_id: i64,
    /// Its product's network.
    pub operator_id: i64,
    pub product_id: String,
    pub resource: String,
    pub amount: i64,
    pub state: VoucherState,
    pub reference: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub state_changed_at: i64,
    pub attestation: String,
    /// The state as stored, which `state` refines with the clock.
    #[serde(skip, default = "stored_issued")]
    pub stored_state: VoucherState,
}

impl VoucherRow {
    /// The quota account it drew from.
    pub(crate) fn account(&self) -> ledger::Account<'_> {
        ledger::Account {
            structure_id: self.structure_id,
            operator_id: self.operator_id,
            resource: &self.resource,
        }
    }
}

fn stored_issued() -> VoucherState {
    VoucherState::Issued
}

pub(crate) fn voucher_from_row(row: &AnyRow, now: i64) -> Result<VoucherRow> {
    let state: String = row.try_get("state")?;
    let stored = VoucherState::parse(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("state {state:?}")))?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let hold: Option<i64> = row.try_get("hold_expires_at")?;

    Ok(VoucherRow {
        id: row.try_get("id")?,
        lot: row.try_get("issue_entry_id")?,
        structure_id: row.try_get("structure_id")?,
        operator_id: row.try_get("operator_id")?,
        product_id: row.try_get("product_id")?,
        resource: row.try_get("resource")?,
        amount: row.try_get("amount")?,
        state: lifecycle::current_state(stored, hold, expires_at, now),
        reference: row.try_get("reference")?,
        issued_at: row.try_get("issued_at")?,
        expires_at,
        state_changed_at: row.try_get("state_changed_at")?,
        attestation: row.try_get("attestation")?,
        stored_state: stored,
    })
}

pub(super) fn give_back_data(v: &VoucherRow, lapsed: i64) -> serde_json::Value {
    serde_json::json!({
        "resource": v.resource, "amount": v.amount, "lapsed": lapsed,
        "expires_at": v.expires_at,
    })
}

pub(super) fn voucher_event(
    kind: &'static str,
    actor: String,
    v: &VoucherRow,
    data: serde_json::Value,
) -> EventInput {
    EventInput {
        kind,
        actor,
        structure_id: Some(v.structure_id),
        voucher_id: Some(v.id),
        data,
    }
}

/// The compare-and-set's condition on a voucher's stored state, `$param`
/// the state expected: `(state = $param) IS TRUE`, the same test on a NOT
/// NULL column as `state = $param`, but one PostgreSQL's planner cannot
/// match with the partial expiry index (`WHERE state = 'issued'`). With
/// statistics stale after a large issue it would otherwise take that index
/// for nearly empty and scan every issued code instead of using the key.
pub(crate) fn state_is(param: usize) -> String {
    format!("(state = ${param}) IS TRUE")
}

/// Compare-and-set: moves voucher `id` from `from` to `to` only if it is
/// still `from`; answers whether it did.
pub(crate) async fn set_state(
    tx: &mut WriteTx,
    id: i64,
    from: VoucherState,
    to: VoucherState,
    now: i64,
) -> Result<bool> {
    let sql = format!(
        "UPDATE vouchers SET state = $1, state_changed_at = $2 WHERE id = $3 AND {}",
        state_is(4)
    );
    let changed = sqlx::query(&sql)
        .bind(to.as_str())
        .bind(now)
        .bind(id)
        .bind(from.as_str())
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(changed == 1)
}

pub(super) async fn change_state(
    tx: &mut WriteTx,
    v: &VoucherRow,
    to: VoucherState,
    now: i64,
) -> Result<bool> {
    set_state(tx, v.id, v.stored_state, to, now).await
}

/// Expires one voucher whose date has passed, if still issued.
pub(crate) async fn expire_one(tx: &mut WriteTx, v: &VoucherRow, now: i64) -> Result<bool> {
    // The transition table says where expiry may start (only `issued`): a
    // voucher already expired must not be expired, and given back, twice.
    let Ok(to) = lifecycle::next(v.stored_state, Transition::Expire) else {
        return Ok(false);
    };
    if !change_state(tx, v, to, now).await? {
        return Ok(false);
    }
    let lapsed = ledger::give_back(tx, v.account(), v.id, v.amount, now).await?;
    let event = voucher_event("expire", "system".into(), v, give_back_data(v, lapsed));
    events::append(tx, now, &[event]);
    Ok(true)
}
