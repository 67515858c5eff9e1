//! Signing in with a personal account, activating one with its one-time
//! code, and signing out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult};
use super::i18n::Lang;
use super::layout::{Chrome, Nav, Notice, notice, page};
use super::session::{
    self, Person, cookie, device_cookie_name, random_token, session_cookie_name,
    sign_in_cookie_name, tokens_match,
};
use super::sign_in_limit::{self, ClientKey};
use super::{form_fields, internal};
use crate::app::AppState;
use crate::app::accounts::{self, SignInRefused};
use crate::storage::{Account, NewWebSession};
use crate::tokens;

/// The sign-in form, with a fresh double-submit token in a cookie.
pub async fn sign_in_form(
    State(state): State<AppState>,
    lang: Lang,
    uri: Uri,
) -> DeskResult<Response> {
    let t = lang.texts();
    let asked = |name: &str| {
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).any(|(k, _)| k == name)
    };
    // Notices the sign-in page can be sent to show.
    let shown = if asked("signed_out") {
        Some(notice(t, Notice::Done, t.signed_out_notice))
    } else if asked("activated") {
        Some(notice(t, Notice::Done, lang.people().activated_notice))
    } else if asked("expired") {
        Some(notice(t, Notice::Info, t.session_expired_notice))
    } else {
        None
    };
    render_sign_in(&state, lang, &uri, StatusCode::OK, shown)
}

/// The sign-in page with `status` and an optional notice; every rendering
/// issues a new form token.
fn render_sign_in(
    state: &AppState,
    lang: Lang,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let t = lang.texts();
    let form_token = random_token().ok_or_else(internal)?;
    let chrome = Chrome {
        lang,
        uri,
        session: None,
        nav: Nav::Structure,
    };
    let p = lang.people();
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (p.sign_in_intro) }
        form method="post" action="/desk/sign-in" class="stack" {
            input type="hidden" name="csrf" value=(form_token);
            div class="field" {
                label for="login" { (p.login_label) }
                input id="login" name="login" type="text" required maxlength="64"
                    autocomplete="username" autocapitalize="none" spellcheck="false";
            }
            div class="field" {
                label for="password" { (p.password_label) }
                input id="password" name="password" type="password" required
                    maxlength="256" autocomplete="current-password";
            }
            button type="submit" { (t.sign_in_submit) }
        }
        p { (p.first_time) " " a href="/desk/activate" { (p.activate_link) } }
    };
    let cookie = session::sign_in_cookie(&state.limits.desk, &form_token).ok_or_else(internal)?;
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        page(&chrome, t.sign_in_title, "", body),
    )
        .into_response())
}

/// Signs a person in: a new session, its id in a cookie, its hash stored.
///
/// Every attempt counts against the client's sign-in limit before anything
/// is looked up; past the login's own limit the password is not even
/// tried. Every refusal reads the same, so the page says nothing about
/// whether the login exists.
/// How long a refused sign-in waits when every password check place is
/// taken: a check takes a fraction of a second.
const BUSY_RETRY_SECS: u64 = 2;

