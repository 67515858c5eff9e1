//! The donor's report: what became of one operator's donation over a
//! period, for the coordinator and the auditors.

use super::audit::{aside, take_place};
use super::{AppError, AppResult, AppState, period};
use crate::audit::donor_report::{self, DonorReport};
use crate::storage::Operator;

/// A donor report, with the operator and the period it covers.
#[derive(Debug)]
pub struct DonorReportDone {
    pub operator: Operator,
    pub from: i64,
    pub to: i64,
    pub report: DonorReport,
}

/// The report of `operator_id` over `[from, to)` (the current calendar
/// month for a bound not given), from the sealed event chain.
pub async fn donor(
    state: &AppState,
    operator_id: i64,
    from: Option<&str>,
    to: Option<&str>,
) -> AppResult<DonorReportDone> {
    let (from, to) = period(from, to, state.now())?;
    let operator = state
        .store
        .get_operator(operator_id)
        .await?
        .ok_or(AppError::NotFound("operator"))?;
    // The whole chain is replayed: one of the heavy audit places.
    let _place = take_place(state)?;
    let snapshot = state.store.audit_snapshot().await?;
    let report = aside(move || {
        let mut chain: Vec<_> = snapshot.events.iter().filter(|e| e.seq.is_some()).collect();
        chain.sort_by_key(|e| e.seq);
        donor_report::donor_report(&chain, operator_id, from, to)
    })
    .await?;
    Ok(DonorReportDone {
        operator,
        from,
        to,
        report,
    })
}
