//! The print page: slips previewed in a layout and a second language,
//! and the one action that records a print. Showing the page records
//! nothing, however often it is opened or its layout changed; "J'imprime"
//! records one `print` event per slip with the person as actor, then
//! comes back to the page (post/redirect/get), which now prints. Until
//! then the page prints, in place of the slips, a sentence saying to
//! record the print first, so that a voucher's history shows each print
//! once and only prints that happened.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult};
use super::i18n::{Lang, Texts};
use super::internal;
use super::layout::{Chrome, Notice, notice, page};
use super::session::Desk;
use super::slip_words::SlipLang;
use super::slips::{Layout, SlipContext, slip};
use crate::app::AppState;
use crate::app::vouchers::{VoucherView, own_voucher, view};
use crate::domain::VoucherState;

/// What a print address (or the print form) asks for: serials (without
/// repeats, in order), or a lot; whether they were just issued; the
/// layout; the second language; how many slips were just recorded.
#[derive(Debug, Default, PartialEq, Eq)]
struct PrintRequest {
    serials: Vec<String>,
    lot: Option<i64>,
    just_issued: bool,
    layout: Layout,
    second: Option<SlipLang>,
    recorded: Option<usize>,
}

impl PrintRequest {
    fn parse(query: &[u8]) -> Result<(Self, Option<String>), DeskError> {
        let mut r = Self::default();
        let mut csrf = None;
        for (k, v) in form_urlencoded::parse(query) {
            match &*k {
                "serial" if !r.serials.iter().any(|s| *s == v) => r.serials.push(v.into_owned()),
                "issued" => r.just_issued = true,
                "lot" => r.lot = Some(v.parse().map_err(|_| DeskError::not_found())?),
                "layout" => r.layout = Layout::parse(&v).ok_or(DeskError::FormInvalid)?,
                "lang2" if v.is_empty() => r.second = None,
                "lang2" => r.second = Some(SlipLang::parse(&v).ok_or(DeskError::FormInvalid)?),
                "printed" => r.recorded = v.parse().ok(),
                "csrf" => csrf = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok((r, csrf))
    }

    /// The fields that choose the slips, as hidden inputs of a form.
    fn hidden_fields(&self) -> Markup {
        html! {
            @for s in &self.serials { input type="hidden" name="serial" value=(s); }
            @if let Some(lot) = self.lot { input type="hidden" name="lot" value=(lot); }
        }
    }

    /// The page's address once `recorded` slips were recorded.
    fn after_recording(&self, recorded: usize) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for s in &self.serials {
            query.append_pair("serial", s);
        }
        if let Some(lot) = self.lot {
            query.append_pair("lot", &lot.to_string());
        }
        query.append_pair("layout", self.layout.as_str());
        if let Some(l) = self.second {
            query.append_pair("lang2", l.words().tag);
        }
        query.append_pair("printed", &recorded.to_string());
        format!("/desk/print?{}", query.finish())
    }
}

/// The layout and language chooser: a GET form that shows the same
/// vouchers another way (and records nothing).
fn choice_form(t: &Texts, lang: Lang, r: &PrintRequest) -> Markup {
    let (p, x) = (lang.lots(), lang.print());
    html! {
        form method="get" action="/desk/print" class="layout-choice" {
            (r.hidden_fields())
            fieldset class="field" {
                legend { (p.layout_legend) }
                @for l in Layout::ALL {
                    @let id = format!("layout-{}", l.as_str());
                    div class="choice" {
                        input type="radio" name="layout" id=(id) value=(l.as_str()) checked[l == r.layout];
                        label for=(id) { ((p.layout_name)(l)) }
                    }
                }
            }
            div class="field" {
                label for="lang2" { (x.second_language) }
                select id="lang2" name="lang2" aria-describedby="lang2-hint" {
                    option value="" selected[r.second.is_none()] { (x.no_second_language) }
                    @for l in SlipLang::seconds() {
                        @let w = l.words();
                        option value=(w.tag) selected[r.second == Some(l)] {
                            (w.own_name) " (" (w.name_fr) ")"
                        }
                    }
                }
                p id="lang2-hint" class="hint" { (x.second_language_hint) }
            }
            button type="submit" { (p.layout_submit) }
            @if r.layout == Layout::A4Sheet { " " span class="hint" { (t.print_help) } }
        }
    }
}

/// The one action that records a print.
fn record_form(desk: &Desk, r: &PrintRequest, count: usize) -> Markup {
    let x = desk.lang.print();
    html! {
        form method="post" action="/desk/print" class="record-print" {
            input type="hidden" name="csrf" value=(desk.csrf_token);
            (r.hidden_fields())
            input type="hidden" name="layout" value=(r.layout.as_str());
            @if let Some(l) = r.second { input type="hidden" name="lang2" value=(l.words().tag); }
            button type="submit" aria-describedby="record-hint" { ((x.record)(count)) }
            p id="record-hint" class="hint" { (x.record_hint) }
        }
    }
}

/// The caller's vouchers a print request names; any serial that is not
/// the caller's makes the whole page 404, as in the API.
async fn vouchers(
    state: &AppState,
    desk: &Desk,
    r: &PrintRequest,
) -> DeskResult<(Vec<i64>, Vec<VoucherView>)> {
    let keys = state.keys.get();
    let mut rows = Vec::with_capacity(r.serials.len());
    for serial in &r.serials {
        rows.push(own_voucher(state, &desk.caller, serial).await?);
    }
    if let Some(lot) = r.lot {
        let lot_rows = crate::app::lots::read(state, &desk.caller, lot).await?;
        rows.extend(
            lot_rows
                .into_iter()
                .filter(|r| r.state == VoucherState::Issued),
        );
    }
    let printable = rows
        .iter()
        .filter(|r| r.state == VoucherState::Issued)
        .map(|r| r.id)
        .collect();
    let views = rows
        .iter()
        .map(|row| view(&keys, row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((printable, views))
}

fn too_many(desk: &Desk, chrome: &Chrome<'_>, max: usize) -> Response {
    let t = desk.lang.texts();
    let body = notice(t, Notice::Error, &(t.too_many_to_print)(max));
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    (status, page(chrome, t.print_title, "print", body)).into_response()
}

/// The slips in the layout and languages asked for: a preview, which
/// prints only once the print was recorded.
pub async fn print(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Response> {
    let t = desk.lang.texts();
    let (request, _) = PrintRequest::parse(uri.query().unwrap_or_default().as_bytes())?;
    let chrome = desk.chrome(&uri);
    let max = state.limits.max_issue_count;
    if request.serials.len() > max {
        return Ok(too_many(&desk, &chrome, max));
    }
    let (_, vouchers) = vouchers(&state, &desk, &request).await?;
    let catalogue = state.store.list_products().await?;
    let networks = crate::app::operators::by_id(&state.store).await?;
    let ids: Vec<i64> = vouchers.iter().map(|v| v.lot).collect();
    let numbers = crate::app::lots::numbers(&state, &ids).await?;
    let cx = context(
        &state,
        &desk,
        request.second,
        &catalogue,
        &networks,
        &numbers,
    );
    let (printable, skipped): (Vec<_>, Vec<_>) = vouchers
        .iter()
        .partition(|v| v.state == VoucherState::Issued);
    let slips = printable
        .iter()
        .map(|v| slip(&cx, v).ok_or_else(internal))
        .collect::<Result<Vec<_>, DeskError>>()?;
    let mut lots: Vec<i64> = vouchers.iter().map(|v| v.lot).filter(|l| *l > 0).collect();
    lots.dedup();
    let x = desk.lang.print();
    let recorded = request.recorded.is_some();
    let body = html! {
        div class="screen-only" {
            @if request.just_issued { (notice(t, Notice::Done, &(t.issued_notice)(vouchers.len()))) }
            @if let Some(n) = request.recorded { (notice(t, Notice::Done, &(x.recorded)(n))) }
            @for v in &skipped {
                (notice(t, Notice::Info, &(t.not_printed)(&v.serial, t.state(v.state))))
            }
            @if slips.is_empty() {
                p { (t.print_nothing) }
            } @else {
                (record_form(&desk, &request, slips.len()))
                (choice_form(t, desk.lang, &request))
            }
            @for lot in &lots {
                p { a href=(super::lot_href(*lot)) { ((desk.lang.lots().lot_title)(numbers.of(*lot))) } }
            }
        }
        @if !recorded && !slips.is_empty() { p class="print-only record-first" { (x.record_first) } }
        div class=(slips_class(request.layout, recorded)) {
            @for s in &slips { (s) }
        }
    };
    Ok(page(&chrome, t.print_title, "print", body).into_response())
}

fn slips_class(layout: Layout, recorded: bool) -> String {
    let unrecorded = if recorded { "" } else { " not-recorded" };
    format!("slips layout-{}{unrecorded}", layout.as_str())
}

fn context<'a>(
    state: &'a AppState,
    desk: &'a Desk,
    second: Option<SlipLang>,
    catalogue: &'a [crate::domain::Product],
    networks: &'a BTreeMap<i64, crate::storage::Operator>,
    lots: &'a crate::app::lots::LotNumbers,
) -> SlipContext<'a> {
    // The deployment's own words are in the desk's first language: French.
    let deployment = desk.lang == Lang::Fr;
    let desk_limits = &state.limits.desk;
    SlipContext {
        lang: desk.lang,
        second,
        structure_name: &desk.structure_name,
        zone: &desk.zone,
        instructions: desk_limits
            .slip_instructions
            .as_deref()
            .filter(|_| deployment),
        pin_instructions: desk_limits
            .slip_pin_instructions
            .as_deref()
            .filter(|_| deployment),
        catalogue,
        networks,
        lots,
    }
}

/// Records the print of the slips the form names (those still usable),
/// one event each with the person as actor, and comes back to the page.
pub async fn record(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    // The form's fields, and those of its address if it was posted to the
    // page's own (both name the slips the same way).
    let mut fields = uri.query().unwrap_or_default().as_bytes().to_vec();
    fields.push(b'&');
    fields.extend_from_slice(&body);
    let (request, csrf) = PrintRequest::parse(&fields)?;
    desk.check_csrf(csrf.as_deref())?;
    let max = state.limits.max_issue_count;
    if request.serials.len() > max {
        return Ok(too_many(&desk, &desk.chrome(&uri), max));
    }
    let (printed, _) = vouchers(&state, &desk, &request).await?;
    crate::app::vouchers::record_print(&state, &desk.caller, &printed).await?;
    Ok(Redirect::to(&request.after_recording(printed.len())).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::slips::print_href;

    #[test]
    fn print_addresses_round_trip() {
        let href = print_href(&["1EPM-BWHX", "2ABC-DEFG"], true);
        assert_eq!(
            href,
            "/desk/print?issued=1&serial=1EPM-BWHX&serial=2ABC-DEFG"
        );
        let query = format!("{}&serial=1EPM-BWHX&layout=labels&lang2=ar", &href[12..]);
        let (r, csrf) = PrintRequest::parse(query.as_bytes()).unwrap();
        assert_eq!(r.serials, ["1EPM-BWHX", "2ABC-DEFG"]);
        assert!(r.just_issued);
        assert_eq!(r.layout, Layout::Labels);
        assert_eq!(r.second, Some(SlipLang::Ar));
        assert_eq!(csrf, None);
        assert_eq!(
            r.after_recording(2),
            "/desk/print?serial=1EPM-BWHX&serial=2ABC-DEFG&layout=labels&lang2=ar&printed=2"
        );
        let (r, _) = PrintRequest::parse(b"lot=12&lang2=").unwrap();
        assert_eq!((r.lot, r.second), (Some(12), None));
        assert!(PrintRequest::parse(b"layout=poster").is_err());
        assert!(PrintRequest::parse(b"lang2=xx").is_err());
    }
}
