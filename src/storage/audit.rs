//! What the audit reads and writes: a consistent snapshot of the audited
//! tables, pages of the event log, checkpoints, and integrity alarms.

use std::collections::BTreeSet;

use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

use super::audit_rows::{
    BALANCE_COLUMNS, BUCKET_COLUMNS, EVENT_COLUMNS, GRANT_COLUMNS, LEDGER_COLUMNS,
    OPERATOR_COLUMNS, PRODUCT_COLUMNS, REDEMPTION_COLUMNS, STRUCTURE_COLUMNS, TOKEN_COLUMNS,
    VOUCHER_COLUMNS, balance, bucket, checkpoint_from_row, event_from_row, grant, ledger, operator,
    product, redemption, structure, token, voucher,
};
use super::{Backend, Result, StorageError, Store, events};
use crate::audit::reconcile;
use crate::audit::snapshot::{CheckpointRow, EventRow, Snapshot};
use crate::domain::minting::voucher_from_row_id;
use crate::domain::redemption::RedemptionState;

/// A stored redemption state as statements name it.
fn public_state(stored: &str) -> Result<String> {
    RedemptionState::parse(stored)
        .map(|s| s.public_name().to_owned())
        .ok_or_else(|| StorageError::Corrupt(format!("redemption state {stored}")))
}

/// An integrity alarm: a breach the periodic check found.
#[derive(Clone, Debug)]
pub struct Alarm {
    pub id: i64,
    pub raised_at: i64,
    /// The findings, as a JSON array.
    pub findings: String,
}

async fn all<T>(
    tx: &mut Transaction<'static, Any>,
    sql: &str,
    map: fn(&AnyRow) -> Result<T>,
) -> Result<Vec<T>> {
    let rows = sqlx::query(sql).fetch_all(&mut **tx).await?;
    rows.iter().map(map).collect()
}

