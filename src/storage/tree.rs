//! The tree of structures in the database: a structure's line up to the
//! top, its subtree, and moving it under another parent. Reach checks run
//! inside the write's transaction, so a move cannot slip between the check
//! and the write.

use sqlx::Row;

use super::events::{self, EventInput};
use super::{Result, Store, WriteTx};
use crate::domain::DomainError;
use crate::domain::tree::{self, MAX_LEVELS, Reach};

/// Guards the recursive queries against a loop that should not exist.
const MAX_WALK: i64 = 8;

const ANCESTRY: &str = "WITH RECURSIVE up (id, parent_id, depth) AS ( \
    SELECT id, parent_id, CAST(0 AS BIGINT) FROM structures WHERE id = $1 \
    UNION ALL SELECT s.id, s.parent_id, up.depth + 1 FROM structures s JOIN up ON s.id = up.parent_id \
    WHERE up.depth < $2) SELECT id FROM up ORDER BY depth";

/// The structures of a subtree, the root first, with their depth below it.
pub(super) const SUBTREE: &str = "WITH RECURSIVE down (id, depth) AS ( \
    SELECT id, CAST(0 AS BIGINT) FROM structures WHERE id = $1 \
    UNION ALL SELECT s.id, down.depth + 1 FROM structures s JOIN down ON s.parent_id = down.id \
    WHERE down.depth < $2) SELECT id, depth FROM down";

/// A structure's line up to the top: itself, its parent, and so on. 404
/// `structure` when it does not exist.
pub(super) async fn ancestry(conn: &mut sqlx::AnyConnection, id: i64) -> Result<Vec<i64>> {
    let rows = sqlx::query(ANCESTRY)
        .bind(id)
        .bind(MAX_WALK)
        .fetch_all(&mut *conn)
        .await?;
    if rows.is_empty() {
        return Err(DomainError::NotFound("structure").into());
    }
    rows.iter().map(|r| Ok(r.try_get("id")?)).collect()
}

/// Levels of a structure's subtree: 1 for a structure without members.
async fn height(conn: &mut sqlx::AnyConnection, id: i64) -> Result<usize> {
    let rows = sqlx::query(SUBTREE)
        .bind(id)
        .bind(MAX_WALK)
        .fetch_all(&mut *conn)
        .await?;
    let deepest = rows
        .iter()
        .map(|r| r.try_get::<i64, _>("depth"))
        .collect::<std::result::Result<Vec<_>, _>>()?
        .into_iter()
        .max()
        .unwrap_or(0);
    Ok(usize::try_from(deepest).unwrap_or(MAX_LEVELS) + 1)
}

/// Refuses a parent that does not exist, is deactivated, or would put
/// `moved` (or a new structure) too deep or under itself: 422 on
/// `parent_id`.
pub(super) async fn check_new_parent(
    tx: &mut WriteTx,
    parent: i64,
    moved: Option<i64>,
) -> Result<()> {
    let line = match ancestry(&mut *tx, parent).await {
        Err(super::StorageError::Domain(DomainError::NotFound(_))) => {
            return Err(DomainError::validation("parent_id", "no such structure").into());
        }
        other => other?,
    };
    if super::structures::ensure_structure(tx, parent)
        .await?
        .is_some()
    {
        return Err(DomainError::validation("parent_id", "this structure is deactivated").into());
    }
    let h = match moved {
        Some(id) => height(&mut *tx, id).await?,
        None => 1,
    };
    Ok(tree::check_placement(&line, moved, h)?)
}

impl Store {
    /// Puts a structure under another parent (or none), in one transaction
    /// with its event. Its quota, vouchers and needs stay its own.
    pub async fn move_structure(
        &self,
        actor: &str,
        id: i64,
        parent: Option<i64>,
        now: i64,
    ) -> Result<super::Structure> {
        let mut tx = self.begin_write().await?;
        self.lock_tree(&mut tx).await?;
        let before = ancestry(&mut tx, id).await?.get(1).copied();
        if let Some(p) = parent {
            check_new_parent(&mut tx, p, Some(id)).await?;
        }
        sqlx::query("UPDATE structures SET parent_id = $1 WHERE id = $2")
            .bind(parent)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let event = EventInput {
            kind: "structure_moved",
            actor: actor.to_owned(),
            structure_id: Some(id),
            voucher_id: None,
            data: serde_json::json!({ "from_parent_id": before, "parent_id": parent }),
        };
        events::append(&mut tx, now, &[event]);
        events::commit(tx).await?;
        self.get_structure(id)
            .await?
            .ok_or_else(|| DomainError::NotFound("structure").into())
    }

    /// Whether `id` is within `reach` (and exists).
    pub async fn reaches(&self, reach: Reach, id: i64) -> Result<bool> {
        let mut conn = self.reader().acquire().await?;
        match ancestry(&mut conn, id).await {
            Ok(line) => Ok(reach.covers(&line)),
            Err(super::StorageError::Domain(DomainError::NotFound(_))) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The structures within reach (for a subtree, its root first).
    pub async fn structures_within(&self, reach: Reach) -> Result<Vec<super::Structure>> {
        let all = self.list_structures().await?;
        let Reach::Subtree(root) = reach else {
            return Ok(all);
        };
        let mut conn = self.reader().acquire().await?;
        let ids: Vec<i64> = sqlx::query(SUBTREE)
            .bind(root)
            .bind(MAX_WALK)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| r.try_get("id"))
            .collect::<std::result::Result<_, _>>()?;
        let mut within: Vec<_> = all.into_iter().filter(|s| ids.contains(&s.id)).collect();
        within.sort_by_key(|s| (s.id != root, s.id));
        Ok(within)
    }
}
