//! Structures, products, tokens and grants: the coordinator's side.

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use super::events::{self, EventInput};
use super::{Result, StorageError, Store, WriteTx, is_unique_violation};
use crate::code::Format;
use crate::domain::{Credential, DomainError, Principal, Product, Recurrence, Role, quota};

/// A registered structure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Structure {
    pub id: i64,
    pub name: String,
    pub external_ref: Option<String>,
    /// Unix seconds.
    #[serde(skip)]
    pub created_at: i64,
    /// False once the coordinator has deactivated it.
    pub active: bool,
    /// Its association, if it has one.
    pub parent_id: Option<i64>,
}

/// A token as stored: never the secret, only its hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub role: Role,
    pub structure_id: Option<i64>,
    pub operator_id: Option<i64>,
    pub label: Option<String>,
}

/// Whom a token speaks for besides its role: its structure (structure
/// tokens) or its operator (operator tokens).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TokenScope {
    pub structure_id: Option<i64>,
    pub operator_id: Option<i64>,
}

/// A product to add or replace.
pub type NewProduct = Product;

/// A grant to record.
#[derive(Clone, Debug)]
pub struct NewGrant {
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub recurrence: Option<Recurrence>,
}

fn structure_from_row(row: &AnyRow) -> Result<Structure> {
    Ok(Structure {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        external_ref: row.try_get("external_ref")?,
        created_at: row.try_get("created_at")?,
        active: row.try_get::<Option<i64>, _>("deactivated_at")?.is_none(),
        parent_id: row.try_get("parent_id")?,
    })
}

fn product_from_row(row: &AnyRow) -> Result<Product> {
    Ok(Product {
        id: row.try_get("id")?,
        operator_id: row.try_get("operator_id")?,
        family: row.try_get("family")?,
        resource: row.try_get("resource")?,
        amount: row.try_get("amount")?,
        validity_days: row.try_get("validity_days")?,
        code_validity_days: row.try_get("code_validity_days")?,
        label_fr: row.try_get("label_fr")?,
        label_en: row.try_get("label_en")?,
        active: row.try_get::<i64, _>("active")? != 0,
        format: Format::parse(&row.try_get::<String, _>("format")?)
            .ok_or_else(|| StorageError::Corrupt("unknown product format".into()))?,
    })
}

const PRODUCT_COLUMNS: &str = "id, operator_id, family, resource, amount, validity_days, code_validity_days, \
    label_fr, label_en, active, format";

