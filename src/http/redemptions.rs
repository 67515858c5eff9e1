//! The operator's API: check, redeem or reserve, confirm, cancel, reverse,
//! and statements.
//!
//! Every code goes through the same gate (`crate::app::redeem`): a barred
//! line first, then the rate limit, then format (precise errors), then
//! authenticity (one opaque `invalid_code`, counted as a failed attempt
//! against the operator and the line). A locked-out operator is
//! refused by `check` before any work, by a redemption inside its own
//! transaction (the batched writer checks every operator it carries), and
//! by a failed attempt when it is recorded. Writes go through the storage
//! layer's batched writer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ProblemBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey, Operator, page_limit};
use crate::app::AppState;
pub use crate::app::redeem::CheckAnswer;
use crate::app::redeem::{self, FollowUp, OperatorCaller, RedeemOrder};
use crate::app::statement::{self, StatementRequest};
pub use crate::app::statement::{RedemptionView, Statement};
use crate::storage::{RedeemMode, RequestFingerprint};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(redeem, statement))
        .routes(routes!(confirm))
        .routes(routes!(cancel))
        .routes(routes!(reverse))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// The code or PIN as typed or scanned.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// The subscriber's number, E.164, when the operator knows it (a USSD
    /// or voice gateway always does): an invalid code then counts towards
    /// barring that line, and a barred line is answered `locked_out`. Only
    /// a keyed hash of it is kept.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+33612345678")]
    pub msisdn: Option<String>,
}

/// What a code or PIN is worth and whether it can be redeemed now.
/// Changes nothing but failure counts.
#[utoipa::path(post, path = "/v1/redemptions/check", tag = "operator", request_body = CheckBody,
    responses((status = 200, body = CheckAnswer), (status = 400, body = ProblemBody, description = "malformed_code, checksum_mismatch"),
        (status = 404, body = ProblemBody, description = "invalid_code"), (status = 422, body = ProblemBody),
        (status = 429, body = ProblemBody, description = "`rate_limited` or `locked_out`")))]
async fn check(
    State(state): State<AppState>,
    caller: Operator,
    body: ApiJson<CheckBody>,
) -> ApiResult<Json<CheckAnswer>> {
    let body = &body.value;
    let caller = OperatorCaller::of(&caller.principal)?;
    let answer = redeem::check(&state, caller, &body.code, body.msisdn.as_deref()).await?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    /// The code or PIN as typed or scanned.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// The beneficiary's number, E.164 (`+33612345678`). Only a keyed hash
    /// of it is stored. A line that sends too many invalid codes is barred
    /// (`locked_out`, 429 with `Retry-After`) before its code is read.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+33612345678")]
    pub msisdn: String,
    /// The operator's own reference (at most 64 characters, not blank, no
    /// personal data).
    #[schema(
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub operator_ref: Option<String>,
    /// `redeem` (the default) or `reserve`.
    pub mode: Option<RedeemMode>,
}

/// Redeems a code (default) or reserves it for `hold` seconds. Send an
/// `Idempotency-Key` to retry safely.
#[utoipa::path(post, path = "/v1/redemptions", tag = "operator", request_body = RedeemBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[ -~]*[!-~][ -~]*$",
        description = "Retry key, kept at least 24 h: visible ASCII")),
    responses((status = 201, body = RedemptionView),
        (status = 400, body = ProblemBody, description = "malformed_code, checksum_mismatch"),
        (status = 404, body = ProblemBody, description = "invalid_code"),
        (status = 409, body = ProblemBody, description = "already_redeemed, reserved, beneficiary_cap_reached, idempotency_in_progress"),
        (status = 410, body = ProblemBody, description = "voided, expired"),
        (status = 422, body = ProblemBody, description = "validation_failed, idempotency_conflict"),
        (status = 429, body = ProblemBody, description = "rate_limited, locked_out")))]
async fn redeem(
    State(state): State<AppState>,
    caller: Operator,
    IdempotencyKey(key): IdempotencyKey,
    body: ApiJson<RedeemBody>,
) -> ApiResult<impl IntoResponse> {
    let order = RedeemOrder {
        code: &body.value.code,
        msisdn: &body.value.msisdn,
        operator_ref: body.value.operator_ref.as_deref(),
        mode: body.value.mode.unwrap_or(RedeemMode::Redeem),
    };
    let retry = key.map(|key| {
        (
            key,
            RequestFingerprint::new("POST /v1/redemptions", &body.raw),
        )
    });
    let caller = OperatorCaller::of(&caller.principal)?;
    let view = redeem::redeem(&state, caller, order, retry).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// Confirms, cancels or reverses the redemption `id` names.
async fn follow_up(
    state: &AppState,
    caller: &Operator,
    id: &str,
    action: FollowUp,
) -> ApiResult<Json<RedemptionView>> {
    let caller = OperatorCaller::of(&caller.principal)?;
    let view = redeem::follow_up(state, caller, id, action).await?;
    Ok(Json(view))
}

/// Confirms a reserved code: credit the line. Repeating it answers the same.
#[utoipa::path(post, path = "/v1/redemptions/{id}/confirm", tag = "operator",
    params(("id" = i64, Path, description = "Redemption id")),
    responses((status = 200, body = RedemptionView), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "hold_expired, cancelled, reversed"),
        (status = 429, body = ProblemBody, description = "`rate_limited` or `locked_out`")))]
