//! The audit: a tamper-evident event log and everything an auditor checks
//! against it.
//!
//! Pure, like the domain: no SQL, no HTTP, no clock. Storage hands it rows;
//! it answers with findings and reports.
//!
//! - [`chain`] — the hash chain over events and the signed checkpoints.
//! - [`snapshot`] — the rows an audit reads, and the export's line format.
//! - [`replay`] — the tables rebuilt from the events alone.
//! - [`verify`] — every check of `audit verify`, as a list of findings.
//! - [`incremental`] — the same checks carried forward from a verified
//!   point of the chain, over only what changed since.
//! - [`report`] — per structure and resource, what happened in a period.
//! - [`reconcile`] — an operator's statement against the redemptions here.

pub mod chain;
pub mod donor_report;
pub mod incremental;
mod networks;
pub mod people;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod snapshot;
pub mod tree;
pub mod verify;

use serde::Serialize;

/// One inconsistency: which check failed, on which row, and by how much.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// A stable name for the check: `chain.hash`, `balance.granted`, …
    pub check: &'static str,
    /// The table the row is in.
    pub table: &'static str,
    /// The row: its key, as `seq 12`, `id 5`, `serial 1EPM-BWHX`, …
    pub row: String,
    pub detail: String,
    /// What the events (or the signature) say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// What the row says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found: Option<String>,
    /// `found - expected`, for amounts and counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta: Option<i64>,
}

impl Finding {
    pub fn new(check: &'static str, table: &'static str, row: String, detail: String) -> Self {
        Self {
            check,
            table,
            row,
            detail,
            expected: None,
            found: None,
            delta: None,
        }
    }

    /// Records the two values that differ.
    pub fn values(mut self, expected: impl ToString, found: impl ToString) -> Self {
        self.expected = Some(expected.to_string());
        self.found = Some(found.to_string());
        self
    }

    /// Records two amounts that differ, and their difference.
    pub fn amounts(self, expected: i64, found: i64) -> Self {
        let mut f = self.values(expected, found);
        f.delta = Some(found.saturating_sub(expected));
        f
    }

    /// A stable identity of the finding (check and row), to remember which
    /// ones an admin acknowledged.
    /// It includes the delta (or the value found), so the same row drifting
    /// further is a new finding.
    pub fn key(&self) -> String {
        let amount = self
            .delta
            .map(|d| d.to_string())
            .or_else(|| self.found.clone())
            .unwrap_or_default();
        format!("{} {} {} {amount}", self.check, self.table, self.row)
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<24} {} {}: {}",
            self.check, self.table, self.row, self.detail
        )?;
        if let (Some(e), Some(found)) = (&self.expected, &self.found) {
            write!(f, " (expected {e}, found {found}")?;
            if let Some(d) = self.delta {
                write!(f, ", delta {d:+}")?;
            }
            write!(f, ")")?;
        }
        Ok(())
    }
}
