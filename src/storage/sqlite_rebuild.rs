//! The one schema change SQLite cannot make in a migration: a new CHECK on
//! the vouchers table (`vouchers_id_format`, the PostgreSQL migration
//! 0005's), which ties each row id to its format, key id and serial.
//!
//! SQLite changes a CHECK only by rebuilding the table, and dropping the
//! old table needs foreign keys off, which SQLite allows only outside a
//! transaction — where sqlx never runs a migration. So this runs after the
//! migrations, on the single writer's connection: foreign keys off, then
//! one `BEGIN IMMEDIATE` transaction that looks at the table's definition
//! and, if the CHECK is not there yet, rebuilds the table with every row
//! and id kept (SQLite's documented twelve steps). A crash leaves the old
//! table or the new one, never half; the next start looks again.

use sqlx::{Executor, Row};

use super::{Result, StorageError};

/// Present in the vouchers table's definition once it has been rebuilt.
const MARK: &str = "vouchers_id_format";

const REBUILD: &str = "
CREATE TABLE vouchers_new (
    -- A code's id is key_id * 2^35 + serial; a PIN's is 2^40 +
    -- key_id * 2^30 + serial. The CHECK ties the id to the format, key id
    -- and serial, so the primary key is also \"one serial per key\" in
    -- each format.
    id               INTEGER PRIMARY KEY,
    key_id           INTEGER NOT NULL,
    serial           INTEGER NOT NULL,
    structure_id     INTEGER NOT NULL REFERENCES structures (id),
    product_id       TEXT NOT NULL REFERENCES products (id),
    resource         TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    state            TEXT NOT NULL CHECK (state IN ('issued', 'reserved', 'redeemed', 'voided', 'expired')),
    reference        TEXT CHECK (reference IS NULL OR length(reference) <= 64),
    issued_at        INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    state_changed_at INTEGER NOT NULL,
    attestation      TEXT NOT NULL,
    issue_entry_id   INTEGER NOT NULL REFERENCES ledger (id),
    bucket_id        INTEGER REFERENCES quota_buckets (id),
    format           TEXT NOT NULL DEFAULT 'code' CHECK (format IN ('code', 'pin')),
    CONSTRAINT vouchers_id_format CHECK (
        (format = 'code' AND key_id BETWEEN 0 AND 31 AND serial BETWEEN 0 AND 34359738367
            AND id = key_id * 34359738368 + serial)
        OR (format = 'pin' AND key_id BETWEEN 0 AND 9 AND serial BETWEEN 0 AND 999999999
            AND id = 1099511627776 + key_id * 1073741824 + serial)
    ),
    CHECK (expires_at > issued_at)
);
INSERT INTO vouchers_new (id, key_id, serial, structure_id, product_id, resource, amount, state,
    reference, issued_at, expires_at, state_changed_at, attestation, issue_entry_id, bucket_id, format)
SELECT id, key_id, serial, structure_id, product_id, resource, amount, state,
    reference, issued_at, expires_at, state_changed_at, attestation, issue_entry_id, bucket_id, format
FROM vouchers;
DROP TABLE vouchers;
ALTER TABLE vouchers_new RENAME TO vouchers;
CREATE INDEX vouchers_by_structure ON vouchers (structure_id, issued_at DESC, id DESC);
CREATE INDEX vouchers_to_expire ON vouchers (expires_at) WHERE state = 'issued';
CREATE INDEX vouchers_by_lot ON vouchers (issue_entry_id);
";

/// Rebuilds the vouchers table if it lacks the id CHECK; answers whether
/// it did. `pool` is the SQLite writer's (one connection).
pub(super) async fn apply(pool: &sqlx::AnyPool) -> Result<bool> {
    let mut conn = pool.acquire().await?;
    if has_mark(&mut conn).await? {
        return Ok(false);
    }
    conn.execute("PRAGMA foreign_keys = OFF").await?;
    let outcome = rebuild(&mut conn).await;
    if outcome.is_err() {
        let _ = conn.execute("ROLLBACK").await;
    }
    // Never hand back a connection that might still have foreign keys
    // off: on any failure it is closed instead.
    match conn.execute("PRAGMA foreign_keys = ON").await {
        Ok(_) if outcome.is_ok() => {}
        _ => {
            let _ = conn.detach();
        }
    }
    outcome
}

async fn has_mark(conn: &mut sqlx::AnyConnection) -> Result<bool> {
    let row =
        sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'vouchers'")
            .fetch_one(&mut *conn)
            .await?;
    Ok(row.try_get::<String, _>("sql")?.contains(MARK))
}

async fn rebuild(conn: &mut sqlx::AnyConnection) -> Result<bool> {
    conn.execute("BEGIN IMMEDIATE").await?;
    // Another process may have rebuilt it while this one waited.
    if has_mark(conn).await? {
        conn.execute("COMMIT").await?;
        return Ok(false);
    }
    conn.execute(REBUILD).await?;
    let dangling = sqlx::query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check")
        .fetch_one(&mut *conn)
        .await?
        .try_get::<i64, _>("n")?;
    if dangling != 0 {
        return Err(StorageError::Corrupt(format!(
            "{dangling} dangling references after rebuilding vouchers"
        )));
    }
    conn.execute("COMMIT").await?;
    tracing::info!("vouchers table rebuilt with the id check of numeric PINs");
    Ok(true)
}
