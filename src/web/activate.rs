//! Choosing a password with a one-time activation code: for a new account,
//! and after a reset. The form has no session, so it is protected like the
//! sign-in form (double-submit cookie) and counts against the same limit
//! per client address, so codes cannot be guessed quickly.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult};
use super::i18n::Lang;
use super::layout::{Chrome, Nav, Notice, notice, page};
use super::session::{self, cookie, random_token, sign_in_cookie_name, tokens_match};
use super::sign_in_limit::{self, ClientKey};
use super::{form_fields, internal};
use crate::app::AppState;
use crate::app::accounts::{self, ActivationRefused};

pub async fn activate_form(
    State(state): State<AppState>,
    lang: Lang,
    uri: Uri,
) -> DeskResult<Response> {
    render(&state, lang, &uri, StatusCode::OK, None)
}

fn render(
    state: &AppState,
    lang: Lang,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let p = lang.people();
    let form_token = random_token().ok_or_else(internal)?;
    let chrome = Chrome {
        lang,
        uri,
        session: None,
        nav: Nav::Structure,
    };
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (p.activate_intro) }
        form method="post" action="/desk/activate" class="stack" {
            input type="hidden" name="csrf" value=(form_token);
            div class="field" {
                label for="code" { (p.code_label) }
                input id="code" name="code" type="text" required maxlength="40"
                    autocomplete="one-time-code" autocapitalize="characters"
                    spellcheck="false" aria-describedby="code-hint";
                p id="code-hint" class="hint" { (p.code_hint) }
            }
            div class="field" {
                label for="password" { (p.new_password_label) }
                input id="password" name="password" type="password" required
                    minlength="12" maxlength="256" autocomplete="new-password"
                    aria-describedby="password-hint";
                p id="password-hint" class="hint" { (p.password_hint) }
            }
            div class="field" {
                label for="confirm" { (p.confirm_label) }
                input id="confirm" name="confirm" type="password" required
                    minlength="12" maxlength="256" autocomplete="new-password";
            }
            button type="submit" { (p.activate_submit) }
        }
    };
    let cookie = session::sign_in_cookie(&state.limits.desk, &form_token).ok_or_else(internal)?;
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        page(&chrome, p.activate_title, "", body),
    )
        .into_response())
}

pub async fn activate(
    State(state): State<AppState>,
    lang: Lang,
    client: ClientKey,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> DeskResult<Response> {
    let (t, p) = (lang.texts(), lang.people());
    if let Err(wait_secs) = sign_in_limit::check(&state.desk_sign_in_limiter, client) {
        state.metrics.rate_limited.inc();
        let shown = notice(t, Notice::Error, &(t.sign_in_throttled)(wait_secs));
        tracing::info!(wait_secs, "desk activation attempts over the limit");
        let page = render(
            &state,
            lang,
            &uri,
            StatusCode::TOO_MANY_REQUESTS,
            Some(shown),
        )?;
        return Ok(sign_in_limit::with_retry_after(page, wait_secs));
    }
    let fields = form_fields(&body);
    let expected = cookie(&headers, &sign_in_cookie_name(&state.limits.desk)).unwrap_or_default();
    if !tokens_match(fields.get("csrf").map(String::as_str), expected) {
        return Err(DeskError::Csrf);
    }
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    let refused = |status, text: &str| {
        render(
            &state,
            lang,
            &uri,
            status,
            Some(notice(t, Notice::Error, text)),
        )
    };
    if field("password") != field("confirm") {
        return refused(StatusCode::UNPROCESSABLE_ENTITY, p.passwords_differ);
    }
    match accounts::activate(&state, field("code"), field("password")).await {
        Ok(_) => Ok(Redirect::to("/desk/sign-in?activated=1").into_response()),
        Err(ActivationRefused::BadCode) => {
            tracing::info!("activation refused: unknown, used or expired code");
            refused(StatusCode::UNPROCESSABLE_ENTITY, p.bad_code)
        }
        Err(ActivationRefused::Weak(w)) => refused(StatusCode::UNPROCESSABLE_ENTITY, (p.weak)(w)),
        Err(ActivationRefused::Failed(e)) => Err(e.into()),
    }
}
