//! What changed since the last verified point of the chain, for the
//! service's incremental integrity check ([`crate::audit::incremental`]):
//! the events from that point on, then the rows they touch, read by key.
//! Both in one read-only snapshot, so that the events and the rows agree
//! even while writers go on.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit_rows::{
    self, BALANCE_COLUMNS, BUCKET_COLUMNS, EVENT_COLUMNS, GRANT_COLUMNS, LEDGER_COLUMNS,
    OPERATOR_COLUMNS, PRODUCT_COLUMNS, REDEMPTION_COLUMNS, STRUCTURE_COLUMNS, TOKEN_COLUMNS,
    VOUCHER_COLUMNS,
};
use super::{Backend, Result, Store, placeholder_list, power_of_two_chunks, rows_per_statement};
use crate::audit::incremental::{Touched, TouchedRows};
use crate::audit::snapshot::{BucketRow, EventRow, Snapshot};

/// One consistent read of the changes: [`ChangesRead::events_from`], then
/// [`ChangesRead::touched_rows`], then [`ChangesRead::finish`].
pub struct ChangesRead {
    tx: Transaction<'static, Any>,
    /// Most keys in one `IN (…)` list.
    keys_per_statement: usize,
}

impl Store {
    /// Opens a read-only snapshot for an incremental check. It reads a
    /// little, by key, so it takes a connection of the ordinary read pool
    /// rather than wait behind whole-database audits.
    pub async fn changes_read(&self) -> Result<ChangesRead> {
        let mut tx = self.read.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        Ok(ChangesRead {
            tx,
            keys_per_statement: rows_per_statement(self.backend == Backend::Sqlite, 1),
        })
    }
}

