//! Signing in with a structure token, and signing out.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult};
use super::i18n::Lang;
use super::layout::{Chrome, Notice, notice, page};
use super::session::{
    self, Desk, cookie, random_token, session_cookie_name, sign_in_cookie_name, tokens_match,
};
use super::sign_in_limit::{self, ClientKey};
use super::{form_fields, internal};
use crate::app::AppState;
use crate::domain::Role;
use crate::storage::NewWebSession;
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
    };
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (t.sign_in_intro) }
        form method="post" action="/desk/sign-in" class="stack" {
            input type="hidden" name="csrf" value=(form_token);
            div class="field" {
                label for="token" { (t.sign_in_token_label) }
                input id="token" name="token" type="password" required
                    autocomplete="off" spellcheck="false" aria-describedby="token-hint";
                p id="token-hint" class="hint" { (t.sign_in_token_hint) }
            }
            button type="submit" { (t.sign_in_submit) }
        }
    };
    let cookie = session::sign_in_cookie(&state.limits.desk, &form_token).ok_or_else(internal)?;
    Ok((
        status,
        [(header::SET_COOKIE, cookie)],
        page(&chrome, t.sign_in_title, "", body),
    )
        .into_response())
}

/// Signs a structure in: a new session, its id in a cookie, its hash stored.
///
/// Every attempt counts against the client's sign-in limit before anything
/// is looked up, so past the limit a guess is not even tried; and every
/// refusal reads the same, so a refused token's page says nothing about
/// whether it exists or which role it has.
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
        state.metrics.rate_limited.inc();
        tracing::info!(wait_secs, "desk sign-in attempts over the limit");
        let shown = notice(t, Notice::Error, &(t.sign_in_throttled)(wait_secs));
        let status = StatusCode::TOO_MANY_REQUESTS;
        let mut response = render_sign_in(&state, lang, &uri, status, Some(shown))?;
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(wait_secs));
        return Ok(response);
    }
    let fields = form_fields(&body);
    let expected = cookie(&headers, &sign_in_cookie_name(&state.limits.desk)).unwrap_or_default();
    if !tokens_match(fields.get("csrf").map(String::as_str), expected) {
        return Err(DeskError::Csrf);
    }
    let token = fields.get("token").map_or("", |t| t.trim());
    let principal = if token.starts_with(tokens::TOKEN_PREFIX) && token.len() <= 128 {
        state.store.find_token(&tokens::hash(token)).await?
    } else {
        None
    };
    match principal {
        Some(p) if p.role == Role::Structure && p.structure_id.is_some() => {
            start_session(&state, p).await
        }
        other => {
            // The reason goes to the log, for whoever runs the service.
            let reason = if other.is_some() {
                "not a structure token"
            } else {
                "unknown, revoked or malformed token"
            };
            tracing::info!(reason, "desk sign-in refused");
            let shown = notice(t, Notice::Error, t.sign_in_refused);
            render_sign_in(&state, lang, &uri, StatusCode::UNAUTHORIZED, Some(shown))
        }
    }
}

/// Records a session for `principal` and sends the browser home with it.
async fn start_session(
    state: &AppState,
    principal: crate::domain::Principal,
) -> DeskResult<Response> {
    let options = &state.limits.desk;
    let structure_id = principal.structure_id.ok_or_else(internal)?;
    let id = random_token().ok_or_else(internal)?;
    let csrf_token = random_token().ok_or_else(internal)?;
    let now = state.now();
    let session = NewWebSession {
        id_hash: tokens::hash(&id),
        principal,
        structure_id,
        csrf_token,
        created_at: now,
        expires_at: now.saturating_add(options.desk_session_ttl_secs),
    };
    state.store.create_web_session(&session).await?;
    tracing::info!(
        structure = structure_id,
        token = principal.token_id,
        "desk sign-in"
    );
    // No Max-Age: the cookie ends with the browser, the session at its
    // expiry on the server, whichever comes first.
    let session_cookie = session::set_cookie(options, &session_cookie_name(options), &id, None)
        .ok_or_else(internal)?;
    let spent = session::set_cookie(options, &sign_in_cookie_name(options), "", Some(0))
        .ok_or_else(internal)?;
    let mut response = Redirect::to("/desk/").into_response();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, session_cookie);
    headers.append(header::SET_COOKIE, spent);
    Ok(response)
}

/// Ends the session on the server, then in the browser.
pub async fn sign_out(
    State(state): State<AppState>,
    desk: Desk,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    state.store.delete_web_session(&desk.id_hash).await?;
    tracing::info!(structure = desk.caller.structure_id, "desk sign-out");
    let options = &state.limits.desk;
    let cleared = session::set_cookie(options, &session_cookie_name(options), "", Some(0))
        .ok_or_else(internal)?;
    Ok((
        [(header::SET_COOKIE, cleared)],
        Redirect::to("/desk/sign-in?signed_out=1"),
    )
        .into_response())
}
