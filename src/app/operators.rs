//! Registering operators: the API and the command line share these checks.

use std::collections::BTreeMap;

use super::{AppError, AppResult};
use crate::domain::NewOperator;
use crate::domain::operator::{SlipInstructions, check_dialling};
use crate::storage::{Operator, Store};

/// Registers an operator by `actor` (as events name it).
pub async fn register(
    store: &Store,
    actor: &str,
    new: &NewOperator,
    now: i64,
) -> AppResult<Operator> {
    let checked = new.checked()?;
    let operator = store.create_operator(actor, &checked, now).await?;
    tracing::info!(operator = operator.id, name = %operator.name, "operator registered");
    Ok(operator)
}

/// Sets the USSD string an operator's PIN slips print (`*144*PIN#`), or
/// clears it so that they print the free instructions.
pub async fn set_slip_instructions(
    store: &Store,
    actor: &str,
    id: i64,
    change: &SlipInstructions,
    now: i64,
) -> AppResult<Operator> {
    let pattern = check_dialling(change.slip_instructions.as_deref())?;
    let operator = store
        .set_slip_instructions(actor, id, pattern.as_deref(), now)
        .await?
        .ok_or(AppError::NotFound("operator"))?;
    tracing::info!(operator = operator.id, "slip instructions set");
    Ok(operator)
}

/// Every operator, by id.
pub async fn list(store: &Store) -> AppResult<Vec<Operator>> {
    Ok(store.list_operators().await?)
}

/// Every operator, keyed by id: what pages and slips name networks by.
pub async fn by_id(store: &Store) -> AppResult<BTreeMap<i64, Operator>> {
    Ok(list(store).await?.into_iter().map(|o| (o.id, o)).collect())
}