impl Store {
    pub async fn create_structure(
        &self,
        actor: &str,
        name: &str,
        external_ref: Option<&str>,
        parent_id: Option<i64>,
        now: i64,
    ) -> Result<Structure> {
        let mut tx = self.begin_write().await?;
        if let Some(parent) = parent_id {
            self.lock_tree(&mut tx).await?;
            super::tree::check_new_parent(&mut tx, parent, None).await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO structures (name, external_ref, created_at, parent_id) VALUES ($1, $2, $3, $4) \
             RETURNING id, name, external_ref, created_at, deactivated_at, parent_id",
        )
        .bind(name.to_owned())
        .bind(external_ref.map(str::to_owned))
        .bind(now)
        .bind(parent_id)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::AlreadyExists("external_ref").into());
            }
            other => other?,
        };
        let structure = structure_from_row(&row)?;
        let event = EventInput {
            kind: "structure_created",
            actor: actor.to_owned(),
            structure_id: Some(structure.id),
            voucher_id: None,
            data: serde_json::json!({
                "name": structure.name, "external_ref": structure.external_ref,
                "parent_id": structure.parent_id,
            }),
        };
        events::append(&mut tx, now, &[event]);
        events::commit(tx).await?;
        Ok(structure)
    }

    pub async fn list_structures(&self) -> Result<Vec<Structure>> {
        let rows = sqlx::query(
            "SELECT id, name, external_ref, created_at, deactivated_at, parent_id FROM structures ORDER BY id",
        )
        .fetch_all(self.reader())
        .await?;
        rows.iter().map(structure_from_row).collect()
    }

    pub async fn get_structure(&self, id: i64) -> Result<Option<Structure>> {
        let row =
            sqlx::query("SELECT id, name, external_ref, created_at, deactivated_at, parent_id FROM structures WHERE id = $1")
                .bind(id)
                .fetch_optional(self.reader())
                .await?;
        row.as_ref().map(structure_from_row).transpose()
    }

    pub async fn list_products(&self) -> Result<Vec<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY resource, amount, id");
        let rows = sqlx::query(&sql).fetch_all(self.reader()).await?;
        rows.iter().map(product_from_row).collect()
    }

    pub async fn get_product(&self, id: &str) -> Result<Option<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(product_from_row).transpose()
    }

    /// Adds a product or replaces one with the same id. Codes already issued
    /// keep what they were issued as (their row and attestation say it).
    pub async fn upsert_product(&self, actor: &str, p: &Product, now: i64) -> Result<()> {
        let mut tx = self.begin_write().await?;
        super::operators::ensure_operator(&mut tx, p.operator_id).await?;
        let network: Option<i64> = sqlx::query("SELECT operator_id FROM products WHERE id = $1")
            .bind(p.id.clone())
            .fetch_optional(&mut *tx)
            .await?
            .map(|r| r.try_get("operator_id"))
            .transpose()?;
        if network.is_some_and(|n| n != p.operator_id) {
            return Err(DomainError::validation(
                "operator_id",
                "a product keeps its operator: save a new product for another network",
            )
            .into());
        }
        sqlx::query(
            "INSERT INTO products (id, family, resource, amount, validity_days, code_validity_days, \
             label_fr, label_en, active, created_at, format, operator_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO UPDATE SET family = excluded.family, resource = excluded.resource, \
             amount = excluded.amount, validity_days = excluded.validity_days, \
             code_validity_days = excluded.code_validity_days, label_fr = excluded.label_fr, \
             label_en = excluded.label_en, active = excluded.active, format = excluded.format",
        )
        .bind(p.id.clone())
        .bind(p.family.clone())
        .bind(p.resource.clone())
        .bind(p.amount)
        .bind(p.validity_days)
        .bind(p.code_validity_days)
        .bind(p.label_fr.clone())
        .bind(p.label_en.clone())
        .bind(i64::from(p.active))
        .bind(now)
        .bind(p.format.as_str())
        .bind(p.operator_id)
        .execute(&mut *tx)
        .await?;
        let event = EventInput {
            kind: "product_saved",
            actor: actor.to_owned(),
            structure_id: None,
            voucher_id: None,
            data: serde_json::to_value(p).map_err(StorageError::Encoding)?,
        };
        events::append(&mut tx, now, &[event]);
        events::commit(tx).await?;
        Ok(())
    }

    /// Seeds the catalogue if it is empty. Returns whether it seeded.
    pub async fn seed_products(&self, products: &[Product], now: i64) -> Result<bool> {
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM products")
            .fetch_one(self.reader())
            .await?
            .try_get("n")?;
        if count > 0 {
            return Ok(false);
        }
        for p in products {
            self.upsert_product("system", p, now).await?;
        }
        Ok(true)
    }

    /// Stores a token's hash. The secret itself is never stored.
    pub async fn create_token(
        &self,
        actor: &str,
        hash: &[u8; 32],
        role: Role,
        scope: TokenScope,
        label: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        let TokenScope {
            structure_id,
            operator_id,
        } = scope;
        if (role == Role::Structure) != structure_id.is_some() {
            return Err(DomainError::validation(
                "structure_id",
                "required for structure tokens, and only for them",
            )
            .into());
        }
        if (role == Role::Operator) != operator_id.is_some() {
            return Err(DomainError::validation(
                "operator_id",
                "required for operator tokens, and only for them",
            )
            .into());
        }
        let mut tx = self.begin_write().await?;
        if let Some(id) = operator_id {
            super::operators::ensure_operator(&mut tx, id).await?;
        }
        if let Some(id) = structure_id {
            super::structures::ensure_active_structure(&mut tx, id).await?;
        }
        let id: i64 = sqlx::query(
            "INSERT INTO tokens (hash, role, structure_id, operator_id, label, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(hash.to_vec())
        .bind(role.as_str())
        .bind(structure_id)
        .bind(operator_id)
        .bind(label.map(str::to_owned))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let event = EventInput {
            kind: "token_created",
            actor: actor.to_owned(),
            structure_id,
            voucher_id: None,
            data: serde_json::json!({
                "token_id": id, "role": role.as_str(), "label": label, "operator_id": operator_id,
            }),
        };
        events::append(&mut tx, now, &[event]);
        events::commit(tx).await?;
        Ok(id)
    }

    /// Revokes a token; `false` if there was no such live token.
    pub async fn revoke_token(&self, actor: &str, id: i64, now: i64) -> Result<bool> {
        let mut tx = self.begin_write().await?;
        let revoked =
            sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
        if revoked {
            events::append(
                &mut tx,
                now,
                &[super::structures::token_revoked_event(actor, id)],
            );
        }
        events::commit(tx).await?;
        Ok(revoked)
    }

    /// Finds the live token with this hash.
    pub async fn find_token(&self, hash: &[u8; 32]) -> Result<Option<Principal>> {
        let row = sqlx::query(
            "SELECT id, role, structure_id, operator_id FROM tokens WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(hash.to_vec())
        .fetch_optional(self.reader())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        Ok(Some(Principal::of_token(
            row.try_get("id")?,
            Role::parse(&role)
                .ok_or_else(|| StorageError::Corrupt(format!("token role {role:?}")))?,
            row.try_get("structure_id")?,
            row.try_get("operator_id")?,
        )))
    }

    /// Whether any live admin token exists (first start creates one if not).
    pub async fn has_admin_token(&self) -> Result<bool> {
        let row = sqlx::query(
            "SELECT id FROM tokens WHERE role = 'admin' AND revoked_at IS NULL LIMIT 1",
        )
        .fetch_optional(self.reader())
        .await?;
        Ok(row.is_some())
    }

    /// Records a grant and its first credit. Recurring grants credit again
    /// each month from then on (see `credit_due_grants`).
    pub async fn create_grant(&self, actor: &str, g: &NewGrant, now: i64) -> Result<i64> {
        let mut tx = self.begin_write().await?;
        let id = self.grant_in(&mut tx, actor, g, None, now).await?;
        events::commit(tx).await?;
        Ok(id)
    }

    /// The grant inside a transaction the caller commits (a need's
    /// approval shares it, and names itself in `need_id`).
    pub(super) async fn grant_in(
        &self,
        tx: &mut WriteTx,
        actor: &str,
        g: &NewGrant,
        need_id: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        super::structures::ensure_active_structure(tx, g.structure_id).await?;
        super::operators::ensure_operator(tx, g.operator_id).await?;
        let next_credit_at = g
            .recurrence
            .and_then(|_| quota::monthly_credit_at(g.starts_at, 1))
            .filter(|&t| g.ends_at.is_none_or(|end| t < end));
        let id: i64 = sqlx::query(
            "INSERT INTO grants (structure_id, resource, amount, starts_at, ends_at, recurrence, next_period, \
             next_credit_at, created_at, operator_id, need_id) VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9, $10) \
             RETURNING id",
        )
        .bind(g.structure_id)
        .bind(g.resource.clone())
        .bind(g.amount)
        .bind(g.starts_at)
        .bind(g.ends_at)
        .bind(g.recurrence.map(Recurrence::as_str))
        .bind(next_credit_at)
        .bind(now)
        .bind(g.operator_id)
        .bind(need_id)
        .fetch_one(&mut **tx)
        .await?
        .try_get("id")?;
        let event = EventInput {
            kind: "grant",
            actor: actor.to_owned(),
            structure_id: Some(g.structure_id),
            voucher_id: None,
            data: serde_json::json!({
                "grant_id": id, "operator_id": g.operator_id, "resource": g.resource, "amount": g.amount,
                "starts_at": g.starts_at, "ends_at": g.ends_at,
                "recurrence": g.recurrence.map(Recurrence::as_str), "need_id": need_id,
            }),
        };
        events::append(tx, now, &[event]);
        self.credit_bucket(
            tx,
            id,
            0,
            super::quota::Account {
                structure_id: g.structure_id,
                operator_id: g.operator_id,
                resource: &g.resource,
            },
            g.amount,
            g.starts_at.max(now),
            g.ends_at,
            now,
        )
        .await?;
        Ok(id)
    }

    /// Records a key rotation in the event log.
    pub async fn record_key_rotation(
        &self,
        actor: &str,
        code_key_id: u8,
        pin_key_id: u8,
        signing_key_id: u32,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.begin_write().await?;
        let event = EventInput {
            kind: "keys_rotated",
            actor: actor.to_owned(),
            structure_id: None,
            voucher_id: None,
            data: serde_json::json!({
                "code_key_id": code_key_id,
                "pin_key_id": pin_key_id,
                "signing_key_id": signing_key_id,
            }),
        };
        events::append(&mut tx, now, &[event]);
        events::commit(tx).await?;
        Ok(())
    }
}

/// Refuses a write by a token revoked since its request was authenticated
/// (the HTTP layer trusts a lookup for a moment): checked inside the
/// write's own transaction, so no write outlives its token's revocation.
pub(crate) async fn ensure_live(tx: &mut WriteTx, principal: &Principal) -> Result<()> {
    let (sql, id) = match principal.credential {
        Credential::Token(id) => (
            "SELECT id FROM tokens WHERE id = $1 AND revoked_at IS NULL",
            id,
        ),
        Credential::Account(id) => (
            "SELECT a.id FROM accounts a LEFT JOIN structures s ON s.id = a.structure_id \
             WHERE a.id = $1 AND a.disabled_at IS NULL AND (s.id IS NULL OR s.deactivated_at IS NULL)",
            id,
        ),
    };
    let live = sqlx::query(sql)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if live {
        Ok(())
    } else {
        Err(DomainError::TokenRevoked.into())
    }
}
