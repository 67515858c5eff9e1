//! The desk's CSV files, for spreadsheets as they are set up in France:
//! UTF-8 with a byte-order mark (so accents survive), `;` between fields
//! (the comma is the decimal mark), French headers, dates as JJ/MM/AAAA,
//! numbers with a decimal comma, data in Go and calls in days, states and
//! months in words. The API's CSV stays the machine format.

use crate::clock::Zone;
use crate::http::donor::DonorLine;
use crate::http::lots::LotView;
use crate::web::figures::{decimal, month_words};
use crate::web::i18n::Lang;

const BOM: &str = "\u{feff}";
const MB_PER_GB: f64 = 1024.0;

/// One field: quoted when it holds the separator, a quote or a line
/// break; a text that starts like a formula is prefixed with `'`, so that
/// opening the file runs nothing.
fn field(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if text.contains([';', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn line(fields: &[String]) -> String {
    let mut out = fields
        .iter()
        .map(|f| field(f))
        .collect::<Vec<_>>()
        .join(";");
    out.push_str("\r\n");
    out
}

/// An amount in the unit people count it in: Go for data, days for calls.
fn amount(resource: &str, units: i64) -> String {
    match resource {
        #[allow(clippy::cast_precision_loss)] // amounts far below 2^52
        "data_mb" => decimal(Lang::Fr, units as f64 / MB_PER_GB, 3),
        _ => units.to_string(),
    }
}

fn resource_words(resource: &str) -> &str {
    match resource {
        "data_mb" => "Données internet (Go)",
        "voice" => "Appels et SMS (jours)",
        other => other,
    }
}

/// An RFC 3339 time as its day in the deployment's zone, `03/12/2026`;
/// anything else as it is.
fn day(zone: &Zone, at: &str) -> String {
    crate::clock::parse_rfc3339(at)
        .and_then(|secs| zone.wall(secs))
        .map_or_else(
            || at.to_owned(),
            |w| {
                format!(
                    "{:02}/{:02}/{}",
                    w.date.day(),
                    u8::from(w.date.month()),
                    w.date.year()
                )
            },
        )
}

/// A lot's vouchers (never their codes).
/// `number` is the structure's number for the lot, as its pages say.
pub fn lot(
    view: &LotView,
    number: i64,
    zone: &Zone,
    product_words: impl Fn(&str) -> String,
) -> String {
    let t = Lang::Fr.texts();
    let mut out = String::from(BOM);
    out.push_str(&line(&[
        "Lot".into(),
        "Référence du bon".into(),
        "Recharge".into(),
        "État".into(),
        "Référence de la structure".into(),
        "Émis le".into(),
        "Valable jusqu’au".into(),
        "Dernier changement le".into(),
    ]));
    for v in &view.vouchers {
        out.push_str(&line(&[
            number.to_string(),
            v.serial.clone(),
            product_words(&v.product),
            t.state(v.state).to_owned(),
            v.reference.clone().unwrap_or_default(),
            day(zone, &v.issued_at),
            day(zone, &v.expires_at),
            day(zone, &v.state_changed_at),
        ]));
    }
    out
}

/// The donor report: per month and structure, the totals, and the
/// associations' roll-ups.
pub fn donor(rows: &[DonorLine], totals: &[DonorLine], associations: &[DonorLine]) -> String {
    let mut out = String::from(BOM);
    out.push_str(&line(&[
        "Mois".into(),
        "N° de structure".into(),
        "Structure".into(),
        "Ressource".into(),
        "Accordé".into(),
        "Émis".into(),
        "Codes utilisés".into(),
        "Quantité utilisée".into(),
        "Annulé".into(),
        "Expiré".into(),
        "Échu".into(),
        "Taux d’utilisation (%)".into(),
        "Délai médian avant utilisation (jours)".into(),
    ]));
    let groups = [
        (rows, None),
        (totals, Some("Total")),
        (associations, Some("Association")),
    ];
    for (lines, summary) in groups {
        for l in lines {
            let r = l.resource.as_str();
            out.push_str(&line(&[
                l.month
                    .as_deref()
                    .map(|m| month_words(Lang::Fr, m))
                    .or(summary.map(str::to_owned))
                    .unwrap_or_default(),
                l.structure_id.map(|id| id.to_string()).unwrap_or_default(),
                l.structure_name.clone().unwrap_or_default(),
                resource_words(r).to_owned(),
                amount(r, l.granted),
                amount(r, l.issued),
                l.redeemed_count.to_string(),
                amount(r, l.redeemed_amount),
                amount(r, l.voided),
                amount(r, l.expired),
                amount(r, l.lapsed),
                l.redemption_rate
                    .map(|x| decimal(Lang::Fr, x * 100.0, 1))
                    .unwrap_or_default(),
                l.median_days_to_redemption
                    .map(|x| decimal(Lang::Fr, x, 1))
                    .unwrap_or_default(),
            ]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_dates_and_months_read_as_in_france() {
        assert_eq!(amount("data_mb", 512), "0,5");
        assert_eq!(amount("data_mb", 12_288), "12");
        assert_eq!(amount("voice", 7), "7");
        let paris = Zone::default();
        assert_eq!(day(&paris, "2026-12-03T10:00:00Z"), "03/12/2026");
        // Half past eleven at night UTC is already the next day in Paris.
        assert_eq!(day(&paris, "2026-12-03T23:30:00Z"), "04/12/2026");
        assert_eq!(day(&paris, "demain"), "demain");
        assert_eq!(field("Centre; social"), "\"Centre; social\"");
        assert_eq!(field("=1+1"), "'=1+1");
        assert_eq!(line(&["a".into(), "b".into()]), "a;b\r\n");
    }
}
