use proptest::prelude::*;

use super::*;
use crate::domain::lifecycle::REDEMPTION_TRANSITIONS;

const NOW: i64 = 1_800_000_000;
const HOLD: i64 = 300;
const WINDOW: i64 = 3600;

fn voucher(stored: VoucherState, hold: Option<i64>, expires_at: i64) -> VoucherAtRedeem {
    VoucherAtRedeem {
        stored,
        hold_expires_at: hold,
        expires_at,
        capped: false,
    }
}

fn refused(d: &RedeemDecision) -> Option<&DomainError> {
    match &d.verdict {
        RedeemVerdict::Refused(e) => Some(e),
        RedeemVerdict::Create(_) => None,
    }
}

#[test]
fn an_issued_code_is_redeemed_or_reserved_in_the_common_case() {
    let v = voucher(VoucherState::Issued, None, NOW + 10);
    let d = decide_redeem(&v, RedeemMode::Redeem, HOLD, NOW);
    let new = d.common_case().copied().unwrap();
    assert_eq!(new.change.step.event, "redeem");
    assert_eq!(new.change.voucher_from, VoucherState::Issued);
    assert_eq!(new.change.voucher_to, VoucherState::Redeemed);
    assert_eq!((new.hold_expires_at, new.redeemed_at), (None, Some(NOW)));
    assert_eq!(new.period, 202701);

    let d = decide_redeem(&v, RedeemMode::Reserve, HOLD, NOW);
    let new = d.common_case().copied().unwrap();
    assert_eq!(new.change.step.to, RedemptionState::Reserved);
    assert_eq!(new.change.voucher_to, VoucherState::Reserved);
    assert_eq!(
        (new.hold_expires_at, new.redeemed_at),
        (Some(NOW + HOLD), None)
    );
}

#[test]
fn a_capped_code_is_created_but_not_in_the_common_case() {
    let v = VoucherAtRedeem {
        capped: true,
        ..voucher(VoucherState::Issued, None, NOW + 10)
    };
    let d = decide_redeem(&v, RedeemMode::Redeem, HOLD, NOW);
    assert!(matches!(d.verdict, RedeemVerdict::Create(n) if n.capped));
    assert_eq!(d.common_case(), None);
}

#[test]
fn a_late_code_is_expired_and_refused() {
    let d = decide_redeem(
        &voucher(VoucherState::Issued, None, NOW),
        RedeemMode::Redeem,
        HOLD,
        NOW,
    );
    assert!(d.record_expiry && !d.time_out_hold);
    assert_eq!(
        refused(&d),
        Some(&DomainError::WrongState(VoucherState::Expired))
    );
    // Recorded already: nothing more to write.
    let d = decide_redeem(
        &voucher(VoucherState::Expired, None, NOW),
        RedeemMode::Redeem,
        HOLD,
        NOW,
    );
    assert!(!d.record_expiry && !d.time_out_hold);
    // A hold that ran out past the code's date: both, then the refusal.
    let v = voucher(VoucherState::Reserved, Some(NOW - 1), NOW - 1);
    let d = decide_redeem(&v, RedeemMode::Reserve, HOLD, NOW);
    assert!(d.record_expiry && d.time_out_hold);
    assert_eq!(d.common_case(), None);
}

#[test]
fn a_hold_that_ran_out_is_timed_out_then_the_code_redeemed() {
    let v = voucher(VoucherState::Reserved, Some(NOW), NOW + 1000);
    let d = decide_redeem(&v, RedeemMode::Redeem, HOLD, NOW);
    assert!(d.time_out_hold && !d.record_expiry);
    assert!(matches!(d.verdict, RedeemVerdict::Create(_)));
    // Not in the common case: the set-based path writes no time-out.
    assert_eq!(d.common_case(), None);
    // A running hold refuses, with nothing to write.
    let v = voucher(VoucherState::Reserved, Some(NOW + 1), NOW + 1000);
    let d = decide_redeem(&v, RedeemMode::Redeem, HOLD, NOW);
    assert!(!d.time_out_hold);
    assert_eq!(
        refused(&d),
        Some(&DomainError::WrongState(VoucherState::Reserved))
    );
}

