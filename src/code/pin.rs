//! The numeric PIN, version 1 (`docs/pin-format.md`): twenty digits a
//! basic phone can key, `K SSSSSSSSS TTTTTTTTT C`, shown as five groups of
//! four. `K` is the PIN key id (0–9), `S` the serial among that key's PINs,
//! `T` a 9-digit HMAC tag and `C` a Damm check digit over the other 19.
//!
//! Steps 1–4 of reading one use no secret and may be shown to the person
//! (a character, the length, a typo); the key and tag checks are in
//! [`super::pin_tag`] and answer one opaque `invalid`.

use std::fmt;

use super::error::CodeError;

/// Digits in a PIN.
pub const PIN_DIGITS: usize = 20;
/// Digits of the serial and of the tag.
const FIELD_DIGITS: u32 = 9;
/// One more than the largest serial or tag: 10⁹.
pub const FIELD_LIMIT: u32 = 10u32.pow(FIELD_DIGITS);
/// PIN key ids run 0..=9: one digit.
pub const PIN_KEY_IDS: u8 = 10;

/// The Damm quasigroup of order 10 (row: interim digit, column: next
/// digit). It catches every single-digit substitution and every adjacent
/// transposition, which Luhn mod 10 does not (09 ↔ 90).
const DAMM: [[u8; 10]; 10] = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2],
    [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9],
    [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8],
    [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4],
    [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5],
    [2, 5, 8, 1, 4, 3, 6, 7, 9, 0],
];

/// The Damm interim after `digits` (each 0–9; anything larger counts as
/// its last decimal digit, so no input can index out of the table).
pub fn damm(digits: &[u8]) -> u8 {
    digits.iter().fold(0u8, |interim, &d| {
        DAMM.get(usize::from(interim))
            .and_then(|row| row.get(usize::from(d % 10)))
            .copied()
            .unwrap_or(0)
    })
}

/// A PIN voucher's public reference: key id and serial, written as one
/// group of ten digits (`7123456789`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PinRef {
    key_id: u8,
    serial: u32,
}

impl PinRef {
    /// `None` unless `key_id` < 10 and `serial` < 10⁹.
    pub fn new(key_id: u8, serial: u32) -> Option<Self> {
        (key_id < PIN_KEY_IDS && serial < FIELD_LIMIT).then_some(Self { key_id, serial })
    }

    pub fn key_id(self) -> u8 {
        self.key_id
    }

    pub fn serial(self) -> u32 {
        self.serial
    }
}

impl fmt::Display for PinRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{:09}", self.key_id, self.serial)
    }
}

/// A whole PIN: reference, tag and check digit. A bearer secret: its
/// `Debug` shows only the public reference.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Pin {
    pub reference: PinRef,
    tag: u32,
}

impl Pin {
    /// The PIN of `reference` with `tag` (reduced below 10⁹).
    pub fn from_parts(reference: PinRef, tag: u32) -> Self {
        Self {
            reference,
            tag: tag % FIELD_LIMIT,
        }
    }

    /// The twenty digits, check digit last.
    pub fn digits(&self) -> [u8; PIN_DIGITS] {
        let mut out = [0u8; PIN_DIGITS];
        let (body, check) = out.split_at_mut(PIN_DIGITS - 1);
        let (key, rest) = body.split_at_mut(1);
        let (serial, tag) = rest.split_at_mut(FIELD_DIGITS as usize);
        key.copy_from_slice(&[self.reference.key_id]);
        write_decimal(serial, self.reference.serial);
        write_decimal(tag, self.tag);
        let digit = damm(body);
        check.copy_from_slice(&[digit]);
        out
    }
}

/// Writes `value` into `out` as zero-padded decimal digits.
fn write_decimal(out: &mut [u8], mut value: u32) {
    for slot in out.iter_mut().rev() {
        *slot = u8::try_from(value % 10).unwrap_or(0);
        value /= 10;
    }
}

