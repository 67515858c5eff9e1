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

#[cfg(test)]
mod tests {
    use super::*;
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
