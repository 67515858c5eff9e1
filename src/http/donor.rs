//! The donor's report, for the coordinator and the auditors: JSON, or CSV
//! for a spreadsheet.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ProblemBody};
use super::extract::{ApiQuery, Reader};
use super::redemptions::csv_field;
use crate::app::AppState;
use crate::app::donor_report::{self, DonorReportDone};
use crate::audit::donor_report::Figures;
use crate::clock::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(donor))
}

/// The columns of the CSV, in order; the totals' lines have month `total`
/// and no structure, the associations' lines month `association` and the
/// association.
pub const DONOR_CSV_HEADER: &str = "month,structure_id,structure_name,resource,granted,issued,\
redeemed_count,redeemed_amount,voided,expired,lapsed,redemption_rate,median_days_to_redemption";

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DonorQuery {
    /// The operator (the donor) whose network the report covers.
    pub operator_id: i64,
    /// RFC 3339; the period starts here (included). Default: the start of
    /// the calendar month (UTC) `to` ends in, or of the current one.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339, after `from`; the period ends here (excluded). Default:
    /// the start of the calendar month (UTC) after `from`'s, or after the
    /// current one.
    #[param(format = DateTime)]
    pub to: Option<String>,
}

/// One month, structure and resource; or, in `totals`, one resource.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DonorLine {
    /// `YYYY-MM` (UTC); absent in totals.
    pub month: Option<String>,
    pub structure_id: Option<i64>,
    pub structure_name: Option<String>,
    /// `data_mb` (MB) or `voice` (days): amounts are in its unit.
    pub resource: String,
    pub granted: i64,
    pub issued: i64,
    /// Codes redeemed, less those reversed.
    pub redeemed_count: i64,
    /// Their amount, less the amount reversed.
    pub redeemed_amount: i64,
    pub voided: i64,
    pub expired: i64,
    pub lapsed: i64,
    /// redeemed_amount / issued, to four places; `null` if nothing issued.
    pub redemption_rate: Option<f64>,
    /// Median days from issue to redemption, to one place; `null` if none.
    pub median_days_to_redemption: Option<f64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DonorReportView {
    pub operator_id: i64,
    pub operator_name: String,
    pub from: String,
    pub to: String,
    pub rows: Vec<DonorLine>,
    pub totals: Vec<DonorLine>,
    /// Per association (a structure with members) and resource, over the
    /// whole period, its figures and its members' added up; `month` is
    /// absent, `structure_id` is the association's.
    pub associations: Vec<DonorLine>,
}

fn line(place: Option<(String, i64, String)>, resource: &str, f: &Figures) -> DonorLine {
    let (month, structure_id, structure_name) = match place {
        Some((month, id, name)) => (Some(month), Some(id), Some(name)),
        None => (None, None, None),
    };
    DonorLine {
        month,
        structure_id,
        structure_name,
        resource: resource.to_owned(),
        granted: f.granted,
        issued: f.issued,
        redeemed_count: f.redeemed_count,
        redeemed_amount: f.redeemed_amount,
        voided: f.voided,
        expired: f.expired,
        lapsed: f.lapsed,
        redemption_rate: f.redemption_rate(),
        median_days_to_redemption: f.median_days_to_redemption(),
    }
}

pub fn view(done: DonorReportDone) -> DonorReportView {
    let r = &done.report;
    let name = |id: i64| r.structure_names.get(&id).cloned().unwrap_or_default();
    DonorReportView {
        operator_id: done.operator.id,
        operator_name: done.operator.name.clone(),
        from: rfc3339(done.from),
        to: rfc3339(done.to),
        rows: r
            .rows
            .iter()
            .map(|row| {
                let place = (row.month.clone(), row.structure_id, name(row.structure_id));
                line(Some(place), &row.resource, &row.figures)
            })
            .collect(),
        totals: r
            .totals
            .iter()
            .map(|(resource, f)| line(None, resource, f))
            .collect(),
        associations: r
            .associations
            .iter()
            .map(|((id, resource), f)| {
                let mut l = line(None, resource, f);
                l.structure_id = Some(*id);
                l.structure_name = Some(name(*id));
                l
            })
            .collect(),
    }
}

/// The report as CSV: its rows, then its totals (see [`DONOR_CSV_HEADER`]).
pub fn csv(report: &DonorReportView) -> String {
    let mut body = String::from(DONOR_CSV_HEADER);
    body.push('\n');
    for l in report.rows.iter().chain(&report.totals) {
        body.push_str(&csv_line(l, "total"));
        body.push('\n');
    }
    for l in &report.associations {
        body.push_str(&csv_line(l, "association"));
        body.push('\n');
    }
    body
}

/// A name as a spreadsheet cell: one that starts like a formula is
/// prefixed with `'`, so that opening the file runs nothing.
pub(super) fn cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        csv_field(&format!("'{text}"))
    } else {
        csv_field(text)
    }
}

/// One line; `summary` stands for the month of a line that has none.
fn csv_line(l: &DonorLine, summary: &str) -> String {
    let number = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    [
        l.month.clone().unwrap_or_else(|| summary.into()),
        l.structure_id.map(|id| id.to_string()).unwrap_or_default(),
        cell(l.structure_name.as_deref().unwrap_or_default()),
        csv_field(&l.resource),
        l.granted.to_string(),
        l.issued.to_string(),
        l.redeemed_count.to_string(),
        l.redeemed_amount.to_string(),
        l.voided.to_string(),
        l.expired.to_string(),
        l.lapsed.to_string(),
        number(l.redemption_rate),
        number(l.median_days_to_redemption),
    ]
    .join(",")
}

/// What became of one operator's donation: per month (UTC), structure and
/// resource, granted, issued, redeemed (count and amount), voided, expired,
/// lapsed, the redemption rate and the median days from issue to
/// redemption; with totals per resource. The same replay of the event
/// chain as `GET /v1/audit/report`, so the figures agree with it.
#[utoipa::path(get, path = "/v1/reports/donor", tag = "reports", params(DonorQuery),
    responses((status = 200, description = "The report",
            content((DonorReportView = "application/json"), (String = "text/csv"))),
        (status = 404, body = ProblemBody, description = "no such operator"),
        (status = 422, body = ProblemBody),
        (status = 503, body = ProblemBody, description = "`busy`: too many reports at once")))]
async fn donor(
    State(state): State<AppState>,
    _caller: Reader,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<DonorQuery>,
) -> ApiResult<Response> {
    let done =
        donor_report::donor(&state, q.operator_id, q.from.as_deref(), q.to.as_deref()).await?;
    let report = view(done);
    let wants_csv = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    if !wants_csv {
        return Ok(Json(report).into_response());
    }
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        csv(&report),
    )
        .into_response())
}
