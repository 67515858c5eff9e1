//! Needs for the coordinator: the open needs per association and how long
//! they have waited, and every open need, oldest first, with the answer
//! forms (a need of a structure under the coordinator is granted; one of
//! a member is allocated from its association).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::Coordinator;
use crate::app::AppState;
use crate::app::needs::{self, Waiting};
use crate::domain::need::NeedState;
use crate::domain::tree::Reach;
use crate::web::error::{DeskError, DeskResult};
use crate::web::layout::{Notice, notice};
use crate::web::need_answers::{Waiting as WaitingNeeds, answer_need, waited_days, waiting_needs};
use crate::web::needs::refusal;

/// Open needs read for the page, at most.
const NEEDS_SHOWN: usize = 500;

/// The open needs per association, for the dashboard too.
pub fn waiting_table(c: &Coordinator, now: i64, waiting: &[Waiting]) -> Markup {
    let x = c.lang().tree();
    html! {
        h2 { (x.open_needs_heading) }
        @if waiting.is_empty() { p { (x.no_open_needs) } } @else {
            table {
                caption { (x.open_needs_heading) }
                thead { tr {
                    th scope="col" { (x.col_association) }
                    th scope="col" class="num" { (x.col_open_needs) }
                    th scope="col" { (x.col_oldest) }
                } }
                tbody {
                    @for w in waiting {
                        tr {
                            th scope="row" { (w.association_name) }
                            td class="num" { (w.open) }
                            td { ((x.waiting_days)(waited_days(now, w.oldest_at))) }
                        }
                    }
                }
            }
        }
    }
}

async fn render(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    status: StatusCode,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let x = c.lang().tree();
    let now = state.now();
    let waiting = needs::waiting_by_association(&state.store, NEEDS_SHOWN).await?;
    let open = needs::list(&state.store, Reach::All, Some(NeedState::Open), NEEDS_SHOWN).await?;
    let networks = crate::app::operators::by_id(&state.store).await?;
    let body = html! {
        @if let Some(n) = shown { (n) }
        (waiting_table(c, now, &waiting))
        h2 { (x.needs_title) }
        @if open.is_empty() { p { (x.no_open_needs) } } @else {
            (waiting_needs(&WaitingNeeds {
                lang: c.lang(),
                now,
                caption: x.needs_title,
                needs: &open,
                networks: &networks,
                answering: c
                    .may_change
                    .then_some((c.person.csrf_token.as_str(), "/desk/coordination/needs")),
            }))
        }
    };
    Ok((status, c.page(uri, c.texts().needs, "", body)).into_response())
}

pub async fn show(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let x = c.lang().tree();
    let shown = match crate::web::query_value(&uri, "done").as_deref() {
        Some("approved") => Some(x.approved_notice),
        Some("declined") => Some(x.declined_notice),
        _ => None,
    }
    .map(|text| notice(c.lang().texts(), Notice::Done, text));
    render(&state, &c, &uri, StatusCode::OK, shown).await
}

pub async fn answer(
    State(state): State<AppState>,
    c: Coordinator,
    uri: Uri,
    Path((id, action)): Path<(i64, String)>,
    body: Bytes,
) -> DeskResult<Response> {
    let fields = c.accept_form(&body)?;
    let actor = c.actor();
    match answer_need(&state, (&actor, None), Reach::All, id, &action, &fields).await {
        None => Err(DeskError::not_found()),
        Some(Ok(what)) => {
            Ok(Redirect::to(&format!("/desk/coordination/needs?done={what}")).into_response())
        }
        Some(Err(e)) => {
            let shown = refusal(&state, c.lang(), e)?;
            render(
                &state,
                &c,
                &uri,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(shown),
            )
            .await
        }
    }
}
