//! Subscriber lines, for the coordinator: lifting a line's bar.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ProblemBody};
use super::extract::{Admin, ApiJson};
use crate::app::{AppState, lines};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(unbar_line))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnbarLine {
    /// The subscriber's number, E.164. Only its keyed hash is used, and
    /// the audit chain records only that.
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$", example = "+33612345678")]
    pub msisdn: String,
    /// Why, in a few words ("code mal recopié, vérifié avec la
    /// personne"); at most 200 characters, not blank.
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LineUnbarredView {
    /// Whether the line had a bar or failures to forget; `false`: nothing
    /// changed and nothing was recorded.
    pub unbarred: bool,
    /// Whether it was barred at that moment.
    pub was_barred: bool,
}

/// Lifts a subscriber line's bar at once and forgets its failures,
/// recorded with the actor and the reason. A line never barred: 200,
/// nothing changes.
#[utoipa::path(post, path = "/v1/lines/unbar", tag = "admin", request_body = UnbarLine,
    responses((status = 200, body = LineUnbarredView), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn unbar_line(
    State(state): State<AppState>,
    caller: Admin,
    body: ApiJson<UnbarLine>,
) -> ApiResult<Json<LineUnbarredView>> {
    let actor = caller.principal.actor();
    let line = (body.value.msisdn.as_str(), body.value.reason.as_str());
    let keys = state.keys.get();
    let lifted = lines::unbar(&state.store, &keys, state.now(), &actor, line).await?;
    Ok(Json(LineUnbarredView {
        unbarred: lifted.is_some(),
        was_barred: lifted.is_some_and(|l| l.was_barred_for_secs.is_some()),
    }))
}
