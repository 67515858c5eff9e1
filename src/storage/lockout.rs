//! Failed-attempt counters in the database, so that lock-outs, line bars
//! and the deployment-wide failure budget hold across every server process.

use std::collections::HashMap;

use sqlx::Row;

use super::WriteTx;
use super::{Result, Store, padded_ids, placeholder_list};
use crate::domain::lockout::{Counter, LockoutPolicy, on_failure, on_line_failure};

/// The counter every failure also counts against.
pub const GLOBAL_SOURCE: &str = "global";

/// What the failure counters of operator tokens are called, before the id.
const OPERATOR_SOURCE_PREFIX: &str = "operator:";

/// The failure-counter source of an operator token.
pub fn operator_source(token_id: i64) -> String {
    format!("{OPERATOR_SOURCE_PREFIX}{token_id}")
}

/// The failure-counter source of a subscriber line, named by the keyed
/// hash of its number (never the number).
pub fn line_source(msisdn_hash: &[u8; 32]) -> String {
    format!("line:{}", hex::encode(msisdn_hash))
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

/// The lines of `lines` that are barred at `now`, with the seconds left,
/// in one statement inside the writer's transaction.
pub(crate) async fn barred_lines(
    tx: &mut WriteTx,
    lines: &[&str],
    now: i64,
) -> Result<HashMap<String, i64>> {
    let mut bars = HashMap::new();
    if lines.is_empty() {
        return Ok(bars);
    }
    let sql = format!(
        "SELECT source, window_start, failures, lockouts, locked_until FROM failure_counters \
         WHERE source IN ({}) AND locked_until > $1",
        placeholder_list(2, lines.len())
    );
    let mut query = sqlx::query(&sql).bind(now);
    for line in lines {
        query = query.bind((*line).to_owned());
    }
    for row in &query.fetch_all(&mut **tx).await? {
        if let Some(secs) = counter_from_row(row)?.locked_for(now) {
            bars.insert(row.try_get::<String, _>("source")?, secs);
        }
    }
    Ok(bars)
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
    /// Seconds the longest lock-out of `sources` lasts, if any is locked
    /// out: one read, by key.
    pub async fn locked_for(&self, sources: &[&str], now: i64) -> Result<Option<i64>> {
        if sources.is_empty() {
            return Ok(None);
        }
        let sql = format!(
            "SELECT window_start, failures, lockouts, locked_until FROM failure_counters \
             WHERE source IN ({})",
            placeholder_list(1, sources.len())
        );
        let mut query = sqlx::query(&sql);
        for source in sources {
            query = query.bind((*source).to_owned());
        }
        let mut longest = None;
        for row in &query.fetch_all(self.reader()).await? {
            longest = longest.max(counter_from_row(row)?.locked_for(now));
        }
        Ok(longest)
    }
}

/// What recording a failed attempt found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureRecorded {
    /// Counted. The operator is now locked out for `operator_secs`, the
    /// line barred for `line_secs`, if they are.
    Counted {
        operator_secs: Option<i64>,
        line_secs: Option<i64>,
    },
    /// The line was barred already, for this long: an attempt made while
    /// barred is refused, not counted.
    LineBarred(i64),
    /// The operator was locked out already, for this long: likewise.
    AlreadyLocked(i64),
}

/// Where a failed attempt came from: an operator token and, when the
/// operator named the subscriber's number, the line.
#[derive(Clone, Debug)]
pub struct FailureSources<'a> {
    pub operator: &'a str,
    pub policy: &'a LockoutPolicy,
    pub line: Option<(&'a str, &'a LockoutPolicy)>,
}

/// Counts a failure for the operator, its line if named, and the
/// deployment, unless the line is barred or the operator locked out
/// already.
pub(crate) async fn record_failure(
    store: &Store,
    tx: &mut WriteTx,
    from: &FailureSources<'_>,
    now: i64,
) -> Result<FailureRecorded> {
    let line = from.line.map(|(name, _)| name);
    let names: Vec<&str> = [Some(GLOBAL_SOURCE), Some(from.operator), line]
        .into_iter()
        .flatten()
        .collect();
    let counters = lock_counters(store, tx, &names, now).await?;
    let get = |name: &str| counters.get(name).copied().unwrap_or_default();
    if let Some((name, _)) = from.line
        && let Some(secs) = get(name).locked_for(now)
    {
        return Ok(FailureRecorded::LineBarred(secs));
    }
    if let Some(secs) = get(from.operator).locked_for(now) {
        return Ok(FailureRecorded::AlreadyLocked(secs));
    }
    let (mine, global) = on_failure(get(from.operator), get(GLOBAL_SOURCE), now, from.policy);
    let mut updates = vec![(GLOBAL_SOURCE, global), (from.operator, mine)];
    let mut line_secs = None;
    if let Some((name, policy)) = from.line {
        let barred = on_line_failure(get(name), now, policy);
        line_secs = barred.locked_for(now);
        updates.push((name, barred));
    }
    for (name, c) in updates {
        save_counter(tx, name, c).await?;
    }
    Ok(FailureRecorded::Counted {
        operator_secs: mine.locked_for(now),
        line_secs,
    })
}

