//! The coordinator's operators: the networks products, quota and operator
//! tokens belong to.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, ProblemBody};
use super::extract::{Admin, ApiJson, ApiPath};
use crate::app::{AppState, operators};
use crate::clock::rfc3339;
use crate::domain::NewOperator;
use crate::domain::operator::SlipInstructions;
use crate::storage::Operator;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_operator, list_operators))
        .routes(routes!(set_slip_instructions))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorView {
    pub id: i64,
    pub name: String,
    /// Printed on its slips; `null`: the deployment's default.
    pub instructions_fr: Option<String>,
    pub instructions_en: Option<String>,
    /// The USSD string its PIN slips print, `PIN` standing for the twenty
    /// digits (`*144*PIN#`); `null`: the free instructions.
    pub slip_instructions: Option<String>,
    pub created_at: String,
}

impl From<Operator> for OperatorView {
    fn from(o: Operator) -> Self {
        Self {
            id: o.id,
            name: o.name,
            instructions_fr: o.instructions_fr,
            instructions_en: o.instructions_en,
            slip_instructions: o.slip_instructions,
            created_at: rfc3339(o.created_at),
        }
    }
}

/// Registers an operator (a network); its name is unique.
#[utoipa::path(post, path = "/v1/operators", tag = "admin", request_body = NewOperator,
    responses((status = 201, body = OperatorView), (status = 409, body = ProblemBody, description = "`already_exists`"),
        (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn create_operator(
    State(state): State<AppState>,
    caller: Admin,
    body: ApiJson<NewOperator>,
) -> ApiResult<impl IntoResponse> {
    let actor = caller.principal.actor();
    let operator = operators::register(&state.store, &actor, &body.value, state.now()).await?;
    Ok((StatusCode::CREATED, Json(OperatorView::from(operator))))
}

/// Sets what the operator's PIN slips say to dial: a USSD string with
/// `PIN` where the twenty digits go, or `null` for the free instructions.
#[utoipa::path(put, path = "/v1/operators/{id}/slip-instructions", tag = "admin",
    params(("id" = i64, Path, description = "The operator's id")),
    request_body = SlipInstructions,
    responses((status = 200, body = OperatorView), (status = 404, body = ProblemBody),
        (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn set_slip_instructions(
    State(state): State<AppState>,
    caller: Admin,
    ApiPath(id): ApiPath<i64>,
    body: ApiJson<SlipInstructions>,
) -> ApiResult<Json<OperatorView>> {
    let actor = caller.principal.actor();
    let operator =
        operators::set_slip_instructions(&state.store, &actor, id, &body.value, state.now())
            .await?;
    Ok(Json(OperatorView::from(operator)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorList {
    pub operators: Vec<OperatorView>,
}

/// Lists operators.
#[utoipa::path(get, path = "/v1/operators", tag = "admin",
    responses((status = 200, body = OperatorList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_operators(
    State(state): State<AppState>,
    _caller: Admin,
) -> ApiResult<Json<OperatorList>> {
    let operators = operators::list(&state.store).await?;
    Ok(Json(OperatorList {
        operators: operators.into_iter().map(OperatorView::from).collect(),
    }))
}
