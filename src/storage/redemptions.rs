//! Redemptions: redeem, reserve, confirm, cancel, time out and reverse, each
//! applied inside a transaction the caller (the [`super::batch`] writer)
//! provides, so many can share one commit.
//!
//! Every operation locks the voucher row (`FOR UPDATE` on PostgreSQL; the
//! writer's `BEGIN IMMEDIATE` on SQLite), reads its state, and changes it
//! with a compare-and-set; the partial unique index on live redemptions is
//! the last line of defence against a double redemption.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::WriteTx;
use super::events::{self, EventInput};
use super::fast_redeem;
use super::idempotency::{self, Claimed};
pub use super::redemption_types::{Outcome, RedeemInput, RedeemMode, RedemptionRecord};
use super::{Result, StorageError, Store};
use crate::domain::lifecycle::{self, Transition};
use crate::domain::redemption::{BeneficiaryCap, RedemptionState, month_of};
use crate::domain::{DomainError, VoucherState};

/// What a voucher is, for check and redeem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoucherFacts {
    pub id: i64,
    pub structure_id: i64,
    pub product: String,
    pub family: String,
    pub resource: String,
    pub amount: i64,
    pub validity_days: i64,
    /// As of now: a timed-out hold reads `issued`, a late code `expired`.
    pub state: VoucherState,
    pub expires_at: i64,
}

const FACTS_SQL: &str = "SELECT v.id, v.structure_id, v.product_id, p.family, v.resource, v.amount, p.validity_days, \
     v.state, v.issued_at, v.expires_at, v.state_changed_at, v.reference, v.attestation, \
     (SELECT r.hold_expires_at FROM redemptions r WHERE r.voucher_id = v.id AND r.state = 'reserved') AS hold_expires_at \
     FROM vouchers v JOIN products p ON p.id = v.product_id WHERE v.id = $1";

fn facts_from_row(row: &AnyRow, now: i64) -> Result<VoucherFacts> {
    let state: String = row.try_get("state")?;
    let stored = VoucherState::parse(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("state {state:?}")))?;
    let expires_at: i64 = row.try_get("expires_at")?;
    let hold: Option<i64> = row.try_get("hold_expires_at")?;

    Ok(VoucherFacts {
        id: row.try_get("id")?,
        structure_id: row.try_get("structure_id")?,
        product: row.try_get("product_id")?,
        family: row.try_get("family")?,
        resource: row.try_get("resource")?,
        amount: row.try_get("amount")?,
        validity_days: row.try_get("validity_days")?,
        state: lifecycle::current_state(stored, hold, expires_at, now),
        expires_at,
    })
}

const RECORD_SQL: &str = "SELECT r.id, r.state, r.voucher_id, v.product_id, v.resource, v.amount, p.validity_days, \
     r.operator_ref, r.created_at, r.hold_expires_at, r.redeemed_at, r.ended_at, r.msisdn_hash, r.family, r.period, \
     r.counted, v.state AS voucher_state, v.structure_id, v.expires_at \
     FROM redemptions r JOIN vouchers v ON v.id = r.voucher_id JOIN products p ON p.id = v.product_id";

fn record_from_row(row: &AnyRow) -> Result<RedemptionRecord> {
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
struct Held {
    record: RedemptionRecord,
    msisdn_hash: Vec<u8>,
    family: String,
    period: i64,
    counted: bool,
    structure_id: i64,
}

fn held_from_row(row: &AnyRow) -> Result<Held> {
    Ok(Held {
        record: record_from_row(row)?,
        msisdn_hash: row.try_get("msisdn_hash")?,
        family: row.try_get("family")?,
        period: row.try_get("period")?,
        counted: row.try_get::<i64, _>("counted")? == 1,
        structure_id: row.try_get("structure_id")?,
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
        operator_token_id: i64,
        from: i64,
        to: i64,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<RedemptionRecord>> {
        let sql = format!(
            "{RECORD_SQL} WHERE r.operator_token_id = $1 AND r.redeemed_at >= $2 AND r.redeemed_at < $3 \
             AND r.id > $4 ORDER BY r.id LIMIT {limit}"
        );
        let rows = sqlx::query(&sql)
            .bind(operator_token_id)
            .bind(from)
            .bind(to)
            .bind(after_id)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(record_from_row).collect()
    }

    /// Reserved redemptions whose hold has run out (for the sweeper).
    pub async fn due_holds(&self, now: i64, limit: usize) -> Result<Vec<(i64, i64)>> {
        let sql = format!(
            "SELECT id, operator_token_id FROM redemptions WHERE state = 'reserved' AND hold_expires_at <= $1 \
             ORDER BY hold_expires_at LIMIT {limit}"
        );
        let rows = sqlx::query(&sql).bind(now).fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("operator_token_id")?)))
            .collect()
    }
}

