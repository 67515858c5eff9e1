//! Vouchers: issue, read, list, void and expire.

use serde::{Deserialize, Serialize};
use sqlx::{Any, Row, Transaction, any::AnyRow};

use super::events::{self, EventInput};
use super::idempotency::{self, Claimed, IdempotencyClaim};
use super::quota::{self as ledger, Entry, LedgerRow};
use super::{Result, StorageError, Store, values_placeholders};
use crate::code::KeySet;
use crate::domain::lifecycle::{self, Transition};
use crate::domain::minting::{Minter, NewVoucher};
use crate::domain::quota::{self, Shortfall};
use crate::domain::{DomainError, Principal, Product, VoucherState};

/// A request to issue `count` codes of one product.
#[derive(Clone, Debug)]
pub struct IssueRequest<'a> {
    pub principal: Principal,
    pub structure_id: i64,
    pub product: &'a Product,
    pub count: usize,
    pub reference: Option<String>,
    pub idempotency: Option<IdempotencyClaim>,
}

/// A voucher as stored (without its code, which the key set recomputes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoucherRow {
    pub id: i64,
    pub structure_id: i64,
    pub product_id: String,
    pub resource: String,
    pub amount: i64,
    pub state: VoucherState,
    pub reference: Option<String>,
    pub issued_at: i64,
    pub expires_at: i64,
    pub state_changed_at: i64,
    pub attestation: String,
}

/// What an issue request produced: the stored answer replayed for the same
/// Idempotency-Key, which is why it serialises.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueOutcome {
    pub vouchers: Vec<VoucherRow>,
}

/// List filters and cursor.
#[derive(Clone, Debug, Default)]
pub struct VoucherFilter {
    pub state: Option<VoucherState>,
    /// Continue after this (issued_at, id), newest first.
    pub after: Option<(i64, i64)>,
    pub limit: usize,
}

#[derive(Clone, Debug)]
pub struct VoucherPage {
    pub vouchers: Vec<VoucherRow>,
    pub next: Option<(i64, i64)>,
}

const VOUCHER_COLUMNS: &str = "id, structure_id, product_id, resource, amount, state, reference, issued_at, \
                               expires_at, state_changed_at, attestation";
/// Columns of the multi-row voucher insert.
const INSERT_COLUMNS: usize = 13;
/// Most attempts at finding free serials for one batch; with 2^35 serials a
/// second round is already rare.
const MAX_SERIAL_ROUNDS: usize = 16;

fn voucher_from_row(row: &AnyRow, now: i64) -> Result<VoucherRow> {
    let state: String = row.try_get("state")?;
    let stored = VoucherState::parse(&state)
        .ok_or_else(|| StorageError::Corrupt(format!("state {state:?}")))?;
    let expires_at: i64 = row.try_get("expires_at")?;
    Ok(VoucherRow {
        id: row.try_get("id")?,
        structure_id: row.try_get("structure_id")?,
        product_id: row.try_get("product_id")?,
        resource: row.try_get("resource")?,
        amount: row.try_get("amount")?,
        state: lifecycle::effective_state(stored, expires_at, now),
        reference: row.try_get("reference")?,
        issued_at: row.try_get("issued_at")?,
        expires_at,
        state_changed_at: row.try_get("state_changed_at")?,
        attestation: row.try_get("attestation")?,
    })
}

