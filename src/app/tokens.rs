//! API tokens, as the coordinator creates and revokes them (API, desk):
//! the secret is shown once and only its hash is stored; a revoked token
//! stops working at once, cache included.

use super::{AppError, AppResult, AppState};
use crate::domain::{MAX_LABEL_CHARS, Role, check_text};
use crate::storage::TokenScope;

/// Creates a token; answers its id and its secret (shown this once).
pub async fn create(
    state: &AppState,
    actor: &str,
    role: Role,
    scope: TokenScope,
    label: Option<&str>,
) -> AppResult<(i64, String)> {
    let label = check_text("label", label, MAX_LABEL_CHARS)?;
    let (token, hash) =
        crate::tokens::generate().ok_or(AppError::Internal("the system's random source failed"))?;
    let id = state
        .store
        .create_token(actor, &hash, role, scope, label.as_deref(), state.now())
        .await?;
    tracing::info!(token = id, role = role.as_str(), "token created");
    Ok((id, token))
}

/// Revokes a live token; another id is not found.
pub async fn revoke(state: &AppState, actor: &str, id: i64) -> AppResult<()> {
    if state.store.revoke_token(actor, id, state.now()).await? {
        state.tokens.forget_all();
        tracing::info!(token = id, "token revoked");
        Ok(())
    } else {
        Err(AppError::NotFound("token"))
    }
}
