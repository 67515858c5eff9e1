//! The donor report at the desk: an operator and a period (the current
//! month by default), the same figures as `GET /v1/reports/donor`, its CSV
//! and a layout for printing.

use axum::extract::State;
use axum::http::{Uri, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::Coordinator;
use crate::app::{AppState, donor_report};
use crate::http::donor::{DonorLine, DonorReportView, view};
use crate::web::error::{DeskError, DeskResult};
use crate::web::figures::{decimal, month_words, parse_day, quantity};
use crate::web::slips::date_of;

/// `operator_id`, `from` and `to` as the form sends them (dates, or
/// RFC 3339 times); the first operator when none is named.
fn query(uri: &Uri) -> (Option<i64>, Option<String>, Option<String>) {
    let mut out = (None, None, None);
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let v = v.trim().to_owned();
        if v.is_empty() {
            continue;
        }
        let as_time = |d: String| {
            if d.len() == 10 {
                format!("{d}T00:00:00Z")
            } else {
                d
            }
        };
        match &*k {
            "operator_id" => out.0 = v.parse().ok(),
            "from" => out.1 = Some(as_time(v)),
            // The form's last day is included: the report runs to the
            // start of the next one.
            "to" => out.2 = Some(day_after(&v).unwrap_or_else(|| as_time(v))),
            _ => {}
        }
    }
    out
}

/// `AAAA-MM-JJ`, as the start of the next day (RFC 3339, UTC).
fn day_after(date: &str) -> Option<String> {
    let next = parse_day(date)?.next_day()?;
    Some(format!("{next}T00:00:00Z"))
}

/// The last day a report's end (the start of the day after) includes,
/// as `AAAA-MM-JJ`.
fn last_day(to: &str) -> String {
    let midnight = to.get(10..).is_some_and(|t| t.starts_with("T00:00:00"));
    to.get(..10)
        .and_then(parse_day)
        .and_then(|d| if midnight { d.previous_day() } else { Some(d) })
        .map_or_else(
            || to.get(..10).unwrap_or_default().to_owned(),
            |d| d.to_string(),
        )
}

async fn report(state: &AppState, uri: &Uri) -> DeskResult<DonorReportView> {
    let (operator, from, to) = query(uri);
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
    let r = report(&state, &uri).await?;
    let x = c.texts();
    let t = c.lang().texts();
    let networks = crate::app::operators::list(&state.store).await?;
    let day = |at: &str| at.get(..10).unwrap_or_default().to_owned();
    let csv_href = format!(
        "/desk/coordination/donor.csv?operator_id={}&from={}&to={}",
        r.operator_id,
        day(&r.from),
        last_day(&r.to)
    );
    let to_included = format!("{}T00:00:00Z", last_day(&r.to));
    let title = (x.report_for)(
        &r.operator_name,
        &date_of(t, &r.from),
        &date_of(t, &to_included),
    );
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
                input id="from" name="from" type="date" value=(day(&r.from));
            }
            div class="field" {
                label for="to" { (x.to) }
                input id="to" name="to" type="date" value=(last_day(&r.to));
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

pub async fn csv(State(state): State<AppState>, _c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let r = report(&state, &uri).await?;
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

    #[test]
    fn the_last_day_typed_is_included() {
        assert_eq!(
            day_after("2026-12-31").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(day_after("hier"), None);
        assert_eq!(last_day("2027-01-01T00:00:00Z"), "2026-12-31");
        assert_eq!(last_day("2026-12-07T10:00:00Z"), "2026-12-07");
        let uri: Uri = "/desk/coordination/donor?operator_id=2&from=2026-12-01&to=2026-12-31"
            .parse()
            .unwrap();
        let (op, from, to) = query(&uri);
        assert_eq!(op, Some(2));
        assert_eq!(from.as_deref(), Some("2026-12-01T00:00:00Z"));
        assert_eq!(to.as_deref(), Some("2027-01-01T00:00:00Z"));
    }
}