impl Store {
    /// Issues vouchers: all or nothing, within the structure's quota, once
    /// per Idempotency-Key.
    pub async fn issue(
        &self,
        keys: &KeySet,
        req: &IssueRequest<'_>,
        now: i64,
    ) -> Result<IssueOutcome> {
        // Signing is the costly part; do it before taking the write lock.
        let mut minter = Minter::new(keys, req.structure_id, req.product, now)?;
        let candidates = minter.batch(req.count)?;
        self.credit_due_grants(Some(req.structure_id), now).await?;
        let mut tx = self.begin_write().await?;
        if let Some(claim) = &req.idempotency {
            if let Claimed::Replay(answer) = idempotency::claim(&mut tx, claim, now).await? {
                tx.rollback().await?;
                return serde_json::from_str(&answer)
                    .map_err(|e| StorageError::Corrupt(e.to_string()));
            }
        }
        let buckets =
            ledger::open_buckets(self, &mut tx, req.structure_id, &req.product.resource).await?;
        let takes = quota::allocate(&buckets, req.product.amount, req.count, now).map_err(
            |Shortfall {
                 available,
                 requested,
             }| DomainError::QuotaExceeded {
                resource: req.product.resource.clone(),
                available,
                requested,
            },
        )?;
        let stored = insert_vouchers(&mut tx, &mut minter, candidates, req, now).await?;
        record_issue(&mut tx, req, &stored, &takes, now).await?;
        let outcome = IssueOutcome {
            vouchers: stored.iter().map(|v| issued_row(v, req, now)).collect(),
        };
        if let Some(claim) = &req.idempotency {
            let answer = serde_json::to_string(&outcome)
                .map_err(|e| StorageError::Corrupt(e.to_string()))?;
            idempotency::store_answer(&mut tx, claim, &answer).await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    /// One voucher of a structure, or `None` (also when it is another
    /// structure's: the caller must not learn that it exists).
    pub async fn get_voucher(
        &self,
        structure_id: i64,
        voucher_id: i64,
        now: i64,
    ) -> Result<Option<VoucherRow>> {
        let sql =
            format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1 AND structure_id = $2");
        let row = sqlx::query(&sql)
            .bind(voucher_id)
            .bind(structure_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| voucher_from_row(&r, now)).transpose()
    }

    /// A structure's vouchers, newest first, filtered by state as of `now`.
    pub async fn list_vouchers(
        &self,
        structure_id: i64,
        filter: &VoucherFilter,
        now: i64,
    ) -> Result<VoucherPage> {
        // Expiry is evaluated here rather than trusted from the column, so
        // the filter agrees with what each voucher reports.
        let state_clause = match filter.state {
            None => "",
            Some(VoucherState::Issued) => " AND state = 'issued' AND expires_at > $4",
            Some(VoucherState::Expired) => {
                " AND (state = 'expired' OR (state = 'issued' AND expires_at <= $4))"
            }
            Some(_) => " AND state = $4",
        };
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE structure_id = $1 \
             AND (issued_at < $2 OR (issued_at = $2 AND id < $3)){state_clause} \
             ORDER BY issued_at DESC, id DESC LIMIT {}",
            filter.limit + 1
        );
        let (after_at, after_id) = filter.after.unwrap_or((i64::MAX, i64::MAX));
        let mut query = sqlx::query(&sql)
            .bind(structure_id)
            .bind(after_at)
            .bind(after_id);
        match filter.state {
            None => {}
            Some(VoucherState::Issued | VoucherState::Expired) => query = query.bind(now),
            Some(state) => query = query.bind(state.as_str()),
        }
        let rows = query.fetch_all(self.reader()).await?;
        let mut vouchers = rows
            .iter()
            .map(|r| voucher_from_row(r, now))
            .collect::<Result<Vec<_>>>()?;
        let next = if vouchers.len() > filter.limit {
            vouchers.truncate(filter.limit);
            vouchers.last().map(|v| (v.issued_at, v.id))
        } else {
            None
        };
        Ok(VoucherPage { vouchers, next })
    }

    /// Voids an unredeemed voucher of the caller's structure; its quota is
    /// given back. A voucher past its expiry is expired instead (and its
    /// quota given back as expiry), and the refusal says so.
    pub async fn void_voucher(
        &self,
        principal: &Principal,
        structure_id: i64,
        voucher_id: i64,
        now: i64,
    ) -> Result<VoucherRow> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1 AND structure_id = $2{}",
            self.for_update()
        );
        let row = sqlx::query(&sql)
            .bind(voucher_id)
            .bind(structure_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(DomainError::NotFound("voucher"))?;
        let voucher = voucher_from_row(&row, now)?;
        if voucher.state == VoucherState::Expired {
            expire_one(&mut tx, &voucher, now).await?;
            tx.commit().await?;
            return Err(DomainError::WrongState(VoucherState::Expired).into());
        }
        let to =
            lifecycle::next(voucher.state, Transition::Void).map_err(DomainError::WrongState)?;
        change_state(&mut tx, &voucher, to, now).await?;
        ledger::give_back(
            &mut tx,
            structure_id,
            &voucher.resource,
            voucher.id,
            voucher.amount,
            now,
        )
        .await?;
        let event = voucher_event("void", principal.actor(), &voucher, serde_json::json!({}));
        events::append(&mut tx, now, &[event]).await?;
        tx.commit().await?;
        Ok(VoucherRow {
            state: to,
            state_changed_at: now,
            ..voucher
        })
    }

