//! Public endpoints: liveness, metrics, the OpenAPI document, and the
//! attestation keys operators verify with.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiResult, Problem, ProblemBody};
use crate::app::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(metrics))
        .routes(routes!(public_keys))
}

#[derive(Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// Liveness: answers 200 when the database answers.
#[utoipa::path(get, path = "/healthz", tag = "public", security(()),
    responses((status = 200, body = Health), (status = 503, body = ProblemBody)))]
async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.store.ping().await.map_err(|e| {
        tracing::error!(error = %e, "health check failed");
        Problem::database_unavailable()
    })?;
    Ok(Json(Health { status: "ok" }))
}

/// Prometheus metrics, text format.
#[utoipa::path(get, path = "/metrics", tag = "public", security(()),
    responses((status = 200, content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicKey {
    /// Signing key id, as carried by attestations.
    pub kid: u32,
    pub alg: String,
    /// The Ed25519 public key, base64url without padding.
    pub public_key: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicKeys {
    pub keys: Vec<PublicKey>,
}

/// Every attestation public key, rotated ones included.
#[utoipa::path(get, path = "/v1/keys", tag = "public", security(()), responses((status = 200, body = PublicKeys)))]
async fn public_keys(State(state): State<AppState>) -> Json<PublicKeys> {
    let keys = state.keys.get();
    Json(PublicKeys {
        keys: keys
            .verifying_keys()
            .iter()
            .map(|(kid, key)| PublicKey {
                kid,
                alg: "Ed25519".into(),
                public_key: URL_SAFE_NO_PAD.encode(key),
            })
            .collect(),
    })
}
