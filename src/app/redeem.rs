//! The operator's use cases: check a code, redeem or reserve it, confirm,
//! cancel or reverse a redemption.
//!
//! Every code goes through the same gate: the operator's rate; then
//! `verify_code`: format (precise errors), then authenticity (one opaque
//! `invalid_code`, counted as a failed attempt against the operator, its
//! line when named, and the deployment). A locked-out operator or a barred
//! line is refused by `check` before any work, by a redemption inside its
//! own transaction (the batched writer checks every operator and line it
//! carries) or, for a code that does not even read, before its precise
//! error, and by a failed attempt when it is recorded. No answer from a
//! barred line ever says more than `locked_out`. Writes go through the storage layer's
//! batched writer, and nobody is answered before its commit.

use governor::clock::{Clock as _, DefaultClock};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::issue::Retry;
use super::statement::{RedemptionView, view};
use super::{AppError, AppResult, AppState};
use crate::clock::rfc3339;
use crate::code::{self, CodeError, InvalidReason, Reference};
use crate::domain::minting::voucher_row_id;
use crate::domain::redemption::{RedemptionState, check_msisdn};
use crate::domain::{DomainError, MAX_REFERENCE_CHARS, Principal, VoucherState, check_text};
use crate::storage::write::{self, RecordFailure, Redeem};
use crate::storage::{
    FailureRecorded, Followup, IdempotencyClaim, Outcome, RedeemInput, RedeemMode,
    RedemptionRecord, StorageError, line_source, operator_source,
};

/// The operator a request speaks for: the token it came with, and the
/// network that token redeems for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OperatorCaller {
    pub token_id: i64,
    pub operator_id: i64,
}

impl OperatorCaller {
    /// The caller behind an operator token; every operator token names its
    /// operator (the schema refuses one that does not).
    pub fn of(principal: &Principal) -> AppResult<Self> {
        let operator_id = principal
            .operator_id
            .ok_or(AppError::Internal("an operator token without its operator"))?;
        let token_id = principal
            .token_id()
            .ok_or(AppError::Internal("an operator caller without a token"))?;
        Ok(Self {
            token_id,
            operator_id,
        })
    }
}

/// Who is trying a code: the operator's token and, when the operator named
/// the subscriber's number, the line (its failure-counter source).
struct Attempt {
    token_id: i64,
    msisdn_hash: Option<[u8; 32]>,
}

impl Attempt {
    /// `msisdn`, if given, must be E.164; only its keyed hash is kept.
    fn new(state: &AppState, token_id: i64, msisdn: Option<&str>) -> AppResult<Self> {
        let msisdn_hash = msisdn
            .map(|m| {
                check_msisdn(m)?;
                Ok::<_, DomainError>(state.keys.get().hash_msisdn(m))
            })
            .transpose()?;
        Ok(Self {
            token_id,
            msisdn_hash,
        })
    }

    /// The line's failure-counter source, if the number was given.
    fn line(&self) -> Option<String> {
        self.msisdn_hash.as_ref().map(line_source)
    }
}

/// Refuses a barred line, and with `operator` a locked-out operator, in one
/// read. A redemption leaves both to its batch, which checks them inside
/// its transaction, and asks here only for a code that does not read.
async fn refuse_locked_out(state: &AppState, attempt: &Attempt, operator: bool) -> AppResult<()> {
    let operator_name = operator.then(|| operator_source(attempt.token_id));
    let line = attempt.line();
    let sources: Vec<&str> = [operator_name.as_deref(), line.as_deref()]
        .into_iter()
        .flatten()
        .collect();
    match state.store.locked_for(&sources, state.now()).await? {
        Some(secs) => Err(DomainError::LockedOut {
            retry_after_secs: secs,
        }
        .into()),
        None => Ok(()),
    }
}

/// Refuses a too-busy operator before any work.
fn admit(state: &AppState, token_id: i64) -> AppResult<()> {
    if let Err(not_until) = state.operator_limiter.check_key(&token_id) {
        state.metrics.rate_limited.inc();
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(AppError::RateLimited {
            retry_after_secs: wait.as_secs() + 1,
            detail: "too many requests from this operator",
        });
    }
    Ok(())
}

/// A genuine code of another network: answered and counted exactly as a
/// forged one (no network learns of another's codes), and logged as what
/// it is, with the serial and never the code.
async fn wrong_network(
    state: &AppState,
    attempt: &Attempt,
    caller: OperatorCaller,
    voucher: Reference,
) -> AppError {
    tracing::warn!(
        operator = caller.operator_id,
        token = caller.token_id,
        serial = %voucher,
        "wrong-network attempt: a genuine code of another network"
    );
    failed_attempt(state, attempt, Some(voucher)).await
}

