//! The code core's errors.

use std::fmt;

/// Why a typed code was refused.
///
/// The first three variants come from steps that use no secret and may be
/// shown to the person typing. [`CodeError::Invalid`] is deliberately one
/// answer for every authenticity failure: its [`InvalidReason`] is for logs
/// and tests only, and its `Display` is the same whatever the reason, so that
/// nothing a caller sees tells an unknown key from a bad tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CodeError {
    /// A character outside the alphabet, at this 1-based symbol position
    /// (separators are not counted, so the position matches the slip).
    #[error("character {found:?} at position {position} is not part of a code")]
    Malformed { position: usize, found: char },
    /// Too few or too many symbols.
    #[error("a code has {expected} characters, this one has {found}")]
    Length { expected: usize, found: usize },
    /// The check symbol does not match: almost certainly a typo.
    #[error("this code contains a typo, please re-read the slip")]
    Checksum,
    /// Unknown key or wrong tag: one opaque answer.
    #[error("invalid code")]
    Invalid(InvalidReason),
}

/// Which authenticity check failed. Never shown to a caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InvalidReason {
    /// No code key with this key id (never issued, or retired).
    UnknownKey,
    /// The tag does not match the key id and serial.
    BadTag,
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnknownKey => "unknown key",
            Self::BadTag => "bad tag",
        })
    }
}
