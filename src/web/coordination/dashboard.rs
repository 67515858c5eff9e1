//! The dashboard: this month and the year to date, per operator, with two
//! charts and their tables; the quota left; the busiest structures and
//! the idle ones.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::Uri;
use maud::{Markup, html};

use super::charts::{Series, bars};
use super::{CoordinationTexts, Coordinator};
use crate::app::AppState;
use crate::app::dashboard::{self, Dashboard, IDLE_DAYS, year_of};
use crate::domain::Product;
use crate::storage::{Operator, PeriodCounts};
use crate::web::error::DeskResult;
use crate::web::figures::{allows, quantity};
use crate::web::home::{network_name, resource_name};

fn month_name(x: &CoordinationTexts, start: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(start)
        .ok()
        .and_then(|d| x.month_short.get(usize::from(u8::from(d.month())) - 1))
        .map_or_else(String::new, |m| (*m).to_owned())
}

fn counts_table(c: &Coordinator, caption: &str, rows: &[(String, PeriodCounts)]) -> Markup {
    let x = c.texts();
    html! {
        table {
            caption { (caption) }
            thead { tr {
                th scope="col" { (x.network) }
                th scope="col" class="num" { (x.issued) }
                th scope="col" class="num" { (x.redeemed) }
                th scope="col" class="num" { (x.expired) }
                th scope="col" class="num" { (x.voided) }
                th scope="col" class="num" { (x.granted) }
            } }
            tbody {
                @for (name, n) in rows {
                    tr {
                        th scope="row" { (name) }
                        td class="num" { (n.issued) }
                        td class="num" { (n.redeemed) }
                        td class="num" { (n.expired) }
                        td class="num" { (n.voided) }
                        td class="num" {
                            @for (i, (resource, amount)) in n.granted.iter().enumerate() {
                                @if i > 0 { br; }
                                (quantity(c.lang(), resource, *amount))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// One row per operator of `of(network)`, then the total.
fn per_network(
    d: &Dashboard,
    networks: &BTreeMap<i64, Operator>,
    of: impl Fn(i64) -> PeriodCounts,
    total: PeriodCounts,
    total_label: &str,
) -> Vec<(String, PeriodCounts)> {
    let mut ops: Vec<i64> = d.counts.keys().map(|(_, op)| *op).collect();
    ops.sort_unstable();
    ops.dedup();
    let mut rows: Vec<(String, PeriodCounts)> = ops
        .into_iter()
        .map(|op| (network_name(networks, op), of(op)))
        .collect();
    rows.push((total_label.to_owned(), total));
    rows
}

fn monthly_chart(c: &Coordinator, d: &Dashboard) -> Markup {
    let x = c.texts();
    let labels: Vec<String> = d.months.iter().map(|m| month_name(x, *m)).collect();
    let per_month = |f: fn(&PeriodCounts) -> i64| -> Vec<i64> {
        (0..d.months.len()).map(|m| f(&d.total(Some(m)))).collect()
    };
    let issued = per_month(|c| c.issued);
    let redeemed = per_month(|c| c.redeemed);
    html! {
        h2 { (x.per_month_chart) }
        (bars("chart-months", x.per_month_chart, &labels, &[
            Series { name: x.issued, values: issued.clone() },
            Series { name: x.redeemed, values: redeemed.clone() },
        ]))
        table {
            caption { (x.per_month_chart) }
            thead { tr {
                th scope="col" { (x.month) }
                th scope="col" class="num" { (x.issued) }
                th scope="col" class="num" { (x.redeemed) }
            } }
            tbody {
                @for (i, label) in labels.iter().enumerate() {
                    tr {
                        th scope="row" { (label) }
                        td class="num" { (issued[i]) }
                        td class="num" { (redeemed[i]) }
                    }
                }
            }
        }
    }
}

fn network_chart(c: &Coordinator, d: &Dashboard, networks: &BTreeMap<i64, Operator>) -> Markup {
    let x = c.texts();
    let year = d.per_network();
    let labels: Vec<String> = year.keys().map(|op| network_name(networks, *op)).collect();
    let redeemed: Vec<i64> = year.values().map(|n| n.redeemed).collect();
    html! {
        h2 { (x.per_network_chart) }
        (bars("chart-networks", x.per_network_chart, &labels, &[
            Series { name: x.redeemed, values: redeemed.clone() },
        ]))
        table {
            caption { (x.per_network_chart) }
            thead { tr {
                th scope="col" { (x.network) }
                th scope="col" class="num" { (x.redeemed) }
            } }
            tbody {
                @for (label, n) in labels.iter().zip(&redeemed) {
                    tr {
                        th scope="row" { (label) }
                        td class="num" { (n) }
                    }
                }
            }
        }
    }
}

fn quota_table(
    c: &Coordinator,
    d: &Dashboard,
    networks: &BTreeMap<i64, Operator>,
    catalogue: &[Product],
) -> Markup {
    let (t, x) = (c.lang().texts(), c.texts());
    html! {
        table {
            caption { (x.quota_heading) }
            thead { tr {
                th scope="col" { (x.network) }
                th scope="col" { (x.resource) }
                th scope="col" class="num" { (x.granted) }
                th scope="col" class="num" { (x.left) }
            } }
            tbody {
                @for b in &d.balances {
                    tr {
                        td { (network_name(networks, b.operator_id)) }
                        th scope="row" { (resource_name(t, &b.resource)) }
                        td class="num" { (quantity(c.lang(), &b.resource, b.granted)) }
                        td class="num" {
                            strong { (quantity(c.lang(), &b.resource, b.available)) }
                            @let fits = allows(c.lang(), b.operator_id, &b.resource, b.available, catalogue);
                            @if !fits.is_empty() { br; span class="hint" { (fits) } }
                        }
                    }
                }
            }
        }
    }
}

fn structures_lists(c: &Coordinator, d: &Dashboard) -> Markup {
    let (t, x) = (c.lang().texts(), c.texts());
    html! {
        h2 { (x.busiest_heading) }
        @if d.busiest.is_empty() { p { (x.nothing_yet) } } @else {
            ol {
                @for s in &d.busiest {
                    li { (s.name) " (" (x.number) " " (s.structure_id) ") — " (s.issued) " " (x.codes) }
                }
            }
        }
        h2 { ((x.idle_heading)(IDLE_DAYS)) }
        @if d.idle.is_empty() { p { (x.nothing_yet) } } @else {
            ul {
                @for s in &d.idle {
                    li {
                        (s.name) " (" (x.number) " " (s.structure_id) ") — " (x.last_issue) " : "
                        (s.last_issued_at.map_or_else(|| x.never_issued.to_owned(), |at| t.day(c.zone(), at)))
                    }
                }
            }
        }
    }
}

pub async fn show(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Markup> {
    let d = dashboard::dashboard(&state).await?;
    let networks = crate::app::operators::by_id(&state.store).await?;
    let catalogue = state.store.list_products().await?;
    let x = c.texts();
    let month = d.months.get(d.current).copied().unwrap_or_default();
    let month_title = (x.month_heading)(&format!(
        "{} {}",
        month_name(x, month),
        year_of(month).unwrap_or_default()
    ));
    let this_month = per_network(
        &d,
        &networks,
        |op| d.counts.get(&(d.current, op)).cloned().unwrap_or_default(),
        d.total(Some(d.current)),
        x.totals,
    );
    let year_rows = {
        let year = d.per_network();
        per_network(
            &d,
            &networks,
            |op| year.get(&op).cloned().unwrap_or_default(),
            d.total(None),
            x.totals,
        )
    };
    let waiting = crate::app::needs::waiting_by_association(&state.store, 500).await?;
    let body = html! {
        (super::needs::waiting_table(&c, state.now(), &waiting))
        (counts_table(&c, &month_title, &this_month))
        (counts_table(&c, &(x.year_heading)(year_of(month).unwrap_or_default()), &year_rows))
        (quota_table(&c, &d, &networks, &catalogue))
        (monthly_chart(&c, &d))
        (network_chart(&c, &d, &networks))
        (structures_lists(&c, &d))
    };
    Ok(c.page(&uri, x.dashboard, "", body))
}
