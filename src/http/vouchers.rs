//! The structure's API: balance, issue, list, read, QR code, void.

use std::num::NonZeroU32;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use governor::clock::{Clock as _, DefaultClock};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey, StructureCaller, page_limit};
pub use super::quota_precheck::current_balances;
use crate::app::AppState;
use crate::clock::rfc3339;
use crate::code::{KeySet, VoucherRef};
use crate::domain::minting::{voucher_from_row_id, voucher_row_id};
use crate::domain::{Balance, DomainError, MAX_REFERENCE_CHARS, VoucherState, check_text};
use crate::storage::{
    IdempotencyClaim, IssueRequest, RequestFingerprint, StoredAnswer, VoucherFilter, VoucherRow,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(balance))
        .routes(routes!(issue, list))
        .routes(routes!(read))
        .routes(routes!(qr_svg))
        .routes(routes!(void))
}

#[derive(Serialize, ToSchema)]
pub struct BalanceResponse {
    pub balances: Vec<Balance>,
}

/// The caller's balance per resource.
#[utoipa::path(get, path = "/v1/balance", tag = "structure",
    responses((status = 200, body = BalanceResponse), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn balance(
    State(state): State<AppState>,
    caller: StructureCaller,
) -> ApiResult<Json<BalanceResponse>> {
    let balances = current_balances(&state, caller.structure_id).await?;
    Ok(Json(BalanceResponse { balances }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueBody {
    /// Product id, e.g. `data-1gb`.
    #[schema(
        min_length = 1,
        max_length = 32,
        pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$",
        example = "data-1gb"
    )]
    pub product: String,
    /// How many codes, 1 to the server's limit (100 unless configured).
    #[schema(minimum = 1, maximum = 100)]
    pub count: i64,
    /// A short reference for the structure's own records (at most 64
    /// characters, not blank). Never personal data.
    #[schema(
        max_length = 64,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub reference: Option<String>,
}

/// A voucher as the structure sees it, with its code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VoucherView {
    /// Public reference: the code's first 8 symbols (`1EPM-BWHX`).
    pub serial: String,
    /// The code itself: a bearer secret, to print or hand over.
    pub code: String,
    pub product: String,
    pub resource: String,
    pub amount: i64,
    pub state: VoucherState,
    pub reference: Option<String>,
    pub issued_at: String,
    pub expires_at: String,
    /// Signed record of what this serial was issued as (Ed25519, base64url).
    pub attestation: String,
}

/// Renders a stored voucher, recomputing its code from the key set.
pub fn view(keys: &KeySet, row: &VoucherRow) -> Result<VoucherView, Problem> {
    let voucher = voucher_from_row_id(row.id).ok_or_else(|| {
        tracing::error!(id = row.id, "voucher row id out of range");
        Problem::internal()
    })?;
    let code = keys.codes.encode(voucher).ok_or_else(|| {
        tracing::error!(serial = %voucher, "no code key for a stored voucher");
        Problem::internal()
    })?;
    Ok(VoucherView {
        serial: voucher.to_string(),
        code: code.to_string(),
        product: row.product_id.clone(),
        resource: row.resource.clone(),
        amount: row.amount,
        state: row.state,
        reference: row.reference.clone(),
        issued_at: rfc3339(row.issued_at),
        expires_at: rfc3339(row.expires_at),
        attestation: row.attestation.clone(),
    })
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssueResponse {
    pub vouchers: Vec<VoucherView>,
}

/// Issues 1 to 100 codes of one product, within the caller's quota.
/// Send an `Idempotency-Key` to retry safely.
#[utoipa::path(post, path = "/v1/vouchers", tag = "structure", request_body = IssueBody,
    params(("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[ -~]*[!-~][ -~]*$",
        description = "Retry key, kept at least 24 h: visible ASCII")),
    responses((status = 201, body = IssueResponse),
        (status = 409, body = ProblemBody, description = "`quota_exceeded`, `idempotency_in_progress`"),
        (status = 422, body = ProblemBody, description = "`validation_failed`, `idempotency_conflict`"),
        (status = 429, body = ProblemBody, description = "`rate_limited`: this structure issues too fast")))]
