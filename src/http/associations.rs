//! Associations and needs over the API: moving a structure in the tree
//! (the coordinator), allocating to a member and clawing back from it (its
//! association's token, or the coordinator), a structure's members and
//! balance as its association sees them, and needs. Nobody reaches outside
//! their own subtree: what lies outside answers 404.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{StructureList, StructureView};
use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{Admin, ApiJson, ApiPath, IdempotencyKey};
use super::tree_caller::{TreeCaller, TreeReader, path_id};
use crate::app::associations::{self, TransferAsk};
use crate::app::{AppState, balances};
use crate::domain::Balance;
use crate::domain::tree::Reach;
use crate::storage::{RequestFingerprint, TransferKind};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(move_structure))
        .routes(routes!(allocate))
        .routes(routes!(claw_back))
        .routes(routes!(members))
        .routes(routes!(structure_balance))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    /// The new association; null: directly under the coordinator.
    pub parent_id: Option<i64>,
}

/// Puts a structure under another association (or none), recorded in the
/// audit trail. The tree stays at most three levels deep.
#[utoipa::path(post, path = "/v1/structures/{id}/move", tag = "admin", request_body = MoveBody,
    params(("id" = i64, Path, description = "Structure id")),
    responses((status = 200, body = StructureView), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn move_structure(
    State(state): State<AppState>,
    caller: Admin,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<MoveBody>,
) -> ApiResult<Json<StructureView>> {
    let id = path_id(&id, "structure")?;
    let actor = caller.principal.actor();
    let s = crate::app::structures::move_under(
        &state.store,
        &actor,
        id,
        body.value.parent_id,
        state.now(),
    )
    .await?;
    Ok(Json(StructureView::from(s)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The network of the quota (`GET /v1/operators`).
    pub operator_id: i64,
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub resource: String,
    /// Units of the resource (MB for `data_mb`, days for `voice`).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TransferView {
    pub id: i64,
    /// `allocation` or `clawback`.
    pub kind: String,
    pub from_structure_id: i64,
    pub to_structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
}

async fn transfer(
    state: &AppState,
    caller: &TreeCaller,
    kind: TransferKind,
    member: &str,
    body: &ApiJson<TransferBody>,
    key: Option<String>,
) -> ApiResult<(StatusCode, Json<TransferView>)> {
    let endpoint = format!("POST /v1/structures/{member}/{}", kind.as_str());
    let retry = key.map(|key| (key, RequestFingerprint::new(&endpoint, &body.raw)));
    let body = &body.value;
    let ask = TransferAsk {
        kind,
        member_id: path_id(member, "structure")?,
        operator_id: body.operator_id,
        resource: &body.resource,
        amount: body.amount,
    };
    let actor = caller.principal.actor();
    let live = Some(&caller.principal);
    let done = associations::transfer(
        &state.store,
        &actor,
        live,
        caller.reach,
        ask,
        retry,
        state.now(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TransferView {
            id: done.id,
            kind: kind.as_str().to_owned(),
            from_structure_id: done.from_structure_id,
            to_structure_id: done.to_structure_id,
            operator_id: body.operator_id,
            resource: body.resource.clone(),
            amount: done.amount,
        }),
    ))
}

/// Passes part of an association's available quota to one of its members,
/// in one transaction, never overdrawn. By the association's token or the
/// coordinator.
#[utoipa::path(post, path = "/v1/structures/{id}/allocations", tag = "associations", request_body = TransferBody,
    params(("id" = i64, Path, description = "The member's structure id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[ -~]*[!-~][ -~]*$",
        description = "Retry key, kept at least 24 h: visible ASCII")),
    responses((status = 201, body = TransferView), (status = 404, body = ProblemBody, description = "not a member of the caller's"),
        (status = 409, body = ProblemBody, description = "`quota_exceeded`"), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn allocate(
    State(state): State<AppState>,
    caller: TreeCaller,
    ApiPath(id): ApiPath<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: ApiJson<TransferBody>,
) -> ApiResult<impl IntoResponse> {
    transfer(&state, &caller, TransferKind::Allocation, &id, &body, key).await
}

/// Takes back for its association quota a member has not issued.
#[utoipa::path(post, path = "/v1/structures/{id}/clawbacks", tag = "associations", request_body = TransferBody,
    params(("id" = i64, Path, description = "The member's structure id"),
        ("Idempotency-Key" = Option<String>, Header, min_length = 1, max_length = 255, pattern = r"^[ -~]*[!-~][ -~]*$",
        description = "Retry key, kept at least 24 h: visible ASCII")),
    responses((status = 201, body = TransferView), (status = 404, body = ProblemBody, description = "not a member of the caller's"),
        (status = 409, body = ProblemBody, description = "`quota_exceeded`: more than the member has not issued"),
        (status = 422, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn claw_back(
    State(state): State<AppState>,
    caller: TreeCaller,
    ApiPath(id): ApiPath<String>,
    IdempotencyKey(key): IdempotencyKey,
    body: ApiJson<TransferBody>,
) -> ApiResult<impl IntoResponse> {
    transfer(&state, &caller, TransferKind::Clawback, &id, &body, key).await
}

/// Refuses (404) a structure outside the caller's reach.
async fn within_reach(state: &AppState, caller: &TreeReader, raw: &str) -> Result<i64, Problem> {
    let id = path_id(raw, "structure")?;
    if state.store.reaches(caller.reach, id).await? {
        Ok(id)
    } else {
        Err(Problem::not_found("structure"))
    }
}

/// A structure's direct members.
#[utoipa::path(get, path = "/v1/structures/{id}/members", tag = "associations",
    params(("id" = i64, Path, description = "Structure id")),
    responses((status = 200, body = StructureList), (status = 404, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn members(
    State(state): State<AppState>,
    caller: TreeReader,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<StructureList>> {
    let id = within_reach(&state, &caller, &id).await?;
    let structures = state.store.structures_within(Reach::Subtree(id)).await?;
    Ok(Json(StructureList {
        structures: structures
            .into_iter()
            .filter(|s| s.parent_id == Some(id))
            .map(StructureView::from)
            .collect(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StructureBalance {
    pub structure_id: i64,
    pub balances: Vec<Balance>,
}

/// A structure's balance, for itself, its association or the coordinator.
#[utoipa::path(get, path = "/v1/structures/{id}/balance", tag = "associations",
    params(("id" = i64, Path, description = "Structure id")),
    responses((status = 200, body = StructureBalance), (status = 404, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn structure_balance(
    State(state): State<AppState>,
    caller: TreeReader,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<StructureBalance>> {
    let id = within_reach(&state, &caller, &id).await?;
    let balances = balances::current_balances(&state, id).await?;
    Ok(Json(StructureBalance {
        structure_id: id,
        balances,
    }))
}
