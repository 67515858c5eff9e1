//! Needs over the API: a structure reports what it needs; its association
//! (or the coordinator, for a structure without one) lists the open needs
//! of its members, oldest first, and approves all or part of one (the
//! allocation or grant is made in the same transaction) or declines it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{ApiJson, ApiPath, ApiQuery, StructureCaller, page_limit};
use super::tree_caller::{TreeCaller, TreeReader, path_id};
use crate::app::AppState;
use crate::app::needs::{self, NeedAsk};
use crate::clock::rfc3339;
use crate::domain::need::NeedState;
use crate::storage::Need;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report, list))
        .routes(routes!(approve))
        .routes(routes!(decline))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NeedBody {
    /// The network the quota is needed on (`GET /v1/operators`).
    pub operator_id: i64,
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub resource: String,
    /// Units of the resource (MB for `data_mb`, days for `voice`).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
    /// How many people it is for: a count, never names.
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub people: Option<i64>,
    /// Why, in a few words: never names or personal data. At most 300
    /// characters, not blank.
    #[schema(
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NeedView {
    pub id: i64,
    pub structure_id: i64,
    pub structure_name: String,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub people: Option<i64>,
    pub reason: String,
    pub state: NeedState,
    /// What an approval gave: all or part of the amount.
    pub approved_amount: Option<i64>,
    /// Why it was declined.
    pub answer: Option<String>,
    pub created_at: String,
    pub answered_at: Option<String>,
}

impl From<Need> for NeedView {
    fn from(n: Need) -> Self {
        Self {
            id: n.id,
            structure_id: n.structure_id,
            structure_name: n.structure_name,
            operator_id: n.operator_id,
            resource: n.resource,
            amount: n.amount,
            people: n.people,
            reason: n.reason,
            state: n.state,
            approved_amount: n.approved_amount,
            answer: n.answer,
            created_at: rfc3339(n.created_at),
            answered_at: n.answered_at.map(rfc3339),
        }
    }
}

/// Reports what the calling structure needs.
#[utoipa::path(post, path = "/v1/needs", tag = "structure", request_body = NeedBody,
    responses((status = 201, body = NeedView), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn report(
    State(state): State<AppState>,
    caller: StructureCaller,
    body: ApiJson<NeedBody>,
) -> ApiResult<impl IntoResponse> {
    let b = &body.value;
    let ask = NeedAsk {
        operator_id: b.operator_id,
        resource: &b.resource,
        amount: b.amount,
        people: b.people,
        reason: &b.reason,
    };
    let actor = caller.principal.actor();
    let live = Some(&caller.principal);
    let need = needs::report(
        &state.store,
        &actor,
        live,
        caller.structure_id,
        ask,
        state.now(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(NeedView::from(need))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NeedsQuery {
    /// `open`, `approved` or `declined`; all when absent.
    #[param(value_type = Option<NeedState>)]
    pub state: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct NeedList {
    pub needs: Vec<NeedView>,
}

/// The needs within the caller's subtree (its own and its members'),
/// oldest first.
#[utoipa::path(get, path = "/v1/needs", operation_id = "list_needs", tag = "associations", params(NeedsQuery),
    responses((status = 200, body = NeedList), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list(
    State(state): State<AppState>,
    caller: TreeReader,
    ApiQuery(q): ApiQuery<NeedsQuery>,
) -> ApiResult<Json<NeedList>> {
    let wanted = q
        .state
        .as_deref()
        .map(|s| {
            NeedState::parse(s)
                .ok_or_else(|| Problem::validation("state", "state: open, approved or declined"))
        })
        .transpose()?;
    let limit = page_limit(
        q.limit,
        state.limits.default_page_size,
        state.limits.max_page_size,
    )?;
    let found = needs::list(&state.store, caller.reach, wanted, limit).await?;
    Ok(Json(NeedList {
        needs: found.into_iter().map(NeedView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Part of the amount asked for; all of it when absent.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: Option<i64>,
}

/// Approves a member's need in full or in part: the allocation from the
/// association (or the coordinator's grant, for a structure without one)
/// is made in the same transaction. Without enough quota nothing changes.
#[utoipa::path(post, path = "/v1/needs/{id}/approve", tag = "associations", request_body = ApproveBody,
    params(("id" = i64, Path, description = "Need id")),
    responses((status = 200, body = NeedView), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "`quota_exceeded` or `need_answered`"),
        (status = 422, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn approve(
    State(state): State<AppState>,
    caller: TreeCaller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<ApproveBody>,
) -> ApiResult<Json<NeedView>> {
    let id = path_id(&id, "need")?;
    let actor = caller.principal.actor();
    let need = needs::approve(
        &state.store,
        &actor,
        Some(&caller.principal),
        caller.reach,
        id,
        body.value.amount,
        state.now(),
    )
    .await?;
    Ok(Json(NeedView::from(need)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    /// Why, for the structure to read: at most 300 characters, not blank.
    #[schema(
        max_length = 300,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub reason: String,
}

/// Declines a member's need with a reason the structure reads.
#[utoipa::path(post, path = "/v1/needs/{id}/decline", tag = "associations", request_body = DeclineBody,
    params(("id" = i64, Path, description = "Need id")),
    responses((status = 200, body = NeedView), (status = 404, body = ProblemBody),
        (status = 409, body = ProblemBody, description = "`need_answered`"),
        (status = 422, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn decline(
    State(state): State<AppState>,
    caller: TreeCaller,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<DeclineBody>,
) -> ApiResult<Json<NeedView>> {
    let id = path_id(&id, "need")?;
    let actor = caller.principal.actor();
    let need = needs::decline(
        &state.store,
        &actor,
        Some(&caller.principal),
        caller.reach,
        id,
        &body.value.reason,
        state.now(),
    )
    .await?;
    Ok(Json(NeedView::from(need)))
}
