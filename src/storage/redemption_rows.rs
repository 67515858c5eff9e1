//! What both redemption paths write and answer, built in one place: the
//! values of a new `redemptions` row, the event of every redemption move
//! (the audit replays these, so their JSON must not change), and the
//! redemption as the operator is answered. The general path
//! (`redemptions.rs`) and the set-based path (`fast_redeem.rs`) use these
//! builders, so they cannot drift apart in what they write.

use sqlx::any::AnyArguments;
use sqlx::query::Query;

use super::events::EventInput;
use super::redemption_types::{RedeemInput, RedemptionRecord};
use crate::domain::lifecycle::RedemptionMove;
use crate::domain::redemption::RedemptionState;
use crate::domain::redemption_decisions::NewRedemption;

/// The columns of a new redemption row, in the order [`NewRow::bind`]
/// binds them.
pub(super) const INSERT_COLUMNS: &str = "voucher_id, operator_token_id, operator_id, state, msisdn_hash, family, period, \
     operator_ref, created_at, hold_expires_at, redeemed_at, counted";
/// How many columns [`INSERT_COLUMNS`] names.
pub(super) const INSERT_COLUMN_COUNT: usize = 12;

/// A voucher being redeemed: what its redemption row, event and answer
/// need of it.
#[derive(Clone, Debug)]
pub(super) struct Target {
    pub voucher_id: i64,
    pub structure_id: i64,
    /// Its product's network.
    pub operator_id: i64,
    pub product: String,
    pub family: String,
    pub resource: String,
    pub amount: i64,
    pub validity_days: i64,
}

/// A new redemption row: the request, its voucher and what the domain
/// decided.
pub(super) struct NewRow<'a> {
    pub input: &'a RedeemInput,
    pub target: &'a Target,
    pub new: &'a NewRedemption,
    /// It counts against the beneficiary's cap (given back if it ends).
    pub counted: bool,
}

type AnyQuery<'q> = Query<'q, sqlx::Any, AnyArguments<'q>>;

impl NewRow<'_> {
    /// Binds the row's values, in [`INSERT_COLUMNS`] order.
    pub(super) fn bind<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.target.voucher_id)
            .bind(self.input.operator_token_id)
            .bind(self.input.operator_id)
            .bind(self.new.change.step.to.as_str())
            .bind(self.input.msisdn_hash.to_vec())
            .bind(self.target.family.clone())
            .bind(self.new.period)
            .bind(self.input.operator_ref.clone())
            .bind(self.new.created_at)
            .bind(self.new.hold_expires_at)
            .bind(self.new.redeemed_at)
            .bind(i64::from(self.counted))
    }

    /// The redemption as the operator is answered, once stored as `id`.
    pub(super) fn record(&self, id: i64) -> RedemptionRecord {
        RedemptionRecord {
            id,
            state: self.new.change.step.to,
            voucher_id: self.target.voucher_id,
            product: self.target.product.clone(),
            resource: self.target.resource.clone(),
            amount: self.target.amount,
            validity_days: self.target.validity_days,
            operator_ref: self.input.operator_ref.clone(),
            created_at: self.new.created_at,
            hold_expires_at: self.new.hold_expires_at,
            redeemed_at: self.new.redeemed_at,
            ended_at: None,
        }
    }
}

/// The event of a redemption move: `redeem`, `reserve`, `confirm`,
/// `cancel`, `hold_timeout` or `reverse`, by the token that acted, with the
/// redemption's id and operator (network) as its details.
pub(super) fn event(
    step: &RedemptionMove,
    operator_token_id: i64,
    operator_id: i64,
    structure_id: i64,
    voucher_id: i64,
    redemption_id: i64,
) -> EventInput {
    EventInput {
        kind: step.event,
        actor: format!("operator:{operator_token_id}"),
        structure_id: Some(structure_id),
        voucher_id: Some(voucher_id),
        data: serde_json::json!({ "redemption_id": redemption_id, "operator_id": operator_id }),
    }
}

/// A redemption after `step` at `now`: confirming sets when it was
/// redeemed, ending it when it ended.
pub(super) fn record_after(
    record: &RedemptionRecord,
    step: &RedemptionMove,
    now: i64,
) -> RedemptionRecord {
    RedemptionRecord {
        state: step.to,
        redeemed_at: if step.to == RedemptionState::Confirmed {
            Some(now)
        } else {
            record.redeemed_at
        },
        ended_at: if step.ends() {
            Some(now)
        } else {
            record.ended_at
        },
        ..record.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::lifecycle::{RedemptionAction, redemption_move};

    fn step(action: RedemptionAction, from: Option<RedemptionState>) -> &'static RedemptionMove {
        redemption_move(action, from).unwrap()
    }

    /// The audit replays these exact bytes (and hashes them).
    #[test]
    fn events_keep_their_kind_actor_and_json() {
        let e = event(step(RedemptionAction::Redeem, None), 7, 2, 3, 99, 12);
        assert_eq!(e.kind, "redeem");
        assert_eq!(e.actor, "operator:7");
        assert_eq!((e.structure_id, e.voucher_id), (Some(3), Some(99)));
        assert_eq!(
            e.data.to_string(),
            r#"{"operator_id":2,"redemption_id":12}"#
        );
        let reserved = Some(RedemptionState::Reserved);
        let e = event(step(RedemptionAction::TimeOut, reserved), 7, 2, 3, 99, 12);
        assert_eq!(e.kind, "hold_timeout");
    }

    #[test]
    fn records_after_a_move() {
        let reserved = RedemptionRecord {
            id: 1,
            state: RedemptionState::Reserved,
            voucher_id: 2,
            product: "p".into(),
            resource: "r".into(),
            amount: 3,
            validity_days: 4,
            operator_ref: None,
            created_at: 10,
            hold_expires_at: Some(310),
            redeemed_at: None,
            ended_at: None,
        };
        let from = Some(RedemptionState::Reserved);
        let confirmed = record_after(&reserved, step(RedemptionAction::Confirm, from), 20);
        assert_eq!(confirmed.state, RedemptionState::Confirmed);
        assert_eq!(
            (confirmed.redeemed_at, confirmed.ended_at),
            (Some(20), None)
        );
        let from = Some(RedemptionState::Confirmed);
        let reversed = record_after(&confirmed, step(RedemptionAction::Reverse, from), 30);
        assert_eq!(reversed.state, RedemptionState::Reversed);
        assert_eq!(
            (reversed.redeemed_at, reversed.ended_at),
            (Some(20), Some(30))
        );
    }
}
