//! A lot at the desk: its vouchers and their states, printing its unused
//! codes again, exporting it as CSV (never the codes), and voiding every
//! unused code of it at once with a reason and one confirmation.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::DeskResult;
use super::i18n::Lang;
use super::layout::{Chrome, Notice, notice, page};
use super::session::Desk;
use super::slips::describe;
use super::{form_fields, lot_href};
use crate::app::AppState;
use crate::app::lots;
use crate::domain::VoucherState;
use crate::http::lots::lot_view;
use crate::storage::VoucherRow;

fn voidable(rows: &[VoucherRow]) -> usize {
    rows.iter()
        .filter(|r| r.state == VoucherState::Issued)
        .count()
}

/// A lot: its global number (in addresses) and the structure's number
/// for it (what people read).
#[derive(Clone, Copy)]
struct Lot {
    id: i64,
    number: i64,
}

async fn lot_of(state: &AppState, id: i64) -> DeskResult<Lot> {
    let number = lots::numbers(state, &[id]).await?.of(id);
    Ok(Lot { id, number })
}

fn render(desk: &Desk, uri: &Uri, lot: Lot, rows: &[VoucherRow], shown: Option<Markup>) -> Markup {
    let (t, l) = (desk.lang.texts(), desk.lang.lots());
    let (number, lot) = (lot.number, lot.id);
    let open = voidable(rows);
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { ((l.lot_intro)(rows.len())) }
        ul class="actions" {
            @if open > 0 {
                li { a class="button" href=(format!("/desk/print?lot={lot}")) { (l.print_again) } }
            }
            li { a class="button" href=(format!("/desk/lots/{lot}/export.csv")) { (l.export_csv) } }
        }
        table {
            caption { ((l.lot_title)(number)) }
            thead { tr {
                th scope="col" { (t.col_serial) }
                th scope="col" { (t.col_product) }
                th scope="col" { (t.col_state) }
                th scope="col" { (t.col_expires) }
            } }
            tbody {
                @for r in rows {
                    @let serial = lots::serial(r).unwrap_or_default();
                    tr {
                        td { a href=(format!("/desk/vouchers/{serial}")) { (serial) } }
                        td { (describe(t, &r.resource, r.amount).unwrap_or_else(|| r.product_id.clone())) }
                        td { (t.state(r.state)) }
                        td { (t.day(&desk.zone, r.expires_at)) }
                    }
                }
            }
        }
        h2 { (l.void_heading) }
        @if open == 0 {
            p { (l.nothing_to_void) }
        } @else {
            p { ((l.void_explain)(open)) }
            form method="post" action=(format!("/desk/lots/{lot}/void")) class="stack" {
                input type="hidden" name="csrf" value=(desk.csrf_token);
                div class="field" {
                    label for="reason" { (l.reason_label) }
                    input id="reason" name="reason" type="text" required maxlength="200"
                        aria-describedby="reason-hint";
                    p id="reason-hint" class="hint" { (l.reason_hint) }
                }
                div class="field checkbox" {
                    input id="confirm" name="confirm" type="checkbox" value="yes" required;
                    label for="confirm" { ((l.confirm_label)(open)) }
                }
                button type="submit" class="danger" { (l.void_submit) }
            }
        }
        p { a href="/desk/vouchers" { (t.nav_vouchers) } }
    };
    let chrome = Chrome {
        lang: desk.lang,
        uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: desk.nav(),
    };
    page(&chrome, &(l.lot_title)(number), "", body)
}

pub async fn show(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    Path(lot): Path<i64>,
) -> DeskResult<Markup> {
    let rows = lots::read(&state, &desk.caller, lot).await?;
    let l = desk.lang.lots();
    let voided = super::query_value(&uri, "voided")
        .and_then(|v| v.split_once('.').map(|(a, b)| (a.parse(), b.parse())))
        .and_then(|(a, b)| Some((a.ok()?, b.ok()?)));
    let shown =
        voided.map(|(v, e)| notice(desk.lang.texts(), Notice::Done, &(l.voided_notice)(v, e)));
    Ok(render(
        &desk,
        &uri,
        lot_of(&state, lot).await?,
        &rows,
        shown,
    ))
}

/// The lot as CSV, the same file as `GET /v1/lots/{lot}` with
/// `Accept: text/csv`.
pub async fn export(
    State(state): State<AppState>,
    desk: Desk,
    Path(lot): Path<i64>,
) -> DeskResult<Response> {
    let rows = lots::read(&state, &desk.caller, lot).await?;
    let catalogue = state.store.list_products().await?;
    let words = |id: &str| {
        catalogue.iter().find(|p| p.id == id).map_or_else(
            || id.to_owned(),
            |p| super::slips::product_words(Lang::Fr, p),
        )
    };
    let number = lot_of(&state, lot).await?.number;
    let csv = super::spreadsheet::lot(&lot_view(lot, &rows)?, number, &desk.zone, words);
    let disposition = format!("attachment; filename=\"lot-{number}.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        csv,
    )
        .into_response())
}

/// Voids the lot's unused codes: one confirmation, one transaction.
pub async fn void(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    Path(lot): Path<i64>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    let reason = fields.get("reason").map_or("", |r| r.trim());
    let confirmed = fields.get("confirm").is_some_and(|c| c == "yes");
    if reason.is_empty() || !confirmed {
        let rows = lots::read(&state, &desk.caller, lot).await?;
        let t = desk.lang.texts();
        let shown = notice(t, Notice::Error, desk.lang.lots().reason_missing);
        let page = render(&desk, &uri, lot_of(&state, lot).await?, &rows, Some(shown));
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let done = lots::void(&state, &desk.caller, lot, reason).await?;
    let to = format!("{}?voided={}.{}", lot_href(lot), done.voided, done.expired);
    Ok(Redirect::to(&to).into_response())
}
