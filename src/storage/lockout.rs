//! Failed-attempt counters in the database, so that lock-outs and the
//! deployment-wide failure budget hold across every server process.

use std::collections::HashMap;

use sqlx::Row;

use super::WriteTx;
use super::{Result, Store, padded_ids, placeholder_list};
use crate::domain::lockout::{Counter, LockoutPolicy, on_failure};

/// The counter every failure also counts against.
pub const GLOBAL_SOURCE: &str = "global";

/// What the failure counters of operator tokens are called, before the id.
const OPERATOR_SOURCE_PREFIX: &str = "operator:";

/// The failure-counter source of an operator token.
pub fn operator_source(token_id: i64) -> String {
    format!("{OPERATOR_SOURCE_PREFIX}{token_id}")
}

/// Whether an operator token may write now, as its transaction sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Standing {
    /// Not revoked.
    pub live: bool,
    /// Seconds it remains locked out, if it is.
    pub locked_for: Option<i64>,
}

/// The standing of each of `token_ids` (operator tokens), in one statement:
/// a redemption batch checks its operators inside its transaction, so a
/// lock-out or a revocation that committed before it is always honoured,
/// whichever server recorded it. Unknown ids are absent.
pub(crate) async fn operator_standing(
    tx: &mut WriteTx,
    token_ids: &[i64],
    now: i64,
) -> Result<HashMap<i64, Standing>> {
    if token_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let padded = padded_ids(token_ids);
    let sql = format!(
        "SELECT t.id, t.revoked_at, f.window_start, f.failures, f.lockouts, f.locked_until \
         FROM tokens t LEFT JOIN failure_counters f ON f.source = $1 || t.id WHERE t.id IN ({})",
        placeholder_list(2, padded.len())
    );
    let mut query = sqlx::query(&sql).bind(OPERATOR_SOURCE_PREFIX);
    for id in &padded {
        query = query.bind(*id);
    }
    let rows = query.fetch_all(&mut **tx).await?;
    let mut standing = HashMap::with_capacity(rows.len());
    for row in &rows {
        let counter = match row.try_get::<Option<i64>, _>("locked_until")? {
            Some(_) => counter_from_row(row)?,
            None => Counter::default(),
        };
        standing.insert(
            row.try_get::<i64, _>("id")?,
            Standing {
                live: row.try_get::<Option<i64>, _>("revoked_at")?.is_none(),
                locked_for: counter.locked_for(now),
            },
        );
    }
    Ok(standing)
}

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

/// What recording a failed attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureRecorded {
    /// Counted; the source is now locked out for this long, if it is.
    Counted(Option<i64>),
    /// The source was already locked out, for this long: an attempt made
    /// while locked out is refused, not counted.
    AlreadyLocked(i64),
}

/// Counts a failure for `source` and for the deployment, unless `source` is
/// locked out already.
pub(crate) async fn record_failure(
    store: &Store,
    tx: &mut WriteTx,
    source: &str,
    policy: &LockoutPolicy,
    now: i64,
) -> Result<FailureRecorded> {
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
    if let Some(secs) = mine.locked_for(now) {
        return Ok(FailureRecorded::AlreadyLocked(secs));
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
    Ok(FailureRecorded::Counted(mine.locked_for(now)))
}
