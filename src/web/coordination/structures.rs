//! Structures (register, rename, deactivate) and quotas (grant one-off or
//! monthly, with an optional end), for the coordinator.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::{Answer, Coordinator, field};
use crate::app::grants::{self, GrantOrder};
use crate::app::{AppError, AppState, structures};
use crate::domain::Balance;
use crate::domain::Recurrence;
use crate::storage::{Operator, Structure};
use crate::web::error::{DeskError, DeskResult};
use crate::web::figures::quantity;
use crate::web::home::{network_name, quota_left};

fn structures_page(
    c: &Coordinator,
    all: &[Structure],
    balances: &BTreeMap<i64, Vec<Balance>>,
    networks: &BTreeMap<i64, Operator>,
    shown: Option<Markup>,
) -> Markup {
    let x = c.texts();
    let csrf = &c.person.csrf_token;
    html! {
        @if let Some(n) = shown { (n) }
        table {
            caption { (x.structures) }
            thead { tr {
                th scope="col" { (x.number) }
                th scope="col" { (x.structure_name) }
                th scope="col" { (x.external_ref) }
                th scope="col" { (c.lang().tree().col_association) }
                th scope="col" { (x.state) }
                th scope="col" { (x.left) }
                @if c.may_change { th scope="col" { (x.rename) } th scope="col" { (x.deactivate) } }
            } }
            tbody {
                @for s in all {
                    tr {
                        td { (s.id) }
                        th scope="row" { (s.name) }
                        td { (s.external_ref.as_deref().unwrap_or_default()) }
                        td { (s.parent_id.and_then(|p| all.iter().find(|a| a.id == p)).map_or("", |a| a.name.as_str())) }
                        td { (if s.active { x.active } else { x.deactivated }) }
                        td { (quota_left(c.lang(), balances.get(&s.id).map_or(&[][..], Vec::as_slice), networks)) }
                        @if c.may_change {
                            td {
                                form method="post" action=(format!("/desk/coordination/structures/{}/rename", s.id)) class="inline" {
                                    input type="hidden" name="csrf" value=(csrf);
                                    label for=(format!("name-{}", s.id)) class="visually-hidden" { (x.new_name) " — " (s.name) }
                                    input id=(format!("name-{}", s.id)) name="name" type="text" required maxlength="200" value=(s.name);
                                    button type="submit" { (x.rename) }
                                }
                            }
                            td {
                                @if s.active {
                                    form method="post" action=(format!("/desk/coordination/structures/{}/deactivate", s.id)) class="inline" {
                                        input type="hidden" name="csrf" value=(csrf);
                                        button type="submit" class="danger" aria-label=(format!("{} — {}", x.deactivate, s.name)) { (x.deactivate) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if c.may_change {
            h2 { (x.register) }
            form method="post" action="/desk/coordination/structures" class="stack" {
                input type="hidden" name="csrf" value=(csrf);
                div class="field" {
                    label for="name" { (x.structure_name) }
                    input id="name" name="name" type="text" required maxlength="200";
                }
                div class="field" {
                    label for="external_ref" { (x.external_ref) }
                    input id="external_ref" name="external_ref" type="text" maxlength="100" aria-describedby="external-ref-hint";
                    p id="external-ref-hint" class="hint" { (x.external_ref_hint) }
                }
                div class="field" {
                    label for="parent_id" { (c.lang().tree().association) }
                    select id="parent_id" name="parent_id" {
                        option value="" { (c.lang().tree().no_association) }
                        @for a in all.iter().filter(|a| a.active) { option value=(a.id) { (a.name) } }
                    }
                }
                button type="submit" { (x.register) }
            }
        }
    }
}

async fn render(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let all = state.store.list_structures().await?;
    let mut balances: BTreeMap<i64, Vec<Balance>> = BTreeMap::new();
    for (id, b) in state.store.balances_by_structure().await? {
        balances.entry(id).or_default().push(b);
    }
    let networks = crate::app::operators::by_id(&state.store).await?;
    let body = structures_page(c, &all, &balances, &networks, shown);
    Ok((status, c.page(uri, c.texts().structures, "", body)).into_response())
}

pub async fn list(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let x = c.texts();
    let id = crate::web::query_value(&uri, "id").and_then(|v| v.parse::<i64>().ok());
    let shown = match (crate::web::query_value(&uri, "done").as_deref(), id) {
        (Some("registered"), Some(id)) => Some((x.registered_notice)(id)),
        (Some("renamed"), _) => Some(x.renamed_notice.to_owned()),
        (Some("deactivated"), _) => Some(x.deactivated_notice.to_owned()),
        _ => None,
    };
    render(&state, &c, &uri, StatusCode::OK, shown.map(|s| c.done(&s))).await
}

/// After a form: back to the page with what was done (post/redirect/get),
/// or the page again with why not.
async fn after(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    done: Result<String, AppError>,
) -> DeskResult<Response> {
    match c.answer("/desk/coordination/structures", done)? {
        Answer::Done(back) => Ok(back),
        Answer::Refused(shown) => {
            render(state, c, uri, StatusCode::UNPROCESSABLE_ENTITY, Some(shown)).await
        }
    }
}

pub async fn register(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let external_ref = Some(field(&fields, "external_ref")).filter(|r| !r.is_empty());
    let actor = c.actor();
    let new = structures::NewStructure {
        name: field(&fields, "name"),
        external_ref,
        parent_id: field(&fields, "parent_id").parse().ok(),
    };
    let done = structures::register(&state.store, &actor, new, state.now())
        .await
        .map(|s| format!("done=registered&id={}", s.id));
    after(&state, &c, &uri, done).await
}

pub async fn change(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path((id, action)): Path<(i64, String)>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let actor = c.actor();
    let done = match action.as_str() {
        "rename" => structures::rename(
            &state.store,
            &actor,
            id,
            field(&fields, "name"),
            state.now(),
        )
        .await
        .map(|()| "done=renamed".to_owned()),
        "deactivate" if field(&fields, "confirm") != "yes" => {
            return confirm_deactivation(&state, &c, &uri, id).await;
        }
        "deactivate" => structures::deactivate(&state, &actor, id)
            .await
            .map(|()| "done=deactivated".to_owned()),
        _ => return Err(DeskError::not_found()),
    };
    after(&state, &c, &uri, done).await
}

/// Deactivating cannot be undone and signs people out at once: it is
/// asked once more, saying what it does, before it is done.
async fn confirm_deactivation(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    id: i64,
) -> DeskResult<Response> {
    let x = c.texts();
    let structure = state
        .store
        .get_structure(id)
        .await?
        .filter(|s| s.active)
        .ok_or_else(DeskError::not_found)?;
    let body = html! {
        p { ((x.deactivate_confirm)(&structure.name)) }
        form method="post" action=(format!("/desk/coordination/structures/{id}/deactivate")) class="stack" {
            input type="hidden" name="csrf" value=(c.person.csrf_token);
            input type="hidden" name="confirm" value="yes";
            button type="submit" class="danger" { (x.deactivate_yes) }
        }
        p { a href="/desk/coordination/structures" { (x.keep_structure) } }
    };
    Ok((StatusCode::OK, c.page(uri, x.deactivate, "", body)).into_response())
}

async fn grants_page(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let x = c.texts();
    let t = c.lang().texts();
    let structures = state.store.list_structures().await?;
    let networks = crate::app::operators::by_id(&state.store).await?;
    let recent = state.store.recent_grants(50).await?;
    let csrf = &c.person.csrf_token;
    let body = html! {
        @if let Some(n) = shown { (n) }
        @if c.may_change {
            form method="post" action="/desk/coordination/grants" class="stack" {
                input type="hidden" name="csrf" value=(csrf);
                div class="field" {
                    label for="structure_id" { (x.structure) }
                    select id="structure_id" name="structure_id" required {
                        @for s in structures.iter().filter(|s| s.active) {
                            option value=(s.id) { (s.name) " (" (x.number) " " (s.id) ")" }
                        }
                    }
                }
                div class="field" {
                    label for="operator_id" { (x.network) }
                    select id="operator_id" name="operator_id" required {
                        @for o in networks.values() { option value=(o.id) { (o.name) } }
                    }
                }
                div class="field" {
                    label for="resource" { (x.resource) }
                    select id="resource" name="resource" {
                        option value="data_mb" { (x.amount_data) }
                        option value="voice" { (x.amount_voice) }
                    }
                }
                div class="field" {
                    label for="amount" { (t.balance_granted) }
                    input id="amount" name="amount" type="text" required inputmode="decimal";
                }
                fieldset class="field" {
                    legend { (x.kind) }
                    div class="choice" {
                        input type="radio" id="once" name="recurrence" value="" checked;
                        label for="once" { (x.one_off) }
                    }
                    div class="choice" {
                        input type="radio" id="monthly" name="recurrence" value="monthly";
                        label for="monthly" { (x.monthly) }
                    }
                }
                div class="field" {
                    label for="ends" { (x.ends) }
                    input id="ends" name="ends" type="date" aria-describedby="ends-hint";
                    p id="ends-hint" class="hint" { (x.ends_hint) }
                }
                button type="submit" { (x.grant_submit) }
            }
        }
        table {
            caption { (x.recent_grants) }
            thead { tr {
                th scope="col" { (x.number) }
                th scope="col" { (x.structure) }
                th scope="col" { (x.network) }
                th scope="col" class="num" { (x.granted) }
                th scope="col" { (x.kind) }
                th scope="col" { (x.ends) }
            } }
            tbody {
                @for g in &recent {
                    tr {
                        td { (g.id) }
                        td { (structures.iter().find(|s| s.id == g.structure_id).map_or("", |s| s.name.as_str())) }
                        td { (network_name(&networks, g.operator_id)) }
                        td class="num" { (quantity(c.lang(), &g.resource, g.amount)) }
                        td { (if g.monthly { x.monthly } else { x.one_off }) }
                        td { (g.ends_at.map_or_else(|| x.no_end.to_owned(), |e| t.day(c.zone(), e))) }
                    }
                }
            }
        }
    };
    Ok((status, c.page(uri, x.grants, "", body)).into_response())
}

pub async fn grants(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
) -> DeskResult<Response> {
    let shown = (crate::web::query_value(&uri, "done").as_deref() == Some("granted"))
        .then(|| c.done(c.texts().granted_notice));
    grants_page(&state, &c, &uri, StatusCode::OK, shown).await
}

/// What a person types as an amount (Go for data, days for calls) in the
/// resource's unit (MB, days).
fn units(resource: &str, typed: &str) -> Option<i64> {
    crate::web::figures::parse_amount(resource, typed)
}

pub async fn grant(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let parse = |name: &'static str| {
        field(&fields, name)
            .parse::<i64>()
            .map_err(|_| AppError::invalid(name, "a number"))
    };
    let resource = field(&fields, "resource");
    // An end date is the end of that day in UTC.
    let ends = Some(field(&fields, "ends"))
        .filter(|e| !e.is_empty())
        .map(|e| format!("{e}T23:59:59Z"));
    let order = || -> Result<GrantOrder<'_>, AppError> {
        Ok(GrantOrder {
            structure_id: parse("structure_id")?,
            operator_id: parse("operator_id")?,
            resource,
            amount: units(resource, field(&fields, "amount"))
                .ok_or_else(|| AppError::invalid("amount", "a whole number above zero"))?,
            expires_at: ends.as_deref(),
            recurrence: (field(&fields, "recurrence") == "monthly").then_some(Recurrence::Monthly),
        })
    };
    let actor = c.actor();
    let done = match order() {
        Ok(order) => grants::grant(&state.store, &actor, order, state.now())
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    match c.answer(
        "/desk/coordination/grants",
        done.map(|()| "done=granted".to_owned()),
    )? {
        Answer::Done(back) => Ok(back),
        Answer::Refused(shown) => {
            grants_page(
                &state,
                &c,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(shown),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::units;

    #[test]
    fn gigabytes_are_typed_and_megabytes_stored() {
        assert_eq!(units("data_mb", "100"), Some(102_400));
        assert_eq!(units("voice", "30"), Some(30));
        assert_eq!(units("data_mb", "0"), None);
        assert_eq!(units("data_mb", "1,5"), Some(1536));
        assert_eq!(units("data_mb", "10 Go"), Some(10_240));
        assert_eq!(units("data_mb", &i64::MAX.to_string()), None);
    }
}
