//! Personal accounts: created with a one-time activation code, activated
//! with a password (both stored only as hashes), reset, disabled. Every
//! change is an event; disabling or resetting ends the account's sessions
//! in the same transaction.

use sqlx::{Row, any::AnyRow};

use super::events::{self, EventInput};
use super::{Result, StorageError, Store, WriteTx, is_unique_violation};
use crate::domain::account::{AccountRole, NewAccount};
use crate::domain::{Credential, DomainError, Principal, account_actor};

/// An account as stored, without its secrets.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Account {
    pub id: i64,
    pub login: String,
    pub display_name: String,
    pub role: AccountRole,
    pub structure_id: Option<i64>,
    /// Whether a password has been chosen.
    pub active: bool,
    pub created_at: i64,
    pub disabled_at: Option<i64>,
}

/// A one-time activation code as stored: its hash and when it dies.
#[derive(Clone, Copy)]
pub struct ActivationSecret {
    pub hash: [u8; 32],
    pub expires_at: i64,
}

const ACCOUNT_COLUMNS: &str = "id, login, display_name, role, structure_id, password_hash IS NOT NULL AS active, \
     created_at, disabled_at";

pub(super) fn account_from_row(row: &AnyRow) -> Result<Account> {
    let role: String = row.try_get("role")?;
    let active: bool = match row.try_get::<bool, _>("active") {
        Ok(b) => b,
        // SQLite answers a boolean expression as an integer.
        Err(_) => row.try_get::<i64, _>("active")? != 0,
    };
    Ok(Account {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        display_name: row.try_get("display_name")?,
        role: AccountRole::parse(&role)
            .ok_or_else(|| StorageError::Corrupt(format!("account role {role:?}")))?,
        structure_id: row.try_get("structure_id")?,
        active,
        created_at: row.try_get("created_at")?,
        disabled_at: row.try_get("disabled_at")?,
    })
}

impl Account {
    /// The person as the rest of the service sees a caller.
    pub fn principal(&self) -> Principal {
        Principal {
            credential: Credential::Account(self.id),
            role: self.role.role(),
            structure_id: self.structure_id,
            operator_id: None,
        }
    }
}

fn account_event(kind: &'static str, actor: &str, account: &Account) -> EventInput {
    EventInput {
        kind,
        actor: actor.to_owned(),
        structure_id: account.structure_id,
        voucher_id: None,
        data: serde_json::json!({
            "account_id": account.id, "login": account.login,
            "display_name": account.display_name, "role": account.role.as_str(),
        }),
    }
}

impl Store {
    /// Creates an account by `actor`, with its first activation code.
    pub async fn create_account(
        &self,
        actor: &str,
        new: &NewAccount,
        code: ActivationSecret,
        now: i64,
    ) -> Result<Account> {
        let mut tx = self.begin_write().await?;
        if let Some(id) = new.structure_id {
            super::structures::ensure_active_structure(&mut tx, id).await?;
        }
        let inserted = sqlx::query(&format!(
            "INSERT INTO accounts (login, display_name, role, structure_id, activation_hash, \
             activation_expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
             RETURNING {ACCOUNT_COLUMNS}"
        ))
        .bind(new.login.clone())
        .bind(new.display_name.clone())
        .bind(new.role.as_str())
        .bind(new.structure_id)
        .bind(code.hash.to_vec())
        .bind(code.expires_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Err(e) if is_unique_violation(&e) => return Err(DomainError::LoginTaken.into()),
            other => other?,
        };
        let account = account_from_row(&row)?;
        events::append(
            &mut tx,
            now,
            &[account_event("account_created", actor, &account)],
        );
        events::commit(tx).await?;
        Ok(account)
    }

    /// Accounts, oldest first; of one structure when `structure_id` is set.
    pub async fn list_accounts(&self, structure_id: Option<i64>) -> Result<Vec<Account>> {
        let rows = match structure_id {
            Some(id) => {
                let sql = format!(
                    "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE structure_id = $1 ORDER BY id"
                );
                sqlx::query(&sql).bind(id).fetch_all(self.reader()).await?
            }
            None => {
                let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY id");
                sqlx::query(&sql).fetch_all(self.reader()).await?
            }
        };
        rows.iter().map(account_from_row).collect()
    }

