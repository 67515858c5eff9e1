//! Redemption rules: the redemption record's states, phone numbers, the
//! calendar month caps count in, and beneficiary caps. What each request
//! leads to is decided in [`super::redemption_decisions`].

use serde::{Deserialize, Serialize};

use super::DomainError;

/// Redeem at once, or hold for a later confirmation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedeemMode {
    Redeem,
    Reserve,
}

/// Where a redemption is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RedemptionState {
    /// The code is held for the operator until `hold_expires_at`.
    Reserved,
    /// The code is redeemed: credit the line.
    Confirmed,
    /// The operator released the hold; the code is redeemable again.
    Cancelled,
    /// The hold ran out; the code is redeemable again.
    TimedOut,
    /// Undone within the reversal window; the code is redeemable again.
    Reversed,
}

impl RedemptionState {
    pub const ALL: [Self; 5] = [
        Self::Reserved,
        Self::Confirmed,
        Self::Cancelled,
        Self::TimedOut,
        Self::Reversed,
    ];

    /// The name clients see (API answers, statements): a confirmed
    /// redemption is `redeemed`; the others keep their names.
    pub fn public_name(self) -> &'static str {
        match self {
            Self::Confirmed => "redeemed",
            other => other.as_str(),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "reserved",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
            Self::Reversed => "reversed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A live redemption holds its code (reserved or redeemed).
    pub fn is_live(self) -> bool {
        matches!(self, Self::Reserved | Self::Confirmed)
    }
}

/// Longest E.164 number: `+` and 15 digits.
const MAX_E164_DIGITS: usize = 15;
/// Shortest number accepted (country code and a short subscriber number).
const MIN_E164_DIGITS: usize = 8;

/// Checks a phone number is E.164 (`+33612345678`): a plus, a country code
/// not starting with 0, 8 to 15 digits in all, nothing else.
pub fn check_msisdn(msisdn: &str) -> Result<(), DomainError> {
    let digits = msisdn.strip_prefix('+').unwrap_or_default();
    let ok = digits.bytes().all(|b| b.is_ascii_digit())
        && (MIN_E164_DIGITS..=MAX_E164_DIGITS).contains(&digits.len())
        && !digits.starts_with('0');
    if ok {
        Ok(())
    } else {
        Err(DomainError::validation(
            "msisdn",
            "an E.164 number: + then country code and number, digits only (+33612345678)",
        ))
    }
}

/// The calendar month (UTC) of a time, as YYYYMM: beneficiary caps count
/// per month.
pub fn month_of(unix_secs: i64) -> i64 {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .map(|t| i64::from(t.year()) * 100 + i64::from(t.month() as u8))
        .unwrap_or(0)
}

/// A monthly cap per beneficiary for one product family: a number of
/// redemptions, an amount (in the family's resource unit), or both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BeneficiaryCap {
    pub family: String,
    pub max_count: Option<i64>,
    pub max_amount: Option<i64>,
}

impl BeneficiaryCap {
    /// Whether a beneficiary who already has `count` redemptions worth
    /// `amount` this month may have one more worth `more`.
    pub fn allows(&self, count: i64, amount: i64, more: i64) -> bool {
        self.max_count.is_none_or(|max| count < max)
            && self.max_amount.is_none_or(|max| amount + more <= max)
    }

    /// [`Self::allows`] as a refusal.
    pub fn admit(&self, count: i64, amount: i64, more: i64) -> Result<(), DomainError> {
        if self.allows(count, amount, more) {
            Ok(())
        } else {
            Err(DomainError::BeneficiaryCapReached)
        }
    }

    /// Parses `FAMILY=count:N`, `FAMILY=amount:N` or `FAMILY=count:N,amount:M`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (family, rules) = text
            .split_once('=')
            .ok_or("expected FAMILY=count:N or FAMILY=amount:N")?;
        let mut cap = Self {
            family: family.trim().to_owned(),
            max_count: None,
            max_amount: None,
        };
        for rule in rules.split(',') {
            let (kind, n) = rule.split_once(':').ok_or("expected count:N or amount:N")?;
            let n: i64 = n
                .trim()
                .parse()
                .map_err(|_| format!("{n:?} is not a number"))?;
            if n < 0 {
                return Err("caps are not negative".into());
            }
            match kind.trim() {
                "count" => cap.max_count = Some(n),
                "amount" => cap.max_amount = Some(n),
                other => return Err(format!("unknown cap kind {other:?}")),
            }
        }
        if cap.family.is_empty() {
            return Err("family is empty".into());
        }
        Ok(cap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers() {
        for good in [
            "+33612345678",
            "+14155552671",
            "+447911123456",
            "+22507123456",
        ] {
            assert!(check_msisdn(good).is_ok(), "{good}");
        }
        for bad in [
            "0612345678",
            "33612345678",
            "+3361234567a",
            "+0612345678",
            "+33 6 12 34 56 78",
            "+",
            "",
            "+1234567",
            "+1234567890123456",
            "+٣٣٦١٢٣٤٥٦٧٨",
        ] {
            assert!(check_msisdn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn months_are_utc_calendar_months() {
        assert_eq!(month_of(1_800_000_000), 202701); // 2027-01-15
        assert_eq!(month_of(1_798_761_599), 202612); // 2026-12-31T23:59:59Z
        assert_eq!(month_of(1_798_761_600), 202701);
    }

    #[test]
    fn caps_parse_and_apply() {
        let cap = BeneficiaryCap::parse("data=count:2,amount:3072").unwrap();
        assert_eq!(cap.max_count, Some(2));
        assert!(cap.allows(0, 0, 1024));
        assert!(cap.allows(1, 1024, 2048));
        assert!(!cap.allows(1, 1024, 2049));
        assert!(!cap.allows(2, 0, 1));
        assert!(BeneficiaryCap::parse("data").is_err());
        assert!(BeneficiaryCap::parse("data=count:x").is_err());
        assert!(BeneficiaryCap::parse("data=size:3").is_err());
    }
}
