//! The common case of redemption, for many codes at once: the requests
//! that [`decide_redeem`] answers with a redemption to create and nothing
//! else to do ([`RedeemDecision::common_case`]: the code is issued and
//! not expired, and no beneficiary cap applies). A whole batch of them is
//! read and locked in one statement, moved in one compare-and-set
//! `UPDATE`, gets its redemptions in one `INSERT` and its events in one
//! append, so a batch costs a handful of statements however many codes it
//! holds. Rows and events are built as the general path builds them
//! ([`super::redemption_rows`]).
//!
//! Any code in another case (already redeemed, reserved, expired, voided,
//! unknown, capped, or named twice in one batch) is left untouched here and
//! answered `None`: the caller then takes the general path in
//! [`super::redemptions`], which asks the same domain decision.
//!
//! The read selects by primary key alone, and the decision is made in the
//! domain rather than in a `WHERE` clause: a condition on state and expiry
//! would let PostgreSQL's planner, with statistics stale after a large
//! issue, combine the key with the partial expiry index and scan every
//! issued code each time. The `UPDATE`'s condition on the state it expects
//! is written so that the planner cannot use that index for it
//! ([`state_is`]).
//!
//! [`decide_redeem`]: crate::domain::redemption_decisions::decide_redeem
//! [`RedeemDecision::common_case`]: crate::domain::redemption_decisions::RedeemDecision::common_case

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::WriteTx;
use super::events;
use super::redemption_rows::{self as rows, NewRow, Target};
use super::redemption_types::{Outcome, RedeemInput};
use super::voucher_state::state_is;
use super::{
    Result, StorageError, padded_ids, placeholder_list, power_of_two_chunks, rows_per_statement,
    values_placeholders,
};
use crate::domain::VoucherState;
use crate::domain::lifecycle::RedemptionAction;
use crate::domain::redemption_decisions::{NewRedemption, VoucherAtRedeem, decide_redeem};

/// A request the domain put in the common case, with its voucher.
pub(super) struct Planned {
    /// Its place among the inputs.
    index: usize,
    target: Target,
    new: NewRedemption,
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
    let planned = plan(tx, inputs, now).await?;
    apply(tx, inputs, planned, now).await
}

/// Locks the inputs' vouchers and keeps the requests the domain puts in
/// the common case.
pub(super) async fn plan(
    tx: &mut WriteTx,
    inputs: &[&RedeemInput],
    now: i64,
) -> Result<Vec<Planned>> {
    let ids: Vec<i64> = inputs.iter().map(|input| input.voucher_id).collect();
    let mut found = lock_vouchers(tx, &ids).await?;
    // A code named twice in one batch: the first claim takes the fast path,
    // the others the general one, which then finds it redeemed.
    let mut planned = Vec::new();
    for (index, input) in inputs.iter().enumerate() {
        let Some((stored, expires_at, target)) = found.remove(&input.voucher_id) else {
            continue;
        };
        // Another network's code: the general path refuses it.
        if target.operator_id != input.operator_id {
            continue;
        }
        let voucher = VoucherAtRedeem {
            stored,
            // Not read: a reserved code is never in the common case.
            hold_expires_at: None,
            expires_at,
            capped: input.caps.iter().any(|c| c.family == target.family),
        };
        let decision = decide_redeem(&voucher, input.mode, input.hold_secs, now);
        if let Some(new) = decision.common_case() {
            planned.push(Planned {
                index,
                target,
                new: *new,
            });
        }
    }
    Ok(planned)
}

/// Applies the planned requests: moves their vouchers by compare-and-set,
/// then gives each voucher that moved its redemption and event.
pub(super) async fn apply(
    tx: &mut WriteTx,
    inputs: &[&RedeemInput],
    mut planned: Vec<Planned>,
    now: i64,
) -> Result<Vec<Option<Outcome>>> {
    let mut answers: Vec<Option<Outcome>> = inputs.iter().map(|_| None).collect();
    let mut moved = HashSet::with_capacity(planned.len());
    for action in [RedemptionAction::Redeem, RedemptionAction::Reserve] {
        let group: Vec<&Planned> = planned
            .iter()
            .filter(|p| p.new.change.step.action == action)
            .collect();
        let Some(first) = group.first() else { continue };
        let (from, to) = (first.new.change.voucher_from, first.new.change.voucher_to);
        let ids: Vec<i64> = group.iter().map(|p| p.target.voucher_id).collect();
        moved.extend(move_vouchers(tx, &ids, from, to, now).await?);
    }
    // The compare-and-set leaves a voucher that is not in the state the
    // decision was made on. That cannot happen under the lock, but if it
    // does, the voucher gets no redemption and no event here: its request
    // takes the general path, which reads it again under its lock and
    // decides from what is stored, so each code is still redeemed at most
    // once. Failing instead would turn a plain refusal (already redeemed)
    // into an error for every request of the batch.
    if moved.len() < planned.len() {
        tracing::warn!(
            planned = planned.len(),
            moved = moved.len(),
            "codes changed under their lock; their requests take the general path"
        );
        planned.retain(|p| moved.contains(&p.target.voucher_id));
    }
    if planned.is_empty() {
        return Ok(answers);
    }
    let ids = insert_redemptions(tx, inputs, &planned).await?;
    let mut made = Vec::with_capacity(planned.len());
    for p in &planned {
        let id = ids
            .get(&p.target.voucher_id)
            .copied()
            .ok_or_else(|| StorageError::Corrupt("a redemption insert lost a row".into()))?;
        made.push((p, id));
    }
    let events: Vec<_> = made
        .iter()
        .filter_map(|(p, id)| {
            let input = inputs.get(p.index)?;
            let step = p.new.change.step;
            let (structure_id, voucher_id) = (p.target.structure_id, p.target.voucher_id);
            Some(rows::event(
                step,
                input.operator_token_id,
                input.operator_id,
                structure_id,
                voucher_id,
                *id,
            ))
        })
        .collect();
    events::append(tx, now, &events);
    for (p, id) in made {
        if let (Some(input), Some(slot)) = (inputs.get(p.index), answers.get_mut(p.index)) {
            *slot = Some(Outcome::Done(new_row(input, p).record(id)));
        }
    }
    Ok(answers)
}

