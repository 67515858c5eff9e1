//! Redeem or reserve a verified code: answers the redemption, a replay of
//! it for a repeated Idempotency-Key, or why not.
//!
//! A batch first applies its plain redemptions (no Idempotency-Key)
//! together, set-based ([`redeem_common_cases`]); those outside the common
//! case are then applied one at a time by the general path.

use std::collections::BTreeMap;

use super::{Applying, Job, Queued, StandingCheck, WriteCommand};
use crate::storage::redemptions::{self, Outcome, RedeemInput};
use crate::storage::{Result, WriteTx, fast_redeem};

/// Redeems or reserves a verified code.
#[derive(Clone, Debug)]
pub struct Redeem(pub RedeemInput);

impl Redeem {
    /// Whether the set-based pass takes it: a request with an
    /// Idempotency-Key must claim its key first, one at a time.
    fn set_based(&self) -> bool {
        self.0.idempotency.is_none()
    }
}

impl WriteCommand for Redeem {
    type Reply = Outcome;

    fn writer_key(&self) -> i64 {
        self.0.voucher_id
    }

    fn lock_order(&self) -> (u8, i64) {
        (1, self.0.voucher_id)
    }

    fn standing_check(&self) -> StandingCheck<Outcome> {
        StandingCheck::Operator {
            token_id: self.0.operator_token_id,
            lockable: true,
            refuse: Outcome::Refused,
        }
    }

    /// A request with an Idempotency-Key is not refused here: a retry of a
    /// redemption answered before its line was barred must be answered the
    /// same, so the general path claims the key first, then checks the line.
    fn line(&self) -> Option<&str> {
        self.0
            .line
            .as_deref()
            .filter(|_| self.0.idempotency.is_none())
    }

    async fn apply<'a>(&'a self, at: Applying<'a>) -> Result<Outcome> {
        let set_based_tried = at.set_based_pass_ran && self.set_based();
        redemptions::redeem(at.store, at.tx, &self.0, at.now, set_based_tried).await
    }
}

/// The command of a queued job, if it is a redemption.
fn redeem_of(job: &dyn Job) -> Option<&Redeem> {
    job.as_any()
        .downcast_ref::<Queued<Redeem>>()
        .map(|q| &q.command)
}

/// Applies the batch's unanswered plain redemptions set-based
/// ([`fast_redeem`]), a few statements for all of them, and answers those
/// it completed. An error gives up the batch: there is no savepoint around
/// a set.
pub(in crate::storage) async fn redeem_common_cases(
    tx: &mut WriteTx,
    jobs: &mut [Box<dyn Job>],
) -> Result<()> {
    // Grouped by the time they were submitted with (nearly always one).
    let mut by_now: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
    for (i, job) in jobs.iter().enumerate() {
        if !job.is_answered() && redeem_of(job.as_ref()).is_some_and(Redeem::set_based) {
            by_now.entry(job.now()).or_default().push(i);
        }
    }
    for (now, members) in by_now {
        let (indices, inputs): (Vec<usize>, Vec<&RedeemInput>) = members
            .iter()
            .filter_map(|&i| Some((i, &redeem_of(jobs.get(i)?.as_ref())?.0)))
            .unzip();
        let answers = fast_redeem::redeem_issued(tx, &inputs, now).await?;
        for (i, answer) in indices.into_iter().zip(answers) {
            let queued = jobs
                .get_mut(i)
                .and_then(|job| job.as_any_mut().downcast_mut::<Queued<Redeem>>());
            if let (Some(outcome), Some(queued)) = (answer, queued) {
                queued.answer = Some(Ok(outcome));
            }
        }
    }
    Ok(())
}
