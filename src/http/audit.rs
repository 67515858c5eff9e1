//! The auditor's API (read-only): period reports with invariant results, the
//! hash-chained event log, signed checkpoints, and reconciliation of an
//! operator's statement. And the admin's view of integrity alarms.

use axum::Json;
use axum::body::Body;

use axum::extract::{FromRequestParts, State};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{Admin, ApiQuery, Auditor, page_limit, require_media_type};
use crate::app::AppState;
use crate::app::audit::{self, AuditPlace};
use crate::audit::report::ReportRow;
use crate::audit::{Finding, reconcile};
use crate::clock::rfc3339;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(audit_report))
        .routes(routes!(audit_events))
        .routes(routes!(audit_checkpoints))
        .routes(routes!(audit_reconcile))
        .routes(routes!(integrity_status))
        .routes(routes!(integrity_acknowledge))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
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

/// One structure's resource over the period.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReportRowView {
    pub structure_id: i64,
    /// The network the quota is for.
    pub operator_id: i64,
    pub resource: String,
    pub opening: i64,
    pub granted: i64,
    pub lapsed: i64,
    pub issued: i64,
    pub voided: i64,
    pub expired: i64,
    /// Amount of the codes redeemed in the period.
    pub redeemed: i64,
    pub redeemed_count: i64,
    pub reversed: i64,
    /// Arrived from the tree: allocations from its association, claw-backs
    /// from its members.
    pub received: i64,
    /// Left for the tree.
    pub sent: i64,
    pub closing: i64,
    /// opening + granted + received − sent − lapsed − issued + voided +
    /// expired = closing.
    pub adds_up: bool,
}

impl From<ReportRow> for ReportRowView {
    fn from(r: ReportRow) -> Self {
        Self {
            adds_up: r.balances(),
            structure_id: r.structure_id,
            operator_id: r.operator_id,
            resource: r.resource,
            opening: r.opening,
            granted: r.granted,
            lapsed: r.lapsed,
            issued: r.issued,
            voided: r.voided,
            expired: r.expired,
            redeemed: r.redeemed,
            redeemed_count: r.redeemed_count,
            reversed: r.reversed,
            received: r.received,
            sent: r.sent,
            closing: r.closing,
        }
    }
}

/// One invariant and whether it holds now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvariantView {
    pub name: String,
    pub holds: bool,
    /// How many findings break it.
    pub findings: usize,
}

/// One inconsistency found.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct FindingView {
    pub check: String,
    pub table: String,
    pub row: String,
    pub detail: String,
    pub expected: Option<String>,
    pub found: Option<String>,
    pub delta: Option<i64>,
}

