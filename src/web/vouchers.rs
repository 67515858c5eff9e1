//! The structure's codes at the desk: the list with its state filter and
//! pages, one code's details, and voiding with a confirmation step.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult, problem_message};
use super::form_fields;
use super::i18n::Texts;
use super::layout::{Chrome, Notice, notice, page};
use super::session::Desk;
use super::slips::{date_of, print_href, voucher_words};
use crate::app::AppState;
use crate::app::vouchers::{self, ListRequest, VoucherView};
use crate::app::{AppError, AppResult};
use crate::code::Format;
use crate::domain::{Product, VoucherState};
use crate::http::error::Problem;
use crate::storage::HistoryEntry;

fn chrome<'a>(desk: &'a Desk, uri: &'a Uri) -> Chrome<'a> {
    Chrome {
        lang: desk.lang,
        uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: desk.nav(),
    }
}

/// The list's query: `state` and `cursor`, both optional.
fn list_query(uri: &Uri) -> AppResult<(Option<VoucherState>, Option<String>)> {
    let mut state = None;
    let mut cursor = None;
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match &*k {
            "state" if !v.is_empty() => {
                state = Some(
                    VoucherState::parse(&v)
                        .ok_or_else(|| AppError::invalid("state", "unknown state"))?,
                );
            }
            "cursor" if !v.is_empty() => cursor = Some(v.into_owned()),
            _ => {}
        }
    }
    Ok((state, cursor))
}

fn list_href(state: Option<VoucherState>, cursor: Option<&str>) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if let Some(s) = state {
        query.append_pair("state", s.as_str());
    }
    if let Some(c) = cursor {
        query.append_pair("cursor", c);
    }
    format!("/desk/vouchers?{}", query.finish())
}

fn filter_form(t: &Texts, selected: Option<VoucherState>) -> Markup {
    html! {
        form method="get" action="/desk/vouchers" class="filter" {
            label for="state" { (t.filter_label) }
            select id="state" name="state" {
                option value="" selected[selected.is_none()] { (t.filter_all) }
                @for s in VoucherState::ALL {
                    option value=(s.as_str()) selected[selected == Some(s)] { (t.state(s)) }
                }
            }
            button type="submit" { (t.filter_submit) }
        }
    }
}

