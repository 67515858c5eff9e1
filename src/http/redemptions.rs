//! The operator's API: check, redeem or reserve, confirm, cancel, reverse,
//! and statements.
//!
//! Every code goes through the same gate: rate limit, then
//! [`verify_code`]: format (precise errors), then authenticity (one opaque
//! `invalid_code`, counted as a failed attempt). A locked-out operator is
//! refused by `check` before any work, by a redemption inside its own
//! transaction (the batched writer checks every operator it carries), and
//! by a failed attempt when it is recorded. Writes go through the storage
//! layer's batched writer.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey, Operator, page_limit};
use crate::app::AppState;
use crate::clock::{parse_rfc3339, rfc3339};
use crate::code::{self, CodeError, VoucherRef};
use crate::domain::minting::{voucher_from_row_id, voucher_row_id};
use crate::domain::redemption::{RedemptionState, check_msisdn};
use crate::domain::{DomainError, MAX_REFERENCE_CHARS, VoucherState, check_text};
use crate::storage::write::{FollowUp, RecordFailure, Redeem};
use crate::storage::{
    FailureRecorded, Followup, IdempotencyClaim, Outcome, RedeemInput, RedeemMode,
    RedemptionRecord, RequestFingerprint, operator_source,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(check))
        .routes(routes!(redeem, statement))
        .routes(routes!(confirm))
        .routes(routes!(cancel))
        .routes(routes!(reverse))
}

/// Refuses a locked-out operator before any work. A redemption does not
/// ask: its batch checks the operator inside its transaction, and a failed
/// attempt is refused when it is recorded.
async fn refuse_locked_out(state: &AppState, token_id: i64) -> Result<(), Problem> {
    match state
        .store
        .locked_for(&operator_source(token_id), state.now())
        .await?
    {
        Some(secs) => Err(DomainError::LockedOut {
            retry_after_secs: secs,
        }
        .into()),
        None => Ok(()),
    }
}

/// Refuses a too-busy operator before any work.
fn admit(state: &AppState, token_id: i64) -> Result<(), Problem> {
    if let Err(not_until) = state.operator_limiter.check_key(&token_id) {
        state.metrics.rate_limited.inc();
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(Problem::rate_limited(
            wait.as_secs() + 1,
            "too many requests from this operator",
        ));
    }
    Ok(())
}

/// Counts a failed attempt; answers `invalid_code`, or `locked_out` once the
/// source has failed too often.
async fn failed_attempt(state: &AppState, token_id: i64, claimed: Option<VoucherRef>) -> Problem {
    state.metrics.invalid_codes.inc();
    // The serial the code claimed, never the code.
    let serial = claimed.map(|v| v.to_string()).unwrap_or_default();
    tracing::warn!(operator = token_id, %serial, "invalid code");
    let op = RecordFailure {
        source: operator_source(token_id),
        policy: state.limits.lockout_policy(),
    };
    match state.store.submit(op, state.now()).await {
        Ok(FailureRecorded::Counted(Some(secs))) => {
            tracing::warn!(
                operator = token_id,
                lockout_secs = secs,
                "operator locked out"
            );
            Problem::invalid_code()
        }
        Ok(FailureRecorded::AlreadyLocked(secs)) => DomainError::LockedOut {
            retry_after_secs: secs,
        }
        .into(),
        Ok(FailureRecorded::Counted(None)) => Problem::invalid_code(),
        Err(e) => e.into(),
    }
}

