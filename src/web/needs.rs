//! A structure's needs at the desk: anyone of the structure reports one;
//! the answer shows on the same page. For an association, its managers
//! answer its members' open needs there, oldest first: given in full or in
//! part (the quota passes in the same transaction), or declined with a
//! reason.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::{DeskError, DeskResult, problem_message};
use super::figures::quantity;
use super::form_fields;
use super::i18n::Lang;
use super::layout::{Chrome, Notice, notice, page};
use super::need_answers::{Waiting, answer_need, form_amount, need_words, waiting_needs};
use super::session::Desk;
use crate::app::needs::{self, NeedAsk};
use crate::app::{AppError, AppState};
use crate::domain::need::NeedState;
use crate::domain::tree::Reach;
use crate::http::error::Problem;
use crate::storage::{Need, Operator};

/// Needs shown in each of the page's lists, at most.
const NEEDS_SHOWN: usize = 200;

/// The sentence for a refused form, as the desk words problems.
pub fn refusal(state: &AppState, lang: Lang, error: AppError) -> DeskResult<Markup> {
    if error.field() == Some("amount") {
        return Ok(notice(
            lang.texts(),
            Notice::Error,
            lang.tree().amount_unreadable,
        ));
    }
    let problem = Problem::from(error);
    if problem.status >= 500 {
        return Err(DeskError::Problem(problem));
    }
    let t = lang.texts();
    let text = problem_message(&problem, t, state.limits.max_issue_count);
    Ok(notice(t, Notice::Error, &text))
}

pub fn chrome<'a>(desk: &'a Desk, uri: &'a Uri) -> Chrome<'a> {
    desk.chrome(uri)
}

