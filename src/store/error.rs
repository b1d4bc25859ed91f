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
    #[error("migration failed: {0}")]
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

    /// True when the same operation may succeed later: connection and pool failures, server
    /// shutdown, serialization failures and deadlocks. Constraint and data errors are permanent.
    pub fn is_retriable(&self) -> bool {
        let e = match self {
            StoreError::Unavailable(_) => return true,
            StoreError::Db(e) => e,
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
