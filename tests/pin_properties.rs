//! Properties of the numeric PIN: every typo a Damm digit promises to catch
//! is caught, every PIN reads back, and no PIN verifies under another key.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use proptest::prelude::*;
use relay_topup::code::{self, CodeError, PinKey, PinKeyRing, PinRef, Typed};

fn ring(key: [u8; 32], key_id: u8) -> PinKeyRing {
    PinKeyRing::new(key_id, PinKey::new(&key)).unwrap()
}

/// The PIN's twenty digits as ASCII.
fn digits(ring: &PinKeyRing, reference: PinRef) -> Vec<u8> {
    ring.encode(reference)
        .unwrap()
        .to_string()
        .bytes()
        .filter(u8::is_ascii_digit)
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn round_trip_for_every_key_id_and_serial(
        key in any::<[u8; 32]>(), key_id in 0u8..10, serial in 0u32..1_000_000_000,
    ) {
        let ring = ring(key, key_id);
        let reference = PinRef::new(key_id, serial).unwrap();
        let pin = ring.encode(reference).unwrap().to_string();
        prop_assert_eq!(code::parse_and_verify_pin(&ring, &pin), Ok(reference));
        prop_assert_eq!(pin.len(), 24);
        prop_assert!(pin.starts_with(&reference.to_string()[..4]));
    }

    #[test]
    fn every_single_substitution_is_a_checksum_error(
        key in any::<[u8; 32]>(), key_id in 0u8..10, serial in 0u32..1_000_000_000,
        position in 0usize..20, shift in 1u8..10,
    ) {
        let mut pin = digits(&ring(key, key_id), PinRef::new(key_id, serial).unwrap());
        pin[position] = b'0' + (pin[position] - b'0' + shift) % 10;
        prop_assert_eq!(code::parse_pin(&text(&pin)), Err(CodeError::Checksum));
    }

    #[test]
    fn every_adjacent_transposition_is_caught(
        key in any::<[u8; 32]>(), key_id in 0u8..10, serial in 0u32..1_000_000_000,
        position in 0usize..19,
    ) {
        let mut pin = digits(&ring(key, key_id), PinRef::new(key_id, serial).unwrap());
        prop_assume!(pin[position] != pin[position + 1]);
        pin.swap(position, position + 1);
        prop_assert_eq!(code::parse_pin(&text(&pin)), Err(CodeError::Checksum));
    }

    #[test]
    fn a_pin_never_verifies_under_another_key(
        key in any::<[u8; 32]>(), other in any::<[u8; 32]>(),
        key_id in 0u8..10, serial in 0u32..1_000_000_000,
    ) {
        prop_assume!(key != other);
        let reference = PinRef::new(key_id, serial).unwrap();
        let pin = ring(key, key_id).encode(reference).unwrap().to_string();
        prop_assert!(matches!(
            code::parse_and_verify_pin(&ring(other, key_id), &pin),
            Err(CodeError::Invalid(_))
        ));
    }

    #[test]
    fn reading_never_panics(input in any::<String>()) {
        let _ = code::read(&input);
        let _ = code::parse_pin(&input);
    }

    #[test]
    fn digits_only_is_always_read_as_a_pin(input in "[0-9 .-]{1,30}") {
        prop_assume!(input.chars().any(|c| c.is_ascii_digit()));
        match code::read(&input) {
            Ok(Typed::Pin(_)) | Err(CodeError::Length { .. } | CodeError::Checksum) => {}
            other => prop_assert!(false, "{input:?} read as {other:?}"),
        }
    }
}

#[test]
fn a_character_error_names_its_place_in_the_text_as_sent() {
    assert_eq!(
        code::parse_pin("7123 45O7"),
        Err(CodeError::Malformed {
            position: 8,
            found: 'O'
        })
    );
    assert_eq!(
        code::parse_pin("*144*7123#"),
        Err(CodeError::Malformed {
            position: 1,
            found: '*'
        })
    );
}

#[test]
fn nineteen_digits_get_the_pins_length_error() {
    assert_eq!(
        code::read("7123 4567 8901 2345 678"),
        Err(CodeError::Length {
            expected: 20,
            found: 19
        })
    );
}
