//! The voucher lifecycle as an explicit transition table.
//!
//! ```text
//! issued ──redeem──▶ redeemed ──reverse (within the reversal window)──▶ issued
//!   │  ╲──reserve──▶ reserved ──confirm──▶ redeemed
//!   │                  ╰──cancel / hold timeout──▶ issued
//!   ├──void──▶ voided        (by its structure; quota returned)
//!   └──expiry──▶ expired     (quota returned)
//! ```
//!
//! Every state change in the service goes through [`next`]; storage applies
//! it with a compare-and-set on the old state, so two racing transitions can
//! never both succeed.
//!
//! A redemption has a table of its own, [`REDEMPTION_TRANSITIONS`]: each
//! of its moves names the voucher transition made with it, in the same
//! transaction, and the event that records both. What an operator's request
//! leads to, given what is stored and the clock, is decided in
//! [`super::redemption_decisions`].

use serde::{Deserialize, Serialize};

use super::redemption::{RedeemMode, RedemptionState};

/// Where a voucher is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VoucherState {
    Issued,
    Reserved,
    Redeemed,
    Voided,
    Expired,
}

/// What can happen to a voucher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transition {
    Redeem,
    Reserve,
    Confirm,
    Cancel,
    HoldTimeout,
    Reverse,
    Void,
    Expire,
}

/// The table: from which state each transition leads where. A missing pair
/// is a refusal.
pub const TRANSITIONS: &[(VoucherState, Transition, VoucherState)] = {
    use Transition as T;
    use VoucherState as S;
    &[
        (S::Issued, T::Redeem, S::Redeemed),
        (S::Issued, T::Reserve, S::Reserved),
        (S::Issued, T::Void, S::Voided),
        (S::Issued, T::Expire, S::Expired),
        (S::Reserved, T::Confirm, S::Redeemed),
        (S::Reserved, T::Cancel, S::Issued),
        (S::Reserved, T::HoldTimeout, S::Issued),
        (S::Redeemed, T::Reverse, S::Issued),
    ]
};

impl VoucherState {
    pub const ALL: [VoucherState; 5] = [
        Self::Issued,
        Self::Reserved,
        Self::Redeemed,
        Self::Voided,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issued => "issued",
            Self::Reserved => "reserved",
            Self::Redeemed => "redeemed",
            Self::Voided => "voided",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether the voucher's quota is still drawn (it can still be used).
    pub fn holds_quota(self) -> bool {
        !matches!(self, Self::Voided | Self::Expired)
    }
}

/// The state a transition leads to, or `Err(current)` when the table has no
/// such move: the caller explains the refusal from the current state.
pub fn next(current: VoucherState, transition: Transition) -> Result<VoucherState, VoucherState> {
    TRANSITIONS
        .iter()
        .find(|(from, t, _)| *from == current && *t == transition)
        .map(|&(_, _, to)| to)
        .ok_or(current)
}

/// What an operator does to a redemption (or the sweeper, to a hold that
/// ran out).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedemptionAction {
    Redeem,
    Reserve,
    Confirm,
    Cancel,
    TimeOut,
    Reverse,
}

/// The redemption table's action that creates a redemption in this mode.
impl From<RedeemMode> for RedemptionAction {
    fn from(mode: RedeemMode) -> Self {
        match mode {
            RedeemMode::Redeem => Self::Redeem,
            RedeemMode::Reserve => Self::Reserve,
        }
    }
}

/// One row of the redemption table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RedemptionMove {
    pub action: RedemptionAction,
    /// The redemption's state before; `None`: the move creates it.
    pub from: Option<RedemptionState>,
    pub to: RedemptionState,
    /// The voucher transition made with it, in the same transaction.
    pub voucher: Transition,
    /// The event recording it; the audit replays these names.
    pub event: &'static str,
}

