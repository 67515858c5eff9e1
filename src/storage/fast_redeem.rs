//! The common case of redemption, for many codes at once: codes whose
//! current state is `issued` without a hold having run out (stored so, and
//! not expired, by [`lifecycle::current_state`]), of a product family no
//! beneficiary cap applies to. A whole batch of them is read and locked in
//! one statement, moved in one `UPDATE`, gets its redemptions in one
//! `INSERT` and its events in one append, so a batch costs a handful of
//! statements however many codes it holds.
//!
//! Any code in another case (already redeemed, reserved, expired, voided,
//! unknown, capped, or named twice in one batch) is left untouched here and
//! answered `None`: the caller then takes the general path in
//! [`super::redemptions`], which decides with the same domain rules.
//!
//! Both statements select by primary key alone, and the decision is made
//! here rather than in a `WHERE` clause: a condition on state and expiry
//! would let PostgreSQL's planner, with statistics stale after a large
//! issue, combine the key with the partial expiry index and scan every
//! issued code each time.
//!
//! [`lifecycle::current_state`]: crate::domain::lifecycle::current_state

use std::collections::HashMap;

use sqlx::Row;

use super::WriteTx;
use super::events::{self, EventInput};
use super::redemption_types::{Outcome, RedeemInput, RedeemMode, RedemptionRecord};
use super::{
    Result, StorageError, padded_ids, placeholder_list, power_of_two_chunks, rows_per_statement,
    values_placeholders,
};
use crate::domain::redemption::{RedemptionState, month_of};
use crate::domain::{VoucherState, lifecycle};

/// Columns of one `redemptions` row in the multi-row insert.
const REDEMPTION_COLUMNS: usize = 11;

/// What a redemption of `mode` does to the voucher and the redemption row.
struct Effect {
    voucher_to: VoucherState,
    state: RedemptionState,
    event_kind: &'static str,
}

fn effect(mode: RedeemMode) -> Effect {
    match mode {
        RedeemMode::Redeem => Effect {
            voucher_to: VoucherState::Redeemed,
            state: RedemptionState::Confirmed,
            event_kind: "redeem",
        },
        RedeemMode::Reserve => Effect {
            voucher_to: VoucherState::Reserved,
            state: RedemptionState::Reserved,
            event_kind: "reserve",
        },
    }
}

/// What the redemption of a voucher needs to know of it.
struct Moved {
    structure_id: i64,
    product: String,
    resource: String,
    amount: i64,
    family: String,
    validity_days: i64,
}

/// Redeems or reserves every input whose code is in the common case, in
/// the caller's transaction; answers `None` for the others, which this
/// leaves untouched. Any Idempotency-Key an input carries must already be
/// claimed: its answer is stored by the caller.
pub(crate) async fn redeem_issued(
    tx: &mut WriteTx,
    inputs: &[&RedeemInput],
    now: i64,
) -> Result<Vec<Option<Outcome>>> {
    let mut answers: Vec<Option<Outcome>> = inputs.iter().map(|_| None).collect();
    let ids: Vec<i64> = inputs.iter().map(|input| input.voucher_id).collect();
    let mut found = lock_vouchers(tx, &ids).await?;
    // A code named twice in one batch: the first claim takes the fast path,
    // the others the general one, which then finds it redeemed.
    let mut done = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let Some(v) = found.remove(&input.voucher_id) else {
            continue;
        };
        let capped = input.caps.iter().any(|c| c.family == v.moved.family);
        if v.stored == VoucherState::Issued
            && lifecycle::current_state(v.stored, None, v.expires_at, now) == VoucherState::Issued
            && !capped
        {
            done.push((i, v.moved));
        }
    }
    for mode in [RedeemMode::Redeem, RedeemMode::Reserve] {
        let ids: Vec<i64> = done
            .iter()
            .filter_map(|(i, _)| inputs.get(*i))
            .filter(|input| input.mode == mode)
            .map(|input| input.voucher_id)
            .collect();
        move_vouchers(tx, &ids, effect(mode).voucher_to, now).await?;
    }
    if done.is_empty() {
        return Ok(answers);
    }
    let ids = insert_redemptions(tx, inputs, &done, now).await?;
    let mut made = Vec::with_capacity(done.len());
    for (i, m) in done {
        let id = inputs
            .get(i)
            .and_then(|input| ids.get(&input.voucher_id))
            .copied()
            .ok_or_else(|| StorageError::Corrupt("a redemption insert lost a row".into()))?;
        made.push((i, id, m));
    }
    append_events(tx, inputs, &made, now);
    for (i, id, m) in made {
        if let (Some(input), Some(slot)) = (inputs.get(i), answers.get_mut(i)) {
            *slot = Some(Outcome::Done(record(input, id, m, now)));
        }
    }
    Ok(answers)
}

/// A voucher as read under its lock.
struct Found {
    stored: VoucherState,
    expires_at: i64,
    moved: Moved,
}

