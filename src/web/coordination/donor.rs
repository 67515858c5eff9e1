//! The donor report at the desk: an operator and a period (the current
//! month by default), the same figures as `GET /v1/reports/donor`, its CSV
//! and a layout for printing.

use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::Coordinator;
use crate::app::{AppState, donor_report};
use crate::clock::{Zone, parse_rfc3339, rfc3339};
use crate::http::donor::{DonorLine, DonorReportView, view};
use crate::web::error::{DeskError, DeskResult};
use crate::web::figures::{day_start_secs, decimal, month_words, quantity};

/// `operator_id`, `from` and `to` as the form sends them (days in the
/// deployment's zone, or RFC 3339 times); the first operator when none is
/// named.
fn query(uri: &Uri, zone: &Zone) -> (Option<i64>, Option<String>, Option<String>) {
    let mut out = (None, None, None);
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        let as_time = |d: String| day_start(zone, &d).unwrap_or(d);
        match &*k {
            "operator_id" => out.0 = v.parse().ok(),
            "from" => out.1 = Some(as_time(v)),
            // The form's last day is included: the report runs to the
            // start of the next one.
            "to" => out.2 = Some(day_after(zone, &v).unwrap_or_else(|| as_time(v))),
            _ => {}
        }
    }
    out
}

/// `AAAA-MM-JJ`, as the first second of that day in the zone (RFC 3339).
fn day_start(zone: &Zone, date: &str) -> Option<String> {
    day_start_secs(zone, date, 0).map(rfc3339)
}

/// `AAAA-MM-JJ`, as the first second of the next day in the zone.
fn day_after(zone: &Zone, date: &str) -> Option<String> {
    day_start_secs(zone, date, 1).map(rfc3339)
}

/// The day a moment falls on in the zone.
fn day_of(zone: &Zone, at: &str) -> Option<time::Date> {
    zone.wall(parse_rfc3339(at)?).map(|w| w.date)
}

/// The last day a report's end (the first second it leaves out) includes.
fn last_day(zone: &Zone, to: &str) -> Option<time::Date> {
    zone.wall(parse_rfc3339(to)?.checked_sub(1)?)
        .map(|w| w.date)
}

async fn report(state: &AppState, uri: &Uri, zone: &Zone) -> DeskResult<DonorReportView> {
    let (operator, from, to) = query(uri, zone);
    let operator = match operator {
        Some(id) => id,
        None => crate::app::operators::list(&state.store)
            .await?
            .first()
            .map(|o| o.id)
            .ok_or_else(DeskError::not_found)?,
    };
    let done = donor_report::donor(state, operator, from.as_deref(), to.as_deref()).await?;
    Ok(view(done))
}

/// The report's columns, which are amounts (the dashboard's words are
/// counts of codes).
struct ReportWords {
    issued: &'static str,
    redeemed: &'static str,
    voided: &'static str,
    expired: &'static str,
}

impl ReportWords {
    fn of(lang: crate::web::i18n::Lang) -> Self {
        match lang {
            crate::web::i18n::Lang::Fr => Self {
                issued: "Quantité émise",
                redeemed: "Codes utilisés (quantité)",
                voided: "Quantité annulée",
                expired: "Quantité expirée",
            },
            crate::web::i18n::Lang::En => Self {
                issued: "Amount issued",
                redeemed: "Codes redeemed (amount)",
                voided: "Amount voided",
                expired: "Amount expired",
            },
        }
    }
}

fn rows(c: &Coordinator, lines: &[DonorLine], caption: &str) -> Markup {
    let x = c.texts();
    let t = c.lang().texts();
    let q = |l: &DonorLine, n: i64| quantity(c.lang(), &l.resource, n);
    let w = ReportWords::of(c.lang());
    html! {
        table class="report" {
            caption { (caption) }
            thead { tr {
                th scope="col" { (x.month) }
                th scope="col" { (x.structure) }
                th scope="col" { (x.resource) }
                th scope="col" class="num" { (x.granted) }
                th scope="col" class="num" { (w.issued) }
                th scope="col" class="num" { (w.redeemed) }
                th scope="col" class="num" { (w.voided) }
                th scope="col" class="num" { (w.expired) }
                th scope="col" class="num" { (x.rate) }
                th scope="col" class="num" { (x.median_days) }
            } }
            tbody {
                @for l in lines {
                    tr {
                        td { (l.month.as_deref().map_or_else(|| x.totals.to_owned(), |m| month_words(c.lang(), m))) }
                        th scope="row" { (l.structure_name.as_deref().unwrap_or_default()) }
                        td { (crate::web::home::resource_name(t, &l.resource)) }
                        td class="num" { (q(l, l.granted)) }
                        td class="num" { (q(l, l.issued)) }
                        td class="num" { (l.redeemed_count) " (" (q(l, l.redeemed_amount)) ")" }
                        td class="num" { (q(l, l.voided)) }
                        td class="num" { (q(l, l.expired)) }
                        td class="num" { (l.redemption_rate.map(|r| format!("{:.0} %", r * 100.0)).unwrap_or_default()) }
                        td class="num" { (l.median_days_to_redemption.map(|d| decimal(c.lang(), d, 1)).unwrap_or_default()) }
                    }
                }
            }
        }
    }
}

