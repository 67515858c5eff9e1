//! Finding a voucher from every desk's header: a person comes back with a
//! slip, or calls about one, and staff type what is on it — its reference
//! (`0DXW-ZE8A`), the code or the PIN itself, or the reference the
//! structure gave it at issue. A structure finds only its own vouchers
//! here; the coordinator's search and voucher page are
//! `coordination/vouchers.rs`, with the words and facts kept here.

use axum::extract::State;
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::error::DeskResult;
use super::i18n::Lang;
use super::layout::{Nav, Notice, notice, page};
use super::session::Desk;
use super::slips::describe;
use crate::app::AppState;
use crate::app::lots::serial;
use crate::app::vouchers::{self, Found};
use crate::storage::VoucherRow;

pub(crate) struct FindTexts {
    pub(crate) title: &'static str,
    pub(crate) nothing: fn(&str) -> String,
    pub(crate) nothing_anywhere: fn(&str) -> String,
    pub(crate) several: fn(usize) -> String,
    pub(crate) voucher_title: fn(&str) -> String,
    pub(crate) structure: &'static str,
}

static FR: FindTexts = FindTexts {
    title: "Retrouver un code",
    nothing: |q| {
        format!(
            "Aucun code de votre structure ne correspond à « {q} ». Tapez la référence \
             imprimée sur le bon (par exemple 0DXW-ZE8A), le code ou le PIN lui-même, ou la \
             référence que vous avez donnée en l’émettant."
        )
    },
    nothing_anywhere: |q| {
        format!(
            "Aucun code ne correspond à « {q} ». Tapez la référence imprimée sur le bon (par \
             exemple 0DXW-ZE8A), ou le code ou le PIN lui-même."
        )
    },
    several: |n| format!("{n} codes portent cette référence :"),
    voucher_title: |s| format!("Code {s}"),
    structure: "Structure",
};

static EN: FindTexts = FindTexts {
    title: "Find a code",
    nothing: |q| {
        format!(
            "No code of your structure matches \u{201c}{q}\u{201d}. Type the reference printed \
             on the slip (e.g. 0DXW-ZE8A), the code or PIN itself, or the reference you gave it \
             when issuing it."
        )
    },
    nothing_anywhere: |q| {
        format!(
            "No code matches \u{201c}{q}\u{201d}. Type the reference printed on the slip (e.g. \
             0DXW-ZE8A), or the code or PIN itself."
        )
    },
    several: |n| format!("{n} codes carry this reference:"),
    voucher_title: |s| format!("Code {s}"),
    structure: "Structure",
};

pub(crate) fn texts(lang: Lang) -> &'static FindTexts {
    match lang {
        Lang::Fr => &FR,
        Lang::En => &EN,
    }
}

pub(crate) fn typed(uri: &Uri) -> String {
    super::query_value(uri, "q").unwrap_or_default()
}

/// A structure's search: straight to the voucher's page when one is found.
pub async fn find(State(state): State<AppState>, desk: Desk, uri: Uri) -> DeskResult<Response> {
    let (t, x) = (desk.lang.texts(), texts(desk.lang));
    let q = typed(&uri);
    let found = vouchers::find(&state, &desk.caller, &q).await?;
    let body = match found {
        Found::One(row) => {
            let to = format!("/desk/vouchers/{}", serial(&row)?);
            return Ok(Redirect::to(&to).into_response());
        }
        Found::Nothing => html! {
            (notice(t, Notice::Info, &(x.nothing)(&q)))
            (super::layout::find_form(desk.lang, Nav::Structure, &q))
        },
        Found::Several(rows) => html! {
            p { ((x.several)(rows.len())) }
            ul {
                @for r in &rows {
                    @let s = serial(r)?;
                    li { a href=(format!("/desk/vouchers/{s}")) { (s) } " — "
                        (describe(t, &r.resource, r.amount).unwrap_or_else(|| r.product_id.clone()))
                        " — " (t.state(r.state)) }
                }
            }
        },
    };
    Ok(page(&desk.chrome(&uri), x.title, "", body).into_response())
}

pub(crate) fn facts(
    lang: Lang,
    zone: &crate::clock::Zone,
    row: &VoucherRow,
    lot_number: i64,
    structure: Option<String>,
    history: Markup,
) -> Markup {
    let (t, x, l) = (lang.texts(), texts(lang), lang.lots());
    html! {
        dl class="facts" {
            dt { (t.col_product) }
            dd { (describe(t, &row.resource, row.amount).unwrap_or_else(|| row.product_id.clone())) }
            dt { (t.col_state) }
            dd { (t.state(row.state)) }
            dt { (x.structure) }
            dd { (structure.unwrap_or_else(|| row.structure_id.to_string())) }
            dt { (l.lot_label) }
            dd { ((l.lot_title)(lot_number)) }
            dt { (t.col_issued) }
            dd { (t.day(zone, row.issued_at)) }
            dt { (t.col_expires) }
            dd { (t.day(zone, row.expires_at)) }
        }
        (history)
    }
}
