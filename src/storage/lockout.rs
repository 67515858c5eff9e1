//! Failed-attempt counters in the database, so that lock-outs and the
//! deployment-wide failure budget hold across every server process.

use sqlx::Row;

use super::WriteTx;
use super::{Result, Store};
use crate::domain::lockout::{Counter, LockoutPolicy, on_failure};

/// The counter every failure also counts against.
pub const GLOBAL_SOURCE: &str = "global";

fn counter_from_row(row: &sqlx::any::AnyRow) -> Result<Counter> {
    Ok(Counter {
        window_start: row.try_get("window_start")?,
        failures: row.try_get("failures")?,
        lockouts: row.try_get("lockouts")?,
        locked_until: row.try_get("locked_until")?,
    })
}

impl Store {
    /// Seconds `source` remains locked out, if it is.
    pub async fn locked_for(&self, source: &str, now: i64) -> Result<Option<i64>> {
        let row = sqlx::query("SELECT window_start, failures, lockouts, locked_until FROM failure_counters WHERE source = $1")
            .bind(source.to_owned())
            .fetch_optional(self.reader())
            .await?;
        Ok(match row {
            Some(r) => counter_from_row(&r)?.locked_for(now),
            None => None,
        })
    }
}

/// Counts a failure for `source` and for the deployment; returns how long
/// `source` is now locked out, if it is.
pub(crate) async fn record_failure(
    store: &Store,
    tx: &mut WriteTx,
    source: &str,
    policy: &LockoutPolicy,
    now: i64,
) -> Result<Option<i64>> {
    for s in [GLOBAL_SOURCE, source] {
        sqlx::query(
            "INSERT INTO failure_counters (source, window_start, failures) VALUES ($1, $2, 0) \
             ON CONFLICT (source) DO NOTHING",
        )
        .bind(s.to_owned())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    // Both rows, locked in one statement in a fixed order.
    let sql = format!(
        "SELECT source, window_start, failures, lockouts, locked_until FROM failure_counters \
         WHERE source IN ($1, $2) ORDER BY source{}",
        store.for_update()
    );
    let rows = sqlx::query(&sql)
        .bind(GLOBAL_SOURCE)
        .bind(source.to_owned())
        .fetch_all(&mut **tx)
        .await?;
    let mut global = Counter::default();
    let mut mine = Counter::default();
    for row in &rows {
        let name: String = row.try_get("source")?;
        if name == GLOBAL_SOURCE {
            global = counter_from_row(row)?;
        } else {
            mine = counter_from_row(row)?;
        }
    }
    let (mine, global) = on_failure(mine, global, now, policy);
    for (name, c) in [(GLOBAL_SOURCE, global), (source, mine)] {
        sqlx::query(
            "UPDATE failure_counters SET window_start = $1, failures = $2, lockouts = $3, locked_until = $4 \
             WHERE source = $5",
        )
        .bind(c.window_start)
        .bind(c.failures)
        .bind(c.lockouts)
        .bind(c.locked_until)
        .bind(name.to_owned())
        .execute(&mut **tx)
        .await?;
    }
    Ok(mine.locked_for(now))
}
