//! Needs in the database: reported by a structure, listed for whoever
//! answers them, and answered once. An approval allocates (or, for a
//! structure without an association, grants) in the same transaction as
//! the answer, so a need is never approved without its quota, nor quota
//! given twice for one need.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::events::{self, EventInput};
use super::transfers::{self, TransferKind, TransferOrder};
use super::{NewGrant, Result, Store, WriteTx};
use crate::domain::need::{self, NeedAnswer, NeedState};
use crate::domain::tree::Reach;
use crate::domain::{DomainError, Principal};

/// A need as reported.
#[derive(Clone, Debug)]
pub struct NewNeed {
    pub structure_id: i64,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub people: Option<i64>,
    pub reason: String,
}

/// A need and its answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Need {
    pub id: i64,
    pub structure_id: i64,
    pub structure_name: String,
    /// The structure's association when the need was read.
    pub parent_id: Option<i64>,
    pub operator_id: i64,
    pub resource: String,
    pub amount: i64,
    pub people: Option<i64>,
    pub reason: String,
    pub state: NeedState,
    pub approved_amount: Option<i64>,
    pub answer: Option<String>,
    pub created_at: i64,
    pub answered_at: Option<i64>,
}

const NEED_COLUMNS: &str = "n.id, n.structure_id, s.name AS structure_name, s.parent_id, n.operator_id, \
    n.resource, n.amount, n.people, n.reason, n.state, n.approved_amount, n.answer, n.created_at, n.answered_at";

fn need_from_row(r: &AnyRow) -> Result<Need> {
    let state: String = r.try_get("state")?;
    Ok(Need {
        id: r.try_get("id")?,
        structure_id: r.try_get("structure_id")?,
        structure_name: r.try_get("structure_name")?,
        parent_id: r.try_get("parent_id")?,
        operator_id: r.try_get("operator_id")?,
        resource: r.try_get("resource")?,
        amount: r.try_get("amount")?,
        people: r.try_get("people")?,
        reason: r.try_get("reason")?,
        state: NeedState::parse(&state)
            .ok_or_else(|| super::StorageError::Corrupt(format!("need state {state}")))?,
        approved_amount: r.try_get("approved_amount")?,
        answer: r.try_get("answer")?,
        created_at: r.try_get("created_at")?,
        answered_at: r.try_get("answered_at")?,
    })
}

fn need_event(kind: &'static str, actor: &str, n: &Need, data: serde_json::Value) -> EventInput {
    EventInput {
        kind,
        actor: actor.to_owned(),
        structure_id: Some(n.structure_id),
        voucher_id: None,
        data,
    }
}

