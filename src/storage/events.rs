//! The event log: every state change, appended in the transaction that makes
//! it, so the log and the tables can never disagree about what happened.

use sqlx::{Any, Transaction};

use super::{Result, values_placeholders};

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

/// Columns per event row in the multi-row insert.
const EVENT_COLUMNS: usize = 6;
/// Rows per statement: keeps every insert well under both backends'
/// parameter limits.
const EVENT_ROWS_PER_STATEMENT: usize = 500;

/// Appends events, in order, in the caller's transaction.
pub(crate) async fn append(
    tx: &mut Transaction<'static, Any>,
    at: i64,
    events: &[EventInput],
) -> Result<()> {
    for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO events (at, kind, actor, structure_id, voucher_id, data) VALUES {}",
            values_placeholders(chunk.len(), EVENT_COLUMNS)
        );
        let mut query = sqlx::query(&sql);
        for e in chunk {
            query = query
                .bind(at)
                .bind(e.kind)
                .bind(e.actor.clone())
                .bind(e.structure_id)
                .bind(e.voucher_id)
                .bind(e.data.to_string());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Appends events that share kind, actor and structure, one per voucher, in
/// order: the shared fields are bound once, which keeps large issues cheap.
pub(crate) async fn append_voucher_events(
    tx: &mut Transaction<'static, Any>,
    at: i64,
    kind: &'static str,
    actor: &str,
    structure_id: i64,
    events: &[(i64, serde_json::Value)],
) -> Result<()> {
    const SHARED: usize = 4;
    for chunk in events.chunks(EVENT_ROWS_PER_STATEMENT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let voucher = SHARED + 2 * r + 1;
                format!("($1, $2, $3, $4, ${voucher}, ${})", voucher + 1)
            })
            .collect();
        let sql = format!(
            "INSERT INTO events (at, kind, actor, structure_id, voucher_id, data) VALUES {}",
            values.join(", ")
        );
        let mut query = sqlx::query(&sql)
            .bind(at)
            .bind(kind)
            .bind(actor.to_owned())
            .bind(structure_id);
        for (voucher_id, data) in chunk {
            query = query.bind(*voucher_id).bind(data.to_string());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
