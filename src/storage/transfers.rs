//! Quota moving through the tree: an association's allocation to one of
//! its members, and its claw-back of what the member has not issued. Each
//! is one transaction: the giving side's buckets are drawn (locked, as
//! issue locks them), the receiving side gets buckets that lapse when the
//! drawn ones would have, both sides get a ledger entry naming the
//! transfer, and one event records it all.

use sqlx::Row;

use super::events::{self, EventInput};
use super::idempotency::{self, Claimed, IdempotencyClaim};
use super::quota::{self, Account, Entry, LedgerRow};
use super::{Result, Store, WriteTx};
use crate::domain::quota::{Bucket, Take};
use crate::domain::tree::Reach;
use crate::domain::{DomainError, Principal};

/// Which way quota moves between an association and one of its members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// Down: from the association to the member.
    Allocation,
    /// Back up: from the member to its association.
    Clawback,
}

impl TransferKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allocation => "allocation",
            Self::Clawback => "clawback",
        }
    }
}

/// A transfer as asked for (its amount already checked by the caller).
#[derive(Clone, Debug)]
pub struct TransferOrder {
    pub kind: TransferKind,
    pub member_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    /// The need whose approval it is, if any.
    pub need_id: Option<i64>,
}

/// A transfer made (also the answer kept under its Idempotency-Key).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Transfer {
    pub id: i64,
    pub from_structure_id: i64,
    pub to_structure_id: i64,
    pub amount: i64,
}

impl Store {
    /// Moves quota between a member and its association, for a caller
    /// whose reach is `reach` (only the member's own association, or the
    /// coordinator, may). Under an Idempotency-Key the same request is
    /// answered again without a second transfer: the key is claimed and
    /// its answer stored in the transfer's own transaction.
    pub async fn transfer(
        &self,
        actor: &str,
        live: Option<&Principal>,
        reach: Reach,
        order: &TransferOrder,
        retry: Option<&IdempotencyClaim>,
        now: i64,
    ) -> Result<Transfer> {
        retry_on_conflict(|| self.transfer_once(actor, live, reach, order, retry, now)).await
    }

    async fn transfer_once(
        &self,
        actor: &str,
        live: Option<&Principal>,
        reach: Reach,
        order: &TransferOrder,
        retry: Option<&IdempotencyClaim>,
        now: i64,
    ) -> Result<Transfer> {
        let mut tx = self.begin_write().await?;
        if let Some(p) = live {
            super::admin::ensure_live(&mut tx, p).await?;
        }
        if let Some(claim) = retry
            && let Claimed::Replay(answer) = idempotency::claim(&mut tx, claim, now).await?
        {
            events::commit(tx).await?;
            return Ok(serde_json::from_str(&answer)?);
        }
        let done = transfer_in(self, &mut tx, actor, reach, order, now).await?;
        if let Some(claim) = retry {
            idempotency::store_answer(&mut tx, claim, &serde_json::to_string(&done)?).await?;
        }
        events::commit(tx).await?;
        Ok(done)
    }
}

/// Runs a write again when PostgreSQL aborted it for a deadlock or a
/// serialisation failure (a transfer and a batch of give-backs may lock the
/// same two balances in turn): a few attempts, then the error.
pub(super) async fn retry_on_conflict<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let mut tries = 0;
    loop {
        match attempt().await {
            Err(e) if super::batch::is_retryable(&e) && tries + 1 < CONFLICT_RETRIES => tries += 1,
            other => return other,
        }
    }
}

/// Attempts of a transfer or an approval that meets a deadlock.
const CONFLICT_RETRIES: usize = 3;

/// The member's association, if the caller answers for it: 404 otherwise
/// (another association's member looks like no structure at all), 422 on
/// `structure_id` for the coordinator naming a structure without one.
async fn association_of(
    store: &Store,
    tx: &mut WriteTx,
    reach: Reach,
    member: i64,
) -> Result<(i64, bool)> {
    // Shared lock: the member cannot move or be deactivated until the
    // transfer commits.
    let sql = format!(
        "SELECT parent_id, deactivated_at FROM structures WHERE id = $1{}",
        store.for_share()
    );
    let row = sqlx::query(&sql)
        .bind(member)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::NotFound("structure"))?;
    let parent: Option<i64> = row.try_get("parent_id")?;
    let deactivated = row.try_get::<Option<i64>, _>("deactivated_at")?.is_some();
    match parent {
        Some(p) if reach.answers_for(p) => Ok((p, deactivated)),
        None if reach == Reach::All => Err(DomainError::validation(
            "structure_id",
            "this structure belongs to no association: grant it quota instead",
        )
        .into()),
        _ => Err(DomainError::NotFound("structure").into()),
    }
}

