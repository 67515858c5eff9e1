//! A voucher's history as its events tell it: what happened, when, who
//! did it (with the person's name when it was a person) and why.

use sqlx::Row;

use super::{Result, Store};

/// One event of a voucher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryEntry {
    /// `issue`, `void`, `redeem`, `expire`…
    pub kind: String,
    pub at: i64,
    /// As events name actors: `account:7`, `structure:3`, `system`…
    pub actor: String,
    /// The display name of the account that acted, if a person did.
    pub person: Option<String>,
    /// The reason given for a void of a whole lot.
    pub reason: Option<String>,
}

impl Store {
    /// The events of voucher `voucher_id`, oldest first.
    pub async fn voucher_history(&self, voucher_id: i64) -> Result<Vec<HistoryEntry>> {
        let rows = sqlx::query(
            "SELECT e.kind, e.at, e.actor, e.data, a.display_name FROM events e \
             LEFT JOIN accounts a ON e.actor = 'account:' || a.id \
             WHERE e.voucher_id = $1 ORDER BY e.id",
        )
        .bind(voucher_id)
        .fetch_all(self.reader())
        .await?;
        rows.iter()
            .map(|r| {
                let data: String = r.try_get("data")?;
                let reason = serde_json::from_str::<serde_json::Value>(&data)
                    .ok()
                    .and_then(|d| d.get("reason").and_then(|v| v.as_str()).map(str::to_owned));
                Ok(HistoryEntry {
                    kind: r.try_get("kind")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    person: r.try_get("display_name")?,
                    reason,
                })
            })
            .collect()
    }
}

impl Store {
    /// Records that `actor` printed these vouchers of the structure (shown
    /// their codes): one `print` event each, so that a voucher's history
    /// says who printed it, and reprints of lost sheets are on record.
    pub async fn record_print(
        &self,
        actor: &str,
        structure_id: i64,
        voucher_ids: &[i64],
        now: i64,
    ) -> Result<()> {
        if voucher_ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        let events: Vec<(i64, serde_json::Value)> = voucher_ids
            .iter()
            .map(|id| (*id, serde_json::json!({})))
            .collect();
        super::events::append_voucher_events(&mut tx, now, "print", actor, structure_id, &events);
        super::events::commit(tx).await?;
        Ok(())
    }
}
