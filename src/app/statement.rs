//! A redemption as its operator sees it, and the operator's statement: its
//! redemptions redeemed over a period, in a stable order, page by page.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{AppError, AppResult, AppState};
use crate::clock::rfc3339;
use crate::domain::minting::voucher_from_row_id;
use crate::domain::redemption::RedemptionState;
use crate::storage::RedemptionRecord;

/// A redemption as the operator sees it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RedemptionView {
    pub id: i64,
    /// `redeemed`, `reserved`, `cancelled`, `timed_out` or `reversed`.
    pub state: String,
    pub serial: String,
    pub product: String,
    pub resource: String,
    /// What to credit, in the resource's unit.
    pub amount: i64,
    pub validity_days: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redeemed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hold_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator_ref: Option<String>,
}

/// Renders a stored redemption.
pub fn view(r: &RedemptionRecord) -> AppResult<RedemptionView> {
    let serial = voucher_from_row_id(r.voucher_id).ok_or_else(|| {
        tracing::error!(id = r.voucher_id, "voucher row id out of range");
        AppError::Internal("voucher row id out of range")
    })?;
    Ok(RedemptionView {
        id: r.id,
        state: RedemptionState::public_name(r.state).to_owned(),
        serial: serial.to_string(),
        product: r.product.clone(),
        resource: r.resource.clone(),
        amount: r.amount,
        validity_days: r.validity_days,
        redeemed_at: r.redeemed_at.map(rfc3339),
        hold_expires_at: r
            .hold_expires_at
            .filter(|_| r.state == RedemptionState::Reserved)
            .map(rfc3339),
        ended_at: r.ended_at.map(rfc3339),
        operator_ref: r.operator_ref.clone(),
    })
}

/// Which page of a statement, as the operator named it (still unchecked).
#[derive(Debug, Clone, Copy)]
pub struct StatementRequest<'a> {
    /// RFC 3339; redemptions redeemed at or after it. Default: the start
    /// of the current calendar month.
    pub from: Option<&'a str>,
    /// RFC 3339, after `from`; redemptions redeemed before it. Default: the
    /// start of the next calendar month.
    pub to: Option<&'a str>,
    pub cursor: Option<&'a str>,
    /// Page size, already within the server's limits.
    pub limit: usize,
}

/// One page of a statement.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    /// The period covered, as asked or by default (RFC 3339).
    pub from: String,
    pub to: String,
    pub redemptions: Vec<RedemptionView>,
    pub next_cursor: Option<String>,
}

/// The operator's redemptions redeemed in `[from, to)`, by id, whichever
/// of its tokens made them.
pub async fn statement(
    state: &AppState,
    operator_id: i64,
    request: StatementRequest<'_>,
) -> AppResult<Statement> {
    let (from, to) = super::period(request.from, request.to, state.now())?;
    let after: i64 = match request.cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| AppError::invalid("cursor", "not a cursor from this API"))?,
    };
    let limit = request.limit;
    let records = state
        .store
        .statement(operator_id, from, to, after, limit + 1)
        .await?;
    let more = records.len() > limit;
    let redemptions = records
        .iter()
        .take(limit)
        .map(view)
        .collect::<AppResult<Vec<_>>>()?;
    let next_cursor = more
        .then(|| redemptions.last().map(|v| v.id.to_string()))
        .flatten();
    Ok(Statement {
        from: crate::clock::rfc3339(from),
        to: crate::clock::rfc3339(to),
        redemptions,
        next_cursor,
    })
}
