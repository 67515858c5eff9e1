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

use serde::{Deserialize, Serialize};

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
    fn names_round_trip() {
        for state in VoucherState::ALL {
            assert_eq!(VoucherState::parse(state.as_str()), Some(state));
        }
        assert_eq!(VoucherState::parse("lost"), None);
    }
}
