//! Printable slips: eight per A4 sheet, each with the code in large groups
//! of four (a PIN's twenty digits in five groups), its QR code, the top-up
//! in plain words, the date to use it by, the serial, the structure's name
//! and how to redeem it (a PIN slip with the operator's own short
//! instructions for dialling it). Black on white, and every fact is
//! written out, so a photocopy or a grey-scale printer loses nothing.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, PreEscaped, html};

use super::error::{DeskError, DeskResult};
use super::i18n::{Lang, Texts};
use super::internal;
use super::layout::{Chrome, Nav, Notice, notice, page};
use super::session::Desk;
use crate::app::AppState;
use crate::app::vouchers::{VoucherView, own_voucher, view};
use crate::code::Format;
use crate::domain::{Product, VoucherState};
use crate::storage::Operator;

/// A top-up in plain words, from what it credits: "1 Go de données
/// internet", "Appels et SMS illimités 7 jours". Unknown resources fall
/// back to the catalogue's label (see [`product_words`]).
pub fn describe(t: &Texts, resource: &str, amount: i64) -> Option<String> {
    match resource {
        "data_mb" => Some((t.data_product)(amount)),
        "voice" => Some((t.voice_product)(amount)),
        _ => None,
    }
}

/// The words for a catalogue product, in `lang`.
pub fn product_words(lang: Lang, p: &Product) -> String {
    describe(lang.texts(), &p.resource, p.amount).unwrap_or_else(|| match lang {
        Lang::Fr => p.label_fr.clone(),
        Lang::En => p.label_en.clone(),
    })
}

/// The words for an issued voucher; `catalogue` only serves unknown resources.
pub fn voucher_words(lang: Lang, v: &VoucherView, catalogue: &[Product]) -> String {
    describe(lang.texts(), &v.resource, v.amount).unwrap_or_else(|| {
        catalogue
            .iter()
            .find(|p| p.id == v.product)
            .map_or_else(|| v.product.clone(), |p| product_words(lang, p))
    })
}

/// The print page's address for these serials.
pub fn print_href(serials: &[&str], just_issued: bool) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    if just_issued {
        query.append_pair("issued", "1");
    }
    for serial in serials {
        query.append_pair("serial", serial);
    }
    format!("/desk/print?{}", query.finish())
}

/// The UTC date of an RFC 3339 time, in words. On a slip it is the date
/// to use the code *before*: that ends at the latest at its midnight in
/// France, which is never after the expiry itself, so the slip never
/// promises too much.
pub fn date_of(t: &Texts, at: &str) -> String {
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map(|at| t.date(at.date()))
        .unwrap_or_else(|_| at.to_owned())
}

/// The code's QR code as inline SVG, labelled for screen readers. The QR
/// holds the code without dashes (a PIN without spaces), as
/// `GET /v1/vouchers/{serial}/qr.svg`.
fn qr_markup(t: &Texts, code: &str) -> Option<Markup> {
    let svg = crate::qr::svg(&code.replace(['-', ' '], ""))?;
    let start = svg.find("<svg")?;
    let label = t.slip_qr_label.replace('"', "&quot;");
    let svg = svg.get(start..)?.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{label}\" focusable=\"false\" "),
        1,
    );
    // The SVG is built by the qrcode crate from the code's own symbols
    // (letters and digits), so it carries nothing to escape.
    Some(PreEscaped(svg))
}

struct SlipContext<'a> {
    lang: Lang,
    structure_name: &'a str,
    instructions: &'a str,
    pin_instructions: &'a str,
    catalogue: &'a [Product],
    networks: &'a BTreeMap<i64, Operator>,
}

impl SlipContext<'_> {
    /// The network a voucher's top-up works on, from its product.
    fn network(&self, v: &VoucherView) -> Option<&Operator> {
        let product = self.catalogue.iter().find(|p| p.id == v.product)?;
        self.networks.get(&product.operator_id)
    }
}