pub async fn show(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Markup> {
    let r = report(&state, &uri, c.zone()).await?;
    let x = c.texts();
    let t = c.lang().texts();
    let networks = crate::app::operators::list(&state.store).await?;
    let (first, last) = (day_of(c.zone(), &r.from), last_day(c.zone(), &r.to));
    let typed = |d: Option<time::Date>| d.map(|d| d.to_string()).unwrap_or_default();
    let in_words = |d: Option<time::Date>| d.map(|d| t.date(d)).unwrap_or_default();
    let csv_href = format!(
        "/desk/coordination/donor.csv?operator_id={}&from={}&to={}",
        r.operator_id,
        typed(first),
        typed(last)
    );
    let title = (x.report_for)(&r.operator_name, &in_words(first), &in_words(last));
    let body = html! {
        form method="get" action="/desk/coordination/donor" class="stack screen-only" {
            div class="field" {
                label for="operator_id" { (x.operator) }
                select id="operator_id" name="operator_id" {
                    @for o in &networks {
                        @if o.id == r.operator_id {
                            option value=(o.id) selected { (o.name) }
                        } @else {
                            option value=(o.id) { (o.name) }
                        }
                    }
                }
            }
            div class="field" {
                label for="from" { (x.from) }
                input id="from" name="from" type="date" value=(typed(first));
            }
            div class="field" {
                label for="to" { (x.to) }
                input id="to" name="to" type="date" value=(typed(last));
            }
            button type="submit" { (x.show_report) }
        }
        ul class="actions screen-only" {
            li { a class="button" href=(csv_href) download { (x.download_csv) } }
        }
        p class="screen-only hint" { (x.print) " : Ctrl+P" }
        h2 { (title) }
        (rows(&c, &r.rows, &title))
        (rows(&c, &r.totals, x.totals))
        @if !r.associations.is_empty() {
            h2 { (c.lang().tree().per_association) }
            (rows(&c, &r.associations, c.lang().tree().per_association))
        }
    };
    Ok(c.page(&uri, x.donor, "report-print", body))
}

pub async fn csv(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let r = report(&state, &uri, c.zone()).await?;
    let name = format!("attachment; filename=\"rapport-{}.csv\"", r.operator_id);
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        crate::web::spreadsheet::donor(&r.rows, &r.totals, &r.associations),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::web::figures::parse_day;

    #[test]
    fn the_last_day_typed_is_included_in_the_zones_days() {
        let paris = Zone::default();
        // Paris is an hour ahead of UTC in winter.
        assert_eq!(
            day_after(&paris, "2026-12-31").as_deref(),
            Some("2026-12-31T23:00:00Z")
        );
        assert_eq!(day_after(&paris, "hier"), None);
        let day = |d: &str| parse_day(d);
        assert_eq!(last_day(&paris, "2026-12-31T23:00:00Z"), day("2026-12-31"));
        assert_eq!(last_day(&paris, "2026-12-07T10:00:00Z"), day("2026-12-07"));
        assert_eq!(day_of(&paris, "2026-11-30T23:00:00Z"), day("2026-12-01"));
        let uri: Uri = "/desk/coordination/donor?operator_id=2&from=2026-12-01&to=2026-12-31"
            .parse()
            .unwrap();
        let (op, from, to) = query(&uri, &paris);
        assert_eq!(op, Some(2));
        assert_eq!(from.as_deref(), Some("2026-11-30T23:00:00Z"));
        assert_eq!(to.as_deref(), Some("2026-12-31T23:00:00Z"));
        let (_, from, _) = query(&uri, &Zone::utc());
        assert_eq!(from.as_deref(), Some("2026-12-01T00:00:00Z"));
    }
}
