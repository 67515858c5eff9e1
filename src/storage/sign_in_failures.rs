//! Failed desk sign-ins per login, kept in the database so that every
//! `serve` process on it counts the same failures. Logins that do not
//! exist are counted too: a locked login must read like any other refusal.

use sqlx::Row;

use super::{Result, Store, events};

/// How failures turn into a lock: `max_failures` within `window_secs`
/// lock the login for `lock_secs`.
#[derive(Clone, Copy, Debug)]
pub struct SignInPolicy {
    pub max_failures: i64,
    pub window_secs: i64,
    pub lock_secs: i64,
}

impl Store {
    /// Until when the login is locked, if it is.
    pub async fn sign_in_locked_until(
        &self,
        login_hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<i64>> {
        let row = sqlx::query(
            "SELECT locked_until FROM sign_in_failures WHERE login_hash = $1 AND locked_until > $2",
        )
        .bind(login_hash.to_vec())
        .bind(now)
        .fetch_optional(self.reader())
        .await?;
        row.map(|r| r.try_get("locked_until"))
            .transpose()
            .map_err(Into::into)
    }

    /// Counts one failure; answers until when the login is now locked, if
    /// this failure locked it. A window that has passed starts again.
    pub async fn record_sign_in_failure(
        &self,
        login_hash: &[u8; 32],
        policy: SignInPolicy,
        now: i64,
    ) -> Result<Option<i64>> {
        let mut tx = self.begin_write().await?;
        // Forget what no longer counts (a lock that has ended, a window
        // that has passed), so the table stays small and counts restart.
        sqlx::query(
            "DELETE FROM sign_in_failures WHERE (locked_until IS NOT NULL AND locked_until <= $1) \
             OR (locked_until IS NULL AND first_failed_at <= $2)",
        )
        .bind(now)
        .bind(now - policy.window_secs)
        .execute(&mut *tx)
        .await?;
        let failures: i64 = sqlx::query(
            "INSERT INTO sign_in_failures (login_hash, failures, first_failed_at) VALUES ($1, 1, $2) \
             ON CONFLICT (login_hash) DO UPDATE SET failures = sign_in_failures.failures + 1 \
             RETURNING failures",
        )
        .bind(login_hash.to_vec())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("failures")?;
        let locked_until = (failures >= policy.max_failures).then(|| now + policy.lock_secs);
        if let Some(until) = locked_until {
            sqlx::query("UPDATE sign_in_failures SET locked_until = $1 WHERE login_hash = $2")
                .bind(until)
                .bind(login_hash.to_vec())
                .execute(&mut *tx)
                .await?;
        }
        events::commit(tx).await?;
        Ok(locked_until)
    }

    /// Forgets a login's failures after it signed in.
    pub async fn clear_sign_in_failures(&self, login_hash: &[u8; 32]) -> Result<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM sign_in_failures WHERE login_hash = $1")
            .bind(login_hash.to_vec())
            .execute(&mut *tx)
            .await?;
        events::commit(tx).await?;
        Ok(())
    }
}
