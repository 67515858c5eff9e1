//! The event log: every state change, appended in the transaction that makes
//! it, so the log and the tables can never disagree about what happened.
//!
//! Events form a hash chain (`src/audit/chain.rs`): each has a `seq` with no
//! gap and the hash of the one before. A write transaction ([`WriteTx`])
//! keeps its events in memory and chains them only as it commits
//! ([`commit`]): it locks the chain's head, inserts its events already
//! sealed in one statement, moves the head, and commits. The head is thus
//! the last lock a transaction takes and is held only for that short end,
//! on both backends:
//!
//! - SQLite has one writer at a time (`BEGIN IMMEDIATE`); the head costs one
//!   read and one update per transaction, not per event.
//! - PostgreSQL has several writers. Taking the head earlier would make
//!   every writer that holds it wait for row locks other writers hold while
//!   they wait for the head: a deadlock. Locking it last, writers overlap
//!   everything but the chaining and the commit, and no row is ever written
//!   unsealed (so a committed unsealed row is always someone else's doing,
//!   and the audit reports it).
//!
//! Every write transaction is therefore a [`WriteTx`] and ends with
//! [`commit`].

use std::ops::{Deref, DerefMut};

use sqlx::{Any, AnyConnection, Row, Transaction};

use super::{Result, StorageError, power_of_two_chunks, rows_per_statement, values_placeholders};
use crate::audit::chain::{self, EventFields, Hash};

/// One event to append.
#[derive(Clone, Debug)]
pub struct EventInput {
    /// What happened: `structure_created`, `grant`, `issue`, `void`, …
    pub kind: &'static str,
    /// Who did it: `admin:3`, `structure:12`, `cli`, `system`.
    pub actor: String,
    pub structure_id: Option<i64>,
    pub voucher_id: Option<i64>,
    /// The details, as a JSON object.
    pub data: serde_json::Value,
}

/// Most rows per statement when sealing a pre-chain database: keeps every
/// update well under both backends' parameter limits.
const EVENT_ROWS_PER_STATEMENT: usize = 256;
/// Parameters of one event row as inserted.
const EVENT_COLUMNS: usize = 9;

/// An event row as written: its text fixed, so that the hash covers exactly
/// the stored bytes.
struct Pending {
    at: i64,
    kind: String,
    actor: String,
    structure_id: Option<i64>,
    voucher_id: Option<i64>,
    data: String,
}

impl Pending {
    fn fields(&self, seq: i64) -> EventFields<'_> {
        EventFields {
            seq,
            at: self.at,
            kind: &self.kind,
            actor: &self.actor,
            structure_id: self.structure_id,
            voucher_id: self.voucher_id,
            data: &self.data,
        }
    }
}

/// The place in the chain given to a row chained on insert.
struct Link {
    seq: i64,
    prev: Hash,
    hash: Hash,
}

/// A write transaction: the database transaction, and the events it will
/// append, in order, when it commits. It reads and executes as the
/// connection it holds (`&mut *tx`).
pub(crate) struct WriteTx {
    tx: Transaction<'static, Any>,
    pending: Vec<Pending>,
    /// How many events were pending at each open savepoint.
    savepoints: Vec<usize>,
}

impl Deref for WriteTx {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl WriteTx {
    pub(crate) fn new(tx: Transaction<'static, Any>) -> Self {
        Self {
            tx,
            pending: Vec::new(),
            savepoints: Vec::new(),
        }
    }

    pub(crate) fn is_sqlite(&self) -> bool {
        self.tx.backend_name().eq_ignore_ascii_case("sqlite")
    }

    /// Opens a savepoint: what follows can be undone, events included.
    pub(crate) async fn savepoint(&mut self) -> Result<()> {
        sqlx::query("SAVEPOINT job").execute(&mut *self.tx).await?;
        self.savepoints.push(self.pending.len());
        Ok(())
    }

    /// Keeps what was done since the savepoint.
    pub(crate) async fn release_savepoint(&mut self) -> Result<()> {
        sqlx::query("RELEASE SAVEPOINT job")
            .execute(&mut *self.tx)
            .await?;
        self.savepoints.pop();
        Ok(())
    }

