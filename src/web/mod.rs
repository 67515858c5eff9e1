//! The structures' web desk: server-rendered HTML pages under `/desk/`,
//! in French by default (English on request), that work without
//! JavaScript. People sign in with their structure's token, see their
//! balances, issue codes, print slips and void lost codes.
//!
//! The desk is a second face of the structure API, not a second
//! implementation: its handlers call the same use cases in
//! [`crate::app`] as the JSON API (issue with its rate limit and metrics,
//! list, void, balances) and turn their errors, through the API's
//! [`Problem`] and its stable codes, into sentences. Pages are built
//! with maud, which escapes everything it is given. Every answer carries a
//! strict Content-Security-Policy (no script at all, styles only from the
//! served stylesheet), refuses framing and referrers, and is not cached.

mod accounts;
mod activate;
mod auth;
mod coordination;
pub mod error;
mod figures;
mod find;
pub(crate) mod flash;
mod home;
pub mod i18n;
mod issue;
mod layout;
mod lot_list;
mod lot_texts;
mod lots;
mod members;
mod need_answers;
mod needs;
mod people_texts;
mod print;
mod print_texts;
pub mod session;
pub mod sign_in_limit;
mod slip_words;
mod slips;
mod spreadsheet;
mod stacked;
mod tree_texts;
mod vouchers;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::html;

use crate::app::AppState;
use crate::http::error::Problem;
use error::DeskError;
use i18n::Lang;
use layout::{Chrome, Nav, Notice, notice, page};

/// No script, no plug-ins, no framing; styles and forms only from here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Two years of HTTPS only, sent when the desk is reached over TLS.
const STRICT_TRANSPORT_SECURITY: &str = "max-age=63072000";
/// The stylesheet changes only with a new release; an hour is enough.
const STYLESHEET_CACHE: &str = "public, max-age=3600";

/// The desk's routes, and `/`, which leads to it.
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/desk/") }))
        .route("/desk", get(|| async { Redirect::to("/desk/") }))
        .route("/desk/", get(home::home))
        .route("/desk/sign-in", get(auth::sign_in_form).post(auth::sign_in))
        .route("/desk/sign-out", post(auth::sign_out))
        .route(
            "/desk/activate",
            get(activate::activate_form).post(activate::activate),
        )
        .route("/desk/accounts", get(accounts::list).post(accounts::create))
        .route("/desk/accounts/{id}/{action}", post(accounts::act))
        .route("/desk/issue", get(issue::issue_form).post(issue::issue))
        .route("/desk/vouchers", get(vouchers::list))
        .route("/desk/find", get(find::find))
        .route("/desk/vouchers/{serial}", get(vouchers::detail))
        .route(
            "/desk/vouchers/{serial}/void",
            get(vouchers::void_confirm).post(vouchers::void),
        )
        .route("/desk/print", get(print::print).post(print::record))
        .route("/desk/lots", get(lot_list::list))
        .route("/desk/needs", get(needs::list).post(needs::report))
        .route("/desk/needs/{id}/{action}", post(needs::answer))
        .route("/desk/members", get(members::list))
        .route("/desk/members/transfer", post(members::transfer))
        .route("/desk/lots/{lot}", get(lots::show))
        .route("/desk/lots/{lot}/export.csv", get(lots::export))
        .route("/desk/lots/{lot}/void", post(lots::void))
        .route("/desk/static/desk.css", get(stylesheet))
        .merge(coordination::router())
        .route("/desk/{*rest}", get(|| async { DeskError::not_found() }))
        // Set here, under the desk's layer, so that a form's address
        // opened by hand answers a page, not the API's problem document
        // (the API's own fallback only replaces a route's default one).
        .method_not_allowed_fallback(|| async { DeskError::FormAddress })
        .layer(middleware::from_fn_with_state(state, desk_layer))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, STYLESHEET_CACHE),
        ],
        include_str!("desk.css"),
    )
}

/// A form body's fields; the first of repeated names wins.
pub(crate) fn form_fields(body: &[u8]) -> HashMap<String, String> {
    let mut fields = HashMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        fields
            .entry(k.into_owned())
            .or_insert_with(|| v.into_owned());
    }
    fields
}

/// The first value of `name` in a request's query string, if any.
pub(crate) fn query_value(uri: &axum::http::Uri, name: &str) -> Option<String> {
    form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A failure of ours (no randomness, a broken invariant): logged, and
/// shown as the generic error page.
/// A lot page's address (slips, vouchers and the lot page link to it).
pub(crate) fn lot_href(lot: i64) -> String {
    format!("/desk/lots/{lot}")
}

pub(crate) fn internal() -> DeskError {
    tracing::error!("desk: internal error");
    DeskError::Problem(Problem::internal())
}

/// Renders errors in the request's language, sets the language cookie
/// when `?lang=` asked for one, and adds the desk's security headers.
async fn desk_layer(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let lang = session::request_lang(&parts);
    let asked = session::query_lang(parts.uri.query());
    let uri = parts.uri.clone();
    // The service's request time limit, applied here rather than around
    // the whole router so that a desk page that takes too long is answered
    // with a page in the person's language, not a problem document.
    let limit_secs = state.limits.request_timeout_secs;
    let limit = std::time::Duration::from_secs(limit_secs);
    let mut response =
        match tokio::time::timeout(limit, next.run(Request::from_parts(parts, body))).await {
            Ok(response) => response,
            Err(_) => {
                tracing::warn!(path = %uri.path(), limit_secs, "desk request timed out");
                DeskError::Problem(Problem::request_timeout(limit_secs)).into_response()
            }
        };
    if let Some(error) = response.extensions_mut().remove::<DeskError>() {
        response = render_error(&state, lang, &uri, &error);
    } else if let Some(error) = rejection(&response) {
        response = render_error(&state, lang, &uri, &error);
    }
    let options = &state.limits.desk;
    let headers = response.headers_mut();
    if let Some(cookie) = asked.and_then(|lang| session::lang_cookie(options, lang)) {
        headers.append(header::SET_COOKIE, cookie);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    if options.is_https() {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    response
}

/// An error answered before a desk handler ran (a form over the body
/// limit, a path that is not UTF-8): axum's plain-text rejection, turned
/// into the desk's own error so the person sees a page in their language.
fn rejection(response: &Response) -> Option<DeskError> {
    let status = response.status();
    let is_html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    (status.is_client_error() && !is_html).then(|| DeskError::Problem(Problem::for_status(status)))
}

/// The error page: what happened in plain words, and the way back.
fn render_error(state: &AppState, lang: Lang, uri: &Uri, error: &DeskError) -> Response {
    let t = lang.texts();
    let message = error.message(t, state.limits.max_issue_count);
    let chrome = Chrome {
        lang,
        uri,
        session: None,
        nav: Nav::Structure,
    };
    let body = html! {
        (notice(t, Notice::Error, &message))
        p { a href="/desk/" { (t.back_home) } }
    };
    (error.status(), page(&chrome, t.error_title, "", body)).into_response()
}