/// Reads zero-padded decimal digits.
fn read_decimal(digits: &[u8]) -> u32 {
    digits.iter().fold(0u32, |acc, &d| {
        acc.wrapping_mul(10).wrapping_add(u32::from(d))
    })
}

impl fmt::Display for Pin {
    /// `dddd dddd dddd dddd dddd`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.digits().iter().enumerate() {
            if i > 0 && i % 4 == 0 {
                f.write_str(" ")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({}, <tag>)", self.reference)
    }
}

/// A PIN read from what was sent, its check digit right, not yet
/// authenticated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedPin {
    pub reference: PinRef,
    pub tag: u32,
}

impl fmt::Debug for ParsedPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParsedPin({}, <tag>)", self.reference)
    }
}

/// Characters a person or a gateway may put between digits.
pub fn is_pin_separator(c: char) -> bool {
    matches!(c, ' ' | '\t' | '-' | '.')
}

/// Whether `input`, separators aside, is made of digits only and is not
/// empty: such input is read as a PIN, anything else as a v1 code.
pub fn looks_numeric(input: &str) -> bool {
    let mut any = false;
    for c in input.chars().filter(|&c| !is_pin_separator(c)) {
        if !c.is_ascii_digit() {
            return false;
        }
        any = true;
    }
    any
}

/// Steps 1–4: separators removed, digits only (a position counted in the
/// text as sent, from 1), exactly twenty, and the Damm check.
pub fn parse_pin(input: &str) -> Result<ParsedPin, CodeError> {
    let mut digits = [0u8; PIN_DIGITS];
    let mut count = 0usize;
    for (index, c) in input.chars().enumerate() {
        if is_pin_separator(c) {
            continue;
        }
        let Some(d) = c.to_digit(10).filter(|_| c.is_ascii_digit()) else {
            return Err(CodeError::Malformed {
                position: index + 1,
                found: c,
            });
        };
        if let Some(slot) = digits.get_mut(count) {
            *slot = u8::try_from(d).unwrap_or(0);
        }
        count += 1;
    }
    if count != PIN_DIGITS {
        return Err(CodeError::Length {
            expected: PIN_DIGITS,
            found: count,
        });
    }
    if damm(&digits) != 0 {
        return Err(CodeError::Checksum);
    }
    let (key, rest) = digits.split_at(1);
    let (serial, rest) = rest.split_at(FIELD_DIGITS as usize);
    let (tag, _) = rest.split_at(FIELD_DIGITS as usize);
    let key_id = key.first().copied().unwrap_or(0);
    let reference = PinRef::new(key_id, read_decimal(serial)).ok_or(CodeError::Checksum)?;
    Ok(ParsedPin {
        reference,
        tag: read_decimal(tag),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damm_matches_its_textbook_example() {
        // 572 has check digit 4, and 5724 checks to 0.
        assert_eq!(damm(&[5, 7, 2]), 4);
        assert_eq!(damm(&[5, 7, 2, 4]), 0);
    }

    #[test]
    fn a_pin_reads_back_what_it_writes() {
        let reference = PinRef::new(7, 123_456_789).unwrap();
        let pin = Pin::from_parts(reference, 987_654_321);
        let text = pin.to_string();
        assert_eq!(text.len(), 24);
        assert!(text.starts_with("7123 4567 8998 7654 321"));
        let parsed = parse_pin(&text).unwrap();
        assert_eq!(parsed.reference, reference);
        assert_eq!(parsed.tag, 987_654_321);
        assert_eq!(reference.to_string(), "7123456789");
        assert!(!format!("{pin:?}").contains("98765"));
    }

    #[test]
    fn errors_name_what_a_person_can_fix() {
        assert_eq!(
            parse_pin("1234 5x"),
            Err(CodeError::Malformed {
                position: 7,
                found: 'x'
            })
        );
        assert_eq!(
            parse_pin("1234"),
            Err(CodeError::Length {
                expected: 20,
                found: 4
            })
        );
        assert!(looks_numeric("1234 5678"));
        assert!(!looks_numeric("1234 567A"));
        assert!(!looks_numeric(" - "));
    }
}
