//! Record a failed attempt (an invalid code) against its source and the
//! deployment's failure budget: answers whether the source is now locked
//! out, or that it already was (then the attempt is not counted).

use super::{Applying, WriteCommand};
use crate::domain::lockout::LockoutPolicy;
use crate::storage::Result;
use crate::storage::lockout::{self, FailureRecorded};

/// A failed attempt by `source`.
#[derive(Clone, Debug)]
pub struct RecordFailure {
    pub source: String,
    pub policy: LockoutPolicy,
}

impl WriteCommand for RecordFailure {
    type Reply = FailureRecorded;

    /// Every failure also counts against the deployment's one row, so
    /// failures share one writer.
    fn writer_key(&self) -> i64 {
        0
    }

    fn lock_order(&self) -> (u8, i64) {
        (3, 0)
    }

    async fn apply<'a>(&'a self, at: Applying<'a>) -> Result<FailureRecorded> {
        lockout::record_failure(at.store, at.tx, &self.source, &self.policy, at.now).await
    }
}
