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

mod accounts;
mod admin;
mod audit;
mod audit_changes;
mod audit_rows;
mod backup;
pub mod batch;
mod beneficiary_usage;
mod dashboard;
mod events;
mod fast_redeem;
mod fault;
mod idempotency;
mod journal;
mod lockout;
mod lot_list;
mod needs;
mod operators;
mod quota;
mod redemption_reads;
mod redemption_rows;
mod redemption_types;
pub mod redemptions;
mod sessions;
mod sign_in_failures;
mod sqlite_rebuild;
mod structures;
#[cfg(test)]
mod test_store;
mod transfers;
mod tree;
mod voiding;
mod voucher_history;
mod voucher_state;
mod vouchers;
pub mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

use crate::domain::DomainError;

/// The advisory lock key of the tree's shape ("tree" in ASCII).
const TREE_LOCK_KEY: i64 = 0x7472_6565;

pub use accounts::{Account, ActivationSecret};
pub use admin::{NewGrant, NewProduct, Structure, TokenRecord, TokenScope};
pub use audit::Alarm;
pub use audit_changes::ChangesRead;
pub use dashboard::{PeriodCounts, StructureActivity};
pub use events::EventInput;
pub(crate) use events::WriteTx;
pub use fault::Fault;
pub use idempotency::{IdempotencyClaim, RequestFingerprint, StoredAnswer};
pub use journal::JournalFilter;
pub use lockout::{FailureRecorded, GLOBAL_SOURCE, LineUnbarred, line_source, operator_source};
pub use lot_list::LotSummary;
pub use needs::{Need, NewNeed};
pub use operators::Operator;
pub use redemptions::{Followup, Outcome, RedeemInput, RedeemMode, RedemptionRecord, VoucherFacts};
pub use sessions::{NewWebSession, WebSession};
pub use sign_in_failures::SignInPolicy;
pub use structures::{GrantListing, TokenListing};
pub use transfers::{Transfer, TransferKind, TransferOrder};
pub use voiding::LotVoided;
pub use voucher_history::HistoryEntry;
pub use voucher_state::VoucherRow;
pub use vouchers::{IssueJob, IssueOutcome, IssueRequest, VoucherFilter, VoucherPage};

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
    /// Asked of the other backend (a backup of PostgreSQL is pg_dump's).
    #[error("{0}")]
    NotForThisDatabase(&'static str),
    /// The SQLite file could not be opened or created.
    #[error(
        "cannot open the SQLite database {path}: {reason} \
         (does its folder exist, and may this user write there?)"
    )]
    SqliteOpen { path: String, reason: String },
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    /// A stored answer (idempotency) or event body could not be read or
    /// written as JSON.
    #[error("stored JSON could not be read or written: {0}")]
    Encoding(#[from] serde_json::Error),
    /// The task that applies queued writes is gone (the service is
    /// stopping): the write was not applied.
    #[error("the database writer has stopped")]
    WriterStopped,
    /// A batch of queued writes failed as a whole (its transaction could
    /// not be begun, sealed or committed): nothing of it was applied. Every
    /// write of the batch gets this, with the cause, which the writer also
    /// logs once.
    #[error("a write batch failed: {source}")]
    BatchFailed {
        #[source]
        source: Arc<StorageError>,
    },
    /// The writer finished a batch without answering one of its writes,
    /// which it did not apply.
    #[error("the database writer left a write unanswered")]
    Unanswered,
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

/// How often one write replaces a stuck SQLite write connection before it
/// gives up (and is answered 503 `database_unavailable`).
const STUCK_WRITER_REPLACEMENTS: usize = 3;

/// Pool sizes and timeouts, all named.
#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Read connections (and, on PostgreSQL, write connections too).
    pub max_connections: u32,
    /// Connections for heavy audit reads (whole-database snapshots,
    /// statements), apart from the others so that audits never make a
    /// redemption wait for a connection.
    pub audit_connections: u32,
    /// How long a request may wait for a connection.
    pub acquire_timeout_secs: u64,
    /// How long SQLite waits for a lock held by another process.
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            max_connections: 16,
            audit_connections: 2,
            acquire_timeout_secs: 5,
            sqlite_busy_timeout_ms: 10_000,
        }
    }
}

/// The database: a read pool and a write pool (the same pool on
/// PostgreSQL; one connection on SQLite), and a small pool of its own for
/// heavy audit reads.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    read: AnyPool,
    write: AnyPool,
    audit: AnyPool,
    /// The writers ([`batch`]): group commit for the hot path.
    /// One on SQLite (one writer connection); several on PostgreSQL, so that
    /// batches overlap their round trips.
    writers: Vec<batch::JobSender>,
}

