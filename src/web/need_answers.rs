//! Answering needs, for both desks: the table of open needs waiting for
//! an answer, the two answer forms (give all or part, decline with a
//! reason) and what a submitted form does; and amounts as people type
//! them in quota forms (Go for data, days for calls and SMS).

use std::collections::{BTreeMap, HashMap};

use maud::{Markup, html};

use super::figures::{gb_text, quantity};
use super::home::{network_name, resource_name};
use super::i18n::Lang;
use crate::app::needs;
use crate::app::{AppError, AppState};
use crate::domain::Principal;
use crate::domain::tree::Reach;
use crate::storage::{Need, Operator};

const DAY_SECS: i64 = 86_400;

/// An amount in the unit a person types it in, for a form's value.
pub fn typed_text(lang: Lang, resource: &str, amount: i64) -> String {
    match resource {
        "data_mb" => gb_text(lang, amount),
        _ => amount.to_string(),
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

/// The amount a quota form names, in the resource's unit.
pub fn form_amount(fields: &HashMap<String, String>, resource: &str) -> Result<i64, AppError> {
    let typed = fields.get("amount").map_or("", String::as_str);
    super::figures::parse_amount(resource, typed)
        .ok_or_else(|| AppError::invalid("amount", "a positive amount"))
}

/// An answer to a need from a form: `approve` (the amount typed in the
/// need's unit) or `decline` (a reason); `None` for any other action.
pub async fn answer_need(
    state: &AppState,
    by: (&str, Option<&Principal>),
    reach: Reach,
    id: i64,
    action: &str,
    fields: &HashMap<String, String>,
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
