//! Operators: the networks products, quota and operator tokens belong to.

use serde::Serialize;
use sqlx::{Row, any::AnyRow};

use super::events::{self, EventInput};
use super::{Result, Store, WriteTx, is_unique_violation};
use crate::domain::{DomainError, NewOperator};

/// A registered operator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Operator {
    pub id: i64,
    pub name: String,
    /// Printed on its slips, in French; `null` when the deployment's
    /// default instructions apply.
    pub instructions_fr: Option<String>,
    /// The same, in English.
    pub instructions_en: Option<String>,
    /// The USSD string its PIN slips print, with `PIN` where the twenty
    /// digits go (`*144*PIN#`); `null`: the free instructions.
    pub slip_instructions: Option<String>,
    /// Unix seconds.
    #[serde(skip)]
    pub created_at: i64,
}

const COLUMNS: &str = "id, name, instructions_fr, instructions_en, slip_instructions, created_at";

fn operator_from_row(row: &AnyRow) -> Result<Operator> {
    Ok(Operator {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        instructions_fr: row.try_get("instructions_fr")?,
        instructions_en: row.try_get("instructions_en")?,
        slip_instructions: row.try_get("slip_instructions")?,
        created_at: row.try_get("created_at")?,
    })
}

impl Store {
    /// Registers an operator; its name is unique.
    pub async fn create_operator(
        &self,
        actor: &str,
        new: &NewOperator,
        now: i64,
    ) -> Result<Operator> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(&format!(
            "INSERT INTO operators (name, instructions_fr, instructions_en, slip_instructions, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
        ))
        .bind(new.name.clone())
        .bind(new.instructions_fr.clone())
        .bind(new.instructions_en.clone())
        .bind(new.slip_instructions.clone())
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(DomainError::AlreadyExists("operator").into());
            }
            other => other?,
        };
        let operator = operator_from_row(&row)?;
        events::append(&mut tx, now, &[created_event(actor, &operator)]);
        events::commit(tx).await?;
        Ok(operator)
    }

    /// Changes the USSD string an operator's PIN slips print, with its
    /// event; `None` if there is no such operator.
    pub async fn set_slip_instructions(
        &self,
        actor: &str,
        id: i64,
        slip_instructions: Option<&str>,
        now: i64,
    ) -> Result<Option<Operator>> {
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(&format!(
            "UPDATE operators SET slip_instructions = $1 WHERE id = $2 RETURNING {COLUMNS}"
        ))
        .bind(slip_instructions.map(str::to_owned))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let operator = operator_from_row(&row)?;
        events::append(
            &mut tx,
            now,
            &[EventInput {
                kind: "operator_slip_instructions_set",
                actor: actor.to_owned(),
                structure_id: None,
                voucher_id: None,
                data: serde_json::json!({
                    "operator_id": operator.id,
                    "slip_instructions": operator.slip_instructions,
                }),
            }],
        );
        events::commit(tx).await?;
        Ok(Some(operator))
    }

    pub async fn list_operators(&self) -> Result<Vec<Operator>> {
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM operators ORDER BY id"))
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(operator_from_row).collect()
    }

    pub async fn get_operator(&self, id: i64) -> Result<Option<Operator>> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM operators WHERE id = $1"))
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(operator_from_row).transpose()
    }
}

/// Writes the creation event of each operator migration 0006 made for a
/// database written before networks existed, once: the migration names
/// them in `operators_to_record`, and this empties it in the same
/// transaction as it appends their events. The event is dated like the
/// operator, at the last event before the upgrade.
pub(crate) async fn record_upgraded(mut tx: WriteTx) -> Result<()> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM operators WHERE id IN (SELECT operator_id FROM operators_to_record) ORDER BY id"
    ))
    .fetch_all(&mut *tx)
    .await?;
    for row in &rows {
        let operator = operator_from_row(row)?;
        tracing::info!(
            operator = operator.id,
            "recording the operator the upgrade created"
        );
        events::append(
            &mut tx,
            operator.created_at,
            &[created_event("upgrade", &operator)],
        );
    }
    if !rows.is_empty() {
        sqlx::query("DELETE FROM operators_to_record")
            .execute(&mut *tx)
            .await?;
    }
    events::commit(tx).await
}

fn created_event(actor: &str, operator: &Operator) -> EventInput {
    EventInput {
        kind: "operator_created",
        actor: actor.to_owned(),
        structure_id: None,
        voucher_id: None,
        data: serde_json::json!({
            "operator_id": operator.id, "name": operator.name,
            "instructions_fr": operator.instructions_fr,
            "instructions_en": operator.instructions_en,
            "slip_instructions": operator.slip_instructions,
        }),
    }
}

/// Refuses a write that names an operator that does not exist, inside the
/// write's transaction: a field of the request that is wrong (422 naming
/// `operator_id`), as a structure id in a body is.
pub(crate) async fn ensure_operator(tx: &mut WriteTx, id: i64) -> Result<()> {
    let exists = sqlx::query("SELECT id FROM operators WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(DomainError::validation("operator_id", "no such operator").into())
    }
}
