//! What a redemption request leads to: pure decisions from what storage
//! read under its locks and the clock. Storage reads the facts, asks here,
//! and applies the answer; the set-based path and the general path ask the
//! same questions, so they cannot disagree on a rule.
//!
//! Each change a decision asks for is a row of
//! [`lifecycle::REDEMPTION_TRANSITIONS`], with the voucher's states before
//! and after taken from the voucher table.

use super::DomainError;
use super::lifecycle::{self, RedemptionAction, RedemptionMove, VoucherState, redemption_move};
use super::redemption::{RedeemMode, RedemptionState, month_of};

/// A voucher as read, under its lock, for a redemption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoucherAtRedeem {
    pub stored: VoucherState,
    /// The hold of its reserved redemption, if any. The set-based path does
    /// not read it: a reserved code is never in the common case, whatever
    /// its hold says (see [`RedeemDecision::common_case`]).
    pub hold_expires_at: Option<i64>,
    pub expires_at: i64,
    /// A beneficiary cap applies to the product's family.
    pub capped: bool,
}

/// A change to a voucher and its redemption, as one table row.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub step: &'static RedemptionMove,
    pub voucher_from: VoucherState,
    pub voucher_to: VoucherState,
}

impl Change {
    /// The table's move for `action` from `from`, with its voucher states;
    /// `Err` names the voucher state when the tables have no such move.
    fn of(action: RedemptionAction, from: Option<RedemptionState>) -> Result<Self, VoucherState> {
        let step =
            redemption_move(action, from).ok_or_else(|| lifecycle::voucher_state_while(from))?;
        let (voucher_from, voucher_to) = step.voucher_change()?;
        Ok(Self {
            step,
            voucher_from,
            voucher_to,
        })
    }
}

/// A redemption to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewRedemption {
    pub change: Change,
    pub created_at: i64,
    pub hold_expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
    /// The calendar month beneficiary caps count it in.
    pub period: i64,
    /// It counts against the beneficiary's cap, which storage reads under
    /// its lock and asks [`super::redemption::BeneficiaryCap::admit`].
    pub capped: bool,
}

/// What a redeem or reserve request answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedeemVerdict {
    Refused(DomainError),
    Create(NewRedemption),
}

/// What a redeem or reserve request does: first what the clock has already
/// decided (a hold that ran out, a date that passed), then the verdict.
/// Those first writes are kept even when the verdict is a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedeemDecision {
    /// The voucher's reserved redemption ran out of hold: time it out.
    pub time_out_hold: bool,
    /// The voucher is past its date but not recorded expired: expire it.
    pub record_expiry: bool,
    pub verdict: RedeemVerdict,
}

impl RedeemDecision {
    /// The redemption to create when nothing else is to be done: no write
    /// first, no cap to count. This is what the set-based path applies; it
    /// leaves anything else to the general path.
    pub fn common_case(&self) -> Option<&NewRedemption> {
        match &self.verdict {
            RedeemVerdict::Create(new)
                if !self.time_out_hold && !self.record_expiry && !new.capped =>
            {
                Some(new)
            }
            _ => None,
        }
    }
}

/// Decides a redeem or reserve of the voucher `v` at `now`.
pub fn decide_redeem(
    v: &VoucherAtRedeem,
    mode: RedeemMode,
    hold_secs: i64,
    now: i64,
) -> RedeemDecision {
    let current = lifecycle::current_state(v.stored, v.hold_expires_at, v.expires_at, now);
    let time_out_hold = v.stored == VoucherState::Reserved && current != VoucherState::Reserved;
    if current == VoucherState::Expired {
        return RedeemDecision {
            time_out_hold,
            record_expiry: v.stored != VoucherState::Expired,
            verdict: RedeemVerdict::Refused(DomainError::WrongState(VoucherState::Expired)),
        };
    }
    let verdict = match Change::of(RedemptionAction::from(mode), None) {
        Ok(change) if change.voucher_from == current => {
            let (hold_expires_at, redeemed_at) = match mode {
                RedeemMode::Redeem => (None, Some(now)),
                RedeemMode::Reserve => (Some(now + hold_secs), None),
            };
            RedeemVerdict::Create(NewRedemption {
                change,
                created_at: now,
                hold_expires_at,
                redeemed_at,
                period: month_of(now),
                capped: v.capped,
            })
        }
        _ => RedeemVerdict::Refused(DomainError::WrongState(current)),
    };
    RedeemDecision {
        time_out_hold,
        record_expiry: false,
        verdict,
    }
}

