//! Storage: the only layer that writes SQL.
//!
//! One schema, two backends through sqlx's `Any` driver: SQLite (the
//! embedded default) and PostgreSQL (for several `serve` processes on one
//! database). Statements use `$n` placeholders, which both understand. Where
//! the backends differ, [`Backend`] says so in one place:
//!
//! - SQLite runs in WAL mode with `synchronous=FULL`; every write
//!   transaction starts with `BEGIN IMMEDIATE` on a single writer
//!   connection, so writers queue in the pool instead of spinning on
//!   `SQLITE_BUSY`, and a transaction never has to upgrade a read lock.
//! - PostgreSQL runs at READ COMMITTED; write transactions lock the rows they
//!   decide on (`FOR UPDATE`) and apply state changes as compare-and-set
//!   updates, so racing requests serialise on the rows they share.
//!
//! Every state change appends to `events` in the same transaction.

mod admin;
mod audit;
pub mod batch;
mod events;
mod fast_redeem;
mod idempotency;
mod lockout;
mod quota;
pub mod redemptions;
mod sessions;
mod vouchers;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::domain::DomainError;

pub use admin::{NewGrant, NewProduct, Structure, TokenRecord};
pub use audit::Alarm;
pub use batch::{WriteOp, WriteResult};
pub use events::EventInput;
pub(crate) use events::WriteTx;
pub use idempotency::{IdempotencyClaim, RequestFingerprint};
pub use lockout::{GLOBAL_SOURCE, operator_source};
pub use redemptions::{Followup, Outcome, RedeemInput, RedeemMode, RedemptionRecord, VoucherFacts};
pub use sessions::{NewWebSession, WebSession};
pub use vouchers::{IssueJob, IssueOutcome, IssueRequest, VoucherFilter, VoucherPage, VoucherRow};

/// Which database a [`Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Why storage failed. Domain refusals pass through unchanged; everything
/// else is internal and must never reach a client in detail.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("minting failed: {0}")]
    Mint(#[from] crate::domain::minting::MintError),
    /// A freshly drawn serial was already taken: the attempt is undone and
    /// tried again with new serials, so this never reaches a client.
    #[error("a new voucher's serial is already taken")]
    SerialTaken,
    #[error("unsupported database URL (use sqlite:// or postgres://)")]
    UnsupportedUrl,
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// Pool sizes and timeouts, all named.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Read connections (and, on PostgreSQL, write connections too).
    pub max_connections: u32,
    /// How long a request may wait for a connection.
    pub acquire_timeout_secs: u64,
    /// How long SQLite waits for a lock held by another process.
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            acquire_timeout_secs: 30,
            sqlite_busy_timeout_ms: 10_000,
        }
    }
}

/// The database: a read pool and a write pool (the same pool on
/// PostgreSQL; one connection on SQLite).
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    /// The redemption writers ([`batch`]): group commit for the hot path.
    /// One on SQLite (one writer connection); several on PostgreSQL, so that
    /// batches overlap their round trips.
    writers: Vec<batch::JobSender>,
}

impl Store {
    /// Connects, creating an SQLite file if needed, and runs the migrations.
    pub async fn open(url: &str, settings: &PoolSettings) -> Result<Self> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StorageError::UnsupportedUrl);
        };
        let options = AnyConnectOptions::from_str(url)?;
        let store = match backend {
            Backend::Sqlite => {
                let busy_ms = settings.sqlite_busy_timeout_ms;
                let pool = |max, cache_kib| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                conn.execute(sqlite_pragmas(busy_ms, cache_kib).as_str())
                                    .await?;
                                Ok(())
                            })
                        })
                };
                // The writer connects first so the WAL switch happens once,
                // before any reader opens the file.
                let write = pool(1, SQLITE_WRITER_CACHE_KIB)
                    .connect_with(options.clone())
                    .await?;
                let read = pool(settings.max_connections, SQLITE_READER_CACHE_KIB)
                    .connect_with(options)
                    .await?;
                Self::assemble(backend, read, write)
            }
            Backend::Postgres => {
                let pool = AnyPoolOptions::new()
                    .max_connections(settings.max_connections)
                    .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
                    .connect_with(options)
                    .await?;
                Self::assemble(backend, pool.clone(), pool)
            }
        };
        store.migrate().await?;
        // Chains the events of a database that predates the chain.
        events::backfill(store.begin_write().await?).await?;
        Ok(store)
    }

    /// Builds the store and starts its redemption writers. A writer's own
    /// copy of the store has no writers: it never submits to itself.
    fn assemble(backend: Backend, read: AnyPool, write: AnyPool) -> Self {
        let for_writer = Self {
            backend,
            read: read.clone(),
            write: write.clone(),
            writers: Vec::new(),
        };
        let count = match backend {
            Backend::Sqlite => 1,
            Backend::Postgres => POSTGRES_WRITERS,
        };
        Self {
            backend,
            read,
            write,
            writers: (0..count)
                .map(|_| batch::spawn_writer(for_writer.clone()))
                .collect(),
        }
    }

    async fn migrate(&self) -> Result<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("./migrations/sqlite")
                    .run(&self.write)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("./migrations/postgres")
                    .run(&self.write)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Starts a write transaction: `BEGIN IMMEDIATE` on SQLite, so the write
    /// lock is taken before anything is read.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx> {
        Ok(match self.backend {
            Backend::Sqlite => WriteTx::new(self.write.begin_with("BEGIN IMMEDIATE").await?),
            Backend::Postgres => WriteTx::new(self.write.begin().await?),
        })
    }

    pub(crate) fn reader(&self) -> &AnyPool {
        &self.read
    }

    /// `FOR UPDATE` where the backend has row locks; SQLite's writer already
    /// holds the database lock.
    pub(crate) fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Copies committed WAL pages into the SQLite database file without
    /// blocking writers (a passive checkpoint), so commits do not pay for
    /// it. Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend == Backend::Sqlite {
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&self.read)
                .await?;
        }
        Ok(())
    }

    /// Liveness: one round trip to the database.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Redemption writers per process on PostgreSQL. Each holds one connection
/// while it applies a batch; jobs for the same voucher go to the same writer.
const POSTGRES_WRITERS: usize = 2;

/// Page cache of the SQLite writer connection: large, so the B-trees that
/// issue and redemption touch stay in memory.
const SQLITE_WRITER_CACHE_KIB: u32 = 64 * 1024;
/// Page cache of each SQLite reader connection.
const SQLITE_READER_CACHE_KIB: u32 = 16 * 1024;
/// WAL pages after which a commit checkpoints by itself. High, because the
/// background checkpointer ([`Store::checkpoint`]) normally does it off the
/// commit path; this is the backstop if it does not run.
const SQLITE_AUTOCHECKPOINT_PAGES: u32 = 20_000;

fn sqlite_pragmas(busy_timeout_ms: u64, cache_kib: u32) -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; \
         PRAGMA busy_timeout = {busy_timeout_ms}; PRAGMA cache_size = -{cache_kib}; \
         PRAGMA wal_autocheckpoint = {SQLITE_AUTOCHECKPOINT_PAGES};"
    )
}

/// `($1, $2, …), (…), …` for a multi-row insert of `rows` rows of `cols`
/// columns: one statement instead of one per row.
pub(crate) fn values_placeholders(rows: usize, cols: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 5);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for c in 0..cols {
            if c > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(r * cols + c + 1).to_string());
        }
        out.push(')');
    }
    out
}

/// Whether an error is a unique-constraint violation (a lost race).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_placeholders(1, 1), "($1)");
    }
}