/// The transfer inside a transaction the caller commits (a need's approval
/// shares it).
pub(super) async fn transfer_in(
    store: &Store,
    tx: &mut WriteTx,
    actor: &str,
    reach: Reach,
    order: &TransferOrder,
    now: i64,
) -> Result<Transfer> {
    let (association, member_deactivated) =
        association_of(store, tx, reach, order.member_id).await?;
    if order.kind == TransferKind::Allocation && member_deactivated {
        return Err(DomainError::StructureDeactivated.into());
    }
    super::operators::ensure_operator(tx, order.operator_id).await?;
    let (from, to) = match order.kind {
        TransferKind::Allocation => (association, order.member_id),
        TransferKind::Clawback => (order.member_id, association),
    };
    let giver = Account {
        structure_id: from,
        operator_id: order.operator_id,
        resource: &order.resource,
    };
    let buckets = quota::open_buckets(store, tx, giver).await?;
    let takes = crate::domain::quota::allocate(&buckets, order.amount, 1, now)
        .map_err(|s| DomainError::QuotaExceeded {
            resource: order.resource.clone(),
            available: s.available,
            requested: s.requested,
        })?
        .concat();
    quota::draw(tx, &takes).await?;
    let id = insert_transfer(tx, order, from, to, now).await?;
    let receiver = Account {
        structure_id: to,
        ..giver
    };
    let credited = credit(tx, receiver, id, &buckets, &takes, now).await?;
    record_sides(tx, giver, receiver, id, order.amount, now).await?;
    let event = EventInput {
        kind: order.kind.as_str(),
        actor: actor.to_owned(),
        structure_id: Some(order.member_id),
        voucher_id: None,
        data: serde_json::json!({
            "transfer_id": id, "from_structure_id": from, "to_structure_id": to,
            "operator_id": order.operator_id, "resource": order.resource, "amount": order.amount,
            "need_id": order.need_id, "buckets": credited,
        }),
    };
    events::append(tx, now, &[event]);
    Ok(Transfer {
        id,
        from_structure_id: from,
        to_structure_id: to,
        amount: order.amount,
    })
}

async fn insert_transfer(
    tx: &mut WriteTx,
    order: &TransferOrder,
    from: i64,
    to: i64,
    now: i64,
) -> Result<i64> {
    Ok(sqlx::query(
        "INSERT INTO transfers (kind, from_structure_id, to_structure_id, operator_id, resource, amount, need_id, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(order.kind.as_str())
    .bind(from)
    .bind(to)
    .bind(order.operator_id)
    .bind(order.resource.clone())
    .bind(order.amount)
    .bind(order.need_id)
    .bind(now)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?)
}

/// One bucket on the receiving side per bucket drawn, lapsing when it
/// would have: quota never outlives its grant by changing hands. Answers
/// the buckets as the event records them.
async fn credit(
    tx: &mut WriteTx,
    to: Account<'_>,
    transfer_id: i64,
    drawn_from: &[Bucket],
    takes: &[Take],
    now: i64,
) -> Result<Vec<serde_json::Value>> {
    let mut credited = Vec::with_capacity(takes.len());
    for take in takes {
        let expires_at = drawn_from
            .iter()
            .find(|b| b.id == take.bucket_id)
            .and_then(|b| b.expires_at);
        let id: i64 = sqlx::query(
            "INSERT INTO quota_buckets (grant_id, transfer_id, period, structure_id, operator_id, resource, amount, \
             remaining, credited_at, expires_at) VALUES (NULL, $1, 0, $2, $3, $4, $5, $5, $6, $7) RETURNING id",
        )
        .bind(transfer_id)
        .bind(to.structure_id)
        .bind(to.operator_id)
        .bind(to.resource.to_owned())
        .bind(take.amount)
        .bind(now)
        .bind(expires_at)
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        credited.push(serde_json::json!({
            "bucket_id": id, "drawn_from": take.bucket_id, "amount": take.amount,
            "expires_at": expires_at,
        }));
    }
    Ok(credited)
}

/// The two ledger entries, the lower structure id's first: two transfers
/// the other way round then lock the two balance rows in the same order
/// and never wait on each other (PostgreSQL).
async fn record_sides(
    tx: &mut WriteTx,
    giver: Account<'_>,
    receiver: Account<'_>,
    transfer_id: i64,
    amount: i64,
    now: i64,
) -> Result<()> {
    let row = |entry| LedgerRow {
        entry,
        amount,
        voucher_id: None,
        bucket_id: None,
        transfer_id: Some(transfer_id),
    };
    let mut sides = [(giver, row(Entry::Sent)), (receiver, row(Entry::Received))];
    sides.sort_by_key(|(account, _)| account.structure_id);
    for (account, entry) in sides {
        quota::record(tx, account, &[entry], now).await?;
    }
    Ok(())
}
