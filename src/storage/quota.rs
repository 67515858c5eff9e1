//! The quota ledger in the database: buckets, balances and ledger entries,
//! always changed together, in one transaction, with an event.

use sqlx::Row;

use super::WriteTx;
use super::events::{self, EventInput};
use super::{Result, Store, values_placeholders};
use crate::domain::Balance;
use crate::domain::quota::{self, Bucket, Take};

/// Which way a ledger entry moves quota.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Entry {
    Grant,
    Issue,
    Return,
    Lapse,
    /// Quota arriving from the tree: an allocation at a member, a
    /// claw-back at its association.
    Received,
    /// Quota leaving for the tree: the other side of a received entry.
    Sent,
}

impl Entry {
    fn as_str(self) -> &'static str {
        match self {
            Self::Grant => "grant",
            Self::Issue => "issue",
            Self::Return => "return",
            Self::Lapse => "lapse",
            Self::Received => "received",
            Self::Sent => "sent",
        }
    }

    fn balance_column(self) -> &'static str {
        match self {
            Self::Grant => "granted",
            Self::Issue => "issued",
            Self::Return => "returned",
            Self::Lapse => "lapsed",
            Self::Received => "received",
            Self::Sent => "sent",
        }
    }
}

/// Whose quota a change moves: one structure's resource on one network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Account<'a> {
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: &'a str,
}

/// One ledger row to write.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LedgerRow {
    pub entry: Entry,
    pub amount: i64,
    pub voucher_id: Option<i64>,
    pub bucket_id: Option<i64>,
    /// Set exactly for received and sent entries.
    pub transfer_id: Option<i64>,
}

impl LedgerRow {
    /// A row that names neither a voucher nor a transfer.
    pub(crate) fn of_bucket(entry: Entry, amount: i64, bucket_id: Option<i64>) -> Self {
        Self {
            entry,
            amount,
            voucher_id: None,
            bucket_id,
            transfer_id: None,
        }
    }
}

const LEDGER_COLUMNS: usize = 9;
const LEDGER_ROWS_PER_STATEMENT: usize = 500;

/// Writes ledger rows for one account, and moves the running balance by
/// the same amounts. The balance's CHECK refuses a negative available
/// amount, as a last line of defence.
pub(crate) async fn record(
    tx: &mut WriteTx,
    account: Account<'_>,
    rows: &[LedgerRow],
    now: i64,
) -> Result<()> {
    for chunk in rows.chunks(LEDGER_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO ledger (structure_id, operator_id, resource, kind, amount, voucher_id, bucket_id, at, \
             transfer_id) VALUES {}",
            values_placeholders(chunk.len(), LEDGER_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = query
                .bind(account.structure_id)
                .bind(account.operator_id)
                .bind(account.resource.to_owned())
                .bind(r.entry.as_str())
                .bind(r.amount)
                .bind(r.voucher_id)
                .bind(r.bucket_id)
                .bind(now)
                .bind(r.transfer_id);
        }
        query.execute(&mut **tx).await?;
    }
    move_balance(tx, account, rows).await
}

