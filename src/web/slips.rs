//! Printable slips: eight per A4 sheet, each with the code in large groups
//! of four (a PIN's twenty digits in five groups), its QR code, the top-up
//! in plain words, the date to use it by, the serial, the structure's name
//! and how to redeem it (a PIN slip with the operator's own short
//! instructions for dialling it). Black on white, and every fact is
//! written out, so a photocopy or a grey-scale printer loses nothing.

use std::collections::BTreeMap;

use maud::{Markup, PreEscaped, html};

use super::i18n::{Lang, Texts};
use super::slip_words::{Piece, SlipLang, dial_pieces};
use crate::app::vouchers::VoucherView;
use crate::clock::Zone;
use crate::code::Format;
use crate::domain::Product;
use crate::domain::operator::dialling;
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

/// The date of an RFC 3339 time in the deployment's zone, in words. On
/// a slip it is the date to use the code *before*: the expiry's own day
/// where people live, so the slip never promises more than the code has.
pub fn date_of(t: &Texts, zone: &Zone, at: &str) -> String {
    crate::clock::parse_rfc3339(at).map_or_else(|| at.to_owned(), |secs| t.day(zone, secs))
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

/// What every slip of one print shares: its languages, who hands it
/// out, and the catalogue and networks its facts come from.
pub(super) struct SlipContext<'a> {
    pub lang: Lang,
    pub second: Option<SlipLang>,
    pub structure_name: &'a str,
    pub zone: &'a Zone,
    /// The deployment's own instructions, in the desk's language, for
    /// code slips and for PIN slips; `None`: the language table's.
    pub instructions: Option<&'a str>,
    pub pin_instructions: Option<&'a str>,
    pub catalogue: &'a [Product],
    pub networks: &'a BTreeMap<i64, Operator>,
    /// The structure's numbers of the slips' lots.
    pub lots: &'a crate::app::lots::LotNumbers,
}

/// The slip language a desk language prints first.
fn first_language(lang: Lang) -> SlipLang {
    match lang {
        Lang::Fr => SlipLang::Fr,
        Lang::En => SlipLang::En,
    }
}

impl SlipContext<'_> {
    /// The network a voucher's top-up works on, from its product.
    fn network(&self, v: &VoucherView) -> Option<&Operator> {
        let product = self.catalogue.iter().find(|p| p.id == v.product)?;
        self.networks.get(&product.operator_id)
    }

    /// The languages the slip's instructions print in: the desk's, then
    /// the second one chosen, if it is another.
    fn languages(&self) -> Vec<SlipLang> {
        let first = first_language(self.lang);
        std::iter::once(first)
            .chain(self.second.filter(|l| *l != first))
            .collect()
    }

    /// A slip's instructions in one language: a PIN slip says which keys
    /// to press when its operator gave its USSD string; otherwise the
    /// operator's own words (French or English), the deployment's (in the
    /// desk's language), or the table's.
    fn instructions(&self, lang: SlipLang, v: &VoucherView) -> Markup {
        let w = lang.words();
        let network = self.network(v);
        let dialling = network
            .and_then(|o| o.slip_instructions.as_deref())
            .and_then(dialling);
        if let (Format::Pin, Some(d)) = (v.format, dialling) {
            return html! {
                @for piece in dial_pieces(w.dial, d.before, d.after) {
                    @match piece {
                        Piece::Words(words) => (words),
                        Piece::Keys(keys) => bdi dir="ltr" class="keys" { (keys) },
                    }
                }
                " " span class="slip-once" { (w.once) }
            };
        }
        let own = network.and_then(|o| match lang {
            SlipLang::Fr => o.instructions_fr.as_deref(),
            SlipLang::En => o.instructions_en.as_deref(),
            _ => None,
        });
        let deployment = match v.format {
            Format::Code => self.instructions,
            Format::Pin => self.pin_instructions,
        }
        .filter(|_| lang == first_language(self.lang));
        let table = match v.format {
            Format::Code => w.code,
            Format::Pin => w.pin,
        };
        html! { (own.or(deployment).unwrap_or(table)) " " span class="slip-once" { (w.once) } }
    }
}

/// How long a structure's name is, for the slip to give it room: a name
/// at the length limit (200 characters) wraps over several lines in a
/// smaller type rather than leaving the paper.
fn name_class(name: &str) -> &'static str {
    match name.chars().count() {
        0..=60 => "slip-from",
        61..=120 => "slip-from long",
        _ => "slip-from very-long",
    }
}

pub(super) fn slip(cx: &SlipContext<'_>, v: &VoucherView) -> Option<Markup> {
    let t = cx.lang.texts();
    let qr = qr_markup(t, &v.code)?;
    let title_id = format!("slip-{}", v.serial);
    let code_class = match v.format {
        Format::Code => "slip-code",
        Format::Pin => "slip-code pin",
    };
    let network = cx.network(v);
    let languages = cx.languages();
    let two = if languages.len() > 1 {
        "slip two-languages"
    } else {
        "slip"
    };
    Some(html! {
        article class=(two) aria-labelledby=(title_id) {
            h2 class="slip-product" id=(title_id) { (voucher_words(cx.lang, v, cx.catalogue)) }
            p class=(code_class) {
                span class="slip-label" { (t.slip_code) " " }
                @for group in v.code.split(['-', ' ']) {
                    span class="group" { (group) } " "
                }
            }
            div class="slip-body" {
                div class="qr" { (qr) }
                div class="slip-facts" {
                    dl {
                        div class="fact valid" {
                            dt { (t.slip_valid) }
                            dd { ((t.slip_use_before)(&date_of(t, cx.zone, &v.expires_at))) }
                        }
                        div class="fact" {
                            dt { (t.slip_serial) }
                            dd class="serial" { (v.serial) }
                        }
                        @if let Some(network) = network {
                            div class="fact" {
                                dt { (t.slip_network) }
                                dd class="network" { (network.name) }
                            }
                        }
                        div class="fact slip-lot" {
                            dt { (cx.lang.lots().lot_label) }
                            dd { (cx.lots.of(v.lot)) }
                        }
                    }
                    p class=(name_class(cx.structure_name)) {
                        span class="slip-label" { (t.slip_from) (if cx.lang == Lang::Fr { " : " } else { ": " }) }
                        (cx.structure_name)
                    }
                }
            }
            @for lang in &languages {
                @let w = lang.words();
                p class="slip-instructions" lang=(w.tag) dir=(if w.right_to_left { "rtl" } else { "ltr" }) {
                    (cx.instructions(*lang, v))
                }
            }
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

    pub(super) fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == text)
    }
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
    fn slips_say_the_date_before_expiry() {
        let fr = Lang::Fr.texts();
        assert_eq!(
            date_of(fr, &Zone::default(), "2026-02-20T10:00:00Z"),
            "20 février 2026"
        );
        // Late in the evening UTC is already the next day in Paris.
        assert_eq!(
            date_of(fr, &Zone::default(), "2027-09-29T22:30:00Z"),
            "30 septembre 2027"
        );
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