/// Counts a failed attempt; answers `invalid_code`, or `locked_out` once the
/// line or the operator was barred before it.
async fn failed_attempt(
    state: &AppState,
    attempt: &Attempt,
    claimed: Option<Reference>,
) -> AppError {
    state.metrics.invalid_codes.inc();
    let token_id = attempt.token_id;
    // The serial the code claimed, never the code; the line's hash prefix,
    // never its number.
    let serial = claimed.map(|v| v.to_string()).unwrap_or_default();
    let full_line = attempt.line();
    let line = full_line.as_deref().map(|l| l.get(..13).unwrap_or(l));
    tracing::warn!(operator = token_id, %serial, line, "invalid code");
    let op = RecordFailure {
        source: operator_source(token_id),
        policy: state.limits.lockout_policy(),
        line: full_line.clone().map(|l| (l, state.limits.line_policy())),
    };
    match state.store.submit(op, state.now()).await {
        Ok(FailureRecorded::Counted {
            operator_secs,
            line_secs,
        }) => {
            if let Some(secs) = operator_secs {
                tracing::warn!(
                    operator = token_id,
                    lockout_secs = secs,
                    "operator locked out"
                );
            }
            if let Some(secs) = line_secs {
                state.metrics.lines_barred.inc();
                tracing::warn!(operator = token_id, line, bar_secs = secs, "line barred");
            }
            DomainError::InvalidCode.into()
        }
        Ok(FailureRecorded::AlreadyLocked(secs) | FailureRecorded::LineBarred(secs)) => {
            DomainError::LockedOut {
                retry_after_secs: secs,
            }
            .into()
        }
        Err(e) => e.into(),
    }
}

/// Steps 1–7 of the code format, or 1–6 of the PIN format, whichever was
/// sent: a precise answer for a malformed code or a typo, one opaque answer
/// for anything inauthentic.
async fn verify_code(state: &AppState, attempt: &Attempt, typed: &str) -> AppResult<Reference> {
    let parsed = match code::read(typed) {
        Ok(parsed) => parsed,
        Err(CodeError::Checksum) => {
            if state.typo_limiter.check_key(&attempt.token_id).is_err() {
                state.metrics.rate_limited.inc();
                return Err(AppError::RateLimited {
                    retry_after_secs: 60,
                    detail: "too many mistyped codes from this operator",
                });
            }
            return Err(CodeError::Checksum.into());
        }
        Err(e) => return Err(e.into()),
    };
    match state.keys.get().verify(&parsed) {
        Ok(voucher) => Ok(voucher),
        Err(CodeError::Invalid(InvalidReason::UnknownKey)) => {
            unknown_key(state, attempt, &parsed).await
        }
        Err(_) => Err(failed_attempt(state, attempt, Some(parsed.reference())).await),
    }
}

/// A code under a key this process does not hold: another server on the
/// same database may have rotated. The key file is read again (at most
/// once a second) and the code tried once more. Still unknown, it is
/// refused like any invalid code but not counted against the line or the
/// operator: without its key no guess can verify, so nothing is being
/// guessed, and a subscriber whose code is simply newer than this server
/// is not barred for it.
async fn unknown_key(
    state: &AppState,
    attempt: &Attempt,
    parsed: &crate::code::Typed,
) -> AppResult<Reference> {
    let holder = state.clone();
    let now = state.now();
    let reloaded = tokio::task::spawn_blocking(move || holder.keys.reload(now))
        .await
        .map_err(|_| AppError::Internal("key reload failed"))?;
    match reloaded {
        Ok(Some(fresh)) => {
            tracing::info!("key file read again: keys rotated elsewhere are in use here");
            if let Ok(voucher) = fresh.verify(parsed) {
                return Ok(voucher);
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "key file could not be read again"),
    }
    state.metrics.invalid_codes.inc();
    tracing::warn!(
        operator = attempt.token_id,
        serial = %parsed.reference(),
        "invalid code: its key is unknown here; not counted against the line"
    );
    Err(DomainError::InvalidCode.into())
}

/// What a code is worth and whether it can be redeemed now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CheckAnswer {
    pub serial: String,
    pub product: String,
    pub resource: String,
    pub amount: i64,
    /// Days the top-up stays usable on the line once credited.
    pub validity_days: i64,
    pub state: VoucherState,
    /// Whether a redemption now would succeed (beneficiary caps aside).
    pub redeemable: bool,
    pub expires_at: String,
}

/// What a code is worth and whether it can be redeemed now. Changes
/// nothing but the failure counts, when the code is not valid; with the
/// subscriber's number, its line's count too, and a barred line is refused.
pub async fn check(
    state: &AppState,
    caller: OperatorCaller,
    typed: &str,
    msisdn: Option<&str>,
) -> AppResult<CheckAnswer> {
    let token_id = caller.token_id;
    let attempt = Attempt::new(state, token_id, msisdn)?;
    refuse_locked_out(state, &attempt, true).await?;
    admit(state, token_id)?;
    let voucher = verify_code(state, &attempt, typed).await?;
    state.metrics.voucher_lookups.inc();
    let Some(facts) = state
        .store
        .voucher_facts(voucher_row_id(voucher), state.now())
        .await?
    else {
        return Err(failed_attempt(state, &attempt, Some(voucher)).await);
    };
    if facts.operator_id != caller.operator_id {
        return Err(wrong_network(state, &attempt, caller, voucher).await);
    }
    Ok(CheckAnswer {
        serial: voucher.to_string(),
        product: facts.product,
        resource: facts.resource,
        amount: facts.amount,
        validity_days: facts.validity_days,
        state: facts.state,
        redeemable: facts.state == VoucherState::Issued,
        expires_at: rfc3339(facts.expires_at),
    })
}

