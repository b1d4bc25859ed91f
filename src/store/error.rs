//! Store errors, classified into retriable (the database is unavailable: keep the batch, back
//! off, try again) and permanent (the data itself was refused).

/// An error from the database layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// No connection could be had (server down, database not accepting connections): always
    /// worth retrying, whatever the server said.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("migration failed: {}", describe_migrate_error(.0))]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// True for a unique violation of the named constraint. On a TimescaleDB hypertable the
    /// error names the chunk's copy of the index (`1_1_readings_pkey`), which counts too.
    pub fn is_unique_violation(&self, constraint: &str) -> bool {
        let StoreError::Db(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code().as_deref() == Some("23505")
            && db.constraint().is_some_and(|c| {
                c == constraint
                    || c.strip_suffix(constraint)
                        .is_some_and(|head| head.ends_with('_'))
            })
    }

    /// True for a violation of the check constraint `constraint` (SQLSTATE 23514).
    pub fn is_check_violation(&self, constraint: &str) -> bool {
        let StoreError::Db(sqlx::Error::Database(db)) = self else {
            return false;
        };
        db.code().as_deref() == Some("23514") && db.constraint() == Some(constraint)
    }

    /// True when the same operation may succeed later: connection and pool failures, server
    /// shutdown, serialization failures and deadlocks. Constraint and data errors are permanent.
    pub fn is_retriable(&self) -> bool {
        let e = match self {
            StoreError::Unavailable(_) => return true,
            StoreError::Db(e) => e,
            // Applying a migration can meet an unavailable database like anything else; a
            // checksum mismatch, a missing or a dirty migration cannot heal by waiting.
            StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => e,
            StoreError::Migrate(_) => return false,
        };
        match e {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_)
            | sqlx::Error::Tls(_) => true,
            sqlx::Error::Database(db) => {
                let code = db.code().unwrap_or_default();
                code.starts_with("08") // connection exception
                    || code.starts_with("53") // insufficient resources
                    || code.starts_with("57") // operator intervention (admin shutdown)
                    || code == "40001" // serialization failure
                    || code == "40P01" // deadlock
            }
            _ => false,
        }
    }
}

/// A migration error in words an operator can act on, naming the migration (version and
/// description) when sqlx gives only its version.
fn describe_migrate_error(e: &sqlx::migrate::MigrateError) -> String {
    use sqlx::migrate::MigrateError as M;
    let name = |version: i64| {
        super::MIGRATOR
            .iter()
            .find(|m| m.version == version)
            .map_or_else(
                || format!("{version}"),
                |m| format!("{version} ({})", m.description),
            )
    };
    match e {
        M::VersionMismatch(v) => format!(
            "migration {} was applied to this database with different contents than this \
             binary carries (its checksum differs); migrations are never edited once applied: \
             restore the original file or use the binary that applied it",
            name(*v)
        ),
        M::VersionMissing(v) => format!(
            "migration {v} is applied in this database but unknown to this binary (is it older \
             than the one that migrated it?)"
        ),
        M::Dirty(v) => format!(
            "migration {} failed part-way before; repair the database by hand",
            name(*v)
        ),
        other => other.to_string(),
    }
}
