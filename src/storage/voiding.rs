//! Voiding: one voucher, or every unredeemed voucher of a lot at once (a
//! sheet of slips lost). Both go through [`void_locked`], so a lot's void
//! is exactly its vouchers' voids in one transaction.

use super::events;
use super::quota as ledger;
use super::voucher_state::{
    VoucherRow, change_state, expire_one, give_back_data, voucher_event, voucher_from_row,
};
use super::{Result, StorageError, Store, WriteTx};
use crate::domain::lifecycle::{self, Transition};
use crate::domain::{DomainError, Principal, VoucherState};

/// What voiding one locked voucher did.
#[derive(Debug)]
pub(super) enum Voided {
    Done(VoucherRow),
    /// Past its date: recorded as expired (its quota given back as such).
    Expired,
    /// Redeemed, reserved, voided already: nothing done.
    Refused(VoucherState),
}

/// Voids a voucher read under the transaction's lock, with `reason` in its
/// event when given. A hold that ran out is released first, as a
/// redemption would; a voucher past its date is expired instead.
pub(super) async fn void_locked(
    store: &Store,
    tx: &mut WriteTx,
    mut voucher: VoucherRow,
    actor: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<Voided> {
    if voucher.stored_state == VoucherState::Reserved && voucher.state != VoucherState::Reserved {
        super::redemptions::time_out_hold_of_voucher(store, tx, voucher.id, now).await?;
        voucher.stored_state = VoucherState::Issued;
    }
    if voucher.state == VoucherState::Expired {
        expire_one(tx, &voucher, now).await?;
        return Ok(Voided::Expired);
    }
    let Ok(to) = lifecycle::next(voucher.state, Transition::Void) else {
        return Ok(Voided::Refused(voucher.state));
    };
    // Read under its lock, the voucher cannot have moved; if it did, give
    // nothing back and write nothing rather than return quota twice.
    if !change_state(tx, &voucher, to, now).await? {
        return Err(StorageError::Corrupt(
            "a voucher locked for a void was not in the state read".into(),
        ));
    }
    let lapsed = ledger::give_back(tx, voucher.account(), voucher.id, voucher.amount, now).await?;
    let mut data = give_back_data(&voucher, lapsed);
    if let Some(reason) = reason {
        data["reason"] = reason.into();
        data["lot"] = voucher.lot.into();
    }
    let event = voucher_event("void", actor.to_owned(), &voucher, data);
    events::append(tx, now, &[event]);
    Ok(Voided::Done(VoucherRow {
        state: to,
        state_changed_at: now,
        ..voucher
    }))
}

/// What voiding a lot did: how many were voided, and how many were found
/// past their date (and recorded as expired).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LotVoided {
    pub voided: u64,
    pub expired: u64,
}

impl Store {
    /// The vouchers of one lot of the structure, in serial order; empty
    /// when the lot is not the structure's.
    pub async fn lot_vouchers(
        &self,
        structure_id: i64,
        lot: i64,
        now: i64,
    ) -> Result<Vec<VoucherRow>> {
        let sql = format!(
            "SELECT {} FROM vouchers WHERE issue_entry_id = $1 AND structure_id = $2 ORDER BY id",
            super::voucher_state::VOUCHER_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(lot)
            .bind(structure_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| voucher_from_row(r, now)).collect()
    }

    /// Voids every unredeemed voucher of a lot in one transaction, each with
    /// its event and `reason`; redeemed and reserved ones are left as they
    /// are. Another structure's lot, or none, is not found.
    pub async fn void_lot(
        &self,
        principal: &Principal,
        structure_id: i64,
        lot: i64,
        reason: &str,
        now: i64,
    ) -> Result<LotVoided> {
        let mut tx = self.begin_write().await?;
        super::admin::ensure_live(&mut tx, principal).await?;
        let sql = format!(
            "SELECT {} FROM vouchers WHERE issue_entry_id = $1 AND structure_id = $2 ORDER BY id{}",
            super::voucher_state::VOUCHER_COLUMNS,
            self.for_update()
        );
        let rows = sqlx::query(&sql)
            .bind(lot)
            .bind(structure_id)
            .fetch_all(&mut *tx)
            .await?;
        if rows.is_empty() {
            return Err(DomainError::NotFound("lot").into());
        }
        let actor = principal.actor();
        let mut done = LotVoided {
            voided: 0,
            expired: 0,
        };
        for row in &rows {
            let voucher = voucher_from_row(row, now)?;
            match void_locked(self, &mut tx, voucher, &actor, Some(reason), now).await? {
                Voided::Done(_) => done.voided += 1,
                Voided::Expired => done.expired += 1,
                Voided::Refused(_) => {}
            }
        }
        events::commit(tx).await?;
        Ok(done)
    }
}
