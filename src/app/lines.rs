//! Subscriber lines: lifting a bar. A line is barred after too many
//! invalid codes (`domain::lockout`); the person behind it may have
//! mistyped a real code several times, and asks a structure for help. The
//! coordinator lifts the bar at once, with a reason, on the audit chain;
//! the number itself is only ever kept as its keyed hash.

use super::AppResult;
use crate::code::KeySet;
use crate::domain::check_text;
use crate::domain::redemption::check_msisdn;
use crate::storage::{LineUnbarred, Store};

/// Longest reason for lifting a line's bar.
pub const MAX_UNBAR_REASON_CHARS: usize = 200;

/// Lifts the bar of the line `msisdn` (E.164) and forgets its failures.
/// `None`: the line had neither a bar nor a failure; nothing changed.
/// The line is named by the keyed hash `keys` make of its number.
pub async fn unbar(
    store: &Store,
    keys: &KeySet,
    now: i64,
    actor: &str,
    line: (&str, &str),
) -> AppResult<Option<LineUnbarred>> {
    let (msisdn, reason) = line;
    check_msisdn(msisdn)?;
    let reason = check_text("reason", Some(reason), MAX_UNBAR_REASON_CHARS)?
        .ok_or_else(|| crate::domain::DomainError::validation("reason", "must not be empty"))?;
    let hash = keys.hash_msisdn(msisdn);
    let lifted = store.unbar_line(actor, &hash, &reason, now).await?;
    // The line is named by the first bytes of its hash only, as the logs
    // never carry a number.
    let line = hex::encode(hash.get(..4).unwrap_or_default());
    match lifted {
        Some(l) => tracing::info!(
            line,
            was_barred = l.was_barred_for_secs.is_some(),
            "line unbarred"
        ),
        None => tracing::info!(line, "unbar asked for a line with nothing to lift"),
    }
    Ok(lifted)
}