impl ChangesRead {
    /// The sealed events from `seq` on (that one included), in chain order,
    /// and how many committed events have no seq.
    pub async fn events_from(&mut self, seq: i64) -> Result<(Vec<EventRow>, i64)> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq >= $1 ORDER BY seq"
        ))
        .bind(seq)
        .fetch_all(&mut *self.tx)
        .await?;
        let events = rows
            .iter()
            .map(audit_rows::event_from_row)
            .collect::<Result<_>>()?;
        let unsealed: i64 =
            sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM events WHERE seq IS NULL")
                .fetch_one(&mut *self.tx)
                .await?
                .try_get("n")?;
        Ok((events, unsealed))
    }

    /// The rows `t` names, as the incremental check compares them.
    pub async fn touched_rows(&mut self, t: &Touched) -> Result<TouchedRows> {
        let mut rows = Snapshot {
            redemptions: self
                .by_keys(
                    &redemption_sql(),
                    &ids(&t.redemptions),
                    audit_rows::redemption,
                )
                .await?,
            ..Snapshot::default()
        };
        // A redemption's voucher too: its state is compared with the
        // redemption's.
        let mut vouchers = t.vouchers.clone();
        vouchers.extend(rows.redemptions.iter().map(|r| r.voucher_id));
        rows.vouchers = self
            .by_keys(&voucher_sql(), &ids(&vouchers), audit_rows::voucher)
            .await?;
        self.quotas(&mut rows, t).await?;
        rows.structures = self
            .by_keys(&structure_sql(), &ids(&t.structures), audit_rows::structure)
            .await?;
        // Every operator: a handful of rows, and each product names one.
        let operators = sqlx::query(&format!(
            "SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY id"
        ))
        .fetch_all(&mut *self.tx)
        .await?;
        rows.operators = operators
            .iter()
            .map(audit_rows::operator)
            .collect::<Result<_>>()?;
        let products: Vec<String> = t.products.iter().cloned().collect();
        rows.products = self
            .by_keys(&product_sql(), &products, audit_rows::product)
            .await?;
        rows.tokens = self
            .by_keys(&token_sql(), &ids(&t.tokens), audit_rows::token)
            .await?;
        rows.grants = self
            .by_keys(&grant_sql(), &ids(&t.grants), audit_rows::grant)
            .await?;
        let chain_hashes = self.checkpoints(&mut rows, t.checkpoints_after).await?;
        Ok(TouchedRows { rows, chain_hashes })
    }

    /// Ends the read.
    pub async fn finish(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Each quota's balance, its ledger entries from the earliest time of
    /// its new events on, and its open buckets; and the buckets named.
    async fn quotas(&mut self, rows: &mut Snapshot, t: &Touched) -> Result<()> {
        let structures: BTreeSet<i64> = t.quotas.keys().map(|(s, _, _)| *s).collect();
        let structures = ids(&structures);
        let touched = |s: i64, o: i64, r: &str| t.quotas.contains_key(&(s, o, r.to_owned()));
        rows.balances = self
            .by_keys(&balance_sql(), &structures, audit_rows::balance)
            .await?;
        rows.balances
            .retain(|b| touched(b.structure_id, b.operator_id, &b.resource));
        let mut buckets: BTreeMap<i64, BucketRow> = BTreeMap::new();
        let open = self
            .by_keys(&open_bucket_sql(), &structures, audit_rows::bucket)
            .await?;
        let named = self
            .by_keys(&bucket_sql(), &ids(&t.buckets), audit_rows::bucket)
            .await?;
        let open = open
            .into_iter()
            .filter(|b| touched(b.structure_id, b.operator_id, &b.resource));
        buckets.extend(open.chain(named).map(|b| (b.id, b)));
        rows.buckets = buckets.into_values().collect();
        // One statement per quota: the index is (structure, resource, at).
        let sql = format!(
            "SELECT {LEDGER_COLUMNS} FROM ledger WHERE structure_id = $1 AND operator_id = $2 \
             AND resource = $3 AND at >= $4 ORDER BY id"
        );
        for ((structure_id, operator_id, resource), from) in &t.quotas {
            let found = sqlx::query(&sql)
                .bind(*structure_id)
                .bind(*operator_id)
                .bind(resource.clone())
                .bind(*from)
                .fetch_all(&mut *self.tx)
                .await?;
            for r in &found {
                rows.ledger.push(audit_rows::ledger(r)?);
            }
        }
        Ok(())
    }

    /// Checkpoints after `after`, into `rows`; answers the chain's hash at
    /// each of their seqs.
    async fn checkpoints(
        &mut self,
        rows: &mut Snapshot,
        after: i64,
    ) -> Result<BTreeMap<i64, String>> {
        let found = sqlx::query(
            "SELECT c.seq, c.hash, c.at, c.key_id, c.signature, e.hash AS chain_hash \
             FROM checkpoints c LEFT JOIN events e ON e.seq = c.seq WHERE c.seq > $1 ORDER BY c.seq",
        )
        .bind(after)
        .fetch_all(&mut *self.tx)
        .await?;
        let mut hashes = BTreeMap::new();
        for r in &found {
            let c = audit_rows::checkpoint_from_row(r)?;
            if let Some(hash) = r.try_get::<Option<String>, _>("chain_hash")? {
                hashes.insert(c.seq, hash);
            }
            rows.checkpoints.push(c);
        }
        Ok(hashes)
    }

    /// The rows whose key is one of `keys`: `sql` has an `IN ({})` list,
    /// filled in chunks of a few lengths (each a power of two), so that
    /// the connection keeps their statements prepared.
    async fn by_keys<K, T>(
        &mut self,
        sql: &str,
        keys: &[K],
        map: fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>>
    where
        K: for<'q> sqlx::Encode<'q, Any> + sqlx::Type<Any> + Clone + Send + 'static,
    {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in power_of_two_chunks(keys, self.keys_per_statement) {
            let text = sql.replace("{}", &placeholder_list(1, chunk.len()));
            let mut query = sqlx::query(&text);
            for k in chunk {
                query = query.bind(k.clone());
            }
            for r in query.fetch_all(&mut *self.tx).await? {
                out.push(map(&r)?);
            }
        }
        Ok(out)
    }
}

fn ids(set: &BTreeSet<i64>) -> Vec<i64> {
    set.iter().copied().collect()
}

fn redemption_sql() -> String {
    format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions WHERE id IN ({{}})")
}

fn voucher_sql() -> String {
    format!("SELECT {VOUCHER_COLUMNS} FROM vouchers WHERE id IN ({{}})")
}

fn balance_sql() -> String {
    format!("SELECT {BALANCE_COLUMNS} FROM balances WHERE structure_id IN ({{}})")
}

fn open_bucket_sql() -> String {
    format!(
        "SELECT {BUCKET_COLUMNS} FROM quota_buckets WHERE lapsed_at IS NULL AND structure_id IN ({{}})"
    )
}

fn bucket_sql() -> String {
    format!("SELECT {BUCKET_COLUMNS} FROM quota_buckets WHERE id IN ({{}})")
}

fn structure_sql() -> String {
    format!("SELECT {STRUCTURE_COLUMNS} FROM structures WHERE id IN ({{}})")
}

fn product_sql() -> String {
    format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id IN ({{}})")
}

fn token_sql() -> String {
    format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id IN ({{}})")
}

fn grant_sql() -> String {
    format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id IN ({{}})")
}