/// The redemption table: from which redemption state each action leads
/// where, with its voucher transition. A missing pair is a refusal.
pub const REDEMPTION_TRANSITIONS: &[RedemptionMove] = {
    use RedemptionAction as A;
    use RedemptionState as R;
    const fn row(
        action: A,
        from: Option<R>,
        to: R,
        voucher: Transition,
        event: &'static str,
    ) -> RedemptionMove {
        RedemptionMove {
            action,
            from,
            to,
            voucher,
            event,
        }
    }
    &[
        row(A::Redeem, None, R::Confirmed, Transition::Redeem, "redeem"),
        row(
            A::Reserve,
            None,
            R::Reserved,
            Transition::Reserve,
            "reserve",
        ),
        row(
            A::Confirm,
            Some(R::Reserved),
            R::Confirmed,
            Transition::Confirm,
            "confirm",
        ),
        row(
            A::Cancel,
            Some(R::Reserved),
            R::Cancelled,
            Transition::Cancel,
            "cancel",
        ),
        row(
            A::TimeOut,
            Some(R::Reserved),
            R::TimedOut,
            Transition::HoldTimeout,
            "hold_timeout",
        ),
        row(
            A::Reverse,
            Some(R::Confirmed),
            R::Reversed,
            Transition::Reverse,
            "reverse",
        ),
    ]
};

/// The move `action` makes from `from` (`None`: no redemption yet), if the
/// table has one.
pub fn redemption_move(
    action: RedemptionAction,
    from: Option<RedemptionState>,
) -> Option<&'static RedemptionMove> {
    REDEMPTION_TRANSITIONS
        .iter()
        .find(|m| m.action == action && m.from == from)
}

/// The voucher's state while its redemption is in `state` (`None`: it has
/// none): a live redemption holds it, an ended one has given it back.
pub fn voucher_state_while(state: Option<RedemptionState>) -> VoucherState {
    match state {
        Some(RedemptionState::Reserved) => VoucherState::Reserved,
        Some(RedemptionState::Confirmed) => VoucherState::Redeemed,
        _ => VoucherState::Issued,
    }
}

impl RedemptionMove {
    /// The voucher's states before and after, by the voucher table; a
    /// disagreement between the tables is `Err(state before)`.
    pub fn voucher_change(&self) -> Result<(VoucherState, VoucherState), VoucherState> {
        let before = voucher_state_while(self.from);
        next(before, self.voucher).map(|after| (before, after))
    }

    /// Whether the redemption is over after it (the voucher given back).
    pub fn ends(&self) -> bool {
        !self.to.is_live()
    }
}

/// The state as of `now_secs`: an issued code past its expiry is expired
/// whether or not the sweeper has recorded it, so no code can ever be
/// redeemed late.
pub fn effective_state(stored: VoucherState, expires_at: i64, now_secs: i64) -> VoucherState {
    if stored == VoucherState::Issued && now_secs >= expires_at {
        VoucherState::Expired
    } else {
        stored
    }
}

