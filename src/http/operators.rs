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
use super::extract::{Admin, ApiJson};
use crate::app::{AppState, operators};
use crate::clock::rfc3339;
use crate::domain::NewOperator;
use crate::storage::Operator;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_operator, list_operators))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OperatorView {
    pub id: i64,
    pub name: String,
    /// Printed on its slips; `null`: the deployment's default.
    pub instructions_fr: Option<String>,
    pub instructions_en: Option<String>,
    pub created_at: String,
}

impl From<Operator> for OperatorView {
    fn from(o: Operator) -> Self {
        Self {
            id: o.id,
            name: o.name,
            instructions_fr: o.instructions_fr,
            instructions_en: o.instructions_en,
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
