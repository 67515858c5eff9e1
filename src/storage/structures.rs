//! The coordinator's changes to a structure after its registration:
//! renaming it, and deactivating it (its people's sessions end, sign-in is
//! refused, its tokens are revoked; its history stays).

use sqlx::Row;

use super::events::{self, EventInput};
use super::{Result, Store, WriteTx};
use crate::domain::DomainError;

fn structure_event(
    kind: &'static str,
    actor: &str,
    id: i64,
    data: serde_json::Value,
) -> EventInput {
    EventInput {
        kind,
        actor: actor.to_owned(),
        structure_id: Some(id),
        voucher_id: None,
        data,
    }
}

/// The event of a token's revocation, wherever it is revoked.
pub(super) fn token_revoked_event(actor: &str, token_id: i64) -> EventInput {
    EventInput {
        kind: "token_revoked",
        actor: actor.to_owned(),
        structure_id: None,
        voucher_id: None,
        data: serde_json::json!({ "token_id": token_id }),
    }
}

/// Refuses a write naming a structure that does not exist (404
/// `structure`), inside the write's transaction; answers when it was
/// deactivated, if it was.
pub(super) async fn ensure_structure(tx: &mut WriteTx, id: i64) -> Result<Option<i64>> {
    let row = sqlx::query("SELECT deactivated_at FROM structures WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::NotFound("structure"))?;
    Ok(row.try_get("deactivated_at")?)
}

/// Refuses a write that would give a deactivated structure something new
/// (an account, a token, a grant): 404 when it does not exist, 422 on
/// `structure_id` when it was deactivated. Its history stays readable.
pub(super) async fn ensure_active_structure(tx: &mut WriteTx, id: i64) -> Result<()> {
    match ensure_structure(tx, id).await? {
        None => Ok(()),
        Some(_) => Err(DomainError::StructureDeactivated.into()),
    }
}

impl Store {
    /// Renames a structure.
    pub async fn rename_structure(&self, actor: &str, id: i64, name: &str, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        ensure_structure(&mut tx, id).await?;
        sqlx::query("UPDATE structures SET name = $1 WHERE id = $2")
            .bind(name.to_owned())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let data = serde_json::json!({ "name": name });
        events::append(
            &mut tx,
            now,
            &[structure_event("structure_renamed", actor, id, data)],
        );
        events::commit(tx).await?;
        Ok(())
    }

    /// Deactivates a structure, in one transaction: its people's sessions
    /// end, its live tokens are revoked (each with its event). Doing it
    /// again changes nothing.
    pub async fn deactivate_structure(&self, actor: &str, id: i64, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        if ensure_structure(&mut tx, id).await?.is_some() {
            events::commit(tx).await?;
            return Ok(());
        }
        sqlx::query("UPDATE structures SET deactivated_at = $1 WHERE id = $2")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "DELETE FROM web_sessions WHERE account_id IN (SELECT id FROM accounts WHERE structure_id = $1)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let revoked = sqlx::query(
            "UPDATE tokens SET revoked_at = $1 WHERE structure_id = $2 AND revoked_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let mut events = vec![structure_event(
            "structure_deactivated",
            actor,
            id,
            serde_json::json!({}),
        )];
        for row in &revoked {
            events.push(token_revoked_event(actor, row.try_get("id")?));
        }
        events::append(&mut tx, now, &events);
        events::commit(tx).await?;
        Ok(())
    }
}

/// A token as the coordinator's desk lists it: never its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenListing {
    pub id: i64,
    pub role: String,
    pub structure_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub label: Option<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A grant as the coordinator's desk lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantListing {
    pub id: i64,
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub monthly: bool,
    pub ends_at: Option<i64>,
    pub created_at: i64,
}

impl Store {
    /// Every token, newest first.
    pub async fn list_tokens(&self) -> Result<Vec<TokenListing>> {
        let rows = sqlx::query(
            "SELECT id, role, structure_id, operator_id, label, created_at, revoked_at FROM tokens ORDER BY id DESC",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenListing {
                    id: r.try_get("id")?,
                    role: r.try_get("role")?,
                    structure_id: r.try_get("structure_id")?,
                    operator_id: r.try_get("operator_id")?,
                    label: r.try_get("label")?,
                    created_at: r.try_get("created_at")?,
                    revoked_at: r.try_get("revoked_at")?,
                })
            })
            .collect()
    }

    /// The latest `limit` grants, newest first.
    pub async fn recent_grants(&self, limit: i64) -> Result<Vec<GrantListing>> {
        let rows = sqlx::query(
            "SELECT id, structure_id, operator_id, resource, amount, recurrence, ends_at, created_at \
             FROM grants ORDER BY id DESC LIMIT $1",
        )
        .bind(limit)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(GrantListing {
                    id: r.try_get("id")?,
                    structure_id: r.try_get("structure_id")?,
                    operator_id: r.try_get("operator_id")?,
                    resource: r.try_get("resource")?,
                    amount: r.try_get("amount")?,
                    monthly: r.try_get::<Option<String>, _>("recurrence")?.is_some(),
                    ends_at: r.try_get("ends_at")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }
}
