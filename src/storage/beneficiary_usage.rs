//! What each beneficiary has redeemed this month, per capped product
//! family: read under a lock before the domain's cap check
//! ([`crate::domain::redemption::BeneficiaryCap::admit`]), counted when a
//! capped redemption is made, given back when it ends.

use sqlx::Row;

use super::redemption_reads::Held;
use super::{Result, Store, WriteTx};
use crate::domain::redemption::BeneficiaryCap;

/// Locks and reads a beneficiary's usage of `cap`'s family in `period`:
/// redemptions counted and their amount.
pub(super) async fn lock(
    store: &Store,
    tx: &mut WriteTx,
    msisdn_hash: &[u8; 32],
    cap: &BeneficiaryCap,
    period: i64,
) -> Result<(i64, i64)> {
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
    Ok((row.try_get("count")?, row.try_get("amount")?))
}

/// Counts one more redemption worth `amount` (its row locked by [`lock`]).
pub(super) async fn count(
    tx: &mut WriteTx,
    msisdn_hash: &[u8; 32],
    cap: &BeneficiaryCap,
    period: i64,
    amount: i64,
) -> Result<()> {
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
    Ok(())
}

/// Gives back what a redemption counted against its beneficiary's cap.
pub(super) async fn release(tx: &mut WriteTx, held: &Held) -> Result<()> {
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
