//! Known-answer tests: the vectors of `docs/code-format.md`, kept in
//! `tests/vectors/`, plus any vector file named by `TOPUP_CODE_VECTORS`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // A panic in a test is a failure, as intended.

use std::path::{Path, PathBuf};

use relay_topup::code::{
    self, CodeError, CodeKey, CodeKeyRing, InvalidReason, KeyId, Serial, VoucherRef,
};
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
    serial: u64,
    code: String,
}

#[derive(Deserialize)]
struct Invalid {
    input: String,
    key_hex: String,
    key_id: u8,
    error: String,
}

fn ring(key_hex: &str, key_id: u8) -> CodeKeyRing {
    let secret: [u8; 32] = hex::decode(key_hex).unwrap().try_into().unwrap();
    CodeKeyRing::new(KeyId::new(key_id).unwrap(), CodeKey::new(&secret))
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
        let voucher = VoucherRef {
            key_id: KeyId::new(v.key_id).unwrap(),
            serial: Serial::new(v.serial).unwrap(),
        };
        let code = ring.encode(voucher).unwrap();
        assert_eq!(code.to_string(), v.code, "encode {} {}", v.key_id, v.serial);
        assert_eq!(
            code::parse_and_verify(&ring, &v.code),
            Ok(voucher),
            "verify {}",
            v.code
        );
        let lower = v.code.to_lowercase().replace('-', " ");
        assert_eq!(
            code::parse_and_verify(&ring, &lower),
            Ok(voucher),
            "typed {lower}"
        );
    }
    for v in &file.invalid {
        let ring = ring(&v.key_hex, v.key_id);
        let error = code::parse_and_verify(&ring, &v.input).expect_err(&v.input);
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
        vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/code-v1.json")];
    if let Some(extra) = std::env::var_os("TOPUP_CODE_VECTORS") {
        files.push(PathBuf::from(extra));
    }
    for path in files {
        let n = check_file(&path);
        assert!(n > 0, "{} holds no vectors", path.display());
        println!("code vectors: {n} checked from {}", path.display());
    }
}

#[test]
fn bundled_vectors_cover_every_error_kind() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/code-v1.json");
    let file: VectorFile = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for kind in ["checksum", "length", "character", "invalid", "unknown_key"] {
        assert!(
            file.invalid.iter().any(|v| v.error == kind),
            "no {kind} vector"
        );
    }
}
