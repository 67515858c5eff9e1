//! Idempotency keys, with Stripe's semantics: the same key and body give the
//! same answer and no second effect; the same key with another body is a
//! conflict. The key is claimed as the first write of the transaction that
//! does the work and its answer is stored in the same transaction, so an
//! answer exists exactly when the effect does.

use ring::digest;
use sqlx::Row;

use super::WriteTx;
use super::{Result, events};
use crate::domain::DomainError;

/// What identifies a request under one key: its endpoint and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestFingerprint(Vec<u8>);

impl RequestFingerprint {
    pub fn new(endpoint: &str, body: &[u8]) -> Self {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(endpoint.as_bytes());
        ctx.update(&[0]);
        ctx.update(body);
        Self(ctx.finish().as_ref().to_vec())
    }
}

/// An Idempotency-Key as the caller sent it, scoped to who may replay it.
#[derive(Clone, Debug)]
pub struct IdempotencyClaim {
    /// Whose keys these are (`structure:12`, `operator:5`).
    pub scope: String,
    pub key: String,
    pub fingerprint: RequestFingerprint,
}

/// What claiming a key found.
pub(crate) enum Claimed {
    /// The key is ours: do the work, then [`store_answer`].
    Fresh,
    /// The same request was answered before: here is the answer.
    Replay(String),
}

/// Claims the key in `tx`. On PostgreSQL a concurrent claim of the same key
/// waits for the first transaction to end, then sees its stored answer.
pub(crate) async fn claim(tx: &mut WriteTx, claim: &IdempotencyClaim, now: i64) -> Result<Claimed> {
    let inserted = sqlx::query(
        "INSERT INTO idempotency (scope, key, request_hash, response, created_at) \
         VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (scope, key) DO NOTHING",
    )
    .bind(claim.scope.clone())
    .bind(claim.key.clone())
    .bind(claim.fingerprint.0.clone())
    .bind(now)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Claimed::Fresh);
    }
    let row =
        sqlx::query("SELECT request_hash, response FROM idempotency WHERE scope = $1 AND key = $2")
            .bind(claim.scope.clone())
            .bind(claim.key.clone())
            .fetch_one(&mut **tx)
            .await?;
    let hash: Vec<u8> = row.try_get("request_hash")?;
    let response: Option<String> = row.try_get("response")?;
    if hash != claim.fingerprint.0 {
        return Err(DomainError::IdempotencyConflict.into());
    }
    // A claim without an answer can only be seen from a transaction that did
    // not wait for the claimer, which the locking above rules out; refuse
    // rather than run twice.
    response
        .map(Claimed::Replay)
        .ok_or_else(|| DomainError::IdempotencyInProgress.into())
}

/// Stores the answer for a claimed key, in the same transaction as the work.
pub(crate) async fn store_answer(
    tx: &mut WriteTx,
    claim: &IdempotencyClaim,
    answer: &str,
) -> Result<()> {
    sqlx::query("UPDATE idempotency SET response = $1 WHERE scope = $2 AND key = $3")
        .bind(answer.to_owned())
        .bind(claim.scope.clone())
        .bind(claim.key.clone())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives a claimed key back, unanswered, so that a refused request can be
/// retried with the same key.
pub(crate) async fn release(tx: &mut WriteTx, claim: &IdempotencyClaim) -> Result<()> {
    sqlx::query("DELETE FROM idempotency WHERE scope = $1 AND key = $2 AND response IS NULL")
        .bind(claim.scope.clone())
        .bind(claim.key.clone())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// What is answered under an Idempotency-Key before a request is tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredAnswer {
    /// No answer yet: the request is tried.
    None,
    /// This same request was answered: it is replayed.
    Same,
    /// Another request was answered under this key: it is a conflict.
    Other,
}

impl super::Store {
    /// What is answered under this key, and for which request.
    pub async fn stored_answer(&self, claim: &IdempotencyClaim) -> Result<StoredAnswer> {
        let row = sqlx::query(
            "SELECT request_hash FROM idempotency WHERE scope = $1 AND key = $2 AND response IS NOT NULL",
        )
        .bind(claim.scope.clone())
        .bind(claim.key.clone())
        .fetch_optional(self.reader())
        .await?;
        Ok(match row {
            Some(row) if row.try_get::<Vec<u8>, _>("request_hash")? == claim.fingerprint.0 => {
                StoredAnswer::Same
            }
            Some(_) => StoredAnswer::Other,
            None => StoredAnswer::None,
        })
    }

    /// Forgets answers older than the retention period (at least 24 h).
    pub async fn purge_idempotency(&self, older_than: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let purged = sqlx::query("DELETE FROM idempotency WHERE created_at < $1")
            .bind(older_than)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        events::commit(tx).await?;
        Ok(purged)
    }
}
