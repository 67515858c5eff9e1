//! Attestation tests: round trips, and tampering of every kind is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;
use relay_topup::code::attestation::{self, SIGNATURE_BYTES};
use relay_topup::code::{
    AttestationError, KeyId, KeyMaterial, KeySet, Label, PinRef, Reference, Serial, VerifyingKeys,
    VoucherRecord, VoucherRef,
};
use ring::rand::SystemRandom;
use ring::signature::Ed25519KeyPair;

fn key_set() -> KeySet {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
    KeySet::from_material(&KeyMaterial::new(
        [1; 32],
        pkcs8.as_ref().to_vec(),
        [2; 32],
        [3; 32],
    ))
    .unwrap()
}

fn record() -> VoucherRecord {
    VoucherRecord {
        voucher: Reference::Code(VoucherRef {
            key_id: KeyId::new(1).unwrap(),
            serial: Serial::new(15_791_944_253).unwrap(),
        }),
        structure_id: 42,
        product: Label::new("data-1gb").unwrap(),
        resource: Label::new("data_mb").unwrap(),
        amount: 1024,
        issued_at: 1_790_000_000,
        expires_at: 1_797_776_000,
    }
}

fn raw(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn text(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn signed_record_verifies_and_decodes_to_itself() {
    let keys = key_set();
    let signed = keys.signing_key().sign(&record()).unwrap();
    let attestation = keys.verifying_keys().verify(&signed).unwrap();
    assert_eq!(attestation.record, record());
    assert_eq!(attestation.signing_key_id, keys.signing_key().id());
    assert_eq!(attestation::decode(&signed).unwrap(), attestation);
}

#[test]
fn every_flipped_bit_is_refused() {
    let keys = key_set();
    let bytes = raw(&keys.signing_key().sign(&record()).unwrap());
    for bit in 0..bytes.len() * 8 {
        let mut tampered = bytes.clone();
        tampered[bit / 8] ^= 1 << (bit % 8);
        assert!(
            keys.verifying_keys().verify(&text(&tampered)).is_err(),
            "bit {bit} flipped was accepted"
        );
    }
}

/// A change made to a record by a forger.
type Change = fn(&mut VoucherRecord);

/// Each field changed, re-encoded canonically, with the original signature.
#[test]
fn every_field_change_is_refused() {
    let keys = key_set();
    let signed = raw(&keys.signing_key().sign(&record()).unwrap());
    let signature = &signed[signed.len() - SIGNATURE_BYTES..];
    let changes: Vec<(&str, Change)> = vec![
        ("key_id", |r| {
            r.voucher = Reference::Code(VoucherRef {
                key_id: KeyId::new(2).unwrap(),
                serial: Serial::new(15_791_944_253).unwrap(),
            })
        }),
        ("serial", |r| {
            r.voucher = Reference::Code(VoucherRef {
                key_id: KeyId::new(1).unwrap(),
                serial: Serial::new(1).unwrap(),
            })
        }),
        ("format", |r| {
            r.voucher = Reference::Pin(PinRef::new(1, 791_944_253).unwrap())
        }),
        ("structure", |r| r.structure_id = 43),
        ("product", |r| r.product = Label::new("data-5gb").unwrap()),
        ("resource", |r| r.resource = Label::new("voice").unwrap()),
        ("amount", |r| r.amount = 5120),
        ("issued_at", |r| r.issued_at -= 1),
        ("expires_at", |r| r.expires_at += 86_400),
    ];
    for (field, change) in changes {
        let mut forged = record();
        change(&mut forged);
        let mut bytes = attestation::encode_unsigned(keys.signing_key().id(), &forged).unwrap();
        bytes.extend_from_slice(signature);
        assert_eq!(
            keys.verifying_keys().verify(&text(&bytes)),
            Err(AttestationError::BadSignature),
            "changed {field} was accepted"
        );
    }
}

#[test]
fn another_key_is_refused() {
    let keys = key_set();
    let other = key_set();
    let signed = keys.signing_key().sign(&record()).unwrap();
    // Same key id, other public key.
    assert_eq!(
        other.verifying_keys().verify(&signed),
        Err(AttestationError::BadSignature)
    );
    // No key with that id at all.
    assert_eq!(
        VerifyingKeys::default().verify(&signed),
        Err(AttestationError::UnknownSigningKey(keys.signing_key().id()))
    );
}

#[test]
fn non_canonical_forms_are_refused() {
    let keys = key_set();
    let signed = keys.signing_key().sign(&record()).unwrap();
    let bytes = raw(&signed);
    let mut longer = bytes.clone();
    longer.insert(bytes.len() - SIGNATURE_BYTES, 0);
    let variants = [
        format!("{signed}="),
        format!("{signed}=="),
        format!(" {signed}"),
        signed.replace('-', "+").replace('_', "/"),
        text(&bytes[..bytes.len() - 1]),
        text(&longer),
        String::new(),
        "A".repeat(10_000),
    ];
    for variant in variants {
        if variant == signed {
            continue;
        }
        assert!(
            keys.verifying_keys().verify(&variant).is_err(),
            "{variant:?} accepted"
        );
    }
}

#[test]
fn labels_follow_their_rules() {
    for good in ["data-1gb", "voice", "data_mb", "a", &"x".repeat(32)] {
        assert!(Label::new(good).is_some(), "{good}");
    }
    for bad in ["", "-data", "Data", "data 1gb", "données", &"x".repeat(33)] {
        assert!(Label::new(bad).is_none(), "{bad}");
    }
}

#[test]
fn out_of_range_records_cannot_be_signed() {
    let keys = key_set();
    let mut r = record();
    r.expires_at = r.issued_at;
    assert_eq!(
        keys.signing_key().sign(&r),
        Err(AttestationError::Unsignable("expires_at"))
    );
    let mut r = record();
    r.amount = 0;
    assert_eq!(
        keys.signing_key().sign(&r),
        Err(AttestationError::Unsignable("amount"))
    );
}

fn arb_reference() -> impl Strategy<Value = Reference> {
    prop_oneof![
        (0u8..32, 0..=relay_topup::code::format::MAX_SERIAL).prop_map(|(key_id, serial)| {
            Reference::Code(VoucherRef {
                key_id: KeyId::new(key_id).unwrap(),
                serial: Serial::new(serial).unwrap(),
            })
        }),
        (0u8..10, 0u32..1_000_000_000)
            .prop_map(|(key_id, serial)| Reference::Pin(PinRef::new(key_id, serial).unwrap())),
    ]
}

fn arb_record() -> impl Strategy<Value = VoucherRecord> {
    (
        arb_reference(),
        1u64..,
        "[a-z0-9][a-z0-9_-]{0,31}",
        "[a-z0-9][a-z0-9_-]{0,31}",
        1u64..,
        0i64..4_000_000_000,
        1i64..400_000_000,
    )
        .prop_map(
            |(voucher, structure_id, product, resource, amount, issued_at, validity)| {
                VoucherRecord {
                    voucher,
                    structure_id,
                    product: Label::new(&product).unwrap(),
                    resource: Label::new(&resource).unwrap(),
                    amount,
                    issued_at,
                    expires_at: issued_at + validity,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_record_round_trips(record in arb_record()) {
        let keys = key_set();
        let signed = keys.signing_key().sign(&record).unwrap();
        prop_assert_eq!(keys.verifying_keys().verify(&signed).unwrap().record, record);
    }

    /// A signature over one format never stands for a voucher of the
    /// other: the record of a PIN and of a code with the same key id and
    /// serial sign different bytes.
    #[test]
    fn formats_never_share_a_signature(key_id in 0u8..10, serial in 0u32..1_000_000_000) {
        let keys = key_set();
        let mut pin = record();
        pin.voucher = Reference::Pin(PinRef::new(key_id, serial).unwrap());
        let mut code = record();
        code.voucher = Reference::Code(VoucherRef {
            key_id: KeyId::new(key_id).unwrap(),
            serial: Serial::new(u64::from(serial)).unwrap(),
        });
        let (pin_bytes, code_bytes) = (raw(&keys.signing_key().sign(&pin).unwrap()), raw(&keys.signing_key().sign(&code).unwrap()));
        prop_assert_eq!(&pin_bytes[..4], b"RTP1");
        prop_assert_eq!(&code_bytes[..4], b"RTA1");
        prop_assert_eq!(&pin_bytes[4..pin_bytes.len() - SIGNATURE_BYTES], &code_bytes[4..code_bytes.len() - SIGNATURE_BYTES]);
        // The code's signature pasted onto the PIN's record is refused.
        let mut forged = pin_bytes.clone();
        let n = forged.len();
        forged[n - SIGNATURE_BYTES..].copy_from_slice(&code_bytes[n - SIGNATURE_BYTES..]);
        prop_assert_eq!(keys.verifying_keys().verify(&text(&forged)), Err(AttestationError::BadSignature));
    }

    #[test]
    fn decoding_arbitrary_text_never_panics(input in any::<String>()) {
        let _ = attestation::decode(&input);
        let _ = VerifyingKeys::default().verify(&input);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert!(VerifyingKeys::default().verify(&text(&bytes)).is_err());
        let _ = attestation::decode(&text(&bytes));
    }
}
