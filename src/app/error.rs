//! The application layer's error: what a use case refuses or fails with,
//! in words of its own. The JSON API turns it into a problem (the only
//! status codes are there); the desk turns that into a sentence. Nothing
//! here knows HTTP.

use crate::code::CodeError;
use crate::domain::DomainError;
use crate::storage::StorageError;

/// Why a use case did not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A rule of the domain said no (quota, state, cap, lock-out…).
    #[error(transparent)]
    Domain(DomainError),
    /// What was typed is not a code (malformed, or a typo).
    #[error(transparent)]
    Code(CodeError),
    /// The database failed; the cause is logged where it is answered.
    #[error(transparent)]
    Storage(StorageError),
    /// A field of the request is unusable; `detail` says why, in English.
    #[error("{field}: {detail}")]
    Invalid { field: &'static str, detail: String },
    /// No such thing for this caller (another's counts as none).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// An integrity alarm is open: nothing that moves value is done.
    #[error("issuing and redemption are halted by an integrity alarm")]
    IntegrityHold,
    /// Too fast; try again after `retry_after_secs`.
    #[error("{detail}")]
    RateLimited {
        retry_after_secs: u64,
        detail: &'static str,
    },
    /// Every place for this kind of work is taken; try again after
    /// `retry_after_secs`.
    #[error("{detail}")]
    Busy {
        retry_after_secs: u64,
        detail: &'static str,
    },
    /// Something that cannot happen with a sound database and key file;
    /// whoever returns it logs it first, with its context (ids, serials).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// What use cases return.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    pub fn invalid(field: &'static str, detail: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            detail: detail.into(),
        }
    }

    /// The field of the request a refusal names, if it names one: what a
    /// form marks for the person to correct.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Domain(DomainError::Validation { field, .. }) | Self::Invalid { field, .. } => {
                Some(field)
            }
            _ => None,
        }
    }
}

impl From<DomainError> for AppError {
    fn from(error: DomainError) -> Self {
        Self::Domain(error)
    }
}

impl From<CodeError> for AppError {
    fn from(error: CodeError) -> Self {
        Self::Code(error)
    }
}

/// A refusal that storage met inside its transaction is still a refusal.
impl From<StorageError> for AppError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::Domain(e) => Self::Domain(e),
            other => Self::Storage(other),
        }
    }
}
