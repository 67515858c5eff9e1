//! The coordinator's (and auditors') search for any voucher by its
//! reference, code or PIN, and its page: what it is, whose, its state and
//! its history, never its code. The words and the facts are the desk's
//! search's own (`web/find.rs`).

use axum::extract::{Path, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;

use super::Coordinator;
use crate::app::AppState;
use crate::app::lots::serial;
use crate::app::vouchers;
use crate::web::error::{DeskError, DeskResult};
use crate::web::find::{facts, texts, typed};
use crate::web::layout::{Nav, Notice, find_form, notice};
use crate::web::vouchers::history_list;

/// The coordinator's search, by reference, code or PIN.
pub async fn find(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let x = texts(c.lang());
    let q = typed(&uri);
    if let Some((row, _)) = vouchers::find_anywhere(&state, &q).await? {
        let to = format!("/desk/coordination/vouchers/{}", serial(&row)?);
        return Ok(Redirect::to(&to).into_response());
    }
    let body = html! {
        (notice(c.lang().texts(), Notice::Info, &(x.nothing_anywhere)(&q)))
        (find_form(c.lang(), Nav::Coordination, &q))
    };
    Ok(c.page(&uri, x.title, "", body).into_response())
}

/// Any voucher's page, for the coordinator and auditors: never its code.
pub async fn voucher(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path(serial_typed): Path<String>,
) -> DeskResult<Response> {
    let Some((row, history)) = vouchers::find_anywhere(&state, &serial_typed).await? else {
        return Err(DeskError::not_found());
    };
    let structure = state.store.get_structure(row.structure_id).await?;
    let s = serial(&row)?;
    let lot_number = crate::app::lots::numbers(&state, &[row.lot])
        .await?
        .of(row.lot);
    let body = facts(
        c.lang(),
        c.zone(),
        &row,
        lot_number,
        structure.map(|s| s.name),
        history_list(c.lang(), c.zone(), &history),
    );
    Ok(c.page(&uri, &(texts(c.lang()).voucher_title)(&s), "", body)
        .into_response())
}
