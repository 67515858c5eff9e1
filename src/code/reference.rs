//! A voucher's public reference in either format: the v1 code's first
//! eight symbols (`1EPM-BWHX`) or the PIN's first ten digits
//! (`7123456789`). One type, so that lists, statements, paths and the audit
//! name every voucher the same way whatever it was printed as.

use std::fmt;

use super::error::CodeError;
use super::format::VoucherRef;
use super::pin::{PinRef, is_pin_separator};

/// Digits of a PIN's public reference: key id (1) and serial (9).
pub const PIN_REF_DIGITS: usize = 10;

/// The two renderings of a voucher.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The 20-symbol v1 code (letters and digits).
    #[default]
    Code,
    /// The 20-digit numeric PIN, for basic phones.
    Pin,
}

impl Format {
    /// The name used in the API, the database and the audit.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Pin => "pin",
        }
    }

    /// The format named `name`, or `None`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "code" => Some(Self::Code),
            "pin" => Some(Self::Pin),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which voucher, in the format it was issued in. Not secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reference {
    Code(VoucherRef),
    Pin(PinRef),
}

impl Reference {
    pub fn format(self) -> Format {
        match self {
            Self::Code(_) => Format::Code,
            Self::Pin(_) => Format::Pin,
        }
    }

    /// The key id that made its tag, in its format's key ring.
    pub fn key_id(self) -> u8 {
        match self {
            Self::Code(v) => v.key_id.get(),
            Self::Pin(p) => p.key_id(),
        }
    }

    /// Its serial among the vouchers of that key.
    pub fn serial(self) -> u64 {
        match self {
            Self::Code(v) => v.serial.get(),
            Self::Pin(p) => u64::from(p.serial()),
        }
    }

    /// Reads a reference as a person or a path gives it: ten digits
    /// (separators aside) are a PIN's; anything else is read as a code's,
    /// with the code's leniency. The length decides, not the digits: a
    /// code's eight symbols may all be digits (`0229-3457`).
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let digits = input.chars().filter(|&c| !is_pin_separator(c)).count();
        if super::pin::looks_numeric(input) && digits == PIN_REF_DIGITS {
            parse_pin_ref(input).map(Self::Pin)
        } else {
            VoucherRef::parse(input).map(Self::Code)
        }
    }
}

/// Ten digits, separators allowed anywhere.
fn parse_pin_ref(input: &str) -> Result<PinRef, CodeError> {
    let mut value = 0u64;
    let mut count = 0usize;
    for c in input.chars().filter(|&c| !is_pin_separator(c)) {
        let digit = c.to_digit(10).unwrap_or(0);
        value = value.saturating_mul(10).saturating_add(u64::from(digit));
        count += 1;
    }
    if count != PIN_REF_DIGITS {
        return Err(CodeError::Length {
            expected: PIN_REF_DIGITS,
            found: count,
        });
    }
    let key_id = u8::try_from(value / 1_000_000_000).unwrap_or(u8::MAX);
    let serial = u32::try_from(value % 1_000_000_000).unwrap_or(u32::MAX);
    PinRef::new(key_id, serial).ok_or(CodeError::Length {
        expected: PIN_REF_DIGITS,
        found: count,
    })
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(v) => v.fmt(f),
            Self::Pin(p) => p.fmt(f),
        }
    }
}

impl From<VoucherRef> for Reference {
    fn from(v: VoucherRef) -> Self {
        Self::Code(v)
    }
}

impl From<PinRef> for Reference {
    fn from(p: PinRef) -> Self {
        Self::Pin(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::code::{KeyId, Serial};

    #[test]
    fn both_formats_read_back_what_they_write() {
        let code = Reference::Code(VoucherRef {
            key_id: KeyId::new(1).unwrap(),
            serial: Serial::new(12_345_678).unwrap(),
        });
        let pin = Reference::Pin(PinRef::new(7, 123_456_789).unwrap());
        for r in [code, pin] {
            assert_eq!(Reference::parse(&r.to_string()).unwrap(), r);
        }
        assert_eq!(pin.to_string(), "7123456789");
        assert_eq!(Reference::parse("71234 56789").unwrap(), pin);
        assert_eq!(pin.format(), Format::Pin);
        assert_eq!(code.format(), Format::Code);
    }

    #[test]
    fn a_code_reference_made_of_digits_is_still_a_code_reference() {
        let r = Reference::parse("0229-3457").unwrap();
        assert_eq!(r.format(), Format::Code);
        assert_eq!(r.to_string(), "0229-3457");
    }

    #[test]
    fn a_wrong_number_of_digits_is_a_length_error() {
        for bad in ["712345678", "71234567890", "0"] {
            assert!(matches!(
                Reference::parse(bad),
                Err(CodeError::Length { .. })
            ));
        }
    }
}
