//! The desk's error: what went wrong, turned into a French (or English)
//! page. The HTTP layer's [`Problem`] is reused as is, so a refusal means
//! the same thing in the JSON API and at the desk; only its words differ.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};

use super::i18n::Texts;
use crate::http::error::Problem;

/// Why a desk request failed.
#[derive(Debug, Clone)]
pub enum DeskError {
    /// A refusal or failure of the shared API logic.
    Problem(Problem),
    /// A form without the session's synchronizer token, or with another.
    Csrf,
    /// A form missing a field every form of its kind carries.
    FormInvalid,
    /// No live session: sign in (again). `expired` when the browser sent a
    /// session that is no longer live (a first visit is not "expired").
    SignedOut { expired: bool },
    /// A coordinator's or auditor's session on a structure's page.
    NotAStructure,
    /// A form's address asked with another method than the form's (a
    /// reload, a link, typed by hand): nothing done, a page to say so.
    FormAddress,
}

pub type DeskResult<T> = Result<T, DeskError>;

impl From<Problem> for DeskError {
    fn from(problem: Problem) -> Self {
        Self::Problem(problem)
    }
}

impl From<crate::app::AppError> for DeskError {
    fn from(error: crate::app::AppError) -> Self {
        Self::Problem(error.into())
    }
}

impl From<crate::storage::StorageError> for DeskError {
    fn from(error: crate::storage::StorageError) -> Self {
        Self::Problem(error.into())
    }
}

impl DeskError {
    pub fn not_found() -> Self {
        Self::Problem(Problem::not_found("page"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Problem(p) => {
                StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::FormInvalid => StatusCode::UNPROCESSABLE_ENTITY,
            Self::FormAddress => StatusCode::METHOD_NOT_ALLOWED,
            Self::SignedOut { .. } | Self::NotAStructure => StatusCode::SEE_OTHER,
        }
    }

    /// The sentence shown to the person at the desk.
    pub fn message(&self, t: &Texts, max_issue_count: usize) -> String {
        match self {
            Self::Problem(p) => problem_message(p, t, max_issue_count),
            Self::Csrf => t.csrf_refused.to_owned(),
            Self::FormInvalid => t.form_invalid.to_owned(),
            Self::FormAddress => t.form_address.to_owned(),
            Self::SignedOut { .. } => t.session_expired_notice.to_owned(),
            Self::NotAStructure => t.not_found.to_owned(),
        }
    }
}

/// The words for a problem, by its stable code (and field). Codes the desk
/// cannot meet fall back to a generic sentence; internal details never
/// reach the page (the problem's own detail is English and technical).
pub fn problem_message(p: &Problem, t: &Texts, max_issue_count: usize) -> String {
    match (p.code, p.field.as_deref()) {
        ("quota_exceeded", _) => t.quota_exceeded.to_owned(),
        ("need_answered", _) => t.need_answered.to_owned(),
        ("integrity_hold", _) => t.integrity_hold.to_owned(),
        ("request_timeout", _) => t.request_timeout.to_owned(),
        ("database_unavailable", _) => t.database_unavailable.to_owned(),
        ("storage_full", _) => t.storage_full.to_owned(),
        ("rate_limited", _) => (t.rate_limited)(p.retry_after.unwrap_or(1)),
        ("validation_failed", Some("count")) => (t.invalid_count)(max_issue_count),
        ("validation_failed", Some("reference")) => {
            (t.invalid_reference)(crate::domain::MAX_REFERENCE_CHARS)
        }
        ("validation_failed", Some("product")) => t.invalid_product.to_owned(),
        ("validation_failed", Some("state" | "cursor" | "limit")) => t.invalid_filter.to_owned(),
        ("already_redeemed", _) => t.already_redeemed.to_owned(),
        ("reserved", _) => t.reserved.to_owned(),
        ("voided", _) => t.already_voided.to_owned(),
        ("expired", _) => t.expired.to_owned(),
        ("idempotency_conflict", _) => t.form_reused.to_owned(),
        ("idempotency_in_progress", _) => t.form_in_progress.to_owned(),
        ("not_found", _) => t.not_found.to_owned(),
        ("internal" | "unavailable", _) => t.internal.to_owned(),
        _ => t.invalid_request.to_owned(),
    }
}

/// Handlers do not know the language of the page they fail on, so an error
/// travels to the desk's middleware in the response's extensions, and is
/// rendered there ([`super::render_error`]). A missing session is simply a
/// redirect to the sign-in page.
impl IntoResponse for DeskError {
    fn into_response(self) -> Response {
        match self {
            Self::SignedOut { expired: true } => {
                return Redirect::to("/desk/sign-in?expired=1").into_response();
            }
            Self::SignedOut { expired: false } => {
                return Redirect::to("/desk/sign-in").into_response();
            }
            // The coordinator's and auditors' desk starts at their dashboard
            // page.
            Self::NotAStructure => return Redirect::to("/desk/coordination").into_response(),
            _ => {}
        }
        let mut response = self.status().into_response();
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::VoucherState;
    use crate::web::i18n::Lang;

    #[test]
    fn problems_read_as_french_sentences_without_internal_detail() {
        let fr = Lang::Fr.texts();
        let internal = problem_message(&Problem::internal(), fr, 100);
        assert!(internal.starts_with("Une erreur est survenue"));
        assert!(!internal.contains("logged"));
        let redeemed = Problem::wrong_state(VoucherState::Redeemed);
        assert_eq!(problem_message(&redeemed, fr, 100), fr.already_redeemed);
        let count = Problem::validation("count", "count must be between 1 and 100");
        assert!(problem_message(&count, fr, 100).contains("de 1 à 100"));
        let limited = Problem::rate_limited(30, "slow down");
        assert!(problem_message(&limited, fr, 100).contains("30 secondes"));
        assert_eq!(DeskError::Csrf.status(), StatusCode::FORBIDDEN);
        assert_eq!(DeskError::Csrf.message(fr, 100), fr.csrf_refused);
    }
}
