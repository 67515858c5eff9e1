//! Quantities as people count them: "100 Go", "30 jours", and what a
//! balance still allows in codes of the catalogue ("100 codes de 1 Go ou
//! 20 codes de 5 Go"), instead of "102400" in a resource's raw unit.

use super::i18n::Lang;
use crate::domain::Product;

/// An amount of `resource` in words: data in Go (with one decimal when
/// needed) or Mo below 1 Go; calls and SMS in days.
pub fn quantity(lang: Lang, resource: &str, amount: i64) -> String {
    let fr = lang == Lang::Fr;
    match resource {
        "data_mb" if amount.abs() >= 1024 => {
            let tenths = (amount * 10 + amount.signum() * 512) / 1024;
            let unit = if fr { "Go" } else { "GB" };
            if tenths % 10 == 0 {
                format!("{} {unit}", tenths / 10)
            } else {
                let sep = if fr { ',' } else { '.' };
                format!("{}{sep}{} {unit}", tenths / 10, (tenths % 10).abs())
            }
        }
        "data_mb" => format!("{amount} {}", if fr { "Mo" } else { "MB" }),
        "voice" => {
            let (one, many) = if fr {
                ("jour", "jours")
            } else {
                ("day", "days")
            };
            format!("{amount} {}", if amount.abs() == 1 { one } else { many })
        }
        _ => amount.to_string(),
    }
}

/// What `available` units still allow, in codes of each active product of
/// the same network and resource, largest count first; empty when none
/// fits.
pub fn allows(
    lang: Lang,
    operator_id: i64,
    resource: &str,
    available: i64,
    catalogue: &[Product],
) -> String {
    let mut fits: Vec<&Product> = catalogue
        .iter()
        .filter(|p| p.active && p.operator_id == operator_id && p.resource == resource)
        .filter(|p| p.amount > 0 && p.amount <= available)
        .collect();
    fits.sort_by_key(|p| p.amount);
    fits.dedup_by_key(|p| p.amount);
    let ((one, many), or) = match lang {
        Lang::Fr => (("code de", "codes de"), " ou "),
        Lang::En => (("code of", "codes of"), " or "),
    };
    fits.iter()
        .map(|p| {
            let n = available / p.amount;
            let codes = if n == 1 { one } else { many };
            format!("{n} {codes} {}", quantity(lang, resource, p.amount))
        })
        .collect::<Vec<_>>()
        .join(or)
}

/// A number with at most `places` decimals, trailing zeros dropped, and
/// the decimal mark of `lang` ("10,5" in French).
pub fn decimal(lang: Lang, x: f64, places: usize) -> String {
    let text = format!("{x:.places$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    match lang {
        Lang::Fr => text.replace('.', ","),
        Lang::En => text,
    }
}

/// A month written `AAAA-MM` in words: "décembre 2026"; anything else as
/// it is.
pub fn month_words(lang: Lang, month: &str) -> String {
    let parsed = month
        .split_once('-')
        .and_then(|(y, m)| Some((y, m.parse::<usize>().ok()?.checked_sub(1)?)));
    match parsed.and_then(|(y, m)| Some((y, *lang.texts().months.get(m)?))) {
        Some((y, name)) => format!("{name} {y}"),
        None => month.to_owned(),
    }
}

/// A day as a date field sends it, `AAAA-MM-JJ`.
pub fn parse_day(text: &str) -> Option<time::Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(text, &format).ok()
}

/// The first second, in the deployment's zone, of the day `later_days`
/// after a typed `AAAA-MM-JJ` (a day lasts 23 or 25 hours when the clocks
/// change, so days are counted on the calendar, not in seconds).
pub fn day_start_secs(zone: &crate::clock::Zone, text: &str, later_days: i64) -> Option<i64> {
    let date = parse_day(text)?;
    zone.day_start_secs(date.checked_add(time::Duration::days(later_days))?)
}

/// A resource's raw unit per Go: data is counted in MB.
const MB_PER_GB: i64 = 1024;

/// An amount of MB in Go as typed back in the form: "1", "0,5".
pub fn gb_text(lang: Lang, mb: i64) -> String {
    let thousandths = mb * 1000 / MB_PER_GB;
    let text = format!("{}.{:03}", thousandths / 1000, thousandths % 1000);
    let text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    if lang == Lang::Fr {
        text.replace('.', ",")
    } else {
        text
    }
}

/// Data typed by a person, in MB, whole and positive: Go by default
/// ("1", "0,5", "2.25", "10 Go", "10GB"), or Mo when said ("500 Mo").
pub fn parse_gb(text: &str) -> Option<i64> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    if let Some(mb) = ["mo", "mb"].iter().find_map(|u| compact.strip_suffix(u)) {
        return mb.parse::<i64>().ok().filter(|mb| *mb > 0);
    }
    let gb = ["go", "gb", "g"]
        .iter()
        .find_map(|u| compact.strip_suffix(u))
        .unwrap_or(&compact);
    parse_plain_gb(gb)
}

