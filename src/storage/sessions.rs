//! Web desk sessions: opened by a person with their account, stored only
//! as the SHA-256 hash of their random id, dead as soon as they expire or
//! their account is disabled or reset.

use sqlx::Row;

use super::accounts::{Account, account_from_row};
use super::{Result, Store};

/// A session to record at sign-in.
#[derive(Clone)]
pub struct NewWebSession {
    /// SHA-256 of the session id the browser holds.
    pub id_hash: [u8; 32],
    pub account_id: i64,
    /// The synchronizer token the session's forms carry.
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// The CSRF token is a secret of the session: keep it out of logs.
impl std::fmt::Debug for NewWebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewWebSession")
            .field("account_id", &self.account_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A live session, as found from its id's hash.
#[derive(Clone, PartialEq, Eq)]
pub struct WebSession {
    pub account: Account,
    /// The name of the account's structure, for structure roles.
    pub structure_name: Option<String>,
    /// Whether that structure has members (is an association).
    pub has_members: bool,
    pub csrf_token: String,
    pub expires_at: i64,
}

/// The CSRF token is a secret of the session: keep it out of logs.
impl std::fmt::Debug for WebSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSession")
            .field("account", &self.account)
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
            "INSERT INTO web_sessions (id_hash, account_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(session.id_hash.to_vec())
        .bind(session.account_id)
        .bind(session.csrf_token.clone())
        .bind(session.created_at)
        .bind(session.expires_at)
        .execute(&mut *tx)
        .await?;
        super::events::commit(tx).await?;
        Ok(())
    }

    /// The live session with this id hash: not expired, and of an account
    /// that is still enabled.
    pub async fn find_web_session(
        &self,
        id_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<WebSession>> {
        let row = sqlx::query(
            "SELECT a.id, a.login, a.display_name, a.role, a.structure_id, \
             a.password_hash IS NOT NULL AS active, a.created_at, a.disabled_at, \
             s.csrf_token, s.expires_at, st.name, \
             CAST(CASE WHEN EXISTS (SELECT 1 FROM structures m WHERE m.parent_id = st.id) \
                  THEN 1 ELSE 0 END AS BIGINT) AS has_members \
             FROM web_sessions s JOIN accounts a ON a.id = s.account_id \
             LEFT JOIN structures st ON st.id = a.structure_id \
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND a.disabled_at IS NULL \
             AND (st.id IS NULL OR st.deactivated_at IS NULL)",
        )
        .bind(id_hash.to_vec())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(WebSession {
            account: account_from_row(&row)?,
            structure_name: row.try_get("name")?,
            has_members: row.try_get::<i64, _>("has_members")? == 1,
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

    /// Leaves a sealed one-time message for the session's next page,
    /// replacing any left before. A session that has ended keeps nothing.
    pub async fn set_session_flash(&self, id_hash: &[u8; 32], sealed: &str) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("UPDATE web_sessions SET flash = $2 WHERE id_hash = $1")
            .bind(id_hash.to_vec())
            .bind(sealed.to_owned())
            .execute(&mut *tx)
            .await?;
        super::events::commit(tx).await?;
        Ok(())
    }

    /// Takes the session's one-time message: the first read gets it and
    /// clears it (compare-and-set, so two pages at once never both show
    /// it); later reads get nothing.
    pub async fn take_session_flash(&self, id_hash: &[u8; 32]) -> Result<Option<String>> {
        let left: Option<String> = sqlx::query("SELECT flash FROM web_sessions WHERE id_hash = $1")
            .bind(id_hash.to_vec())
            .fetch_optional(self.reader())
            .await?
            .map(|row| row.try_get("flash"))
            .transpose()?
            .flatten();
        let Some(sealed) = left else { return Ok(None) };
        let mut tx = self.begin_write().await?;
        let taken =
            sqlx::query("UPDATE web_sessions SET flash = NULL WHERE id_hash = $1 AND flash = $2")
                .bind(id_hash.to_vec())
                .bind(sealed.clone())
                .execute(&mut *tx)
                .await?
                .rows_affected();
        super::events::commit(tx).await?;
        Ok((taken == 1).then_some(sealed))
    }
}