/// Steps 1–7 of the code format: a precise answer for a malformed code or a
/// typo, one opaque answer for anything inauthentic.
async fn verify_code(state: &AppState, token_id: i64, typed: &str) -> Result<VoucherRef, Problem> {
    let parsed = match code::parse(typed) {
        Ok(parsed) => parsed,
        Err(CodeError::Checksum) => {
            if state.typo_limiter.check_key(&token_id).is_err() {
                state.metrics.rate_limited.inc();
                return Err(Problem::rate_limited(
                    60,
                    "too many mistyped codes from this operator",
                ));
            }
            return Err(CodeError::Checksum.into());
        }
        Err(e) => return Err(e.into()),
    };
    match state.keys.get().codes.verify(&parsed) {
        Ok(voucher) => Ok(voucher),
        Err(_) => Err(failed_attempt(state, token_id, Some(parsed.voucher)).await),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckBody {
    /// The code as typed or scanned.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckAnswer {
    pub serial: String,
    pub product: String,
    pub resource: String,
    pub amount: i64,
    /// Days the top-up stays usable on the line once credited.
    pub validity_days: i64,
    pub state: VoucherState,
    /// Whether a redemption now would succeed (beneficiary caps aside).
    pub redeemable: bool,
    pub expires_at: String,
}

/// What a code is worth and whether it can be redeemed now. Changes nothing.
#[utoipa::path(post, path = "/v1/redemptions/check", tag = "operator", request_body = CheckBody,
    responses((status = 200, body = CheckAnswer), (status = 400, body = ProblemBody, description = "malformed_code, checksum_mismatch"),
        (status = 404, body = ProblemBody, description = "invalid_code"), (status = 422, body = ProblemBody),
        (status = 429, body = ProblemBody, description = "`rate_limited` or `locked_out`")))]
