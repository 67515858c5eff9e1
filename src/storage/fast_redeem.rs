//! The common case of redemption, for many codes at once: codes stored as
//! `issued` and not yet expired (what [`lifecycle::current_state`] reads as
//! `issued`), of a product family no beneficiary cap applies to. A whole
//! batch of them moves in one compare-and-set `UPDATE` (which also takes
//! their row locks on PostgreSQL), gets its redemptions in one `INSERT` and
//! its events in one append, so a batch costs a handful of statements
//! however many codes it holds.
//!
//! Any code in another case (already redeemed, reserved, expired, voided,
//! unknown, capped, or named twice in one batch) is left untouched here and
//! answered `None`: the caller then takes the general path in
//! [`super::redemptions`], which locks the row and decides with the domain
//! rules. Both paths agree because the `WHERE` clause below is exactly the
//! domain's definition of a redeemable code.
//!
//! [`lifecycle::current_state`]: crate::domain::lifecycle::current_state

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{Any, Row, Transaction};

use super::events::{self, EventInput};
use super::redemptions::{Outcome, RedeemInput, RedeemMode, RedemptionRecord};
use super::{Result, StorageError, values_placeholders};
use crate::domain::VoucherState;
use crate::domain::redemption::{RedemptionState, month_of};

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

/// A voucher the `UPDATE` moved, as its `RETURNING` clause gave it.
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
    tx: &mut Transaction<'static, Any>,
    inputs: &[&RedeemInput],
    now: i64,
) -> Result<Vec<Option<Outcome>>> {
    let mut answers: Vec<Option<Outcome>> = inputs.iter().map(|_| None).collect();
    // A code named twice in one batch: the first claim takes the fast path,
    // the others the general one, which then finds it redeemed.
    let mut seen = HashSet::new();
    let mut groups: BTreeMap<(bool, Vec<&str>), Vec<usize>> = BTreeMap::new();
    for (i, input) in inputs.iter().enumerate() {
        if !seen.insert(input.voucher_id) {
            continue;
        }
        let mut capped: Vec<&str> = input.caps.iter().map(|c| c.family.as_str()).collect();
        capped.sort_unstable();
        let reserve = input.mode == RedeemMode::Reserve;
        groups.entry((reserve, capped)).or_default().push(i);
    }
    let mut done = Vec::new();
    for ((_, capped), members) in &groups {
        let Some(first) = members.first().and_then(|&i| inputs.get(i)) else {
            continue;
        };
        let ids: Vec<i64> = members
            .iter()
            .filter_map(|&i| inputs.get(i).map(|input| input.voucher_id))
            .collect();
        let mut moved = move_vouchers(tx, &ids, effect(first.mode).voucher_to, capped, now).await?;
        for &i in members {
            if let Some(input) = inputs.get(i) {
                if let Some(m) = moved.remove(&input.voucher_id) {
                    done.push((i, m));
                }
            }
        }
    }
    if done.is_empty() {
        return Ok(answers);
    }
    done.sort_by_key(|(i, _)| *i);
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
    append_events(tx, inputs, &made, now).await?;
    for (i, id, m) in made {
        if let (Some(input), Some(slot)) = (inputs.get(i), answers.get_mut(i)) {
            *slot = Some(Outcome::Done(record(input, id, m, now)));
        }
    }
    Ok(answers)
}

/// Moves the redeemable vouchers among `ids` to `to`; answers what each
/// moved voucher is, by id.
async fn move_vouchers(
    tx: &mut Transaction<'static, Any>,
    ids: &[i64],
    to: VoucherState,
    capped: &[&str],
    now: i64,
) -> Result<HashMap<i64, Moved>> {
    const FIXED_PARAMS: usize = 2;
    let list = |from: usize, n: usize| {
        (0..n)
            .map(|k| format!("${}", from + k))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let id_list = list(FIXED_PARAMS + 1, ids.len());
    let uncapped = if capped.is_empty() {
        String::new()
    } else {
        format!(
            " AND NOT EXISTS (SELECT 1 FROM products c WHERE c.id = vouchers.product_id AND c.family IN ({}))",
            list(FIXED_PARAMS + 1 + ids.len(), capped.len())
        )
    };
    // The domain's `issued`: stored so, and not yet expired.
    let sql = format!(
        "UPDATE vouchers SET state = $1, state_changed_at = $2 \
         WHERE id IN ({id_list}) AND state = 'issued' AND expires_at > $2{uncapped} \
         RETURNING id, structure_id, product_id, resource, amount, \
         (SELECT p.family FROM products p WHERE p.id = vouchers.product_id) AS family, \
         (SELECT p.validity_days FROM products p WHERE p.id = vouchers.product_id) AS validity_days"
    );
    let mut query = sqlx::query(&sql).bind(to.as_str()).bind(now);
    for id in ids {
        query = query.bind(*id);
    }
    for family in capped {
        query = query.bind((*family).to_owned());
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut moved = HashMap::with_capacity(rows.len());
    for row in &rows {
        moved.insert(
            row.try_get::<i64, _>("id")?,
            Moved {
                structure_id: row.try_get("structure_id")?,
                product: row.try_get("product_id")?,
                resource: row.try_get("resource")?,
                amount: row.try_get("amount")?,
                family: row.try_get("family")?,
                validity_days: row.try_get("validity_days")?,
            },
        );
    }
    Ok(moved)
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
    tx: &mut Transaction<'static, Any>,
    inputs: &[&RedeemInput],
    done: &[(usize, Moved)],
    now: i64,
) -> Result<HashMap<i64, i64>> {
    let sql = format!(
        "INSERT INTO redemptions (voucher_id, operator_token_id, state, msisdn_hash, family, period, \
         operator_ref, created_at, hold_expires_at, redeemed_at, counted) VALUES {} RETURNING id, voucher_id",
        values_placeholders(done.len(), REDEMPTION_COLUMNS)
    );
    let mut query = sqlx::query(&sql);
    for (i, m) in done {
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
    let rows = query.fetch_all(&mut **tx).await?;
    if rows.len() != done.len() {
        return Err(StorageError::Corrupt(format!(
            "{} redemptions inserted for {} codes",
            rows.len(),
            done.len()
        )));
    }
    rows.iter()
        .map(|r| Ok((r.try_get("voucher_id")?, r.try_get("id")?)))
        .collect()
}

async fn append_events(
    tx: &mut Transaction<'static, Any>,
    inputs: &[&RedeemInput],
    made: &[(usize, i64, Moved)],
    now: i64,
) -> Result<()> {
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
    events::append(tx, now, &events).await
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
