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
use super::figures::{gb_text, parse_gb, quantity};
use super::form_fields;
use super::home::{network_name, resource_name};
use super::i18n::Lang;
use super::layout::{Chrome, Nav, Notice, notice, page};
use super::session::Desk;
use crate::app::needs::{self, NeedAsk};
use crate::app::{AppError, AppState};
use crate::domain::Principal;
use crate::domain::need::NeedState;
use crate::domain::tree::Reach;
use crate::http::error::Problem;
use crate::storage::{Need, Operator};

/// Needs shown in each of the page's lists, at most.
const NEEDS_SHOWN: usize = 200;
const NEEDS_SHOWN_I64: i64 = 200;
const DAY_SECS: i64 = 86_400;

/// What a person types as an amount (Go for data, days for calls and SMS)
/// in the resource's unit (MB, days).
pub fn typed_units(resource: &str, typed: &str) -> Option<i64> {
    match resource {
        "data_mb" => parse_gb(typed),
        _ => typed.trim().parse().ok().filter(|n: &i64| *n > 0),
    }
}

/// An amount in the unit a person types it in, for a form's value.
pub fn typed_text(lang: Lang, resource: &str, amount: i64) -> String {
    match resource {
        "data_mb" => gb_text(lang, amount),
        _ => amount.to_string(),
    }
}

/// The sentence for a refused form, as the desk words problems.
pub fn refusal(state: &AppState, lang: Lang, error: AppError) -> DeskResult<Markup> {
    let problem = Problem::from(error);
    if problem.status >= 500 {
        return Err(DeskError::Problem(problem));
    }
    let t = lang.texts();
    let text = match problem.code {
        "need_answered" => lang.tree().need_answered.to_owned(),
        _ => problem_message(&problem, t, state.limits.max_issue_count),
    };
    Ok(notice(t, Notice::Error, &text))
}

pub fn chrome<'a>(desk: &'a Desk, uri: &'a Uri) -> Chrome<'a> {
    Chrome {
        lang: desk.lang,
        uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: Nav::Structure,
    }
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
    let own = state.store.needs_of(me, NEEDS_SHOWN_I64).await?;
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
        (own_needs(desk.lang, &own, &networks))
        h2 { (x.report_heading) }
        (report_form(desk, &networks))
    };
    Ok((status, page(&chrome(desk, uri), x.needs_title, "", body)).into_response())
}

fn own_needs(lang: Lang, own: &[Need], networks: &BTreeMap<i64, Operator>) -> Markup {
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
                            td { (t.date_time(n.created_at)) }
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

/// "SFR, Internet mobile : 5 Go".
pub fn need_words(lang: Lang, n: &Need, networks: &BTreeMap<i64, Operator>) -> String {
    format!(
        "{}, {} : {}",
        network_name(networks, n.operator_id),
        resource_name(lang.texts(), &n.resource),
        quantity(lang, &n.resource, n.amount)
    )
}

fn answer_words(lang: Lang, n: &Need) -> String {
    let x = lang.tree();
    match (n.state, n.approved_amount, n.answer.as_deref()) {
        (NeedState::Approved, Some(a), _) => (x.approved)(&quantity(lang, &n.resource, a)),
        (NeedState::Declined, _, Some(why)) => (x.declined)(why),
        _ => x.waiting_open.to_owned(),
    }
}

/// How long a need has waited, in days.
pub fn waited_days(now: i64, since: i64) -> i64 {
    (now - since).max(0) / DAY_SECS
}

/// Open needs waiting for an answer, oldest first: each with its answer
/// forms for whoever answers them (`answering`: the session's form token
/// and where the forms post), and without for whoever only reads.
pub struct Waiting<'a> {
    pub lang: Lang,
    pub now: i64,
    pub caption: &'a str,
    pub needs: &'a [Need],
    pub networks: &'a BTreeMap<i64, Operator>,
    pub answering: Option<(&'a str, &'a str)>,
}

