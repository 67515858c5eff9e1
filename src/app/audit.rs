//! The auditor's heavy reads: the period report (the books replayed and
//! checked, then summed over the period) and the reconciliation of an
//! operator's statement. Each takes one of `--max-concurrent-audits`
//! places, so together they never hold more than that many copies of the
//! books.

use std::collections::BTreeSet;
use std::sync::Arc;

use tokio::sync::OwnedSemaphorePermit;

pub use super::period;
use super::{AppError, AppResult, AppState};
use crate::audit::Finding;
use crate::audit::reconcile::{self, Discrepancy, Line};
use crate::audit::report::{self, ReportRow};
use crate::audit::snapshot::Snapshot;
use crate::audit::verify::{self, Scope};
use crate::storage::StorageError;

/// How long a client refused a place for heavy audit work should wait.
const AUDIT_BUSY_RETRY_SECS: u64 = 5;

/// A place among the heavy audit reads that may run at once; held until
/// dropped.
#[derive(Debug)]
pub struct AuditPlace(#[allow(dead_code)] OwnedSemaphorePermit);

/// Takes a place for heavy audit work. None left: refused at once, rather
/// than a queue of requests each holding memory.
pub fn take_place(state: &AppState) -> AppResult<AuditPlace> {
    Arc::clone(&state.audits)
        .try_acquire_owned()
        .map(AuditPlace)
        .map_err(|_| AppError::Busy {
            retry_after_secs: AUDIT_BUSY_RETRY_SECS,
            detail: "too many audit reports and reconciliations are running; try again shortly",
        })
}

/// Runs the verifier on a blocking thread and gives the snapshot back: the
/// replay is CPU work in proportion to the whole log, and on the async
/// workers it would stall every request they carry until it ends.
pub async fn verify_aside(
    state: &AppState,
    snapshot: Snapshot,
    scope: Scope,
) -> Result<(Snapshot, verify::Outcome), StorageError> {
    let keys = state.keys.get();
    aside(move || {
        let outcome = verify::verify(&snapshot, keys.verifying_keys(), scope);
        (snapshot, outcome)
    })
    .await
}

/// Runs audit work on a blocking thread, off the async workers.
pub async fn aside<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, StorageError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Corrupt(format!("the verifier stopped: {e}")))
}

/// The invariants the report states, by the prefixes of the checks that
/// would break them.
const INVARIANTS: [(&str, &[&str]); 7] = [
    ("event_chain_intact", &["chain.", "event."]),
    ("checkpoints_verify", &["checkpoint."]),
    (
        "balances_equal_events",
        &[
            "balance.granted",
            "balance.issued",
            "balance.returned",
            "balance.lapsed",
        ],
    ),
    ("no_negative_balance", &["balance.negative"]),
    ("ledger_sums_equal_balances", &["ledger.", "bucket."]),
    ("vouchers_match_events", &["voucher.", "attestation."]),
    ("redemptions_match_events", &["redemption."]),
];

/// The period report: the rows, each invariant with how many findings
/// break it, and the findings.
#[derive(Debug)]
pub struct PeriodReport {
    pub from: i64,
    pub to: i64,
    pub rows: Vec<ReportRow>,
    /// The rows added up per association (a structure with members).
    pub associations: Vec<ReportRow>,
    /// Name and number of findings; `period_adds_up` last.
    pub invariants: Vec<(&'static str, usize)>,
    pub findings: Vec<Finding>,
}

/// Per structure and resource, what happened over `[from, to)`, with every
/// invariant checked on the books as they stand now.
pub async fn report(
    state: &AppState,
    from: Option<&str>,
    to: Option<&str>,
) -> AppResult<PeriodReport> {
    let (from, to) = period(from, to, state.now())?;
    let snapshot = state.store.audit_snapshot().await?;
    let scope = Scope {
        attestations: false,
    };
    let (snapshot, outcome) = verify_aside(state, snapshot, scope).await?;
    let mut chain: Vec<_> = snapshot.events.iter().filter(|e| e.seq.is_some()).collect();
    chain.sort_by_key(|e| e.seq);
    let report::PeriodRows { rows, associations } =
        report::period_with_associations(&chain, from, to);
    let mut invariants: Vec<(&'static str, usize)> = INVARIANTS
        .iter()
        .map(|(name, prefixes)| {
            let breaking = outcome
                .findings
                .iter()
                .filter(|f| prefixes.iter().any(|p| f.check.starts_with(p)))
                .count();
            (*name, breaking)
        })
        .collect();
    let unbalanced = rows.iter().filter(|r| !r.balances()).count();
    invariants.push(("period_adds_up", unbalanced));
    Ok(PeriodReport {
        from,
        to,
        rows,
        associations,
        invariants,
        findings: outcome.findings,
    })
}

/// An operator's statement against the redemptions recorded here.
#[derive(Debug)]
pub struct Reconciliation {
    pub from: i64,
    pub to: i64,
    pub statement_lines: usize,
    pub redemptions_here: usize,
    pub matched: usize,
    pub discrepancies: Vec<Discrepancy>,
}

/// Reconciles `statement` (the CSV the operator's statement exports) with
/// the redemptions of `operator_id` (all operators if none) over
/// `[from, to)`, both ways.
pub async fn reconcile(
    state: &AppState,
    (from, to): (i64, i64),
    operator_id: Option<i64>,
    statement: &[u8],
) -> AppResult<Reconciliation> {
    let text = std::str::from_utf8(statement)
        .map_err(|_| AppError::invalid("body", "a UTF-8 CSV statement"))?;
    let theirs: Vec<Line> = reconcile::parse_statement(text, state.limits.max_statement_lines)
        .map_err(|e| AppError::invalid("body", e.to_string()))?;
    let here = state.store.statement_lines(from, to, operator_id).await?;
    let discrepancies = reconcile::reconcile(&here, &theirs);
    let mismatched: BTreeSet<i64> = discrepancies.iter().map(|d| d.redemption_id).collect();
    let matched = theirs
        .iter()
        .filter(|l| !mismatched.contains(&l.redemption_id))
        .count();
    Ok(Reconciliation {
        from,
        to,
        statement_lines: theirs.len(),
        redemptions_here: here.len(),
        matched,
        discrepancies,
    })
}