fn vouchers_table(desk: &Desk, vouchers: &[VoucherView], catalogue: &[Product]) -> Markup {
    let t = desk.lang.texts();
    html! {
        table class="vouchers" {
            thead {
                tr {
                    th scope="col" { (t.col_serial) }
                    th scope="col" { (t.col_product) }
                    th scope="col" { (t.col_state) }
                    th scope="col" { (t.col_reference) }
                    th scope="col" { (t.col_issued) }
                    th scope="col" { (t.col_expires) }
                    th scope="col" { (t.col_actions) }
                }
            }
            tbody {
                @for v in vouchers {
                    tr {
                        th scope="row" class="serial" { (v.serial) }
                        td { (voucher_words(desk.lang, v, catalogue)) }
                        td { (t.state(v.state)) }
                        td { (v.reference.as_deref().unwrap_or("")) }
                        td { (date_of(t, &desk.zone, &v.issued_at)) }
                        td { (date_of(t, &desk.zone, &v.expires_at)) }
                        td {
                            a href=(format!("/desk/vouchers/{}", v.serial)) {
                                (t.details) span class="visually-hidden" { " " (v.serial) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The structure's codes, newest first, a page at a time.
pub async fn list(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Response> {
    let t = desk.lang.texts();
    let (filter_state, cursor) = list_query(&uri)?;
    let request = ListRequest {
        state: filter_state.map(VoucherState::as_str),
        cursor: cursor.as_deref(),
        limit: usize::from(state.limits.desk.desk_page_size),
    };
    let listed = vouchers::list(&state, &desk.caller, &request).await?;
    let (vouchers, next) = (listed.vouchers, listed.next_cursor);
    let catalogue = state.store.list_products().await?;
    let body = html! {
        (filter_form(t, filter_state))
        @if vouchers.is_empty() {
            p { (t.no_vouchers) }
        } @else {
            (vouchers_table(&desk, &vouchers, &catalogue))
        }
        nav class="pages" aria-label=(t.vouchers_title) {
            @if cursor.is_some() { a href=(list_href(filter_state, None)) { (t.first_page) } " " }
            @if let Some(next) = &next { a rel="next" href=(list_href(filter_state, Some(next))) { (t.next_page) } }
        }
    };
    Ok(page(&chrome(&desk, &uri), t.vouchers_title, "", body).into_response())
}

/// One of the structure's vouchers with what its page says about it.
struct Shown {
    v: VoucherView,
    catalogue: Vec<Product>,
    /// The structure's number for the voucher's lot.
    lot_number: i64,
}

fn facts(desk: &Desk, shown: &Shown) -> Markup {
    let t = desk.lang.texts();
    let (v, catalogue) = (&shown.v, &shown.catalogue);
    html! {
        dl class="facts" {
            dt { (t.col_serial) } dd class="serial" { (v.serial) }
            dt { (t.col_format) } dd {
                (match v.format { Format::Pin => t.format_pin, Format::Code => t.format_code })
            }
            dt { (t.col_product) } dd { (voucher_words(desk.lang, v, catalogue)) }
            dt { (t.col_state) } dd { strong { (t.state(v.state)) } }
            @if let Some(r) = &v.reference { dt { (t.col_reference) } dd { (r) } }
            dt { (t.col_issued) } dd { (date_of(t, &desk.zone, &v.issued_at)) }
            dt { (t.col_expires) } dd { (date_of(t, &desk.zone, &v.expires_at)) }
            @if v.lot > 0 {
                dt { (desk.lang.lots().lot_label) }
                dd { a href=(super::lot_href(v.lot)) { ((desk.lang.lots().lot_title)(shown.lot_number)) } }
            }
        }
    }
}

async fn own_view(state: &AppState, desk: &Desk, serial: &str) -> DeskResult<Shown> {
    let v = vouchers::read(state, &desk.caller, serial).await?;
    let catalogue = state.store.list_products().await?;
    let lot_number = crate::app::lots::numbers(state, &[v.lot]).await?.of(v.lot);
    Ok(Shown {
        v,
        catalogue,
        lot_number,
    })
}

/// One code's details, and what can be done with it.
pub async fn detail(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    Path(serial): Path<String>,
) -> DeskResult<Response> {
    let t = desk.lang.texts();
    let shown = own_view(&state, &desk, &serial).await?;
    let v = &shown.v;
    let history = vouchers::history(&state, &desk.caller, &serial).await?;
    let voided = uri
        .query()
        .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "voided"));
    let body = html! {
        @if voided && v.state == VoucherState::Voided { (notice(t, Notice::Done, t.voided_notice)) }
        (facts(&desk, &shown))
        @if v.state == VoucherState::Issued {
            ul class="actions" {
                li { a class="button" href=(print_href(&[&v.serial], false)) { (t.print_this) } }
                li { a class="button" href=(format!("/desk/vouchers/{}/void", v.serial)) { (t.void_this) } }
            }
        }
        (history_list(desk.lang, &desk.zone, &history))
        p { a href="/desk/vouchers" { (t.nav_vouchers) } }
    };
    let title = format!("{} {}", t.voucher_title, v.serial);
    Ok(page(&chrome(&desk, &uri), &title, "", body).into_response())
}

/// Who did what to the voucher: "Émis par Amina B., le 3 décembre 2026".
pub(super) fn history_list(
    lang: super::i18n::Lang,
    zone: &crate::clock::Zone,
    history: &[HistoryEntry],
) -> Markup {
    let (t, l) = (lang.texts(), lang.lots());
    html! {
        h2 { (l.history) }
        ul class="history" {
            @for e in history {
                @let who = e.person.as_deref().unwrap_or_else(|| match e.actor.split(':').next() {
                    Some("structure") => l.by_script,
                    Some("operator") => l.by_operator,
                    Some("admin" | "cli") => l.by_coordination,
                    _ => l.by_system,
                });
                @let when = t.day(zone, e.at);
                li {
                    (match e.kind.as_str() {
                        "issue" => (l.issued_by)(who, &when),
                        "void" => (l.voided_by)(who, &when),
                        other => (l.event)((l.kind_word)(other), who, &when),
                    })
                    @if let Some(reason) = &e.reason { " — " ((l.reason_was)(reason)) }
                }
            }
        }
    }
}

/// The confirmation page, with an error when a void was refused.
fn void_page(desk: &Desk, uri: &Uri, shown: &Shown, error: Option<String>) -> Markup {
    let t = desk.lang.texts();
    let v = &shown.v;
    // A code that cannot be voided says why instead of offering the form.
    let refusal = (v.state != VoucherState::Issued)
        .then(|| problem_message(&Problem::wrong_state(v.state), t, 0));
    let body = html! {
        @if let Some(message) = &error { (notice(t, Notice::Error, message)) }
        (facts(desk, shown))
        @if let Some(why) = &refusal {
            @if error.is_none() {
                (notice(t, Notice::Info, &format!("{} {why}", t.void_not_possible)))
            }
        } @else {
            p { (t.void_explain) }
            form method="post" action=(format!("/desk/vouchers/{}/void", v.serial)) class="stack" {
                input type="hidden" name="csrf" value=(desk.csrf_token);
                button type="submit" class="danger" { (t.void_confirm) }
            }
        }
        p { a href=(format!("/desk/vouchers/{}", v.serial)) { (t.void_cancel) } }
    };
    page(&chrome(desk, uri), t.void_title, "", body)
}

/// Asks before voiding: the GET never changes anything.
pub async fn void_confirm(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    Path(serial): Path<String>,
) -> DeskResult<Markup> {
    let shown = own_view(&state, &desk, &serial).await?;
    Ok(void_page(&desk, &uri, &shown, None))
}

/// Voids through the same path as `POST /v1/vouchers/{serial}/void`.
pub async fn void(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    Path(serial): Path<String>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    let voided = vouchers::void(&state, &desk.caller, &serial).await;
    match voided.map_err(Problem::from) {
        Ok(v) => Ok(Redirect::to(&format!("/desk/vouchers/{}?voided=1", v.serial)).into_response()),
        Err(problem) if problem.status == 404 || problem.status >= 500 => Err(problem.into()),
        Err(problem) => {
            let status = DeskError::Problem(problem.clone()).status();
            let message = problem_message(&problem, desk.lang.texts(), 0);
            let shown = own_view(&state, &desk, &serial).await?;
            Ok((status, void_page(&desk, &uri, &shown, Some(message))).into_response())
        }
    }
}
