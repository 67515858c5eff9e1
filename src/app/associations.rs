//! Associations and their members: passing quota down the tree and taking
//! back what a member has not issued. The API, the desk and the command
//! line share these checks; the storage layer makes each transfer one
//! transaction, never overdrawn.

use super::AppResult;
use super::grants::check_quota_ask;
use crate::domain::tree::Reach;
use crate::domain::{Principal, Role};
use crate::storage::{
    IdempotencyClaim, RequestFingerprint, Store, Transfer, TransferKind, TransferOrder,
};

/// What a caller reaches in the tree: the coordinator's and the auditor's
/// tokens and accounts everything, a structure's its own subtree, an
/// operator's nothing.
pub fn reach_of(principal: &Principal) -> Option<Reach> {
    match (principal.role, principal.structure_id) {
        (Role::Admin | Role::Auditor, _) => Some(Reach::All),
        (Role::Structure, Some(id)) => Some(Reach::Subtree(id)),
        _ => None,
    }
}

/// A transfer as asked for (checked here).
#[derive(Clone, Copy, Debug)]
pub struct TransferAsk<'a> {
    pub kind: TransferKind,
    pub member_id: i64,
    pub operator_id: i64,
    pub resource: &'a str,
    pub amount: i64,
}

/// Allocates to a member, or claws back from it, by `actor` within
/// `reach`, re-checking `live`'s token or account in the transaction;
/// `retry` is the request's Idempotency-Key, claimed for `actor`.
pub async fn transfer(
    store: &Store,
    actor: &str,
    live: Option<&Principal>,
    reach: Reach,
    ask: TransferAsk<'_>,
    retry: Option<(String, RequestFingerprint)>,
    now: i64,
) -> AppResult<Transfer> {
    check_quota_ask(ask.resource, ask.amount)?;
    let order = TransferOrder {
        kind: ask.kind,
        member_id: ask.member_id,
        operator_id: ask.operator_id,
        resource: ask.resource.to_owned(),
        amount: ask.amount,
        need_id: None,
    };
    let claim = retry.map(|(key, fingerprint)| IdempotencyClaim {
        scope: actor.to_owned(),
        key,
        fingerprint,
    });
    let done = store
        .transfer(actor, live, reach, &order, claim.as_ref(), now)
        .await?;
    tracing::info!(
        transfer = done.id,
        kind = ask.kind.as_str(),
        from = done.from_structure_id,
        to = done.to_structure_id,
        operator = ask.operator_id,
        resource = ask.resource,
        amount = ask.amount,
        "quota transferred"
    );
    Ok(done)
}
