//! The Luhn mod 32 check symbol of `docs/code-format.md`.
//!
//! It needs no secret, so a typo can be told apart from a forgery before any
//! key is touched, and that answer may safely be shown to the person typing.

/// Number of symbols the check symbol covers.
pub const BODY_SYMBOLS: usize = 19;

/// One Luhn step: the factor alternates 2, 1, 2, … and the addend's two
/// base-32 digits are summed, exactly as the format document says.
fn luhn_sum<'a>(values: impl Iterator<Item = &'a u8>, first_factor: u32) -> u32 {
    let mut factor = first_factor;
    let mut sum = 0u32;
    for &value in values {
        let addend = factor * u32::from(value & 31);
        sum += addend / 32 + addend % 32;
        factor = 3 - factor;
    }
    sum
}

/// The check symbol's value for a 19-symbol body (values 0..=31).
pub fn check_value(body: &[u8; BODY_SYMBOLS]) -> u8 {
    let sum = luhn_sum(body.iter().rev(), 2);
    ((32 - sum % 32) % 32) as u8
}

/// Whether a full 20-symbol code (values 0..=31) passes the check: the same sum,
/// starting with factor 1 on the check symbol, is divisible by 32.
pub fn is_valid(symbols: &[u8; BODY_SYMBOLS + 1]) -> bool {
    luhn_sum(symbols.iter().rev(), 1) % 32 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn with_check(body: [u8; BODY_SYMBOLS]) -> [u8; BODY_SYMBOLS + 1] {
        let mut full = [0u8; BODY_SYMBOLS + 1];
        full[..BODY_SYMBOLS].copy_from_slice(&body);
        full[BODY_SYMBOLS] = check_value(&body);
        full
    }

    proptest! {
        #[test]
        fn appended_check_symbol_validates(body in prop::array::uniform19(0u8..32)) {
            prop_assert!(is_valid(&with_check(body)));
        }

        #[test]
        fn any_other_check_symbol_fails(body in prop::array::uniform19(0u8..32), wrong in 0u8..32) {
            let mut full = with_check(body);
            prop_assume!(full[BODY_SYMBOLS] != wrong);
            full[BODY_SYMBOLS] = wrong;
            prop_assert!(!is_valid(&full));
        }
    }
}
