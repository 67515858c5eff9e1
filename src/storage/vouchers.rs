//! Vouchers: issue, read, list, void and expire.

use serde::{Deserialize, Serialize};

use super::WriteTx;
use super::events::{self};
use super::idempotency::{self, Claimed, IdempotencyClaim};
use super::quota::{self as ledger, Entry, LedgerRow};
use super::voiding::{Voided, void_locked};
use super::voucher_state::{VOUCHER_COLUMNS, VoucherRow, expire_one, voucher_from_row};
use super::{Result, StorageError, Store, values_placeholders};
use crate::code::{Format, KeySet};
use crate::domain::minting::{CODE_KEY_SPAN, Minter, NewVoucher, PIN_KEY_SPAN, PIN_ROW_BASE};
use crate::domain::quota::{self, Shortfall};
use crate::domain::{DomainError, Principal, Product, VoucherState};

/// A request to issue `count` codes of one product.
#[derive(Clone, Debug)]
pub struct IssueRequest<'a> {
    pub principal: Principal,
    pub structure_id: i64,
    pub product: &'a Product,
    /// What the vouchers are printed as.
    pub format: Format,
    pub count: usize,
    pub reference: Option<String>,
    pub idempotency: Option<IdempotencyClaim>,
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

/// Parameters shared by every row of the multi-row voucher insert.
const SHARED_PARAMS: usize = 12;
/// Parameters of each row: id, attestation, bucket.
const ROW_PARAMS: usize = 3;

/// Where a format's row ids start, and how many each key id spans
/// (`domain::minting::voucher_row_id`).
fn id_layout(format: Format) -> (i64, i64) {
    match format {
        Format::Code => (0, CODE_KEY_SPAN),
        Format::Pin => (PIN_ROW_BASE, PIN_KEY_SPAN),
    }
}

/// The multi-row voucher insert for `rows` rows: key_id and serial are
/// derived from the id in SQL (`$11` the format's first id, `$10` the ids
/// of one key), and the schema's CHECK confirms them.
fn insert_vouchers_sql(rows: usize) -> String {
    let mut values = String::with_capacity(rows * 80);
    for r in 0..rows {
        let id = SHARED_PARAMS + r * ROW_PARAMS + 1;
        let (att, bucket) = (id + 1, id + 2);
        if r > 0 {
            values.push_str(", ");
        }
        values.push_str(&format!(
            "(${id}, (${id} - $11) / $10, (${id} - $11) % $10, $1, $2, $3, $4, $5, $6, $7, $8, $7, ${att}, $9, \
             ${bucket}, $12)"
        ));
    }
    format!(
        "INSERT INTO vouchers (id, key_id, serial, structure_id, product_id, resource, amount, state, reference, \
         issued_at, expires_at, state_changed_at, attestation, issue_entry_id, bucket_id, format) VALUES {values} \
         ON CONFLICT DO NOTHING RETURNING id"
    )
}
/// Most attempts at finding free serials for one batch; with 2^35 serials a
/// second round is already rare.
const MAX_SERIAL_ROUNDS: usize = 16;

impl Store {
    /// Issues vouchers: all or nothing, within the structure's quota, once
    /// per Idempotency-Key.
    ///
    /// Everything that needs no database (random serials, attestations) is
    /// done before the write transaction. On SQLite the transaction is the
    /// single writer's: the request joins the [`super::batch`] writer, so
    /// requests arriving together share one commit. On PostgreSQL, which
    /// has row locks and groups concurrent commits itself, each request has
    /// its own transaction.
    pub async fn issue(
        &self,
        keys: &KeySet,
        req: &IssueRequest<'_>,
        now: i64,
    ) -> Result<IssueOutcome> {
        self.credit_due_grants(Some(req.structure_id), now).await?;
        let mut minter = Minter::new(keys, req.format, req.structure_id, req.product, now)?;
        for _ in 0..MAX_SERIAL_ROUNDS {
            let job = IssueJob::new(req, minter.batch(req.count)?);
            let result = match self.backend() {
                super::Backend::Sqlite => self.submit(super::write::Issue(job), now).await,
                super::Backend::Postgres => self.issue_alone(&job, now).await,
            };
            match result {
                // The unique primary key is the last line of defence: a
                // serial someone already holds undoes the whole attempt,
                // which is tried again with fresh serials.
                Err(StorageError::SerialTaken) => {
                    tracing::info!("serial collision at issue, drawing again");
                }
                other => return other,
            }
        }
        Err(StorageError::Corrupt("could not find free serials".into()))
    }