/// What the operator may do to one of its redemptions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followup {
    Confirm,
    Cancel,
    Reverse {
        window_secs: i64,
    },
    /// The sweeper ending a hold that ran out.
    TimeOut,
}

/// A redemption as read, under its lock, for a follow-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedemptionAt {
    pub state: RedemptionState,
    pub hold_expires_at: Option<i64>,
    pub redeemed_at: Option<i64>,
}

/// What a follow-up answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FollowUpAnswer {
    /// The redemption as the change left it.
    Changed,
    /// The redemption as it is: a repeat answers the same.
    AsItIs,
    Refused(DomainError),
}

/// What a follow-up does: a change (kept even when the answer is a
/// refusal: a hold that ran out is timed out), and the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FollowUpDecision {
    pub change: Option<Change>,
    pub answer: FollowUpAnswer,
}

impl FollowUpDecision {
    fn answer(answer: FollowUpAnswer) -> Self {
        Self {
            change: None,
            answer,
        }
    }

    /// The table's move, answered with the changed redemption.
    fn change(action: RedemptionAction, from: RedemptionState) -> Self {
        match Change::of(action, Some(from)) {
            Ok(change) => Self {
                change: Some(change),
                answer: FollowUpAnswer::Changed,
            },
            Err(state) => Self::answer(FollowUpAnswer::Refused(DomainError::WrongState(state))),
        }
    }
}

/// Decides `action` on the redemption `r` at `now`. Repeating a confirm,
/// cancel or reverse that already happened answers the same.
pub fn decide_follow_up(r: &RedemptionAt, action: Followup, now: i64) -> FollowUpDecision {
    use FollowUpAnswer::{AsItIs, Refused};
    use RedemptionState as R;
    let hold_over = r.hold_expires_at.is_some_and(|t| now >= t);
    match (r.state, action) {
        (R::Reserved, _) if hold_over => {
            let mut decision = FollowUpDecision::change(RedemptionAction::TimeOut, R::Reserved);
            if matches!(action, Followup::Confirm | Followup::Reverse { .. }) {
                decision.answer = Refused(DomainError::HoldExpired);
            }
            decision
        }
        (R::Reserved, Followup::Confirm) => {
            FollowUpDecision::change(RedemptionAction::Confirm, R::Reserved)
        }
        (R::Reserved, Followup::Cancel) => {
            FollowUpDecision::change(RedemptionAction::Cancel, R::Reserved)
        }
        (R::Confirmed, Followup::Reverse { window_secs }) => {
            if r.redeemed_at.is_some_and(|t| now >= t + window_secs) {
                FollowUpDecision::answer(Refused(DomainError::ReversalWindowClosed))
            } else {
                FollowUpDecision::change(RedemptionAction::Reverse, R::Confirmed)
            }
        }
        // Repeats answer the same; so does the sweeper, for a hold that has
        // not run out after all.
        (R::Confirmed, Followup::Confirm)
        | (R::Cancelled | R::TimedOut, Followup::Cancel | Followup::TimeOut)
        | (R::Reversed, Followup::Reverse { .. })
        | (R::Reserved, Followup::TimeOut) => FollowUpDecision::answer(AsItIs),
        (R::Reserved, Followup::Reverse { .. }) => {
            FollowUpDecision::answer(Refused(DomainError::WrongState(VoucherState::Reserved)))
        }
        (R::Confirmed, Followup::Cancel | Followup::TimeOut) => {
            FollowUpDecision::answer(Refused(DomainError::WrongState(VoucherState::Redeemed)))
        }
        (R::Cancelled, _) => FollowUpDecision::answer(Refused(DomainError::Cancelled)),
        (R::TimedOut, _) => FollowUpDecision::answer(Refused(DomainError::HoldExpired)),
        (R::Reversed, _) => FollowUpDecision::answer(Refused(DomainError::Reversed)),
    }
}

#[cfg(test)]
#[path = "redemption_decisions_tests.rs"]
mod tests;
