//! The accounts page: the coordinator manages every kind of account (a
//! structure's manager or staff chosen with their structure by name); a
//! manager manages the staff of their structure; an auditor reads. A form
//! that is done sends the browser back to the page (post/redirect/get); a
//! new account's (or a reset's) activation code is shown there once, kept
//! sealed in the session until then. A refused form says which field to
//! correct and keeps what was typed.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult};
use super::flash::Flash;
use super::form_fields;
use super::layout::{Chrome, Nav, Notice, notice, page};
use super::people_texts::PeopleTexts;
use super::session::Person;
use crate::app::accounts::{self, AccountOrder, CodeTerms, WithCode};
use crate::app::{AppError, AppState};
use crate::domain::DomainError;
use crate::domain::account::{AccountManager, AccountRole};
use crate::storage::Account;

const ACCOUNTS: &str = "/desk/accounts";

/// What the signed-in person may do with accounts: manage (as whom), or
/// only read (auditors).
fn reach(person: &Person) -> DeskResult<(AccountManager, bool)> {
    match (person.account.role, person.account.structure_id) {
        (AccountRole::Coordinator, _) => Ok((AccountManager::Coordinator, true)),
        (AccountRole::Auditor, _) => Ok((AccountManager::Coordinator, false)),
        (AccountRole::StructureManager, Some(id)) => Ok((AccountManager::Structure(id), true)),
        _ => Err(DeskError::not_found()),
    }
}

pub async fn list(State(state): State<AppState>, person: Person, uri: Uri) -> DeskResult<Response> {
    let typed = Typed::default();
    let (t, p) = (person.lang.texts(), person.lang.people());
    let shown = match person.take_flash(&state).await? {
        Some(Flash::ActivationCode {
            display_name,
            login,
            code,
        }) => Some(code_shown(&person, &state, &display_name, &login, &code)),
        Some(Flash::Token { .. }) | None => match super::query_value(&uri, "done").as_deref() {
            Some("disabled") => Some(notice(t, Notice::Done, p.disabled_notice)),
            _ => None,
        },
    };
    render(&state, &person, &uri, (StatusCode::OK, shown), &typed).await
}

/// What was typed in the creation form, given back after a refusal.
#[derive(Default)]
struct Typed {
    display_name: String,
    login: String,
    role: Option<AccountRole>,
    structure_id: Option<i64>,
}

async fn render(
    state: &AppState,
    person: &Person,
    uri: &Uri,
    (status, shown): (StatusCode, Option<Markup>),
    typed: &Typed,
) -> DeskResult<Response> {
    let (manager, may_change) = reach(person)?;
    let p = person.lang.people();
    let all = accounts::list(&state.store, manager).await?;
    let label = person.label();
    let chrome = Chrome {
        lang: person.lang,
        uri,
        session: Some((&label, &person.csrf_token)),
        nav: match manager {
            AccountManager::Coordinator => Nav::Coordination,
            AccountManager::Structure(_) if person.has_members => Nav::Association,
            AccountManager::Structure(_) => Nav::Structure,
        },
    };
    let intro = match manager {
        AccountManager::Coordinator => p.accounts_intro_coordinator,
        AccountManager::Structure(_) => p.accounts_intro_manager,
    };
    // The coordinator chooses a structure by its name.
    let structures = match manager {
        AccountManager::Coordinator if may_change => {
            crate::app::structures::live(&state.store).await?
        }
        _ => Vec::new(),
    };
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (intro) }
        @if !may_change { p { (p.read_only) } }
        (table(p, &all, may_change.then_some(&person.csrf_token), manager))
        @if may_change { (create_form(p, &person.csrf_token, manager, &structures, typed)) }
    };
    Ok((status, page(&chrome, p.accounts_title, "", body)).into_response())
}

