//! The integrity status: the open alarm and its findings, how far the
//! history has been checked, and the acknowledgement (the coordinator's).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};

use super::Coordinator;
use crate::app::AppState;
use crate::web::error::DeskResult;
use crate::web::layout::{Notice, notice};

/// A finding as a line to read: where, what, and the figures, with its
/// check's name for whoever looks into it.
fn finding_words(c: &Coordinator, f: &serde_json::Value) -> String {
    let text = |k: &str| f.get(k).and_then(serde_json::Value::as_str).unwrap_or("");
    if let Some(plain) = f.as_str() {
        return plain.to_owned();
    }
    let mut line = format!("{} {} : {}", text("table"), text("row"), text("detail"));
    if !text("expected").is_empty() || !text("found").is_empty() {
        line.push_str(&(c.texts().expected_found)(text("expected"), text("found")));
    }
    format!("{line} [{}]", text("check"))
}

async fn render(
    state: &AppState,
    c: &Coordinator,
    uri: &Uri,
    shown: Option<Markup>,
) -> DeskResult<Response> {
    let x = c.texts();
    let t = c.lang().texts();
    let alarm = state.store.open_alarm().await?;
    let (head, _, checkpointed) = state.store.chain_status().await?;
    let findings: Vec<String> = alarm
        .as_ref()
        .and_then(|a| serde_json::from_str::<Vec<serde_json::Value>>(&a.findings).ok())
        .unwrap_or_default()
        .iter()
        .map(|f| finding_words(c, f))
        .collect();
    let body = html! {
        @if let Some(n) = shown { (n) }
        @match &alarm {
            None => { (notice(t, Notice::Done, x.integrity_ok)) }
            Some(a) => {
                (notice(t, Notice::Error, x.integrity_alarm))
                p { (t.date_time(c.zone(), a.raised_at)) }
                h2 { (x.findings) }
                ul { @for f in &findings { li { code { (f) } } } }
                @if c.may_change {
                    form method="post" action="/desk/coordination/integrity" class="stack" {
                        input type="hidden" name="csrf" value=(c.person.csrf_token);
                        button type="submit" { (x.acknowledge) }
                    }
                }
            }
        }
        p { ((x.last_check)(checkpointed.max(0), head)) }
    };
    Ok((StatusCode::OK, c.page(uri, x.integrity, "", body)).into_response())
}

pub async fn show(State(state): State<AppState>, c: Coordinator, uri: Uri) -> DeskResult<Response> {
    let acknowledged = crate::web::query_value(&uri, "acknowledged").and_then(|n| n.parse().ok());
    let shown = acknowledged.map(|n| {
        notice(
            c.lang().texts(),
            Notice::Done,
            &(c.texts().acknowledged_notice)(n),
        )
    });
    render(&state, &c, &uri, shown).await
}

pub async fn acknowledge(
    State(state): State<AppState>,
    c: Coordinator,
    body: Bytes,
) -> DeskResult<Response> {
    c.accept_form(&body)?;
    let actor = c.actor();
    let done = crate::integrity::acknowledge(&state, &actor).await?;
    let to = format!(
        "/desk/coordination/integrity?acknowledged={}",
        done.acknowledged
    );
    Ok(Redirect::to(&to).into_response())
}