fn slip(cx: &SlipContext<'_>, v: &VoucherView) -> Option<Markup> {
    let t = cx.lang.texts();
    let qr = qr_markup(t, &v.code)?;
    let title_id = format!("slip-{}", v.serial);
    let (code_class, default_instructions) = match v.format {
        Format::Code => ("slip-code", cx.instructions),
        Format::Pin => ("slip-code pin", cx.pin_instructions),
    };
    let network = cx.network(v);
    // The operator's own words, when it gave them, in the slip's language.
    let instructions = network
        .and_then(|o| match cx.lang {
            Lang::Fr => o.instructions_fr.as_deref(),
            Lang::En => o.instructions_en.as_deref(),
        })
        .unwrap_or(default_instructions);
    Some(html! {
        article class="slip" aria-labelledby=(title_id) {
            h2 class="slip-product" id=(title_id) { (voucher_words(cx.lang, v, cx.catalogue)) }
            p class=(code_class) {
                span class="slip-label" { (t.slip_code) " " }
                @for group in v.code.split(['-', ' ']) {
                    span class="group" { (group) } " "
                }
            }
            div class="slip-body" {
                div class="qr" { (qr) }
                dl {
                    dt { (t.slip_valid) }
                    dd { ((t.slip_use_before)(&date_of(t, &v.expires_at))) }
                    dt { (t.slip_serial) }
                    dd class="serial" { (v.serial) }
                    @if let Some(network) = network {
                        dt { (t.slip_network) }
                        dd class="network" { (network.name) }
                    }
                    dt class="slip-from" { (t.slip_from) }
                    dd class="slip-from" { (cx.structure_name) }
                    dt class="slip-lot" { (cx.lang.lots().lot_label) }
                    dd class="slip-lot" { (v.lot) }
                }
            }
            p class="slip-instructions" { (instructions) }
        }
    })
}

/// How slips are laid out on paper, chosen on the print page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Layout {
    /// Eight slips per A4 sheet, 2 × 4.
    #[default]
    A4Sheet,
    /// Twenty-four labels per A4 sheet, 3 × 8 (70 × 36 mm).
    Labels,
    /// One slip after another on an 80 mm receipt roll.
    Receipt,
}

impl Layout {
    pub const ALL: [Self; 3] = [Self::A4Sheet, Self::Labels, Self::Receipt];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::A4Sheet => "a4",
            Self::Labels => "labels",
            Self::Receipt => "receipt",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
}

/// What a print address asks for: serials (without repeats, in order),
/// or a lot; whether they were just issued; the layout.
#[derive(Debug, Default, PartialEq, Eq)]
struct PrintRequest {
    serials: Vec<String>,
    lot: Option<i64>,
    just_issued: bool,
    layout: Layout,
}

fn requested(uri: &Uri) -> Result<PrintRequest, DeskError> {
    let mut r = PrintRequest::default();
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        match &*k {
            "serial" if !r.serials.iter().any(|s| *s == v) => r.serials.push(v.into_owned()),
            "issued" => r.just_issued = true,
            "lot" => r.lot = Some(v.parse().map_err(|_| DeskError::not_found())?),
            "layout" => r.layout = Layout::parse(&v).ok_or(DeskError::FormInvalid)?,
            _ => {}
        }
    }
    Ok(r)
}

/// The layout chooser: a GET form that reloads the page with the same
/// vouchers and another layout.
fn layout_form(t: &Texts, lang: Lang, r: &PrintRequest) -> Markup {
    let p = lang.lots();
    html! {
        form method="get" action="/desk/print" class="layout-choice" {
            @for s in &r.serials { input type="hidden" name="serial" value=(s); }
            @if let Some(lot) = r.lot { input type="hidden" name="lot" value=(lot); }
            fieldset class="field" {
                legend { (p.layout_legend) }
                @for l in Layout::ALL {
                    @let id = format!("layout-{}", l.as_str());
                    div class="choice" {
                        @if l == r.layout {
                            input type="radio" name="layout" id=(id) value=(l.as_str()) checked;
                        } @else {
                            input type="radio" name="layout" id=(id) value=(l.as_str());
                        }
                        label for=(id) { ((p.layout_name)(l)) }
                    }
                }
            }
            button type="submit" { (p.layout_submit) }
            @if r.layout == Layout::A4Sheet { " " span class="hint" { (t.print_help) } }
        }
    }
}