/// Moves the running balance by the rows' amounts.
async fn move_balance(tx: &mut WriteTx, account: Account<'_>, rows: &[LedgerRow]) -> Result<()> {
    sqlx::query(
        "INSERT INTO balances (structure_id, operator_id, resource) VALUES ($1, $2, $3) \
         ON CONFLICT (structure_id, operator_id, resource) DO NOTHING",
    )
    .bind(account.structure_id)
    .bind(account.operator_id)
    .bind(account.resource.to_owned())
    .execute(&mut **tx)
    .await?;
    for entry in [
        Entry::Grant,
        Entry::Issue,
        Entry::Return,
        Entry::Lapse,
        Entry::Received,
        Entry::Sent,
    ] {
        let total: i64 = rows
            .iter()
            .filter(|r| r.entry == entry)
            .map(|r| r.amount)
            .sum();
        if total == 0 {
            continue;
        }
        let column = entry.balance_column();
        sqlx::query(&format!(
            "UPDATE balances SET {column} = {column} + $1 \
             WHERE structure_id = $2 AND operator_id = $3 AND resource = $4"
        ))
        .bind(total)
        .bind(account.structure_id)
        .bind(account.operator_id)
        .bind(account.resource.to_owned())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Writes one ledger row, moves the balance, and returns the row's id.
pub(crate) async fn record_one(
    tx: &mut WriteTx,
    account: Account<'_>,
    row: LedgerRow,
    now: i64,
) -> Result<i64> {
    let id: i64 = sqlx::query(
        "INSERT INTO ledger (structure_id, operator_id, resource, kind, amount, voucher_id, bucket_id, at, \
         transfer_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(account.structure_id)
    .bind(account.operator_id)
    .bind(account.resource.to_owned())
    .bind(row.entry.as_str())
    .bind(row.amount)
    .bind(row.voucher_id)
    .bind(row.bucket_id)
    .bind(now)
    .bind(row.transfer_id)
    .fetch_one(&mut **tx)
    .await?
    .try_get("id")?;
    move_balance(tx, account, &[row]).await?;
    Ok(id)
}

impl Store {
    /// Credits one bucket of a grant, with its ledger entry and event.
    #[allow(clippy::too_many_arguments)] // One row's worth of columns.
    pub(crate) async fn credit_bucket(
        &self,
        tx: &mut WriteTx,
        grant_id: i64,
        period: i64,
        account: Account<'_>,
        amount: i64,
        credited_at: i64,
        expires_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let bucket_id: i64 = sqlx::query(
            "INSERT INTO quota_buckets (grant_id, period, structure_id, operator_id, resource, amount, remaining, \
             credited_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8) RETURNING id",
        )
        .bind(grant_id)
        .bind(period)
        .bind(account.structure_id)
        .bind(account.operator_id)
        .bind(account.resource.to_owned())
        .bind(amount)
        .bind(credited_at)
        .bind(expires_at)
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        let row = LedgerRow::of_bucket(Entry::Grant, amount, Some(bucket_id));
        record(tx, account, &[row], now).await?;
        let event = EventInput {
            kind: "credit",
            actor: "system".into(),
            structure_id: Some(account.structure_id),
            voucher_id: None,
            data: serde_json::json!({
                "grant_id": grant_id, "period": period, "bucket_id": bucket_id,
                "operator_id": account.operator_id, "resource": account.resource,
                "amount": amount, "expires_at": expires_at,
            }),
        };
        events::append(tx, now, &[event]);
        Ok(())
    }

    /// Credits every monthly grant whose next credit is due (for one
    /// structure, or all). Each credit is a compare-and-set on the grant's
    /// period, so two processes never credit the same month twice.
    pub async fn credit_due_grants(&self, structure_id: Option<i64>, now: i64) -> Result<u64> {
        let mut credited = 0;
        loop {
            let due = sqlx::query(
                "SELECT id, structure_id, operator_id, resource, amount, starts_at, ends_at, next_period, next_credit_at \
                 FROM grants WHERE next_credit_at IS NOT NULL AND next_credit_at <= $1 \
                 AND ($2 IS NULL OR structure_id = $2) ORDER BY next_credit_at LIMIT 100",
            )
            .bind(now)
            .bind(structure_id)
            .fetch_all(self.reader())
            .await?;
            if due.is_empty() {
                return Ok(credited);
            }
            for row in &due {
                credited += u64::from(self.credit_one_due(row, now).await?);
            }
        }
    }

    async fn credit_one_due(&self, row: &sqlx::any::AnyRow, now: i64) -> Result<bool> {
        let grant_id: i64 = row.try_get("id")?;
        let period: i64 = row.try_get("next_period")?;
        let credit_at: i64 = row.try_get("next_credit_at")?;
        let starts_at: i64 = row.try_get("starts_at")?;
        let ends_at: Option<i64> = row.try_get("ends_at")?;
        let following = u32::try_from(period + 1)
            .ok()
            .and_then(|p| quota::monthly_credit_at(starts_at, p))
            .filter(|&t| ends_at.is_none_or(|end| t < end));
        let mut tx = self.begin_write().await?;
        let won = sqlx::query(
            "UPDATE grants SET next_period = next_period + 1, next_credit_at = $1 WHERE id = $2 AND next_period = $3",
        )
        .bind(following)
        .bind(grant_id)
        .bind(period)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if won {
            let resource: String = row.try_get("resource")?;
            let account = Account {
                structure_id: row.try_get("structure_id")?,
                operator_id: row.try_get("operator_id")?,
                resource: &resource,
            };
            let amount: i64 = row.try_get("amount")?;
            self.credit_bucket(
                &mut tx, grant_id, period, account, amount, credit_at, ends_at, now,
            )
            .await?;
        }
        events::commit(tx).await?;
        Ok(won)
    }

    /// Records the lapse of every bucket whose end date has passed: its
    /// unused remainder leaves the balance for good.
    pub async fn lapse_due_buckets(&self, now: i64) -> Result<u64> {
        let due = sqlx::query(
            "SELECT id FROM quota_buckets WHERE lapsed_at IS NULL AND expires_at IS NOT NULL AND expires_at <= $1 \
             ORDER BY id LIMIT 500",
        )
        .bind(now)
        .fetch_all(self.reader())
        .await?;
        let mut lapsed = 0;
        for row in &due {
            let id: i64 = row.try_get("id")?;
            let mut tx = self.begin_write().await?;
            let sql = format!(
                "SELECT structure_id, operator_id, resource, remaining FROM quota_buckets \
                 WHERE id = $1 AND lapsed_at IS NULL{}",
                self.for_update()
            );
            let Some(bucket) = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await? else {
                continue;
            };
            let resource: String = bucket.try_get("resource")?;
            let account = Account {
                structure_id: bucket.try_get("structure_id")?,
                operator_id: bucket.try_get("operator_id")?,
                resource: &resource,
            };
            let remaining: i64 = bucket.try_get("remaining")?;
            sqlx::query("UPDATE quota_buckets SET lapsed_at = $1, remaining = 0 WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if remaining > 0 {
                let row = LedgerRow::of_bucket(Entry::Lapse, remaining, Some(id));
                record(&mut tx, account, &[row], now).await?;
            }
            let event = EventInput {
                kind: "lapse",
                actor: "system".into(),
                structure_id: Some(account.structure_id),
                voucher_id: None,
                data: serde_json::json!({
                    "bucket_id": id, "operator_id": account.operator_id,
                    "resource": account.resource, "amount": remaining,
                }),
            };
            events::append(&mut tx, now, &[event]);
            events::commit(tx).await?;
            lapsed += 1;
        }
        Ok(lapsed)
    }

    /// A structure's balances, as of `now`: a bucket past its end date counts
    /// as lapsed even before the sweeper records it.
    pub async fn balances(&self, structure_id: i64, now: i64) -> Result<Vec<Balance>> {
        let rows = sqlx::query(
            "SELECT b.operator_id, b.resource, b.granted, b.issued, b.returned, b.lapsed, b.received, b.sent, \
             (SELECT CAST(COALESCE(SUM(q.remaining), 0) AS BIGINT) FROM quota_buckets q WHERE q.structure_id = b.structure_id \
              AND q.operator_id = b.operator_id AND q.resource = b.resource AND q.lapsed_at IS NULL \
              AND q.expires_at IS NOT NULL AND q.expires_at <= $2) AS pending_lapse \
             FROM balances b WHERE b.structure_id = $1 ORDER BY b.operator_id, b.resource",
        )
        .bind(structure_id)
        .bind(now)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| balance_from_row(r, r.try_get("pending_lapse")?))
            .collect()
    }
}

/// A balance read from its columns (`operator_id`, `resource`, `granted`,
/// `issued`, `returned`, `lapsed`, `received`, `sent`), with
/// `pending_lapse` more lapsed.
pub(super) fn balance_from_row(r: &sqlx::any::AnyRow, pending_lapse: i64) -> Result<Balance> {
    Ok(Balance::new(
        r.try_get("operator_id")?,
        r.try_get("resource")?,
        r.try_get("granted")?,
        r.try_get("issued")?,
        r.try_get("returned")?,
        r.try_get::<i64, _>("lapsed")? + pending_lapse,
    )
    .with_transfers(r.try_get("received")?, r.try_get("sent")?))
}

/// The open buckets of an account, locked for the transaction.
pub(crate) async fn open_buckets(
    store: &Store,
    tx: &mut WriteTx,
    account: Account<'_>,
) -> Result<Vec<Bucket>> {
    let sql = format!(
        "SELECT id, remaining, expires_at FROM quota_buckets WHERE structure_id = $1 AND operator_id = $2 \
         AND resource = $3 AND lapsed_at IS NULL AND remaining > 0 ORDER BY id{}",
        store.for_update()
    );
    let rows = sqlx::query(&sql)
        .bind(account.structure_id)
        .bind(account.operator_id)
        .bind(account.resource.to_owned())
        .fetch_all(&mut **tx)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(Bucket {
                id: r.try_get("id")?,
                remaining: r.try_get("remaining")?,
                expires_at: r.try_get("expires_at")?,
            })
        })
        .collect()
}

