//! The journal as people read it: the audit trail newest first, one row
//! per request rather than per code ("Émission de 40 codes — lot 12 —
//! Amina B."), narrowed by person, structure, kind and dates, and every
//! actor named (a person, a structure's or an operator's access, the
//! service), never `kind:id`.

use std::collections::BTreeMap;

use super::AppResult;
use crate::audit::snapshot::EventRow;
use crate::storage::{JournalFilter, Store};

/// Events read for one page: rows group consecutive events, so a page
/// holds at most this many events and usually far fewer rows.
pub const JOURNAL_PAGE_EVENTS: i64 = 500;

/// One row: one event, or the events one request wrote together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalRow {
    pub kind: String,
    pub actor: String,
    /// The acting person's name, for an account.
    pub person: Option<String>,
    pub structure_id: Option<i64>,
    pub at: i64,
    /// How many events (codes, for voucher events) the row stands for.
    pub count: usize,
    /// Whether its events are about vouchers (then `count` counts codes).
    pub vouchers: bool,
    /// The lot, when every event of the row names the same one.
    pub lot: Option<i64>,
    /// That lot as its structure numbers it (filled in by [`page`]).
    pub lot_number: Option<i64>,
    /// The oldest event's seq: where the next page starts.
    pub first_seq: i64,
}

/// A page of the journal, and where the next one starts, if there is one.
pub struct JournalPage {
    pub rows: Vec<JournalRow>,
    pub older: Option<i64>,
}

fn lot_of(e: &EventRow) -> Option<i64> {
    let data: serde_json::Value = serde_json::from_str(&e.data).ok()?;
    data.get("issue_entry_id")
        .or_else(|| data.get("lot"))
        .and_then(serde_json::Value::as_i64)
}

/// Whether `e` belongs to the same request as `row`: one transaction
/// writes its events next to each other in the chain, at one moment, by
/// one actor, of one kind. Each issue request is its own lot, so two
/// issues within the same second stay two rows.
fn same_request(row: &JournalRow, e: &EventRow) -> bool {
    row.kind == e.kind
        && row.actor == e.actor
        && row.structure_id == e.structure_id
        && row.at == e.at
        && e.voucher_id.is_some()
        && (e.kind != "issue" || row.lot == lot_of(e))
}

/// Groups consecutive events (newest first) into rows.
pub fn group(events: Vec<(EventRow, Option<String>)>) -> Vec<JournalRow> {
    let mut rows: Vec<JournalRow> = Vec::new();
    for (e, person) in events {
        let lot = lot_of(&e);
        let seq = e.seq.unwrap_or_default();
        match rows.last_mut() {
            Some(row) if same_request(row, &e) => {
                row.count += 1;
                row.first_seq = seq;
                if row.lot != lot {
                    row.lot = None;
                }
            }
            _ => rows.push(JournalRow {
                kind: e.kind,
                actor: e.actor,
                person,
                structure_id: e.structure_id,
                at: e.at,
                count: 1,
                vouchers: e.voucher_id.is_some(),
                lot: lot.filter(|_| e.voucher_id.is_some()),
                lot_number: None,
                first_seq: seq,
            }),
        }
    }
    rows
}

/// A page of the journal before seq `before`, narrowed by `filter`. A
/// request cut by the page's end is left whole to the next page, unless
/// it is all the page holds.
pub async fn page(
    store: &Store,
    filter: &JournalFilter,
    before: Option<i64>,
) -> AppResult<JournalPage> {
    let events = store
        .journal_events(filter, before, JOURNAL_PAGE_EVENTS)
        .await?;
    let full = usize::try_from(JOURNAL_PAGE_EVENTS).is_ok_and(|n| events.len() == n);
    let mut rows = group(events);
    if full && rows.len() > 1 {
        rows.pop();
    }
    let older = if full {
        rows.last().map(|r| r.first_seq)
    } else {
        None
    };
    let lots: Vec<i64> = rows.iter().filter_map(|r| r.lot).collect();
    let numbers = store.lot_numbers(&lots).await?;
    for row in &mut rows {
        row.lot_number = row.lot.and_then(|lot| numbers.get(&lot).copied());
    }
    Ok(JournalPage { rows, older })
}

