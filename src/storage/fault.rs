//! Which storage failures are the database being away or full, rather than
//! a fault of the request or of the code: those are answered as such (503
//! `database_unavailable`, 507 `storage_full`), with a time to retry,
//! instead of as an internal error.

use super::StorageError;

/// A failure that says nothing about the request: retrying it later, with
/// the same `Idempotency-Key`, is the right move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The database does not answer: stopped, restarting, unreachable, out
    /// of connections.
    Unavailable,
    /// The database has no room left to write (disk full).
    Full,
}

impl StorageError {
    /// The fault behind this error, if it is one of the database's state.
    pub fn fault(&self) -> Option<Fault> {
        match self {
            Self::Database(e) => sqlx_fault(e),
            Self::BatchFailed { source } => source.fault(),
            _ => None,
        }
    }
}

fn sqlx_fault(error: &sqlx::Error) -> Option<Fault> {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        // A connection cut in the middle of a message.
        | sqlx::Error::Protocol(_)
        // SQLite's write connection still stuck after a failed write (see
        // `Store::begin_immediate`).
        | sqlx::Error::InvalidSavePointStatement => Some(Fault::Unavailable),
        sqlx::Error::Database(db) => {
            let sqlite = db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some();
            db.code().and_then(|code| code_fault(&code, sqlite))
        }
        _ => None,
    }
}

/// SQLite's (extended) result code, or PostgreSQL's SQLSTATE.
fn code_fault(code: &str, sqlite: bool) -> Option<Fault> {
    if sqlite {
        // The primary code is the low byte of the extended one.
        return match code.parse::<i64>().ok()? & 0xff {
            // SQLITE_FULL.
            13 => Some(Fault::Full),
            // SQLITE_IOERR, SQLITE_CANTOPEN: the file is unreachable.
            10 | 14 => Some(Fault::Unavailable),
            _ => None,
        };
    }
    match code {
        // Connection exceptions; the server shutting down, crashed or still
        // starting; too many connections.
        c if c.starts_with("08") => Some(Fault::Unavailable),
        "57P01" | "57P02" | "57P03" | "53300" => Some(Fault::Unavailable),
        "53100" => Some(Fault::Full),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_both_databases() {
        assert_eq!(code_fault("57P01", false), Some(Fault::Unavailable));
        assert_eq!(code_fault("08006", false), Some(Fault::Unavailable));
        assert_eq!(code_fault("53100", false), Some(Fault::Full));
        assert_eq!(code_fault("13", true), Some(Fault::Full));
        // SQLITE_IOERR_WRITE (10 | 3 << 8).
        assert_eq!(code_fault("778", true), Some(Fault::Unavailable));
        // Constraints (SQLite 2067, PostgreSQL 23505) are not faults, nor
        // is a PostgreSQL code that reads like an SQLite one.
        assert_eq!(code_fault("2067", true), None);
        assert_eq!(code_fault("23505", false), None);
        assert_eq!(code_fault("40001", false), None);
        assert_eq!(code_fault("13", false), None);
    }

    #[test]
    fn a_failed_batch_has_the_fault_of_its_cause() {
        let cause = StorageError::Database(sqlx::Error::PoolTimedOut);
        let batch = StorageError::BatchFailed {
            source: std::sync::Arc::new(cause),
        };
        assert_eq!(batch.fault(), Some(Fault::Unavailable));
        assert_eq!(StorageError::Unanswered.fault(), None);
    }
}