    /// Undoes what was done since the savepoint, its events included.
    pub(crate) async fn rollback_to_savepoint(&mut self) -> Result<()> {
        sqlx::query("ROLLBACK TO SAVEPOINT job")
            .execute(&mut *self.tx)
            .await?;
        sqlx::query("RELEASE SAVEPOINT job")
            .execute(&mut *self.tx)
            .await?;
        if let Some(mark) = self.savepoints.pop() {
            self.pending.truncate(mark);
        }
        Ok(())
    }
}

/// Appends events, in order, to the transaction's log: they are written,
/// chained, when it commits.
pub(crate) fn append(tx: &mut WriteTx, at: i64, events: &[EventInput]) {
    tx.pending.extend(events.iter().map(|e| Pending {
        at,
        kind: e.kind.to_owned(),
        actor: e.actor.clone(),
        structure_id: e.structure_id,
        voucher_id: e.voucher_id,
        data: e.data.to_string(),
    }));
}

/// Appends events that share kind, actor and structure, one per voucher, in
/// order (an issue of many codes).
pub(crate) fn append_voucher_events(
    tx: &mut WriteTx,
    at: i64,
    kind: &'static str,
    actor: &str,
    structure_id: i64,
    events: &[(i64, serde_json::Value)],
) {
    tx.pending
        .extend(events.iter().map(|(voucher_id, data)| Pending {
            at,
            kind: kind.to_owned(),
            actor: actor.to_owned(),
            structure_id: Some(structure_id),
            voucher_id: Some(*voucher_id),
            data: data.to_string(),
        }));
}

/// Writes `rows` chained after the head `(seq, hash)`, and moves the head.
async fn insert_chained(
    conn: &mut AnyConnection,
    sqlite: bool,
    seq: i64,
    hash: Hash,
    rows: &[Pending],
) -> Result<()> {
    let links = chain_links(seq, hash, rows);
    let mut linked = links.as_slice();
    let max_rows = rows_per_statement(sqlite, EVENT_COLUMNS);
    for chunk in power_of_two_chunks(rows, max_rows) {
        let (these, rest) = linked.split_at(chunk.len().min(linked.len()));
        insert_chunk(conn, chunk, these).await?;
        linked = rest;
    }
    if let Some(last) = links.last() {
        move_head(conn, last.seq, &last.hash).await?;
    }
    Ok(())
}

async fn insert_chunk(conn: &mut AnyConnection, rows: &[Pending], links: &[Link]) -> Result<()> {
    let sql = format!(
        "INSERT INTO events (at, kind, actor, structure_id, voucher_id, data, seq, prev_hash, hash) VALUES {}",
        values_placeholders(rows.len(), EVENT_COLUMNS)
    );
    let mut query = sqlx::query(&sql);
    for (r, link) in rows.iter().zip(links) {
        query = query
            .bind(r.at)
            .bind(r.kind.clone())
            .bind(r.actor.clone())
            .bind(r.structure_id)
            .bind(r.voucher_id)
            .bind(r.data.clone())
            .bind(link.seq)
            .bind(chain::to_hex(&link.prev))
            .bind(chain::to_hex(&link.hash));
    }
    query.execute(conn).await?;
    Ok(())
}

/// Chains `rows` after the head (`seq`, `hash`).
fn chain_links(mut seq: i64, mut hash: Hash, rows: &[Pending]) -> Vec<Link> {
    rows.iter()
        .map(|r| {
            seq += 1;
            let next = chain::event_hash(&r.fields(seq), &hash);
            let link = Link {
                seq,
                prev: hash,
                hash: next,
            };
            hash = next;
            link
        })
        .collect()
}

/// The chain's head; `lock` takes its row lock (PostgreSQL).
async fn head(conn: &mut AnyConnection, lock: bool) -> Result<(i64, Hash)> {
    let sql = if lock {
        "SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM chain_head WHERE id = 1"
    };
    let row = sqlx::query(sql).fetch_one(conn).await?;
    let hash: String = row.try_get("hash")?;
    let hash = chain::from_hex(&hash)
        .ok_or_else(|| StorageError::Corrupt("chain head hash is not 64 hex digits".into()))?;
    Ok((row.try_get("seq")?, hash))
}

async fn move_head(conn: &mut AnyConnection, seq: i64, hash: &Hash) -> Result<()> {
    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(chain::to_hex(hash))
        .execute(conn)
        .await?;
    Ok(())
}

/// Chains the rows a database written before the chain holds unsealed:
/// numbers them in insertion order and moves the head.
async fn seal_unsealed(tx: &mut WriteTx) -> Result<()> {
    let sqlite = tx.is_sqlite();
    let (seq, hash) = head(tx, !sqlite).await?;
    let rows = sqlx::query(
        "SELECT id, at, kind, actor, structure_id, voucher_id, data FROM events \
         WHERE seq IS NULL ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut pending = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>("id")?);
        pending.push(Pending {
            at: row.try_get("at")?,
            kind: row.try_get("kind")?,
            actor: row.try_get("actor")?,
            structure_id: row.try_get("structure_id")?,
            voucher_id: row.try_get("voucher_id")?,
            data: row.try_get("data")?,
        });
    }
    let links = chain_links(seq, hash, &pending);
    for (id_chunk, link_chunk) in ids
        .chunks(EVENT_ROWS_PER_STATEMENT)
        .zip(links.chunks(EVENT_ROWS_PER_STATEMENT))
    {
        if sqlite {
            for (id, link) in id_chunk.iter().zip(link_chunk) {
                set_link(tx, *id, link).await?;
            }
        } else {
            set_links(tx, id_chunk, link_chunk).await?;
        }
    }
    if let Some(last) = links.last() {
        move_head(tx, last.seq, &last.hash).await?;
    }
    Ok(())
}

async fn set_link(tx: &mut WriteTx, id: i64, link: &Link) -> Result<()> {
    sqlx::query("UPDATE events SET seq = $1, prev_hash = $2, hash = $3 WHERE id = $4")
        .bind(link.seq)
        .bind(chain::to_hex(&link.prev))
        .bind(chain::to_hex(&link.hash))
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// One statement for many rows (PostgreSQL's `UPDATE … FROM (VALUES …)`).
async fn set_links(tx: &mut WriteTx, ids: &[i64], links: &[Link]) -> Result<()> {
    let sql = format!(
        "UPDATE events SET seq = v.seq, prev_hash = v.prev_hash, hash = v.hash \
         FROM (VALUES {}) AS v (id, seq, prev_hash, hash) WHERE events.id = v.id",
        values_placeholders(ids.len(), 4)
    );
    let mut query = sqlx::query(&sql);
    for (id, link) in ids.iter().zip(links) {
        query = query
            .bind(*id)
            .bind(link.seq)
            .bind(chain::to_hex(&link.prev))
            .bind(chain::to_hex(&link.hash));
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Chains the events of a database written before the chain existed (the
/// head is still at seq 0). Once the chain has started, an unsealed
/// committed row is left for the audit to report.
pub(crate) async fn backfill(mut tx: WriteTx) -> Result<()> {
    if head(&mut tx, false).await?.0 == 0 {
        seal_unsealed(&mut tx).await?;
    }
    commit(tx).await
}

/// Chains the transaction's events after the head, writes them, moves the
/// head, and commits. Every write transaction ends here.
pub(crate) async fn commit(mut tx: WriteTx) -> Result<()> {
    let pending = std::mem::take(&mut tx.pending);
    if !pending.is_empty() {
        // Lock first, then read: a writer that waited for the lock must see
        // what the one before it chained. (SQLite's writer holds the
        // database already.)
        let sqlite = tx.is_sqlite();
        let (seq, hash) = head(&mut tx, !sqlite).await?;
        insert_chained(&mut tx, sqlite, seq, hash, &pending).await?;
    }
    tx.tx.commit().await?;
    Ok(())
}