async fn issue(
    State(state): State<AppState>,
    caller: StructureCaller,
    IdempotencyKey(key): IdempotencyKey,
    body: ApiJson<IssueBody>,
) -> ApiResult<impl IntoResponse> {
    let idempotency = key.map(|key| (key, RequestFingerprint::new("POST /v1/vouchers", &body.raw)));
    let vouchers = issue_vouchers(&state, &caller, &body.value, idempotency).await?;
    Ok((StatusCode::CREATED, Json(IssueResponse { vouchers })))
}

/// Issues codes for a structure: validation, the issuing rate limit, the
/// quota, metrics and the log line. Shared by the JSON API and the web desk,
/// which differ only in how they name a retry: `idempotency` is the key and
/// the fingerprint of the request it was first sent with.
pub async fn issue_vouchers(
    state: &AppState,
    caller: &StructureCaller,
    body: &IssueBody,
    idempotency: Option<(String, RequestFingerprint)>,
) -> ApiResult<Vec<VoucherView>> {
    state.ensure_integrity()?;
    let max = state.limits.max_issue_count;
    let count = usize::try_from(body.count)
        .ok()
        .filter(|c| (1..=max).contains(c))
        .ok_or_else(|| {
            Problem::validation("count", format!("count must be between 1 and {max}"))
        })?;
    let reference = check_text("reference", body.reference.as_deref(), MAX_REFERENCE_CHARS)?;
    let product = state
        .store
        .get_product(&body.product)
        .await?
        .filter(|p| p.active)
        .ok_or_else(|| Problem::validation("product", "no such product in the catalogue"))?;
    let idempotency = idempotency.map(|(key, fingerprint)| IdempotencyClaim {
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
        super::quota_precheck::check_quota_covers(state, caller.structure_id, &product, count)
            .await?;
        check_issue_rate(state, caller.structure_id, count)?;
    }
    let request = IssueRequest {
        principal: caller.principal,
        structure_id: caller.structure_id,
        product: &product,
        count,
        reference,
        idempotency,
    };
    let outcome = state
        .store
        .issue(&keys, &request, state.now())
        .await
        .map_err(|e| {
            if matches!(
                e,
                crate::storage::StorageError::Domain(DomainError::QuotaExceeded { .. })
            ) {
                state.metrics.quota_exceeded.inc();
            }
            Problem::from(e)
        })?;
    if !is_replay {
        state
            .metrics
            .codes_issued
            .inc_by(outcome.vouchers.len() as u64);
        tracing::info!(structure = caller.structure_id, product = %product.id, count, "issued");
    }
    outcome
        .vouchers
        .iter()
        .map(|row| view(&keys, row))
        .collect()
}

fn check_issue_rate(state: &AppState, structure_id: i64, count: usize) -> Result<(), Problem> {
    let Some(n) = u32::try_from(count).ok().and_then(NonZeroU32::new) else {
        return Ok(());
    };
    match state.issue_limiter.check_key_n(&structure_id, n) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(not_until)) => {
            state.metrics.rate_limited.inc();
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            Err(Problem::rate_limited(
                wait.as_secs() + 1,
                "this structure is issuing too many codes; please wait",
            ))
        }
        Err(_) => Err(Problem::validation(
            "count",
            "more codes than this structure's rate limit allows at once",
        )),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only vouchers in this state.
    #[param(value_type = Option<VoucherState>)]
    pub state: Option<String>,
    /// From a previous page's `next_cursor`.
    #[param(min_length = 1)]
    pub cursor: Option<String>,
    /// Page size, 1 to the server's page limit (500 unless configured);
    /// the default page size (100 unless configured) when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VoucherList {
    pub vouchers: Vec<VoucherView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

pub(crate) fn encode_cursor((at, id): (i64, i64)) -> String {
    URL_SAFE_NO_PAD.encode(format!("{at}.{id}"))
}

pub(crate) fn decode_cursor(text: &str) -> Option<(i64, i64)> {
    let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
    let (at, id) = std::str::from_utf8(&raw).ok()?.split_once('.')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// The caller's vouchers, newest first.
#[utoipa::path(get, path = "/v1/vouchers", tag = "structure", params(ListQuery),
    responses((status = 200, body = VoucherList),
        (status = 422, body = ProblemBody, description = "`validation_failed`: a bad filter, cursor or limit")))]
