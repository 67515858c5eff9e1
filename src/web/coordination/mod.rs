//! The coordinator's desk: the dashboard, structures, quotas, operators and
//! products, tokens, the donor report, the journal of who did what and the
//! integrity status (accounts are [`super::accounts`]). Auditors see the
//! same pages without their forms, and every form refuses them. Each page is a thin adapter over a
//! use case of [`crate::app`], as the structure desk is.

mod catalogue;
mod charts;
mod dashboard;
mod donor;
mod integrity;
mod journal;
mod journal_texts;
mod lines;
mod needs;
mod networks;
mod structures;
mod texts;
mod tokens;
mod vouchers;

use axum::Router;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::Uri;
use axum::http::request::Parts;
use axum::routing::{get, post};
use maud::{Markup, html};

use super::error::DeskError;
use super::i18n::Lang;
use super::layout::{Chrome, Nav, Notice, notice, page};
use super::session::Person;
use crate::app::{AppError, AppState};
use crate::domain::DomainError;
use crate::domain::account::AccountRole;
pub use texts::CoordinationTexts;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/desk/coordination", get(dashboard::show))
        .route(
            "/desk/coordination/structures",
            get(structures::list).post(structures::register),
        )
        .route(
            "/desk/coordination/structures/{id}/{action}",
            post(structures::change),
        )
        .route(
            "/desk/coordination/grants",
            get(structures::grants).post(structures::grant),
        )
        .route(
            "/desk/coordination/networks",
            get(networks::list).post(networks::add_operator),
        )
        .route("/desk/coordination/products", post(networks::save_product))
        .route(
            "/desk/coordination/networks/{id}/slip-instructions",
            post(networks::set_dialling),
        )
        .route("/desk/coordination/products/{id}", get(catalogue::edit))
        .route(
            "/desk/coordination/products/{id}/{action}",
            post(networks::product),
        )
        .route(
            "/desk/coordination/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route(
            "/desk/coordination/tokens/{id}/revoke",
            post(tokens::revoke),
        )
        .route("/desk/coordination/donor", get(donor::show))
        .route("/desk/coordination/donor.csv", get(donor::csv))
        .route("/desk/coordination/journal", get(journal::show))
        .route("/desk/coordination/find", get(vouchers::find))
        .route(
            "/desk/coordination/vouchers/{serial}",
            get(vouchers::voucher),
        )
        .route(
            "/desk/coordination/lines",
            get(lines::show).post(lines::unbar),
        )
        .route("/desk/coordination/needs", get(needs::show))
        .route(
            "/desk/coordination/needs/{id}/{action}",
            post(needs::answer),
        )
        .route(
            "/desk/coordination/integrity",
            get(integrity::show).post(integrity::acknowledge),
        )
}

/// The coordinator or an auditor, signed in at the desk.
pub struct Coordinator {
    pub person: Person,
    /// False for auditors: they read, and change nothing.
    pub may_change: bool,
    pub label: String,
}

impl<S> FromRequestParts<S> for Coordinator
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = DeskError;

    /// A structure's people have no business here: not found.
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let person = Person::from_request_parts(parts, state).await?;
        let may_change = match person.account.role {
            AccountRole::Coordinator => true,
            AccountRole::Auditor => false,
            _ => return Err(DeskError::not_found()),
        };
        let label = person.label();
        Ok(Self {
            person,
            may_change,
            label,
        })
    }
}

impl Coordinator {
    pub fn lang(&self) -> Lang {
        self.person.lang
    }

    /// The deployment's time zone, for every date and time shown.
    pub fn zone(&self) -> &crate::clock::Zone {
        &self.person.zone
    }

    pub fn texts(&self) -> &'static CoordinationTexts {
        self.person.lang.coordination()
    }

    /// Reads a posted form and checks it: the session's token, and that
    /// the person may change things (an auditor's form is not found, as
    /// any page they cannot use).
    pub fn accept_form(
        &self,
        body: &[u8],
    ) -> Result<std::collections::HashMap<String, String>, DeskError> {
        let fields = super::form_fields(body);
        self.person
            .check_csrf(fields.get("csrf").map(String::as_str))?;
        if self.may_change {
            Ok(fields)
        } else {
            Err(DeskError::not_found())
        }
    }

    /// How the audit trail names this person.
    pub fn actor(&self) -> String {
        crate::domain::account_actor(self.person.account.id)
    }

    /// A page of the coordinator's desk.
    pub fn page(&self, uri: &Uri, title: &str, body_class: &str, body: Markup) -> Markup {
        let chrome = Chrome {
            lang: self.person.lang,
            uri,
            session: Some((&self.label, &self.person.csrf_token)),
            nav: Nav::Coordination,
        };
        let body = html! {
            @if !self.may_change { p class="notice notice-info" { (self.texts().read_only) } }
            (body)
        };
        page(&chrome, title, body_class, body)
    }

    /// A notice that a form was done.
    pub fn done(&self, text: &str) -> Markup {
        notice(self.person.lang.texts(), Notice::Done, text)
    }

    /// How a form answers: done, back to `page` with `query` saying what
    /// was done (post/redirect/get, so a reload asks for the page, not
    /// the form); refused, the refusal in plain words for the page to show
    /// again (nothing changed).
    pub fn answer(&self, page: &str, done: Result<String, AppError>) -> Result<Answer, DeskError> {
        match done {
            Ok(query) => {
                let to = format!("{page}?{query}");
                Ok(Answer::Done(axum::response::IntoResponse::into_response(
                    axum::response::Redirect::to(&to),
                )))
            }
            Err(e) => Ok(Answer::Refused(self.refusal(e)?)),
        }
    }

    /// A refusal of a form in plain words; anything but a refusal (a
    /// database failure) stays an error page.
    pub fn refusal(&self, error: AppError) -> Result<Markup, DeskError> {
        let c = self.texts();
        let t = self.person.lang.texts();
        let text = match &error {
            AppError::Domain(DomainError::Validation { field, .. })
            | AppError::Invalid { field, .. } => (c.invalid_field)(field),
            AppError::Domain(DomainError::NotFound(what)) | AppError::NotFound(what) => {
                (c.invalid_field)(what)
            }
            AppError::Domain(DomainError::AlreadyExists(what)) => (c.invalid_field)(what),
            AppError::Domain(DomainError::StructureDeactivated) => {
                self.person.lang.people().structure_deactivated.to_owned()
            }
            _ => return Err(error.into()),
        };
        Ok(notice(t, Notice::Error, &text))
    }
}

/// What a coordinator's form answers ([`Coordinator::answer`]).
pub enum Answer {
    /// Done: the redirect back to its page.
    Done(axum::response::Response),
    /// Refused: why, for the page shown again with 422.
    Refused(Markup),
}

/// A form's field, trimmed; empty when absent.
pub fn field<'a>(fields: &'a std::collections::HashMap<String, String>, name: &str) -> &'a str {
    fields.get(name).map_or("", |v| v.trim())
}