/// Who the journal's actors are, by how events name them: people are
/// named by the events' join; tokens by their label and whose they are.
pub struct Names {
    pub structures: BTreeMap<i64, String>,
    pub operators: BTreeMap<i64, String>,
    /// Token id → (role, structure, operator, label).
    pub tokens: BTreeMap<i64, crate::storage::TokenListing>,
    /// Every account, for the person filter: (actor, name).
    pub people: Vec<(String, String)>,
}

/// Everything the journal names actors and structures by.
pub async fn names(store: &Store) -> AppResult<Names> {
    let structures = store
        .list_structures()
        .await?
        .into_iter()
        .map(|s| (s.id, s.name))
        .collect();
    let operators = store
        .list_operators()
        .await?
        .into_iter()
        .map(|o| (o.id, o.name))
        .collect();
    let tokens = store
        .list_tokens()
        .await?
        .into_iter()
        .map(|t| (t.id, t))
        .collect();
    let mut people: Vec<(String, String)> = store
        .list_accounts(None)
        .await?
        .into_iter()
        .map(|a| (crate::domain::account_actor(a.id), a.display_name))
        .collect();
    people.sort_by_key(|(_, name)| name.to_lowercase());
    Ok(Names {
        structures,
        operators,
        tokens,
        people,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(
        seq: i64,
        kind: &str,
        actor: &str,
        at: i64,
        voucher: Option<i64>,
        lot: i64,
    ) -> (EventRow, Option<String>) {
        (
            EventRow {
                id: seq,
                seq: Some(seq),
                at,
                kind: kind.into(),
                actor: actor.into(),
                structure_id: Some(2),
                voucher_id: voucher,
                data: format!("{{\"issue_entry_id\":{lot}}}"),
                prev_hash: None,
                hash: None,
            },
            Some("Amina B.".into()),
        )
    }

    #[test]
    fn one_request_is_one_row() {
        let mut events = Vec::new();
        // Newest first: a print of 2, an issue of 40 in lot 12, a grant.
        events.push(event(100, "print", "account:3", 60, Some(2), 12));
        events.push(event(99, "print", "account:3", 60, Some(1), 12));
        for i in 0..40 {
            events.push(event(98 - i, "issue", "account:3", 50, Some(i), 12));
        }
        events.push(event(58, "grant", "account:1", 40, None, 0));
        events.push(event(57, "grant", "account:1", 40, None, 0));
        let rows = group(events);
        let summary: Vec<(&str, usize, Option<i64>)> = rows
            .iter()
            .map(|r| (r.kind.as_str(), r.count, r.lot))
            .collect();
        assert_eq!(
            summary,
            [
                ("print", 2, Some(12)),
                ("issue", 40, Some(12)),
                ("grant", 1, None),
                ("grant", 1, None)
            ]
        );
        assert_eq!(rows[1].first_seq, 59);
        // Another moment or another person starts another row.
        let rows = group(vec![
            event(3, "issue", "account:3", 50, Some(1), 12),
            event(2, "issue", "account:3", 49, Some(2), 11),
            event(1, "issue", "account:4", 49, Some(3), 11),
        ]);
        assert_eq!(rows.len(), 3);
        // Two issues by one script within one second are two lots.
        let rows = group(vec![
            event(4, "issue", "structure:2", 50, Some(4), 14),
            event(3, "issue", "structure:2", 50, Some(3), 13),
            event(2, "issue", "structure:2", 50, Some(2), 13),
        ]);
        let lots: Vec<(usize, Option<i64>)> = rows.iter().map(|r| (r.count, r.lot)).collect();
        assert_eq!(lots, [(1, Some(14)), (2, Some(13))]);
    }
}
