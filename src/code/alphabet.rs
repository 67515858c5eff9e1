//! The Crockford base32 alphabet and how a typed character reads as a symbol.
//!
//! The table is built at compile time so that reading a character costs one
//! lookup: parsing sits on the redemption hot path.

/// The 32 symbols, by value.
pub const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What one typed character means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Symbol {
    /// A symbol of the alphabet, with its value 0..=31.
    Value(u8),
    /// A space, tab or dash: people type codes in groups, so these are skipped.
    Separator,
    /// Anything else, including `U`, which Crockford leaves out on purpose.
    Invalid,
}

const INVALID: u8 = 0xFF;
const SEPARATOR: u8 = 0xFE;

/// Byte → value, or one of the two markers above. Lower case, and the
/// look-alikes `O`, `I` and `L`, read as the symbols people meant.
const DECODE: [u8; 256] = build_decode();

#[allow(clippy::indexing_slicing)] // Compile-time only: an out-of-range index fails the build.
const fn build_decode() -> [u8; 256] {
    let mut table = [INVALID; 256];
    let mut value = 0;
    while value < 32 {
        let upper = ALPHABET[value];
        table[upper as usize] = value as u8;
        table[upper.to_ascii_lowercase() as usize] = value as u8;
        value += 1;
    }
    table[b'O' as usize] = 0;
    table[b'o' as usize] = 0;
    table[b'I' as usize] = 1;
    table[b'i' as usize] = 1;
    table[b'L' as usize] = 1;
    table[b'l' as usize] = 1;
    table[b' ' as usize] = SEPARATOR;
    table[b'\t' as usize] = SEPARATOR;
    table[b'-' as usize] = SEPARATOR;
    table
}

/// Reads one character as a symbol.
pub fn classify(c: char) -> Symbol {
    let Ok(byte) = u8::try_from(c) else {
        return Symbol::Invalid;
    };
    match DECODE.get(usize::from(byte)).copied().unwrap_or(INVALID) {
        INVALID => Symbol::Invalid,
        SEPARATOR => Symbol::Separator,
        value => Symbol::Value(value),
    }
}

/// The character for a value; values above 31 are masked to five bits, which
/// never happens for values this module produced.
pub fn symbol_char(value: u8) -> u8 {
    ALPHABET
        .get(usize::from(value & 31))
        .copied()
        .unwrap_or(b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_symbol_reads_back_as_its_value() {
        for (value, &c) in ALPHABET.iter().enumerate() {
            assert_eq!(classify(c as char), Symbol::Value(value as u8));
            assert_eq!(
                classify(c.to_ascii_lowercase() as char),
                Symbol::Value(value as u8)
            );
            assert_eq!(symbol_char(value as u8), c);
        }
    }

    #[test]
    fn look_alikes_read_as_meant() {
        assert_eq!(classify('O'), Symbol::Value(0));
        assert_eq!(classify('o'), Symbol::Value(0));
        for c in ['I', 'i', 'L', 'l'] {
            assert_eq!(classify(c), Symbol::Value(1));
        }
    }

    #[test]
    fn u_and_others_are_invalid() {
        for c in ['U', 'u', '_', '.', '\n', 'é', '\u{FFFD}', '\0'] {
            assert_eq!(classify(c), Symbol::Invalid, "{c:?}");
        }
        for c in [' ', '\t', '-'] {
            assert_eq!(classify(c), Symbol::Separator);
        }
    }
}
