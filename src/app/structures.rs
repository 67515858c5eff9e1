//! Structures as the coordinator manages them: registering, renaming,
//! deactivating. The API, the desk and the command line share the checks.

use super::{AppResult, AppState};
use crate::domain::{MAX_LABEL_CHARS, MAX_NAME_CHARS, check_text};
use crate::storage::{Store, Structure};

/// A structure to register.
#[derive(Clone, Copy, Debug)]
pub struct NewStructure<'a> {
    pub name: &'a str,
    pub external_ref: Option<&'a str>,
    /// Its association, at most two levels under the coordinator.
    pub parent_id: Option<i64>,
}

/// Registers a structure by `actor`.
/// Every live structure, by name: what a form offers to choose from.
pub async fn live(store: &Store) -> AppResult<Vec<crate::storage::Structure>> {
    let mut all: Vec<_> = store
        .list_structures()
        .await?
        .into_iter()
        .filter(|s| s.active)
        .collect();
    all.sort_by_key(|s| s.name.to_lowercase());
    Ok(all)
}

pub async fn register(
    store: &Store,
    actor: &str,
    new: NewStructure<'_>,
    now: i64,
) -> AppResult<Structure> {
    let name = check_text("name", Some(new.name), MAX_NAME_CHARS)?.unwrap_or_default();
    let external_ref = check_text("external_ref", new.external_ref, MAX_LABEL_CHARS)?;
    let s = store
        .create_structure(actor, &name, external_ref.as_deref(), new.parent_id, now)
        .await?;
    tracing::info!(structure = s.id, parent = ?s.parent_id, "structure registered");
    Ok(s)
}

/// Puts a structure under another association, or none: the
/// coordinator's move, recorded in the audit trail.
pub async fn move_under(
    store: &Store,
    actor: &str,
    id: i64,
    parent_id: Option<i64>,
    now: i64,
) -> AppResult<Structure> {
    let s = store.move_structure(actor, id, parent_id, now).await?;
    tracing::info!(structure = id, parent = ?parent_id, "structure moved");
    Ok(s)
}

/// Renames a structure; its history keeps the old name in its events.
pub async fn rename(store: &Store, actor: &str, id: i64, name: &str, now: i64) -> AppResult<()> {
    let name = check_text("name", Some(name), MAX_NAME_CHARS)?.unwrap_or_default();
    store.rename_structure(actor, id, &name, now).await?;
    tracing::info!(structure = id, "structure renamed");
    Ok(())
}

/// Deactivates a structure: its people are signed out and can no longer
/// sign in, its tokens are revoked. Its vouchers and books stay.
pub async fn deactivate(state: &AppState, actor: &str, id: i64) -> AppResult<()> {
    state
        .store
        .deactivate_structure(actor, id, state.now())
        .await?;
    // Its tokens were revoked: none may answer from the cache.
    state.tokens.forget_all();
    tracing::info!(structure = id, "structure deactivated");
    Ok(())
}