fn table(p: &PeopleTexts, all: &[Account], csrf: Option<&String>, m: AccountManager) -> Markup {
    html! {
        table {
            caption { (p.accounts_title) }
            thead { tr {
                th scope="col" { (p.col_name) }
                th scope="col" { (p.col_login) }
                th scope="col" { (p.col_role) }
                th scope="col" { (p.col_structure) }
                th scope="col" { (p.col_status) }
                @if csrf.is_some() { th scope="col" { (p.col_actions) } }
            } }
            tbody {
                @for a in all {
                    tr {
                        td { (a.display_name) }
                        td { (a.login) }
                        td { ((p.role_name)(a.role)) }
                        td { @if let Some(s) = a.structure_id { (s) } }
                        td { (status_word(p, a)) }
                        @if let Some(csrf) = csrf {
                            td { @if a.disabled_at.is_none() && m.may_manage(a.role, a.structure_id) {
                                (action(csrf, a, "reset", p.reset_submit))
                                (action(csrf, a, "disable", p.disable_submit))
                            } }
                        }
                    }
                }
            }
        }
    }
}

fn status_word(p: &PeopleTexts, a: &Account) -> &'static str {
    match (a.disabled_at, a.active) {
        (Some(_), _) => p.status_disabled,
        (None, true) => p.status_active,
        (None, false) => p.status_pending,
    }
}

fn action(csrf: &str, a: &Account, what: &str, label: &str) -> Markup {
    html! {
        form method="post" action=(format!("/desk/accounts/{}/{what}", a.id)) class="inline" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" aria-label=(format!("{label} : {}", a.display_name)) { (label) }
        }
    }
}

fn create_form(
    p: &PeopleTexts,
    csrf: &str,
    manager: AccountManager,
    structures: &[crate::storage::Structure],
    typed: &Typed,
) -> Markup {
    let roles: &[AccountRole] = match manager {
        AccountManager::Coordinator => &[
            AccountRole::StructureManager,
            AccountRole::StructureStaff,
            AccountRole::Coordinator,
            AccountRole::Auditor,
        ],
        AccountManager::Structure(_) => &[AccountRole::StructureStaff],
    };
    html! {
        h2 { (p.new_account) }
        form method="post" action="/desk/accounts" class="stack" {
            input type="hidden" name="csrf" value=(csrf);
            div class="field" {
                label for="display_name" { (p.display_name_label) }
                input id="display_name" name="display_name" type="text" required maxlength="100"
                    value=(typed.display_name) aria-describedby="display-name-hint";
                p id="display-name-hint" class="hint" { (p.display_name_hint) }
            }
            div class="field" {
                label for="login" { (p.login_label) }
                input id="login" name="login" type="text" required maxlength="64" value=(typed.login)
                    autocapitalize="none" spellcheck="false" aria-describedby="login-hint";
                p id="login-hint" class="hint" { (p.login_hint) }
            }
            div class="field" {
                label for="role" { (p.role_label) }
                select id="role" name="role" {
                    @for r in roles {
                        option value=(r.as_str()) selected[typed.role == Some(*r)] { ((p.role_name)(*r)) }
                    }
                }
            }
            @if manager == AccountManager::Coordinator {
                div class="field" {
                    label for="structure_id" { (p.structure_label) }
                    select id="structure_id" name="structure_id" aria-describedby="structure-hint" {
                        option value="" selected[typed.structure_id.is_none()] { (p.no_structure) }
                        @for s in structures {
                            option value=(s.id) selected[typed.structure_id == Some(s.id)] {
                                (s.name) " (n° " (s.id) ")"
                            }
                        }
                    }
                    p id="structure-hint" class="hint" { (p.structure_hint) }
                }
            }
            button type="submit" { (p.create_submit) }
        }
    }
}

/// What a done form leaves for the page it sends the browser back to.
enum Done {
    /// An activation code to show once.
    Code(WithCode),
    Disabled,
}