/// Reads the vouchers among `ids` that exist, locking their rows
/// (PostgreSQL; SQLite's writer holds the database), by id.
async fn lock_vouchers(tx: &mut WriteTx, ids: &[i64]) -> Result<HashMap<i64, Found>> {
    let padded = padded_ids(ids);
    let lock = if tx.is_sqlite() {
        ""
    } else {
        " FOR UPDATE OF v"
    };
    let sql = format!(
        "SELECT v.id, v.state, v.expires_at, v.structure_id, v.product_id, v.resource, v.amount, \
         p.family, p.validity_days FROM vouchers v JOIN products p ON p.id = v.product_id \
         WHERE v.id IN ({}){lock}",
        placeholder_list(1, padded.len())
    );
    let mut query = sqlx::query(&sql);
    for id in &padded {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut found = HashMap::with_capacity(rows.len());
    for row in &rows {
        let state: String = row.try_get("state")?;
        let stored = VoucherState::parse(&state)
            .ok_or_else(|| StorageError::Corrupt(format!("state {state:?}")))?;
        found.insert(
            row.try_get::<i64, _>("id")?,
            Found {
                stored,
                expires_at: row.try_get("expires_at")?,
                moved: Moved {
                    structure_id: row.try_get("structure_id")?,
                    product: row.try_get("product_id")?,
                    resource: row.try_get("resource")?,
                    amount: row.try_get("amount")?,
                    family: row.try_get("family")?,
                    validity_days: row.try_get("validity_days")?,
                },
            },
        );
    }
    Ok(found)
}

/// Moves the locked vouchers `ids` to `to`.
async fn move_vouchers(tx: &mut WriteTx, ids: &[i64], to: VoucherState, now: i64) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let padded = padded_ids(ids);
    let sql = format!(
        "UPDATE vouchers SET state = $1, state_changed_at = $2 WHERE id IN ({})",
        placeholder_list(3, padded.len())
    );
    let mut query = sqlx::query(&sql).bind(to.as_str()).bind(now);
    for id in &padded {
        query = query.bind(*id);
    }
    let moved = query.execute(&mut **tx).await?.rows_affected();
    if moved != ids.len() as u64 {
        return Err(StorageError::Corrupt(format!(
            "{moved} of {} locked vouchers moved",
            ids.len()
        )));
    }
    Ok(())
}

/// Hold deadline and redemption time of a new redemption.
fn times(input: &RedeemInput, now: i64) -> (Option<i64>, Option<i64>) {
    match input.mode {
        RedeemMode::Redeem => (None, Some(now)),
        RedeemMode::Reserve => (Some(now + input.hold_secs), None),
    }
}

/// Inserts the redemptions of the moved vouchers; answers their ids by
/// voucher id (the order of `RETURNING` rows is not promised).
async fn insert_redemptions(
    tx: &mut WriteTx,
    inputs: &[&RedeemInput],
    done: &[(usize, Moved)],
    now: i64,
) -> Result<HashMap<i64, i64>> {
    let mut ids = HashMap::with_capacity(done.len());
    let max_rows = rows_per_statement(tx.is_sqlite(), REDEMPTION_COLUMNS);
    for chunk in power_of_two_chunks(done, max_rows) {
        let sql = format!(
            "INSERT INTO redemptions (voucher_id, operator_token_id, state, msisdn_hash, family, period, \
             operator_ref, created_at, hold_expires_at, redeemed_at, counted) VALUES {} RETURNING id, voucher_id",
            values_placeholders(chunk.len(), REDEMPTION_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for (i, m) in chunk {
            let Some(input) = inputs.get(*i) else {
                continue;
            };
            let (hold, redeemed_at) = times(input, now);
            query = query
                .bind(input.voucher_id)
                .bind(input.operator_token_id)
                .bind(effect(input.mode).state.as_str())
                .bind(input.msisdn_hash.to_vec())
                .bind(m.family.clone())
                .bind(month_of(now))
                .bind(input.operator_ref.clone())
                .bind(now)
                .bind(hold)
                .bind(redeemed_at)
                .bind(0_i64);
        }
        for row in query.fetch_all(&mut **tx).await? {
            ids.insert(
                row.try_get::<i64, _>("voucher_id")?,
                row.try_get::<i64, _>("id")?,
            );
        }
    }
    if ids.len() != done.len() {
        return Err(StorageError::Corrupt(format!(
            "{} redemptions inserted for {} codes",
            ids.len(),
            done.len()
        )));
    }
    Ok(ids)
}

fn append_events(
    tx: &mut WriteTx,
    inputs: &[&RedeemInput],
    made: &[(usize, i64, Moved)],
    now: i64,
) {
    let events: Vec<EventInput> = made
        .iter()
        .filter_map(|(i, id, m)| {
            let input = inputs.get(*i)?;
            Some(EventInput {
                kind: effect(input.mode).event_kind,
                actor: format!("operator:{}", input.operator_token_id),
                structure_id: Some(m.structure_id),
                voucher_id: Some(input.voucher_id),
                data: serde_json::json!({ "redemption_id": id }),
            })
        })
        .collect();
    events::append(tx, now, &events);
}

fn record(input: &RedeemInput, id: i64, m: Moved, now: i64) -> RedemptionRecord {
    let (hold_expires_at, redeemed_at) = times(input, now);
    RedemptionRecord {
        id,
        state: effect(input.mode).state,
        voucher_id: input.voucher_id,
        product: m.product,
        resource: m.resource,
        amount: m.amount,
        validity_days: m.validity_days,
        operator_ref: input.operator_ref.clone(),
        created_at: now,
        hold_expires_at,
        redeemed_at,
        ended_at: None,
    }
}
