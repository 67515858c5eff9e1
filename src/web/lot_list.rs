//! The structure's lots, newest first: the way back to a lot when a sheet
//! is lost and only its date or product is remembered.

use axum::extract::State;
use axum::http::Uri;
use maud::{Markup, html};

use super::error::DeskResult;
use super::layout::{Chrome, page};
use super::session::Desk;
use super::slips::describe;
use crate::app::AppState;
use crate::app::lots::{self, LOTS_PER_PAGE};

pub async fn list(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Markup> {
    // A page starts before a lot; anything else reads as the first page.
    let before = crate::web::query_value(&uri, "before").and_then(|v| v.parse::<i64>().ok());
    let all = lots::list(&state, &desk.caller, before).await?;
    let (t, l) = (desk.lang.texts(), desk.lang.lots());
    let ids: Vec<i64> = all.iter().map(|s| s.lot).collect();
    let numbers = lots::numbers(&state, &ids).await?;
    let oldest = all.last().map(|s| s.lot);
    let more = usize::try_from(LOTS_PER_PAGE).is_ok_and(|n| all.len() == n);
    let body = html! {
        p { (l.lots_intro) }
        @if all.is_empty() { p { (l.no_lots) } } @else {
            table {
                caption { (l.lots_title) }
                thead { tr {
                    th scope="col" { (l.col_lot) }
                    th scope="col" { (l.col_issued) }
                    th scope="col" { (t.col_product) }
                    th scope="col" class="num" { (l.col_codes) }
                    th scope="col" class="num" { (l.col_open) }
                    th scope="col" class="num" { (l.col_redeemed) }
                } }
                tbody {
                    @for s in &all {
                        tr {
                            th scope="row" { a href=(format!("/desk/lots/{}", s.lot)) { ((l.lot_title)(numbers.of(s.lot))) } }
                            td { (t.day(&desk.zone, s.issued_at)) }
                            td { (describe(t, &s.resource, s.amount).unwrap_or_else(|| s.product_id.clone())) }
                            td class="num" { (s.codes) }
                            td class="num" { (s.open) }
                            td class="num" { (s.redeemed) }
                        }
                    }
                }
            }
        }
        @if let (true, Some(lot)) = (more, oldest) {
            p { a href=(format!("/desk/lots?before={lot}")) { (l.older_lots) } }
        }
    };
    let chrome = Chrome {
        lang: desk.lang,
        uri: &uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: desk.nav(),
    };
    Ok(page(&chrome, l.lots_title, "", body))
}