pub async fn sign_in(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientKey,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> DeskResult<Response> {
    let t = lang.texts();
    if let Err(wait_secs) = sign_in_limit::check(&state.desk_sign_in_limiter, client) {
        return throttled(&state, lang, &uri, wait_secs);
    }
    let fields = form_fields(&body);
    let expected = cookie(&headers, &sign_in_cookie_name(&state.limits.desk)).unwrap_or_default();
    if !tokens_match(fields.get("csrf").map(String::as_str), expected) {
        return Err(DeskError::Csrf);
    }
    let login = fields.get("login").map_or("", String::as_str);
    let password = fields.get("password").map_or("", String::as_str);
    let options = &state.limits.desk;
    let device = cookie(&headers, &device_cookie_name(options));
    match accounts::sign_in(&state, login, password, device).await {
        Ok(signed) => {
            let mut response = start_session(&state, &signed.account).await?;
            let known = session::set_cookie(
                options,
                &device_cookie_name(options),
                &signed.device,
                Some(session::DEVICE_COOKIE_MAX_AGE_SECS),
            )
            .ok_or_else(internal)?;
            response.headers_mut().append(header::SET_COOKIE, known);
            Ok(response)
        }
        Err(SignInRefused::Busy) => {
            tracing::info!("desk sign-in refused: every password check place is taken");
            let shown = notice(t, Notice::Error, t.sign_in_busy);
            let status = StatusCode::TOO_MANY_REQUESTS;
            let page = render_sign_in(&state, lang, &uri, status, Some(shown))?;
            Ok(sign_in_limit::with_retry_after(page, BUSY_RETRY_SECS))
        }
        Err(SignInRefused::Locked { retry_after_secs }) => {
            tracing::info!(retry_after_secs, "desk sign-in refused: login locked");
            let wait_secs = u64::try_from(retry_after_secs).unwrap_or(1);
            let shown = notice(
                t,
                Notice::Error,
                &(lang.people().sign_in_locked)(retry_after_secs),
            );
            let status = StatusCode::TOO_MANY_REQUESTS;
            let page = render_sign_in(&state, lang, &uri, status, Some(shown))?;
            Ok(sign_in_limit::with_retry_after(page, wait_secs))
        }
        Err(SignInRefused::Refused) => {
            tracing::info!("desk sign-in refused: unknown login or wrong password");
            let shown = notice(t, Notice::Error, lang.people().sign_in_refused);
            render_sign_in(&state, lang, &uri, StatusCode::UNAUTHORIZED, Some(shown))
        }
        Err(SignInRefused::Failed(e)) => Err(e.into()),
    }
}

/// The sign-in page, refused for going too fast from this address.
fn throttled(state: &AppState, lang: Lang, uri: &Uri, wait_secs: u64) -> DeskResult<Response> {
    let t = lang.texts();
    state.metrics.rate_limited.inc();
    tracing::info!(wait_secs, "desk sign-in attempts over the limit");
    let shown = notice(t, Notice::Error, &(t.sign_in_throttled)(wait_secs));
    let status = StatusCode::TOO_MANY_REQUESTS;
    let page = render_sign_in(state, lang, uri, status, Some(shown))?;
    Ok(sign_in_limit::with_retry_after(page, wait_secs))
}

/// Records a session for `account` and sends the browser to its desk.
async fn start_session(state: &AppState, account: &Account) -> DeskResult<Response> {
    let options = &state.limits.desk;
    let id = random_token().ok_or_else(internal)?;
    let csrf_token = random_token().ok_or_else(internal)?;
    let now = state.now();
    let session = NewWebSession {
        id_hash: tokens::hash(&id),
        account_id: account.id,
        csrf_token,
        created_at: now,
        expires_at: now.saturating_add(options.desk_session_ttl_secs),
    };
    state.store.create_web_session(&session).await?;
    tracing::info!(account = account.id, "desk sign-in");
    // No Max-Age: the cookie ends with the browser, the session at its
    // expiry on the server, whichever comes first.
    let session_cookie = session::set_cookie(options, &session_cookie_name(options), &id, None)
        .ok_or_else(internal)?;
    let spent = session::set_cookie(options, &sign_in_cookie_name(options), "", Some(0))
        .ok_or_else(internal)?;
    let home = if account.structure_id.is_some() {
        "/desk/"
    } else {
        "/desk/coordination"
    };
    let mut response = Redirect::to(home).into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie);
    headers.append(header::SET_COOKIE, spent);
    Ok(response)
}

/// Ends the session on the server, then in the browser.
pub async fn sign_out(
    State(state): State<AppState>,
    person: Person,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    person.check_csrf(fields.get("csrf").map(String::as_str))?;
    state.store.delete_web_session(&person.id_hash).await?;
    tracing::info!(account = person.account.id, "desk sign-out");
    let options = &state.limits.desk;
    let cleared = session::set_cookie(options, &session_cookie_name(options), "", Some(0))
        .ok_or_else(internal)?;
    Ok((
        [(header::SET_COOKIE, cleared)],
        Redirect::to("/desk/sign-in?signed_out=1"),
    )
        .into_response())
}
