//! A structure's balances as they stand now, and the quota read that comes
//! before the issuing rate limit is charged.

use super::{AppResult, AppState};
use crate::domain::{Balance, DomainError, Product};

/// Refuses, before the rate limit is charged, a request the structure's
/// balance cannot cover. Governor cannot give back what it has counted, so
/// without this a refused request would still use up the structure's
/// issuing rate, and a few refusals would lock it out of issuing for
/// minutes.
///
/// The transactional check in [`crate::storage::Store::issue`] stays the
/// authority. A narrow race remains: two requests may both pass this read
/// and the second then be refused inside the transaction, its codes
/// already charged to the rate limit. That errs on the safe side: the
/// structure may wait longer than it should, but it is never given more
/// codes than its quota or its rate allow.
pub async fn check_quota_covers(
    state: &AppState,
    structure_id: i64,
    product: &Product,
    count: usize,
) -> AppResult<()> {
    let available = current_balances(state, structure_id)
        .await?
        .into_iter()
        .find(|b| b.operator_id == product.operator_id && b.resource == product.resource)
        .map_or(0, |b| b.available);
    let requested = i64::try_from(count)
        .unwrap_or(i64::MAX)
        .saturating_mul(product.amount);
    if product.amount > 0 && requested <= available {
        return Ok(());
    }
    state.metrics.quota_exceeded.inc();
    Err(DomainError::QuotaExceeded {
        resource: product.resource.clone(),
        available,
        requested,
    }
    .into())
}

/// A structure's balances now, monthly credits due included.
pub async fn current_balances(state: &AppState, structure_id: i64) -> AppResult<Vec<Balance>> {
    let now = state.now();
    state
        .store
        .credit_due_grants(Some(structure_id), now)
        .await?;
    Ok(state.store.balances(structure_id, now).await?)
}
