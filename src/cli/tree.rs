//! `relay-topup structure move`, `allocate` and `clawback`: the tree of
//! associations from the command line, with the coordinator's rights.

use super::err;
use crate::app::associations::{self, TransferAsk};
use crate::domain::tree::Reach;
use crate::storage::{Store, TransferKind};

/// An amount of quota passed between an association and one of its
/// members.
#[derive(Debug, clap::Args)]
pub struct TransferArgs {
    /// The member's id: the association is its parent.
    pub member_id: i64,
    /// The network the quota is for (`operator list`).
    #[arg(long)]
    pub operator_id: i64,
    /// The quota resource: data_mb, voice, …
    pub resource: String,
    /// Units of the resource (MB for data_mb, days for voice).
    pub amount: i64,
}

/// Moves quota; prints the transfer's id on the last line.
pub async fn transfer(
    store: &Store,
    kind: TransferKind,
    args: &TransferArgs,
    now: i64,
) -> Result<(), String> {
    let ask = TransferAsk {
        kind,
        member_id: args.member_id,
        operator_id: args.operator_id,
        resource: &args.resource,
        amount: args.amount,
    };
    let done = associations::transfer(store, "cli", None, Reach::All, ask, None, now)
        .await
        .map_err(err)?;
    eprintln!(
        "{} {}: structure {} → structure {}",
        done.amount, args.resource, done.from_structure_id, done.to_structure_id
    );
    println!("{}", done.id);
    Ok(())
}

/// Puts a structure under `parent` (none: directly under the coordinator).
pub async fn move_under(
    store: &Store,
    id: i64,
    parent: Option<i64>,
    now: i64,
) -> Result<(), String> {
    let s = crate::app::structures::move_under(store, "cli", id, parent, now)
        .await
        .map_err(err)?;
    println!("{}", s.id);
    Ok(())
}