/// The state as of `now`, from the stored state, the hold of a reserved
/// code (if any) and the code's expiry: a hold that ran out reads as
/// `issued`, then a late `issued` code as `expired`. Every read uses this,
/// so answers never depend on whether the sweeper has run.
pub fn current_state(
    stored: VoucherState,
    hold_expires_at: Option<i64>,
    expires_at: i64,
    now_secs: i64,
) -> VoucherState {
    let unheld = match (stored, hold_expires_at) {
        (VoucherState::Reserved, Some(until)) if now_secs >= until => VoucherState::Issued,
        _ => stored,
    };
    effective_state(unheld, expires_at, now_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_states_only_leave_by_reversal() {
        for state in [VoucherState::Voided, VoucherState::Expired] {
            for &(from, _, _) in TRANSITIONS {
                assert_ne!(from, state);
            }
        }
        let leaving_redeemed: Vec<_> = TRANSITIONS
            .iter()
            .filter(|(from, _, _)| *from == VoucherState::Redeemed)
            .collect();
        assert_eq!(leaving_redeemed.len(), 1);
        assert_eq!(leaving_redeemed[0].1, Transition::Reverse);
    }

    #[test]
    fn table_is_a_function() {
        for (i, a) in TRANSITIONS.iter().enumerate() {
            for b in &TRANSITIONS[i + 1..] {
                assert!(!(a.0 == b.0 && a.1 == b.1), "{a:?} and {b:?}");
            }
        }
    }

    #[test]
    fn void_only_from_issued() {
        for state in VoucherState::ALL {
            let expected = if state == VoucherState::Issued {
                Ok(VoucherState::Voided)
            } else {
                Err(state)
            };
            assert_eq!(next(state, Transition::Void), expected);
        }
    }

    #[test]
    fn expiry_is_evaluated_without_a_sweeper() {
        assert_eq!(
            effective_state(VoucherState::Issued, 100, 99),
            VoucherState::Issued
        );
        assert_eq!(
            effective_state(VoucherState::Issued, 100, 100),
            VoucherState::Expired
        );
        assert_eq!(
            effective_state(VoucherState::Redeemed, 100, 200),
            VoucherState::Redeemed
        );
    }

    #[test]
    fn a_hold_that_ran_out_reads_as_issued_then_expired() {
        let reserved = VoucherState::Reserved;
        assert_eq!(
            current_state(reserved, Some(100), 1000, 99),
            VoucherState::Reserved
        );
        assert_eq!(
            current_state(reserved, Some(100), 1000, 100),
            VoucherState::Issued
        );
        assert_eq!(
            current_state(reserved, Some(100), 1000, 1000),
            VoucherState::Expired
        );
        assert_eq!(
            current_state(VoucherState::Redeemed, None, 1000, 2000),
            VoucherState::Redeemed
        );
    }

    #[test]
    fn redemption_table_is_a_function_with_distinct_events() {
        for (i, a) in REDEMPTION_TRANSITIONS.iter().enumerate() {
            for b in &REDEMPTION_TRANSITIONS[i + 1..] {
                assert!(
                    !(a.action == b.action && a.from == b.from),
                    "{a:?} and {b:?}"
                );
                assert_ne!(a.event, b.event);
                assert_ne!(a.voucher, b.voucher);
            }
        }
    }

    #[test]
    fn redemption_table_agrees_with_the_voucher_table() {
        for m in REDEMPTION_TRANSITIONS {
            let before = voucher_state_while(m.from);
            let after = voucher_state_while(Some(m.to));
            assert_eq!(m.voucher_change(), Ok((before, after)), "{m:?}");
            assert_eq!(next(before, m.voucher), Ok(after), "{m:?}");
        }
        // Every voucher move a redemption can make has its redemption row;
        // the others (void, expiry) belong to no redemption.
        for &(from, t, _) in TRANSITIONS {
            let rows = REDEMPTION_TRANSITIONS
                .iter()
                .filter(|m| m.voucher == t)
                .count();
            let expected = usize::from(!matches!(t, Transition::Void | Transition::Expire));
            assert_eq!(rows, expected, "{from:?} {t:?}");
        }
    }

    #[test]
    fn no_redemption_move_leaves_an_ended_redemption() {
        for m in REDEMPTION_TRANSITIONS {
            if let Some(from) = m.from {
                assert!(from.is_live(), "{m:?}");
            }
            assert_eq!(m.ends(), !m.to.is_live());
            assert_eq!(redemption_move(m.action, m.from), Some(m));
        }
        // Only confirmed redemptions are reversed; a new one starts live.
        assert_eq!(
            redemption_move(RedemptionAction::Reverse, Some(RedemptionState::Reserved)),
            None
        );
        assert!(
            REDEMPTION_TRANSITIONS
                .iter()
                .filter(|m| m.from.is_none())
                .all(|m| m.to.is_live())
        );
    }

    #[test]
    fn names_round_trip() {
        for state in VoucherState::ALL {
            assert_eq!(VoucherState::parse(state.as_str()), Some(state));
        }
        assert_eq!(VoucherState::parse("lost"), None);
    }
}
