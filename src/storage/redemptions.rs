//! Redemptions, the general path: redeem, reserve, confirm, cancel, time
//! out and reverse, one operation at a time, each applied inside a
//! transaction the caller (the [`super::batch`] writer) provides, so many
//! can share one commit. What they read, and the reads of check and
//! statements, are in `redemption_reads.rs`.
//!
//! Every operation locks the voucher row (`FOR UPDATE` on PostgreSQL; the
//! writer's `BEGIN IMMEDIATE` on SQLite) and reads it, asks
//! [`crate::domain::redemption_decisions`] what happens, and applies the
//! answer: each change a compare-and-set on the stored state, with its
//! event from [`super::redemption_rows`]. The partial unique index on live
//! redemptions is the last line of defence against a double redemption.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::WriteTx;
use super::beneficiary_usage as usage;
use super::events;
use super::fast_redeem;
use super::idempotency::{self, Claimed};
pub use super::redemption_reads::VoucherFacts;
use super::redemption_reads::{FACTS_SQL, Held, RECORD_SQL, facts_from_row, held_from_row};
use super::redemption_rows::{self as rows, NewRow, Target};
pub use super::redemption_types::{Outcome, RedeemInput, RedeemMode, RedemptionRecord};
use super::{Result, StorageError, Store, values_placeholders};
pub use crate::domain::redemption_decisions::Followup;
use crate::domain::redemption_decisions::{
    Change, FollowUpAnswer, NewRedemption, RedeemVerdict, VoucherAtRedeem, decide_follow_up,
    decide_redeem,
};
use crate::domain::{DomainError, VoucherState};

/// Redeems or reserves a verified code. `set_based_tried` says the caller
/// has already tried [`fast_redeem::redeem_issued`] on it in this
/// transaction.
pub(crate) async fn redeem(
    store: &Store,
    tx: &mut WriteTx,
    input: &RedeemInput,
    now: i64,
    set_based_tried: bool,
) -> Result<Outcome> {
    if let Some(claim) = &input.idempotency {
        let claimed = match idempotency::claim(tx, claim, now).await {
            Err(StorageError::Domain(refusal)) => return Ok(Outcome::Refused(refusal)),
            other => other?,
        };
        if let Claimed::Replay(answer) = claimed {
            let record = serde_json::from_str(&answer).map_err(StorageError::Encoding)?;
            return Ok(Outcome::Replay(record));
        }
    }
    // Only a request with a key gets here with its line unchecked (see
    // `write::Redeem::line`): its key is claimed, and not a replay.
    let barred = match (&input.line, &input.idempotency) {
        (Some(line), Some(_)) => super::lockout::barred_lines(tx, &[line], now).await?,
        _ => Default::default(),
    };
    let outcome = match barred.into_values().next() {
        Some(secs) => Outcome::Refused(DomainError::LockedOut {
            retry_after_secs: secs,
        }),
        None => redeem_claimed(store, tx, input, now, set_based_tried).await?,
    };
    if let Some(claim) = &input.idempotency {
        match &outcome {
            Outcome::Done(record) => {
                let answer = serde_json::to_string(record).map_err(StorageError::Encoding)?;
                idempotency::store_answer(tx, claim, &answer).await?;
            }
            // Only successes are kept: a refused request may be retried.
            _ => idempotency::release(tx, claim).await?,
        }
    }
    Ok(outcome)
}

