//! Products: what a code is worth, and the French catalogue seeded on first
//! start.

use serde::{Deserialize, Serialize};

use super::{DomainError, MAX_GRANT_AMOUNT, MAX_LABEL_CHARS, check_text};
use crate::code::{Format, Label};

/// Longest validity, in days, for a code or a top-up.
pub const MAX_VALIDITY_DAYS: i64 = 3650;

/// A named top-up and the quota it draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Product {
    /// Machine name, e.g. `data-1gb` (lower case, digits, `-`, `_`).
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub id: String,
    /// The operator whose network takes its top-ups; fixed once saved (its
    /// codes were issued against that network's quota).
    pub operator_id: i64,
    /// Product family, for per-beneficiary caps (`data`, `voice`).
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub family: String,
    /// The quota resource it draws on (`data_mb`, `voice`).
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub resource: String,
    /// Units of the resource it draws (MB for `data_mb`, days for `voice`).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
    /// Days the top-up stays usable on the line once credited.
    #[schema(minimum = 1, maximum = 3650)]
    pub validity_days: i64,
    /// Days a code stays redeemable after issue.
    #[schema(minimum = 1, maximum = 3650)]
    pub code_validity_days: i64,
    /// Plain words for the slip, in French and English: at most 100
    /// characters, not blank.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub label_fr: String,
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub label_en: String,
    /// Inactive products stay in the catalogue for the record but cannot be issued.
    #[serde(default = "active_by_default")]
    pub active: bool,
    /// What its vouchers are printed as when an issue request names no
    /// format: `code` (letters and digits) or `pin` (digits only, for
    /// basic phones).
    #[serde(default)]
    pub format: Format,
}

impl Product {
    /// Checks every field; the API and the command line both save products
    /// through it.
    pub fn check(&self) -> Result<(), DomainError> {
        for (field, value) in [
            ("id", &self.id),
            ("family", &self.family),
            ("resource", &self.resource),
        ] {
            if Label::new(value).is_none() {
                return Err(DomainError::validation(
                    field,
                    "lower-case letters, digits, - and _, at most 32",
                ));
            }
        }
        if !(1..=MAX_GRANT_AMOUNT).contains(&self.amount) {
            return Err(DomainError::validation(
                "amount",
                format!("between 1 and {MAX_GRANT_AMOUNT}"),
            ));
        }
        for (field, days) in [
            ("validity_days", self.validity_days),
            ("code_validity_days", self.code_validity_days),
        ] {
            if !(1..=MAX_VALIDITY_DAYS).contains(&days) {
                return Err(DomainError::validation(
                    field,
                    format!("between 1 and {MAX_VALIDITY_DAYS}"),
                ));
            }
        }
        check_text("label_fr", Some(&self.label_fr), MAX_LABEL_CHARS)?;
        check_text("label_en", Some(&self.label_en), MAX_LABEL_CHARS)?;
        Ok(())
    }
}

fn active_by_default() -> bool {
    true
}

const DAY_SECS: i64 = 86_400;

impl Product {
    /// When a code of this product, issued at `issued_at`, expires.
    pub fn code_expires_at(&self, issued_at: i64) -> i64 {
        issued_at.saturating_add(self.code_validity_days.saturating_mul(DAY_SECS))
    }
}

fn product(
    id: &str,
    family: &str,
    resource: &str,
    amount: i64,
    validity_days: i64,
    fr: &str,
    en: &str,
) -> Product {
    Product {
        id: id.into(),
        operator_id: 0,
        family: family.into(),
        resource: resource.into(),
        amount,
        validity_days,
        code_validity_days: 90,
        label_fr: fr.into(),
        label_en: en.into(),
        active: true,
        format: Format::Code,
    }
}

/// The catalogue a new installation starts with: the data and voice top-ups
/// French solidarity programmes hand out, for two networks, so that a
/// newcomer sees at once that a top-up is for one network. The first keeps
/// the short ids (`data-1gb`); the second's carry its prefix. The
/// coordinator edits it freely.
pub fn seed_catalogue(first: i64, second: (i64, &str)) -> Vec<Product> {
    let (second_id, prefix) = second;
    let mut products = network_catalogue(first, "");
    products.extend(
        network_catalogue(second_id, &format!("{prefix}-"))
            .into_iter()
            .filter(|p| !p.id.ends_with("data-20gb")),
    );
    products
}

fn network_catalogue(operator_id: i64, prefix: &str) -> Vec<Product> {
    let id = |name: &str| format!("{prefix}{name}");
    let products = vec![
        product(
            &id("data-1gb"),
            "data",
            "data_mb",
            1024,
            30,
            "1 Go de données internet",
            "1 GB of mobile data",
        ),
        product(
            &id("data-5gb"),
            "data",
            "data_mb",
            5120,
            30,
            "5 Go de données internet",
            "5 GB of mobile data",
        ),
        product(
            &id("data-20gb"),
            "data",
            "data_mb",
            20480,
            30,
            "20 Go de données internet",
            "20 GB of mobile data",
        ),
        product(
            &id("voice-7d"),
            "voice",
            "voice",
            7,
            7,
            "Appels et SMS illimités 7 jours",
            "Unlimited calls and texts for 7 days",
        ),
        product(
            &id("voice-30d"),
            "voice",
            "voice",
            30,
            30,
            "Appels et SMS illimités 30 jours",
            "Unlimited calls and texts for 30 days",
        ),
    ];
    products
        .into_iter()
        .map(|p| Product { operator_id, ..p })
        .collect()
}
