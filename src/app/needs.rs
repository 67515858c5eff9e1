//! Needs: a structure says what it needs, and its association (or the
//! coordinator, for a structure without one) approves all or part of it,
//! or declines it with a reason. The checks every adapter shares.

use super::associations::check_quota_ask;
use super::{AppError, AppResult};
use crate::domain::check_text;
use crate::domain::need::{MAX_NEED_PEOPLE, MAX_NEED_REASON_CHARS, NeedState};
use crate::domain::tree::Reach;
use crate::storage::{Need, NewNeed, Store};

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
    let need = store.report_need(actor, &new, now).await?;
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

/// Approves a need, in full or for `amount` of it.
pub async fn approve(
    store: &Store,
    actor: &str,
    reach: Reach,
    id: i64,
    amount: Option<i64>,
    now: i64,
) -> AppResult<Need> {
    let need = store.approve_need(actor, reach, id, amount, now).await?;
    tracing::info!(need = id, amount = ?need.approved_amount, "need approved");
    Ok(need)
}

/// Declines a need with a reason for the structure.
pub async fn decline(
    store: &Store,
    actor: &str,
    reach: Reach,
    id: i64,
    why: &str,
    now: i64,
) -> AppResult<Need> {
    let why = reason("reason", why)?;
    let need = store.decline_need(actor, reach, id, &why, now).await?;
    tracing::info!(need = id, "need declined");
    Ok(need)
}