/// The slips of the caller's vouchers named in the query; any serial that
/// is not the caller's makes the whole page 404, as in the API.
pub async fn print(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Response> {
    let t = desk.lang.texts();
    let request = requested(&uri)?;
    let (serials, just_issued) = (&request.serials, request.just_issued);
    let max = state.limits.max_issue_count;
    let chrome = Chrome {
        lang: desk.lang,
        uri: &uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: Nav::Structure,
    };
    if serials.len() > max {
        let body = notice(t, Notice::Error, &(t.too_many_to_print)(max));
        let status = StatusCode::UNPROCESSABLE_ENTITY;
        return Ok((status, page(&chrome, t.print_title, "print", body)).into_response());
    }
    let keys = state.keys.get();
    let mut rows = Vec::with_capacity(serials.len());
    for serial in serials {
        rows.push(own_voucher(&state, &desk.caller, serial).await?);
    }
    if let Some(lot) = request.lot {
        let lot_rows = crate::app::lots::read(&state, &desk.caller, lot).await?;
        rows.extend(
            lot_rows
                .into_iter()
                .filter(|r| r.state == VoucherState::Issued),
        );
    }
    let vouchers = rows
        .iter()
        .map(|row| view(&keys, row))
        .collect::<Result<Vec<_>, _>>()?;
    // Showing codes is on record: who printed which, and when.
    let printed: Vec<i64> = rows
        .iter()
        .filter(|r| r.state == VoucherState::Issued)
        .map(|r| r.id)
        .collect();
    crate::app::vouchers::record_print(&state, &desk.caller, &printed).await?;
    let lots: Vec<i64> = {
        let mut l: Vec<i64> = vouchers.iter().map(|v| v.lot).filter(|l| *l > 0).collect();
        l.dedup();
        l
    };
    let catalogue = state.store.list_products().await?;
    let networks = crate::app::operators::by_id(&state.store).await?;
    let cx = SlipContext {
        lang: desk.lang,
        structure_name: &desk.structure_name,
        instructions: state
            .limits
            .desk
            .slip_instructions
            .as_deref()
            .unwrap_or(t.slip_instructions),
        pin_instructions: state
            .limits
            .desk
            .slip_pin_instructions
            .as_deref()
            .unwrap_or(t.slip_pin_instructions),
        catalogue: &catalogue,
        networks: &networks,
    };
    let (printable, skipped): (Vec<_>, Vec<_>) = vouchers
        .iter()
        .partition(|v| v.state == VoucherState::Issued);
    let slips = printable
        .iter()
        .map(|v| slip(&cx, v).ok_or_else(internal))
        .collect::<Result<Vec<_>, DeskError>>()?;
    let body = html! {
        div class="screen-only" {
            @if just_issued { (notice(t, Notice::Done, &(t.issued_notice)(vouchers.len()))) }
            @for v in &skipped {
                (notice(t, Notice::Info, &(t.not_printed)(&v.serial, t.state(v.state))))
            }
            @if slips.is_empty() { p { (t.print_nothing) } } @else { (layout_form(t, desk.lang, &request)) }
            @for lot in &lots {
                p { a href=(super::lot_href(*lot)) { ((desk.lang.lots().lot_title)(*lot)) } }
            }
        }
        div class=(format!("slips layout-{}", request.layout.as_str())) {
            @for s in &slips { (s) }
        }
    };
    Ok(page(&chrome, t.print_title, "print", body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::catalogue::seed_catalogue;

    #[test]
    fn products_read_as_plain_words() {
        let fr = Lang::Fr.texts();
        assert_eq!(
            describe(fr, "data_mb", 1024).unwrap(),
            "1 Go de données internet"
        );
        assert_eq!(
            describe(fr, "data_mb", 500).unwrap(),
            "500 Mo de données internet"
        );
        assert_eq!(
            describe(fr, "voice", 7).unwrap(),
            "Appels et SMS illimités 7 jours"
        );
        assert_eq!(
            describe(fr, "voice", 1).unwrap(),
            "Appels et SMS illimités 1 jour"
        );
        assert_eq!(
            describe(Lang::En.texts(), "data_mb", 5120).unwrap(),
            "5 GB of mobile data"
        );
        assert_eq!(describe(fr, "sms", 10), None);
        // The seeded catalogue's own French labels agree with the words.
        for p in seed_catalogue(1, (2, "orange")) {
            assert_eq!(product_words(Lang::Fr, &p), p.label_fr);
        }
    }

    #[test]
    fn print_addresses_round_trip() {
        let href = print_href(&["1EPM-BWHX", "2ABC-DEFG"], true);
        assert_eq!(
            href,
            "/desk/print?issued=1&serial=1EPM-BWHX&serial=2ABC-DEFG"
        );
        let uri: Uri = format!("{href}&serial=1EPM-BWHX&layout=labels")
            .parse()
            .unwrap();
        let r = requested(&uri).unwrap();
        assert_eq!(r.serials, ["1EPM-BWHX", "2ABC-DEFG"]);
        assert!(r.just_issued);
        assert_eq!(r.layout, Layout::Labels);
        let uri: Uri = "/desk/print?lot=12".parse().unwrap();
        assert_eq!(requested(&uri).unwrap().lot, Some(12));
        let uri: Uri = "/desk/print?layout=poster".parse().unwrap();
        assert!(requested(&uri).is_err());
    }

    #[test]
    fn slips_say_the_date_before_expiry() {
        let fr = Lang::Fr.texts();
        assert_eq!(date_of(fr, "2026-02-20T10:00:00Z"), "20 février 2026");
    }

    #[test]
    fn qr_codes_are_inline_labelled_svg() {
        let qr = qr_markup(Lang::Fr.texts(), "1EPM-BWHX-WG4M-WKBV-9E7D")
            .unwrap()
            .into_string();
        assert!(qr.starts_with("<svg role=\"img\" aria-label="));
        assert!(!qr.contains("<?xml"));
    }
}