async fn list(
    State(state): State<AppState>,
    caller: StructureCaller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<VoucherList>> {
    let max = state.limits.max_page_size;
    let limit = page_limit(query.limit, state.limits.default_page_size, max)?;
    let filter_state = query
        .state
        .as_deref()
        .map(|s| {
            VoucherState::parse(s).ok_or_else(|| Problem::validation("state", "unknown state"))
        })
        .transpose()?;
    let after = query
        .cursor
        .as_deref()
        .map(|c| {
            decode_cursor(c)
                .ok_or_else(|| Problem::validation("cursor", "not a cursor from this API"))
        })
        .transpose()?;
    let filter = VoucherFilter {
        state: filter_state,
        after,
        limit,
    };
    let page = state
        .store
        .list_vouchers(caller.structure_id, &filter, state.now())
        .await?;
    let keys = state.keys.get();
    let vouchers = page
        .vouchers
        .iter()
        .map(|row| view(&keys, row))
        .collect::<Result<_, _>>()?;
    Ok(Json(VoucherList {
        vouchers,
        next_cursor: page.next.map(encode_cursor),
    }))
}

/// The row id a `{serial}` path names; anything unreadable names nothing.
fn serial_row_id(serial: &str) -> Result<i64, Problem> {
    VoucherRef::parse(serial)
        .map(voucher_row_id)
        .map_err(|_| Problem::not_found("voucher"))
}

pub(crate) async fn own_voucher(
    state: &AppState,
    caller: &StructureCaller,
    serial: &str,
) -> Result<VoucherRow, Problem> {
    let id = serial_row_id(serial)?;
    state
        .store
        .get_voucher(caller.structure_id, id, state.now())
        .await?
        .ok_or_else(|| Problem::not_found("voucher"))
}

/// One of the caller's vouchers; 404 for any other.
#[utoipa::path(get, path = "/v1/vouchers/{serial}", tag = "structure",
    params(("serial" = String, Path, description = "The code's first 8 symbols, dashes optional")),
    responses((status = 200, body = VoucherView), (status = 404, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody)))]
async fn read(
    State(state): State<AppState>,
    caller: StructureCaller,
    ApiPath(serial): ApiPath<String>,
) -> ApiResult<Json<VoucherView>> {
    let row = own_voucher(&state, &caller, &serial).await?;
    Ok(Json(view(&state.keys.get(), &row)?))
}

/// The voucher's code as a QR code (SVG), for printing.
#[utoipa::path(get, path = "/v1/vouchers/{serial}/qr.svg", tag = "structure",
    params(("serial" = String, Path, description = "The code's first 8 symbols, dashes optional")),
    responses((status = 200, content_type = "image/svg+xml", body = String), (status = 404, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn qr_svg(
    State(state): State<AppState>,
    caller: StructureCaller,
    ApiPath(serial): ApiPath<String>,
) -> ApiResult<impl IntoResponse> {
    let row = own_voucher(&state, &caller, &serial).await?;
    let voucher = view(&state.keys.get(), &row)?;
    let svg = crate::qr::svg(&voucher.code.replace('-', "")).ok_or_else(Problem::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    ))
}

/// Voids an unredeemed code; its quota is given back.
#[utoipa::path(post, path = "/v1/vouchers/{serial}/void", tag = "structure",
    params(("serial" = String, Path, description = "The code's first 8 symbols, dashes optional")),
    responses((status = 200, body = VoucherView), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "already_redeemed or reserved"),
        (status = 410, body = ProblemBody, description = "voided or expired"), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody)))]
async fn void(
    State(state): State<AppState>,
    caller: StructureCaller,
    ApiPath(serial): ApiPath<String>,
) -> ApiResult<Json<VoucherView>> {
    Ok(Json(void_voucher(&state, &caller, &serial).await?))
}

/// Voids one of the caller's codes. Shared with the web desk.
pub async fn void_voucher(
    state: &AppState,
    caller: &StructureCaller,
    serial: &str,
) -> ApiResult<VoucherView> {
    let id = serial_row_id(serial)?;
    let row = state
        .store
        .void_voucher(&caller.principal, caller.structure_id, id, state.now())
        .await?;
    tracing::info!(structure = caller.structure_id, serial = %serial, "voided");
    view(&state.keys.get(), &row)
}
