//! Write operations on the group-commit path, one type per operation and
//! one file each: `redeem.rs`, `follow_up.rs`, `failure.rs`, `issue.rs`.
//! A command says which writer takes it, where it takes its locks, whose
//! standing it needs and how it is applied in a transaction, and has a
//! reply of its own type: [`Store::submit`] answers `Result<Outcome>` for
//! a redemption, `Result<IssueOutcome>` for an issue, and so on.
//!
//! The writer ([`super::batch`]) holds queued commands type-erased
//! ([`Job`]), applies a batch of them in one transaction and answers each
//! after the commit. Adding an operation is one file here and its `mod`
//! line below; the writer does not change.
//!
//! [`Store::submit`]: super::Store::submit

use std::any::Any;
use std::future::Future;

use futures::future::BoxFuture;
use tokio::sync::oneshot;

use super::{Result, StorageError, Store, WriteTx};
use crate::domain::DomainError;

mod failure;
mod follow_up;
mod issue;
mod redeem;

pub use failure::RecordFailure;
pub use follow_up::FollowUp;
pub use issue::Issue;
pub use redeem::Redeem;
pub(super) use redeem::redeem_common_cases;

/// Whose standing a command needs. The writer checks every operator of a
/// batch in one statement inside its transaction, so a revocation or a
/// lock-out committed before it is always honoured.
pub enum StandingCheck<R> {
    /// No operator's: the command checks what it needs itself (an issue,
    /// its structure's token) or needs nothing (the sweeper, a failure).
    Free,
    /// A live operator token and, if `lockable`, not locked out; a command
    /// that fails this is answered `refuse(why)` and not applied.
    Operator {
        token_id: i64,
        lockable: bool,
        refuse: fn(DomainError) -> R,
    },
}

/// What a command is applied in: the writer's transaction, the time it
/// was submitted with, and what the batch has already done for it.
pub struct Applying<'a> {
    pub(crate) store: &'a Store,
    pub(crate) tx: &'a mut WriteTx,
    pub(crate) now: i64,
    /// The batch's set-based pass ([`redeem_common_cases`]) has already run
    /// over this command in this transaction: had it been in the common
    /// case, it would have been answered there.
    pub(crate) set_based_pass_ran: bool,
}

/// A write operation on the group-commit path.
pub trait WriteCommand: Send + Sync + Sized + 'static {
    /// What the caller is answered once the transaction has committed.
    type Reply: Send + 'static;

    /// Which writer applies it: the same key always goes to the same
    /// writer, so writers rarely wait on each other's row locks.
    fn writer_key(&self) -> i64;

    /// The order a batch applies its commands in: by kind (issues, then
    /// redemptions, follow-ups, failures), then by the row it locks first,
    /// so two servers batching the same rows lock them in the same order.
    fn lock_order(&self) -> (u8, i64);

    /// Whose standing must be checked before it is applied.
    fn standing_check(&self) -> StandingCheck<Self::Reply> {
        StandingCheck::Free
    }

    /// The subscriber line that must not be barred for it to be applied,
    /// checked with its operator (and refused the same way).
    fn line(&self) -> Option<&str> {
        None
    }

    /// Applies it. An error undoes what it wrote (and only that, where the
    /// batch can); a domain refusal is a reply, and what was written before
    /// it is committed.
    fn apply<'a>(
        &'a self,
        at: Applying<'a>,
    ) -> impl Future<Output = Result<Self::Reply>> + Send + 'a;
}

/// A queued command, where to send its reply, and the reply it holds until
/// the batch commits.
pub(super) struct Queued<C: WriteCommand> {
    pub(super) command: C,
    now: i64,
    reply: oneshot::Sender<Result<C::Reply>>,
    pub(super) answer: Option<Result<C::Reply>>,
}

impl<C: WriteCommand> Queued<C> {
    pub(super) fn new(command: C, now: i64, reply: oneshot::Sender<Result<C::Reply>>) -> Self {
        Self {
            command,
            now,
            reply,
            answer: None,
        }
    }
}

/// A queued command as the writer holds it, whatever its kind.
pub(crate) trait Job: Send {
    /// The time it was submitted with.
    fn now(&self) -> i64;
    /// See [`WriteCommand::lock_order`].
    fn lock_order(&self) -> (u8, i64);
    /// The operator token whose standing it needs, and whether a lock-out
    /// bars it too.
    fn operator(&self) -> Option<(i64, bool)>;
    /// See [`WriteCommand::line`].
    fn line(&self) -> Option<&str>;
    /// Answers it with its operator's refusal: it is not applied.
    fn refuse(&mut self, refusal: DomainError);
    /// Applies it in `tx` and keeps its reply; an error is returned for the
    /// writer to handle, and no reply is kept.
    fn apply<'a>(
        &'a mut self,
        store: &'a Store,
        tx: &'a mut WriteTx,
        set_based_pass_ran: bool,
    ) -> BoxFuture<'a, Result<()>>;
    /// Answers it with an error.
    fn fail(&mut self, error: StorageError);
    fn is_answered(&self) -> bool;
    /// Drops a reply kept from a transaction that did not commit.
    fn forget_answer(&mut self);
    /// Sends its reply (the writer calls this after the commit).
    fn send(self: Box<Self>);
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<C: WriteCommand> Job for Queued<C> {
    fn now(&self) -> i64 {
        self.now
    }

    fn lock_order(&self) -> (u8, i64) {
        self.command.lock_order()
    }

    fn operator(&self) -> Option<(i64, bool)> {
        match self.command.standing_check() {
            StandingCheck::Free => None,
            StandingCheck::Operator {
                token_id, lockable, ..
            } => Some((token_id, lockable)),
        }
    }

    fn line(&self) -> Option<&str> {
        self.command.line()
    }

    fn refuse(&mut self, refusal: DomainError) {
        if let StandingCheck::Operator { refuse, .. } = self.command.standing_check() {
            self.answer = Some(Ok(refuse(refusal)));
        }
    }

    fn apply<'a>(
        &'a mut self,
        store: &'a Store,
        tx: &'a mut WriteTx,
        set_based_pass_ran: bool,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let at = Applying {
                store,
                tx,
                now: self.now,
                set_based_pass_ran,
            };
            let reply = self.command.apply(at).await?;
            self.answer = Some(Ok(reply));
            Ok(())
        })
    }

    fn fail(&mut self, error: StorageError) {
        self.answer = Some(Err(error));
    }

    fn is_answered(&self) -> bool {
        self.answer.is_some()
    }

    fn forget_answer(&mut self) {
        self.answer = None;
    }

    fn send(self: Box<Self>) {
        let answer = self.answer.unwrap_or(Err(StorageError::Unanswered));
        // The caller may have gone (a client that hung up): nothing to do.
        let _ = self.reply.send(answer);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests;
