//! The event log: every state change, appended in the transaction that makes
//! it, so the log and the tables can never disagree about what happened.
//!
//! Events form a hash chain (`src/audit/chain.rs`): each has a `seq` with no
//! gap and the hash of the one before. Who assigns them, and when, depends
//! on the backend, so that the chain's head is always the last lock a
//! transaction takes:
//!
//! - SQLite has one writer at a time (`BEGIN IMMEDIATE`), so an event is
//!   chained as it is inserted.
//! - PostgreSQL has several writers. Events are inserted unsealed and sealed
//!   by [`seal`] just before commit: it locks the `chain_head` row, numbers
//!   this transaction's events and moves the head. Taking the head earlier
//!   would make every writer that holds it wait for row locks other writers
//!   hold while they wait for the head: a deadlock. Sealing last, writers
//!   overlap everything but the seal and the commit.
//!
//! Every write transaction therefore ends with [`commit`], never with
//! `Transaction::commit` directly.

use sqlx::{Any, Row, Transaction};

use super::{Result, StorageError, values_placeholders};
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

/// Rows per statement: keeps every insert well under both backends'
/// parameter limits.
const EVENT_ROWS_PER_STATEMENT: usize = 400;

/// An event row as written: its text fixed, so that the hash covers exactly
/// the stored bytes.
struct Pending<'a> {
    at: i64,
    kind: &'a str,
    actor: &'a str,
    structure_id: Option<i64>,
    voucher_id: Option<i64>,
    data: String,
}

impl Pending<'_> {
    fn fields(&self, seq: i64) -> EventFields<'_> {
        EventFields {
            seq,
            at: self.at,
            kind: self.kind,
            actor: self.actor,
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

fn is_sqlite(tx: &Transaction<'static, Any>) -> bool {
    tx.backend_name().eq_ignore_ascii_case("sqlite")
}

/// Appends events, in order, in the caller's transaction.
pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    at: i64,
    events: &[EventInput],
) -> Result<()> {
    let rows: Vec<Pending<'_>> = events
        .iter()
        .map(|e| Pending {
            at,
            kind: e.kind,
            actor: &e.actor,
            structure_id: e.structure_id,
            voucher_id: e.voucher_id,
            data: e.data.to_string(),
        })
        .collect();
    insert(tx, &rows).await
}

/// Appends events that share kind, actor and structure, one per voucher, in
/// order (an issue of many codes).
pub(crate) async fn append_voucher_events(
    tx: &mut Transaction<'static, Any>,
    at: i64,
    kind: &'static str,
    actor: &str,
    structure_id: i64,
    events: &[(i64, serde_json::Value)],
) -> Result<()> {
    let rows: Vec<Pending<'_>> = events
        .iter()
        .map(|(voucher_id, data)| Pending {
            at,
            kind,
            actor,
            structure_id: Some(structure_id),
            voucher_id: Some(*voucher_id),
            data: data.to_string(),
        })
        .collect();
    insert(tx, &rows).await
}

async fn insert(tx: &mut Transaction<'static, Any>, rows: &[Pending<'_>]) -> Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let links = if is_sqlite(tx) {
        let (seq, hash) = head(tx, false).await?;
        let links = chain_links(seq, hash, rows);
        if let Some(last) = links.last() {
            move_head(tx, last.seq, &last.hash).await?;
        }
        Some(links)
    } else {
        None
    };
    let mut link_chunks = links.as_deref().map(|l| l.chunks(EVENT_ROWS_PER_STATEMENT));
    for chunk in rows.chunks(EVENT_ROWS_PER_STATEMENT) {
        let linked = link_chunks.as_mut().and_then(Iterator::next);
        insert_chunk(tx, chunk, linked).await?;
    }
    Ok(())
}

