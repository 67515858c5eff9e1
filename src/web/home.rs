//! The desk's home page: what is left to hand out.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::Uri;
use maud::{Markup, html};

use super::error::DeskResult;
use super::i18n::Texts;
use super::layout::{Chrome, page};
use super::session::Desk;
use crate::app::AppState;
use crate::app::balances::current_balances;
use crate::app::operators;
use crate::domain::Balance;
use crate::storage::Operator;

/// A resource's name in plain words, with its unit.
pub fn resource_name<'a>(t: &Texts, resource: &'a str) -> &'a str {
    match resource {
        "data_mb" => t.resource_data,
        "voice" => t.resource_voice,
        other => other,
    }
}

/// An operator's name, or its id if it has none here.
pub fn network_name(networks: &BTreeMap<i64, Operator>, id: i64) -> String {
    networks
        .get(&id)
        .map_or_else(|| id.to_string(), |o| o.name.clone())
}

/// The balances as a table, one row per network and resource.
pub fn balances_table(
    t: &Texts,
    balances: &[Balance],
    networks: &BTreeMap<i64, Operator>,
) -> Markup {
    html! {
        @if balances.is_empty() {
            p { (t.no_balance) }
        } @else {
            table class="balances" {
                caption { (t.balances_caption) }
                thead {
                    tr {
                        th scope="col" { (t.balance_network) }
                        th scope="col" { (t.balance_resource) }
                        th scope="col" class="num" { (t.balance_available) }
                        th scope="col" class="num" { (t.balance_granted) }
                        th scope="col" class="num" { (t.balance_issued) }
                        th scope="col" class="num" { (t.balance_returned) }
                        th scope="col" class="num" { (t.balance_lapsed) }
                    }
                }
                tbody {
                    @for b in balances {
                        tr {
                            td { (network_name(networks, b.operator_id)) }
                            th scope="row" { (resource_name(t, &b.resource)) }
                            td class="num" { strong { (b.available) } }
                            td class="num" { (b.granted) }
                            td class="num" { (b.issued) }
                            td class="num" { (b.returned) }
                            td class="num" { (b.lapsed) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn home(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Markup> {
    let t = desk.lang.texts();
    let balances = current_balances(&state, desk.caller.structure_id).await?;
    let networks = operators::by_id(&state.store).await?;
    let chrome = Chrome {
        lang: desk.lang,
        uri: &uri,
        session: Some((&desk.label, &desk.csrf_token)),
    };
    let body = html! {
        (balances_table(t, &balances, &networks))
        h2 { (t.home_actions) }
        ul class="actions" {
            li { a class="button" href="/desk/issue" { (t.nav_issue) } }
            li { a class="button" href="/desk/vouchers" { (t.nav_vouchers) } }
            @if desk.is_manager {
                li { a class="button" href="/desk/accounts" { (desk.lang.people().accounts_link) } }
            }
        }
    };
    Ok(page(&chrome, t.home_title, "", body))
}