    /// Records the expiry of vouchers past their date (the sweeper). Codes
    /// are refused after expiry whether or not this has run; this gives their
    /// quota back and makes the state explicit.
    pub async fn expire_due_vouchers(&self, now: i64, batch: usize) -> Result<u64> {
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE state = 'issued' AND expires_at <= $1 ORDER BY expires_at LIMIT {batch}"
        );
        let due = sqlx::query(&sql).bind(now).fetch_all(self.reader()).await?;
        let mut expired = 0;
        for row in &due {
            let voucher = voucher_from_row(row, now)?;
            let mut tx = self.begin_write().await?;
            expired += u64::from(expire_one(&mut tx, &voucher, now).await?);
            tx.commit().await?;
        }
        Ok(expired)
    }
}

fn voucher_event(
    kind: &'static str,
    actor: String,
    v: &VoucherRow,
    data: serde_json::Value,
) -> EventInput {
    EventInput {
        kind,
        actor,
        structure_id: Some(v.structure_id),
        voucher_id: Some(v.id),
        data,
    }
}

/// Compare-and-set on the stored state: the update only happens if nobody
/// changed the voucher since it was read.
async fn change_state(
    tx: &mut Transaction<'static, Any>,
    v: &VoucherRow,
    to: VoucherState,
    now: i64,
) -> Result<bool> {
    // The stored state of an effectively expired voucher is still `issued`.
    let stored = if v.state == VoucherState::Expired {
        VoucherState::Issued
    } else {
        v.state
    };
    let changed = sqlx::query(
        "UPDATE vouchers SET state = $1, state_changed_at = $2 WHERE id = $3 AND state = $4",
    )
    .bind(to.as_str())
    .bind(now)
    .bind(v.id)
    .bind(stored.as_str())
    .execute(&mut **tx)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Expires one voucher whose date has passed, if still issued.
async fn expire_one(tx: &mut Transaction<'static, Any>, v: &VoucherRow, now: i64) -> Result<bool> {
    if !change_state(tx, v, VoucherState::Expired, now).await? {
        return Ok(false);
    }
    ledger::give_back(tx, v.structure_id, &v.resource, v.id, v.amount, now).await?;
    let event = voucher_event(
        "expire",
        "system".into(),
        v,
        serde_json::json!({ "expires_at": v.expires_at }),
    );
    events::append(tx, now, &[event]).await?;
    Ok(true)
}

fn issued_row(v: &NewVoucher, req: &IssueRequest<'_>, now: i64) -> VoucherRow {
    VoucherRow {
        id: v.row_id(),
        structure_id: req.structure_id,
        product_id: req.product.id.clone(),
        resource: req.product.resource.clone(),
        amount: req.product.amount,
        state: VoucherState::Issued,
        reference: req.reference.clone(),
        issued_at: v.issued_at,
        expires_at: v.expires_at,
        state_changed_at: now,
        attestation: v.attestation.clone(),
    }
}

/// Inserts the candidates; a serial already taken is replaced by a fresh
/// one and tried again, so every voucher gets a unique random serial.
async fn insert_vouchers(
    tx: &mut Transaction<'static, Any>,
    minter: &mut Minter<'_>,
    mut pending: Vec<NewVoucher>,
    req: &IssueRequest<'_>,
    now: i64,
) -> Result<Vec<NewVoucher>> {
    let mut stored = Vec::with_capacity(pending.len());
    for _ in 0..MAX_SERIAL_ROUNDS {
        let sql = format!(
            "INSERT INTO vouchers (id, key_id, serial, structure_id, product_id, resource, amount, state, reference, \
             issued_at, expires_at, state_changed_at, attestation) VALUES {} ON CONFLICT DO NOTHING RETURNING id",
            values_placeholders(pending.len(), INSERT_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for v in &pending {
            query = query
                .bind(v.row_id())
                .bind(i64::from(v.voucher.key_id.get()))
                .bind(v.voucher.serial.get() as i64)
                .bind(req.structure_id)
                .bind(req.product.id.clone())
                .bind(req.product.resource.clone())
                .bind(req.product.amount)
                .bind(VoucherState::Issued.as_str())
                .bind(req.reference.clone())
                .bind(v.issued_at)
                .bind(v.expires_at)
                .bind(now)
                .bind(v.attestation.clone());
        }
        let inserted: Vec<i64> = query
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<Result<_, _>>()?;
        let (done, taken): (Vec<_>, Vec<_>) = pending
            .into_iter()
            .partition(|v| inserted.contains(&v.row_id()));
        stored.extend(done);
        if taken.is_empty() {
            return Ok(stored);
        }
        tracing::info!(
            collisions = taken.len(),
            "serial collision at issue, drawing again"
        );
        pending = Vec::with_capacity(taken.len());
        while pending.len() < taken.len() {
            let fresh = minter.mint()?;
            if stored
                .iter()
                .chain(&pending)
                .all(|v| v.voucher != fresh.voucher)
            {
                pending.push(fresh);
            }
        }
    }
    Err(StorageError::Corrupt("could not find free serials".into()))
}

/// The ledger side of an issue: sources, one issue entry per voucher, the
/// drawn buckets, and one event per voucher.
async fn record_issue(
    tx: &mut Transaction<'static, Any>,
    req: &IssueRequest<'_>,
    stored: &[NewVoucher],
    takes: &[Vec<quota::Take>],
    now: i64,
) -> Result<()> {
    let mut sources = Vec::with_capacity(stored.len());
    for (v, voucher_takes) in stored.iter().zip(takes) {
        for t in voucher_takes {
            sources.push((v.row_id(), t.bucket_id, t.amount));
        }
    }
    for chunk in sources.chunks(500) {
        let sql = format!(
            "INSERT INTO voucher_sources (voucher_id, bucket_id, amount) VALUES {}",
            values_placeholders(chunk.len(), 3)
        );
        let mut query = sqlx::query(&sql);
        for &(voucher_id, bucket_id, amount) in chunk {
            query = query.bind(voucher_id).bind(bucket_id).bind(amount);
        }
        query.execute(&mut **tx).await?;
    }
    let all_takes: Vec<quota::Take> = takes.iter().flatten().copied().collect();
    ledger::draw(tx, &all_takes).await?;
    let rows: Vec<LedgerRow> = stored
        .iter()
        .map(|v| LedgerRow {
            entry: Entry::Issue,
            amount: req.product.amount,
            voucher_id: Some(v.row_id()),
            bucket_id: None,
        })
        .collect();
    ledger::record(tx, req.structure_id, &req.product.resource, &rows, now).await?;
    let actor = req.principal.actor();
    let events: Vec<EventInput> = stored
        .iter()
        .map(|v| EventInput {
            kind: "issue",
            actor: actor.clone(),
            structure_id: Some(req.structure_id),
            voucher_id: Some(v.row_id()),
            data: serde_json::json!({
                "serial": v.voucher.to_string(), "product": req.product.id,
                "resource": req.product.resource, "amount": req.product.amount,
                "expires_at": v.expires_at,
            }),
        })
        .collect();
    events::append(tx, now, &events).await
}
