//! The journal's read: sealed events newest first, a page before a seq,
//! narrowed by who acted, where, what and when, each with the acting
//! person's name.

use super::audit::{named_events, prefixed_event_columns};
use super::{Result, Store};
use crate::audit::snapshot::EventRow;

/// What the journal is narrowed to; every part is optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalFilter {
    /// The actor as events name it (`account:3`, `structure:7`).
    pub actor: Option<String>,
    pub structure_id: Option<i64>,
    pub kind: Option<String>,
    /// From this moment (Unix seconds, included).
    pub from_at: Option<i64>,
    /// Until this moment (Unix seconds, excluded).
    pub to_at: Option<i64>,
}

impl Store {
    /// At most `limit` sealed events before seq `before`, newest first,
    /// that pass `filter`.
    pub async fn journal_events(
        &self,
        filter: &JournalFilter,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<(EventRow, Option<String>)>> {
        let mut clauses = Vec::new();
        let mut next = 3;
        let mut place = |clause: &str| {
            clauses.push(clause.replace('?', &format!("${next}")));
            next += 1;
        };
        if filter.actor.is_some() {
            place("e.actor = ?");
        }
        if filter.structure_id.is_some() {
            place("e.structure_id = ?");
        }
        if filter.kind.is_some() {
            place("e.kind = ?");
        }
        if filter.from_at.is_some() {
            place("e.at >= ?");
        }
        if filter.to_at.is_some() {
            place("e.at < ?");
        }
        let narrowed: String = clauses.iter().map(|c| format!(" AND {c}")).collect();
        let sql = format!(
            "SELECT {}, a.display_name FROM events e \
             LEFT JOIN accounts a ON e.actor = 'account:' || a.id \
             WHERE e.seq IS NOT NULL AND e.seq < $1{narrowed} ORDER BY e.seq DESC LIMIT $2",
            prefixed_event_columns()
        );
        let mut query = sqlx::query(&sql)
            .bind(before.unwrap_or(i64::MAX))
            .bind(limit);
        if let Some(actor) = &filter.actor {
            query = query.bind(actor.clone());
        }
        if let Some(id) = filter.structure_id {
            query = query.bind(id);
        }
        if let Some(kind) = &filter.kind {
            query = query.bind(kind.clone());
        }
        if let Some(at) = filter.from_at {
            query = query.bind(at);
        }
        if let Some(at) = filter.to_at {
            query = query.bind(at);
        }
        let rows = query.fetch_all(&self.read).await?;
        named_events(&rows)
    }
}