impl Store {
    /// Records a structure's need, with its event.
    pub async fn report_need(
        &self,
        actor: &str,
        live: Option<&Principal>,
        n: &NewNeed,
        now: i64,
    ) -> Result<Need> {
        let mut tx = self.begin_write().await?;
        if let Some(p) = live {
            super::admin::ensure_live(&mut tx, p).await?;
        }
        super::structures::ensure_active_structure(&mut tx, n.structure_id).await?;
        super::operators::ensure_operator(&mut tx, n.operator_id).await?;
        let id: i64 = sqlx::query(
            "INSERT INTO needs (structure_id, operator_id, resource, amount, people, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(n.structure_id)
        .bind(n.operator_id)
        .bind(n.resource.clone())
        .bind(n.amount)
        .bind(n.people)
        .bind(n.reason.clone())
        .bind(now)
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        let need = read_need(&mut tx, id).await?;
        let data = serde_json::json!({
            "need_id": id, "operator_id": n.operator_id, "resource": n.resource,
            "amount": n.amount, "people": n.people, "reason": n.reason,
        });
        events::append(
            &mut tx,
            now,
            &[need_event("need_reported", actor, &need, data)],
        );
        events::commit(tx).await?;
        Ok(need)
    }

    /// The needs within reach, in `state` if given, oldest first (the
    /// longest wait at the top), at most `limit`.
    pub async fn list_needs(
        &self,
        reach: Reach,
        state: Option<NeedState>,
        limit: i64,
    ) -> Result<Vec<Need>> {
        let (within, root) = match reach {
            Reach::All => ("", None),
            Reach::Subtree(root) => (" AND n.structure_id IN (SELECT id FROM down)", Some(root)),
        };
        let with = if root.is_some() {
            super::tree::SUBTREE.replace(" SELECT id, depth FROM down", "")
        } else {
            String::new()
        };
        let sql = format!(
            "{with} SELECT {NEED_COLUMNS} FROM needs n JOIN structures s ON s.id = n.structure_id \
             WHERE ($3 IS NULL OR n.state = $3){within} ORDER BY n.created_at, n.id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(root.unwrap_or(0))
            .bind(8_i64)
            .bind(state.map(NeedState::as_str))
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(need_from_row).collect()
    }

    /// One structure's own needs, newest first, at most `limit`.
    pub async fn needs_of(&self, structure_id: i64, limit: i64) -> Result<Vec<Need>> {
        let sql = format!(
            "SELECT {NEED_COLUMNS} FROM needs n JOIN structures s ON s.id = n.structure_id \
             WHERE n.structure_id = $1 ORDER BY n.created_at DESC, n.id DESC LIMIT $2"
        );
        let rows = sqlx::query(&sql)
            .bind(structure_id)
            .bind(limit)
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(need_from_row).collect()
    }

    /// One need, whoever's it is: callers check reach themselves.
    pub async fn get_need(&self, id: i64) -> Result<Option<Need>> {
        let row = sqlx::query(&need_by_id())
            .bind(id)
            .fetch_optional(self.reader())
            .await?;
        row.as_ref().map(need_from_row).transpose()
    }

    /// Approves a need in full or in part: the allocation from its
    /// association (or the coordinator's grant) happens in the same
    /// transaction. Without enough quota nothing changes.
    pub async fn approve_need(
        &self,
        actor: &str,
        live: Option<&Principal>,
        reach: Reach,
        id: i64,
        offered: Option<i64>,
        now: i64,
    ) -> Result<Need> {
        transfers::retry_on_conflict(|| self.approve_once(actor, live, reach, id, offered, now))
            .await
    }

    async fn approve_once(
        &self,
        actor: &str,
        live: Option<&Principal>,
        reach: Reach,
        id: i64,
        offered: Option<i64>,
        now: i64,
    ) -> Result<Need> {
        let mut tx = self.begin_write().await?;
        if let Some(p) = live {
            super::admin::ensure_live(&mut tx, p).await?;
        }
        let need = answerable(self, &mut tx, reach, id, NeedAnswer::Approve).await?;
        let amount = need::approved_amount(need.amount, offered)?;
        mark_answered(
            &mut tx,
            &need,
            NeedState::Approved,
            Some(amount),
            None,
            actor,
            now,
        )
        .await?;
        match need.parent_id {
            Some(_) => {
                let order = TransferOrder {
                    kind: TransferKind::Allocation,
                    member_id: need.structure_id,
                    operator_id: need.operator_id,
                    resource: need.resource.clone(),
                    amount,
                    need_id: Some(id),
                };
                transfers::transfer_in(self, &mut tx, actor, reach, &order, now).await?;
            }
            None => {
                let grant = NewGrant {
                    structure_id: need.structure_id,
                    operator_id: need.operator_id,
                    resource: need.resource.clone(),
                    amount,
                    starts_at: now,
                    ends_at: None,
                    recurrence: None,
                };
                self.grant_in(&mut tx, actor, &grant, Some(id), now).await?;
            }
        }
        let data = serde_json::json!({ "need_id": id, "amount": amount });
        events::append(
            &mut tx,
            now,
            &[need_event("need_approved", actor, &need, data)],
        );
        let answered = read_need(&mut tx, id).await?;
        events::commit(tx).await?;
        Ok(answered)
    }

    /// Declines a need with a reason the structure reads.
    pub async fn decline_need(
        &self,
        actor: &str,
        live: Option<&Principal>,
        reach: Reach,
        id: i64,
        reason: &str,
        now: i64,
    ) -> Result<Need> {
        let mut tx = self.begin_write().await?;
        if let Some(p) = live {
            super::admin::ensure_live(&mut tx, p).await?;
        }
        let need = answerable(self, &mut tx, reach, id, NeedAnswer::Decline).await?;
        mark_answered(
            &mut tx,
            &need,
            NeedState::Declined,
            None,
            Some(reason),
            actor,
            now,
        )
        .await?;
        let data = serde_json::json!({ "need_id": id, "reason": reason });
        events::append(
            &mut tx,
            now,
            &[need_event("need_declined", actor, &need, data)],
        );
        let answered = read_need(&mut tx, id).await?;
        events::commit(tx).await?;
        Ok(answered)
    }
}

/// One need with its structure's name and association, by id.
fn need_by_id() -> String {
    format!(
        "SELECT {NEED_COLUMNS} FROM needs n JOIN structures s ON s.id = n.structure_id WHERE n.id = $1"
    )
}

async fn read_need(tx: &mut WriteTx, id: i64) -> Result<Need> {
    let row = sqlx::query(&need_by_id())
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or(DomainError::NotFound("need"))?;
    need_from_row(&row)
}

/// The need, locked, if the caller answers for its structure (its own
/// association, or the coordinator for a structure without one): 404
/// otherwise, 409 `need_answered` once answered.
async fn answerable(
    store: &Store,
    tx: &mut WriteTx,
    reach: Reach,
    id: i64,
    answer: NeedAnswer,
) -> Result<Need> {
    let lock = format!("SELECT id FROM needs WHERE id = $1{}", store.for_update());
    sqlx::query(&lock)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    // Its structure may not move (nor its association change) before the
    // answer commits: the answer depends on it.
    let hold = format!(
        "SELECT s.id FROM structures s JOIN needs n ON n.structure_id = s.id WHERE n.id = $1{}",
        store.for_share()
    );
    sqlx::query(&hold)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let need = read_need(tx, id).await?;
    let answers = match (reach, need.parent_id) {
        (Reach::All, _) => true,
        (Reach::Subtree(_), None) => false,
        (reach, Some(parent)) => reach.answers_for(parent),
    };
    if !answers {
        return Err(DomainError::NotFound("need").into());
    }
    need::next(need.state, answer)?;
    Ok(need)
}

async fn mark_answered(
    tx: &mut WriteTx,
    need: &Need,
    state: NeedState,
    amount: Option<i64>,
    answer: Option<&str>,
    actor: &str,
    now: i64,
) -> Result<()> {
    let changed = sqlx::query(
        "UPDATE needs SET state = $1, approved_amount = $2, answer = $3, answered_by = $4, answered_at = $5 \
         WHERE id = $6 AND state = 'open'",
    )
    .bind(state.as_str())
    .bind(amount)
    .bind(answer.map(str::to_owned))
    .bind(actor.to_owned())
    .bind(now)
    .bind(need.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed == 1 {
        Ok(())
    } else {
        Err(DomainError::NeedAnswered(need.state).into())
    }
}
