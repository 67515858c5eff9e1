//! The checks behind the PIN fuzz targets (`parse_pin`, `pin_verify`),
//! included by `checks.rs`, which registers them in `TARGETS`.

use relay_topup::code::{self, CodeError, InvalidReason, PinKey, PinKeyRing, PinRef, Typed};

use super::Bytes;

/// The Damm table of `docs/pin-format.md`, transcribed again here so that
/// the fuzzer compares the code core with the document, not with itself.
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

/// Steps 1–4 as the document states them: the PIN's (key id, serial, tag)
/// or the error.
fn reference_parse(text: &str) -> Result<(u8, u32, u32), CodeError> {
    let mut digits = Vec::new();
    for (i, c) in text.chars().enumerate() {
        match c {
            ' ' | '\t' | '-' | '.' => {}
            '0'..='9' => digits.push(c as u8 - b'0'),
            _ => {
                return Err(CodeError::Malformed {
                    position: i + 1,
                    found: c,
                });
            }
        }
    }
    if digits.len() != 20 {
        return Err(CodeError::Length {
            expected: 20,
            found: digits.len(),
        });
    }
    let interim = digits
        .iter()
        .fold(0u8, |i, &d| DAMM[i as usize][d as usize]);
    if interim != 0 {
        return Err(CodeError::Checksum);
    }
    let number = |ds: &[u8]| ds.iter().fold(0u32, |n, &d| n * 10 + u32::from(d));
    Ok((digits[0], number(&digits[1..10]), number(&digits[10..19])))
}

/// Raw bytes, as a gateway sent them: the reader agrees with the document,
/// and the one reader for both formats reads digits as a PIN.
pub fn parse_pin(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let got = code::parse_pin(&text);
    let expected = reference_parse(&text);
    assert_eq!(
        got.map(|p| (p.reference.key_id(), p.reference.serial(), p.tag)),
        expected,
        "parse_pin disagrees with the format document"
    );
    let numeric = text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '\t' | '-' | '.'));
    match code::read(&text) {
        Ok(Typed::Pin(p)) => assert_eq!(Ok(p), got),
        Err(e) if numeric => assert_eq!(Err(e), got),
        _ => assert!(!numeric, "digits not read as a PIN: {text:?}"),
    }
    // A public reference of either format reads back to itself, and ten
    // digits are always a PIN's.
    if let Ok(r) = code::Reference::parse(&text) {
        assert_eq!(code::Reference::parse(&r.to_string()), Ok(r));
        let symbols = text
            .chars()
            .filter(|c| !matches!(c, ' ' | '\t' | '-' | '.'))
            .count();
        assert_eq!(r.format() == code::Format::Pin, numeric && symbols == 10);
    }
    if let Ok(parsed) = got {
        // Accepted means well formed: the PIN it describes prints back to
        // the same digits.
        let printed = code::Pin::from_parts(parsed.reference, parsed.tag).to_string();
        let typed: String = text.chars().filter(char::is_ascii_digit).collect();
        assert_eq!(printed.replace(' ', ""), typed);
    }
}

/// A key, a key id and text: a PIN verifies only if it is, digit for
/// digit, the one this ring makes, and never under another key.
pub fn pin_verify(data: &[u8]) {
    let mut input = Bytes(data);
    let key = input.array::<32>();
    let key_id = input.byte() % 10;
    let text = String::from_utf8_lossy(input.rest()).into_owned();
    let Some(ring) = PinKeyRing::new(key_id, PinKey::new(&key)) else {
        panic!("a ring refused key id {key_id}");
    };
    let result = code::parse_and_verify_pin(&ring, &text);
    match code::parse_pin(&text) {
        Err(error) => assert_eq!(result, Err(error)),
        Ok(parsed) => match result {
            Ok(reference) => {
                assert_eq!(reference, parsed.reference);
                assert_eq!(
                    reference.key_id(),
                    key_id,
                    "accepted under a key the ring lacks"
                );
                let Some(genuine) = ring.encode(reference) else {
                    panic!("accepted a PIN the ring cannot make");
                };
                let typed: String = text.chars().filter(char::is_ascii_digit).collect();
                assert_eq!(genuine.to_string().replace(' ', ""), typed);
                let mut other_key = key;
                other_key[0] ^= 1;
                let other = PinKeyRing::new(key_id, PinKey::new(&other_key));
                let elsewhere = other.map(|r| code::parse_and_verify_pin(&r, &text));
                assert!(matches!(elsewhere, Some(Err(CodeError::Invalid(_)))));
            }
            Err(CodeError::Invalid(reason)) => {
                let known = parsed.reference.key_id() == key_id;
                let expected = if known {
                    InvalidReason::BadTag
                } else {
                    InvalidReason::UnknownKey
                };
                assert_eq!(reason, expected);
                assert_eq!(CodeError::Invalid(reason).to_string(), "invalid code");
            }
            Err(other) => panic!("a parsed PIN failed verification with {other:?}"),
        },
    }
    // Whatever was sent, a PIN made now round-trips.
    if let Some(reference) = PinRef::new(
        key_id,
        u32::from_be_bytes([key[0], key[1], key[2], key[3]]) % 1_000_000_000,
    ) {
        let pin = ring.encode(reference).map(|p| p.to_string());
        let back = pin.as_deref().map(|p| code::parse_and_verify_pin(&ring, p));
        assert_eq!(back, Some(Ok(reference)));
    }
}