async fn insert_chunk(
    tx: &mut Transaction<'static, Any>,
    rows: &[Pending<'_>],
    links: Option<&[Link]>,
) -> Result<()> {
    let (columns, width) = match links {
        Some(_) => (
            "at, kind, actor, structure_id, voucher_id, data, seq, prev_hash, hash",
            9,
        ),
        None => ("at, kind, actor, structure_id, voucher_id, data", 6),
    };
    let sql = format!(
        "INSERT INTO events ({columns}) VALUES {}",
        values_placeholders(rows.len(), width)
    );
    let mut query = sqlx::query(&sql);
    for (i, r) in rows.iter().enumerate() {
        query = query
            .bind(r.at)
            .bind(r.kind.to_owned())
            .bind(r.actor.to_owned())
            .bind(r.structure_id)
            .bind(r.voucher_id)
            .bind(r.data.clone());
        if let Some(link) = links.and_then(|l| l.get(i)) {
            query = query
                .bind(link.seq)
                .bind(chain::to_hex(&link.prev))
                .bind(chain::to_hex(&link.hash));
        }
    }
    query.execute(&mut **tx).await?;
    Ok(())
}

/// Chains `rows` after the head (`seq`, `hash`).
fn chain_links(mut seq: i64, mut hash: Hash, rows: &[Pending<'_>]) -> Vec<Link> {
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
async fn head(tx: &mut Transaction<'static, Any>, lock: bool) -> Result<(i64, Hash)> {
    let sql = if lock {
        "SELECT seq, hash FROM chain_head WHERE id = 1 FOR UPDATE"
    } else {
        "SELECT seq, hash FROM chain_head WHERE id = 1"
    };
    let row = sqlx::query(sql).fetch_one(&mut **tx).await?;
    let hash: String = row.try_get("hash")?;
    let hash = chain::from_hex(&hash)
        .ok_or_else(|| StorageError::Corrupt("chain head hash is not 64 hex digits".into()))?;
    Ok((row.try_get("seq")?, hash))
}

async fn move_head(tx: &mut Transaction<'static, Any>, seq: i64, hash: &Hash) -> Result<()> {
    sqlx::query("UPDATE chain_head SET seq = $1, hash = $2 WHERE id = 1")
        .bind(seq)
        .bind(chain::to_hex(hash))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Chains the events this transaction inserted unsealed (PostgreSQL), and
/// any a crashed older version left unsealed: locks the head, numbers them
/// in insertion order, and moves the head. Nothing to do on SQLite, where
/// events are chained on insert, unless the database predates the chain.
pub(crate) async fn seal(tx: &mut Transaction<'static, Any>) -> Result<()> {
    let any = sqlx::query("SELECT id FROM events WHERE seq IS NULL LIMIT 1")
        .fetch_optional(&mut **tx)
        .await?;
    if any.is_none() {
        return Ok(());
    }
    // Lock first, then read: a sealer that waited for the lock must see
    // what the one before it sealed. (SQLite's writer holds the database.)
    let sqlite = is_sqlite(tx);
    let (seq, hash) = head(tx, !sqlite).await?;
    let rows = sqlx::query(
        "SELECT id, at, kind, actor, structure_id, voucher_id, data FROM events \
         WHERE seq IS NULL ORDER BY id",
    )
    .fetch_all(&mut **tx)
    .await?;
    let mut ids = Vec::with_capacity(rows.len());
    let mut owned = Vec::with_capacity(rows.len());
    for row in &rows {
        ids.push(row.try_get::<i64, _>("id")?);
        owned.push((
            row.try_get::<i64, _>("at")?,
            row.try_get::<String, _>("kind")?,
            row.try_get::<String, _>("actor")?,
            row.try_get::<Option<i64>, _>("structure_id")?,
            row.try_get::<Option<i64>, _>("voucher_id")?,
            row.try_get::<String, _>("data")?,
        ));
    }
    let pending: Vec<Pending<'_>> = owned
        .iter()
        .map(
            |(at, kind, actor, structure_id, voucher_id, data)| Pending {
                at: *at,
                kind,
                actor,
                structure_id: *structure_id,
                voucher_id: *voucher_id,
                data: data.clone(),
            },
        )
        .collect();
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

async fn set_link(tx: &mut Transaction<'static, Any>, id: i64, link: &Link) -> Result<()> {
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
async fn set_links(tx: &mut Transaction<'static, Any>, ids: &[i64], links: &[Link]) -> Result<()> {
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
pub(crate) async fn backfill(tx: &mut Transaction<'static, Any>) -> Result<()> {
    if head(tx, false).await?.0 == 0 {
        seal(tx).await?;
    }
    Ok(())
}

/// Seals the transaction's events, then commits it. Every write
/// transaction ends here.
pub(crate) async fn commit(mut tx: Transaction<'static, Any>) -> Result<()> {
    // SQLite chained its events on insert: nothing to seal, and no query
    // to spend on finding that out in the middle of every write.
    if !is_sqlite(&tx) {
        seal(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
