//! The service watching its own books: it signs checkpoints of the event
//! chain, and re-checks the audit invariants periodically. On a breach it
//! fails closed: issuing and redemption are refused (503 `integrity_hold`)
//! until an admin acknowledges the alarm.
//!
//! Acknowledging accepts the findings of the alarm as they are (an admin
//! who restored the database from a backup, or decided the difference is
//! explained); any new finding raises a new alarm. Alarms live in the
//! database, so every server on it halts, within one check interval.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tokio::sync::watch;

use crate::app::AppState;
use crate::audit::chain;
use crate::audit::snapshot::{CheckpointRow, Snapshot};
use crate::audit::verify::{self, Scope};
use crate::storage::StorageError;

/// How often the loop looks at the chain's head for a checkpoint.
const TICK: Duration = Duration::from_secs(1);

/// What one integrity check concluded.
#[derive(Debug)]
pub struct CheckResult {
    /// Findings not yet acknowledged.
    pub new_findings: usize,
    /// The alarm now open, if any.
    pub alarm_id: Option<i64>,
}

/// Checks every invariant `audit verify` checks, except the attestation
/// signatures (an Ed25519 verification per voucher is for the offline
/// audit). Raises an alarm for findings nobody acknowledged.
pub async fn check_once(state: &AppState) -> Result<CheckResult, StorageError> {
    // Waits its turn among the heavy audit requests, so that together they
    // never hold more than `max_concurrent_audits` copies of the books.
    // (The semaphore is never closed, so `acquire` cannot fail.)
    let _slot = state.audits.acquire().await.ok();
    let snapshot = state.store.audit_snapshot().await?;
    let scope = Scope {
        attestations: false,
    };
    let (_, outcome) = verify_aside(state, snapshot, scope).await?;
    let accepted = state.store.acknowledged_findings().await?;
    let new: Vec<serde_json::Value> = outcome
        .findings
        .iter()
        .filter(|f| !accepted.contains(&f.key()))
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
        for f in outcome
            .findings
            .iter()
            .filter(|f| !accepted.contains(&f.key()))
        {
            tracing::error!(alarm = id, "{f}");
        }
        alarm_id = Some(id);
    }
    state.integrity.set(alarm_id.is_some());
    Ok(CheckResult {
        new_findings: new.len(),
        alarm_id,
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
    tokio::task::spawn_blocking(move || {
        let outcome = verify::verify(&snapshot, keys.verifying_keys(), scope);
        (snapshot, outcome)
    })
    .await
    .map_err(|e| StorageError::Corrupt(format!("the verifier stopped: {e}")))
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

/// Runs checkpoints and integrity checks until `stop`.
pub async fn run_until_stopped(state: AppState, mut stop: watch::Receiver<bool>) {
    let check_every = Duration::from_secs(state.limits.integrity_check_secs.max(1));
    let checkpoint_every = Duration::from_secs(state.limits.checkpoint_interval_secs.max(1));
    let now = tokio::time::Instant::now();
    // The first check runs at once: a restarted server finds an open alarm.
    let mut next_check = now;
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
        if tokio::time::Instant::now() >= next_check {
            next_check = tokio::time::Instant::now() + check_every;
            if let Err(e) = check_once(&state).await {
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
