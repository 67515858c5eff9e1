//! Codes as people see them: twenty symbols, read from what was typed.
//!
//! Parsing covers steps 1–5 of `docs/code-format.md` and needs no secret. Its
//! errors are precise on purpose (position, length, typo) because they reveal
//! nothing about which codes exist. Steps 6–7 live in [`super::tag`].

use std::fmt;

use super::alphabet::{Symbol, classify, symbol_char};
use super::check::{self, BODY_SYMBOLS};
use super::error::CodeError;

/// Symbols in a full code.
pub const CODE_SYMBOLS: usize = BODY_SYMBOLS + 1;
/// Symbols of the public reference: key_id (1) and serial (7).
pub const REF_SYMBOLS: usize = 8;
/// Serials are 35-bit numbers.
pub const SERIAL_BITS: u32 = 35;
/// Tags are the leftmost 55 bits of the HMAC.
pub const TAG_BITS: u32 = 55;
/// The largest serial the format can carry.
pub const MAX_SERIAL: u64 = (1 << SERIAL_BITS) - 1;
/// The number of code keys the format can name.
pub const KEY_IDS: u8 = 32;

/// Which code key made a tag (0..=31).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(u8);

impl KeyId {
    /// `None` unless `id` fits in five bits.
    pub fn new(id: u8) -> Option<Self> {
        (id < KEY_IDS).then_some(Self(id))
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A voucher's serial number, unique per key id (0..2^35).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial(u64);

impl Serial {
    /// `None` unless `serial` fits in 35 bits.
    pub fn new(serial: u64) -> Option<Self> {
        (serial <= MAX_SERIAL).then_some(Self(serial))
    }
    pub fn get(self) -> u64 {
        self.0
    }
}

/// A voucher's public reference: its key id and serial, written as the code's
/// first eight symbols (`1EPM-BWHX`). Not secret: it appears on lists,
/// statements and slips, and in URLs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VoucherRef {
    pub key_id: KeyId,
    pub serial: Serial,
}

impl VoucherRef {
    fn value(self) -> u64 {
        u64::from(self.key_id.0) << SERIAL_BITS | self.serial.0
    }

    /// Reads a reference as typed, with the same leniency as a code (dashes,
    /// spaces, lower case and look-alikes accepted).
    pub fn parse(input: &str) -> Result<Self, CodeError> {
        let (symbols, count) = read_symbols::<REF_SYMBOLS>(input)?;
        if count != REF_SYMBOLS {
            return Err(CodeError::Length {
                expected: REF_SYMBOLS,
                found: count,
            });
        }
        let value = symbols.iter().fold(0u64, |acc, &v| acc << 5 | u64::from(v));
        Ok(Self::from_value(value))
    }

    fn from_value(value: u64) -> Self {
        Self {
            key_id: KeyId(((value >> SERIAL_BITS) & 31) as u8),
            serial: Serial(value & MAX_SERIAL),
        }
    }
}

impl fmt::Display for VoucherRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.value();
        let mut out = [0u8; REF_SYMBOLS + 1];
        let mut at = 0;
        for i in 0..REF_SYMBOLS {
            if i == 4 {
                write_byte(&mut out, &mut at, b'-');
            }
            let shift = 5 * (REF_SYMBOLS - 1 - i);
            write_byte(
                &mut out,
                &mut at,
                symbol_char(((value >> shift) & 31) as u8),
            );
        }
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

fn write_byte<const N: usize>(out: &mut [u8; N], at: &mut usize, byte: u8) {
    if let Some(slot) = out.get_mut(*at) {
        *slot = byte;
    }
    *at += 1;
}

/// A code that passed steps 1–5: well formed and free of typos. Its tag is
/// not yet checked, so it proves nothing about authenticity.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedCode {
    pub voucher: VoucherRef,
    /// The 55-bit tag as typed.
    pub tag: u64,
}

impl fmt::Debug for ParsedCode {
    // The tag is half of a bearer secret: debug output shows the serial only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedCode")
            .field("voucher", &format_args!("{}", self.voucher))
            .finish_non_exhaustive()
    }
}

/// A code in canonical form, ready to print. It is a bearer secret: `Debug`
/// shows only its public reference; use `Display` to print it on purpose.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Code {
    symbols: [u8; CODE_SYMBOLS],
    voucher: VoucherRef,
}