/// The counters of `names`, created if new, locked in one statement in a
/// fixed order (by name), so that two recordings never deadlock.
async fn lock_counters(
    store: &Store,
    tx: &mut WriteTx,
    names: &[&str],
    now: i64,
) -> Result<HashMap<String, Counter>> {
    for name in names {
        sqlx::query(
            "INSERT INTO failure_counters (source, window_start, failures) VALUES ($1, $2, 0) \
             ON CONFLICT (source) DO NOTHING",
        )
        .bind((*name).to_owned())
        .bind(now)
        .execute(&mut **tx)
        .await?;
    }
    let sql = format!(
        "SELECT source, window_start, failures, lockouts, locked_until FROM failure_counters \
         WHERE source IN ({}) ORDER BY source{}",
        placeholder_list(1, names.len()),
        store.for_update()
    );
    let mut query = sqlx::query(&sql);
    for name in names {
        query = query.bind((*name).to_owned());
    }
    let mut counters = HashMap::with_capacity(names.len());
    for row in &query.fetch_all(&mut **tx).await? {
        counters.insert(row.try_get::<String, _>("source")?, counter_from_row(row)?);
    }
    Ok(counters)
}

/// Writes a counter, creating its row again if the sweeper forgot it in
/// the meantime (a forgotten row and a fresh counter are the same thing).
async fn save_counter(tx: &mut WriteTx, name: &str, c: Counter) -> Result<()> {
    sqlx::query(
        "INSERT INTO failure_counters (source, window_start, failures, lockouts, locked_until) \
         VALUES ($5, $1, $2, $3, $4) ON CONFLICT (source) DO UPDATE SET window_start = $1, \
         failures = $2, lockouts = $3, locked_until = $4",
    )
    .bind(c.window_start)
    .bind(c.failures)
    .bind(c.lockouts)
    .bind(c.locked_until)
    .bind(name.to_owned())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Deletes the counters of lines that have nothing left to remember:
    /// their window is over and their last bar forgiven, so a new failure
    /// would start from a fresh counter anyway. Without this, every line
    /// that ever sent a wrong code would keep a row for ever.
    pub async fn forget_quiet_lines(&self, now: i64, policy: &LockoutPolicy) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let forgotten = sqlx::query(
            "DELETE FROM failure_counters WHERE source LIKE 'line:%' \
             AND window_start <= $1 AND locked_until <= $2",
        )
        .bind(now.saturating_sub(policy.window_secs))
        .bind(now.saturating_sub(policy.forgive_after_secs))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        super::events::commit(tx).await?;
        Ok(forgotten)
    }
}

impl Store {
    /// Lifts a subscriber line's bar and forgets its failures, with its
    /// event (`line_unbarred`, naming the line by its hash only). Answers
    /// whether the line had anything to forget; a line never barred and
    /// with no failure changes nothing and writes no event.
    pub async fn unbar_line(
        &self,
        actor: &str,
        msisdn_hash: &[u8; 32],
        reason: &str,
        now: i64,
    ) -> Result<Option<LineUnbarred>> {
        let source = line_source(msisdn_hash);
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "DELETE FROM failure_counters WHERE source = $1 \
             RETURNING window_start, failures, lockouts, locked_until",
        )
        .bind(source)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let counter = counter_from_row(&row)?;
        let unbarred = LineUnbarred {
            was_barred_for_secs: counter.locked_for(now),
            failures: counter.failures,
        };
        super::events::append(
            &mut tx,
            now,
            &[super::events::EventInput {
                kind: "line_unbarred",
                actor: actor.to_owned(),
                structure_id: None,
                voucher_id: None,
                data: serde_json::json!({
                    "line": hex::encode(msisdn_hash),
                    "reason": reason,
                    "was_barred_for_secs": unbarred.was_barred_for_secs,
                    "failures": unbarred.failures,
                }),
            }],
        );
        super::events::commit(tx).await?;
        Ok(Some(unbarred))
    }
}

/// What lifting a line's bar forgot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineUnbarred {
    /// Seconds the bar still had to run, if the line was barred.
    pub was_barred_for_secs: Option<i64>,
    /// Failures counted in its window.
    pub failures: i64,
}
