//! The coordinator's dashboard figures, counted by the database over
//! periods the caller cuts (months of a year): codes issued, and codes that
//! reached redeemed, voided or expired, per network; quota granted; the
//! structures that issued most and those that have stopped issuing.
//!
//! A code counts in the period its current state was reached (a redeemed
//! code, in the month of its redemption). The audited figures are the
//! reports' (`audit report`, the donor report), replayed from the events.

use std::collections::BTreeMap;

use sqlx::Row;

use super::{Result, Store};
use crate::domain::Balance;

/// Counts for one network in one period.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeriodCounts {
    pub issued: i64,
    pub redeemed: i64,
    pub voided: i64,
    pub expired: i64,
    /// Quota granted in the period, per resource.
    pub granted: BTreeMap<String, i64>,
}

/// A structure and how many codes it issued in a period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StructureActivity {
    pub structure_id: i64,
    pub name: String,
    pub issued: i64,
    /// Its last issue, if any (Unix seconds).
    pub last_issued_at: Option<i64>,
    pub created_at: i64,
}

/// `CASE` sorting `column` into the periods cut at `bounds` (ascending,
/// `bounds.len() - 1` periods); rows outside are `-1`.
fn bucket(column: &str, bounds: &[i64]) -> String {
    let mut sql = format!(
        "CAST(CASE WHEN {column} < {} THEN -1",
        bounds.first().copied().unwrap_or(0)
    );
    for (i, b) in bounds.iter().enumerate().skip(1) {
        sql.push_str(&format!(" WHEN {column} < {b} THEN {}", i - 1));
    }
    sql.push_str(" ELSE -1 END AS BIGINT)");
    sql
}

impl Store {
    /// Counts per period (index into `bounds` windows) and network.
    pub async fn period_counts(
        &self,
        bounds: &[i64],
    ) -> Result<BTreeMap<(usize, i64), PeriodCounts>> {
        let mut out: BTreeMap<(usize, i64), PeriodCounts> = BTreeMap::new();
        let (Some(&from), Some(&to)) = (bounds.first(), bounds.last()) else {
            return Ok(out);
        };
        let issued = format!(
            "SELECT {} AS period, p.operator_id, COUNT(*) AS n FROM vouchers v \
             JOIN products p ON p.id = v.product_id WHERE v.issued_at >= $1 AND v.issued_at < $2 \
             GROUP BY 1, 2",
            bucket("v.issued_at", bounds)
        );
        let reached = format!(
            "SELECT {} AS period, p.operator_id, v.state, COUNT(*) AS n FROM vouchers v \
             JOIN products p ON p.id = v.product_id WHERE v.state IN ('redeemed', 'voided', 'expired') \
             AND v.state_changed_at >= $1 AND v.state_changed_at < $2 GROUP BY 1, 2, 3",
            bucket("v.state_changed_at", bounds)
        );
        let granted = format!(
            "SELECT {} AS period, operator_id, resource, CAST(SUM(amount) AS BIGINT) AS n FROM ledger \
             WHERE kind = 'grant' AND at >= $1 AND at < $2 GROUP BY 1, 2, 3",
            bucket("at", bounds)
        );
        for row in sqlx::query(&issued)
            .bind(from)
            .bind(to)
            .fetch_all(self.reader())
            .await?
        {
            let key = key(&row)?;
            out.entry(key).or_default().issued = row.try_get("n")?;
        }
        for row in sqlx::query(&reached)
            .bind(from)
            .bind(to)
            .fetch_all(self.reader())
            .await?
        {
            let key = key(&row)?;
            let n: i64 = row.try_get("n")?;
            let counts = out.entry(key).or_default();
            match row.try_get::<String, _>("state")?.as_str() {
                "redeemed" => counts.redeemed = n,
                "voided" => counts.voided = n,
                _ => counts.expired = n,
            }
        }
        for row in sqlx::query(&granted)
            .bind(from)
            .bind(to)
            .fetch_all(self.reader())
            .await?
        {
            let key = key(&row)?;
            let n: i64 = row.try_get("n")?;
            let resource: String = row.try_get("resource")?;
            out.entry(key).or_default().granted.insert(resource, n);
        }
        Ok(out)
    }

    /// Every structure's quota added up, per network and resource.
    pub async fn total_balances(&self) -> Result<Vec<Balance>> {
        let rows = sqlx::query(
            "SELECT operator_id, resource, CAST(SUM(granted) AS BIGINT) AS granted, \
             CAST(SUM(issued) AS BIGINT) AS issued, CAST(SUM(returned) AS BIGINT) AS returned, \
             CAST(SUM(lapsed) AS BIGINT) AS lapsed, CAST(SUM(received) AS BIGINT) AS received, \
             CAST(SUM(sent) AS BIGINT) AS sent FROM balances \
             GROUP BY operator_id, resource ORDER BY operator_id, resource",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| super::quota::balance_from_row(r, 0))
            .collect()
    }

    /// Each structure's balances, per network and resource, by structure.
    pub async fn balances_by_structure(&self) -> Result<Vec<(i64, Balance)>> {
        let rows = sqlx::query(
            "SELECT structure_id, operator_id, resource, granted, issued, returned, lapsed, received, sent \
             FROM balances ORDER BY structure_id, operator_id, resource",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("structure_id")?,
                    super::quota::balance_from_row(r, 0)?,
                ))
            })
            .collect()
    }

    /// Every active structure with the codes it issued since `since` and
    /// its last issue ever, most codes first.
    pub async fn structure_activity(&self, since: i64) -> Result<Vec<StructureActivity>> {
        let rows = sqlx::query(
            "SELECT s.id, s.name, \
             (SELECT COUNT(*) FROM vouchers v WHERE v.structure_id = s.id AND v.issued_at >= $1) AS issued, \
             (SELECT MAX(v.issued_at) FROM vouchers v WHERE v.structure_id = s.id) AS last_issued_at, \
             s.created_at FROM structures s WHERE s.deactivated_at IS NULL ORDER BY issued DESC, s.id",
        )
        .bind(since)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StructureActivity {
                    structure_id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    issued: r.try_get("issued")?,
                    last_issued_at: r.try_get("last_issued_at")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}

fn key(row: &sqlx::any::AnyRow) -> Result<(usize, i64)> {
    let period: i64 = row.try_get("period")?;
    let operator: i64 = row.try_get("operator_id")?;
    Ok((usize::try_from(period).unwrap_or(usize::MAX), operator))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_cut_by_a_case() {
        assert_eq!(
            bucket("at", &[10, 20, 30]),
            "CAST(CASE WHEN at < 10 THEN -1 WHEN at < 20 THEN 0 WHEN at < 30 THEN 1 ELSE -1 END AS BIGINT)"
        );
    }
}