/// Done: back to the page (a code waits there, sealed in the session).
/// Refused: the page again with the refusal in plain words, what was
/// typed kept.
async fn answer(
    state: &AppState,
    person: &Person,
    uri: &Uri,
    outcome: Result<Done, AppError>,
    typed: &Typed,
) -> DeskResult<Response> {
    let (t, p) = (person.lang.texts(), person.lang.people());
    let shown = match outcome {
        Ok(Done::Code(w)) => {
            let code = Flash::ActivationCode {
                display_name: w.account.display_name,
                login: w.account.login,
                code: w.activation_code,
            };
            person.leave_flash(state, &code).await?;
            return Ok(Redirect::to(ACCOUNTS).into_response());
        }
        Ok(Done::Disabled) => {
            return Ok(Redirect::to(&format!("{ACCOUNTS}?done=disabled")).into_response());
        }
        Err(e) => {
            let text = match &e {
                AppError::Domain(DomainError::LoginTaken) => p.login_taken,
                AppError::Domain(DomainError::Validation { field: "login", .. }) => p.invalid_login,
                AppError::Domain(DomainError::Validation {
                    field: "display_name",
                    ..
                }) => p.invalid_name,
                AppError::Domain(DomainError::NotFound("structure")) => p.unknown_structure,
                AppError::Domain(DomainError::StructureDeactivated) => p.structure_deactivated,
                AppError::Domain(DomainError::Validation {
                    field: "structure_id",
                    ..
                }) if typed.structure_id.is_none() => p.structure_missing,
                AppError::Domain(DomainError::Validation {
                    field: "structure_id",
                    ..
                }) => p.structure_not_for_role,
                AppError::Domain(DomainError::Validation { .. }) | AppError::Invalid { .. } => {
                    p.invalid_role
                }
                _ => return Err(e.into()),
            };
            notice(t, Notice::Error, text)
        }
    };
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    render(state, person, uri, (status, Some(shown)), typed).await
}

fn code_shown(
    person: &Person,
    state: &AppState,
    display_name: &str,
    login: &str,
    code: &str,
) -> Markup {
    let (t, p) = (person.lang.texts(), person.lang.people());
    let days = state
        .limits
        .desk
        .activation_ttl_secs
        .div_euclid(86_400)
        .max(1);
    html! {
        (notice(t, Notice::Done, &(p.code_shown_once)(code)))
        p { strong { (display_name) " (" (login) ")" } " — " ((p.code_expires)(days)) }
    }
}

pub async fn create(
    State(state): State<AppState>,
    person: Person,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    person.check_csrf(fields.get("csrf").map(String::as_str))?;
    let (manager, may_change) = reach(&person)?;
    if !may_change {
        return Err(DeskError::not_found());
    }
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let role = AccountRole::parse(field("role")).ok_or(DeskError::FormInvalid)?;
    let structure_id = match manager {
        AccountManager::Structure(own) => Some(own),
        AccountManager::Coordinator if field("structure_id").trim().is_empty() => None,
        AccountManager::Coordinator => Some(
            field("structure_id")
                .trim()
                .parse::<i64>()
                .map_err(|_| DeskError::FormInvalid)?,
        ),
    };
    let order = AccountOrder {
        role,
        login: field("login"),
        display_name: field("display_name"),
        structure_id,
    };
    let typed = Typed {
        display_name: order.display_name.to_owned(),
        login: order.login.to_owned(),
        role: Some(role),
        structure_id: structure_id.filter(|_| manager == AccountManager::Coordinator),
    };
    let actor = crate::domain::account_actor(person.account.id);
    let outcome = accounts::create(&state.store, CodeTerms::of(&state), manager, &actor, order)
        .await
        .map(Done::Code);
    answer(&state, &person, &uri, outcome, &typed).await
}

pub async fn act(
    State(state): State<AppState>,
    person: Person,
    uri: Uri,
    Path((id, what)): Path<(i64, String)>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    person.check_csrf(fields.get("csrf").map(String::as_str))?;
    let (manager, may_change) = reach(&person)?;
    if !may_change {
        return Err(DeskError::not_found());
    }
    let actor = crate::domain::account_actor(person.account.id);
    let outcome = match what.as_str() {
        "disable" => accounts::disable(&state.store, state.now(), manager, &actor, id)
            .await
            .map(|_| Done::Disabled),
        "reset" => accounts::reset(&state.store, CodeTerms::of(&state), manager, &actor, id)
            .await
            .map(Done::Code),
        _ => return Err(DeskError::not_found()),
    };
    answer(&state, &person, &uri, outcome, &Typed::default()).await
}
