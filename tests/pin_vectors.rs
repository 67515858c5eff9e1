//! Known-answer tests of the numeric PIN: the vectors of
//! `docs/pin-format.md`, kept in `tests/vectors/`, plus any vector file
//! named by `TOPUP_PIN_VECTORS`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::path::{Path, PathBuf};

use relay_topup::code::{self, CodeError, InvalidReason, PinKey, PinKeyRing, PinRef, Typed};
use serde::Deserialize;

#[derive(Deserialize)]
struct VectorFile {
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct Valid {
    key_hex: String,
    key_id: u8,
    serial: u32,
    pin: String,
}

#[derive(Deserialize)]
struct Invalid {
    input: String,
    key_hex: String,
    key_id: u8,
    error: String,
}

fn ring(key_hex: &str, key_id: u8) -> PinKeyRing {
    let secret: [u8; 32] = hex::decode(key_hex).unwrap().try_into().unwrap();
    PinKeyRing::new(key_id, PinKey::new(&secret)).unwrap()
}

fn error_name(error: &CodeError) -> &'static str {
    match error {
        CodeError::Malformed { .. } => "character",
        CodeError::Length { .. } => "length",
        CodeError::Checksum => "checksum",
        CodeError::Invalid(InvalidReason::BadTag) => "invalid",
        CodeError::Invalid(InvalidReason::UnknownKey) => "unknown_key",
    }
}

/// Checks every vector of one file and returns how many there were.
fn check_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let file: VectorFile = serde_json::from_str(&text).unwrap();
    for v in &file.valid {
        let ring = ring(&v.key_hex, v.key_id);
        let reference = PinRef::new(v.key_id, v.serial).unwrap();
        let pin = ring.encode(reference).unwrap();
        assert_eq!(pin.to_string(), v.pin, "encode {} {}", v.key_id, v.serial);
        assert_eq!(
            code::parse_and_verify_pin(&ring, &v.pin),
            Ok(reference),
            "verify {}",
            v.pin
        );
        // As a gateway sends it: no spaces, or dashes and dots.
        for typed in [
            v.pin.replace(' ', ""),
            v.pin.replace(' ', "-"),
            v.pin.replace(' ', "."),
        ] {
            assert_eq!(
                code::parse_and_verify_pin(&ring, &typed),
                Ok(reference),
                "{typed}"
            );
            assert!(matches!(code::read(&typed), Ok(Typed::Pin(_))), "{typed}");
        }
    }
    for v in &file.invalid {
        let ring = ring(&v.key_hex, v.key_id);
        let error = code::parse_and_verify_pin(&ring, &v.input).expect_err(&v.input);
        assert_eq!(error_name(&error), v.error, "{}: {error:?}", v.input);
        if matches!(error, CodeError::Invalid(_)) {
            // No oracle: both authenticity failures read the same outside.
            assert_eq!(error.to_string(), "invalid code");
        }
    }
    file.valid.len() + file.invalid.len()
}

#[test]
fn shared_vectors_pass() {
    let mut files =
        vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pin-v1.json")];
    if let Some(extra) = std::env::var_os("TOPUP_PIN_VECTORS") {
        files.push(PathBuf::from(extra));
    }
    for path in files {
        let n = check_file(&path);
        assert!(n > 0, "{} holds no vectors", path.display());
        println!("pin vectors: {n} checked from {}", path.display());
    }
}

#[test]
fn bundled_vectors_cover_every_error_kind() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pin-v1.json");
    let file: VectorFile = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for kind in ["checksum", "length", "character", "invalid", "unknown_key"] {
        assert!(
            file.invalid.iter().any(|v| v.error == kind),
            "no {kind} vector"
        );
    }
}

/// A vector file with one wrong entry fails, so a file named by
/// `TOPUP_PIN_VECTORS` is really checked.
#[test]
fn a_wrong_vector_fails() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pin-v1.json");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pin = file["valid"][0]["pin"].as_str().unwrap().to_owned();
    // The same PIN claimed for the next serial.
    file["valid"][0]["serial"] =
        serde_json::json!(file["valid"][0]["serial"].as_u64().unwrap() + 1);
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.json");
    std::fs::write(&wrong, file.to_string()).unwrap();
    let outcome = std::panic::catch_unwind(|| check_file(&wrong));
    assert!(outcome.is_err(), "a wrong vector for {pin} passed");
}
