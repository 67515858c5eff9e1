//! A structure's lots over the API: read one (JSON, or CSV with
//! `Accept: text/csv`) and void every unredeemed voucher of one at once.
//! A lot carries public references, products and states, never codes.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::donor::cell;
use super::error::{ApiResult, ProblemBody};
use super::extract::{ApiJson, ApiPath, StructureCaller};
use crate::app::{AppResult, AppState, lots};
use crate::clock::rfc3339;
use crate::domain::VoucherState;
use crate::storage::VoucherRow;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read_lot))
        .routes(routes!(void_lot))
}

/// One voucher of a lot, without its code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LotVoucher {
    pub serial: String,
    pub product: String,
    pub state: VoucherState,
    pub reference: Option<String>,
    pub issued_at: String,
    pub expires_at: String,
    /// When it last changed state (its issue, redemption, void…).
    pub state_changed_at: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LotView {
    pub lot: i64,
    pub vouchers: Vec<LotVoucher>,
}

/// A lot as the API and the desk's export show it.
pub fn lot_view(lot: i64, rows: &[VoucherRow]) -> AppResult<LotView> {
    let vouchers = rows
        .iter()
        .map(|r| {
            Ok(LotVoucher {
                serial: lots::serial(r)?,
                product: r.product_id.clone(),
                state: r.state,
                reference: r.reference.clone(),
                issued_at: rfc3339(r.issued_at),
                expires_at: rfc3339(r.expires_at),
                state_changed_at: rfc3339(r.state_changed_at),
            })
        })
        .collect::<AppResult<_>>()?;
    Ok(LotView { lot, vouchers })
}

/// The columns of a lot's CSV.
pub const LOT_CSV_HEADER: &str =
    "lot,serial,product,state,reference,issued_at,expires_at,state_changed_at";

/// A lot as CSV: one line per voucher; texts people typed cannot run as
/// spreadsheet formulas.
pub fn lot_csv(view: &LotView) -> String {
    let mut out = String::from(LOT_CSV_HEADER);
    out.push('\n');
    for v in &view.vouchers {
        let line = [
            view.lot.to_string(),
            v.serial.clone(),
            cell(&v.product),
            v.state.as_str().to_owned(),
            cell(v.reference.as_deref().unwrap_or_default()),
            v.issued_at.clone(),
            v.expires_at.clone(),
            v.state_changed_at.clone(),
        ]
        .join(",");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// The vouchers of one of the caller's lots and their states.
#[utoipa::path(get, path = "/v1/lots/{lot}", tag = "structure",
    params(("lot" = i64, Path, description = "The lot number, as answered by `POST /v1/vouchers`")),
    responses((status = 200, description = "The lot",
            content((LotView = "application/json"), (String = "text/csv"))),
        (status = 404, body = ProblemBody, description = "no such lot for this structure"),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn read_lot(
    State(state): State<AppState>,
    caller: StructureCaller,
    headers: HeaderMap,
    ApiPath(lot): ApiPath<i64>,
) -> ApiResult<Response> {
    let rows = lots::read(&state, &caller, lot).await?;
    let view = lot_view(lot, &rows)?;
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if wants_csv {
        let csv = lot_csv(&view);
        return Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response());
    }
    Ok(Json(view).into_response())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LotVoidBody {
    /// Why, in a few words ("feuille perdue"); never personal data. At
    /// most 200 characters, not blank.
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LotVoided {
    pub lot: i64,
    /// Vouchers voided now, their quota given back.
    pub voided: u64,
    /// Vouchers found past their date: recorded as expired instead.
    pub expired: u64,
}

/// Voids every unredeemed voucher of a lot, in one transaction, each with
/// the reason; redeemed and reserved ones stay as they are.
#[utoipa::path(post, path = "/v1/lots/{lot}/void", tag = "structure", request_body = LotVoidBody,
    params(("lot" = i64, Path)),
    responses((status = 200, body = LotVoided),
        (status = 404, body = ProblemBody, description = "no such lot for this structure"),
        (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn void_lot(
    State(state): State<AppState>,
    caller: StructureCaller,
    ApiPath(lot): ApiPath<i64>,
    body: ApiJson<LotVoidBody>,
) -> ApiResult<Json<LotVoided>> {
    let done = lots::void(&state, &caller, lot, &body.value.reason).await?;
    Ok(Json(LotVoided {
        lot,
        voided: done.voided,
        expired: done.expired,
    }))
}