/// Reads the voucher under its lock, asks the domain, applies its decision.
async fn redeem_claimed(
    store: &Store,
    tx: &mut WriteTx,
    input: &RedeemInput,
    now: i64,
    set_based_tried: bool,
) -> Result<Outcome> {
    if !set_based_tried {
        let fast = fast_redeem::redeem_issued(tx, &[input], now).await?;
        if let Some(Some(done)) = fast.into_iter().next() {
            return Ok(done);
        }
    }
    let lock = if store.backend() == super::Backend::Postgres {
        " FOR UPDATE OF v"
    } else {
        ""
    };
    let sql = format!("{FACTS_SQL}{lock}");
    let Some(row) = sqlx::query(&sql)
        .bind(input.voucher_id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(Outcome::Refused(DomainError::InvalidCode));
    };
    let facts = facts_from_row(&row, now)?;
    // Before anything the code's state would do (time out its hold, record
    // its expiry): another network's code changes nothing.
    if facts.operator_id != input.operator_id {
        return Ok(Outcome::Refused(DomainError::WrongNetwork));
    }
    let cap = input.caps.iter().find(|c| c.family == facts.family);
    let stored: String = row.try_get("state")?;
    let voucher = VoucherAtRedeem {
        stored: VoucherState::parse(&stored)
            .ok_or_else(|| StorageError::Corrupt(format!("state {stored:?}")))?,
        hold_expires_at: row.try_get("hold_expires_at")?,
        expires_at: facts.expires_at,
        capped: cap.is_some(),
    };
    let decision = decide_redeem(&voucher, input.mode, input.hold_secs, now);
    if decision.time_out_hold {
        time_out_hold_of_voucher(store, tx, facts.id, now).await?;
    }
    if decision.record_expiry {
        expire(tx, &row, now).await?;
    }
    let new = match decision.verdict {
        RedeemVerdict::Refused(refusal) => return Ok(Outcome::Refused(refusal)),
        RedeemVerdict::Create(new) => new,
    };
    let target = Target {
        voucher_id: facts.id,
        structure_id: facts.structure_id,
        operator_id: facts.operator_id,
        product: facts.product,
        family: facts.family,
        resource: facts.resource,
        amount: facts.amount,
        validity_days: facts.validity_days,
    };
    if let Some(cap) = cap.filter(|_| new.capped) {
        let (count, amount) = usage::lock(store, tx, &input.msisdn_hash, cap, new.period).await?;
        if let Err(refusal) = cap.admit(count, amount, target.amount) {
            return Ok(Outcome::Refused(refusal));
        }
        usage::count(tx, &input.msisdn_hash, cap, new.period, target.amount).await?;
    }
    create(tx, input, &target, &new, now)
        .await
        .map(Outcome::Done)
}

/// Moves the locked voucher and gives it its redemption and event.
async fn create(
    tx: &mut WriteTx,
    input: &RedeemInput,
    target: &Target,
    new: &NewRedemption,
    now: i64,
) -> Result<RedemptionRecord> {
    let Change {
        step,
        voucher_from,
        voucher_to,
    } = new.change;
    move_locked(tx, target.voucher_id, voucher_from, voucher_to, now).await?;
    let row = NewRow {
        input,
        target,
        new,
        counted: new.capped,
    };
    let sql = format!(
        "INSERT INTO redemptions ({}) VALUES {} RETURNING id",
        rows::INSERT_COLUMNS,
        values_placeholders(1, rows::INSERT_COLUMN_COUNT)
    );
    let id: i64 = row
        .bind(sqlx::query(&sql))
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
    let event = rows::event(
        step,
        input.operator_token_id,
        input.operator_id,
        target.structure_id,
        target.voucher_id,
        id,
    );
    events::append(tx, now, &[event]);
    Ok(row.record(id))
}

/// Moves a voucher whose row this transaction has locked; a refusal here
/// means the lock did not hold, which must never be hidden.
async fn move_locked(
    tx: &mut WriteTx,
    id: i64,
    from: VoucherState,
    to: VoucherState,
    now: i64,
) -> Result<()> {
    if super::voucher_state::set_state(tx, id, from, to, now).await? {
        Ok(())
    } else {
        Err(StorageError::Corrupt(format!(
            "voucher {id} changed under its lock"
        )))
    }
}

async fn expire(tx: &mut WriteTx, row: &AnyRow, now: i64) -> Result<()> {
    let mut voucher = super::voucher_state::voucher_from_row(row, now)?;
    // Called once any run-out hold has been released: the row is `issued` now.
    voucher.stored_state = VoucherState::Issued;
    super::voucher_state::expire_one(tx, &voucher, now).await?;
    Ok(())
}