impl From<&Finding> for FindingView {
    fn from(f: &Finding) -> Self {
        Self {
            check: f.check.to_owned(),
            table: f.table.to_owned(),
            row: f.row.clone(),
            detail: f.detail.clone(),
            expected: f.expected.clone(),
            found: f.found.clone(),
            delta: f.delta,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Report {
    pub from: String,
    pub to: String,
    pub rows: Vec<ReportRowView>,
    /// The rows added up per association (a structure with members), under
    /// the association's `structure_id`.
    pub associations: Vec<ReportRowView>,
    pub invariants: Vec<InvariantView>,
    pub findings: Vec<FindingView>,
}

/// A place among the heavy audit requests that may run at once
/// (`max_concurrent_audits`); held for the whole request. None left: 503
/// `busy` at once, rather than a queue of requests each holding memory.
#[derive(Debug)]
pub struct AuditSlot(#[allow(dead_code)] AuditPlace);

impl FromRequestParts<AppState> for AuditSlot {
    type Rejection = Problem;

    async fn from_request_parts(_: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        Ok(AuditSlot(audit::take_place(state)?))
    }
}

/// Per structure and resource: opening balance, granted, lapsed, issued,
/// voided, expired, redeemed, reversed, closing; and each invariant's result.
#[utoipa::path(get, path = "/v1/audit/report", tag = "auditor", params(PeriodQuery),
    responses((status = 200, body = Report), (status = 422, body = ProblemBody),
        (status = 503, body = ProblemBody, description = "`busy` (with `Retry-After`): too many reports or reconciliations at once")))]
async fn audit_report(
    State(state): State<AppState>,
    _caller: Auditor,
    _slot: AuditSlot,
    ApiQuery(q): ApiQuery<PeriodQuery>,
) -> ApiResult<Json<Report>> {
    let done = audit::report(&state, q.from.as_deref(), q.to.as_deref()).await?;
    let rows = done.rows.into_iter().map(ReportRowView::from).collect();
    let associations = done
        .associations
        .into_iter()
        .map(ReportRowView::from)
        .collect();
    let invariants = done
        .invariants
        .iter()
        .map(|&(name, findings)| InvariantView {
            name: name.to_owned(),
            holds: findings == 0,
            findings,
        })
        .collect();
    Ok(Json(Report {
        associations,
        from: rfc3339(done.from),
        to: rfc3339(done.to),
        rows,
        invariants,
        findings: done.findings.iter().map(FindingView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AfterQuery {
    /// Only entries with a seq above this (0, the default, for the first page).
    pub after: Option<i64>,
    /// Page size, 1 to the server's page limit (500 unless configured);
    /// the default page size (100 unless configured) when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

impl AfterQuery {
    /// Where the page starts and how long it may be, within the list limits.
    fn page(&self, state: &AppState) -> Result<(i64, usize), Problem> {
        let limit = page_limit(
            self.limit,
            state.limits.default_page_size,
            state.limits.max_page_size,
        )?;
        Ok((self.after.unwrap_or(0).max(0), limit))
    }
}

fn as_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The `after` of the next page: the last seq, when the page is full.
fn next_after(seqs: impl ExactSizeIterator<Item = i64>, limit: usize) -> Option<i64> {
    let full = seqs.len() == limit;
    seqs.last().filter(|_| full)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub seq: i64,
    pub at: String,
    /// Unix seconds, as hashed.
    pub at_secs: i64,
    pub kind: String,
    /// `account:N` for a person, `token:N` for a token, `system`…
    pub actor: String,
    /// The person's name ("Amina B.") when the actor is an account; not
    /// part of the hash.
    pub actor_name: Option<String>,
    pub structure_id: Option<i64>,
    pub voucher_id: Option<i64>,
    /// The event's details: JSON text exactly as hashed.
    pub data: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EventPage {
    pub events: Vec<EventView>,
    /// The `after` of the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// The hash-chained event log, in chain order. Each event's hash is SHA-256
/// over its canonical encoding (see ARCHITECTURE.md), which includes the
/// previous event's hash.
#[utoipa::path(get, path = "/v1/audit/events", tag = "auditor", params(AfterQuery),
    responses((status = 200, body = EventPage), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn audit_events(
    State(state): State<AppState>,
    _caller: Auditor,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> ApiResult<Json<EventPage>> {
    let (after, limit) = q.page(&state)?;
    let rows = state.store.events_after(after, as_i64(limit)).await?;
    let events: Vec<EventView> = rows
        .into_iter()
        .map(|(e, actor_name)| EventView {
            seq: e.seq.unwrap_or(0),
            at: rfc3339(e.at),
            at_secs: e.at,
            kind: e.kind,
            actor: e.actor,
            actor_name,
            structure_id: e.structure_id,
            voucher_id: e.voucher_id,
            data: e.data,
            prev_hash: e.prev_hash.unwrap_or_default(),
            hash: e.hash.unwrap_or_default(),
        })
        .collect();
    let next_after = next_after(events.iter().map(|e| e.seq), limit);
    Ok(Json(EventPage { events, next_after }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckpointView {
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub at_secs: i64,
    /// The signing key, as published at `GET /v1/keys`.
    pub key_id: i64,
    /// Ed25519 over `RTC1 ‖ seq ‖ hash ‖ at`, base64url without padding.
    pub signature: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckpointPage {
    pub checkpoints: Vec<CheckpointView>,
    pub next_after: Option<i64>,
}

/// Signed chain heads, oldest first.
#[utoipa::path(get, path = "/v1/audit/checkpoints", tag = "auditor", params(AfterQuery),
    responses((status = 200, body = CheckpointPage), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn audit_checkpoints(
    State(state): State<AppState>,
    _caller: Auditor,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> ApiResult<Json<CheckpointPage>> {
    let (after, limit) = q.page(&state)?;
    let rows = state.store.checkpoints_after(after, as_i64(limit)).await?;
    let checkpoints: Vec<CheckpointView> = rows
        .into_iter()
        .map(|c| CheckpointView {
            seq: c.seq,
            hash: c.hash,
            at: rfc3339(c.at),
            at_secs: c.at,
            key_id: c.key_id,
            signature: c.signature,
        })
        .collect();
    let next_after = next_after(checkpoints.iter().map(|c| c.seq), limit);
    Ok(Json(CheckpointPage {
        checkpoints,
        next_after,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReconcileQuery {
    /// RFC 3339; the statement covers redemptions redeemed from here.
    /// Default: the start of the calendar month (UTC) `to` ends in, or of
    /// the current one.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339, after `from`; … until here (excluded). Default: the start
    /// of the calendar month (UTC) after `from`'s, or after the current one.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// The operator whose statement it is (all its tokens); all operators
    /// if absent.
    pub operator_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineView {
    pub redemption_id: i64,
    pub serial: String,
    pub product: String,
    pub amount: i64,
    pub state: String,
}

impl From<reconcile::Line> for LineView {
    fn from(l: reconcile::Line) -> Self {
        Self {
            redemption_id: l.redemption_id,
            serial: l.serial,
            product: l.product,
            amount: l.amount,
            state: l.state,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct DiscrepancyView {
    /// `missing_from_statement`, `not_redeemed_here`, `amount_differs`,
    /// `serial_differs`, `product_differs`, `state_differs`, `duplicate_line`.
    pub kind: String,
    pub redemption_id: i64,
    pub here: Option<LineView>,
    pub statement: Option<LineView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Reconciliation {
    pub from: String,
    pub to: String,
    pub statement_lines: usize,
    pub redemptions_here: usize,
    pub matched: usize,
    pub discrepancies: Vec<DiscrepancyView>,
}

/// Reconciles an operator statement (the CSV `GET /v1/redemptions`
/// exports) with the redemptions recorded here, both ways.
#[utoipa::path(post, path = "/v1/audit/reconcile", tag = "auditor", params(ReconcileQuery),
    request_body(content = String, content_type = "text/csv",
        description = "The operator's statement, as `GET /v1/redemptions` exports it with `Accept: text/csv`"),
    responses((status = 200, body = Reconciliation), (status = 413, body = ProblemBody),
        (status = 422, body = ProblemBody), (status = 503, body = ProblemBody, description = "`busy` (with `Retry-After`): too many reports or reconciliations at once")))]
async fn audit_reconcile(
    State(state): State<AppState>,
    _caller: Auditor,
    // Taken before the body is read: statements waiting for a place hold
    // no memory.
    _slot: AuditSlot,
    ApiQuery(q): ApiQuery<ReconcileQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Json<Reconciliation>> {
    // The statement is the CSV `GET /v1/redemptions` exports, and says so.
    require_media_type(&headers, |m| m == "text/csv", "text/csv")?;
    let period = audit::period(q.from.as_deref(), q.to.as_deref(), state.now())?;
    let limit = state.limits.max_statement_bytes;
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| Problem::payload_too_large(limit))?;
    let done = audit::reconcile(&state, period, q.operator_id, &bytes).await?;
    Ok(Json(Reconciliation {
        from: rfc3339(done.from),
        to: rfc3339(done.to),
        statement_lines: done.statement_lines,
        redemptions_here: done.redemptions_here,
        matched: done.matched,
        discrepancies: done
            .discrepancies
            .into_iter()
            .map(|d| DiscrepancyView {
                kind: d.kind.to_owned(),
                redemption_id: d.redemption_id,
                here: d.here.map(LineView::from),
                statement: d.statement.map(LineView::from),
            })
            .collect(),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct IntegrityStatus {
    /// Whether issuing and redemption are halted on this server.
    pub halted: bool,
    /// The open alarm, if any.
    pub alarm_id: Option<i64>,
    pub raised_at: Option<String>,
    /// Its findings, as recorded.
    pub findings: Option<serde_json::Value>,
}

/// Whether an integrity alarm is open, and what it found.
#[utoipa::path(get, path = "/v1/integrity", tag = "admin",
    responses((status = 200, body = IntegrityStatus), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn integrity_status(
    State(state): State<AppState>,
    _caller: Admin,
) -> ApiResult<Json<IntegrityStatus>> {
    let alarm = state.store.open_alarm().await?;
    Ok(Json(IntegrityStatus {
        halted: state.integrity.is_halted() || alarm.is_some(),
        alarm_id: alarm.as_ref().map(|a| a.id),
        raised_at: alarm.as_ref().map(|a| rfc3339(a.raised_at)),
        findings: alarm.and_then(|a| serde_json::from_str(&a.findings).ok()),
    }))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Acknowledged {
    pub acknowledged: u64,
    /// Whether issuing and redemption are still halted (a new check found
    /// something not yet acknowledged).
    pub halted: bool,
}

/// Acknowledges the open integrity alarms: their findings are accepted as
/// they are, and issuing and redemption resume unless the check, run again
/// at once, finds something new.
#[utoipa::path(post, path = "/v1/integrity/acknowledge", tag = "admin",
    responses((status = 200, body = Acknowledged), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn integrity_acknowledge(
    State(state): State<AppState>,
    caller: Admin,
) -> ApiResult<Json<Acknowledged>> {
    let done = crate::integrity::acknowledge(&state, &caller.principal.actor()).await?;
    Ok(Json(Acknowledged {
        acknowledged: done.acknowledged,
        halted: done.halted,
    }))
}
