//! Operators (the networks) and the catalogue's products, for the
//! coordinator: the list of both, and registering an operator.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Answer, Coordinator, field};
use crate::app::{AppError, AppState, operators};
use crate::domain::operator::tidy_dialling;
use crate::domain::{NewOperator, Product};
use crate::web::error::{DeskError, DeskResult};
use crate::web::home::network_name;
use crate::web::slips::product_words;

pub(super) async fn render(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let x = c.texts();
    let networks = operators::by_id(&state.store).await?;
    let products = state.store.list_products().await?;
    let body = html! {
        @if let Some(n) = shown { (n) }
        table {
            caption { (x.networks) }
            thead { tr {
                th scope="col" { (x.number) }
                th scope="col" { (x.operator_name) }
                th scope="col" { (x.instructions) }
                th scope="col" { (x.dialling) }
            } }
            tbody {
                @for o in networks.values() {
                    tr {
                        td { (o.id) }
                        th scope="row" { (o.name) }
                        td { (o.instructions_fr.as_deref().unwrap_or_default()) }
                        td { (dialling_cell(c, o)) }
                    }
                }
            }
        }
        @if c.may_change {
            h2 { (x.add_operator) }
            form method="post" action="/desk/coordination/networks" class="stack" {
                input type="hidden" name="csrf" value=(c.person.csrf_token);
                div class="field" {
                    label for="name" { (x.operator_name) }
                    input id="name" name="name" type="text" required maxlength="100";
                }
                div class="field" {
                    label for="instructions_fr" { (x.instructions) }
                    input id="instructions_fr" name="instructions_fr" type="text" maxlength="200";
                }
                div class="field" {
                    label for="slip_instructions" { (x.dialling) }
                    input id="slip_instructions" name="slip_instructions" type="text" maxlength="40"
                        inputmode="tel" aria-describedby="slip_instructions-hint";
                    p id="slip_instructions-hint" class="hint" { (x.dialling_hint) }
                }
                button type="submit" { (x.add_operator) }
            }
        }
        table {
            caption { (x.products) }
            thead { tr {
                th scope="col" { (x.product_id) }
                th scope="col" { (x.network) }
                th scope="col" { (x.product_label) }
                th scope="col" { (x.product_active) }
                @if c.may_change { th scope="col" { (x.col_change) } }
            } }
            tbody {
                @for p in &products {
                    tr {
                        td { code { (p.id) } }
                        td { (network_name(&networks, p.operator_id)) }
                        th scope="row" { (product_words(c.lang(), p)) }
                        td { (if p.active { x.yes } else { x.no }) }
                        @if c.may_change {
                            td {
                                a href=(format!("/desk/coordination/products/{}", p.id)) aria-label=(format!("{} — {}", x.col_change, p.id)) { (x.col_change) }
                                " "
                                form method="post" action=(format!("/desk/coordination/products/{}/{}", p.id, if p.active { "withdraw" } else { "offer" })) class="inline" {
                                    input type="hidden" name="csrf" value=(c.person.csrf_token);
                                    @let label = if p.active { x.withdraw } else { x.offer };
                                    button type="submit" aria-label=(format!("{label} — {}", p.id)) { (label) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if c.may_change {
            h2 { (super::catalogue::new_product_heading(c.lang())) }
            (super::catalogue::product_form(c, &networks, None))
        }
    };
    Ok((status, c.page(uri, x.networks, "", body)).into_response())
}

/// An operator's USSD string, and for those who may change it, a form
/// of its own.
fn dialling_cell(c: &Coordinator, o: &crate::storage::Operator) -> Markup {
    let x = c.texts();
    let now = o.slip_instructions.as_deref().unwrap_or_default();
    if !c.may_change {
        return html! { code { (now) } };
    }
    let id = format!("dial-{}", o.id);
    html! {
        form method="post" action=(format!("/desk/coordination/networks/{}/slip-instructions", o.id)) class="inline" {
            input type="hidden" name="csrf" value=(c.person.csrf_token);
            label for=(id) class="visually-hidden" { (x.dialling) " — " (o.name) }
            input id=(id) name="slip_instructions" type="text" maxlength="40" inputmode="tel" value=(now) size="12";
            " "
            button type="submit" aria-label=(format!("{} — {}", x.dialling_change, o.name)) { (x.dialling_change) }
        }
    }
}

/// Changes what an operator's PIN slips say to dial.
pub async fn set_dialling(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path(id): Path<i64>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let change = crate::domain::operator::SlipInstructions {
        slip_instructions: tidy_dialling(field(&fields, "slip_instructions")),
    };
    let actor = c.actor();
    let done = operators::set_slip_instructions(&state.store, &actor, id, &change, state.now())
        .await
        .map(|_| "dialling_saved");
    back(&state, &c, &uri, done).await
}

pub async fn list(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let x = c.texts();
    let shown = match crate::web::query_value(&uri, "done").as_deref() {
        Some("operator_added") => Some(x.operator_added),
        Some("product_saved") => Some(x.product_saved),
        Some("dialling_saved") => Some(x.dialling_saved),
        _ => None,
    };
    render(&state, &c, &uri, StatusCode::OK, shown.map(|s| c.done(s))).await
}

/// After a form: back to the page with what was done (post/redirect/get),
/// or the page again with why not (`done` names what was done).
async fn back(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    done: Result<&'static str, AppError>,
) -> DeskResult<Response> {
    match c.answer(
        "/desk/coordination/networks",
        done.map(|key| format!("done={key}")),
    )? {
        Answer::Done(back) => Ok(back),
        Answer::Refused(shown) => {
            render(state, c, uri, StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

/// Offers a product again, or withdraws it: structures stop seeing it at
/// once; codes already issued keep working.
pub async fn product(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path((id, action)): Path<(String, String)>,
    body: Bytes,
) -> DeskResult<Response> {
    c.accept_form(&body)?;
    let active = match action.as_str() {
        "offer" => true,
        "withdraw" => false,
        _ => return Err(DeskError::not_found()),
    };
    let product = state
        .store
        .get_product(&id)
        .await?
        .ok_or_else(DeskError::not_found)?;
    let actor = c.actor();
    let saved = Product { active, ..product };
    let done = state
        .store
        .upsert_product(&actor, &saved, state.now())
        .await
        .map_err(AppError::from)
        .map(|()| "product_saved");
    back(&state, &c, &uri, done).await
}

pub async fn add_operator(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let new = NewOperator {
        name: field(&fields, "name").to_owned(),
        instructions_fr: Some(field(&fields, "instructions_fr").to_owned())
            .filter(|i| !i.is_empty()),
        instructions_en: None,
        slip_instructions: tidy_dialling(field(&fields, "slip_instructions")),
    };
    let actor = c.actor();
    let done = operators::register(&state.store, &actor, &new, state.now())
        .await
        .map(|_| "operator_added");
    back(&state, &c, &uri, done).await
}

/// Adds a product, or changes the one with the same id.
pub async fn save_product(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let actor = c.actor();
    let done = async {
        let product = super::catalogue::product_from(&fields)?;
        state
            .store
            .upsert_product(&actor, &product, state.now())
            .await?;
        Ok("product_saved")
    }
    .await;
    back(&state, &c, &uri, done).await
}
