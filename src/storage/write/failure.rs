//! Record a failed attempt (an invalid code) against its operator, its
//! subscriber line when named, and the deployment's failure budget:
//! answers whether either is now locked out, or that one already was (then
//! the attempt is not counted).

use super::{Applying, WriteCommand};
use crate::domain::lockout::LockoutPolicy;
use crate::storage::Result;
use crate::storage::lockout::{self, FailureRecorded, FailureSources};

/// A failed attempt by the operator `source`, from `line` if named (its
/// source and policy).
#[derive(Clone, Debug)]
pub struct RecordFailure {
    pub source: String,
    pub policy: LockoutPolicy,
    pub line: Option<(String, LockoutPolicy)>,
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
        let from = FailureSources {
            operator: &self.source,
            policy: &self.policy,
            line: self
                .line
                .as_ref()
                .map(|(name, policy)| (name.as_str(), policy)),
        };
        lockout::record_failure(at.store, at.tx, &from, at.now).await
    }
}
