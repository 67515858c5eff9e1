//! The HTTP layer's error: an RFC 9457 problem with a stable `code`.
//!
//! Every error of the lower layers is converted here, and only here, into a
//! status and a code from `docs/contract.md`. Internal errors are logged with their
//! details and answered with a bare 500.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::AppError;
use crate::code::CodeError;
use crate::domain::{DomainError, VoucherState};
use crate::storage::{Fault, StorageError};

/// `Retry-After` when the database does not answer: a restart takes
/// seconds.
const DATABASE_RETRY_AFTER_SECS: u64 = 2;
/// `Retry-After` when the database is full: someone has to free space.
const STORAGE_FULL_RETRY_AFTER_SECS: u64 = 60;

/// An error answer. Build one with the constructors; they fix the status and
/// code together so the two can never disagree. Boxed, so results that carry
/// it stay small.
#[derive(Debug, Clone)]
pub struct Problem(Box<ProblemBody>);

impl std::ops::Deref for Problem {
    type Target = ProblemBody;
    fn deref(&self) -> &ProblemBody {
        &self.0
    }
}

/// The problem document (RFC 9457) with relay-topup's members.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code (`docs/contract.md`, "Errors").
    pub code: &'static str,
    /// The request field at fault, for `validation_failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The 1-based position of a bad character, for `malformed_code`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// Seconds to wait, for `rate_limited` and `locked_out`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self(Box::new(ProblemBody {
            type_uri: format!("/problems/{code}"),
            title,
            status: status.as_u16(),
            detail: detail.into(),
            code,
            field: None,
            position: None,
            retry_after: None,
        }))
    }

    pub fn validation(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let mut p = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "Validation failed",
            detail,
        );
        p.0.field = Some(field.into());
        p
    }

    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "a valid bearer token is required",
        )
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            "this token's role cannot use this endpoint",
        )
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            format!("no such {what}"),
        )
    }

    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            format!("request bodies are limited to {limit_bytes} bytes"),
        )
    }

    /// The problem for a bare status, when nothing more is known about the
    /// error (see [`super::net`]): the project's code where one status has
    /// one code, else a code naming the status class.
    pub fn for_status(status: StatusCode) -> Self {
        let (code, title) = match status.as_u16() {
            400 => ("bad_request", "Bad request"),
            401 => return Self::unauthorized(),
            403 => return Self::forbidden(),
            404 => return Self::not_found("resource"),
            405 => ("method_not_allowed", "Method not allowed"),
            408 => ("request_timeout", "Request timeout"),
            413 => ("payload_too_large", "Payload too large"),
            415 => ("unsupported_media_type", "Unsupported media type"),
            422 => ("unprocessable", "Unprocessable request"),
            429 => ("rate_limited", "Rate limited"),
            500 => return Self::internal(),
            503 => ("unavailable", "Service unavailable"),
            504 => ("request_timeout", "Request timeout"),
            s if s < 500 => ("bad_request", "Bad request"),
            _ => ("internal", "Internal error"),
        };
        let detail = status.canonical_reason().unwrap_or(title).to_lowercase();
        Self::new(status, code, title, detail)
    }

    /// A body sent as another media type than the route reads.
    pub fn unsupported_media_type(expected: &str) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            format!("send the body with Content-Type: {expected}"),
        )
    }

    pub fn rate_limited(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "Rate limited",
            detail,
        )
        .retry_after(retry_after_secs)
    }

    /// Adds a `Retry-After` (at least one second).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.0.retry_after = Some(secs.max(1));
        self
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "something went wrong on our side; it has been logged",
        )
    }

    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Service unavailable",
            detail,
        )
    }

    /// The database does not answer (stopped, restarting, out of
    /// connections). What was asked was not done, or not acknowledged:
    /// retry, with the same `Idempotency-Key` where there is one.
    pub fn database_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "Database unavailable",
            "the database does not answer; retry shortly (with the same Idempotency-Key \
             where the request has one)",
        )
        .retry_after(DATABASE_RETRY_AFTER_SECS)
    }

    /// The database has no space left: nothing was written.
    pub fn storage_full() -> Self {
        Self::new(
            StatusCode::INSUFFICIENT_STORAGE,
            "storage_full",
            "Storage full",
            "the database has no space left to write, so nothing was changed; retry once \
             its administrator has freed space",
        )
        .retry_after(STORAGE_FULL_RETRY_AFTER_SECS)
    }

    /// Every PIN key id (0 to 9) or code key id (0 to 31) has been used;
    /// ids are never reused while vouchers made with them may still be
    /// presented, and the formats rotate together.
    pub fn key_ids_exhausted() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "key_ids_exhausted",
            "No key id left",
            "all 10 PIN key ids (or all 32 code key ids) are in use, so no new keys can be \
             added; see the README, \"Retiring keys\"",
        )
    }

    /// Too many heavy requests of this kind run at once; try again later.
    pub fn busy(retry_after_secs: u64, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "Busy", detail)
            .retry_after(retry_after_secs)
    }

    /// The request took longer than the configured request timeout. What it
    /// was doing may or may not have taken effect: retry with the same
    /// `Idempotency-Key`.
    pub fn request_timeout(timeout_secs: u64) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "request_timeout",
            "Request timed out",
            format!(
                "the request took longer than {timeout_secs} s; retry it (with the same \
                 Idempotency-Key where it has one)"
            ),
        )
        .retry_after(1)
    }

    /// Issuing and redemption are halted: the periodic integrity check
    /// found the books inconsistent, and no admin has acknowledged it.
    pub fn integrity_hold() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "integrity_hold",
            "Halted for an integrity check",
            "the service found an inconsistency in its records and refuses issuing and \
             redemption until an administrator acknowledges it",
        )
    }

    /// The problem for a voucher that is not in a state the request needs.
    pub fn wrong_state(state: VoucherState) -> Self {
        match state {
            VoucherState::Redeemed => Self::new(
                StatusCode::CONFLICT,
                "already_redeemed",
                "Already redeemed",
                "this code has already been redeemed",
            ),
            VoucherState::Reserved => Self::new(
                StatusCode::CONFLICT,
                "reserved",
                "Reserved",
                "this code is held by a redemption in progress",
            ),
            VoucherState::Voided => {
                Self::new(StatusCode::GONE, "voided", "Voided", "this code was voided")
            }
            VoucherState::Expired => Self::new(
                StatusCode::GONE,
                "expired",
                "Expired",
                "this code has expired",
            ),
            VoucherState::Issued => Self::new(
                StatusCode::CONFLICT,
                "wrong_state",
                "Wrong state",
                "this code has not been redeemed",
            ),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let retry_after = self.retry_after;
        let body = serde_json::to_vec(&*self.0).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<DomainError> for Problem {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Validation { field, reason } => {
                Self::validation(field, format!("{field}: {reason}"))
            }
            DomainError::QuotaExceeded { .. } => Self::new(
                StatusCode::CONFLICT,
                "quota_exceeded",
                "Quota exceeded",
                error.to_string(),
            ),
            DomainError::NotFound(what) => Self::not_found(what),
            DomainError::StructureDeactivated => {
                Self::validation("structure_id", error.to_string())
            }
            DomainError::WrongState(state) => Self::wrong_state(state),
            DomainError::NeedAnswered(_) => Self::new(
                StatusCode::CONFLICT,
                "need_answered",
                "Need already answered",
                error.to_string(),
            ),
            DomainError::IdempotencyConflict => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_conflict",
                "Idempotency conflict",
                error.to_string(),
            ),
            DomainError::IdempotencyInProgress => Self::new(
                StatusCode::CONFLICT,
                "idempotency_in_progress",
                "Request in progress",
                error.to_string(),
            ),
            // The application answers a code of another network as an
            // invalid one before it gets here; this keeps it so if not.
            DomainError::InvalidCode | DomainError::WrongNetwork => Self::invalid_code(),
            DomainError::TokenRevoked => Self::unauthorized(),
            DomainError::LoginTaken => Self::new(
                StatusCode::CONFLICT,
                "conflict",
                "Conflict",
                "this login is taken",
            ),
            DomainError::BeneficiaryCapReached => Self::new(
                StatusCode::CONFLICT,
                "beneficiary_cap_reached",
                "Beneficiary cap reached",
                error.to_string(),
            ),
            DomainError::HoldExpired => Self::new(
                StatusCode::CONFLICT,
                "hold_expired",
                "Hold expired",
                error.to_string(),
            ),
            DomainError::Cancelled => Self::new(
                StatusCode::CONFLICT,
                "cancelled",
                "Cancelled",
                error.to_string(),
            ),
            DomainError::Reversed => Self::new(
                StatusCode::CONFLICT,
                "reversed",
                "Reversed",
                error.to_string(),
            ),
            DomainError::ReversalWindowClosed => Self::new(
                StatusCode::CONFLICT,
                "reversal_window_closed",
                "Reversal window closed",
                error.to_string(),
            ),
            DomainError::LockedOut { retry_after_secs } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "locked_out",
                "Locked out",
                "too many failed attempts from this source; try again later",
            )
            .retry_after(u64::try_from(retry_after_secs).unwrap_or(1)),
            DomainError::AlreadyExists(what) => Self::new(
                StatusCode::CONFLICT,
                "already_exists",
                "Already exists",
                format!("{what} already exists"),
            ),
        }
    }
}

