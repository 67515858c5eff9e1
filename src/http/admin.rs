//! The coordinator's API: structures, grants, tokens, products, keys.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use super::extract::{Admin, ApiJson, ApiPath};
use crate::app::AppState;
use crate::app::grants::{self, GrantOrder};
use crate::clock::rfc3339;
use crate::code::KeyError;
use crate::domain::{Product, Recurrence, Role};
use crate::keyfile::KeyFileError;
use crate::storage::{Structure, TokenScope};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_structure, list_structures))
        .routes(routes!(create_grant))
        .routes(routes!(create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_products, save_product))
        .routes(routes!(rotate_keys))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StructureBody {
    /// At most 200 characters, not blank.
    #[schema(
        max_length = 200,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub name: String,
    /// The structure's reference elsewhere: at most 100 characters, not blank.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub external_ref: Option<String>,
    /// Its association (`GET /v1/structures`): at most three levels under
    /// the coordinator.
    pub parent_id: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StructureView {
    pub id: i64,
    pub name: String,
    pub external_ref: Option<String>,
    /// Its association, if it has one.
    pub parent_id: Option<i64>,
    pub created_at: String,
}

impl From<Structure> for StructureView {
    fn from(s: Structure) -> Self {
        Self {
            id: s.id,
            name: s.name,
            external_ref: s.external_ref,
            parent_id: s.parent_id,
            created_at: rfc3339(s.created_at),
        }
    }
}

/// Registers a structure.
#[utoipa::path(post, path = "/v1/structures", tag = "admin", request_body = StructureBody,
    responses((status = 201, body = StructureView), (status = 409, body = ProblemBody, description = "`already_exists`"),
        (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn create_structure(
    State(state): State<AppState>,
    caller: Admin,
    body: ApiJson<StructureBody>,
) -> ApiResult<impl IntoResponse> {
    let new = crate::app::structures::NewStructure {
        name: &body.value.name,
        external_ref: body.value.external_ref.as_deref(),
        parent_id: body.value.parent_id,
    };
    let structure =
        crate::app::structures::register(&state.store, &caller.principal.actor(), new, state.now())
            .await?;
    Ok((StatusCode::CREATED, Json(StructureView::from(structure))))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StructureList {
    pub structures: Vec<StructureView>,
}

/// Lists structures.
#[utoipa::path(get, path = "/v1/structures", tag = "admin",
    responses((status = 200, body = StructureList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_structures(
    State(state): State<AppState>,
    _caller: Admin,
) -> ApiResult<Json<StructureList>> {
    let structures = state.store.list_structures().await?;
    Ok(Json(StructureList {
        structures: structures.into_iter().map(StructureView::from).collect(),
    }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    /// The network the quota is for (`GET /v1/operators`): it can only be
    /// issued as that operator's products.
    pub operator_id: i64,
    /// The quota resource (`data_mb`, `voice`).
    #[schema(pattern = r"^[a-z0-9][a-z0-9_-]{0,31}$")]
    pub resource: String,
    /// Units of the resource (MB for `data_mb`, days for `voice`).
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    pub amount: i64,
    /// RFC 3339, in the future; after it the unused remainder lapses.
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    /// `monthly`: the amount is credited again each month.
    pub recurrence: Option<Recurrence>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GrantView {
    pub id: i64,
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub expires_at: Option<String>,
    pub recurrence: Option<Recurrence>,
}

/// Grants quota to a structure.
#[utoipa::path(post, path = "/v1/structures/{id}/grants", tag = "admin", request_body = GrantBody,
    params(("id" = i64, Path, description = "Structure id")),
    responses((status = 201, body = GrantView), (status = 404, body = ProblemBody), (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn create_grant(
    State(state): State<AppState>,
    caller: Admin,
    ApiPath(id): ApiPath<String>,
    body: ApiJson<GrantBody>,
) -> ApiResult<impl IntoResponse> {
    let structure_id: i64 = id.parse().map_err(|_| Problem::not_found("structure"))?;
    let g = &body.value;
    let order = GrantOrder {
        structure_id,
        operator_id: g.operator_id,
        resource: &g.resource,
        amount: g.amount,
        expires_at: g.expires_at.as_deref(),
        recurrence: g.recurrence,
    };
    let actor = caller.principal.actor();
    let (grant_id, grant) = grants::grant(&state.store, &actor, order, state.now()).await?;
    Ok((
        StatusCode::CREATED,
        Json(GrantView {
            id: grant_id,
            structure_id,
            operator_id: grant.operator_id,
            resource: grant.resource,
            amount: grant.amount,
            expires_at: grant.ends_at.map(rfc3339),
            recurrence: grant.recurrence,
        }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    pub role: Role,
    /// Required for, and only for, structure tokens.
    pub structure_id: Option<i64>,
    /// Required for, and only for, operator tokens: the network they
    /// redeem for.
    pub operator_id: Option<i64>,
    /// At most 100 characters, not blank.
    #[schema(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*[^\s\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff][^\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]*$"
    )]
    pub label: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenCreated {
    pub id: i64,
    pub role: Role,
    /// The secret, shown this once. Only its hash is stored.
    pub token: String,
}

/// Creates a token; its secret is in this answer and nowhere else.
#[utoipa::path(post, path = "/v1/tokens", tag = "admin", request_body = TokenBody,
    responses((status = 201, body = TokenCreated), (status = 404, body = ProblemBody, description = "no such structure"),
        (status = 422, body = ProblemBody),
        (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn create_token(
    State(state): State<AppState>,
    caller: Admin,
    body: ApiJson<TokenBody>,
) -> ApiResult<impl IntoResponse> {
    let scope = TokenScope {
        structure_id: body.value.structure_id,
        operator_id: body.value.operator_id,
    };
    let (id, token) = crate::app::tokens::create(
        &state,
        &caller.principal.actor(),
        body.value.role,
        scope,
        body.value.label.as_deref(),
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id,
            role: body.value.role,
            token,
        }),
    ))
}

/// Revokes a token at once.
#[utoipa::path(delete, path = "/v1/tokens/{id}", tag = "admin",
    params(("id" = i64, Path, description = "Token id")),
    responses((status = 204), (status = 404, body = ProblemBody), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    caller: Admin,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id: i64 = id.parse().map_err(|_| Problem::not_found("token"))?;
    crate::app::tokens::revoke(&state, &caller.principal.actor(), id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductList {
    pub products: Vec<Product>,
}

/// The catalogue.
#[utoipa::path(get, path = "/v1/products", tag = "admin",
    responses((status = 200, body = ProductList), (status = 401, body = ProblemBody), (status = 403, body = ProblemBody)))]
async fn list_products(
    State(state): State<AppState>,
    _caller: Admin,
) -> ApiResult<Json<ProductList>> {
    Ok(Json(ProductList {
        products: state.store.list_products().await?,
    }))
}

/// Adds a product, or replaces the one with the same id.
#[utoipa::path(post, path = "/v1/products", tag = "admin", request_body = Product,
    responses((status = 201, body = Product), (status = 422, body = ProblemBody), (status = 401, body = ProblemBody),
        (status = 403, body = ProblemBody)))]
async fn save_product(
    State(state): State<AppState>,
    caller: Admin,
    body: ApiJson<Product>,
) -> ApiResult<impl IntoResponse> {
    body.value.check()?;
    state
        .store
        .upsert_product(&caller.principal.actor(), &body.value, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(body.value)))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RotatedKeys {
    /// The code key id new codes are made with.
    pub code_key_id: u8,
    /// The PIN key id new PINs are made with (0 to 9).
    pub pin_key_id: u8,
    /// The signing key id new attestations carry.
    pub signing_key_id: u32,
}

/// Rotates the code, PIN and signing keys together; old keys keep
/// verifying. There are 32 code key ids but 10 PIN key ids, so the tenth
/// rotation is the last: then `key_ids_exhausted`, and nothing changes.
#[utoipa::path(post, path = "/v1/keys/rotate", tag = "admin",
    responses((status = 201, body = RotatedKeys),
        (status = 409, body = ProblemBody, description = "`key_ids_exhausted`: no key id is left to rotate to")))]
async fn rotate_keys(State(state): State<AppState>, caller: Admin) -> ApiResult<impl IntoResponse> {
    // The file lock and fsync block: keep them off the async workers.
    let rotating = state.clone();
    let keys = tokio::task::spawn_blocking(move || rotating.keys.rotate())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "key rotation task failed");
            Problem::internal()
        })?
        .map_err(|e| match e {
            KeyFileError::Keys(KeyError::CodeKeysExhausted | KeyError::PinKeysExhausted) => {
                Problem::key_ids_exhausted()
            }
            other => {
                tracing::error!(error = %other, "key rotation failed");
                Problem::internal()
            }
        })?;
    let rotated = RotatedKeys {
        code_key_id: keys.codes.active().get(),
        pin_key_id: keys.pins.active(),
        signing_key_id: keys.signing_key().id(),
    };
    state
        .store
        .record_key_rotation(
            &caller.principal.actor(),
            rotated.code_key_id,
            rotated.pin_key_id,
            rotated.signing_key_id,
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(rotated)))
}
