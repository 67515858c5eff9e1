//! The periodic check's state, carried from one run to the next, and the
//! incremental check that moves it forward. Its cost follows what changed
//! since the last check, not the size of the history.

use super::{CheckKind, CheckResult, aside, conclude, full_check};
use crate::app::AppState;
use crate::audit::Finding;
use crate::audit::incremental::{Doubt, Verified};
use crate::storage::StorageError;

/// What the periodic check carries from one run to the next: the books as
/// last verified (the replayed events, the ledger's running sums, the
/// chain's head), or nothing, and then the next check is a full one. It
/// holds the replayed events in memory, as a full check does while it
/// runs.
#[derive(Debug, Default)]
pub struct IncrementalState {
    verified: Option<Verified>,
}

impl IncrementalState {
    /// Nothing verified yet: the first check will be a full one.
    pub fn new() -> Self {
        Self::default()
    }

    /// The last event verified, if a check got that far.
    pub fn verified_seq(&self) -> Option<i64> {
        self.verified.as_ref().map(Verified::seq)
    }
}

/// A full check, from which the incremental checks then continue.
pub async fn check_full(
    state: &AppState,
    periodic: &mut IncrementalState,
) -> Result<CheckResult, StorageError> {
    // Whatever happens, the state carried so far is not the one to go on
    // from.
    periodic.verified = None;
    let (result, verified) = full_check(state, true).await?;
    periodic.verified = verified;
    Ok(result)
}

/// Checks what changed since the last verified point: the new events
/// continue the chain, they replay, and the rows they touch agree with
/// the replay. A full check instead when nothing is verified yet or the
/// state is in doubt. After an error the state is dropped, so the next
/// check is a full one: no event is ever let through unchecked.
pub async fn check_incremental(
    state: &AppState,
    periodic: &mut IncrementalState,
) -> Result<CheckResult, StorageError> {
    let Some(verified) = periodic.verified.take() else {
        return check_full(state, periodic).await;
    };
    match changes(state, verified).await? {
        Step::Checked(verified, findings) => {
            // Kept only once the findings are recorded: a failure to raise
            // the alarm must not move past them.
            let result = conclude(state, &findings, CheckKind::Incremental).await?;
            periodic.verified = Some(*verified);
            Ok(result)
        }
        Step::Doubt(doubt) => {
            tracing::warn!(%doubt, "incremental integrity check in doubt: running a full one");
            check_full(state, periodic).await
        }
    }
}

/// Where an incremental check got to.
enum Step {
    /// The state moved forward; these are the findings on the way.
    Checked(Box<Verified>, Vec<Finding>),
    Doubt(Doubt),
}

/// Reads the new events and the rows they touch in one snapshot, and
/// checks them on a blocking thread.
async fn changes(state: &AppState, mut verified: Verified) -> Result<Step, StorageError> {
    let mut read = state.store.changes_read().await?;
    let (events, unsealed) = read.events_from(verified.seq()).await?;
    let count = events.len();
    let (mut verified, touched) = aside(move || {
        let touched = verified.advance(&events, unsealed);
        (verified, touched)
    })
    .await?;
    let touched = match touched {
        Ok(touched) => touched,
        Err(doubt) => {
            read.finish().await?;
            return Ok(Step::Doubt(doubt));
        }
    };
    let rows = read.touched_rows(&touched).await?;
    read.finish().await?;
    let keys = state.keys.get();
    let (verified, findings) = aside(move || {
        let findings = verified.compare(&touched, &rows, keys.verifying_keys());
        (verified, findings)
    })
    .await?;
    tracing::debug!(
        events = count,
        seq = verified.seq(),
        findings = findings.len(),
        "incremental integrity check"
    );
    Ok(Step::Checked(Box::new(verified), findings))
}