#[test]
fn used_codes_are_refused_with_their_state() {
    for state in [
        VoucherState::Redeemed,
        VoucherState::Voided,
        VoucherState::Reserved,
    ] {
        let d = decide_redeem(
            &voucher(state, None, NOW + 10),
            RedeemMode::Redeem,
            HOLD,
            NOW,
        );
        assert_eq!(refused(&d), Some(&DomainError::WrongState(state)));
        assert!(!d.time_out_hold && !d.record_expiry);
    }
}

fn at(state: RedemptionState) -> RedemptionAt {
    RedemptionAt {
        state,
        hold_expires_at: (state == RedemptionState::Reserved).then_some(NOW + HOLD),
        redeemed_at: (state == RedemptionState::Confirmed).then_some(NOW),
    }
}

fn step_of(d: &FollowUpDecision) -> Option<&'static str> {
    d.change.map(|c| c.step.event)
}

#[test]
fn follow_ups_of_a_reservation() {
    let r = at(RedemptionState::Reserved);
    let confirm = decide_follow_up(&r, Followup::Confirm, NOW);
    assert_eq!(
        (step_of(&confirm), &confirm.answer),
        (Some("confirm"), &FollowUpAnswer::Changed)
    );
    let c = confirm.change.unwrap();
    assert_eq!(
        (c.voucher_from, c.voucher_to),
        (VoucherState::Reserved, VoucherState::Redeemed)
    );
    let cancel = decide_follow_up(&r, Followup::Cancel, NOW);
    assert_eq!(step_of(&cancel), Some("cancel"));
    assert_eq!(cancel.change.unwrap().voucher_to, VoucherState::Issued);
    // The sweeper, early: nothing to do.
    let early = decide_follow_up(&r, Followup::TimeOut, NOW);
    assert_eq!(early.change, None);
    assert_eq!(early.answer, FollowUpAnswer::AsItIs);
    let reverse = decide_follow_up(
        &r,
        Followup::Reverse {
            window_secs: WINDOW,
        },
        NOW,
    );
    assert_eq!(
        reverse.answer,
        FollowUpAnswer::Refused(DomainError::WrongState(VoucherState::Reserved))
    );
}

#[test]
fn a_hold_that_ran_out_times_out_whatever_is_asked() {
    let r = at(RedemptionState::Reserved);
    let late = NOW + HOLD;
    for (action, answer) in [
        (
            Followup::Confirm,
            FollowUpAnswer::Refused(DomainError::HoldExpired),
        ),
        (
            Followup::Reverse {
                window_secs: WINDOW,
            },
            FollowUpAnswer::Refused(DomainError::HoldExpired),
        ),
        (Followup::Cancel, FollowUpAnswer::Changed),
        (Followup::TimeOut, FollowUpAnswer::Changed),
    ] {
        let d = decide_follow_up(&r, action, late);
        assert_eq!(step_of(&d), Some("hold_timeout"), "{action:?}");
        assert_eq!(d.answer, answer, "{action:?}");
    }
}

#[test]
fn reversal_only_within_its_window() {
    let r = at(RedemptionState::Confirmed);
    let inside = decide_follow_up(
        &r,
        Followup::Reverse {
            window_secs: WINDOW,
        },
        NOW + WINDOW - 1,
    );
    assert_eq!(step_of(&inside), Some("reverse"));
    let c = inside.change.unwrap();
    assert_eq!(
        (c.voucher_from, c.voucher_to),
        (VoucherState::Redeemed, VoucherState::Issued)
    );
    let closed = decide_follow_up(
        &r,
        Followup::Reverse {
            window_secs: WINDOW,
        },
        NOW + WINDOW,
    );
    assert_eq!(closed.change, None);
    assert_eq!(
        closed.answer,
        FollowUpAnswer::Refused(DomainError::ReversalWindowClosed)
    );
}