async fn confirm(
    State(state): State<AppState>,
    caller: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RedemptionView>> {
    follow_up(&state, &caller, &id, FollowUp::Confirm).await
}

/// Releases a reserved code; it can be redeemed again. Repeating it answers the same.
#[utoipa::path(post, path = "/v1/redemptions/{id}/cancel", tag = "operator",
    params(("id" = i64, Path, description = "Redemption id")),
    responses((status = 200, body = RedemptionView), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "already_redeemed, reversed"),
        (status = 429, body = ProblemBody, description = "`rate_limited` or `locked_out`")))]
async fn cancel(
    State(state): State<AppState>,
    caller: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RedemptionView>> {
    follow_up(&state, &caller, &id, FollowUp::Cancel).await
}

/// Undoes a redemption within the reversal window, when the line could not
/// be credited; the code can be redeemed again. Recorded, never erased.
#[utoipa::path(post, path = "/v1/redemptions/{id}/reverse", tag = "operator",
    params(("id" = i64, Path, description = "Redemption id")),
    responses((status = 200, body = RedemptionView), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "reversal_window_closed, reserved, cancelled, hold_expired"),
        (status = 429, body = ProblemBody, description = "`rate_limited` or `locked_out`")))]
async fn reverse(
    State(state): State<AppState>,
    caller: Operator,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<RedemptionView>> {
    follow_up(&state, &caller, &id, FollowUp::Reverse).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// RFC 3339; redemptions redeemed at or after it. Default: the start
    /// of the calendar month (UTC) `to` ends in, or of the current one.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339, after `from`; redemptions redeemed before it. Default:
    /// the start of the calendar month (UTC) after `from`'s, or after the
    /// current one.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// From a previous page's `next_cursor`.
    #[param(pattern = r"^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to the server's page limit (500 unless configured),
    /// which is also the default.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// Columns of the CSV statement, in order; the auditor's reconciliation
/// reads the same.
pub const STATEMENT_CSV_HEADER: &str = "redemption_id,serial,product,resource,amount,validity_days,state,redeemed_at,ended_at,operator_ref";

pub(super) fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn csv_line(v: &RedemptionView) -> String {
    [
        v.id.to_string(),
        v.serial.clone(),
        csv_field(&v.product),
        csv_field(&v.resource),
        v.amount.to_string(),
        v.validity_days.to_string(),
        v.state.clone(),
        v.redeemed_at.clone().unwrap_or_default(),
        v.ended_at.clone().unwrap_or_default(),
        csv_field(v.operator_ref.as_deref().unwrap_or_default()),
    ]
    .join(",")
}

/// The caller's redemptions redeemed in `[from, to)`, in a stable order:
/// JSON, or CSV with `Accept: text/csv` (next page in the `Link` header).
#[utoipa::path(get, path = "/v1/redemptions", tag = "operator", params(StatementQuery),
    responses((status = 200, description = "The statement; the CSV's next page is in the `Link` header",
            content((Statement = "application/json"), (String = "text/csv"))),
        (status = 422, body = ProblemBody, description = "`validation_failed`: a bad period, cursor or limit")))]
async fn statement(
    State(state): State<AppState>,
    caller: Operator,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StatementQuery>,
) -> ApiResult<Response> {
    let max = state.limits.max_page_size;
    let limit = page_limit(q.limit, max, max)?;
    let request = StatementRequest {
        from: q.from.as_deref(),
        to: q.to.as_deref(),
        cursor: q.cursor.as_deref(),
        limit,
    };
    let caller = OperatorCaller::of(&caller.principal)?;
    let page = statement::statement(&state, caller.operator_id, request).await?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(page).into_response());
    }
    let mut body = String::from(STATEMENT_CSV_HEADER);
    body.push('\n');
    for v in &page.redemptions {
        body.push_str(&csv_line(v));
        body.push('\n');
    }
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Some(cursor) = page.next_cursor {
        let link = format!(
            "</v1/redemptions?from={}&to={}&cursor={cursor}&limit={limit}>; rel=\"next\"",
            page.from.replace('+', "%2B"),
            page.to.replace('+', "%2B")
        );
        if let Ok(value) = header::HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}