impl From<StorageError> for Problem {
    fn from(error: StorageError) -> Self {
        match (error.fault(), error) {
            (_, StorageError::Domain(e)) => e.into(),
            (Some(Fault::Unavailable), other) => {
                tracing::warn!(error = %other, "database unavailable");
                Self::database_unavailable()
            }
            (Some(Fault::Full), other) => {
                tracing::error!(error = %other, "database full");
                Self::storage_full()
            }
            (None, other) => {
                tracing::error!(error = %other, "storage error");
                Self::internal()
            }
        }
    }
}

/// A use case's refusal, in the API's words: the one place where the
/// application layer's errors get their status codes.
impl From<AppError> for Problem {
    fn from(error: AppError) -> Self {
        match error {
            AppError::Domain(e) => e.into(),
            AppError::Code(e) => e.into(),
            AppError::Storage(e) => e.into(),
            AppError::Invalid { field, detail } => Self::validation(field, detail),
            AppError::NotFound(what) => Self::not_found(what),
            AppError::IntegrityHold => Self::integrity_hold(),
            AppError::RateLimited {
                retry_after_secs,
                detail,
            } => Self::rate_limited(retry_after_secs, detail),
            AppError::Busy {
                retry_after_secs,
                detail,
            } => Self::busy(retry_after_secs, detail),
            // Logged with its context where it arose.
            AppError::Internal(_) => Self::internal(),
        }
    }
}

impl From<CodeError> for Problem {
    fn from(error: CodeError) -> Self {
        match error {
            CodeError::Malformed { position, .. } => {
                let mut p = Self::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_code",
                    "Malformed code",
                    error.to_string(),
                );
                p.0.position = Some(position);
                p
            }
            CodeError::Length { .. } => Self::new(
                StatusCode::BAD_REQUEST,
                "malformed_code",
                "Malformed code",
                error.to_string(),
            ),
            CodeError::Checksum => Self::new(
                StatusCode::BAD_REQUEST,
                "checksum_mismatch",
                "Checksum mismatch",
                "this code contains a typo (probably a typo): please re-read the slip",
            ),
            // One answer for an unknown key, a bad tag and an unknown serial.
            CodeError::Invalid(_) => Self::invalid_code(),
        }
    }
}

impl Problem {
    /// The one answer for every authenticity failure: no oracle.
    pub fn invalid_code() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_code",
            "Invalid code",
            "this code is not valid",
        )
    }
}

/// Handlers return this.
pub type ApiResult<T> = Result<T, Problem>;
