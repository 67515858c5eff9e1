//! The journal: the audit trail as people read it, newest first, one row
//! per request ("Émission de 40 codes — lot n° 12 — Amina B."), every
//! actor and structure by name, narrowed by person, structure, action and
//! dates, a page at a time. The chain itself, with its hashes, is the
//! auditor's `GET /v1/audit/events`; this page reads the same events.

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::Coordinator;
use super::journal_texts::JournalTexts;
use crate::app::AppState;
use crate::app::journal::{self, JournalRow, Names};
use crate::clock::Zone;
use crate::storage::JournalFilter;
use crate::web::error::DeskResult;
use crate::web::figures::day_start_secs;

/// The filter a journal address asks for, and the page it starts before.
/// Values that do not read are ignored, as an empty field is.
fn requested(uri: &Uri, zone: &Zone) -> (JournalFilter, Option<i64>, [String; 2]) {
    let mut filter = JournalFilter::default();
    let mut before = None;
    let mut dates = [String::new(), String::new()];
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()) {
        let v = v.trim();
        match &*k {
            "person" if !v.is_empty() => filter.actor = Some(v.to_owned()),
            "structure" => filter.structure_id = v.parse().ok(),
            "kind" if !v.is_empty() => filter.kind = Some(v.to_owned()),
            "from" => {
                filter.from_at = day_start_secs(zone, v, 0);
                dates[0] = v.to_owned();
            }
            "to" => {
                filter.to_at = day_start_secs(zone, v, 1);
                dates[1] = v.to_owned();
            }
            "before" => before = v.parse().ok(),
            _ => {}
        }
    }
    (filter, before, dates)
}

fn filter_form(j: &JournalTexts, names: &Names, f: &JournalFilter, dates: &[String; 2]) -> Markup {
    html! {
        form method="get" action="/desk/coordination/journal" class="filters" {
            fieldset {
                legend { (j.filter_legend) }
                div class="field" {
                    label for="person" { (j.filter_person) }
                    select id="person" name="person" {
                        option value="" { (j.filter_any) }
                        @for (actor, name) in &names.people {
                            option value=(actor) selected[f.actor.as_deref() == Some(actor)] { (name) }
                        }
                    }
                }
                div class="field" {
                    label for="structure" { (j.filter_structure) }
                    select id="structure" name="structure" {
                        option value="" { (j.filter_any) }
                        @for (id, name) in &names.structures {
                            option value=(id) selected[f.structure_id == Some(*id)] { (name) }
                        }
                    }
                }
                div class="field" {
                    label for="kind" { (j.filter_kind) }
                    select id="kind" name="kind" {
                        option value="" { (j.filter_any) }
                        @for (kind, words) in j.kinds() {
                            option value=(kind) selected[f.kind.as_deref() == Some(*kind)] { (words) }
                        }
                    }
                }
                div class="field" {
                    label for="from" { (j.filter_from) }
                    input id="from" name="from" type="date" value=(dates[0]);
                }
                div class="field" {
                    label for="to" { (j.filter_to) }
                    input id="to" name="to" type="date" value=(dates[1]);
                }
                button type="submit" { (j.filter_submit) }
            }
        }
    }
}

fn rows_table(c: &Coordinator, j: &JournalTexts, names: &Names, rows: &[JournalRow]) -> Markup {
    let t = c.lang().texts();
    html! {
        table class="journal" {
            caption { (j.caption) }
            thead { tr {
                th scope="col" { (j.when) }
                th scope="col" { (j.what) }
                th scope="col" { (j.who) }
                th scope="col" { (j.structure) }
            } }
            tbody {
                @for r in rows {
                    tr {
                        td { (t.date_time(c.zone(), r.at)) }
                        td {
                            (j.what(&r.kind, r.count, r.vouchers))
                            @if let Some(lot) = r.lot_number { " — " ((j.lot)(lot)) }
                        }
                        td { (j.actor(&r.actor, r.person.as_deref(), names)) }
                        td { @if let Some(id) = r.structure_id {
                            (names.structures.get(&id).cloned().unwrap_or_else(|| id.to_string()))
                        } }
                    }
                }
            }
        }
    }
}

/// The address of the page after this one, with the same filter.
fn older_href(uri: &Uri, seq: i64) -> String {
    let kept = form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .filter(|(k, _)| k != "before");
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(kept);
    query.append_pair("before", &seq.to_string());
    format!("/desk/coordination/journal?{}", query.finish())
}

pub async fn show(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let j = JournalTexts::of(c.lang());
    let (filter, before, dates) = requested(&uri, c.zone());
    let names = journal::names(&state.store).await?;
    let page = journal::page(&state.store, &filter, before).await?;
    let body = html! {
        (filter_form(j, &names, &filter, &dates))
        @if page.rows.is_empty() {
            p { (if filter == JournalFilter::default() { j.empty } else { j.nothing_matches }) }
        } @else {
            (rows_table(&c, j, &names, &page.rows))
        }
        @if let Some(seq) = page.older {
            p { a href=(older_href(&uri, seq)) { (j.older) } }
        }
    };
    Ok((StatusCode::OK, c.page(&uri, j.title, "", body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_journal_address_reads_as_its_filter() {
        let uri: Uri = "/desk/coordination/journal?person=account%3A3&structure=2&kind=issue\
            &from=2026-12-01&to=2026-12-07&before=90"
            .parse()
            .unwrap();
        let paris = Zone::default();
        let (f, before, dates) = requested(&uri, &paris);
        assert_eq!(f.actor.as_deref(), Some("account:3"));
        assert_eq!(
            (f.structure_id, f.kind.as_deref(), before),
            (Some(2), Some("issue"), Some(90))
        );
        // Paris midnights: 2026-11-30T23:00Z and 2026-12-07T23:00Z.
        assert_eq!(f.from_at, Some(1_796_083_200 - 3600));
        assert_eq!(f.to_at, Some(1_796_083_200 + 7 * 86_400 - 3600));
        // The day the clocks go forward lasts 23 hours.
        let spring: Uri = "/desk/coordination/journal?from=2027-03-28&to=2027-03-28"
            .parse()
            .unwrap();
        let (f, _, _) = requested(&spring, &paris);
        assert_eq!(
            f.to_at.zip(f.from_at).map(|(to, from)| to - from),
            Some(23 * 3600)
        );
        assert_eq!(dates, ["2026-12-01".to_owned(), "2026-12-07".to_owned()]);
        assert_eq!(
            older_href(&uri, 40),
            "/desk/coordination/journal?person=account%3A3&structure=2&kind=issue&from=2026-12-01&to=2026-12-07&before=40"
        );
        let (f, before, _) = requested(
            &"/desk/coordination/journal?from=hier&structure="
                .parse()
                .unwrap(),
            &paris,
        );
        assert_eq!((f, before), (JournalFilter::default(), None));
    }
}
