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
