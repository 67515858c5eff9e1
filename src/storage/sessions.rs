//! Web desk sessions: opened with a structure token, stored only as the
//! SHA-256 hash of their random id, dead as soon as they expire or their
//! token is revoked.

use sqlx::Row;

use super::{Result, StorageError, Store};
use crate::domain::{Principal, Role};

/// A session to record at sign-in.
#[derive(Clone)]
pub struct NewWebSession {
    /// SHA-256 of the session id the browser holds.
    pub id_hash: [u8; 32],
    pub principal: Principal,
    pub structure_id: i64,
    /// The synchronizer token the session's forms carry.
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The CSRF token is a secret of the session: keep it out of logs.
impl std::fmt::Debug for NewWebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebSession")
            .field("principal", &self.principal)
            .field("structure_id", &self.structure_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A live session, as found from its id's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct WebSession {
    pub principal: Principal,
    pub structure_id: i64,
    pub structure_name: String,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// The CSRF token is a secret of the session: keep it out of logs.
impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("principal", &self.principal)
            .field("structure_id", &self.structure_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Records a new session, and forgets sessions that have expired, so
    /// that the table stays as small as the number of people signed in.
    pub async fn create_web_session(&self, session: &NewWebSession) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_sessions WHERE expires_at <= $1")
            .bind(session.created_at)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO web_sessions (id_hash, token_id, structure_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(session.id_hash.to_vec())
        .bind(session.principal.token_id)
        .bind(session.structure_id)
        .bind(session.csrf_token.clone())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        super::events::commit(tx).await?;
        Ok(())
    }

    /// The live session with this id hash: not expired, and opened with a
    /// structure token that is still live.
    pub async fn find_web_session(
        &self,
        id_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<WebSession>> {
        let row = sqlx::query(
            "SELECT s.token_id, s.structure_id, s.csrf_token, s.expires_at, t.role, st.name \
             FROM web_sessions s JOIN tokens t ON t.id = s.token_id \
             JOIN structures st ON st.id = s.structure_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL \
             AND t.structure_id = s.structure_id",
        )
        .bind(id_hash.to_vec())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        let role = Role::parse(&role)
            .ok_or_else(|| StorageError::Corrupt(format!("token role {role:?}")))?;
        if role != Role::Structure {
            return Err(StorageError::Corrupt(
                "web session of a non-structure token".into(),
            ));
        }
        let structure_id: i64 = row.try_get("structure_id")?;
        Ok(Some(WebSession {
            principal: Principal {
                token_id: row.try_get("token_id")?,
                role,
                structure_id: Some(structure_id),
                operator_id: None,
            },
            structure_id,
            structure_name: row.try_get("name")?,
            csrf_token: row.try_get("csrf_token")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    /// Ends a session (sign-out). Whether it existed does not matter.
    pub async fn delete_web_session(&self, id_hash: &[u8; 32]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash.to_vec())
            .execute(&mut *tx)
            .await?;
        super::events::commit(tx).await?;
        Ok(())
    }
}