    /// One issue in a transaction of its own.
    async fn issue_alone(&self, job: &IssueJob, now: i64) -> Result<IssueOutcome> {
        let mut tx = self.begin_write().await?;
        let outcome = issue_in(self, &mut tx, job, now).await?;
        events::commit(tx).await?;
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

    /// Any structure's voucher by its row id: for the coordinator, who
    /// reaches every voucher.
    pub async fn get_any_voucher(&self, voucher_id: i64, now: i64) -> Result<Option<VoucherRow>> {
        let sql = format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(voucher_id)
            .fetch_optional(self.reader())
            .await?;
        row.map(|r| voucher_from_row(&r, now)).transpose()
    }

    /// A structure's vouchers whose own reference (typed at issue) is
    /// `reference`, ignoring case, newest first, at most `limit`.
    pub async fn vouchers_with_reference(
        &self,
        structure_id: i64,
        reference: &str,
        limit: i64,
        now: i64,
    ) -> Result<Vec<VoucherRow>> {
        let sql = format!(
            "SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE structure_id = $1 \
             AND lower(reference) = lower($2) ORDER BY issued_at DESC, id DESC LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(structure_id)
            .bind(reference.to_owned())
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(|r| voucher_from_row(r, now)).collect()
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
        super::admin::ensure_live(&mut tx, principal).await?;
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
        let actor = principal.actor();
        let outcome = void_locked(self, &mut tx, voucher, &actor, None, now).await?;
        events::commit(tx).await?;
        match outcome {
            Voided::Done(row) => Ok(row),
            Voided::Expired => Err(DomainError::WrongState(VoucherState::Expired).into()),
            Voided::Refused(state) => Err(DomainError::WrongState(state).into()),
        }
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
            events::commit(tx).await?;
        }
        Ok(expired)
    }
}

/// What a void or expiry event records: the amount given back to the
/// structure's resource, and how much of it lapsed at once because its
/// bucket had lapsed. The audit recomputes balances from these.
/// An issue request as the writer applies it: owned, with its candidates
/// already minted and signed, so that the transaction only writes.
#[derive(Clone, Debug)]
pub struct IssueJob {
    principal: Principal,
    structure_id: i64,
    product: Product,
    format: Format,
    count: usize,
    reference: Option<String>,
    idempotency: Option<IdempotencyClaim>,
    candidates: Vec<NewVoucher>,
}

impl IssueJob {
    fn new(req: &IssueRequest<'_>, candidates: Vec<NewVoucher>) -> Self {
        Self {
            principal: req.principal,
            structure_id: req.structure_id,
            product: req.product.clone(),
            format: req.format,
            count: req.count,
            reference: req.reference.clone(),
            idempotency: req.idempotency.clone(),
            candidates,
        }
    }

    /// The structure whose quota rows the job locks.
    pub(crate) fn structure_id(&self) -> i64 {
        self.structure_id
    }
}

/// Applies an issue in the caller's transaction. A serial already taken
/// fails with [`StorageError::SerialTaken`], and the caller must roll back.
pub(crate) async fn issue_in(
    store: &Store,
    tx: &mut WriteTx,
    job: &IssueJob,
    now: i64,
) -> Result<IssueOutcome> {
    super::admin::ensure_live(tx, &job.principal).await?;
    if let Some(claim) = &job.idempotency
        && let Claimed::Replay(answer) = idempotency::claim(tx, claim, now).await?
    {
        return serde_json::from_str(&answer).map_err(StorageError::Encoding);
    }
    let product = &job.product;
    let account = ledger::Account {
        structure_id: job.structure_id,
        operator_id: product.operator_id,
        resource: &product.resource,
    };
    let buckets = ledger::open_buckets(store, tx, account).await?;
    let takes = quota::allocate(&buckets, product.amount, job.count, now).map_err(
        |Shortfall {
             available,
             requested,
         }| DomainError::QuotaExceeded {
            resource: product.resource.clone(),
            available,
            requested,
        },
    )?;
    let entry = LedgerRow::of_bucket(Entry::Issue, product.amount * job.count as i64, None);
    let entry_id = ledger::record_one(tx, account, entry, now).await?;
    let rows = Rows {
        job,
        entry_id,
        takes: &takes,
        now,
    };
    insert_vouchers(tx, &rows).await?;
    record_issue(tx, &rows).await?;
    let outcome = IssueOutcome {
        vouchers: job
            .candidates
            .iter()
            .map(|v| issued_row(v, job, entry_id, now))
            .collect(),
    };
    if let Some(claim) = &job.idempotency {
        let answer = serde_json::to_string(&outcome).map_err(StorageError::Encoding)?;
        idempotency::store_answer(tx, claim, &answer).await?;
    }
    Ok(outcome)
}

/// Compare-and-set on the stored state: the update only happens if nobody
/// changed the voucher since it was read. Every voucher state change in
/// storage goes through here.
fn issued_row(v: &NewVoucher, job: &IssueJob, lot: i64, now: i64) -> VoucherRow {
    VoucherRow {
        id: v.row_id(),
        lot,
        structure_id: job.structure_id,
        operator_id: job.product.operator_id,
        product_id: job.product.id.clone(),
        resource: job.product.resource.clone(),
        amount: job.product.amount,
        state: VoucherState::Issued,
        reference: job.reference.clone(),
        issued_at: v.issued_at,
        expires_at: v.expires_at,
        state_changed_at: now,
        attestation: v.attestation.clone(),
        stored_state: VoucherState::Issued,
    }
}

/// What every row of one issue request shares.
struct Rows<'a> {
    job: &'a IssueJob,
    /// The request's single issue ledger entry.
    entry_id: i64,
    /// Each voucher's takes, in the order vouchers are stored.
    takes: &'a [Vec<quota::Take>],
    now: i64,
}

