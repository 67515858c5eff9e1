//! A structure's lots at a glance, newest first: when each was issued, of
//! what, and how many of its codes are still to be used.

use std::collections::{BTreeMap, BTreeSet};

use sqlx::Row;

use super::{Result, Store};

/// One lot, summed up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LotSummary {
    pub lot: i64,
    pub issued_at: i64,
    pub product_id: String,
    pub resource: String,
    pub amount: i64,
    pub codes: i64,
    /// Issued, not yet expired: still to be handed out or used.
    pub open: i64,
    pub redeemed: i64,
}

impl Store {
    /// The structure's lots before lot `before` (all when `None`), newest
    /// first, at most `limit`.
    pub async fn structure_lots(
        &self,
        structure_id: i64,
        before: Option<i64>,
        limit: i64,
        now: i64,
    ) -> Result<Vec<LotSummary>> {
        let rows = sqlx::query(
            "SELECT issue_entry_id AS lot, MIN(issued_at) AS issued_at, MIN(product_id) AS product_id, \
             MIN(resource) AS resource, MIN(amount) AS amount, COUNT(*) AS codes, \
             CAST(SUM(CASE WHEN state IN ('issued', 'reserved') AND expires_at > $3 THEN 1 ELSE 0 END) AS BIGINT) AS open, \
             CAST(SUM(CASE WHEN state = 'redeemed' THEN 1 ELSE 0 END) AS BIGINT) AS redeemed \
             FROM vouchers WHERE structure_id = $1 AND issue_entry_id < $2 \
             GROUP BY issue_entry_id ORDER BY issue_entry_id DESC LIMIT $4",
        )
        .bind(structure_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(now)
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LotSummary {
                    lot: r.try_get("lot")?,
                    issued_at: r.try_get("issued_at")?,
                    product_id: r.try_get("product_id")?,
                    resource: r.try_get("resource")?,
                    amount: r.try_get("amount")?,
                    codes: r.try_get("codes")?,
                    open: r.try_get("open")?,
                    redeemed: r.try_get("redeemed")?,
                })
            })
            .collect()
    }
}

/// The most lots numbered in one read (a journal page names at most a
/// few hundred).
pub const MAX_LOTS_NUMBERED: usize = 500;

impl Store {
    /// Each lot's number within its structure (1 for its first issue):
    /// how many issue entries the structure has up to the lot. Lots that
    /// are not issue entries are left out; past [`MAX_LOTS_NUMBERED`],
    /// the rest too.
    pub async fn lot_numbers(&self, lots: &[i64]) -> Result<BTreeMap<i64, i64>> {
        let lots: BTreeSet<i64> = lots.iter().copied().take(MAX_LOTS_NUMBERED).collect();
        if lots.is_empty() {
            return Ok(BTreeMap::new());
        }
        let placeholders: Vec<String> = (1..=lots.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT l.id AS lot, (SELECT COUNT(*) FROM ledger o WHERE o.structure_id = l.structure_id \
             AND o.kind = 'issue' AND o.id <= l.id) AS number \
             FROM ledger l WHERE l.kind = 'issue' AND l.id IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for lot in &lots {
            query = query.bind(*lot);
        }
        let rows = query.fetch_all(self.reader()).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("lot")?, r.try_get("number")?)))
            .collect()
    }
}