impl Code {
    /// Builds the code for a voucher and its tag (the caller computed the tag).
    pub(crate) fn from_parts(voucher: VoucherRef, tag: u64) -> Self {
        let value = u128::from(voucher.value()) << TAG_BITS | u128::from(tag & tag_mask());
        let mut values = [0u8; BODY_SYMBOLS];
        for (i, slot) in values.iter_mut().enumerate() {
            *slot = ((value >> (5 * (BODY_SYMBOLS - 1 - i))) & 31) as u8;
        }
        let mut symbols = [0u8; CODE_SYMBOLS];
        for (slot, &v) in symbols.iter_mut().zip(values.iter()) {
            *slot = symbol_char(v);
        }
        if let Some(last) = symbols.last_mut() {
            *last = symbol_char(check::check_value(&values));
        }
        Self { symbols, voucher }
    }

    pub fn voucher(&self) -> VoucherRef {
        self.voucher
    }

    /// The twenty symbols without separators, as a QR code carries them.
    pub fn compact(&self) -> &str {
        std::str::from_utf8(&self.symbols).unwrap_or_default()
    }
}

impl fmt::Display for Code {
    /// Five groups of four, as printed on a slip: `K7QH-3M9T-XW2P-8RDA-…`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.symbols.chunks(4).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(std::str::from_utf8(group).map_err(|_| fmt::Error)?)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({}-…)", self.voucher)
    }
}

pub(crate) const fn tag_mask() -> u64 {
    (1 << TAG_BITS) - 1
}

/// Steps 1–5: reads what a person typed. Never panics, allocates nothing and
/// looks at every character once, whatever the input.
pub fn parse(input: &str) -> Result<ParsedCode, CodeError> {
    let (values, count) = read_symbols::<CODE_SYMBOLS>(input)?;
    if count != CODE_SYMBOLS {
        return Err(CodeError::Length {
            expected: CODE_SYMBOLS,
            found: count,
        });
    }
    if !check::is_valid(&values) {
        return Err(CodeError::Checksum);
    }
    let value = values
        .iter()
        .take(BODY_SYMBOLS)
        .fold(0u128, |acc, &v| acc << 5 | u128::from(v));
    Ok(ParsedCode {
        voucher: VoucherRef::from_value((value >> TAG_BITS) as u64),
        tag: (value as u64) & tag_mask(),
    })
}

/// Steps 1–3 only: the symbols a person typed, upper case, look-alikes
/// mapped, separators removed. Normalising twice changes nothing, and
/// `parse(normalize(x)?)` is `parse(x)`.
pub fn normalize(input: &str) -> Result<String, CodeError> {
    let mut out = String::with_capacity(CODE_SYMBOLS);
    for c in input.chars() {
        match classify(c) {
            Symbol::Separator => {}
            Symbol::Value(v) => out.push(char::from(symbol_char(v))),
            Symbol::Invalid => {
                return Err(CodeError::Malformed {
                    position: out.len() + 1,
                    found: c,
                });
            }
        }
    }
    Ok(out)
}

/// [`parse`] for raw bytes: anything that is not UTF-8 is a malformed symbol
/// at the place where it stands.
pub fn parse_bytes(input: &[u8]) -> Result<ParsedCode, CodeError> {
    parse(&String::from_utf8_lossy(input))
}

/// Reads symbol values into a fixed array, skipping separators. Returns the
/// total number of symbols (which may exceed `N`) so that a length error can
/// say how many there were; a bad character is reported first, wherever it is,
/// because the format document checks characters before length.
fn read_symbols<const N: usize>(input: &str) -> Result<([u8; N], usize), CodeError> {
    let mut values = [0u8; N];
    let mut count = 0usize;
    for c in input.chars() {
        match classify(c) {
            Symbol::Separator => {}
            Symbol::Value(v) => {
                if let Some(slot) = values.get_mut(count) {
                    *slot = v;
                }
                count += 1;
            }
            Symbol::Invalid => {
                return Err(CodeError::Malformed {
                    position: count + 1,
                    found: c,
                });
            }
        }
    }
    Ok((values, count))
}