fn new_row<'a>(input: &'a RedeemInput, p: &'a Planned) -> NewRow<'a> {
    NewRow {
        input,
        target: &p.target,
        new: &p.new,
        counted: false,
    }
}

/// Reads the vouchers among `ids` that exist, locking their rows
/// (PostgreSQL; SQLite's writer holds the database), by id: each one's
/// stored state, expiry, and what its redemption needs.
async fn lock_vouchers(
    tx: &mut WriteTx,
    ids: &[i64],
) -> Result<HashMap<i64, (VoucherState, i64, Target)>> {
    let padded = padded_ids(ids);
    let lock = if tx.is_sqlite() {
        ""
    } else {
        " FOR UPDATE OF v"
    };
    let sql = format!(
        "SELECT v.id, v.state, v.expires_at, v.structure_id, p.operator_id, v.product_id, v.resource, \
         v.amount, p.family, p.validity_days FROM vouchers v JOIN products p ON p.id = v.product_id \
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
        let id: i64 = row.try_get("id")?;
        let target = Target {
            voucher_id: id,
            structure_id: row.try_get("structure_id")?,
            operator_id: row.try_get("operator_id")?,
            product: row.try_get("product_id")?,
            family: row.try_get("family")?,
            resource: row.try_get("resource")?,
            amount: row.try_get("amount")?,
            validity_days: row.try_get("validity_days")?,
        };
        found.insert(id, (stored, row.try_get("expires_at")?, target));
    }
    Ok(found)
}

/// Moves the locked vouchers `ids` from `from` to `to`, each only if it is
/// still `from` (compare-and-set); answers the ids it moved.
async fn move_vouchers(
    tx: &mut WriteTx,
    ids: &[i64],
    from: VoucherState,
    to: VoucherState,
    now: i64,
) -> Result<HashSet<i64>> {
    let padded = padded_ids(ids);
    let sql = format!(
        "UPDATE vouchers SET state = $1, state_changed_at = $2 WHERE id IN ({}) AND {} \
         RETURNING id",
        placeholder_list(4, padded.len()),
        state_is(3)
    );
    let mut query = sqlx::query(&sql)
        .bind(to.as_str())
        .bind(now)
        .bind(from.as_str());
    for id in &padded {
        query = query.bind(*id);
    }
    let mut moved = HashSet::with_capacity(ids.len());
    for row in query.fetch_all(&mut **tx).await? {
        moved.insert(row.try_get::<i64, _>("id")?);
    }
    Ok(moved)
}

/// Inserts the redemptions of the moved vouchers; answers their ids by
/// voucher id (the order of `RETURNING` rows is not promised).
async fn insert_redemptions(
    tx: &mut WriteTx,
    inputs: &[&RedeemInput],
    planned: &[Planned],
) -> Result<HashMap<i64, i64>> {
    let mut ids = HashMap::with_capacity(planned.len());
    let max_rows = rows_per_statement(tx.is_sqlite(), rows::INSERT_COLUMN_COUNT);
    for chunk in power_of_two_chunks(planned, max_rows) {
        let sql = format!(
            "INSERT INTO redemptions ({}) VALUES {} RETURNING id, voucher_id",
            rows::INSERT_COLUMNS,
            values_placeholders(chunk.len(), rows::INSERT_COLUMN_COUNT)
        );
        let mut query = sqlx::query(&sql);
        for p in chunk {
            let Some(input) = inputs.get(p.index) else {
                continue;
            };
            query = new_row(input, p).bind(query);
        }
        for row in query.fetch_all(&mut **tx).await? {
            ids.insert(
                row.try_get::<i64, _>("voucher_id")?,
                row.try_get::<i64, _>("id")?,
            );
        }
    }
    if ids.len() != planned.len() {
        return Err(StorageError::Corrupt(format!(
            "{} redemptions inserted for {} codes",
            ids.len(),
            planned.len()
        )));
    }
    Ok(ids)
}

#[cfg(test)]
#[path = "fast_redeem_tests.rs"]
mod tests;
