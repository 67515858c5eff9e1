//! Confirm, cancel or reverse one of an operator's redemptions, or (the
//! sweeper) time out a hold that ran out: answers the redemption, or why
//! not.

use super::{Applying, StandingCheck, WriteCommand};
use crate::storage::Result;
use crate::storage::redemptions::{self, Followup, Outcome};

/// A follow-up on a redemption.
#[derive(Clone, Copy, Debug)]
pub struct FollowUp {
    pub operator_token_id: i64,
    /// The token's operator: only its network's redemptions are followed up.
    pub operator_id: i64,
    pub redemption_id: i64,
    pub action: Followup,
}

impl WriteCommand for FollowUp {
    type Reply = Outcome;

    fn writer_key(&self) -> i64 {
        self.redemption_id
    }

    fn lock_order(&self) -> (u8, i64) {
        (2, self.redemption_id)
    }

    /// A confirm, cancel or reverse needs a live token (a lock-out does not
    /// stop an operator finishing what it started); the sweeper's time-out
    /// no operator's.
    fn standing_check(&self) -> StandingCheck<Outcome> {
        match self.action {
            Followup::TimeOut => StandingCheck::Free,
            Followup::Confirm | Followup::Cancel | Followup::Reverse { .. } => {
                StandingCheck::Operator {
                    token_id: self.operator_token_id,
                    lockable: false,
                    refuse: Outcome::Refused,
                }
            }
        }
    }

    async fn apply<'a>(&'a self, at: Applying<'a>) -> Result<Outcome> {
        let Self {
            operator_token_id,
            operator_id,
            redemption_id,
            action,
        } = *self;
        redemptions::follow_up(
            at.store,
            at.tx,
            (operator_token_id, operator_id),
            redemption_id,
            action,
            at.now,
        )
        .await
    }
}