impl Rows<'_> {
    /// The bucket the `i`th voucher drew from, if just one.
    fn single_bucket(&self, i: usize) -> Option<i64> {
        match self.takes.get(i).map(Vec::as_slice) {
            Some([only]) => Some(only.bucket_id),
            _ => None,
        }
    }
}

/// Inserts the candidates in one statement. A serial already taken (by an
/// earlier request, or by another request of the same batch) inserts
/// nothing for that row; the shortfall fails the whole attempt, so that
/// nothing is written for a voucher the caller would not be given.
async fn insert_vouchers(tx: &mut WriteTx, rows: &Rows<'_>) -> Result<()> {
    let job = rows.job;
    let candidates = &job.candidates;
    let sql = insert_vouchers_sql(candidates.len());
    // What all rows share is bound once ($1–$12); each row binds only its
    // id, attestation and bucket. Binding is a large part of the cost.
    let (first_id, key_span) = id_layout(job.format);
    let mut query = sqlx::query(&sql)
        .bind(job.structure_id)
        .bind(job.product.id.clone())
        .bind(job.product.resource.clone())
        .bind(job.product.amount)
        .bind(VoucherState::Issued.as_str())
        .bind(job.reference.clone())
        .bind(rows.now)
        .bind(candidates.first().map_or(rows.now, |v| v.expires_at))
        .bind(rows.entry_id)
        .bind(key_span)
        .bind(first_id)
        .bind(job.format.as_str());
    for (i, v) in candidates.iter().enumerate() {
        query = query
            .bind(v.row_id())
            .bind(v.attestation.clone())
            .bind(rows.single_bucket(i));
    }
    let inserted = query.execute(&mut **tx).await?.rows_affected();
    if usize::try_from(inserted).ok() == Some(candidates.len()) {
        Ok(())
    } else {
        Err(StorageError::SerialTaken)
    }
}

/// The ledger side of an issue: sources of vouchers that drew from several
/// buckets, the drawn buckets, and one event per voucher. (The issue entry
/// itself is written first: vouchers reference it.)
async fn record_issue(tx: &mut WriteTx, rows: &Rows<'_>) -> Result<()> {
    let job = rows.job;
    let mut sources = Vec::new();
    for (i, v) in job.candidates.iter().enumerate() {
        if rows.single_bucket(i).is_none() {
            for t in rows.takes.get(i).map_or(&[][..], Vec::as_slice) {
                sources.push((v.row_id(), t.bucket_id, t.amount));
            }
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
    let all_takes: Vec<quota::Take> = rows.takes.iter().flatten().copied().collect();
    ledger::draw(tx, &all_takes).await?;
    let events: Vec<(i64, serde_json::Value)> = job
        .candidates
        .iter()
        .map(|v| {
            let data = serde_json::json!({
                "serial": v.voucher.to_string(), "product": job.product.id,
                "operator_id": job.product.operator_id, "resource": job.product.resource, "amount": job.product.amount,
                "expires_at": v.expires_at,
                "issue_entry_id": rows.entry_id,
            });
            (v.row_id(), data)
        })
        .collect();
    let actor = job.principal.actor();
    events::append_voucher_events(tx, rows.now, "issue", &actor, job.structure_id, &events);
    Ok(())
}
