//! An association's members at the desk: each member's quota left, and
//! for its managers the forms that pass quota to a member or take back
//! what it has not handed out. Each is one transaction, never overdrawn.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult};
use super::form_fields;
use super::home::quota_left;
use super::i18n::Lang;
use super::layout::{Notice, notice, page};
use super::need_answers::form_amount;
use super::needs::{chrome, quota_fields, refusal};
use super::session::{Desk, random_token};
use crate::app::associations::{self, TransferAsk};
use crate::app::{AppError, AppState, balances};
use crate::domain::Balance;
use crate::domain::tree::Reach;
use crate::storage::{Operator, RequestFingerprint, Structure, TransferKind};

pub async fn list(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Response> {
    let x = desk.lang.tree();
    let shown = match super::query_value(&uri, "done").as_deref() {
        Some("allocated") => Some(x.allocated_notice),
        Some("clawed_back") => Some(x.clawed_back_notice),
        _ => None,
    }
    .map(|text| notice(desk.lang.texts(), Notice::Done, text));
    render(&state, &desk, &uri, StatusCode::OK, shown).await
}

async fn render(
    state: &AppState,
    desk: &Desk,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let me = desk.caller.structure_id;
    let members: Vec<Structure> = state
        .store
        .structures_within(Reach::Subtree(me))
        .await?
        .into_iter()
        .filter(|s| s.parent_id == Some(me))
        .collect();
    let mut left = BTreeMap::new();
    for m in &members {
        left.insert(m.id, balances::current_balances(state, m.id).await?);
    }
    let own = balances::current_balances(state, me).await?;
    let networks = crate::app::operators::by_id(&state.store).await?;
    let x = desk.lang.tree();
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (x.members_intro) }
        @if members.is_empty() { p { (x.no_members) } } @else {
            p { strong { (x.own_left) " : " } (left_or_dash(desk.lang, &own, &networks)) }
            table {
                caption { (x.members_title) }
                thead { tr {
                    th scope="col" { (x.member) }
                    th scope="col" { (x.col_left) }
                } }
                tbody {
                    @for m in &members {
                        tr {
                            th scope="row" { (m.name) }
                            td { (left_or_dash(desk.lang, left.get(&m.id).map_or(&[][..], Vec::as_slice), &networks)) }
                        }
                    }
                }
            }
            @if desk.is_manager {
                h2 { (x.allocate_heading) }
                (transfer_form(desk, &members, &networks))
            } @else {
                p { (x.managers_answer) }
            }
        }
    };
    Ok((status, page(&chrome(desk, uri), x.members_title, "", body)).into_response())
}

/// A structure's quota left; a dash for none.
fn left_or_dash(lang: Lang, balances: &[Balance], networks: &BTreeMap<i64, Operator>) -> Markup {
    html! {
        @if balances.is_empty() { "—" }
        (quota_left(lang, balances, networks))
    }
}

fn transfer_form(desk: &Desk, members: &[Structure], networks: &BTreeMap<i64, Operator>) -> Markup {
    let x = desk.lang.tree();
    html! {
        form method="post" action="/desk/members/transfer" class="stack" {
            input type="hidden" name="csrf" value=(desk.csrf_token);
            // Sent again (a double click, a reload), the form is answered
            // once: its key makes the transfer idempotent.
            @if let Some(key) = random_token() { input type="hidden" name="key" value=(key); }
            div class="field" {
                label for="member" { (x.member) }
                select id="member" name="member" required {
                    // A deactivated member is listed: what it has not
                    // handed out can still be taken back.
                    @for m in members { option value=(m.id) { (m.name) } }
                }
            }
            (quota_fields(desk.lang, "transfer-", networks))
            p class="hint" { (x.clawback_hint) }
            div class="actions" {
                button type="submit" name="kind" value="allocation" { (x.allocate_submit) }
                button type="submit" name="kind" value="clawback" { (x.clawback_submit) }
            }
        }
    }
}

/// Passes quota to a member, or takes it back: the button says which.
pub async fn transfer(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    // Staff report needs; only managers answer them and share quota.
    if !desk.is_manager {
        return Err(DeskError::not_found());
    }
    let field = |name: &str| fields.get(name).map_or("", |v| v.trim());
    let kind = match field("kind") {
        "allocation" => TransferKind::Allocation,
        "clawback" => TransferKind::Clawback,
        _ => return Err(DeskError::FormInvalid),
    };
    let resource = field("resource");
    let done = async {
        let number = |name: &'static str| {
            field(name)
                .parse::<i64>()
                .map_err(|_| AppError::invalid(name, "a number"))
        };
        let ask = TransferAsk {
            kind,
            member_id: number("member")?,
            operator_id: number("operator_id")?,
            resource,
            amount: form_amount(&fields, resource)?,
        };
        let actor = desk.caller.principal.actor();
        let reach = Reach::Subtree(desk.caller.structure_id);
        let retry = fields
            .get("key")
            .filter(|k| !k.is_empty())
            .map(|k| (k.clone(), RequestFingerprint::new("desk transfer", &body)));
        associations::transfer(
            &state.store,
            &actor,
            Some(&desk.caller.principal),
            reach,
            ask,
            retry,
            state.now(),
        )
        .await
    }
    .await;
    match done {
        Ok(_) => {
            let what = match kind {
                TransferKind::Allocation => "allocated",
                TransferKind::Clawback => "clawed_back",
            };
            Ok(Redirect::to(&format!("/desk/members?done={what}")).into_response())
        }
        Err(e) => {
            let x = desk.lang.tree();
            let words = match (&e, kind) {
                (
                    AppError::Domain(crate::domain::DomainError::QuotaExceeded { .. }),
                    TransferKind::Allocation,
                ) => Some(x.allocation_too_much),
                (
                    AppError::Domain(crate::domain::DomainError::QuotaExceeded { .. }),
                    TransferKind::Clawback,
                ) => Some(x.clawback_too_much),
                _ if e.field() == Some("amount") => Some(x.amount_unreadable),
                _ => None,
            };
            let shown = match words {
                Some(w) => {
                    super::layout::notice(desk.lang.texts(), super::layout::Notice::Error, w)
                }
                None => refusal(&state, desk.lang, e)?,
            };
            render(
                &state,
                &desk,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(shown),
            )
            .await
        }
    }
}