/// An SQLite URL that creates its file when it does not exist, as the
/// default URL does: `mode=rwc` unless the URL names a mode of its own
/// (`mode=ro` to refuse writes) or is in memory.
fn sqlite_creating(url: &str) -> String {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    if url.contains(":memory:") || query.split('&').any(|p| p.starts_with("mode=")) {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}mode=rwc")
}

/// The file an SQLite URL names (`None` for another database or one in
/// memory): what must exist before a command that only changes a database.
pub fn sqlite_file(url: &str) -> Option<&str> {
    (url.starts_with("sqlite:") && !url.contains(":memory:")).then(|| sqlite_path(url))
}

/// The file an SQLite URL names, for messages.
fn sqlite_path(url: &str) -> &str {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    rest.split('?').next().unwrap_or(rest)
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
        let url = match backend {
            Backend::Sqlite => sqlite_creating(url),
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
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
                    .await
                    .map_err(|e| StorageError::SqliteOpen {
                        path: sqlite_path(&url).to_owned(),
                        reason: e.to_string(),
                    })?;
                let read = pool(settings.max_connections, SQLITE_READER_CACHE_KIB)
                    .connect_with(options.clone())
                    .await?;
                let audit = pool(settings.audit_connections.max(1), SQLITE_READER_CACHE_KIB)
                    .connect_with(options)
                    .await?;
                Self::assemble(backend, read, write, audit)
            }
            Backend::Postgres => {
                let pool = |max| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .acquire_timeout(Duration::from_secs(settings.acquire_timeout_secs))
                };
                let main = pool(settings.max_connections)
                    .connect_with(options.clone())
                    .await?;
                let audit = pool(settings.audit_connections.max(1))
                    .connect_with(options)
                    .await?;
                Self::assemble(backend, main.clone(), main, audit)
            }
        };
        store.migrate().await?;
        // Chains the events of a database that predates the chain.
        events::backfill(store.begin_write().await?).await?;
        // Records the operator an upgrade created for what it found.
        operators::record_upgraded(store.begin_write().await?).await?;
        Ok(store)
    }

    /// Builds the store and starts its redemption writers. A writer's own
    /// copy of the store has no writers: it never submits to itself.
    fn assemble(backend: Backend, read: AnyPool, write: AnyPool, audit: AnyPool) -> Self {
        let for_writer = Self {
            backend,
            read: read.clone(),
            write: write.clone(),
            audit: audit.clone(),
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
            audit,
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
                    .await?;
                sqlite_rebuild::apply(&self.write).await?;
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
            Backend::Sqlite => WriteTx::new(self.begin_immediate().await?),
            Backend::Postgres => WriteTx::new(self.write.begin().await?),
        })
    }

    /// `BEGIN IMMEDIATE` on SQLite's write connection. When a write fails
    /// with the disk full or an I/O error, SQLite may end the transaction by
    /// itself; the driver's ROLLBACK then fails and it goes on counting a
    /// transaction, so that connection can never begin again. It is closed
    /// and replaced by a fresh one, once: the service writes again as soon
    /// as the disk does.
    async fn begin_immediate(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        // Writes outside the batch writer share the connection: one of them
        // may leave it stuck again between the replacement and the BEGIN.
        for _ in 0..STUCK_WRITER_REPLACEMENTS {
            match self.write.begin_with("BEGIN IMMEDIATE").await {
                Err(sqlx::Error::InvalidSavePointStatement) => {
                    tracing::warn!(
                        "the SQLite write connection was left in a failed transaction; replacing it"
                    );
                    self.write.acquire().await?.close().await?;
                }
                other => return Ok(other?),
            }
        }
        Ok(self.write.begin_with("BEGIN IMMEDIATE").await?)
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

    /// `FOR SHARE` where the backend has row locks: the row may not change
    /// (a move, a deactivation) until the transaction ends.
    pub(crate) fn for_share(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR SHARE",
        }
    }

    /// Serialises changes to the tree's shape (moves, structures created
    /// under a parent) for the rest of the transaction, so that two of
    /// them never build a cycle or a fourth level between them; SQLite's
    /// single writer already does.
    pub(crate) async fn lock_tree(&self, tx: &mut WriteTx) -> Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(TREE_LOCK_KEY)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
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
        self.audit.close().await;
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