pub async fn list(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Response> {
    let shown = super::query_value(&uri, "done").and_then(|d| done_notice(desk.lang, &d));
    render(&state, &desk, &uri, StatusCode::OK, shown).await
}

fn done_notice(lang: Lang, done: &str) -> Option<Markup> {
    let x = lang.tree();
    let text = match done {
        "reported" => x.reported_notice,
        "approved" => x.approved_notice,
        "declined" => x.declined_notice,
        _ => return None,
    };
    Some(notice(lang.texts(), Notice::Done, text))
}

async fn render(
    state: &AppState,
    desk: &Desk,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let me = desk.caller.structure_id;
    // The members' open needs, the longest wait first; the structure's
    // own, the newest first: neither list hides the other.
    let open = needs::list(
        &state.store,
        Reach::Subtree(me),
        Some(NeedState::Open),
        NEEDS_SHOWN,
    );
    let waiting: Vec<Need> = open
        .await?
        .into_iter()
        .filter(|n| n.parent_id == Some(me))
        .collect();
    let own = needs::own(&state.store, me, NEEDS_SHOWN).await?;
    let has_members = state
        .store
        .structures_within(Reach::Subtree(me))
        .await?
        .iter()
        .any(|s| s.parent_id == Some(me));
    let networks = crate::app::operators::by_id(&state.store).await?;
    let x = desk.lang.tree();
    let body = html! {
        @if let Some(n) = shown { (n) }
        p { (x.needs_intro) }
        @if has_members {
            h2 { (x.members_needs) }
            (members_needs(desk, state.now(), &waiting, &networks))
        }
        h2 { (x.own_needs) }
        (own_needs(desk, &own, &networks))
        h2 { (x.report_heading) }
        (report_form(desk, &networks))
    };
    Ok((status, page(&chrome(desk, uri), x.needs_title, "", body)).into_response())
}

fn own_needs(desk: &Desk, own: &[Need], networks: &BTreeMap<i64, Operator>) -> Markup {
    let lang = desk.lang;
    let (t, x) = (lang.texts(), lang.tree());
    html! {
        @if own.is_empty() { p { (x.no_needs) } } @else {
            table {
                caption { (x.own_needs) }
                thead { tr {
                    th scope="col" { (x.col_date) }
                    th scope="col" { (x.col_need) }
                    th scope="col" class="num" { (x.col_people) }
                    th scope="col" { (x.col_reason) }
                    th scope="col" { (x.col_answer) }
                } }
                tbody {
                    @for n in own {
                        tr {
                            td { (t.date_time(&desk.zone, n.created_at)) }
                            th scope="row" { (need_words(lang, n, networks)) }
                            td class="num" { (n.people.map(|p| p.to_string()).unwrap_or_default()) }
                            td { (n.reason) }
                            td { (answer_words(lang, n)) }
                        }
                    }
                }
            }
        }
    }
}

fn answer_words(lang: Lang, n: &Need) -> String {
    let x = lang.tree();
    match (n.state, n.approved_amount, n.answer.as_deref()) {
        (NeedState::Approved, Some(a), _) => (x.approved)(&quantity(lang, &n.resource, a)),
        (NeedState::Declined, _, Some(why)) => (x.declined)(why),
        _ => x.waiting_open.to_owned(),
    }
}

fn members_needs(
    desk: &Desk,
    now: i64,
    waiting: &[Need],
    networks: &BTreeMap<i64, Operator>,
) -> Markup {
    let x = desk.lang.tree();
    let table = Waiting {
        lang: desk.lang,
        now,
        caption: x.members_needs,
        needs: waiting,
        networks,
        answering: desk
            .is_manager
            .then_some((desk.csrf_token.as_str(), "/desk/needs")),
    };
    html! {
        @if waiting.is_empty() { p { (x.no_member_needs) } } @else {
            @if !desk.is_manager { p { (x.managers_answer) } }
            (waiting_needs(&table))
        }
    }
}

/// The choice of network and kind of top-up, shared by every quota form.
pub fn quota_fields(lang: Lang, prefix: &str, networks: &BTreeMap<i64, Operator>) -> Markup {
    let x = lang.tree();
    let (op, res, amount) = (
        format!("{prefix}operator_id"),
        format!("{prefix}resource"),
        format!("{prefix}amount"),
    );
    let hint = format!("{prefix}amount-hint");
    html! {
        div class="field" {
            label for=(op) { (x.network) }
            select id=(op) name="operator_id" required {
                @for o in networks.values() { option value=(o.id) { (o.name) } }
            }
        }
        div class="field" {
            label for=(res) { (x.resource) }
            select id=(res) name="resource" {
                option value="data_mb" { (x.data_go) }
                option value="voice" { (x.voice_days) }
            }
        }
        div class="field" {
            label for=(amount) { (x.amount) }
            input id=(amount) name="amount" type="text" inputmode="decimal" required aria-describedby=(hint);
            p id=(hint) class="hint" { (x.amount_hint) }
        }
    }
}

fn report_form(desk: &Desk, networks: &BTreeMap<i64, Operator>) -> Markup {
    let x = desk.lang.tree();
    html! {
        form method="post" action="/desk/needs" class="stack" {
            input type="hidden" name="csrf" value=(desk.csrf_token);
            (quota_fields(desk.lang, "need-", networks))
            div class="field" {
                label for="people" { (x.people) }
                input id="people" name="people" type="number" min="1" step="1" inputmode="numeric" aria-describedby="people-hint";
                p id="people-hint" class="hint" { (x.people_hint) }
            }
            div class="field" {
                label for="reason" { (x.reason) }
                textarea id="reason" name="reason" required maxlength="300" rows="3" aria-describedby="reason-hint" {}
                p id="reason-hint" class="hint" { (x.reason_hint) }
            }
            button type="submit" { (x.report_submit) }
        }
    }
}

async fn after(
    state: &AppState,
    desk: &Desk,
    uri: &Uri,
    done: Result<&'static str, AppError>,
) -> DeskResult<Response> {
    match done {
        Ok(what) => Ok(Redirect::to(&format!("/desk/needs?done={what}")).into_response()),
        Err(e) => {
            let shown = refusal(state, desk.lang, e)?;
            render(
                state,
                desk,
                uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(shown),
            )
            .await
        }
    }
}

pub async fn report(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    let field = |name: &str| fields.get(name).map_or("", |v| v.trim());
    let resource = field("resource");
    let done = async {
        let ask = NeedAsk {
            operator_id: field("operator_id")
                .parse()
                .map_err(|_| AppError::invalid("operator_id", "a network"))?,
            resource,
            amount: form_amount(&fields, resource)?,
            people: match field("people") {
                "" => None,
                p => Some(
                    p.parse()
                        .map_err(|_| AppError::invalid("people", "a count"))?,
                ),
            },
            reason: field("reason"),
        };
        let actor = desk.caller.principal.actor();
        needs::report(
            &state.store,
            &actor,
            Some(&desk.caller.principal),
            desk.caller.structure_id,
            ask,
            state.now(),
        )
        .await
    }
    .await
    .map(|_| "reported");
    after(&state, &desk, &uri, done).await
}

/// A manager's answer to a member's need.
pub async fn answer(
    State(state): State<AppState>,
    desk: Desk,
    uri: Uri,
    Path((id, action)): Path<(i64, String)>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = form_fields(&body);
    desk.check_csrf(fields.get("csrf").map(String::as_str))?;
    // Staff report needs; only managers answer them and share quota.
    if !desk.is_manager {
        return Err(DeskError::not_found());
    }
    let reach = Reach::Subtree(desk.caller.structure_id);
    let actor = desk.caller.principal.actor();
    let by = (actor.as_str(), Some(&desk.caller.principal));
    let done = match answer_need(&state, by, reach, id, &action, &fields).await {
        Some(done) => done,
        None => return Err(DeskError::not_found()),
    };
    after(&state, &desk, &uri, done).await
}
