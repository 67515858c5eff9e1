//! The service watching its own books: it signs checkpoints of the event
//! chain, and re-checks the audit invariants periodically. On a breach it
//! fails closed: issuing and redemption are refused (503 `integrity_hold`)
//! until an admin acknowledges the alarm.
//!
//! The periodic check is incremental ([`check_incremental`]): the events
//! since the last verified point, and the rows they touch. A full check
//! (every event, every row) runs at start, on its own slower schedule, when
//! the incremental state is in doubt, and when an admin asks
//! ([`check_once`]).
//!
//! Acknowledging accepts the findings of the alarm as they are (an admin
//! who restored the database from a backup, or decided the difference is
//! explained); any new finding raises a new alarm. Alarms live in the
//! database, so every server on it halts, within one check interval.

mod periodic;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::watch;

use crate::app::AppState;
use crate::app::audit::aside;
use crate::audit::Finding;
use crate::audit::chain;
use crate::audit::incremental::Verified;
use crate::audit::snapshot::CheckpointRow;
use crate::audit::verify::{self, Scope};
use crate::storage::StorageError;

pub use periodic::{IncrementalState, check_full, check_incremental};

/// How often the loop looks at the chain's head for a checkpoint.
const TICK: Duration = Duration::from_secs(1);

/// What the service's own checks verify: everything `audit verify` does,
/// except the attestation signatures (an Ed25519 verification per voucher
/// is for the offline audit).
const SCOPE: Scope = Scope {
    attestations: false,
};

/// Which kind of check ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// Every event replayed, every row compared.
    Full,
    /// The events since the last verified point, and the rows they touch.
    Incremental,
}

/// What one integrity check concluded.
#[derive(Debug)]
pub struct CheckResult {
    /// Findings not yet acknowledged.
    pub new_findings: usize,
    /// The alarm now open, if any.
    pub alarm_id: Option<i64>,
    pub kind: CheckKind,
}

/// A full check: every invariant `audit verify` checks, except the
/// attestation signatures. Raises an alarm for findings nobody
/// acknowledged.
pub async fn check_once(state: &AppState) -> Result<CheckResult, StorageError> {
    Ok(full_check(state, false).await?.0)
}

/// A full check; with `keep`, also the books it verified, for incremental
/// checks to continue from.
async fn full_check(
    state: &AppState,
    keep: bool,
) -> Result<(CheckResult, Option<Verified>), StorageError> {
    // Waits its turn among the heavy audit requests, so that together they
    // never hold more than `max_concurrent_audits` copies of the books.
    // (The semaphore is never closed, so `acquire` cannot fail.)
    let slot = state.audits.acquire().await.ok();
    let snapshot = state.store.audit_snapshot().await?;
    let keys = state.keys.get();
    let (outcome, verified) = aside(move || {
        let (outcome, replay) = verify::verify_books(&snapshot, keys.verifying_keys(), SCOPE);
        let verified = keep.then(|| Verified::after_full(&snapshot, replay, &outcome));
        (outcome, verified)
    })
    .await?;
    drop(slot);
    let result = conclude(state, &outcome.findings, CheckKind::Full).await?;
    Ok((result, verified))
}

/// Raises an alarm for the findings nobody acknowledged (unless one is
/// open already), and closes or opens the gate accordingly.
async fn conclude(
    state: &AppState,
    findings: &[Finding],
    kind: CheckKind,
) -> Result<CheckResult, StorageError> {
    let accepted = state.store.acknowledged_findings().await?;
    let unaccepted: Vec<&Finding> = findings
        .iter()
        .filter(|f| !accepted.contains(&f.key()))
        .collect();
    let new: Vec<serde_json::Value> = unaccepted
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            if let Some(o) = v.as_object_mut() {
                o.insert("key".into(), f.key().into());
            }
            v
        })
        .collect();
    let mut alarm_id = state.store.open_alarm().await?.map(|a| a.id);
    if !new.is_empty() && alarm_id.is_none() {
        let findings = serde_json::Value::Array(new.clone()).to_string();
        let id = state.store.raise_alarm(&findings, state.now()).await?;
        tracing::error!(
            alarm = id,
            findings = new.len(),
            "integrity breach: issuing and redemption halted until an admin acknowledges"
        );
        for f in &unaccepted {
            tracing::error!(alarm = id, "{f}");
        }
        alarm_id = Some(id);
    }
    state.integrity.set(alarm_id.is_some());
    Ok(CheckResult {
        new_findings: new.len(),
        alarm_id,
        kind,
    })
}