impl Store {
    /// Every audited row, read in one snapshot: the events and the tables
    /// they explain agree at one instant even while writers go on.
    pub async fn audit_snapshot(&self) -> Result<Snapshot> {
        let mut tx = self.audit.begin().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *tx)
                .await?;
        }
        let t = &mut tx;
        let snapshot = Snapshot {
            events: all(
                t,
                &format!("SELECT {EVENT_COLUMNS} FROM events ORDER BY id"),
                event_from_row,
            )
            .await?,
            checkpoints: all(
                t,
                "SELECT seq, hash, at, key_id, signature FROM checkpoints ORDER BY seq",
                checkpoint_from_row,
            )
            .await?,
            vouchers: all(
                t,
                &format!("SELECT {VOUCHER_COLUMNS} FROM vouchers ORDER BY id"),
                voucher,
            )
            .await?,
            balances: all(
                t,
                &format!(
                    "SELECT {BALANCE_COLUMNS} FROM balances ORDER BY structure_id, operator_id, resource"
                ),
                balance,
            )
            .await?,
            ledger: all(
                t,
                &format!("SELECT {LEDGER_COLUMNS} FROM ledger ORDER BY id"),
                ledger,
            )
            .await?,
            buckets: all(
                t,
                &format!("SELECT {BUCKET_COLUMNS} FROM quota_buckets ORDER BY id"),
                bucket,
            )
            .await?,
            redemptions: all(
                t,
                &format!("SELECT {REDEMPTION_COLUMNS} FROM redemptions ORDER BY id"),
                redemption,
            )
            .await?,
            structures: all(
                t,
                &format!("SELECT {STRUCTURE_COLUMNS} FROM structures ORDER BY id"),
                structure,
            )
            .await?,
            operators: all(
                t,
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY id"),
                operator,
            )
            .await?,
            products: all(
                t,
                &format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id"),
                product,
            )
            .await?,
            tokens: all(
                t,
                &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
                token,
            )
            .await?,
            grants: all(
                t,
                &format!("SELECT {GRANT_COLUMNS} FROM grants ORDER BY id"),
                grant,
            )
            .await?,
            keys: Vec::new(),
        };
        tx.rollback().await?;
        Ok(snapshot)
    }

    /// Sealed events after `after`, in chain order, each with the display
    /// name of the person who acted, when a person did.
    pub async fn events_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(EventRow, Option<String>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {}, a.display_name FROM events e \
             LEFT JOIN accounts a ON e.actor = 'account:' || a.id \
             WHERE e.seq > $1 ORDER BY e.seq LIMIT $2",
            prefixed_event_columns()
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        named_events(&rows)
    }

    /// The latest sealed events, before seq `before` when given, newest
    /// first, each with the name of the person who acted, if one did.
    pub async fn latest_events(
        &self,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(EventRow, Option<String>)>> {
        let rows = sqlx::query(&format!(
            "SELECT {}, a.display_name FROM events e \
             LEFT JOIN accounts a ON e.actor = 'account:' || a.id \
             WHERE e.seq IS NOT NULL AND e.seq < $1 ORDER BY e.seq DESC LIMIT $2",
            prefixed_event_columns()
        ))
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        named_events(&rows)
    }

    /// Sealed events before `to` (Unix seconds), in chain order.
    pub async fn events_before(&self, to: i64) -> Result<Vec<EventRow>> {
        let rows = sqlx::query(&format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE seq IS NOT NULL AND at < $1 ORDER BY seq"
        ))
        .bind(to)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(event_from_row).collect()
    }

    /// Checkpoints after `after`, oldest first.
    pub async fn checkpoints_after(&self, after: i64, limit: i64) -> Result<Vec<CheckpointRow>> {
        let rows = sqlx::query(
            "SELECT seq, hash, at, key_id, signature FROM checkpoints WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(checkpoint_from_row).collect()
    }

    /// The chain's head (seq 0 before the first event) and the seq of the
    /// last checkpoint (0 if none).
    pub async fn chain_status(&self) -> Result<(i64, String, i64)> {
        let row = sqlx::query(
            "SELECT seq, hash, (SELECT CAST(COALESCE(MAX(seq), 0) AS BIGINT) FROM checkpoints) AS checkpointed \
             FROM chain_head WHERE id = 1",
        )
        .fetch_one(&self.read)
        .await?;
        Ok((
            row.try_get("seq")?,
            row.try_get("hash")?,
            row.try_get("checkpointed")?,
        ))
    }

    /// Stores a checkpoint; another server may have signed the same head.
    pub async fn add_checkpoint(&self, c: &CheckpointRow) -> Result<()> {
        let tx = {
            let mut tx = self.begin_write().await?;
            sqlx::query(
                "INSERT INTO checkpoints (seq, hash, at, key_id, signature) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (seq) DO NOTHING",
            )
            .bind(c.seq)
            .bind(c.hash.clone())
            .bind(c.at)
            .bind(c.key_id)
            .bind(c.signature.clone())
            .execute(&mut *tx)
            .await?;
            tx
        };
        events::commit(tx).await
    }

    /// Confirmed or reversed redemptions redeemed in `[from, to)`, by one
    /// operator or all, as a statement would list them.
    pub async fn statement_lines(
        &self,
        from: i64,
        to: i64,
        operator_id: Option<i64>,
    ) -> Result<Vec<reconcile::Line>> {
        let rows = sqlx::query(
            "SELECT r.id, r.state, r.voucher_id, v.product_id, v.amount FROM redemptions r \
             JOIN vouchers v ON v.id = r.voucher_id WHERE r.redeemed_at >= $1 AND r.redeemed_at < $2 \
             AND ($3 IS NULL OR r.operator_id = $3) ORDER BY r.id",
        )
        .bind(from)
        .bind(to)
        .bind(operator_id)
        .fetch_all(&self.audit)
        .await?;
        rows.iter()
            .map(|r| {
                let voucher_id: i64 = r.try_get("voucher_id")?;
                let serial = voucher_from_row_id(voucher_id)
                    .ok_or_else(|| StorageError::Corrupt(format!("voucher id {voucher_id}")))?;
                Ok(reconcile::Line {
                    redemption_id: r.try_get("id")?,
                    serial: serial.to_string(),
                    product: r.try_get("product_id")?,
                    amount: r.try_get("amount")?,
                    state: public_state(&r.try_get::<String, _>("state")?)?,
                })
            })
            .collect()
    }

    /// Records a breach; answers the alarm's id.
    pub async fn raise_alarm(&self, findings: &str, now: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO integrity_alarms (raised_at, findings) VALUES ($1, $2) RETURNING id",
        )
        .bind(now)
        .bind(findings.to_owned())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        events::append(
            &mut tx,
            now,
            &[events::EventInput {
                kind: "integrity_alarm",
                actor: "system".into(),
                structure_id: None,
                voucher_id: None,
                data: serde_json::json!({ "alarm_id": id }),
            }],
        );
        events::commit(tx).await?;
        Ok(id)
    }

    /// The oldest alarm no admin has acknowledged.
    pub async fn open_alarm(&self) -> Result<Option<Alarm>> {
        let row = sqlx::query(
            "SELECT id, raised_at, findings FROM integrity_alarms WHERE acknowledged_at IS NULL ORDER BY id LIMIT 1",
        )
        .fetch_optional(&self.read)
        .await?;
        row.map(|r| {
            Ok(Alarm {
                id: r.try_get("id")?,
                raised_at: r.try_get("raised_at")?,
                findings: r.try_get("findings")?,
            })
        })
        .transpose()
    }

    /// Acknowledges every open alarm; answers how many.
    pub async fn acknowledge_alarms(&self, actor: &str, now: i64) -> Result<u64> {
        let mut tx = self.begin_write().await?;
        let ids: Vec<i64> =
            sqlx::query("SELECT id FROM integrity_alarms WHERE acknowledged_at IS NULL")
                .fetch_all(&mut *tx)
                .await?
                .iter()
                .map(|r| r.try_get("id"))
                .collect::<std::result::Result<_, _>>()?;
        sqlx::query(
            "UPDATE integrity_alarms SET acknowledged_at = $1, acknowledged_by = $2 WHERE acknowledged_at IS NULL",
        )
        .bind(now)
        .bind(actor.to_owned())
        .execute(&mut *tx)
        .await?;
        if !ids.is_empty() {
            events::append(
                &mut tx,
                now,
                &[events::EventInput {
                    kind: "integrity_acknowledged",
                    actor: actor.to_owned(),
                    structure_id: None,
                    voucher_id: None,
                    data: serde_json::json!({ "alarm_ids": ids }),
                }],
            );
        }
        events::commit(tx).await?;
        Ok(ids.len() as u64)
    }

    /// The findings admins have acknowledged, by [`crate::audit::Finding::key`].
    pub async fn acknowledged_findings(&self) -> Result<BTreeSet<String>> {
        let rows =
            sqlx::query("SELECT findings FROM integrity_alarms WHERE acknowledged_at IS NOT NULL")
                .fetch_all(&self.read)
                .await?;
        let mut keys = BTreeSet::new();
        for r in &rows {
            let text: String = r.try_get("findings")?;
            let list: Vec<serde_json::Value> = serde_json::from_str(&text)
                .map_err(|e| StorageError::Corrupt(format!("alarm findings: {e}")))?;
            keys.extend(
                list.iter()
                    .filter_map(|f| f.get("key").and_then(|k| k.as_str()).map(str::to_owned)),
            );
        }
        Ok(keys)
    }
}

/// The event columns as `e.id, e.seq, …`, for reads joined with accounts.
pub(super) fn prefixed_event_columns() -> String {
    EVENT_COLUMNS
        .split(", ")
        .map(|c| format!("e.{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Events read with the acting person's `display_name` beside them.
pub(super) fn named_events(rows: &[AnyRow]) -> Result<Vec<(EventRow, Option<String>)>> {
    rows.iter()
        .map(|r| Ok((event_from_row(r)?, r.try_get("display_name")?)))
        .collect()
}
