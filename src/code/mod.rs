//! The code core: the v1 voucher code format, its check symbol, its tags, and
//! voucher attestations.
//!
//! This module is pure: no I/O, no clock, no randomness, and no panic on any
//! input. Secrets and times are handed in by the caller. It is what the
//! fuzzers in `fuzz/` exercise, and what every other layer trusts.
#![deny(
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::unreachable,
    clippy::todo
)]

pub mod alphabet;
pub mod attestation;
pub mod check;
mod error;
pub mod format;
pub mod keys;
pub mod tag;

pub use attestation::{
    Attestation, AttestationError, Label, SigningKey, VerifyingKeys, VoucherRecord,
};
pub use error::{CodeError, InvalidReason};
pub use format::{Code, KeyId, ParsedCode, Serial, VoucherRef, normalize, parse, parse_bytes};
pub use keys::{KeyError, KeyMaterial, KeySet};
pub use tag::{CodeKey, CodeKeyRing};

/// Steps 1–7 in one call: parse what was typed, then check key and tag.
pub fn parse_and_verify(ring: &CodeKeyRing, input: &str) -> Result<VoucherRef, CodeError> {
    ring.verify(&parse(input)?)
}