/// Takes drawn amounts out of their buckets.
pub(crate) async fn draw(tx: &mut WriteTx, takes: &[Take]) -> Result<()> {
    let mut per_bucket: Vec<(i64, i64)> = Vec::new();
    for t in takes {
        match per_bucket.iter_mut().find(|(id, _)| *id == t.bucket_id) {
            Some((_, amount)) => *amount += t.amount,
            None => per_bucket.push((t.bucket_id, t.amount)),
        }
    }
    for (bucket_id, amount) in per_bucket {
        sqlx::query("UPDATE quota_buckets SET remaining = remaining - $1 WHERE id = $2")
            .bind(amount)
            .bind(bucket_id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Gives a voucher's amount back to the buckets it came from: a bucket that
/// is still open takes it back; one that has lapsed lets it lapse at once.
/// Writes the voucher's single return entry (and any lapse entries), and
/// answers how much of the amount lapsed at once.
pub(crate) async fn give_back(
    tx: &mut WriteTx,
    account: Account<'_>,
    voucher_id: i64,
    amount: i64,
    now: i64,
) -> Result<i64> {
    // A voucher drew from one bucket (vouchers.bucket_id) or, rarely, from
    // several (voucher_sources).
    let sources = sqlx::query(
        "SELECT v.bucket_id, v.amount, q.lapsed_at FROM vouchers v \
         JOIN quota_buckets q ON q.id = v.bucket_id WHERE v.id = $1 \
         UNION ALL SELECT s.bucket_id, s.amount, q.lapsed_at FROM voucher_sources s \
         JOIN quota_buckets q ON q.id = s.bucket_id WHERE s.voucher_id = $1 ORDER BY 1",
    )
    .bind(voucher_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut rows = vec![LedgerRow {
        entry: Entry::Return,
        amount,
        voucher_id: Some(voucher_id),
        bucket_id: None,
        transfer_id: None,
    }];
    for source in &sources {
        let bucket_id: i64 = source.try_get("bucket_id")?;
        let drawn: i64 = source.try_get("amount")?;
        let lapsed_at: Option<i64> = source.try_get("lapsed_at")?;
        if lapsed_at.is_some() {
            rows.push(LedgerRow::of_bucket(Entry::Lapse, drawn, Some(bucket_id)));
        } else {
            sqlx::query("UPDATE quota_buckets SET remaining = remaining + $1 WHERE id = $2")
                .bind(drawn)
                .bind(bucket_id)
                .execute(&mut **tx)
                .await?;
        }
    }
    record(tx, account, &rows, now).await?;
    Ok(rows
        .iter()
        .filter(|r| r.entry == Entry::Lapse)
        .map(|r| r.amount)
        .sum())
}
