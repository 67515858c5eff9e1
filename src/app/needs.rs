//! Needs: a structure says what it needs, and its association (or the
//! coordinator, for a structure without one) approves all or part of it,
//! or declines it with a reason. The checks every adapter shares.

use std::collections::BTreeMap;

use super::grants::check_quota_ask;
use super::{AppError, AppResult};
use crate::domain::need::{MAX_NEED_PEOPLE, MAX_NEED_REASON_CHARS, NeedState};
use crate::domain::tree::Reach;
use crate::domain::{Principal, check_text};
use crate::storage::{Need, NewNeed, Store, Structure};

/// A need as reported (checked here).
#[derive(Clone, Copy, Debug)]
pub struct NeedAsk<'a> {
    pub operator_id: i64,
    pub resource: &'a str,
    pub amount: i64,
    /// How many people it is for: a count, never names.
    pub people: Option<i64>,
    pub reason: &'a str,
}

fn reason(field: &'static str, text: &str) -> AppResult<String> {
    check_text(field, Some(text), MAX_NEED_REASON_CHARS)?
        .ok_or_else(|| AppError::invalid(field, "must not be empty"))
}

/// Records structure `structure_id`'s need, by `actor`.
pub async fn report(
    store: &Store,
    actor: &str,
    live: Option<&Principal>,
    structure_id: i64,
    ask: NeedAsk<'_>,
    now: i64,
) -> AppResult<Need> {
    check_quota_ask(ask.resource, ask.amount)?;
    if ask
        .people
        .is_some_and(|p| !(1..=MAX_NEED_PEOPLE).contains(&p))
    {
        return Err(AppError::invalid(
            "people",
            format!("a count between 1 and {MAX_NEED_PEOPLE}"),
        ));
    }
    let new = NewNeed {
        structure_id,
        operator_id: ask.operator_id,
        resource: ask.resource.to_owned(),
        amount: ask.amount,
        people: ask.people,
        reason: reason("reason", ask.reason)?,
    };
    let need = store.report_need(actor, live, &new, now).await?;
    tracing::info!(need = need.id, structure = structure_id, "need reported");
    Ok(need)
}

/// The needs within reach, oldest first.
pub async fn list(
    store: &Store,
    reach: Reach,
    state: Option<NeedState>,
    limit: usize,
) -> AppResult<Vec<Need>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(store.list_needs(reach, state, limit).await?)
}

/// One structure's own needs, the newest first.
pub async fn own(store: &Store, structure_id: i64, limit: usize) -> AppResult<Vec<Need>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    Ok(store.needs_of(structure_id, limit).await?)
}

/// The open needs of one association's tree (its own and its members').
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub association_id: i64,
    pub association_name: String,
    pub open: usize,
    /// When the oldest of them was reported.
    pub oldest_at: i64,
}

/// The open needs per association (each structure under the coordinator
/// with its subtree), the longest wait first.
pub async fn waiting_by_association(store: &Store, limit: usize) -> AppResult<Vec<Waiting>> {
    let structures: BTreeMap<i64, Structure> = store
        .list_structures()
        .await?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let parent_of = |id: i64| structures.get(&id).and_then(|s| s.parent_id);
    let mut by_top: BTreeMap<i64, Waiting> = BTreeMap::new();
    for n in list(store, Reach::All, Some(NeedState::Open), limit).await? {
        let top = crate::domain::tree::top_of(n.structure_id, parent_of);
        let name = structures
            .get(&top)
            .map_or_else(String::new, |s| s.name.clone());
        let w = by_top.entry(top).or_insert(Waiting {
            association_id: top,
            association_name: name,
            open: 0,
            oldest_at: n.created_at,
        });
        w.open += 1;
        w.oldest_at = w.oldest_at.min(n.created_at);
    }
    let mut all: Vec<Waiting> = by_top.into_values().collect();
    all.sort_by_key(|w| (w.oldest_at, w.association_id));
    Ok(all)
}

/// Approves a need, in full or for `amount` of it.
pub async fn approve(
    store: &Store,
    actor: &str,
    live: Option<&Principal>,
    reach: Reach,
    id: i64,
    amount: Option<i64>,
    now: i64,
) -> AppResult<Need> {
    let need = store
        .approve_need(actor, live, reach, id, amount, now)
        .await?;
    tracing::info!(need = id, amount = ?need.approved_amount, "need approved");
    Ok(need)
}

/// Declines a need with a reason for the structure.
pub async fn decline(
    store: &Store,
    actor: &str,
    live: Option<&Principal>,
    reach: Reach,
    id: i64,
    why: &str,
    now: i64,
) -> AppResult<Need> {
    let why = reason("reason", why)?;
    let need = store
        .decline_need(actor, live, reach, id, &why, now)
        .await?;
    tracing::info!(need = id, "need declined");
    Ok(need)
}
