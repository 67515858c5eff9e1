//! Issue codes (SQLite only: see [`Store::issue`]), minted and signed
//! before they are queued, so that the transaction only writes: answers the
//! issued vouchers, or a stored answer for a repeated Idempotency-Key.
//!
//! [`Store::issue`]: crate::storage::Store::issue

use super::{Applying, WriteCommand};
use crate::storage::Result;
use crate::storage::vouchers::{self, IssueJob, IssueOutcome};

/// An issue, its candidates minted and signed.
#[derive(Clone, Debug)]
pub struct Issue(pub(crate) IssueJob);

impl WriteCommand for Issue {
    type Reply = IssueOutcome;

    /// The structure whose quota rows it locks.
    fn writer_key(&self) -> i64 {
        self.0.structure_id()
    }

    fn lock_order(&self) -> (u8, i64) {
        (0, self.0.structure_id())
    }

    /// Its structure token is checked inside the issue itself.
    async fn apply<'a>(&'a self, at: Applying<'a>) -> Result<IssueOutcome> {
        vouchers::issue_in(at.store, at.tx, &self.0, at.now).await
    }
}