/// Redeems or reserves a verified code. `fast_tried` says the caller has
/// already tried [`fast_redeem::redeem_issued`] on it in this transaction.
pub(crate) async fn redeem(
    store: &Store,
    tx: &mut WriteTx,
    input: &RedeemInput,
    now: i64,
    fast_tried: bool,
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
    let outcome = redeem_claimed(store, tx, input, now, fast_tried).await?;
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

async fn redeem_claimed(
    store: &Store,
    tx: &mut WriteTx,
    input: &RedeemInput,
    now: i64,
    fast_tried: bool,
) -> Result<Outcome> {
    if !fast_tried {
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
    let stored: String = row.try_get("state")?;
    let mut facts = facts_from_row(&row, now)?;
    if stored == "reserved" && facts.state != VoucherState::Reserved {
        // The hold ran out: release it before anything else.
        time_out_hold_of_voucher(store, tx, facts.id, now).await?;
    }
    if facts.state == VoucherState::Expired {
        if stored != "expired" {
            expire(tx, &row, now).await?;
        }
        return Ok(Outcome::Refused(DomainError::WrongState(
            VoucherState::Expired,
        )));
    }
    let transition = match input.mode {
        RedeemMode::Redeem => Transition::Redeem,
        RedeemMode::Reserve => Transition::Reserve,
    };
    let to = match lifecycle::next(facts.state, transition) {
        Ok(to) => to,
        Err(state) => return Ok(Outcome::Refused(DomainError::WrongState(state))),
    };
    let period = month_of(now);
    let cap = input.caps.iter().find(|c| c.family == facts.family);
    let counted = match cap {
        Some(cap) => {
            if !take_usage(store, tx, &input.msisdn_hash, cap, period, facts.amount).await? {
                return Ok(Outcome::Refused(DomainError::BeneficiaryCapReached));
            }
            true
        }
        None => false,
    };
    move_locked(tx, facts.id, VoucherState::Issued, to, now).await?;
    facts.state = to;
    let (state, hold, redeemed_at) = match input.mode {
        RedeemMode::Redeem => (RedemptionState::Confirmed, None, Some(now)),
        RedeemMode::Reserve => (RedemptionState::Reserved, Some(now + input.hold_secs), None),
    };
    let id: i64 = sqlx::query(
        "INSERT INTO redemptions (voucher_id, operator_token_id, state, msisdn_hash, family, period, operator_ref, \
         created_at, hold_expires_at, redeemed_at, counted) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         RETURNING id",
    )
    .bind(facts.id)
    .bind(input.operator_token_id)
    .bind(state.as_str())
    .bind(input.msisdn_hash.to_vec())
    .bind(facts.family.clone())
    .bind(period)
    .bind(input.operator_ref.clone())
    .bind(now)
    .bind(hold)
    .bind(redeemed_at)
    .bind(i64::from(counted))
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    let kind = if input.mode == RedeemMode::Redeem {
        "redeem"
    } else {
        "reserve"
    };
    event(
        tx,
        kind,
        input.operator_token_id,
        facts.structure_id,
        facts.id,
        id,
        now,
    )
    .await?;
    Ok(Outcome::Done(RedemptionRecord {
        id,
        state,
        voucher_id: facts.id,
        product: facts.product,
        resource: facts.resource,
        amount: facts.amount,
        validity_days: facts.validity_days,
        operator_ref: input.operator_ref.clone(),
        created_at: now,
        hold_expires_at: hold,
        redeemed_at,
        ended_at: None,
    }))
}

/// Counts one more redemption for a beneficiary, if the cap allows it.
async fn take_usage(
    store: &Store,
    tx: &mut WriteTx,
    msisdn_hash: &[u8; 32],
    cap: &BeneficiaryCap,
    period: i64,
    amount: i64,
) -> Result<bool> {
    sqlx::query(
        "INSERT INTO beneficiary_usage (msisdn_hash, family, period, count, amount) VALUES ($1, $2, $3, 0, 0) \
         ON CONFLICT (msisdn_hash, family, period) DO NOTHING",
    )
    .bind(msisdn_hash.to_vec())
    .bind(cap.family.clone())
    .bind(period)
    .execute(&mut **tx)
    .await?;
    let sql = format!(
        "SELECT count, amount FROM beneficiary_usage WHERE msisdn_hash = $1 AND family = $2 AND period = $3{}",
        store.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(msisdn_hash.to_vec())
        .bind(cap.family.clone())
        .bind(period)
        .fetch_one(&mut **tx)
        .await?;
    if !cap.allows(row.try_get("count")?, row.try_get("amount")?, amount) {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE beneficiary_usage SET count = count + 1, amount = amount + $1 \
         WHERE msisdn_hash = $2 AND family = $3 AND period = $4",
    )
    .bind(amount)
    .bind(msisdn_hash.to_vec())
    .bind(cap.family.clone())
    .bind(period)
    .execute(&mut **tx)
    .await?;
    Ok(true)
}

/// Gives back what a redemption counted against its beneficiary's cap.
async fn release_usage(tx: &mut WriteTx, held: &Held) -> Result<()> {
    if !held.counted {
        return Ok(());
    }
    sqlx::query(
        "UPDATE beneficiary_usage SET count = count - 1, amount = amount - $1 \
         WHERE msisdn_hash = $2 AND family = $3 AND period = $4",
    )
    .bind(held.record.amount)
    .bind(held.msisdn_hash.clone())
    .bind(held.family.clone())
    .bind(held.period)
    .execute(&mut **tx)
    .await?;
    Ok(())
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

async fn event(
    tx: &mut WriteTx,
    kind: &'static str,
    operator_token_id: i64,
    structure_id: i64,
    voucher_id: i64,
    redemption_id: i64,
    now: i64,
) -> Result<()> {
    let event = EventInput {
        kind,
        actor: format!("operator:{operator_token_id}"),
        structure_id: Some(structure_id),
        voucher_id: Some(voucher_id),
        data: serde_json::json!({ "redemption_id": redemption_id }),
    };
    events::append(tx, now, &[event]);
    Ok(())
}

/// Locks and reads one of an operator's redemptions.
async fn held(
    store: &Store,
    tx: &mut WriteTx,
    operator_token_id: i64,
    id: i64,
) -> Result<Option<Held>> {
    let lock = if store.backend() == super::Backend::Postgres {
        " FOR UPDATE OF r, v"
    } else {
        ""
    };
    let sql = format!("{RECORD_SQL} WHERE r.id = $1 AND r.operator_token_id = $2{lock}");
    let row = sqlx::query(&sql)
        .bind(id)
        .bind(operator_token_id)
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|r| held_from_row(&r)).transpose()
}

/// Ends a redemption: its row takes `state`, its voucher goes back to
/// `issued`, its cap usage is given back.
async fn end(
    tx: &mut WriteTx,
    held: &Held,
    state: RedemptionState,
    voucher_from: VoucherState,
    now: i64,
) -> Result<RedemptionRecord> {
    sqlx::query("UPDATE redemptions SET state = $1, ended_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(now)
        .bind(held.record.id)
        .execute(&mut **tx)
        .await?;
    move_locked(
        tx,
        held.record.voucher_id,
        voucher_from,
        VoucherState::Issued,
        now,
    )
    .await?;
    release_usage(tx, held).await?;
    Ok(RedemptionRecord {
        state,
        ended_at: Some(now),
        ..held.record.clone()
    })
}

/// The hold of a voucher's reserved redemption ran out.
pub(crate) async fn time_out_hold_of_voucher(
    store: &Store,
    tx: &mut WriteTx,
    voucher_id: i64,
    now: i64,
) -> Result<()> {
    let row = sqlx::query("SELECT id, operator_token_id FROM redemptions WHERE voucher_id = $1 AND state = 'reserved'")
        .bind(voucher_id)
        .fetch_optional(&mut **tx)
        .await?;
    if let Some(row) = row {
        let id: i64 = row.try_get("id")?;
        let operator: i64 = row.try_get("operator_token_id")?;
        if let Some(h) = held(store, tx, operator, id).await? {
            end(
                tx,
                &h,
                RedemptionState::TimedOut,
                VoucherState::Reserved,
                now,
            )
            .await?;
            event(
                tx,
                "hold_timeout",
                operator,
                h.structure_id,
                h.record.voucher_id,
                id,
                now,
            )
            .await?;
        }
    }
    Ok(())
}

/// What the operator may do to one of its redemptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followup {
    Confirm,
    Cancel,
    Reverse {
        window_secs: i64,
    },
    /// The sweeper ending a hold that ran out.
    TimeOut,
}

/// Confirms, cancels, reverses or times out a redemption. Repeating a
/// confirm, cancel or reverse that already happened answers the same.
pub(crate) async fn follow_up(
    store: &Store,
    tx: &mut WriteTx,
    operator_token_id: i64,
    id: i64,
    action: Followup,
    now: i64,
) -> Result<Outcome> {
    let Some(h) = held(store, tx, operator_token_id, id).await? else {
        return Ok(Outcome::Refused(DomainError::NotFound("redemption")));
    };
    let hold_over = h.record.hold_expires_at.is_some_and(|t| now >= t);
    let actor = operator_token_id;
    use RedemptionState as R;
    let outcome = match (h.record.state, action) {
        (R::Reserved, _) if hold_over => {
            let record = end(tx, &h, R::TimedOut, VoucherState::Reserved, now).await?;
            event(
                tx,
                "hold_timeout",
                actor,
                h.structure_id,
                h.record.voucher_id,
                id,
                now,
            )
            .await?;
            match action {
                Followup::Confirm | Followup::Reverse { .. } => {
                    Outcome::Refused(DomainError::HoldExpired)
                }
                Followup::Cancel | Followup::TimeOut => Outcome::Done(record),
            }
        }
        (R::Reserved, Followup::Confirm) => {
            sqlx::query(
                "UPDATE redemptions SET state = 'confirmed', redeemed_at = $1 WHERE id = $2",
            )
            .bind(now)
            .bind(id)
            .execute(&mut **tx)
            .await?;
            move_locked(
                tx,
                h.record.voucher_id,
                VoucherState::Reserved,
                VoucherState::Redeemed,
                now,
            )
            .await?;
            event(
                tx,
                "confirm",
                actor,
                h.structure_id,
                h.record.voucher_id,
                id,
                now,
            )
            .await?;
            Outcome::Done(RedemptionRecord {
                state: R::Confirmed,
                redeemed_at: Some(now),
                ..h.record.clone()
            })
        }
        (R::Reserved, Followup::Cancel) => {
            let record = end(tx, &h, R::Cancelled, VoucherState::Reserved, now).await?;
            event(
                tx,
                "cancel",
                actor,
                h.structure_id,
                h.record.voucher_id,
                id,
                now,
            )
            .await?;
            Outcome::Done(record)
        }
        (R::Confirmed, Followup::Reverse { window_secs }) => {
            if h.record.redeemed_at.is_some_and(|t| now >= t + window_secs) {
                Outcome::Refused(DomainError::ReversalWindowClosed)
            } else {
                let record = end(tx, &h, R::Reversed, VoucherState::Redeemed, now).await?;
                event(
                    tx,
                    "reverse",
                    actor,
                    h.structure_id,
                    h.record.voucher_id,
                    id,
                    now,
                )
                .await?;
                Outcome::Done(record)
            }
        }
        // Repeats answer the same.
        (R::Confirmed, Followup::Confirm)
        | (R::Cancelled | R::TimedOut, Followup::Cancel | Followup::TimeOut)
        | (R::Reversed, Followup::Reverse { .. }) => Outcome::Done(h.record.clone()),
        (R::Reserved, Followup::TimeOut) => Outcome::Done(h.record.clone()),
        (R::Reserved, Followup::Reverse { .. }) => {
            Outcome::Refused(DomainError::WrongState(VoucherState::Reserved))
        }
        (R::Confirmed, Followup::Cancel | Followup::TimeOut) => {
            Outcome::Refused(DomainError::WrongState(VoucherState::Redeemed))
        }
        (R::Cancelled, _) => Outcome::Refused(DomainError::Cancelled),
        (R::TimedOut, _) => Outcome::Refused(DomainError::HoldExpired),
        (R::Reversed, _) => Outcome::Refused(DomainError::Reversed),
    };
    Ok(outcome)
}
