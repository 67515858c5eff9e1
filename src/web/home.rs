//! The desk's home page: what is left to hand out.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::Uri;
use maud::{Markup, html};

use super::error::DeskResult;
use super::figures::{allows, quantity};
use super::i18n::{Lang, Texts};
use super::layout::{Chrome, page};
use super::session::Desk;
use crate::app::AppState;
use crate::app::balances::current_balances;
use crate::app::operators;
use crate::domain::{Balance, Product};
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

/// What each balance still holds, a line per network and resource ("SFR,
/// Données internet : 100 Go"), for the lists of structures.
pub fn quota_left(lang: Lang, balances: &[Balance], networks: &BTreeMap<i64, Operator>) -> Markup {
    let t = lang.texts();
    html! {
        @for b in balances {
            (network_name(networks, b.operator_id)) ", " (resource_name(t, &b.resource)) " : "
            (quantity(lang, &b.resource, b.available)) br;
        }
    }
}

/// The balances as a table, one row per network and resource, in Go and
/// days, with the codes each balance still allows.
pub fn balances_table(
    lang: Lang,
    balances: &[Balance],
    networks: &BTreeMap<i64, Operator>,
    catalogue: &[Product],
) -> Markup {
    let t = lang.texts();
    let x = lang.tree();
    let q = |b: &Balance, amount: i64| quantity(lang, &b.resource, amount);
    // Only a structure in an association's tree has quota passing through
    // it: the columns are shown to those.
    let tree = balances.iter().any(|b| b.received != 0 || b.sent != 0);
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
                        @if tree {
                            th scope="col" class="num" { (x.balance_received) }
                            th scope="col" class="num" { (x.balance_sent) }
                        }
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
                            td class="num" {
                                strong { (q(b, b.available)) }
                                @let fits = allows(lang, b.operator_id, &b.resource, b.available, catalogue);
                                @if !fits.is_empty() { br; span class="hint" { (fits) } }
                            }
                            td class="num" { (q(b, b.granted)) }
                            @if tree {
                                td class="num" { (q(b, b.received)) }
                                td class="num" { (q(b, b.sent)) }
                            }
                            td class="num" { (q(b, b.issued)) }
                            td class="num" { (q(b, b.returned)) }
                            td class="num" { (q(b, b.lapsed)) }
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
    let catalogue = state.store.list_products().await?;
    let chrome = Chrome {
        lang: desk.lang,
        uri: &uri,
        session: Some((&desk.label, &desk.csrf_token)),
        nav: desk.nav(),
    };
    let body = html! {
        (balances_table(desk.lang, &balances, &networks, &catalogue))
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