pub fn waiting_needs(w: &Waiting<'_>) -> Markup {
    let x = w.lang.tree();
    html! {
        table {
            caption { (w.caption) }
            thead { tr {
                th scope="col" { (x.col_structure) }
                th scope="col" { (x.col_need) }
                th scope="col" class="num" { (x.col_people) }
                th scope="col" { (x.col_reason) }
                th scope="col" { (x.col_waiting) }
                @if w.answering.is_some() { th scope="col" { (x.col_decision) } }
            } }
            tbody {
                @for n in w.needs {
                    tr {
                        th scope="row" { (n.structure_name) }
                        td { (need_words(w.lang, n, w.networks)) }
                        td class="num" { (n.people.map(|p| p.to_string()).unwrap_or_default()) }
                        td { (n.reason) }
                        td { ((x.waiting_days)(waited_days(w.now, n.created_at))) }
                        @if let Some((csrf, base)) = w.answering { td { (answer_forms(w.lang, csrf, base, n)) } }
                    }
                }
            }
        }
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

/// The two answers to a need: give (all, or the part typed), or decline
/// with a reason; the forms post under `base`.
pub fn answer_forms(lang: Lang, csrf: &str, base: &str, n: &Need) -> Markup {
    let x = lang.tree();
    let give_id = format!("give-{}", n.id);
    let why_id = format!("why-{}", n.id);
    html! {
        form method="post" action=(format!("{base}/{}/approve", n.id)) class="stack" {
            input type="hidden" name="csrf" value=(csrf);
            div class="field" {
                label for=(give_id) { (x.give) " — " (n.structure_name) }
                input id=(give_id) name="amount" type="text" inputmode="decimal" required
                    value=(typed_text(lang, &n.resource, n.amount));
            }
            button type="submit" { (x.approve_submit) }
        }
        form method="post" action=(format!("{base}/{}/decline", n.id)) class="stack" {
            input type="hidden" name="csrf" value=(csrf);
            div class="field" {
                label for=(why_id) { (x.decline_reason) " — " (n.structure_name) }
                input id=(why_id) name="reason" type="text" required maxlength="300";
            }
            button type="submit" class="danger" { (x.decline_submit) }
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

/// The amount a quota form names, in the resource's unit.
pub fn form_amount(
    fields: &std::collections::HashMap<String, String>,
    resource: &str,
) -> Result<i64, AppError> {
    let typed = fields.get("amount").map_or("", String::as_str);
    typed_units(resource, typed).ok_or_else(|| AppError::invalid("amount", "a positive amount"))
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

/// An answer to a need from a form: `approve` (the amount typed in the
/// need's unit) or `decline` (a reason); `None` for any other action.
pub async fn answer_need(
    state: &AppState,
    by: (&str, Option<&Principal>),
    reach: Reach,
    id: i64,
    action: &str,
    fields: &std::collections::HashMap<String, String>,
) -> Option<Result<&'static str, AppError>> {
    let now = state.now();
    let (actor, live) = by;
    Some(match action {
        "approve" => {
            // The amount is typed in the need's unit. A need the caller does
            // not answer for is not found, whatever the amount typed; the
            // approval itself checks reach and state again, under its locks.
            let asked = match state.store.get_need(id).await {
                Ok(need) => need
                    .filter(|n| match (reach, n.parent_id) {
                        (Reach::All, _) => true,
                        (r, Some(parent)) => r.answers_for(parent),
                        (_, None) => false,
                    })
                    .map(|n| n.resource),
                Err(e) => return Some(Err(e.into())),
            };
            if asked.is_none() {
                return Some(Err(AppError::NotFound("need")));
            }
            let amount = match asked.map(|r| form_amount(fields, &r)).transpose() {
                Ok(amount) => amount,
                Err(e) => return Some(Err(e)),
            };
            needs::approve(&state.store, actor, live, reach, id, amount, now)
                .await
                .map(|_| "approved")
        }
        "decline" => {
            let why = fields.get("reason").map_or("", String::as_str);
            needs::decline(&state.store, actor, live, reach, id, why, now)
                .await
                .map(|_| "declined")
        }
        _ => return None,
    })
}