#[test]
fn ended_redemptions_answer_repeats_the_same_and_refuse_the_rest() {
    use RedemptionState as R;
    let reverse = Followup::Reverse {
        window_secs: WINDOW,
    };
    for (state, action, answer) in [
        (R::Confirmed, Followup::Confirm, FollowUpAnswer::AsItIs),
        (R::Cancelled, Followup::Cancel, FollowUpAnswer::AsItIs),
        (R::TimedOut, Followup::Cancel, FollowUpAnswer::AsItIs),
        (R::Reversed, reverse, FollowUpAnswer::AsItIs),
        (
            R::Confirmed,
            Followup::Cancel,
            FollowUpAnswer::Refused(DomainError::WrongState(VoucherState::Redeemed)),
        ),
        (
            R::Cancelled,
            Followup::Confirm,
            FollowUpAnswer::Refused(DomainError::Cancelled),
        ),
        (
            R::TimedOut,
            reverse,
            FollowUpAnswer::Refused(DomainError::HoldExpired),
        ),
        (
            R::Reversed,
            Followup::Confirm,
            FollowUpAnswer::Refused(DomainError::Reversed),
        ),
    ] {
        let d = decide_follow_up(&at(state), action, NOW + 1);
        assert_eq!(d.change, None, "{state:?} {action:?}");
        assert_eq!(d.answer, answer, "{state:?} {action:?}");
    }
}

fn any_voucher_state() -> impl Strategy<Value = VoucherState> {
    prop::sample::select(VoucherState::ALL.to_vec())
}

fn any_redemption_state() -> impl Strategy<Value = RedemptionState> {
    prop::sample::select(RedemptionState::ALL.to_vec())
}

fn any_followup() -> impl Strategy<Value = Followup> {
    prop_oneof![
        Just(Followup::Confirm),
        Just(Followup::Cancel),
        Just(Followup::TimeOut),
        (0..10_000i64).prop_map(|window_secs| Followup::Reverse { window_secs }),
    ]
}

proptest! {
    /// Whatever is stored and whatever the clock says, a follow-up only
    /// makes a move of the table from the redemption's own state, never
    /// from an ended one, and its voucher states are the table's.
    #[test]
    fn follow_ups_only_make_table_moves_from_live_states(
        state in any_redemption_state(),
        hold in proptest::option::of(-1000..1000i64),
        redeemed in proptest::option::of(-5000..1000i64),
        action in any_followup(),
    ) {
        let r = RedemptionAt {
            state,
            hold_expires_at: hold.map(|h| NOW + h),
            redeemed_at: redeemed.map(|t| NOW + t),
        };
        let d = decide_follow_up(&r, action, NOW);
        if let Some(c) = d.change {
            prop_assert!(REDEMPTION_TRANSITIONS.contains(c.step));
            prop_assert_eq!(c.step.from, Some(state));
            prop_assert!(state.is_live());
            prop_assert_eq!(c.step.voucher_change(), Ok((c.voucher_from, c.voucher_to)));
            prop_assert!(d.answer != FollowUpAnswer::AsItIs);
        } else {
            prop_assert!(d.answer != FollowUpAnswer::Changed);
        }
    }

    /// A redemption is created only from a code that is issued as of now,
    /// by the table's creating move, and the set-based common case is
    /// exactly a stored, unexpired, uncapped issued code.
    #[test]
    fn redemptions_are_created_only_from_issued_codes(
        stored in any_voucher_state(),
        hold in proptest::option::of(-1000..1000i64),
        expires in -1000..1000i64,
        capped in any::<bool>(),
        reserve in any::<bool>(),
    ) {
        let v = VoucherAtRedeem {
            stored,
            hold_expires_at: hold.map(|h| NOW + h),
            expires_at: NOW + expires,
            capped,
        };
        let mode = if reserve { RedeemMode::Reserve } else { RedeemMode::Redeem };
        let d = decide_redeem(&v, mode, HOLD, NOW);
        let current = lifecycle::current_state(stored, v.hold_expires_at, v.expires_at, NOW);
        if let RedeemVerdict::Create(n) = &d.verdict {
            prop_assert_eq!(current, VoucherState::Issued);
            prop_assert_eq!(n.change.step.from, None);
            prop_assert_eq!(n.change.step.action, RedemptionAction::from(mode));
            prop_assert_eq!(n.capped, capped);
        }
        let common = stored == VoucherState::Issued && expires > 0 && !capped;
        prop_assert_eq!(d.common_case().is_some(), common);
        prop_assert_eq!(d.time_out_hold, stored == VoucherState::Reserved && current != VoucherState::Reserved);
    }
}
