//! The schema changes SQLite cannot make in a migration: new CHECKs on
//! existing tables. The vouchers table's `vouchers_id_format` (the
//! PostgreSQL migration 0005's) ties each row id to its format, key id and
//! serial; the ledger's `ledger_transfer` and the quota buckets'
//! `quota_buckets_source` (the PostgreSQL migration 0008's) admit the
//! entries and buckets of transfers between an association and its members.
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

/// One table to rebuild: present in its definition once rebuilt, `mark`.
struct Rebuild {
    table: &'static str,
    mark: &'static str,
    sql: &'static str,
}

/// In order: each later table's foreign keys name the earlier ones by name
/// only, so the order matters for nothing but reading.
const REBUILDS: [Rebuild; 3] = [
    Rebuild {
        table: "vouchers",
        mark: "vouchers_id_format",
        sql: VOUCHERS,
    },
    Rebuild {
        table: "quota_buckets",
        mark: "quota_buckets_source",
        sql: QUOTA_BUCKETS,
    },
    Rebuild {
        table: "ledger",
        mark: "ledger_transfer",
        sql: LEDGER,
    },
];

const VOUCHERS: &str = "
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

const QUOTA_BUCKETS: &str = "
CREATE TABLE quota_buckets_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    -- A bucket is credited by a grant (one per period) or by a transfer
    -- from an association or a member (one per bucket it drew from).
    grant_id     INTEGER REFERENCES grants (id),
    period       INTEGER NOT NULL CHECK (period >= 0),
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    resource     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount > 0),
    remaining    INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    credited_at  INTEGER NOT NULL,
    expires_at   INTEGER,
    lapsed_at    INTEGER,
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    transfer_id  INTEGER REFERENCES transfers (id),
    UNIQUE (grant_id, period),
    CONSTRAINT quota_buckets_source CHECK ((grant_id IS NULL) != (transfer_id IS NULL))
);
INSERT INTO quota_buckets_new (id, grant_id, period, structure_id, resource, amount, remaining,
    credited_at, expires_at, lapsed_at, operator_id, transfer_id)
SELECT id, grant_id, period, structure_id, resource, amount, remaining,
    credited_at, expires_at, lapsed_at, operator_id, transfer_id
FROM quota_buckets;
DROP TABLE quota_buckets;
ALTER TABLE quota_buckets_new RENAME TO quota_buckets;
CREATE INDEX quota_buckets_open ON quota_buckets (structure_id, operator_id, resource) WHERE lapsed_at IS NULL;
CREATE INDEX quota_buckets_to_lapse ON quota_buckets (expires_at) WHERE lapsed_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX quota_buckets_by_transfer ON quota_buckets (transfer_id) WHERE transfer_id IS NOT NULL;
";

const LEDGER: &str = "
CREATE TABLE ledger_new (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    structure_id INTEGER NOT NULL REFERENCES structures (id),
    resource     TEXT NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('grant', 'issue', 'return', 'lapse', 'received', 'sent')),
    amount       INTEGER NOT NULL CHECK (amount > 0),
    -- Return entries name their voucher; an issue entry covers a whole
    -- request, and its vouchers name it (vouchers.issue_entry_id).
    voucher_id   INTEGER,
    bucket_id    INTEGER REFERENCES quota_buckets (id),
    at           INTEGER NOT NULL,
    operator_id  INTEGER NOT NULL REFERENCES operators (id),
    -- Transfer entries: `sent` leaves one side, `received` arrives at the
    -- other; both name the transfer.
    transfer_id  INTEGER REFERENCES transfers (id),
    CHECK ((kind = 'return') = (voucher_id IS NOT NULL)),
    CONSTRAINT ledger_transfer CHECK ((kind IN ('received', 'sent')) = (transfer_id IS NOT NULL))
);
INSERT INTO ledger_new (id, structure_id, resource, kind, amount, voucher_id, bucket_id, at, operator_id, transfer_id)
SELECT id, structure_id, resource, kind, amount, voucher_id, bucket_id, at, operator_id, transfer_id
FROM ledger;
DROP TABLE ledger;
ALTER TABLE ledger_new RENAME TO ledger;
CREATE UNIQUE INDEX ledger_one_return_per_voucher ON ledger (voucher_id) WHERE kind = 'return';
CREATE UNIQUE INDEX ledger_one_entry_per_side ON ledger (transfer_id, kind) WHERE transfer_id IS NOT NULL;
CREATE INDEX ledger_by_structure ON ledger (structure_id, resource, at);
CREATE INDEX ledger_issues_by_structure ON ledger (structure_id, id) WHERE kind = 'issue';
";

/// Rebuilds each table that lacks its CHECK; answers how many it rebuilt.
/// `pool` is the SQLite writer's (one connection).
pub(super) async fn apply(pool: &sqlx::AnyPool) -> Result<usize> {
    let mut rebuilt = 0;
    for rebuild in &REBUILDS {
        rebuilt += usize::from(apply_one(pool, rebuild).await?);
    }
    Ok(rebuilt)
}

async fn apply_one(pool: &sqlx::AnyPool, rebuild: &Rebuild) -> Result<bool> {
    let mut conn = pool.acquire().await?;
    if has_mark(&mut conn, rebuild).await? {
        return Ok(false);
    }
    conn.execute("PRAGMA foreign_keys = OFF").await?;
    let outcome = run(&mut conn, rebuild).await;
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

async fn has_mark(conn: &mut sqlx::AnyConnection, rebuild: &Rebuild) -> Result<bool> {
    let row = sqlx::query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = $1")
        .bind(rebuild.table)
        .fetch_one(&mut *conn)
        .await?;
    Ok(row.try_get::<String, _>("sql")?.contains(rebuild.mark))
}

async fn run(conn: &mut sqlx::AnyConnection, rebuild: &Rebuild) -> Result<bool> {
    conn.execute("BEGIN IMMEDIATE").await?;
    // Another process may have rebuilt it while this one waited.
    if has_mark(conn, rebuild).await? {
        conn.execute("COMMIT").await?;
        return Ok(false);
    }
    conn.execute(rebuild.sql).await?;
    let dangling = sqlx::query("SELECT COUNT(*) AS n FROM pragma_foreign_key_check")
        .fetch_one(&mut *conn)
        .await?
        .try_get::<i64, _>("n")?;
    if dangling != 0 {
        return Err(StorageError::Corrupt(format!(
            "{dangling} dangling references after rebuilding {}",
            rebuild.table
        )));
    }
    conn.execute("COMMIT").await?;
    tracing::info!(table = rebuild.table, "table rebuilt with its new checks");
    Ok(true)
}
