//! Issuing codes for a structure: validation, the quota read, the issuing
//! rate limit, the transaction, metrics and the log line. The JSON API and
//! the desk call the same function and differ only in how they name a
//! retry.

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};

use super::balances::check_quota_covers;
use super::vouchers::{VoucherView, view};
use super::{AppError, AppResult, AppState, StructureCaller};
use crate::code::Format;
use crate::domain::{DomainError, MAX_REFERENCE_CHARS, check_text};
use crate::storage::{
    IdempotencyClaim, IssueRequest, RequestFingerprint, StorageError, StoredAnswer,
};

/// What a structure asks for, as sent (checked here).
#[derive(Debug, Clone, Copy)]
pub struct IssueOrder<'a> {
    /// A product id of the catalogue.
    pub product: &'a str,
    /// How many codes, 1 to `--max-issue-count`.
    pub count: i64,
    /// The structure's own short reference; never personal data.
    pub reference: Option<&'a str>,
    /// Code or PIN; when not given, the product's.
    pub format: Option<Format>,
}

/// A retry's name: the key, and the fingerprint of the request it was
/// first sent with (a key reused for another request is refused).
pub type Retry = (String, RequestFingerprint);

/// Issues `order.count` codes of one product within the caller's quota.
pub async fn issue(
    state: &AppState,
    caller: &StructureCaller,
    order: IssueOrder<'_>,
    retry: Option<Retry>,
) -> AppResult<Vec<VoucherView>> {
    state.ensure_integrity()?;
    let max = state.limits.max_issue_count;
    let count = usize::try_from(order.count)
        .ok()
        .filter(|c| (1..=max).contains(c))
        .ok_or_else(|| AppError::invalid("count", format!("count must be between 1 and {max}")))?;
    let reference = check_text("reference", order.reference, MAX_REFERENCE_CHARS)?;
    let product = state
        .store
        .get_product(order.product)
        .await?
        .filter(|p| p.active)
        .ok_or_else(|| AppError::invalid("product", "no such product in the catalogue"))?;
    let idempotency = retry.map(|(key, fingerprint)| IdempotencyClaim {
        scope: format!("structure:{}", caller.structure_id),
        key,
        fingerprint,
    });
    let keys = state.keys.get();
    // A replay is answered from the store and does not count against the
    // rate limit: retrying must always be safe. A key answered for another
    // request is refused here, before the quota read could answer for it.
    let stored = match &idempotency {
        Some(claim) => state.store.stored_answer(claim).await?,
        None => StoredAnswer::None,
    };
    if stored == StoredAnswer::Other {
        return Err(DomainError::IdempotencyConflict.into());
    }
    let is_replay = stored == StoredAnswer::Same;
    if !is_replay {
        check_quota_covers(state, caller.structure_id, &product, count).await?;
        check_issue_rate(state, caller.structure_id, count)?;
    }
    let request = IssueRequest {
        principal: caller.principal,
        structure_id: caller.structure_id,
        product: &product,
        format: order.format.unwrap_or(product.format),
        count,
        reference,
        idempotency,
    };
    let outcome = state
        .store
        .issue(&keys, &request, state.now())
        .await
        .inspect_err(|e| {
            if matches!(e, StorageError::Domain(DomainError::QuotaExceeded { .. })) {
                state.metrics.quota_exceeded.inc();
            }
        })?;
    if !is_replay {
        let issued = u64::try_from(outcome.vouchers.len()).unwrap_or(u64::MAX);
        state.metrics.codes_issued.inc_by(issued);
        tracing::info!(structure = caller.structure_id, product = %product.id, count, "issued");
    }
    outcome
        .vouchers
        .iter()
        .map(|row| view(&keys, row))
        .collect()
}

/// Charges `count` codes to the structure's issuing rate.
fn check_issue_rate(state: &AppState, structure_id: i64, count: usize) -> AppResult<()> {
    let Some(n) = u32::try_from(count).ok().and_then(NonZeroU32::new) else {
        return Ok(());
    };
    match state.issue_limiter.check_key_n(&structure_id, n) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => {
            state.metrics.rate_limited.inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(AppError::RateLimited {
                retry_after_secs: wait.as_secs() + 1,
                detail: "this structure is issuing too many codes; please wait",
            })
        }
        Err(_) => Err(AppError::invalid(
            "count",
            "more codes than this structure's rate limit allows at once",
        )),
    }
}
