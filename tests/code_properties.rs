//! Property tests of the code format: round trips, what the check symbol
//! catches, normalisation, and key separation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use proptest::prelude::*;
use relay_topup::code::format::MAX_SERIAL;
use relay_topup::code::{
    self, CodeError, CodeKey, CodeKeyRing, InvalidReason, KeyId, Serial, VoucherRef,
    alphabet::ALPHABET,
};

fn ring(key: [u8; 32], key_id: u8) -> CodeKeyRing {
    CodeKeyRing::new(KeyId::new(key_id).unwrap(), CodeKey::new(&key))
}

fn voucher(key_id: u8, serial: u64) -> VoucherRef {
    VoucherRef {
        key_id: KeyId::new(key_id).unwrap(),
        serial: Serial::new(serial).unwrap(),
    }
}

fn compact(ring: &CodeKeyRing, v: VoucherRef) -> Vec<u8> {
    ring.encode(v).unwrap().compact().as_bytes().to_vec()
}

fn parse_bytes_str(symbols: &[u8]) -> Result<code::ParsedCode, CodeError> {
    code::parse(std::str::from_utf8(symbols).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_for_every_key_id_and_serial(
        key in any::<[u8; 32]>(), key_id in 0u8..32, serial in 0..=MAX_SERIAL,
    ) {
        let ring = ring(key, key_id);
        let v = voucher(key_id, serial);
        let code = ring.encode(v).unwrap();
        let printed = code.to_string();
        prop_assert_eq!(printed.len(), 24);
        prop_assert_eq!(&printed[..9], v.to_string());
        prop_assert_eq!(code::parse_and_verify(&ring, &printed), Ok(v));
        prop_assert_eq!(code::parse_and_verify(&ring, code.compact()), Ok(v));
        prop_assert_eq!(VoucherRef::parse(&v.to_string()), Ok(v));
    }

    #[test]
    fn every_single_substitution_is_a_checksum_error(
        key in any::<[u8; 32]>(), key_id in 0u8..32, serial in 0..=MAX_SERIAL,
    ) {
        let original = compact(&ring(key, key_id), voucher(key_id, serial));
        for position in 0..original.len() {
            for &replacement in ALPHABET.iter() {
                if replacement == original[position] {
                    continue;
                }
                let mut typo = original.clone();
                typo[position] = replacement;
                prop_assert_eq!(parse_bytes_str(&typo), Err(CodeError::Checksum));
            }
        }
    }

    #[test]
    fn every_adjacent_transposition_except_0_z_is_caught(
        key in any::<[u8; 32]>(), key_id in 0u8..32, serial in 0..=MAX_SERIAL,
    ) {
        let original = compact(&ring(key, key_id), voucher(key_id, serial));
        for i in 0..original.len() - 1 {
            let (a, b) = (original[i], original[i + 1]);
            if a == b || (a.min(b), a.max(b)) == (b'0', b'Z') {
                continue;
            }
            let mut swapped = original.clone();
            swapped.swap(i, i + 1);
            prop_assert_eq!(parse_bytes_str(&swapped), Err(CodeError::Checksum));
        }
    }

    #[test]
    fn normalisation_is_idempotent(input in "[0-9A-Za-z \\t\\-éU_]{0,40}") {
        match code::normalize(&input) {
            Ok(once) => {
                prop_assert_eq!(code::normalize(&once), Ok(once.clone()));
                prop_assert_eq!(code::parse(&once), code::parse(&input));
            }
            Err(e) => prop_assert_eq!(code::parse(&input).err(), Some(e)),
        }
    }

    #[test]
    fn typing_variants_read_the_same(
        key in any::<[u8; 32]>(), key_id in 0u8..32, serial in 0..=MAX_SERIAL,
    ) {
        let ring = ring(key, key_id);
        let v = voucher(key_id, serial);
        let printed = ring.encode(v).unwrap().to_string();
        let lower = printed.to_lowercase();
        let spaced = printed.replace('-', " ");
        let lookalikes = printed.replace('0', "O").replace('1', "l");
        for typed in [lower, spaced, lookalikes] {
            prop_assert_eq!(code::parse_and_verify(&ring, &typed), Ok(v));
        }
    }

    #[test]
    fn a_code_never_verifies_under_another_key(
        key in any::<[u8; 32]>(), other in any::<[u8; 32]>(),
        key_id in 0u8..32, other_id in 0u8..32, serial in 0..=MAX_SERIAL,
    ) {
        prop_assume!(key != other);
        let v = voucher(key_id, serial);
        let printed = ring(key, key_id).encode(v).unwrap().to_string();
        let expected = if key_id == other_id { InvalidReason::BadTag } else { InvalidReason::UnknownKey };
        prop_assert_eq!(
            code::parse_and_verify(&ring(other, other_id), &printed),
            Err(CodeError::Invalid(expected))
        );
    }

    #[test]
    fn parsing_never_panics(input in any::<String>()) {
        let _ = code::parse(&input);
        let _ = code::normalize(&input);
        let _ = VoucherRef::parse(&input);
    }

    #[test]
    fn parsing_bytes_never_panics(input in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = code::parse_bytes(&input);
    }
}

#[test]
fn malformed_symbol_names_its_position_on_the_slip() {
    assert_eq!(
        code::parse("1EPM-BWUX-WG4M-WKBV-9E7D"),
        Err(CodeError::Malformed {
            position: 7,
            found: 'U'
        })
    );
    assert_eq!(
        code::parse("é"),
        Err(CodeError::Malformed {
            position: 1,
            found: 'é'
        })
    );
}

#[test]
fn character_errors_come_before_length_errors() {
    assert!(matches!(
        code::parse("AU"),
        Err(CodeError::Malformed { position: 2, .. })
    ));
    assert_eq!(
        code::parse("ABC"),
        Err(CodeError::Length {
            expected: 20,
            found: 3
        })
    );
}

#[test]
fn debug_output_never_shows_a_whole_code() {
    let ring = ring([5; 32], 3);
    let code = ring.encode(voucher(3, 123_456)).unwrap();
    let printed = code.to_string();
    let parsed = code::parse(&printed).unwrap();
    for text in [
        format!("{code:?}"),
        format!("{parsed:?}"),
        format!("{ring:?}"),
    ] {
        assert!(!text.contains(&printed[10..]), "{text}");
    }
}
