//! The structure's API: balance, issue, list, read, QR code, void.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, IdempotencyKey, StructureCaller, page_limit};
use crate::app::AppState;
use crate::app::balances::current_balances;
use crate::app::issue::{self, IssueOrder};
use crate::app::vouchers::{self, ListRequest};
pub use crate::app::vouchers::{VoucherList, VoucherView};
use crate::code::Format;
use crate::domain::{Balance, VoucherState};
use crate::storage::RequestFingerprint;

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
    /// `code` (letters and digits, for smartphones and slips) or `pin`
    /// (twenty digits, for basic phones); the product's format when absent.
    pub format: Option<Format>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IssueResponse {
    /// The lot these vouchers make: `GET /v1/lots/{lot}`.
    pub lot: i64,
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
    let retry = key.map(|key| (key, RequestFingerprint::new("POST /v1/vouchers", &body.raw)));
    let vouchers = issue::issue(&state, &caller, order(&body.value), retry).await?;
    let lot = vouchers.first().map_or(0, |v| v.lot);
    Ok((StatusCode::CREATED, Json(IssueResponse { lot, vouchers })))
}

/// The order an issue body makes.
pub fn order(body: &IssueBody) -> IssueOrder<'_> {
    IssueOrder {
        product: &body.product,
        count: body.count,
        reference: body.reference.as_deref(),
        format: body.format,
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

/// The caller's vouchers, newest first.
#[utoipa::path(get, path = "/v1/vouchers", operation_id = "list_vouchers", tag = "structure", params(ListQuery),
    responses((status = 200, body = VoucherList),
        (status = 422, body = ProblemBody, description = "`validation_failed`: a bad filter, cursor or limit")))]
async fn list(
    State(state): State<AppState>,
    caller: StructureCaller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<Json<VoucherList>> {
    let max = state.limits.max_page_size;
    let request = ListRequest {
        state: query.state.as_deref(),
        cursor: query.cursor.as_deref(),
        limit: page_limit(query.limit, state.limits.default_page_size, max)?,
    };
    Ok(Json(vouchers::list(&state, &caller, &request).await?))
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
    Ok(Json(vouchers::read(&state, &caller, &serial).await?))
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
    let voucher = vouchers::read(&state, &caller, &serial).await?;
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
    Ok(Json(vouchers::void(&state, &caller, &serial).await?))
}