async fn check(
    State(state): State<AppState>,
    caller: Operator,
    body: ApiJson<CheckBody>,
) -> ApiResult<Json<CheckAnswer>> {
    let token_id = caller.principal.token_id;
    refuse_locked_out(&state, token_id).await?;
    admit(&state, token_id)?;
    let voucher = verify_code(&state, token_id, &body.value.code).await?;
    let Some(facts) = state
        .store
        .voucher_facts(voucher_row_id(voucher), state.now())
        .await?
    else {
        return Err(failed_attempt(&state, token_id, Some(voucher)).await);
    };
    Ok(Json(CheckAnswer {
        serial: voucher.to_string(),
        product: facts.product,
        resource: facts.resource,
        amount: facts.amount,
        validity_days: facts.validity_days,
        state: facts.state,
        redeemable: facts.state == VoucherState::Issued,
        expires_at: rfc3339(facts.expires_at),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    /// The code as typed or scanned.
    #[schema(min_length = 1, max_length = 64)]
    pub code: String,
    /// The beneficiary's number, E.164 (`+33612345678`). Only a keyed hash
    /// of it is stored.
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

fn view(r: &RedemptionRecord) -> Result<RedemptionView, Problem> {
    let serial = voucher_from_row_id(r.voucher_id).ok_or_else(Problem::internal)?;
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

/// Turns a writer outcome into an answer.
async fn answer(
    state: &AppState,
    token_id: i64,
    outcome: Result<Outcome, crate::storage::StorageError>,
    voucher: Option<VoucherRef>,
) -> Result<RedemptionRecord, Problem> {
    match outcome? {
        Outcome::Done(r) | Outcome::Replay(r) => Ok(r),
        Outcome::Refused(DomainError::InvalidCode) => {
            Err(failed_attempt(state, token_id, voucher).await)
        }
        Outcome::Refused(e) => Err(e.into()),
    }
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
    state.ensure_integrity()?;
    let token_id = caller.principal.token_id;
    admit(&state, token_id)?;
    let voucher = verify_code(&state, token_id, &body.value.code).await?;
    check_msisdn(&body.value.msisdn)?;
    let operator_ref = check_text(
        "operator_ref",
        body.value.operator_ref.as_deref(),
        MAX_REFERENCE_CHARS,
    )?;
    let keys = state.keys.get();
    let input = RedeemInput {
        operator_token_id: token_id,
        voucher_id: voucher_row_id(voucher),
        msisdn_hash: keys.hash_msisdn(&body.value.msisdn),
        operator_ref,
        mode: body.value.mode.unwrap_or(RedeemMode::Redeem),
        hold_secs: state.limits.hold_secs,
        caps: state.limits.beneficiary_caps.clone(),
        idempotency: key.map(|key| IdempotencyClaim {
            scope: operator_source(token_id),
            key,
            fingerprint: RequestFingerprint::new("POST /v1/redemptions", &body.raw),
        }),
    };
    let outcome = state.store.submit(Redeem(input), state.now()).await;
    let record = answer(&state, token_id, outcome, Some(voucher)).await?;
    tracing::info!(operator = token_id, serial = %voucher, state = RedemptionState::public_name(record.state), "redemption");
    Ok((StatusCode::CREATED, Json(view(&record)?)))
}

async fn follow_up(
    state: &AppState,
    caller: &Operator,
    id: &str,
    action: Followup,
) -> ApiResult<Json<RedemptionView>> {
    let token_id = caller.principal.token_id;
    let id: i64 = id.parse().map_err(|_| Problem::not_found("redemption"))?;
    let op = FollowUp {
        operator_token_id: token_id,
        redemption_id: id,
        action,
    };
    let outcome = state.store.submit(op, state.now()).await;
    let record = answer(state, token_id, outcome, None).await?;
    Ok(Json(view(&record)?))
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
    state.ensure_integrity()?;
    follow_up(&state, &caller, &id, Followup::Confirm).await
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
    follow_up(&state, &caller, &id, Followup::Cancel).await
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
    let window_secs = state.limits.reversal_window_secs;
    follow_up(&state, &caller, &id, Followup::Reverse { window_secs }).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// RFC 3339; redemptions redeemed at or after it.
    #[param(format = DateTime)]
    pub from: String,
    /// RFC 3339, after `from`; redemptions redeemed before it.
    #[param(format = DateTime)]
    pub to: String,
    /// From a previous page's `next_cursor`.
    #[param(pattern = r"^[0-9]{1,18}$")]
    pub cursor: Option<String>,
    /// Page size, 1 to the server's page limit (500 unless configured),
    /// which is also the default.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Statement {
    pub redemptions: Vec<RedemptionView>,
    pub next_cursor: Option<String>,
}

/// Columns of the CSV statement, in order; the auditor's reconciliation
/// reads the same.
pub const STATEMENT_CSV_HEADER: &str = "redemption_id,serial,product,resource,amount,validity_days,state,redeemed_at,ended_at,operator_ref";

fn csv_field(text: &str) -> String {
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
    let from =
        parse_rfc3339(&q.from).ok_or_else(|| Problem::validation("from", "an RFC 3339 time"))?;
    let to = parse_rfc3339(&q.to).ok_or_else(|| Problem::validation("to", "an RFC 3339 time"))?;
    if to <= from {
        return Err(Problem::validation("to", "must be after from"));
    }
    let max = state.limits.max_page_size;
    let limit = page_limit(q.limit, max, max)?;
    let after: i64 = match &q.cursor {
        None => 0,
        Some(c) => c
            .parse()
            .map_err(|_| Problem::validation("cursor", "not a cursor from this API"))?,
    };
    let records = state
        .store
        .statement(caller.principal.token_id, from, to, after, limit + 1)
        .await?;
    let more = records.len() > limit;
    let views = records
        .iter()
        .take(limit)
        .map(view)
        .collect::<Result<Vec<_>, _>>()?;
    let next_cursor = more
        .then(|| views.last().map(|v| v.id.to_string()))
        .flatten();
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(Statement {
            redemptions: views,
            next_cursor,
        })
        .into_response());
    }
    let mut body = String::from(STATEMENT_CSV_HEADER);
    body.push('\n');
    for v in &views {
        body.push_str(&csv_line(v));
        body.push('\n');
    }
    let mut response = ([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response();
    if let Some(cursor) = next_cursor {
        let link = format!(
            "</v1/redemptions?from={}&to={}&cursor={cursor}&limit={limit}>; rel=\"next\"",
            q.from.replace('+', "%2B"),
            q.to.replace('+', "%2B")
        );
        if let Ok(value) = header::HeaderValue::from_str(&link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}
