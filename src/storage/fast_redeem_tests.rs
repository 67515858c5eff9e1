use sqlx::Row;

use super::*;
use crate::domain::DomainError;
use crate::domain::redemption::RedeemMode;
use crate::storage::redemptions;
use crate::storage::test_store::{self, NOW};

fn input(operator: i64, voucher_id: i64) -> RedeemInput {
    RedeemInput {
        operator_token_id: operator,
        operator_id: crate::domain::operator::FIRST_OPERATOR_ID,
        voucher_id,
        msisdn_hash: [7; 32],
        operator_ref: None,
        mode: RedeemMode::Redeem,
        hold_secs: 300,
        caps: Vec::new(),
        idempotency: None,
        line: None,
    }
}

async fn count(tx: &mut WriteTx, sql: &str, id: i64) -> i64 {
    sqlx::query(sql)
        .bind(id)
        .fetch_one(&mut **tx)
        .await
        .unwrap()
        .try_get("n")
        .unwrap()
}

/// A code whose state changed between the read under its lock and the
/// move (which the lock should make impossible) is not moved, gets no
/// redemption or event from the set-based path, and its request is left
/// to the general path, which refuses it from what is stored. The others
/// of the batch are redeemed.
async fn a_code_moved_under_its_lock_is_left_to_the_general_path(postgres: bool) {
    let Some(t) = test_store::open(postgres).await else {
        return;
    };
    let ids = t.issue(3).await;
    let owned: Vec<RedeemInput> = ids.iter().map(|&id| input(t.operator, id)).collect();
    let inputs: Vec<&RedeemInput> = owned.iter().collect();
    let mut tx = t.store.begin_write().await.unwrap();
    let planned = plan(&mut tx, &inputs, NOW).await.unwrap();
    assert_eq!(planned.len(), 3, "all three codes are in the common case");
    let moved_away = ids[1];
    sqlx::query("UPDATE vouchers SET state = 'redeemed' WHERE id = $1")
        .bind(moved_away)
        .execute(&mut *tx)
        .await
        .unwrap();

    let answers = apply(&mut tx, &inputs, planned, NOW).await.unwrap();
    assert!(matches!(answers[0], Some(Outcome::Done(_))));
    assert!(answers[1].is_none(), "{:?}", answers[1]);
    assert!(matches!(answers[2], Some(Outcome::Done(_))));
    let redemptions_of = "SELECT COUNT(*) AS n FROM redemptions WHERE voucher_id = $1";
    assert_eq!(count(&mut tx, redemptions_of, moved_away).await, 0);
    assert_eq!(count(&mut tx, redemptions_of, ids[0]).await, 1);

    let general = redemptions::redeem(&t.store, &mut tx, inputs[1], NOW, true)
        .await
        .unwrap();
    assert!(
        matches!(
            general,
            Outcome::Refused(DomainError::WrongState(VoucherState::Redeemed))
        ),
        "{general:?}"
    );
    events::commit(tx).await.unwrap();
    let mut tx = t.store.begin_write().await.unwrap();
    let events_of = "SELECT COUNT(*) AS n FROM events WHERE voucher_id = $1 AND kind = 'redeem'";
    assert_eq!(count(&mut tx, events_of, moved_away).await, 0);
    assert_eq!(count(&mut tx, events_of, ids[2]).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_moved_under_its_lock_is_left_to_the_general_path_sqlite() {
    a_code_moved_under_its_lock_is_left_to_the_general_path(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_moved_under_its_lock_is_left_to_the_general_path_postgres() {
    a_code_moved_under_its_lock_is_left_to_the_general_path(true).await;
}
