//! Lots: every issue request is one, numbered by its issue entry. A
//! structure reads its lots (public references, products and states,
//! never the codes) and voids every unredeemed voucher of one at once,
//! with a reason, as when a sheet of slips is lost.

use std::collections::BTreeMap;

use super::{AppError, AppResult, AppState, StructureCaller};
use crate::domain::check_text;
use crate::domain::minting::voucher_from_row_id;
use crate::storage::{LotSummary, LotVoided, VoucherRow};

/// Longest reason for voiding a lot.
pub const MAX_VOID_REASON_CHARS: usize = 200;
/// Lots on one page of a structure's list.
pub const LOTS_PER_PAGE: i64 = 50;

/// The caller's lots before lot `before` (the newest when `None`), a page
/// of them, newest first.
pub async fn list(
    state: &AppState,
    caller: &StructureCaller,
    before: Option<i64>,
) -> AppResult<Vec<LotSummary>> {
    Ok(state
        .store
        .structure_lots(caller.structure_id, before, LOTS_PER_PAGE, state.now())
        .await?)
}

/// The vouchers of one of the caller's lots; another's is not found.
pub async fn read(
    state: &AppState,
    caller: &StructureCaller,
    lot: i64,
) -> AppResult<Vec<VoucherRow>> {
    let rows = state
        .store
        .lot_vouchers(caller.structure_id, lot, state.now())
        .await?;
    if rows.is_empty() {
        return Err(AppError::NotFound("lot"));
    }
    Ok(rows)
}

/// Lots as people number them: within their structure, 1 for its first
/// issue. The global number (the issue entry's id) stays the lot's name in
/// the API and in addresses; this is what pages and slips print.
#[derive(Clone, Debug, Default)]
pub struct LotNumbers(BTreeMap<i64, i64>);

impl LotNumbers {
    /// The structure's number of a lot (its global number when it is not
    /// an issue entry, which no page shows).
    pub fn of(&self, lot: i64) -> i64 {
        self.0.get(&lot).copied().unwrap_or(lot)
    }
}

/// The structure's numbers of these lots, in one read.
pub async fn numbers(state: &AppState, lots: &[i64]) -> AppResult<LotNumbers> {
    Ok(LotNumbers(state.store.lot_numbers(lots).await?))
}

/// A voucher's public reference (its serial), without its code.
pub fn serial(row: &VoucherRow) -> AppResult<String> {
    voucher_from_row_id(row.id)
        .map(|v| v.to_string())
        .ok_or(AppError::Internal("voucher row id out of range"))
}

/// Voids every unredeemed voucher of one of the caller's lots, in one
/// transaction, each with `reason`; their quota is given back.
pub async fn void(
    state: &AppState,
    caller: &StructureCaller,
    lot: i64,
    reason: &str,
) -> AppResult<LotVoided> {
    let reason = check_text("reason", Some(reason), MAX_VOID_REASON_CHARS)?.unwrap_or_default();
    let done = state
        .store
        .void_lot(
            &caller.principal,
            caller.structure_id,
            lot,
            &reason,
            state.now(),
        )
        .await?;
    tracing::info!(
        structure = caller.structure_id,
        lot,
        voided = done.voided,
        expired = done.expired,
        "lot voided"
    );
    Ok(done)
}