/// Splits `items` into chunks whose lengths are powers of two, at most
/// `max`, largest first. A multi-row statement then comes in a few texts
/// only, which the connection keeps prepared; one text per row count would
/// overflow its statement cache and be parsed again each time.
pub(crate) fn power_of_two_chunks<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let max = max.max(1);
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let len = rest.len().min(max);
        let size = 1usize << (usize::BITS - 1 - len.leading_zeros());
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// Parameters one SQLite statement should bind at most: sqlx's SQLite
/// driver looks each parameter up by name in a list as long as the
/// statement's parameters, so binding costs grow with the square of their
/// number (a 2,304-parameter insert spent most of its time there).
const SQLITE_PARAMS_PER_STATEMENT: usize = 256;
/// The same for PostgreSQL, which has no such cost: only the protocol's
/// limit of 65,535, and fewer statements mean fewer round trips.
const POSTGRES_PARAMS_PER_STATEMENT: usize = 4096;

/// Most rows of `columns` parameters one multi-row statement should carry:
/// a power of two, for [`power_of_two_chunks`].
pub(crate) fn rows_per_statement(sqlite: bool, columns: usize) -> usize {
    let params = if sqlite {
        SQLITE_PARAMS_PER_STATEMENT
    } else {
        POSTGRES_PARAMS_PER_STATEMENT
    };
    let rows = (params / columns.max(1)).max(1);
    1usize << (usize::BITS - 1 - rows.leading_zeros())
}

/// `ids` padded to a power of two by repeating the last one, for an
/// `IN (…)` list with few distinct lengths (see [`power_of_two_chunks`]);
/// a repeated id changes nothing.
pub(crate) fn padded_ids(ids: &[i64]) -> Vec<i64> {
    let mut padded = ids.to_vec();
    if let Some(&last) = ids.last() {
        padded.resize(ids.len().next_power_of_two(), last);
    }
    padded
}

/// `$from, $from+1, …`: `n` numbered placeholders.
pub(crate) fn placeholder_list(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|k| format!("${k}"))
        .collect::<Vec<_>>()
        .join(", ")
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
    fn sqlite_urls_create_their_file_unless_told_otherwise() {
        assert_eq!(
            sqlite_creating("sqlite:///srv/t.db"),
            "sqlite:///srv/t.db?mode=rwc"
        );
        assert_eq!(
            sqlite_creating("sqlite://t.db?cache=shared"),
            "sqlite://t.db?cache=shared&mode=rwc"
        );
        assert_eq!(
            sqlite_creating("sqlite://t.db?mode=ro"),
            "sqlite://t.db?mode=ro"
        );
        assert_eq!(sqlite_creating("sqlite::memory:"), "sqlite::memory:");
        assert_eq!(sqlite_path("sqlite:///srv/t.db?mode=rwc"), "/srv/t.db");
        assert_eq!(sqlite_path("sqlite:t.db"), "t.db");
    }

    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let items: Vec<u32> = (0..100).collect();
        let lens: Vec<usize> = power_of_two_chunks(&items, 64)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(lens, [64, 32, 4]);
        let lens: Vec<usize> = power_of_two_chunks(&items, 16)
            .iter()
            .map(|c| c.len())
            .collect();
        assert_eq!(lens, [16, 16, 16, 16, 16, 16, 4]);
        let joined: Vec<u32> = power_of_two_chunks(&items, 64).concat();
        assert_eq!(joined, items);
        assert!(power_of_two_chunks::<u32>(&[], 64).is_empty());
    }

    #[test]
    fn sqlite_statements_stay_small() {
        assert_eq!(rows_per_statement(true, 9), 16);
        assert_eq!(rows_per_statement(true, 11), 16);
        assert_eq!(rows_per_statement(false, 9), 256);
        assert_eq!(rows_per_statement(true, 1000), 1);
    }

    #[test]
    fn padding_repeats_the_last_id() {
        assert_eq!(padded_ids(&[1, 2, 3]), [1, 2, 3, 3]);
        assert_eq!(padded_ids(&[5]), [5]);
        assert_eq!(padded_ids(&[1, 2, 3, 4, 5]), [1, 2, 3, 4, 5, 5, 5, 5]);
        assert!(padded_ids(&[]).is_empty());
        assert_eq!(placeholder_list(3, 2), "$3, $4");
    }

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(values_placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(values_placeholders(1, 1), "($1)");
    }
}
