//! Registering operators: the API and the command line share these checks.

use std::collections::BTreeMap;

use super::AppResult;
use crate::domain::NewOperator;
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

/// Every operator, by id.
pub async fn list(store: &Store) -> AppResult<Vec<Operator>> {
    Ok(store.list_operators().await?)
}

/// Every operator, keyed by id: what pages and slips name networks by.
pub async fn by_id(store: &Store) -> AppResult<BTreeMap<i64, Operator>> {
    Ok(list(store).await?.into_iter().map(|o| (o.id, o)).collect())
}