/// Locks and reads one of an operator's redemptions (made by any of its
/// tokens); another network's is not there.
async fn held(store: &Store, tx: &mut WriteTx, operator_id: i64, id: i64) -> Result<Option<Held>> {
    let lock = if store.backend() == super::Backend::Postgres {
        " FOR UPDATE OF r, v"
    } else {
        ""
    };
    let sql = format!("{RECORD_SQL} WHERE r.id = $1 AND r.operator_id = $2{lock}");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(operator_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| held_from_row(&r)).transpose()
}

/// Applies a change the domain decided to a locked redemption: the row and
/// its voucher each by compare-and-set, the cap usage given back if it
/// ends, and its event.
async fn apply_change(
    tx: &mut WriteTx,
    held: &Held,
    change: Change,
    operator_token_id: i64,
    now: i64,
) -> Result<RedemptionRecord> {
    let before = &held.record;
    let after = rows::record_after(before, change.step, now);
    let changed = sqlx::query(
        "UPDATE redemptions SET state = $1, redeemed_at = $2, ended_at = $3 WHERE id = $4 AND state = $5",
    )
    .bind(after.state.as_str())
    .bind(after.redeemed_at)
    .bind(after.ended_at)
    .bind(before.id)
    .bind(before.state.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed != 1 {
        return Err(StorageError::Corrupt(format!(
            "redemption {} changed under its lock",
            before.id
        )));
    }
    let voucher_id = before.voucher_id;
    move_locked(tx, voucher_id, change.voucher_from, change.voucher_to, now).await?;
    if change.step.ends() {
        usage::release(tx, held).await?;
    }
    let event = rows::event(
        change.step,
        operator_token_id,
        held.operator_id,
        held.structure_id,
        voucher_id,
        before.id,
    );
    events::append(tx, now, &[event]);
    Ok(after)
}

/// The hold of a voucher's reserved redemption ran out: times it out.
pub(crate) async fn time_out_hold_of_voucher(
    store: &Store,
    tx: &mut WriteTx,
    voucher_id: i64,
    now: i64,
) -> Result<()> {
    let row = sqlx::query(
        "SELECT id, operator_token_id, operator_id FROM redemptions WHERE voucher_id = $1 AND state = 'reserved'",
    )
    .bind(voucher_id)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(row) = row {
        let id: i64 = row.try_get("id")?;
        let operator: i64 = row.try_get("operator_token_id")?;
        if let Some(h) = held(store, tx, row.try_get("operator_id")?, id).await?
            && let Some(change) = decide_follow_up(&h.at(), Followup::TimeOut, now).change
        {
            apply_change(tx, &h, change, operator, now).await?;
        }
    }
    Ok(())
}

/// Confirms, cancels, reverses or times out a redemption, as the domain
/// decides from the locked row. Repeating a confirm, cancel or reverse
/// that already happened answers the same.
pub(crate) async fn follow_up(
    store: &Store,
    tx: &mut WriteTx,
    (operator_token_id, operator_id): (i64, i64),
    id: i64,
    action: Followup,
    now: i64,
) -> Result<Outcome> {
    let Some(h) = held(store, tx, operator_id, id).await? else {
        return Ok(Outcome::Refused(DomainError::NotFound("redemption")));
    };
    let decision = decide_follow_up(&h.at(), action, now);
    let changed = match decision.change {
        Some(change) => Some(apply_change(tx, &h, change, operator_token_id, now).await?),
        None => None,
    };
    Ok(match (decision.answer, changed) {
        (FollowUpAnswer::Changed, Some(record)) => Outcome::Done(record),
        (FollowUpAnswer::Changed | FollowUpAnswer::AsItIs, _) => Outcome::Done(h.record),
        (FollowUpAnswer::Refused(refusal), _) => Outcome::Refused(refusal),
    })
}