/// Days typed by a person: "7", "7 jours", "1 jour", "7 j", "7 days".
pub fn parse_days(text: &str) -> Option<i64> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    let days = ["jours", "jour", "days", "day", "j", "d"]
        .iter()
        .find_map(|u| compact.strip_suffix(u))
        .unwrap_or(&compact);
    days.parse::<i64>().ok().filter(|d| *d > 0)
}

/// An amount typed in the unit people use for `resource` (Go or Mo for
/// data, days for calls and SMS), in the resource's own unit.
pub fn parse_amount(resource: &str, typed: &str) -> Option<i64> {
    match resource {
        "data_mb" => parse_gb(typed),
        "voice" => parse_days(typed),
        _ => typed.trim().parse().ok().filter(|n: &i64| *n > 0),
    }
}

fn parse_plain_gb(text: &str) -> Option<i64> {
    let text = text.trim().replace(',', ".");
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    if whole.is_empty() && frac.is_empty() || frac.len() > 3 {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac_thousandths: i64 = format!("{frac:0<3}").parse().ok()?;
    let mb = whole
        .checked_mul(MB_PER_GB)?
        .checked_add(frac_thousandths * MB_PER_GB / 1000)?;
    (mb > 0).then_some(mb)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_are_read_and_written_as_people_type_them() {
        assert_eq!(parse_gb("1"), Some(1024));
        assert_eq!(parse_gb("0,5"), Some(512));
        assert_eq!(parse_gb("2.25"), Some(2304));
        assert_eq!(parse_gb(" 20 "), Some(20480));
        for bad in [
            "", "0", "-1", "1,2345", "abc", ",", "1e3", "0 Mo", "1,5 Mo", "Go",
        ] {
            assert_eq!(parse_gb(bad), None, "{bad}");
        }
        // With the unit people write after it.
        assert_eq!(parse_gb("10 Go"), Some(10_240));
        assert_eq!(parse_gb("10go"), Some(10_240));
        assert_eq!(parse_gb("0,5 Go"), Some(512));
        assert_eq!(parse_gb("2 GB"), Some(2048));
        assert_eq!(parse_gb("500 Mo"), Some(500));
        assert_eq!(parse_gb("500MB"), Some(500));
        assert_eq!(parse_amount("voice", "7 jours"), Some(7));
        assert_eq!(parse_amount("voice", "1 jour"), Some(1));
        assert_eq!(parse_amount("voice", "30"), Some(30));
        assert_eq!(parse_amount("voice", "deux"), None);
        assert_eq!(parse_amount("data_mb", "10 Go"), Some(10_240));
        assert_eq!(gb_text(Lang::Fr, 512), "0,5");
        assert_eq!(gb_text(Lang::En, 2304), "2.25");
        assert_eq!(gb_text(Lang::Fr, 20480), "20");
        assert_eq!(decimal(Lang::Fr, 10.5, 3), "10,5");
        assert_eq!(decimal(Lang::Fr, 12.0, 1), "12");
        assert_eq!(decimal(Lang::En, 2.45, 1), "2.5");
        assert_eq!(month_words(Lang::Fr, "2026-12"), "décembre 2026");
        assert_eq!(month_words(Lang::Fr, "total"), "total");
        assert!(parse_day("2026-12-31").is_some() && parse_day("hier").is_none());
    }
    use crate::domain::catalogue::seed_catalogue;

    #[test]
    fn data_reads_in_gigabytes_and_days_in_days() {
        assert_eq!(quantity(Lang::Fr, "data_mb", 102_400), "100 Go");
        assert_eq!(quantity(Lang::Fr, "data_mb", 1536), "1,5 Go");
        assert_eq!(quantity(Lang::En, "data_mb", 1536), "1.5 GB");
        assert_eq!(quantity(Lang::Fr, "data_mb", 500), "500 Mo");
        assert_eq!(quantity(Lang::Fr, "voice", 30), "30 jours");
        assert_eq!(quantity(Lang::Fr, "voice", 1), "1 jour");
        assert_eq!(quantity(Lang::Fr, "data_mb", 0), "0 Mo");
    }

    #[test]
    fn a_balance_reads_as_codes_it_still_allows() {
        let catalogue = seed_catalogue(1, (2, "orange"));
        let words = allows(Lang::Fr, 1, "data_mb", 100 * 1024, &catalogue);
        assert!(words.starts_with("100 codes de 1 Go ou "), "{words}");
        assert!(words.contains("20 codes de 5 Go"), "{words}");
        assert_eq!(allows(Lang::Fr, 1, "data_mb", 10, &catalogue), "");
        // Another network's products do not count.
        assert_eq!(allows(Lang::Fr, 3, "data_mb", 100 * 1024, &catalogue), "");
    }
}
