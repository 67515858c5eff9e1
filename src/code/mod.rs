//! The code core: the v1 voucher code format, its check symbol, its tags,
//! the numeric PIN format with its Damm check digit and tags, and voucher
//! attestations.
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
pub mod pin;
pub mod pin_tag;
pub mod reference;
pub mod tag;

pub use attestation::{
    Attestation, AttestationError, Label, SigningKey, VerifyingKeys, VoucherRecord,
};
pub use error::{CodeError, InvalidReason};
pub use format::{Code, KeyId, ParsedCode, Serial, VoucherRef, normalize, parse, parse_bytes};
pub use keys::{KeyError, KeyMaterial, KeySet};
pub use pin::{ParsedPin, Pin, PinRef, parse_pin};
pub use pin_tag::{PinKey, PinKeyRing};
pub use reference::{Format, Reference};
pub use tag::{CodeKey, CodeKeyRing};

/// Steps 1–7 in one call: parse what was typed, then check key and tag.
pub fn parse_and_verify(ring: &CodeKeyRing, input: &str) -> Result<VoucherRef, CodeError> {
    ring.verify(&parse(input)?)
}

/// A PIN's steps 1–6 in one call.
pub fn parse_and_verify_pin(ring: &PinKeyRing, input: &str) -> Result<PinRef, CodeError> {
    ring.verify(&parse_pin(input)?)
}

/// What was typed, read in the format it is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Typed {
    Code(ParsedCode),
    Pin(ParsedPin),
}

impl Typed {
    /// The public reference it claims (not yet authenticated).
    pub fn reference(&self) -> Reference {
        match self {
            Self::Code(c) => Reference::Code(c.voucher),
            Self::Pin(p) => Reference::Pin(p.reference),
        }
    }
}

/// One reader for both formats: input made only of digits (separators
/// aside) is a PIN, so nineteen digits get the PIN's length error; anything
/// else is a v1 code. The issuer never makes an all-digit v1 code, so no
/// code is read in the wrong format.
pub fn read(input: &str) -> Result<Typed, CodeError> {
    if pin::looks_numeric(input) {
        parse_pin(input).map(Typed::Pin)
    } else {
        parse(input).map(Typed::Code)
    }
}
