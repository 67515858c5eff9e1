//! A consistent copy of a live SQLite database, taken without stopping the
//! service: `VACUUM INTO` reads one snapshot (a read transaction, so
//! writers go on) and writes it to a new file. PostgreSQL has `pg_dump`.

use super::{Backend, Result, StorageError, Store};

impl Store {
    /// Writes a consistent copy of the database to `path`, which must not
    /// exist yet. SQLite only.
    pub async fn backup_into(&self, path: &std::path::Path) -> Result<()> {
        if self.backend() != Backend::Sqlite {
            return Err(StorageError::NotForThisDatabase(
                "backup copies SQLite databases; for PostgreSQL use pg_dump",
            ));
        }
        if path.exists() {
            return Err(StorageError::Domain(
                crate::domain::DomainError::AlreadyExists("backup file"),
            ));
        }
        let target = path.to_string_lossy().into_owned();
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(self.reader())
            .await?;
        Ok(())
    }
}