/// A redemption as the operator sent it (checked here).
#[derive(Debug, Clone, Copy)]
pub struct RedeemOrder<'a> {
    pub code: &'a str,
    /// E.164; only a keyed hash of it is stored.
    pub msisdn: &'a str,
    pub operator_ref: Option<&'a str>,
    pub mode: RedeemMode,
}

/// Redeems a code, or reserves it for `--hold-secs`.
pub async fn redeem(
    state: &AppState,
    caller: OperatorCaller,
    order: RedeemOrder<'_>,
    retry: Option<Retry>,
) -> AppResult<RedemptionView> {
    let token_id = caller.token_id;
    state.ensure_integrity()?;
    // The rate first: it costs no read, so a flood is refused for free.
    admit(state, token_id)?;
    let attempt = Attempt::new(state, token_id, Some(order.msisdn))?;
    // A barred line is refused by the writer, inside its transaction, so a
    // genuine code costs no read of its own here; a forged one is refused
    // when its failure is recorded. Only a code that does not even read
    // (a typo) asks for the line's bar first.
    let voucher = match verify_code(state, &attempt, order.code).await {
        Err(AppError::Code(e)) if !matches!(e, CodeError::Invalid(_)) => {
            refuse_locked_out(state, &attempt, false).await?;
            return Err(e.into());
        }
        other => other?,
    };
    let operator_ref = check_text("operator_ref", order.operator_ref, MAX_REFERENCE_CHARS)?;
    let input = RedeemInput {
        operator_token_id: token_id,
        operator_id: caller.operator_id,
        voucher_id: voucher_row_id(voucher),
        msisdn_hash: attempt.msisdn_hash.unwrap_or_default(),
        operator_ref,
        mode: order.mode,
        hold_secs: state.limits.hold_secs,
        caps: state.limits.beneficiary_caps.clone(),
        idempotency: retry.map(|(key, fingerprint)| IdempotencyClaim {
            scope: operator_source(token_id),
            key,
            fingerprint,
        }),
        line: attempt.line(),
    };
    state.metrics.voucher_lookups.inc();
    let outcome = state.store.submit(Redeem(input), state.now()).await;
    let record = answer(state, &attempt, caller, outcome, Some(voucher)).await?;
    tracing::info!(operator = token_id, serial = %voucher, state = RedemptionState::public_name(record.state), "redemption");
    view(&record)
}

/// What an operator does with a redemption it made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUp {
    /// Credit the line of a reserved code.
    Confirm,
    /// Release a reserved code.
    Cancel,
    /// Undo a redemption within the reversal window.
    Reverse,
}

/// Confirms, cancels or reverses one of the operator's redemptions, named
/// by its id as sent. Repeating one that happened answers the same.
pub async fn follow_up(
    state: &AppState,
    caller: OperatorCaller,
    id: &str,
    action: FollowUp,
) -> AppResult<RedemptionView> {
    // A confirm moves value; a cancel or a reversal gives it back, which
    // an integrity hold must not prevent.
    if action == FollowUp::Confirm {
        state.ensure_integrity()?;
    }
    let id: i64 = id.parse().map_err(|_| AppError::NotFound("redemption"))?;
    let action = match action {
        FollowUp::Confirm => Followup::Confirm,
        FollowUp::Cancel => Followup::Cancel,
        FollowUp::Reverse => Followup::Reverse {
            window_secs: state.limits.reversal_window_secs,
        },
    };
    let token_id = caller.token_id;
    let op = write::FollowUp {
        operator_token_id: token_id,
        operator_id: caller.operator_id,
        redemption_id: id,
        action,
    };
    let outcome = state.store.submit(op, state.now()).await;
    let attempt = Attempt {
        token_id,
        msisdn_hash: None,
    };
    let record = answer(state, &attempt, caller, outcome, None).await?;
    view(&record)
}

/// Turns a writer outcome into an answer.
async fn answer(
    state: &AppState,
    attempt: &Attempt,
    caller: OperatorCaller,
    outcome: Result<Outcome, StorageError>,
    voucher: Option<Reference>,
) -> AppResult<RedemptionRecord> {
    match outcome? {
        Outcome::Done(r) | Outcome::Replay(r) => Ok(r),
        Outcome::Refused(DomainError::InvalidCode) => {
            Err(failed_attempt(state, attempt, voucher).await)
        }
        Outcome::Refused(DomainError::WrongNetwork) => match voucher {
            Some(voucher) => Err(wrong_network(state, attempt, caller, voucher).await),
            None => Err(failed_attempt(state, attempt, None).await),
        },
        Outcome::Refused(e) => Err(e.into()),
    }
}
