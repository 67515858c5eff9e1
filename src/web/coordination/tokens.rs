//! API tokens for the coordinator: the list (never a secret), creating one
//! (its secret shown once, on the answering page) and revoking one.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::{Coordinator, field};
use crate::app::{AppError, AppState, tokens};
use crate::domain::Role;
use crate::storage::TokenScope;
use crate::web::error::DeskResult;
use crate::web::flash::Flash;

async fn render(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let x = c.texts();
    let t = c.lang().texts();
    let all = state.store.list_tokens().await?;
    let csrf = &c.person.csrf_token;
    let body = html! {
        @if let Some(n) = shown { (n) }
        @if c.may_change {
            form method="post" action="/desk/coordination/tokens" class="stack" {
                input type="hidden" name="csrf" value=(csrf);
                div class="field" {
                    label for="role" { (x.role) }
                    select id="role" name="role" {
                        @for r in Role::ALL { option value=(r.as_str()) { (role_words(c.lang(), r.as_str())) } }
                    }
                }
                div class="field" {
                    label for="scope" { (x.number) }
                    input id="scope" name="scope" type="number" min="1" inputmode="numeric" aria-describedby="scope-hint";
                    p id="scope-hint" class="hint" { (x.scope_hint) }
                }
                div class="field" {
                    label for="label" { (x.label) }
                    input id="label" name="label" type="text" maxlength="100";
                }
                button type="submit" { (x.create_token) }
            }
        }
        table {
            caption { (x.tokens) }
            thead { tr {
                th scope="col" { (x.number) }
                th scope="col" { (x.role) }
                th scope="col" { (x.structure) " / " (x.operator) }
                th scope="col" { (x.label) }
                th scope="col" { (x.created) }
                th scope="col" { (x.state) }
            } }
            tbody {
                @for k in &all {
                    tr {
                        td { (k.id) }
                        td { (role_words(c.lang(), &k.role)) }
                        td { (k.structure_id.or(k.operator_id).map(|n| n.to_string()).unwrap_or_default()) }
                        td { (k.label.as_deref().unwrap_or_default()) }
                        td { (t.day(c.zone(), k.created_at)) }
                        td {
                            @if k.revoked_at.is_some() { (x.revoked) } @else {
                                (x.live)
                                @if c.may_change {
                                    form method="post" action=(format!("/desk/coordination/tokens/{}/revoke", k.id)) class="inline" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" class="danger" aria-label=(format!("{} {}", x.revoke, k.id)) { (x.revoke) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok((status, c.page(uri, x.tokens, "", body)).into_response())
}

/// A token's role in words: what the machine holding it does.
fn role_words(lang: crate::web::i18n::Lang, role: &str) -> &str {
    use crate::web::i18n::Lang;
    match (lang, role) {
        (Lang::Fr, "admin") => "Coordination (scripts)",
        (Lang::Fr, "structure") => "Structure (scripts)",
        (Lang::Fr, "operator") => "Plateforme d’opérateur",
        (Lang::Fr, "auditor") => "Audit (lecture seule)",
        (Lang::En, "admin") => "Coordination (scripts)",
        (Lang::En, "structure") => "Structure (scripts)",
        (Lang::En, "operator") => "Operator platform",
        (Lang::En, "auditor") => "Audit (read-only)",
        (_, other) => other,
    }
}

const TOKENS: &str = "/desk/coordination/tokens";

/// The list, with what the last form did: a new token's secret, shown
/// once (sealed in the session until this page takes it), or a revocation.
pub async fn list(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let shown = match c.person.take_flash(&state).await? {
        Some(Flash::Token { secret }) => Some(html! {
            (c.done(c.texts().token_shown_once))
            p { code class="secret" { (secret) } }
        }),
        Some(Flash::ActivationCode { .. }) | None => {
            match crate::web::query_value(&uri, "done").as_deref() {
                Some("revoked") => Some(c.done(c.texts().token_revoked)),
                _ => None,
            }
        }
    };
    render(&state, &c, &uri, StatusCode::OK, shown).await
}

/// Done: back to the list (post/redirect/get). Refused: the page again
/// with the refusal in plain words.
async fn answer(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    done: Result<Response, AppError>,
) -> DeskResult<Response> {
    match done {
        Ok(back) => Ok(back),
        Err(e) => {
            let shown = c.refusal(e)?;
            render(state, c, uri, StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

pub async fn create(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let role = Role::parse(field(&fields, "role"))
        .ok_or_else(|| AppError::invalid("role", "unknown role"));
    let scope_id = Some(field(&fields, "scope"))
        .filter(|s| !s.is_empty())
        .map(str::parse::<i64>);
    let actor = c.actor();
    let label = Some(field(&fields, "label")).filter(|l| !l.is_empty());
    let done = async {
        let role = role?;
        let scope_id = scope_id
            .transpose()
            .map_err(|_| AppError::invalid("scope", "a number"))?;
        let scope = TokenScope {
            structure_id: scope_id.filter(|_| role == Role::Structure),
            operator_id: scope_id.filter(|_| role == Role::Operator),
        };
        tokens::create(&state, &actor, role, scope, label).await
    }
    .await;
    let done = match done {
        Ok((_, secret)) => {
            c.person
                .leave_flash(&state, &Flash::Token { secret })
                .await?;
            Ok(Redirect::to(TOKENS).into_response())
        }
        Err(e) => Err(e),
    };
    answer(&state, &c, &uri, done).await
}

pub async fn revoke(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path(id): Path<i64>,
    body: Bytes,
) -> DeskResult<Response> {
    c.accept_form(&body)?;
    let actor = c.actor();
    let done = tokens::revoke(&state, &actor, id)
        .await
        .map(|()| Redirect::to(&format!("{TOKENS}?done=revoked")).into_response());
    answer(&state, &c, &uri, done).await
}