    pub async fn get_account(&self, id: i64) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Disables an account and ends its sessions. Disabling it again
    /// changes nothing and records nothing.
    pub async fn disable_account(&self, actor: &str, id: i64, now: i64) -> Result<Account> {
        let mut tx = self.begin_write().await?;
        let mut account = locked_account(self, &mut tx, id).await?;
        if account.disabled_at.is_none() {
            sqlx::query("UPDATE accounts SET disabled_at = $1, activation_hash = NULL, activation_expires_at = NULL WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            end_sessions(&mut tx, id).await?;
            account.disabled_at = Some(now);
            events::append(
                &mut tx,
                now,
                &[account_event("account_disabled", actor, &account)],
            );
        }
        events::commit(tx).await?;
        Ok(account)
    }

    /// Gives an account a new activation code: its password no longer
    /// works, its sessions end, and the earlier code dies.
    pub async fn reset_account(
        &self,
        actor: &str,
        id: i64,
        code: ActivationSecret,
        now: i64,
    ) -> Result<Account> {
        let mut tx = self.begin_write().await?;
        let mut account = locked_account(self, &mut tx, id).await?;
        if account.disabled_at.is_some() {
            return Err(DomainError::validation("id", "this account is disabled").into());
        }
        sqlx::query(
            "UPDATE accounts SET password_hash = NULL, activation_hash = $1, \
             activation_expires_at = $2 WHERE id = $3",
        )
        .bind(code.hash.to_vec())
        .bind(code.expires_at)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        end_sessions(&mut tx, id).await?;
        account.active = false;
        events::append(
            &mut tx,
            now,
            &[account_event("account_reset", actor, &account)],
        );
        events::commit(tx).await?;
        Ok(account)
    }

    /// The live account a pending activation code belongs to.
    pub async fn account_by_activation(
        &self,
        hash: &[u8; 32],
        now: i64,
    ) -> Result<Option<Account>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE activation_hash = $1 \
             AND activation_expires_at > $2 AND disabled_at IS NULL"
        );
        let row = sqlx::query(&sql)
            .bind(hash.to_vec())
            .bind(now)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Uses an activation code: sets the password if the code is still
    /// pending, live and of a live account, and spends the code. `None`
    /// when it is not (used already, even by a concurrent request).
    pub async fn activate_account(
        &self,
        hash: &[u8; 32],
        password_hash: &str,
        now: i64,
    ) -> Result<Option<Account>> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE accounts SET password_hash = $1, activation_hash = NULL, \
             activation_expires_at = NULL WHERE activation_hash = $2 \
             AND activation_expires_at > $3 AND disabled_at IS NULL RETURNING {ACCOUNT_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(password_hash.to_owned())
            .bind(hash.to_vec())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let account = account_from_row(&row)?;
        let actor = account_actor(account.id);
        events::append(
            &mut tx,
            now,
            &[account_event("account_activated", &actor, &account)],
        );
        events::commit(tx).await?;
        Ok(Some(account))
    }

    /// A live, activated account and its password hash, by login.
    pub async fn account_for_sign_in(&self, login: &str) -> Result<Option<(Account, String)>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, password_hash FROM accounts WHERE login = $1 \
             AND disabled_at IS NULL AND password_hash IS NOT NULL AND (structure_id IS NULL \
             OR structure_id IN (SELECT id FROM structures WHERE deactivated_at IS NULL))"
        );
        let row = sqlx::query(&sql)
            .bind(login.to_owned())
            .fetch_optional(self.reader())
            .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some((
            account_from_row(&row)?,
            row.try_get("password_hash")?,
        )))
    }
}

/// Reads an account under the write's lock; 404 when there is none.
async fn locked_account(store: &Store, tx: &mut WriteTx, id: i64) -> Result<Account> {
    let sql = format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1{}",
        store.for_update()
    );
    let row = sqlx::query(&sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::NotFound("account"))?;
    account_from_row(&row)
}

async fn end_sessions(tx: &mut WriteTx, account_id: i64) -> Result<()> {
    sqlx::query("DELETE FROM web_sessions WHERE account_id = $1")
        .bind(account_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}
