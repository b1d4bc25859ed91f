//! PostgreSQL: the pool, embedded migrations, and the writes and reads of each table.
//!
//! Runtime queries (`sqlx::query`), no compile-time macros: every query is covered by the
//! integration tests against a real PostgreSQL, and nothing is needed at build time.

pub mod alerts;
pub mod api_queries;
pub mod batch;
pub mod bulletin;
pub mod compliance;
pub mod corrections;
mod energy;
mod error;
pub mod grafana_roles;
pub mod hj212;
mod quarantine;
mod readings;
pub mod registry;
pub mod review;
pub mod rollup;
pub mod tokens;

pub use batch::{write_batch, BatchItem, BatchOutcome, CommitObserver, Content};
pub use error::StoreError;
pub use readings::latest_reading_time;

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::config::DatabaseConfig;

/// The embedded migrations of `migrations/`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Which time-series backend the database offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `readings` is a TimescaleDB hypertable.
    TimescaleDb,
    /// Plain PostgreSQL tables with a BRIN index on time.
    PlainPostgres,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::TimescaleDb => "timescaledb",
            Backend::PlainPostgres => "postgresql",
        })
    }
}

/// Connection options built from parts, so the password never sits in a loggable URL.
pub fn connect_options(cfg: &DatabaseConfig) -> PgConnectOptions {
    let mut opts = PgConnectOptions::new()
        .host(&cfg.host)
        .port(cfg.port)
        .username(&cfg.user)
        .database(&cfg.dbname)
        .application_name("greenmon")
        // Short queries: JIT compilation cost more than it saved (100-200 ms in the bench).
        .options([("jit", "off")]);
    if let Some(pw) = &cfg.password {
        opts = opts.password(pw.expose_secret());
    }
    opts
}

/// A lazily connecting pool: the service starts even while the database is down, and every
/// operation retries or reports until it is back.
pub fn pool(cfg: &DatabaseConfig) -> PgPool {
    PgPoolOptions::new()
        .max_connections(cfg.max_connections)
        .acquire_timeout(Duration::from_secs(cfg.acquire_timeout_secs))
        .connect_lazy_with(connect_options(cfg))
}

/// The pool of the API's, the portal's and the reports' reads on `database.read_url` (a
/// replica), or `None` when it is unset and they read the primary. Its connections are read-only
/// (`default_transaction_read_only`), as a hot standby's are, so a test that points it at the
/// primary finds any write sent there by mistake; `application_name` is `greenmon-read`.
///
/// # Errors
/// When `read_url` is not a PostgreSQL URL (`Settings::validate` refuses it first).
pub fn read_pool(cfg: &DatabaseConfig, max_connections: u32) -> Result<Option<PgPool>, StoreError> {
    let Some(url) = &cfg.read_url else {
        return Ok(None);
    };
    let opts = url
        .expose_secret()
        .parse::<PgConnectOptions>()?
        .application_name(READ_APPLICATION_NAME)
        .options([("jit", "off"), ("default_transaction_read_only", "on")]);
    Ok(Some(
        PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(cfg.acquire_timeout_secs))
            .connect_lazy_with(opts),
    ))
}

/// `application_name` of the read pool's connections, to tell them apart in
/// `pg_stat_activity`.
pub const READ_APPLICATION_NAME: &str = "greenmon-read";

/// Creates the configured database when it does not exist (connecting to `postgres` to do so),
/// so a newcomer's first `greenmon migrate` or `greenmon demo` works on a fresh server.
///
/// # Errors
/// When the server is unreachable or the role may not create databases.
pub async fn ensure_database(cfg: &DatabaseConfig) -> Result<(), StoreError> {
    use sqlx::{ConnectOptions, Connection};
    let mut conn = connect_options(cfg).database("postgres").connect().await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&cfg.dbname)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let quoted = format!("\"{}\"", cfg.dbname.replace('"', "\"\""));
        match sqlx::query(&format!("CREATE DATABASE {quoted}"))
            .execute(&mut conn)
            .await
        {
            Ok(_) => tracing::info!(database = %cfg.dbname, "Created the database."),
            // Another instance created it at the same moment.
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42P04") => {}
            Err(e) => return Err(e.into()),
        }
    }
    conn.close().await?;
    Ok(())
}

/// Applies pending migrations (sqlx holds an advisory lock, so two instances can run this at
/// once) and reports which backend is in use.
///
/// # Errors
/// When the database is unreachable or a migration fails.
pub async fn migrate(pool: &PgPool) -> Result<Backend, StoreError> {
    MIGRATOR.run(pool).await.map_err(StoreError::Migrate)?;
    backend(pool).await
}

/// Detects whether `timescaledb` is installed in this database.
///
/// # Errors
/// When the database is unreachable.
pub async fn backend(pool: &PgPool) -> Result<Backend, StoreError> {
    let ts: Option<String> =
        sqlx::query_scalar("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
            .fetch_optional(pool)
            .await?;
    Ok(if ts.is_some() {
        Backend::TimescaleDb
    } else {
        Backend::PlainPostgres
    })
}

/// Whether the database answers, for `/readyz`.
pub async fn ping(pool: &PgPool) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(2),
            sqlx::query("SELECT 1").execute(pool)
        )
        .await,
        Ok(Ok(_))
    )
}
