//! The writer with commands of every kind at once: each caller gets its
//! own typed reply, whatever else shared its batch.
#![allow(clippy::unwrap_used)]

use futures::future::join_all;

use super::*;
use crate::domain::DomainError;
use crate::domain::lockout::LockoutPolicy;
use crate::domain::redemption::{RedeemMode, RedemptionState};
use crate::storage::test_store::{self, NOW};
use crate::storage::{FailureRecorded, Followup, Outcome, RedeemInput};

fn redeem(operator: i64, voucher_id: i64, mode: RedeemMode) -> Redeem {
    Redeem(RedeemInput {
        operator_token_id: operator,
        operator_id: crate::domain::operator::FIRST_OPERATOR_ID,
        voucher_id,
        msisdn_hash: [9; 32],
        operator_ref: None,
        mode,
        hold_secs: 300,
        caps: Vec::new(),
        idempotency: None,
        line: None,
    })
}

fn done(outcome: Outcome) -> crate::storage::RedemptionRecord {
    match outcome {
        Outcome::Done(record) => record,
        other => panic!("{other:?}"),
    }
}

async fn mixed_batches_answer_each_command_in_its_own_type(postgres: bool) {
    let Some(t) = test_store::open(postgres).await else {
        return;
    };
    let store = &t.store;
    let ids = t.issue(8).await;
    let (held_id, ids) = ids.split_first().unwrap();
    let held = done(
        store
            .submit(redeem(t.operator, *held_id, RedeemMode::Reserve), NOW)
            .await
            .unwrap(),
    );
    assert_eq!(held.state, RedemptionState::Reserved);

    // Submitted together, so that writers batch them: redemptions (one
    // code twice), a confirm, a failure.
    let redemptions = join_all(
        ids.iter()
            .chain(ids.first())
            .map(|&id| store.submit(redeem(t.operator, id, RedeemMode::Redeem), NOW)),
    );
    let confirm = store.submit(
        FollowUp {
            operator_token_id: t.operator,
            operator_id: crate::domain::operator::FIRST_OPERATOR_ID,
            redemption_id: held.id,
            action: Followup::Confirm,
        },
        NOW,
    );
    let failure = store.submit(
        RecordFailure {
            source: crate::storage::operator_source(t.operator),
            policy: LockoutPolicy::default(),
            line: None,
        },
        NOW,
    );
    let (redemptions, confirm, failure) = tokio::join!(redemptions, confirm, failure);

    let mut refused = 0;
    for outcome in redemptions {
        match outcome.unwrap() {
            Outcome::Done(r) => assert_eq!(r.state, RedemptionState::Confirmed),
            Outcome::Refused(DomainError::WrongState(crate::domain::VoucherState::Redeemed)) => {
                refused += 1
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(refused, 1, "the code named twice is redeemed once");
    let confirmed = done(confirm.unwrap());
    assert_eq!(
        (confirmed.id, confirmed.state, confirmed.redeemed_at),
        (held.id, RedemptionState::Confirmed, Some(NOW))
    );
    assert_eq!(
        failure.unwrap(),
        FailureRecorded::Counted {
            operator_secs: None,
            line_secs: None
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_batches_answer_each_command_in_its_own_type_sqlite() {
    mixed_batches_answer_each_command_in_its_own_type(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_batches_answer_each_command_in_its_own_type_postgres() {
    mixed_batches_answer_each_command_in_its_own_type(true).await;
}