/// What acknowledging the open alarms did.
#[derive(Debug)]
pub struct Acknowledgement {
    /// How many alarms were closed.
    pub acknowledged: u64,
    /// Whether issuing and redemption are still halted: the check, run
    /// again at once, found something not yet acknowledged.
    pub halted: bool,
}

/// Acknowledges the open alarms in `actor`'s name: their findings are
/// accepted as they are. A full check runs at once, so that issuing and
/// redemption resume only if nothing new is found.
pub async fn acknowledge(state: &AppState, actor: &str) -> Result<Acknowledgement, StorageError> {
    let acknowledged = state.store.acknowledge_alarms(actor, state.now()).await?;
    let result = check_once(state).await?;
    Ok(Acknowledgement {
        acknowledged,
        halted: result.alarm_id.is_some(),
    })
}

/// Signs a checkpoint of the chain's head if enough events followed the
/// last one, or `due` says the interval is over. Answers the signed seq.
pub async fn checkpoint_once(state: &AppState, due: bool) -> Result<Option<i64>, StorageError> {
    let (seq, hash, last) = state.store.chain_status().await?;
    let pending = seq - last;
    if pending <= 0 || !(due || pending >= state.limits.checkpoint_every_events) {
        return Ok(None);
    }
    let hash = chain::from_hex(&hash)
        .ok_or_else(|| StorageError::Corrupt("chain head hash is not hex".into()))?;
    let keys = state.keys.get();
    let signed = chain::sign_checkpoint(keys.signing_key(), seq, hash, state.now());
    state
        .store
        .add_checkpoint(&CheckpointRow {
            seq,
            hash: chain::to_hex(&signed.hash),
            at: signed.at,
            key_id: i64::from(signed.key_id),
            signature: URL_SAFE_NO_PAD.encode(signed.signature),
        })
        .await?;
    Ok(Some(seq))
}

/// Runs checkpoints and integrity checks until `stop`: an incremental
/// check every `integrity_check_secs`, a full one every
/// `full_integrity_check_secs` instead.
pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let check_every = Duration::from_secs(state.limits.integrity_check_secs.max(1));
    let full_every = Duration::from_secs(state.limits.full_integrity_check_secs.max(1));
    let checkpoint_every = Duration::from_secs(state.limits.checkpoint_interval_secs.max(1));
    let now = tokio::time::Instant::now();
    // The first check runs at once, and is a full one (nothing is verified
    // yet): a restarted server finds an open alarm.
    let mut periodic = IncrementalState::new();
    let mut next_check = now;
    let mut next_full = now + full_every;
    let mut next_checkpoint = now + checkpoint_every;
    loop {
        let due = tokio::time::Instant::now() >= next_checkpoint;
        match checkpoint_once(&state, due).await {
            Ok(Some(_)) => next_checkpoint = tokio::time::Instant::now() + checkpoint_every,
            Ok(None) if due => next_checkpoint = tokio::time::Instant::now() + checkpoint_every,
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "checkpoint of the event chain failed; will retry")
            }
        }
        let now = tokio::time::Instant::now();
        if now >= next_check {
            next_check = now + check_every;
            let checked = if now >= next_full {
                next_full = now + full_every;
                check_full(&state, &mut periodic).await
            } else {
                check_incremental(&state, &mut periodic).await
            };
            if let Err(e) = checked {
                tracing::error!(error = %e, "integrity check failed to run; will retry");
            }
        }
        tokio::select! {
            _ = stop.wait_for(|&s| s) => break,
            () = tokio::time::sleep(TICK) => {}
        }
    }
    // Sign the head on the way out: what this server wrote is covered.
    if let Err(e) = checkpoint_once(&state, true).await {
        tracing::warn!(error = %e, "final checkpoint of the event chain failed");
    }
}
